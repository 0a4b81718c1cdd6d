/* Bursts: a client is judged only after the hub tried to write to it, and
 * a publish waits (rather than cut a reader that keeps up) while a
 * client's socket has refused its write for less than slow_after_ms. The
 * in-memory transport decides when writes complete: a MEM_WRITE_SYNC
 * client is a reader whose kernel buffer takes everything, a
 * MEM_WRITE_ASYNC one a reader whose socket is full until the test says
 * it read. */
#include <stdio.h>
#include <unistd.h>

#include "fixture.h"

static int init_burst(fx *f, hub_policy_t policy, size_t msgs,
                      uint64_t slow_after_ms) {
  hub_options_t o;
  hub_options_init(&o);
  o.policy = policy;
  o.max_queue_msgs = msgs;
  o.slow_after_ms = slow_after_ms;
  return fx_init(f, &o);
}

/* init_burst with waits that never run out of patience (a minute) and
 * one client, writing in `write_mode`. NULL on error. */
static mem_conn *one_patient(fx *f, hub_policy_t policy, size_t msgs,
                             int write_mode) {
  if (init_burst(f, policy, msgs, 60000) != 0)
    return NULL;
  return fx_conn(f, write_mode, MEM_CLOSE_SYNC);
}

static int readies;

static void on_ready(hub_t *hub, void *arg) {
  (void)hub;
  (void)arg;
  readies++;
}

/* The readers read: complete every write in flight, one loop step. */
static void read_all(fx *f, mem_conn **c, int n) {
  int i;

  for (i = 0; i < n; i++)
    if (c[i] != NULL && c[i]->in_flight && !c[i]->closed)
      mem_complete(c[i], 0);
  fx_step(f);
}

/* A hub under DISCONNECT with room for two messages a client and
 * `slow_after_ms` of grace; c[0]'s writes stay pending until the test
 * completes them, c[1]'s complete at once. Both have "1" and "2" queued,
 * the bound of c[0]. No ready callback has run yet. */
static int slow_and_fast(fx *f, uint64_t slow_after_ms, mem_conn *c[2]) {
  readies = 0;
  if (init_burst(f, HUB_POLICY_DISCONNECT, 2, slow_after_ms) != 0 ||
      (c[0] = fx_conn(f, MEM_WRITE_ASYNC, MEM_CLOSE_SYNC)) == NULL ||
      (c[1] = fx_conn(f, MEM_WRITE_SYNC, MEM_CLOSE_SYNC)) == NULL)
    return -1;
  if (BCAST(f, "1") != 2 || BCAST(f, "2") != 2)
    return -2;
  return 0;
}

TEST(a_burst_larger_than_the_bound_is_written_not_judged) {
  fx f;
  mem_conn *c;
  hub_stats_t st;
  char want[3 * 300 + 1] = "";
  int i;

  ASSERT_EQ(init_burst(&f, HUB_POLICY_DISCONNECT, 4, 500), 0);
  ASSERT((c = fx_conn(&f, MEM_WRITE_SYNC, MEM_CLOSE_SYNC)) != NULL);
  /* 300 messages before the loop ever flushes: each time the queue is
   * full, the hub writes it, the socket takes it all, and room is made. */
  for (i = 0; i < 300; i++) {
    ASSERT_EQ(BCAST(&f, "x"), 1);
    strcat(want, "<x>");
  }
  fx_step(&f);
  ASSERT(out_is(c, want));
  ASSERT_EQ(c->close_requested, 0);
  hub_get_stats(f.hub, &st);
  ASSERT_STATS(&st, TS_STAT(msgs_dropped, 0), TS_STAT(waits, 0));
  ASSERT_EQ(fx_end(&f), 0);
}

TEST(a_refused_write_makes_the_publish_wait_not_the_reader_lose) {
  fx f;
  mem_conn *c[2];
  hub_stats_t st;

  ASSERT_EQ(slow_and_fast(&f, 60000, c), 0);
  ASSERT_EQ(hub_is_congested(f.hub), 0);
  ASSERT_EQ(hub_on_ready(f.hub, on_ready, NULL), 1); /* not congested */
  /* "3" does not fit c[0]: the hub writes "1" and "2" to it, the socket
   * keeps them pending, so "3" waits, for everyone, and returns the
   * clients it is for. */
  ASSERT_EQ(BCAST(&f, "3"), 2);
  ASSERT_EQ(c[0]->writes, 1);
  ASSERT_EQ(hub_is_congested(f.hub), 1);
  ASSERT_EQ(hub_on_ready(f.hub, on_ready, NULL), 0);
  ASSERT_EQ(hub_on_ready(f.hub, on_ready, NULL), 0); /* once */
  ASSERT_EQ(BCAST(&f, "4"), 2); /* behind it */
  fx_step(&f);
  ASSERT(out_is(c[1], "<1><2>"));
  hub_get_stats(f.hub, &st);
  ASSERT_STATS(&st, TS_STAT(waiting, 2), TS_STAT(waits, 2));
  ASSERT_EQ(readies, 0);
  /* The reader reads: the waiting publishes go, in order. */
  mem_complete(c[0], 0);
  fx_step(&f);
  ASSERT_EQ(hub_is_congested(f.hub), 0);
  ASSERT_EQ(readies, 1);
  read_all(&f, c, 2);
  ASSERT(out_is(c[0], "<1><2><3><4>"));
  ASSERT(out_is(c[1], "<1><2><3><4>"));
  hub_get_stats(f.hub, &st);
  ASSERT_STATS(&st, TS_STAT(msgs_dropped, 0), TS_STAT(waiting, 0),
               TS_STAT(broadcasts, 4));
  ASSERT_EQ(fx_end(&f), 0);
}

TEST(a_reader_that_stopped_is_judged_when_its_time_is_up) {
  fx f;
  mem_conn *c[2];
  hub_stats_t st;
  int spins = 0;

  ASSERT_EQ(slow_and_fast(&f, 20, c), 0);
  ASSERT_EQ(BCAST(&f, "3"), 2);
  ASSERT_EQ(hub_on_ready(f.hub, on_ready, NULL), 0);
  /* c[0] never reads: 20 ms later it is cut, and "3" goes on. */
  while (hub_is_congested(f.hub) && spins++ < 1000) {
    usleep(1000);
    fx_step(&f);
  }
  ASSERT_EQ(hub_is_congested(f.hub), 0);
  ASSERT_EQ(readies, 1);
  ASSERT_EQ(c[0]->close_requested, 1);
  ASSERT_EQ(c[0]->close_status, HUB_ESLOW);
  fx_step(&f);
  ASSERT(out_is(c[1], "<1><2><3>"));
  hub_get_stats(f.hub, &st);
  ASSERT_EQ(st.clients_dropped, 1);
  ASSERT_EQ(fx_end(&f), 0);
}

FX_TEST(a_client_already_in_a_gap_is_judged_at_once,
        one_patient(f, HUB_POLICY_DROP_NEWEST, 1, MEM_WRITE_ASYNC)) {
  hub_client_stats_t cs;

  ASSERT_EQ(BCAST(f, "1"), 1);
  fx_step(f);              /* "1" in flight */
  ASSERT_EQ(BCAST(f, "2"), 1); /* waits: young write */
  ASSERT_EQ(hub_is_congested(f->hub), 1);
  /* Forget the wait's patience: once a client lost messages, it is not
   * waited for. Drive it there with a publish the hub cannot wait for. */
  ASSERT_EQ(client_send(c->client, "s", 1, 0), HUB_EQFULL);
  client_get_stats(c->client, &cs);
  ASSERT_EQ(cs.gap, 1);
  mem_complete(c, 0);
  fx_step(f); /* "2" goes and is written */
  ASSERT_EQ(hub_is_congested(f->hub), 0);
  ASSERT_EQ(BCAST(f, "3"), 0); /* refused at once: gap 1 since "1" */
  ASSERT_EQ(hub_is_congested(f->hub), 0);
  ASSERT_EQ(f->drop_msgs[HUB_DROP_REFUSED], 2);
}

FX_TEST(client_send_never_waits_but_writes_first,
        one_patient(f, HUB_POLICY_DISCONNECT, 2, MEM_WRITE_SYNC)) {
  ASSERT_EQ(client_send(c->client, "a", 1, 0), 0);
  ASSERT_EQ(client_send(c->client, "b", 1, 0), 0);
  ASSERT_EQ(client_send(c->client, "c", 1, 0), 0); /* flushed a, b */
  fx_step(f);
  ASSERT(out_is(c, "<a><b><c>"));
  c->write_mode = MEM_WRITE_ASYNC;
  ASSERT_EQ(client_send(c->client, "d", 1, 0), 0);
  ASSERT_EQ(client_send(c->client, "e", 1, 0), 0);
  ASSERT_EQ(client_send(c->client, "f", 1, 0), HUB_ESLOW);
  ASSERT_EQ(hub_is_congested(f->hub), 0);
}

TEST(topics_and_broadcasts_wait_in_one_order) {
  fx f;
  mem_conn *c[3];
  int i;

  ASSERT_EQ(init_burst(&f, HUB_POLICY_DROP_OLDEST, 2, 60000), 0);
  for (i = 0; i < 3; i++) {
    ASSERT((c[i] = fx_conn(&f, i == 0 ? MEM_WRITE_ASYNC : MEM_WRITE_SYNC,
                           MEM_CLOSE_SYNC)) != NULL);
    ASSERT_EQ(hub_subscribe(c[i]->client, "t"), 0);
  }
  ASSERT_EQ(hub_unsubscribe(c[2]->client, "t"), 0);
  ASSERT_EQ(hub_publish(f.hub, "t", "1", 1, 0), 2);
  fx_step(&f); /* "1" in flight on c[0] */
  ASSERT_EQ(hub_publish(f.hub, "t", "2", 1, 0), 2);
  ASSERT_EQ(hub_publish(f.hub, "t", "3", 1, 0), 2); /* waits */
  ASSERT_EQ(BCAST(&f, "B"), 3);                     /* behind it */
  ASSERT_EQ(hub_publish(f.hub, "t", "4", 1, 0), 2);
  ASSERT_EQ(hub_publish(f.hub, "nobody", "5", 1, 0), 0);
  for (i = 0; i < 20 && hub_is_congested(f.hub); i++)
    read_all(&f, c, 3);
  read_all(&f, c, 3);
  read_all(&f, c, 3);
  ASSERT(out_is(c[0], "<1><2><3><B><4>"));
  ASSERT(out_is(c[1], "<1><2><3><B><4>"));
  ASSERT(out_is(c[2], "<B>"));
  ASSERT_EQ(f.drops[HUB_DROP_EVICTED], 0);
  ASSERT_EQ(fx_end(&f), 0);
}

TEST(the_waiting_publishes_are_bounded) {
  hub_options_t o;
  fx f;
  mem_conn *c;
  hub_stats_t st;

  hub_options_init(&o);
  o.max_queue_msgs = 1;
  o.slow_after_ms = 60000;
  o.max_waiting_msgs = 2;
  ASSERT((c = fx_one(&f, &o, MEM_WRITE_ASYNC, MEM_CLOSE_SYNC)) != NULL);
  ASSERT_EQ(BCAST(&f, "1"), 1);
  ASSERT_EQ(BCAST(&f, "2"), 1); /* "1" written, pending: waits */
  ASSERT_EQ(BCAST(&f, "3"), 1);
  ASSERT_EQ(BCAST(&f, "4"), HUB_ECONGESTED);
  hub_get_stats(f.hub, &st);
  ASSERT_STATS(&st, TS_STAT(waiting, 2), TS_STAT(waits_refused, 1));
  /* Closing the hub discards what waits (counted) and tells the senders
   * that are waiting. */
  readies = 0;
  ASSERT_EQ(hub_on_ready(f.hub, on_ready, &f), 0);
  ASSERT_EQ(hub_close(f.hub, 0, fx_on_hub_closed), 0);
  ASSERT_EQ(readies, 1);
  hub_get_stats(f.hub, &st);
  ASSERT_STATS(&st, TS_STAT(waiting, 0), TS_STAT(waits_refused, 3));
  ASSERT_EQ(fx_end(&f), 0);
}

FX_TEST(a_cancelled_ready_callback_is_not_called,
        one_patient(f, HUB_POLICY_DISCONNECT, 1, MEM_WRITE_ASYNC)) {
  readies = 0;
  ASSERT_EQ(BCAST(f, "1"), 1);
  ASSERT_EQ(BCAST(f, "2"), 1);
  ASSERT_EQ(hub_on_ready(f->hub, on_ready, NULL), 0);
  ASSERT_EQ(hub_on_ready(f->hub, on_ready, f), 0);
  hub_cancel_ready(f->hub, on_ready, NULL);
  ASSERT_EQ(hub_on_ready(NULL, on_ready, NULL), UV_EINVAL);
  ASSERT_EQ(hub_on_ready(f->hub, NULL, NULL), UV_EINVAL);
  mem_complete(c, 0);
  fx_step(f);
  ASSERT_EQ(readies, 1);
}

/* The hub-wide budget: stalled readers fill it; the largest holders are
 * judged first, and a reader that keeps up loses nothing. */
static void budget_case(hub_policy_t policy) {
  hub_options_t o;
  fx f;
  mem_conn *stalled[8], *fast;
  hub_stats_t st;
  char msg[100], want[64 * 102 + 1] = "";
  size_t wlen = 0;
  int i, k;

  hub_options_init(&o);
  o.policy = policy;
  o.max_queue_msgs = 64;
  o.max_queue_bytes = 64 * 100;
  o.slow_after_ms = 0;
  o.max_total_queue_bytes = 4 * 64 * 100; /* 4 full queues */
  ASSERT_EQ(fx_init(&f, &o), 0);
  for (i = 0; i < 8; i++)
    ASSERT((stalled[i] = fx_conn(&f, MEM_WRITE_ASYNC, MEM_CLOSE_SYNC)) !=
           NULL);
  ASSERT((fast = fx_conn(&f, MEM_WRITE_SYNC, MEM_CLOSE_SYNC)) != NULL);
  memset(msg, 'm', sizeof(msg));
  for (k = 0; k < 60; k++) {
    msg[0] = (char)('A' + k % 26);
    ASSERT(hub_broadcast(f.hub, msg, sizeof(msg), 0) >= 1);
    hub_get_stats(f.hub, &st);
    ASSERT(st.queued_bytes <= o.max_total_queue_bytes);
    fx_step(&f);
    want[wlen++] = '<';
    memcpy(want + wlen, msg, sizeof(msg));
    wlen += sizeof(msg);
    want[wlen++] = '>';
  }
  ASSERT(out_is(fast, want));
  hub_get_stats(f.hub, &st);
  ASSERT(st.budget_actions > 0);
  ASSERT_EQ(fast->close_requested, 0);
  ASSERT_EQ(fx_end(&f), 0);
}

TEST(the_memory_budget_cuts_the_largest_holders) {
  budget_case(HUB_POLICY_DISCONNECT);
}

TEST(the_memory_budget_evicts_from_the_largest_holders) {
  budget_case(HUB_POLICY_DROP_OLDEST);
}

TEST(the_memory_budget_drops_the_newest_of_the_largest_holders) {
  budget_case(HUB_POLICY_DROP_NEWEST);
}

/* A randomized model: bursts of random sizes from a random mix of
 * broadcasts and topic publishes, readers that read between bursts (at
 * random moments, in random order) and one that never reads. Every
 * reader that reads gets every message meant for it, exactly once, in
 * publish order, under every policy; the one that never reads is cut
 * or loses messages, and nothing leaks. */
static void model_case(hub_policy_t policy, unsigned seed) {
  enum { N = 6, MSGS = 4000 };
  hub_options_t o;
  fx f;
  mem_conn *c[N + 1];
  char *want[N], buf[32];
  size_t wlen[N] = {0};
  int i, sent = 0, spins = 0, r;

  srand(seed);
  hub_options_init(&o);
  o.policy = policy;
  o.max_queue_msgs = 8;
  o.max_queue_bytes = 64;
  /* Readers read within a few loop steps here; the one that never does
   * is judged after this. Loop steps are wall-clock time: the margin is
   * for a machine busy with other work (and the sanitizers, valgrind). */
  o.slow_after_ms = 400;
  ASSERT_EQ(fx_init(&f, &o), 0);
  for (i = 0; i < N; i++) {
    ASSERT((c[i] = fx_conn(&f, rand() % 2 ? MEM_WRITE_ASYNC : MEM_WRITE_SYNC,
                           MEM_CLOSE_SYNC)) != NULL);
    if (i % 2 == 0)
      ASSERT_EQ(hub_subscribe(c[i]->client, "even"), 0);
    want[i] = calloc(MSGS * 16, 1);
  }
  ASSERT((c[N] = fx_conn(&f, MEM_WRITE_ASYNC, MEM_CLOSE_SYNC)) != NULL);
  ASSERT_EQ(hub_subscribe(c[N]->client, "even"), 0);
  while (sent < MSGS) {
    int burst = 1 + rand() % 40, topic;
    for (; burst > 0 && sent < MSGS; burst--, sent++) {
      /* A sender waits while the hub is congested, as the adapters do. */
      while (hub_is_congested(f.hub) && spins++ < 100000) {
        read_all(&f, c, N);
        usleep(100);
      }
      topic = rand() % 3 == 0;
      snprintf(buf, sizeof(buf), "%c%d", topic ? 'e' : 'b', sent);
      r = topic ? hub_publish(f.hub, "even", buf, strlen(buf), 0)
                : BCAST(&f, buf);
      ASSERT(r >= 0);
      for (i = 0; i < N; i++) {
        if (topic && i % 2 != 0)
          continue;
        wlen[i] += (size_t)sprintf(want[i] + wlen[i], "<%s>", buf);
      }
    }
    for (i = 0; i < N; i++)
      if (c[i]->in_flight && rand() % 2)
        mem_complete(c[i], 0);
    fx_step(&f);
  }
  for (spins = 0; spins < 20000; spins++) {
    int busy = hub_is_congested(f.hub);
    for (i = 0; i < N; i++)
      busy |= c[i]->in_flight;
    read_all(&f, c, N);
    if (!busy)
      break;
    usleep(200);
  }
  for (i = 0; i < N; i++) {
    if (c[i]->len != wlen[i])
      fprintf(stderr, "policy %d seed %u reader %d closed %d drops %d/%d/%d\n",
              (int)policy, seed, i, c[i]->close_requested,
              f.drops[HUB_DROP_DISCONNECT], f.drops[HUB_DROP_EVICTED],
              f.drops[HUB_DROP_REFUSED]);
    ASSERT_EQ(c[i]->len, wlen[i]);
    ASSERT(memcmp(c[i]->out, want[i], wlen[i]) == 0);
    ASSERT_EQ(c[i]->close_requested, 0);
    free(want[i]);
  }
  /* The one that never read was judged: cut, or it lost messages. */
  ASSERT(c[N]->close_requested == 1 || f.drops[HUB_DROP_EVICTED] > 0 ||
         f.drops[HUB_DROP_REFUSED] > 0);
  ASSERT_EQ(fx_end(&f), 0);
}

TEST(randomized_bursts_lose_nothing_for_readers_that_read) {
  unsigned seed;

  for (seed = 1; seed <= 4; seed++) {
    model_case(HUB_POLICY_DISCONNECT, seed);
    model_case(HUB_POLICY_DROP_OLDEST, seed);
    model_case(HUB_POLICY_DROP_NEWEST, seed);
  }
}

int main(int argc, char **argv) { return RUN_TESTS(argc, argv); }
