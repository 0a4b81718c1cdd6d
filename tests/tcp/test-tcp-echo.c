/* The TCP adapter on real sockets: lines in, broadcasts out, the line
 * bound, the idle timeout, and closing from anywhere. */
#include <stdio.h>

#include "tcp-fixture.h"

static fx_t fx; /* holds a uv_loop_t: too big for the stack of some tests */

/* Line k of client c, as the echo tests send it. */
static int line_of(char *buf, size_t size, int c, int k) {
  return snprintf(buf, size, "client %d line %04d\n", c, k);
}

TEST(several_clients_each_get_every_line_once_in_order) {
  enum { NC = 4, NL = 60, ROUND = 10 };
  char line[64], *p, *end;
  int c, k, r, i, seen[NC][NL], next[NC];
  hub_stats_t hs;

  ASSERT_EQ(fx_start(&fx, NULL, NULL), 0);
  for (c = 0; c < NC; c++)
    ASSERT_EQ(fx_client(&fx, 0), c);

  /* Rounds of interleaved lines from every client; each round is read by
   * everyone before the next, which keeps every queue short. */
  for (r = 0; r < NL / ROUND; r++) {
    for (k = r * ROUND; k < (r + 1) * ROUND; k++)
      for (c = 0; c < NC; c++)
        ASSERT_EQ(tc_send(&fx, c, line, (size_t)line_of(line, sizeof(line),
                                                        c, k)), 0);
    UNTIL(&fx, tc_lines(&fx.tc[0]) == (size_t)(r + 1) * ROUND * NC &&
                   tc_lines(&fx.tc[1]) == (size_t)(r + 1) * ROUND * NC &&
                   tc_lines(&fx.tc[2]) == (size_t)(r + 1) * ROUND * NC &&
                   tc_lines(&fx.tc[3]) == (size_t)(r + 1) * ROUND * NC);
    for (c = 0; c < NC; c++)
      ASSERT_EQ(tc_lines(&fx.tc[c]), (size_t)(r + 1) * ROUND * NC);
  }

  for (i = 0; i < NC; i++) {
    /* Every client saw the same stream: the order the hub received. */
    ASSERT_EQ(fx.tc[i].len, fx.tc[0].len);
    ASSERT(memcmp(fx.tc[i].in, fx.tc[0].in, fx.tc[0].len) == 0);
    /* Each line exactly once, and each sender's lines in order. */
    memset(seen, 0, sizeof(seen));
    memset(next, 0, sizeof(next));
    p = fx.tc[i].in;
    end = p + fx.tc[i].len;
    while (p < end) {
      /* sscanf() needs a string: copy the line out of the stream. */
      size_t n = (size_t)((char *)memchr(p, '\n', (size_t)(end - p)) - p);
      ASSERT(n < sizeof(line));
      memcpy(line, p, n);
      line[n] = '\0';
      ASSERT_EQ(sscanf(line, "client %d line %d", &c, &k), 2);
      ASSERT(c >= 0 && c < NC && k >= 0 && k < NL);
      ASSERT_EQ(seen[c][k], 0);
      seen[c][k] = 1;
      ASSERT_EQ(k, next[c]);
      next[c]++;
      p += n + 1;
    }
    for (c = 0; c < NC; c++)
      ASSERT_EQ(next[c], NL);
  }
  hs = fx_hub_stats(&fx);
  ASSERT_EQ(hs.msgs_delivered, NC * NC * NL);
  ASSERT_EQ(hs.msgs_dropped, 0);
  ASSERT_EQ(fx_tcp_stats(&fx).lines, NC * NL);
  ASSERT_EQ(fx_stop(&fx), 0);
  ASSERT_EQ(fx.nclosed, NC);
}

TEST(crlf_binary_bytes_and_last_line_at_eof) {
  static const char sent[] = "one\r\ntwo\nbin\0\xff\r\x01\n\nlast";
  static const char want[] = "one\ntwo\nbin\0\xff\r\x01\n\nlast\n";
  /* What the server's callback must see: lengths and bytes. */
  static const char *lines[] = {"one", "two", "bin\0\xff\r\x01", "", "last"};
  static const size_t lens[] = {3, 3, 7, 0, 4};
  size_t off = 0, i;
  uint32_t n;

  ASSERT_EQ(fx_start(&fx, NULL, NULL), 0);
  ASSERT_EQ(fx_client(&fx, 0), 0);
  ASSERT_EQ(fx_client(&fx, 0), 1);
  ASSERT_EQ(tc_send(&fx, 0, sent, sizeof(sent) - 1), 0);
  ASSERT_EQ(shutdown(fx.tc[0].fd, SHUT_WR), 0);

  UNTIL(&fx, fx.tc[1].len >= sizeof(want) - 1 && fx.closed[0]);
  ASSERT_EQ(fx.tc[1].len, sizeof(want) - 1);
  ASSERT(memcmp(fx.tc[1].in, want, sizeof(want) - 1) == 0);
  ASSERT_EQ(fx.status[0], UV_EOF);
  ASSERT_EQ(fx.closed[1], 0);

  ASSERT_EQ(fx.lines, 5);
  for (i = 0; i < 5; i++) {
    memcpy(&n, fx.rec + off, 4);
    ASSERT_EQ(n, lens[i]);
    ASSERT(memcmp(fx.rec + off + 4, lines[i], lens[i]) == 0);
    off += 4 + n;
  }
  ASSERT_EQ(fx_stop(&fx), 0);
}

/* A client that sends lines and resets its connection at once (an
 * abortive close: SO_LINGER 0 here; close() with unread data does the
 * same). The lines reached the server's socket before the reset: they
 * are delivered, and only then is the connection's end told. */
TEST(lines_sent_just_before_a_reset_are_delivered) {
  static const char want[] = "first words\nlast words\n";

  ASSERT_EQ(fx_start(&fx, NULL, NULL), 0);
  ASSERT_EQ(fx_client(&fx, 0), 0);
  ASSERT_EQ(fx_client(&fx, 0), 1);
  UNTIL(&fx, fx.nclients == 2);
  /* Both the lines and the reset are in the server's socket before its
   * loop runs again. */
  ASSERT_EQ(tc_send(&fx, 0, want, sizeof(want) - 1), 0);
  ts_client_reset(&fx.tc[0]);
  ts_sleep_ms(50);

  UNTIL(&fx, fx.tc[1].len >= sizeof(want) - 1 && fx.closed[0]);
  ASSERT_EQ(fx.tc[1].len, sizeof(want) - 1);
  ASSERT(memcmp(fx.tc[1].in, want, sizeof(want) - 1) == 0);
  ASSERT_EQ(fx.lines, 2);
  ASSERT_EQ(fx.status[0], UV_ECONNRESET);
  ASSERT_EQ(fx.closed[1], 0);
  ASSERT_EQ(fx_stop(&fx), 0);
}

TEST(partial_line_is_held_only_while_pending) {
  ASSERT_EQ(fx_start(&fx, NULL, NULL), 0);
  ASSERT_EQ(fx_client(&fx, 0), 0);
  ASSERT_EQ(fx_client(&fx, 0), 1);
  ASSERT_EQ(fx_tcp_stats(&fx).partial_bytes, 0);

  ASSERT_EQ(tc_send_str(&fx, 0, "abc"), 0);
  UNTIL(&fx, fx_tcp_stats(&fx).partial_bytes > 0);
  /* A small buffer for a small partial line, not a read-sized one. */
  ASSERT(fx_tcp_stats(&fx).partial_bytes > 0);
  ASSERT(fx_tcp_stats(&fx).partial_bytes <= 128);

  ASSERT_EQ(tc_send_str(&fx, 0, "def\nghi\n"), 0);
  UNTIL(&fx, tc_lines(&fx.tc[1]) == 2);
  ASSERT_EQ(fx.tc[1].len, 11);
  ASSERT(memcmp(fx.tc[1].in, "abcdef\nghi\n", 11) == 0);
  ASSERT_EQ(fx_tcp_stats(&fx).partial_bytes, 0);
  ASSERT_EQ(fx_stop(&fx), 0);
}

TEST(long_line_closes_only_that_client) {
  static char xs[1300];
  hub_tcp_options_t to;
  hub_tcp_stats_t ts;
  size_t want = 2 * 1001 + 11;

  memset(xs, 'x', sizeof(xs));
  hub_tcp_options_init(&to);
  to.max_line = 1000;
  ASSERT_EQ(fx_start(&fx, NULL, &to), 0);
  ASSERT_EQ(fx_client(&fx, 0), 0); /* sends a line that is too long */
  ASSERT_EQ(fx_client(&fx, 0), 1); /* sends a partial line too long */
  ASSERT_EQ(fx_client(&fx, 0), 2);
  ASSERT_EQ(fx_client(&fx, 0), 3);

  /* Exactly max_line is fine. */
  ASSERT_EQ(tc_send(&fx, 2, xs, 1000), 0);
  ASSERT_EQ(tc_send_str(&fx, 2, "\n"), 0);
  UNTIL(&fx, fx.tc[3].len == 1001);
  ASSERT_EQ(fx.tc[3].len, 1001);

  /* One byte more closes the sender. */
  ASSERT_EQ(tc_send(&fx, 0, xs, 1001), 0);
  ASSERT_EQ(tc_send_str(&fx, 0, "\n"), 0);
  UNTIL(&fx, fx.closed[0]);
  ASSERT_EQ(fx.status[0], UV_EMSGSIZE);
  ASSERT_EQ(fx.last_log_err, UV_EMSGSIZE);

  /* Without a newline at all, as soon as the line cannot fit any more. */
  ASSERT_EQ(tc_send(&fx, 1, xs, 1000), 0);
  ASSERT_EQ(tc_send_str(&fx, 1, "\n"), 0);
  ASSERT_EQ(tc_send(&fx, 1, xs, sizeof(xs)), 0);
  UNTIL(&fx, fx.closed[1]);
  ASSERT_EQ(fx.status[1], UV_EMSGSIZE);

  ts = fx_tcp_stats(&fx);
  ASSERT_EQ(ts.lines_too_long, 2);
  ASSERT_EQ(ts.partial_bytes, 0);
  ASSERT_EQ(fx.nlogs, 2);

  /* The others keep working. */
  ASSERT_EQ(tc_send_str(&fx, 3, "still here\n"), 0);
  UNTIL(&fx, fx.tc[2].len >= want && fx.tc[3].len >= want);
  ASSERT_EQ(fx.tc[2].len, want);
  ASSERT_EQ(fx.tc[3].len, want);
  ASSERT(memcmp(fx.tc[2].in + 2 * 1001, "still here\n", 11) == 0);
  ASSERT(memcmp(fx.tc[3].in, fx.tc[2].in, want) == 0);
  ASSERT_EQ(fx.closed[2] + fx.closed[3], 0);
  /* The closed ones see the end of their connection. */
  UNTIL(&fx, fx.tc[0].eof != 0 && fx.tc[1].eof != 0);
  ASSERT(fx.tc[0].eof != 0 && fx.tc[1].eof != 0);
  ASSERT_EQ(fx_stop(&fx), 0);
}

TEST(idle_timeout_closes_silent_clients_only) {
  hub_tcp_options_t to;
  uint64_t t0, last_ping, closed_at = 0, until;

  hub_tcp_options_init(&to);
  to.idle_timeout_ms = 300;
  ASSERT_EQ(fx_start(&fx, NULL, &to), 0);
  t0 = ts_now_ms();
  ASSERT_EQ(fx_client(&fx, 0), 0); /* silent */
  ASSERT_EQ(fx_client(&fx, 0), 1); /* talks every 30 ms */

  last_ping = 0;
  until = ts_now_ms() + TS_DEADLINE_MS;
  while (ts_now_ms() < until && (closed_at == 0 || ts_now_ms() < closed_at + 600)) {
    if (ts_now_ms() - last_ping >= 30) {
      ASSERT_EQ(tc_send_str(&fx, 1, "ping\n"), 0);
      last_ping = ts_now_ms();
    }
    fx_step(&fx);
    if (fx.closed[0] && closed_at == 0)
      closed_at = ts_now_ms();
  }
  ASSERT(fx.closed[0]);
  ASSERT_EQ(fx.status[0], UV_ETIMEDOUT);
  /* Never early (less a little for the loop's cached clock). */
  ASSERT(closed_at - t0 >= 250);
  /* The talker was kept for twice the timeout after that. */
  ASSERT_EQ(fx.closed[1], 0);
  ASSERT_EQ(fx_tcp_stats(&fx).idle_timeouts, 1);
  UNTIL(&fx, fx.tc[0].eof != 0);
  ASSERT(fx.tc[0].eof != 0);

  /* Once it stops talking, it goes too. */
  UNTIL(&fx, fx.closed[1]);
  ASSERT_EQ(fx.status[1], UV_ETIMEDOUT);
  ASSERT_EQ(fx_tcp_stats(&fx).idle_timeouts, 2);
  ASSERT_EQ(fx_stop(&fx), 0);
}

/* Closing from inside on_line. */
static void close_all_on_quit(fx_t *f, hub_client_t *c, const char *line,
                              size_t len) {
  (void)c;
  if (len == 4 && memcmp(line, "quit", 4) == 0) {
    ASSERT_EQ(hub_tcp_server_close(f->srv, fx_on_srv_closed), 0);
    ASSERT_EQ(hub_tcp_server_close(f->srv, NULL), HUB_ECLOSING);
    ASSERT_EQ(hub_close(f->hub, 0, ts_hub_closed), 0);
  }
}

TEST(server_and_hub_closed_from_line_callback) {
  int i;

  ASSERT_EQ(fx_start(&fx, NULL, NULL), 0);
  fx.line_hook = close_all_on_quit;
  ASSERT_EQ(fx_client(&fx, 0), 0);
  ASSERT_EQ(fx_client(&fx, 0), 1);
  ASSERT_EQ(tc_send_str(&fx, 0, "a\nquit\nb\nc\n"), 0);
  UNTIL(&fx, fx.srv_closed && fx.hub_closed);
  ASSERT_EQ(fx.srv_closed, 1);
  ASSERT_EQ(fx.hub_closed, 1);
  ASSERT_EQ(fx.lines, 2); /* nothing after "quit" */
  ASSERT_EQ(fx.nclosed, 2);
  ASSERT_EQ(fx.status[0], 0);
  UNTIL(&fx, fx.tc[0].eof != 0 && fx.tc[1].eof != 0);
  ASSERT(fx.tc[0].eof != 0 && fx.tc[1].eof != 0);

  uv_run(&fx.loop, UV_RUN_DEFAULT);
  for (i = 0; i < fx.ntc; i++) {
    tc_close(&fx.tc[i]);
    free(fx.tc[i].in);
  }
  free(fx.rec);
  ASSERT_EQ(uv_loop_close(&fx.loop), 0);
}

/* Echo everything, but "bye" closes its sender. */
static void close_sender_on_bye(fx_t *f, hub_client_t *c, const char *line,
                                size_t len) {
  if (len == 3 && memcmp(line, "bye", 3) == 0)
    ASSERT_EQ(client_close(c, 0), 0);
  else
    (void)hub_broadcast(f->hub, line, len, 0);
}

TEST(client_closed_from_its_line_callback) {
  ASSERT_EQ(fx_start(&fx, NULL, NULL), 0);
  fx.line_hook = close_sender_on_bye;
  ASSERT_EQ(fx_client(&fx, 0), 0);
  ASSERT_EQ(fx_client(&fx, 0), 1);
  ASSERT_EQ(tc_send_str(&fx, 0, "x\nbye\ny\n"), 0);
  UNTIL(&fx, fx.closed[0]);
  ASSERT_EQ(fx.status[0], 0);
  ASSERT_EQ(tc_send_str(&fx, 1, "z\n"), 0);
  UNTIL(&fx, fx.tc[1].len == 4);
  ASSERT_EQ(fx.tc[1].len, 4);
  ASSERT(memcmp(fx.tc[1].in, "x\nz\n", 4) == 0);
  ASSERT_EQ(fx.lines, 3); /* x, bye, z: not y */
  ASSERT_EQ(fx_stop(&fx), 0);
}

static void close_server_from_hub_close(hub_t *hub) {
  fx_t *f = hub_get_data(hub);

  f->hub_closed++;
  /* All clients are gone; the server can go now, and must. */
  ASSERT_EQ(fx_tcp_stats(f).connections, 0);
  ASSERT_EQ(hub_tcp_server_close(f->srv, fx_on_srv_closed), 0);
}

TEST(hub_closed_first_then_server_from_its_callback) {
  int i;

  ASSERT_EQ(fx_start(&fx, NULL, NULL), 0);
  ASSERT_EQ(fx_client(&fx, 0), 0);
  ASSERT_EQ(fx_client(&fx, 0), 1);
  ASSERT_EQ(tc_send_str(&fx, 0, "hi\n"), 0);
  UNTIL(&fx, fx.tc[1].len == 3);
  ASSERT_EQ(hub_close(fx.hub, 0, close_server_from_hub_close), 0);
  uv_run(&fx.loop, UV_RUN_DEFAULT);
  ASSERT_EQ(fx.hub_closed, 1);
  ASSERT_EQ(fx.srv_closed, 1);
  ASSERT_EQ(fx.nclosed, 2);
  for (i = 0; i < fx.ntc; i++) {
    ts_client_read(&fx.tc[i]);
    ASSERT_EQ(fx.tc[i].eof, 1);
  }
  fx.srv = NULL; /* both closed: fx_stop only cleans up */
  fx.hub = NULL;
  ASSERT_EQ(fx_stop(&fx), 0);
}

TEST(server_close_frees_port_and_closes_clients) {
  hub_tcp_server_t *again;
  struct sockaddr_in addr;
  int i, port;

  ASSERT_EQ(fx_start(&fx, NULL, NULL), 0);
  for (i = 0; i < 3; i++)
    ASSERT_EQ(fx_client(&fx, 0), i);
  ASSERT_EQ(tc_send_str(&fx, 0, "partial"), 0);
  UNTIL(&fx, fx_tcp_stats(&fx).partial_bytes > 0);
  port = fx.port;

  ASSERT_EQ(hub_tcp_server_close(fx.srv, fx_on_srv_closed), 0);
  ASSERT_EQ(fx.srv_closed, 0); /* never from inside close */
  /* The port is free as soon as close returns. */
  ASSERT_EQ(hub_tcp_server_new(&again, fx.hub, NULL), 0);
  uv_ip4_addr("127.0.0.1", port, &addr);
  ASSERT_EQ(hub_tcp_server_start(again, (struct sockaddr *)&addr), 0);
  ASSERT_EQ(hub_tcp_server_close(again, NULL), 0);

  UNTIL(&fx, fx.srv_closed && fx.tc[0].eof && fx.tc[1].eof && fx.tc[2].eof);
  ASSERT_EQ(fx.srv_closed, 1);
  ASSERT_EQ(fx.nclosed, 3);
  for (i = 0; i < 3; i++) {
    ASSERT_EQ(fx.status[i], 0);
    ASSERT_EQ(fx.tc[i].eof, 1);
  }
  fx.srv = NULL; /* closed: fx_stop closes the hub only */
  ASSERT_EQ(fx_stop(&fx), 0);
}

/* Options out of range, each alone. */
static const ts_field_t bad_options[] = {
    TS_FIELD(hub_tcp_options_t, max_line, 0),
    TS_FIELD(hub_tcp_options_t, max_line, HUB_TCP_MAX_LINE_LIMIT + 1),
    TS_FIELD(hub_tcp_options_t, idle_timeout_ms, (uint64_t)INT32_MAX + 1),
    TS_FIELD(hub_tcp_options_t, backlog, 0),
    TS_FIELD(hub_tcp_options_t, send_buffer, -1),
    TS_FIELD(hub_tcp_options_t, accept_retry_ms, 0),
};

TEST(busy_port_bad_options_and_misuse) {
  hub_tcp_server_t *s;
  hub_tcp_options_t to;
  struct sockaddr_in addr;
  struct sockaddr_storage ss;
  struct sockaddr_un {
    sa_family_t sun_family;
    char sun_path[108];
  } un;
  int len = sizeof(ss), closed_before;

  ASSERT_EQ(fx_start(&fx, NULL, NULL), 0);

  /* A busy port. */
  ASSERT_EQ(hub_tcp_server_new(&s, fx.hub, NULL), 0);
  hub_tcp_server_set_data(s, &fx);
  ASSERT_EQ(hub_tcp_server_getsockname(s, (struct sockaddr *)&ss, &len),
            UV_EINVAL); /* not listening */
  uv_ip4_addr("127.0.0.1", fx.port, &addr);
  ASSERT_EQ(hub_tcp_server_start(s, (struct sockaddr *)&addr),
            UV_EADDRINUSE);
  memset(&un, 0, sizeof(un));
  un.sun_family = AF_UNIX;
  ASSERT_EQ(hub_tcp_server_start(s, (struct sockaddr *)&un), UV_EINVAL);
  ASSERT_EQ(hub_tcp_server_start(s, NULL), UV_EINVAL);
  closed_before = fx.srv_closed;
  ASSERT_EQ(hub_tcp_server_close(s, fx_on_srv_closed), 0);
  UNTIL(&fx, fx.srv_closed > closed_before);
  ASSERT_EQ(fx.srv_closed, closed_before + 1);
  fx.srv_closed = 0;

  /* Started twice. */
  uv_ip4_addr("127.0.0.1", 0, &addr);
  ASSERT_EQ(hub_tcp_server_start(fx.srv, (struct sockaddr *)&addr),
            UV_EINVAL);

  /* Options out of range. */
  ASSERT_EQ(hub_tcp_server_new(NULL, fx.hub, NULL), UV_EINVAL);
  ASSERT_EQ(hub_tcp_server_new(&s, NULL, NULL), UV_EINVAL);
  ASSERT_EQ(fx_refuses_each(&fx, bad_options, TS_COUNT(bad_options)), -1);

  /* NULLs. */
  ASSERT_EQ(hub_tcp_server_close(NULL, NULL), UV_EINVAL);
  ASSERT(hub_tcp_server_get_hub(NULL) == NULL);
  ASSERT(hub_tcp_server_get_hub(fx.srv) == fx.hub);
  hub_tcp_server_set_data(fx.srv, &to);
  ASSERT(hub_tcp_server_get_data(fx.srv) == &to);
  hub_tcp_server_set_data(fx.srv, &fx);
  ASSERT_EQ(hub_tcp_client_getpeername(NULL, (struct sockaddr *)&ss, &len),
            UV_EINVAL);
  ASSERT_EQ(fx_stop(&fx), 0);
}

TEST(peer_name_and_transport_identity) {
  /* A client of some other transport, to tell apart from TCP ones. */
  static const hub_transport_t other = {.name = "other",
                                        .write = ts_null_write,
                                        .close = ts_null_close};
  struct sockaddr_storage peer, local;
  socklen_t llen = sizeof(local);
  hub_client_t *oc;
  int len = sizeof(peer);

  ASSERT_EQ(fx_start(&fx, NULL, NULL), 0);
  ASSERT_EQ(fx_client(&fx, 0), 0);
  ASSERT(client_get_transport(fx.clients[0]) == hub_tcp_transport());
  ASSERT_EQ(hub_tcp_client_getpeername(fx.clients[0],
                                       (struct sockaddr *)&peer, &len), 0);
  ASSERT_EQ(getsockname(fx.tc[0].fd, (struct sockaddr *)&local, &llen), 0);
  ASSERT_EQ(len, (int)llen);
  ASSERT(memcmp(&peer, &local, (size_t)len) == 0);

  ASSERT_EQ(hub_register(fx.hub, &other, NULL, &oc), 0);
  client_set_data(oc, (void *)(uintptr_t)(FX_MAX_CLIENTS));
  ASSERT_EQ(hub_tcp_client_getpeername(oc, (struct sockaddr *)&peer, &len),
            UV_EINVAL);
  /* The server's close leaves other transports' clients alone. */
  ASSERT_EQ(hub_tcp_server_close(fx.srv, fx_on_srv_closed), 0);
  UNTIL(&fx, fx.srv_closed);
  ASSERT_EQ(client_is_closing(oc), 0);
  ASSERT_EQ(client_close(oc, 0), 0);
  fx.srv = NULL;
  fx.srv_closed = 0;
  fx.nclosed = 0;
  ASSERT_EQ(hub_close(fx.hub, 0, ts_hub_closed), 0);
  fx.hub = NULL;
  uv_run(&fx.loop, UV_RUN_DEFAULT);
  ASSERT_EQ(fx.hub_closed, 1);
  tc_close(&fx.tc[0]);
  free(fx.tc[0].in);
  free(fx.rec);
  ASSERT_EQ(uv_loop_close(&fx.loop), 0);
}

int main(int argc, char **argv) {
  return RUN_TESTS(argc, argv);
}
