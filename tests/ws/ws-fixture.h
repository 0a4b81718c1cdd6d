/* A fixture for the WebSocket adapter's tests: a hub and a hub-ws server
 * on 127.0.0.1 (port 0), plus plain client sockets that speak the
 * protocol byte by byte, all driven from the test's thread, on the shared
 * fixture of tests/support/support.h (TS_FIXTURE: the loop, the hub, the
 * clients on both sides; fx_step(), UNTIL()). Each test ends with
 * fx_stop(), which closes everything and returns uv_loop_close()'s
 * result. */
#ifndef HUB_WS_FIXTURE_H
#define HUB_WS_FIXTURE_H

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "hub-ws.h"
#include "servers.h"

#define FX_MAX_CLIENTS TS_MAX_CLIENTS
#define FX_REQUEST TS_WS_REQUEST

typedef ts_client_t tc_t;
typedef ts_frame_t tc_frame_t;

typedef struct fx fx_t;

struct fx {
  TS_FIXTURE;
  hub_ws_server_t *srv;
  int echo; /* broadcast every message received (default 1) */
  /* What on_request does: 0 let the adapter go on, > 0 refuse with it,
   * -1 serve a small page at /, -2 require an Authorization header. */
  int request_action;

  /* Per client, in connection order: how its connection closed. */
  unsigned close_code[FX_MAX_CLIENTS];
  int close_by_peer[FX_MAX_CLIENTS];
  uint64_t messages, requests;
  int nlogs;
  char last_log[256];
  char prev_log[256]; /* the one before */
  /* The target of the latest request on_request saw, and, per client,
   * the latest one when its on_connect came. */
  char last_target[32];
  char connect_target[FX_MAX_CLIENTS][32];
  /* Header lines (each ending in CRLF) fx_ws_client() adds to its
   * requests: a permessage-deflate offer, say. NULL: none. */
  const char *client_headers;
};

static inline void fx_step(fx_t *fx) {
  ts_step(&fx->base);
}

/* Step for `ms` milliseconds whatever happens. */
static inline void fx_wait(fx_t *fx, uint64_t ms) {
  TS_RUN_FOR(ts_step(&fx->base), ms);
}

/* ------------------------------------------------------------------------
 * Callbacks
 * ------------------------------------------------------------------------ */

static inline int fx_on_request(hub_ws_server_t *srv, hub_ws_request_t *req) {
  fx_t *fx = hub_ws_server_get_data(srv);
  static const char page[] = "<p>page</p>";

  fx->requests++;
  snprintf(fx->last_target, sizeof(fx->last_target), "%s",
           hub_ws_request_target(req));
  if (fx->request_action == -1 &&
      strcmp(hub_ws_request_path(req), "/") == 0)
    return hub_ws_request_respond(req, 200, "text/html", "X-Test: 1\r\n",
                                  page, sizeof(page) - 1) == 0
               ? 0
               : 500;
  /* -2: only requests with the right token may upgrade. */
  if (fx->request_action == -2) {
    const char *auth = hub_ws_request_header(req, "authorization");
    return auth != NULL && strcmp(auth, "Bearer let-me-in") == 0 ? 0 : 401;
  }
  return fx->request_action > 0 ? fx->request_action : 0;
}

static inline void fx_on_connect(hub_ws_server_t *srv, hub_client_t *c) {
  fx_t *fx = hub_ws_server_get_data(srv);
  int i = ts_client_added(&fx->base, c);

  memcpy(fx->connect_target[i], fx->last_target, sizeof(fx->last_target));
}

static inline void fx_on_message(hub_ws_server_t *srv, hub_client_t *c,
                                 const void *data, size_t len,
                                 unsigned flags) {
  fx_t *fx = hub_ws_server_get_data(srv);

  (void)c;
  fx->messages++;
  if (fx->echo)
    (void)hub_broadcast(fx->hub, data, len, flags);
}

static inline void fx_on_log(hub_ws_server_t *srv, hub_client_t *c, int err,
                             const char *msg) {
  fx_t *fx = hub_ws_server_get_data(srv);

  (void)c, (void)err;
  fx->nlogs++;
  memcpy(fx->prev_log, fx->last_log, sizeof(fx->prev_log));
  snprintf(fx->last_log, sizeof(fx->last_log), "%s", msg);
}

static inline void fx_on_client_close(hub_t *hub, hub_client_t *c,
                                      int status) {
  fx_t *fx = hub_get_data(hub);
  int i = ts_client_index(c);

  ts_on_client_close(hub, c, status);
  fx->close_code[i] = hub_ws_client_close_code(c, &fx->close_by_peer[i]);
}

static inline void fx_on_srv_closed(hub_ws_server_t *srv) {
  fx_t *fx = hub_ws_server_get_data(srv);

  ts_server_closed(&fx->base);
}

/* ------------------------------------------------------------------------
 * Set-up and tear-down
 * ------------------------------------------------------------------------ */

/* Start a hub and a server with these options (NULL: defaults); the
 * fixture's callbacks replace the options' ones. Returns 0 or an error. */
static inline int fx_start(fx_t *fx, const hub_options_t *hopts,
                           const hub_ws_options_t *wopts) {
  hub_ws_options_t cb = {.on_request = fx_on_request,
                         .on_connect = fx_on_connect,
                         .on_message = fx_on_message, .on_log = fx_on_log,
                         .data = fx};
  int r = ts_fixture_start(fx, sizeof(*fx), hopts, fx_on_client_close);

  fx->echo = 1;
  return r != 0 ? r : ts_ws_listen(&fx->srv, fx->hub, wopts, &cb, &fx->port);
}

/* A new client socket, connected (the kernel completes the connection
 * from its backlog). Returns its index, or -1. */
static inline int tc_open(fx_t *fx, int rcvbuf) {
  int i = ts_client_socket(&fx->base, rcvbuf);

  return i < 0 || ts_client_connect(&fx->base, i) != 0 ? -1 : i;
}

/* Send everything, stepping the loop while the socket is full. */
static inline int tc_send(fx_t *fx, int i, const void *data, size_t len) {
  return ts_client_send(&fx->base, i, data, len);
}

static inline int tc_send_str(fx_t *fx, int i, const char *s) {
  return tc_send(fx, i, s, strlen(s));
}

/* The response head client i received, once complete: its length (with
 * the blank line), or 0 while incomplete. */
static inline size_t tc_head_len(const tc_t *t) {
  return ts_http_head_len(t->in, t->len);
}

/* The status of the response client i received (0 if none yet). */
static inline int tc_status(const tc_t *t) {
  int st = ts_http_status(t->in, t->len);

  return st > 0 ? st : 0;
}

/* A client that completed the handshake and was registered: returns its
 * index (the same on both sides when clients connect one at a time), or
 * -1. `extra` is sent right after the request, in the same write. */
static inline int fx_ws_client_with(fx_t *fx, int rcvbuf, const void *extra,
                                    size_t extra_len) {
  char req[512], buf[1024];
  int i = tc_open(fx, rcvbuf), want = fx->nclients + 1;
  size_t n = (size_t)snprintf(
      req, sizeof(req), FX_REQUEST("/ws", "%s"),
      fx->client_headers != NULL ? fx->client_headers : "");
  if (i < 0 || n >= sizeof(req) || n + extra_len > sizeof(buf))
    return -1;
  memcpy(buf, req, n);
  if (extra_len > 0)
    memcpy(buf + n, extra, extra_len);
  if (tc_send(fx, i, buf, n + extra_len) != 0)
    return -1;
  UNTIL(fx, fx->nclients >= want && tc_head_len(&fx->tc[i]) > 0);
  if (fx->nclients != want || i != want - 1 || tc_status(&fx->tc[i]) != 101)
    return -1;
  fx->tc[i].pos = tc_head_len(&fx->tc[i]);
  return i;
}

static inline int fx_ws_client(fx_t *fx, int rcvbuf) {
  return fx_ws_client_with(fx, rcvbuf, NULL, 0);
}

static inline int tc_send_frame(fx_t *fx, int i, int fin, unsigned op,
                                const void *payload, size_t len) {
  uint8_t *buf = malloc(len + 14);
  int r;

  if (buf == NULL)
    return -1;
  r = tc_send(fx, i, buf, ts_ws_frame(buf, fin, op, payload, len));
  free(buf);
  return r;
}

/* The next complete server frame client i received, if any: 1 and the
 * frame, 0 if none yet, -1 if the bytes are not a valid server frame
 * (masked, say). */
static inline int tc_frame(tc_t *t, tc_frame_t *f) {
  size_t used = 0;
  int r = ts_ws_parse((const uint8_t *)t->in + t->pos, t->len - t->pos, f,
                      &used);

  t->pos += used;
  return r;
}

/* Wait for client i's next frame: 1 (and the frame) or 0 on timeout or
 * end of stream. */
static inline int fx_next_frame(fx_t *fx, int i, tc_frame_t *f) {
  int r = 0;

  UNTIL(fx, (r = tc_frame(&fx->tc[i], f)) != 0 || fx->tc[i].eof);
  if (r == 0)
    r = tc_frame(&fx->tc[i], f);
  return r == 1;
}

static inline void tc_close(tc_t *t) {
  ts_client_close(t);
}

static inline hub_ws_stats_t fx_ws_stats(fx_t *fx) {
  hub_ws_stats_t st;

  hub_ws_server_get_stats(fx->srv, &st);
  return st;
}

static inline hub_stats_t fx_hub_stats(fx_t *fx) {
  return ts_hub_stats(fx->hub);
}

/* Close the client sockets, the server, then the hub from the server's
 * callback, run the loop dry and free everything. Returns
 * uv_loop_close()'s result, or -1 if a close callback did not run exactly
 * once. */
static inline int fx_stop(fx_t *fx) {
  int i;

  /* Clients still connected answer nothing: do not wait for them. */
  for (i = 0; i < fx->ntc; i++)
    tc_close(&fx->tc[i]);
  if (fx->srv != NULL && hub_ws_server_close(fx->srv, fx_on_srv_closed) != 0)
    return -1;
  return ts_fixture_finish(&fx->base);
}

#endif /* HUB_WS_FIXTURE_H */
