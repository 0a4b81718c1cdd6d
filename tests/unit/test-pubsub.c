/* Topics, pressure watermarks, keyed conflation and gap accounting. */
#include "fixture.h"

static int topic_events[2];
static char last_topic[HUB_TOPIC_MAX + 1];

static void on_topic(hub_t *hub, const char *topic, int active) {
  (void)hub;
  topic_events[active ? 1 : 0]++;
  snprintf(last_topic, sizeof(last_topic), "%s", topic);
}

TEST(publish_reaches_only_subscribers) {
  hub_options_t o;
  fx f;
  mem_conn *a, *b, *c;
  hub_stats_t st;

  hub_options_init(&o);
  o.on_topic = on_topic;
  memset(topic_events, 0, sizeof(topic_events));
  ASSERT_EQ(fx_init(&f, &o), 0);
  ASSERT((a = fx_conn(&f, MEM_WRITE_SYNC, MEM_CLOSE_SYNC)) != NULL);
  ASSERT((b = fx_conn(&f, MEM_WRITE_SYNC, MEM_CLOSE_SYNC)) != NULL);
  ASSERT((c = fx_conn(&f, MEM_WRITE_SYNC, MEM_CLOSE_SYNC)) != NULL);
  ASSERT_EQ(hub_subscribe(a->client, "news"), 0);
  ASSERT_EQ(topic_events[1], 1);
  ASSERT_STR_EQ(last_topic, "news");
  ASSERT_EQ(hub_subscribe(b->client, "news"), 0);
  ASSERT_EQ(hub_subscribe(b->client, "news"), 1); /* already */
  ASSERT_EQ(hub_subscribe(b->client, "sport"), 0);
  ASSERT_EQ(topic_events[1], 2);
  ASSERT_EQ(hub_topic_subscribers(f.hub, "news"), 2);
  ASSERT_EQ(hub_topic_subscribers(f.hub, "none"), 0);
  ASSERT(client_is_subscribed(b->client, "sport"));
  ASSERT(!client_is_subscribed(a->client, "sport"));
  ASSERT_EQ(hub_publish(f.hub, "news", "n1", 2, 0), 2);
  ASSERT_EQ(hub_publish(f.hub, "sport", "s1", 2, 0), 1);
  ASSERT_EQ(hub_publish(f.hub, "nobody", "x", 1, 0), 0);
  ASSERT_EQ(hub_publish_except(f.hub, a->client, "news", "n2", 2, 0), 1);
  ASSERT_EQ(BCAST(&f, "all"), 3); /* broadcast is still everyone */
  fx_step(&f);
  ASSERT(out_is(a, "<n1><all>"));
  ASSERT(out_is(b, "<n1><s1><n2><all>"));
  ASSERT(out_is(c, "<all>"));
  hub_get_stats(f.hub, &st);
  ASSERT_STATS(&st, TS_STAT(topics, 2), TS_STAT(subscriptions, 3),
               TS_STAT(publishes, 4));
  ASSERT_EQ(hub_unsubscribe(b->client, "sport"), 0);
  ASSERT_EQ(hub_unsubscribe(b->client, "sport"), UV_ENOENT);
  ASSERT_EQ(topic_events[0], 1);
  ASSERT_EQ(hub_publish(f.hub, "sport", "s2", 2, 0), 0);
  hub_get_stats(f.hub, &st);
  ASSERT_STATS(&st, TS_STAT(topics, 1), TS_STAT(subscriptions, 2));
  ASSERT_EQ(fx_end(&f), 0);
  ASSERT_EQ(topic_events[0], 2); /* "news" ended with its subscribers */
}

TEST(topic_names_are_validated) {
  fx f;
  mem_conn *a;
  char big[HUB_TOPIC_MAX + 2];

  ASSERT((a = fx_one(&f, NULL, MEM_WRITE_SYNC, MEM_CLOSE_SYNC)) != NULL);
  memset(big, 't', sizeof(big) - 1);
  big[sizeof(big) - 1] = '\0';
  ASSERT_EQ(hub_subscribe(a->client, big), UV_ENAMETOOLONG);
  ASSERT_EQ(hub_publish(f.hub, big, "x", 1, 0), UV_ENAMETOOLONG);
  ASSERT_EQ(hub_post(f.hub, big, "x", 1, 0), UV_ENAMETOOLONG);
  big[HUB_TOPIC_MAX] = '\0'; /* exactly the limit is fine */
  ASSERT_EQ(hub_subscribe(a->client, big), 0);
  ASSERT_EQ(hub_publish(f.hub, big, "x", 1, 0), 1);
  ASSERT_EQ(hub_subscribe(a->client, ""), UV_EINVAL);
  ASSERT_EQ(hub_subscribe(a->client, NULL), UV_EINVAL);
  ASSERT_EQ(hub_subscribe(NULL, "t"), UV_EINVAL);
  ASSERT_EQ(hub_unsubscribe(a->client, ""), UV_EINVAL);
  ASSERT_EQ(hub_publish(f.hub, NULL, "x", 1, 0), UV_EINVAL);
  ASSERT_EQ(hub_publish(f.hub, "t", "x", 1, HUB_MSG_CONTROL), UV_EINVAL);
  /* Names are bytes: no case folding, no prefix matching. */
  ASSERT_EQ(hub_subscribe(a->client, "Room"), 0);
  ASSERT_EQ(hub_publish(f.hub, "room", "x", 1, 0), 0);
  ASSERT_EQ(hub_publish(f.hub, "Roo", "x", 1, 0), 0);
  ASSERT_EQ(fx_end(&f), 0);
}

TEST(subscriptions_end_when_a_client_closes) {
  fx f;
  mem_conn *a, *b;
  hub_stats_t st;
  char name[32];
  int i;

  ASSERT_EQ(fx_init(&f, NULL), 0);
  ASSERT((a = fx_conn(&f, MEM_WRITE_SYNC, MEM_CLOSE_DEFER)) != NULL);
  ASSERT((b = fx_conn(&f, MEM_WRITE_SYNC, MEM_CLOSE_SYNC)) != NULL);
  for (i = 0; i < 100; i++) {
    snprintf(name, sizeof(name), "topic-%d", i);
    ASSERT_EQ(hub_subscribe(a->client, name), 0);
  }
  ASSERT_EQ(hub_subscribe(b->client, "topic-7"), 0);
  hub_get_stats(f.hub, &st);
  ASSERT_STATS(&st, TS_STAT(topics, 100), TS_STAT(subscriptions, 101));
  ASSERT_EQ(client_close(a->client, 0), 0);
  /* Gone at once, before the transport has even finished closing. */
  hub_get_stats(f.hub, &st);
  ASSERT_STATS(&st, TS_STAT(topics, 1), TS_STAT(subscriptions, 1));
  ASSERT_EQ(hub_publish(f.hub, "topic-7", "x", 1, 0), 1);
  ASSERT_EQ(hub_publish(f.hub, "topic-8", "x", 1, 0), 0);
  ASSERT_EQ(hub_subscribe(a->client, "again"), HUB_ECLOSING);
  mem_finish_close(a);
  ASSERT_EQ(fx_end(&f), 0);
}

/* on_drop unsubscribes and closes subscribers while publish walks the
 * topic's list; the walk must survive and nothing may leak. */
static void unsubscribe_all_in_drop(fx *f, hub_client_t *c,
                                    hub_drop_reason_t r) {
  mem_conn **all = f->user;
  int i;
  (void)c;
  if (r != HUB_DROP_REFUSED)
    return;
  for (i = 0; i < 4; i++) {
    hub_unsubscribe(all[i]->client, "t");
    if (i % 2 == 0)
      client_close(all[i]->client, 0);
  }
}

TEST(unsubscribing_and_closing_during_publish) {
  fx f;
  mem_conn *c[4];
  int i;

  ASSERT_EQ(fx_init_judged(&f, HUB_POLICY_DROP_NEWEST, 1, 0), 0);
  for (i = 0; i < 4; i++) {
    ASSERT((c[i] = fx_conn(&f, MEM_WRITE_ASYNC, MEM_CLOSE_SYNC)) != NULL);
    ASSERT_EQ(hub_subscribe(c[i]->client, "t"), 0);
  }
  f.user = c;
  ASSERT_EQ(hub_publish(f.hub, "t", "1", 1, 0), 4);
  f.drop_hook = unsubscribe_all_in_drop;
  ASSERT_EQ(hub_publish(f.hub, "t", "2", 1, 0), 0);
  ASSERT_EQ(hub_topic_subscribers(f.hub, "t"), 0);
  ASSERT_EQ(hub_subscribe(c[1]->client, "t"), 0); /* topic comes back */
  ASSERT_EQ(hub_topic_subscribers(f.hub, "t"), 1);
  f.drop_hook = NULL;
  ASSERT_EQ(fx_end(&f), 0);
}

TEST(many_topics_and_subscribers) {
  fx f;
  mem_conn *c[50];
  char name[32];
  int i, k;

  ASSERT_EQ(fx_init(&f, NULL), 0);
  for (i = 0; i < 50; i++) {
    ASSERT((c[i] = fx_conn(&f, MEM_WRITE_SYNC, MEM_CLOSE_SYNC)) != NULL);
    for (k = 0; k < 40; k++) { /* every client in 40 of 200 topics */
      snprintf(name, sizeof(name), "t%d", (i * 7 + k * 5) % 200);
      ASSERT(hub_subscribe(c[i]->client, name) >= 0);
    }
  }
  for (k = 0; k < 200; k++) {
    size_t want = 0;
    snprintf(name, sizeof(name), "t%d", k);
    for (i = 0; i < 50; i++)
      want += (size_t)client_is_subscribed(c[i]->client, name);
    ASSERT_EQ(hub_topic_subscribers(f.hub, name), want);
    ASSERT_EQ(hub_publish(f.hub, name, "m", 1, 0), (int)want);
  }
  for (i = 0; i < 50; i += 2)
    for (k = 0; k < 200; k++) {
      snprintf(name, sizeof(name), "t%d", k);
      hub_unsubscribe(c[i]->client, name);
    }
  for (i = 0; i < 50; i++) {
    hub_client_stats_t cs;
    client_get_stats(c[i]->client, &cs);
    ASSERT_EQ(cs.topics, i % 2 == 0 ? 0 : 40);
  }
  ASSERT_EQ(fx_end(&f), 0);
}

/* Subscribe, unsubscribe, close and publish at random, checking every
 * answer against a model of who is in which topic: the member arrays and
 * the clients' subscription arrays must stay in step through every swap
 * that closes a gap. */
TEST(random_subscriptions_match_a_model) {
  enum { NC = 48, NT = 12, OPS = 20000 };
  static int in[NC][NT];
  fx f;
  mem_conn *c[NC];
  char name[16];
  unsigned seed = 12345;
  int i, j, k, op, n, want, open[NC];

  memset(in, 0, sizeof(in));
  ASSERT_EQ(fx_init(&f, NULL), 0);
  for (i = 0; i < NC; i++) {
    ASSERT((c[i] = fx_conn(&f, MEM_WRITE_SYNC, MEM_CLOSE_SYNC)) != NULL);
    open[i] = 1;
  }
  for (n = 0; n < OPS; n++) {
    seed = seed * 1103515245u + 12345u;
    i = (int)((seed >> 8) % NC);
    k = (int)((seed >> 16) % NT);
    op = (int)((seed >> 24) % 16);
    snprintf(name, sizeof(name), "t%d", k);
    if (!open[i]) {
      continue;
    } else if (op < 7) {
      ASSERT_EQ(hub_subscribe(c[i]->client, name), in[i][k] ? 1 : 0);
      in[i][k] = 1;
    } else if (op < 13) {
      ASSERT_EQ(hub_unsubscribe(c[i]->client, name),
                in[i][k] ? 0 : UV_ENOENT);
      in[i][k] = 0;
    } else if (op < 15) {
      for (want = 0, j = 0; j < NC; j++)
        want += open[j] && in[j][k];
      ASSERT_EQ(hub_topic_subscribers(f.hub, name), (size_t)want);
      ASSERT_EQ(hub_publish(f.hub, name, "m", 1, 0), want);
      fx_step(&f); /* written: no queue ever fills */
    } else if (n % 50 == 0) {
      /* Now and then a client goes, and its subscriptions with it. */
      ASSERT_EQ(client_close(c[i]->client, 0), 0);
      open[i] = 0;
      memset(in[i], 0, sizeof(in[i]));
    }
    if (open[i]) {
      hub_client_stats_t cs;
      client_get_stats(c[i]->client, &cs);
      for (want = 0, k = 0; k < NT; k++) {
        snprintf(name, sizeof(name), "t%d", k);
        ASSERT_EQ(client_is_subscribed(c[i]->client, name), in[i][k]);
        want += in[i][k];
      }
      ASSERT_EQ(cs.topics, want);
    }
  }
  ASSERT_EQ(fx_end(&f), 0);
}

/* on_drop makes some subscribers leave and others join while the publish
 * walks the topic: those that left before their turn get nothing, those
 * that joined get the message in the same walk, and once the walk is over
 * the topic is whole again for the next publish and for leaving by swap. */
static void churn_in_drop(fx *f, hub_client_t *c, hub_drop_reason_t r) {
  mem_conn **all = f->user;
  int i;

  (void)c;
  if (r != HUB_DROP_REFUSED || f->drops[r] != 1)
    return;
  for (i = 0; i < 8; i += 2) /* 0, 2, 4 and 6 leave */
    hub_unsubscribe(all[i]->client, "t");
  for (i = 8; i < 40; i++) /* enough to move the member array */
    hub_subscribe(all[i]->client, "t");
}

TEST(leaving_and_joining_while_a_publish_walks_the_topic) {
  fx f;
  mem_conn *c[40];
  int i;

  ASSERT_EQ(fx_init_judged(&f, HUB_POLICY_DROP_NEWEST, 1, 0), 0);
  for (i = 0; i < 40; i++)
    ASSERT((c[i] = fx_conn(&f, i == 1 ? MEM_WRITE_ASYNC : MEM_WRITE_SYNC,
                           MEM_CLOSE_SYNC)) != NULL);
  for (i = 0; i < 8; i++)
    ASSERT_EQ(hub_subscribe(c[i]->client, "t"), 0);
  /* Client 1 writes asynchronously: after one message, its queue is full
   * and the next one is refused, which runs the hook in mid-walk. */
  ASSERT_EQ(client_send(c[1]->client, "x", 1, 0), 0);
  fx_step(&f);
  f.user = c;
  f.drop_hook = churn_in_drop;
  /* 0 got it before the hook; 1 refused; 2, 4, 6 left first; 3, 5, 7 and
   * the 32 newcomers get it. */
  ASSERT_EQ(hub_publish(f.hub, "t", "A", 1, 0), 1 + 3 + 32);
  f.drop_hook = NULL;
  fx_step(&f);
  ASSERT(out_is(c[0], "<A>") && out_is(c[3], "<A>") && out_is(c[8], "<A>"));
  ASSERT(c[2]->len == 0 && out_is(c[39], "<A>"));
  ASSERT_EQ(hub_topic_subscribers(f.hub, "t"), 4 + 32);
  /* The holes are gone: leaving now moves the last member into the
   * leaver's place, and every client still finds itself. */
  mem_complete(c[1], 0);
  ASSERT_EQ(hub_unsubscribe(c[3]->client, "t"), 0);
  ASSERT_EQ(hub_unsubscribe(c[8]->client, "t"), 0);
  ASSERT_EQ(hub_publish(f.hub, "t", "B", 1, 0), 4 + 32 - 2);
  fx_step(&f);
  for (i = 0; i < 40; i++) {
    int in = client_is_subscribed(c[i]->client, "t");
    ASSERT_EQ(in, !(i < 8 && i % 2 == 0) && i != 3 && i != 8);
    if (i != 1)
      ASSERT_EQ(in, c[i]->len >= 3 && memcmp(c[i]->out + c[i]->len - 3,
                                              "<B>", 3) == 0);
  }
  for (i = 0; i < 40; i++)
    if (client_is_subscribed(c[i]->client, "t"))
      ASSERT_EQ(hub_unsubscribe(c[i]->client, "t"), 0);
  ASSERT_EQ(hub_topic_subscribers(f.hub, "t"), 0);
  ASSERT_EQ(fx_end(&f), 0);
}

/* A subscription has no allocation of its own: a client in one topic
 * holds one 16-byte entry, the topic one pointer per member (and its
 * array's slack). */
TEST(a_subscription_costs_a_few_words) {
  enum { N = 1000 };
  fx f;
  mem_conn *c[N];
  long before;
  int i;

  ASSERT_EQ(fx_init(&f, NULL), 0);
  ASSERT_EQ(fx_conns(&f, c, N, MEM_WRITE_SYNC, MEM_CLOSE_SYNC), 0);
  before = f.ca.allocs;
  for (i = 0; i < N; i++)
    ASSERT_EQ(hub_subscribe(c[i]->client, "room"), 0);
  /* One array per client, the topic, its hash table and a few dozen
   * growths of its member array. */
  printf("# %ld allocations for %d subscriptions\n", f.ca.allocs - before, N);
  ASSERT(f.ca.allocs - before <= N + 40);
  /* Leaving frees the client's array: nothing is held for it. */
  for (i = 0; i < N; i++)
    ASSERT_EQ(hub_unsubscribe(c[i]->client, "room"), 0);
  ASSERT_EQ(f.ca.live, N + 2); /* the clients and the topic table */
  ASSERT_EQ(fx_end(&f), 0);
}

/* client_topic() lists a client's topics, each once, with the hub's
 * copy of the name. */
FX_TEST(client_topic_lists_what_a_client_is_in,
        fx_one(f, NULL, MEM_WRITE_SYNC, MEM_CLOSE_SYNC)) {
  const char *name;
  int seen[3] = {0, 0, 0};
  size_t i;

  ASSERT(client_topic(c->client, 0) == NULL);
  ASSERT(client_topic(NULL, 0) == NULL);
  ASSERT_EQ(hub_subscribe(c->client, "a"), 0);
  ASSERT_EQ(hub_subscribe(c->client, "b"), 0);
  ASSERT_EQ(hub_subscribe(c->client, "c"), 0);
  for (i = 0; (name = client_topic(c->client, i)) != NULL; i++) {
    ASSERT(strlen(name) == 1 && name[0] >= 'a' && name[0] <= 'c');
    seen[name[0] - 'a']++;
  }
  ASSERT_EQ(i, 3);
  ASSERT(seen[0] == 1 && seen[1] == 1 && seen[2] == 1);
  ASSERT_EQ(hub_unsubscribe(c->client, "a"), 0);
  ASSERT(client_topic(c->client, 2) == NULL);
  ASSERT(strcmp(client_topic(c->client, 0), "a") != 0);
  ASSERT(strcmp(client_topic(c->client, 1), "a") != 0);
  /* Publishing to the name the hub gave is publishing to the topic. */
  ASSERT_EQ(hub_publish(f->hub, client_topic(c->client, 0), "m", 1, 0), 1);
}

static unsigned pressure_log[16][2];
static int npressure;

static void on_pressure(hub_t *hub, hub_client_t *c, unsigned old_level,
                        unsigned new_level) {
  (void)hub;
  (void)c;
  if (npressure < 16) {
    pressure_log[npressure][0] = old_level;
    pressure_log[npressure][1] = new_level;
  }
  npressure++;
}

TEST(watermarks_cross_up_before_the_policy_and_back_down) {
  hub_options_t o;
  fx f;
  mem_conn *c, *d;
  hub_client_stats_t cs;
  uint64_t levels[4];
  int i;

  hub_options_init(&o);
  o.max_queue_msgs = 10;
  o.max_queue_bytes = 1000;
  o.watermarks[0] = 50;
  o.watermarks[1] = 90;
  o.on_pressure = on_pressure;
  npressure = 0;
  ASSERT((c = fx_one(&f, &o, MEM_WRITE_ASYNC, MEM_CLOSE_SYNC)) != NULL);
  for (i = 0; i < 4; i++)
    ASSERT_EQ(BCAST(&f, "m"), 1);
  ASSERT_EQ(npressure, 0);
  ASSERT_EQ(BCAST(&f, "m"), 1); /* 5 of 10: 50% */
  ASSERT_EQ(npressure, 1);
  ASSERT_EQ(pressure_log[0][0], 0);
  ASSERT_EQ(pressure_log[0][1], 1);
  for (i = 0; i < 4; i++)
    ASSERT_EQ(BCAST(&f, "m"), 1); /* 9 of 10: 90% */
  ASSERT_EQ(npressure, 2);
  ASSERT_EQ(pressure_log[1][1], 2);
  ASSERT_EQ(c->close_requested, 0); /* warned before the policy fired */
  client_get_stats(c->client, &cs);
  ASSERT_EQ(cs.pressure, 2);
  /* hub_get_pressure() counts the open clients per level. */
  ASSERT((d = fx_conn(&f, MEM_WRITE_ASYNC, MEM_CLOSE_SYNC)) != NULL);
  ASSERT_EQ(hub_get_pressure(f.hub, levels, 4), 3);
  ASSERT_EQ(levels[0], 1); /* d */
  ASSERT_EQ(levels[1], 0);
  ASSERT_EQ(levels[2], 1); /* c */
  ASSERT_EQ(levels[3], 0); /* past the marks */
  ASSERT_EQ(hub_get_pressure(f.hub, levels, 2), 3); /* level 2 left out */
  ASSERT_EQ(levels[0], 1);
  ASSERT_EQ(levels[1], 0);
  ASSERT_EQ(hub_get_pressure(f.hub, NULL, 0), 3);
  ASSERT_EQ(hub_get_pressure(f.hub, NULL, 1), UV_EINVAL);
  ASSERT_EQ(hub_get_pressure(NULL, levels, 1), UV_EINVAL);
  client_close(d->client, 0); /* closing: no longer counted */
  ASSERT_EQ(hub_get_pressure(f.hub, levels, 3), 3);
  ASSERT_EQ(levels[0] + levels[1] + levels[2], 1);
  fx_step(&f); /* all 9 in flight */
  mem_complete(c, 0);
  ASSERT_EQ(npressure, 3);
  ASSERT_EQ(pressure_log[2][0], 2);
  ASSERT_EQ(pressure_log[2][1], 0);
  ASSERT_EQ(hub_get_pressure(f.hub, levels, 3), 3);
  ASSERT_EQ(levels[0], 1);
  ASSERT_EQ(levels[2], 0);
  /* The byte bound counts too: 500 of 1000 bytes in one message. */
  {
    char big[500];
    memset(big, 'b', sizeof(big));
    ASSERT_EQ(hub_broadcast(f.hub, big, sizeof(big), 0), 1);
  }
  ASSERT_EQ(npressure, 4);
  ASSERT_EQ(pressure_log[3][1], 1);
  ASSERT_EQ(fx_end(&f), 0);
}

TEST(watermarks_are_validated) {
  uv_loop_t loop;
  hub_options_t o;
  hub_t *hub;

  ASSERT_EQ(uv_loop_init(&loop), 0);
  hub_options_init(&o);
  o.watermarks[0] = 90;
  o.watermarks[1] = 50; /* not ascending */
  ASSERT_EQ(hub_new(&hub, &loop, &o), UV_EINVAL);
  hub_options_init(&o);
  o.watermarks[0] = 101;
  ASSERT_EQ(hub_new(&hub, &loop, &o), UV_EINVAL);
  hub_options_init(&o);
  o.watermarks[1] = 50; /* a gap before it */
  ASSERT_EQ(hub_new(&hub, &loop, &o), UV_EINVAL);
  ASSERT_EQ(uv_loop_close(&loop), 0);
}

static int keyed(fx *f, uint64_t key, const char *s) {
  hub_msg_t *msg;
  int r;
  if (hub_msg_new(f->hub, s, strlen(s), 0, &msg) != 0)
    return -1;
  hub_msg_set_key(msg, key);
  r = hub_broadcast_msg(f->hub, NULL, msg);
  hub_msg_unref(msg);
  return r;
}

TEST(conflation_replaces_waiting_message_with_same_key) {
  hub_options_t o;
  fx f;
  mem_conn *slow, *fast;
  hub_client_stats_t cs;

  hub_options_init(&o);
  o.policy = HUB_POLICY_DROP_OLDEST;
  o.max_queue_msgs = 4;
  ASSERT_EQ(fx_init(&f, &o), 0);
  ASSERT((slow = fx_conn(&f, MEM_WRITE_ASYNC, MEM_CLOSE_SYNC)) != NULL);
  ASSERT((fast = fx_conn(&f, MEM_WRITE_SYNC, MEM_CLOSE_SYNC)) != NULL);
  ASSERT_EQ(keyed(&f, 1, "A=1"), 2);
  fx_step(&f); /* A=1 in flight for slow: never replaced */
  /* Each step flushes the fast client; the slow one's write stays in
   * flight, so only its queue holds messages waiting. */
  ASSERT_EQ(keyed(&f, 1, "A=2"), 2);
  fx_step(&f);
  ASSERT_EQ(keyed(&f, 2, "B=1"), 2);
  fx_step(&f);
  ASSERT_EQ(BCAST(&f, "plain"), 2);
  fx_step(&f);
  ASSERT_EQ(keyed(&f, 1, "A=3"), 2); /* replaces A=2 in place */
  fx_step(&f);
  ASSERT_EQ(keyed(&f, 2, "B=2"), 2); /* replaces B=1 */
  fx_step(&f);
  ASSERT_EQ(keyed(&f, 1, "A=4"), 2); /* replaces A=3 */
  fx_step(&f);
  ASSERT_EQ(f.drops[HUB_DROP_CONFLATED], 3);
  ASSERT_EQ(f.drops[HUB_DROP_EVICTED], 0);
  client_get_stats(slow->client, &cs);
  ASSERT_CSTATS(&cs, TS_CSTAT(queued_msgs, 4), TS_CSTAT(gap, 3));
  mem_complete(slow, 0);
  fx_step(&f); /* DROP_OLDEST: half the bound per write */
  mem_complete(slow, 0);
  fx_step(&f);
  mem_complete(slow, 0);
  ASSERT(out_is(slow, "<A=1><A=4><B=2><plain>"));
  client_get_stats(slow->client, &cs);
  ASSERT_EQ(cs.gap, 0); /* delivered since */
  /* The fast client had nothing waiting each time: it got everything. */
  ASSERT(out_is(fast, "<A=1><A=2><B=1><plain><A=3><B=2><A=4>"));
  ASSERT_EQ(hub_msg_key(NULL), 0);
  ASSERT_EQ(hub_msg_set_key(NULL, 1), UV_EINVAL);
  ASSERT_EQ(fx_end(&f), 0);
}

TEST(gap_counts_what_a_client_missed) {
  fx f;
  mem_conn *c;
  hub_client_stats_t cs;
  int i;

  ASSERT_EQ(fx_init_judged(&f, HUB_POLICY_DROP_OLDEST, 2, 0), 0);
  ASSERT((c = fx_conn(&f, MEM_WRITE_ASYNC, MEM_CLOSE_SYNC)) != NULL);
  ASSERT_EQ(BCAST(&f, "0"), 1);
  fx_step(&f); /* "0" in flight */
  for (i = 1; i <= 6; i++)
    ASSERT_EQ(BCAST(&f, "x"), 1); /* 1 pending slot: 5 evicted */
  client_get_stats(c->client, &cs);
  ASSERT_CSTATS(&cs, TS_CSTAT(gap, 5),
                TS_CSTAT(gap_untaken, 5), /* what client_take_gap() would say */
                TS_CSTAT(ctrl_queued, 0));
  ASSERT_EQ(client_send(c->client, "n", 1, HUB_MSG_CONTROL), 0);
  client_get_stats(c->client, &cs);
  ASSERT_CSTATS(&cs, TS_CSTAT(gap_untaken, 5), /* looking does not take */
                TS_CSTAT(ctrl_queued, 1));
  ASSERT_EQ(client_take_gap(c->client), 5);
  ASSERT_EQ(client_take_gap(c->client), 0); /* taken */
  client_get_stats(c->client, &cs);
  ASSERT_EQ(cs.gap_untaken, 0);
  mem_complete(c, 0); /* "0" delivered: that was before the gap */
  client_get_stats(c->client, &cs);
  ASSERT_EQ(cs.gap, 5);
  fx_step(&f);
  mem_complete(c, 0); /* the message after the gap is delivered */
  client_get_stats(c->client, &cs);
  ASSERT_CSTATS(&cs, TS_CSTAT(gap, 0),
                TS_CSTAT(ctrl_queued, 0), /* the control message went with it */
                TS_CSTAT(msgs_dropped, 5));
  ASSERT_EQ(fx_end(&f), 0);
}

int main(int argc, char **argv) {
  return RUN_TESTS(argc, argv);
}
