/* permessage-deflate's compression (RFC 7692 section 7.2) for the load
 * generator, on zlib: raw deflate streams, messages ended by a sync
 * flush whose trailing 00 00 ff ff is left off the wire.
 *
 * Built with zlib when LG_HAVE_ZLIB is defined; without it,
 * lg_deflate_available() is 0 and the constructors return NULL. Not
 * reentrant: inflating writes into one static buffer (the load generator
 * runs on one thread). */
#ifndef LG_DEFLATE_H
#define LG_DEFLATE_H

#include <stddef.h>
#include <stdint.h>

typedef struct lg_inflate lg_inflate_t;
typedef struct lg_deflate lg_deflate_t;
typedef struct lg_inflate_memo lg_inflate_memo_t;

/* Whether this build has zlib. */
int lg_deflate_available(void);

/* A decompressor with a 15-bit window, which inflates whatever window
 * size the server uses. NULL without zlib or memory. */
lg_inflate_t *lg_inflate_new(void);
void lg_inflate_free(lg_inflate_t *z);

/* Inflates one message's payload in[0..n) (as sent: the 00 00 ff ff tail
 * is added here). reset: start from an empty window, as a server that
 * answered server_no_context_takeover compresses; otherwise the window of
 * the stream's earlier messages is used. Keeps the message's first
 * head_cap bytes in head (*head_len of them) and its length in *len.
 * Returns 0, or -1 if in is not valid deflate data or inflates to more
 * than max bytes (0: no limit); the stream must not be used again
 * without reset after -1. */
int lg_inflate_msg(lg_inflate_t *z, const uint8_t *in, size_t n, int reset,
                   uint64_t max, uint8_t *head, size_t head_cap,
                   size_t *head_len, uint64_t *len);

/* Messages compressed without context takeover inflate to the same
 * message whenever their bytes are the same, and a server that
 * compresses a broadcast once sends the same bytes to every receiver.
 * A memo keeps the results of recent distinct payloads (up to
 * LG_MEMO_MAX bytes each), found by a hash and confirmed by comparing
 * the bytes, so that each is inflated once. NULL without memory. */
#define LG_MEMO_MAX 65536
lg_inflate_memo_t *lg_inflate_memo_new(void);
void lg_inflate_memo_free(lg_inflate_memo_t *m);

/* lg_inflate_msg(z, in, n, reset 1, ...), or the result of an earlier
 * call with the same bytes (counted in *hits). Failures are not kept. */
int lg_inflate_msg_memo(lg_inflate_memo_t *m, lg_inflate_t *z,
                        const uint8_t *in, size_t n, uint64_t max,
                        uint8_t *head, size_t head_cap, size_t *head_len,
                        uint64_t *len, uint64_t *hits);

/* A compressor at zlib's level 6 with a window of window_bits (9..15;
 * zlib has no raw 8-bit window). NULL without zlib or memory. */
lg_deflate_t *lg_deflate_new(int window_bits);
void lg_deflate_free(lg_deflate_t *z);

/* The most bytes lg_deflate_msg() writes for n bytes of input. */
size_t lg_deflate_bound(size_t n);

/* Compresses in[0..n) as one message into out (at least
 * lg_deflate_bound(n) bytes): a sync flush, the 00 00 ff ff tail removed.
 * reset: from an empty window (client_no_context_takeover); otherwise the
 * stream's earlier messages are its window, and the server must keep
 * them too. Returns the compressed length, or -1 on a zlib error. */
long lg_deflate_msg(lg_deflate_t *z, const uint8_t *in, size_t n, int reset,
                    uint8_t *out);

#endif /* LG_DEFLATE_H */
