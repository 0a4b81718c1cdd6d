/* hub-ws: the transport libhub writes through (frame, write, close), how
 * connections end, and the client functions.
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
#include "hubx-id.h"

#include <stdlib.h>
#include <string.h>

#include "ws-utf8.h"

/* ------------------------------------------------------------------------
 * Ending connections
 * ------------------------------------------------------------------------ */

void hub_ws__leave_handshake(hub_ws__conn_t *c) {
  hub_ws_server_t *s = hub_ws__server_of(c);

  if (c->phase != HUB_WS__HANDSHAKE)
    return;
  s->st.handshakes--;
  if (c->st.hs != NULL) {
    hub_ws__hs_free(c->st.hs);
    hub_mem_free(s->hub, c->st.hs);
    c->st.hs = NULL;
  }
}

static void hub_ws__on_closed(uv_handle_t *handle) {
  hub_ws__conn_t *c = (hub_ws__conn_t *)handle;
  hub_ws_server_t *s = hub_ws__server_of(c);

  hub__queue_remove(&c->link);
  hub_ws__leave_handshake(c);
  if (c->phase == HUB_WS__RESPONSE && c->st.resp != NULL) {
    hub_ws__free_response(s, c->st.resp);
    c->st.resp = NULL;
  } else if (c->phase != HUB_WS__HANDSHAKE && c->st.rx != NULL) {
    hub_ws__rx_free(s->reader, c->st.rx);
    c->st.rx = NULL;
  }
  if (s->pong_conn == c)
    s->pong_conn = NULL;
  /* on_client_close runs in here and may still ask about the close. */
  if (c->client != NULL)
    hub_client_closed(c->client);
  s->st.connections--;
  free(c);
  hub_ws__maybe_finish(s);
}

void hub_ws__handle_close(hub_ws__conn_t *c) {
  if (c->flags & HUB_WS__F_HANDLE_CLOSING)
    return;
  /* The hub must hear of it first: its close is what lets us report the
   * client closed. client_close() comes back here through the
   * transport's close. */
  if (c->client != NULL && !(c->flags & HUB_WS__F_CORE_CLOSED)) {
    c->flags |= HUB_WS__F_EOF;
    if (client_close(c->client, HUB_ETRANSPORT) == 0)
      return;
    c->flags |= HUB_WS__F_CORE_CLOSED;
  }
  c->flags |= HUB_WS__F_HANDLE_CLOSING;
  hub_ws__list_move(c, HUB_WS__L_NONE);
  hub_ws__release(c);
  hubx_sock_close(&c->sock, hub_ws__on_closed);
}

/* The peer closed or reset the connection, or reading failed. */
void hub_ws__conn_lost(hub_ws__conn_t *c, int err) {
  if (c->flags & HUB_WS__F_HANDLE_CLOSING)
    return;
  c->flags |= HUB_WS__F_EOF;
  if (c->client != NULL && !(c->flags & HUB_WS__F_CORE_CLOSED))
    client_close(c->client, err); /* comes back through hub_ws__tp_close */
  else
    hub_ws__handle_close(c);
}

/* Send our FIN and keep reading (and dropping) until the peer's FIN, a
 * read error or the close timeout closes the handle. */
void hub_ws__linger(hub_ws__conn_t *c) {
  if (c->flags & (HUB_WS__F_HANDLE_CLOSING | HUB_WS__F_SHUTDOWN))
    return;
  c->flags |= HUB_WS__F_SHUTDOWN;
  if (hubx_sock_shutdown(&c->sock) != 0)
    hub_ws__handle_close(c);
}

int hub_ws__send_close(hub_ws__conn_t *c, unsigned code, const char *reason) {
  hub_ws_server_t *s = hub_ws__server_of(c);
  uint8_t frame[HUB_WS__CONTROL_FRAME_MAX];
  size_t n;
  int r;

  if (c->client == NULL ||
      (c->flags & (HUB_WS__F_CLOSE_SENT | HUB_WS__F_CORE_CLOSED |
                   HUB_WS__F_HANDLE_CLOSING)))
    return HUB_ECLOSING;
  c->flags |= HUB_WS__F_CLOSE_SENT;
  if (!(c->flags & HUB_WS__F_CLOSE_RCVD))
    c->close_code = (uint16_t)(code == 0 ? HUB_WS__CLOSE_NO_STATUS : code);
  c->phase = HUB_WS__CLOSING;
  /* Reader state is dropped now, unless it is in use right now: the
   * reader then releases it when the callback returns. */
  if (c->st.rx != NULL && s->feeding != c) {
    hub_ws__rx_free(s->reader, c->st.rx);
    c->st.rx = NULL;
  }
  hub_ws__list_move(c, HUB_WS__L_CLOSE);
  n = hub_ws__frame_close(frame, code, reason);
  r = client_send(c->client, frame, n, HUB_MSG_RAW | HUB_MSG_CONTROL);
  if (r == 0) {
    r = client_shutdown(c->client, 0);
    if (r == HUB_ECLOSING)
      r = 0; /* already draining (the hub is closing): fine */
  }
  if (r != 0) {
    /* No room for the close frame: the client reads nothing anyway. */
    c->flags |= HUB_WS__F_EOF;
    client_close(c->client, r);
  }
  return 0;
}

/* ------------------------------------------------------------------------
 * The transport
 * ------------------------------------------------------------------------ */

/* A text frame that is not UTF-8 makes every client that reads it close
 * with 1007 (RFC 6455 §8.1): such a message is refused here, so it is not
 * queued for WebSocket clients and the hub counts it as refused (clients
 * of other transports still get it). A frame is made once per message and
 * shared by every client, so a message is checked once; a refusal is not
 * remembered, though, and is checked again for the next client. Only a
 * sender's bug gets that far: the adapter checks its clients' text as it
 * arrives, and the Redis bridge what arrives from Redis. */
static int hub_ws__tp_frame(const hub_transport_t *tp, const hub_msg_t *msg,
                            hub_frame_t *frame) {
  unsigned op = (hub_msg_flags(msg) & HUB_MSG_BINARY) ? HUB_WS__OP_BINARY
                                                      : HUB_WS__OP_TEXT;

  (void)tp;
  if (op == HUB_WS__OP_TEXT &&
      !hub_ws__utf8_valid(hub_msg_data(msg), hub_msg_len(msg)))
    return UV_EILSEQ;
  frame->head_len =
      (uint8_t)hub_ws__frame_head(frame->head, op, hub_msg_len(msg));
  return 0;
}

/* A pending write is done: the hub's, or an HTTP response's. */
void hub_ws__on_written(hubx_sock_t *sock, int status) {
  hub_ws__conn_t *c = (hub_ws__conn_t *)sock;

  if (c->phase == HUB_WS__RESPONSE) {
    hub_ws__free_response(hub_ws__server_of(c), c->st.resp);
    c->st.resp = NULL;
    if (status < 0)
      hub_ws__handle_close(c);
    else
      hub_ws__linger(c);
    return;
  }
  if (status < 0)
    c->flags |= HUB_WS__F_EOF; /* see hub_ws__tp_write() */
  hub_client_write_done(c->client, status);
}

/* Write what the socket takes now; the socket keeps the rest until it is
 * writable. */
static int hub_ws__tp_write(const hub_transport_t *tp, hub_client_t *client,
                            void *conn, uv_buf_t *bufs, unsigned int nbufs) {
  hub_ws__conn_t *c = conn;
  int r;

  (void)tp;
  (void)client;
  if (c->flags & HUB_WS__F_HANDLE_CLOSING)
    return UV_ECANCELED;
  r = hubx_sock_write(&c->sock, bufs, nbufs);
  /* Part of a frame may be on the wire: nothing more may follow it, not
   * even a close frame. The hub closes the client. */
  if (r < 0)
    c->flags |= HUB_WS__F_EOF;
  return r;
}

/* The hub closes a client whose close frame was not sent (hub_close(),
 * client_close(), the slow-consumer policy): tell the peer why if the
 * frame can be written right now. Its queue is gone, so the frame goes
 * straight to the socket, which hubx_sock_try_write() refuses while a write is
 * in flight: a frame is never written into the middle of another. A
 * client that cannot take it (a slow one, typically), or that timed out,
 * is simply closed.
 * Returns nonzero if the frame was written. */
static int hub_ws__close_frame_now(hub_ws__conn_t *c, hub_client_t *client) {
  hub_ws_server_t *s = hub_ws__server_of(c);
  uint8_t frame[HUB_WS__CONTROL_FRAME_MAX];
  int status = client_close_status(client);
  unsigned code = HUB_WS__CLOSE_NORMAL;
  const char *reason = "";
  uv_buf_t buf;
  size_t n;

  /* A peer that stopped answering gets no frame and no wait. */
  if (c->phase != HUB_WS__OPEN || status == UV_ETIMEDOUT ||
      (c->flags &
       (HUB_WS__F_CLOSE_SENT | HUB_WS__F_EOF | HUB_WS__F_HANDLE_CLOSING)))
    return 0;
  if (hub_is_closing(s->hub)) {
    code = HUB_WS__CLOSE_GOING_AWAY;
    reason = "server shutting down";
  } else if (status == HUB_ESLOW) {
    code = HUB_WS__CLOSE_POLICY;
    reason = "slow consumer";
  } else if (status < 0) {
    code = HUB_WS__CLOSE_INTERNAL;
  }
  n = hub_ws__frame_close(frame, code, reason);
  buf = uv_buf_init((char *)frame, (unsigned)n);
  if (hubx_sock_try_write(&c->sock, &buf, 1) != (int)n)
    return 0; /* nothing, or a torn frame: the close below ends it */
  c->flags |= HUB_WS__F_CLOSE_SENT;
  c->close_code = (uint16_t)code;
  c->phase = HUB_WS__CLOSING;
  if (c->st.rx != NULL && s->feeding != c) {
    hub_ws__rx_free(s->reader, c->st.rx);
    c->st.rx = NULL;
  }
  hub_ws__list_move(c, HUB_WS__L_CLOSE);
  return 1;
}

static void hub_ws__tp_close(const hub_transport_t *tp, hub_client_t *client,
                             void *conn) {
  hub_ws__conn_t *c = conn;

  (void)tp;
  (void)hub_ws__close_frame_now(c, client);
  c->flags |= HUB_WS__F_CORE_CLOSED;
  if ((c->flags & HUB_WS__F_CLOSE_SENT) && !(c->flags & HUB_WS__F_EOF))
    hub_ws__linger(c);
  else
    hub_ws__handle_close(c);
}

/* With message ids (libhub.v1): the payload on the wire is the id, LF,
 * then the message's payload, made once per message into one buffer with
 * the frame's header (a copy of the payload, once, for every client of
 * this transport). A message without a position has an empty id. The id
 * is ASCII, so a text message stays UTF-8. Control messages (the
 * program's notices, "!\n{...}") are framed as they are. */
static int hub_ws__tp_frame_ids(const hub_transport_t *tp, const hub_msg_t *msg,
                                hub_frame_t *frame) {
  unsigned op = (hub_msg_flags(msg) & HUB_MSG_BINARY) ? HUB_WS__OP_BINARY
                                                      : HUB_WS__OP_TEXT;
  size_t len = hub_msg_len(msg), idlen, hl, total;
  uint8_t head[HUB_WS__HEAD_MAX];
  char id[HUBX_ID_MAX + 1];
  uint8_t *body;

  if (hub_msg_flags(msg) & HUB_MSG_CONTROL)
    return hub_ws__tp_frame(tp, msg, frame); /* the server's notices: no id */
  if (op == HUB_WS__OP_TEXT && !hub_ws__utf8_valid(hub_msg_data(msg), len))
    return UV_EILSEQ;
  idlen = hubx_msg_id(msg, id);
  total = idlen + 1 + len;
  hl = hub_ws__frame_head(head, op, total);
  body = hub_frame_alloc(msg, hl + total);
  if (body == NULL)
    return UV_ENOMEM;
  memcpy(body, head, hl);
  memcpy(body + hl, id, idlen);
  body[hl + idlen] = '\n';
  if (len > 0)
    memcpy(body + hl + idlen + 1, hub_msg_data(msg), len);
  frame->body = body;
  frame->body_len = hl + total;
  return 0;
}

const hub_transport_t hub_ws__transport = {.name = "websocket",
                                           .frame = hub_ws__tp_frame,
                                           .write = hub_ws__tp_write,
                                           .close = hub_ws__tp_close};
const hub_transport_t hub_ws__transport_ids = {.name = "websocket+ids",
                                               .frame = hub_ws__tp_frame_ids,
                                               .write = hub_ws__tp_write,
                                               .close = hub_ws__tp_close};

const hub_transport_t *hub_ws_transport(void) { return &hub_ws__transport; }

const hub_transport_t *hub_ws_transport_ids(void) {
  return &hub_ws__transport_ids;
}

/* ------------------------------------------------------------------------
 * Clients
 * ------------------------------------------------------------------------ */

/* A client of this adapter: one whose transport writes with its write
 * (plain, with ids, or a streamed response's framing). */
static hub_ws__conn_t *hub_ws__conn_of_client(const hub_client_t *client) {
  if (client == NULL ||
      client_get_transport(client)->write != hub_ws__transport.write)
    return NULL;
  return client_get_conn(client);
}

int hub_ws_client_close(hub_client_t *client, unsigned int code,
                        const char *reason) {
  hub_ws__conn_t *c = hub_ws__conn_of_client(client);

  if (c == NULL || !hub_ws__close_code_valid(code))
    return UV_EINVAL;
  if (c->phase != HUB_WS__OPEN || client_is_closing(client))
    return HUB_ECLOSING;
  return hub_ws__send_close(c, code, reason);
}

unsigned int hub_ws_client_close_code(const hub_client_t *client,
                                      int *by_peer) {
  hub_ws__conn_t *c = hub_ws__conn_of_client(client);

  if (by_peer != NULL)
    *by_peer = 0;
  if (c == NULL)
    return 0;
  if (!(c->flags & (HUB_WS__F_CLOSE_SENT | HUB_WS__F_CLOSE_RCVD)))
    return HUB_WS__CLOSE_ABNORMAL;
  if (by_peer != NULL)
    *by_peer = (c->flags & HUB_WS__F_CLOSE_RCVD) != 0;
  return c->close_code;
}

int hub_ws_client_getpeername(const hub_client_t *client,
                              struct sockaddr *name, int *namelen) {
  hub_ws__conn_t *c = hub_ws__conn_of_client(client);

  if (c == NULL || name == NULL || namelen == NULL)
    return UV_EINVAL;
  if (c->flags & HUB_WS__F_HANDLE_CLOSING)
    return UV_EBADF;
  return hubx_sock_getpeername(&c->sock, name, namelen);
}

int hub_ws_client_address(const hub_client_t *client, struct sockaddr *name,
                          int *namelen) {
  hub_ws__conn_t *c = hub_ws__conn_of_client(client);

  if (c == NULL || name == NULL || namelen == NULL)
    return UV_EINVAL;
  if (c->flags & HUB_WS__F_HANDLE_CLOSING)
    return UV_EBADF;
  return hub_ws__client_address(c, name, namelen);
}
