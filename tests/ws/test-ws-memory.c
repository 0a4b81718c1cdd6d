/* What an idle WebSocket connection costs the server in heap memory: the
 * adapter's connection object (with its uv_tcp_t) and the hub's client,
 * measured over many connections with glibc's mallinfo2(), the hub's part
 * counted apart through its allocator hook. Every connection has sent and
 * received messages first, so that anything a connection keeps after
 * reading or writing shows.
 *
 * Not run under AddressSanitizer or valgrind, whose allocators glibc's
 * statistics do not see. */
#include <malloc.h>
#include <stdio.h>

#include "hub-ws-int.h"
#include "ws-fixture.h"

#ifndef TS_UNDER_ASAN
enum { N = 200 };

static fx_t fx;

/* Every client sends one message (a large one, gathered across reads,
 * for every tenth) and receives every client's. */
static int chat_round(int first, int n) {
  static char big[20000];
  tc_frame_t f;
  uint64_t want = fx.messages + (uint64_t)n;
  int i, j;

  memset(big, 'b', sizeof(big));
  for (i = first; i < first + n; i++)
    if (tc_send_frame(&fx, i, 1, 0x2, big, i % 10 == 0 ? sizeof(big) : 16))
      return -1;
  UNTIL(&fx, fx.messages == want);
  for (i = first; i < first + n; i++)
    for (j = 0; j < n; j++)
      if (!fx_next_frame(&fx, i, &f))
        return -1;
  return 0;
}

/* With `deflate`, the server accepts permessage-deflate and every client
 * offers it, as browsers do: the same bounds hold. */
static void measure(int deflate, size_t *per_conn) {
  hub_options_t ho;
  hub_ws_options_t wo;
  hub_ws_stats_t st;
  size_t heap0, hub0, total, hub, adapter;
  int i;

  hub_options_init(&ho);
  ho.allocator = &ts_heap_allocator;
  hub_ws_options_init(&wo);
  wo.deflate = deflate;
  ASSERT_EQ(fx_start(&fx, &ho, &wo), 0);
  if (deflate)
    fx.client_headers = "Sec-WebSocket-Extensions: permessage-deflate; "
                        "client_max_window_bits\r\n";
  /* Warm up: the server's shared buffers and pools, the loop's own
   * allocations, the fixture's client-side buffers. */
  for (i = 0; i < 20; i++)
    ASSERT_EQ(fx_ws_client(&fx, 0), i);
  ASSERT_EQ(chat_round(0, 20), 0);
  for (i = 0; i < 20; i++)
    fx.tc[i].paused = 1; /* their buffers no longer grow */

  heap0 = ts_heap_in_use();
  hub0 = ts_heap_bytes;
  for (i = 20; i < 20 + N; i++)
    ASSERT_EQ(fx_ws_client(&fx, 0), i);
  ASSERT_EQ(chat_round(20, 10), 0);
  fx_wait(&fx, 20);
  /* The clients' receive buffers live in this process too: drop them
   * from the count. */
  ASSERT(ts_heap_in_use() >= heap0);
  total = ts_heap_in_use() - heap0;
  for (i = 20; i < 20 + N; i++) {
    ASSERT(total >= ts_heap_chunk(fx.tc[i].in));
    total -= ts_heap_chunk(fx.tc[i].in);
  }
  /* Differences of unsigned counts: check their order first, so that a
   * shrinking heap fails here rather than wrapping into a huge figure. */
  ASSERT(ts_heap_bytes >= hub0);
  hub = ts_heap_bytes - hub0;
  ASSERT(total >= hub);
  adapter = total - hub;
  st = fx_ws_stats(&fx);
  printf("# per idle connection%s: %zu bytes, adapter %zu, hub %zu\n",
         deflate ? " with permessage-deflate" : "", total / N, adapter / N,
         hub / N);
  ASSERT_EQ(st.deflate_connections, deflate ? 20 + N : 0);
  /* The large messages went out compressed, once each. */
  ASSERT_EQ(st.deflated, deflate ? 2 + 1 : 0);
  printf("# reader state now: %llu connections, %llu contexts, %llu bytes\n",
         (unsigned long long)st.rx_states,
         (unsigned long long)st.rx_contexts,
         (unsigned long long)st.rx_buffered);
  ASSERT_EQ(st.rx_states, 0);
  ASSERT_EQ(st.rx_buffered, 0);
  /* The adapter: one object with libuv's 248-byte uv_tcp_t, and nothing
   * else: no parser state, no buffer, no timer, no write request. The
   * slack is libuv's per-descriptor table, which grows with the test's
   * own client sockets too. */
  printf("# the connection object: %zu bytes\n", sizeof(hub_ws__conn_t));
  ASSERT(sizeof(hub_ws__conn_t) <= 200);
  ASSERT(adapter / N <= sizeof(hub_ws__conn_t) + sizeof(size_t) + 32);
  *per_conn = total / N;
  ASSERT_EQ(fx_stop(&fx), 0);
}

/* Without, then with permessage-deflate: no zlib state, nor anything
 * else, per connection (a few bytes of slack for the heap's noise). */
TEST(an_idle_connection_costs_a_few_hundred_bytes_deflate_or_not) {
  size_t plain = 0, deflate = 0;

  measure(0, &plain);
  ASSERT(plain > 0);
  measure(1, &deflate);
  ASSERT(deflate > 0);
  ASSERT(deflate <= plain + 16);
}
#else
TEST(skipped_under_sanitizers) {
}
#endif

int main(int argc, char **argv) {
  return RUN_TESTS(argc, argv);
}
