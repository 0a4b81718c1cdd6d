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

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "hub-tcp.h"

/* Long enough for valgrind on a busy machine; only a hung test waits it. */
#define FX_DEADLINE_MS 60000
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

static inline uint64_t fx_now(void) {
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static inline int fx_index(hub_client_t *client) {
  return (int)(uintptr_t)client_get_data(client) - 1;
}

static inline void fx_grow(char **buf, size_t *cap, size_t need) {
  if (need <= *cap)
    return;
  *cap = need * 2 + 256;
  *buf = realloc(*buf, *cap);
  if (*buf == NULL)
    abort();
}

/* Read what a client has received, unless it is paused. Its buffer is
 * allocated only once data arrives. */
static inline void tc_read(tc_t *t) {
  static char chunk[65536];
  ssize_t n;

  if (t->fd < 0 || !t->connected || t->paused || t->eof)
    return;
  for (;;) {
    n = recv(t->fd, chunk, sizeof(chunk), MSG_DONTWAIT);
    if (n > 0) {
      fx_grow(&t->in, &t->cap, t->len + (size_t)n);
      memcpy(t->in + t->len, chunk, (size_t)n);
      t->len += (size_t)n;
    } else if (n == 0) {
      t->eof = 1;
      return;
    } else {
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
        t->eof = -errno;
      return;
    }
  }
}

static inline void fx_step(fx_t *fx) {
  struct pollfd p;
  int i, timeout;

  uv_run(&fx->loop, UV_RUN_NOWAIT);
  for (i = 0; i < fx->ntc; i++)
    tc_read(&fx->tc[i]);
  timeout = uv_backend_timeout(&fx->loop);
  if (timeout < 0 || timeout > 2)
    timeout = 2;
  p.fd = uv_backend_fd(&fx->loop);
  p.events = POLLIN;
  p.revents = 0;
  (void)poll(&p, 1, timeout);
}

/* Step until `cond` holds or the deadline passes; check `cond` after. */
#define UNTIL(fx, cond)                                                      \
  for (uint64_t fx_deadline_ = fx_now() + FX_DEADLINE_MS;                     \
       !(cond) && fx_now() < fx_deadline_; fx_step(fx)) {                    \
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

  if (fx->nclients >= FX_MAX_CLIENTS)
    abort();
  fx->clients[fx->nclients] = c;
  client_set_data(c, (void *)(uintptr_t)(fx->nclients + 1));
  fx->nclients++;
}

static inline void fx_on_line(hub_tcp_server_t *srv, hub_client_t *c,
                              const char *line, size_t len) {
  fx_t *fx = hub_tcp_server_get_data(srv);
  uint32_t n = (uint32_t)len;

  fx->lines++;
  fx_grow(&fx->rec, &fx->rec_cap, fx->rec_len + 4 + len);
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
  int i = fx_index(c);

  if (i < 0 || i >= FX_MAX_CLIENTS || fx->closed[i])
    abort(); /* closed twice, or never connected */
  fx->closed[i] = 1;
  fx->status[i] = status;
  fx->nclosed++;
}

static inline void fx_on_drop(hub_t *hub, hub_client_t *c,
                              hub_drop_reason_t reason, size_t n,
                              size_t bytes) {
  fx_t *fx = hub_get_data(hub);

  (void)c;
  (void)bytes;
  if ((unsigned)reason < 16)
    fx->dropped[reason] += n;
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
  hub_options_t ho;
  hub_tcp_options_t to;
  struct sockaddr_in addr;
  struct sockaddr_storage bound;
  int len = sizeof(bound), r;

  /* Writes to a reset connection must fail, not kill the test. */
  signal(SIGPIPE, SIG_IGN);
  memset(fx, 0, sizeof(*fx));
  fx->echo = 1;
  r = uv_loop_init(&fx->loop);
  if (r != 0)
    return r;
  if (hopts != NULL)
    ho = *hopts;
  else
    hub_options_init(&ho);
  ho.on_client_close = fx_on_client_close;
  ho.on_drop = fx_on_drop;
  ho.data = fx;
  r = hub_new(&fx->hub, &fx->loop, &ho);
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
  if (r != 0)
    return r;
  uv_ip4_addr("127.0.0.1", 0, &addr);
  r = hub_tcp_server_start(fx->srv, (struct sockaddr *)&addr);
  if (r != 0)
    return r;
  r = hub_tcp_server_getsockname(fx->srv, (struct sockaddr *)&bound, &len);
  if (r != 0)
    return r;
  fx->port = ntohs(((struct sockaddr_in *)&bound)->sin_port);
  return fx->port > 0 ? 0 : UV_EINVAL;
}

/* A new client socket, not connected yet; returns its index. */
static inline int tc_socket(fx_t *fx, int rcvbuf) {
  tc_t *t = &fx->tc[fx->ntc];

  memset(t, 0, sizeof(*t));
  t->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (t->fd < 0)
    return -1;
  /* Before connect(), so that the window is negotiated for it. */
  if (rcvbuf > 0)
    setsockopt(t->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
  return fx->ntc++;
}

/* Connect client i; the kernel completes the handshake from its backlog,
 * whether or not the server has accepted yet. Returns 0 or -1. */
static inline int tc_connect(fx_t *fx, int i) {
  struct sockaddr_in addr;

  memset(&addr, 0, sizeof(addr));
  addr.sin_family = AF_INET;
  addr.sin_port = htons((uint16_t)fx->port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fx->tc[i].fd, (struct sockaddr *)&addr, sizeof(addr)) != 0)
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
  const char *p = data;
  uint64_t deadline = fx_now() + FX_DEADLINE_MS;
  ssize_t n;

  while (len > 0) {
    n = send(fx->tc[i].fd, p, len, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n > 0) {
      p += n;
      len -= (size_t)n;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK ||
                         errno == EINTR)) {
      if (fx_now() > deadline)
        return -1;
      fx_step(fx);
    } else {
      return -1;
    }
  }
  return 0;
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
