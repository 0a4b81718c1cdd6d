/* Signed tokens (hubx-token.h): base64url, decimal and hex by hand, the
 * HMAC from hubx-sha256.c, names checked by hubx-text.c's rule. */
#include <stdio.h>
#include <string.h>

#include "hubx-sha256.h"
#include "hubx-text.h"
#include "hubx-token.h"

#define HUBX__EXPIRES_DIGITS 18

static const char hubx__b64url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static int hubx__b64url_value(int c) {
  const char *p = c != '\0' ? strchr(hubx__b64url, c) : NULL;

  return p != NULL ? (int)(p - hubx__b64url) : -1;
}

/* base64url without padding; returns the length written. */
static size_t hubx__b64url_encode(const uint8_t *p, size_t n, char *out) {
  size_t i, o = 0;

  for (i = 0; i < n; i += 3) {
    uint32_t v = (uint32_t)p[i] << 16;
    if (i + 1 < n)
      v |= (uint32_t)p[i + 1] << 8;
    if (i + 2 < n)
      v |= p[i + 2];
    out[o++] = hubx__b64url[v >> 18 & 63];
    out[o++] = hubx__b64url[v >> 12 & 63];
    if (i + 1 < n)
      out[o++] = hubx__b64url[v >> 6 & 63];
    if (i + 2 < n)
      out[o++] = hubx__b64url[v & 63];
  }
  return o;
}

/* Decode `n` characters of base64url without padding into out (`cap`
 * bytes); the length, or -1 if they are not that (a bad character, a
 * length of 1 mod 4, bits left over that are not zero: one encoding per
 * name) or do not fit. */
static long hubx__b64url_decode(const char *s, size_t n, uint8_t *out,
                                size_t cap) {
  uint32_t v = 0;
  size_t i, o = 0;
  unsigned bits = 0;
  int d;

  if (n % 4 == 1)
    return -1;
  for (i = 0; i < n; i++) {
    d = hubx__b64url_value((unsigned char)s[i]);
    if (d < 0)
      return -1;
    v = (v << 6 | (uint32_t)d) & 0xffffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      if (o == cap)
        return -1;
      out[o++] = (uint8_t)(v >> bits);
    }
  }
  if ((v & ((1u << bits) - 1)) != 0)
    return -1;
  return (long)o;
}

static int hubx__hex_value(int c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  return -1;
}

static void hubx__sign(const void *secret, size_t secret_len,
                       const char *signed_part, size_t n,
                       uint8_t mac[HUBX_SHA256_LEN]) {
  hubx_hmac_sha256(secret, secret_len, signed_part, n, mac);
}

hubx_token_result_t hubx_token_check(const void *secret, size_t secret_len,
                                     const char *token, size_t len,
                                     int64_t now,
                                     char name[HUBX_TOKEN_NAME_MAX + 1]) {
  uint8_t mac[HUBX_SHA256_LEN], given[HUBX_SHA256_LEN];
  const char *dot1, *dot2, *sig;
  int64_t expires = 0;
  size_t i, ndigits;
  long n;
  int hi, lo;

  name[0] = '\0';
  if (len > HUBX_TOKEN_MAX || memchr(token, '\0', len) != NULL)
    return HUBX_TOKEN_MALFORMED;
  dot1 = memchr(token, '.', len);
  dot2 = dot1 != NULL
             ? memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - token))
             : NULL;
  if (dot2 == NULL || dot1 == token)
    return HUBX_TOKEN_MALFORMED;
  /* EXPIRES: 1 to 18 decimal digits, so that it fits in 63 bits, without
   * leading zeros: one way to write each token. */
  ndigits = (size_t)(dot2 - dot1 - 1);
  if (ndigits == 0 || ndigits > HUBX__EXPIRES_DIGITS || dot1[1] == '0')
    return HUBX_TOKEN_MALFORMED;
  for (i = 0; i < ndigits; i++) {
    if (dot1[1 + i] < '0' || dot1[1 + i] > '9')
      return HUBX_TOKEN_MALFORMED;
    expires = expires * 10 + (dot1[1 + i] - '0');
  }
  sig = dot2 + 1;
  if ((size_t)(token + len - sig) != 2 * HUBX_SHA256_LEN)
    return HUBX_TOKEN_MALFORMED;
  for (i = 0; i < HUBX_SHA256_LEN; i++) {
    hi = hubx__hex_value((unsigned char)sig[2 * i]);
    lo = hubx__hex_value((unsigned char)sig[2 * i + 1]);
    if (hi < 0 || lo < 0)
      return HUBX_TOKEN_MALFORMED;
    given[i] = (uint8_t)(hi << 4 | lo);
  }
  hubx__sign(secret, secret_len, token, (size_t)(dot2 - token), mac);
  if (!hubx_equal_ct(mac, given, sizeof(mac)))
    return HUBX_TOKEN_BAD_SIGNATURE;
  if (expires <= now)
    return HUBX_TOKEN_EXPIRED;
  /* Signed by the holder of the secret, but checked all the same: a
   * minting tool elsewhere may know nothing of the rule. */
  n = hubx__b64url_decode(token, (size_t)(dot1 - token), (uint8_t *)name,
                          HUBX_TOKEN_NAME_MAX);
  if (n <= 0 || hubx_room_name_check(name, (size_t)n) != NULL) {
    name[0] = '\0';
    return HUBX_TOKEN_MALFORMED;
  }
  name[n] = '\0';
  return HUBX_TOKEN_OK;
}

const char *hubx_token_result_str(hubx_token_result_t r) {
  switch (r) {
  case HUBX_TOKEN_OK:
    return "valid";
  case HUBX_TOKEN_MALFORMED:
    return "malformed token";
  case HUBX_TOKEN_BAD_SIGNATURE:
    return "bad token signature";
  case HUBX_TOKEN_EXPIRED:
    return "token expired";
  }
  return "unknown token result";
}

const char *hubx_token_mint(const void *secret, size_t secret_len,
                            const char *name, size_t name_len,
                            int64_t expires, char out[HUBX_TOKEN_MAX + 1]) {
  static const char hex[] = "0123456789abcdef";
  uint8_t mac[HUBX_SHA256_LEN];
  const char *why;
  size_t n, i;

  if (name_len > HUBX_TOKEN_NAME_MAX)
    return "a name is at most 64 bytes";
  if ((why = hubx_room_name_check(name, name_len)) != NULL)
    return why;
  if (expires <= 0 || expires > 999999999999999999LL)
    return "the expiry is not a time in seconds since 1970";
  n = hubx__b64url_encode((const uint8_t *)name, name_len, out);
  n += (size_t)sprintf(out + n, ".%lld", (long long)expires);
  hubx__sign(secret, secret_len, out, n, mac);
  out[n++] = '.';
  for (i = 0; i < HUBX_SHA256_LEN; i++) {
    out[n++] = hex[mac[i] >> 4];
    out[n++] = hex[mac[i] & 15];
  }
  out[n] = '\0';
  return NULL;
}
