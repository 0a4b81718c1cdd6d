/* Command-line flags of the hub's own options that both example programs
 * take, parsed in one place. Not part of libhub's API.
 *
 * In a program's table of flags (hubx-cli.h): hubx_hub_flags(); in its
 * --help, HUBX_HUB_SYNOPSIS and HUBX_HUB_HELP. */
#ifndef HUBX_FLAGS_H
#define HUBX_FLAGS_H

#include <stddef.h>

#include "hub.h"
#include "hubx-cli.h"

/* The programs' room history, unless --history says otherwise. */
#define HUBX_HISTORY_DEFAULT 1000
#define HUBX_HISTORY_BYTES_DEFAULT ((size_t)1 << 20)

#define HUBX_HUB_SYNOPSIS                                                    \
  "[--slow-after SECONDS] [--max-total-queue N] [--history N]\n"             \
  "                    [--history-bytes N]"

#define HUBX_HUB_HELP                                                        \
  "  --slow-after SECONDS   how long a client's socket may refuse data\n"   \
  "                         before its policy applies; meanwhile the\n"      \
  "                         senders wait (decimals allowed; default 0.5;\n" \
  "                         0: at once)\n"                                   \
  "  --max-total-queue N    memory budget: payload bytes queued over all\n" \
  "                         clients at most; past it the policy acts on\n"  \
  "                         the clients holding the most (default 0:\n"     \
  "                         none)\n"                                         \
  "  --history N            messages each room keeps for clients that\n"     \
  "                         resume (default 1000; 0: no history, no ids)\n"  \
  "  --history-bytes N      payload bytes each room keeps at most\n"          \
  "                         (default 1M)\n"

/* hub_options_init() and the programs' own defaults (room history). */
void hubx_hub_options_init(hub_options_t *opts);

/* The flags, setting `opts`, into `out` (HUBX_HUB_NFLAGS of them). */
#define HUBX_HUB_NFLAGS 4
void hubx_hub_flags(hub_options_t *opts, hubx_opt_t *out);

/* The hub's final statistics on stderr, for the programs' last words:
 * "PROG: final stats: ..." and, when publishes had to wait for readers'
 * sockets or the memory budget acted, a line saying how often. */
void hubx_print_final_stats(const char *prog, const hub_stats_t *st);
/* The same lines at any time, "PROG: WHAT: ..." (SIGUSR1: "stats"). */
void hubx_print_stats(const char *prog, const char *what,
                      const hub_stats_t *st);

#endif /* HUBX_FLAGS_H */
