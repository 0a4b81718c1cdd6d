/* hub-ws: permessage-deflate (RFC 7692) on the sending side.
 *
 * A server with the deflate option has two transports of its own, the
 * compressing variants of hub_ws__transport and hub_ws__transport_ids: same
 * write and close, another frame function. The hub frames a message once per
 * transport, so each message is compressed once for all the server's
 * clients that negotiated deflate, and the frame is kept with the message
 * like the plain one. Nothing per connection but HUB_WS__F_DEFLATE, which
 * tells the reader that the client may send compressed messages. */
#include "hub-ws-int.h"
#include "hubx-id.h"

#include <string.h>

#include "ws-utf8.h"

/* The frame of a message for clients with deflate: compressed when it is
 * long enough and shrinks, else the plain transport's frame. The id and LF
 * of the ids variant are compressed with the payload. */
static int hub_ws__tp_frame_deflate(const hub_transport_t *tp,
                                    const hub_msg_t *msg, hub_frame_t *frame) {
  const hub_ws__dtp_t *d = (const hub_ws__dtp_t *)tp;
  hub_ws_server_t *s = d->server;
  unsigned flags = hub_msg_flags(msg);
  unsigned op = (flags & HUB_MSG_BINARY) ? HUB_WS__OP_BINARY : HUB_WS__OP_TEXT;
  size_t len = hub_msg_len(msg), idlen = 0, zlen, hl;
  char id[HUBX_ID_MAX + 2];
  uint8_t head[HUB_WS__HEAD_MAX], *body;
  const uint8_t *z;
  int r;

  if (flags & HUB_MSG_CONTROL)
    return d->plain->frame(d->plain, msg, frame); /* notices */
  if (d->plain == &hub_ws__transport_ids) {
    idlen = hubx_msg_id(msg, id);
    id[idlen++] = '\n';
  }
  if (idlen + len < s->opts.deflate_threshold)
    return d->plain->frame(d->plain, msg, frame);
  if (op == HUB_WS__OP_TEXT && !hub_ws__utf8_valid(hub_msg_data(msg), len))
    return UV_EILSEQ; /* see hub_ws__tp_frame() */
  r = hub_ws__deflate(s->deflater, id, idlen, hub_msg_data(msg), len, &z,
                      &zlen);
  if (r == 1)
    return d->plain->frame(d->plain, msg, frame); /* it does not shrink */
  if (r != 0)
    return UV_ENOMEM;
  hl = hub_ws__frame_head(head, op, zlen);
  head[0] |= 0x40; /* RSV1: compressed (RFC 7692 §6) */
  body = hub_frame_alloc(msg, hl + zlen);
  if (body == NULL)
    return UV_ENOMEM;
  memcpy(body, head, hl);
  memcpy(body + hl, z, zlen);
  frame->body = body;
  frame->body_len = hl + zlen;
  s->st.deflated++;
  s->st.deflate_in += idlen + len;
  s->st.deflate_out += zlen;
  return 0;
}

int hub_ws__deflate_init(hub_ws_server_t *s) {
  const hub_transport_t *plain[2] = {&hub_ws__transport,
                                     &hub_ws__transport_ids};
  int i;

  if (hub_ws__deflater_new(&s->deflater, s->opts.deflate_level,
                           (unsigned)s->opts.deflate_window_bits) != 0)
    return UV_ENOMEM;
  for (i = 0; i < 2; i++) {
    s->dtp[i].tp = *plain[i];
    s->dtp[i].tp.frame = hub_ws__tp_frame_deflate;
    s->dtp[i].server = s;
    s->dtp[i].plain = plain[i];
  }
  s->dtp[0].tp.name = "websocket+deflate";
  s->dtp[1].tp.name = "websocket+ids+deflate";
  return 0;
}

const hub_transport_t *hub_ws__deflate_select(hub_ws_server_t *s,
                                              const hub_ws__hs_t *hs,
                                              const hub_transport_t *tp,
                                              char *ext, size_t cap) {
  const hub_transport_t *dtp;

  ext[0] = '\0';
  if (s->deflater == NULL)
    return NULL;
  if (tp == &hub_ws__transport)
    dtp = &s->dtp[0].tp;
  else if (tp == &hub_ws__transport_ids)
    dtp = &s->dtp[1].tp;
  else
    return NULL; /* the application's own framing: left as it is */
  if (hub_ws__pmd_accept(hs, (unsigned)s->opts.deflate_window_bits, ext, cap) !=
      1) {
    ext[0] = '\0';
    return NULL;
  }
  return dtp;
}

const hub_transport_t *hub_ws_client_framing(const hub_client_t *client) {
  const hub_transport_t *tp;

  if (client == NULL)
    return NULL;
  tp = client_get_transport(client);
  if (tp->frame == hub_ws__tp_frame_deflate)
    return ((const hub_ws__dtp_t *)tp)->plain;
  return tp;
}

int hub_ws_client_deflate(const hub_client_t *client) {
  const hub_transport_t *tp;
  hub_ws__conn_t *c;

  if (client == NULL)
    return 0;
  tp = client_get_transport(client);
  if (tp->write != hub_ws__transport.write)
    return 0;
  c = client_get_conn(client);
  return (c->flags & HUB_WS__F_DEFLATE) != 0;
}
