/* Slow consumers over real sockets: the hub's bounds and policies apply to
 * TCP clients, the kernel's buffers do not hide them for long, and peers
 * that reset their connection mid-write leave nothing behind.
 * See tcp-batch.h for how a client is stalled. */
#include "tcp-fixture.h"

static fx_t fx;

#include "tcp-batch.h"

TEST(disconnect_drops_stalled_client_while_fast_ones_get_everything) {
  const int fast[] = {0, 1};
  int n = 0, after = 0;
  char *want;

  ASSERT_EQ(start_slow(HUB_POLICY_DISCONNECT), 0);
  fx.tc[2].paused = 1; /* stops reading */

  /* Until it is dropped, and a little longer; at most 4000 lines. */
  while (n < 4000 && after < 5) {
    ASSERT_EQ(send_batch(0, n, fast, 2), 0);
    n += BATCH;
    after += fx.closed[2];
  }
  ASSERT(fx.closed[2]);
  ASSERT_EQ(fx.status[2], HUB_ESLOW);
  ASSERT_EQ(fx_hub_stats(&fx).clients_dropped, 1);
  ASSERT(fx.dropped[HUB_DROP_DISCONNECT] > 0);
  /* It got far less than was sent: the kernel did not hide the bound. */
  ASSERT(n >= 5 * BATCH);

  /* The fast clients received everything, once, in order. */
  want = expected(n);
  ASSERT_EQ(fx.tc[0].len, (size_t)n * LINE);
  ASSERT_EQ(fx.tc[1].len, (size_t)n * LINE);
  ASSERT(memcmp(fx.tc[0].in, want, (size_t)n * LINE) == 0);
  ASSERT(memcmp(fx.tc[1].in, want, (size_t)n * LINE) == 0);
  ASSERT_EQ(fx.closed[0] + fx.closed[1], 0);

  /* The dropped one reads what the kernel held: a prefix of the stream
   * (possibly cut inside a line, where its write was cut), then the end. */
  fx.tc[2].paused = 0;
  UNTIL(&fx, fx.tc[2].eof != 0);
  ASSERT_EQ(fx.tc[2].eof, 1);
  ASSERT(fx.tc[2].len < (size_t)n * LINE);
  ASSERT(memcmp(fx.tc[2].in, want, fx.tc[2].len) == 0);
  free(want);
  ASSERT_EQ(fx_stop(&fx), 0);
}

/* Under DROP_OLDEST a stalled client keeps its connection, loses lines
 * (counted), and reads whole lines in order once it reads again. Whether
 * the lines it gets are the newest is test-tcp-newest.c's question. */
TEST(drop_oldest_keeps_slow_client_connected_with_a_counted_gap) {
  const int fast[] = {0, 1};
  char want[LINE], *p, *end;
  int n, prev, k, count = 0, gaps = 0;

  ASSERT_EQ(start_slow(HUB_POLICY_DROP_OLDEST), 0);

  n = stall(500);
  ASSERT(n > 0);
  ASSERT(stall_drops() >= 500);
  ASSERT_EQ(fx.closed[2], 0);
  ASSERT_EQ(fx.dropped[HUB_DROP_DISCONNECT], 0);
  ASSERT_EQ(fx_hub_stats(&fx).clients_dropped, 0);

  /* It reads again: once it has caught up, it keeps up with what is sent
   * from then on. */
  fx.tc[2].paused = 0;
  UNTIL(&fx, fx_client_stats(&fx, 2).queued_msgs == 0);
  ASSERT_EQ(fx_client_stats(&fx, 2).queued_msgs, 0);
  ASSERT_EQ(send_batch(0, n, fast, 2), 0);
  n += BATCH;
  UNTIL(&fx, fx.tc[2].len >= LINE &&
                 line_no(fx.tc[2].in + fx.tc[2].len - LINE) == n - 1);
  ASSERT(fx.tc[2].len >= LINE);
  ASSERT_EQ(line_no(fx.tc[2].in + fx.tc[2].len - LINE), n - 1);
  ASSERT_EQ(fx.closed[2], 0);

  /* Whole lines (a write is never torn), strictly increasing, with a gap
   * where lines were dropped; every line it missed was counted. */
  ASSERT_EQ(fx.tc[2].len % LINE, 0);
  p = fx.tc[2].in;
  end = p + fx.tc[2].len;
  prev = -1;
  for (; p < end; p += LINE) {
    k = line_no(p);
    ASSERT(k > prev);
    make_line(want, k);
    ASSERT(memcmp(p, want, LINE) == 0);
    gaps += k != prev + 1;
    prev = k;
    count++;
  }
  ASSERT(gaps >= 1);
  ASSERT(count < n);
  ASSERT_EQ((uint64_t)(n - count), fx_client_stats(&fx, 2).msgs_dropped);
  ASSERT_EQ((uint64_t)(n - count), stall_drops());
  /* The fast clients lost nothing. */
  ASSERT_EQ(fx.tc[0].len, (size_t)n * LINE);
  ASSERT_EQ(fx.tc[1].len, (size_t)n * LINE);
  ASSERT_EQ(fx_client_stats(&fx, 0).msgs_dropped, 0);
  ASSERT_EQ(fx_stop(&fx), 0);
}

TEST(server_memory_stays_bounded_while_a_client_is_stalled) {
  hub_client_stats_t cs;
  uint64_t sent_bytes;
  int n;

  ASSERT_EQ(start_slow(HUB_POLICY_DROP_OLDEST), 0);

  /* stall() checks the bounds after every batch. */
  n = stall(3000);
  ASSERT(n > 0);
  sent_bytes = (uint64_t)n * (LINE - 1);
  cs = fx_client_stats(&fx, 2);
  /* The stalled client's queue is at its bound... */
  ASSERT(cs.queued_bytes <= MAX_BYTES);
  ASSERT(cs.queued_msgs <= MAX_MSGS);
  ASSERT(cs.queued_msgs >= MAX_MSGS / 2);
  /* ...what the kernel took for it is a small part of what was sent... */
  ASSERT(cs.bytes_delivered < sent_bytes / 4);
  /* ...and the rest was dropped, not kept. */
  ASSERT_EQ(cs.bytes_delivered + cs.queued_bytes + cs.bytes_dropped,
            sent_bytes);
  ASSERT(fx_hub_stats(&fx).queued_bytes <= 3 * MAX_BYTES);
  ASSERT_EQ(fx.closed[2], 0);
  ASSERT_EQ(fx_stop(&fx), 0);
}

TEST(reset_mid_write_does_not_crash_or_leak) {
  enum { NR = 4 };
  hub_options_t ho;
  hub_tcp_options_t to;
  struct linger lg = {1, 0};
  const int fast[] = {0};
  int n = 0, i, pending;

  slow_options(&ho, &to, HUB_POLICY_DROP_OLDEST);
  ASSERT_EQ(fx_start(&fx, &ho, &to), 0);
  ASSERT_EQ(fx_client(&fx, 0), 0);
  for (i = 1; i <= NR; i++) {
    ASSERT_EQ(fx_client(&fx, 4096), i);
    fx.tc[i].paused = 1;
  }

  /* Until every stalled client has a write in flight, stuck in the
   * kernel. */
  do {
    ASSERT_EQ(send_batch(0, n, fast, 1), 0);
    n += BATCH;
    pending = 0;
    for (i = 1; i <= NR; i++)
      pending += fx_client_stats(&fx, i).inflight_msgs > 0;
  } while (pending < NR && n < 4000);
  ASSERT_EQ(pending, NR);

  /* Reset them (SO_LINGER 0: close sends RST), one every batch. */
  for (i = 1; i <= NR; i++) {
    ASSERT(fx_client_stats(&fx, i).inflight_msgs > 0);
    ASSERT_EQ(setsockopt(fx.tc[i].fd, SOL_SOCKET, SO_LINGER, &lg,
                         sizeof(lg)), 0);
    tc_close(&fx.tc[i]);
    ASSERT_EQ(send_batch(0, n, fast, 1), 0);
    n += BATCH;
  }
  UNTIL(&fx, fx.nclosed == NR);
  ASSERT_EQ(fx.nclosed, NR);
  for (i = 1; i <= NR; i++) {
    ASSERT(fx.closed[i]);
    /* The socket error, not a policy decision. */
    ASSERT(fx.status[i] == UV_ECONNRESET || fx.status[i] == UV_EPIPE);
  }

  /* The server carries on. */
  ASSERT_EQ(send_batch(0, n, fast, 1), 0);
  n += BATCH;
  ASSERT_EQ(fx.tc[0].len, (size_t)n * LINE);
  ASSERT_EQ(fx_hub_stats(&fx).clients, 1);
  ASSERT_EQ(fx_tcp_stats(&fx).connections, 1);
  ASSERT_EQ(fx_hub_stats(&fx).queued_bytes, 0);
  ASSERT_EQ(fx_stop(&fx), 0);
}

int main(int argc, char **argv) {
  return RUN_TESTS(argc, argv);
}
