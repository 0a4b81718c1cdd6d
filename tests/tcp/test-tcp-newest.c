/* Under DROP_OLDEST, a client that stalled and reads again must get the
 * newest lines sent while it stalled ("keep the newest data, count the
 * gap").
 *
 * Messages handed to the transport cannot be evicted, so under DROP_OLDEST
 * the core gives a write at most half of either bound: when a stalled
 * client's write is stuck in the kernel, the other half of its queue is
 * where newer lines replace older ones. See tcp-batch.h for how a client
 * is stalled. */
#include "tcp-fixture.h"

static fx_t fx;

#include "tcp-batch.h"

TEST(drop_oldest_slow_client_receives_the_newest_lines) {
  char newest[LINE];
  int n;

  ASSERT_EQ(start_slow(HUB_POLICY_DROP_OLDEST), 0);

  n = stall(500);
  ASSERT(n > 0);
  printf("# stalled client: %llu evicted, %llu refused, %llu in flight\n",
         (unsigned long long)fx.dropped[HUB_DROP_EVICTED],
         (unsigned long long)fx.dropped[HUB_DROP_REFUSED],
         (unsigned long long)fx_client_stats(&fx, 2).inflight_msgs);

  /* It reads again, until it has read all that was queued for it... */
  fx.tc[2].paused = 0;
  UNTIL(&fx, fx_client_stats(&fx, 2).queued_msgs == 0 &&
                 fx.tc[2].len ==
                     fx_client_stats(&fx, 2).msgs_delivered * LINE);
  ASSERT_EQ(fx_client_stats(&fx, 2).queued_msgs, 0);
  /* ...and the last of that is the newest line sent while it stalled. */
  make_line(newest, n - 1);
  ASSERT(fx.tc[2].len >= LINE);
  ASSERT(memcmp(fx.tc[2].in + fx.tc[2].len - LINE, newest, LINE) == 0);
  /* What was dropped were the oldest: evicted, none refused. */
  ASSERT_EQ(fx.dropped[HUB_DROP_REFUSED], 0);
  ASSERT_EQ(fx.closed[2], 0);
  ASSERT_EQ(fx_stop(&fx), 0);
}

int main(int argc, char **argv) {
  return RUN_TESTS(argc, argv);
}
