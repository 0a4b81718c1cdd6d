/* --redis and its companion flags for the example programs: parse them,
 * read the password, make the bridge, and log what it reports. Not part
 * of libhub's API.
 *
 * The programs' skeleton (examples/common/hubx-app.c) is their one user,
 * which the programs reach without knowing whether Redis is built. It
 * adds the flags in three places:
 *
 *   ...in its table of flags (hubx-cli.h):
 *   hubx_redis_flags(cfg, flags + n);
 *   ...after parsing:
 *   if (hubx_redis_config_finish(cfg, err, sizeof(err)) != 0) ...
 *   ...once the hub exists (NULL bridge without --redis):
 *   hubx_redis_start(cfg, hub, max_queue_bytes, PROG, &bridge);
 *
 * and then publishes with hub_redis_publish() when it has a bridge, and
 * forwards its hub's on_topic to hub_redis_topic_changed(). */
#ifndef HUBX_REDIS_CLI_H
#define HUBX_REDIS_CLI_H

#include <stddef.h>

#include "hub-redis.h"
#include "hubx-cli.h"
#include "hubx-ops.h"

/* For a usage synopsis, and the flags' help (24-column indent). */
#define HUBX_REDIS_SYNOPSIS                                                  \
  "[--redis HOST:PORT [--redis-prefix P] [--redis-user NAME]\n"              \
  "                    [--redis-password-file FILE] [--redis-buffer N]\n"  \
  "                    [--redis-history N [--redis-history-age S]]]"
#define HUBX_REDIS_HELP                                                      \
  "  --redis HOST:PORT      share messages with the other servers on this\n" \
  "                         Redis (HOST: an IPv4 address, [IPv6], or a\n"    \
  "                         name); the password, if Redis needs one, comes\n"\
  "                         from the HUB_REDIS_PASSWORD environment\n"       \
  "                         variable or --redis-password-file\n"            \
  "  --redis-prefix P       prefix of the Redis channels (default hub:)\n"  \
  "  --redis-user NAME      Redis ACL user for AUTH (needs a password)\n"   \
  "  --redis-password-file FILE\n"                                          \
  "                         read the Redis password from the first line\n"  \
  "                         of FILE (instead of HUB_REDIS_PASSWORD)\n"      \
  "  --redis-buffer N       messages kept for Redis while it is\n"          \
  "                         unreachable, at most (default 10000; then\n"    \
  "                         the oldest are dropped and counted)\n"      \
  "  --redis-history N      sequenced rooms: every room message gets one\n"\
  "                         id and one order on every server (numbered by\n"\
  "                         Redis, which keeps the room's newest N), so\n"  \
  "                         that a client resumes on any server (default\n"\
  "                         0: off; every server must agree)\n"          \
  "  --redis-history-age S  a room's keys in Redis expire S seconds after\n"\
  "                         its last message (default 3600)\n"

typedef struct hubx_redis_config_s {
  const char *addr;          /* --redis as given; NULL: no Redis */
  char host[256];
  int port;
  const char *prefix;        /* NULL: the bridge's default */
  const char *user;
  const char *password_file;
  char *password;            /* read by hubx_redis_config_finish() */
  size_t buffer_msgs;        /* 0: the bridge's default */
  size_t history_msgs;       /* --redis-history; 0: off */
  uint64_t history_age_ms;   /* 0: the bridge's default */
} hubx_redis_config_t;

void hubx_redis_config_init(hubx_redis_config_t *cfg);

/* The flags, setting `cfg`, into `out` (HUBX_REDIS_NFLAGS of them). */
#define HUBX_REDIS_NFLAGS 7
void hubx_redis_flags(hubx_redis_config_t *cfg, hubx_opt_t *out);

/* After parsing: check the flags go together and read the password
 * (--redis-password-file, else HUB_REDIS_PASSWORD). 0, or -1 with a
 * message in err. */
int hubx_redis_config_finish(hubx_redis_config_t *cfg, char *err,
                             size_t errlen);

/* Make the bridge for `hub` if --redis was given (*bridgep NULL if not),
 * logging its news on stderr as "redis: ..." whatever --quiet says.
 * `max_message` is the hub's max_queue_bytes. The password is wiped from
 * cfg. Returns 0, or an error (said on stderr). */
int hubx_redis_start(hubx_redis_config_t *cfg, hub_t *hub,
                     size_t max_message, const char *prog,
                     hub_redis_t **bridgep);

/* "PROG: redis: forwarded ..., received ..." on stderr: for the final
 * statistics. */
void hubx_redis_print_stats(const hub_redis_t *bridge, const char *prog);

/* The bridge at *bridgep (NULL: none, or gone) as a source of the
 * program's /metrics (hub_redis_* families), statistics and /healthz
 * (unhealthy while the bridge is not connected to Redis). `bridgep` must
 * outlive `ops`. Returns hubx_ops_add_source()'s result. */
int hubx_redis_add_ops(hubx_ops_t *ops, hub_redis_t *const *bridgep);

/* Wipe and free the password, if still held. */
void hubx_redis_config_free(hubx_redis_config_t *cfg);

#endif /* HUBX_REDIS_CLI_H */
