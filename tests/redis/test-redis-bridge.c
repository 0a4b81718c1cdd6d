/* The Redis backplane against a real redis-server: two hubs ("nodes") on
 * one loop, each with in-memory clients and a bridge. Every test starts
 * its own server on a free loopback port and ends with uv_loop_close()
 * returning 0. */
#include "redis-fixture.h"

static rx_redis_t redis;
static rx_node_t node_a, node_b;

static void setup(void) {
  memset(&redis, 0, sizeof(redis));
  uv_loop_init(&rx_loop);
}

static int both_connected(void) {
  return rx_connected(&node_a) && rx_connected(&node_b) &&
         rx_stats(&node_a).channels >= 1 && rx_stats(&node_b).channels >= 1;
}

/* A fresh redis-server and two nodes on it, both connected. */
static int two_nodes_up(void) {
  setup();
  if (rx_redis_start(&redis) != 0 ||
      rx_node_start(&node_a, redis.port, NULL, NULL) != 0 ||
      rx_node_start(&node_b, redis.port, NULL, NULL) != 0)
    return -1;
  RX_UNTIL(both_connected());
  return both_connected() ? 0 : -1;
}

/* Stop both nodes and Redis: rx_loop_close()'s result. */
static int two_nodes_down(void) {
  rx_node_stop(&node_a);
  rx_node_stop(&node_b);
  rx_redis_kill(&redis);
  return rx_loop_close();
}

/* 0 if "<PREFIX%03d>" for 0 to count - 1 each reached `c` exactly once
 * and in that order (other messages may come in between). */
static int each_once_in_order(const mem_conn *c, char prefix, int count) {
  const char *prev = c->out, *p;
  char text[32];
  int i;

  for (i = 0; i < count; i++) {
    snprintf(text, sizeof(text), "%c%03d", prefix, i);
    if (rx_count(c, text) != 1)
      return -1;
    p = strstr(c->out, text);
    if (i > 0 && p <= prev)
      return -1;
    prev = p;
  }
  return 0;
}

/* ------------------------------------------------------------------------ */

TEST(two_nodes_every_client_gets_each_message_once_in_order) {
  char text[32];
  int i, k;

  ASSERT_EQ(two_nodes_up(), 0);
  ASSERT_EQ(node_a.saw_connected, 1);

  for (i = 0; i < 100; i++) {
    snprintf(text, sizeof(text), "a%03d", i);
    /* Local delivery's count is the return value, as hub_broadcast(). */
    ASSERT_EQ(hub_redis_broadcast(node_a.bridge, NULL, text, strlen(text),
                                  0), RX_CLIENTS);
    snprintf(text, sizeof(text), "b%03d", i);
    ASSERT_EQ(hub_redis_broadcast(node_b.bridge, NULL, text, strlen(text),
                                  0), RX_CLIENTS);
  }
  RX_UNTIL(rx_msgs(node_a.c[RX_CLIENTS - 1]) >= 200 &&
           rx_msgs(node_b.c[RX_CLIENTS - 1]) >= 200);
  rx_run_for(100); /* a duplicate would have time to arrive */
  for (k = 0; k < RX_CLIENTS; k++) {
    const mem_conn *cs[2] = {node_a.c[k], node_b.c[k]};
    int j;
    for (j = 0; j < 2; j++) {
      ASSERT_EQ(rx_msgs(cs[j]), 200);
      /* Each node's messages in the order that node sent them. */
      ASSERT_EQ(each_once_in_order(cs[j], 'a', 100), 0);
      ASSERT_EQ(each_once_in_order(cs[j], 'b', 100), 0);
    }
  }
  /* Each node got its own 100 back from Redis and ignored them. */
  ASSERT_EQ(rx_stats(&node_a).own, 100);
  ASSERT_EQ(rx_stats(&node_a).received, 100);
  ASSERT_EQ(rx_stats(&node_a).forwarded, 100);
  ASSERT_EQ(rx_stats(&node_b).received, 100);
  ASSERT_EQ(rx_stats(&node_b).invalid, 0);
  ASSERT(hub_redis_node_id(node_a.bridge) != hub_redis_node_id(node_b.bridge));

  ASSERT_EQ(two_nodes_down(), 0);
}

/* A thread posting to node A's hub: hub_post()'s messages go through the
 * bridge's post handler, so node B's clients get them too. */
#define POSTS 50

static void post_from_a_thread(void *arg) {
  hub_t *hub = arg;
  char text[32];
  int i, n;

  for (i = 0; i < POSTS; i++) {
    n = snprintf(text, sizeof(text), "p%03d", i);
    while (hub_post(hub, NULL, text, (size_t)n, 0) == UV_EAGAIN)
      uv_sleep(1);
  }
}

TEST(messages_posted_from_other_threads_reach_every_node) {
  uv_thread_t thread;
  int k;

  ASSERT_EQ(two_nodes_up(), 0);

  ASSERT_EQ(uv_thread_create(&thread, post_from_a_thread, node_a.hub), 0);
  ASSERT_EQ(uv_thread_join(&thread), 0);
  RX_UNTIL(rx_msgs(node_a.c[RX_CLIENTS - 1]) >= POSTS &&
           rx_msgs(node_b.c[RX_CLIENTS - 1]) >= POSTS);
  rx_run_for(100); /* a duplicate would have time to arrive */
  for (k = 0; k < RX_CLIENTS; k++) {
    ASSERT_EQ(rx_msgs(node_a.c[k]), POSTS);
    ASSERT_EQ(rx_msgs(node_b.c[k]), POSTS);
    /* In the order they were posted. */
    ASSERT_EQ(each_once_in_order(node_a.c[k], 'p', POSTS), 0);
    ASSERT_EQ(each_once_in_order(node_b.c[k], 'p', POSTS), 0);
  }
  ASSERT_EQ(rx_stats(&node_a).forwarded, POSTS);
  ASSERT_EQ(rx_stats(&node_b).received, POSTS);

  ASSERT_EQ(two_nodes_down(), 0);
}

TEST(topics_subscribe_upstream_only_while_someone_listens_here) {
  hub_client_t *a0, *b0, *b1;

  ASSERT_EQ(two_nodes_up(), 0);
  a0 = node_a.c[0]->client;
  b0 = node_b.c[0]->client;
  b1 = node_b.c[1]->client;

  /* "news" on both nodes, "sports" on B only. */
  ASSERT_EQ(hub_subscribe(a0, "news"), 0);
  ASSERT_EQ(hub_subscribe(b0, "news"), 0);
  ASSERT_EQ(hub_subscribe(b1, "sports"), 0);
  RX_UNTIL(rx_stats(&node_a).channels == 2 && rx_stats(&node_b).channels == 3);
  ASSERT_EQ(rx_stats(&node_a).channels, 2); /* all, news */
  ASSERT_EQ(rx_stats(&node_b).channels, 3); /* all, news, sports */
  ASSERT_EQ(rx_stats(&node_b).topics, 2);
  ASSERT_EQ(rx_cmd_int(&redis, "PUBSUB NUMSUB %s", "hub:t:news"), 2);
  ASSERT_EQ(rx_cmd_int(&redis, "PUBSUB NUMSUB %s", "hub:t:sports"), 1);
  ASSERT_EQ(rx_cmd_int(&redis, "PUBSUB NUMSUB %s", "hub:all"), 2);

  /* A publishes in "sports", where nobody is on A: B's subscriber only. */
  ASSERT_EQ(hub_redis_publish(node_a.bridge, NULL, "sports", "goal", 4, 0),
            0);
  ASSERT_EQ(hub_redis_publish(node_a.bridge, NULL, "news", "extra", 5, 0),
            1);
  RX_UNTIL(rx_count(node_b.c[1], "goal") == 1 &&
           rx_count(node_b.c[0], "extra") == 1);
  ASSERT_EQ(rx_count(node_b.c[1], "goal"), 1);
  ASSERT_EQ(rx_count(node_b.c[0], "extra"), 1);
  ASSERT_EQ(rx_count(node_a.c[0], "extra"), 1);
  /* Nobody else heard them. */
  ASSERT_EQ(rx_msgs(node_b.c[2]) + rx_msgs(node_b.c[3]) +
                rx_msgs(node_a.c[1]) + rx_msgs(node_b.c[0]) +
                rx_msgs(node_b.c[1]),
            2);

  /* B's last "news" subscriber leaves: B unsubscribes upstream, so Redis
   * no longer sends B anything for it. */
  ASSERT_EQ(hub_unsubscribe(b0, "news"), 0);
  RX_UNTIL(rx_stats(&node_b).channels == 2);
  ASSERT_EQ(rx_stats(&node_b).channels, 2);
  ASSERT_EQ(rx_cmd_int(&redis, "PUBSUB NUMSUB %s", "hub:t:news"), 1);
  {
    uint64_t before = rx_stats(&node_b).received;
    ASSERT_EQ(hub_redis_publish(node_a.bridge, NULL, "news", "later", 5, 0),
              1);
    /* A broadcast after it is a marker: once B has it, "later" would have
     * arrived before it. */
    ASSERT_EQ(hub_redis_broadcast(node_a.bridge, NULL, "mark", 4, 0),
              RX_CLIENTS);
    RX_UNTIL(rx_count(node_b.c[3], "mark") == 1);
    ASSERT_EQ(rx_count(node_b.c[3], "mark"), 1);
    ASSERT_EQ(rx_stats(&node_b).received, before + 1); /* the marker */
    ASSERT_EQ(rx_count(node_b.c[0], "later"), 0);
  }
  /* Closing a client ends its subscriptions, here and upstream. */
  client_close(b1, 0);
  RX_UNTIL(rx_stats(&node_b).channels == 1);
  ASSERT_EQ(rx_stats(&node_b).channels, 1);
  ASSERT_EQ(rx_stats(&node_b).topics, 0);

  ASSERT_EQ(two_nodes_down(), 0);
}

static void small_buffer(hub_redis_options_t *o) {
  o->buffer_msgs = 3;
}

TEST(refused_port_is_reported_retried_and_buffered_with_a_bound) {
  int i, n;

  setup();
  ASSERT_EQ(rx_node_start(&node_a, rx_free_port(), NULL, small_buffer), 0);
  RX_UNTIL(rx_stats(&node_a).connect_failures >= 3);
  ASSERT(rx_stats(&node_a).connect_failures >= 3); /* it keeps trying */
  ASSERT_EQ(node_a.saw_connect_err, 1);            /* said once */
  ASSERT(strstr(node_a.last_log, "cannot connect to Redis at 127.0.0.1:") !=
         NULL);
  ASSERT(strstr(node_a.last_log, "refused") != NULL);
  ASSERT(hub_redis_get_state(node_a.bridge) != HUB_REDIS_CONNECTED);

  /* Local delivery does not wait for Redis. */
  for (i = 0; i < 10; i++) {
    n = hub_redis_broadcast(node_a.bridge, NULL, "x", 1, 0);
    ASSERT_EQ(n, RX_CLIENTS);
  }
  RX_UNTIL(rx_msgs(node_a.c[0]) == 10);
  ASSERT_EQ(rx_msgs(node_a.c[0]), 10);
  ASSERT_EQ(rx_stats(&node_a).buffered_msgs, 3);
  ASSERT_EQ(rx_stats(&node_a).buffered_total, 10);
  ASSERT_EQ(rx_stats(&node_a).dropped, 7);
  ASSERT_EQ(node_a.saw_full, 1); /* logged once, not seven times */

  rx_node_stop(&node_a);
  ASSERT_EQ(rx_loop_close(), 0);
}

TEST(redis_restart_local_delivery_goes_on_and_cross_node_resumes) {
  char text[32];
  int i;

  ASSERT_EQ(two_nodes_up(), 0);

  rx_redis_kill(&redis);
  RX_UNTIL(node_a.saw_lost && node_b.saw_lost);
  ASSERT_EQ(node_a.saw_lost, 1);
  ASSERT_EQ(rx_stats(&node_a).disconnects, 1);
  ASSERT(strstr(node_a.last_log, "lost the connection") != NULL ||
         node_a.logs > 1);

  /* Redis is down: each node still serves its own clients. */
  for (i = 0; i < 5; i++) {
    snprintf(text, sizeof(text), "down%d", i);
    ASSERT_EQ(hub_redis_broadcast(node_a.bridge, NULL, text, strlen(text),
                                  0), RX_CLIENTS);
  }
  RX_UNTIL(rx_count(node_a.c[3], "down4") == 1);
  ASSERT_EQ(rx_count(node_a.c[3], "down4"), 1);
  ASSERT_EQ(rx_stats(&node_a).buffered_msgs, 5);
  ASSERT_EQ(rx_count(node_b.c[0], "down0"), 0);
  rx_run_for(300); /* a few failed attempts to reconnect */
  ASSERT(rx_stats(&node_a).connect_failures >= 1);

  /* Back on the same port: both reconnect without being restarted. */
  ASSERT_EQ(rx_redis_start(&redis), 0);
  RX_UNTIL(both_connected() && rx_stats(&node_a).buffered_msgs == 0 &&
           rx_stats(&node_a).inflight == 0);
  ASSERT(both_connected());
  ASSERT_EQ(rx_stats(&node_a).connects, 2);
  ASSERT_EQ(node_a.saw_reconnected, 1);
  /* The outage's messages were counted and forwarded on reconnection
   * (whether B's subscriber was back in time to get them is the
   * at-most-once part); none was lost without a count. */
  ASSERT_EQ(rx_stats(&node_a).forwarded + rx_stats(&node_a).dropped, 5);
  ASSERT(rx_count(node_b.c[0], "down0") <= 1);

  ASSERT_EQ(hub_redis_broadcast(node_a.bridge, NULL, "again", 5, 0),
            RX_CLIENTS);
  ASSERT_EQ(hub_redis_broadcast(node_b.bridge, NULL, "from b", 6, 0),
            RX_CLIENTS);
  RX_UNTIL(rx_count(node_b.c[2], "again") == 1 &&
           rx_count(node_a.c[2], "from b") == 1);
  ASSERT_EQ(rx_count(node_b.c[2], "again"), 1);
  ASSERT_EQ(rx_count(node_a.c[2], "from b"), 1);
  rx_run_for(100);
  ASSERT_EQ(rx_count(node_a.c[2], "again"), 1); /* never twice */

  ASSERT_EQ(two_nodes_down(), 0);
}

TEST(wrong_or_missing_password_is_a_clear_error) {
  rx_node_t good;

  setup();
  snprintf(redis.password, sizeof(redis.password), "s3cret");
  ASSERT_EQ(rx_redis_start(&redis), 0);
  ASSERT_EQ(rx_node_start(&node_a, redis.port, "wrong", NULL), 0);
  ASSERT_EQ(rx_node_start(&node_b, redis.port, NULL, NULL), 0);
  ASSERT_EQ(rx_node_start(&good, redis.port, "s3cret", NULL), 0);
  RX_UNTIL(node_a.saw_auth && node_b.saw_noauth && rx_connected(&good));
  ASSERT_EQ(node_a.saw_auth, 1);
  ASSERT(strstr(node_a.last_log, "authentication to Redis at 127.0.0.1:") !=
         NULL);
  ASSERT(strstr(node_a.last_log, "WRONGPASS") != NULL);
  ASSERT_EQ(node_b.saw_noauth, 1);
  ASSERT(strstr(node_b.last_log, "requires a password") != NULL);
  ASSERT(rx_connected(&good));
  ASSERT(!rx_connected(&node_a));
  ASSERT_STR_EQ(hub_redis_strerror(HUB_REDIS_EAUTH),
                "Redis refused the username or password");

  rx_node_stop(&node_a);
  rx_node_stop(&node_b);
  rx_node_stop(&good);
  rx_redis_kill(&redis);
  ASSERT_EQ(rx_loop_close(), 0);
}

/* Publish on hub:all, as node 77 would (no node here is), a message of
 * len bytes (at most 64), binary or text. */
static void publish_as_77(const void *payload, size_t len, int binary) {
  uint8_t env[HUB_REDIS_ENV_MAX + 64];
  size_t n = hub_redis_env_header(env, 77, binary, 0);

  if (len > 64)
    abort();
  memcpy(env + n, payload, len);
  rx_publish_raw(&redis, "hub:all", env, n + len);
}

static void small_messages(hub_redis_options_t *o) {
  o->max_message = 16;
}

TEST(invalid_and_oversized_messages_from_redis_are_counted_and_ignored) {
  static const uint8_t bad_flags[] = {'h', 'b', 1, 0x80, 0, 0, 0, 0,
                                      0, 0, 0, 9, 'x'};
  char big[17];

  setup();
  ASSERT_EQ(rx_redis_start(&redis), 0);
  ASSERT_EQ(rx_node_start(&node_a, redis.port, NULL, small_messages), 0);
  RX_UNTIL(rx_connected(&node_a) && rx_stats(&node_a).channels == 1);
  ASSERT(rx_connected(&node_a));

  rx_publish_raw(&redis, "hub:all", "garbage", 7);
  rx_publish_raw(&redis, "hub:all", "", 0);
  rx_publish_raw(&redis, "hub:all", bad_flags, sizeof(bad_flags));
  memset(big, 'B', sizeof(big));
  publish_as_77(big, sizeof(big), 0);
  publish_as_77("fine", 4, 0);
  RX_UNTIL(rx_stats(&node_a).received == 1);
  ASSERT_EQ(rx_stats(&node_a).received, 1);
  ASSERT_EQ(rx_stats(&node_a).invalid, 3);
  ASSERT_EQ(rx_stats(&node_a).oversized, 1);
  ASSERT_EQ(rx_msgs(node_a.c[0]), 1);
  ASSERT_EQ(rx_count(node_a.c[0], "fine"), 1);
  ASSERT(rx_connected(&node_a)); /* none of it hurt the connection */
  /* An oversized message is delivered here but not forwarded. */
  ASSERT_EQ(hub_redis_broadcast(node_a.bridge, NULL, "0123456789abcdefg",
                                17, 0), RX_CLIENTS);
  ASSERT_EQ(rx_stats(&node_a).oversized, 2);
  ASSERT_EQ(rx_stats(&node_a).inflight + rx_stats(&node_a).forwarded, 0);

  rx_node_stop(&node_a);
  rx_redis_kill(&redis);
  ASSERT_EQ(rx_loop_close(), 0);
}

/* A transport that records the type of each message it frames (once per
 * message): what the bridge made of a text from Redis. */
static int framed_text, framed_binary;

static int typed_frame(const hub_transport_t *tp, const hub_msg_t *msg,
                       hub_frame_t *frame) {
  (void)tp, (void)frame;
  if (hub_msg_flags(msg) & HUB_MSG_BINARY)
    framed_binary++;
  else
    framed_text++;
  return 0;
}

static const hub_transport_t typed_tp = {.name = "typed",
                                         .frame = typed_frame,
                                         .write = ts_null_write,
                                         .close = ts_null_close};

/* Text that is not UTF-8 would make WebSocket clients fail with 1007:
 * the bridge checks it once, as it arrives, and delivers it as binary. */
TEST(text_from_redis_that_is_not_utf8_is_delivered_as_binary) {
  static const char *const texts[] = {"\xc3\x28 from a TCP line", "fine",
                                      "cut \xe2\x82"};
  hub_client_t *typed;
  size_t i;

  setup();
  framed_text = framed_binary = 0;
  ASSERT_EQ(rx_redis_start(&redis), 0);
  ASSERT_EQ(rx_node_start(&node_a, redis.port, NULL, NULL), 0);
  ASSERT_EQ(hub_register(node_a.hub, &typed_tp, NULL, &typed), 0);
  RX_UNTIL(rx_connected(&node_a) && rx_stats(&node_a).channels == 1);
  ASSERT(rx_connected(&node_a));

  for (i = 0; i < 3; i++)
    publish_as_77(texts[i], strlen(texts[i]), 0);
  /* Binary that is not UTF-8 is simply binary. */
  publish_as_77("\xff\xfe", 2, 1);
  RX_UNTIL(rx_stats(&node_a).received == 4);
  ASSERT_EQ(rx_stats(&node_a).received, 4);
  ASSERT_EQ(rx_stats(&node_a).not_utf8, 2);
  ASSERT_EQ(framed_text, 1);
  ASSERT_EQ(framed_binary, 3);
  /* Delivered all the same, bytes unchanged. */
  ASSERT_EQ(rx_count(node_a.c[0], "\xc3\x28 from a TCP line"), 1);
  ASSERT_EQ(rx_count(node_a.c[0], "cut \xe2\x82"), 1);
  ASSERT_EQ(rx_msgs(node_a.c[0]), 4);
  /* Said once, not once per message. */
  ASSERT_EQ(node_a.logs, 2); /* connected, then the first text */
  ASSERT(strstr(node_a.last_log, "is not UTF-8: delivered as binary") !=
         NULL);

  rx_node_stop(&node_a);
  rx_redis_kill(&redis);
  ASSERT_EQ(rx_loop_close(), 0);
}

static void quick_ping(hub_redis_options_t *o) {
  o->ping_interval_ms = 50;
  o->ping_timeout_ms = 300;
  o->connect_timeout_ms = 300;
}

TEST(a_stuck_redis_is_detected_by_ping_and_left_behind) {
  setup();
  ASSERT_EQ(rx_redis_start(&redis), 0);
  ASSERT_EQ(rx_node_start(&node_a, redis.port, NULL, quick_ping), 0);
  RX_UNTIL(rx_connected(&node_a));
  ASSERT(rx_connected(&node_a));
  rx_redis_signal(&redis, SIGSTOP);
  RX_UNTIL(!rx_connected(&node_a));
  ASSERT(!rx_connected(&node_a));
  ASSERT(node_a.errs[15] == UV_ETIMEDOUT);
  ASSERT(strstr(node_a.last_log, "no answer to PING") != NULL);
  rx_redis_signal(&redis, SIGCONT);
  RX_UNTIL(rx_connected(&node_a) && rx_stats(&node_a).connects == 2);
  ASSERT_EQ(rx_stats(&node_a).connects, 2);

  rx_node_stop(&node_a);
  rx_redis_kill(&redis);
  ASSERT_EQ(rx_loop_close(), 0);
}

/* The resident set of this process, in bytes. */
static long long rss_bytes(void) {
  long long pages = -1, resident = -1;
  FILE *f = fopen("/proc/self/statm", "r");

  if (f != NULL) {
    if (fscanf(f, "%lld %lld", &pages, &resident) != 2)
      resident = -1;
    fclose(f);
  }
  return resident < 0 ? -1 : resident * sysconf(_SC_PAGESIZE);
}

/* AddressSanitizer keeps freed memory in quarantine, and valgrind runs the
 * program on an allocator of its own: the resident set then says nothing
 * of the bridge. */
static int rss_meaningful(void) {
#if defined(__SANITIZE_ADDRESS__)
  return 0;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
  return 0;
#endif
#endif
  return getenv("LD_PRELOAD") == NULL ||
         strstr(getenv("LD_PRELOAD"), "vgpreload") == NULL;
}

#define STALL_BOUND (4u << 20)
#define STALL_MSG (128u << 10)
#define STALL_MSGS 1000 /* max_inflight's default: all fit in flight */

/* No health check: the stall lasts as long as the test wants, and every
 * PUBLISH handed to hiredis stays in flight. */
static void stall_options(hub_redis_options_t *o) {
  o->buffer_bytes = STALL_BOUND;
  o->max_message = 1u << 20;
  o->ping_interval_ms = 0;
}

static int b_listens_far(void) {
  return both_connected() && rx_stats(&node_b).channels == 2;
}

/* A stalled Redis (SIGSTOP) takes nothing: what waits for it, in the
 * buffer and in flight in hiredis's output buffer, stays within
 * buffer_bytes; what does not fit is dropped and counted. SIGCONT, and
 * what waited is forwarded. */
TEST(a_stalled_redis_holds_no_more_than_the_buffer_bound) {
  static char payload[STALL_MSG];
  hub_redis_stats_t st;
  long long rss0, rss1;
  char num[16];
  int i;

  setup();
  memset(payload, 'x', sizeof(payload));
  ASSERT_EQ(rx_redis_start(&redis), 0);
  ASSERT_EQ(rx_node_start(&node_a, redis.port, NULL, stall_options), 0);
  ASSERT_EQ(rx_node_start(&node_b, redis.port, NULL, NULL), 0);
  /* Only B listens to "far": A's clients get nothing, so what A holds is
   * what it holds for Redis. */
  ASSERT_EQ(hub_subscribe(node_b.c[0]->client, "far"), 0);
  RX_UNTIL(b_listens_far());
  ASSERT(b_listens_far());
  ASSERT_EQ(hub_redis_publish(node_a.bridge, NULL, "far", "warm-up", 7, 0),
            0);
  RX_UNTIL(rx_msgs(node_b.c[0]) == 1);
  ASSERT_EQ(rx_msgs(node_b.c[0]), 1);

  rx_redis_signal(&redis, SIGSTOP);
  rss0 = rss_bytes();
  for (i = 0; i < STALL_MSGS; i++) {
    snprintf(num, sizeof(num), "%06d", i);
    memcpy(payload, num, 6); /* no NUL: clients' logs are C strings */
    ASSERT_EQ(hub_redis_publish(node_a.bridge, NULL, "far", payload,
                                sizeof(payload), 0), 0);
    st = rx_stats(&node_a);
    ASSERT(st.buffered_bytes + st.inflight_bytes <= STALL_BOUND);
    /* Let hiredis write what the sockets take. */
    if (i % 50 == 0)
      rx_step();
  }
  rss1 = rss_bytes();
  st = rx_stats(&node_a);
  ASSERT(hub_redis_get_state(node_a.bridge) == HUB_REDIS_CONNECTED);
  ASSERT(st.inflight > 0);
  ASSERT(st.dropped >= STALL_MSGS - 2 * STALL_BOUND / STALL_MSG);
  ASSERT_EQ(st.forwarded + st.dropped + st.inflight + st.buffered_msgs,
            1 + STALL_MSGS);
  ASSERT_EQ(node_a.saw_full, 1); /* said once */
  /* Without the bound, hiredis held all 125 MiB. With it, the buffer and
   * hiredis's output buffer hold 4 MiB each at most. */
  if (getenv("HUB_TEST_VERBOSE") != NULL)
    fprintf(stderr, "  stalled: %llu dropped, %llu in flight (%llu bytes), "
            "%llu buffered (%llu bytes), resident set %+lld KiB\n",
            (unsigned long long)st.dropped, (unsigned long long)st.inflight,
            (unsigned long long)st.inflight_bytes,
            (unsigned long long)st.buffered_msgs,
            (unsigned long long)st.buffered_bytes, (rss1 - rss0) / 1024);
  if (rss_meaningful()) {
    ASSERT(rss0 > 0 && rss1 > 0);
    ASSERT(rss1 - rss0 < 32ll << 20);
  }

  rx_redis_signal(&redis, SIGCONT);
  RX_UNTIL(rx_stats(&node_a).buffered_msgs == 0 &&
           rx_stats(&node_a).inflight == 0);
  st = rx_stats(&node_a);
  ASSERT_EQ(st.inflight + st.inflight_bytes + st.buffered_bytes, 0);
  ASSERT_EQ(st.unconfirmed, 0);
  ASSERT_EQ(st.forwarded + st.dropped, 1 + STALL_MSGS);
  ASSERT_EQ(st.disconnects, 0);
  /* What was forwarded reached B, and new messages go through. */
  ASSERT_EQ(hub_redis_publish(node_a.bridge, NULL, "far", "after", 5, 0), 0);
  RX_UNTIL(rx_count(node_b.c[0], "after") == 1);
  ASSERT_EQ(rx_count(node_b.c[0], "after"), 1);
  ASSERT_EQ(rx_msgs(node_b.c[0]), (int)rx_stats(&node_a).forwarded);

  ASSERT_EQ(two_nodes_down(), 0);
}

TEST(bridge_closed_from_its_log_callback_and_bad_options) {
  hub_redis_options_t o;
  hub_redis_t *b;

  setup();
  ASSERT_EQ(rx_node_start(&node_a, rx_free_port(), NULL, NULL), 0);
  node_a.close_on_log = 1;
  RX_UNTIL(node_a.bridge == NULL && node_a.logs >= 1);
  ASSERT(node_a.bridge == NULL);
  rx_run_for(50);
  ASSERT_EQ(node_a.logs, 1);

  hub_redis_options_init(&o);
  o.port = 0;
  ASSERT_EQ(hub_redis_new(&b, node_a.hub, &o), UV_EINVAL);
  hub_redis_options_init(&o);
  o.host = "";
  ASSERT_EQ(hub_redis_new(&b, node_a.hub, &o), UV_EINVAL);
  hub_redis_options_init(&o);
  o.username = "user"; /* without a password */
  ASSERT_EQ(hub_redis_new(&b, node_a.hub, &o), UV_EINVAL);
  hub_redis_options_init(&o);
  o.buffer_msgs = 0;
  ASSERT_EQ(hub_redis_new(&b, node_a.hub, &o), UV_EINVAL);
  ASSERT_EQ(hub_redis_new(NULL, node_a.hub, NULL), UV_EINVAL);
  ASSERT_EQ(hub_redis_close(NULL, NULL), UV_EINVAL);
  ASSERT_STR_EQ(hub_redis_state_name(HUB_REDIS_DISCONNECTED),
                "disconnected");
  ASSERT_STR_EQ(hub_redis_state_name(HUB_REDIS_CLOSING), "closing");
  ASSERT_STR_EQ(hub_redis_state_name((hub_redis_state_t)4), "unknown");

  /* Misuse of a live bridge. */
  hub_redis_options_init(&o);
  o.port = rx_free_port();
  ASSERT_EQ(hub_redis_new(&b, node_a.hub, &o), 0);
  ASSERT_EQ(hub_redis_topic_changed(b, "", 1), UV_EINVAL);
  {
    char longname[HUB_TOPIC_MAX + 2];
    memset(longname, 'x', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    ASSERT_EQ(hub_redis_topic_changed(b, longname, 1), UV_ENAMETOOLONG);
  }
  ASSERT_EQ(hub_redis_broadcast(b, NULL, "x", 1, HUB_MSG_RAW), UV_EINVAL);
  ASSERT_EQ(hub_redis_publish(b, NULL, NULL, "x", 1, 0), UV_EINVAL);
  ASSERT_EQ(hub_redis_close(b, NULL), 0);
  ASSERT_EQ(hub_redis_close(b, NULL), HUB_ECLOSING);
  ASSERT_EQ(hub_redis_broadcast(b, NULL, "x", 1, 0), HUB_ECLOSING);

  rx_node_stop(&node_a);
  ASSERT_EQ(rx_loop_close(), 0);
}

int main(int argc, char **argv) {
  signal(SIGPIPE, SIG_IGN);
  return RUN_TESTS(argc, argv);
}
