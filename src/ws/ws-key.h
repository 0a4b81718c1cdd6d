/* The Sec-WebSocket-Key / Sec-WebSocket-Accept computation of RFC 6455
 * §4.2.2: SHA-1 (FIPS 180-4) and base64 (RFC 4648), small enough to carry
 * here instead of depending on a crypto library for one hash. SHA-1 is
 * used only because the protocol names it; it protects nothing. */
#ifndef WS_KEY_H
#define WS_KEY_H

#include <stddef.h>
#include <stdint.h>

#define HUB_WS__SHA1_LEN 20
/* A base64 Sec-WebSocket-Accept value: 28 characters and a NUL. */
#define HUB_WS__ACCEPT_LEN 28

typedef struct {
  uint32_t h[5];
  uint64_t total; /* bytes hashed so far */
  uint8_t block[64];
  size_t used; /* bytes waiting in block */
} hub_ws__sha1_t;

void hub_ws__sha1_init(hub_ws__sha1_t *s);
void hub_ws__sha1_update(hub_ws__sha1_t *s, const void *data, size_t len);
void hub_ws__sha1_final(hub_ws__sha1_t *s, uint8_t digest[HUB_WS__SHA1_LEN]);

/* Encode `len` bytes as padded base64 into `out`, which must hold
 * 4 * ((len + 2) / 3) + 1 bytes; the result is NUL-terminated. Returns the
 * length without the NUL. */
size_t hub_ws__base64_encode(const void *data, size_t len, char *out);

/* Decode padded base64 (`len` characters, a multiple of 4, no
 * whitespace) into `out`, which must hold len / 4 * 3 bytes. Returns the
 * number of bytes decoded, or -1 if the text is not base64. */
long hub_ws__base64_decode(const char *text, size_t len, uint8_t *out);

/* Nonzero if `key` (`len` bytes) is a valid Sec-WebSocket-Key: base64 of
 * exactly 16 bytes. */
int hub_ws__key_valid(const char *key, size_t len);

/* The Sec-WebSocket-Accept value for `key`: base64(SHA-1(key + GUID)),
 * NUL-terminated in `out`. */
void hub_ws__accept_key(const char *key, size_t len,
                        char out[HUB_WS__ACCEPT_LEN + 1]);

#endif /* WS_KEY_H */
