/* hub-tcp's listening socket: accepting, and pausing after errors.
 *
 * The listening socket is the server's own, watched with a uv_poll_t,
 * rather than a uv_tcp_t given to uv_listen(): libuv's listener offers no
 * way to stop accepting for a while, and on EMFILE it accepts and closes
 * every pending connection to keep its loop from spinning. Here an accept
 * error pauses the poll and a timer resumes it, so connections that arrive
 * while descriptors are short wait in the kernel's backlog and are served
 * once some are free. Accepted sockets become ordinary uv_tcp_t handles
 * through uv_tcp_open() (hub-tcp-conn.c). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include "hub-tcp-int.h"

static void hub_tcp__on_acceptable(uv_poll_t *poll, int status, int events);

static void hub_tcp__on_retry(uv_timer_t *timer) {
  hub_tcp_server_t *s = timer->data;

  if (!s->closing)
    uv_poll_start(&s->poll, UV_READABLE, hub_tcp__on_acceptable);
}

/* Stop accepting for accept_retry_ms. Only the first failure of a streak
 * is logged, and the end of the streak: a shortage of descriptors can
 * last, and retries come ten times a second. */
static void hub_tcp__pause(hub_tcp_server_t *s, int err) {
  char msg[96];

  s->stats.accept_errors++;
  uv_poll_stop(&s->poll);
  uv_timer_start(&s->retry_timer, hub_tcp__on_retry, s->opts.accept_retry_ms,
                 0);
  if (s->accept_failing)
    return;
  s->accept_failing = 1;
  snprintf(msg, sizeof(msg),
           "accept failed (%s), retrying every %llu ms meanwhile",
           uv_strerror(err), (unsigned long long)s->opts.accept_retry_ms);
  hub_tcp__log(s, NULL, err, msg);
}

static int hub_tcp__accept_fd(uv_os_sock_t lfd) {
  int fd;

  do {
#ifdef SOCK_CLOEXEC
    fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
#else
    fd = accept(lfd, NULL, NULL);
    if (fd >= 0)
      (void)fcntl(fd, F_SETFD, FD_CLOEXEC);
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
static int hub_tcp__pending(uv_os_sock_t lfd) {
  struct pollfd p;
  int saved = errno, r;

  p.fd = lfd;
  p.events = POLLIN;
  p.revents = 0;
  r = poll(&p, 1, 0);
  errno = saved;
  return r != 0; /* an error of poll() itself counts as pending */
}

static void hub_tcp__on_acceptable(uv_poll_t *poll, int status, int events) {
  hub_tcp_server_t *s = poll->data;
  char msg[96];
  int i, fd, r;

  (void)events;
  if (status < 0) {
    hub_tcp__pause(s, status);
    return;
  }
  for (i = 0; i < HUB_TCP__ACCEPT_BATCH && !s->closing; i++) {
    fd = hub_tcp__accept_fd(s->fd);
    if (fd < 0) {
      if (errno != EAGAIN && errno != EWOULDBLOCK && hub_tcp__pending(s->fd))
        hub_tcp__pause(s, uv_translate_sys_error(errno));
      return;
    }
    if (s->accept_failing) {
      s->accept_failing = 0;
      hub_tcp__log(s, NULL, 0, "accepting again");
    }
    r = hub_tcp__add(s, fd);
    if (r != 0) {
      snprintf(msg, sizeof(msg), "dropping a new connection (%s)",
               hub_strerror(r));
      hub_tcp__log(s, NULL, r, msg);
    }
  }
}

static int hub_tcp__listen_socket(const struct sockaddr *addr, int backlog,
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

int hub_tcp__listen(hub_tcp_server_t *s, const struct sockaddr *addr) {
  uv_os_sock_t fd;
  int r;

  r = hub_tcp__listen_socket(addr, s->opts.backlog, &fd);
  if (r != 0)
    return r;
  r = uv_poll_init_socket(s->loop, &s->poll, fd);
  if (r != 0) {
    close(fd);
    return r;
  }
  s->poll.data = s;
  s->poll_init = 1;
  s->handles_open++;
  s->fd = fd;
  return uv_poll_start(&s->poll, UV_READABLE, hub_tcp__on_acceptable);
}

void hub_tcp__listen_close(hub_tcp_server_t *s) {
  if (!s->poll_init)
    return;
  uv_close((uv_handle_t *)&s->poll, hub_tcp__on_handle_closed);
  /* uv_close() has removed the descriptor from the loop's poll set: it
   * can go now, and the port is free at once. */
  close(s->fd);
  s->fd = -1;
}
