/* hub-ws's abuse limits: connections per client address, checked as a
 * connection is accepted, and messages a second per client, checked as
 * each message is complete. hubx-limits.h does the counting, and keeps
 * what each connection needs by its descriptor: the connection object has
 * no room.
 *
 * A connection beyond max_conns_per_ip is answered 503 at once, before
 * its request is read: a browser shows an error rather than a dead
 * socket, and the server spends nothing on the request. The answer goes
 * out as any refusal does (hub-ws-conn.c), so the connection lingers for
 * close_timeout_ms at most; it is not counted meanwhile.
 *
 * A client over max_msg_rate is closed with 1008 "rate limit", the code
 * RFC 6455 gives a policy violation. Dropping its messages instead would
 * leave a WebSocket client no way to know: a message has no room for a
 * notice that the application's own protocol does not define. */
#include "hub-ws-int.h"

void hub_ws__admit(hub_ws__conn_t *c, uv_os_sock_t fd) {
  hub_ws_server_t *s = hub_ws__server_of(c);
  uint8_t key[16];
  int report, r;

  /* A trusted proxy's connections are counted, not limited, until their
   * client is known (hub-ws-proxy.c). */
  if (s->ntrusted > 0) {
    r = hubx_limits_peer_key(fd, key, NULL, 0);
    if (r == 0)
      r = hubx_limits_admit_key(&s->limits, fd, key,
                                hub_ws__proxy_trusted(s, key), uv_now(s->loop),
                                &report);
  } else {
    r = hubx_limits_admit(&s->limits, fd, uv_now(s->loop), &report, NULL,
                          0);
  }
  if (r == 0)
    return;
  if (r != HUBX_LIMITS_REFUSED) {
    hub_ws__log(s, c, r, "dropping a new connection: %s", uv_strerror(r));
    hub_ws__handle_close(c);
    return;
  }
  s->st.refused_per_ip++;
  /* Once per streak: a client retrying in a loop must not flood the log.
   * The log names the peer. */
  if (report)
    hub_ws__log(s, c, 0,
                "this address has %u connections open: refusing its "
                "new ones with 503",
                (unsigned)s->opts.max_conns_per_ip);
  hub_ws__refuse(c, 503, NULL);
}

void hub_ws__release(hub_ws__conn_t *c) {
  hub_ws_server_t *s = hub_ws__server_of(c);

  hubx_limits_release(&s->limits, hubx_limits_fd(&c->sock));
}

int hub_ws__rate_ok(hub_ws__conn_t *c) {
  hub_ws_server_t *s = hub_ws__server_of(c);
  int report;

  if (s->opts.max_msg_rate == 0 ||
      hubx_limits_take(&s->limits, hubx_limits_fd(&c->sock), uv_now(s->loop),
                       &report))
    return 1;
  s->st.rate_limited++;
  hub_ws__log(s, c, 0, "over %u messages a second: closing with 1008",
              (unsigned)s->opts.max_msg_rate);
  hub_ws__send_close(c, HUB_WS__CLOSE_POLICY, "rate limit");
  return 0;
}
