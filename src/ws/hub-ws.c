/* hub-ws: the server, its options and lifecycle, and accepting (through
 * the shared pausing listener, hubx-listener.h). What a connection reads
 * is in hub-ws-conn.c, the transport and how a connection ends in
 * hub-ws-transport.c, the timeouts in hub-ws-timer.c, the abuse limits
 * in hub-ws-limits.c, clients behind trusted reverse proxies in
 * hub-ws-proxy.c. */
#include "hub-ws-int.h"
#include "hubx-api.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ------------------------------------------------------------------------
 * Options
 * ------------------------------------------------------------------------ */

void hub_ws_options_init(hub_ws_options_t *opts) {
  if (opts == NULL)
    return;
  memset(opts, 0, sizeof(*opts));
  opts->max_header_bytes = 8 * 1024;
  opts->handshake_timeout_ms = 10 * 1000;
  opts->max_message = 1024 * 1024;
  opts->ping_interval_ms = 30 * 1000;
  opts->pong_timeout_ms = 10 * 1000;
  opts->idle_timeout_ms = 120 * 1000;
  opts->close_timeout_ms = 5 * 1000;
  opts->backlog = 511;
  opts->message_timeout_ms = 60 * 1000;
  opts->accept_retry_ms = 100;
  opts->deflate_threshold = 128;
  opts->deflate_level = 6;
  opts->deflate_window_bits = HUB_WS__PMD_MAX_WINDOW_BITS;
}

static int hub_ws__valid_ms(uint64_t ms, int zero_ok) {
  return (zero_ok || ms > 0) && ms <= INT32_MAX;
}

static int hub_ws__valid_options(const hub_ws_options_t *o) {
  size_t i;

  if (o->max_header_bytes < HUB_WS_MIN_HEADER_BYTES ||
      o->max_header_bytes > HUB_WS_MAX_HEADER_BYTES || o->max_message < 1 ||
      o->max_message > HUB_WS_MAX_MESSAGE_LIMIT ||
      !hub_ws__valid_ms(o->handshake_timeout_ms, 0) ||
      !hub_ws__valid_ms(o->ping_interval_ms, 1) ||
      !hub_ws__valid_ms(o->pong_timeout_ms, 0) ||
      !hub_ws__valid_ms(o->idle_timeout_ms, 1) ||
      !hub_ws__valid_ms(o->close_timeout_ms, 0) ||
      !hub_ws__valid_ms(o->message_timeout_ms, 1) ||
      !hub_ws__valid_ms(o->accept_retry_ms, 0) || o->backlog < 1 ||
      o->send_buffer < 0 || o->max_msg_rate > HUBX_LIMITS_MAX_RATE ||
      o->msg_burst > HUBX_LIMITS_MAX_RATE ||
      (o->n_origins > 0 && o->origins == NULL) ||
      (o->n_trusted_proxies > 0 && o->trusted_proxies == NULL) ||
      (o->deflate && (o->deflate_level < 1 || o->deflate_level > 9 ||
                      o->deflate_window_bits < HUB_WS__PMD_MIN_WINDOW_BITS ||
                      o->deflate_window_bits > HUB_WS__PMD_MAX_WINDOW_BITS)))
    return 0;
  for (i = 0; i < o->n_origins; i++)
    if (o->origins[i] == NULL)
      return 0;
  for (i = 0; i < o->n_trusted_proxies; i++)
    if (hub_ws_proxy_check(o->trusted_proxies[i]) != 0)
      return 0;
  return 1;
}

/* ------------------------------------------------------------------------
 * Logging
 * ------------------------------------------------------------------------ */

/* The client's address and port, or only its address when a trusted
 * proxy forwarded it. */
static const char *hub_ws__peer(hub_ws__conn_t *c, char *buf, size_t len) {
  struct sockaddr_storage ss;
  int n = sizeof(ss);
  char ip[64] = "?";

  if (hub_ws__client_address(c, (struct sockaddr *)&ss, &n) != 0)
    return "?";
  if (c->flags & HUB_WS__F_FORWARDED) {
    if (ss.ss_family == AF_INET6) {
      uv_ip6_name((struct sockaddr_in6 *)&ss, ip, sizeof(ip));
      snprintf(buf, len, "[%s]", ip);
    } else {
      uv_ip4_name((struct sockaddr_in *)&ss, ip, sizeof(ip));
      snprintf(buf, len, "%s", ip);
    }
    return buf;
  }
  if (ss.ss_family == AF_INET6) {
    uv_ip6_name((struct sockaddr_in6 *)&ss, ip, sizeof(ip));
    snprintf(buf, len, "[%s]:%u", ip,
             ntohs(((struct sockaddr_in6 *)&ss)->sin6_port));
  } else {
    uv_ip4_name((struct sockaddr_in *)&ss, ip, sizeof(ip));
    snprintf(buf, len, "%s:%u", ip,
             ntohs(((struct sockaddr_in *)&ss)->sin_port));
  }
  return buf;
}

/* Report to on_log; before the upgrade the message starts with the
 * peer's address, as there is no client to name it. */
void hub_ws__log(hub_ws_server_t *s, hub_ws__conn_t *c, int err,
                 const char *fmt, ...) {
  char msg[256], peer[80];
  size_t n = 0;
  va_list ap;

  if (s->opts.on_log == NULL)
    return;
  if (c != NULL && c->client == NULL)
    n = (size_t)snprintf(msg, sizeof(msg),
                         "%s: ", hub_ws__peer(c, peer, sizeof(peer)));
  va_start(ap, fmt);
  vsnprintf(msg + n, sizeof(msg) - n, fmt, ap);
  va_end(ap);
  s->opts.on_log(s, c != NULL ? c->client : NULL, err, msg);
}

/* ------------------------------------------------------------------------
 * Server lifecycle
 * ------------------------------------------------------------------------ */

static void hub_ws__server_free(hub_ws_server_t *s) {
  size_t i;

  for (i = 0; i < s->opts.n_origins; i++)
    free(s->origins[i]);
  free(s->origins);
  hubx_limits_free(&s->limits);
  free(s->trusted);
  hub_ws__reader_free(s->reader);
  hub_ws__deflater_free(s->deflater);
  free(s->rbuf);
  free(s);
}

/* One of the server's two handles (the listener counts as one) is
 * closed; after the second, the server goes. */
static void hub_ws__handle_gone(hub_ws_server_t *s) {
  hub_ws_close_cb cb;

  if (--s->handles > 0)
    return;
  hubx_sock_ctx_close(&s->sock_ctx); /* before the hub may go */
  cb = s->close_cb;
  if (cb != NULL)
    cb(s);
  hub_ws__server_free(s);
}

static void hub_ws__on_timer_closed(uv_handle_t *handle) {
  hub_ws__handle_gone(handle->data);
}

static void hub_ws__on_listener_closed(hubx_listener_t *l) {
  hub_ws__handle_gone(l->data);
}

/* The last step of closing: once no connection is left, what came from
 * the hub's allocator goes back (the hub is still there: it is closed
 * from the server's close callback at the earliest), then the timer, then
 * the server. */
void hub_ws__maybe_finish(hub_ws_server_t *s) {
  if (!s->closing || s->st.connections > 0 || s->timer_closing)
    return;
  s->timer_closing = 1;
  uv_close((uv_handle_t *)&s->timer, hub_ws__on_timer_closed);
}

static void hub_ws__on_accept(hubx_listener_t *l, uv_os_sock_t fd);
static void hub_ws__on_accept_error(hubx_listener_t *l, int err);

int hub_ws_server_new(hub_ws_server_t **serverp, hub_t *hub,
                      const hub_ws_options_t *opts) {
  hub_ws_options_t defaults;
  hub_ws_server_t *s;
  uint64_t live;
  size_t i;
  int r;

  if (serverp == NULL || hub == NULL)
    return UV_EINVAL;
  if (opts == NULL) {
    hub_ws_options_init(&defaults);
    opts = &defaults;
  }
  if (!hub_ws__valid_options(opts))
    return UV_EINVAL;
  s = calloc(1, sizeof(*s));
  if (s == NULL)
    return UV_ENOMEM;
  s->loop = hub_get_loop(hub);
  s->hub = hub;
  s->opts = *opts;
  hubx_limits_init(&s->limits, hub, opts->max_conns_per_ip,
                   opts->max_msg_rate,
                   opts->msg_burst > 0 ? opts->msg_burst : opts->max_msg_rate);
  s->rbuf = malloc(HUB_WS__READ_BUF);
  if (opts->n_origins > 0)
    s->origins = calloc(opts->n_origins, sizeof(char *));
  if (s->rbuf == NULL || (opts->n_origins > 0 && s->origins == NULL))
    goto nomem;
  for (i = 0; i < opts->n_origins; i++) {
    s->origins[i] = strdup(opts->origins[i]);
    if (s->origins[i] == NULL)
      goto nomem;
  }
  s->opts.origins = (const char *const *)s->origins;
  s->policy.origins = s->opts.origins;
  s->policy.n_origins = opts->n_origins;
  s->policy.same_host = opts->origin_same_host;
  s->policy.require_origin = opts->require_origin;
  s->conn_mem = hubx_mem_of_hub(hub);
  hubx_sock_ctx_init(&s->sock_ctx, hub, hub_ws__on_read, hub_ws__on_written,
                     (char *)s->rbuf, HUB_WS__READ_BUF);
  r = hub_ws__reader_new(&s->reader, opts->max_message,
                         &hub_ws__reader_callbacks, NULL);
  if (r != 0)
    goto nomem;
  hub_ws__reader_set_conn_alloc(s->reader, &s->conn_mem);
  if (opts->deflate && hub_ws__deflate_init(s) != 0)
    goto nomem;
  if (hub_ws__proxy_init(s) != 0)
    goto nomem; /* the options were checked: only memory can fail */

  for (i = 0; i < HUB_WS__L_COUNT; i++)
    s->lists[i].next = s->lists[i].prev = &s->lists[i];
  live = opts->ping_interval_ms;
  if (live == 0 || (opts->idle_timeout_ms > 0 && opts->idle_timeout_ms < live))
    live = opts->idle_timeout_ms;
  s->timeouts[HUB_WS__L_HANDSHAKE] = opts->handshake_timeout_ms;
  s->timeouts[HUB_WS__L_LIVE] = live; /* 0: open connections go to NONE */
  s->timeouts[HUB_WS__L_PING] = opts->pong_timeout_ms;
  s->timeouts[HUB_WS__L_MESSAGE] = opts->message_timeout_ms;
  s->timeouts[HUB_WS__L_CLOSE] = opts->close_timeout_ms;

  /* Neither can fail: they only link handles into the loop. */
  hubx_listener_init(&s->listener, s->loop, opts->accept_retry_ms,
                     HUB_WS__ACCEPT_BATCH, hub_ws__on_accept,
                     hub_ws__on_accept_error);
  (void)uv_timer_init(s->loop, &s->timer);
  s->listener.data = s;
  s->timer.data = s;
  s->handles = 2;
  *serverp = s;
  return 0;

nomem:
  hub_ws__server_free(s);
  return UV_ENOMEM;
}

static void hub_ws__on_accept(hubx_listener_t *l, uv_os_sock_t fd) {
  hub_ws_server_t *s = l->data;
  hub_ws__conn_t *c;
  int r;

  c = calloc(1, sizeof(*c));
  if (c == NULL) {
    close(fd);
    hub_ws__log(s, NULL, UV_ENOMEM, "dropping a new connection: out of memory");
    return;
  }
  hub__queue_init(&c->link);
  c->phase = HUB_WS__HANDSHAKE;
  r = hubx_sock_open(&c->sock, &s->sock_ctx, s->loop, fd,
                     s->opts.send_buffer);
  if (r != 0) {
    close(fd);
    free(c);
    hub_ws__log(s, NULL, r, "dropping a new connection: %s", uv_strerror(r));
    return;
  }
  s->st.connections++;
  s->st.handshakes++;
  s->st.accepted++;
  hub_ws__list_move(c, HUB_WS__L_HANDSHAKE);
  hub_ws__admit(c, fd);
}

/* The first failure of a streak, and its end: a shortage of descriptors
 * can last, and retries come ten times a second. */
static void hub_ws__on_accept_error(hubx_listener_t *l, int err) {
  hub_ws_server_t *s = l->data;

  if (err == 0)
    hub_ws__log(s, NULL, 0, "accepting again");
  else
    hub_ws__log(s, NULL, err,
                "accept failed (%s), retrying every %llu ms "
                "meanwhile",
                uv_strerror(err), (unsigned long long)s->opts.accept_retry_ms);
}

int hub_ws_server_start(hub_ws_server_t *s, const struct sockaddr *addr) {
  int r;

  if (s == NULL || addr == NULL || s->started || s->closing ||
      (addr->sa_family != AF_INET && addr->sa_family != AF_INET6))
    return UV_EINVAL;
  r = hubx_listener_start(&s->listener, addr, s->opts.backlog);
  if (r == 0)
    s->started = 1;
  return r;
}

int hub_ws_server_getsockname(const hub_ws_server_t *s,
                              struct sockaddr *name, int *namelen) {
  if (s == NULL || name == NULL || namelen == NULL || !s->started)
    return UV_EINVAL;
  return hubx_listener_getsockname(&s->listener, name, namelen);
}

int hub_ws_server_close(hub_ws_server_t *s, hub_ws_close_cb cb) {
  hub__queue *q, *next;
  hub_ws__conn_t *c;
  unsigned l;
  int err;

  if ((err = HUBX_CLOSE_BEGIN(s, cb)) != 0)
    return err;
  hubx_listener_close(&s->listener, hub_ws__on_listener_closed);
  /* A connection acted on moves to the tail of another list (or of
   * this one); meeting it again does nothing. */
  for (l = 0; l < HUB_WS__L_COUNT; l++) {
    for (q = s->lists[l].next; q != &s->lists[l]; q = next) {
      next = q->next;
      c = hub_ws__conn_of(q);
      if (c->flags & HUB_WS__F_HANDLE_CLOSING)
        continue;
      if (c->phase == HUB_WS__OPEN)
        hub_ws__send_close(c, HUB_WS__CLOSE_GOING_AWAY, "server shutting down");
      else if (c->phase != HUB_WS__CLOSING)
        hub_ws__handle_close(c);
    }
  }
  hub_ws__maybe_finish(s);
  return 0;
}

HUB__GETTER(hub_t *, hub_ws_server_get_hub, hub_ws_server_t, hub, NULL)
HUB__GETTER(void *, hub_ws_server_get_data, hub_ws_server_t, opts.data, NULL)
HUB__SETTER(void *, hub_ws_server_set_data, hub_ws_server_t, opts.data)

void hub_ws_server_get_stats(const hub_ws_server_t *s, hub_ws_stats_t *st) {
  hub_ws__reader_stats_t rs;

  if (s == NULL || st == NULL)
    return;
  *st = s->st;
  hub_ws__reader_get_stats(s->reader, &rs);
  st->rx_states = rs.rx_live;
  st->rx_contexts = rs.contexts_live;
  st->rx_buffered = rs.buffered;
  st->inflated = rs.inflated;
  st->accept_errors = s->listener.accept_errors;
}

