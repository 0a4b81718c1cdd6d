/* Slow-consumer policies, exact at both bounds (messages and bytes), and
 * control messages that bypass them. A client whose transport never
 * completes its write stands for a reader that stopped reading. */
#include "fixture.h"

/* A hub under `policy` with one client whose writes stay in flight until
 * the test completes them: a reader that stopped reading. NULL on error. */
static mem_conn *stuck_reader(fx *f, hub_policy_t policy, size_t msgs,
                              size_t bytes) {
  if (fx_init_judged(f, policy, msgs, bytes) != 0)
    return NULL;
  return fx_conn(f, MEM_WRITE_ASYNC, MEM_CLOSE_SYNC);
}

/* The same with a reader whose writes complete at once. */
static mem_conn *steady_reader(fx *f, hub_policy_t policy, size_t msgs,
                               size_t bytes) {
  if (fx_init_judged(f, policy, msgs, bytes) != 0)
    return NULL;
  return fx_conn(f, MEM_WRITE_SYNC, MEM_CLOSE_SYNC);
}

/* A test of one stuck reader (stuck_reader(), with these arguments). */
#define STUCK_TEST(name, policy, msgs, bytes)                                \
  FX_TEST(name, stuck_reader(f, (policy), (msgs), (bytes)))

/* The reader reads again: complete its write in flight `writes` times,
 * letting the hub start the next write in between; 1 when it then has
 * got exactly `want`. */
static int reads_on(fx *f, mem_conn *c, int writes, const char *want) {
  int i;

  for (i = 0; i < writes; i++) {
    if (i > 0)
      fx_step(f);
    mem_complete(c, 0);
  }
  return out_is(c, want);
}

#define HO(field, value) TS_FIELD(hub_options_t, field, value)

TEST(default_options_are_documented_values) {
  hub_options_t o;
  hub_options_init(&o);
  ASSERT_FIELDS(hub_options_t, &o, HO(policy, HUB_POLICY_DISCONNECT),
                HO(slow_after_ms, 500), HO(max_waiting_msgs, 1024),
                HO(max_waiting_bytes, 16 * 1024 * 1024),
                HO(max_total_queue_bytes, 0), HO(max_queue_msgs, 256),
                HO(max_queue_bytes, 1024 * 1024));
  ASSERT(o.allocator == NULL);
}

TEST(disconnect_at_message_bound) {
  fx f;
  mem_conn *slow, *fast;
  hub_stats_t st;

  ASSERT_EQ(fx_init_judged(&f, HUB_POLICY_DISCONNECT, 3, 1000), 0);
  ASSERT((slow = fx_conn(&f, MEM_WRITE_ASYNC, MEM_CLOSE_DEFER)) != NULL);
  ASSERT((fast = fx_conn(&f, MEM_WRITE_SYNC, MEM_CLOSE_SYNC)) != NULL);
  ASSERT_EQ(BCAST(&f, "1"), 2);
  fx_step(&f); /* "1" is in flight for slow and stays there */
  ASSERT_EQ(BCAST(&f, "2"), 2);
  ASSERT_EQ(BCAST(&f, "3"), 2); /* exactly at the bound: accepted */
  ASSERT_EQ(slow->close_requested, 0);
  ASSERT_EQ(BCAST(&f, "4"), 1); /* one over: slow is dropped */
  ASSERT_EQ(slow->close_requested, 1);
  ASSERT(client_is_closing(slow->client));
  ASSERT_EQ(f.drops[HUB_DROP_DISCONNECT], 1);
  ASSERT_EQ(f.drop_msgs[HUB_DROP_DISCONNECT], 3); /* "2","3" and "4" */
  ASSERT_EQ(f.drop_bytes[HUB_DROP_DISCONNECT], 3);
  hub_get_stats(f.hub, &st);
  ASSERT_STATS(&st, TS_STAT(clients, 1), TS_STAT(clients_dropped, 1));
  /* slow keeps only its write in flight; fast has "2".."4" pending. */
  ASSERT_EQ(st.queued_msgs, 4);
  fx_step(&f);
  ASSERT_EQ(BCAST(&f, "5"), 1);
  fx_step(&f);
  ASSERT(out_is(fast, "<1><2><3><4><5>"));
  /* The transport finishes closing; the in-flight message is released. */
  mem_finish_close(slow);
  ASSERT_EQ(f.closes, 1);
  ASSERT_EQ(slow->close_status, HUB_ESLOW);
  hub_get_stats(f.hub, &st);
  ASSERT_STATS(&st, TS_STAT(queued_msgs, 0), TS_STAT(msgs_dropped, 4));
  ASSERT_EQ(fx_end(&f), 0);
}

STUCK_TEST(disconnect_at_byte_bound, HUB_POLICY_DISCONNECT, 100, 10) {
  ASSERT_EQ(BCAST(f, "aaaa"), 1);
  ASSERT_EQ(BCAST(f, "bbbbbb"), 1); /* 10 bytes: exactly the bound */
  ASSERT_EQ(c->close_requested, 0);
  /* 11 > 10: the hub first writes what it can ("aaaa": a write takes at
   * most a quarter of the byte bound, and at least one message); the
   * write stays in flight, so the client is judged: "bbbbbb" and "c" are
   * dropped with it, "aaaa" when the transport closed. */
  ASSERT_EQ(BCAST(f, "c"), 0);
  ASSERT_EQ(c->writes, 1);
  ASSERT_EQ(c->close_requested, 1);
  ASSERT_EQ(f->drop_msgs[HUB_DROP_DISCONNECT], 2);
  ASSERT_EQ(f->drop_bytes[HUB_DROP_DISCONNECT], 7);
  ASSERT_EQ(f->drop_msgs[HUB_DROP_CLOSED], 1);
  ASSERT_EQ(c->close_status, HUB_ESLOW);
}

TEST(client_send_reports_disconnect) {
  fx f;
  mem_conn *c;

  ASSERT_EQ(fx_init_judged(&f, HUB_POLICY_DISCONNECT, 1, 100), 0);
  /* The transport closes later, so the client is still valid (closing)
   * after it was dropped. */
  ASSERT((c = fx_conn(&f, MEM_WRITE_ASYNC, MEM_CLOSE_DEFER)) != NULL);
  ASSERT_EQ(client_send(c->client, "a", 1, 0), 0);
  ASSERT_EQ(client_send(c->client, "b", 1, 0), HUB_ESLOW);
  ASSERT_EQ(client_send(c->client, "c", 1, 0), HUB_ECLOSING);
  mem_finish_close(c);
  ASSERT_EQ(fx_end(&f), 0);
}

STUCK_TEST(drop_oldest_evicts_pending_never_in_flight, HUB_POLICY_DROP_OLDEST,
           3, 1000) {
  hub_client_stats_t cs;

  ASSERT_EQ(BCAST(f, "1"), 1);
  fx_step(f); /* "1" in flight */
  ASSERT_EQ(BCAST(f, "2"), 1);
  ASSERT_EQ(BCAST(f, "3"), 1);
  ASSERT_EQ(f->drops[HUB_DROP_EVICTED], 0);
  ASSERT_EQ(BCAST(f, "4"), 1); /* evicts "2" */
  ASSERT_EQ(BCAST(f, "5"), 1); /* evicts "3" */
  ASSERT_EQ(f->drops[HUB_DROP_EVICTED], 2);
  ASSERT_EQ(f->drop_msgs[HUB_DROP_EVICTED], 2);
  client_get_stats(c->client, &cs);
  ASSERT_CSTATS(&cs, TS_CSTAT(queued_msgs, 3), TS_CSTAT(inflight_msgs, 1),
                TS_CSTAT(msgs_dropped, 2));
  /* At most half the bound per write: "4", then "5". */
  ASSERT(reads_on(f, c, 3, "<1><4><5>"));
  ASSERT_EQ(c->close_requested, 0);
}

STUCK_TEST(drop_oldest_at_byte_bound_evicts_as_many_as_needed,
           HUB_POLICY_DROP_OLDEST, 100, 10) {
  ASSERT_EQ(BCAST(f, "aa"), 1);
  fx_step(f); /* "aa" in flight: 2 bytes */
  ASSERT_EQ(BCAST(f, "bbb"), 1);
  ASSERT_EQ(BCAST(f, "ccc"), 1);
  ASSERT_EQ(BCAST(f, "dd"), 1); /* 2+3+3+2 = 10: fits exactly */
  ASSERT_EQ(f->drops[HUB_DROP_EVICTED], 0);
  ASSERT_EQ(BCAST(f, "eeeeeee"), 1); /* 7: must evict bbb, ccc and dd */
  ASSERT_EQ(f->drops[HUB_DROP_EVICTED], 1);
  ASSERT_EQ(f->drop_msgs[HUB_DROP_EVICTED], 3);
  ASSERT_EQ(f->drop_bytes[HUB_DROP_EVICTED], 8);
  ASSERT(reads_on(f, c, 2, "<aa><eeeeeee>"));
}

STUCK_TEST(drop_oldest_refuses_when_only_in_flight_data_is_queued,
           HUB_POLICY_DROP_OLDEST, 1, 1000) {
  /* With a bound of one message, the one in flight fills the queue. */
  ASSERT_EQ(BCAST(f, "1"), 1);
  fx_step(f);
  ASSERT_EQ(client_send(c->client, "3", 1, 0), HUB_EQFULL);
  ASSERT_EQ(f->drops[HUB_DROP_REFUSED], 1);
  ASSERT_EQ(f->drops[HUB_DROP_EVICTED], 0);
  mem_complete(c, 0);
  ASSERT_EQ(client_send(c->client, "4", 1, 0), 0);
  fx_step(f);
  mem_complete(c, 0);
  ASSERT(out_is(c, "<1><4>"));
}

STUCK_TEST(drop_oldest_keeps_room_for_the_newest_behind_a_stuck_write,
           HUB_POLICY_DROP_OLDEST, 4, 1000) {
  char m[8];
  int i;

  ASSERT_EQ(BCAST(f, "m1"), 1);
  fx_step(f);
  ASSERT_EQ(BCAST(f, "m2"), 1);
  ASSERT_EQ(BCAST(f, "m3"), 1);
  ASSERT_EQ(BCAST(f, "m4"), 1);
  mem_complete(c, 0);
  fx_step(f); /* a write of the queue starts, and never completes */
  /* Under DROP_OLDEST a write takes at most half of either bound, so
   * newer messages can always evict older ones that are still waiting. */
  ASSERT_EQ(c->last_nbufs, 2);
  for (i = 5; i <= 20; i++) {
    snprintf(m, sizeof(m), "m%d", i);
    ASSERT_EQ(BCAST(f, m), 1);
  }
  ASSERT_EQ(f->drops[HUB_DROP_REFUSED], 0);
  ASSERT_EQ(f->drop_msgs[HUB_DROP_EVICTED], 15); /* m4 to m18 */
  ASSERT(reads_on(f, c, 2, "<m1><m2><m3><m19><m20>"));
}

STUCK_TEST(drop_oldest_half_byte_bound_still_sends_one_big_message,
           HUB_POLICY_DROP_OLDEST, 100, 10) {
  ASSERT_EQ(BCAST(f, "eightby8"), 1); /* more than half the bytes */
  ASSERT_EQ(BCAST(f, "x"), 1);
  fx_step(f);
  ASSERT_EQ(c->writes, 1);
  ASSERT_EQ(c->last_nbufs, 1); /* alone, but it does go */
  ASSERT(reads_on(f, c, 2, "<eightby8><x>"));
}

STUCK_TEST(drop_newest_refuses_new_and_keeps_queued, HUB_POLICY_DROP_NEWEST,
           2, 1000) {
  hub_stats_t st;

  ASSERT_EQ(BCAST(f, "1"), 1);
  fx_step(f);
  ASSERT_EQ(BCAST(f, "2"), 1); /* 2 queued: at the bound */
  ASSERT_EQ(BCAST(f, "3"), 0); /* refused */
  ASSERT_EQ(client_send(c->client, "4", 1, 0), HUB_EQFULL);
  ASSERT_EQ(f->drops[HUB_DROP_REFUSED], 2);
  hub_get_stats(f->hub, &st);
  ASSERT_EQ(st.msgs_dropped, 2);
  ASSERT(reads_on(f, c, 2, "<1><2>"));
}

STUCK_TEST(drop_newest_at_byte_bound, HUB_POLICY_DROP_NEWEST, 100, 5) {
  ASSERT_EQ(BCAST(f, "abc"), 1);
  ASSERT_EQ(BCAST(f, "xyz"), 0); /* 6 > 5 */
  ASSERT_EQ(BCAST(f, "de"), 1);  /* 5: fits exactly */
  ASSERT_EQ(f->drop_bytes[HUB_DROP_REFUSED], 3);
  fx_step(f); /* a write takes a quarter of the byte bound: one message */
  ASSERT(reads_on(f, c, 2, "<abc><de>"));
}

/* A write in flight counts against the bounds until it completes, so one
 * write takes at most a quarter of the byte bound (at least one
 * message): a client reading steadily behind a slow write keeps three
 * quarters of its bound for what comes meanwhile. */
STUCK_TEST(a_write_takes_at_most_a_quarter_of_the_byte_bound,
           HUB_POLICY_DISCONNECT, 100, 40) {
  int i;

  for (i = 0; i < 4; i++)
    ASSERT_EQ(BCAST(f, "12345"), 1);
  fx_step(f);
  ASSERT_EQ(c->writes, 1);
  ASSERT_EQ(c->last_nbufs, 2); /* 10 of the 20 queued bytes */
  /* The bound still counts the write in flight: 40 bytes in all. */
  for (i = 0; i < 4; i++)
    ASSERT_EQ(BCAST(f, "67890"), 1);
  ASSERT_EQ(BCAST(f, "x"), 0); /* 41 > 40: disconnected */
}

FX_TEST(message_larger_than_byte_bound_is_refused_up_front,
        steady_reader(f, HUB_POLICY_DISCONNECT, 10, 4)) {
  long allocs;

  allocs = f->ca.allocs;
  ASSERT_EQ(BCAST(f, "12345"), HUB_EMSGSIZE);
  ASSERT_EQ(client_send(c->client, "12345", 5, 0), HUB_EMSGSIZE);
  ASSERT_EQ(f->ca.allocs, allocs); /* nothing was even allocated */
  ASSERT_EQ(c->close_requested, 0);
  ASSERT_EQ(BCAST(f, "1234"), 1);
  fx_step(f);
  ASSERT(out_is(c, "<1234>"));
}

STUCK_TEST(policy_can_change_at_run_time, HUB_POLICY_DROP_NEWEST, 1, 100) {
  ASSERT_EQ(BCAST(f, "1"), 1);
  ASSERT_EQ(BCAST(f, "2"), 0);
  ASSERT_EQ(hub_set_policy(f->hub, HUB_POLICY_DISCONNECT), 0);
  ASSERT_EQ(hub_set_policy(f->hub, (hub_policy_t)42), UV_EINVAL);
  ASSERT_EQ(BCAST(f, "3"), 0);
  ASSERT_EQ(c->close_requested, 1);
}

STUCK_TEST(control_messages_bypass_bounds_and_keep_order,
           HUB_POLICY_DROP_OLDEST, 2, 1000) {
  int i;

  ASSERT_EQ(BCAST(f, "1"), 1);
  fx_step(f); /* "1" in flight */
  ASSERT_EQ(client_send(c->client, "P", 1, HUB_MSG_CONTROL | HUB_MSG_RAW),
            0);
  ASSERT_EQ(BCAST(f, "2"), 1);
  ASSERT_EQ(BCAST(f, "3"), 1); /* evicts "2", never the control "P" */
  ASSERT_EQ(client_send(c->client, "Q", 1, HUB_MSG_CONTROL | HUB_MSG_RAW),
            0);
  ASSERT_EQ(f->drop_msgs[HUB_DROP_EVICTED], 1);
  ASSERT(reads_on(f, c, 2, "<1>P<3>Q"));
  /* At most HUB_MAX_CONTROL_QUEUED control messages wait at once. */
  ASSERT_EQ(BCAST(f, "4"), 1);
  fx_step(f); /* "4" in flight, so the control messages stay queued */
  for (i = 0; i < HUB_MAX_CONTROL_QUEUED; i++)
    ASSERT_EQ(client_send(c->client, "c", 1, HUB_MSG_CONTROL), 0);
  ASSERT_EQ(client_send(c->client, "c", 1, HUB_MSG_CONTROL), HUB_EQFULL);
  ASSERT_EQ(f->drops[HUB_DROP_REFUSED], 0); /* control refusals: no drop */
}

FX_TEST(control_messages_survive_disconnect_policy_pressure,
        steady_reader(f, HUB_POLICY_DISCONNECT, 1, 1000)) {
  ASSERT_EQ(BCAST(f, "1"), 1); /* at the bound */
  ASSERT_EQ(client_send(c->client, "P", 1, HUB_MSG_CONTROL | HUB_MSG_RAW),
            0);
  ASSERT_EQ(c->close_requested, 0);
  fx_step(f);
  ASSERT(out_is(c, "<1>P"));
}

int main(int argc, char **argv) {
  return RUN_TESTS(argc, argv);
}
