/* hub-ws-chat's room names: parsing the request target (names are checked
 * by hubx-text, with hub-tcp-echo's rule). Bytes in, bytes out: no I/O,
 * so that a fuzzer can drive it. */
#include <string.h>

#include "chat-room.h"
#include "hubx-text.h"

_Static_assert(CHAT_ROOM_MAX == HUBX_ROOM_MAX, "one rule for room names");

const char *chat_query_param(const char *target, const char *name,
                             char *out, size_t cap, size_t *len,
                             int *found) {
  const char *p = strchr(target, '?');
  size_t nl = strlen(name), n = 0;
  int hi, lo;

  *found = 0;
  *len = 0;
  out[0] = '\0';
  while (p != NULL && *p != '\0') {
    p++; /* past '?' or '&' */
    if (strncmp(p, name, nl) != 0 ||
        (p[nl] != '=' && p[nl] != '&' && p[nl] != '\0')) {
      p = strchr(p, '&');
      continue;
    }
    if (*found)
      return "a parameter is given more than once";
    *found = 1;
    p += nl;
    if (*p == '=')
      p++;
    for (n = 0; *p != '\0' && *p != '&'; p++) {
      int c = (unsigned char)*p;
      if (c == '%') {
        hi = hubx_hex_value((unsigned char)p[1]);
        lo = hi < 0 ? -1 : hubx_hex_value((unsigned char)p[2]);
        if (lo < 0)
          return "bad percent-encoding";
        c = hi * 16 + lo;
        p += 2;
      } else if (c == '+') {
        c = ' ';
      }
      if (n + 1 >= cap)
        return "a parameter is too long";
      out[n++] = (char)c;
    }
    out[n] = '\0';
    *len = n;
  }
  return NULL;
}

/* The room a request target ("/ws?room=NAME&...") asks for, into `room`
 * (CHAT_ROOM_MAX + 1 bytes, NUL-terminated): the value of the query
 * parameter "room", percent-decoded, with "+" for a space as in HTML
 * forms; CHAT_DEFAULT_ROOM when there is no such parameter or it is empty.
 * Other parameters are ignored. Returns NULL, or why the name is refused.
 * Bytes in, bytes out: no I/O. */
const char *chat_room_from_target(const char *target,
                                  char room[CHAT_ROOM_MAX + 1]) {
  const char *why;
  size_t n;
  int found;

  why = chat_query_param(target, "room", room, CHAT_ROOM_MAX + 1, &n,
                         &found);
  if (why != NULL)
    return strcmp(why, "a parameter is too long") == 0
               ? "longer than 255 bytes"
               : strcmp(why, "a parameter is given more than once") == 0
                     ? "the parameter room is given more than once"
                     : why;
  if (n == 0) {
    strcpy(room, CHAT_DEFAULT_ROOM);
    return NULL;
  }
  return hubx_room_name_check(room, n);
}
