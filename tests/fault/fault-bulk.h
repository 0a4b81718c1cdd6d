/* Many client connections at once, for the storm tests: opened with at
 * most FB_INFLIGHT connects pending (so that the server's backlog never
 * overflows and no SYN waits for a retransmission), each taken as far as
 * asked (connected; upgraded; or half-way through its request or line),
 * then all dropped at once with a reset or a FIN. Plain sockets and
 * epoll, no libuv: it runs in a process of its own, next to the server's.
 * Header-only, Linux only. */
#ifndef HUB_FAULT_BULK_H
#define HUB_FAULT_BULK_H

#include <poll.h>
#include <sys/epoll.h>

#include "fault-sys.h"

#define FB_INFLIGHT 256

enum { FB_TCP = 0, FB_WS = 1 };

/* How far each connection goes before the drop. */
enum {
  FB_FULL = 0,   /* TCP: connected; WebSocket: 101 received */
  FB_PARTIAL = 1 /* connected and half of a request (or of a line) sent */
};

/* How they are dropped. */
enum { FB_RST = 0, FB_FIN = 1, FB_MIXED = 2 };

enum { FB_IDLE, FB_CONNECTING, FB_WAITING, FB_DONE, FB_FAILED };

typedef struct {
  int fd;
  uint8_t state;
  uint8_t tries;
  uint8_t match; /* bytes of "\r\n\r\n" matched */
  uint8_t status_ok;
} fb_conn_t;

typedef struct {
  int port, proto, mode;
  int n;
  fb_conn_t *c;
  int epfd;
  int done, failed;
} fb_t;

static const char fb_partial_ws[] = "GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\n";
static const char fb_partial_line[] = "half a li";

static inline int fb_start_one(fb_t *b, int i) {
  struct epoll_event ev;
  fb_conn_t *c = &b->c[i];

  c->fd = fs_connect_nb(b->port, 0);
  c->match = 0;
  c->status_ok = 0;
  c->tries++;
  if (c->fd < 0) {
    c->state = FB_FAILED;
    return -1;
  }
  c->state = FB_CONNECTING;
  ev.events = EPOLLOUT;
  ev.data.u32 = (uint32_t)i;
  if (epoll_ctl(b->epfd, EPOLL_CTL_ADD, c->fd, &ev) != 0) {
    close(c->fd);
    c->fd = -1;
    c->state = FB_FAILED;
    return -1;
  }
  return 0;
}

/* The connection is up: send what its mode asks, and wait for the 101 if
 * it must. */
static inline void fb_connected(fb_t *b, int i) {
  struct epoll_event ev;
  fb_conn_t *c = &b->c[i];
  const char *p = NULL;
  size_t len = 0;

  if (b->proto == FB_WS)
    p = b->mode == FB_FULL ? FS_WS_REQUEST : fb_partial_ws;
  else if (b->mode == FB_PARTIAL)
    p = fb_partial_line;
  if (p != NULL) {
    len = strlen(p);
    /* A fresh socket's buffer takes this much at once. */
    if (send(c->fd, p, len, MSG_NOSIGNAL) != (ssize_t)len) {
      c->state = FB_FAILED;
      return;
    }
  }
  if (b->proto == FB_WS && b->mode == FB_FULL) {
    ev.events = EPOLLIN;
    ev.data.u32 = (uint32_t)i;
    (void)epoll_ctl(b->epfd, EPOLL_CTL_MOD, c->fd, &ev);
    c->state = FB_WAITING;
    return;
  }
  (void)epoll_ctl(b->epfd, EPOLL_CTL_DEL, c->fd, NULL);
  c->state = FB_DONE;
  b->done++;
}

/* Read the response: done at the end of its head, if it was a 101. */
static inline void fb_readable(fb_t *b, int i) {
  static const char end[] = "\r\n\r\n";
  fb_conn_t *c = &b->c[i];
  char buf[512];
  ssize_t n, k;

  n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);
  if (n <= 0) {
    if (n == 0 || (errno != EAGAIN && errno != EINTR))
      c->state = FB_FAILED;
    return;
  }
  if (c->match == 0 && !c->status_ok)
    c->status_ok = n >= 12 && memcmp(buf, "HTTP/1.1 101", 12) == 0 ? 1 : 2;
  for (k = 0; k < n && c->match < 4; k++)
    c->match = buf[k] == end[c->match] ? c->match + 1
                                       : (buf[k] == '\r' ? 1 : 0);
  if (c->match == 4) {
    (void)epoll_ctl(b->epfd, EPOLL_CTL_DEL, c->fd, NULL);
    c->state = c->status_ok == 1 ? FB_DONE : FB_FAILED;
    if (c->state == FB_DONE)
      b->done++;
  }
}

/* Open `n` connections to 127.0.0.1:port and take each as far as `mode`
 * asks, within `ms` milliseconds. A connection that fails is tried again
 * (three times in all). Returns how many made it; the others count in
 * b->failed. */
static inline int fb_open(fb_t *b, int proto, int port, int n, int mode,
                          uint64_t ms) {
  struct epoll_event ev[256];
  uint64_t deadline = ts_now_ms() + ms;
  int next = 0, pending = 0, i, k, m, r;

  memset(b, 0, sizeof(*b));
  b->port = port;
  b->proto = proto;
  b->mode = mode;
  b->n = n;
  b->c = calloc((size_t)n, sizeof(*b->c));
  b->epfd = epoll_create1(EPOLL_CLOEXEC);
  if (b->c == NULL || b->epfd < 0)
    abort();
  for (i = 0; i < n; i++)
    b->c[i].fd = -1;
  while ((next < n || pending > 0) && ts_now_ms() < deadline) {
    while (next < n && pending < FB_INFLIGHT) {
      if (fb_start_one(b, next) == 0)
        pending++;
      next++;
    }
    m = epoll_wait(b->epfd, ev, 256, 10);
    for (k = 0; k < m; k++) {
      i = (int)ev[k].data.u32;
      if (b->c[i].state == FB_CONNECTING) {
        r = ts_connected(b->c[i].fd);
        if (r == 0)
          continue;
        if (r > 0)
          fb_connected(b, i);
        else
          b->c[i].state = FB_FAILED;
      } else if (b->c[i].state == FB_WAITING) {
        fb_readable(b, i);
      }
      if (b->c[i].state == FB_FAILED) {
        (void)epoll_ctl(b->epfd, EPOLL_CTL_DEL, b->c[i].fd, NULL);
        fs_close_rst(b->c[i].fd);
        b->c[i].fd = -1;
        if (b->c[i].tries < 3 && fb_start_one(b, i) == 0)
          continue;
        b->c[i].state = FB_FAILED;
      }
      if (b->c[i].state == FB_DONE || b->c[i].state == FB_FAILED)
        pending--;
    }
  }
  for (i = 0; i < n; i++)
    if (b->c[i].state != FB_DONE)
      b->failed++;
  return b->done;
}

/* Drop every connection at once: all with a reset, all with a FIN, or
 * alternately. */
static inline void fb_drop(fb_t *b, int how) {
  int i;

  for (i = 0; i < b->n; i++) {
    if (b->c[i].fd < 0)
      continue;
    if (how == FB_RST || (how == FB_MIXED && i % 2 == 0))
      fs_close_rst(b->c[i].fd);
    else
      fs_close_fin(b->c[i].fd);
    b->c[i].fd = -1;
  }
  close(b->epfd);
  free(b->c);
  b->c = NULL;
}

/* Wait up to `ms` for `fd` to be readable (or writable): 1, 0 on timeout. */
static inline int fb_wait_fd(int fd, short events, int ms) {
  struct pollfd p = {fd, events, 0};

  return poll(&p, 1, ms) > 0;
}

/* A new client talks to the server, with plain blocking steps bounded by
 * `ms` each: connects, upgrades (WebSocket), sends one message, and gets
 * it back. Returns 0 if it was served, -1 if not. */
static inline int fb_probe(int proto, int port, int ms) {
  uint8_t out[128], in[4096];
  const char *text = "probe";
  size_t got = 0, n;
  int fd = fs_connect_nb(port, 0), ok = -1;
  ssize_t r;

  if (fd < 0)
    return -1;
  if (!fb_wait_fd(fd, POLLOUT, ms) || ts_connected(fd) != 1)
    goto done;
  if (proto == FB_WS) {
    if (send(fd, FS_WS_REQUEST, sizeof(FS_WS_REQUEST) - 1, MSG_NOSIGNAL) !=
        (ssize_t)(sizeof(FS_WS_REQUEST) - 1))
      goto done;
    /* The 101, whole. */
    for (;;) {
      if (!fb_wait_fd(fd, POLLIN, ms))
        goto done;
      r = recv(fd, in + got, sizeof(in) - got - 1, 0);
      if (r <= 0)
        goto done;
      got += (size_t)r;
      in[got] = '\0';
      if (strstr((char *)in, "\r\n\r\n") != NULL)
        break;
    }
    if (memcmp(in, "HTTP/1.1 101", 12) != 0)
      goto done;
    got -= (size_t)((uint8_t *)strstr((char *)in, "\r\n\r\n") + 4 - in);
    memmove(in, strstr((char *)in, "\r\n\r\n") + 4, got);
    n = ts_ws_frame(out, 1, 0x1, text, strlen(text));
  } else {
    n = (size_t)snprintf((char *)out, sizeof(out), "%s\n", text);
  }
  if (send(fd, out, n, MSG_NOSIGNAL) != (ssize_t)n)
    goto done;
  /* The echo, after whatever else the server may send a newcomer. */
  while (memmem(in, got, text, strlen(text)) == NULL) {
    if (got == sizeof(in) || !fb_wait_fd(fd, POLLIN, ms))
      goto done;
    r = recv(fd, in + got, sizeof(in) - got, 0);
    if (r <= 0)
      goto done;
    got += (size_t)r;
  }
  ok = 0;
done:
  fs_close_fin(fd);
  return ok;
}

#endif /* HUB_FAULT_BULK_H */
