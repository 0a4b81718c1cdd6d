/* hub-tcp connections: reading lines, and the transport's three
 * functions. Their timeouts are in hub-tcp-timer.c, the abuse limits in
 * hub-tcp-limits.c.
 *
 * Lifetime. A connection is freed in its uv_close() callback, after
 * hub_client_closed(); closing the socket drops a pending write without
 * a completion, so the hub never sees one for a freed client. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hub-tcp-int.h"
#include "hubx-id.h"

static int hub_tcp__frame(const hub_transport_t *tp, const hub_msg_t *msg,
                          hub_frame_t *frame);
static int hub_tcp__write(const hub_transport_t *tp, hub_client_t *client,
                          void *conn, uv_buf_t *bufs, unsigned int nbufs);
static void hub_tcp__close(const hub_transport_t *tp, hub_client_t *client,
                           void *conn);

/* One transport object for every server, so that a message is framed
 * once for TCP however many servers send it. */
static int hub_tcp__frame_ids(const hub_transport_t *tp,
                              const hub_msg_t *msg, hub_frame_t *frame);

const hub_transport_t hub_tcp__transport = {
    .name = "tcp", .frame = hub_tcp__frame, .write = hub_tcp__write,
    .close = hub_tcp__close};
const hub_transport_t hub_tcp__transport_ids = {
    .name = "tcp+ids", .frame = hub_tcp__frame_ids, .write = hub_tcp__write,
    .close = hub_tcp__close};

const hub_transport_t *hub_tcp_transport(void) {
  return &hub_tcp__transport;
}

const hub_transport_t *hub_tcp_transport_ids(void) {
  return &hub_tcp__transport_ids;
}

/* ------------------------------------------------------------------------
 * Reading
 * ------------------------------------------------------------------------ */

int hub_tcp__stopped(const hub_tcp__conn *c) {
  const hub_tcp_server_t *s = hub_tcp__server_of(c);

  return hubx_sock_is_closing(&c->sock) || s->closing ||
         client_is_closing(c->client);
}

static int hub_tcp__on_line(void *arg, const char *line, size_t len) {
  hub_tcp__conn *c = arg;
  hub_tcp_server_t *s = hub_tcp__server_of(c);

  if (!hub_tcp__line_in(c))
    return hub_tcp__stopped(c);
  s->stats.lines++;
  if (s->opts.on_line != NULL)
    s->opts.on_line(s, c->client, line, len);
  /* A line that left the hub congested is this sender's last for now. */
  return hub_tcp__stopped(c) || hub_is_congested(s->hub);
}

/* Close a client the line reader gave up on. */
static void hub_tcp__lines_failed(hub_tcp__conn *c, int err) {
  hub_tcp_server_t *s = hub_tcp__server_of(c);
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
  if (!hubx_sock_is_closing(&c->sock))
    client_close(c->client, err);
}

/* The hub is congested: this sender waits, keeping what it sent and
 * was not read yet. */
static void hub_tcp__pause(hub_tcp__conn *c, const char *rest, size_t len) {
  hub_tcp_server_t *s = hub_tcp__server_of(c);
  int err;

  err = hubx_sock_pause(&c->sock, rest, len);
  if (err == 0 || err == UV_EBUSY)
    return;
  hub_tcp__log(s, c->client, err, "cannot keep input while the hub is "
               "congested, closing");
  client_close(c->client, err);
}

void hub_tcp__on_read(hubx_sock_t *sock, ssize_t nread, char *buf) {
  hub_tcp__conn *c = (hub_tcp__conn *)sock;
  hub_tcp_server_t *s = hub_tcp__server_of(c);
  size_t before = hub_tcp__lines_held(&c->lines), used = 0;
  char msg[96];
  int err = 0;

  if (nread == 0 || hubx_sock_is_closing(&c->sock))
    return;
  if (nread > 0) {
    /* Input of a client that is shutting down is not heard any more. */
    if (hub_tcp__stopped(c))
      return;
    err = hub_tcp__lines_feed_some(&c->lines, buf, (size_t)nread,
                                   s->opts.max_line, hub_tcp__on_line, c,
                                   &s->lines_mem, &used);
    hub_tcp__heard(c);
    if (err == 0 && !hub_tcp__stopped(c) && hub_is_congested(s->hub))
      hub_tcp__pause(c, buf + used, (size_t)nread - used);
  } else if (nread == UV_EOF && !hub_tcp__stopped(c)) {
    err = hub_tcp__lines_finish_mem(&c->lines, s->opts.max_line,
                                    hub_tcp__on_line, c, &s->lines_mem);
  }
  s->stats.partial_bytes += hub_tcp__lines_held(&c->lines);
  s->stats.partial_bytes -= before;

  if (err != 0) {
    hub_tcp__lines_failed(c, err);
  } else if (nread < 0 && !hubx_sock_is_closing(&c->sock)) {
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

/* With ids: a message with a position in a topic's stream is written as
 * its id, a space, its payload and "\n", built once per message into one
 * buffer; any other message (the program's own replies and notices) as
 * without ids. */
static int hub_tcp__frame_ids(const hub_transport_t *tp,
                              const hub_msg_t *msg, hub_frame_t *frame) {
  size_t len = hub_msg_len(msg), idlen;
  char id[HUBX_ID_MAX + 1], *body;

  idlen = hubx_msg_id(msg, id);
  if (idlen == 0 || (hub_msg_flags(msg) & HUB_MSG_CONTROL))
    return hub_tcp__frame(tp, msg, frame);
  body = hub_frame_alloc(msg, idlen + 1 + len + 1);
  if (body == NULL)
    return UV_ENOMEM;
  memcpy(body, id, idlen);
  body[idlen] = ' ';
  if (len > 0)
    memcpy(body + idlen + 1, hub_msg_data(msg), len);
  body[idlen + 1 + len] = '\n';
  frame->body = body;
  frame->body_len = idlen + 1 + len + 1;
  return 0;
}

void hub_tcp__on_write(hubx_sock_t *sock, int status) {
  hub_tcp__conn *c = (hub_tcp__conn *)sock;

  hub_client_write_done(c->client, status);
}

/* Write what the kernel takes now; the socket keeps the rest until it is
 * writable (an idle or keeping-up connection holds nothing). */
static int hub_tcp__write(const hub_transport_t *tp, hub_client_t *client,
                          void *conn, uv_buf_t *bufs, unsigned int nbufs) {
  hub_tcp__conn *c = conn;

  (void)tp;
  (void)client;
  return hubx_sock_write(&c->sock, bufs, nbufs);
}

static void hub_tcp__on_conn_closed(uv_handle_t *handle) {
  hub_tcp__conn *c = (hub_tcp__conn *)handle;
  hub_tcp_server_t *s = hub_tcp__server_of(c);

  s->stats.partial_bytes -= hub_tcp__lines_held(&c->lines);
  hub_tcp__lines_reset_mem(&c->lines, &s->lines_mem);
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
  hub__queue_remove(&c->node);
  hub_tcp__release(hub_tcp__server_of(c), hubx_limits_fd(&c->sock));
  hubx_sock_close(&c->sock, hub_tcp__on_conn_closed);
}

/* ------------------------------------------------------------------------
 * New connections
 * ------------------------------------------------------------------------ */

/* Take one accepted socket: a handle, a hub client, reads. Returns 0 or
 * an error after which `fd` is closed and nothing is left. */
int hub_tcp__add(hub_tcp_server_t *s, int fd) {
  hub_tcp__conn *c;
  int r;

  c = calloc(1, sizeof(*c));
  if (c == NULL) {
    close(fd);
    return UV_ENOMEM;
  }
  hub__queue_init(&c->node);
  r = hubx_sock_open(&c->sock, &s->sock_ctx, s->loop, fd,
                     s->opts.send_buffer);
  if (r != 0) {
    close(fd);
    free(c);
    return r;
  }
  s->stats.connections++;
  r = hub_register(s->hub, &hub_tcp__transport, c, &c->client);
  if (r != 0)
    goto fail;

  s->stats.accepted++;
  c->heard = hub_tcp__now32(s);
  hub__queue_insert_tail(&s->conns, &c->node);
  if (s->opts.idle_timeout_ms > 0 && !uv_is_active((uv_handle_t *)&s->timer))
    hub_tcp__timer_arm(s);
  if (s->opts.on_connect != NULL)
    s->opts.on_connect(s, c->client);
  return 0;

fail:
  /* No client: the close callback only frees. */
  hubx_sock_close(&c->sock, hub_tcp__on_conn_closed);
  return r;
}

int hub_tcp_client_getpeername(const hub_client_t *client,
                               struct sockaddr *name, int *namelen) {
  hub_tcp__conn *c;

  if (client == NULL || (client_get_transport(client) != &hub_tcp__transport &&
                         client_get_transport(client) !=
                             &hub_tcp__transport_ids))
    return UV_EINVAL;
  c = client_get_conn(client);
  if (hubx_sock_is_closing(&c->sock))
    return UV_EBADF;
  return hubx_sock_getpeername(&c->sock, name, namelen);
}
