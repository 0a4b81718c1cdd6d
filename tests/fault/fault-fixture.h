/* A fixture for the fault tests that run the adapters in-process: a hub
 * and a server of either adapter (hub-tcp or hub-ws) on 127.0.0.1 (port
 * 0), and plain client sockets speaking its protocol, all driven from the
 * test's thread. One test body serves both adapters: a "message" is a
 * line for TCP and a masked text frame for WebSocket.
 *
 * The test never blocks: ff_step() runs one non-blocking loop iteration,
 * reads and parses what the clients have received (keeping only what is
 * not parsed yet, so that memory stays flat however much arrives), and
 * waits at most a few milliseconds for the loop's next event. FF_UNTIL()
 * repeats it until a condition holds or a deadline passes; the deadline
 * only stops a broken test, nothing asserts on speed. */
#ifndef HUB_FAULT_FIXTURE_H
#define HUB_FAULT_FIXTURE_H

#include <poll.h>
#include <signal.h>

#include "fault-sys.h"
#include "harness.h"
#include "servers.h"

typedef enum { FF_TCP = 0, FF_WS = 1 } ff_kind;

/* Two tests, tcp_NAME and ws_NAME: the scenario fn(kind) against each
 * server. */
#define FF_TEST_BOTH(name, fn)                                               \
  TEST(tcp_##name) {                                                         \
    fn(FF_TCP);                                                              \
  }                                                                          \
  TEST(ws_##name) {                                                          \
    fn(FF_WS);                                                               \
  }

typedef struct ff ff_t;

/* A client socket and what it has parsed. */
typedef struct {
  int fd;
  int fd_pending; /* made by fc_socket(), not connecting yet */
  int connected; /* the TCP connection is established */
  int open;      /* TCP: connected; WebSocket: 101 received */
  int http;      /* WebSocket: the response status received, 0 none */
  int paused;    /* do not read (a stalled reader) */
  int eof;       /* 1 after end of stream, or a negative errno */
  int close_code; /* WebSocket: the server's close frame code, or 0 */
  int bad;       /* bytes that are not a valid server frame */
  char *in;      /* received, not parsed yet */
  size_t len, cap;
  uint64_t msgs;  /* data messages received */
  uint64_t bytes; /* their payload bytes */
  uint64_t next_seq; /* for ff_seq_hook: the next sequence number due */
  uint64_t seq_errors; /* numbers out of order or repeated */
  uint64_t gaps;       /* numbers skipped */
} fc_t;

typedef void (*ff_msg_hook)(ff_t *ff, int i, const char *data, size_t len);

/* A client as the server saw it. */
typedef struct {
  hub_client_t *client;
  int closed;
  int status;       /* on_client_close's */
  uint64_t dropped; /* messages it lost while open (evicted, refused) */
} ff_srv_t;

struct ff {
  ff_kind kind;
  uv_loop_t loop;
  hub_t *hub;
  hub_tcp_server_t *tcp;
  hub_ws_server_t *ws;
  int port;
  int echo;           /* broadcast every message received (default 1) */
  ff_msg_hook on_msg; /* clients' parsed messages, if set */

  /* Server side, in connection order (client data = index + 1). */
  ff_srv_t *srv;
  int nclients, cap_clients, nclosed;
  uint64_t messages;  /* lines / messages the server received */
  int last_broadcast; /* what the echo's hub_broadcast() returned */
  int nlogs, nlog_accept, last_log_err;
  char last_log[256];
  /* Any sign of a failed allocation: a log or close status UV_ENOMEM, an
   * API call that returned it, a 500/503 or a 1011 a client received. */
  int enomem_seen;
  int bad_status; /* a close status outside the expected set */
  uint64_t drops[8]; /* messages, per hub_drop_reason_t */
  int srv_closed, hub_closed;

  /* Client side. */
  fc_t *fc;
  int nfc, cap_fc;
};

static inline void *ff_grow(void *p, int *cap, int need, size_t size) {
  if (need <= *cap)
    return p;
  *cap = need * 2 + 16;
  p = realloc(p, (size_t)*cap * size);
  if (p == NULL)
    abort();
  return p;
}

/* ------------------------------------------------------------------------
 * Client side: parsing
 * ------------------------------------------------------------------------ */

static inline void fc_deliver(ff_t *ff, int i, const char *p, size_t n) {
  fc_t *c = &ff->fc[i];

  c->msgs++;
  c->bytes += n;
  if (ff->on_msg != NULL)
    ff->on_msg(ff, i, p, n);
}

/* A server frame client i received. */
static inline void fc_frame(ff_t *ff, int i, const ts_frame_t *f) {
  fc_t *c = &ff->fc[i];

  switch (f->op) {
  case 0x1:
  case 0x2:
    fc_deliver(ff, i, (const char *)f->data, f->len);
    break;
  case 0x8:
    c->close_code = f->len >= 2 ? (f->data[0] << 8 | f->data[1]) : 1005;
    if (c->close_code == 1011)
      ff->enomem_seen = 1;
    break;
  default:
    break; /* pings and pongs */
  }
}

/* Client i's response head, once complete: 0 while incomplete, else its
 * length. */
static inline size_t fc_head(ff_t *ff, int i) {
  fc_t *c = &ff->fc[i];
  size_t hl = ts_http_head_len(c->in, c->len);

  if (hl == 0)
    return 0;
  c->http = ts_http_status(c->in, c->len);
  if (c->http == 101)
    c->open = 1;
  if (c->http == 500 || c->http == 503)
    ff->enomem_seen = 1;
  return hl;
}

/* Parse what client i holds; return the bytes consumed. */
static inline size_t fc_parse(ff_t *ff, int i) {
  fc_t *c = &ff->fc[i];
  size_t pos = 0, k, used;
  ts_frame_t f;
  int r;

  if (ff->kind == FF_TCP) {
    for (k = 0; k < c->len; k++)
      if (c->in[k] == '\n') {
        fc_deliver(ff, i, c->in + pos, k - pos);
        pos = k + 1;
      }
    return pos;
  }
  if (c->http == 0 && (pos = fc_head(ff, i)) == 0)
    return 0;
  if (c->http != 101)
    return c->len; /* the body of a refusal: not frames */
  while (!c->bad && (r = ts_ws_parse((const uint8_t *)c->in + pos,
                                     c->len - pos, &f, &used)) != 0) {
    if (r < 0) {
      c->bad = 1;
      break;
    }
    fc_frame(ff, i, &f);
    pos += used;
  }
  return pos;
}

static inline void fc_read(ff_t *ff, int i) {
  fc_t *c = &ff->fc[i];
  size_t used;
  ssize_t n;
  int r;

  if (c->fd < 0 || c->eof || c->fd_pending)
    return;
  if (!c->connected) {
    r = ts_connected(c->fd);
    if (r < 0)
      c->eof = -ECONNREFUSED;
    if (r <= 0)
      return;
    c->connected = 1;
    if (ff->kind == FF_TCP)
      c->open = 1;
  }
  if (c->paused)
    return;
  /* Parsed as it comes, keeping only what is not parsed yet. */
  while ((n = ts_recv_append(c->fd, &c->in, &c->len, &c->cap)) > 0) {
    used = fc_parse(ff, i);
    memmove(c->in, c->in + used, c->len - used);
    c->len -= used;
  }
  if (n != TS_AGAIN)
    c->eof = n == 0 ? 1 : (int)n;
}

/* Sequence check, as ff->on_msg, for messages "<seq> ...": a number not
 * above the last one is an error, numbers skipped are a gap. */
static inline void ff_seq_hook(ff_t *ff, int i, const char *data,
                               size_t len) {
  fc_t *c = &ff->fc[i];
  char num[24];
  uint64_t seq;
  size_t k;

  for (k = 0; k < len && k < sizeof(num) - 1 && data[k] != ' '; k++)
    num[k] = data[k];
  num[k] = '\0';
  seq = strtoull(num, NULL, 10);
  if (seq < c->next_seq)
    c->seq_errors++;
  else
    c->gaps += seq - c->next_seq;
  c->next_seq = seq + 1;
}

/* ------------------------------------------------------------------------
 * The loop
 * ------------------------------------------------------------------------ */

/* One loop iteration, the clients' reads, then a wait of at most 2 ms for
 * the loop or (with few enough clients) a client to have something. */
static inline void ff_step(ff_t *ff) {
  struct pollfd p[65];
  int i, n = 1, timeout;

  uv_run(&ff->loop, UV_RUN_NOWAIT);
  for (i = 0; i < ff->nfc; i++)
    fc_read(ff, i);
  timeout = uv_backend_timeout(&ff->loop);
  if (timeout < 0 || timeout > 2)
    timeout = 2;
  p[0].fd = uv_backend_fd(&ff->loop);
  p[0].events = POLLIN;
  p[0].revents = 0;
  for (i = 0; i < ff->nfc && ff->nfc < 64; i++) {
    fc_t *c = &ff->fc[i];

    if (c->fd < 0 || c->eof || c->fd_pending ||
        (c->connected && c->paused))
      continue;
    p[n].fd = c->fd;
    p[n].events = c->connected ? POLLIN : POLLOUT;
    p[n].revents = 0;
    n++;
  }
  (void)poll(p, (nfds_t)n, timeout);
}

/* Step until `cond` holds or `ms` pass; check `cond` after. */
#define FF_UNTIL_MS(ff, cond, ms) TS_UNTIL_MS(ff_step(ff), cond, ms)
#define FF_UNTIL(ff, cond) FF_UNTIL_MS(ff, cond, TS_DEADLINE_MS)

static inline void ff_wait(ff_t *ff, uint64_t ms) {
  TS_RUN_FOR(ff_step(ff), ms);
}

/* ------------------------------------------------------------------------
 * Server-side callbacks
 * ------------------------------------------------------------------------ */

static inline void ff_registered(ff_t *ff, hub_client_t *c) {
  ff->srv = ff_grow(ff->srv, &ff->cap_clients, ff->nclients + 1,
                    sizeof(*ff->srv));
  ff->srv[ff->nclients].client = c;
  ff->srv[ff->nclients].closed = 0;
  ff->srv[ff->nclients].status = 0;
  ff->srv[ff->nclients].dropped = 0;
  client_set_data(c, (void *)(uintptr_t)(ff->nclients + 1));
  ff->nclients++;
}

static inline void ff_got(ff_t *ff, const void *data, size_t len,
                          unsigned flags) {
  int r;

  ff->messages++;
  if (!ff->echo)
    return;
  r = hub_broadcast(ff->hub, data, len, flags);
  ff->last_broadcast = r;
  if (r == UV_ENOMEM)
    ff->enomem_seen = 1;
}

static inline void ff_log(ff_t *ff, hub_client_t *c, int err,
                          const char *msg) {
  ff->nlogs++;
  ff->last_log_err = err;
  snprintf(ff->last_log, sizeof(ff->last_log), "%s", msg);
  if (c == NULL && (err != 0 || strstr(msg, "accept") != NULL))
    ff->nlog_accept++;
  if (err == UV_ENOMEM || strstr(msg, "out of memory") != NULL)
    ff->enomem_seen = 1;
}

static inline void ff_tcp_connect(hub_tcp_server_t *s, hub_client_t *c) {
  ff_registered(hub_tcp_server_get_data(s), c);
}

static inline void ff_tcp_line(hub_tcp_server_t *s, hub_client_t *c,
                               const char *line, size_t len) {
  (void)c;
  ff_got(hub_tcp_server_get_data(s), line, len, 0);
}

static inline void ff_tcp_log(hub_tcp_server_t *s, hub_client_t *c, int err,
                              const char *msg) {
  ff_log(hub_tcp_server_get_data(s), c, err, msg);
}

static inline void ff_ws_connect(hub_ws_server_t *s, hub_client_t *c) {
  ff_registered(hub_ws_server_get_data(s), c);
}

static inline void ff_ws_message(hub_ws_server_t *s, hub_client_t *c,
                                 const void *data, size_t len,
                                 unsigned flags) {
  (void)c;
  ff_got(hub_ws_server_get_data(s), data, len, flags);
}

static inline void ff_ws_log(hub_ws_server_t *s, hub_client_t *c, int err,
                             const char *msg) {
  ff_log(hub_ws_server_get_data(s), c, err, msg);
}

/* Plain HTTP: a page at /, 404 elsewhere; /ws upgrades. */
static inline int ff_ws_request(hub_ws_server_t *s, hub_ws_request_t *req) {
  static const char page[] = "<p>a page</p>";
  const char *path = hub_ws_request_path(req);
  int r;

  if (strcmp(path, "/ws") == 0)
    return 0;
  if (strcmp(path, "/") == 0) {
    r = hub_ws_request_respond(req, 200, "text/html", NULL, page,
                               sizeof(page) - 1);
    if (r == UV_ENOMEM)
      ((ff_t *)hub_ws_server_get_data(s))->enomem_seen = 1;
    return r == 0 ? 0 : 500;
  }
  return 404;
}

/* Statuses a client may end with in these tests. */
static inline int ff_expected_status(int st) {
  return st == 0 || st == UV_EOF || st == UV_ENOMEM || st == HUB_ESLOW ||
         st == HUB_ETRANSPORT || st == UV_ECONNRESET || st == UV_EPIPE ||
         st == UV_ETIMEDOUT || st == UV_ECANCELED || st == UV_EMSGSIZE;
}

static inline void ff_client_closed(hub_t *hub, hub_client_t *c,
                                    int status) {
  ff_t *ff = hub_get_data(hub);
  int i = ts_client_index(c);

  if (i < 0 || i >= ff->nclients || ff->srv[i].closed)
    abort(); /* closed twice, or never connected */
  ff->srv[i].closed = 1;
  ff->srv[i].status = status;
  ff->nclosed++;
  if (status == UV_ENOMEM)
    ff->enomem_seen = 1;
  if (!ff_expected_status(status))
    ff->bad_status = status;
}

static inline void ff_dropped(hub_t *hub, hub_client_t *c,
                              hub_drop_reason_t reason, size_t n,
                              size_t bytes) {
  ff_t *ff = hub_get_data(hub);
  int i = ts_client_index(c);

  (void)bytes;
  if ((unsigned)reason < 8)
    ff->drops[reason] += n;
  if (i >= 0 && i < ff->nclients && reason != HUB_DROP_CLOSED &&
      reason != HUB_DROP_DISCONNECT)
    ff->srv[i].dropped += n;
}

static inline void ff_hub_closed(hub_t *hub) {
  ((ff_t *)hub_get_data(hub))->hub_closed++;
}

static inline void ff_srv_closed_tcp(hub_tcp_server_t *s) {
  ff_t *ff = hub_tcp_server_get_data(s);

  ff->srv_closed++;
  if (hub_close(ff->hub, 0, ff_hub_closed) != 0)
    abort();
}

static inline void ff_srv_closed_ws(hub_ws_server_t *s) {
  ff_t *ff = hub_ws_server_get_data(s);

  ff->srv_closed++;
  if (hub_close(ff->hub, 0, ff_hub_closed) != 0)
    abort();
}

/* ------------------------------------------------------------------------
 * Set-up and tear-down
 * ------------------------------------------------------------------------ */

/* Start a hub and a server of `kind` with these options (NULL: defaults;
 * the fixture's callbacks replace the options' own). Returns 0 or an
 * error; call ff_stop() in any case. */
static inline int ff_start(ff_t *ff, ff_kind kind, const hub_options_t *ho,
                           const hub_tcp_options_t *to,
                           const hub_ws_options_t *wo) {
  hub_tcp_options_t tcp_cb = {.on_connect = ff_tcp_connect,
                              .on_line = ff_tcp_line, .on_log = ff_tcp_log,
                              .data = ff};
  hub_ws_options_t ws_cb = {.on_request = ff_ws_request,
                            .on_connect = ff_ws_connect,
                            .on_message = ff_ws_message,
                            .on_log = ff_ws_log, .data = ff};
  int r;

  signal(SIGPIPE, SIG_IGN);
  memset(ff, 0, sizeof(*ff));
  ff->kind = kind;
  ff->echo = 1;
  if (uv_loop_init(&ff->loop) != 0)
    abort();
  r = ts_hub_new(&ff->hub, &ff->loop, ho, ff_client_closed, ff_dropped, ff);
  if (r != 0) {
    ff->hub = NULL;
    return r;
  }
  if (kind == FF_TCP)
    return ts_tcp_listen(&ff->tcp, ff->hub, to, &tcp_cb, &ff->port);
  return ts_ws_listen(&ff->ws, ff->hub, wo, &ws_cb, &ff->port);
}

/* Close every client socket, the server, then the hub from the server's
 * callback; run the loop dry and free everything. Returns
 * uv_loop_close()'s result, or -1 if a close callback did not run exactly
 * once. Whatever ff_start() managed to make is closed. */
static inline int ff_stop(ff_t *ff) {
  int i, r, want_srv = 0, want_hub = 0;

  for (i = 0; i < ff->nfc; i++)
    if (ff->fc[i].fd >= 0) {
      close(ff->fc[i].fd);
      ff->fc[i].fd = -1;
    }
  if (ff->tcp != NULL) {
    want_srv = want_hub = 1;
    if (hub_tcp_server_close(ff->tcp, ff_srv_closed_tcp) != 0)
      return -1;
  } else if (ff->ws != NULL) {
    want_srv = want_hub = 1;
    if (hub_ws_server_close(ff->ws, ff_srv_closed_ws) != 0)
      return -1;
  } else if (ff->hub != NULL) {
    want_hub = 1;
    if (hub_close(ff->hub, 0, ff_hub_closed) != 0)
      return -1;
  }
  uv_run(&ff->loop, UV_RUN_DEFAULT);
  for (i = 0; i < ff->nfc; i++)
    free(ff->fc[i].in);
  free(ff->fc);
  free(ff->srv);
  r = uv_loop_close(&ff->loop);
  if (r != 0)
    return r;
  return ff->srv_closed == want_srv && ff->hub_closed == want_hub ? 0 : -1;
}

/* ------------------------------------------------------------------------
 * Clients
 * ------------------------------------------------------------------------ */

/* A new client socket (with SO_RCVBUF `rcvbuf` if > 0), not connected
 * yet: fc_connect() it. Returns its index, or -1. */
static inline int fc_socket(ff_t *ff, int rcvbuf) {
  fc_t *c;
  int cap = ff->cap_fc, fd;

  fd = ts_socket(rcvbuf, TS_NONBLOCK);
  if (fd < 0)
    return -1;
  ff->fc = ff_grow(ff->fc, &cap, ff->nfc + 1, sizeof(*ff->fc));
  ff->cap_fc = cap;
  c = &ff->fc[ff->nfc];
  memset(c, 0, sizeof(*c));
  c->fd = fd;
  c->fd_pending = 1;
  return ff->nfc++;
}

/* Start connecting client i; the kernel completes the connection from
 * the server's backlog, whether or not the server has accepted it yet.
 * Returns 0 or -1. */
static inline int fc_connect(ff_t *ff, int i) {
  ff->fc[i].fd_pending = 0;
  return ts_connect_loopback(ff->fc[i].fd, ff->port);
}

/* A new client socket, connecting. Returns its index, or -1. */
static inline int fc_open(ff_t *ff, int rcvbuf) {
  int i = fc_socket(ff, rcvbuf);

  if (i >= 0 && fc_connect(ff, i) != 0)
    return -1;
  return i;
}

/* Send everything, stepping the loop while the socket is full. Returns 0
 * or -1 (the connection failed, or the deadline passed). */
static inline int fc_send(ff_t *ff, int i, const void *data, size_t len) {
  uint64_t deadline = ts_now_ms() + TS_DEADLINE_MS;
  int r;

  FF_UNTIL(ff, ff->fc[i].connected || ff->fc[i].eof);
  while ((r = ts_send_some(ff->fc[i].fd, &data, &len)) == 0 &&
         ts_now_ms() <= deadline)
    ff_step(ff);
  return r == 1 ? 0 : -1;
}

/* One message as the adapter's clients send it, into out (len + 14
 * bytes): a line, or a masked text frame. Returns its length. */
static inline size_t ff_msg_bytes(const ff_t *ff, uint8_t *out,
                                  const void *data, size_t len) {
  if (ff->kind != FF_TCP)
    return ts_ws_frame(out, 1, 0x1, data, len);
  memcpy(out, data, len);
  out[len] = '\n';
  return len + 1;
}

/* One message: a line, or a masked text frame. */
static inline int fc_send_msg(ff_t *ff, int i, const void *data,
                              size_t len) {
  uint8_t *buf = malloc(len + 14);
  int r;

  if (buf == NULL)
    abort();
  r = fc_send(ff, i, buf, ff_msg_bytes(ff, buf, data, len));
  free(buf);
  return r;
}

/* A client registered by the server (for WebSocket, upgraded): its
 * index, or -1 if it was refused or closed, or the deadline passed. */
static inline int fc_join_ms(ff_t *ff, int rcvbuf, uint64_t ms) {
  int i = fc_open(ff, rcvbuf);

  if (i < 0)
    return -1;
  if (ff->kind == FF_WS &&
      fc_send(ff, i, FS_WS_REQUEST, sizeof(FS_WS_REQUEST) - 1) != 0)
    return -1;
  FF_UNTIL_MS(ff, ff->fc[i].open || ff->fc[i].eof || ff->fc[i].http > 0,
              ms);
  return ff->fc[i].open && !ff->fc[i].eof ? i : -1;
}

static inline int fc_join(ff_t *ff, int rcvbuf) {
  return fc_join_ms(ff, rcvbuf, TS_DEADLINE_MS);
}

static inline void fc_close(ff_t *ff, int i) {
  if (ff->fc[i].fd >= 0)
    close(ff->fc[i].fd);
  ff->fc[i].fd = -1;
}

static inline hub_stats_t ff_hub_stats(ff_t *ff) {
  return ts_hub_stats(ff->hub);
}

/* Connections the adapter holds now, in any phase (`accept_errors` 0),
 * or its failed accepts so far (1). */
static inline uint64_t ff_server_stat(ff_t *ff, int accept_errors) {
  hub_tcp_stats_t ts;
  hub_ws_stats_t ws;

  if (ff->kind == FF_TCP) {
    hub_tcp_server_get_stats(ff->tcp, &ts);
    return accept_errors ? ts.accept_errors : ts.connections;
  }
  hub_ws_server_get_stats(ff->ws, &ws);
  return accept_errors ? ws.accept_errors : ws.connections;
}

static inline uint64_t ff_connections(ff_t *ff) {
  return ff_server_stat(ff, 0);
}

static inline uint64_t ff_accept_errors(ff_t *ff) {
  return ff_server_stat(ff, 1);
}

static inline const char *ff_name(ff_kind kind) {
  return kind == FF_TCP ? "tcp" : "ws";
}

#endif /* HUB_FAULT_FIXTURE_H */
