/* The load generator's message format, the same for both protocols.
 *
 * Every message starts with a fixed 40-byte header of lowercase hex
 * digits, followed by printable padding up to the requested size:
 *
 *   offset  0: publisher id        8 hex digits
 *   offset  8: sequence number    16 hex digits (per publisher, from 0)
 *   offset 24: timestamp          16 hex digits (CLOCK_MONOTONIC, ns)
 *   offset 40: padding            'a'..'z' repeated
 *
 * Everything is printable ASCII: valid UTF-8 for WebSocket text frames
 * and never a '\n' (nor '\r') for the newline protocol. */
#ifndef LG_MSG_H
#define LG_MSG_H

#include <stddef.h>
#include <stdint.h>

#define LG_MSG_HEADER 40 /* the smallest message */
#define LG_HEAD_MAX 48   /* bytes the parsers keep of each message */

/* Fills size bytes of out: the header, then padding. */
void lg_msg_fill(uint8_t *out, size_t size, uint32_t pub, uint64_t seq,
                 uint64_t ts_ns);

/* Rewrites only the header of a message already filled once. */
void lg_msg_encode(uint8_t *out, uint32_t pub, uint64_t seq, uint64_t ts_ns);

/* Decodes the header of a message whose first len bytes are in. Returns 0,
 * or -1 if it is shorter than LG_MSG_HEADER or not hex digits. */
int lg_msg_decode(const uint8_t *in, size_t len, uint32_t *pub,
                  uint64_t *seq, uint64_t *ts_ns);

#endif /* LG_MSG_H */
