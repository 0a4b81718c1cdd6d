/* Slow consumers over WebSocket: a client that stalls (a small receive
 * buffer, never reading) is dropped under DISCONNECT, or keeps the newest
 * messages under DROP_OLDEST, while every other client receives every
 * message in order. The hub's memory for the stalled client stays within
 * its queue bounds. */
#include <stdio.h>

#include "ws-fixture.h"

#define MSG_LEN 1024
#define NMSGS 2000
#define WINDOW 16 /* broadcasts in flight: well under the queue bound */
#define NREADERS 3

/* The sequence number a message carries in its first 8 bytes. */
static long seq_of(const tc_frame_t *f) {
  char num[9];

  if (f->len < 8)
    return -1;
  memcpy(num, f->data, 8);
  num[8] = '\0';
  return strtol(num, NULL, 10);
}

/* Count the frames readers got; -1 if one is out of order. */
static long drain_reader(fx_t *fx, int i, long *next) {
  tc_frame_t f;

  while (tc_frame(&fx->tc[i], &f) == 1) {
    if (f.op != 0x2 || f.len != MSG_LEN || seq_of(&f) != *next)
      return -1;
    (*next)++;
  }
  return *next;
}

/* Broadcast NMSGS numbered messages, WINDOW at a time, each window once
 * every reader has the previous one. Returns 0 or -1. */
static int publish(fx_t *fx, int first_reader, long *next) {
  static char msg[MSG_LEN];
  long sent = 0, low;
  int i;

  memset(msg, 'm', sizeof(msg));
  while (sent < NMSGS) {
    for (i = 0; i < WINDOW && sent < NMSGS; i++, sent++) {
      char num[24];

      snprintf(num, sizeof(num), "%08ld", sent % 100000000);
      memcpy(msg, num, 8);
      if (hub_broadcast(fx->hub, msg, sizeof(msg), HUB_MSG_BINARY) < 0)
        return -1;
    }
    for (;;) {
      low = sent;
      for (i = first_reader; i < first_reader + NREADERS; i++) {
        if (drain_reader(fx, i, &next[i]) < 0)
          return -1;
        if (next[i] < low)
          low = next[i];
      }
      if (low == sent)
        break;
      fx_step(fx);
    }
  }
  return 0;
}

/* A hub under `policy` with a client that stalls (its reading paused)
 * and NREADERS that read, every message published to them all; each
 * reader got all NMSGS. The stalled client's index, or -1. */
static int stall_one_and_publish(fx_t *fx, hub_policy_t policy) {
  long next[NREADERS + 1] = {0};
  hub_options_t ho;
  hub_ws_options_t wo;
  int stalled, i;

  hub_options_init(&ho);
  ho.max_queue_msgs = 64;
  ho.max_queue_bytes = 64 * MSG_LEN;
  ho.policy = policy;
  hub_ws_options_init(&wo);
  /* Small kernel buffers, so that the stall reaches the hub's queue
   * after a few dozen messages rather than megabytes. */
  wo.send_buffer = 8192;
  if (fx_start(fx, &ho, &wo) != 0 || (stalled = fx_ws_client(fx, 4096)) < 0)
    return -1;
  fx->tc[stalled].paused = 1;
  for (i = 1; i <= NREADERS; i++)
    if (fx_ws_client(fx, 0) != stalled + i)
      return -1;
  if (publish(fx, 1, next) != 0)
    return -1;
  for (i = 1; i <= NREADERS; i++)
    if (next[i] != NMSGS)
      return -1;
  return stalled;
}

TEST(a_stalled_client_is_dropped_and_the_others_get_everything) {
  fx_t fx;
  hub_stats_t st;
  int stalled, i;

  ASSERT_EQ((stalled = stall_one_and_publish(&fx, HUB_POLICY_DISCONNECT)), 0);
  /* The stalled client was dropped as a slow consumer... */
  UNTIL(&fx, fx.closed[stalled]);
  ASSERT(fx.closed[stalled]);
  ASSERT_EQ(fx.status[stalled], HUB_ESLOW);
  ASSERT(fx.dropped[HUB_DROP_DISCONNECT] > 0);
  st = fx_hub_stats(&fx);
  ASSERT_EQ(st.clients_dropped, 1);
  ASSERT_EQ(st.clients, NREADERS);
  /* ... and its connection is gone: reading now ends in EOF or reset
   * after what the kernel held. */
  fx.tc[stalled].paused = 0;
  UNTIL(&fx, fx.tc[stalled].eof != 0);
  ASSERT(fx.tc[stalled].eof != 0);
  for (i = 1; i <= NREADERS; i++)
    ASSERT(!fx.closed[i]);
  ASSERT_EQ(fx_stop(&fx), 0);
}

TEST(a_stalled_client_keeps_the_newest_under_drop_oldest) {
  long last = -1, got = 0, s;
  fx_t fx;
  tc_frame_t f;
  hub_stats_t st;
  int stalled;

  ASSERT((stalled = stall_one_and_publish(&fx, HUB_POLICY_DROP_OLDEST)) >= 0);
  st = fx_hub_stats(&fx);
  /* Bounded: what waits for the stalled client fits its queue. */
  ASSERT(st.queued_msgs <= 64);
  ASSERT(st.queued_bytes <= 64 * MSG_LEN);
  ASSERT(fx.dropped[HUB_DROP_EVICTED] > 0);
  ASSERT(!fx.closed[stalled]);
  /* It wakes up: whole frames, in order, with a gap, ending with the
   * last message. */
  fx.tc[stalled].paused = 0;
  while (last != NMSGS - 1) {
    if (!fx_next_frame(&fx, stalled, &f))
      break;
    ASSERT(f.op == 0x2 && f.len == MSG_LEN);
    s = seq_of(&f);
    ASSERT(s > last);
    last = s;
    got++;
  }
  ASSERT_EQ(last, NMSGS - 1);
  ASSERT(got < NMSGS);
  ASSERT_EQ((uint64_t)(NMSGS - got), fx.dropped[HUB_DROP_EVICTED] +
                                         fx.dropped[HUB_DROP_REFUSED]);
  ASSERT_EQ(fx_stop(&fx), 0);
}

int main(int argc, char **argv) {
  return RUN_TESTS(argc, argv);
}
