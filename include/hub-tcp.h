/* hub-tcp: a raw-TCP transport for libhub, with newline-delimited messages.
 *
 * Copyright (c) libhub contributors. MIT licensed, see LICENSE.
 *
 * A hub_tcp_server_t listens on one address of the hub's loop, registers
 * every connection it accepts as a client of the hub, writes each message
 * to the wire as "payload\n", and hands every complete line a client sends
 * to on_line. docs/tcp.md is the walk-through; this header is the
 * reference.
 *
 * Threads. Everything here runs on the hub's loop thread, like hub.h,
 * except hub_tcp_options_init(), which any thread may call.
 *
 * Ownership. The server owns its listening socket and its connections;
 * the hub owns the clients registered for them. A client's disconnection,
 * whoever caused it, is reported once by the hub's on_client_close (see
 * hub_options_t) with its status: UV_EOF when the peer closed, UV_EMSGSIZE
 * for a line longer than max_line, UV_ETIMEDOUT for an idle or a line
 * timeout, HUB_ESLOW for a slow consumer, UV_ENOMEM when the hub's
 * allocator failed for it, the socket error otherwise.
 *
 * Inbound lines. A line ends at "\n"; a "\r" right before its end is
 * removed, so "\r\n" works too. Nothing else is interpreted: a line may
 * hold any other byte, NUL included. At end of file, a last line without
 * "\n" is delivered too. A line longer than max_line bytes (not counting
 * its end) closes its client with UV_EMSGSIZE, and on_log says why. A
 * line must be complete within line_timeout_ms of its first byte. With
 * max_msg_rate set, lines over the rate are dropped (see the option).
 *
 * Abuse limits, off by default: max_conns_per_ip closes a new connection
 * from an address that has that many open already, right after accept;
 * max_msg_rate bounds the lines a second of each client. What they need
 * per connection is kept outside the connection object, from the hub's
 * allocator, only while they are on (4 and 8 bytes per descriptor; see
 * src/net/hubx-limits.h).
 *
 * Outbound messages. Every message is written as its payload followed by
 * "\n". The frame is built once per message, whatever the number of
 * clients. A payload that holds "\n" reaches the peer as several lines.
 *
 * Memory. Reads go into one 64 KiB buffer owned by the server and shared
 * by all its connections. A connection holds a copy of a partial line
 * only while one is pending (at most max_line + 1 bytes), and otherwise
 * costs one small allocation beside its hub client. Output is bounded by
 * the hub's queue bounds and policy; see docs/tcp.md for how those relate
 * to the kernel's socket buffers. Partial lines and write requests come
 * from the hub's allocator (hub_mem_alloc()); when it fails, that client
 * is closed with UV_ENOMEM (a new connection is dropped and logged) and
 * nothing else is affected. The connection object and the server come
 * from malloc().
 */
#ifndef HUB_TCP_H
#define HUB_TCP_H

#include <stddef.h>
#include <stdint.h>

#include "hub.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct hub_tcp_server_s hub_tcp_server_t;

/* Largest max_line accepted: 1 GiB. */
#define HUB_TCP_MAX_LINE_LIMIT ((size_t)1 << 30)

/* A connection was accepted and registered as `client`. The client may be
 * closed, given data (client_set_data()) or sent messages from here. */
typedef void (*hub_tcp_connect_cb)(hub_tcp_server_t *server,
                                   hub_client_t *client);

/* `client` sent a complete line of `len` bytes, without its "\n" or
 * "\r\n". `line` is valid only during the call: it may point into the
 * server's shared read buffer. The callback may call any function of
 * hub.h and of this header, including client_close() on this client,
 * hub_close() and hub_tcp_server_close(); no further line of a client that
 * is closing (or of a server that is closing) is delivered. */
typedef void (*hub_tcp_line_cb)(hub_tcp_server_t *server,
                                hub_client_t *client, const char *line,
                                size_t len);

/* Something an operator may want to see: the server closed `client`
 * because of it (a line too long, an idle or a line timeout, a read
 * error), or `client` is over max_msg_rate (the first line dropped of a
 * streak, `err` 0), or, with `client` NULL, accepting failed (the server
 * then pauses accepting and retries every accept_retry_ms; only the first
 * failure of a streak is reported) or works again after failing (`err`
 * 0), or an address was refused a connection by max_conns_per_ip (`err`
 * 0; the first refusal since that address last had one accepted). `err`
 * is the error code, `msg` a short sentence valid during the call. */
typedef void (*hub_tcp_log_cb)(hub_tcp_server_t *server,
                               hub_client_t *client, int err,
                               const char *msg);

/* hub_tcp_server_close() has finished; the server is freed right after
 * the callback returns. */
typedef void (*hub_tcp_close_cb)(hub_tcp_server_t *server);

typedef struct {
  /* Longest inbound line in bytes, not counting "\n" or "\r\n".
   * Default 64 KiB; 1 to HUB_TCP_MAX_LINE_LIMIT. */
  size_t max_line;
  /* Close clients that sent nothing for this long, in milliseconds, with
   * status UV_ETIMEDOUT. 0 (the default) never closes them. At most
   * INT32_MAX. Only inbound bytes count as activity: a client that only
   * listens must send something now and then. */
  uint64_t idle_timeout_ms;
  /* listen(2) backlog. Default 511. */
  int backlog;
  /* When > 0, the SO_SNDBUF of every accepted connection (the kernel may
   * round it). 0 (the default) keeps the system's default, which Linux
   * grows up to net.ipv4.tcp_wmem's maximum. */
  int send_buffer;
  /* After an accept error (EMFILE, ENFILE, ENOBUFS, ...), wait this long
   * before accepting again, in milliseconds. Connections that arrive
   * meanwhile wait in the kernel's backlog. Default 100; at least 1. */
  uint64_t accept_retry_ms;
  /* Optional callbacks. */
  hub_tcp_connect_cb on_connect;
  hub_tcp_line_cb on_line;
  hub_tcp_log_cb on_log;
  /* Yours; see hub_tcp_server_get_data(). */
  void *data;
  /* Close a client whose line is not complete this long after its first
   * byte, in milliseconds, with status UV_ETIMEDOUT. The idle timeout does
   * not see such a client: one byte now and then keeps it from being
   * silent, and its partial line (up to max_line bytes) would be held for
   * ever. When idle_timeout_ms is shorter, it is this deadline too: a
   * line slower than that is as bad as silence. Default 30 s; 0 never
   * closes them. At most INT32_MAX. */
  uint64_t line_timeout_ms;
  /* Connections one client address may have open. A new one beyond that
   * is closed right after accept (the peer sees its connection end before
   * any byte), counted in refused_per_ip, and on_log hears of the first
   * refusal since that address last had one accepted. An IPv4-mapped
   * IPv6 address counts as the IPv4 one. 0 (the default): no limit. */
  uint32_t max_conns_per_ip;
  /* Lines a second a client may send, on average: each client has a
   * bucket of msg_burst lines, refilled at this rate, and each line takes
   * one. A line when the bucket is empty is dropped (on_line does not see
   * it), counted in lines_over_rate; the first of a streak is reported to
   * on_log and answered with rate_notice. 0 (the default): no limit. At
   * most 1,000,000. */
  uint32_t max_msg_rate;
  /* The bucket: how many lines may come at once. 0 (the default): as many
   * as max_msg_rate, one second's worth. At most 1,000,000. */
  uint32_t msg_burst;
  /* The line a client over the rate is sent (without "\n", which is
   * added), once per streak of dropped lines, through its queue like any
   * message. NULL (the default): none. Not copied: it must stay valid
   * until the server is closed. */
  const char *rate_notice;
  /* Room for fields of later versions (hub.h, "Binary compatibility"). */
  uint64_t reserved[16];
} hub_tcp_options_t;

typedef struct {
  uint64_t connections;     /* connections open now (closing ones too) */
  uint64_t accepted;        /* connections ever accepted */
  uint64_t accept_errors;   /* failed accepts, each followed by a pause */
  uint64_t lines;           /* lines delivered to on_line */
  uint64_t lines_too_long;  /* clients closed for a line over max_line */
  uint64_t idle_timeouts;   /* clients closed by the idle timeout */
  uint64_t partial_bytes;   /* bytes held now for partial lines */
  uint64_t line_timeouts;   /* clients closed by the line timeout */
  uint64_t refused_per_ip;  /* connections closed by max_conns_per_ip */
  uint64_t lines_over_rate; /* lines dropped by max_msg_rate */
  uint64_t reserved[16];     /* for later versions; 0 */
} hub_tcp_stats_t;

/* Set every option to its default. Always call it before setting fields,
 * so that fields added by later versions get their defaults. */
HUB_EXTERN void hub_tcp_options_init(hub_tcp_options_t *opts);

/* Create a server for `hub` (on the hub's loop); `opts` may be NULL for
 * the defaults and is copied. The server does not listen until
 * hub_tcp_server_start(). On success stores it in *serverp and returns 0;
 * free it with hub_tcp_server_close(), whatever happens afterwards.
 * Errors: UV_EINVAL (a NULL argument, an option out of range), UV_ENOMEM. */
HUB_EXTERN int hub_tcp_server_new(hub_tcp_server_t **serverp, hub_t *hub,
                                  const hub_tcp_options_t *opts);

/* Bind to `addr` (IPv4 or IPv6; port 0 picks a free port, see
 * hub_tcp_server_getsockname()) and start accepting. Once only.
 * Errors: UV_EINVAL (NULL, an unknown address family, already started,
 * closing), UV_EADDRINUSE, UV_EACCES, UV_EADDRNOTAVAIL, UV_EMFILE and the
 * other errors of socket(2), bind(2) and listen(2). On error the server is
 * left as it was: close it with hub_tcp_server_close(). */
HUB_EXTERN int hub_tcp_server_start(hub_tcp_server_t *server,
                                    const struct sockaddr *addr);

/* The address the server listens on, as uv_tcp_getsockname(): *namelen
 * is the size of `name` on entry and the address's size on return.
 * Errors: UV_EINVAL (a NULL argument, not listening), UV_ENOBUFS (name too
 * small), or getsockname(2)'s. */
HUB_EXTERN int hub_tcp_server_getsockname(const hub_tcp_server_t *server,
                                          struct sockaddr *name, int *namelen);

/* Close the server: stop accepting, close the listening socket at once
 * (its port is free when this returns), close every connection of this
 * server (client_close(client, 0): queued output is dropped), then call
 * `cb` (may be NULL) once every handle is closed, and free the server.
 * The loop must run for that. `cb` is never called from inside this
 * function. Clients of other transports are left alone.
 * A server must be closed before its hub is freed, that is at the latest
 * from hub_close()'s callback: it calls hub_register() on new connections.
 * Errors: UV_EINVAL (NULL), HUB_ECLOSING (already closing). */
HUB_EXTERN int hub_tcp_server_close(hub_tcp_server_t *server,
                                    hub_tcp_close_cb cb);

HUB_EXTERN hub_t *hub_tcp_server_get_hub(const hub_tcp_server_t *server);
HUB_EXTERN void *hub_tcp_server_get_data(const hub_tcp_server_t *server);
HUB_EXTERN void hub_tcp_server_set_data(hub_tcp_server_t *server, void *data);

/* Fill *stats. Both must be non-NULL (else nothing happens). */
HUB_EXTERN void hub_tcp_server_get_stats(const hub_tcp_server_t *server,
                                         hub_tcp_stats_t *stats);

/* The transport every hub_tcp server registers its clients with, one
 * object for all of them, so that a message is framed once for TCP however
 * many servers send it: client_get_transport(c) == hub_tcp_transport()
 * tells a TCP client from others. */
HUB_EXTERN const hub_transport_t *hub_tcp_transport(void);

/* The same connections, with message ids (hub-tcp-echo's "/ids on"): a
 * message with a position in a topic's stream (hub.h, "History and
 * resume") is written as its id (hubx-id.h), a space, its payload and
 * "\n"; others as by hub_tcp_transport(). Switch a client to it and back
 * with client_set_transport(). */
HUB_EXTERN const hub_transport_t *hub_tcp_transport_ids(void);

/* The peer's address of a TCP client, as uv_tcp_getpeername().
 * Errors: UV_EINVAL (NULL, not a TCP client), UV_EBADF (the connection is
 * closing), or getpeername(2)'s. */
HUB_EXTERN int hub_tcp_client_getpeername(const hub_client_t *client,
                                          struct sockaddr *name, int *namelen);

#ifdef __cplusplus
}
#endif

#endif /* HUB_TCP_H */
