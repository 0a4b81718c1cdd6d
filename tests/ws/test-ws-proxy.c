/* The WebSocket adapter behind a reverse proxy (trusted_proxies), on real
 * sockets: a "proxy" is a client socket bound to 127.0.0.1 that sends
 * X-Forwarded-For; other clients are bound to 127.0.0.2 and 127.0.0.3.
 * The client's address (hub_ws_client_address(), the adapter's log lines)
 * and the connections per address follow the header from a trusted peer
 * only. */
#include "ws-fixture.h"

static fx_t fx; /* holds a uv_loop_t: too big for the stack of some tests */

#define XFF(v) FX_REQUEST("/ws", "X-Forwarded-For: " v "\r\n")

static int tc_from(fx_t *f, const char *from) {
  return ts_client_from(&f->base, from, f->port);
}

/* Send `req` from `from`; the HTTP status of the answer (101 once the
 * client is registered), with the connection's index in *idx. */
static int send_from(fx_t *f, const char *from, const char *req, int *idx) {
  int want = f->nclients + 1, i = tc_from(f, from);

  *idx = i;
  if (i < 0 || tc_send(f, i, req, strlen(req)) != 0)
    return -1;
  UNTIL(f, (f->nclients >= want && tc_head_len(&f->tc[i]) > 0) ||
               f->tc[i].eof);
  if (tc_head_len(&f->tc[i]) > 0)
    f->tc[i].pos = tc_head_len(&f->tc[i]);
  return tc_status(&f->tc[i]);
}

static int status_from(fx_t *f, const char *from, const char *req) {
  int i;

  return send_from(f, from, req, &i);
}

/* The address hub_ws_client_address() gives for client `k`, as text
 * ("192.0.2.1", or "127.0.0.2:PORT" with the port). */
static const char *address_of(fx_t *f, int k, char *buf, size_t len) {
  struct sockaddr_storage ss;
  int n = sizeof(ss);
  char ip[64];
  unsigned port;

  if (hub_ws_client_address(f->clients[k], (struct sockaddr *)&ss, &n) != 0)
    return "error";
  if (ss.ss_family == AF_INET6) {
    uv_ip6_name((struct sockaddr_in6 *)&ss, ip, sizeof(ip));
    port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
  } else {
    uv_ip4_name((struct sockaddr_in *)&ss, ip, sizeof(ip));
    port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
  }
  if (port == 0)
    snprintf(buf, len, "%s", ip);
  else
    snprintf(buf, len, "%s:%u", ip, port);
  return buf;
}

static const char *const loopback[] = {"127.0.0.1"};

static void proxy_options(hub_ws_options_t *o, uint32_t per_ip) {
  hub_ws_options_init(o);
  o->trusted_proxies = loopback;
  o->n_trusted_proxies = 1;
  o->max_conns_per_ip = per_ip;
}

TEST(forwarded_client_address_from_a_trusted_proxy_only) {
  hub_ws_options_t o;
  char buf[80];
  int i;

  proxy_options(&o, 0);
  ASSERT_EQ(fx_start(&fx, NULL, &o), 0);
  ASSERT_EQ(status_from(&fx, "127.0.0.1", XFF("192.0.2.1")), 101);
  ASSERT_STR_EQ(address_of(&fx, 0, buf, sizeof(buf)), "192.0.2.1");
  /* The right-most address that is not a trusted proxy; what the client
   * wrote on the left is not read. */
  ASSERT_EQ(status_from(&fx, "127.0.0.1",
                        XFF("garbage, 192.0.2.2, 127.0.0.1")), 101);
  ASSERT_STR_EQ(address_of(&fx, 1, buf, sizeof(buf)), "192.0.2.2");
  /* Several headers are one list. */
  ASSERT_EQ(status_from(&fx, "127.0.0.1",
                        FX_REQUEST("/ws", "X-Forwarded-For: 6.6.6.6\r\n"
                                          "x-forwarded-for: 2001:db8::3\r\n"
                                          "X-FORWARDED-FOR: 127.0.0.1\r\n")),
            101);
  ASSERT_STR_EQ(address_of(&fx, 2, buf, sizeof(buf)), "2001:db8::3");
  /* Every address trusted: the left-most. */
  ASSERT_EQ(status_from(&fx, "127.0.0.1", XFF("127.0.0.1")), 101);
  ASSERT_STR_EQ(address_of(&fx, 3, buf, sizeof(buf)), "127.0.0.1");
  /* No header: the proxy's own request, with its port. */
  ASSERT_EQ(send_from(&fx, "127.0.0.1", FX_REQUEST("/ws", ""), &i), 101);
  ASSERT(strncmp(address_of(&fx, 4, buf, sizeof(buf)), "127.0.0.1:", 10) ==
         0);
  /* Anyone else's header is ignored: the peer's address it is. */
  ASSERT_EQ(status_from(&fx, "127.0.0.2", XFF("192.0.2.9")), 101);
  ASSERT(strncmp(address_of(&fx, 5, buf, sizeof(buf)), "127.0.0.2:", 10) ==
         0);
  ASSERT_EQ(status_from(&fx, "127.0.0.2", XFF("garbage")), 101);
  ASSERT(strncmp(address_of(&fx, 6, buf, sizeof(buf)), "127.0.0.2:", 10) ==
         0);
  ASSERT_EQ(fx_stop(&fx), 0);
}

TEST(malformed_header_from_a_trusted_proxy_gets_400) {
  hub_ws_options_t o;
  int i;

  proxy_options(&o, 0);
  ASSERT_EQ(fx_start(&fx, NULL, &o), 0);
  ASSERT_EQ(status_from(&fx, "127.0.0.1", XFF("unknown")), 400);
  ASSERT(strstr(fx.last_log, "127.0.0.1:") == fx.last_log);
  ASSERT(strstr(fx.last_log, "refused with 400: malformed X-Forwarded-For "
                             "from a trusted proxy: 'unknown'") != NULL);
  ASSERT_EQ(status_from(&fx, "127.0.0.1", XFF("192.0.2.1, bad, 127.0.0.1")),
            400);
  ASSERT_EQ(status_from(&fx, "127.0.0.1",
                        FX_REQUEST("/ws", "X-Forwarded-For: 192.0.2.1\r\n"
                                          "X-Forwarded-For: _hidden\r\n")),
            400);
  /* The value is cut and made printable in the log. */
  ASSERT_EQ(status_from(&fx, "127.0.0.1",
                        XFF("\xc3\xa9" "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")),
            400);
  ASSERT(strstr(fx.last_log, "'??aaaa") != NULL);
  ASSERT(strstr(fx.last_log, "...'") != NULL);
  ASSERT_EQ(fx_ws_stats(&fx).upgraded, 0);
  ASSERT_EQ(fx_ws_stats(&fx).refused, 4);
  /* Nothing is counted any more for the refused connections. */
  ASSERT_EQ(send_from(&fx, "127.0.0.1", XFF("192.0.2.1"), &i), 101);
  ASSERT_EQ(fx_stop(&fx), 0);
}

TEST(conns_per_ip_counts_the_forwarded_address) {
  hub_ws_options_t o;
  int a, i;

  proxy_options(&o, 2);
  ASSERT_EQ(fx_start(&fx, NULL, &o), 0);
  /* Six connections from the proxy, over the limit of 2 at accept time:
   * counted by their clients' addresses instead. */
  ASSERT_EQ(send_from(&fx, "127.0.0.1", XFF("192.0.2.1"), &a), 101);
  ASSERT_EQ(status_from(&fx, "127.0.0.1", XFF("192.0.2.1")), 101);
  ASSERT_EQ(status_from(&fx, "127.0.0.1", XFF("192.0.2.2")), 101);
  ASSERT_EQ(status_from(&fx, "127.0.0.1", XFF("2001:db8::1")), 101);
  ASSERT_EQ(status_from(&fx, "127.0.0.1", XFF("192.0.2.2")), 101);
  ASSERT_EQ(fx.nclients, 5);
  /* The third of 192.0.2.1 gets 503, logged once for the streak with
   * both addresses. */
  ASSERT_EQ(status_from(&fx, "127.0.0.1", XFF("192.0.2.1")), 503);
  ASSERT_EQ(fx_ws_stats(&fx).refused_per_ip, 1);
  ASSERT(strstr(fx.last_log, "127.0.0.1:") == fx.last_log);
  ASSERT(strstr(fx.last_log, "forwarded for 192.0.2.1, which has 2 "
                             "connections open") != NULL);
  fx.nlogs = 0;
  ASSERT_EQ(status_from(&fx, "127.0.0.1", XFF("10.0.0.1, 192.0.2.1")), 503);
  ASSERT_EQ(fx.nlogs, 0);
  ASSERT_EQ(fx_ws_stats(&fx).refused_per_ip, 2);
  /* A closed connection gives its client's place back. */
  tc_close(&fx.tc[a]);
  UNTIL(&fx, fx.closed[0]);
  ASSERT_EQ(status_from(&fx, "127.0.0.1", XFF("192.0.2.1")), 101);
  ASSERT_EQ(status_from(&fx, "127.0.0.1", XFF("192.0.2.1")), 503);
  /* The proxy's own requests count under its address, with the limit. */
  ASSERT_EQ(send_from(&fx, "127.0.0.1", FX_REQUEST("/ws", ""), &i), 101);
  ASSERT_EQ(send_from(&fx, "127.0.0.1", FX_REQUEST("/ws", ""), &i), 101);
  ASSERT_EQ(send_from(&fx, "127.0.0.1", FX_REQUEST("/ws", ""), &i), 503);
  /* Direct clients are counted at accept, by peer, as always; their
   * header changes nothing. */
  ASSERT_EQ(status_from(&fx, "127.0.0.2", XFF("192.0.2.3")), 101);
  ASSERT_EQ(status_from(&fx, "127.0.0.2", XFF("192.0.2.4")), 101);
  ASSERT_EQ(status_from(&fx, "127.0.0.2", XFF("192.0.2.5")), 503);
  ASSERT_EQ(status_from(&fx, "127.0.0.3", FX_REQUEST("/ws", "")), 101);
  ASSERT_EQ(fx_stop(&fx), 0);
}

TEST(connections_in_their_handshake_are_not_limited_for_a_proxy) {
  hub_ws_options_t o;
  int h[4], k;

  proxy_options(&o, 1);
  ASSERT_EQ(fx_start(&fx, NULL, &o), 0);
  /* Four connections from the proxy still reading their request: none is
   * refused at accept (they are four clients, not one). */
  for (k = 0; k < 4; k++)
    ASSERT((h[k] = tc_from(&fx, "127.0.0.1")) >= 0);
  UNTIL(&fx, fx_ws_stats(&fx).handshakes == 4);
  ASSERT_EQ(fx_ws_stats(&fx).handshakes, 4);
  ASSERT_EQ(fx_ws_stats(&fx).refused_per_ip, 0);
  for (k = 0; k < 4; k++) {
    static const char *const who[] = {"192.0.2.1", "192.0.2.2",
                                      "192.0.2.3", "192.0.2.1"};
    char req[256];

    snprintf(req, sizeof(req), XFF("%s"), who[k]);
    ASSERT_EQ(tc_send(&fx, h[k], req, strlen(req)), 0);
    UNTIL(&fx, fx.tc[h[k]].eof || tc_head_len(&fx.tc[h[k]]) > 0);
    ASSERT_EQ(tc_status(&fx.tc[h[k]]), k < 3 ? 101 : 503);
  }
  /* A direct client from another address is limited at accept. */
  ASSERT_EQ(status_from(&fx, "127.0.0.2", FX_REQUEST("/ws", "")), 101);
  k = tc_from(&fx, "127.0.0.2");
  ASSERT(k >= 0);
  UNTIL(&fx, fx.tc[k].eof);
  ASSERT_EQ(tc_status(&fx.tc[k]), 503);
  ASSERT_EQ(fx_stop(&fx), 0);
}

TEST(adapter_log_names_the_forwarded_client) {
  hub_ws_options_t o;
  static const char *const origins[] = {"https://chat.example"};

  proxy_options(&o, 0);
  o.origins = origins;
  o.n_origins = 1;
  ASSERT_EQ(fx_start(&fx, NULL, &o), 0);
  ASSERT_EQ(status_from(&fx, "127.0.0.1",
                        FX_REQUEST("/ws", "Origin: https://evil.example\r\n"
                                          "X-Forwarded-For: 192.0.2.7\r\n")),
            403);
  ASSERT(strncmp(fx.last_log, "192.0.2.7: refused with 403", 27) == 0);
  ASSERT_EQ(status_from(&fx, "127.0.0.1",
                        FX_REQUEST("/ws", "Origin: https://evil.example\r\n"
                                          "X-Forwarded-For: 2001:db8::7\r\n")),
            403);
  ASSERT(strncmp(fx.last_log, "[2001:db8::7]: refused with 403", 31) == 0);
  /* A forged header from elsewhere names the real peer. */
  ASSERT_EQ(status_from(&fx, "127.0.0.2",
                        FX_REQUEST("/ws", "Origin: https://evil.example\r\n"
                                          "X-Forwarded-For: 192.0.2.7\r\n")),
            403);
  ASSERT(strncmp(fx.last_log, "127.0.0.2:", 10) == 0);
  ASSERT_EQ(fx_stop(&fx), 0);
}

/* An allocator that fails while `failing` is set. */
static int failing;

static void *fail_malloc(size_t size, void *ud) {
  (void)ud;
  return failing ? NULL : malloc(size);
}

static void *fail_realloc(void *ptr, size_t size, void *ud) {
  (void)ud;
  return failing ? NULL : realloc(ptr, size);
}

static void fail_free(void *ptr, void *ud) {
  (void)ud;
  free(ptr);
}

static const hub_allocator_t failing_allocator = {fail_malloc, fail_realloc,
                                                  fail_free, NULL};

TEST(out_of_memory_for_the_client_address_closes_that_connection_only) {
  static const char head[] = "GET /ws HTTP/1.1\r\n";
  hub_options_t ho;
  hub_ws_options_t o;
  char rest[256];
  int k, c[65];

  hub_options_init(&ho);
  ho.allocator = &failing_allocator;
  proxy_options(&o, 0);
  ASSERT_EQ(fx_start(&fx, &ho, &o), 0);
  /* 65 connections from the proxy, each with the first line of its
   * request read (its request state allocated). */
  for (k = 0; k < 65; k++) {
    ASSERT((c[k] = tc_from(&fx, "127.0.0.1")) >= 0);
    ASSERT_EQ(tc_send(&fx, c[k], head, sizeof(head) - 1), 0);
  }
  UNTIL(&fx, fx_ws_stats(&fx).handshakes == 65 &&
                 fx_ws_stats(&fx).rx_states == 0);
  fx_wait(&fx, 50);
  /* 63 clients: with the proxy, 64 addresses, as many as the address
   * table holds before it grows. */
  for (k = 0; k < 63; k++) {
    snprintf(rest, sizeof(rest),
             "Host: 127.0.0.1\r\nUpgrade: websocket\r\n"
             "Connection: Upgrade\r\n"
             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
             "Sec-WebSocket-Version: 13\r\n"
             "X-Forwarded-For: 192.0.2.%d\r\n\r\n", k + 1);
    ASSERT_EQ(tc_send(&fx, c[k], rest, strlen(rest)), 0);
  }
  UNTIL(&fx, fx.nclients == 63);
  ASSERT_EQ(fx.nclients, 63);
  /* The table must grow for a 65th address, and cannot. */
  failing = 1;
  snprintf(rest, sizeof(rest),
           "Host: 127.0.0.1\r\nUpgrade: websocket\r\n"
           "Connection: Upgrade\r\n"
           "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
           "Sec-WebSocket-Version: 13\r\n"
           "X-Forwarded-For: 198.51.100.1\r\n\r\n");
  ASSERT_EQ(tc_send(&fx, c[63], rest, strlen(rest)), 0);
  UNTIL(&fx, fx.tc[c[63]].eof != 0);
  failing = 0;
  ASSERT(fx.tc[c[63]].eof != 0);
  /* Logged, naming both addresses; the 503 could not be made either. */
  ASSERT(strstr(fx.prev_log, "127.0.0.1:") == fx.prev_log);
  ASSERT(strstr(fx.prev_log, "forwarded for 198.51.100.1: ") != NULL);
  ASSERT(strstr(fx.last_log, "out of memory") != NULL);
  ASSERT_EQ(fx.nclients, 63);
  /* The others are unharmed, and the next one gets in. */
  snprintf(rest, sizeof(rest),
           "Host: 127.0.0.1\r\nUpgrade: websocket\r\n"
           "Connection: Upgrade\r\n"
           "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
           "Sec-WebSocket-Version: 13\r\n"
           "X-Forwarded-For: 198.51.100.2\r\n\r\n");
  ASSERT_EQ(tc_send(&fx, c[64], rest, strlen(rest)), 0);
  UNTIL(&fx, fx.nclients == 64);
  ASSERT_EQ(fx.nclients, 64);
  {
    char buf[80];

    ASSERT_STR_EQ(address_of(&fx, 63, buf, sizeof(buf)), "198.51.100.2");
    ASSERT_STR_EQ(address_of(&fx, 0, buf, sizeof(buf)), "192.0.2.1");
  }
  ASSERT_EQ(fx_ws_stats(&fx).connections, 64);
  ASSERT_EQ(fx_stop(&fx), 0);
}

TEST(trusted_proxy_options_are_checked) {
  hub_ws_server_t *s;
  hub_ws_options_t o;
  static const char *const bad[] = {"127.0.0.1", "proxy.example"};
  static const char *const good[] = {"10.0.0.0/8", "::1", "fd00::/8",
                                     "0.0.0.0/0"};
  static const char *const with_null[] = {"::1", NULL};

  ASSERT_EQ(hub_ws_proxy_check("10.0.0.0/8"), 0);
  ASSERT_EQ(hub_ws_proxy_check("10.0.0.1/8"), UV_EINVAL);
  ASSERT_EQ(hub_ws_proxy_check(NULL), UV_EINVAL);
  ASSERT_EQ(fx_start(&fx, NULL, NULL), 0);
  hub_ws_options_init(&o);
  ASSERT(o.trusted_proxies == NULL);
  ASSERT_EQ(o.n_trusted_proxies, 0);
  o.trusted_proxies = bad;
  o.n_trusted_proxies = 2;
  ASSERT_EQ(hub_ws_server_new(&s, fx.hub, &o), UV_EINVAL);
  o.trusted_proxies = with_null;
  ASSERT_EQ(hub_ws_server_new(&s, fx.hub, &o), UV_EINVAL);
  o.trusted_proxies = NULL;
  o.n_trusted_proxies = 1;
  ASSERT_EQ(hub_ws_server_new(&s, fx.hub, &o), UV_EINVAL);
  o.trusted_proxies = good;
  o.n_trusted_proxies = 4;
  ASSERT_EQ(hub_ws_server_new(&s, fx.hub, &o), 0);
  ASSERT_EQ(hub_ws_server_close(s, NULL), 0);
  ASSERT_EQ(fx_stop(&fx), 0);
}

int main(int argc, char **argv) {
  return RUN_TESTS(argc, argv);
}
