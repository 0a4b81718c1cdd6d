/* The public structs of libhub 0.2.0 and its adapters, as their sizes
 * were released on 64-bit Linux (LP64): a field added later must take
 * reserved space, not grow a struct; the reserved
 * space only shrinks from its start (include/hub.h, "Binary
 * compatibility"). Compiled against the current headers; a struct that
 * grew fails the build of this test. */
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <hub-redis.h>
#include <hub-tcp.h>
#include <hub-ws.h>
#include <hub.h>

#define SIZE(type, size, reserved_at)                                        \
  _Static_assert(sizeof(type) == (size) &&                                   \
                     offsetof(type, reserved) >= (reserved_at),              \
                 #type " changed size, or a field moved")

#if UINTPTR_MAX == UINT64_MAX && ULONG_MAX == UINT64_MAX
SIZE(hub_options_t, 272, 144);
SIZE(hub_stats_t, 320, 192);
SIZE(hub_client_stats_t, 160, 96);
SIZE(hub_transport_t, 72, 40);
SIZE(hub_tcp_options_t, 224, 96);
SIZE(hub_tcp_stats_t, 208, 80);
SIZE(hub_ws_options_t, 320, 192);
SIZE(hub_ws_stats_t, 304, 176);
SIZE(hub_redis_options_t, 288, 160);
SIZE(hub_redis_stats_t, 384, 256);
#endif

int main(void) {
  printf("the public structs keep their 0.2.0 sizes\n");
  return 0;
}
