/* Stalled readers, both adapters, under each of the three policies:
 * clients with a small SO_RCVBUF that never read, next to fast clients
 * that do, while one of the fast ones publishes a stream of numbered
 * messages. The server's memory for queued messages stays within the
 * hub's bounds (measured: the hub's queued bytes at every step, and the
 * process's resident memory, printed), every fast client gets every
 * message in order, and the stalled ones are dropped (DISCONNECT) or keep
 * their connection with a counted gap (DROP_OLDEST, DROP_NEWEST). */
#include "fault-fixture.h"

#define NFAST 4
#define NSTALLED 4
#define NMSGS 1000
#define MSG_BYTES 1024
#define QUEUE_BYTES (64 * 1024)
#define WINDOW 64 /* messages the publisher may have ahead of the fast */

static uint64_t slowest_fast(ff_t *ff, const int *fast) {
  uint64_t m = UINT64_MAX;
  int k;

  for (k = 0; k < NFAST; k++)
    if (ff->fc[fast[k]].msgs < m)
      m = ff->fc[fast[k]].msgs;
  return m;
}

static void stalled_readers(ff_kind kind, hub_policy_t policy) {
  static char msg[MSG_BYTES];
  hub_options_t ho;
  hub_tcp_options_t to;
  hub_ws_options_t wo;
  ff_t ff;
  hub_stats_t st;
  int fast[NFAST], stalled[NSTALLED], k, sent = 0;
  uint64_t max_queued = 0, bound;
  long rss0, rss_peak, rss;

  hub_options_init(&ho);
  ho.policy = policy;
  ho.max_queue_bytes = QUEUE_BYTES;
  hub_tcp_options_init(&to);
  to.send_buffer = 16384;
  hub_ws_options_init(&wo);
  wo.send_buffer = 16384;
  ASSERT_EQ(ff_start(&ff, kind, &ho, &to, &wo), 0);
  ff.on_msg = ff_seq_hook;
  for (k = 0; k < NFAST; k++)
    ASSERT((fast[k] = fc_join(&ff, 0)) >= 0);
  for (k = 0; k < NSTALLED; k++) {
    ASSERT((stalled[k] = fc_join(&ff, 4096)) >= 0);
    ff.fc[stalled[k]].paused = 1;
  }
  rss0 = rss_peak = fs_rss_kib(0);

  memset(msg, '.', sizeof(msg));
  while (sent < NMSGS) {
    /* The publisher keeps at most WINDOW messages ahead of the slowest
     * fast reader, as a real one would be kept by its own flow control;
     * the stalled readers get no say. */
    FF_UNTIL(&ff, (uint64_t)sent < slowest_fast(&ff, fast) + WINDOW);
    ASSERT((uint64_t)sent < slowest_fast(&ff, fast) + WINDOW);
    snprintf(msg, 24, "%d ", sent);
    msg[strlen(msg)] = '.';
    ASSERT_EQ(fc_send_msg(&ff, fast[0], msg, sizeof(msg)), 0);
    sent++;
    if (sent % 8 == 0)
      ff_step(&ff);
    st = ff_hub_stats(&ff);
    if (st.queued_bytes > max_queued)
      max_queued = st.queued_bytes;
    if (sent % 100 == 0 && (rss = fs_rss_kib(0)) > rss_peak)
      rss_peak = rss;
  }
  FF_UNTIL(&ff, slowest_fast(&ff, fast) == NMSGS);

  /* Fast clients lost nothing, in order. */
  for (k = 0; k < NFAST; k++) {
    fc_t *c = &ff.fc[fast[k]];

    ASSERT_EQ(c->msgs, NMSGS);
    ASSERT_EQ(c->gaps, 0);
    ASSERT_EQ(c->seq_errors, 0);
    ASSERT_EQ(ff.srv[k].closed, 0);
  }
  /* Memory for queued messages never went past the bounds. */
  bound = (uint64_t)(NFAST + NSTALLED) * QUEUE_BYTES;
  st = ff_hub_stats(&ff);
  printf("# %s %s: queued at most %llu bytes (bound %llu), now %llu; "
         "RSS %ld KiB before, %ld KiB at most while publishing "
         "%d KiB to each client\n",
         ff_name(kind), policy == HUB_POLICY_DISCONNECT ? "disconnect"
                        : policy == HUB_POLICY_DROP_OLDEST ? "drop-oldest"
                                                           : "drop-newest",
         (unsigned long long)max_queued, (unsigned long long)bound,
         (unsigned long long)st.queued_bytes, rss0, rss_peak,
         NMSGS * MSG_BYTES / 1024);
  ASSERT(max_queued <= bound);
  ASSERT(st.queued_bytes <= (uint64_t)NSTALLED * QUEUE_BYTES);

  if (policy == HUB_POLICY_DISCONNECT) {
    /* Dropped as slow consumers. */
    for (k = 0; k < NSTALLED; k++) {
      FF_UNTIL(&ff, ff.srv[NFAST + k].closed);
      ASSERT(ff.srv[NFAST + k].closed);
      ASSERT_EQ(ff.srv[NFAST + k].status, HUB_ESLOW);
    }
    ASSERT_EQ(ff_hub_stats(&ff).clients_dropped, NSTALLED);
    ASSERT_EQ(ff_hub_stats(&ff).queued_bytes, 0);
  } else {
    /* Still connected, with drops counted; once they read, what they get
     * is in order, with a gap. */
    ASSERT(ff.drops[policy == HUB_POLICY_DROP_OLDEST ? HUB_DROP_EVICTED
                                                     : HUB_DROP_REFUSED] >
           0);
    for (k = 0; k < NSTALLED; k++) {
      ASSERT_EQ(ff.srv[NFAST + k].closed, 0);
      ff.fc[stalled[k]].paused = 0;
    }
    FF_UNTIL(&ff, ff_hub_stats(&ff).queued_bytes == 0);
    ff_wait(&ff, 50);
    for (k = 0; k < NSTALLED; k++) {
      fc_t *c = &ff.fc[stalled[k]];

      printf("# stalled %d: got %llu messages, %llu missed\n", k,
             (unsigned long long)c->msgs, (unsigned long long)c->gaps);
      ASSERT(c->msgs > 0 && c->msgs < NMSGS);
      ASSERT_EQ(c->seq_errors, 0);
      ASSERT_EQ(c->msgs + c->gaps + (NMSGS - c->next_seq), NMSGS);
      ASSERT_EQ(ff.srv[NFAST + k].dropped, NMSGS - c->msgs);
    }
  }
  ASSERT_EQ(ff_stop(&ff), 0);
}

TEST(tcp_disconnect) {
  stalled_readers(FF_TCP, HUB_POLICY_DISCONNECT);
}

TEST(tcp_drop_oldest) {
  stalled_readers(FF_TCP, HUB_POLICY_DROP_OLDEST);
}

TEST(tcp_drop_newest) {
  stalled_readers(FF_TCP, HUB_POLICY_DROP_NEWEST);
}

TEST(ws_disconnect) {
  stalled_readers(FF_WS, HUB_POLICY_DISCONNECT);
}

TEST(ws_drop_oldest) {
  stalled_readers(FF_WS, HUB_POLICY_DROP_OLDEST);
}

TEST(ws_drop_newest) {
  stalled_readers(FF_WS, HUB_POLICY_DROP_NEWEST);
}

int main(int argc, char **argv) {
  return RUN_TESTS(argc, argv);
}
