/* SHA-1 and base64, just enough for the client side of the WebSocket
 * opening handshake (RFC 6455 section 4.1: the client checks that
 * Sec-WebSocket-Accept is base64(SHA-1(key + GUID))). Written from
 * FIPS 180-4 and RFC 4648; not for anything that needs a secure hash. */
#ifndef LG_SHA1_H
#define LG_SHA1_H

#include <stddef.h>
#include <stdint.h>

#define LG_SHA1_LEN 20

void lg_sha1(const void *data, size_t len, uint8_t out[LG_SHA1_LEN]);

/* Standard base64 with padding; writes 4 * ceil(len / 3) characters and a
 * terminating NUL to out. Returns the number of characters written. */
size_t lg_base64(const uint8_t *data, size_t len, char *out);

#endif /* LG_SHA1_H */
