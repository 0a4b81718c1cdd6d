/* hub-ws: what a connection reads. First its HTTP request, through
 * ws-handshake (answered over HTTP or upgraded), then its frames, through
 * ws-frame's reader, whose events become messages for the application
 * and control frames for the client. */
#include "hub-ws-int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------
 * HTTP responses
 * ------------------------------------------------------------------------ */

void hub_ws__free_response(hub_ws_server_t *s, hub_ws__resp_t *resp) {
  hub_mem_free(s->hub, resp);
}

/* Write `resp` (taking it) and close the connection once it is out: the
 * socket keeps what it does not take at once, and hub_ws__on_written() ends
 * it then. */
void hub_ws__send_response(hub_ws__conn_t *c, hub_ws__resp_t *resp) {
  uv_buf_t buf = uv_buf_init(resp->data, (unsigned)resp->len);
  int r;

  hub_ws__leave_handshake(c);
  c->phase = HUB_WS__RESPONSE;
  c->st.resp = resp;
  hub_ws__list_move(c, HUB_WS__L_CLOSE);
  r = hubx_sock_write(&c->sock, &buf, 1);
  if (r == HUB_WRITE_PENDING)
    return;
  c->st.resp = NULL;
  hub_ws__free_response(hub_ws__server_of(c), resp);
  if (r == HUB_WRITE_DONE)
    hub_ws__linger(c);
  else
    hub_ws__handle_close(c);
}

static hub_ws__resp_t *hub_ws__response(hub_ws_server_t *s, int status,
                                        const char *type, const char *extra,
                                        const void *body, size_t len,
                                        int send_body) {
  char head[1024];
  size_t n;
  hub_ws__resp_t *resp;

  n = hub_ws__http_response_head(head, sizeof(head), status, type, extra, len);
  if (n == 0)
    return NULL;
  if (!send_body)
    len = 0;
  resp = hub_mem_alloc(s->hub, sizeof(*resp) + n + len);
  if (resp == NULL)
    return NULL;
  memcpy(resp->data, head, n);
  if (len > 0)
    memcpy(resp->data + n, body, len);
  resp->len = n + len;
  return resp;
}

void hub_ws__refuse(hub_ws__conn_t *c, int status, const char *why) {
  hub_ws_server_t *s = hub_ws__server_of(c);
  const char *reason = hub_ws__http_reason(status);
  char body[64];
  hub_ws__resp_t *resp;
  size_t n;

  s->st.refused++;
  if (why != NULL)
    hub_ws__log(s, c, 0, "refused with %d: %s", status, why);
  n = (size_t)snprintf(body, sizeof(body), "%d %s\n", status, reason);
  resp = hub_ws__response(s, status, NULL, NULL, body, n, 1);
  if (resp == NULL) {
    hub_ws__log(s, c, UV_ENOMEM, "out of memory for the response: closing");
    hub_ws__handle_close(c);
    return;
  }
  hub_ws__send_response(c, resp);
}

/* ------------------------------------------------------------------------
 * The request hook's view
 * ------------------------------------------------------------------------ */

const char *hub_ws_request_method(const hub_ws_request_t *req) {
  return req != NULL ? hub_ws__hs_method(req->hs) : NULL;
}

const char *hub_ws_request_target(const hub_ws_request_t *req) {
  return req != NULL ? hub_ws__hs_target(req->hs) : NULL;
}

const char *hub_ws_request_path(const hub_ws_request_t *req) {
  return req != NULL ? hub_ws__hs_path(req->hs) : NULL;
}

const char *hub_ws_request_header(const hub_ws_request_t *req,
                                  const char *name) {
  return req != NULL && name != NULL ? hub_ws__hs_header(req->hs, name) : NULL;
}

int hub_ws_request_is_upgrade(const hub_ws_request_t *req) {
  return req != NULL && hub_ws__hs_is_upgrade(req->hs);
}

int hub_ws_request_offers(const hub_ws_request_t *req, const char *name) {
  const char *p, *end;
  size_t n;

  if (req == NULL || name == NULL || *name == '\0')
    return 0;
  p = hub_ws__hs_header(req->hs, "Sec-WebSocket-Protocol");
  n = strlen(name);
  while (p != NULL && *p != '\0') {
    while (*p == ' ' || *p == '\t' || *p == ',')
      p++;
    for (end = p; *end != '\0' && *end != ',' && *end != ' ' &&
                  *end != '\t';
         end++)
      ;
    if ((size_t)(end - p) == n && memcmp(p, name, n) == 0)
      return 1;
    p = end;
  }
  return 0;
}

int hub_ws_request_select(hub_ws_request_t *req, const char *protocol,
                          const hub_transport_t *transport) {
  hub_ws_server_t *s;

  if (req == NULL || (protocol != NULL &&
                      strlen(protocol) >= sizeof(s->sel_protocol)))
    return UV_EINVAL;
  if (protocol != NULL && !hub_ws_request_offers(req, protocol))
    return UV_ENOENT;
  s = hub_ws__server_of(req->conn);
  s->sel_transport = transport;
  snprintf(s->sel_protocol, sizeof(s->sel_protocol), "%s",
           protocol != NULL ? protocol : "");
  return 0;
}

int hub_ws_request_getpeername(const hub_ws_request_t *req,
                               struct sockaddr *name, int *namelen) {
  if (req == NULL || name == NULL || namelen == NULL)
    return UV_EINVAL;
  return hubx_sock_getpeername(&req->conn->sock, name, namelen);
}

int hub_ws_request_respond(hub_ws_request_t *req, int status,
                           const char *content_type,
                           const char *extra_headers, const void *body,
                           size_t len) {
  int head;

  if (req == NULL || req->hs == NULL || status < 200 || status > 599 ||
      (body == NULL && len > 0))
    return UV_EINVAL;
  if (req->resp != NULL)
    return UV_EALREADY;
  head = strcmp(hub_ws__hs_method(req->hs), "HEAD") == 0;
  req->resp = hub_ws__response(hub_ws__server_of(req->conn), status,
                               content_type, extra_headers, body, len, !head);
  return req->resp != NULL ? 0 : UV_ENOMEM;
}

/* ------------------------------------------------------------------------
 * The handshake
 * ------------------------------------------------------------------------ */

static void hub_ws__read_frames(hub_ws__conn_t *c, const uint8_t *data,
                                size_t len);

static const char *hub_ws__refusal_reason(int status) {
  switch (status) {
  case 400: return "not a valid WebSocket handshake";
  case 405: return "a WebSocket handshake must be a GET";
  case 426: return "not a WebSocket handshake, or not version 13";
  case 431: return "request head too large";
  case 500: return "out of memory";
  case 505: return "not HTTP/1.1 (or 1.0 for a plain page)";
  default: return "malformed request";
  }
}

/* "origin http://x not allowed", printable ASCII only: the value is
 * the peer's and ends up in logs. */
static const char *hub_ws__origin_why(const hub_ws__hs_t *hs, char *buf,
                                      size_t len) {
  const char *origin = hub_ws__hs_header(hs, "Origin");
  size_t n, i;

  if (origin == NULL)
    return "no Origin header";
  n = (size_t)snprintf(buf, len, "origin ");
  for (i = 0; origin[i] != '\0' && n + 20 < len; i++)
    buf[n++] = origin[i] > ' ' && origin[i] < 127 ? origin[i] : '?';
  snprintf(buf + n, len - n, " not allowed");
  return buf;
}

/* A connection just registered with the hub leaves its handshake for
 * `phase` (HUB_WS__OPEN or HUB_WS__STREAM), on the live list if `timed`,
 * else on none. `head`, its response's head, goes through the client's
 * queue, so that whatever is sent to the client from now on follows it
 * (a new client's first queue entries need no allocation); `head` is
 * released. Returns 0 once on_connect has run, or an error: the client is
 * then closing. */
static int hub_ws__begin(hub_ws__conn_t *c, unsigned phase, int timed,
                         hub_msg_t *head) {
  hub_ws_server_t *s = hub_ws__server_of(c);
  int r;

  hub_ws__leave_handshake(c);
  c->phase = (uint8_t)phase;
  c->st.rx = NULL;
  hub_ws__list_move(c, timed ? HUB_WS__L_LIVE : HUB_WS__L_NONE);
  r = client_send_msg(c->client, head);
  hub_msg_unref(head);
  if (r != 0) {
    c->flags |= HUB_WS__F_EOF;
    client_close(c->client, r);
    return r;
  }
  if (s->opts.on_connect != NULL)
    s->opts.on_connect(s, c->client);
  return 0;
}

/* The connection's client, on `tp`, registered with the hub, and the
 * response that goes out first (`n` bytes at `resp`; 0: it could not be
 * made) as its message in *msgp. On a failure the request is refused with
 * 503 and the error returned. */
static int hub_ws__register(hub_ws__conn_t *c, const hub_transport_t *tp,
                            const char *resp, size_t n, hub_msg_t **msgp) {
  hub_ws_server_t *s = hub_ws__server_of(c);
  int r;

  *msgp = NULL;
  r = n > 0 ? hub_msg_new(s->hub, resp, n, HUB_MSG_RAW | HUB_MSG_CONTROL,
                          msgp)
            : UV_ENOMEM;
  if (r == 0)
    r = hub_register(s->hub, tp, c, &c->client);
  if (r != 0) {
    hub_msg_unref(*msgp);
    c->client = NULL;
    hub_ws__refuse(c, 503, hub_strerror(r));
  }
  return r;
}

static void hub_ws__upgrade(hub_ws__conn_t *c, const char *rest,
                            size_t rest_len) {
  hub_ws_server_t *s = hub_ws__server_of(c);
  const hub_transport_t *tp =
      s->sel_transport != NULL ? s->sel_transport : &hub_ws__transport;
  const hub_transport_t *dtp;
  hub_msg_t *msg = NULL;
  char resp[256 + HUB_WS__PMD_RESPONSE_MAX], ext[HUB_WS__PMD_RESPONSE_MAX];
  size_t n;

  dtp = hub_ws__deflate_select(s, c->st.hs, tp, ext, sizeof(ext));
  if (dtp != NULL)
    tp = dtp;
  /* The 101 is made before the client is registered, so that running out
   * of memory refuses the upgrade (503) rather than closing a client the
   * application has never been told of. */
  n = hub_ws__hs_accept_response(c->st.hs, resp, sizeof(resp),
                                 s->sel_protocol[0] != '\0' ? s->sel_protocol
                                                            : NULL,
                                 dtp != NULL ? ext : NULL);
  s->sel_transport = NULL;
  s->sel_protocol[0] = '\0';
  if (hub_ws__register(c, tp, resp, n, &msg) != 0)
    return;
  s->st.upgraded++;
  if (dtp != NULL) {
    c->flags |= HUB_WS__F_DEFLATE;
    s->st.deflate_connections++;
  }
  if (hub_ws__begin(c, HUB_WS__OPEN, s->timeouts[HUB_WS__L_LIVE] > 0,
                    msg) != 0)
    return;
  /* Frames that came with the request. */
  if (rest_len > 0 && c->phase == HUB_WS__OPEN && !s->closing)
    hub_ws__read_frames(c, (const uint8_t *)rest, rest_len);
}

/* on_request chose to stream the response (hub_ws_request_stream()): the
 * head goes out first, through the client's queue, then whatever the hub
 * sends the client, framed by its transport, until either side closes.
 * What the client sends now is dropped; the heartbeat sends comments. */
static void hub_ws__stream(hub_ws__conn_t *c) {
  hub_ws_server_t *s = hub_ws__server_of(c);
  const hub_transport_t *tp = s->sel_transport;
  hub_msg_t *msg = NULL;
  char head[sizeof(s->sel_headers) + sizeof(s->sel_first) + 64];
  int n;

  n = snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\n%s\r\n%s",
               s->sel_headers, s->sel_first);
  s->sel_transport = NULL;
  if (hub_ws__register(c, tp, head, n > 0 ? (size_t)n : 0, &msg) != 0)
    return;
  s->st.streams++;
  (void)hub_ws__begin(c, HUB_WS__STREAM, s->opts.ping_interval_ms > 0, msg);
}

int hub_ws_request_stream(hub_ws_request_t *req, const char *headers,
                          const char *first, const hub_transport_t *transport) {
  hub_ws_server_t *s;

  if (req == NULL || headers == NULL || first == NULL || transport == NULL ||
      transport->write != hub_ws__transport.write ||
      transport->close != hub_ws__transport.close)
    return UV_EINVAL;
  s = hub_ws__server_of(req->conn);
  if ((size_t)snprintf(s->sel_headers, sizeof(s->sel_headers), "%s",
                       headers) >= sizeof(s->sel_headers) ||
      (size_t)snprintf(s->sel_first, sizeof(s->sel_first), "%s", first) >=
          sizeof(s->sel_first))
    return UV_EINVAL;
  /* The same origin rules as a WebSocket: a page of another site must not
   * read the stream with the user's cookies. */
  if (hub_ws__hs_check_origin(req->hs, &s->policy) != 0)
    return UV_EACCES;
  s->sel_stream = 1;
  s->sel_transport = transport;
  return 0;
}

static void hub_ws__request(hub_ws__conn_t *c, const char *rest,
                            size_t rest_len) {
  hub_ws_server_t *s = hub_ws__server_of(c);
  hub_ws_request_t req;
  hub_ws__hs_t *hs = c->st.hs;
  char why[160];
  int r;

  if (hub_ws__hs_is_upgrade(hs) &&
      hub_ws__hs_check_origin(hs, &s->policy) != 0) {
    hub_ws__refuse(c, 403, hub_ws__origin_why(hs, why, sizeof(why)));
    return;
  }
  if (s->closing) {
    hub_ws__refuse(c, 503, "server shutting down");
    return;
  }
  if (s->opts.on_request != NULL) {
    req.conn = c;
    req.hs = hs;
    req.resp = NULL;
    s->sel_transport = NULL;
    s->sel_protocol[0] = '\0';
    s->sel_stream = 0;
    r = s->opts.on_request(s, &req);
    if ((c->flags & HUB_WS__F_HANDLE_CLOSING) || s->closing) {
      if (req.resp != NULL) /* the hook closed the server */
        hub_ws__free_response(s, req.resp);
      return;
    }
    if (req.resp != NULL) {
      s->st.http_responses++;
      hub_ws__send_response(c, req.resp);
      return;
    }
    if (r != 0) {
      /* The hook knows why it refused, and logs it if it wants to: a
       * line here too would say it twice, without the reason. */
      if (r >= 400 && r <= 599)
        hub_ws__refuse(c, r, NULL);
      else
        hub_ws__refuse(c, 500, "on_request returned no HTTP status");
      return;
    }
  }
  if (s->sel_stream) {
    s->sel_stream = 0;
    hub_ws__stream(c);
    return;
  }
  r = hub_ws__hs_check_upgrade(hs);
  if (r != 0) {
    hub_ws__refuse(c, r, hub_ws__refusal_reason(r));
    return;
  }
  hub_ws__upgrade(c, rest, rest_len);
}

static void hub_ws__read_request(hub_ws__conn_t *c, const char *data,
                                 size_t len) {
  hub_ws_server_t *s = hub_ws__server_of(c);
  size_t used;
  int r;

  /* A connection that has sent nothing holds no request state. */
  if (c->st.hs == NULL) {
    c->st.hs = hub_mem_alloc(s->hub, sizeof(*c->st.hs));
    if (c->st.hs == NULL) {
      hub_ws__log(s, c, UV_ENOMEM, "out of memory for the request: closing");
      hub_ws__handle_close(c);
      return;
    }
    hub_ws__hs_init_mem(c->st.hs, s->opts.max_header_bytes, &s->conn_mem);
  }
  r = hub_ws__hs_feed(c->st.hs, data, len, &used);
  if (r == HUB_WS__HS_MORE)
    return;
  if (r != HUB_WS__HS_DONE) {
    hub_ws__refuse(c, r, hub_ws__refusal_reason(r));
    return;
  }
  if (hub_ws__proxy_forward(c) != 0)
    return;
  hub_ws__request(c, data + used, len - used);
}

/* ------------------------------------------------------------------------
 * Frames
 * ------------------------------------------------------------------------ */

/* Nonzero when the reader must stop: the connection or server closes. */
static int hub_ws__stop(hub_ws__conn_t *c) {
  return c->phase != HUB_WS__OPEN || hub_ws__server_of(c)->closing ||
         (c->flags & (HUB_WS__F_HANDLE_CLOSING | HUB_WS__F_CORE_CLOSED));
}

static void hub_ws__send_pong(hub_ws__conn_t *c) {
  hub_ws_server_t *s = hub_ws__server_of(c);
  uint8_t frame[HUB_WS__CONTROL_FRAME_MAX];
  size_t n;

  s->pong_conn = NULL;
  if (hub_ws__stop(c))
    return;
  n = hub_ws__frame_control(frame, HUB_WS__OP_PONG, s->pong, s->pong_len);
  /* A full control queue means the client reads nothing: drop it. Out
   * of memory, the pong is lost too, but an operator should know. */
  if (client_send(c->client, frame, n, HUB_MSG_RAW | HUB_MSG_CONTROL) ==
      UV_ENOMEM)
    hub_ws__log(s, c, UV_ENOMEM, "out of memory for a pong");
}

static int hub_ws__rd_message(void *conn, const uint8_t *data, size_t len,
                              int binary) {
  hub_ws__conn_t *c = conn;
  hub_ws_server_t *s = hub_ws__server_of(c);

  if (!hub_ws__rate_ok(c))
    return 1;
  s->st.messages++;
  s->feed_messages++;
  if (s->opts.on_message != NULL)
    s->opts.on_message(s, c->client, data, len, binary ? HUB_MSG_BINARY : 0);
  if (hub_ws__stop(c))
    return 1;
  /* A message that left the hub congested is this sender's last for
   * now (see hub_ws__read_frames()). */
  return hub_is_congested(s->hub) ? HUB_WS__READ_PAUSED : 0;
}

static int hub_ws__rd_ping(void *conn, const uint8_t *data, size_t len) {
  hub_ws__conn_t *c = conn;
  hub_ws_server_t *s = hub_ws__server_of(c);

  s->pong_conn = c;
  s->pong_len = (uint8_t)len;
  if (len > 0)
    memcpy(s->pong, data, len);
  return 0;
}

static int hub_ws__rd_pong(void *conn, const uint8_t *data, size_t len) {
  (void)conn, (void)data, (void)len;
  return 0; /* the read itself proved the peer alive */
}

static int hub_ws__rd_close(void *conn, unsigned code, const uint8_t *reason,
                            size_t len) {
  hub_ws__conn_t *c = conn;
  hub_ws_server_t *s = hub_ws__server_of(c);

  (void)reason, (void)len;
  /* A pong owed for an earlier ping goes before our close frame. */
  if (s->pong_conn == c)
    hub_ws__send_pong(c);
  c->flags |= HUB_WS__F_CLOSE_RCVD;
  c->close_code = (uint16_t)code;
  hub_ws__send_close(c, code == HUB_WS__CLOSE_NO_STATUS ? 0 : code, NULL);
  return 1;
}

const hub_ws__reader_callbacks_t hub_ws__reader_callbacks = {
    hub_ws__rd_message, hub_ws__rd_ping, hub_ws__rd_pong, hub_ws__rd_close};

static const char *hub_ws__close_reason(int code) {
  switch (code) {
  case HUB_WS__CLOSE_PROTOCOL:
    return "protocol error";
  case HUB_WS__CLOSE_INVALID_DATA:
    return "invalid UTF-8";
  case HUB_WS__CLOSE_TOO_BIG:
    return "message too big";
  default: return "internal error";
  }
}

/* After a read: a connection with a message partly received sits on the
 * message list, its deadline counted from the first read of that message
 * (a read that completed messages and began another starts a new one);
 * between messages it is back on the live list, for the heartbeat. */
static void hub_ws__message_deadline(hub_ws__conn_t *c, uint64_t completed) {
  hub_ws_server_t *s = hub_ws__server_of(c);

  if (c->st.rx != NULL && s->timeouts[HUB_WS__L_MESSAGE] > 0) {
    if (c->list != HUB_WS__L_MESSAGE || completed > 0)
      hub_ws__list_move(c, HUB_WS__L_MESSAGE);
  } else if (c->list == HUB_WS__L_MESSAGE) {
    hub_ws__list_move(c, s->timeouts[HUB_WS__L_LIVE] > 0 ? HUB_WS__L_LIVE
                                                         : HUB_WS__L_NONE);
  }
}

/* The hub is congested: this sender waits, keeping what it sent and
 * was not read yet (the reader's state keeps what it parsed). */
static void hub_ws__pause(hub_ws__conn_t *c, const uint8_t *rest, size_t len) {
  hub_ws_server_t *s = hub_ws__server_of(c);
  int err;

  err = hubx_sock_pause(&c->sock, (const char *)rest, len);
  if (err == 0 || err == UV_EBUSY)
    return;
  hub_ws__log(s, c, err,
              "cannot keep input while the hub is congested: "
              "closing with 1011");
  hub_ws__send_close(c, HUB_WS__CLOSE_INTERNAL,
                     hub_ws__close_reason(HUB_WS__CLOSE_INTERNAL));
}

static void hub_ws__read_frames(hub_ws__conn_t *c, const uint8_t *data,
                                size_t len) {
  hub_ws_server_t *s = hub_ws__server_of(c);
  size_t used;
  int r;

  s->pong_conn = NULL;
  s->feeding = c;
  s->feed_messages = 0;
  r = hub_ws__reader_feed_some(
      s->reader, &c->st.rx, c,
      (c->flags & HUB_WS__F_DEFLATE) ? HUB_WS__RX_DEFLATE : 0, data, len,
      &used);
  s->feeding = NULL;
  if (s->pong_conn == c)
    hub_ws__send_pong(c);
  if (r == HUB_WS__READ_PAUSED && !hub_ws__stop(c))
    hub_ws__pause(c, data + used, len - used);
  if (r >= 1000 && !hub_ws__stop(c)) {
    if (r == HUB_WS__CLOSE_INTERNAL) {
      hub_ws__log(s, c, UV_ENOMEM,
                  "out of memory for a message: closing "
                  "with 1011");
    } else {
      s->st.protocol_errors++;
      hub_ws__log(s, c, 0, "%s: closing with %d", hub_ws__close_reason(r), r);
    }
    hub_ws__send_close(c, (unsigned)r, hub_ws__close_reason(r));
  } else if (!hub_ws__stop(c)) {
    hub_ws__message_deadline(c, s->feed_messages);
  }
}

void hub_ws__on_read(hubx_sock_t *sock, ssize_t nread, char *buf) {
  hub_ws__conn_t *c = (hub_ws__conn_t *)sock;

  if (nread == 0) {
    /* A pause ended with nothing kept but what the reader's state holds. */
    if (c->phase == HUB_WS__OPEN && !(c->flags & HUB_WS__F_HANDLE_CLOSING) &&
        c->st.rx != NULL)
      hub_ws__read_frames(c, (const uint8_t *)buf, 0);
    return;
  }
  if (nread < 0) {
    hub_ws__conn_lost(c, (int)nread);
    return;
  }
  if (c->flags & HUB_WS__F_HANDLE_CLOSING)
    return;
  switch (c->phase) {
  case HUB_WS__HANDSHAKE:
    hub_ws__read_request(c, buf, (size_t)nread);
    break;
  case HUB_WS__OPEN:
    /* Any bytes prove the peer alive: back to the tail of the live
     * list, a fresh heartbeat period. */
    if (c->list == HUB_WS__L_LIVE || c->list == HUB_WS__L_PING)
      hub_ws__list_move(c, HUB_WS__L_LIVE);
    hub_ws__read_frames(c, (const uint8_t *)buf, (size_t)nread);
    break;
  default:
    break; /* answered or closing: what comes now is dropped */
  }
}
