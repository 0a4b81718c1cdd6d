/* Signed tokens that name a user, for the example programs' optional
 * authentication (hub-ws-chat's --auth-secret-file). Bytes in, bytes out:
 * no I/O, no clock (the caller gives the time), no allocation. Not part
 * of libhub's API.
 *
 * A token is three fields separated by dots:
 *
 *     NAME.EXPIRES.SIGNATURE
 *
 * NAME is the user's name in base64url without padding (RFC 4648 §5),
 * EXPIRES the time it stops being valid in seconds since the Unix epoch
 * (decimal, at most 18 digits, no leading zero), and SIGNATURE the HMAC-SHA256 of
 * "NAME.EXPIRES" (the token's first two fields as they are written) under
 * the server's secret, in 64 lowercase hex digits. The name is 1 to
 * HUBX_TOKEN_NAME_MAX bytes that hubx_room_name_check() accepts (UTF-8
 * without control or bidirectional characters). Anyone holding the
 * secret can mint one, in any language (docs/ws.md has a Python line). */
#ifndef HUBX_TOKEN_H
#define HUBX_TOKEN_H

#include <stddef.h>
#include <stdint.h>

#define HUBX_TOKEN_NAME_MAX 64
/* The longest token: a name of HUBX_TOKEN_NAME_MAX bytes, 18 digits,
 * 64 hex digits and the two dots. */
#define HUBX_TOKEN_MAX (((HUBX_TOKEN_NAME_MAX + 2) / 3) * 4 + 18 + 64 + 2)

typedef enum {
  HUBX_TOKEN_OK = 0,
  HUBX_TOKEN_MALFORMED,     /* not three fields of the right forms */
  HUBX_TOKEN_BAD_SIGNATURE, /* well formed, not signed with this secret */
  HUBX_TOKEN_EXPIRED        /* signed, but EXPIRES is not after now */
} hubx_token_result_t;

/* Check `len` bytes at `token` against `secret` at time `now` (seconds
 * since the epoch). On HUBX_TOKEN_OK, `name` holds the user's name,
 * NUL-terminated. The signature is compared in constant time, and before
 * anything the signature covers is trusted; an expired token is reported
 * only once its signature is known to be good. */
hubx_token_result_t hubx_token_check(const void *secret, size_t secret_len,
                                     const char *token, size_t len,
                                     int64_t now,
                                     char name[HUBX_TOKEN_NAME_MAX + 1]);

/* Words for a result ("expired", ...), fit for a client and a log. */
const char *hubx_token_result_str(hubx_token_result_t r);

/* Write the token of `name` (`name_len` bytes) valid until `expires`
 * into `out` (at least HUBX_TOKEN_MAX + 1 bytes, NUL-terminated).
 * Returns NULL, or why the name or time cannot be used. */
const char *hubx_token_mint(const void *secret, size_t secret_len,
                            const char *name, size_t name_len,
                            int64_t expires, char out[HUBX_TOKEN_MAX + 1]);

#endif /* HUBX_TOKEN_H */
