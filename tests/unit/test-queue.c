/* Delivery: every registered client gets every message exactly once, in
 * order, framed once per transport, in one vectored write per flush. */
#include "fixture.h"

TEST(broadcast_reaches_every_client_once_in_order) {
  fx f;
  mem_conn *c[3];
  hub_stats_t st;
  int i;

  ASSERT_EQ(fx_init(&f, NULL), 0);
  ASSERT_EQ(fx_conns(&f, c, 3, MEM_WRITE_SYNC, MEM_CLOSE_SYNC), 0);
  ASSERT_EQ(BCAST(&f, "a"), 3);
  ASSERT_EQ(BCAST(&f, "bb"), 3);
  ASSERT_EQ(BCAST(&f, "ccc"), 3);
  for (i = 0; i < 3; i++)
    ASSERT_EQ(c[i]->len, 0); /* nothing is written before the flush */
  fx_step(&f);
  for (i = 0; i < 3; i++) {
    ASSERT(out_is(c[i], "<a><bb><ccc>"));
    ASSERT_EQ(c[i]->writes, 1);
  }
  fx_step(&f);
  for (i = 0; i < 3; i++)
    ASSERT_EQ(c[i]->writes, 1); /* nothing new: no empty writes */
  hub_get_stats(f.hub, &st);
  ASSERT_STATS(&st, TS_STAT(clients, 3), TS_STAT(broadcasts, 3),
               TS_STAT(msgs_delivered, 9), TS_STAT(bytes_delivered, 18),
               TS_STAT(queued_msgs, 0), TS_STAT(queued_bytes, 0),
               TS_STAT(writes, 3), TS_STAT(msgs_dropped, 0));
  ASSERT_EQ(fx_end(&f), 0);
  ASSERT_EQ(f.closes, 3);
}

TEST(framing_happens_once_per_message_per_transport) {
  fx f;
  mem_transport other;
  mem_conn *a[5], *b[5];
  int i;

  ASSERT_EQ(fx_init(&f, NULL), 0);
  mem_transport_init(&other, 1);
  for (i = 0; i < 5; i++) {
    ASSERT((a[i] = fx_conn(&f, MEM_WRITE_SYNC, MEM_CLOSE_SYNC)) != NULL);
    ASSERT((b[i] = mem_connect(f.hub, &other, MEM_WRITE_SYNC,
                               MEM_CLOSE_SYNC, NULL)) != NULL);
  }
  for (i = 0; i < 10; i++)
    ASSERT_EQ(BCAST(&f, "x"), 10);
  fx_step(&f);
  ASSERT_EQ(f.mt.frames, 10);
  ASSERT_EQ(other.frames, 10);
  for (i = 0; i < 5; i++) {
    ASSERT_EQ(a[i]->len, 30);
    ASSERT_EQ(b[i]->len, 30);
  }
  ASSERT_EQ(fx_finish(&f), 0);
  for (i = 0; i < 5; i++) {
    mem_conn_free(a[i]);
    mem_conn_free(b[i]);
  }
}

TEST(first_transport_gets_one_contiguous_buffer_per_message) {
  fx f;
  mem_transport other;
  mem_conn *a, *b;
  int i;

  ASSERT_EQ(fx_init(&f, NULL), 0);
  mem_transport_init(&other, 1);
  ASSERT((a = fx_conn(&f, MEM_WRITE_SYNC, MEM_CLOSE_SYNC)) != NULL);
  ASSERT((b = mem_connect(f.hub, &other, MEM_WRITE_SYNC, MEM_CLOSE_SYNC,
                          NULL)) != NULL);
  for (i = 0; i < 100; i++)
    ASSERT_EQ(BCAST(&f, "m"), 2);
  fx_step(&f);
  /* All 100 pending messages leave in ONE write per client. The first
   * transport to frame a copied message gets head+payload+tail as one
   * buffer; a second transport gets head, payload and tail apart. */
  ASSERT_EQ(a->writes, 1);
  ASSERT_EQ(a->last_nbufs, 100);
  ASSERT_EQ(b->writes, 1);
  ASSERT_EQ(b->last_nbufs, 300);
  ASSERT_EQ(a->len, 300);
  ASSERT(memcmp(a->out, b->out, 300) == 0);
  ASSERT_EQ(fx_finish(&f), 0);
  mem_conn_free(a);
  mem_conn_free(b);
}

TEST(unframed_transport_and_raw_messages_are_written_as_is) {
  fx f;
  mem_transport plain;
  mem_conn *p, *m;

  ASSERT_EQ(fx_init(&f, NULL), 0);
  mem_transport_init(&plain, 0);
  ASSERT((p = mem_connect(f.hub, &plain, MEM_WRITE_SYNC, MEM_CLOSE_SYNC,
                          NULL)) != NULL);
  ASSERT((m = fx_conn(&f, MEM_WRITE_SYNC, MEM_CLOSE_SYNC)) != NULL);
  ASSERT_EQ(BCAST(&f, "ab"), 2);
  ASSERT_EQ(hub_broadcast(f.hub, "RAW", 3, HUB_MSG_RAW), 2);
  ASSERT_EQ(BCAST(&f, ""), 2);
  fx_step(&f);
  ASSERT(out_is(p, "abRAW"));
  ASSERT(out_is(m, "<ab>RAW<>"));
  ASSERT_EQ(f.mt.frames, 2); /* the RAW message was never framed */
  ASSERT_EQ(fx_finish(&f), 0);
  mem_conn_free(p);
  mem_conn_free(m);
}

FX_TEST(at_most_one_write_in_flight_per_client,
        fx_one(f, NULL, MEM_WRITE_ASYNC, MEM_CLOSE_SYNC)) {
  hub_client_stats_t cs;

  ASSERT_EQ(BCAST(f, "1"), 1);
  fx_step(f);
  ASSERT_EQ(c->writes, 1);
  ASSERT(c->in_flight);
  ASSERT_EQ(BCAST(f, "2"), 1);
  ASSERT_EQ(BCAST(f, "3"), 1);
  fx_step(f);
  fx_step(f);
  ASSERT_EQ(c->writes, 1); /* still waiting for the first */
  client_get_stats(c->client, &cs);
  ASSERT_CSTATS(&cs, TS_CSTAT(queued_msgs, 3), TS_CSTAT(inflight_msgs, 1),
                TS_CSTAT(queued_bytes, 3));
  mem_complete(c, 0);
  client_get_stats(c->client, &cs);
  ASSERT_CSTATS(&cs, TS_CSTAT(msgs_delivered, 1), TS_CSTAT(queued_msgs, 2));
  fx_step(f);
  ASSERT_EQ(c->writes, 2);
  ASSERT_EQ(c->last_nbufs, 2); /* both pending messages in one write */
  mem_complete(c, 0);
  ASSERT(out_is(c, "<1><2><3>"));
  client_get_stats(c->client, &cs);
  ASSERT_CSTATS(&cs, TS_CSTAT(msgs_delivered, 3),
                TS_CSTAT(bytes_delivered, 3), TS_CSTAT(queued_msgs, 0),
                TS_CSTAT(writes, 2));
}

TEST(client_send_reaches_only_that_client) {
  fx f;
  mem_conn *a, *b;

  ASSERT_EQ(fx_init(&f, NULL), 0);
  ASSERT((a = fx_conn(&f, MEM_WRITE_SYNC, MEM_CLOSE_SYNC)) != NULL);
  ASSERT((b = fx_conn(&f, MEM_WRITE_SYNC, MEM_CLOSE_SYNC)) != NULL);
  ASSERT_EQ(client_send(a->client, "hi", 2, 0), 0);
  ASSERT_EQ(BCAST(&f, "all"), 2);
  ASSERT_EQ(hub_broadcast_except(f.hub, a->client, "notA", 4, 0), 1);
  fx_step(&f);
  ASSERT(out_is(a, "<hi><all>"));
  ASSERT(out_is(b, "<all><notA>"));
  ASSERT_EQ(fx_end(&f), 0);
}

TEST(more_pending_than_one_write_holds_goes_out_in_order) {
  hub_options_t o;
  fx f;
  mem_conn *c;
  char buf[16], want[16];
  int i;
  size_t off = 0;

  hub_options_init(&o);
  o.max_queue_msgs = 3000;
  ASSERT_EQ(fx_init(&f, &o), 0);
  mem_transport_init(&f.mt, 0); /* unframed: one buffer per message */
  ASSERT((c = fx_conn(&f, MEM_WRITE_SYNC, MEM_CLOSE_SYNC)) != NULL);
  for (i = 0; i < 2500; i++) {
    snprintf(buf, sizeof(buf), "%d,", i);
    ASSERT_EQ(hub_broadcast(f.hub, buf, strlen(buf), 0), 1);
  }
  fx_step(&f);
  ASSERT_EQ(c->writes, 1);
  ASSERT_EQ(c->last_nbufs, 1024); /* a write is at most IOV_MAX buffers */
  fx_step(&f);
  fx_step(&f);
  ASSERT_EQ(c->writes, 3);
  for (i = 0; i < 2500; i++) {
    snprintf(want, sizeof(want), "%d,", i);
    ASSERT(off + strlen(want) <= c->len);
    ASSERT(memcmp(c->out + off, want, strlen(want)) == 0);
    off += strlen(want);
  }
  ASSERT_EQ(off, c->len);
  ASSERT_EQ(fx_end(&f), 0);
}

static void on_zc_free(void *data, size_t len, void *ud) {
  (void)data;
  (void)len;
  (*(int *)ud)++;
}

TEST(zero_copy_message_is_freed_once_after_last_delivery) {
  fx f;
  mem_conn *c[3];
  hub_msg_t *msg;
  static char payload[] = "zero-copy";
  int freed = 0, i;

  ASSERT_EQ(fx_init(&f, NULL), 0);
  ASSERT_EQ(fx_conns(&f, c, 3, MEM_WRITE_ASYNC, MEM_CLOSE_SYNC), 0);
  ASSERT_EQ(hub_msg_new_zc(f.hub, payload, 9, HUB_MSG_BINARY, on_zc_free,
                           &freed, &msg), 0);
  ASSERT_EQ(hub_msg_flags(msg), HUB_MSG_BINARY);
  ASSERT_EQ(hub_msg_len(msg), 9);
  ASSERT(hub_msg_data(msg) == payload);
  ASSERT_EQ(hub_broadcast_msg(f.hub, NULL, msg), 3);
  hub_msg_unref(msg); /* the queues hold their own references */
  ASSERT_EQ(freed, 0);
  fx_step(&f);
  ASSERT_EQ(c[0]->last_nbufs, 3); /* head, payload in place, tail */
  mem_complete(c[0], 0);
  mem_complete(c[1], 0);
  ASSERT_EQ(freed, 0);
  mem_complete(c[2], 0);
  ASSERT_EQ(freed, 1);
  for (i = 0; i < 3; i++)
    ASSERT(out_is(c[i], "<zero-copy>"));
  ASSERT_EQ(fx_end(&f), 0);
  ASSERT_EQ(freed, 1);
}

TEST(two_hubs_on_one_loop_do_not_interact) {
  fx f;
  hub_t *h2;
  mem_conn *a, *b;
  int closed2 = 0;

  ASSERT_EQ(fx_init(&f, NULL), 0);
  ASSERT_EQ(hub_new(&h2, &f.loop, NULL), 0);
  hub_set_data(h2, &closed2);
  ASSERT((a = fx_conn(&f, MEM_WRITE_SYNC, MEM_CLOSE_SYNC)) != NULL);
  ASSERT((b = mem_connect(h2, &f.mt, MEM_WRITE_SYNC, MEM_CLOSE_SYNC,
                          NULL)) != NULL);
  ASSERT_EQ(BCAST(&f, "one"), 1);
  ASSERT_EQ(hub_broadcast(h2, "two", 3, 0), 1);
  fx_step(&f);
  ASSERT(out_is(a, "<one>"));
  ASSERT(out_is(b, "<two>"));
  ASSERT_EQ(hub_close(h2, 0, NULL), 0);
  ASSERT_EQ(fx_finish(&f), 0);
  mem_conn_free(a);
  mem_conn_free(b);
}

int main(int argc, char **argv) {
  return RUN_TESTS(argc, argv);
}
