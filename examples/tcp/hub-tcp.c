/* hub-tcp: the raw-TCP transport. See hub-tcp.h and docs/tcp.md.
 *
 * Accepting. The listening socket is the server's own, watched with a
 * uv_poll_t, rather than a uv_tcp_t given to uv_listen(): libuv's listener
 * offers no way to stop accepting for a while, and on EMFILE it accepts
 * and closes every pending connection to keep its loop from spinning.
 * Here an accept error pauses the poll and a timer resumes it, so
 * connections that arrive while descriptors are short wait in the kernel's
 * backlog and are served once some are free. Accepted sockets become
 * ordinary uv_tcp_t handles through uv_tcp_open().
 *
 * Idle timeout. Open connections sit on one list in the order they were
 * last heard from: a read moves its connection to the tail, so the head is
 * always the one silent for longest. One timer per server, armed for the
 * head's deadline, closes whatever has expired and re-arms itself: O(1)
 * per read, no per-connection timer (a uv_timer_t would cost 152 bytes a
 * connection) and no sweep over the connections that are still fresh.
 *
 * Lifetime. A connection is freed in its uv_close() callback, after
 * hub_client_closed(): libuv runs the callbacks of writes still queued
 * (with UV_ECANCELED) before that one, so the hub never sees a completion
 * for a freed client. The server is freed once its own handles and every
 * connection are closed. */
#include "hub-tcp.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "hub-tcp-lines.h"

#define HUB_TCP__READ_BUF (64 * 1024)
/* Accepts per poll callback, so that a burst of connections does not
 * starve the connections already open. */
#define HUB_TCP__ACCEPT_BATCH 64

typedef struct hub_tcp__link {
  struct hub_tcp__link *next;
  struct hub_tcp__link *prev;
} hub_tcp__link;

/* One connection: the uv handle, the hub client, and what the line reader
 * and the idle list need. Its data pointer is the server. */
typedef struct {
  uv_tcp_t tcp;
  hub_client_t *client; /* NULL until registered */
  hub_tcp__link node;   /* server->conns while open; self-linked after */
  hub_tcp_lines_t lines;
  uint32_t heard; /* uv_now() of the last read, truncated (mod 2^32) */
  uint8_t closing;
} hub_tcp__conn;

struct hub_tcp_server_s {
  uv_loop_t *loop;
  hub_t *hub;
  hub_tcp_options_t opts;
  void *data;

  uv_os_sock_t fd; /* listening socket, or -1 */
  uv_poll_t poll;
  uv_timer_t retry_timer;
  uv_timer_t idle_timer;
  uint8_t poll_init;
  uint8_t closing;
  uint8_t accept_failing; /* since the last successful accept */
  unsigned handles_open;
  hub_tcp_close_cb close_cb;

  hub_tcp__link conns; /* open connections, least recently heard first */
  hub_tcp_stats_t stats;

  char rbuf[HUB_TCP__READ_BUF]; /* shared by every connection's reads */
};

static int hub_tcp__frame(const hub_transport_t *tp, const hub_msg_t *msg,
                          hub_frame_t *frame);
static int hub_tcp__write(const hub_transport_t *tp, hub_client_t *client,
                          void *conn, uv_buf_t *bufs, unsigned int nbufs);
static void hub_tcp__close(const hub_transport_t *tp, hub_client_t *client,
                           void *conn);

static const hub_transport_t hub_tcp__transport = {
  "tcp", hub_tcp__frame, hub_tcp__write, hub_tcp__close, NULL
};

const hub_transport_t *hub_tcp_transport(void) {
  return &hub_tcp__transport;
}

/* ------------------------------------------------------------------------
 * The connection list
 * ------------------------------------------------------------------------ */

static void hub_tcp__link_init(hub_tcp__link *l) {
  l->next = l->prev = l;
}

static void hub_tcp__link_remove(hub_tcp__link *l) {
  l->prev->next = l->next;
  l->next->prev = l->prev;
  hub_tcp__link_init(l);
}

static void hub_tcp__link_tail(hub_tcp__link *head, hub_tcp__link *l) {
  l->next = head;
  l->prev = head->prev;
  l->prev->next = l;
  head->prev = l;
}

static hub_tcp__conn *hub_tcp__conn_of(hub_tcp__link *l) {
  return (hub_tcp__conn *)((char *)l - offsetof(hub_tcp__conn, node));
}

static void hub_tcp__log(hub_tcp_server_t *s, hub_client_t *client, int err,
                         const char *msg) {
  if (s->opts.on_log != NULL)
    s->opts.on_log(s, client, err, msg);
}

/* ------------------------------------------------------------------------
 * Idle timeout
 * ------------------------------------------------------------------------ */

static uint32_t hub_tcp__now32(const hub_tcp_server_t *s) {
  return (uint32_t)uv_now(s->loop);
}

static void hub_tcp__on_idle_timer(uv_timer_t *timer);

/* Arm the timer for the connection heard from longest ago. Differences
 * of truncated times are exact while below 2^32 ms, and the timeout is
 * at most INT32_MAX ms. */
static void hub_tcp__idle_arm(hub_tcp_server_t *s) {
  hub_tcp__conn *c;
  uint32_t silent;

  if (s->opts.idle_timeout_ms == 0 || s->closing)
    return;
  if (s->conns.next == &s->conns) {
    uv_timer_stop(&s->idle_timer);
    return;
  }
  c = hub_tcp__conn_of(s->conns.next);
  silent = hub_tcp__now32(s) - c->heard;
  uv_timer_start(&s->idle_timer, hub_tcp__on_idle_timer,
                 silent >= s->opts.idle_timeout_ms
                     ? 0
                     : s->opts.idle_timeout_ms - silent,
                 0);
}

static void hub_tcp__on_idle_timer(uv_timer_t *timer) {
  hub_tcp_server_t *s = timer->data;
  uint32_t now = hub_tcp__now32(s);
  hub_tcp__conn *c;
  char msg[96];

  while (s->conns.next != &s->conns) {
    c = hub_tcp__conn_of(s->conns.next);
    if (now - c->heard < s->opts.idle_timeout_ms)
      break;
    s->stats.idle_timeouts++;
    snprintf(msg, sizeof(msg), "silent for %llu ms, closing",
             (unsigned long long)(now - c->heard));
    hub_tcp__log(s, c->client, UV_ETIMEDOUT, msg);
    /* Closing unlinks the connection (hub_tcp__close()); unlink it here
     * too in case the log callback already closed it some other way. */
    if (!c->closing)
      client_close(c->client, UV_ETIMEDOUT);
    hub_tcp__link_remove(&c->node);
  }
  hub_tcp__idle_arm(s);
}

/* ------------------------------------------------------------------------
 * Reading
 * ------------------------------------------------------------------------ */

static void hub_tcp__on_alloc(uv_handle_t *handle, size_t suggested,
                              uv_buf_t *buf) {
  hub_tcp_server_t *s = handle->data;

  (void)suggested;
  *buf = uv_buf_init(s->rbuf, sizeof(s->rbuf));
}

static int hub_tcp__stopped(const hub_tcp__conn *c) {
  const hub_tcp_server_t *s = c->tcp.data;

  return c->closing || s->closing || client_is_closing(c->client);
}

static int hub_tcp__on_line(void *arg, const char *line, size_t len) {
  hub_tcp__conn *c = arg;
  hub_tcp_server_t *s = c->tcp.data;

  s->stats.lines++;
  if (s->opts.on_line != NULL)
    s->opts.on_line(s, c->client, line, len);
  return hub_tcp__stopped(c);
}

/* Close a client the line reader gave up on. */
static void hub_tcp__lines_failed(hub_tcp__conn *c, int err) {
  hub_tcp_server_t *s = c->tcp.data;
  char msg[96];

  if (err == UV_EMSGSIZE) {
    s->stats.lines_too_long++;
    snprintf(msg, sizeof(msg), "line longer than %zu bytes, closing",
             s->opts.max_line);
  } else {
    snprintf(msg, sizeof(msg), "cannot store a partial line (%s), closing",
             uv_strerror(err));
  }
  hub_tcp__log(s, c->client, err, msg);
  if (!c->closing)
    client_close(c->client, err);
}

static void hub_tcp__on_read(uv_stream_t *stream, ssize_t nread,
                             const uv_buf_t *buf) {
  hub_tcp__conn *c = (hub_tcp__conn *)stream;
  hub_tcp_server_t *s = stream->data;
  uint32_t before = c->lines.cap;
  char msg[96];
  int err = 0;

  if (nread == 0 || c->closing)
    return;
  if (nread > 0) {
    /* Input of a client that is shutting down is not heard any more. */
    if (hub_tcp__stopped(c))
      return;
    if (s->opts.idle_timeout_ms > 0) {
      c->heard = hub_tcp__now32(s);
      hub_tcp__link_remove(&c->node);
      hub_tcp__link_tail(&s->conns, &c->node);
    }
    err = hub_tcp__lines_feed(&c->lines, buf->base, (size_t)nread,
                              s->opts.max_line, hub_tcp__on_line, c);
  } else if (nread == UV_EOF && !hub_tcp__stopped(c)) {
    err = hub_tcp__lines_finish(&c->lines, s->opts.max_line,
                                hub_tcp__on_line, c);
  }
  s->stats.partial_bytes += c->lines.cap;
  s->stats.partial_bytes -= before;

  if (err != 0) {
    hub_tcp__lines_failed(c, err);
  } else if (nread < 0 && !c->closing) {
    /* Even a client that is shutting down is closed now: its peer will
     * not read what is left. */
    if (nread != UV_EOF) {
      snprintf(msg, sizeof(msg), "read failed (%s), closing",
               uv_strerror((int)nread));
      hub_tcp__log(s, c->client, (int)nread, msg);
    }
    client_close(c->client, (int)nread);
  }
}

/* ------------------------------------------------------------------------
 * The transport
 * ------------------------------------------------------------------------ */

static int hub_tcp__frame(const hub_transport_t *tp, const hub_msg_t *msg,
                          hub_frame_t *frame) {
  (void)tp;
  (void)msg;
  frame->tail[0] = '\n';
  frame->tail_len = 1;
  return 0;
}

static void hub_tcp__on_write(uv_write_t *req, int status) {
  hub_tcp__conn *c = (hub_tcp__conn *)req->handle;

  free(req);
  hub_client_write_done(c->client, status);
}

/* Write what the kernel takes now; queue the rest with uv_write(), which
 * only then needs a request (allocated per pending write: an idle or
 * keeping-up connection carries none). */
static int hub_tcp__write(const hub_transport_t *tp, hub_client_t *client,
                          void *conn, uv_buf_t *bufs, unsigned int nbufs) {
  hub_tcp__conn *c = conn;
  uv_write_t *req;
  size_t done;
  int r;

  (void)tp;
  (void)client;
  r = uv_try_write((uv_stream_t *)&c->tcp, bufs, nbufs);
  if (r == UV_EAGAIN)
    r = 0;
  else if (r < 0)
    return r;
  done = (size_t)r;
  while (nbufs > 0 && done >= bufs->len) {
    done -= bufs->len;
    bufs++;
    nbufs--;
  }
  if (nbufs == 0)
    return HUB_WRITE_DONE;
  bufs->base += done;
  bufs->len -= done;

  req = malloc(sizeof(*req));
  if (req == NULL)
    return UV_ENOMEM;
  r = uv_write(req, (uv_stream_t *)&c->tcp, bufs, nbufs, hub_tcp__on_write);
  if (r != 0) {
    free(req);
    return r;
  }
  return HUB_WRITE_PENDING;
}

static void hub_tcp__maybe_free(hub_tcp_server_t *s);

static void hub_tcp__on_conn_closed(uv_handle_t *handle) {
  hub_tcp__conn *c = (hub_tcp__conn *)handle;
  hub_tcp_server_t *s = handle->data;

  s->stats.partial_bytes -= c->lines.cap;
  hub_tcp__lines_reset(&c->lines);
  if (c->client != NULL)
    hub_client_closed(c->client);
  free(c);
  s->stats.connections--;
  hub_tcp__maybe_free(s);
}

static void hub_tcp__close(const hub_transport_t *tp, hub_client_t *client,
                           void *conn) {
  hub_tcp__conn *c = conn;

  (void)tp;
  (void)client;
  c->closing = 1;
  hub_tcp__link_remove(&c->node);
  uv_close((uv_handle_t *)&c->tcp, hub_tcp__on_conn_closed);
}

/* ------------------------------------------------------------------------
 * Accepting
 * ------------------------------------------------------------------------ */

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

/* Take one accepted socket: a handle, a hub client, reads. Returns 0 or
 * an error after which `fd` is closed and nothing is left. */
static int hub_tcp__add(hub_tcp_server_t *s, int fd) {
  hub_tcp__conn *c;
  int r;

  c = calloc(1, sizeof(*c));
  if (c == NULL) {
    close(fd);
    return UV_ENOMEM;
  }
  hub_tcp__link_init(&c->node);
  (void)uv_tcp_init(s->loop, &c->tcp);
  c->tcp.data = s;
  s->stats.connections++;
  r = uv_tcp_open(&c->tcp, fd);
  if (r != 0) {
    close(fd);
    goto fail;
  }
  (void)uv_tcp_nodelay(&c->tcp, 1);
  if (s->opts.send_buffer > 0) {
    int size = s->opts.send_buffer;
    (void)uv_send_buffer_size((uv_handle_t *)&c->tcp, &size);
  }
  r = uv_read_start((uv_stream_t *)&c->tcp, hub_tcp__on_alloc,
                    hub_tcp__on_read);
  if (r == 0)
    r = hub_register(s->hub, &hub_tcp__transport, c, &c->client);
  if (r != 0)
    goto fail;

  s->stats.accepted++;
  c->heard = hub_tcp__now32(s);
  hub_tcp__link_tail(&s->conns, &c->node);
  if (s->opts.idle_timeout_ms > 0 &&
      !uv_is_active((uv_handle_t *)&s->idle_timer))
    hub_tcp__idle_arm(s);
  if (s->opts.on_connect != NULL)
    s->opts.on_connect(s, c->client);
  return 0;

fail:
  /* No client: the close callback only frees. */
  c->closing = 1;
  uv_close((uv_handle_t *)&c->tcp, hub_tcp__on_conn_closed);
  return r;
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

/* ------------------------------------------------------------------------
 * The server
 * ------------------------------------------------------------------------ */

void hub_tcp_options_init(hub_tcp_options_t *opts) {
  if (opts == NULL)
    return;
  memset(opts, 0, sizeof(*opts));
  opts->max_line = 64 * 1024;
  opts->backlog = 511;
  opts->accept_retry_ms = 100;
}

int hub_tcp_server_new(hub_tcp_server_t **serverp, hub_t *hub,
                       const hub_tcp_options_t *opts) {
  hub_tcp_options_t defaults;
  hub_tcp_server_t *s;

  if (serverp == NULL || hub == NULL)
    return UV_EINVAL;
  if (opts == NULL) {
    hub_tcp_options_init(&defaults);
    opts = &defaults;
  }
  if (opts->max_line < 1 || opts->max_line > HUB_TCP_MAX_LINE_LIMIT ||
      opts->idle_timeout_ms > INT32_MAX || opts->backlog < 1 ||
      opts->send_buffer < 0 || opts->accept_retry_ms < 1)
    return UV_EINVAL;
  s = malloc(sizeof(*s));
  if (s == NULL)
    return UV_ENOMEM;
  memset(s, 0, offsetof(hub_tcp_server_t, rbuf));
  s->loop = hub_get_loop(hub);
  s->hub = hub;
  s->opts = *opts;
  s->data = opts->data;
  s->fd = -1;
  hub_tcp__link_init(&s->conns);
  /* Timer initialisation only links the handle into the loop. */
  (void)uv_timer_init(s->loop, &s->retry_timer);
  (void)uv_timer_init(s->loop, &s->idle_timer);
  s->retry_timer.data = s;
  s->idle_timer.data = s;
  s->handles_open = 2;
  *serverp = s;
  return 0;
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

int hub_tcp_server_start(hub_tcp_server_t *s, const struct sockaddr *addr) {
  uv_os_sock_t fd;
  int r;

  if (s == NULL || addr == NULL || s->closing || s->fd != -1)
    return UV_EINVAL;
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

int hub_tcp_server_getsockname(const hub_tcp_server_t *s,
                               struct sockaddr *name, int *namelen) {
  socklen_t len;

  if (s == NULL || name == NULL || namelen == NULL || *namelen < 0 ||
      s->fd == -1)
    return UV_EINVAL;
  len = (socklen_t)*namelen;
  if (getsockname(s->fd, name, &len) != 0)
    return uv_translate_sys_error(errno);
  if ((int)len > *namelen)
    return UV_ENOBUFS;
  *namelen = (int)len;
  return 0;
}

/* Free the server once nothing of it is left open. */
static void hub_tcp__maybe_free(hub_tcp_server_t *s) {
  hub_tcp_close_cb cb;

  if (!s->closing || s->handles_open > 0 || s->stats.connections > 0)
    return;
  cb = s->close_cb;
  if (cb != NULL)
    cb(s);
  free(s);
}

static void hub_tcp__on_handle_closed(uv_handle_t *handle) {
  hub_tcp_server_t *s = handle->data;

  s->handles_open--;
  hub_tcp__maybe_free(s);
}

int hub_tcp_server_close(hub_tcp_server_t *s, hub_tcp_close_cb cb) {
  hub_tcp__conn *c;

  if (s == NULL)
    return UV_EINVAL;
  if (s->closing)
    return HUB_ECLOSING;
  s->closing = 1;
  s->close_cb = cb;
  if (s->poll_init) {
    uv_close((uv_handle_t *)&s->poll, hub_tcp__on_handle_closed);
    /* uv_close() has removed the descriptor from the loop's poll set. */
    close(s->fd);
    s->fd = -1;
  }
  uv_close((uv_handle_t *)&s->retry_timer, hub_tcp__on_handle_closed);
  uv_close((uv_handle_t *)&s->idle_timer, hub_tcp__on_handle_closed);
  while (s->conns.next != &s->conns) {
    c = hub_tcp__conn_of(s->conns.next);
    if (!c->closing)
      client_close(c->client, 0);
    hub_tcp__link_remove(&c->node);
  }
  return 0;
}

hub_t *hub_tcp_server_get_hub(const hub_tcp_server_t *s) {
  return s != NULL ? s->hub : NULL;
}

void *hub_tcp_server_get_data(const hub_tcp_server_t *s) {
  return s != NULL ? s->data : NULL;
}

void hub_tcp_server_set_data(hub_tcp_server_t *s, void *data) {
  if (s != NULL)
    s->data = data;
}

void hub_tcp_server_get_stats(const hub_tcp_server_t *s,
                              hub_tcp_stats_t *stats) {
  if (s != NULL && stats != NULL)
    *stats = s->stats;
}

int hub_tcp_client_getpeername(const hub_client_t *client,
                               struct sockaddr *name, int *namelen) {
  hub_tcp__conn *c;

  if (client == NULL || client_get_transport(client) != &hub_tcp__transport)
    return UV_EINVAL;
  c = client_get_conn(client);
  if (c->closing)
    return UV_EBADF;
  return uv_tcp_getpeername(&c->tcp, name, namelen);
}
