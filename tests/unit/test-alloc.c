/* Memory: one payload allocation per broadcast whatever the number of
 * clients, none per delivery, and clean failure when any allocation
 * fails. */
#include "fixture.h"

static void steady_state_allocations(int nclients, long *per_broadcast,
                                     long *deliveries) {
  fx f;
  mem_conn **c = calloc((size_t)nclients, sizeof(*c));
  hub_stats_t st;
  long before;
  int i, k;

  *per_broadcast = -1;
  if (c == NULL || fx_init(&f, NULL) != 0)
    abort();
  for (i = 0; i < nclients; i++)
    if ((c[i] = fx_conn(&f, MEM_WRITE_SYNC, MEM_CLOSE_SYNC)) == NULL)
      abort();
  /* Warm up: each client's queue grows to the depth it needs once. */
  for (k = 0; k < 10; k++)
    hub_broadcast(f.hub, "warm-up", 7, 0);
  fx_step(&f);

  before = f.ca.allocs;
  for (k = 0; k < 100; k++) {
    if (hub_broadcast(f.hub, "a payload", 9, 0) != nclients)
      abort();
    if (k % 10 == 9)
      fx_step(&f);
  }
  *per_broadcast = (f.ca.allocs - before) / 100;
  if ((f.ca.allocs - before) % 100 != 0)
    *per_broadcast = -2;
  hub_get_stats(f.hub, &st);
  *deliveries = (long)st.msgs_delivered;
  if (fx_finish(&f) != 0)
    *per_broadcast = -3;
  for (i = 0; i < nclients; i++)
    mem_conn_free(c[i]);
  free(c);
}

TEST(one_allocation_per_broadcast_for_1_client) {
  long per, delivered;
  steady_state_allocations(1, &per, &delivered);
  ASSERT_EQ(per, 1);
  ASSERT_EQ(delivered, 110);
}

TEST(one_allocation_per_broadcast_for_10000_clients) {
  long per, delivered;
  steady_state_allocations(10000, &per, &delivered);
  ASSERT_EQ(per, 1);
  ASSERT_EQ(delivered, 110L * 10000);
}

/* With history on, a publish to a topic is still one allocation: the
 * history holds a reference, its ring stops growing at its bound. */
static long history_publish_allocations(int nclients) {
  hub_options_t o;
  fx f;
  mem_conn **c = calloc((size_t)nclients, sizeof(*c));
  long before, per;
  int i, k;

  hub_options_init(&o);
  o.history_msgs = 64;
  o.history_bytes = 1 << 20;
  if (c == NULL || fx_init(&f, &o) != 0)
    abort();
  for (i = 0; i < nclients; i++) {
    if ((c[i] = fx_conn(&f, MEM_WRITE_SYNC, MEM_CLOSE_SYNC)) == NULL ||
        hub_subscribe(c[i]->client, "room") != 0)
      abort();
  }
  for (k = 0; k < 100; k++) /* the ring and the queues grow once */
    hub_publish(f.hub, "room", "warm-up", 7, 0);
  fx_step(&f);
  before = f.ca.allocs;
  for (k = 0; k < 100; k++) {
    if (hub_publish(f.hub, "room", "a payload", 9, 0) != nclients)
      abort();
    if (k % 10 == 9)
      fx_step(&f);
  }
  per = (f.ca.allocs - before) % 100 == 0 ? (f.ca.allocs - before) / 100
                                           : -2;
  if (fx_finish(&f) != 0)
    per = -3;
  for (i = 0; i < nclients; i++)
    mem_conn_free(c[i]);
  free(c);
  return per;
}

TEST(one_allocation_per_publish_with_history_on) {
  ASSERT_EQ(history_publish_allocations(1), 1);
  ASSERT_EQ(history_publish_allocations(1000), 1);
}

TEST(idle_clients_allocate_no_queue) {
  fx f;
  mem_conn *c;
  long before;

  ASSERT_EQ(fx_init(&f, NULL), 0);
  before = f.ca.allocs;
  ASSERT((c = fx_conn(&f, MEM_WRITE_SYNC, MEM_CLOSE_SYNC)) != NULL);
  ASSERT_EQ(f.ca.allocs - before, 1); /* the client struct, nothing else */
  ASSERT_EQ(fx_end(&f), 0);
}

/* A whole life of a hub; every call either succeeds or fails with
 * UV_ENOMEM. Returns the first other error seen, or 0. */
static int life(count_alloc *ca, int *finished) {
  uv_loop_t loop;
  hub_options_t o;
  hub_t *hub;
  mem_transport mt;
  mem_conn *c[3] = {NULL, NULL, NULL};
  hub_msg_t *msg;
  static char zc[] = "zero-copy";
  int i, k, r, bad = 0;

  *finished = 0;
  uv_loop_init(&loop);
  hub_options_init(&o);
  o.allocator = &ca->a;
  o.max_queue_msgs = 64;
  mem_transport_init(&mt, 1);
  r = hub_new(&hub, &loop, &o);
  if (r != 0) {
    uv_loop_close(&loop);
    return r == UV_ENOMEM ? 0 : r;
  }
#define CHECK(expr)                                                          \
  do {                                                                       \
    r = (expr);                                                              \
    if (r < 0 && r != UV_ENOMEM && bad == 0)                                 \
      bad = r;                                                               \
  } while (0)
  for (i = 0; i < 3; i++) {
    c[i] = mem_connect(hub, &mt, i == 2 ? MEM_WRITE_ASYNC : MEM_WRITE_SYNC,
                       MEM_CLOSE_SYNC, &r);
    if (r < 0 && r != UV_ENOMEM && bad == 0)
      bad = r;
  }
  for (k = 0; k < 12; k++) /* more than a queue's first capacity */
    CHECK(hub_broadcast(hub, "broadcast", 9, 0));
  for (i = 0; i < 3; i++)
    if (c[i] != NULL)
      CHECK(client_send(c[i]->client, "one", 3, 0));
  r = hub_msg_new_zc(hub, zc, sizeof(zc) - 1, 0, NULL, NULL, &msg);
  if (r == 0) {
    CHECK(hub_broadcast_msg(hub, NULL, msg));
    hub_msg_unref(msg);
  } else if (r != UV_ENOMEM && bad == 0) {
    bad = r;
  }
  uv_run(&loop, UV_RUN_NOWAIT);
  for (k = 0; k < 20; k++)
    CHECK(hub_broadcast(hub, "second round", 12, 0));
  uv_run(&loop, UV_RUN_NOWAIT);
  CHECK(hub_close(hub, 0, NULL));
  uv_run(&loop, UV_RUN_DEFAULT);
  if (uv_loop_close(&loop) != 0 && bad == 0)
    bad = UV_EBUSY;
  for (i = 0; i < 3; i++)
    mem_conn_free(c[i]);
  *finished = 1;
#undef CHECK
  return bad;
}

/* A queue that cannot grow loses that one message, reported as
 * HUB_DROP_NOMEM (not as a policy's refusal); the client stays. */
FX_TEST(a_queue_that_cannot_grow_drops_the_message_as_nomem,
        fx_one(f, NULL, MEM_WRITE_ASYNC, MEM_CLOSE_SYNC)) {
  hub_client_stats_t st;

  /* Two messages fill the slots inside the client. */
  ASSERT_EQ(hub_broadcast(f->hub, "1", 1, 0), 1);
  ASSERT_EQ(hub_broadcast(f->hub, "2", 1, 0), 1);
  /* The third needs its message (allocation 1) and a bigger ring (2). */
  f->ca.fail_at = f->ca.calls + 2;
  ASSERT_EQ(hub_broadcast(f->hub, "3", 1, 0), 0);
  ASSERT_EQ(f->drops[HUB_DROP_NOMEM], 1);
  ASSERT_EQ(f->drops[HUB_DROP_REFUSED], 0);
  ASSERT(!client_is_closing(c->client));
  f->ca.fail_at = 0;
  ASSERT_EQ(hub_broadcast(f->hub, "4", 1, 0), 1);
  client_get_stats(c->client, &st);
  ASSERT_EQ(st.queued_msgs, 3);
  ASSERT_EQ(st.msgs_dropped, 1);
}

TEST(allocation_failure_sweep_fails_cleanly_and_leaks_nothing) {
  count_alloc ca;
  long total, n;
  int finished;

  count_alloc_init(&ca);
  ASSERT_EQ(life(&ca, &finished), 0);
  ASSERT_EQ(ca.live, 0);
  total = ca.calls;
  ASSERT(total > 10);
  for (n = 1; n <= total; n++) {
    count_alloc_init(&ca);
    ca.fail_at = n;
    ASSERT_EQ(life(&ca, &finished), 0);
    if (ca.live != 0)
      HARNESS_FAIL("allocation %ld failing leaks %ld blocks", n, ca.live);
  }
}

int main(int argc, char **argv) {
  return RUN_TESTS(argc, argv);
}
