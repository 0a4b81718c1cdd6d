/* A listening socket that pauses after accept errors. See hubx-listener.h.
 */
#include "hubx-listener.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <unistd.h>

#define HUBX__ACCEPT_BATCH 64

static void hubx__on_acceptable(uv_poll_t *poll, int status, int events);

static void hubx__on_handle_closed(uv_handle_t *handle) {
  hubx_listener_t *l = handle->data;

  if (--l->handles > 0)
    return;
  if (l->close_cb != NULL)
    l->close_cb(l);
}

void hubx_listener_init(hubx_listener_t *l, uv_loop_t *loop,
                        uint64_t retry_ms, unsigned batch,
                        hubx_accept_cb on_accept,
                        hubx_accept_error_cb on_error) {
  l->data = NULL;
  l->accept_errors = 0;
  l->loop = loop;
  l->fd = -1;
  l->retry_ms = retry_ms > 0 ? retry_ms : 1;
  l->batch = batch > 0 ? batch : HUBX__ACCEPT_BATCH;
  l->on_accept = on_accept;
  l->on_error = on_error;
  l->close_cb = NULL;
  l->failing = 0;
  l->closing = 0;
  /* Timer initialisation only links the handle into the loop. */
  (void)uv_timer_init(loop, &l->retry);
  l->retry.data = l;
  l->handles = 1;
}

static void hubx__on_retry(uv_timer_t *timer) {
  hubx_listener_t *l = timer->data;

  if (!l->closing)
    uv_poll_start(&l->poll, UV_READABLE, hubx__on_acceptable);
}

/* Stop accepting for retry_ms. Only the first failure of a streak is
 * reported: a shortage of descriptors can last, and retries come often. */
static void hubx__pause(hubx_listener_t *l, int err) {
  l->accept_errors++;
  uv_poll_stop(&l->poll);
  uv_timer_start(&l->retry, hubx__on_retry, l->retry_ms, 0);
  if (l->failing)
    return;
  l->failing = 1;
  if (l->on_error != NULL)
    l->on_error(l, err);
}

static int hubx__accept_fd(uv_os_sock_t lfd) {
  int fd;

  do {
#ifdef SOCK_CLOEXEC
    fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
#else
    fd = accept(lfd, NULL, NULL);
    if (fd >= 0) {
      (void)fcntl(fd, F_SETFD, FD_CLOEXEC);
      (void)fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    }
#endif
    /* A connection that failed while it waited in the backlog: try the
     * next one. */
  } while (fd < 0 &&
           (errno == EINTR || errno == ECONNABORTED || errno == EPROTO));
  return fd;
}

/* Whether a connection waits in the backlog. Linux's accept() fails with
 * EMFILE before it looks there, so the accept after the last waiting
 * connection can fail although nothing was refused. */
static int hubx__pending(uv_os_sock_t lfd) {
  struct pollfd p;
  int saved = errno, r;

  p.fd = lfd;
  p.events = POLLIN;
  p.revents = 0;
  r = poll(&p, 1, 0);
  errno = saved;
  return r != 0; /* an error of poll() itself counts as pending */
}

static void hubx__on_acceptable(uv_poll_t *poll, int status, int events) {
  hubx_listener_t *l = poll->data;
  unsigned i;
  int fd;

  (void)events;
  if (status < 0) {
    hubx__pause(l, status);
    return;
  }
  /* Either callback may close the listener: check after each. */
  for (i = 0; i < l->batch && !l->closing; i++) {
    fd = hubx__accept_fd(l->fd);
    if (fd < 0) {
      if (errno != EAGAIN && errno != EWOULDBLOCK && hubx__pending(l->fd))
        hubx__pause(l, uv_translate_sys_error(errno));
      return;
    }
    if (l->failing) {
      l->failing = 0;
      if (l->on_error != NULL)
        l->on_error(l, 0);
      if (l->closing) {
        close(fd);
        return;
      }
    }
    l->on_accept(l, fd);
  }
}

static int hubx__listen_socket(const struct sockaddr *addr, int backlog,
                               uv_os_sock_t *fdp) {
  socklen_t len;
  int fd, on = 1, err;

  if (addr->sa_family == AF_INET)
    len = sizeof(struct sockaddr_in);
  else if (addr->sa_family == AF_INET6)
    len = sizeof(struct sockaddr_in6);
  else
    return UV_EINVAL;
#ifdef SOCK_CLOEXEC
  fd = socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
#else
  fd = socket(addr->sa_family, SOCK_STREAM, 0);
  if (fd >= 0) {
    (void)fcntl(fd, F_SETFD, FD_CLOEXEC);
    (void)fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  }
#endif
  if (fd < 0)
    return uv_translate_sys_error(errno);
  /* As libuv does for its listeners: a restarted server can bind again
   * while connections of its previous run linger in TIME_WAIT. */
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) != 0 ||
      bind(fd, addr, len) != 0 || listen(fd, backlog) != 0) {
    err = uv_translate_sys_error(errno);
    close(fd);
    return err;
  }
  *fdp = fd;
  return 0;
}

int hubx_listener_start(hubx_listener_t *l, const struct sockaddr *addr,
                        int backlog) {
  uv_os_sock_t fd = -1;
  int r;

  if (addr == NULL || l->closing || l->fd != -1)
    return UV_EINVAL;
  r = hubx__listen_socket(addr, backlog, &fd);
  if (r != 0)
    return r;
  r = uv_poll_init_socket(l->loop, &l->poll, fd);
  if (r != 0) {
    close(fd);
    return r;
  }
  l->poll.data = l;
  l->handles++;
  l->fd = fd;
  /* Cannot fail on a freshly initialised handle and a valid socket. */
  return uv_poll_start(&l->poll, UV_READABLE, hubx__on_acceptable);
}

int hubx_listener_getsockname(const hubx_listener_t *l,
                              struct sockaddr *name, int *namelen) {
  socklen_t len;

  if (name == NULL || namelen == NULL || *namelen < 0 || l->fd == -1)
    return UV_EINVAL;
  len = (socklen_t)*namelen;
  if (getsockname(l->fd, name, &len) != 0)
    return uv_translate_sys_error(errno);
  if ((int)len > *namelen)
    return UV_ENOBUFS;
  *namelen = (int)len;
  return 0;
}

void hubx_listener_close(hubx_listener_t *l, hubx_listener_close_cb cb) {
  if (l->closing)
    return;
  l->closing = 1;
  l->close_cb = cb;
  uv_close((uv_handle_t *)&l->retry, hubx__on_handle_closed);
  if (l->fd == -1)
    return;
  uv_close((uv_handle_t *)&l->poll, hubx__on_handle_closed);
  /* uv_close() has removed the descriptor from the loop's poll set: it
   * can go now, and the port is free at once. */
  close(l->fd);
  l->fd = -1;
}
