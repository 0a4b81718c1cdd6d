/* What the tcp and ws fixtures share: the loop and the hub, the server
 * side in connection order, the client sockets, stepping and stopping. */
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "support.h"

int ts_hub_new(hub_t **hub, uv_loop_t *loop, const hub_options_t *opts,
               hub_client_close_cb on_close, hub_drop_cb on_drop,
               void *data) {
  hub_options_t o;

  TS_OPTIONS(o, hub_options_init, opts);
  o.on_client_close = on_close;
  o.on_drop = on_drop;
  o.data = data;
  return hub_new(hub, loop, &o);
}

int ts_fixture_start(void *fixture, size_t size, const hub_options_t *opts,
                     hub_client_close_cb on_close) {
  ts_fixture_t *f = fixture;
  int r;

  memset(fixture, 0, size);
  signal(SIGPIPE, SIG_IGN);
  r = uv_loop_init(&f->loop);
  if (r != 0)
    return r;
  return ts_hub_new(&f->hub, &f->loop, opts,
                    on_close != NULL ? on_close : ts_on_client_close,
                    ts_on_drop, f);
}

void ts_on_client_close(hub_t *hub, hub_client_t *c, int status) {
  ts_fixture_t *f = hub_get_data(hub);
  int i = ts_client_index(c);

  if (i < 0 || i >= TS_MAX_CLIENTS || f->closed[i])
    abort(); /* closed twice, or never connected */
  f->closed[i] = 1;
  f->status[i] = status;
  f->nclosed++;
}

void ts_on_drop(hub_t *hub, hub_client_t *c, hub_drop_reason_t reason,
                size_t n, size_t bytes) {
  ts_fixture_t *f = hub_get_data(hub);

  (void)c, (void)bytes;
  if ((unsigned)reason < 16)
    f->dropped[reason] += n;
}

int ts_client_added(ts_fixture_t *f, hub_client_t *c) {
  if (f->nclients >= TS_MAX_CLIENTS)
    abort();
  f->clients[f->nclients] = c;
  client_set_data(c, (void *)(uintptr_t)(f->nclients + 1));
  return f->nclients++;
}

int ts_client_index(hub_client_t *c) {
  return (int)(uintptr_t)client_get_data(c) - 1;
}

void ts_hub_closed(hub_t *hub) {
  ts_fixture_t *f = hub_get_data(hub);

  f->hub_closed++;
}

hub_stats_t ts_hub_stats(hub_t *hub) {
  hub_stats_t st;

  memset(&st, 0, sizeof(st));
  hub_get_stats(hub, &st);
  return st;
}

void ts_server_closed(ts_fixture_t *f) {
  f->srv_closed++;
  if (hub_close(f->hub, 0, ts_hub_closed) != 0)
    abort();
}

int ts_listening(int r, const struct sockaddr_storage *bound, int *port) {
  return ts_listening_on(r, bound, AF_INET, port);
}

int ts_listening_on(int r, const struct sockaddr_storage *bound, int family,
                    int *port) {
  const struct sockaddr_in *a = (const struct sockaddr_in *)bound;
  const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)bound;
  int p;

  if (r != 0)
    return r;
  if (bound->ss_family != family)
    return UV_EINVAL;
  p = ntohs(family == AF_INET ? a->sin_port : a6->sin6_port);
  if (p == 0)
    return UV_EINVAL;
  *port = p;
  return 0;
}

struct sockaddr *ts_any_port(struct sockaddr_in *addr) {
  uv_ip4_addr("127.0.0.1", 0, addr);
  return (struct sockaddr *)addr;
}

int ts_ip_any_port(const char *ip, struct sockaddr_storage *addr) {
  memset(addr, 0, sizeof(*addr));
  if (uv_ip4_addr(ip, 0, (struct sockaddr_in *)addr) == 0)
    return 0;
  if (uv_ip6_addr(ip, 0, (struct sockaddr_in6 *)addr) == 0)
    return 0;
  return UV_EINVAL;
}

void ts_client_read(ts_client_t *t) {
  if (t->fd >= 0 && t->connected && !t->paused && !t->eof)
    t->eof = ts_recv_all(t->fd, &t->in, &t->len, &t->cap);
}

void ts_step(ts_fixture_t *f) {
  int i;

  uv_run(&f->loop, UV_RUN_NOWAIT);
  for (i = 0; i < f->ntc; i++)
    ts_client_read(&f->tc[i]);
  ts_loop_wait(&f->loop, 2);
}

int ts_client_socket(ts_fixture_t *f, int rcvbuf) {
  ts_client_t *t;

  if (f->ntc >= TS_MAX_CLIENTS)
    return -1;
  t = &f->tc[f->ntc];
  memset(t, 0, sizeof(*t));
  t->fd = ts_socket(rcvbuf, 0);
  return t->fd < 0 ? -1 : f->ntc++;
}

int ts_client_from(ts_fixture_t *f, const char *from, int port) {
  struct sockaddr_storage src, dst;
  socklen_t len = sizeof(struct sockaddr_in);
  int i = ts_client_socket(f, 0), fd;

  if (i < 0)
    return -1;
  memset(&src, 0, sizeof(src));
  memset(&dst, 0, sizeof(dst));
  if (strchr(from, ':') != NULL) {
    close(f->tc[i].fd); /* ts_client_socket() made an IPv4 socket */
    f->tc[i].fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
    uv_ip6_addr(from, 0, (struct sockaddr_in6 *)&src);
    uv_ip6_addr("::1", port, (struct sockaddr_in6 *)&dst);
    len = sizeof(struct sockaddr_in6);
  } else {
    uv_ip4_addr(from, 0, (struct sockaddr_in *)&src);
    uv_ip4_addr("127.0.0.1", port, (struct sockaddr_in *)&dst);
  }
  fd = f->tc[i].fd;
  if (fd < 0 || bind(fd, (struct sockaddr *)&src, len) != 0 ||
      connect(fd, (struct sockaddr *)&dst, len) != 0)
    return -1;
  f->tc[i].connected = 1;
  return i;
}

int ts_client_connect(ts_fixture_t *f, int i) {
  if (ts_connect_loopback(f->tc[i].fd, f->port) != 0)
    return -1;
  f->tc[i].connected = 1;
  return 0;
}

int ts_client_send(ts_fixture_t *f, int i, const void *data, size_t len) {
  uint64_t deadline = ts_now_ms() + TS_DEADLINE_MS;
  int r;

  while ((r = ts_send_some(f->tc[i].fd, &data, &len)) == 0 &&
         ts_now_ms() <= deadline)
    ts_step(f);
  return r == 1 ? 0 : -1;
}

void ts_client_close(ts_client_t *t) {
  if (t->fd >= 0)
    close(t->fd);
  t->fd = -1;
}

void ts_client_reset(ts_client_t *t) {
  struct linger lg = {1, 0};

  if (t->fd >= 0)
    (void)setsockopt(t->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
  ts_client_close(t);
}

int ts_fixture_finish(ts_fixture_t *f) {
  int i, r;

  uv_run(&f->loop, UV_RUN_DEFAULT);
  for (i = 0; i < f->ntc; i++) {
    ts_client_close(&f->tc[i]);
    free(f->tc[i].in);
  }
  r = uv_loop_close(&f->loop);
  if (r != 0)
    return r;
  return f->srv_closed == 1 && f->hub_closed == 1 ? 0 : -1;
}
