/* hub-ws: a WebSocket transport for libhub (RFC 6455), server side.
 *
 * Copyright (c) libhub contributors. MIT licensed, see LICENSE.
 *
 * A hub_ws_server_t listens on one address of the hub's loop. It reads
 * each connection's HTTP/1.1 request with http-parser, answers plain HTTP
 * requests through the application's on_request hook (a web page, say)
 * and upgrades WebSocket handshakes, registering each upgraded connection
 * as a client of the hub. It reads the client's frames with wslay and
 * hands every complete message to on_message; messages the hub sends go
 * out as one unmasked frame, built once per message and shared by every
 * client. docs/ws.md is the walk-through; this header is the reference.
 *
 * Threads. Everything here runs on the hub's loop thread, like hub.h,
 * except hub_ws_options_init(), which any thread may call.
 *
 * Ownership. The server owns its listening socket and its connections;
 * the hub owns the clients registered for them. A client's disconnection,
 * whoever caused it, is reported once by the hub's on_client_close (see
 * hub_options_t) with its status: 0 after a WebSocket close handshake
 * (hub_ws_client_close_code() tells who closed and with which code),
 * UV_EOF when the peer went away without one, UV_ETIMEDOUT for a missed
 * heartbeat or a close handshake that did not finish, HUB_ESLOW for a
 * slow consumer, UV_ENOMEM when the hub's allocator failed for the
 * connection, the socket error otherwise.
 *
 * Messages. Text and binary messages keep their type both ways: a client's
 * binary message reaches on_message with HUB_MSG_BINARY, and a message
 * sent with HUB_MSG_BINARY goes out as a binary frame (without it, as
 * text). A text message that is not UTF-8, which would make its readers
 * close with 1007, is not queued for WebSocket clients: the transport's
 * frame function refuses it (UV_EILSEQ), and the hub reports it to
 * on_drop as HUB_DROP_REFUSED for each of them. Messages flagged
 * HUB_MSG_RAW are written as they are, without a frame.
 *
 * Protocol errors close the connection with the code RFC 6455 gives them:
 * 1002 (an unmasked frame, RSV bits (but RSV1 with deflate, below), a reserved opcode, bad
 * fragmentation, a control frame that is fragmented or over 125 bytes, an
 * invalid close frame), 1007 (a text message or close reason that is not
 * UTF-8, even when split across fragments), 1009 (a message over
 * max_message). A message that takes longer than message_timeout_ms to
 * arrive is closed with 1008 "message timeout", a client sending messages
 * faster than max_msg_rate with 1008 "rate limit", and 1011 says the
 * server ran out of memory for the connection. Control frames (pong, ping, close) are written in order
 * with the data frames queued before them, but never count against the
 * queue bounds and are never dropped by the policy.
 *
 * Memory. Reads go into one 64 KiB buffer per server, shared by all its
 * connections. A connection holds parser state (wslay's frame context,
 * about 4.3 KB, and a small struct) only while it has a frame or a
 * fragmented message partly received, and a reassembly buffer only for a
 * message that did not arrive in one read, growing with the bytes that
 * arrive up to max_message. Between messages a connection costs its
 * socket handle, about 50 bytes of adapter state, and its hub client.
 *
 * Allocations. What a peer's bytes or a slow peer make a connection hold
 * comes from the hub's allocator (hub_mem_alloc()), so that it is
 * counted, limited or failed with the hub's queues: the request head and
 * its parser state, HTTP responses, reader state and reassembly buffers,
 * write and shutdown requests. Running out there closes that connection
 * (500, or 1011, or status UV_ENOMEM) and nothing else. Three things come
 * from malloc(): the connection object (one of fixed size per descriptor),
 * the server with its read buffer, and wslay's frame contexts, which
 * wslay allocates itself. Because connections in their handshake are not
 * the hub's clients yet, the hub must outlive the server: close the hub
 * from hub_ws_server_close()'s callback, never before.
 *
 * Accepting. The listening socket pauses after an accept error (EMFILE
 * when the process is out of descriptors, ENFILE, ENOBUFS, ...) and tries
 * again every accept_retry_ms: connections that arrive meanwhile wait in
 * the kernel's backlog, and are served once descriptors are free again.
 *
 * Compression (the `deflate` option, off by default): permessage-deflate
 * (RFC 7692) is accepted when a client offers it, always with
 * server_no_context_takeover and client_no_context_takeover, so that no
 * connection ever holds zlib state. A message is compressed once per
 * server, whatever the number of its clients (a cached frame, like the
 * plain one), with one deflate stream reset per message; a message under
 * deflate_threshold, or one that does not shrink, is sent uncompressed
 * (RSV1 clear), which the RFC allows per message. Clients' compressed
 * messages are inflated with one inflate stream per server, reset per
 * message; the inflated size counts against max_message, and inflating
 * stops at that limit (1009). A server with deflate holds about 300 KiB
 * of zlib state (a 15-bit window), from malloc(), and a buffer of up to
 * 64 KiB for inflated messages (up to max_message while one is read);
 * per connection nothing but one bit. A message keeps its compressed
 * frame for as long as it lives (in the hub's history, say), marked with
 * the transport's address: servers of one hub that are closed and made
 * again should keep the same deflate options.
 *
 * Abuse limits, off by default: max_conns_per_ip answers 503 to a new
 * connection from an address that has that many open already; and
 * max_msg_rate bounds the messages a second of each client. What they
 * need per connection is kept outside the connection object, from the
 * hub's allocator, only while they are on (4 and 8 bytes per descriptor;
 * see src/net/hubx-limits.h).
 *
 * Reverse proxies (the trusted_proxies option, none by default): behind
 * a proxy every connection comes from the proxy's address, and the
 * client's is in the X-Forwarded-For header the proxy adds. That header
 * is read only from a peer listed in trusted_proxies; any other peer
 * could write anything there. A trusted proxy's connection is counted
 * under the proxy's address when accepted, without the max_conns_per_ip
 * check, and moved to its client's address once the request head is
 * read: refused there with 503 if that address has max_conns_per_ip
 * connections open already. The server then keeps 4 bytes per descriptor
 * and an entry per address even without max_conns_per_ip.
 */
#ifndef HUB_WS_H
#define HUB_WS_H

#include <stddef.h>
#include <stdint.h>

#include "hub.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct hub_ws_server_s hub_ws_server_t;
typedef struct hub_ws_request_s hub_ws_request_t;

/* Largest max_message accepted: 1 GiB. */
#define HUB_WS_MAX_MESSAGE_LIMIT ((size_t)1 << 30)
/* Bounds of max_header_bytes. */
#define HUB_WS_MIN_HEADER_BYTES 256
#define HUB_WS_MAX_HEADER_BYTES 65535

/* A complete HTTP request arrived (before the handshake is checked). The
 * hook may look at it with the hub_ws_request_*() functions below, and:
 *   - answer it: call hub_ws_request_respond() (to serve a page, say);
 *     the connection closes once the response is written;
 *   - refuse it: return an HTTP status from 400 to 599, sent with an
 *     empty body (and counted in `refused`, but not logged: the hook
 *     knows why, and logs it if it wants to);
 *   - let the adapter go on: return 0. A WebSocket handshake is then
 *     checked (RFC 6455 §4.2.1) and upgraded, or refused with 400, 405 or
 *     426; any other request gets 426 Upgrade Required.
 * Upgrade requests from a browser origin the server does not allow have
 * already been refused with 403 and never reach the hook. Any other
 * return value refuses the request with 500. The hook may call any
 * function of hub.h and of this header. */
typedef int (*hub_ws_request_cb)(hub_ws_server_t *server,
                                 hub_ws_request_t *req);

/* A WebSocket connection was upgraded and registered as `client`. The
 * client may be closed, given data (client_set_data()) or sent messages
 * from here; they follow the 101 response.
 *
 * When on_request is set, a connection's on_connect comes straight after
 * its on_request returned 0 (if the handshake is then upgraded), before
 * the adapter looks at any other request: what the hook worked out from
 * the request (a room named in the query, a user from a cookie) can wait
 * in the application's own state for on_connect to pick it up. A request
 * that is not upgraded after all gets no on_connect. */
typedef void (*hub_ws_connect_cb)(hub_ws_server_t *server,
                                  hub_client_t *client);

/* `client` sent a complete message of `len` bytes: text (flags 0, valid
 * UTF-8) or binary (flags HUB_MSG_BINARY), ready for hub_broadcast(hub,
 * data, len, flags). `data` is valid only during the call. The callback
 * may call any function of hub.h and of this header, including closing
 * this client, the server or the hub; no further message of a client that
 * is closing (or of a server that is closing) is delivered. */
typedef void (*hub_ws_message_cb)(hub_ws_server_t *server,
                                  hub_client_t *client, const void *data,
                                  size_t len, unsigned int flags);

/* Something an operator may want to see: a request the server refused
 * (not one on_request refused: see there), a timeout, a protocol error, a
 * client over the rate, a failed accept. `client` is NULL before the
 * upgrade (the message then names the peer's address). `err` is an error
 * code or 0, `msg` a short sentence valid during the call. An accept error
 * is reported once per streak (`client` NULL, `err` the error), and its
 * end ("accepting again", `err` 0); so is an address refused by
 * max_conns_per_ip (once until it has a connection accepted again). */
typedef void (*hub_ws_log_cb)(hub_ws_server_t *server, hub_client_t *client,
                              int err, const char *msg);

/* hub_ws_server_close() has finished; the server is freed right after
 * the callback returns. */
typedef void (*hub_ws_close_cb)(hub_ws_server_t *server);

typedef struct {
  /* Longest request head (request line and headers) in bytes; a longer
   * one gets 431. Default 8 KiB; HUB_WS_MIN_HEADER_BYTES to
   * HUB_WS_MAX_HEADER_BYTES. */
  size_t max_header_bytes;
  /* Time allowed from accept to a complete request head, in
   * milliseconds; a slower client gets 408 and is closed. Default 10 s;
   * 1 to INT32_MAX. */
  uint64_t handshake_timeout_ms;
  /* Longest message a client may send, in bytes, fragments summed; a
   * longer one closes the connection with 1009. Default 1 MiB; 1 to
   * HUB_WS_MAX_MESSAGE_LIMIT. Keep it <= the hub's max_queue_bytes if
   * messages are to be broadcast. */
  size_t max_message;
  /* The heartbeat: a connection from which nothing arrived for this long
   * is sent a ping, in milliseconds. Default 30 s; 0 turns the heartbeat
   * off. At most INT32_MAX. */
  uint64_t ping_interval_ms;
  /* ... and is closed (status UV_ETIMEDOUT) if nothing, pong or
   * otherwise, arrives within this long after the ping. Default 10 s;
   * 1 to INT32_MAX. */
  uint64_t pong_timeout_ms;
  /* Close (1001, "idle timeout") a connection from which nothing at all
   * arrived for this long, in milliseconds. Pongs count, so with the
   * heartbeat on and a shorter ping_interval, a client that answers pings
   * is never idle: this bounds silent connections when the heartbeat is
   * off. Default 120 s; 0 never closes them. At most INT32_MAX. */
  uint64_t idle_timeout_ms;
  /* Time allowed for a closing connection, from the close frame (sent
   * or received) to the end of the TCP connection, in milliseconds; it
   * bounds the flush of what was queued before the close frame, and the
   * wait for the peer's FIN after the server's. Default 5 s; 1 to
   * INT32_MAX. */
  uint64_t close_timeout_ms;
  /* Browser origins allowed to open a WebSocket ("https://a.example";
   * compared case-insensitively). The strings are copied. With none
   * listed and origin_same_host 0, any origin is allowed. */
  const char *const *origins;
  size_t n_origins;
  /* Also allow the origins http://HOST and https://HOST, where HOST is
   * the request's Host header: pages the server itself served. */
  int origin_same_host;
  /* Refuse (403) upgrade requests without an Origin header. Default 0:
   * clients that are not browsers send none. */
  int require_origin;
  /* listen(2) backlog. Default 511. */
  int backlog;
  /* When > 0, the SO_SNDBUF of every accepted connection (the kernel may
   * round it). 0 (the default) keeps the system's default, which Linux
   * grows up to net.ipv4.tcp_wmem's maximum: bytes a stalled client can
   * hold beyond the hub's queue bounds. */
  int send_buffer;
  /* Optional callbacks. */
  hub_ws_request_cb on_request;
  hub_ws_connect_cb on_connect;
  hub_ws_message_cb on_message;
  hub_ws_log_cb on_log;
  /* Yours; see hub_ws_server_get_data(). */
  void *data;
  /* Time allowed for a message to arrive, from its first byte to its
   * last (fragments, and control frames between them, included), in
   * milliseconds; a slower one closes the connection with 1008 "message
   * timeout" (slowloris after the upgrade). While a message is partly
   * received the heartbeat is not needed and no ping is sent. Default
   * 60 s; 0 never closes them. At most INT32_MAX. */
  uint64_t message_timeout_ms;
  /* After an accept error (EMFILE, ENFILE, ENOBUFS, ...), wait this long
   * before accepting again, in milliseconds. Default 100; 1 to
   * INT32_MAX. */
  uint64_t accept_retry_ms;
  /* Connections one client address may have open, in any phase (an
   * HTTP request, a WebSocket, a close handshake), until their socket is
   * closed. A new one beyond that is answered 503 at once, without its
   * request being read, closed once the answer is out (within
   * close_timeout_ms; it does not count meanwhile), and counted in
   * refused_per_ip; on_log hears of the first refusal since that address
   * last had one accepted. An IPv4-mapped IPv6 address counts as the IPv4
   * one. 0 (the default): no limit. */
  uint32_t max_conns_per_ip;
  /* Messages a second a client may send, on average: each client has a
   * bucket of msg_burst messages, refilled at this rate, and each text or
   * binary message takes one (control frames do not). A message when the
   * bucket is empty is not delivered: the connection is closed with 1008
   * "rate limit", counted in rate_limited. 0 (the default): no limit. At
   * most 1,000,000. */
  uint32_t max_msg_rate;
  /* The bucket: how many messages may come at once. 0 (the default): as
   * many as max_msg_rate, one second's worth. At most 1,000,000. */
  uint32_t msg_burst;
  /* permessage-deflate (RFC 7692): nonzero to accept it when a client
   * offers it (browsers and most libraries do). Default 0. See
   * "Compression" above. */
  int deflate;
  /* A data frame whose payload (with its id and LF, for
   * hub_ws_transport_ids()) is shorter than this many bytes is sent
   * uncompressed. Default 128. */
  size_t deflate_threshold;
  /* zlib's compression level, 1 (fastest) to 9 (smallest). Default 6. */
  int deflate_level;
  /* The window the server compresses with, 9 to 15 bits. An offer that
   * limits the server to fewer bits (server_max_window_bits) is declined
   * (that client gets no compression). Default 15: 32 KiB. */
  int deflate_window_bits;
  /* Reverse proxies whose X-Forwarded-For header is believed: each an
   * IPv4 or IPv6 address ("127.0.0.1", "::1") or a CIDR prefix
   * ("10.0.0.0/8", "fd00::/8"); hub_ws_proxy_check() tells a valid one.
   * The strings are read by hub_ws_server_new() and not kept. For a
   * request whose TCP peer is one of them, the client's address is the
   * right-most address of X-Forwarded-For that is not itself a trusted
   * proxy (several such headers are one list); it is what
   * hub_ws_client_address() returns, what the adapter's log lines name,
   * and the address max_conns_per_ip counts the connection under, once
   * its request head is read (a trusted proxy's connections are not
   * limited before). A header from a trusted proxy whose part read is not
   * a list of addresses is refused with 400; the header of any other peer
   * is ignored. See "Reverse proxies" above. Default: none. */
  const char *const *trusted_proxies;
  size_t n_trusted_proxies;
  /* Room for fields of later versions (hub.h, "Binary compatibility"). */
  uint64_t reserved[16];
} hub_ws_options_t;

typedef struct {
  uint64_t connections;     /* open now, in any phase (closing too) */
  uint64_t accepted;        /* connections ever accepted */
  uint64_t handshakes;      /* connections reading their request now */
  uint64_t upgraded;        /* WebSocket connections ever upgraded */
  uint64_t http_responses;  /* requests answered by on_request */
  uint64_t refused;         /* requests refused with an error status */
  uint64_t messages;        /* messages delivered to on_message */
  uint64_t protocol_errors; /* connections closed with 1002/1007/1009 */
  uint64_t timeouts;        /* handshake, heartbeat, idle, message, close */
  uint64_t pings;           /* heartbeat pings sent */
  uint64_t rx_states;       /* connections holding reader state now */
  uint64_t rx_contexts;     /* wslay frame contexts allocated now */
  uint64_t rx_buffered;     /* bytes of reassembly buffers now */
  uint64_t accept_errors;   /* failed accepts, each followed by a pause */
  uint64_t refused_per_ip;  /* connections answered 503: max_conns_per_ip */
  uint64_t rate_limited;    /* clients closed with 1008: max_msg_rate */
  uint64_t streams;         /* responses ever streamed (server-sent events) */
  uint64_t deflate_connections; /* upgraded with permessage-deflate */
  uint64_t deflated;        /* messages compressed, once each for all */
  uint64_t deflate_in;      /* ... their frames' payload bytes */
  uint64_t deflate_out;     /* ... and the compressed bytes sent instead */
  uint64_t inflated;        /* compressed messages received and inflated */
  uint64_t reserved[16];     /* for later versions; 0 */
} hub_ws_stats_t;

/* Set every option to its default. Always call it before setting fields,
 * so that fields added by later versions get their defaults. */
HUB_EXTERN void hub_ws_options_init(hub_ws_options_t *opts);

/* Create a server for `hub` (on the hub's loop); `opts` may be NULL for
 * the defaults and is copied. The server does not listen until
 * hub_ws_server_start(). On success stores it in *serverp and returns 0;
 * free it with hub_ws_server_close(), whatever happens afterwards.
 * Errors: UV_EINVAL (a NULL argument, an option out of range), UV_ENOMEM. */
HUB_EXTERN int hub_ws_server_new(hub_ws_server_t **serverp, hub_t *hub,
                                 const hub_ws_options_t *opts);

/* Bind to `addr` (IPv4 or IPv6; port 0 picks a free port, see
 * hub_ws_server_getsockname()) and start accepting. Once only.
 * Errors: UV_EINVAL (NULL, an unknown address family, already started,
 * closing), UV_EADDRINUSE, UV_EACCES, UV_EADDRNOTAVAIL, UV_EMFILE and the
 * other errors of socket(2), bind(2) and listen(2). On error the server is
 * left as it was: close it with hub_ws_server_close(). */
HUB_EXTERN int hub_ws_server_start(hub_ws_server_t *server,
                                   const struct sockaddr *addr);

/* The address the server listens on, as uv_tcp_getsockname(): *namelen
 * is the size of `name` on entry and the address's size on return.
 * Errors: UV_EINVAL (a NULL argument, not listening), UV_ENOBUFS, or
 * getsockname(2)'s. */
HUB_EXTERN int hub_ws_server_getsockname(const hub_ws_server_t *server,
                                         struct sockaddr *name, int *namelen);

/* Close the server: stop accepting and close the listening socket at
 * once (its port is free when this returns), close connections still in
 * their handshake, and close every WebSocket client of this server with
 * 1001 "server shutting down" (what was queued before is written first;
 * each closing connection gets at most close_timeout_ms). Then call `cb`
 * (may be NULL) once every handle is closed, and free the server. `cb` is
 * never called from inside this function. Close the hub from `cb` (or
 * later), never before: the server's connections hold memory from the
 * hub's allocator until then, and the server registers clients with it.
 * Errors: UV_EINVAL (NULL), HUB_ECLOSING (already closing). */
HUB_EXTERN int hub_ws_server_close(hub_ws_server_t *server, hub_ws_close_cb cb);

HUB_EXTERN hub_t *hub_ws_server_get_hub(const hub_ws_server_t *server);
HUB_EXTERN void *hub_ws_server_get_data(const hub_ws_server_t *server);
HUB_EXTERN void hub_ws_server_set_data(hub_ws_server_t *server, void *data);

/* Fill *stats. Both must be non-NULL (else nothing happens). */
HUB_EXTERN void hub_ws_server_get_stats(const hub_ws_server_t *server,
                                        hub_ws_stats_t *stats);

/* The transport every hub_ws server registers its clients with, one
 * object for all of them, so that a message is framed once for WebSocket
 * however many servers send it. A client that negotiated
 * permessage-deflate is carried by its server's own compressing variant
 * of it (or of hub_ws_transport_ids()) instead: hub_ws_client_deflate()
 * tells. */
HUB_EXTERN const hub_transport_t *hub_ws_transport(void);

/* The transport of clients that read message ids (hub-ws-chat's
 * libhub.v1): the payload of every data frame is the message's id
 * (hubx-id.h; empty for a message without a position in a topic's
 * stream), one LF (0x0A), then the message's payload, with the message's
 * type (text or binary). Framed once per message for all its clients. */
HUB_EXTERN const hub_transport_t *hub_ws_transport_ids(void);

/* Close a WebSocket client with a close handshake: what is queued is
 * written, then a close frame with `code` (1000, 1001, 1008, 1011,
 * 3000-4999, ...) and `reason` (may be NULL; cut to 123 bytes at a
 * character boundary), then the server closes the TCP connection once
 * the peer answered (at most close_timeout_ms later). The client receives
 * no broadcast after this call. on_client_close gets status 0.
 * Errors: UV_EINVAL (NULL, not a WebSocket client, a code that may not
 * be sent), HUB_ECLOSING (already closing). */
HUB_EXTERN int hub_ws_client_close(hub_client_t *client, unsigned int code,
                                   const char *reason);

/* The close code of a WebSocket client's close handshake, for
 * on_client_close: the code the peer sent (*by_peer 1) or the server
 * sent first (*by_peer 0); 1005 for a close frame without a code; 1006
 * when the connection ended without any close frame. `by_peer` may be
 * NULL. Returns 0 for NULL or a client of another transport. */
HUB_EXTERN unsigned int hub_ws_client_close_code(const hub_client_t *client,
                                                 int *by_peer);

/* Nonzero if `client` is a WebSocket client of this adapter that
 * negotiated permessage-deflate. */
HUB_EXTERN int hub_ws_client_deflate(const hub_client_t *client);

/* The framing a client reads, compressed or not: hub_ws_transport_ids()
 * for a client carried by the compressing variant of it,
 * hub_ws_transport() for the other one; for any other client (NULL too),
 * client_get_transport(). Tells a libhub.v1 client from another without
 * caring whether it negotiated permessage-deflate. */
HUB_EXTERN const hub_transport_t *
hub_ws_client_framing(const hub_client_t *client);

/* The peer's address of a WebSocket client, as uv_tcp_getpeername().
 * Errors: UV_EINVAL (NULL, not a WebSocket client), UV_EBADF (the
 * connection is closing), or getpeername(2)'s. */
HUB_EXTERN int hub_ws_client_getpeername(const hub_client_t *client,
                                         struct sockaddr *name, int *namelen);

/* The client's address: for a connection from a trusted proxy whose
 * request named its client in X-Forwarded-For (see trusted_proxies), that
 * address, with port 0; for any other, the peer's, as
 * hub_ws_client_getpeername(). Errors: those of
 * hub_ws_client_getpeername(), and UV_ENOBUFS (*namelen too small). */
HUB_EXTERN int hub_ws_client_address(const hub_client_t *client,
                                     struct sockaddr *name, int *namelen);

/* 0 if `spec` is a valid entry of trusted_proxies ("192.0.2.1",
 * "10.0.0.0/8", "2001:db8::/32"), UV_EINVAL otherwise (a host name, a
 * prefix longer than the address, address bits set beyond the prefix). */
HUB_EXTERN int hub_ws_proxy_check(const char *spec);

/* ------------------------------------------------------------------------
 * Requests, inside on_request only
 * ------------------------------------------------------------------------ */

/* "GET", "HEAD", ... */
HUB_EXTERN const char *hub_ws_request_method(const hub_ws_request_t *req);
/* The request target as sent ("/ws?room=1") and its path ("/ws"). */
HUB_EXTERN const char *hub_ws_request_target(const hub_ws_request_t *req);
HUB_EXTERN const char *hub_ws_request_path(const hub_ws_request_t *req);
/* The first value of header `name` (case-insensitive), without
 * surrounding whitespace, or NULL if there is none. */
HUB_EXTERN const char *hub_ws_request_header(const hub_ws_request_t *req,
                                             const char *name);
/* From on_request: answer "200 OK" with `headers` (header lines, each
 * ending in CRLF, less than 512 bytes in all: Content-Type and the like),
 * then the body's first bytes `first` (less than 64; may be ""), and keep
 * the connection as a client of the hub, carried by `transport`
 * (whose write and close must be this adapter's: hub_sse_transport() of
 * hub-sse.h is one), for a response streamed by the hub: server-sent
 * events. The Origin rules of WebSocket upgrades apply. The client is
 * announced by on_connect, like an upgraded one; what it sends is dropped;
 * the heartbeat sends it a comment line (": ping") every
 * ping_interval_ms, and the idle timeout does not apply. Errors:
 * UV_EINVAL, UV_EACCES (an origin the options do not allow: answer 403).
 */
HUB_EXTERN int hub_ws_request_stream(hub_ws_request_t *req,
                                     const char *headers, const char *first,
                                     const hub_transport_t *transport);

/* Nonzero if the request offers the subprotocol `name` in its
 * Sec-WebSocket-Protocol header (compared exactly). */
HUB_EXTERN int hub_ws_request_offers(const hub_ws_request_t *req,
                                     const char *name);

/* From on_request, for an upgrade it lets through: answer with the
 * subprotocol `protocol` (one the client offered; NULL: none) and
 * register the client with `transport` (NULL: hub_ws_transport()), which
 * must use this adapter's write and close: hub_ws_transport() or
 * hub_ws_transport_ids(). Errors: UV_EINVAL (NULL request, a name of 64
 * bytes or more), UV_ENOENT (not offered by the client). */
HUB_EXTERN int hub_ws_request_select(hub_ws_request_t *req,
                                     const char *protocol,
                                     const hub_transport_t *transport);

/* Nonzero if the request asks for a protocol upgrade (has an Upgrade
 * header), valid or not. */
HUB_EXTERN int hub_ws_request_is_upgrade(const hub_ws_request_t *req);
/* The peer's address, as uv_tcp_getpeername(). */
HUB_EXTERN int hub_ws_request_getpeername(const hub_ws_request_t *req,
                                          struct sockaddr *name, int *namelen);
/* The client's address, as hub_ws_client_address(): the one
 * X-Forwarded-For names when the peer is a trusted proxy. */
HUB_EXTERN int hub_ws_request_client_address(const hub_ws_request_t *req,
                                             struct sockaddr *name,
                                             int *namelen);

/* Answer the request with `status` (200-599), a Content-Type
 * (`content_type`; NULL means text/plain), optional `extra_headers`
 * (complete lines, each ending in "\r\n"; may be NULL) and a body of
 * `len` bytes (copied; not sent for a HEAD request). The response says
 * "Connection: close": the server closes the connection once it is
 * written. Errors: UV_EINVAL (NULL, status out of range, called outside
 * on_request), UV_EALREADY (already answered), UV_ENOMEM. */
HUB_EXTERN int hub_ws_request_respond(hub_ws_request_t *req, int status,
                                      const char *content_type,
                                      const char *extra_headers,
                                      const void *body, size_t len);

#ifdef __cplusplus
}
#endif

#endif /* HUB_WS_H */
