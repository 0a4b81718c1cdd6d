/* hub-ws: the server, its connections' lifetimes and timeouts, and the
 * transport libhub writes through. What a connection reads (the request,
 * then frames) is in hub-ws-conn.c.
 *
 * A connection ends in one of two ways. Abruptly (an error, the peer
 * gone, a slow consumer dropped, a missed heartbeat): the handle is
 * closed at once. Or after a close frame, sent or answered: the hub
 * writes what was queued and the close frame (client_shutdown()), then
 * calls the transport's close, which sends a FIN and keeps reading, and
 * dropping, until the peer's FIN or close_timeout_ms. So the server closes
 * the TCP connection first, as RFC 6455 §7.1.1 asks, without resetting a
 * peer whose close frame is still on its way. */
#include "hub-ws-int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
}

static int ws__valid_ms(uint64_t ms, int zero_ok) {
  return (zero_ok || ms > 0) && ms <= INT32_MAX;
}

static int ws__valid_options(const hub_ws_options_t *o) {
  size_t i;

  if (o->max_header_bytes < HUB_WS_MIN_HEADER_BYTES ||
      o->max_header_bytes > HUB_WS_MAX_HEADER_BYTES ||
      o->max_message < 1 || o->max_message > HUB_WS_MAX_MESSAGE_LIMIT ||
      !ws__valid_ms(o->handshake_timeout_ms, 0) ||
      !ws__valid_ms(o->ping_interval_ms, 1) ||
      !ws__valid_ms(o->pong_timeout_ms, 0) ||
      !ws__valid_ms(o->idle_timeout_ms, 1) ||
      !ws__valid_ms(o->close_timeout_ms, 0) || o->backlog < 1 ||
      o->send_buffer < 0 ||
      (o->n_origins > 0 && o->origins == NULL))
    return 0;
  for (i = 0; i < o->n_origins; i++)
    if (o->origins[i] == NULL)
      return 0;
  return 1;
}

/* ------------------------------------------------------------------------
 * Logging
 * ------------------------------------------------------------------------ */

static const char *ws__peer(ws_conn_t *c, char *buf, size_t len) {
  struct sockaddr_storage ss;
  int n = sizeof(ss);
  char ip[64] = "?";

  if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &n) != 0)
    return "?";
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
void ws__log(hub_ws_server_t *s, ws_conn_t *c, int err, const char *fmt,
             ...) {
  char msg[256], peer[80];
  size_t n = 0;
  va_list ap;

  if (s->opts.on_log == NULL)
    return;
  if (c != NULL && c->client == NULL)
    n = (size_t)snprintf(msg, sizeof(msg), "%s: ",
                         ws__peer(c, peer, sizeof(peer)));
  va_start(ap, fmt);
  vsnprintf(msg + n, sizeof(msg) - n, fmt, ap);
  va_end(ap);
  s->opts.on_log(s, c != NULL ? c->client : NULL, err, msg);
}

/* ------------------------------------------------------------------------
 * Timeouts: sorted lists and one timer
 * ------------------------------------------------------------------------ */

static void ws__link_remove(ws_link_t *l) {
  l->prev->next = l->next;
  l->next->prev = l->prev;
  l->next = l->prev = l;
}

static void ws__link_append(ws_link_t *head, ws_link_t *l) {
  l->next = head;
  l->prev = head->prev;
  l->prev->next = l;
  head->prev = l;
}

static void ws__on_timer(uv_timer_t *timer);

static void ws__timer_arm(hub_ws_server_t *s, uint64_t due) {
  uint64_t now = uv_now(s->loop);

  if (s->timer_closing)
    return;
  s->timer_due = due;
  uv_timer_start(&s->timer, ws__on_timer, due > now ? due - now : 0, 0);
}

void ws__list_move(ws_conn_t *c, unsigned list) {
  hub_ws_server_t *s = ws__server_of(c);

  ws__link_remove(&c->link);
  c->list = (uint8_t)list;
  ws__link_append(&s->lists[list], &c->link);
  if (list == WS__L_NONE)
    return;
  /* Every list has one timeout, so the new tail has the latest deadline
   * of its list: only a list that was empty can bring the timer
   * forward. */
  c->deadline = uv_now(s->loop) + s->timeouts[list];
  if (!uv_is_active((uv_handle_t *)&s->timer) || c->deadline < s->timer_due)
    ws__timer_arm(s, c->deadline);
}

/* The head of `list` timed out. Each case moves it off the list. */
static void ws__expire(hub_ws_server_t *s, ws_conn_t *c, unsigned list) {
  uint8_t ping[WS_CONTROL_FRAME_MAX];
  const hub_ws_options_t *o = &s->opts;
  size_t n;

  switch (list) {
  case WS__L_HANDSHAKE:
    s->st.timeouts++;
    ws__refuse(c, 408, "no complete request in time");
    break;
  case WS__L_LIVE:
    if (o->ping_interval_ms > 0 &&
        (o->idle_timeout_ms == 0 || o->ping_interval_ms <= o->idle_timeout_ms)) {
      s->st.pings++;
      ws__list_move(c, WS__L_PING);
      n = ws_frame_control(ping, WS_OP_PING, NULL, 0);
      /* A full control queue means the client reads nothing: no ping,
       * and the pong timeout will tell. */
      (void)client_send(c->client, ping, n, HUB_MSG_RAW | HUB_MSG_CONTROL);
    } else {
      s->st.timeouts++;
      ws__log(s, c, UV_ETIMEDOUT, "idle timeout: closing with 1001");
      ws__send_close(c, WS_CLOSE_GOING_AWAY, "idle timeout");
    }
    break;
  case WS__L_PING:
    s->st.timeouts++;
    ws__log(s, c, UV_ETIMEDOUT, "no answer to a ping: closing");
    ws__list_move(c, WS__L_NONE);
    client_close(c->client, UV_ETIMEDOUT);
    break;
  default: /* WS__L_CLOSE */
    s->st.timeouts++;
    ws__list_move(c, WS__L_NONE);
    if (c->client != NULL && !(c->flags & WS__F_CORE_CLOSED))
      client_close(c->client, UV_ETIMEDOUT);
    else
      ws__handle_close(c);
    break;
  }
  /* Whatever happened, it must have left the list. */
  if (c->list == list && !(c->flags & WS__F_HANDLE_CLOSING))
    ws__list_move(c, WS__L_NONE);
}

static void ws__on_timer(uv_timer_t *timer) {
  hub_ws_server_t *s = timer->data;
  uint64_t now = uv_now(s->loop), due = UINT64_MAX;
  ws_conn_t *c;
  unsigned l;

  for (l = 0; l < WS__L_NONE; l++) {
    while (s->lists[l].next != &s->lists[l]) {
      c = ws__conn_of(s->lists[l].next);
      if (c->deadline > now)
        break;
      ws__expire(s, c, l);
    }
  }
  for (l = 0; l < WS__L_NONE; l++)
    if (s->lists[l].next != &s->lists[l] &&
        ws__conn_of(s->lists[l].next)->deadline < due)
      due = ws__conn_of(s->lists[l].next)->deadline;
  if (due != UINT64_MAX)
    ws__timer_arm(s, due);
}

/* ------------------------------------------------------------------------
 * Server lifecycle
 * ------------------------------------------------------------------------ */

static void ws__server_free(hub_ws_server_t *s) {
  size_t i;

  for (i = 0; i < s->opts.n_origins; i++)
    free(s->origins[i]);
  free(s->origins);
  while (s->nspare_writes > 0)
    free(s->spare_writes[--s->nspare_writes]);
  ws_reader_free(s->reader);
  free(s->rbuf);
  free(s);
}

static void ws__on_handle_closed(uv_handle_t *handle) {
  hub_ws_server_t *s = handle->data;
  hub_ws_close_cb cb;

  if (--s->handles > 0)
    return;
  cb = s->close_cb;
  if (cb != NULL)
    cb(s);
  ws__server_free(s);
}

/* The last step of closing: once no connection is left, the timer goes,
 * then the server. */
static void ws__maybe_finish(hub_ws_server_t *s) {
  if (!s->closing || s->st.connections > 0 || s->timer_closing)
    return;
  s->timer_closing = 1;
  uv_close((uv_handle_t *)&s->timer, ws__on_handle_closed);
}

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
  if (!ws__valid_options(opts))
    return UV_EINVAL;
  s = calloc(1, sizeof(*s));
  if (s == NULL)
    return UV_ENOMEM;
  s->loop = hub_get_loop(hub);
  s->hub = hub;
  s->opts = *opts;
  s->rbuf = malloc(WS__READ_BUF);
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
  r = ws_reader_new(&s->reader, opts->max_message, &ws__reader_callbacks,
                    NULL);
  if (r != 0)
    goto nomem;

  for (i = 0; i < WS__L_COUNT; i++)
    s->lists[i].next = s->lists[i].prev = &s->lists[i];
  live = opts->ping_interval_ms;
  if (live == 0 || (opts->idle_timeout_ms > 0 && opts->idle_timeout_ms < live))
    live = opts->idle_timeout_ms;
  s->timeouts[WS__L_HANDSHAKE] = opts->handshake_timeout_ms;
  s->timeouts[WS__L_LIVE] = live; /* 0: open connections go to NONE */
  s->timeouts[WS__L_PING] = opts->pong_timeout_ms;
  s->timeouts[WS__L_CLOSE] = opts->close_timeout_ms;

  /* Neither can fail: they only link the handle into the loop. */
  (void)uv_tcp_init(s->loop, &s->listener);
  (void)uv_timer_init(s->loop, &s->timer);
  s->listener.data = s;
  s->timer.data = s;
  s->handles = 2;
  *serverp = s;
  return 0;

nomem:
  ws__server_free(s);
  return UV_ENOMEM;
}

static void ws__on_alloc(uv_handle_t *handle, size_t suggested,
                         uv_buf_t *buf) {
  hub_ws_server_t *s = handle->data;

  (void)suggested;
  /* One buffer serves every connection: libuv reads one stream at a
   * time and each read is consumed (or copied) before the next. */
  *buf = uv_buf_init((char *)s->rbuf, WS__READ_BUF);
}

static void ws__on_connection(uv_stream_t *listener, int status) {
  hub_ws_server_t *s = listener->data;
  ws_conn_t *c;
  int r;

  if (status < 0) {
    ws__log(s, NULL, status, "accept failed: %s", uv_strerror(status));
    return;
  }
  c = calloc(1, sizeof(*c));
  if (c == NULL) {
    ws__log(s, NULL, UV_ENOMEM, "accept failed: out of memory");
    return;
  }
  (void)uv_tcp_init(s->loop, &c->tcp);
  c->tcp.data = s;
  c->link.next = c->link.prev = &c->link;
  c->phase = WS__HANDSHAKE;
  s->st.connections++;
  s->st.handshakes++;
  r = uv_accept(listener, (uv_stream_t *)&c->tcp);
  if (r == 0) {
    s->st.accepted++;
    (void)uv_tcp_nodelay(&c->tcp, 1);
    if (s->opts.send_buffer > 0) {
      int size = s->opts.send_buffer;
      (void)uv_send_buffer_size((uv_handle_t *)&c->tcp, &size);
    }
    r = uv_read_start((uv_stream_t *)&c->tcp, ws__on_alloc, ws__on_read);
  }
  if (r != 0) {
    ws__log(s, NULL, r, "accept failed: %s", uv_strerror(r));
    ws__handle_close(c);
    return;
  }
  ws__list_move(c, WS__L_HANDSHAKE);
}

int hub_ws_server_start(hub_ws_server_t *s, const struct sockaddr *addr) {
  int r;

  if (s == NULL || addr == NULL || s->started || s->closing ||
      (addr->sa_family != AF_INET && addr->sa_family != AF_INET6))
    return UV_EINVAL;
  r = uv_tcp_bind(&s->listener, addr, 0);
  if (r == 0)
    r = uv_listen((uv_stream_t *)&s->listener, s->opts.backlog,
                  ws__on_connection);
  if (r == 0)
    s->started = 1;
  return r;
}

int hub_ws_server_getsockname(const hub_ws_server_t *s,
                              struct sockaddr *name, int *namelen) {
  if (s == NULL || name == NULL || namelen == NULL || !s->started)
    return UV_EINVAL;
  return uv_tcp_getsockname(&s->listener, name, namelen);
}

int hub_ws_server_close(hub_ws_server_t *s, hub_ws_close_cb cb) {
  ws_link_t *q, *next;
  ws_conn_t *c;
  unsigned l;

  if (s == NULL)
    return UV_EINVAL;
  if (s->closing)
    return HUB_ECLOSING;
  s->closing = 1;
  s->close_cb = cb;
  uv_close((uv_handle_t *)&s->listener, ws__on_handle_closed);
  /* A connection acted on moves to the tail of another list (or of
   * this one); meeting it again does nothing. */
  for (l = 0; l < WS__L_COUNT; l++) {
    for (q = s->lists[l].next; q != &s->lists[l]; q = next) {
      next = q->next;
      c = ws__conn_of(q);
      if (c->flags & WS__F_HANDLE_CLOSING)
        continue;
      if (c->phase == WS__OPEN)
        ws__send_close(c, WS_CLOSE_GOING_AWAY, "server shutting down");
      else if (c->phase != WS__CLOSING)
        ws__handle_close(c);
    }
  }
  ws__maybe_finish(s);
  return 0;
}

hub_t *hub_ws_server_get_hub(const hub_ws_server_t *s) {
  return s != NULL ? s->hub : NULL;
}

void *hub_ws_server_get_data(const hub_ws_server_t *s) {
  return s != NULL ? s->opts.data : NULL;
}

void hub_ws_server_set_data(hub_ws_server_t *s, void *data) {
  if (s != NULL)
    s->opts.data = data;
}

void hub_ws_server_get_stats(const hub_ws_server_t *s, hub_ws_stats_t *st) {
  ws_reader_stats_t rs;

  if (s == NULL || st == NULL)
    return;
  *st = s->st;
  ws_reader_get_stats(s->reader, &rs);
  st->rx_states = rs.rx_live;
  st->rx_contexts = rs.contexts_live;
  st->rx_buffered = rs.buffered;
}

/* ------------------------------------------------------------------------
 * Ending connections
 * ------------------------------------------------------------------------ */

void ws__leave_handshake(ws_conn_t *c) {
  hub_ws_server_t *s = ws__server_of(c);

  if (c->phase != WS__HANDSHAKE)
    return;
  s->st.handshakes--;
  if (c->st.hs != NULL) {
    ws_hs_free(c->st.hs);
    free(c->st.hs);
    c->st.hs = NULL;
  }
}

static void ws__on_closed(uv_handle_t *handle) {
  ws_conn_t *c = (ws_conn_t *)handle;
  hub_ws_server_t *s = ws__server_of(c);

  ws__link_remove(&c->link);
  ws__leave_handshake(c);
  if (c->phase != WS__HANDSHAKE && c->st.rx != NULL) {
    ws_rx_free(s->reader, c->st.rx);
    c->st.rx = NULL;
  }
  if (s->pong_conn == c)
    s->pong_conn = NULL;
  /* on_client_close runs in here and may still ask about the close. */
  if (c->client != NULL)
    hub_client_closed(c->client);
  s->st.connections--;
  free(c);
  ws__maybe_finish(s);
}

void ws__handle_close(ws_conn_t *c) {
  if (c->flags & WS__F_HANDLE_CLOSING)
    return;
  /* The hub must hear of it first: its close is what lets us report the
   * client closed. client_close() comes back here through the
   * transport's close. */
  if (c->client != NULL && !(c->flags & WS__F_CORE_CLOSED)) {
    c->flags |= WS__F_EOF;
    if (client_close(c->client, HUB_ETRANSPORT) == 0)
      return;
    c->flags |= WS__F_CORE_CLOSED;
  }
  c->flags |= WS__F_HANDLE_CLOSING;
  ws__list_move(c, WS__L_NONE);
  uv_close((uv_handle_t *)&c->tcp, ws__on_closed);
}

/* The peer closed or reset the connection, or reading failed. */
void ws__conn_lost(ws_conn_t *c, int err) {
  if (c->flags & WS__F_HANDLE_CLOSING)
    return;
  c->flags |= WS__F_EOF;
  if (c->client != NULL && !(c->flags & WS__F_CORE_CLOSED))
    client_close(c->client, err); /* comes back through ws__tp_close */
  else
    ws__handle_close(c);
}

static void ws__on_shutdown(uv_shutdown_t *req, int status) {
  ws_conn_t *c = req->data;

  free(req);
  if (status < 0 && status != UV_ECANCELED)
    ws__handle_close(c);
}

/* Send our FIN and keep reading (and dropping) until the peer's FIN, a
 * read error or the close timeout closes the handle. */
void ws__linger(ws_conn_t *c) {
  uv_shutdown_t *req;

  if (c->flags & (WS__F_HANDLE_CLOSING | WS__F_SHUTDOWN))
    return;
  c->flags |= WS__F_SHUTDOWN;
  req = malloc(sizeof(*req));
  if (req == NULL) {
    ws__handle_close(c);
    return;
  }
  req->data = c;
  if (uv_shutdown(req, (uv_stream_t *)&c->tcp, ws__on_shutdown) != 0) {
    free(req);
    ws__handle_close(c);
  }
}

int ws__send_close(ws_conn_t *c, unsigned code, const char *reason) {
  hub_ws_server_t *s = ws__server_of(c);
  uint8_t frame[WS_CONTROL_FRAME_MAX];
  size_t n;
  int r;

  if (c->client == NULL ||
      (c->flags & (WS__F_CLOSE_SENT | WS__F_CORE_CLOSED |
                   WS__F_HANDLE_CLOSING)))
    return HUB_ECLOSING;
  c->flags |= WS__F_CLOSE_SENT;
  if (!(c->flags & WS__F_CLOSE_RCVD))
    c->close_code = (uint16_t)(code == 0 ? WS_CLOSE_NO_STATUS : code);
  c->phase = WS__CLOSING;
  /* Reader state is dropped now, unless it is in use right now: the
   * reader then releases it when the callback returns. */
  if (c->st.rx != NULL && s->feeding != c) {
    ws_rx_free(s->reader, c->st.rx);
    c->st.rx = NULL;
  }
  ws__list_move(c, WS__L_CLOSE);
  n = ws_frame_close(frame, code, reason);
  r = client_send(c->client, frame, n, HUB_MSG_RAW | HUB_MSG_CONTROL);
  if (r == 0) {
    r = client_shutdown(c->client);
    if (r == HUB_ECLOSING)
      r = 0; /* already draining (the hub is closing): fine */
  }
  if (r != 0) {
    /* No room for the close frame: the client reads nothing anyway. */
    c->flags |= WS__F_EOF;
    client_close(c->client, r);
  }
  return 0;
}

/* ------------------------------------------------------------------------
 * The transport
 * ------------------------------------------------------------------------ */

static int ws__tp_frame(const hub_transport_t *tp, const hub_msg_t *msg,
                        hub_frame_t *frame) {
  unsigned op = (hub_msg_flags(msg) & HUB_MSG_BINARY) ? WS_OP_BINARY
                                                      : WS_OP_TEXT;

  (void)tp;
  frame->head_len = (uint8_t)ws_frame_head(frame->head, op, hub_msg_len(msg));
  return 0;
}

static void ws__on_written(uv_write_t *req, int status) {
  ws_conn_t *c = req->data;
  hub_ws_server_t *s = ws__server_of(c);

  if (s->nspare_writes < WS__SPARE_WRITES)
    s->spare_writes[s->nspare_writes++] = req;
  else
    free(req);
  hub_client_write_done(c->client, status);
}

/* Write what the socket takes now; only the rest waits for a write
 * request, which comes from a small pool rather than from every
 * connection's memory. */
static int ws__tp_write(const hub_transport_t *tp, hub_client_t *client,
                        void *conn, uv_buf_t *bufs, unsigned int nbufs) {
  ws_conn_t *c = conn;
  hub_ws_server_t *s = ws__server_of(c);
  uv_write_t *req;
  size_t done;
  unsigned i = 0;
  int r;

  (void)tp;
  (void)client;
  if (c->flags & WS__F_HANDLE_CLOSING)
    return UV_ECANCELED;
  r = uv_try_write((uv_stream_t *)&c->tcp, bufs, nbufs);
  if (r < 0 && r != UV_EAGAIN)
    return r;
  done = r > 0 ? (size_t)r : 0;
  while (i < nbufs && done >= bufs[i].len)
    done -= bufs[i++].len;
  if (i == nbufs)
    return HUB_WRITE_DONE;
  bufs[i].base += done;
  bufs[i].len -= done;
  if (s->nspare_writes > 0) {
    req = s->spare_writes[--s->nspare_writes];
  } else {
    req = malloc(sizeof(*req));
    if (req == NULL)
      return UV_ENOMEM;
  }
  req->data = c;
  r = uv_write(req, (uv_stream_t *)&c->tcp, bufs + i, nbufs - i,
               ws__on_written);
  if (r != 0) {
    free(req);
    return r;
  }
  return HUB_WRITE_PENDING;
}

static void ws__tp_close(const hub_transport_t *tp, hub_client_t *client,
                         void *conn) {
  ws_conn_t *c = conn;

  (void)tp;
  (void)client;
  c->flags |= WS__F_CORE_CLOSED;
  if ((c->flags & WS__F_CLOSE_SENT) && !(c->flags & WS__F_EOF))
    ws__linger(c);
  else
    ws__handle_close(c);
}

const hub_transport_t ws__transport = {
    "websocket", ws__tp_frame, ws__tp_write, ws__tp_close, NULL};

const hub_transport_t *hub_ws_transport(void) {
  return &ws__transport;
}

/* ------------------------------------------------------------------------
 * Clients
 * ------------------------------------------------------------------------ */

static ws_conn_t *ws__conn_of_client(const hub_client_t *client) {
  if (client == NULL || client_get_transport(client) != &ws__transport)
    return NULL;
  return client_get_conn(client);
}

int hub_ws_client_close(hub_client_t *client, unsigned int code,
                        const char *reason) {
  ws_conn_t *c = ws__conn_of_client(client);

  if (c == NULL || !ws_close_code_valid(code))
    return UV_EINVAL;
  if (c->phase != WS__OPEN || client_is_closing(client))
    return HUB_ECLOSING;
  return ws__send_close(c, code, reason);
}

unsigned int hub_ws_client_close_code(const hub_client_t *client,
                                      int *by_peer) {
  ws_conn_t *c = ws__conn_of_client(client);

  if (by_peer != NULL)
    *by_peer = 0;
  if (c == NULL)
    return 0;
  if (!(c->flags & (WS__F_CLOSE_SENT | WS__F_CLOSE_RCVD)))
    return WS_CLOSE_ABNORMAL;
  if (by_peer != NULL)
    *by_peer = (c->flags & WS__F_CLOSE_RCVD) != 0;
  return c->close_code;
}

int hub_ws_client_getpeername(const hub_client_t *client,
                              struct sockaddr *name, int *namelen) {
  ws_conn_t *c = ws__conn_of_client(client);

  if (c == NULL || name == NULL || namelen == NULL)
    return UV_EINVAL;
  if (c->flags & WS__F_HANDLE_CLOSING)
    return UV_EBADF;
  return uv_tcp_getpeername(&c->tcp, name, namelen);
}
