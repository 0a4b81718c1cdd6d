/* Error codes, version, and invalid arguments: every misuse returns an
 * error, never crashes; free functions accept NULL. */
#include "fixture.h"

TEST(error_names_and_messages) {
  ASSERT_STR_EQ(hub_err_name(HUB_EQFULL), "HUB_EQFULL");
  ASSERT_STR_EQ(hub_err_name(HUB_ESLOW), "HUB_ESLOW");
  ASSERT_STR_EQ(hub_err_name(HUB_ECLOSING), "HUB_ECLOSING");
  ASSERT_STR_EQ(hub_err_name(HUB_EMSGSIZE), "HUB_EMSGSIZE");
  ASSERT_STR_EQ(hub_strerror(HUB_ESLOW),
                "client disconnected as a slow consumer");
  ASSERT_STR_EQ(hub_err_name(UV_ENOMEM), "ENOMEM");
  ASSERT_STR_EQ(hub_strerror(UV_EINVAL), uv_strerror(UV_EINVAL));
  ASSERT_STR_EQ(hub_err_name(0), "OK");
  ASSERT_STR_EQ(hub_strerror(-123456), "unknown error");
  ASSERT_STR_EQ(hub_err_name(-123456), "UNKNOWN");
  /* libhub's codes never collide with libuv's. */
#define CHECK_DISTINCT(name, value, msg) ASSERT(value < -4096 - 1000);
  HUB_ERRNO_MAP(CHECK_DISTINCT)
#undef CHECK_DISTINCT
}

TEST(version_matches_header) {
  char want[32];
  ASSERT_EQ(hub_version(), HUB_VERSION_HEX);
  snprintf(want, sizeof(want), "%d.%d.%d", HUB_VERSION_MAJOR,
           HUB_VERSION_MINOR, HUB_VERSION_PATCH);
  ASSERT_STR_EQ(hub_version_string(), want);
}

static void *only_malloc(size_t size, void *ud) {
  (void)ud;
  return malloc(size);
}

TEST(hub_new_rejects_bad_options) {
  uv_loop_t loop;
  hub_options_t o;
  hub_allocator_t half = {only_malloc, NULL, NULL, NULL};
  hub_t *hub = NULL;

  ASSERT_EQ(uv_loop_init(&loop), 0);
  ASSERT_EQ(hub_new(NULL, &loop, NULL), UV_EINVAL);
  ASSERT_EQ(hub_new(&hub, NULL, NULL), UV_EINVAL);
  hub_options_init(&o);
  o.max_queue_msgs = 0;
  ASSERT_EQ(hub_new(&hub, &loop, &o), UV_EINVAL);
  hub_options_init(&o);
  o.max_queue_bytes = 0;
  ASSERT_EQ(hub_new(&hub, &loop, &o), UV_EINVAL);
  /* Queue byte counts are 32-bit: 4 GiB and more is refused. */
  o.max_queue_bytes = (size_t)UINT32_MAX + (SIZE_MAX > UINT32_MAX);
  ASSERT_EQ(hub_new(&hub, &loop, &o) == UV_EINVAL, SIZE_MAX > UINT32_MAX);
  if (hub != NULL) {
    hub_close(hub, 0, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    hub = NULL;
  }
  hub_options_init(&o);
  o.policy = (hub_policy_t)7;
  ASSERT_EQ(hub_new(&hub, &loop, &o), UV_EINVAL);
  hub_options_init(&o);
  o.allocator = &half;
  ASSERT_EQ(hub_new(&hub, &loop, &o), UV_EINVAL);
  ASSERT(hub == NULL);
  ASSERT_EQ(uv_loop_close(&loop), 0);
}

TEST(invalid_arguments_return_errors) {
  fx f;
  fx other;
  mem_conn *c;
  hub_msg_t *msg, *foreign;
  hub_stats_t st;
  hub_client_stats_t cs;
  hub_transport_t no_write = {.name = "broken"};

  ASSERT_EQ(fx_init(&f, NULL), 0);
  ASSERT_EQ(fx_init(&other, NULL), 0);
  ASSERT((c = fx_conn(&f, MEM_WRITE_SYNC, MEM_CLOSE_SYNC)) != NULL);
  ASSERT_EQ(hub_register(NULL, &f.mt.tp, NULL, &c->client), UV_EINVAL);
  ASSERT_EQ(hub_register(f.hub, NULL, NULL, &c->client), UV_EINVAL);
  ASSERT_EQ(hub_register(f.hub, &f.mt.tp, NULL, NULL), UV_EINVAL);
  ASSERT_EQ(hub_register(f.hub, &no_write, NULL, &c->client), UV_EINVAL);
  ASSERT_EQ(hub_broadcast(NULL, "x", 1, 0), UV_EINVAL);
  ASSERT_EQ(hub_broadcast(f.hub, NULL, 1, 0), UV_EINVAL);
  ASSERT_EQ(hub_broadcast(f.hub, "x", 1, 1u << 9), UV_EINVAL);
  ASSERT_EQ(hub_broadcast(f.hub, "x", 1, HUB_MSG_CONTROL), UV_EINVAL);
  ASSERT_EQ(hub_broadcast(f.hub, NULL, 0, 0), 1); /* empty is fine */
  ASSERT_EQ(client_send(NULL, "x", 1, 0), UV_EINVAL);
  ASSERT_EQ(client_send(c->client, NULL, 3, 0), UV_EINVAL);
  ASSERT_EQ(client_send(c->client, "x", 1, 1u << 9), UV_EINVAL);
  ASSERT_EQ(client_close(NULL, 0), UV_EINVAL);
  ASSERT_EQ(client_shutdown(NULL, 0), UV_EINVAL);
  {
    void *p = hub_mem_alloc(f.hub, 16);
    long live = f.ca.live;
    ASSERT(p != NULL);
    ASSERT((p = hub_mem_realloc(f.hub, p, 32)) != NULL);
    ASSERT_EQ(f.ca.live, live); /* counted by the hub's allocator */
    hub_mem_free(f.hub, p);
    ASSERT_EQ(f.ca.live, live - 1);
    hub_mem_free(f.hub, NULL);
    ASSERT(hub_mem_alloc(NULL, 1) == NULL);
  }
  ASSERT_EQ(hub_close(NULL, 0, NULL), UV_EINVAL);
  ASSERT_EQ(hub_set_policy(NULL, HUB_POLICY_DISCONNECT), UV_EINVAL);
  ASSERT_EQ(hub_msg_new(NULL, "x", 1, 0, &msg), UV_EINVAL);
  ASSERT_EQ(hub_msg_new(f.hub, NULL, 1, 0, &msg), UV_EINVAL);
  ASSERT_EQ(hub_msg_new(f.hub, "x", 1, 0, NULL), UV_EINVAL);
  ASSERT_EQ(hub_msg_new_zc(f.hub, NULL, 1, 0, NULL, NULL, &msg), UV_EINVAL);
  ASSERT_EQ(hub_broadcast_msg(f.hub, NULL, NULL), UV_EINVAL);
  ASSERT_EQ(client_send_msg(c->client, NULL), UV_EINVAL);
  /* A message belongs to the hub that made it. */
  ASSERT_EQ(hub_msg_new(other.hub, "x", 1, 0, &foreign), 0);
  ASSERT_EQ(hub_broadcast_msg(f.hub, NULL, foreign), UV_EINVAL);
  ASSERT_EQ(client_send_msg(c->client, foreign), UV_EINVAL);
  hub_msg_unref(foreign);
  /* NULL-tolerant accessors and free functions. */
  hub_msg_unref(NULL);
  ASSERT(hub_msg_ref(NULL) == NULL);
  ASSERT(hub_msg_data(NULL) == NULL);
  ASSERT_EQ(hub_msg_len(NULL), 0);
  hub_get_stats(NULL, &st);
  hub_get_stats(f.hub, NULL);
  client_get_stats(NULL, &cs);
  client_get_stats(c->client, NULL);
  hub_client_write_done(NULL, 0);
  hub_client_closed(NULL);
  hub_client_write_done(c->client, 0); /* nothing in flight: ignored */
  ASSERT(client_get_hub(NULL) == NULL);
  ASSERT(client_get_data(NULL) == NULL);
  ASSERT(hub_get_loop(NULL) == NULL);
  ASSERT(hub_frame_alloc(NULL, 4) == NULL);
  ASSERT(client_is_closing(NULL));
  hub_options_init(NULL);
  ASSERT_EQ(fx_finish(&f), 0);
  ASSERT_EQ(fx_finish(&other), 0);
  mem_conn_free(c);
}

int main(int argc, char **argv) {
  return RUN_TESTS(argc, argv);
}
