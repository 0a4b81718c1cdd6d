/* Private definitions shared by the TCP adapter's source files. Not
 * installed, not part of the adapter's API. */
#ifndef HUB_TCP_INT_H
#define HUB_TCP_INT_H

#include <stddef.h>
#include <stdint.h>

#include "hub-tcp-lines.h"
#include "hub-queue.h"
#include "hub-tcp.h"
#include "hubx-limits.h"
#include "hubx-listener.h"
#include "hubx-mem.h"
#include "hubx-sock.h"

#define HUB_TCP__READ_BUF (64 * 1024)
/* Accepts per loop iteration, so that a burst of connections does not
 * starve the connections already open. */
#define HUB_TCP__ACCEPT_BATCH 64

/* One connection: the socket, the hub client, and what the line reader
 * and the timeout lists need. It is on one list at a time, so one time
 * serves both: a connection with a line pending is timed by that line. */
typedef struct {
  hubx_sock_t sock;     /* hubx_sock_ctx() is the server's sock_ctx */
  hub_client_t *client; /* NULL until registered */
  hub__queue node;      /* server->lines while in_line, else server->conns,
                           while open; self-linked after */
  hub_tcp_lines_t lines;
  /* uv_now(), truncated (mod 2^32), of the last read (on conns), or of
   * the read that began the pending line (on lines). */
  union {
    uint32_t heard;
    uint32_t began;
  };
  uint8_t in_line; /* on server->lines */
} hub_tcp__conn;

/* 200 bytes on 64-bit, glibc's 208-byte chunk: one per connection. */
#if UINTPTR_MAX == 0xffffffffffffffffu
_Static_assert(sizeof(hub_tcp__conn) <= 200,
               "hub_tcp__conn outgrew its malloc chunk");
#endif

struct hub_tcp_server_s {
  uv_loop_t *loop;
  hub_t *hub;
  hub_tcp_options_t opts;
  void *data;

  hubx_listener_t listener;
  uv_timer_t timer; /* the idle and line timeouts */
  uint8_t started;
  uint8_t closing;
  unsigned handles_open; /* the listener (as one) and the timer */
  hub_tcp_close_cb close_cb;
  hub_allocator_t lines_mem;  /* the hub's allocator */
  hubx_sock_ctx_t sock_ctx;      /* what every connection's socket shares */

  /* Open connections, least recently heard first, but those with a line
   * pending, which are on `lines`, the oldest line first. */
  hub__queue conns;
  hub__queue lines;
  uint64_t line_timeout; /* line_timeout_ms, or idle_timeout_ms if shorter */
  hubx_limits_t limits;  /* max_conns_per_ip, max_msg_rate */
  hub_tcp_stats_t stats;

  char rbuf[HUB_TCP__READ_BUF]; /* shared by every connection's reads */
};

static inline hub_tcp__conn *hub_tcp__conn_of(hub__queue *l) {
  return hub__container_of(l, hub_tcp__conn, node);
}

static inline hub_tcp_server_t *hub_tcp__server_of(const hub_tcp__conn *c) {
  return (hub_tcp_server_t *)((char *)hubx_sock_ctx(&c->sock) -
                              offsetof(hub_tcp_server_t, sock_ctx));
}

static inline void hub_tcp__log(hub_tcp_server_t *s, hub_client_t *client,
                                int err, const char *msg) {
  if (s->opts.on_log != NULL)
    s->opts.on_log(s, client, err, msg);
}

static inline uint32_t hub_tcp__now32(const hub_tcp_server_t *s) {
  return (uint32_t)uv_now(s->loop);
}

/* hub-tcp-conn.c: connections. */
extern const hub_transport_t hub_tcp__transport;
extern const hub_transport_t hub_tcp__transport_ids;
int hub_tcp__add(hub_tcp_server_t *s, int fd);
void hub_tcp__on_read(hubx_sock_t *sock, ssize_t nread, char *buf);
void hub_tcp__on_write(hubx_sock_t *sock, int status);
int hub_tcp__stopped(const hub_tcp__conn *c);

/* hub-tcp-timer.c: the idle and line timeouts. hub_tcp__heard() after
 * each read, hub_tcp__line_ended() for each complete line. */
void hub_tcp__timer_arm(hub_tcp_server_t *s);
void hub_tcp__heard(hub_tcp__conn *c);
void hub_tcp__line_ended(hub_tcp__conn *c);

/* hub-tcp-limits.c: connections per address, lines a second.
 * hub_tcp__admit(): a connection was accepted on `fd`; 0 to go on with
 * it, else `fd` is closed: HUBX_LIMITS_REFUSED (counted, logged), or an
 * error to log. hub_tcp__release(): an admitted connection is closing.
 * hub_tcp__line_in(): a complete line; 1 to deliver it, 0 to drop it. */
int hub_tcp__admit(hub_tcp_server_t *s, int fd);
void hub_tcp__release(hub_tcp_server_t *s, int fd);
int hub_tcp__line_in(hub_tcp__conn *c);

/* hub-tcp-listen.c: accepting. */
void hub_tcp__listen_init(hub_tcp_server_t *s);
int hub_tcp__listen(hub_tcp_server_t *s, const struct sockaddr *addr);
void hub_tcp__listen_close(hub_tcp_server_t *s);

/* hub-tcp.c: the server. */
void hub_tcp__maybe_free(hub_tcp_server_t *s);
void hub_tcp__on_handle_closed(uv_handle_t *handle);

#endif /* HUB_TCP_INT_H */
