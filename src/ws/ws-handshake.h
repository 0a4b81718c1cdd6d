/* The server side of the WebSocket opening handshake (RFC 6455 §4.2):
 * read an HTTP/1.1 request head with http-parser, check it, and build the
 * response. Pure code: bytes in, a result out, no I/O and no clock, so
 * that it is tested with requests split at every byte offset.
 *
 * A hub_ws__hs_t lives only while a connection is in its handshake. It keeps
 * the raw head in one buffer (at most max_head bytes) plus an index of the
 * header fields; the accessors below return NUL-terminated strings inside
 * that buffer, valid until hub_ws__hs_free(). */
#ifndef WS_HANDSHAKE_H
#define WS_HANDSHAKE_H

#include <stddef.h>
#include <stdint.h>

#include <http_parser.h>

#include <hub.h>

/* More header fields than this get 431, like a head that is too long. */
#define HUB_WS__HS_MAX_FIELDS 64
/* Offsets are 16-bit: a head can never be longer than this. */
#define HUB_WS__HS_MAX_HEAD 65535

enum {
  HUB_WS__HS_MORE = 0, /* hub_ws__hs_feed(): the head is not complete yet */
  HUB_WS__HS_DONE = 1  /* hub_ws__hs_feed(): the head is complete */
};

typedef struct {
  uint16_t name_off, name_len;
  uint16_t value_off, value_len; /* value_off 0: empty value */
} hub_ws__hs_field_t;

typedef struct {
  http_parser parser;
  char *buf;       /* the head, then a copy of the path */
  size_t len, cap; /* bytes used and allocated in buf */
  size_t max_head;
  uint16_t url_off, url_len, path_off;
  uint8_t last;     /* the last callback: 0 none, 1 field name, 2 value */
  uint8_t complete; /* the head has been read completely */
  int status;       /* a failed head's HTTP status, sticky */
  unsigned nfields;
  hub_ws__hs_field_t fields[HUB_WS__HS_MAX_FIELDS];
  const hub_allocator_t *mem; /* for buf: the caller's, or libc's */
} hub_ws__hs_t;

/* Prepare `hs` for a request head of at most `max_head` bytes (clamped to
 * HUB_WS__HS_MAX_HEAD). Allocates nothing. */
void hub_ws__hs_init(hub_ws__hs_t *hs, size_t max_head);

/* The same, with the head's buffer allocated with `mem` (NULL: libc),
 * which must outlive `hs`. */
void hub_ws__hs_init_mem(hub_ws__hs_t *hs, size_t max_head,
                         const hub_allocator_t *mem);

/* Release the buffer. `hs` may be re-initialised afterwards. */
void hub_ws__hs_free(hub_ws__hs_t *hs);

/* Feed the next `len` bytes received. Returns:
 *   HUB_WS__HS_MORE: everything was taken and more is needed;
 *   HUB_WS__HS_DONE: the head is complete; *used bytes of `data` belonged to
 *     it, and the rest (len - *used) is what the client sent after the
 *     head (the start of its first WebSocket frame, say), which the
 *     caller keeps;
 *   an HTTP status >= 400 when the request can never be valid: 400 (not
 *     HTTP; a target that is not in origin form, "/path?query"; a header
 *     folded over lines; more than one Host, or one that is not a host
 *     with an optional port of 1 to 65535), 431 (a head longer than
 *     max_head or with too many fields), 505 (a version other than
 *     HTTP/1.0 and HTTP/1.1), 500 (out of memory). The caller answers
 *     with it and closes.
 * Once DONE or failed, further calls return the same result. */
int hub_ws__hs_feed(hub_ws__hs_t *hs, const char *data, size_t len,
                    size_t *used);

/* Only valid after HUB_WS__HS_DONE. */
const char *hub_ws__hs_method(const hub_ws__hs_t *hs); /* "GET" */
const char *hub_ws__hs_target(const hub_ws__hs_t *hs); /* "/ws?room=1" */
const char *hub_ws__hs_path(const hub_ws__hs_t *hs);   /* "/ws" */
/* The first value of header `name` (case-insensitive), trimmed, or NULL
 * if the request has no such header. */
const char *hub_ws__hs_header(const hub_ws__hs_t *hs, const char *name);
/* How many times header `name` appears. */
unsigned hub_ws__hs_header_count(const hub_ws__hs_t *hs, const char *name);
/* Nonzero if some `name` header holds `token` (case-insensitive) in its
 * comma-separated list, as Connection: keep-alive, Upgrade. */
int hub_ws__hs_header_has_token(const hub_ws__hs_t *hs, const char *name,
                                const char *token);
/* The i-th header field, in request order (i < hub_ws__hs_nfields()). */
unsigned hub_ws__hs_nfields(const hub_ws__hs_t *hs);
const char *hub_ws__hs_field_name(const hub_ws__hs_t *hs, unsigned i);
const char *hub_ws__hs_field_value(const hub_ws__hs_t *hs, unsigned i);

/* Nonzero if the request asks for a protocol upgrade at all (it has an
 * Upgrade header), whether or not it is a valid WebSocket handshake. */
int hub_ws__hs_is_upgrade(const hub_ws__hs_t *hs);

/* Check the request against RFC 6455 §4.2.1. Returns 0 for a valid
 * WebSocket handshake, else the HTTP status to refuse it with: 405 (not
 * GET), 400 (HTTP/1.0, no single Host, an Upgrade header
 * without "websocket", no "Upgrade" token in Connection, a missing,
 * repeated or malformed Sec-WebSocket-Key, a body), or 426 (no Upgrade
 * header, or a Sec-WebSocket-Version other than exactly 13). */
int hub_ws__hs_check_upgrade(const hub_ws__hs_t *hs);

/* Which browser origins may open a WebSocket. The strings are not
 * copied. With no origin listed and same_host unset, any origin is
 * accepted. */
typedef struct {
  const char *const *origins; /* serialised origins, "https://a.example" */
  size_t n_origins;
  int same_host;      /* also accept http(s)://<the request's Host> */
  int require_origin; /* refuse requests without an Origin header */
} hub_ws__origin_policy_t;

/* 0 if the policy admits the request's Origin header, else 403. */
int hub_ws__hs_check_origin(const hub_ws__hs_t *hs,
                            const hub_ws__origin_policy_t *policy);

/* The 101 response that accepts a checked handshake, written into `out`
 * (`cap` bytes; 160 are always enough, and the length of `protocol` and
 * `extensions` more with them). `protocol`, if not NULL, is the
 * subprotocol chosen, sent in Sec-WebSocket-Protocol; `extensions`, if
 * not NULL, the value of Sec-WebSocket-Extensions. Returns its length, or
 * 0 if it does not fit. */
size_t hub_ws__hs_accept_response(const hub_ws__hs_t *hs, char *out, size_t cap,
                                  const char *protocol, const char *extensions);

/* The head of a response that ends the connection ("Connection: close"),
 * with Content-Length `body_len`, the content type (NULL for plain
 * text) and `extra` header lines (each ending in CRLF, or NULL). For 405
 * and 426 the headers those statuses require are added. Returns its
 * length, or 0 if it does not fit in `cap` bytes. */
size_t hub_ws__http_response_head(char *out, size_t cap, int status,
                                  const char *content_type, const char *extra,
                                  size_t body_len);

/* "Not Found" for 404, ...; "Error" for codes it does not know. */
const char *hub_ws__http_reason(int status);

#endif /* WS_HANDSHAKE_H */
