/* hub-tcp: the raw-TCP transport's server. See hub-tcp.h and docs/tcp.md.
 *
 * The adapter is five files: this one (options, the server's lifecycle),
 * hub-tcp-listen.c (accepting, through the shared pausing listener),
 * hub-tcp-conn.c (connections: lines in, the transport), hub-tcp-timer.c
 * (the idle and line timeouts) and hub-tcp-limits.c (connections per
 * address, lines a second). The server is freed once its own handles and
 * every connection are closed.
 *
 * Memory. What a peer's input or a slow peer makes a connection hold (its
 * partial line, its write requests) comes from the hub's allocator
 * (hub_mem_alloc()), so that it is counted, limited or failed with the
 * hub's own queues. The connection object, one of fixed size per
 * descriptor, and the server with its read buffer come from malloc(); the
 * server may outlive the hub by a moment (hub_close()'s callback may close
 * it). */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "hub-tcp-int.h"
#include "hubx-api.h"

void hub_tcp_options_init(hub_tcp_options_t *opts) {
  if (opts == NULL)
    return;
  memset(opts, 0, sizeof(*opts));
  opts->max_line = 64 * 1024;
  opts->backlog = 511;
  opts->accept_retry_ms = 100;
  opts->line_timeout_ms = 30 * 1000;
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
      opts->send_buffer < 0 || opts->accept_retry_ms < 1 ||
      opts->line_timeout_ms > INT32_MAX ||
      opts->max_msg_rate > HUBX_LIMITS_MAX_RATE ||
      opts->msg_burst > HUBX_LIMITS_MAX_RATE)
    return UV_EINVAL;
  s = malloc(sizeof(*s));
  if (s == NULL)
    return UV_ENOMEM;
  memset(s, 0, offsetof(hub_tcp_server_t, rbuf));
  s->loop = hub_get_loop(hub);
  s->hub = hub;
  s->opts = *opts;
  s->data = opts->data;
  hub__queue_init(&s->conns);
  hub__queue_init(&s->lines);
  /* A pending line is timed instead of its connection's silence: the
   * shorter deadline must be the line's (hub-tcp-timer.c). */
  s->line_timeout = opts->line_timeout_ms;
  if (opts->idle_timeout_ms > 0 && opts->idle_timeout_ms < s->line_timeout)
    s->line_timeout = opts->idle_timeout_ms;
  hubx_limits_init(&s->limits, hub, opts->max_conns_per_ip,
                   opts->max_msg_rate,
                   opts->msg_burst > 0 ? opts->msg_burst : opts->max_msg_rate);
  s->lines_mem = hubx_mem_of_hub(hub);
  hubx_sock_ctx_init(&s->sock_ctx, hub, hub_tcp__on_read, hub_tcp__on_write,
                     s->rbuf, sizeof(s->rbuf));
  /* Timer initialisation only links the handle into the loop. */
  (void)uv_timer_init(s->loop, &s->timer);
  s->timer.data = s;
  s->handles_open = 1;
  hub_tcp__listen_init(s);
  *serverp = s;
  return 0;
}

int hub_tcp_server_start(hub_tcp_server_t *s, const struct sockaddr *addr) {
  if (s == NULL || addr == NULL || s->closing || s->started)
    return UV_EINVAL;
  return hub_tcp__listen(s, addr);
}

int hub_tcp_server_getsockname(const hub_tcp_server_t *s,
                               struct sockaddr *name, int *namelen) {
  if (s == NULL)
    return UV_EINVAL;
  return hubx_listener_getsockname(&s->listener, name, namelen);
}

/* Free the server once nothing of it is left open. */
void hub_tcp__maybe_free(hub_tcp_server_t *s) {
  hub_tcp_close_cb cb;

  if (!s->closing || s->handles_open > 0 || s->stats.connections > 0)
    return;
  cb = s->close_cb;
  if (cb != NULL)
    cb(s);
  free(s);
}

void hub_tcp__on_handle_closed(uv_handle_t *handle) {
  hub_tcp_server_t *s = handle->data;

  s->handles_open--;
  hub_tcp__maybe_free(s);
}

static void hub_tcp__close_all(hub__queue *list) {
  hub_tcp__conn *c;

  while (list->next != list) {
    c = hub_tcp__conn_of(list->next);
    if (!hubx_sock_is_closing(&c->sock))
      client_close(c->client, 0);
    hub__queue_remove(&c->node);
  }
}

int hub_tcp_server_close(hub_tcp_server_t *s, hub_tcp_close_cb cb) {
  int err;

  if ((err = HUBX_CLOSE_BEGIN(s, cb)) != 0)
    return err;
  hub_tcp__listen_close(s);
  uv_close((uv_handle_t *)&s->timer, hub_tcp__on_handle_closed);
  hub_tcp__close_all(&s->conns);
  hub_tcp__close_all(&s->lines);
  /* Now, while the hub is sure to be there: the server may outlive it.
   * A client still draining (client_shutdown()) releases nothing later.
   * Every socket is closed: none waits for the hub any more. */
  hubx_limits_free(&s->limits);
  hubx_sock_ctx_close(&s->sock_ctx);
  return 0;
}

HUB__GETTER(hub_t *, hub_tcp_server_get_hub, hub_tcp_server_t, hub, NULL)
HUB__GETTER(void *, hub_tcp_server_get_data, hub_tcp_server_t, data, NULL)
HUB__SETTER(void *, hub_tcp_server_set_data, hub_tcp_server_t, data)

void hub_tcp_server_get_stats(const hub_tcp_server_t *s,
                              hub_tcp_stats_t *stats) {
  if (s != NULL && stats != NULL) {
    *stats = s->stats;
    stats->accept_errors = s->listener.accept_errors;
  }
}
