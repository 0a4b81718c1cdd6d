/* The example programs' gap notices (examples/common/hubx-gap.h) against
 * the in-memory transport: when a notice goes, what it says, that it
 * waits for another control message instead of crowding it, and that a
 * client gone while its notice waits is forgotten. */
#include <stdio.h>

#include "fixture.h"
#include "hubx-gap.h"

static hubx_gap_t gaps;

static int notice_text(const hub_client_t *client, char *buf, size_t len,
                       uint64_t dropped) {
  (void)client;
  return snprintf(buf, len, "gap %llu", (unsigned long long)dropped);
}

static void drop_hook(fx *f, hub_client_t *c, hub_drop_reason_t r) {
  (void)f;
  hubx_gap_on_drop(&gaps, c, r);
}

static void close_hook(fx *f, hub_client_t *c, int status) {
  (void)f;
  (void)status;
  hubx_gap_forget(&gaps, c);
}

static void on_pressure(hub_t *hub, hub_client_t *c, unsigned old_level,
                        unsigned new_level) {
  (void)hub;
  hubx_gap_on_pressure(&gaps, c, old_level, new_level);
}

/* A hub whose clients hold 100 payload bytes, first watermark at half,
 * refusing what does not fit (DROP_NEWEST): a 40-byte message leaves the
 * queue below the mark, and a 70-byte one is then refused there. */
static int start(fx *f) {
  hub_options_t o;

  hub_options_init(&o);
  o.policy = HUB_POLICY_DROP_NEWEST;
  o.max_queue_bytes = 100;
  o.watermarks[0] = 50;
  o.on_pressure = on_pressure;
  if (fx_init(f, &o) != 0)
    return -1;
  f->drop_hook = drop_hook;
  f->close_hook = close_hook;
  hubx_gap_init(&gaps, &f->loop, notice_text, 0);
  return 0;
}

static int finish(fx *f) {
  hubx_gap_close(&gaps);
  return fx_end(f);
}

static const char forty[] = "0123456789012345678901234567890123456789";
static const char seventy[] = "0123456789012345678901234567890123456789"
                              "012345678901234567890123456789";

/* Start, and leave one client with 40 bytes in flight: below the mark.
 * The client, or NULL on error. */
static mem_conn *start_below_the_mark(fx *f) {
  mem_conn *c;

  if (start(f) != 0 ||
      (c = fx_conn(f, MEM_WRITE_ASYNC, MEM_CLOSE_SYNC)) == NULL ||
      client_send(c->client, forty, 40, 0) != 0)
    return NULL;
  fx_step(f);
  return c;
}

/* A test of that client, ending with finish(). */
#define BELOW_THE_MARK_TEST(name)                                            \
  FX_TEST_END(name, start_below_the_mark(f), finish)

/* The client's queue goes out: one flush, its write completed. */
static void flush(fx *f, mem_conn *c) {
  fx_step(f);
  mem_complete(c, 0);
}

/* Run the loop until `cond`, or for 2 s: the recheck timer fires. */
#define SPIN(f, cond)                                                        \
  do {                                                                       \
    int spin_i_;                                                             \
    for (spin_i_ = 0; spin_i_ < 200 && !(cond); spin_i_++)                   \
      uv_run(&(f)->loop, UV_RUN_ONCE);                                       \
  } while (0)

/* The client reads what is in flight and the next flush; then the
 * recheck timer may send a notice that waited. How many it sent. */
static int read_until_notice(fx *f, mem_conn *c) {
  uint64_t before = gaps.notices;

  mem_complete(c, 0);
  flush(f, c);
  SPIN(f, gaps.notices > before);
  return (int)(gaps.notices - before);
}

BELOW_THE_MARK_TEST(a_drop_below_the_mark_is_announced_at_once) {
  hub_client_stats_t st;

  /* In flight: 40 of 100 bytes, below the mark. */
  ASSERT_EQ(client_send(c->client, seventy, 70, 0), HUB_EQFULL);
  ASSERT_EQ(f->drops[HUB_DROP_REFUSED], 1);
  ASSERT_EQ(gaps.notices, 1);
  client_get_stats(c->client, &st);
  ASSERT_CSTATS(&st, TS_CSTAT(gap_untaken, 0), /* taken with the notice */
                TS_CSTAT(ctrl_queued, 1));
  mem_complete(c, 0);
  flush(f, c);
  ASSERT(strstr(c->out, "<gap 1>") != NULL);
}

BELOW_THE_MARK_TEST(a_notice_waits_for_another_control_message) {
  hub_client_stats_t st;
  int i;

  /* A transport's control message (a pong, say) waits behind it. */
  ASSERT_EQ(client_send(c->client, "pong", 4, HUB_MSG_CONTROL), 0);
  for (i = 0; i < 3; i++) /* three refused: one notice will say so */
    ASSERT_EQ(client_send(c->client, seventy, 70, 0), HUB_EQFULL);
  ASSERT_EQ(gaps.notices, 0);
  ASSERT_EQ(gaps.waited, 1); /* once, however many drops */
  client_get_stats(c->client, &st);
  ASSERT_CSTATS(&st, TS_CSTAT(gap_untaken, 3), /* still the hub's to count */
                TS_CSTAT(ctrl_queued, 1));
  /* The data, then the pong, are written; the timer then sends it. */
  ASSERT_EQ(read_until_notice(f, c), 1);
  client_get_stats(c->client, &st);
  ASSERT_EQ(st.gap_untaken, 0);
  flush(f, c);
  ASSERT(strstr(c->out, "<pong><gap 3>") != NULL);
}

BELOW_THE_MARK_TEST(one_notice_at_a_time) {
  hub_client_stats_t st;
  int i;

  /* The first refusal queues a notice; the next ones wait for it, however
   * many: the control allowance is never filled with notices. */
  for (i = 0; i < 50; i++)
    ASSERT_EQ(client_send(c->client, seventy, 70, 0), HUB_EQFULL);
  ASSERT_EQ(gaps.notices, 1);
  client_get_stats(c->client, &st);
  ASSERT_CSTATS(&st, TS_CSTAT(ctrl_queued, 1), TS_CSTAT(gap_untaken, 49));
  ASSERT_EQ(read_until_notice(f, c), 1);
  flush(f, c);
  ASSERT(strstr(c->out, "<gap 1><gap 49>") != NULL);
}

TEST(drops_above_the_mark_wait_for_the_queue_to_fall) {
  fx f;
  mem_conn *c;
  int i;

  ASSERT_EQ(start(&f), 0);
  ASSERT((c = fx_conn(&f, MEM_WRITE_ASYNC, MEM_CLOSE_SYNC)) != NULL);
  ASSERT_EQ(client_send(c->client, seventy, 70, 0), 0);
  fx_step(&f); /* 70 of 100 bytes: above the mark */
  for (i = 0; i < 5; i++)
    ASSERT_EQ(client_send(c->client, seventy, 70, 0), HUB_EQFULL);
  ASSERT_EQ(f.drops[HUB_DROP_REFUSED], 5);
  ASSERT_EQ(gaps.notices, 0);
  ASSERT_EQ(gaps.waited, 0);
  mem_complete(c, 0); /* the level falls: the notice goes */
  ASSERT_EQ(gaps.notices, 1);
  flush(&f, c);
  ASSERT(strstr(c->out, "<gap 5>") != NULL);
  ASSERT_EQ(finish(&f), 0);
}

BELOW_THE_MARK_TEST(a_client_gone_while_its_notice_waits_is_forgotten) {
  ASSERT_EQ(client_send(c->client, "pong", 4, HUB_MSG_CONTROL), 0);
  ASSERT_EQ(client_send(c->client, seventy, 70, 0), HUB_EQFULL);
  ASSERT_EQ(gaps.waited, 1);
  /* Closed and freed before the timer: it must not look at it (the
   * sanitizers and valgrind would see it). */
  ASSERT_EQ(client_close(c->client, 0), 0);
  fx_step(f);
  uv_run(&f->loop, UV_RUN_ONCE); /* the timer */
  ASSERT_EQ(gaps.notices, 0);
}

int main(int argc, char **argv) {
  return RUN_TESTS(argc, argv);
}
