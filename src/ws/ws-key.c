/* SHA-1 and base64 for the WebSocket handshake, written from the
 * published algorithms (FIPS 180-4 §6.1, RFC 4648 §4). */
#include "ws-key.h"

#include <string.h>

/* RFC 6455 §1.3: the GUID appended to the client's key. */
static const char hub_ws__guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

static const char hub_ws__b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static uint32_t hub_ws__rol(uint32_t x, unsigned n) {
  return (x << n) | (x >> (32 - n));
}

static void hub_ws__sha1_block(uint32_t h[5], const uint8_t *p) {
  uint32_t w[80], a, b, c, d, e, f, k, t;
  int i;

  for (i = 0; i < 16; i++)
    w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
           (uint32_t)p[4 * i + 2] << 8 | (uint32_t)p[4 * i + 3];
  for (i = 16; i < 80; i++)
    w[i] = hub_ws__rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
  a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
  for (i = 0; i < 80; i++) {
    if (i < 20) {
      f = (b & c) | (~b & d);
      k = 0x5A827999u;
    } else if (i < 40) {
      f = b ^ c ^ d;
      k = 0x6ED9EBA1u;
    } else if (i < 60) {
      f = (b & c) | (b & d) | (c & d);
      k = 0x8F1BBCDCu;
    } else {
      f = b ^ c ^ d;
      k = 0xCA62C1D6u;
    }
    t = hub_ws__rol(a, 5) + f + e + k + w[i];
    e = d;
    d = c;
    c = hub_ws__rol(b, 30);
    b = a;
    a = t;
  }
  h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e;
}

void hub_ws__sha1_init(hub_ws__sha1_t *s) {
  s->h[0] = 0x67452301u;
  s->h[1] = 0xEFCDAB89u;
  s->h[2] = 0x98BADCFEu;
  s->h[3] = 0x10325476u;
  s->h[4] = 0xC3D2E1F0u;
  s->total = 0;
  s->used = 0;
}

void hub_ws__sha1_update(hub_ws__sha1_t *s, const void *data, size_t len) {
  const uint8_t *p = data;
  size_t n;

  s->total += len;
  while (len > 0) {
    n = 64 - s->used;
    if (n > len)
      n = len;
    memcpy(s->block + s->used, p, n);
    s->used += n;
    p += n;
    len -= n;
    if (s->used == 64) {
      hub_ws__sha1_block(s->h, s->block);
      s->used = 0;
    }
  }
}

void hub_ws__sha1_final(hub_ws__sha1_t *s, uint8_t digest[HUB_WS__SHA1_LEN]) {
  uint64_t bits = s->total * 8;
  int i;

  /* Padding: a 1 bit, zeros up to 56 mod 64, then the bit length. */
  s->block[s->used++] = 0x80;
  if (s->used > 56) {
    memset(s->block + s->used, 0, 64 - s->used);
    hub_ws__sha1_block(s->h, s->block);
    s->used = 0;
  }
  memset(s->block + s->used, 0, 56 - s->used);
  for (i = 0; i < 8; i++)
    s->block[56 + i] = (uint8_t)(bits >> (56 - 8 * i));
  hub_ws__sha1_block(s->h, s->block);
  for (i = 0; i < 20; i++)
    digest[i] = (uint8_t)(s->h[i / 4] >> (24 - 8 * (i % 4)));
}

size_t hub_ws__base64_encode(const void *data, size_t len, char *out) {
  const uint8_t *p = data;
  size_t i, o = 0;
  uint32_t v;

  for (i = 0; i + 3 <= len; i += 3) {
    v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
    out[o++] = hub_ws__b64[v >> 18];
    out[o++] = hub_ws__b64[(v >> 12) & 63];
    out[o++] = hub_ws__b64[(v >> 6) & 63];
    out[o++] = hub_ws__b64[v & 63];
  }
  if (len - i == 1) {
    v = (uint32_t)p[i] << 16;
    out[o++] = hub_ws__b64[v >> 18];
    out[o++] = hub_ws__b64[(v >> 12) & 63];
    out[o++] = '=';
    out[o++] = '=';
  } else if (len - i == 2) {
    v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
    out[o++] = hub_ws__b64[v >> 18];
    out[o++] = hub_ws__b64[(v >> 12) & 63];
    out[o++] = hub_ws__b64[(v >> 6) & 63];
    out[o++] = '=';
  }
  out[o] = '\0';
  return o;
}

/* The value of a base64 digit: its place in the alphabet that encodes. */
static int hub_ws__b64_value(char c) {
  const char *p = c != '\0' ? strchr(hub_ws__b64, c) : NULL;

  return p != NULL ? (int)(p - hub_ws__b64) : -1;
}

long hub_ws__base64_decode(const char *text, size_t len, uint8_t *out) {
  size_t i, o = 0;
  int v[4], j, pad;

  if (len % 4 != 0)
    return -1;
  for (i = 0; i < len; i += 4) {
    pad = 0;
    for (j = 0; j < 4; j++) {
      /* Padding may only end the last quantum: "xx==" or "xxx=". */
      if (text[i + j] == '=' && i + 4 == len && j >= 2 &&
          (j == 3 || text[i + 3] == '=')) {
        v[j] = 0;
        pad++;
        continue;
      }
      if (pad > 0 || (v[j] = hub_ws__b64_value(text[i + j])) < 0)
        return -1;
    }
    out[o++] = (uint8_t)(v[0] << 2 | v[1] >> 4);
    if (pad < 2)
      out[o++] = (uint8_t)((v[1] & 15) << 4 | v[2] >> 2);
    if (pad < 1)
      out[o++] = (uint8_t)((v[2] & 3) << 6 | v[3]);
  }
  return (long)o;
}

int hub_ws__key_valid(const char *key, size_t len) {
  uint8_t raw[18];

  /* 16 bytes encode to exactly 24 characters ending in "==". */
  return len == 24 && hub_ws__base64_decode(key, len, raw) == 16;
}

void hub_ws__accept_key(const char *key, size_t len,
                        char out[HUB_WS__ACCEPT_LEN + 1]) {
  uint8_t digest[HUB_WS__SHA1_LEN];
  hub_ws__sha1_t s;

  hub_ws__sha1_init(&s);
  hub_ws__sha1_update(&s, key, len);
  hub_ws__sha1_update(&s, hub_ws__guid, sizeof(hub_ws__guid) - 1);
  hub_ws__sha1_final(&s, digest);
  hub_ws__base64_encode(digest, sizeof(digest), out);
}
