/* SHA-256 (FIPS 180-4) and HMAC-SHA256 (RFC 2104, RFC 4231), for the
 * example programs' signed tokens (hubx-token.h). Bytes in, bytes out: no
 * I/O, no allocation, no dependency. Not part of libhub's API, and not
 * meant to be fast: a token is a few dozen bytes. */
#ifndef HUBX_SHA256_H
#define HUBX_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define HUBX_SHA256_LEN 32
#define HUBX_SHA256_BLOCK 64

typedef struct {
  uint32_t h[8];
  uint64_t total;                  /* bytes hashed so far */
  uint8_t buf[HUBX_SHA256_BLOCK];  /* a block not yet complete */
  size_t fill;                     /* bytes in buf */
} hubx_sha256_t;

/* A hash is begun, fed any number of times with any lengths (the result
 * does not depend on how the input is cut), and finished once; finishing
 * leaves the context to be begun again. */
void hubx_sha256_init(hubx_sha256_t *ctx);
void hubx_sha256_update(hubx_sha256_t *ctx, const void *data, size_t len);
void hubx_sha256_final(hubx_sha256_t *ctx, uint8_t out[HUBX_SHA256_LEN]);

/* The digest of `len` bytes at `data`, in one call. */
void hubx_sha256(const void *data, size_t len, uint8_t out[HUBX_SHA256_LEN]);

/* HMAC-SHA256 of `len` bytes at `msg` under a key of any length (one
 * longer than a block is hashed first, as RFC 2104 says). */
void hubx_hmac_sha256(const void *key, size_t key_len, const void *msg,
                      size_t len, uint8_t out[HUBX_SHA256_LEN]);

/* 1 if `len` bytes at `a` and `b` are equal, else 0, in a time that
 * depends on `len` only, never on where they differ: for comparing a
 * signature an attacker chose with the one it should be. */
int hubx_equal_ct(const void *a, const void *b, size_t len);

#endif /* HUBX_SHA256_H */
