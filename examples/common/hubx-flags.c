/* The hub's flags of the example programs. See hubx-flags.h. */
#include "hubx-flags.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>


void hubx_hub_options_init(hub_options_t *opts) {
  hub_options_init(opts);
  opts->history_msgs = HUBX_HISTORY_DEFAULT;
  opts->history_bytes = HUBX_HISTORY_BYTES_DEFAULT;
}

void hubx_hub_flags(hub_options_t *opts, hubx_opt_t *out) {
  const hubx_opt_t flags[HUBX_HUB_NFLAGS] = {
    {"slow-after", HUBX_OPT_SECONDS, &opts->slow_after_ms, 0, 86400000,
     "expected seconds from 0 to 86400", NULL},
    {"max-total-queue", HUBX_OPT_SIZE, &opts->max_total_queue_bytes, 0,
     SIZE_MAX / 2, "expected a size (0 for none)", NULL},
    {"history", HUBX_OPT_SIZE, &opts->history_msgs, 0, 1u << 24,
     "expected a count from 0 to 16M", NULL},
    {"history-bytes", HUBX_OPT_SIZE, &opts->history_bytes, 1, SIZE_MAX / 2,
     "expected a size of at least 1", NULL},
  };

  memcpy(out, flags, sizeof(flags));
}

void hubx_print_final_stats(const char *prog, const hub_stats_t *st) {
  hubx_print_stats(prog, "final stats", st);
}

void hubx_print_stats(const char *prog, const char *what,
                      const hub_stats_t *st) {
  fprintf(stderr,
          "%s: %s: clients %llu (%llu dropped as slow), "
          "broadcasts %llu, delivered %llu messages (%llu bytes), "
          "dropped %llu messages (%llu bytes)\n",
          prog, what, (unsigned long long)st->clients_total,
          (unsigned long long)st->clients_dropped,
          /* Every message goes to a room: a publish to its topic. */
          (unsigned long long)(st->broadcasts + st->publishes),
          (unsigned long long)st->msgs_delivered,
          (unsigned long long)st->bytes_delivered,
          (unsigned long long)st->msgs_dropped,
          (unsigned long long)st->bytes_dropped);
  if (st->waits > 0 || st->budget_actions > 0)
    fprintf(stderr,
            "%s: bursts: %llu publishes waited for readers' sockets "
            "(%llu refused), memory budget acted %llu times\n",
            prog, (unsigned long long)st->waits,
            (unsigned long long)st->waits_refused,
            (unsigned long long)st->budget_actions);
}
