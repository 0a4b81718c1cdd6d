/* Built against the current header: the structs of the frozen header must
 * have kept their sizes and the offsets of their fields (new fields take
 * reserved space), and the frozen program must run (caller.c). */
#include <stdio.h>

#include <hub.h> /* the current header */

#include "abi.h"

static int same(const char *what, size_t frozen, size_t now) {
  if (frozen == now)
    return 1;
  fprintf(stderr, "abi: %s was %zu, is %zu\n", what, frozen, now);
  return 0;
}

int main(void) {
  abi_layout_t f;
  int ok = 1;

  abi_frozen_layout(&f);
  ok &= same("sizeof(hub_options_t)", f.options, sizeof(hub_options_t));
  ok &= same("offsetof(hub_options_t, history_idle_topics)", f.options_last,
             offsetof(hub_options_t, history_idle_topics));
  ok &= same("sizeof(hub_stats_t)", f.stats, sizeof(hub_stats_t));
  ok &= same("offsetof(hub_stats_t, history_bytes)", f.stats_last,
             offsetof(hub_stats_t, history_bytes));
  ok &= same("sizeof(hub_client_stats_t)", f.client_stats,
             sizeof(hub_client_stats_t));
  ok &= same("offsetof(hub_client_stats_t, ctrl_queued)",
             f.client_stats_last, offsetof(hub_client_stats_t, ctrl_queued));
  ok &= same("sizeof(hub_transport_t)", f.transport,
             sizeof(hub_transport_t));
  ok &= same("offsetof(hub_transport_t, data)", f.transport_last,
             offsetof(hub_transport_t, data));
  ok &= same("sizeof(hub_frame_t)", f.frame, sizeof(hub_frame_t));
  ok &= same("sizeof(hub_allocator_t)", f.allocator,
             sizeof(hub_allocator_t));
  if (!ok)
    return 1;
  if (abi_frozen_run() != 0)
    return 1;
  printf("a program built against libhub 0.2.0's header runs against "
         "libhub %s\n", hub_version_string());
  return 0;
}
