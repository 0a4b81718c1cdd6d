/* The adapters' servers as the fixtures start them: the options a test
 * gave (NULL: defaults) with the fixture's callbacks, listening on
 * 127.0.0.1 with a port the kernel picks. listen-tcp.c is built when the
 * TCP adapter is, listen-ws.c when the WebSocket adapter is. */
#ifndef HUB_TEST_SERVERS_H
#define HUB_TEST_SERVERS_H

#include "hub-tcp.h"
#include "hub-ws.h"
#include "support.h"

/* If `r` is 0, start the adapter's server `srv` (`a` is the adapter's
 * prefix: hub_tcp, hub_ws) on 127.0.0.1 with a port the kernel picks, and
 * store the port in *port; `r` becomes 0 or the error. */
#define TS_LISTEN(a, srv, port, r)                                           \
  do {                                                                       \
    struct sockaddr_in ts_addr_;                                             \
    struct sockaddr_storage ts_bound_;                                       \
    int ts_len_ = sizeof(ts_bound_);                                         \
    if ((r) == 0)                                                            \
      (r) = a##_server_start((srv), ts_any_port(&ts_addr_));                 \
    if ((r) == 0)                                                            \
      (r) = a##_server_getsockname((srv), (struct sockaddr *)&ts_bound_,     \
                                   &ts_len_);                                \
    (r) = ts_listening((r), &ts_bound_, (port));                             \
  } while (0)

/* A hub-tcp server on `hub` with `given` options (NULL: defaults) whose
 * callbacks and data are those of `cb`, listening; its port in *port.
 * Returns 0 or an error (*srv NULL if it was not made). */
int ts_tcp_listen(hub_tcp_server_t **srv, hub_t *hub,
                  const hub_tcp_options_t *given,
                  const hub_tcp_options_t *cb, int *port);

/* The same for a hub-ws server. */
int ts_ws_listen(hub_ws_server_t **srv, hub_t *hub,
                 const hub_ws_options_t *given, const hub_ws_options_t *cb,
                 int *port);

#endif /* HUB_TEST_SERVERS_H */
