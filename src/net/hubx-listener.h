/* A listening TCP socket that survives running out of descriptors, shared
 * by the adapters (hub::tcp, hub::ws). Not part of libhub's API.
 *
 * libuv's own listener (uv_listen()) offers no way to stop accepting for
 * a while, and on EMFILE it accepts and closes every pending connection to
 * keep its loop from spinning: under a shortage of descriptors, clients
 * are refused although they could be served a moment later. This one
 * watches its own socket with a uv_poll_t instead. An accept error pauses
 * the poll and a timer resumes it, so connections that arrive while
 * descriptors are short wait in the kernel's backlog and are served once
 * some are free. Accepted sockets are handed over as descriptors, for the
 * adapter to make them uv_tcp_t handles with uv_tcp_open().
 *
 * The listener lives inside its owner (no allocation): hubx_listener_init()
 * it, hubx_listener_start() it, and always hubx_listener_close() it; its
 * close callback runs once both of its handles are closed. */
#ifndef HUBX_LISTENER_H
#define HUBX_LISTENER_H

#include <stdint.h>
#include <sys/socket.h>

#include <uv.h>

typedef struct hubx_listener_s hubx_listener_t;

/* A connection was accepted: `fd` is a connected, non-blocking,
 * close-on-exec socket, now the callee's. The callback may close the
 * listener. */
typedef void (*hubx_accept_cb)(hubx_listener_t *l, uv_os_sock_t fd);

/* Accepting failed with `err` (UV_EMFILE, UV_ENFILE, UV_ENOBUFS,
 * UV_ENOMEM, ...): the listener has paused and retries every retry_ms.
 * Only the first failure of a streak is reported. With `err` 0: accepting
 * works again after failing. The callback may close the listener. */
typedef void (*hubx_accept_error_cb)(hubx_listener_t *l, int err);

typedef void (*hubx_listener_close_cb)(hubx_listener_t *l);

struct hubx_listener_s {
  void *data;             /* the owner's */
  uint64_t accept_errors; /* failed accepts, each followed by a pause */
  /* Private. */
  uv_loop_t *loop;
  uv_os_sock_t fd; /* -1 until started, and once closed */
  uv_poll_t poll;
  uv_timer_t retry;
  uint64_t retry_ms;
  unsigned batch;
  hubx_accept_cb on_accept;
  hubx_accept_error_cb on_error;
  hubx_listener_close_cb close_cb;
  unsigned handles; /* open handles: the timer, and the poll once started */
  uint8_t failing, closing;
};

/* Prepare `l` on `loop`: accepted connections go to `on_accept` (at most
 * `batch` per loop iteration, so that a burst of connections does not
 * starve those already open; 0 means 64), accept errors pause accepting
 * for `retry_ms` (>= 1) and are reported to `on_error` (may be NULL).
 * Cannot fail; hubx_listener_close() must follow, whatever happens. */
void hubx_listener_init(hubx_listener_t *l, uv_loop_t *loop,
                        uint64_t retry_ms, unsigned batch,
                        hubx_accept_cb on_accept,
                        hubx_accept_error_cb on_error);

/* Bind to `addr` (IPv4 or IPv6, SO_REUSEADDR as libuv's listeners) and
 * listen with `backlog`. Once only. Returns 0, UV_EINVAL (an unknown
 * address family, already started, closing) or the error of socket(2),
 * bind(2), listen(2) or uv_poll_init_socket(); the listener is then left
 * as it was. */
int hubx_listener_start(hubx_listener_t *l, const struct sockaddr *addr,
                        int backlog);

/* The bound address, as getsockname(2): *namelen is the size of `name` on
 * entry, the address's on return. Errors: UV_EINVAL (not listening),
 * UV_ENOBUFS (`name` too small), or getsockname(2)'s. */
int hubx_listener_getsockname(const hubx_listener_t *l,
                              struct sockaddr *name, int *namelen);

/* Stop accepting and close the socket at once (the port is free on
 * return); `cb` (may be NULL) runs once the handles are closed, never from
 * inside this call. Once only. */
void hubx_listener_close(hubx_listener_t *l, hubx_listener_close_cb cb);

#endif /* HUBX_LISTENER_H */
