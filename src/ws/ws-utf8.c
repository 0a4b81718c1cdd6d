/* Incremental UTF-8 validation. Only the second byte of a sequence has a
 * range narrower than 80..BF (RFC 3629 §4): E0 A0..BF and F0 90..BF rule
 * out overlong forms, ED 80..9F surrogates, F4 80..8F code points above
 * U+10FFFF. So the state is the number of bytes still expected and the
 * range of the next one. */
#include "ws-utf8.h"

#include <string.h>

void hub_ws__utf8_init(hub_ws__utf8_t *s) {
  s->need = 0;
  s->lo = 0x80;
  s->hi = 0xBF;
}

static int hub_ws__lead(hub_ws__utf8_t *s, uint8_t b) {
  s->lo = 0x80;
  s->hi = 0xBF;
  if (b >= 0xC2 && b <= 0xDF) {
    s->need = 1;
  } else if (b >= 0xE0 && b <= 0xEF) {
    s->need = 2;
    if (b == 0xE0)
      s->lo = 0xA0;
    else if (b == 0xED)
      s->hi = 0x9F;
  } else if (b >= 0xF0 && b <= 0xF4) {
    s->need = 3;
    if (b == 0xF0)
      s->lo = 0x90;
    else if (b == 0xF4)
      s->hi = 0x8F;
  } else {
    return -1; /* 80..C1 cannot start a character, F5..FF never appear */
  }
  return 0;
}

int hub_ws__utf8_feed(hub_ws__utf8_t *s, const uint8_t *p, size_t len) {
  size_t i = 0;
  uint64_t w;
  uint8_t b;

  while (i < len) {
    /* Chat text is mostly ASCII: skip it eight bytes at a time. */
    if (s->need == 0 && len - i >= 8) {
      memcpy(&w, p + i, 8);
      if ((w & 0x8080808080808080ull) == 0) {
        i += 8;
        continue;
      }
    }
    b = p[i++];
    if (s->need == 0) {
      if (b >= 0x80 && hub_ws__lead(s, b) != 0)
        return -1;
      continue;
    }
    if (b < s->lo || b > s->hi)
      return -1;
    s->need--;
    s->lo = 0x80;
    s->hi = 0xBF;
  }
  return 0;
}

int hub_ws__utf8_complete(const hub_ws__utf8_t *s) { return s->need == 0; }

int hub_ws__utf8_valid(const void *p, size_t len) {
  hub_ws__utf8_t u;

  hub_ws__utf8_init(&u);
  return hub_ws__utf8_feed(&u, p, len) == 0 && hub_ws__utf8_complete(&u);
}
