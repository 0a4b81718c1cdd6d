/* The WebSocket adapter's server as the fixtures start it. */
#include "servers.h"

int ts_ws_listen(hub_ws_server_t **srv, hub_t *hub,
                 const hub_ws_options_t *given, const hub_ws_options_t *cb,
                 int *port) {
  return ts_ws_listen_at(srv, hub, given, cb, "127.0.0.1", port);
}

int ts_ws_listen_at(hub_ws_server_t **srv, hub_t *hub,
                    const hub_ws_options_t *given, const hub_ws_options_t *cb,
                    const char *ip, int *port) {
  hub_ws_options_t o;
  int r;

  TS_OPTIONS(o, hub_ws_options_init, given);
  o.on_request = cb->on_request;
  o.on_connect = cb->on_connect;
  o.on_message = cb->on_message;
  o.on_log = cb->on_log;
  o.data = cb->data;
  r = hub_ws_server_new(srv, hub, &o);
  if (r != 0)
    *srv = NULL;
  TS_LISTEN(hub_ws, *srv, ip, port, r);
  return r;
}
