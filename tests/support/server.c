/* The server side of a fixture: a hub with the fixture's callbacks, the
 * address to listen on, and the clients in connection order. */
#include <netinet/in.h>
#include <stdlib.h>

#include "support.h"

int ts_hub_new(hub_t **hub, uv_loop_t *loop, const hub_options_t *opts,
               hub_client_close_cb on_close, hub_drop_cb on_drop,
               void *data) {
  hub_options_t o;

  if (opts != NULL)
    o = *opts;
  else
    hub_options_init(&o);
  o.on_client_close = on_close;
  o.on_drop = on_drop;
  o.data = data;
  return hub_new(hub, loop, &o);
}

struct sockaddr *ts_any_port(struct sockaddr_in *addr) {
  uv_ip4_addr("127.0.0.1", 0, addr);
  return (struct sockaddr *)addr;
}

int ts_port_of(const struct sockaddr_storage *bound) {
  const struct sockaddr_in *a = (const struct sockaddr_in *)bound;

  if (a->sin_family != AF_INET || a->sin_port == 0)
    return UV_EINVAL;
  return ntohs(a->sin_port);
}

int ts_client_add(hub_client_t **clients, int *n, int max, hub_client_t *c) {
  if (*n >= max)
    abort();
  clients[*n] = c;
  client_set_data(c, (void *)(uintptr_t)(*n + 1));
  return (*n)++;
}

int ts_client_index(hub_client_t *c) {
  return (int)(uintptr_t)client_get_data(c) - 1;
}

int ts_client_closed(int *closed, int *nclosed, int max, hub_client_t *c) {
  int i = ts_client_index(c);

  if (i < 0 || i >= max || closed[i])
    abort(); /* closed twice, or never connected */
  closed[i] = 1;
  (*nclosed)++;
  return i;
}
