/* The WebSocket adapter's abuse limits on real sockets: connections per
 * client address (clients bound to 127.0.0.2, 127.0.0.3 and ::1),
 * messages a second per client, and the message deadline against a frame
 * trickled byte by byte (the attack line_timeout_ms stops on raw TCP). */
#include "ws-fixture.h"

static fx_t fx; /* holds a uv_loop_t: too big for the stack of some tests */

static const char request[] = FX_REQUEST("/ws", "");

static int tc_from(fx_t *f, const char *from, int port) {
  return ts_client_from(&f->base, from, port);
}

/* A client from `from` that sends its request and is upgraded: its
 * index, or -1. */
static int ws_from(fx_t *f, const char *from, int port) {
  int want = f->nclients + 1, i = tc_from(f, from, port);

  if (i < 0 || tc_send(f, i, request, sizeof(request) - 1) != 0)
    return -1;
  UNTIL(f, (f->nclients >= want && tc_head_len(&f->tc[i]) > 0) ||
               f->tc[i].eof);
  if (f->nclients != want || tc_status(&f->tc[i]) != 101)
    return -1;
  f->tc[i].pos = tc_head_len(&f->tc[i]);
  return i;
}

/* A client from `from` (that sends its request at once if `send_req`)
 * which gets 503 and the end of its connection, and is never upgraded:
 * 0, or -1. */
static int refused_503(fx_t *f, const char *from, int port, int send_req) {
  int before = f->nclients, i = tc_from(f, from, port);

  if (i < 0 ||
      (send_req && tc_send(f, i, request, sizeof(request) - 1) != 0))
    return -1;
  UNTIL(f, f->tc[i].eof != 0);
  return tc_status(&f->tc[i]) == 503 && f->nclients == before ? 0 : -1;
}

static hub_ws_stats_t stats_of(hub_ws_server_t *srv) {
  hub_ws_stats_t st;

  hub_ws_server_get_stats(srv, &st);
  return st;
}

/* The close frame client i receives next: its code, and its reason in
 * `reason` (NUL-terminated); -1 if there is none. */
static int next_close(fx_t *f, int i, char *reason, size_t size) {
  tc_frame_t fr;

  while (fx_next_frame(f, i, &fr)) {
    if (fr.op != 0x8)
      continue;
    if (fr.len < 2)
      return 1005;
    snprintf(reason, size, "%.*s", (int)(fr.len - 2), fr.data + 2);
    return fr.data[0] << 8 | fr.data[1];
  }
  return -1;
}

TEST(conns_per_ip_answers_503_to_the_extra_connections_of_one_address) {
  hub_ws_options_t o;
  int a, b, h1, h2;

  hub_ws_options_init(&o);
  o.max_conns_per_ip = 2;
  ASSERT_EQ(fx_start(&fx, NULL, &o), 0);

  ASSERT((a = ws_from(&fx, "127.0.0.2", fx.port)) >= 0);
  ASSERT((b = ws_from(&fx, "127.0.0.2", fx.port)) >= 0);
  /* Answered at once, whether the request was sent or not. */
  ASSERT_EQ(refused_503(&fx, "127.0.0.2", fx.port, 0), 0);
  ASSERT_EQ(refused_503(&fx, "127.0.0.2", fx.port, 1), 0);
  ASSERT_EQ(fx_ws_stats(&fx).refused_per_ip, 2);
  /* Logged once for the streak, naming the peer. */
  ASSERT_EQ(fx.nlogs, 1);
  ASSERT(strstr(fx.last_log, "127.0.0.2:") == fx.last_log);
  ASSERT(strstr(fx.last_log, "refusing") != NULL);

  /* Connections still in their handshake count too; another address is
   * counted apart. */
  ASSERT((h1 = tc_from(&fx, "127.0.0.3", fx.port)) >= 0);
  ASSERT((h2 = tc_from(&fx, "127.0.0.3", fx.port)) >= 0);
  UNTIL(&fx, fx_ws_stats(&fx).handshakes == 2);
  ASSERT_EQ(refused_503(&fx, "127.0.0.3", fx.port, 1), 0);
  ASSERT_EQ(tc_send(&fx, h1, request, sizeof(request) - 1), 0);
  UNTIL(&fx, fx.nclients == 3);
  ASSERT_EQ(fx.nclients, 3);
  ASSERT_EQ(fx.nlogs, 2);

  /* A connection that ends gives its place back: by FIN... */
  tc_close(&fx.tc[a]);
  UNTIL(&fx, fx.closed[0]);
  ASSERT(ws_from(&fx, "127.0.0.2", fx.port) >= 0);
  ASSERT_EQ(refused_503(&fx, "127.0.0.2", fx.port, 0), 0);
  /* ... and by reset, when the socket no longer knows its peer. */
  ts_client_reset(&fx.tc[b]);
  UNTIL(&fx, fx.closed[1]);
  ASSERT(ws_from(&fx, "127.0.0.2", fx.port) >= 0);
  ASSERT_EQ(fx_ws_stats(&fx).refused_per_ip, 4);
  (void)h2;
  ASSERT_EQ(fx_stop(&fx), 0);
}

static int srv6_closed;

static void on_srv6_closed(hub_ws_server_t *srv) {
  (void)srv;
  srv6_closed++;
}

TEST(conns_per_ip_over_ipv6_and_ipv4_mapped_addresses) {
  hub_ws_server_t *srv6;
  hub_ws_options_t o, cb = {.on_request = fx_on_request,
                            .on_connect = fx_on_connect,
                            .on_message = fx_on_message,
                            .on_log = fx_on_log, .data = &fx};
  int port6, i;

  hub_ws_options_init(&o);
  o.max_conns_per_ip = 1;
  ASSERT_EQ(fx_start(&fx, NULL, &o), 0);
  /* A second server of the same hub, on every IPv6 address, which
   * (dual-stack, Linux's default) takes IPv4 clients too. */
  ASSERT_EQ(ts_ws_listen_at(&srv6, fx.hub, &o, &cb, "::", &port6), 0);

  ASSERT(ws_from(&fx, "::1", port6) >= 0);
  ASSERT_EQ(refused_503(&fx, "::1", port6, 1), 0);
  ASSERT_EQ(stats_of(srv6).refused_per_ip, 1);
  ASSERT(strstr(fx.last_log, "[::1]:") == fx.last_log);
  /* IPv4 clients reach it as ::ffff:127.0.0.x, counted per address. */
  if (ws_from(&fx, "127.0.0.2", port6) >= 0) {
    ASSERT_EQ(refused_503(&fx, "127.0.0.2", port6, 1), 0);
    ASSERT(ws_from(&fx, "127.0.0.3", port6) >= 0);
    ASSERT_EQ(stats_of(srv6).refused_per_ip, 2);
  } else {
    printf("# no dual-stack socket here: IPv4-mapped part skipped\n");
  }
  /* Each server counts its own clients. */
  ASSERT(ws_from(&fx, "127.0.0.2", fx.port) >= 0);
  ASSERT_EQ(fx_ws_stats(&fx).refused_per_ip, 0);

  /* The clients answer nothing: do not wait for their close handshake. */
  for (i = 0; i < fx.ntc; i++)
    tc_close(&fx.tc[i]);
  srv6_closed = 0;
  ASSERT_EQ(hub_ws_server_close(srv6, on_srv6_closed), 0);
  UNTIL(&fx, srv6_closed == 1);
  ASSERT_EQ(srv6_closed, 1);
  ASSERT_EQ(fx_stop(&fx), 0);
}

TEST(rate_limit_closes_a_client_over_its_bucket_with_1008) {
  hub_ws_options_t o;
  uint8_t buf[256];
  char reason[64];
  size_t n = 0;
  uint64_t t;
  int a, b, k;

  hub_ws_options_init(&o);
  o.max_msg_rate = 10;
  o.msg_burst = 3;
  ASSERT_EQ(fx_start(&fx, NULL, &o), 0);
  ASSERT((a = fx_ws_client(&fx, 0)) == 0);
  ASSERT((b = fx_ws_client(&fx, 0)) == 1);

  /* Four messages at once: the bucket's three go through, the fourth
   * closes the connection. */
  for (k = 0; k < 4; k++)
    n += ts_ws_frame(buf + n, 1, 0x1, "msg", 3);
  ASSERT_EQ(tc_send(&fx, a, buf, n), 0);
  ASSERT_EQ(next_close(&fx, a, reason, sizeof(reason)), 1008);
  ASSERT_STR_EQ(reason, "rate limit");
  ASSERT_EQ(fx.messages, 3);
  ASSERT_EQ(fx_ws_stats(&fx).rate_limited, 1);
  ASSERT(strstr(fx.last_log, "messages a second") != NULL);
  /* The client answers and goes; the close code says why. */
  ASSERT_EQ(tc_send_frame(&fx, a, 1, 0x8, "\x03\xf0", 2), 0);
  tc_close(&fx.tc[a]);
  UNTIL(&fx, fx.closed[0]);
  ASSERT_EQ(fx.status[0], 0);
  ASSERT_EQ(fx.close_code[0], 1008);
  ASSERT_EQ(fx.close_by_peer[0], 0);

  /* Every client has its own bucket, refilled with time: three now, and
   * three more 350 ms later (3.5 by then, up to 3 on a slow machine). */
  for (k = 0; k < 3; k++)
    ASSERT_EQ(tc_send_frame(&fx, b, 1, 0x1, "b", 1), 0);
  UNTIL(&fx, fx.messages == 6);
  t = ts_now_ms();
  while (ts_now_ms() < t + 350)
    fx_step(&fx);
  for (k = 0; k < 3; k++)
    ASSERT_EQ(tc_send_frame(&fx, b, 1, 0x1, "c", 1), 0);
  UNTIL(&fx, fx.messages == 9);
  ASSERT_EQ(fx.messages, 9);
  ASSERT_EQ(fx.closed[1], 0);
  ASSERT_EQ(fx_ws_stats(&fx).rate_limited, 1);
  ASSERT_EQ(fx_stop(&fx), 0);
}

TEST(message_timeout_closes_a_frame_trickled_byte_by_byte) {
  static const char text[] = "a message that never ends, a byte at a time";
  hub_ws_options_t o;
  uint8_t frame[64];
  char reason[64];
  size_t n, k = 0;
  uint64_t t0, now, next = 0, last_ok = 0, closed_after = 0;
  uint64_t sent = 0;
  int a, talker, spins;

  hub_ws_options_init(&o);
  o.message_timeout_ms = 300;
  o.ping_interval_ms = 0;
  o.idle_timeout_ms = 1000; /* the trickle is never silent for that long */
  ASSERT_EQ(fx_start(&fx, NULL, &o), 0);
  fx.echo = 0; /* what the trickler receives is the server's close */
  ASSERT((a = fx_ws_client(&fx, 0)) == 0);
  ASSERT((talker = fx_ws_client(&fx, 0)) == 1);

  n = ts_ws_frame(frame, 1, 0x1, text, sizeof(text) - 1);
  t0 = ts_now_ms();
  while ((now = ts_now_ms()) < t0 + 1000) {
    if (closed_after == 0 && fx.tc[a].len > fx.tc[a].pos)
      closed_after = now - t0;
    if (closed_after == 0 && now >= next && k < n) {
      ASSERT(send(fx.tc[a].fd, frame + k++, 1, MSG_NOSIGNAL) == 1);
      next = now + 20;
    }
    if (now >= last_ok + 50) {
      ASSERT_EQ(tc_send_frame(&fx, talker, 1, 0x1, "ok", 2), 0);
      last_ok = now;
      sent++;
    }
    fx_step(&fx);
  }
  /* At the deadline, never before (less a little for the loop's cached
   * clock), and well before the idle timeout could have. */
  ASSERT(closed_after >= 280 && closed_after < 1000);
  ASSERT(k < n);
  ASSERT_EQ(next_close(&fx, a, reason, sizeof(reason)), 1008);
  ASSERT_STR_EQ(reason, "message timeout");
  ASSERT_EQ(fx_ws_stats(&fx).timeouts, 1);
  /* The talker, each message whole, is still there: every message it
   * sent meanwhile was received (counted, not timed: a busy machine
   * sends fewer). */
  for (spins = 0; spins < 500 && fx.messages < sent; spins++)
    fx_step(&fx);
  ASSERT_EQ(fx.closed[1], 0);
  ASSERT(sent >= 2);
  ASSERT_EQ(fx.messages, sent);
  ASSERT_EQ(fx_stop(&fx), 0);
}

/* The hub's allocator, failing every call from its fail_at-th on. */
static count_alloc budget;

TEST(out_of_memory_at_accept_drops_that_connection_and_keeps_counts) {
  hub_options_t ho;
  hub_ws_options_t o;
  long n;
  int i, admitted = 0;

  count_alloc_hub_options(&ho, &budget);
  hub_ws_options_init(&o);
  o.max_conns_per_ip = 1;
  o.max_msg_rate = 100;
  /* Fail the first allocation after the accept, then the second, ...,
   * until the connection is admitted: the limits' own (the two arrays by
   * descriptor, address entries, chains) are the only ones before its
   * request. */
  for (n = 0; !admitted; n++) {
    ASSERT_EQ(fx_start(&fx, &ho, &o), 0);
    budget.fail_at = budget.calls + n + 1; /* n more succeed */
    ASSERT((i = tc_from(&fx, "127.0.0.2", fx.port)) >= 0);
    UNTIL(&fx, fx.tc[i].eof != 0 || fx_ws_stats(&fx).accepted == 1);
    fx_wait(&fx, 50);
    budget.fail_at = 0;
    admitted = fx.tc[i].eof == 0;
    if (admitted) {
      ASSERT_EQ(tc_send(&fx, i, request, sizeof(request) - 1), 0);
      UNTIL(&fx, fx.nclients == 1);
    } else {
      ASSERT(strstr(fx.last_log, "dropping a new connection") != NULL);
      ASSERT(ws_from(&fx, "127.0.0.2", fx.port) >= 0);
    }
    ASSERT_EQ(fx.nclients, 1);
    /* Counted once, whatever failed before. */
    ASSERT_EQ(refused_503(&fx, "127.0.0.2", fx.port, 0), 0);
    ASSERT_EQ(fx_stop(&fx), 0);
  }
  ASSERT_EQ(n, 5);
}

#define WO(field, value) TS_FIELD(hub_ws_options_t, field, value)

TEST(limit_options_defaults_and_range) {
  hub_ws_server_t *s;
  hub_ws_options_t o;

  hub_ws_options_init(&o);
  ASSERT_FIELDS(hub_ws_options_t, &o, WO(max_conns_per_ip, 0),
                WO(max_msg_rate, 0), WO(msg_burst, 0),
                WO(message_timeout_ms, 60000));
  ASSERT_EQ(fx_start(&fx, NULL, NULL), 0);
  o.max_msg_rate = 1000001;
  ASSERT_EQ(hub_ws_server_new(&s, fx.hub, &o), UV_EINVAL);
  hub_ws_options_init(&o);
  o.msg_burst = 1000001;
  ASSERT_EQ(hub_ws_server_new(&s, fx.hub, &o), UV_EINVAL);
  hub_ws_options_init(&o);
  o.max_msg_rate = 1000000;
  o.msg_burst = 1000000;
  o.max_conns_per_ip = UINT32_MAX;
  ASSERT_EQ(hub_ws_server_new(&s, fx.hub, &o), 0);
  ASSERT_EQ(hub_ws_server_close(s, NULL), 0);
  ASSERT_EQ(fx_stop(&fx), 0);
}

int main(int argc, char **argv) {
  return RUN_TESTS(argc, argv);
}
