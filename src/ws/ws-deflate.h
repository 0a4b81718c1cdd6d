/* permessage-deflate (RFC 7692), the server's side: which offer of a
 * client to accept, and the compressor for what the server sends. Pure
 * code: no I/O. (Inflating what clients send is the frame reader's job:
 * ws-frame.h.)
 *
 * The server always answers server_no_context_takeover and
 * client_no_context_takeover: neither side keeps a compression context
 * from one message to the next. That is what lets a server compress each
 * message once for all its clients, and inflate every client's messages
 * with one stream: no zlib state per connection, ever. */
#ifndef WS_DEFLATE_H
#define WS_DEFLATE_H

#include <stddef.h>
#include <stdint.h>

#include "ws-handshake.h"

/* The window sizes a server can compress with: zlib cannot make raw
 * deflate with a 256-byte window (8 bits). */
#define HUB_WS__PMD_MIN_WINDOW_BITS 9
#define HUB_WS__PMD_MAX_WINDOW_BITS 15
/* Room for the longest response value hub_ws__pmd_accept() writes. */
#define HUB_WS__PMD_RESPONSE_MAX 112

/* Look at the permessage-deflate offers in `value`, one
 * Sec-WebSocket-Extensions header value (a comma-separated list of
 * extensions, each with ";"-separated parameters), in order, for a server
 * that compresses with a window of `window_bits` (9 to 15). The first
 * offer it can accept wins: its response value goes into out[cap]
 * ("permessage-deflate; server_no_context_takeover;
 * client_no_context_takeover", and "; server_max_window_bits=B" when the
 * offer had that parameter), and the function returns 1. An offer is
 * declined, and the next one tried, when it has a parameter RFC 7692 does
 * not define, a parameter twice, a malformed value (window bits other
 * than 8 to 15 in decimal without leading zeros, quoted or not; a value
 * on a *_no_context_takeover parameter; server_max_window_bits without a
 * value), or a server_max_window_bits below `window_bits`. Other
 * extensions are ignored. Returns 0 when no offer is acceptable, and
 * -1 when `cap` is too small (HUB_WS__PMD_RESPONSE_MAX always suffices). */
int hub_ws__pmd_accept_value(const char *value, unsigned window_bits, char *out,
                             size_t cap);

/* The same over every Sec-WebSocket-Extensions header of a request, in
 * the order they came (a client may split its offers over several). */
int hub_ws__pmd_accept(const hub_ws__hs_t *hs, unsigned window_bits, char *out,
                       size_t cap);

/* The compressor: one deflate stream, reset for every message, and a
 * scratch buffer the compressed bytes go into. */
typedef struct hub_ws__deflater_s hub_ws__deflater_t;

/* `level` 1 to 9 (zlib's), `window_bits` 9 to 15. Returns 0, -EINVAL or
 * -ENOMEM. About 2^(window_bits + 2) + 128 KiB of zlib state. */
int hub_ws__deflater_new(hub_ws__deflater_t **dp, int level,
                         unsigned window_bits);
void hub_ws__deflater_free(hub_ws__deflater_t *d);

/* Compress one message made of `alen` bytes at `a` then `blen` bytes at
 * `b` (either may be empty) into a permessage-deflate payload (raw
 * deflate, flushed, its final 00 00 FF FF removed: RFC 7692 §7.2.1). On
 * success *out points to *outlen bytes, valid until the next call, and
 * the result is shorter than alen + blen. Returns 0 on success, 1 when the
 * message does not shrink (send it uncompressed), -ENOMEM. */
int hub_ws__deflate(hub_ws__deflater_t *d, const void *a, size_t alen,
                    const void *b, size_t blen, const uint8_t **out,
                    size_t *outlen);

#endif /* WS_DEFLATE_H */
