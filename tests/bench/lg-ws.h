/* The client side of WebSocket (RFC 6455) as the load generator needs it:
 * the opening handshake, masked client frames, and an incremental parser
 * of server frames; and the framing side of permessage-deflate (RFC 7692):
 * the offer, the server's answer, and compressed messages (RSV1). Bytes in,
 * events and bytes out: nothing here does I/O or compression, so all of it
 * is unit-tested with scripted bytes.
 *
 * The parser keeps only the first LG_HEAD_MAX bytes of each data message
 * (where the load generator's header lives) and the message's length, so
 * a connection's state stays small whatever the message size. Compressed
 * messages are handed on whole, piece by piece, to be inflated. */
#ifndef LG_WS_H
#define LG_WS_H

#include <stddef.h>
#include <stdint.h>

#include "lg-msg.h" /* LG_HEAD_MAX */

enum {
  LG_WS_OP_CONT = 0x0,
  LG_WS_OP_TEXT = 0x1,
  LG_WS_OP_BINARY = 0x2,
  LG_WS_OP_CLOSE = 0x8,
  LG_WS_OP_PING = 0x9,
  LG_WS_OP_PONG = 0xa
};

/* Parser errors (negative); callbacks stop the parser with a positive
 * value, which lg_ws_parse() returns unchanged. */
enum {
  LG_WS_EPROTO = -1, /* a frame no conforming server sends */
  LG_WS_ETOOBIG = -2, /* a message longer than max_message */
  LG_WS_ERSV = -3     /* a reserved bit that no negotiated extension
                         defines (RSV1 without permessage-deflate) */
};

/* on_message: a complete data message; head holds its first head_len
 * (at most LG_HEAD_MAX) bytes and len is its full length.
 * on_control: a complete ping, pong or close frame (payload <= 125).
 * on_compressed: only where the parser allows RSV1 (permessage-deflate):
 * the payload of a data message whose first frame had RSV1 set, in
 * pieces as they arrive (fin 0), then one call with fin 1 and no data at
 * its end. on_message is not called for such a message. */
typedef struct {
  int (*on_message)(void *ud, int opcode, const uint8_t *head,
                    size_t head_len, uint64_t len);
  int (*on_control)(void *ud, int opcode, const uint8_t *payload,
                    size_t len);
  int (*on_compressed)(void *ud, int opcode, const uint8_t *data,
                       size_t len, int fin);
} lg_ws_callbacks_t;

typedef struct {
  uint64_t max_message; /* 0: no limit */
  uint64_t remaining;   /* payload bytes left in the current frame */
  uint64_t msg_len;     /* bytes of the current data message so far */
  uint8_t hdr[10];      /* the frame header gathered so far */
  uint8_t hdr_len;
  uint8_t in_payload;
  uint8_t opcode, fin;    /* of the current frame */
  uint8_t in_msg, msg_op; /* a data message is open (fragmented) */
  uint8_t rsv1_ok;        /* permessage-deflate was negotiated */
  uint8_t msg_rsv1;       /* the open data message is compressed */
  uint8_t head_len, ctl_len;
  uint8_t head[LG_HEAD_MAX];
  uint8_t ctl[125];
} lg_ws_parser_t;

void lg_ws_parser_init(lg_ws_parser_t *p, uint64_t max_message);

/* After permessage-deflate was negotiated: RSV1 is allowed on the first
 * frame of a data message (and still a protocol error elsewhere). */
void lg_ws_parser_allow_rsv1(lg_ws_parser_t *p);

/* Feeds len bytes; calls back for every complete message or control
 * frame. Returns 0, a negative LG_WS_E* error (the connection must be
 * failed), or a callback's non-zero return value. */
int lg_ws_parse(lg_ws_parser_t *p, const uint8_t *data, size_t len,
                const lg_ws_callbacks_t *cb, void *ud);

/* Writes a FIN frame header for a payload of len bytes to out (at most
 * LG_WS_MAX_HEADER bytes) and returns its size. mask is NULL for an
 * unmasked (server) frame, else the 4-byte masking key, which is written
 * into the header; the caller masks the payload with lg_ws_mask(). For
 * a compressed message, the caller sets LG_WS_RSV1 in out[0]. */
#define LG_WS_RSV1 0x40
#define LG_WS_MAX_HEADER 14
size_t lg_ws_frame_header(uint8_t *out, int opcode, uint64_t len,
                          const uint8_t mask[4]);

/* XORs n bytes with the masking key, starting at key position 0. */
void lg_ws_mask(uint8_t *p, size_t n, const uint8_t mask[4]);

/* Writes the upgrade request for host ("127.0.0.1:8080") and path with
 * the 16-byte nonce as Sec-WebSocket-Key; writes the Sec-WebSocket-Accept
 * value the server must answer (28 characters and a NUL) to accept.
 * extensions, unless NULL, is sent as Sec-WebSocket-Extensions (for
 * instance LG_PMD_OFFER). Returns the request's length, or -1 if cap is
 * too small. */
int lg_ws_request(char *buf, size_t cap, const char *host, const char *path,
                  const uint8_t nonce[16], const char *extensions,
                  char accept[29]);

/* The permessage-deflate offer browsers make: the client can take a
 * smaller window for its own messages if the server asks. */
#define LG_PMD_OFFER "permessage-deflate; client_max_window_bits"

/* permessage-deflate as the server accepted it (RFC 7692 section 7.1).
 * Window sizes are 8..15 bits, 15 where the answer does not say. */
typedef struct {
  uint8_t server_no_context_takeover; /* each server message stands alone */
  uint8_t client_no_context_takeover; /* each client message must too */
  uint8_t server_max_window_bits;
  uint8_t client_max_window_bits; /* the window our messages may use */
} lg_pmd_t;

/* Reads the Sec-WebSocket-Extensions headers of a complete response head.
 * offered: whether the request offered LG_PMD_OFFER. Returns 1 and fills
 * *pmd if the server accepted permessage-deflate, 0 if it accepted no
 * extension, or -1 with a reason in *why for an answer the client must
 * fail the connection for: an extension that was not offered,
 * permessage-deflate twice, an unknown or repeated parameter, or a window
 * size that is missing or outside 8..15. */
int lg_ws_pmd_response(const char *head, size_t len, int offered,
                       lg_pmd_t *pmd, const char **why);

/* Length of the HTTP response head in buf up to and including the empty
 * line, or 0 while it is incomplete. */
size_t lg_http_head_len(const char *buf, size_t len);

/* Checks a complete response head: "HTTP/1.1 101", Upgrade: websocket,
 * a Connection header with the upgrade token, and the expected
 * Sec-WebSocket-Accept. Returns 0, or -1 with a reason in *why. */
int lg_ws_check_response(const char *head, size_t len, const char *accept,
                         const char **why);

#endif /* LG_WS_H */
