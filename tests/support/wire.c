/* The WebSocket wire as a test's client speaks it (RFC 6455): masked
 * frames out, server frames and HTTP heads in. Bytes only, no I/O. */
#include <stdlib.h>
#include <string.h>

#include "support.h"

size_t ts_ws_frame(uint8_t *out, int fin, unsigned op, const void *payload,
                   size_t len) {
  static const uint8_t key[4] = {0x37, 0xfa, 0x21, 0x3d};
  const uint8_t *p = payload;
  size_t n = 0, i;

  out[n++] = (uint8_t)((fin ? 0x80 : 0) | op);
  if (len < 126) {
    out[n++] = (uint8_t)(0x80 | len);
  } else if (len <= 0xFFFF) {
    out[n++] = 0x80 | 126;
    out[n++] = (uint8_t)(len >> 8);
    out[n++] = (uint8_t)len;
  } else {
    out[n++] = 0x80 | 127;
    for (i = 0; i < 8; i++)
      out[n++] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
  }
  memcpy(out + n, key, 4);
  n += 4;
  for (i = 0; i < len; i++)
    out[n + i] = p[i] ^ key[i % 4];
  return n + len;
}

int ts_ws_parse(const uint8_t *p, size_t avail, ts_frame_t *f, size_t *used) {
  size_t n = 2, i;
  uint64_t len;

  if (avail < 2)
    return 0;
  if (p[1] & 0x80)
    return -1; /* server frames are never masked */
  len = p[1] & 0x7F;
  if (len == 126) {
    if (avail < 4)
      return 0;
    len = (uint64_t)p[2] << 8 | p[3];
    n = 4;
  } else if (len == 127) {
    if (avail < 10)
      return 0;
    for (len = 0, i = 0; i < 8; i++)
      len = len << 8 | p[2 + i];
    n = 10;
  }
  if (avail - n < len)
    return 0;
  f->fin = p[0] >> 7;
  f->rsv = (p[0] >> 4) & 7;
  f->op = p[0] & 0x0F;
  f->data = p + n;
  f->len = (size_t)len;
  *used = n + (size_t)len;
  return 1;
}

size_t ts_http_head_len(const char *in, size_t len) {
  size_t i;

  for (i = 0; i + 3 < len; i++)
    if (memcmp(in + i, "\r\n\r\n", 4) == 0)
      return i + 4;
  return 0;
}

int ts_http_status(const char *in, size_t len) {
  if (ts_http_head_len(in, len) == 0)
    return 0;
  if (len < 12 || memcmp(in, "HTTP/1.1 ", 9) != 0)
    return -1;
  return atoi(in + 9);
}
