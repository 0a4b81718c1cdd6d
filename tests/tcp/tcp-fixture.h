/* A fixture for the TCP adapter's tests: a hub and a hub-tcp server on
 * 127.0.0.1 (port 0), plus plain client sockets, all driven from the test's
 * thread, on the shared fixture of tests/support/support.h (TS_FIXTURE:
 * the loop, the hub, the clients on both sides; fx_step(), UNTIL()).
 * Each test ends with fx_stop(), which closes everything and returns
 * uv_loop_close()'s result. */
#ifndef HUB_TCP_FIXTURE_H
#define HUB_TCP_FIXTURE_H

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "hub-tcp.h"
#include "servers.h"

#define FX_MAX_CLIENTS TS_MAX_CLIENTS

typedef ts_client_t tc_t;

typedef struct fx fx_t;
typedef void (*fx_line_hook)(fx_t *fx, hub_client_t *client,
                             const char *line, size_t len);

struct fx {
  TS_FIXTURE;
  hub_tcp_server_t *srv;
  /* Broadcast every line received (the echo), unless line_hook is set. */
  int echo;
  fx_line_hook line_hook;

  uint64_t lines;
  /* Lines received, each as a 4-byte length and its bytes. */
  char *rec;
  size_t rec_len, rec_cap;
  int nlogs, last_log_err, nlog_accept;
};

static inline void fx_step(fx_t *fx) {
  ts_step(&fx->base);
}

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

  ts_client_added(&fx->base, c);
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

/* The server closed (the hub stays: a test may close it either way). */
static inline void fx_on_srv_closed(hub_tcp_server_t *srv) {
  ((fx_t *)hub_tcp_server_get_data(srv))->srv_closed++;
}

/* ------------------------------------------------------------------------
 * Set-up and tear-down
 * ------------------------------------------------------------------------ */

/* Start a hub and a server with these options (NULL: defaults); the
 * fixture's callbacks replace the options' ones. Returns 0 or an error. */
static inline int fx_start(fx_t *fx, const hub_options_t *hopts,
                           const hub_tcp_options_t *topts) {
  hub_tcp_options_t cb = {.on_connect = fx_on_connect, .on_line = fx_on_line,
                          .on_log = fx_on_log, .data = fx};
  int r = ts_fixture_start(fx, sizeof(*fx), hopts, NULL);

  fx->echo = 1;
  return r != 0 ? r : ts_tcp_listen(&fx->srv, fx->hub, topts, &cb, &fx->port);
}

/* A new client socket, not connected yet; returns its index. */
static inline int tc_socket(fx_t *fx, int rcvbuf) {
  return ts_client_socket(&fx->base, rcvbuf);
}

/* Connect client i. Returns 0 or -1. */
static inline int tc_connect(fx_t *fx, int i) {
  return ts_client_connect(&fx->base, i);
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
  return ts_client_send(&fx->base, i, data, len);
}

static inline int tc_send_str(fx_t *fx, int i, const char *s) {
  return tc_send(fx, i, s, strlen(s));
}

static inline void tc_close(tc_t *t) {
  ts_client_close(t);
}

static inline hub_client_stats_t fx_client_stats(fx_t *fx, int i) {
  hub_client_stats_t st;

  memset(&st, 0, sizeof(st));
  client_get_stats(fx->clients[i], &st);
  return st;
}

static inline hub_stats_t fx_hub_stats(fx_t *fx) {
  return ts_hub_stats(fx->hub);
}

static inline hub_tcp_stats_t fx_tcp_stats(fx_t *fx) {
  hub_tcp_stats_t st;

  hub_tcp_server_get_stats(fx->srv, &st);
  return st;
}

/* For each field value in `bad`, set alone in default options: the
 * index of the first one hub_tcp_server_new() does not refuse with
 * UV_EINVAL (the server it made is closed), or -1 when every one is. */
static inline int fx_refuses_each(fx_t *fx, const ts_field_t *bad, size_t n) {
  hub_tcp_server_t *s;
  hub_tcp_options_t to;
  size_t i;

  for (i = 0; i < n; i++) {
    s = NULL;
    hub_tcp_options_init(&to);
    ts_fields_set(&to, sizeof(to), &bad[i]);
    if (hub_tcp_server_new(&s, fx->hub, &to) != UV_EINVAL) {
      fprintf(stderr, "  %s = %lld was not refused\n", bad[i].name,
              bad[i].want);
      if (s != NULL)
        hub_tcp_server_close(s, NULL);
      return (int)i;
    }
  }
  return -1;
}

/* Close the server and the hub, run the loop dry, close the client
 * sockets and free everything. Returns uv_loop_close()'s result, or -1 if
 * a close callback did not run exactly once. */
static inline int fx_stop(fx_t *fx) {
  if (fx->srv != NULL && hub_tcp_server_close(fx->srv, fx_on_srv_closed) != 0)
    return -1;
  if (fx->hub != NULL && hub_close(fx->hub, 0, ts_hub_closed) != 0)
    return -1;
  free(fx->rec);
  return ts_fixture_finish(&fx->base);
}

#endif /* HUB_TCP_FIXTURE_H */
