/* A fixture for the TCP adapter's tests: a hub and a hub-tcp server on
 * 127.0.0.1 (port 0), plus plain client sockets, all driven from the test's
 * thread.
 *
 * The test never blocks: fx_step() runs one non-blocking loop iteration,
 * reads whatever the clients have received, and waits at most a few
 * milliseconds for the loop's next event. UNTIL(fx, cond) repeats it
 * until `cond` holds or a generous deadline passes (the deadline only
 * stops a broken test; nothing asserts on speed). Each test ends with
 * fx_stop(), which closes everything and returns uv_loop_close()'s
 * result. */
#ifndef HUB_TCP_FIXTURE_H
#define HUB_TCP_FIXTURE_H

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "hub-tcp.h"
#include "support.h"

#define FX_MAX_CLIENTS 256

typedef struct {
  int fd;
  int connected;
  int paused;  /* do not read (a stalled consumer) */
  int eof;     /* 1 after end of file, or a negative errno */
  char *in;    /* everything received */
  size_t len, cap;
} tc_t;

typedef struct fx fx_t;
typedef void (*fx_line_hook)(fx_t *fx, hub_client_t *client,
                             const char *line, size_t len);

struct fx {
  uv_loop_t loop;
  hub_t *hub;
  hub_tcp_server_t *srv;
  int port;
  /* Broadcast every line received (the echo), unless line_hook is set. */
  int echo;
  fx_line_hook line_hook;

  /* Server side, indexed in connection order (client data = index + 1). */
  hub_client_t *clients[FX_MAX_CLIENTS];
  int nclients;
  int closed[FX_MAX_CLIENTS];
  int status[FX_MAX_CLIENTS];
  int nclosed;
  uint64_t lines;
  /* Lines received, each as a 4-byte length and its bytes. */
  char *rec;
  size_t rec_len, rec_cap;
  int nlogs, last_log_err, nlog_accept;
  uint64_t dropped[16]; /* messages, per hub_drop_reason_t */
  int srv_closed, hub_closed;

  /* Client side. */
  tc_t tc[FX_MAX_CLIENTS];
  int ntc;
};

/* Read what a client has received, unless it is paused. */
static inline void tc_read(tc_t *t) {
  if (t->fd >= 0 && t->connected && !t->paused && !t->eof)
    t->eof = ts_recv_all(t->fd, &t->in, &t->len, &t->cap);
}

static inline void fx_step(fx_t *fx) {
  int i;

  uv_run(&fx->loop, UV_RUN_NOWAIT);
  for (i = 0; i < fx->ntc; i++)
    tc_read(&fx->tc[i]);
  ts_loop_wait(&fx->loop, 2);
}

/* Step until `cond` holds or the deadline passes; check `cond` after. */
#define UNTIL(fx, cond) TS_UNTIL_MS(fx_step(fx), cond, TS_DEADLINE_MS)

/* Lines (complete or not) in what t received. */
static inline size_t tc_lines(const tc_t *t) {
  size_t i, n = 0;

  for (i = 0; i < t->len; i++)
    n += t->in[i] == '\n';
  return n;
}

/* ------------------------------------------------------------------------
 * Callbacks
 * ------------------------------------------------------------------------ */

static inline void fx_on_connect(hub_tcp_server_t *srv, hub_client_t *c) {
  fx_t *fx = hub_tcp_server_get_data(srv);

  ts_client_add(fx->clients, &fx->nclients, FX_MAX_CLIENTS, c);
}

static inline void fx_on_line(hub_tcp_server_t *srv, hub_client_t *c,
                              const char *line, size_t len) {
  fx_t *fx = hub_tcp_server_get_data(srv);
  uint32_t n = (uint32_t)len;

  fx->lines++;
  ts_grow(&fx->rec, &fx->rec_cap, fx->rec_len + 4 + len);
  memcpy(fx->rec + fx->rec_len, &n, 4);
  memcpy(fx->rec + fx->rec_len + 4, line, len);
  fx->rec_len += 4 + len;
  if (fx->line_hook != NULL)
    fx->line_hook(fx, c, line, len);
  else if (fx->echo)
    (void)hub_broadcast(fx->hub, line, len, 0);
}

static inline void fx_on_log(hub_tcp_server_t *srv, hub_client_t *c,
                             int err, const char *msg) {
  fx_t *fx = hub_tcp_server_get_data(srv);

  (void)msg;
  fx->nlogs++;
  fx->last_log_err = err;
  if (c == NULL)
    fx->nlog_accept++;
}

static inline void fx_on_client_close(hub_t *hub, hub_client_t *c,
                                      int status) {
  fx_t *fx = hub_get_data(hub);

  fx->status[ts_client_closed(fx->closed, &fx->nclosed, FX_MAX_CLIENTS, c)] =
      status;
}

static inline void fx_on_drop(hub_t *hub, hub_client_t *c,
                              hub_drop_reason_t reason, size_t n,
                              size_t bytes) {
  (void)c, (void)bytes;
  ((fx_t *)hub_get_data(hub))->dropped[reason & 15] += n;
}

static inline void fx_on_srv_closed(hub_tcp_server_t *srv) {
  fx_t *fx = hub_tcp_server_get_data(srv);

  fx->srv_closed++;
}

static inline void fx_on_hub_closed(hub_t *hub) {
  fx_t *fx = hub_get_data(hub);

  fx->hub_closed++;
}

/* ------------------------------------------------------------------------
 * Set-up and tear-down
 * ------------------------------------------------------------------------ */

/* Start a hub and a server with these options (NULL: defaults); the
 * fixture's callbacks replace the options' ones. Returns 0 or an error. */
static inline int fx_start(fx_t *fx, const hub_options_t *hopts,
                           const hub_tcp_options_t *topts) {
  hub_tcp_options_t to;
  struct sockaddr_in addr;
  struct sockaddr_storage bound;
  int len = sizeof(bound), r;

  /* Writes to a reset connection must fail, not kill the test. */
  signal(SIGPIPE, SIG_IGN);
  memset(fx, 0, sizeof(*fx));
  fx->echo = 1;
  r = uv_loop_init(&fx->loop);
  if (r == 0)
    r = ts_hub_new(&fx->hub, &fx->loop, hopts, fx_on_client_close,
                   fx_on_drop, fx);
  if (r != 0)
    return r;
  if (topts != NULL)
    to = *topts;
  else
    hub_tcp_options_init(&to);
  to.on_connect = fx_on_connect;
  to.on_line = fx_on_line;
  to.on_log = fx_on_log;
  to.data = fx;
  r = hub_tcp_server_new(&fx->srv, fx->hub, &to);
  if (r == 0)
    r = hub_tcp_server_start(fx->srv, ts_any_port(&addr));
  if (r == 0)
    r = hub_tcp_server_getsockname(fx->srv, (struct sockaddr *)&bound, &len);
  if (r == 0)
    r = fx->port = ts_port_of(&bound);
  return r < 0 ? r : 0;
}

/* A new client socket, not connected yet; returns its index. */
static inline int tc_socket(fx_t *fx, int rcvbuf) {
  tc_t *t = &fx->tc[fx->ntc];

  memset(t, 0, sizeof(*t));
  t->fd = ts_socket(rcvbuf, 0);
  return t->fd < 0 ? -1 : fx->ntc++;
}

/* Connect client i; the kernel completes the handshake from its backlog,
 * whether or not the server has accepted yet. Returns 0 or -1. */
static inline int tc_connect(fx_t *fx, int i) {
  if (ts_connect_loopback(fx->tc[i].fd, fx->port) != 0)
    return -1;
  fx->tc[i].connected = 1;
  return 0;
}

/* A client connected and registered by the server; returns its index
 * (the same on both sides when clients connect one at a time), or -1. */
static inline int fx_client(fx_t *fx, int rcvbuf) {
  int i = tc_socket(fx, rcvbuf), want = fx->nclients + 1;

  if (i < 0 || tc_connect(fx, i) != 0)
    return -1;
  UNTIL(fx, fx->nclients >= want);
  return fx->nclients == want && i == want - 1 ? i : -1;
}

/* Send everything, stepping the loop while the socket is full. */
static inline int tc_send(fx_t *fx, int i, const void *data, size_t len) {
  uint64_t deadline = ts_now_ms() + TS_DEADLINE_MS;
  int r;

  while ((r = ts_send_some(fx->tc[i].fd, &data, &len)) == 0 &&
         ts_now_ms() <= deadline)
    fx_step(fx);
  return r == 1 ? 0 : -1;
}

static inline int tc_send_str(fx_t *fx, int i, const char *s) {
  return tc_send(fx, i, s, strlen(s));
}

static inline void tc_close(tc_t *t) {
  if (t->fd >= 0)
    close(t->fd);
  t->fd = -1;
}

static inline hub_client_stats_t fx_client_stats(fx_t *fx, int i) {
  hub_client_stats_t st;

  memset(&st, 0, sizeof(st));
  client_get_stats(fx->clients[i], &st);
  return st;
}

static inline hub_stats_t fx_hub_stats(fx_t *fx) {
  hub_stats_t st;

  hub_get_stats(fx->hub, &st);
  return st;
}

static inline hub_tcp_stats_t fx_tcp_stats(fx_t *fx) {
  hub_tcp_stats_t st;

  hub_tcp_server_get_stats(fx->srv, &st);
  return st;
}

/* Close the server and the hub, run the loop dry, close the client
 * sockets and free everything. Returns uv_loop_close()'s result, or -1 if
 * a close callback did not run exactly once. */
static inline int fx_stop(fx_t *fx) {
  int i, r;

  if (fx->srv != NULL && hub_tcp_server_close(fx->srv, fx_on_srv_closed) != 0)
    return -1;
  if (fx->hub != NULL && hub_close(fx->hub, 0, fx_on_hub_closed) != 0)
    return -1;
  uv_run(&fx->loop, UV_RUN_DEFAULT);
  for (i = 0; i < fx->ntc; i++) {
    tc_close(&fx->tc[i]);
    free(fx->tc[i].in);
  }
  free(fx->rec);
  r = uv_loop_close(&fx->loop);
  if (r != 0)
    return r;
  return fx->srv_closed == 1 && fx->hub_closed == 1 ? 0 : -1;
}

#endif /* HUB_TCP_FIXTURE_H */
