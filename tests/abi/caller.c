/* A program built against a frozen copy of libhub's header (-I to the
 * copy), linked with the library being tested. It runs the structs that
 * cross the boundary through the library with guard bytes after each:
 * the library must write no byte past the struct the program knows, and
 * read what the program wrote where the program wrote it. */
#include <stdio.h>
#include <string.h>

#include <hub.h> /* the frozen copy */

#include "abi.h"

#define GUARD 0xA5
#define GUARD_LEN 64

static char out[64];
static size_t out_len;

static int write_cb(const hub_transport_t *tp, hub_client_t *c, void *conn,
                    uv_buf_t *bufs, unsigned nbufs) {
  unsigned i;

  (void)tp, (void)c, (void)conn;
  for (i = 0; i < nbufs; i++) {
    if (out_len + bufs[i].len > sizeof(out))
      return UV_ENOBUFS;
    memcpy(out + out_len, bufs[i].base, bufs[i].len);
    out_len += bufs[i].len;
  }
  return HUB_WRITE_DONE;
}

static void close_cb(const hub_transport_t *tp, hub_client_t *c,
                     void *conn) {
  (void)tp, (void)conn;
  hub_client_closed(c);
}

static int guard_ok(const unsigned char *g, const char *what) {
  size_t i;

  for (i = 0; i < GUARD_LEN; i++)
    if (g[i] != GUARD) {
      fprintf(stderr, "abi: the library wrote past %s (byte %zu after it)\n",
              what, i);
      return 0;
    }
  return 1;
}

#define CHECK(cond)                                                          \
  do {                                                                       \
    if (!(cond)) {                                                           \
      fprintf(stderr, "abi: %s:%d: %s\n", __FILE__, __LINE__, #cond);        \
      return 1;                                                              \
    }                                                                        \
  } while (0)

void abi_frozen_layout(abi_layout_t *l) {
  l->options = sizeof(hub_options_t);
  l->options_last = offsetof(hub_options_t, history_idle_topics);
  l->stats = sizeof(hub_stats_t);
  l->stats_last = offsetof(hub_stats_t, history_bytes);
  l->client_stats = sizeof(hub_client_stats_t);
  l->client_stats_last = offsetof(hub_client_stats_t, ctrl_queued);
  l->transport = sizeof(hub_transport_t);
  l->transport_last = offsetof(hub_transport_t, data);
  l->frame = sizeof(hub_frame_t);
  l->allocator = sizeof(hub_allocator_t);
}

int abi_frozen_run(void) {
  static const hub_transport_t tp = {.name = "abi", .write = write_cb,
                                     .close = close_cb};
  struct {
    hub_options_t o;
    unsigned char guard[GUARD_LEN];
  } opts;
  struct {
    hub_stats_t s;
    unsigned char guard[GUARD_LEN];
  } st;
  struct {
    hub_client_stats_t s;
    unsigned char guard[GUARD_LEN];
  } cst;
  hub_client_t *client;
  hub_t *hub;
  uv_loop_t loop;

  CHECK(hub_version() >= HUB_VERSION_HEX);
  CHECK((hub_version() >> 16) == HUB_VERSION_MAJOR);
  memset(&opts, GUARD, sizeof(opts));
  hub_options_init(&opts.o);
  CHECK(guard_ok(opts.guard, "hub_options_t (hub_options_init)"));
  CHECK(opts.o.max_queue_msgs == 256 && opts.o.history_idle_topics == 1024);
  opts.o.max_queue_msgs = 4;
  opts.o.history_msgs = 8;
  CHECK(uv_loop_init(&loop) == 0);
  CHECK(hub_new(&hub, &loop, &opts.o) == 0);
  CHECK(hub_register(hub, &tp, NULL, &client) == 0);
  CHECK(hub_broadcast(hub, "hello", 5, 0) == 1);
  CHECK(uv_run(&loop, UV_RUN_NOWAIT) >= 0);
  CHECK(out_len == 5 && memcmp(out, "hello", 5) == 0);

  memset(&st, GUARD, sizeof(st));
  hub_get_stats(hub, &st.s);
  CHECK(guard_ok(st.guard, "hub_stats_t (hub_get_stats)"));
  CHECK(st.s.clients == 1 && st.s.broadcasts == 1 &&
        st.s.msgs_delivered == 1 && st.s.history_msgs == 1);
  memset(&cst, GUARD, sizeof(cst));
  client_get_stats(client, &cst.s);
  CHECK(guard_ok(cst.guard, "hub_client_stats_t (client_get_stats)"));
  CHECK(cst.s.msgs_delivered == 1 && cst.s.bytes_delivered == 5 &&
        cst.s.queued_msgs == 0);

  CHECK(client_close(client, 0) == 0);
  CHECK(hub_close(hub, 0, NULL) == 0);
  CHECK(uv_run(&loop, UV_RUN_DEFAULT) == 0);
  CHECK(uv_loop_close(&loop) == 0);
  return 0;
}
