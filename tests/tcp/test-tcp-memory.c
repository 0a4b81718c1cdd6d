/* What an idle connection costs the server in heap memory: the adapter's
 * connection object (with its uv_tcp_t) and the hub's client, measured
 * over many connections with glibc's mallinfo2(), the hub's part counted
 * apart through its allocator hook.
 *
 * Not run under AddressSanitizer or valgrind, whose allocators glibc's
 * statistics do not see. */
#include <malloc.h>
#include <stdio.h>

#include "tcp-fixture.h"

#ifndef TS_UNDER_ASAN
enum { N = 100 };

static fx_t fx;

/* Connect N clients and wait until each has `lines` lines. */
static int connect_many(int lines) {
  int i, first = fx.ntc;

  for (i = 0; i < N; i++)
    if (fx_client(&fx, 0) < 0)
      return -1;
  if (lines > 0 && tc_send_str(&fx, first, "x\n") != 0)
    return -1;
  for (i = first; i < first + N; i++) {
    UNTIL(&fx, tc_lines(&fx.tc[i]) >= (size_t)lines);
    if (tc_lines(&fx.tc[i]) != (size_t)lines)
      return -1;
  }
  return 0;
}

TEST(idle_connection_is_small) {
  hub_options_t ho;
  size_t before, hub_before, total, hub_part, adapter, after_msg;
  int i;

  hub_options_init(&ho);
  ho.allocator = &ts_heap_allocator;
  ASSERT_EQ(fx_start(&fx, &ho, NULL), 0);
  /* A first round grows what the loop keeps per descriptor number, and
   * the test's own arrays, so that the measured round adds connections
   * only. It also sends a line, as the measured round will. */
  ASSERT_EQ(connect_many(1), 0);
  for (i = 0; i < N; i++)
    tc_close(&fx.tc[i]);
  UNTIL(&fx, fx.nclosed == N);
  ASSERT_EQ(fx.nclosed, N);

  before = ts_heap_in_use();
  hub_before = ts_heap_bytes;
  ASSERT_EQ(connect_many(0), 0);
  /* Differences of unsigned counts: check their order first, so that a
   * shrinking heap fails here rather than wrapping into a huge figure. */
  ASSERT(ts_heap_in_use() >= before && ts_heap_bytes >= hub_before);
  total = (ts_heap_in_use() - before) / N;
  hub_part = (ts_heap_bytes - hub_before) / N;
  ASSERT(total >= hub_part);
  adapter = total - hub_part;
  printf("# heap per idle connection: %zu bytes: adapter %zu "
         "(uv_poll_t is %zu), hub client %zu\n",
         total, adapter, sizeof(uv_poll_t), hub_part);
  /* The adapter adds little to libuv's handle: a client pointer, the
   * idle-list links, the partial-line pointer, a timestamp, and glibc's
   * chunk header: 208 bytes in all. */
  ASSERT(adapter <= sizeof(uv_poll_t) + 48);
  /* The hub's client: 208 bytes (with the broadcast stream's cursor), a
   * 224-byte chunk. */
  ASSERT(hub_part <= 224);
  ASSERT(hub_part > 0);

  /* After one message each: what the hub's client keeps once its queue
   * has been used (the adapter itself keeps nothing more). */
  hub_before = ts_heap_bytes;
  before = ts_heap_in_use();
  ASSERT_EQ(tc_send_str(&fx, N, "x\n"), 0);
  for (i = N; i < 2 * N; i++) {
    UNTIL(&fx, tc_lines(&fx.tc[i]) == 1);
    ASSERT_EQ(tc_lines(&fx.tc[i]), 1);
  }
  after_msg = (ts_heap_bytes - hub_before) / N;
  printf("# the hub keeps %zu more bytes per client after one message\n",
         after_msg);
  ASSERT_EQ(fx_tcp_stats(&fx).partial_bytes, 0);
  ASSERT_EQ(fx_stop(&fx), 0);
}
#else
TEST(idle_connection_is_small) {
  printf("# skipped under AddressSanitizer\n");
}
#endif

int main(int argc, char **argv) {
  return RUN_TESTS(argc, argv);
}
