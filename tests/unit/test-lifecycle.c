/* Closing clients and hubs from every place a user can: callbacks during a
 * broadcast, write completions, transports that close synchronously, and
 * hub_close() with queued data, drained or not. Every test ends with the
 * loop closing cleanly and every allocation freed (fx_finish). */
#include "fixture.h"

/* A hub with one client: "1" is in flight (the write never completes
 * unless the test says so) and "2" waits behind it. NULL on error. */
static mem_conn *one_in_flight_one_queued(fx *f, int close_mode) {
  mem_conn *c = fx_one(f, NULL, MEM_WRITE_ASYNC, close_mode);

  if (c == NULL || BCAST(f, "1") != 1)
    return NULL;
  fx_step(f);
  return BCAST(f, "2") == 1 ? c : NULL;
}

FX_TEST(client_close_frees_queue_and_reports_status,
        one_in_flight_one_queued(f, MEM_CLOSE_DEFER)) {
  ASSERT_EQ(client_close(c->client, UV_ECONNRESET), 0);
  ASSERT_EQ(client_close(c->client, 0), HUB_ECLOSING);
  ASSERT_EQ(f->drops[HUB_DROP_CLOSED], 1); /* "2" freed unwritten */
  ASSERT_EQ(BCAST(f, "3"), 0);            /* a closing client gets none */
  ASSERT_EQ(client_send(c->client, "x", 1, 0), HUB_ECLOSING);
  ASSERT_EQ(f->closes, 0); /* not until the transport has closed */
  /* The transport cancels the write in flight, then finishes closing. */
  mem_complete(c, UV_ECANCELED);
  mem_finish_close(c);
  ASSERT_EQ(f->closes, 1);
  ASSERT_EQ(c->close_status, UV_ECONNRESET);
  ASSERT_EQ(f->drop_msgs[HUB_DROP_CLOSED], 2);
}

FX_TEST(transport_closing_without_completing_write_releases_it,
        fx_one(f, NULL, MEM_WRITE_ASYNC, MEM_CLOSE_DEFER)) {
  hub_stats_t st;

  ASSERT_EQ(BCAST(f, "1"), 1);
  fx_step(f);
  ASSERT_EQ(client_close(c->client, 0), 0);
  mem_finish_close(c); /* never completes the write */
  hub_get_stats(f->hub, &st);
  ASSERT_STATS(&st, TS_STAT(queued_msgs, 0), TS_STAT(msgs_dropped, 1));
}

TEST(write_error_closes_client_with_that_error) {
  fx f;
  mem_conn *a, *b;

  ASSERT_EQ(fx_init(&f, NULL), 0);
  ASSERT((a = fx_conn(&f, MEM_WRITE_SYNC, MEM_CLOSE_SYNC)) != NULL);
  ASSERT((b = fx_conn(&f, MEM_WRITE_ASYNC, MEM_CLOSE_SYNC)) != NULL);
  a->fail_write = UV_EPIPE;
  ASSERT_EQ(BCAST(&f, "1"), 2);
  fx_step(&f);
  ASSERT_EQ(a->close_requested, 1);
  ASSERT_EQ(a->close_status, UV_EPIPE);
  mem_complete(b, UV_ECONNRESET); /* a failure reported asynchronously */
  ASSERT_EQ(b->close_requested, 1);
  ASSERT_EQ(b->close_status, UV_ECONNRESET);
  ASSERT_EQ(f.closes, 2);
  ASSERT_EQ(f.drop_msgs[HUB_DROP_CLOSED], 2);
  ASSERT_EQ(fx_end(&f), 0);
}

/* on_drop closes other clients, including the next one the broadcast is
 * about to visit, and the transport frees synchronously. */
static void close_everyone(fx *f, hub_client_t *c, hub_drop_reason_t r) {
  mem_conn **all = f->user;
  int i;
  (void)c;
  (void)r;
  for (i = 0; i < 4; i++)
    client_close(all[i]->client, 0);
}

TEST(closing_clients_from_on_drop_during_broadcast) {
  fx f;
  mem_conn *c[4];
  int i;

  ASSERT_EQ(fx_init_judged(&f, HUB_POLICY_DROP_NEWEST, 1, 0), 0);
  ASSERT_EQ(fx_conns(&f, c, 4, MEM_WRITE_ASYNC, MEM_CLOSE_SYNC), 0);
  f.user = c;
  ASSERT_EQ(BCAST(&f, "1"), 4);
  f.drop_hook = close_everyone;
  ASSERT_EQ(BCAST(&f, "2"), 0); /* first refusal closes all four */
  for (i = 0; i < 4; i++) {
    ASSERT_EQ(c[i]->close_requested, 1);
    ASSERT(c[i]->closed);
  }
  ASSERT_EQ(f.closes, 4);
  ASSERT_EQ(fx_end(&f), 0);
}

static void close_hub_in_drop(fx *f, hub_client_t *c, hub_drop_reason_t r) {
  (void)c;
  /* Closing the hub drops the other clients' queues, which calls this
   * again (reason CLOSED) from inside hub_close(). */
  if (r == HUB_DROP_DISCONNECT)
    ASSERT_EQ(hub_close(f->hub, 0, fx_on_hub_closed), 0);
  else
    ASSERT_EQ(hub_close(f->hub, 0, NULL), HUB_ECLOSING);
}

TEST(closing_the_hub_from_on_drop_during_broadcast) {
  fx f;
  mem_conn *c[3];
  int i;

  ASSERT_EQ(fx_init_judged(&f, HUB_POLICY_DISCONNECT, 1, 0), 0);
  ASSERT_EQ(fx_conns(&f, c, 3, MEM_WRITE_ASYNC, MEM_CLOSE_DEFER), 0);
  ASSERT_EQ(BCAST(&f, "1"), 3);
  f.drop_hook = close_hub_in_drop;
  ASSERT_EQ(BCAST(&f, "2"), 0);
  ASSERT_EQ(BCAST(&f, "3"), HUB_ECLOSING);
  for (i = 0; i < 3; i++) {
    ASSERT_EQ(c[i]->close_requested, 1);
    mem_finish_close(c[i]);
  }
  ASSERT_EQ(fx_end(&f), 0);
  ASSERT_EQ(f.closes, 3);
}

/* on_client_close broadcasts and registers: allowed, and the new client
 * gets the message. */
static void broadcast_on_close(fx *f, hub_client_t *c, int status) {
  (void)c;
  (void)status;
  if (f->user == NULL) {
    f->user = fx_conn(f, MEM_WRITE_SYNC, MEM_CLOSE_SYNC);
    hub_broadcast(f->hub, "bye", 3, 0);
  }
}

TEST(callbacks_may_broadcast_and_register) {
  fx f;
  mem_conn *a, *b, *late;

  ASSERT_EQ(fx_init(&f, NULL), 0);
  ASSERT((a = fx_conn(&f, MEM_WRITE_SYNC, MEM_CLOSE_SYNC)) != NULL);
  ASSERT((b = fx_conn(&f, MEM_WRITE_SYNC, MEM_CLOSE_SYNC)) != NULL);
  f.close_hook = broadcast_on_close;
  ASSERT_EQ(client_close(a->client, 0), 0);
  late = f.user;
  ASSERT(late != NULL);
  fx_step(&f);
  ASSERT(out_is(b, "<bye>"));
  ASSERT(out_is(late, "<bye>"));
  ASSERT_EQ(a->len, 0);
  f.close_hook = NULL;
  ASSERT_EQ(fx_end(&f), 0); /* late is the fixture's too */
}

TEST(hub_close_with_queued_data_frees_everything) {
  fx f;
  mem_conn *c[3];
  int i;

  ASSERT_EQ(fx_init(&f, NULL), 0);
  ASSERT_EQ(fx_conns(&f, c, 3, MEM_WRITE_ASYNC, MEM_CLOSE_SYNC), 0);
  for (i = 0; i < 5; i++)
    ASSERT_EQ(BCAST(&f, "data"), 3);
  fx_step(&f); /* everything in flight, never completed */
  for (i = 0; i < 5; i++)
    ASSERT_EQ(BCAST(&f, "more"), 3);
  ASSERT_EQ(hub_close(f.hub, 0, fx_on_hub_closed), 0);
  ASSERT_EQ(hub_close(f.hub, 0, NULL), HUB_ECLOSING);
  ASSERT_EQ(BCAST(&f, "late"), HUB_ECLOSING);
  ASSERT_EQ(mem_connect(f.hub, &f.mt, 0, 0, &i), NULL);
  ASSERT_EQ(i, HUB_ECLOSING);
  ASSERT_EQ(f.hub_closed, 0); /* the close completes on the loop */
  ASSERT_EQ(fx_end(&f), 0); /* refs reached zero: nothing is live */
  ASSERT_EQ(f.closes, 3);
  ASSERT_EQ(f.drop_msgs[HUB_DROP_CLOSED], 30);
}

TEST(hub_close_drain_writes_queued_data_first) {
  fx f;
  mem_conn *c[2];
  int i;

  ASSERT_EQ(fx_init(&f, NULL), 0);
  ASSERT_EQ(fx_conns(&f, c, 2, MEM_WRITE_ASYNC, MEM_CLOSE_SYNC), 0);
  ASSERT_EQ(BCAST(&f, "1"), 2);
  fx_step(&f);
  ASSERT_EQ(BCAST(&f, "2"), 2);
  ASSERT_EQ(hub_close(f.hub, 10000, fx_on_hub_closed), 0);
  ASSERT_EQ(c[0]->close_requested, 0);
  for (i = 0; i < 2; i++)
    mem_complete(c[i], 0);
  fx_step(&f);
  for (i = 0; i < 2; i++) {
    ASSERT_EQ(c[i]->close_requested, 0);
    mem_complete(c[i], 0);
  }
  fx_step(&f);
  for (i = 0; i < 2; i++) {
    ASSERT(out_is(c[i], "<1><2>"));
    ASSERT_EQ(c[i]->close_requested, 1);
    ASSERT_EQ(c[i]->close_status, 0);
  }
  ASSERT_EQ(fx_end(&f), 0);
  ASSERT_EQ(f.drops[HUB_DROP_CLOSED], 0);
}

TEST(hub_close_drain_timeout_drops_what_is_stuck) {
  fx f;
  mem_conn *stuck, *fine;

  ASSERT_EQ(fx_init(&f, NULL), 0);
  ASSERT((stuck = fx_conn(&f, MEM_WRITE_ASYNC, MEM_CLOSE_SYNC)) != NULL);
  ASSERT((fine = fx_conn(&f, MEM_WRITE_SYNC, MEM_CLOSE_SYNC)) != NULL);
  ASSERT_EQ(BCAST(&f, "1"), 2);
  ASSERT_EQ(hub_close(f.hub, 20, fx_on_hub_closed), 0);
  ASSERT_EQ(fx_finish(&f), 0); /* runs until the 20 ms timer fires */
  ASSERT(out_is(fine, "<1>"));
  ASSERT_EQ(fine->close_requested, 1);
  ASSERT_EQ(stuck->close_requested, 1);
  ASSERT_EQ(f.drop_msgs[HUB_DROP_CLOSED], 1);
  fx_free_conns(&f);
}

TEST(hub_close_without_clients_completes_on_the_loop) {
  fx f;

  ASSERT_EQ(fx_init(&f, NULL), 0);
  ASSERT_EQ(fx_finish(&f), 0);
}

FX_TEST(idle_hub_does_not_keep_the_loop_alive,
        fx_one(f, NULL, MEM_WRITE_SYNC, MEM_CLOSE_SYNC)) {
  ASSERT_EQ(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
  ASSERT_EQ(BCAST(f, "x"), 1);
  /* Pending output keeps the loop alive until it is flushed. */
  ASSERT_EQ(uv_loop_alive(&f->loop), 1);
  ASSERT_EQ(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
  ASSERT(out_is(c, "<x>"));
  ASSERT_EQ(uv_loop_alive(&f->loop), 0);
}

static void on_timer_broadcast(uv_timer_t *t) {
  fx *f = t->data;
  hub_broadcast(f->hub, "tick", 4, 0);
  uv_close((uv_handle_t *)t, NULL);
}

FX_TEST(broadcast_from_a_timer_is_flushed_without_waiting_for_io,
        fx_one(f, NULL, MEM_WRITE_SYNC, MEM_CLOSE_SYNC)) {
  uv_timer_t t, keepalive;

  uv_timer_init(&f->loop, &t);
  uv_timer_init(&f->loop, &keepalive);
  t.data = f;
  uv_timer_start(&t, on_timer_broadcast, 1, 0);
  /* A far timer would make the poll block for an hour if the flush
   * waited for the next poll. */
  uv_timer_start(&keepalive, on_timer_broadcast, 3600 * 1000, 0);
  while (c->len == 0)
    uv_run(&f->loop, UV_RUN_ONCE);
  ASSERT(out_is(c, "<tick>"));
  uv_close((uv_handle_t *)&keepalive, NULL);
}

FX_TEST(shutdown_flushes_then_closes,
        one_in_flight_one_queued(f, MEM_CLOSE_SYNC)) {
  ASSERT_EQ(client_shutdown(c->client, 0), 0);
  ASSERT_EQ(client_shutdown(c->client, 0), HUB_ECLOSING);
  ASSERT(client_is_closing(c->client));
  ASSERT_EQ(BCAST(f, "3"), 0); /* no longer a broadcast target */
  ASSERT_EQ(client_send(c->client, "4", 1, 0), HUB_ECLOSING);
  ASSERT_EQ(client_send(c->client, "C", 1, HUB_MSG_CONTROL | HUB_MSG_RAW),
            0); /* a close frame, say */
  mem_complete(c, 0);
  fx_step(f);
  ASSERT_EQ(c->close_requested, 0);
  mem_complete(c, 0);
  fx_step(f);
  ASSERT_EQ(c->close_requested, 1);
  ASSERT(out_is(c, "<1><2>C"));
  ASSERT_EQ(c->close_status, 0);
}

FX_TEST(shutdown_status_reaches_on_client_close,
        fx_one(f, NULL, MEM_WRITE_SYNC, MEM_CLOSE_SYNC)) {
  ASSERT_EQ(BCAST(f, "last words"), 1);
  ASSERT_EQ(client_shutdown(c->client, UV_EPROTO), 0);
  fx_step(f);
  ASSERT(out_is(c, "<last words>"));
  ASSERT_EQ(c->close_requested, 1);
  ASSERT_EQ(c->close_status, UV_EPROTO);
}

FX_TEST(client_close_escalates_a_shutdown,
        one_in_flight_one_queued(f, MEM_CLOSE_SYNC)) {
  ASSERT_EQ(client_shutdown(c->client, 0), 0);
  ASSERT_EQ(client_close(c->client, UV_ETIMEDOUT), 0);
  ASSERT_EQ(c->close_requested, 1);
  ASSERT_EQ(c->close_status, UV_ETIMEDOUT);
  ASSERT_EQ(f->drop_msgs[HUB_DROP_CLOSED], 2);
}

FX_TEST(client_accessors, fx_one(f, NULL, MEM_WRITE_SYNC, MEM_CLOSE_SYNC)) {
  int mine;

  ASSERT(client_get_hub(c->client) == f->hub);
  ASSERT(client_get_conn(c->client) == c);
  ASSERT(client_get_transport(c->client) == &f->mt.tp);
  client_set_data(c->client, &mine);
  ASSERT(client_get_data(c->client) == &mine);
  ASSERT(hub_get_loop(f->hub) == &f->loop);
  ASSERT(hub_get_data(f->hub) == f);
  ASSERT(!client_is_closing(c->client));
}

int main(int argc, char **argv) {
  return RUN_TESTS(argc, argv);
}
