/* The TCP adapter's abuse limits on real sockets: connections per client
 * address (clients bound to 127.0.0.2, 127.0.0.3, ... and ::1), lines a
 * second per client, and the deadline of a line once begun. */
#include <arpa/inet.h>
#include <stdio.h>

#include "tcp-fixture.h"

static fx_t fx; /* holds a uv_loop_t: too big for the stack of some tests */

static int tc_from(fx_t *f, const char *from, int port) {
  return ts_client_from(&f->base, from, port);
}

/* A client from `from` that the server registers: its index, or -1. */
static int tc_admitted(fx_t *f, const char *from, int port) {
  int want = f->nclients + 1, i = tc_from(f, from, port);

  if (i < 0)
    return -1;
  UNTIL(f, f->nclients >= want || f->tc[i].eof);
  return f->nclients == want && !f->tc[i].eof ? i : -1;
}

/* A client from `from` that the server closes before registering it:
 * returns 0 once it has seen its connection end, -1 otherwise. */
static int tc_refused(fx_t *f, const char *from, int port) {
  int before = f->nclients, i = tc_from(f, from, port);

  if (i < 0)
    return -1;
  UNTIL(f, f->tc[i].eof != 0);
  return f->tc[i].eof != 0 && f->nclients == before ? 0 : -1;
}

static hub_tcp_stats_t stats_of(hub_tcp_server_t *srv) {
  hub_tcp_stats_t st;

  hub_tcp_server_get_stats(srv, &st);
  return st;
}

/* How many times `needle` occurs in what t received. */
static int tc_count(const tc_t *t, const char *needle) {
  size_t n = strlen(needle), i;
  int k = 0;

  for (i = 0; i + n <= t->len; i++)
    k += memcmp(t->in + i, needle, n) == 0;
  return k;
}

TEST(conns_per_ip_closes_the_extra_connections_of_one_address_only) {
  hub_tcp_options_t to;
  int a, b, c;

  hub_tcp_options_init(&to);
  to.max_conns_per_ip = 2;
  ASSERT_EQ(fx_start(&fx, NULL, &to), 0);

  ASSERT((a = tc_admitted(&fx, "127.0.0.2", fx.port)) >= 0);
  ASSERT((b = tc_admitted(&fx, "127.0.0.2", fx.port)) >= 0);
  ASSERT_EQ(tc_refused(&fx, "127.0.0.2", fx.port), 0);
  ASSERT_EQ(tc_refused(&fx, "127.0.0.2", fx.port), 0);
  ASSERT_EQ(fx_tcp_stats(&fx).refused_per_ip, 2);
  ASSERT_EQ(fx_tcp_stats(&fx).accepted, 2);
  /* Logged once for the streak, with no client. */
  ASSERT_EQ(fx.nlog_accept, 1);
  ASSERT_EQ(fx.last_log_err, 0);

  /* Another address is counted apart. */
  ASSERT((c = tc_admitted(&fx, "127.0.0.3", fx.port)) >= 0);
  ASSERT(tc_admitted(&fx, "127.0.0.3", fx.port) >= 0);
  ASSERT_EQ(tc_refused(&fx, "127.0.0.3", fx.port), 0);
  ASSERT_EQ(fx.nlog_accept, 2);

  /* The admitted ones are served as usual. */
  ASSERT_EQ(tc_send_str(&fx, a, "hello\n"), 0);
  UNTIL(&fx, fx.tc[c].len == 6);
  ASSERT(fx.tc[c].len == 6 && memcmp(fx.tc[c].in, "hello\n", 6) == 0);

  /* A connection that ends gives its place back: by FIN... */
  tc_close(&fx.tc[a]);
  UNTIL(&fx, fx.closed[0]);
  ASSERT(tc_admitted(&fx, "127.0.0.2", fx.port) >= 0);
  ASSERT_EQ(tc_refused(&fx, "127.0.0.2", fx.port), 0);
  /* (a new streak, logged again) */
  ASSERT_EQ(fx.nlog_accept, 3);
  /* ... and by reset, when the socket no longer knows its peer. */
  ts_client_reset(&fx.tc[b]);
  UNTIL(&fx, fx.closed[1]);
  ASSERT(tc_admitted(&fx, "127.0.0.2", fx.port) >= 0);
  ASSERT_EQ(tc_refused(&fx, "127.0.0.2", fx.port), 0);
  ASSERT_EQ(fx_tcp_stats(&fx).refused_per_ip, 5);
  ASSERT_EQ(fx_tcp_stats(&fx).connections, 4);
  ASSERT_EQ(fx_stop(&fx), 0);
}

TEST(conns_per_ip_with_more_addresses_than_the_table_starts_with) {
  enum { N = 100 };
  hub_tcp_options_t to;
  char addr[32];
  int i, round;

  hub_tcp_options_init(&to);
  to.max_conns_per_ip = 1;
  ASSERT_EQ(fx_start(&fx, NULL, &to), 0);
  /* Twice, so that the second round reuses the entries the first gave
   * back. */
  for (round = 0; round < 2; round++) {
    for (i = 0; i < N; i++) {
      snprintf(addr, sizeof(addr), "127.0.%d.%d", 1 + round, 1 + i);
      ASSERT(tc_admitted(&fx, addr, fx.port) >= 0);
    }
    snprintf(addr, sizeof(addr), "127.0.%d.%d", 1 + round, N / 2);
    ASSERT_EQ(tc_refused(&fx, addr, fx.port), 0);
    ASSERT_EQ(fx_tcp_stats(&fx).connections, N);
    for (i = 0; i < fx.ntc; i++)
      tc_close(&fx.tc[i]);
    UNTIL(&fx, fx_tcp_stats(&fx).connections == 0);
    ASSERT_EQ(fx_tcp_stats(&fx).connections, 0);
  }
  ASSERT_EQ(fx_tcp_stats(&fx).refused_per_ip, 2);
  ASSERT_EQ(fx_stop(&fx), 0);
}

TEST(conns_per_ip_over_ipv6_and_ipv4_mapped_addresses) {
  hub_tcp_server_t *srv6;
  hub_tcp_options_t to, cb = {.on_connect = fx_on_connect,
                              .on_line = fx_on_line, .on_log = fx_on_log,
                              .data = &fx};
  int port6;

  hub_tcp_options_init(&to);
  to.max_conns_per_ip = 1;
  ASSERT_EQ(fx_start(&fx, NULL, &to), 0);
  /* A second server of the same hub, on every IPv6 address, which
   * (dual-stack, Linux's default) takes IPv4 clients too. */
  ASSERT_EQ(ts_tcp_listen_at(&srv6, fx.hub, &to, &cb, "::", &port6), 0);

  ASSERT(tc_admitted(&fx, "::1", port6) >= 0);
  ASSERT_EQ(tc_refused(&fx, "::1", port6), 0);
  ASSERT_EQ(stats_of(srv6).refused_per_ip, 1);
  /* IPv4 clients reach it as ::ffff:127.0.0.x, counted per address. */
  if (tc_admitted(&fx, "127.0.0.2", port6) >= 0) {
    ASSERT_EQ(tc_refused(&fx, "127.0.0.2", port6), 0);
    ASSERT(tc_admitted(&fx, "127.0.0.3", port6) >= 0);
    ASSERT_EQ(stats_of(srv6).refused_per_ip, 2);
    ASSERT_EQ(stats_of(srv6).connections, 3);
  } else {
    printf("# no dual-stack socket here: IPv4-mapped part skipped\n");
  }
  /* Each server counts its own clients. */
  ASSERT(tc_admitted(&fx, "127.0.0.2", fx.port) >= 0);
  ASSERT_EQ(fx_tcp_stats(&fx).refused_per_ip, 0);

  ASSERT_EQ(hub_tcp_server_close(srv6, NULL), 0);
  ASSERT_EQ(fx_stop(&fx), 0);
}

TEST(rate_limit_drops_lines_over_the_bucket_and_refills_with_time) {
  hub_tcp_options_t to;
  char buf[256];
  uint64_t t;
  int a, b, k, n;

  hub_tcp_options_init(&to);
  to.max_msg_rate = 10;
  to.msg_burst = 5;
  to.rate_notice = "slow down";
  ASSERT_EQ(fx_start(&fx, NULL, &to), 0);
  ASSERT((a = fx_client(&fx, 0)) == 0);
  ASSERT((b = fx_client(&fx, 0)) == 1);

  /* 12 lines at once: the bucket's 5 go through, 7 are dropped. */
  for (k = n = 0; k < 12; k++)
    n += snprintf(buf + n, sizeof(buf) - (size_t)n, "a%d\n", k);
  ASSERT_EQ(tc_send(&fx, a, buf, (size_t)n), 0);
  UNTIL(&fx, fx.lines + fx_tcp_stats(&fx).lines_over_rate == 12 &&
                 tc_lines(&fx.tc[a]) == 6);
  ASSERT_EQ(fx.lines, 5);
  ASSERT_EQ(fx_tcp_stats(&fx).lines_over_rate, 7);
  /* The sender is told once, after the lines that went through; the
   * others see only those. */
  ASSERT_EQ(tc_lines(&fx.tc[a]), 6);
  ASSERT(memcmp(fx.tc[a].in, "a0\na1\na2\na3\na4\nslow down\n", 25) == 0);
  UNTIL(&fx, tc_lines(&fx.tc[b]) == 5);
  ASSERT_EQ(fx.tc[b].len, 15);
  ASSERT_EQ(fx.nlogs, 1);

  /* Every client has its own bucket. */
  ASSERT_EQ(tc_send_str(&fx, b, "b0\nb1\nb2\nb3\nb4\n"), 0);
  UNTIL(&fx, fx.lines == 10);
  ASSERT_EQ(fx.lines, 10);

  /* 350 ms later the bucket holds 3.5 lines (or more, up to 5, on a slow
   * machine): 3 go through. */
  t = ts_now_ms();
  while (ts_now_ms() < t + 350)
    fx_step(&fx);
  ASSERT_EQ(tc_send_str(&fx, a, "c0\nc1\nc2\n"), 0);
  UNTIL(&fx, fx.lines == 13);
  ASSERT_EQ(fx.lines, 13);
  ASSERT_EQ(fx_tcp_stats(&fx).lines_over_rate, 7);

  /* A new flood is a new streak: told and logged again. */
  for (k = n = 0; k < 10; k++)
    n += snprintf(buf + n, sizeof(buf) - (size_t)n, "d%d\n", k);
  ASSERT_EQ(tc_send(&fx, a, buf, (size_t)n), 0);
  UNTIL(&fx, fx.lines + fx_tcp_stats(&fx).lines_over_rate == 30 &&
                 tc_count(&fx.tc[a], "slow down\n") == 2);
  ASSERT_EQ(fx.lines + fx_tcp_stats(&fx).lines_over_rate, 30);
  ASSERT(fx_tcp_stats(&fx).lines_over_rate >= 7 + 5);
  ASSERT_EQ(tc_count(&fx.tc[a], "slow down\n"), 2);
  ASSERT_EQ(tc_count(&fx.tc[b], "slow down\n"), 0);
  ASSERT_EQ(fx.nlogs, 2);
  ASSERT_EQ(fx.nclosed, 0);
  ASSERT_EQ(fx_stop(&fx), 0);
}

/* Send client `i` one byte of `text` every `period` ms, and step the
 * loop (and `tick`, if not NULL, with the time elapsed) for `ms`. Returns
 * when client i was closed, in ms after its first byte, or 0 if it was
 * not. */
typedef void (*tick_fn)(uint64_t elapsed);

static uint64_t trickle(int i, const char *text, unsigned period,
                        uint64_t ms, tick_fn tick) {
  uint64_t t0 = ts_now_ms(), next = t0, now, closed = 0;
  size_t k = 0, n = strlen(text);

  while ((now = ts_now_ms()) < t0 + ms) {
    if (fx.closed[i] && closed == 0)
      closed = now - t0;
    if (now >= next && k < n && !fx.closed[i]) {
      if (send(fx.tc[i].fd, text + k, 1, MSG_NOSIGNAL) != 1)
        k = n;
      k++;
      next = now + period;
    }
    if (tick != NULL)
      tick(now - t0);
    fx_step(&fx);
  }
  return closed;
}

/* Whether the server received `line` as a line. */
static int rec_has(const char *line) {
  size_t off = 0, len = strlen(line);
  uint32_t n;

  while (off < fx.rec_len) {
    memcpy(&n, fx.rec + off, 4);
    if (n == len && memcmp(fx.rec + off + 4, line, len) == 0)
      return 1;
    off += 4 + n;
  }
  return 0;
}

/* Client 1 sends a complete line every 50 ms; client 2 sends lines in
 * pieces, each line complete within 200 ms of its first byte. */
static void talkers(uint64_t elapsed) {
  static const char *pieces[] = {"ab", "cd", "ef\n", "gh", "ij\n"};
  static const unsigned at[] = {0, 100, 200, 250, 450};
  static uint64_t last;
  static unsigned next;

  if (elapsed == 0)
    last = next = 0;
  if (elapsed >= last + 50) {
    ASSERT_EQ(tc_send_str(&fx, 1, "ok\n"), 0);
    last = elapsed;
  }
  if (next < 5 && elapsed >= at[next]) {
    ASSERT_EQ(tc_send_str(&fx, 2, pieces[next]), 0);
    next++;
  }
}

TEST(line_timeout_closes_a_line_trickled_byte_by_byte) {
  hub_tcp_options_t to;
  hub_tcp_stats_t ts;
  uint64_t closed_after;

  hub_tcp_options_init(&to);
  to.line_timeout_ms = 300;
  to.idle_timeout_ms = 1000; /* the trickle is never silent for that long */
  ASSERT_EQ(fx_start(&fx, NULL, &to), 0);
  fx.echo = 0;
  ASSERT_EQ(fx_client(&fx, 0), 0);
  ASSERT_EQ(fx_client(&fx, 0), 1);
  ASSERT_EQ(fx_client(&fx, 0), 2);

  /* The trickler for 800 ms, the talkers for a second. */
  closed_after = trickle(0, "a line that never ends, one byte at a time",
                         20, 1000, talkers);
  ASSERT(closed_after > 0);
  ASSERT_EQ(fx.status[0], UV_ETIMEDOUT);
  /* Never early (less a little for the loop's cached clock), and well
   * before the idle timeout could have. */
  ASSERT(closed_after >= 280);
  ASSERT(closed_after < 1000);
  ts = fx_tcp_stats(&fx);
  ASSERT_EQ(ts.line_timeouts, 1);
  ASSERT_EQ(ts.idle_timeouts, 0);
  ASSERT_EQ(fx.last_log_err, UV_ETIMEDOUT);

  /* The talkers, each line complete in time, are still there. */
  ASSERT_EQ(fx.closed[1] + fx.closed[2], 0);
  ASSERT(fx.lines >= 12);
  ASSERT(rec_has("abcdef"));
  ASSERT(rec_has("ghij"));
  ASSERT_EQ(fx_stop(&fx), 0);
}

TEST(line_timeout_longer_than_the_idle_timeout_is_cut_to_it) {
  hub_tcp_options_t to;
  uint64_t closed_after;

  hub_tcp_options_init(&to); /* line_timeout_ms: the default 30 s */
  to.idle_timeout_ms = 300;
  ASSERT_EQ(fx_start(&fx, NULL, &to), 0);
  ASSERT_EQ(to.line_timeout_ms, 30000);
  ASSERT_EQ(fx_client(&fx, 0), 0); /* trickles */
  ASSERT_EQ(fx_client(&fx, 0), 1); /* silent */

  /* A byte every 50 ms beat the idle timeout once; not any more. */
  closed_after = trickle(0, "0123456789012345678901234567890123456789", 50,
                         1000, NULL);
  ASSERT(closed_after >= 280 && closed_after < 1000);
  ASSERT_EQ(fx.status[0], UV_ETIMEDOUT);
  UNTIL(&fx, fx.closed[1]);
  ASSERT_EQ(fx.status[1], UV_ETIMEDOUT);
  ASSERT_EQ(fx_tcp_stats(&fx).line_timeouts, 1);
  ASSERT_EQ(fx_tcp_stats(&fx).idle_timeouts, 1);
  ASSERT_EQ(fx_stop(&fx), 0);
}

TEST(line_timeout_zero_never_closes) {
  hub_tcp_options_t to;

  hub_tcp_options_init(&to);
  to.line_timeout_ms = 0;
  ASSERT_EQ(fx_start(&fx, NULL, &to), 0);
  ASSERT_EQ(fx_client(&fx, 0), 0);
  ASSERT_EQ(trickle(0, "slow", 100, 600, NULL), 0);
  ASSERT_EQ(tc_send_str(&fx, 0, "\n"), 0);
  UNTIL(&fx, fx.lines == 1);
  ASSERT_EQ(fx.lines, 1);
  ASSERT(memcmp(fx.rec + 4, "slow", 4) == 0);
  ASSERT_EQ(fx.nclosed, 0);
  ASSERT_EQ(fx_stop(&fx), 0);
}

/* The hub's allocator, failing every call from its fail_at-th on. */
static count_alloc budget;

TEST(out_of_memory_at_accept_drops_that_connection_and_keeps_counts) {
  hub_options_t ho;
  hub_tcp_options_t to;
  long n;
  int i, served = 0;

  count_alloc_hub_options(&ho, &budget);
  hub_tcp_options_init(&to);
  to.max_conns_per_ip = 1;
  to.max_msg_rate = 100;
  /* Fail the first allocation after the accept, then the second, ...,
   * until the connection is served: the limits' own (the two arrays by
   * descriptor, address entries, chains), then the hub's. */
  for (n = 0; !served; n++) {
    ASSERT_EQ(fx_start(&fx, &ho, &to), 0);
    budget.fail_at = budget.calls + n + 1; /* n more succeed */
    ASSERT((i = tc_from(&fx, "127.0.0.2", fx.port)) >= 0);
    UNTIL(&fx, fx.nclients == 1 || fx.tc[i].eof != 0);
    budget.fail_at = 0;
    served = fx.nclients == 1;
    if (!served) {
      ASSERT_EQ(fx.last_log_err, UV_ENOMEM);
      ASSERT(tc_admitted(&fx, "127.0.0.2", fx.port) >= 0);
    }
    /* Counted once, whatever failed before. */
    ASSERT_EQ(tc_refused(&fx, "127.0.0.2", fx.port), 0);
    ASSERT_EQ(tc_send_str(&fx, fx.ntc - 2, "ok\n"), 0);
    UNTIL(&fx, fx.lines == 1);
    ASSERT_EQ(fx.lines, 1);
    ASSERT_EQ(fx_stop(&fx), 0);
  }
  ASSERT(n > 4);
}

#define TO(field, value) TS_FIELD(hub_tcp_options_t, field, value)

/* Limits out of range, each alone. */
static const ts_field_t bad_limits[] = {
    TO(line_timeout_ms, (uint64_t)INT32_MAX + 1),
    TO(max_msg_rate, 1000001),
    TO(msg_burst, 1000001),
};

TEST(limit_options_defaults_and_range) {
  hub_tcp_server_t *s;
  hub_tcp_options_t to;

  hub_tcp_options_init(&to);
  ASSERT_FIELDS(hub_tcp_options_t, &to, TO(line_timeout_ms, 30000),
                TO(max_conns_per_ip, 0), TO(max_msg_rate, 0),
                TO(msg_burst, 0));
  ASSERT(to.rate_notice == NULL);
  ASSERT_EQ(fx_start(&fx, NULL, NULL), 0);
  ASSERT_EQ(fx_refuses_each(&fx, bad_limits, TS_COUNT(bad_limits)), -1);
  hub_tcp_options_init(&to);
  to.max_msg_rate = 1000000;
  to.msg_burst = 1000000;
  to.max_conns_per_ip = UINT32_MAX;
  to.line_timeout_ms = INT32_MAX;
  ASSERT_EQ(hub_tcp_server_new(&s, fx.hub, &to), 0);
  ASSERT_EQ(hub_tcp_server_close(s, NULL), 0);
  ASSERT_EQ(fx_stop(&fx), 0);
}

int main(int argc, char **argv) {
  return RUN_TESTS(argc, argv);
}
