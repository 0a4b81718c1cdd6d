/* SHA-256 as FIPS 180-4 §6.2 specifies it, and HMAC over it (RFC 2104).
 * Straight from the standard, one block at a time: the programs hash a
 * few short tokens per connection, nothing that needs speed. */
#include <string.h>

#include "hubx-sha256.h"

static const uint32_t hubx__k[64] = {
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1,
  0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3,
  0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
  0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147,
  0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
  0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
  0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
  0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
  0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2
};

static uint32_t hubx__ror(uint32_t x, unsigned n) {
  return x >> n | x << (32 - n);
}

/* §6.2.2: one 64-byte block into the state. */
static void hubx__sha256_block(uint32_t h[8], const uint8_t *p) {
  uint32_t w[64], a, b, c, d, e, f, g, k, t1, t2;
  unsigned i;

  for (i = 0; i < 16; i++)
    w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
           (uint32_t)p[4 * i + 2] << 8 | (uint32_t)p[4 * i + 3];
  for (i = 16; i < 64; i++) {
    uint32_t s0 = hubx__ror(w[i - 15], 7) ^ hubx__ror(w[i - 15], 18) ^
                  w[i - 15] >> 3;
    uint32_t s1 = hubx__ror(w[i - 2], 17) ^ hubx__ror(w[i - 2], 19) ^
                  w[i - 2] >> 10;
    w[i] = w[i - 16] + s0 + w[i - 7] + s1;
  }
  a = h[0], b = h[1], c = h[2], d = h[3];
  e = h[4], f = h[5], g = h[6], k = h[7];
  for (i = 0; i < 64; i++) {
    t1 = k + (hubx__ror(e, 6) ^ hubx__ror(e, 11) ^ hubx__ror(e, 25)) +
         ((e & f) ^ (~e & g)) + hubx__k[i] + w[i];
    t2 = (hubx__ror(a, 2) ^ hubx__ror(a, 13) ^ hubx__ror(a, 22)) +
         ((a & b) ^ (a & c) ^ (b & c));
    k = g, g = f, f = e, e = d + t1;
    d = c, c = b, b = a, a = t1 + t2;
  }
  h[0] += a, h[1] += b, h[2] += c, h[3] += d;
  h[4] += e, h[5] += f, h[6] += g, h[7] += k;
}

void hubx_sha256_init(hubx_sha256_t *ctx) {
  static const uint32_t h0[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372,
                                 0xa54ff53a, 0x510e527f, 0x9b05688c,
                                 0x1f83d9ab, 0x5be0cd19};

  memcpy(ctx->h, h0, sizeof(h0));
  ctx->total = 0;
  ctx->fill = 0;
}

void hubx_sha256_update(hubx_sha256_t *ctx, const void *data, size_t len) {
  const uint8_t *p = data;
  size_t n;

  ctx->total += len;
  while (len > 0) {
    if (ctx->fill == 0 && len >= HUBX_SHA256_BLOCK) {
      hubx__sha256_block(ctx->h, p);
      p += HUBX_SHA256_BLOCK;
      len -= HUBX_SHA256_BLOCK;
      continue;
    }
    n = HUBX_SHA256_BLOCK - ctx->fill;
    if (n > len)
      n = len;
    memcpy(ctx->buf + ctx->fill, p, n);
    ctx->fill += n;
    p += n;
    len -= n;
    if (ctx->fill == HUBX_SHA256_BLOCK) {
      hubx__sha256_block(ctx->h, ctx->buf);
      ctx->fill = 0;
    }
  }
}

/* §5.1.1: a 1 bit, zeros, and the length in bits as 64 bits big-endian,
 * ending on a block boundary. */
void hubx_sha256_final(hubx_sha256_t *ctx, uint8_t out[HUBX_SHA256_LEN]) {
  uint64_t bits = ctx->total * 8;
  unsigned i;

  ctx->buf[ctx->fill++] = 0x80;
  if (ctx->fill > HUBX_SHA256_BLOCK - 8) {
    memset(ctx->buf + ctx->fill, 0, HUBX_SHA256_BLOCK - ctx->fill);
    hubx__sha256_block(ctx->h, ctx->buf);
    ctx->fill = 0;
  }
  memset(ctx->buf + ctx->fill, 0, HUBX_SHA256_BLOCK - 8 - ctx->fill);
  for (i = 0; i < 8; i++)
    ctx->buf[HUBX_SHA256_BLOCK - 1 - i] = (uint8_t)(bits >> (8 * i));
  hubx__sha256_block(ctx->h, ctx->buf);
  for (i = 0; i < 8; i++) {
    out[4 * i] = (uint8_t)(ctx->h[i] >> 24);
    out[4 * i + 1] = (uint8_t)(ctx->h[i] >> 16);
    out[4 * i + 2] = (uint8_t)(ctx->h[i] >> 8);
    out[4 * i + 3] = (uint8_t)ctx->h[i];
  }
  hubx_sha256_init(ctx);
}

void hubx_sha256(const void *data, size_t len, uint8_t out[HUBX_SHA256_LEN]) {
  hubx_sha256_t ctx;

  hubx_sha256_init(&ctx);
  hubx_sha256_update(&ctx, data, len);
  hubx_sha256_final(&ctx, out);
}

/* H((K ^ opad) || H((K ^ ipad) || msg)), K padded with zeros to a block. */
void hubx_hmac_sha256(const void *key, size_t key_len, const void *msg,
                      size_t len, uint8_t out[HUBX_SHA256_LEN]) {
  uint8_t k[HUBX_SHA256_BLOCK], pad[HUBX_SHA256_BLOCK];
  uint8_t inner[HUBX_SHA256_LEN];
  hubx_sha256_t ctx;
  unsigned i;

  memset(k, 0, sizeof(k));
  if (key_len > HUBX_SHA256_BLOCK)
    hubx_sha256(key, key_len, k);
  else if (key_len > 0)
    memcpy(k, key, key_len);
  for (i = 0; i < HUBX_SHA256_BLOCK; i++)
    pad[i] = k[i] ^ 0x36;
  hubx_sha256_init(&ctx);
  hubx_sha256_update(&ctx, pad, sizeof(pad));
  hubx_sha256_update(&ctx, msg, len);
  hubx_sha256_final(&ctx, inner);
  for (i = 0; i < HUBX_SHA256_BLOCK; i++)
    pad[i] = k[i] ^ 0x5c;
  hubx_sha256_update(&ctx, pad, sizeof(pad));
  hubx_sha256_update(&ctx, inner, sizeof(inner));
  hubx_sha256_final(&ctx, out);
}

int hubx_equal_ct(const void *a, const void *b, size_t len) {
  const volatile uint8_t *x = a, *y = b;
  uint8_t diff = 0;
  size_t i;

  for (i = 0; i < len; i++)
    diff |= x[i] ^ y[i];
  return diff == 0;
}
