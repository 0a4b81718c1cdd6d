/* The load generator's message format, the same for every protocol.
 *
 * Every message carries a fixed 40-byte header of lowercase hex digits:
 *
 *   offset  0: publisher id        8 hex digits
 *   offset  8: sequence number    16 hex digits (per publisher, from 0)
 *   offset 24: timestamp          16 hex digits (CLOCK_MONOTONIC, ns)
 *
 * Two payloads carry it:
 *
 *   plain  the header at offset 0, then 'a'..'z' repeated up to the size
 *          (compresses to almost nothing);
 *   json   a JSON object whose first member holds the header,
 *          {"h":"<header>","type":"msg","room":...,"user":...,"seq":...,
 *          "ts":...,"text":"..."}, the text made of words drawn from a
 *          small vocabulary, different in every message: it compresses
 *          about as well as real chat messages (2-3x with zlib level 6).
 *
 * lg_msg_decode() tells the two apart by the first byte. Everything is
 * printable ASCII: valid UTF-8 for WebSocket text frames and never a '\n'
 * (nor '\r') for the newline protocol and server-sent events. */
#ifndef LG_MSG_H
#define LG_MSG_H

#include <stddef.h>
#include <stdint.h>

#define LG_MSG_HEADER 40 /* the smallest message */
#define LG_JSON_PREFIX 6 /* {"h":" before the header in a json payload */
#define LG_JSON_MIN 48   /* the smallest json payload: {"h":"<header>"} */
/* Bytes the parsers keep of each message: a json header behind a
 * server-sent event's "data: " ends at byte 52. */
#define LG_HEAD_MAX 64

/* Fills size bytes of out: the header, then padding (plain payload). */
void lg_msg_fill(uint8_t *out, size_t size, uint32_t pub, uint64_t seq,
                 uint64_t ts_ns);

/* Fills size bytes (at least LG_JSON_MIN) of out with a json payload for
 * message seq of publisher pub: one JSON object, exactly size bytes,
 * whose members and text depend on pub and seq. */
void lg_msg_fill_json(uint8_t *out, size_t size, uint32_t pub, uint64_t seq,
                      uint64_t ts_ns);

/* Rewrites only the header of a message already filled once. */
void lg_msg_encode(uint8_t *out, uint32_t pub, uint64_t seq, uint64_t ts_ns);

/* Decodes the header of a message (plain or json) whose first len bytes
 * are in. Returns 0, or -1 if it is too short or not hex digits. */
int lg_msg_decode(const uint8_t *in, size_t len, uint32_t *pub,
                  uint64_t *seq, uint64_t *ts_ns);

#endif /* LG_MSG_H */
