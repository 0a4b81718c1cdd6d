/* hub-ws-chat's room names: parsing the request target and checking
 * names. Bytes in, bytes out: no I/O, so that a fuzzer can drive it. */
#include <stdint.h>
#include <string.h>

#include "chat-room.h"

static int chat__hex_digit(int c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/* UTF-8 (no overlong forms, surrogates or code points past U+10FFFF)
 * without control characters (U+0000-U+001F, U+007F-U+009F): a name that
 * logs and pages can show as it is. */
int chat_room_name_ok(const unsigned char *s, size_t len) {
  size_t i = 0, n, k;
  uint32_t cp;

  while (i < len) {
    cp = s[i];
    if (cp < 0x80) {
      if (cp < 0x20 || cp == 0x7f)
        return 0;
      i++;
      continue;
    }
    if (cp >= 0xc2 && cp <= 0xdf)
      n = 1, cp &= 0x1f;
    else if (cp >= 0xe0 && cp <= 0xef)
      n = 2, cp &= 0x0f;
    else if (cp >= 0xf0 && cp <= 0xf4)
      n = 3, cp &= 0x07;
    else
      return 0;
    if (len - i <= n)
      return 0;
    for (k = 1; k <= n; k++) {
      if ((s[i + k] & 0xc0) != 0x80)
        return 0;
      cp = cp << 6 | (s[i + k] & 0x3f);
    }
    if (cp <= 0x9f || (n == 2 && cp < 0x800) ||
        (cp >= 0xd800 && cp <= 0xdfff) ||
        (n == 3 && (cp < 0x10000 || cp > 0x10ffff)))
      return 0;
    i += n + 1;
  }
  return 1;
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
      if (!chat_room_name_ok((const unsigned char *)room, n))
        return "not UTF-8, or has control characters";
      room[n] = '\0';
    } else {
      strcpy(room, CHAT_DEFAULT_ROOM);
    }
  }
  return NULL;
}
