/* Checking and escaping text from peers (see hubx-text.h). One decoder,
 * hubx__next(), serves all three: only the second byte of a sequence has
 * a range narrower than 80..BF (RFC 3629 §4), and the code point it
 * decodes tells the rest (overlong forms, surrogates, past U+10FFFF). */
#include "hubx-text.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* The character at s[0..len), len >= 1: its code point in *cp and its
 * length in bytes, or 0 if the bytes there are not UTF-8. */
static size_t hubx__next(const unsigned char *s, size_t len, uint32_t *cp) {
  uint32_t c = s[0];
  size_t n, k;

  if (c < 0x80) {
    *cp = c;
    return 1;
  }
  if (c >= 0xc2 && c <= 0xdf)
    n = 1, c &= 0x1f;
  else if (c >= 0xe0 && c <= 0xef)
    n = 2, c &= 0x0f;
  else if (c >= 0xf0 && c <= 0xf4)
    n = 3, c &= 0x07;
  else
    return 0; /* 80..C1 cannot start a character, F5..FF never appear */
  if (len <= n)
    return 0;
  for (k = 1; k <= n; k++) {
    if ((s[k] & 0xc0) != 0x80)
      return 0;
    c = c << 6 | (s[k] & 0x3f);
  }
  if ((n == 2 && c < 0x800) || (c >= 0xd800 && c <= 0xdfff) ||
      (n == 3 && (c < 0x10000 || c > 0x10ffff)))
    return 0;
  *cp = c;
  return n + 1;
}

int hubx_hex_value(int c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

int hubx_utf8_valid(const void *s, size_t len) {
  const unsigned char *p = s;
  size_t i = 0, n;
  uint64_t w;
  uint32_t cp;

  while (i < len) {
    /* Text is mostly ASCII: skip it eight bytes at a time. */
    if (len - i >= 8) {
      memcpy(&w, p + i, 8);
      if ((w & 0x8080808080808080ull) == 0) {
        i += 8;
        continue;
      }
    }
    n = hubx__next(p + i, len - i, &cp);
    if (n == 0)
      return 0;
    i += n;
  }
  return 1;
}

static int hubx__is_control(uint32_t cp) {
  return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f);
}

/* Characters that reorder the text around them (Unicode's Bidi_Control
 * property). */
static int hubx__is_bidi(uint32_t cp) {
  return cp == 0x061c || cp == 0x200e || cp == 0x200f ||
         (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);
}

const char *hubx_room_name_check(const void *s, size_t len) {
  const unsigned char *p = s;
  size_t i, n;
  uint32_t cp;

  if (len == 0)
    return "empty";
  if (len > HUBX_ROOM_MAX)
    return "longer than 255 bytes";
  for (i = 0; i < len; i += n) {
    n = hubx__next(p + i, len - i, &cp);
    if (n == 0)
      return "not UTF-8";
    if (hubx__is_control(cp))
      return "has a control character";
    if (hubx__is_bidi(cp))
      return "has a bidirectional control character";
  }
  return NULL;
}

/* How the next character of p[0..len) (len >= 1) appears in a log line,
 * or with `json` in a JSON string: into piece, its length in *k. Returns
 * the bytes it takes from p. In JSON a byte that is not UTF-8 becomes the
 * text \xNN (its backslash escaped), which any JSON parser accepts. */
static size_t hubx__piece(const unsigned char *p, size_t len, int json,
                          char piece[16], size_t *k) {
  uint32_t cp;
  size_t n = hubx__next(p, len, &cp);

  if (n == 0) {
    *k = (size_t)snprintf(piece, 16, json ? "\\\\x%02X" : "\\x%02X", p[0]);
    return 1;
  }
  if (hubx__is_control(cp) || hubx__is_bidi(cp) || cp == 0x2028 ||
      cp == 0x2029) {
    *k = (size_t)snprintf(piece, 16, json ? "\\u%04X" : "\\u{%04X}",
                          (unsigned)cp);
  } else if (cp == '\\' || cp == (json ? '"' : '\'')) {
    piece[0] = '\\';
    piece[1] = (char)cp;
    *k = 2;
  } else {
    memcpy(piece, p, n);
    *k = n;
  }
  return n;
}

/* `len` bytes at `s`, each character as hubx__piece() shows it, into
 * `out`: all of it, or as much as leaves room for "..." and the NUL. */
static char *hubx__shown(const void *s, size_t len, char *out, size_t outlen,
                         int json) {
  const unsigned char *p = s;
  char piece[16];
  size_t i, n, k, total = 0, o = 0, limit;

  if (outlen < 4) {
    if (outlen > 0)
      out[0] = '\0';
    return out;
  }
  for (i = 0; i < len; i += n) {
    n = hubx__piece(p + i, len - i, json, piece, &k);
    total += k;
  }
  limit = total < outlen ? outlen - 1 : outlen - 4;
  for (i = 0; i < len; i += n) {
    n = hubx__piece(p + i, len - i, json, piece, &k);
    if (o + k > limit) {
      memcpy(out + o, "...", 3);
      o += 3;
      break;
    }
    memcpy(out + o, piece, k);
    o += k;
  }
  out[o] = '\0';
  return out;
}

char *hubx_escape(const void *s, size_t len, char *out, size_t outlen) {
  return hubx__shown(s, len, out, outlen, 0);
}

char *hubx_json_escape(const void *s, size_t len, char *out, size_t outlen) {
  return hubx__shown(s, len, out, outlen, 1);
}
