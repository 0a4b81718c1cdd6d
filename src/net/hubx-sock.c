/* A connected TCP socket on a uv_poll_t. See hubx-sock.h. */
#include "hubx-sock.h"

#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#ifndef IOV_MAX
#define IOV_MAX 1024
#endif

/* Writing to a socket the peer has reset must not raise SIGPIPE: per
 * call where the system has MSG_NOSIGNAL, per socket (SO_NOSIGPIPE, set
 * in hubx_sock_open()) where it has not. */
#ifndef MSG_NOSIGNAL
#define MSG_NOSIGNAL 0
#endif

/* The three bits of the handle's data pointer. */
#define HUBX__WQ ((uintptr_t)1)         /* it points to a hubx__wq */
#define HUBX__READ_ENDED ((uintptr_t)2) /* reading has ended */
#define HUBX__PAUSED ((uintptr_t)4)     /* reading waits for the hub */
#define HUBX__BITS (HUBX__WQ | HUBX__READ_ENDED | HUBX__PAUSED)
#define HUBX__FLAGS (HUBX__READ_ENDED | HUBX__PAUSED)

/* The rest of a write the socket did not take whole. */
typedef struct {
  hubx_sock_ctx_t *ctx;
  unsigned int i, n; /* next buffer, and the buffers */
  int shut;          /* a FIN follows it */
  uv_buf_t bufs[];   /* copies of the caller's: the bytes stay theirs */
} hubx__wq;

static void hubx__on_events(uv_poll_t *poll, int status, int events);

static uintptr_t hubx__word(const hubx_sock_t *sock) {
  return (uintptr_t)sock->poll.data;
}

static void hubx__set_word(hubx_sock_t *sock, uintptr_t w) {
  sock->poll.data = (void *)w;
}

static int hubx__read_ended(const hubx_sock_t *sock) {
  return (hubx__word(sock) & HUBX__READ_ENDED) != 0;
}

int hubx_sock_is_paused(const hubx_sock_t *sock) {
  return (hubx__word(sock) & HUBX__PAUSED) != 0;
}

static hubx__wq *hubx__wq_of(const hubx_sock_t *sock) {
  uintptr_t w = hubx__word(sock);

  return (w & HUBX__WQ) ? (hubx__wq *)(w & ~HUBX__BITS) : NULL;
}

static hubx_sock_ctx_t *hubx__ctx(const hubx_sock_t *sock) {
  uintptr_t w = hubx__word(sock);

  if (w & HUBX__WQ)
    return ((hubx__wq *)(w & ~HUBX__BITS))->ctx;
  return (hubx_sock_ctx_t *)(w & ~HUBX__BITS);
}

hubx_sock_ctx_t *hubx_sock_ctx(const hubx_sock_t *sock) {
  return hubx__ctx(sock);
}

static int hubx__fd(const hubx_sock_t *sock) {
  uv_os_fd_t fd = -1;

  (void)uv_fileno((const uv_handle_t *)&sock->poll, &fd);
  return fd;
}

/* Watch for what is wanted now: reading until it ended, writing while a
 * write is pending. */
static void hubx__watch(hubx_sock_t *sock) {
  int events = 0;

  if (uv_is_closing((uv_handle_t *)&sock->poll))
    return;
  if (!hubx__read_ended(sock) && !hubx_sock_is_paused(sock))
    events |= UV_READABLE;
  if (hubx__wq_of(sock) != NULL)
    events |= UV_WRITABLE;
  if (events != 0)
    (void)uv_poll_start(&sock->poll, events, hubx__on_events);
  else
    (void)uv_poll_stop(&sock->poll);
}

void hubx_sock_ctx_init(hubx_sock_ctx_t *ctx, hub_t *hub,
                        hubx_sock_read_cb on_read,
                        hubx_sock_write_cb on_write, char *rbuf,
                        size_t rbuf_len) {
  memset(ctx, 0, sizeof(*ctx));
  ctx->hub = hub;
  ctx->on_read = on_read;
  ctx->on_write = on_write;
  ctx->rbuf = rbuf;
  ctx->rbuf_len = rbuf_len;
}

/* ------------------------------------------------------------------------
 * Pausing: senders wait while the hub is congested
 * ------------------------------------------------------------------------ */

static void hubx__on_ready(hub_t *hub, void *arg);

/* The hub is touched only while the context is registered with it: a
 * server may be freed after its hub, once it has no connection left. */
void hubx_sock_ctx_close(hubx_sock_ctx_t *ctx) {
  if (ctx->registered)
    hub_cancel_ready(ctx->hub, hubx__on_ready, ctx);
  ctx->registered = 0;
  free(ctx->held);
  ctx->held = NULL;
  ctx->nheld = ctx->held_cap = 0;
}

static int hubx__hold(hubx_sock_ctx_t *ctx, hubx_sock_t *sock, char *rest,
                      size_t len) {
  hubx__held_t *h;
  size_t cap;

  if (ctx->nheld == ctx->held_cap) {
    cap = ctx->held_cap < 8 ? 8 : ctx->held_cap * 2;
    h = realloc(ctx->held, cap * sizeof(*h));
    if (h == NULL)
      return UV_ENOMEM;
    ctx->held = h;
    ctx->held_cap = cap;
  }
  ctx->held[ctx->nheld].sock = sock;
  ctx->held[ctx->nheld].rest = rest;
  ctx->held[ctx->nheld].len = len;
  ctx->nheld++;
  return 0;
}

int hubx_sock_pause(hubx_sock_t *sock, const char *rest, size_t len) {
  hubx_sock_ctx_t *ctx = hubx__ctx(sock);
  char *copy = NULL;
  int r;

  if (hubx_sock_is_paused(sock) || uv_is_closing((uv_handle_t *)&sock->poll))
    return UV_EINVAL;
  r = hub_on_ready(ctx->hub, hubx__on_ready, ctx);
  if (r != 0)
    return r == 1 ? UV_EBUSY : r;
  ctx->registered = 1;
  if (len > 0) {
    copy = hub_mem_alloc(ctx->hub, len);
    if (copy == NULL)
      return UV_ENOMEM;
    memcpy(copy, rest, len);
  }
  r = hubx__hold(ctx, sock, copy, len);
  if (r != 0) {
    hub_mem_free(ctx->hub, copy);
    return r;
  }
  hubx__set_word(sock, hubx__word(sock) | HUBX__PAUSED);
  hubx__watch(sock);
  return 0;
}

/* A paused socket closes: forget it and what it kept. */
static void hubx__unhold(hubx_sock_t *sock) {
  hubx_sock_ctx_t *ctx = hubx__ctx(sock);
  size_t i;

  if (!hubx_sock_is_paused(sock))
    return;
  hubx__set_word(sock, hubx__word(sock) & ~HUBX__PAUSED);
  for (i = 0; i < ctx->nheld; i++) {
    if (ctx->held[i].sock == sock) {
      hub_mem_free(ctx->hub, ctx->held[i].rest);
      ctx->nheld--;
      memmove(ctx->held + i, ctx->held + i + 1,
              (ctx->nheld - i) * sizeof(*ctx->held));
      return;
    }
  }
}

/* Hand a paused socket its kept bytes, then read again unless it paused
 * anew meanwhile. */
static void hubx__resume(hubx_sock_ctx_t *ctx, hubx__held_t h) {
  hubx_sock_t *sock = h.sock;

  hubx__set_word(sock, hubx__word(sock) & ~HUBX__PAUSED);
  if (h.len > 0)
    memcpy(ctx->rbuf, h.rest, h.len);
  hub_mem_free(ctx->hub, h.rest);
  ctx->on_read(sock, (ssize_t)h.len, ctx->rbuf);
  if (!uv_is_closing((uv_handle_t *)&sock->poll))
    hubx__watch(sock);
}

/* The hub is ready: resume the paused sockets, oldest first, while it
 * stays so; one that congests it again leaves the rest waiting (paused
 * again, registered again). */
static void hubx__on_ready(hub_t *hub, void *arg) {
  hubx_sock_ctx_t *ctx = arg;
  hubx__held_t h;

  ctx->registered = 0;
  while (ctx->nheld > 0) {
    if (hub_is_congested(hub) && !hub_is_closing(hub)) {
      if (hub_on_ready(hub, hubx__on_ready, ctx) == 0) {
        ctx->registered = 1;
        return;
      }
      /* No way to hear of the hub again: read on. */
    }
    h = ctx->held[0];
    ctx->nheld--;
    memmove(ctx->held, ctx->held + 1, ctx->nheld * sizeof(h));
    hubx__resume(ctx, h);
  }
}

int hubx_sock_open(hubx_sock_t *sock, hubx_sock_ctx_t *ctx, uv_loop_t *loop,
                   uv_os_sock_t fd, int send_buffer) {
  int one = 1, r;

  if ((uintptr_t)ctx & HUBX__BITS)
    return UV_EINVAL; /* its low bits are needed for the flags */
  r = uv_poll_init_socket(loop, &sock->poll, fd);
  if (r != 0)
    return r;
  sock->poll.data = ctx;
  (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
#ifdef SO_NOSIGPIPE
  (void)setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof(one));
#endif
  if (send_buffer > 0)
    (void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &send_buffer,
                     sizeof(send_buffer));
  hubx__watch(sock);
  return 0;
}

/* sendmsg() with as many buffers as one call takes, never raising
 * SIGPIPE. Returns the bytes written, 0 when the socket takes none now,
 * or a negative error. uv_buf_t is laid out as struct iovec on POSIX. */
static ssize_t hubx__send(int fd, const uv_buf_t *bufs, unsigned int nbufs) {
  struct msghdr mh;
  ssize_t r;

  memset(&mh, 0, sizeof(mh));
  mh.msg_iov = (struct iovec *)(uintptr_t)bufs;
  mh.msg_iovlen = nbufs < IOV_MAX ? nbufs : IOV_MAX;
  do
    r = sendmsg(fd, &mh, MSG_NOSIGNAL);
  while (r < 0 && errno == EINTR);
  if (r >= 0)
    return r;
  if (errno == EAGAIN || errno == EWOULDBLOCK)
    return 0;
  return uv_translate_sys_error(errno);
}

/* Skip `done` bytes of the buffers from *i on; returns nonzero once all
 * of them are written. */
static int hubx__advance(uv_buf_t *bufs, unsigned int *i, unsigned int n,
                         size_t done) {
  while (*i < n && done >= bufs[*i].len)
    done -= bufs[(*i)++].len;
  if (*i == n)
    return 1;
  bufs[*i].base += done;
  bufs[*i].len -= done;
  return 0;
}

int hubx_sock_write(hubx_sock_t *sock, uv_buf_t *bufs, unsigned int nbufs) {
  hubx__wq *wq;
  unsigned int i = 0;
  ssize_t r;

  if (uv_is_closing((uv_handle_t *)&sock->poll))
    return UV_ECANCELED;
  if (hubx__wq_of(sock) != NULL)
    return UV_EBUSY;
  r = hubx__send(hubx__fd(sock), bufs, nbufs);
  if (r < 0)
    return (int)r;
  if (hubx__advance(bufs, &i, nbufs, (size_t)r))
    return HUB_WRITE_DONE;
  wq = hub_mem_alloc(hubx__ctx(sock)->hub,
                     sizeof(*wq) + (nbufs - i) * sizeof(uv_buf_t));
  if (wq == NULL)
    return UV_ENOMEM;
  if ((uintptr_t)wq & HUBX__BITS) {
    /* An allocator that does not align as malloc() does. */
    hub_mem_free(hubx__ctx(sock)->hub, wq);
    return UV_EINVAL;
  }
  wq->ctx = hubx__ctx(sock);
  wq->i = 0;
  wq->n = nbufs - i;
  wq->shut = 0;
  memcpy(wq->bufs, bufs + i, wq->n * sizeof(uv_buf_t));
  hubx__set_word(sock, (uintptr_t)wq | HUBX__WQ |
                          (hubx__word(sock) & HUBX__FLAGS));
  hubx__watch(sock);
  return HUB_WRITE_PENDING;
}

int hubx_sock_try_write(hubx_sock_t *sock, const uv_buf_t *bufs,
                        unsigned int nbufs) {
  ssize_t r;

  if (uv_is_closing((uv_handle_t *)&sock->poll))
    return UV_ECANCELED;
  if (hubx__wq_of(sock) != NULL)
    return UV_EAGAIN;
  r = hubx__send(hubx__fd(sock), bufs, nbufs);
  if (r == 0)
    return UV_EAGAIN;
  return r > INT_MAX ? INT_MAX : (int)r;
}

int hubx_sock_shutdown(hubx_sock_t *sock) {
  hubx__wq *wq = hubx__wq_of(sock);

  if (uv_is_closing((uv_handle_t *)&sock->poll))
    return UV_ECANCELED;
  if (wq != NULL) {
    wq->shut = 1;
    return 0;
  }
  if (shutdown(hubx__fd(sock), SHUT_WR) != 0)
    return uv_translate_sys_error(errno);
  return 0;
}

/* Drop the pending write. */
static void hubx__wq_drop(hubx_sock_t *sock) {
  hubx__wq *wq = hubx__wq_of(sock);
  hubx_sock_ctx_t *ctx;

  if (wq == NULL)
    return;
  ctx = wq->ctx;
  hubx__set_word(sock, (uintptr_t)ctx | (hubx__word(sock) & HUBX__FLAGS));
  hub_mem_free(ctx->hub, wq);
}

void hubx_sock_close(hubx_sock_t *sock, uv_close_cb cb) {
  int fd = hubx__fd(sock);

  hubx__unhold(sock);
  hubx__wq_drop(sock);
  /* Closing a poll handle stops it: the descriptor is out of the loop's
   * poll set when uv_close() returns. */
  uv_close((uv_handle_t *)&sock->poll, cb);
  if (fd >= 0)
    close(fd);
}

int hubx_sock_is_closing(const hubx_sock_t *sock) {
  return uv_is_closing((const uv_handle_t *)&sock->poll);
}

int hubx_sock_getpeername(const hubx_sock_t *sock, struct sockaddr *name,
                          int *namelen) {
  socklen_t n;

  if (name == NULL || namelen == NULL || *namelen < 0)
    return UV_EINVAL;
  if (uv_is_closing((const uv_handle_t *)&sock->poll))
    return UV_EBADF;
  n = (socklen_t)*namelen;
  if (getpeername(hubx__fd(sock), name, &n) != 0)
    return uv_translate_sys_error(errno);
  *namelen = (int)n;
  return 0;
}

/* ------------------------------------------------------------------------
 * Events
 * ------------------------------------------------------------------------ */

/* The socket is writable: go on with the pending write. */
static void hubx__on_writable(hubx_sock_t *sock) {
  hubx__wq *wq = hubx__wq_of(sock);
  int fd = hubx__fd(sock), status = 0;
  ssize_t r;

  r = hubx__send(fd, wq->bufs + wq->i, wq->n - wq->i);
  if (r < 0)
    status = (int)r;
  else if (!hubx__advance(wq->bufs, &wq->i, wq->n, (size_t)r))
    return;
  /* A FIN that cannot be sent means the peer is gone: reading says so. */
  if (status == 0 && wq->shut)
    (void)shutdown(fd, SHUT_WR);
  hubx__wq_drop(sock);
  hubx__watch(sock);
  hubx__ctx(sock)->on_write(sock, status);
}

/* Reading has ended, with UV_EOF or an error: tell the owner once. */
static void hubx__read_end(hubx_sock_t *sock, int err) {
  hubx__set_word(sock, hubx__word(sock) | HUBX__READ_ENDED);
  hubx__watch(sock);
  hubx__ctx(sock)->on_read(sock, err, NULL);
}

/* One read per readable event: a connection's input is handed on in
 * slices of at most rbuf_len bytes per loop iteration, each followed by
 * the hub's flush, so that a sender cannot outrun the writes to its
 * readers, nor keep the loop from the other connections. */
static void hubx__on_readable(hubx_sock_t *sock) {
  hubx_sock_ctx_t *ctx = hubx__ctx(sock);
  int fd = hubx__fd(sock);
  ssize_t r;

  do
    r = recv(fd, ctx->rbuf, ctx->rbuf_len, 0);
  while (r < 0 && errno == EINTR);
  if (r < 0) {
    if (errno != EAGAIN && errno != EWOULDBLOCK)
      hubx__read_end(sock, uv_translate_sys_error(errno));
    return;
  }
  if (r == 0) {
    hubx__read_end(sock, UV_EOF);
    return;
  }
  ctx->on_read(sock, r, ctx->rbuf);
}

/* What the peer sent before its connection failed (a reset that came
 * after its last bytes) is still in the socket's receive queue: read and
 * handed on before the failure is told, so that nothing it sent in time
 * is lost. Not while reading is paused (the hub is congested): what is
 * left then goes with the connection. Error path only. */
static void hubx__drain(hubx_sock_t *sock) {
  hubx_sock_ctx_t *ctx = hubx__ctx(sock);
  int fd = hubx__fd(sock);
  ssize_t r;

  while (fd >= 0 && !hubx__read_ended(sock) && !hubx_sock_is_paused(sock) &&
         !uv_is_closing((uv_handle_t *)sock)) {
    do
      r = recv(fd, ctx->rbuf, ctx->rbuf_len, 0);
    while (r < 0 && errno == EINTR);
    if (r <= 0)
      return;
    ctx->on_read(sock, r, ctx->rbuf);
  }
}

static void hubx__on_events(uv_poll_t *poll, int status, int events) {
  hubx_sock_t *sock = (hubx_sock_t *)poll;
  int err, fd;
  socklen_t n = sizeof(err);

  if (status < 0) {
    /* An error condition on the socket (libuv has stopped the poll):
     * its pending error says which. */
    fd = hubx__fd(sock);
    err = 0;
    if (fd < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &n) != 0 ||
        err == 0)
      err = -status == 0 ? ECONNRESET : -status;
    err = uv_translate_sys_error(err);
    hubx__drain(sock); /* its pending error read above: data, then EOF */
    /* The owner hears of it once: through the pending write if there is
     * one (which must not be left hanging), else through reading. */
    if (hubx__wq_of(sock) != NULL) {
      hubx__wq_drop(sock);
      hubx__watch(sock);
      hubx__ctx(sock)->on_write(sock, err);
    }
    if (!hubx__read_ended(sock) && !uv_is_closing((uv_handle_t *)poll))
      hubx__read_end(sock, err);
    return;
  }
  if ((events & UV_WRITABLE) && hubx__wq_of(sock) != NULL)
    hubx__on_writable(sock);
  if ((events & UV_READABLE) && !hubx__read_ended(sock) &&
      !hubx_sock_is_paused(sock) && !uv_is_closing((uv_handle_t *)poll))
    hubx__on_readable(sock);
}
