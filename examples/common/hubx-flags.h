/* Command-line flags of the hub's own options that both example programs
 * take, parsed in one place. Not part of libhub's API.
 *
 * In a program's getopt_long() table: HUBX_HUB_LONGOPTS; in its loop,
 * before its own cases:
 *   r = hubx_hub_parse_opt(&cfg->hub, opt, optarg, err, sizeof(err));
 *   if (r < 0) bad_usage("%s", err); else if (r > 0) continue;
 * and HUBX_HUB_HELP in its --help. */
#ifndef HUBX_FLAGS_H
#define HUBX_FLAGS_H

#include <getopt.h>
#include <stddef.h>

#include "hub.h"

/* getopt_long() values; far from any short option, a program's own and
 * the Redis flags' (0x5200). */
enum {
  HUBX_O_SLOW_AFTER = 0x5300,
  HUBX_O_MAX_TOTAL_QUEUE,
  HUBX_O_HISTORY,
  HUBX_O_HISTORY_BYTES
};

/* The programs' room history, unless --history says otherwise. */
#define HUBX_HISTORY_DEFAULT 1000
#define HUBX_HISTORY_BYTES_DEFAULT ((size_t)1 << 20)

#define HUBX_HUB_LONGOPTS                                                    \
  {"slow-after", required_argument, NULL, HUBX_O_SLOW_AFTER},                \
  {"max-total-queue", required_argument, NULL, HUBX_O_MAX_TOTAL_QUEUE},      \
  {"history", required_argument, NULL, HUBX_O_HISTORY},                      \
  {"history-bytes", required_argument, NULL, HUBX_O_HISTORY_BYTES}

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

/* 1 if `opt` was one of these flags and was applied to `opts`, 0 if it
 * is not one of them, -1 with a message in err (errlen bytes). */
int hubx_hub_parse_opt(hub_options_t *opts, int opt, const char *arg,
                       char *err, size_t errlen);

/* The hub's final statistics on stderr, for the programs' last words:
 * "PROG: final stats: ..." and, when publishes had to wait for readers'
 * sockets or the memory budget acted, a line saying how often. */
void hubx_print_final_stats(const char *prog, const hub_stats_t *st);
/* The same lines at any time, "PROG: WHAT: ..." (SIGUSR1: "stats"). */
void hubx_print_stats(const char *prog, const char *what,
                      const hub_stats_t *st);

#endif /* HUBX_FLAGS_H */
