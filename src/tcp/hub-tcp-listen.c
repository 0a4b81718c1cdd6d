/* hub-tcp's accepting: the shared pausing listener (hubx-listener.h) hands
 * over accepted sockets, which the limits admit (hub-tcp-limits.c) and
 * become connections (hub-tcp-conn.c), and reports accept errors, which
 * are logged. After an error the listener
 * pauses for accept_retry_ms, so connections that arrive while
 * descriptors are short wait in the kernel's backlog and are served once
 * some are free. */
#include <stdio.h>

#include "hub-tcp-int.h"

static hub_tcp_server_t *hub_tcp__listener_server(hubx_listener_t *l) {
  return l->data;
}

static void hub_tcp__on_accept(hubx_listener_t *l, uv_os_sock_t fd) {
  hub_tcp_server_t *s = hub_tcp__listener_server(l);
  char msg[96];
  int r;

  r = hub_tcp__admit(s, fd);
  if (r == 0) {
    r = hub_tcp__add(s, fd);
    /* `fd` is closed, but its number cannot be taken again before this
     * returns: its slot is still its own. */
    if (r != 0)
      hub_tcp__release(s, fd);
  }
  if (r < 0) {
    snprintf(msg, sizeof(msg), "dropping a new connection (%s)",
             hub_strerror(r));
    hub_tcp__log(s, NULL, r, msg);
  }
}

/* The first failure of a streak, and its end: a shortage of descriptors
 * can last, and retries come ten times a second. */
static void hub_tcp__on_accept_error(hubx_listener_t *l, int err) {
  hub_tcp_server_t *s = hub_tcp__listener_server(l);
  char msg[96];

  if (err == 0) {
    hub_tcp__log(s, NULL, 0, "accepting again");
    return;
  }
  snprintf(msg, sizeof(msg),
           "accept failed (%s), retrying every %llu ms meanwhile",
           uv_strerror(err), (unsigned long long)s->opts.accept_retry_ms);
  hub_tcp__log(s, NULL, err, msg);
}

static void hub_tcp__on_listener_closed(hubx_listener_t *l) {
  hub_tcp_server_t *s = hub_tcp__listener_server(l);

  s->handles_open--;
  hub_tcp__maybe_free(s);
}

void hub_tcp__listen_init(hub_tcp_server_t *s) {
  hubx_listener_init(&s->listener, s->loop, s->opts.accept_retry_ms,
                     HUB_TCP__ACCEPT_BATCH, hub_tcp__on_accept,
                     hub_tcp__on_accept_error);
  s->listener.data = s;
  s->handles_open++;
}

int hub_tcp__listen(hub_tcp_server_t *s, const struct sockaddr *addr) {
  int r = hubx_listener_start(&s->listener, addr, s->opts.backlog);

  if (r == 0)
    s->started = 1;
  return r;
}

void hub_tcp__listen_close(hub_tcp_server_t *s) {
  hubx_listener_close(&s->listener, hub_tcp__on_listener_closed);
}
