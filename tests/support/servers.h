/* The adapters' servers as the fixtures start them: the options a test
 * gave (NULL: defaults) with the fixture's callbacks, listening on
 * 127.0.0.1 (or an address the test gives) with a port the kernel picks. listen-tcp.c is built when the
 * TCP adapter is, listen-ws.c when the WebSocket adapter is. */
#ifndef HUB_TEST_SERVERS_H
#define HUB_TEST_SERVERS_H

#include "hub-tcp.h"
#include "hub-ws.h"
#include "support.h"

/* If `r` is 0, start the adapter's server `srv` (`a` is the adapter's
 * prefix: hub_tcp, hub_ws) on `ip` (IPv4 or IPv6) with a port the kernel
 * picks, and store the port in *port; `r` becomes 0 or the error. */
#define TS_LISTEN(a, srv, ip, port, r)                                       \
  do {                                                                       \
    struct sockaddr_storage ts_addr_, ts_bound_;                             \
    int ts_len_ = sizeof(ts_bound_);                                         \
    if ((r) == 0)                                                            \
      (r) = ts_ip_any_port((ip), &ts_addr_);                                 \
    if ((r) == 0)                                                            \
      (r) = a##_server_start((srv), (struct sockaddr *)&ts_addr_);           \
    if ((r) == 0)                                                            \
      (r) = a##_server_getsockname((srv), (struct sockaddr *)&ts_bound_,     \
                                   &ts_len_);                                \
    (r) = ts_listening_on((r), &ts_bound_, ts_addr_.ss_family, (port));      \
  } while (0)

/* A hub-tcp server on `hub` with `given` options (NULL: defaults) whose
 * callbacks and data are those of `cb`, listening on 127.0.0.1; its port
 * in *port. Returns 0 or an error (*srv NULL if it was not made). */
int ts_tcp_listen(hub_tcp_server_t **srv, hub_t *hub,
                  const hub_tcp_options_t *given,
                  const hub_tcp_options_t *cb, int *port);

/* The same, listening on `ip` (IPv4 or IPv6: "::" is every address, and
 * with Linux's default dual stack takes IPv4 clients too). */
int ts_tcp_listen_at(hub_tcp_server_t **srv, hub_t *hub,
                     const hub_tcp_options_t *given,
                     const hub_tcp_options_t *cb, const char *ip,
                     int *port);

/* The same two for a hub-ws server. */
int ts_ws_listen(hub_ws_server_t **srv, hub_t *hub,
                 const hub_ws_options_t *given, const hub_ws_options_t *cb,
                 int *port);
int ts_ws_listen_at(hub_ws_server_t **srv, hub_t *hub,
                    const hub_ws_options_t *given, const hub_ws_options_t *cb,
                    const char *ip, int *port);

#endif /* HUB_TEST_SERVERS_H */
