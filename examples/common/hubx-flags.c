/* The hub's flags of the example programs. See hubx-flags.h. */
#include "hubx-flags.h"

#include <stdio.h>
#include <stdlib.h>

#include "hubx-cli.h"

void hubx_hub_options_init(hub_options_t *opts) {
  hub_options_init(opts);
  opts->history_msgs = HUBX_HISTORY_DEFAULT;
  opts->history_bytes = HUBX_HISTORY_BYTES_DEFAULT;
}

int hubx_hub_parse_opt(hub_options_t *opts, int opt, const char *arg,
                       char *err, size_t errlen) {
  switch (opt) {
  case HUBX_O_HISTORY:
    if (hubx_parse_size(arg, 0, 1u << 24, &opts->history_msgs) != 0) {
      snprintf(err, errlen, "--history: expected a count from 0 to 16M, "
               "got '%s'", arg);
      return -1;
    }
    return 1;
  case HUBX_O_HISTORY_BYTES:
    if (hubx_parse_size(arg, 1, SIZE_MAX / 2, &opts->history_bytes) != 0) {
      snprintf(err, errlen, "--history-bytes: expected a size of at least "
               "1, got '%s'", arg);
      return -1;
    }
    return 1;
  case HUBX_O_SLOW_AFTER:
    if (hubx_parse_seconds(arg, 86400000, &opts->slow_after_ms) != 0) {
      snprintf(err, errlen, "--slow-after: expected seconds from 0 to "
               "86400, got '%s'", arg);
      return -1;
    }
    return 1;
  case HUBX_O_MAX_TOTAL_QUEUE:
    if (hubx_parse_size(arg, 0, SIZE_MAX / 2,
                        &opts->max_total_queue_bytes) != 0) {
      snprintf(err, errlen, "--max-total-queue: expected a size (0 for "
               "none), got '%s'", arg);
      return -1;
    }
    return 1;
  default:
    return 0;
  }
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
