/* A fixture for the WebSocket adapter's tests: a hub and a hub-ws server
 * on 127.0.0.1 (port 0), plus plain client sockets that speak the
 * protocol byte by byte, all driven from the test's thread.
 *
 * The test never blocks: fx_step() runs one non-blocking loop iteration,
 * reads whatever the clients have received, and waits at most a few
 * milliseconds for the loop's next event. UNTIL(fx, cond) repeats it
 * until `cond` holds or a generous deadline passes (the deadline only
 * stops a broken test; nothing asserts on speed). Each test ends with
 * fx_stop(), which closes everything and returns uv_loop_close()'s
 * result. */
#ifndef HUB_WS_FIXTURE_H
#define HUB_WS_FIXTURE_H

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "hub-ws.h"

/* Long enough for valgrind on a busy machine; only a hung test waits it. */
#define FX_DEADLINE_MS 60000
#define FX_MAX_CLIENTS 256

#define FX_REQUEST(path, extra)                                              \
  "GET " path " HTTP/1.1\r\n"                                                \
  "Host: 127.0.0.1\r\n"                                                      \
  "Upgrade: websocket\r\n"                                                   \
  "Connection: Upgrade\r\n"                                                  \
  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"                          \
  "Sec-WebSocket-Version: 13\r\n" extra "\r\n"

typedef struct {
  int fd;
  int paused; /* do not read (a stalled consumer) */
  int eof;    /* 1 after end of file, or a negative errno */
  char *in;   /* everything received */
  size_t len, cap;
  size_t pos; /* how far tc_frame() has parsed `in` */
} tc_t;

/* A frame a client received. */
typedef struct {
  int fin, op;
  int rsv; /* RSV1-3 as bits 2-0: 4 is a compressed message */
  const uint8_t *data;
  size_t len;
} tc_frame_t;

typedef struct fx fx_t;

struct fx {
  uv_loop_t loop;
  hub_t *hub;
  hub_ws_server_t *srv;
  int port;
  int echo; /* broadcast every message received (default 1) */
  /* What on_request does: 0 let the adapter go on, > 0 refuse with it,
   * -1 serve a small page at /, -2 require an Authorization header. */
  int request_action;

  /* Server side, indexed in connection order (client data = index + 1). */
  hub_client_t *clients[FX_MAX_CLIENTS];
  int nclients;
  int closed[FX_MAX_CLIENTS];
  int status[FX_MAX_CLIENTS];
  unsigned close_code[FX_MAX_CLIENTS];
  int close_by_peer[FX_MAX_CLIENTS];
  int nclosed;
  uint64_t messages, requests;
  int nlogs;
  char last_log[256];
  char prev_log[256]; /* the one before */
  uint64_t dropped[16]; /* messages, per hub_drop_reason_t */
  /* The target of the latest request on_request saw, and, per client,
   * the latest one when its on_connect came. */
  char last_target[32];
  char connect_target[FX_MAX_CLIENTS][32];
  int srv_closed, hub_closed;

  /* Client side. */
  tc_t tc[FX_MAX_CLIENTS];
  int ntc;
  /* Header lines (each ending in CRLF) fx_ws_client() adds to its
   * requests: a permessage-deflate offer, say. NULL: none. */
  const char *client_headers;
};

/* A hub allocator that counts allocations (mallocs and reallocs). */
static size_t fx_hub_allocs;

static inline void *fx_count_malloc(size_t size, void *ud) {
  (void)ud;
  fx_hub_allocs++;
  return malloc(size);
}

static inline void *fx_count_realloc(void *ptr, size_t size, void *ud) {
  (void)ud;
  fx_hub_allocs++;
  return realloc(ptr, size);
}

static inline void fx_count_free(void *ptr, void *ud) {
  (void)ud;
  free(ptr);
}

static const hub_allocator_t fx_counting = {fx_count_malloc,
                                            fx_count_realloc, fx_count_free,
                                            NULL};

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

static inline void tc_read(tc_t *t) {
  static char chunk[65536];
  ssize_t n;

  if (t->fd < 0 || t->paused || t->eof)
    return;
  for (;;) {
    n = recv(t->fd, chunk, sizeof(chunk), MSG_DONTWAIT);
    if (n > 0) {
      /* Kept NUL-terminated, so that the HTTP head can be searched. */
      fx_grow(&t->in, &t->cap, t->len + (size_t)n + 1);
      memcpy(t->in + t->len, chunk, (size_t)n);
      t->len += (size_t)n;
      t->in[t->len] = '\0';
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

/* Step for `ms` milliseconds whatever happens. */
static inline void fx_wait(fx_t *fx, uint64_t ms) {
  uint64_t end = fx_now() + ms;

  while (fx_now() < end)
    fx_step(fx);
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

  if (fx->nclients >= FX_MAX_CLIENTS)
    abort();
  fx->clients[fx->nclients] = c;
  memcpy(fx->connect_target[fx->nclients], fx->last_target,
         sizeof(fx->last_target));
  client_set_data(c, (void *)(uintptr_t)(fx->nclients + 1));
  fx->nclients++;
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
  int i = fx_index(c);

  if (i < 0 || i >= FX_MAX_CLIENTS || fx->closed[i])
    abort(); /* closed twice, or never connected */
  fx->closed[i] = 1;
  fx->status[i] = status;
  fx->close_code[i] = hub_ws_client_close_code(c, &fx->close_by_peer[i]);
  fx->nclosed++;
}

static inline void fx_on_drop(hub_t *hub, hub_client_t *c,
                              hub_drop_reason_t reason, size_t n,
                              size_t bytes) {
  fx_t *fx = hub_get_data(hub);

  (void)c, (void)bytes;
  if ((unsigned)reason < 16)
    fx->dropped[reason] += n;
}

static inline void fx_on_srv_closed(hub_ws_server_t *srv) {
  fx_t *fx = hub_ws_server_get_data(srv);

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
                           const hub_ws_options_t *wopts) {
  hub_options_t ho;
  hub_ws_options_t wo;
  struct sockaddr_in addr;
  struct sockaddr_storage bound;
  int len = sizeof(bound), r;

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
  if (wopts != NULL)
    wo = *wopts;
  else
    hub_ws_options_init(&wo);
  wo.on_request = fx_on_request;
  wo.on_connect = fx_on_connect;
  wo.on_message = fx_on_message;
  wo.on_log = fx_on_log;
  wo.data = fx;
  r = hub_ws_server_new(&fx->srv, fx->hub, &wo);
  if (r != 0)
    return r;
  uv_ip4_addr("127.0.0.1", 0, &addr);
  r = hub_ws_server_start(fx->srv, (struct sockaddr *)&addr);
  if (r != 0)
    return r;
  r = hub_ws_server_getsockname(fx->srv, (struct sockaddr *)&bound, &len);
  if (r != 0)
    return r;
  fx->port = ntohs(((struct sockaddr_in *)&bound)->sin_port);
  return fx->port > 0 ? 0 : UV_EINVAL;
}

/* A new client socket, connected (the kernel completes the connection
 * from its backlog). Returns its index, or -1. */
static inline int tc_open(fx_t *fx, int rcvbuf) {
  struct sockaddr_in addr;
  tc_t *t = &fx->tc[fx->ntc];

  memset(t, 0, sizeof(*t));
  t->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (t->fd < 0)
    return -1;
  /* Before connect(), so that the window is negotiated for it. */
  if (rcvbuf > 0)
    setsockopt(t->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
  memset(&addr, 0, sizeof(addr));
  addr.sin_family = AF_INET;
  addr.sin_port = htons((uint16_t)fx->port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(t->fd, (struct sockaddr *)&addr, sizeof(addr)) != 0)
    return -1;
  return fx->ntc++;
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

/* The response head client i received, once complete: its length (with
 * the blank line), or 0 while incomplete. */
static inline size_t tc_head_len(const tc_t *t) {
  size_t i;

  for (i = 0; i + 3 < t->len; i++)
    if (memcmp(t->in + i, "\r\n\r\n", 4) == 0)
      return i + 4;
  return 0;
}

/* The status of the response client i received (0 if none yet). */
static inline int tc_status(const tc_t *t) {
  if (tc_head_len(t) == 0 || t->len < 12 || memcmp(t->in, "HTTP/1.1 ", 9))
    return 0;
  return atoi(t->in + 9);
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

/* A masked client frame into out (which must hold len + 14 bytes). */
static inline size_t tc_frame_bytes(uint8_t *out, int fin, unsigned op,
                                    const void *payload, size_t len) {
  static const uint8_t key[4] = {0xa1, 0x07, 0x5c, 0x3e};
  const uint8_t *p = payload;
  size_t n = 0, i;

  out[n++] = (uint8_t)((fin ? 0x80 : 0) | op);
  if (len < 126) {
    out[n++] = (uint8_t)(0x80 | len);
  } else if (len <= 0xFFFF) {
    out[n++] = 0x80 | 126;
    out[n++] = (uint8_t)(len >> 8);
    out[n++] = (uint8_t)len;
  } else {
    out[n++] = 0x80 | 127;
    for (i = 0; i < 8; i++)
      out[n++] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
  }
  memcpy(out + n, key, 4);
  n += 4;
  for (i = 0; i < len; i++)
    out[n + i] = p[i] ^ key[i % 4];
  return n + len;
}

static inline int tc_send_frame(fx_t *fx, int i, int fin, unsigned op,
                                const void *payload, size_t len) {
  uint8_t *buf = malloc(len + 14);
  size_t n;
  int r;

  if (buf == NULL)
    return -1;
  n = tc_frame_bytes(buf, fin, op, payload, len);
  r = tc_send(fx, i, buf, n);
  free(buf);
  return r;
}

/* The next complete server frame client i received, if any: 1 and the
 * frame, 0 if none yet, -1 if the bytes are not a valid server frame
 * (masked, say). */
static inline int tc_frame(tc_t *t, tc_frame_t *f) {
  const uint8_t *p = (const uint8_t *)t->in + t->pos;
  size_t avail = t->len - t->pos, n = 2, i;
  uint64_t len;

  if (avail < 2)
    return 0;
  if (p[1] & 0x80)
    return -1; /* server frames are never masked */
  len = p[1] & 0x7F;
  if (len == 126) {
    if (avail < 4)
      return 0;
    len = (uint64_t)p[2] << 8 | p[3];
    n = 4;
  } else if (len == 127) {
    if (avail < 10)
      return 0;
    for (len = 0, i = 0; i < 8; i++)
      len = len << 8 | p[2 + i];
    n = 10;
  }
  if (avail - n < len)
    return 0;
  f->fin = p[0] >> 7;
  f->rsv = (p[0] >> 4) & 7;
  f->op = p[0] & 0x0F;
  f->data = p + n;
  f->len = (size_t)len;
  t->pos += n + (size_t)len;
  return 1;
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
  if (t->fd >= 0)
    close(t->fd);
  t->fd = -1;
}

static inline hub_ws_stats_t fx_ws_stats(fx_t *fx) {
  hub_ws_stats_t st;

  hub_ws_server_get_stats(fx->srv, &st);
  return st;
}

static inline hub_stats_t fx_hub_stats(fx_t *fx) {
  hub_stats_t st;

  hub_get_stats(fx->hub, &st);
  return st;
}

/* Close the server, then the hub from the server's callback, run the loop
 * dry, close the client sockets and free everything. Returns
 * uv_loop_close()'s result, or -1 if a close callback did not run exactly
 * once. */
static inline void fx_srv_closed_then_hub(hub_ws_server_t *srv) {
  fx_t *fx = hub_ws_server_get_data(srv);

  fx->srv_closed++;
  if (hub_close(fx->hub, 0, fx_on_hub_closed) != 0)
    abort();
}

static inline int fx_stop(fx_t *fx) {
  int i, r;

  /* Clients still connected answer nothing: do not wait for them. */
  for (i = 0; i < fx->ntc; i++)
    tc_close(&fx->tc[i]);
  if (fx->srv != NULL &&
      hub_ws_server_close(fx->srv, fx_srv_closed_then_hub) != 0)
    return -1;
  uv_run(&fx->loop, UV_RUN_DEFAULT);
  for (i = 0; i < fx->ntc; i++)
    free(fx->tc[i].in);
  r = uv_loop_close(&fx->loop);
  if (r != 0)
    return r;
  return fx->srv_closed == 1 && fx->hub_closed == 1 ? 0 : -1;
}

#endif /* HUB_WS_FIXTURE_H */
