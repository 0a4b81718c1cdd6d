/* WebSocket frames (RFC 6455 §5): reading a client's frames with wslay,
 * and building the server's. Pure code: bytes in, events out, no I/O.
 *
 * Reading. One hub_ws__reader_t serves every connection of a server (of a
 * loop): it owns wslay's frame contexts, about 4.3 KB each, and lends one
 * to a connection only while that connection has a frame partly
 * received. A connection's own state, hub_ws__rx_t, likewise exists only while
 * a frame or a fragmented message is in progress: a connection between
 * messages holds nothing but a NULL pointer. A message is copied into a
 * reassembly buffer only when it does not arrive whole in one read; that
 * buffer grows with the bytes actually received, never to a length a
 * frame header merely announces, and never beyond max_message. */
#ifndef WS_FRAME_H
#define WS_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include <hub.h>

enum {
  HUB_WS__OP_CONT = 0x0,
  HUB_WS__OP_TEXT = 0x1,
  HUB_WS__OP_BINARY = 0x2,
  HUB_WS__OP_CLOSE = 0x8,
  HUB_WS__OP_PING = 0x9,
  HUB_WS__OP_PONG = 0xA
};

/* Close codes (RFC 6455 §7.4.1). */
enum {
  HUB_WS__CLOSE_NORMAL = 1000,
  HUB_WS__CLOSE_GOING_AWAY = 1001,
  HUB_WS__CLOSE_PROTOCOL = 1002,
  HUB_WS__CLOSE_NO_STATUS = 1005, /* never sent: "the close had no code" */
  HUB_WS__CLOSE_ABNORMAL = 1006,  /* never sent: "no close frame at all" */
  HUB_WS__CLOSE_INVALID_DATA = 1007,
  HUB_WS__CLOSE_POLICY = 1008,
  HUB_WS__CLOSE_TOO_BIG = 1009,
  HUB_WS__CLOSE_INTERNAL = 1011
};

/* Largest control frame payload, and a control frame on the wire. */
#define HUB_WS__CONTROL_MAX 125
#define HUB_WS__CONTROL_FRAME_MAX (2 + HUB_WS__CONTROL_MAX)
/* Longest server frame header: 2 bytes and a 64-bit length. */
#define HUB_WS__HEAD_MAX 10

typedef struct hub_ws__reader_s hub_ws__reader_t;
typedef struct hub_ws__rx_s hub_ws__rx_t;

/* What a reader reports, with the `conn` given to hub_ws__reader_feed().
 * Payloads are valid only during the call. Each callback returns 0 to go
 * on reading, or nonzero to stop: hub_ws__reader_feed() then returns
 * HUB_WS__READ_STOPPED at once, and the connection is not to be fed again.
 * on_message may also return HUB_WS__READ_PAUSED: the feed ends after that
 * message and the connection may be fed again, first with what was not
 * consumed (see hub_ws__reader_feed_some()). */
typedef struct {
  /* A complete text (binary 0; valid UTF-8) or binary message. */
  int (*on_message)(void *conn, const uint8_t *data, size_t len,
                    int binary);
  int (*on_ping)(void *conn, const uint8_t *data, size_t len);
  int (*on_pong)(void *conn, const uint8_t *data, size_t len);
  /* A valid close frame: `code` is HUB_WS__CLOSE_NO_STATUS if it had none,
   * `reason` is valid UTF-8. */
  int (*on_close)(void *conn, unsigned code, const uint8_t *reason,
                  size_t len);
} hub_ws__reader_callbacks_t;

/* The allocator (hub.h's hub_allocator_t) serves the reader, connection
 * state and reassembly buffers; wslay allocates its contexts with malloc().
 * NULL in hub_ws__reader_new() means libc. */

typedef struct {
  uint64_t rx_live;       /* connections holding a hub_ws__rx_t */
  uint64_t contexts_live; /* wslay contexts allocated (lent or spare) */
  uint64_t contexts_lent; /* ... lent to a connection between reads */
  uint64_t buffered;      /* bytes allocated for reassembly buffers */
  uint64_t inflated;      /* compressed messages inflated */
} hub_ws__reader_stats_t;

enum {
  HUB_WS__READ_OK = 0,      /* every byte was consumed */
  HUB_WS__READ_STOPPED = 1, /* a callback asked to stop */
  HUB_WS__READ_PAUSED = 2   /* on_message asked to pause (see above) */
  /* any other result is a close code: fail the connection with it */
};

/* Create a reader for messages of at most `max_message` bytes (>= 1).
 * `cb` and `alloc` (may be NULL) are copied. Returns 0, -EINVAL for bad
 * arguments or -ENOMEM. */
int hub_ws__reader_new(hub_ws__reader_t **readerp, size_t max_message,
                       const hub_ws__reader_callbacks_t *cb,
                       const hub_allocator_t *alloc);

/* From now on, allocate connection state and reassembly buffers with
 * `alloc` (NULL: libc), the reader itself staying with the allocator it
 * was made with: an adapter can so keep what lives as long as the server
 * apart from what lives as long as a connection. Only while no hub_ws__rx_t
 * exists. `alloc` is copied. */
void hub_ws__reader_set_conn_alloc(hub_ws__reader_t *reader,
                                   const hub_allocator_t *alloc);

/* Free the reader. Every hub_ws__rx_t must have been freed before. */
void hub_ws__reader_free(hub_ws__reader_t *reader);

/* Read `len` bytes a client sent on the connection whose state is *rxp
 * (NULL when it has none; the reader allocates and frees it as needed).
 * Events go to the callbacks with `conn`. Returns HUB_WS__READ_OK,
 * HUB_WS__READ_STOPPED, or the close code to fail the connection with:
 *   1002  an unmasked frame, RSV bits, a reserved opcode, a continuation
 *         without a message or a new message inside one, a control frame
 *         that is fragmented or longer than 125 bytes, a length not in
 *         its shortest form, a close frame of 1 byte or with a code that
 *         may not be sent;
 *   1007  a text message or close reason that is not UTF-8 (detected at
 *         the first bad byte, even across fragments);
 *   1009  a message longer than max_message (detected at the header of
 *         the frame that would exceed it, before reading its payload);
 *   1011  out of memory.
 * After any result but HUB_WS__READ_OK the connection's state is released
 * (*rxp is NULL) and the connection must not be fed again. */
int hub_ws__reader_feed(hub_ws__reader_t *reader, hub_ws__rx_t **rxp,
                        void *conn, const uint8_t *data, size_t len);

/* Feed flags: the connection negotiated permessage-deflate (RFC 7692)
 * with client_no_context_takeover. */
#define HUB_WS__RX_DEFLATE 1u

/* As hub_ws__reader_feed(), with `flags`, and it may also return
 * HUB_WS__READ_PAUSED: then *used bytes of `data` were consumed (some of them
 * may wait, parsed or not, in the connection's state), and the rest must
 * be fed next, with this function, even when nothing is left (len 0) so
 * that what the state holds is read. *used is `len` for every other
 * result.
 *
 * With HUB_WS__RX_DEFLATE, a data message whose first frame has RSV1 set is
 * compressed: its frames are gathered (at most max_message + max_message
 * / 8 + 64 bytes: what the worst deflate encoding of a message of
 * max_message bytes takes), then inflated with the reader's one inflate stream,
 * reset for each message (the client keeps no context either), into the
 * reader's output buffer, which grows with the output and stops at max_message
 * (and shrinks back to 64 KiB after a larger message). Then on_message
 * gets the inflated message. More results: 1002 for RSV1 on a control or
 * continuation frame, or without HUB_WS__RX_DEFLATE; 1007 for data that is not
 * deflate, bytes after a final deflate block, or inflated text that is
 * not UTF-8; 1009 for an inflated message over max_message. The inflate
 * stream (about 7 KB, and a 32 KiB window) and the output buffer come
 * from the reader's own allocator, made at the first compressed
 * message. */
int hub_ws__reader_feed_some(hub_ws__reader_t *reader, hub_ws__rx_t **rxp,
                             void *conn, unsigned flags, const uint8_t *data,
                             size_t len, size_t *used);

/* Release a connection's state (NULL is fine), when it closes. */
void hub_ws__rx_free(hub_ws__reader_t *reader, hub_ws__rx_t *rx);

void hub_ws__reader_get_stats(const hub_ws__reader_t *reader,
                              hub_ws__reader_stats_t *st);

/* The header of an unmasked, final server frame of `len` payload bytes
 * with `opcode`, into out[HUB_WS__HEAD_MAX]. Returns its length (2, 4 or 10).
 */
size_t hub_ws__frame_head(uint8_t *out, unsigned opcode, uint64_t len);

/* A whole control frame (ping, pong) with a payload of `len` bytes
 * (truncated to HUB_WS__CONTROL_MAX) into out[HUB_WS__CONTROL_FRAME_MAX].
 * Returns its length. */
size_t hub_ws__frame_control(uint8_t *out, unsigned opcode, const void *payload,
                             size_t len);

/* A close frame into out[HUB_WS__CONTROL_FRAME_MAX]: no payload when `code` is
 * 0, else the code and as much of `reason` as fits in 123 bytes, cut at
 * a character boundary. Returns its length. */
size_t hub_ws__frame_close(uint8_t *out, unsigned code, const char *reason);

/* Nonzero if a peer may send `code` in a close frame (RFC 6455 §7.4). */
int hub_ws__close_code_valid(unsigned code);

#endif /* WS_FRAME_H */
