/* hub-ws-chat's room names: parsing the request target (names are checked
 * by hubx-text, with hub-tcp-echo's rule). Bytes in, bytes out: no I/O,
 * so that a fuzzer can drive it. */
#include <string.h>

#include "chat-room.h"
#include "hubx-text.h"

_Static_assert(CHAT_ROOM_MAX == HUBX_ROOM_MAX, "one rule for room names");

static int chat__hex_digit(int c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/* The room a request target ("/ws?room=NAME&...") asks for, into `room`
 * (CHAT_ROOM_MAX + 1 bytes, NUL-terminated): the value of the query
 * parameter "room", percent-decoded, with "+" for a space as in HTML
 * forms; CHAT_DEFAULT_ROOM when there is no such parameter or it is empty.
 * Other parameters are ignored. Returns NULL, or why the name is refused.
 * Bytes in, bytes out: no I/O. */
const char *chat_room_from_target(const char *target,
                                  char room[CHAT_ROOM_MAX + 1]) {
  const char *p = strchr(target, '?');
  size_t n = 0;
  int found = 0, hi, lo;

  strcpy(room, CHAT_DEFAULT_ROOM);
  while (p != NULL && *p != '\0') {
    p++; /* past '?' or '&' */
    if (strncmp(p, "room", 4) != 0 || (p[4] != '=' && p[4] != '&' &&
                                       p[4] != '\0')) {
      p = strchr(p, '&');
      continue;
    }
    if (found)
      return "the parameter room is given more than once";
    found = 1;
    p += 4;
    if (*p == '=')
      p++;
    for (n = 0; *p != '\0' && *p != '&'; p++) {
      int c = (unsigned char)*p;
      if (c == '%') {
        hi = chat__hex_digit((unsigned char)p[1]);
        lo = hi < 0 ? -1 : chat__hex_digit((unsigned char)p[2]);
        if (lo < 0)
          return "bad percent-encoding";
        c = hi * 16 + lo;
        p += 2;
      } else if (c == '+') {
        c = ' ';
      }
      if (n == CHAT_ROOM_MAX)
        return "longer than 255 bytes";
      room[n++] = (char)c;
    }
    if (n > 0) {
      const char *why = hubx_room_name_check(room, n);
      if (why != NULL)
        return why;
      room[n] = '\0';
    } else {
      strcpy(room, CHAT_DEFAULT_ROOM);
    }
  }
  return NULL;
}
