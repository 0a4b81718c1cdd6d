/* The TCP adapter's server as the fixtures start it. */
#include "servers.h"

int ts_tcp_listen(hub_tcp_server_t **srv, hub_t *hub,
                  const hub_tcp_options_t *given,
                  const hub_tcp_options_t *cb, int *port) {
  return ts_tcp_listen_at(srv, hub, given, cb, "127.0.0.1", port);
}

int ts_tcp_listen_at(hub_tcp_server_t **srv, hub_t *hub,
                     const hub_tcp_options_t *given,
                     const hub_tcp_options_t *cb, const char *ip,
                     int *port) {
  hub_tcp_options_t o;
  int r;

  TS_OPTIONS(o, hub_tcp_options_init, given);
  o.on_connect = cb->on_connect;
  o.on_line = cb->on_line;
  o.on_log = cb->on_log;
  o.data = cb->data;
  r = hub_tcp_server_new(srv, hub, &o);
  if (r != 0)
    *srv = NULL;
  TS_LISTEN(hub_tcp, *srv, ip, port, r);
  return r;
}
