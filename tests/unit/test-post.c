/* hub_post() from several threads: every message arrives exactly once and
 * in each thread's order; the queue is bounded; posting stops at close.
 * Run under ThreadSanitizer by tests/run.sh (label "threads"). */
#include "fixture.h"

#define NTHREADS 4
#define PER_THREAD 5000

typedef struct {
  hub_t *hub;
  int id;
  int eagain; /* retries when the post queue was full */
  int failed;
} producer;

static void produce(void *arg) {
  producer *p = arg;
  char buf[32];
  int i, r, n;

  for (i = 0; i < PER_THREAD; i++) {
    n = snprintf(buf, sizeof(buf), "%d:%d", p->id, i);
    while ((r = hub_post(p->hub, (i % 2) ? "odd" : NULL, buf, (size_t)n,
                         0)) == UV_EAGAIN) {
      p->eagain++;
      uv_sleep(1);
    }
    if (r != 0)
      p->failed++;
  }
}

static void on_tick(uv_timer_t *t) {
  (void)t; /* only wakes the loop; the async handle does not keep it up */
}

/* Parse "<t:i><t:i>..." and check each thread's sequence; returns the
 * number of messages, or -1 on any gap, duplicate or reordering. */
static long check_order(const mem_conn *mc, int step) {
  int next[NTHREADS] = {0};
  size_t i = 0;
  long n = 0;
  int t, seq;

  while (i < mc->len) {
    if (sscanf(mc->out + i, "<%d:%d>", &t, &seq) != 2 || t < 0 ||
        t >= NTHREADS || seq != next[t])
      return -1;
    next[t] += step;
    n++;
    while (i < mc->len && mc->out[i] != '>')
      i++;
    i++;
  }
  return n;
}

TEST(posts_from_many_threads_arrive_once_in_thread_order) {
  hub_options_t o;
  fx f;
  mem_conn *all, *odd;
  producer p[NTHREADS];
  uv_thread_t th[NTHREADS];
  uv_timer_t tick;
  hub_stats_t st;
  uint64_t deadline;
  int i;

  hub_options_init(&o);
  o.max_queue_msgs = NTHREADS * PER_THREAD;
  o.max_queue_bytes = 64u << 20;
  o.max_posted = 1000; /* small: producers do meet a full queue */
  ASSERT_EQ(fx_init(&f, &o), 0);
  ASSERT((all = fx_conn(&f, MEM_WRITE_SYNC, MEM_CLOSE_SYNC)) != NULL);
  ASSERT((odd = fx_conn(&f, MEM_WRITE_SYNC, MEM_CLOSE_SYNC)) != NULL);
  /* Even messages are broadcasts, odd ones go to topic "odd": "all"
   * subscribes and gets everything, "odd" (misnamed on purpose: it does
   * not subscribe) gets only the even ones. */
  ASSERT_EQ(hub_subscribe(all->client, "odd"), 0);
  uv_timer_init(&f.loop, &tick);
  uv_timer_start(&tick, on_tick, 5, 5);

  for (i = 0; i < NTHREADS; i++) {
    p[i].hub = f.hub;
    p[i].id = i;
    p[i].eagain = p[i].failed = 0;
    ASSERT_EQ(uv_thread_create(&th[i], produce, &p[i]), 0);
  }
  deadline = uv_now(&f.loop) + 60000;
  for (;;) {
    hub_get_stats(f.hub, &st);
    if (st.posted == NTHREADS * PER_THREAD && st.queued_msgs == 0)
      break;
    ASSERT(uv_now(&f.loop) < deadline);
    uv_run(&f.loop, UV_RUN_ONCE);
  }
  for (i = 0; i < NTHREADS; i++) {
    uv_thread_join(&th[i]);
    ASSERT_EQ(p[i].failed, 0);
  }
  /* "all" got every broadcast and every "odd" message: everything. */
  ASSERT_EQ(check_order(all, 1), NTHREADS * PER_THREAD);
  ASSERT_EQ(check_order(odd, 2), NTHREADS * PER_THREAD / 2);
  hub_get_stats(f.hub, &st);
  ASSERT_EQ(st.posts_dropped, 0);
  ASSERT_EQ(st.posts_refused, p[0].eagain + p[1].eagain + p[2].eagain +
                                  p[3].eagain);
  uv_close((uv_handle_t *)&tick, NULL);
  ASSERT_EQ(fx_end(&f), 0);
}

TEST(post_queue_is_bounded_and_closes_with_the_hub) {
  hub_options_t o;
  fx f;
  mem_conn *c;
  hub_stats_t st;
  uv_timer_t tick;

  hub_options_init(&o);
  o.max_posted = 3;
  ASSERT((c = fx_one(&f, &o, MEM_WRITE_SYNC, MEM_CLOSE_SYNC)) != NULL);
  uv_timer_init(&f.loop, &tick); /* something to keep the loop alive */
  uv_timer_start(&tick, on_tick, 1000, 1000);
  /* The loop is not running: posts wait, up to the bound. */
  ASSERT_EQ(hub_post(f.hub, NULL, "1", 1, 0), 0);
  ASSERT_EQ(hub_post(f.hub, NULL, "2", 1, 0), 0);
  ASSERT_EQ(hub_post(f.hub, "t", "3", 1, HUB_MSG_BINARY), 0);
  ASSERT_EQ(hub_post(f.hub, NULL, "4", 1, 0), UV_EAGAIN);
  ASSERT_EQ(hub_post(f.hub, NULL, NULL, 1, 0), UV_EINVAL);
  ASSERT_EQ(hub_post(f.hub, NULL, "x", 1, HUB_MSG_CONTROL), UV_EINVAL);
  ASSERT_EQ(hub_post(NULL, NULL, "x", 1, 0), UV_EINVAL);
  ASSERT_EQ(hub_post(f.hub, "", "x", 1, 0), UV_EINVAL);
  fx_step(&f); /* takes the posts; queues them */
  fx_step(&f); /* flushes */
  ASSERT(out_is(c, "<1><2>")); /* nobody subscribes to "t" */
  ASSERT_EQ(hub_post(f.hub, NULL, "5", 1, 0), 0);
  ASSERT_EQ(hub_close(f.hub, 0, fx_on_hub_closed), 0);
  ASSERT_EQ(hub_post(f.hub, NULL, "6", 1, 0), HUB_ECLOSING);
  hub_get_stats(f.hub, &st);
  ASSERT_EQ(st.posted, 3);
  ASSERT_EQ(st.posts_refused, 1);
  ASSERT_EQ(st.posts_dropped, 1); /* "5" was waiting at close */
  uv_close((uv_handle_t *)&tick, NULL);
  ASSERT_EQ(fx_end(&f), 0);
}

typedef struct {
  int calls;
  char seen[64]; /* "topic=payload;" for each call */
} post_log;

/* Sends every posted message to everyone, whatever its topic, and notes
 * what it was given. */
static void on_posted(hub_t *hub, const char *topic, hub_msg_t *msg,
                      void *arg) {
  post_log *log = arg;
  size_t n = strlen(log->seen);

  log->calls++;
  snprintf(log->seen + n, sizeof(log->seen) - n, "%s=%.*s;",
           topic != NULL ? topic : "-", (int)hub_msg_len(msg),
           (const char *)hub_msg_data(msg));
  (void)hub_broadcast_msg(hub, NULL, msg);
}

TEST(a_post_handler_takes_posted_messages_in_order) {
  fx f;
  mem_conn *c;
  post_log log;
  uv_timer_t tick;

  memset(&log, 0, sizeof(log));
  ASSERT((c = fx_one(&f, NULL, MEM_WRITE_SYNC, MEM_CLOSE_SYNC)) != NULL);
  uv_timer_init(&f.loop, &tick);
  uv_timer_start(&tick, on_tick, 1000, 1000);
  hub_set_post_handler(NULL, on_posted, &log); /* nothing happens */
  hub_set_post_handler(f.hub, on_posted, &log);
  ASSERT_EQ(hub_post(f.hub, NULL, "1", 1, 0), 0);
  ASSERT_EQ(hub_post(f.hub, "t", "2", 1, 0), 0);
  fx_step(&f);
  fx_step(&f);
  ASSERT_EQ(log.calls, 2);
  ASSERT(strcmp(log.seen, "-=1;t=2;") == 0);
  /* The handler broadcast "2", which nobody subscribed to "t" would
   * otherwise have missed. */
  ASSERT(out_is(c, "<1><2>"));

  /* Back to the default: "t" has no subscriber. */
  hub_set_post_handler(f.hub, NULL, &log);
  ASSERT_EQ(hub_post(f.hub, "t", "3", 1, 0), 0);
  ASSERT_EQ(hub_post(f.hub, NULL, "4", 1, 0), 0);
  fx_step(&f);
  fx_step(&f);
  ASSERT_EQ(log.calls, 2);
  ASSERT(out_is(c, "<1><2><4>"));
  uv_close((uv_handle_t *)&tick, NULL);
  ASSERT_EQ(fx_end(&f), 0);
}

int main(int argc, char **argv) {
  return RUN_TESTS(argc, argv);
}
