/* Topic history and resume: positions, resuming after a position, the
 * bounds of a history, catching up within a client's queue bounds, the
 * catch-up policy, and a randomized model in which every message reaches
 * every client exactly once and in order, through any mix of live
 * delivery, resumes and catching up. */
#include <stdio.h>
#include <stdlib.h>

#include "fixture.h"

static int init_hist(fx *f, hub_policy_t policy, size_t qmsgs,
                     size_t hmsgs, size_t hbytes) {
  hub_options_t o;
  hub_options_init(&o);
  o.policy = policy;
  o.max_queue_msgs = qmsgs;
  o.history_msgs = hmsgs;
  o.history_bytes = hbytes;
  return fx_init(f, &o);
}

/* A hub keeping 100 messages of history, with `a` reading topic "t" live
 * and `b` registered but not subscribed yet: it comes late. */
static int live_and_late(fx *f, mem_conn **a, mem_conn **b) {
  if (init_hist(f, HUB_POLICY_DISCONNECT, 256, 100, 1 << 20) != 0 ||
      (*a = fx_conn(f, MEM_WRITE_SYNC, MEM_CLOSE_SYNC)) == NULL ||
      (*b = fx_conn(f, MEM_WRITE_SYNC, MEM_CLOSE_SYNC)) == NULL)
    return -1;
  return hub_subscribe((*a)->client, "t");
}

/* The payloads a client got, "<...>" each, parsed back to numbers. */
static int received(const mem_conn *mc, long *out, int max) {
  const char *p = mc->out, *end = mc->out + mc->len;
  int n = 0;

  while (p != NULL && p < end && n < max) {
    p = memchr(p, '<', (size_t)(end - p));
    if (p == NULL)
      break;
    out[n++] = strtol(p + 1, NULL, 10);
    p++;
  }
  return n;
}

/* The client reads until nothing is left for it (a few idle steps: a
 * client behind is fed at the flush after its write completed). */
static void drain(fx *f, mem_conn *c) {
  int idle = 0, k;

  for (k = 0; k < 100000 && idle < 3; k++) {
    fx_step(f);
    if (c->in_flight && !c->closed) {
      mem_complete(c, 0);
      idle = 0;
    } else {
      idle++;
    }
  }
}

/* To `topic`, or broadcast (NULL). */
static void pub(fx *f, const char *topic, long i) {
  char buf[32];
  int n = snprintf(buf, sizeof(buf), "%ld", i);
  if ((topic != NULL ? hub_publish(f->hub, topic, buf, (size_t)n, 0)
                     : hub_broadcast(f->hub, buf, (size_t)n, 0)) < 0)
    abort();
}

TEST(messages_of_a_topic_with_history_get_positions) {
  fx f;
  mem_conn *c;
  hub_msg_t *msg;
  uint64_t e1, e2, o, first, next;

  ASSERT_EQ(init_hist(&f, HUB_POLICY_DISCONNECT, 256, 3, 1 << 20), 0);
  ASSERT((c = fx_conn(&f, MEM_WRITE_SYNC, MEM_CLOSE_SYNC)) != NULL);
  ASSERT_EQ(hub_subscribe(c->client, "t"), 0);
  ASSERT_EQ(hub_msg_new(f.hub, "a", 1, 0, &msg), 0);
  ASSERT_EQ(hub_msg_position(msg, &e1, &o), UV_ENOENT);
  ASSERT_EQ(hub_publish_msg(f.hub, NULL, "t", msg), 1);
  ASSERT_EQ(hub_msg_position(msg, &e1, &o), 0);
  ASSERT(e1 != 0);
  ASSERT_EQ(o, 1);
  /* A message has one position: publishing it again is refused. */
  ASSERT_EQ(hub_publish_msg(f.hub, NULL, "t", msg), UV_EBUSY);
  hub_msg_unref(msg);
  pub(&f, "t", 2);
  pub(&f, "t", 3);
  pub(&f, "t", 4);
  ASSERT_EQ(hub_topic_position(f.hub, "t", &e2, &first, &next), 0);
  ASSERT_EQ(e2, e1);
  ASSERT_EQ(first, 2); /* three held: 2, 3, 4 */
  ASSERT_EQ(next, 5);
  ASSERT_EQ(hub_topic_position(f.hub, "nope", NULL, NULL, NULL), UV_ENOENT);
  fx_step(&f);
  ASSERT(out_is(c, "<a><2><3><4>"));
  ASSERT_EQ(fx_end(&f), 0);
}

TEST(a_history_keeps_what_its_bounds_allow_and_no_more) {
  fx f;
  hub_stats_t st;
  count_alloc *ca;
  long allocs;
  int i;

  ASSERT_EQ(init_hist(&f, HUB_POLICY_DISCONNECT, 256, 100, 500), 0);
  ASSERT_EQ(hub_topic_set_history(f.hub, "t", 100, 500), 0);
  for (i = 0; i < 500; i++)
    pub(&f, "t", 1000000 + i); /* 7 bytes each: the byte bound binds */
  hub_get_stats(f.hub, &st);
  ASSERT_EQ(st.history_msgs, 500 / 7);
  ASSERT(st.history_bytes <= 500);
  ASSERT_EQ(hub_topic_set_history(f.hub, "t", 10, 500), 0);
  for (i = 0; i < 3; i++)
    pub(&f, "t", 1000000 + i);
  hub_get_stats(f.hub, &st);
  ASSERT_EQ(st.history_msgs, 10); /* the message bound binds now */
  /* Grown, the ring makes no allocation: one per publish (the message). */
  ca = &f.ca;
  allocs = ca->allocs;
  for (i = 0; i < 100; i++)
    pub(&f, "t", 1000000 + i);
  ASSERT_EQ(ca->allocs - allocs, 100);
  ASSERT_EQ(hub_topic_set_history(f.hub, "t", 0, 0), 0);
  hub_get_stats(f.hub, &st);
  ASSERT_EQ(st.history_msgs, 0);
  ASSERT_EQ(fx_finish(&f), 0);
}

TEST(resuming_after_a_position_gets_the_rest_then_live) {
  fx f;
  mem_conn *a, *b;
  uint64_t epoch;
  int64_t missed;
  int i;

  ASSERT_EQ(live_and_late(&f, &a, &b), 0);
  for (i = 1; i <= 5; i++)
    pub(&f, "t", i);
  ASSERT_EQ(hub_topic_position(f.hub, "t", &epoch, NULL, NULL), 0);
  ASSERT_EQ(hub_subscribe_from(b->client, "t", epoch, 3, &missed), 0);
  ASSERT_EQ(missed, 0);
  /* Nothing is queued before the next flush: a notice goes first. */
  ASSERT_EQ(client_send(b->client, "n", 1, 0), 0);
  pub(&f, "t", 6); /* b is behind: it gets 6 after 4 and 5 */
  fx_step(&f);
  fx_step(&f);
  pub(&f, "t", 7);
  fx_step(&f);
  ASSERT(out_is(a, "<1><2><3><4><5><6><7>"));
  ASSERT(out_is(b, "<n><4><5><6><7>"));
  ASSERT_EQ(hub_subscribe_from(b->client, "t", epoch, 1, &missed), 1);
  ASSERT_EQ(fx_end(&f), 0);
}

TEST(resuming_from_zero_beyond_the_history_or_another_epoch) {
  fx f;
  mem_conn *c[4];
  uint64_t epoch;
  int64_t missed;
  int i;

  ASSERT_EQ(init_hist(&f, HUB_POLICY_DISCONNECT, 256, 3, 1 << 20), 0);
  ASSERT_EQ(fx_conns(&f, c, 4, MEM_WRITE_SYNC, MEM_CLOSE_SYNC), 0);
  ASSERT_EQ(hub_topic_set_history(f.hub, "t", 3, 1 << 20), 0);
  for (i = 1; i <= 10; i++)
    pub(&f, "t", i);
  ASSERT_EQ(hub_topic_position(f.hub, "t", &epoch, NULL, NULL), 0);
  ASSERT_EQ(hub_subscribe_from(c[0]->client, "t", 0, 0, &missed), 0);
  ASSERT_EQ(missed, 0); /* from the oldest held: nothing said lost */
  ASSERT_EQ(hub_subscribe_from(c[1]->client, "t", epoch, 2, &missed), 0);
  ASSERT_EQ(missed, 5); /* 3..7 are gone; 8, 9, 10 are held */
  ASSERT_EQ(hub_subscribe_from(c[2]->client, "t", epoch ^ 1, 9, &missed), 0);
  ASSERT_EQ(missed, -1); /* another stream: unknown */
  ASSERT_EQ(hub_subscribe_from(c[3]->client, "t", epoch, 99, &missed), 0);
  ASSERT_EQ(missed, -1); /* a position the stream never had */
  fx_step(&f);
  for (i = 0; i < 4; i++)
    ASSERT(out_is(c[i], "<8><9><10>"));
  ASSERT_EQ(fx_end(&f), 0);
}

/* To `topic` at (epoch, offset), as a sequencer elsewhere placed it. */
static int pub_at(fx *f, const char *topic, long i, uint64_t epoch,
                  uint64_t offset) {
  hub_msg_t *msg;
  char buf[32];
  int n = snprintf(buf, sizeof(buf), "%ld", i), r;

  if (hub_msg_new(f->hub, buf, (size_t)n, 0, &msg) != 0)
    abort();
  r = hub_publish_at(f->hub, topic, msg, epoch, offset);
  hub_msg_unref(msg);
  return r;
}

TEST(positions_given_elsewhere_are_kept) {
  const uint64_t E = 0x1234abcd5678ef00ull;
  uint64_t epoch, first, next, e, o;
  hub_msg_t *msg;
  int64_t missed;
  mem_conn *a, *b;
  fx f;

  ASSERT_EQ(live_and_late(&f, &a, &b), 0);
  /* The first one sets the stream: its epoch, and its offset (the
   * sequencer's stream began long before this hub heard of it). */
  ASSERT_EQ(pub_at(&f, "t", 1, E, 41), 1);
  ASSERT_EQ(pub_at(&f, "t", 2, E, 42), 1);
  ASSERT_EQ(hub_msg_new(f.hub, "3", 1, 0, &msg), 0);
  ASSERT_EQ(hub_publish_at(f.hub, "t", msg, E, 43), 1);
  ASSERT_EQ(hub_msg_position(msg, &e, &o), 0);
  ASSERT(e == E && o == 43);
  ASSERT_EQ(hub_publish_at(f.hub, "t", msg, E, 44), UV_EBUSY);
  hub_msg_unref(msg);
  ASSERT_EQ(hub_topic_position(f.hub, "t", &epoch, &first, &next), 0);
  ASSERT(epoch == E && first == 41 && next == 44);
  /* Again, or late: refused, nothing delivered, the message unchanged. */
  ASSERT_EQ(hub_msg_new(f.hub, "x", 1, 0, &msg), 0);
  ASSERT_EQ(hub_publish_at(f.hub, "t", msg, E, 42), UV_EALREADY);
  ASSERT_EQ(hub_msg_position(msg, NULL, NULL), UV_ENOENT);
  ASSERT_EQ(hub_publish_at(f.hub, "t", msg, E, 43), UV_EALREADY);
  hub_msg_unref(msg);
  /* A local publish takes the next offset of the same stream. */
  pub(&f, "t", 4);
  ASSERT_EQ(hub_topic_position(f.hub, "t", &epoch, &first, &next), 0);
  ASSERT(epoch == E && next == 45);
  /* Resuming with an id another hub gave works here. */
  ASSERT_EQ(hub_subscribe_from(b->client, "t", E, 42, &missed), 0);
  ASSERT_EQ(missed, 0);
  fx_step(&f);
  ASSERT(out_is(a, "<1><2><3><4>"));
  ASSERT(out_is(b, "<3><4>"));
  /* Errors. */
  ASSERT_EQ(hub_msg_new(f.hub, "y", 1, 0, &msg), 0);
  ASSERT_EQ(hub_publish_at(f.hub, NULL, msg, E, 50), UV_EINVAL);
  ASSERT_EQ(hub_publish_at(f.hub, "t", msg, 0, 50), UV_EINVAL);
  ASSERT_EQ(hub_publish_at(f.hub, "t", msg, E, 0), UV_EINVAL);
  ASSERT_EQ(hub_publish_at(f.hub, "none", msg, E, 50), UV_ENOENT);
  ASSERT_EQ(hub_msg_position(msg, NULL, NULL), UV_ENOENT);
  hub_msg_unref(msg);
  ASSERT_EQ(fx_end(&f), 0);
}

/* A sequencer fills a topic's history before its first subscriber comes
 * (hub_topic_keep()); a client then resumes from any position in it. Let
 * go, the topic stays idle for its history; pinned topics are never
 * evicted as idle ones. */
TEST(a_kept_topic_fills_before_its_first_subscriber) {
  const uint64_t E = 77;
  uint64_t first, next;
  int64_t missed;
  mem_conn *c;
  hub_options_t o;
  fx f;

  hub_options_init(&o);
  o.history_msgs = 100;
  o.history_idle_topics = 1;
  ASSERT((c = fx_one(&f, &o, MEM_WRITE_SYNC, MEM_CLOSE_SYNC)) != NULL);
  ASSERT_EQ(pub_at(&f, "t", 1, E, 10), UV_ENOENT); /* no such topic */
  ASSERT_EQ(hub_topic_keep(f.hub, "t", 1), 0);
  ASSERT_EQ(hub_topic_keep(f.hub, "t", 1), 1);
  fx_step(&f); /* a reap: a kept topic stays, empty or not */
  ASSERT_EQ(hub_topic_position(f.hub, "t", NULL, &first, &next), 0);
  ASSERT_EQ(pub_at(&f, "t", 1, E, 10), 0); /* nobody to deliver to */
  ASSERT_EQ(pub_at(&f, "t", 2, E, 11), 0);
  ASSERT_EQ(pub_at(&f, "t", 3, E, 12), 0);
  /* Other topics with history come and go idle: "t" is not one of them. */
  ASSERT_EQ(hub_subscribe(c->client, "u"), 0);
  pub(&f, "u", 9);
  ASSERT_EQ(hub_unsubscribe(c->client, "u"), 0);
  ASSERT_EQ(hub_subscribe(c->client, "v"), 0);
  pub(&f, "v", 9);
  ASSERT_EQ(hub_unsubscribe(c->client, "v"), 0);
  fx_step(&f);
  ASSERT_EQ(hub_topic_position(f.hub, "u", NULL, NULL, NULL), UV_ENOENT);
  ASSERT_EQ(hub_subscribe_from(c->client, "t", E, 10, &missed), 0);
  ASSERT_EQ(missed, 0);
  ASSERT_EQ(hub_topic_keep(f.hub, "t", 0), 1);
  fx_step(&f);
  ASSERT(out_is(c, "<9><9><2><3>"));
  /* Let go and left: idle, its history kept for resumes. */
  ASSERT_EQ(hub_unsubscribe(c->client, "t"), 0);
  fx_step(&f);
  ASSERT_EQ(hub_topic_position(f.hub, "t", NULL, &first, &next), 0);
  ASSERT(first == 10 && next == 13);
  ASSERT_EQ(hub_topic_keep(f.hub, "none", 0), 0); /* nothing to let go */
  ASSERT_EQ(hub_topic_keep(f.hub, NULL, 1), UV_EINVAL);
  ASSERT_EQ(hub_topic_keep(f.hub, "", 1), UV_EINVAL);
  ASSERT_EQ(fx_end(&f), 0);
}

/* A client that resumes with an id this hub has not reached yet (another
 * hub of the sequencer delivered it first) waits for it, and reads on
 * from there: no reset, no replay. Far ahead is unknown. */
TEST(a_position_not_reached_yet_is_waited_for) {
  const uint64_t E = 5;
  int64_t missed;
  mem_conn *a, *b;
  fx f;
  int i;

  ASSERT_EQ(init_hist(&f, HUB_POLICY_DISCONNECT, 256, 100, 1 << 20), 0);
  ASSERT((a = fx_conn(&f, MEM_WRITE_SYNC, MEM_CLOSE_SYNC)) != NULL);
  ASSERT((b = fx_conn(&f, MEM_WRITE_SYNC, MEM_CLOSE_SYNC)) != NULL);
  ASSERT_EQ(hub_topic_set_history(f.hub, "t", 100, 1 << 20), 0);
  for (i = 1; i <= 5; i++)
    ASSERT(pub_at(&f, "t", i, E, (uint64_t)i) >= 0);
  ASSERT_EQ(hub_subscribe_from(a->client, "t", E, 8, &missed), 0);
  ASSERT_EQ(missed, 0);
  ASSERT_EQ(hub_subscribe_from(b->client, "t", E, 5 + 200, &missed), 0);
  ASSERT_EQ(missed, -1); /* a history's length ahead: never had */
  fx_step(&f);
  ASSERT_EQ(a->len, 0); /* nothing yet */
  for (i = 6; i <= 10; i++)
    ASSERT(pub_at(&f, "t", i, E, (uint64_t)i) >= 0);
  fx_step(&f);
  ASSERT(out_is(a, "<9><10>"));
  ASSERT(out_is(b, "<1><2><3><4><5><6><7><8><9><10>"));
  ASSERT_EQ(f.drops[HUB_DROP_EXPIRED], 0);
  ASSERT_EQ(fx_end(&f), 0);
}

/* A hole in the stream: the history starts again after it, and who was
 * reading live is told exactly how many it will not get here. */
TEST(a_hole_in_given_positions_is_a_gap_of_its_size) {
  const uint64_t E = 77;
  uint64_t first, next;
  int64_t missed;
  mem_conn *a, *b;
  fx f;

  ASSERT_EQ(live_and_late(&f, &a, &b), 0);
  ASSERT_EQ(pub_at(&f, "t", 1, E, 1), 1);
  ASSERT_EQ(pub_at(&f, "t", 2, E, 2), 1);
  fx_step(&f);
  /* 3, 4, 5 never came: a reads 6 from the history, after the gap. */
  ASSERT_EQ(pub_at(&f, "t", 6, E, 6), 0);
  ASSERT(pub_at(&f, "t", 7, E, 7) >= 0);
  fx_step(&f);
  fx_step(&f);
  ASSERT(out_is(a, "<1><2><6><7>"));
  ASSERT_EQ(f.drops[HUB_DROP_EXPIRED], 1);
  ASSERT_EQ(f.drop_msgs[HUB_DROP_EXPIRED], 3);
  ASSERT_EQ(hub_topic_position(f.hub, "t", NULL, &first, &next), 0);
  ASSERT(first == 6 && next == 8);
  /* Resuming from before the hole: the count is exact too. */
  ASSERT_EQ(hub_subscribe_from(b->client, "t", E, 1, &missed), 0);
  ASSERT_EQ(missed, 4);
  fx_step(&f);
  ASSERT(out_is(b, "<6><7>"));
  ASSERT_EQ(fx_end(&f), 0);
}

/* Another epoch: the sequencer's stream started again. The history
 * follows it; a reader behind in the old one is told what it lost. */
TEST(another_epoch_starts_the_stream_again) {
  uint64_t epoch, first, next;
  int64_t missed;
  mem_conn *a, *b, *c;
  fx f;
  int i;

  ASSERT_EQ(init_hist(&f, HUB_POLICY_DISCONNECT, 256, 100, 1 << 20), 0);
  ASSERT((a = fx_conn(&f, MEM_WRITE_SYNC, MEM_CLOSE_SYNC)) != NULL);
  ASSERT((b = fx_conn(&f, MEM_WRITE_ASYNC, MEM_CLOSE_SYNC)) != NULL);
  ASSERT((c = fx_conn(&f, MEM_WRITE_SYNC, MEM_CLOSE_SYNC)) != NULL);
  ASSERT_EQ(hub_subscribe(a->client, "t"), 0);
  for (i = 1; i <= 5; i++)
    ASSERT_EQ(pub_at(&f, "t", i, 100, (uint64_t)i), 1);
  /* b resumes from the start and does not read yet: it is behind. */
  ASSERT_EQ(hub_subscribe_from(b->client, "t", 100, 2, &missed), 0);
  fx_step(&f);
  ASSERT(pub_at(&f, "t", 11, 200, 1) >= 1);
  ASSERT(pub_at(&f, "t", 12, 200, 2) >= 1);
  ASSERT_EQ(hub_topic_position(f.hub, "t", &epoch, &first, &next), 0);
  ASSERT(epoch == 200 && first == 1 && next == 3);
  drain(&f, b);
  fx_step(&f);
  ASSERT(out_is(a, "<1><2><3><4><5><11><12>"));
  /* b got what it read before the change (at least the first), then the
   * new stream; what it lost of the old one was counted. */
  ASSERT(b->len > 0);
  ASSERT(strstr(b->out, "<11><12>") != NULL);
  /* An id of the old stream is unknown now. */
  ASSERT_EQ(hub_subscribe_from(c->client, "t", 100, 5, &missed), 0);
  ASSERT_EQ(missed, -1);
  fx_step(&f);
  ASSERT(out_is(c, "<11><12>"));
  ASSERT_EQ(fx_end(&f), 0);
}

/* Given positions, at random: in order mostly, sometimes again (refused),
 * sometimes past a hole, sometimes a local publish between them; readers
 * with slow writes under CATCH_UP, so that nobody is cut. Every reader
 * gets offsets in strictly increasing order, and what the readers got
 * plus the gaps they were told of is every offset of the stream. */
TEST(randomized_given_positions_reach_every_reader_once_in_order) {
  enum { N = 4, OPS = 6000 };
  mem_conn *c[N];
  uint64_t next = 1, got_last[N] = {0};
  size_t got[N] = {0}, k;
  long vals[OPS + 16];
  unsigned seed = 2024;
  fx f;
  int i, op, r, n;

  ASSERT_EQ(init_hist(&f, HUB_POLICY_CATCH_UP, 8, 4096, 1 << 24), 0);
  for (i = 0; i < N; i++) {
    ASSERT((c[i] = fx_conn(&f, MEM_WRITE_ASYNC, MEM_CLOSE_SYNC)) != NULL);
    ASSERT_EQ(hub_subscribe(c[i]->client, "t"), 0);
  }
  for (op = 0; op < OPS; op++) {
    seed = seed * 1103515245u + 12345u;
    r = (int)((seed >> 8) % 100);
    if (r < 70) {
      ASSERT(pub_at(&f, "t", (long)next, 9, next) >= 0);
      next++;
    } else if (r < 80) {
      if (next > 1)
        ASSERT_EQ(pub_at(&f, "t", -1, 9, 1 + (seed >> 20) % (next - 1)),
                  UV_EALREADY);
    } else if (r < 83) {
      next += 1 + (seed >> 16) % 5; /* a hole */
      ASSERT(pub_at(&f, "t", (long)next, 9, next) >= 0);
      next++;
    } else if (r < 88) {
      pub(&f, "t", (long)next); /* takes `next` itself */
      next++;
    } else {
      /* Readers read at their own pace. */
      for (i = 0; i < N; i++)
        if (c[i]->in_flight && !c[i]->closed && ((seed >> (i + 3)) & 1))
          mem_complete(c[i], 0);
      fx_step(&f);
    }
  }
  for (i = 0; i < N; i++)
    drain(&f, c[i]);
  for (i = 0; i < N; i++) {
    ASSERT(!c[i]->closed);
    n = received(c[i], vals, OPS + 16);
    for (k = 0; k < (size_t)n; k++) {
      ASSERT(vals[k] > 0 && (uint64_t)vals[k] > got_last[i]);
      got_last[i] = (uint64_t)vals[k];
      got[i]++;
    }
    ASSERT_EQ(got_last[i], next - 1);
  }
  /* Gaps told, summed over readers, are exactly the offsets they did not
   * get. */
  {
    size_t told = f.drop_msgs[HUB_DROP_EXPIRED], missing = 0;

    for (i = 0; i < N; i++)
      missing += (size_t)(next - 1) - got[i];
    ASSERT_EQ(told, missing);
    ASSERT(missing > 0); /* there were holes */
  }
  ASSERT_EQ(fx_end(&f), 0);
}

TEST(a_topic_keeps_its_history_after_its_last_subscriber_left) {
  fx f;
  mem_conn *c;
  uint64_t epoch, e2;
  int64_t missed;

  ASSERT_EQ(init_hist(&f, HUB_POLICY_DISCONNECT, 256, 10, 1 << 20), 0);
  ASSERT((c = fx_conn(&f, MEM_WRITE_SYNC, MEM_CLOSE_SYNC)) != NULL);
  ASSERT_EQ(hub_subscribe(c->client, "t"), 0);
  pub(&f, "t", 1);
  ASSERT_EQ(hub_topic_position(f.hub, "t", &epoch, NULL, NULL), 0);
  ASSERT_EQ(hub_unsubscribe(c->client, "t"), 0);
  pub(&f, "t", 2); /* nobody there: still kept */
  fx_step(&f);
  ASSERT_EQ(hub_subscribe_from(c->client, "t", epoch, 1, &missed), 0);
  fx_step(&f);
  ASSERT(out_is(c, "<1><2>"));
  ASSERT_EQ(hub_topic_position(f.hub, "t", &e2, NULL, NULL), 0);
  ASSERT_EQ(e2, epoch);
  ASSERT_EQ(fx_end(&f), 0);
}

/* 50,000 missed with a 256-message bound: fed as the queue drains,
 * never cut by its own catch-up. */
TEST(catching_up_respects_the_queue_bounds) {
  enum { N = 50000 };
  fx f;
  mem_conn *c;
  hub_client_stats_t cs;
  static long got[N + 1];
  int64_t missed;
  int i, n, steps = 0;

  ASSERT_EQ(init_hist(&f, HUB_POLICY_DISCONNECT, 256, N, 64 << 20), 0);
  ASSERT((c = fx_conn(&f, MEM_WRITE_ASYNC, MEM_CLOSE_SYNC)) != NULL);
  ASSERT_EQ(hub_topic_set_history(f.hub, "t", N, 64 << 20), 0);
  for (i = 1; i <= N; i++)
    pub(&f, "t", i);
  ASSERT_EQ(hub_subscribe_from(c->client, "t", 0, 0, &missed), 0);
  while (steps++ < 10 * N) {
    fx_step(&f);
    client_get_stats(c->client, &cs);
    ASSERT(cs.queued_msgs <= 256);
    if (!c->in_flight)
      break;
    mem_complete(c, 0);
  }
  ASSERT_EQ(c->close_requested, 0);
  n = received(c, got, N + 1);
  ASSERT_EQ(n, N);
  for (i = 0; i < n; i++)
    ASSERT_EQ(got[i], i + 1);
  ASSERT_EQ(f.drops[HUB_DROP_DISCONNECT], 0);
  ASSERT_EQ(fx_end(&f), 0);
}

/* Under CATCH_UP a reader that falls behind reads the history at its own
 * pace and loses nothing while the history holds what it has not read;
 * one that falls off its end is told how many it lost. */
TEST(the_catch_up_policy_reads_the_history_instead_of_dropping) {
  fx f;
  mem_conn *slow, *fast;
  static long got[4000];
  int i, n;

  ASSERT_EQ(init_hist(&f, HUB_POLICY_CATCH_UP, 8, 1000, 1 << 20), 0);
  ASSERT((slow = fx_conn(&f, MEM_WRITE_ASYNC, MEM_CLOSE_SYNC)) != NULL);
  ASSERT((fast = fx_conn(&f, MEM_WRITE_SYNC, MEM_CLOSE_SYNC)) != NULL);
  ASSERT_EQ(hub_subscribe(slow->client, "t"), 0);
  ASSERT_EQ(hub_subscribe(fast->client, "t"), 0);
  for (i = 1; i <= 900; i++) {
    pub(&f, "t", i);
    if (i % 100 == 0) {
      fx_step(&f);
      if (slow->in_flight)
        mem_complete(slow, 0); /* it reads, a little */
    }
  }
  ASSERT_EQ(hub_is_congested(f.hub), 0); /* nobody waited */
  drain(&f, slow);
  n = received(slow, got, 4000);
  ASSERT_EQ(n, 900);
  for (i = 0; i < n; i++)
    ASSERT_EQ(got[i], i + 1);
  ASSERT_EQ(slow->close_requested, 0);
  ASSERT_EQ(f.drops[HUB_DROP_EXPIRED], 0);
  ASSERT_EQ(received(fast, got, 4000), 900);
  /* Now it stops reading while 2000 more go by: the history (1000) drops
   * what it had not read, and that is reported as such. */
  for (i = 901; i <= 2900; i++)
    pub(&f, "t", i);
  drain(&f, slow);
  ASSERT_EQ(slow->close_requested, 0);
  ASSERT(f.drop_msgs[HUB_DROP_EXPIRED] > 0);
  n = received(slow, got, 4000);
  ASSERT_EQ((size_t)n + f.drop_msgs[HUB_DROP_EXPIRED], 2900);
  for (i = 1; i < n; i++)
    ASSERT(got[i] > got[i - 1]);
  ASSERT_EQ(got[n - 1], 2900);
  ASSERT_EQ(fx_end(&f), 0);
}

/* The model: clients that read at random moments, disconnect at random
 * and resume after the last message they got, under a random policy; a
 * publisher sends numbered messages. Every client must end with every
 * message exactly once, in order, except what the hub reported lost
 * (counted per client), and the whole run must free everything. */
typedef struct {
  mem_conn *mc;
  long last; /* the last message number it got */
  size_t seen; /* bytes of mc->out already parsed */
  long lost;
  uint64_t after; /* position of `last` */
  uint64_t expired; /* HUB_DROP_EXPIRED reported for it, not yet seen */
} model_client;

static model_client *model_of;
static int model_n;

/* Messages a client lost to a history that moved on: the only jumps
 * allowed in its sequence, each of exactly the size reported. */
static void model_on_drop(fx *f, hub_client_t *c, hub_drop_reason_t r) {
  int i;

  (void)f;
  if (r != HUB_DROP_EXPIRED)
    return;
  for (i = 0; i < model_n; i++)
    if (model_of[i].mc != NULL && model_of[i].mc->client == c)
      model_of[i].expired++;
}

static void model_read(model_client *m, long *bad) {
  const char *p, *end;
  long v;

  if (m->mc->out == NULL)
    return; /* nothing written to it yet */
  p = m->mc->out + m->seen;
  end = m->mc->out + m->mc->len;

  while ((p = memchr(p, '<', (size_t)(end - p))) != NULL) {
    v = strtol(p + 1, NULL, 10);
    if (v != m->last + 1) {
      /* A jump forward only, and only where the hub said so. */
      if (v <= m->last || m->expired == 0)
        (*bad)++;
      else
        m->expired--;
    }
    m->last = v;
    m->after = (uint64_t)v; /* offsets are the numbers here */
    p++;
  }
  m->seen = m->mc->len;
}

static void model_case(unsigned seed, hub_policy_t policy,
                       const char *topic, size_t history) {
  enum { C = 8, OPS = 12000 };
  fx f;
  model_client m[C];
  uint64_t epoch, first;
  int64_t missed;
  long next = 1, bad = 0;
  int i, op, k;

  srand(seed);
  ASSERT_EQ(init_hist(&f, policy, 4, history, 1 << 20), 0);
  ASSERT_EQ(hub_topic_set_history(f.hub, topic, history, 1 << 20), 0);
  model_of = m;
  model_n = C;
  f.drop_hook = model_on_drop;
  ASSERT_EQ(hub_topic_position(f.hub, topic, &epoch, NULL, NULL), 0);
  memset(m, 0, sizeof(m));
  for (i = 0; i < C; i++) {
    ASSERT((m[i].mc = fx_conn(&f, MEM_WRITE_ASYNC, MEM_CLOSE_SYNC)) != NULL);
    if (topic != NULL)
      ASSERT_EQ(hub_subscribe(m[i].mc->client, topic), 0);
  }
  for (op = 0; op < OPS; op++) {
    k = rand() % C;
    switch (rand() % 8) {
    case 0:
    case 1:
    case 2:
      pub(&f, topic, next++);
      break;
    case 3:
    case 4:
      if (m[k].mc->in_flight && !m[k].mc->closed)
        mem_complete(m[k].mc, 0);
      break;
    case 5:
      fx_step(&f);
      break;
    case 6: /* disconnect, then resume after the last one it got */
      if (rand() % 8 == 0 && !m[k].mc->closed) {
        if (!m[k].mc->close_requested)
          client_close(m[k].mc->client, 0);
        model_read(&m[k], &bad);
        mem_conn_free(m[k].mc);
        ASSERT((m[k].mc = fx_conn(&f, MEM_WRITE_ASYNC, MEM_CLOSE_SYNC)) !=
               NULL);
        m[k].seen = 0;
        ASSERT(hub_subscribe_from(m[k].mc->client, topic, epoch,
                                  m[k].after, &missed) == 0);
        ASSERT(missed >= 0);
        m[k].lost += missed;
        /* It resumes after the last one it got, plus what it was told it
         * missed; one that got nothing yet starts at the oldest held. */
        if (m[k].after == 0) {
          ASSERT_EQ(hub_topic_position(f.hub, topic, NULL, &first, NULL), 0);
          m[k].last = (long)first - 1;
        } else {
          m[k].last = (long)m[k].after + missed;
        }
      }
      break;
    default:
      model_read(&m[k], &bad);
      break;
    }
  }
  /* Everyone reads to the end. */
  for (op = 0; op < 20000; op++) {
    int busy = 0;
    fx_step(&f);
    for (i = 0; i < C; i++) {
      if (m[i].mc->close_requested && !m[i].mc->closed)
        continue;
      if (m[i].mc->in_flight) {
        mem_complete(m[i].mc, 0);
        busy = 1;
      }
    }
    if (!busy)
      break;
  }
  for (i = 0; i < C; i++) {
    model_read(&m[i], &bad);
    if (m[i].mc->close_requested)
      continue; /* cut by DISCONNECT at the very end: resumes next time */
    ASSERT_EQ(m[i].last, next - 1);
  }
  ASSERT_EQ(bad, 0);
  ASSERT_EQ(f.drops[HUB_DROP_EVICTED] + f.drops[HUB_DROP_REFUSED], 0);
  if (history >= 5000) /* more than is ever published: nothing expires */
    ASSERT_EQ(f.drops[HUB_DROP_EXPIRED], 0);
  model_of = NULL;
  model_n = 0;
  ASSERT_EQ(fx_finish(&f), 0);
  for (i = 0; i < C; i++)
    mem_conn_free(m[i].mc);
}

TEST(randomized_resumes_deliver_every_message_once_in_order) {
  unsigned seed;

  for (seed = 1; seed <= 3; seed++) {
    model_case(seed, HUB_POLICY_DISCONNECT, "t", 5000);
    model_case(seed, HUB_POLICY_CATCH_UP, "t", 5000);
  }
}

/* A history of 40 messages: resumes beyond it are told exactly how many
 * they missed, and readers that fall off its end under CATCH_UP are told
 * exactly how many it dropped before they read them; nothing else is
 * ever missing or repeated. */
TEST(randomized_resumes_with_history_evictions) {
  unsigned seed;

  for (seed = 1; seed <= 3; seed++) {
    model_case(seed, HUB_POLICY_DISCONNECT, "t", 40);
    model_case(seed, HUB_POLICY_CATCH_UP, "t", 40);
    model_case(seed, HUB_POLICY_CATCH_UP, NULL, 40);
  }
}

/* The broadcast stream counts as a topic: the same model, with
 * hub_broadcast() and hub_subscribe_from(client, NULL, ...). */
TEST(randomized_broadcast_resumes_deliver_every_message_once_in_order) {
  unsigned seed;

  for (seed = 1; seed <= 3; seed++) {
    model_case(seed, HUB_POLICY_DISCONNECT, NULL, 5000);
    model_case(seed, HUB_POLICY_CATCH_UP, NULL, 5000);
  }
}

int main(int argc, char **argv) { return RUN_TESTS(argc, argv); }
