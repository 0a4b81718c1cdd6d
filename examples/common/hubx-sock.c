/* A connected TCP socket on a uv_poll_t. See hubx-sock.h. */
#include "hubx-sock.h"

#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
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

/* Reads per readable event, at most: a connection sending fast does not
 * keep the loop from the others. */
#define HUBX__READS_PER_EVENT 16

/* The two bits of the handle's data pointer. */
#define HUBX__WQ ((uintptr_t)1)         /* it points to a hubx__wq */
#define HUBX__READ_ENDED ((uintptr_t)2) /* reading has ended */
#define HUBX__BITS (HUBX__WQ | HUBX__READ_ENDED)

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
  if (!hubx__read_ended(sock))
    events |= UV_READABLE;
  if (hubx__wq_of(sock) != NULL)
    events |= UV_WRITABLE;
  if (events != 0)
    (void)uv_poll_start(&sock->poll, events, hubx__on_events);
  else
    (void)uv_poll_stop(&sock->poll);
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
                          (hubx__word(sock) & HUBX__READ_ENDED));
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
  hubx__set_word(sock, (uintptr_t)ctx |
                          (hubx__word(sock) & HUBX__READ_ENDED));
  hub_mem_free(ctx->hub, wq);
}

void hubx_sock_close(hubx_sock_t *sock, uv_close_cb cb) {
  int fd = hubx__fd(sock);

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

static void hubx__on_readable(hubx_sock_t *sock) {
  hubx_sock_ctx_t *ctx = hubx__ctx(sock);
  int fd = hubx__fd(sock), n;
  ssize_t r;

  for (n = 0; n < HUBX__READS_PER_EVENT; n++) {
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
    /* A short read drained the socket, most likely; the owner may also
     * have closed it or stopped reading. */
    if ((size_t)r < ctx->rbuf_len || uv_is_closing((uv_handle_t *)&sock->poll))
      return;
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
      !uv_is_closing((uv_handle_t *)poll))
    hubx__on_readable(sock);
}
