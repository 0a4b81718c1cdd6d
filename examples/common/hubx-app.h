/* The example programs' skeleton, written once: what hub-tcp-echo and
 * hub-ws-chat do alike. An app owns the loop; the hub, with the flags of
 * its options, its drop log and gap notices wired to its callbacks; the
 * signals (SIGINT and SIGTERM stop it, SIGUSR1 logs the statistics); the
 * operations listener and --log-format (hubx-ops.h); the Redis backplane
 * of --redis, whose glue is stubbed when libhub is built without it, so
 * that a program needs no #ifdef; and the start, the stop and the final
 * statistics. A program keeps its adapter's server, its protocol
 * callbacks and its own flags. Not part of libhub's API.
 *
 * A program's main(), in this order:
 *
 *   static hubx_app_t app;
 *   hubx_app_init(&app, &program, &its_state);
 *   hubx_app_parse_args(&app, argc, argv, its_flags, n);
 *   hubx_app_check_args(&app);
 *   if (hubx_app_open(&app) != 0) return 1;   (loop, hub, /metrics)
 *   its start: hubx_app_listen() with its adapter and options, its
 *     "listening on" line, hubx_app_serve(); on an error, hubx_app_fail();
 *   return hubx_app_run(&app);
 *
 * The hub's data is the app (hub_get_data()); the program's state is
 * app->data. The hub's on_drop, on_pressure, on_topic and on_client_close
 * are the app's: the program hears of a closed client through its
 * program's on_client_close. */
#ifndef HUBX_APP_H
#define HUBX_APP_H

#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include "hub.h"
#include "hubx-cli.h"
#include "hubx-droplog.h"
#include "hubx-flags.h"
#include "hubx-gap.h"
#include "hubx-log.h"
#include "hubx-ops.h"
#include "hubx-signals.h"

/* hubx_app_subscribe_from() waits for Redis (HUB_REDIS_PENDING): the
 * program's on_resumed tells the outcome later. */
#define HUBX_APP_PENDING 2

/* Percent of either queue bound where the hub reports pressure. Only
 * falling levels matter: they tell when a client that lost messages is
 * reading again (hubx-gap.h). */
#define HUBX_APP_NOTICE_MARK_LOW 50
#define HUBX_APP_NOTICE_MARK_HIGH 90

/* The largest statistics struct of an adapter's (hubx_app_adapter_t's
 * get_stats; HUBX_APP_ADAPTER() checks it). */
#define HUBX_APP_STATS_MAX 512

/* Flags both programs take with the same words, for their tables. */
#define HUBX_APP_OPT_SEND_BUFFER(target)                                     \
  {"send-buffer", HUBX_OPT_INT, (target), 0, (size_t)1 << 30,                \
   "expected a size from 0 to 1G", NULL}
#define HUBX_APP_OPT_PER_IP(target)                                          \
  {"max-conns-per-ip", HUBX_OPT_U32, (target), 0, UINT32_MAX,                \
   "expected a count (0 for no limit)", NULL}
#define HUBX_APP_OPT_BURST(target)                                           \
  {"msg-burst", HUBX_OPT_U32, (target), 1, 1000000,                         \
   "expected a count from 1 to 1000000", NULL}

typedef struct hubx_app_s hubx_app_t;

/* An adapter's server as the app drives it, with the adapter's part of
 * /metrics: HUBX_APP_ADAPTER() makes one from the adapter's functions. */
typedef struct {
  int (*server_new)(void **server, hub_t *hub, const void *options);
  int (*start)(void *server, const struct sockaddr *addr);
  int (*getsockname)(const void *server, struct sockaddr *name, int *len);
  /* The statistics of `server` into `stats` (a struct of at most
   * HUBX_APP_STATS_MAX bytes), whose families `fields` (`nfields` of
   * them) name. */
  void (*get_stats)(const void *server, void *stats);
  const hubx_metrics_field_t *fields;
  size_t nfields;
} hubx_app_adapter_t;

/* `static const hubx_app_adapter_t NAME` for the adapter whose functions
 * and types begin with PREFIX (hub_tcp: hub_tcp_server_new(),
 * hub_tcp_stats_t, ...), with the /metrics families FIELDS (an array of
 * hubx_metrics_field_t over PREFIX_stats_t). */
#define HUBX_APP_ADAPTER(name, prefix, fields)                               \
  _Static_assert(sizeof(prefix##_stats_t) <= HUBX_APP_STATS_MAX,             \
                 "the app's room for " #prefix "'s statistics");            \
  static int name##_new(void **server, hub_t *hub, const void *options) {   \
    prefix##_server_t *s = NULL;                                             \
    int r = prefix##_server_new(&s, hub, options);                           \
    *server = s;                                                             \
    return r;                                                                \
  }                                                                          \
  static int name##_start(void *server, const struct sockaddr *addr) {      \
    return prefix##_server_start(server, addr);                              \
  }                                                                          \
  static int name##_getsockname(const void *server, struct sockaddr *sa,    \
                                int *len) {                                  \
    return prefix##_server_getsockname(server, sa, len);                     \
  }                                                                          \
  static void name##_get_stats(const void *server, void *stats) {           \
    prefix##_server_get_stats(server, stats);                                \
  }                                                                          \
  static const hubx_app_adapter_t name = {                                   \
      name##_new, name##_start, name##_getsockname, name##_get_stats,        \
      fields, sizeof(fields) / sizeof((fields)[0])}

/* A program's --help, in three parts: the synopsis, which the Redis
 * flags' synopsis follows (aligned under the first flag), the flags'
 * help, which the Redis flags' help follows, and the last lines. */
typedef struct {
  const char *synopsis, *flags, *tail;
} hubx_app_help_t;

/* A program's callbacks. In this order, a program names them in one
 * line, and the compiler checks each one's type. */
typedef struct {
  /* The number that names a client in the log (required). */
  unsigned long long (*client_id)(const hub_client_t *client);
  /* The text of a gap notice (required; hubx-gap.h). */
  hubx_gap_format_fn notice;
  /* The hub's on_client_close, after the app forgot the client (its gap
   * notices, a resume waiting for Redis). */
  void (*on_client_close)(hubx_app_t *app, hub_client_t *client,
                          int status);
  /* A resume that waited for Redis (HUBX_APP_PENDING) is done: `status`
   * and `missed` are what hub_subscribe_from() would have said. */
  void (*on_resumed)(hubx_app_t *app, hub_client_t *client,
                     const char *room, int status, int64_t missed);
  /* Close app->server, then call hubx_app_server_closed(), at once or
   * from the server's close callback. Comes after the operations
   * listener and the Redis bridge closed, and only if the server was
   * made. */
  void (*close_server)(hubx_app_t *app);
  /* The app begins to stop: nothing is closed yet. May be NULL. */
  void (*on_stop)(hubx_app_t *app);
} hubx_app_callbacks_t;

/* What a program brings to the app (required unless said). */
typedef struct {
  const char *prog;   /* its name, before its messages on stderr */
  const char *listen; /* --listen's default */
  hubx_app_help_t help;
  /* Its lines of the statistics (SIGUSR1), with app->data; may be NULL. */
  hubx_ops_stats_fn stats;
  hubx_app_callbacks_t callbacks;
} hubx_app_program_t;

struct hubx_app_s {
  const hubx_app_program_t *program;
  void *data; /* the program's */
  /* The flags: the hub's options (callbacks set by hubx_app_open()), the
   * address of --listen, the operations' flags. */
  hub_options_t options;
  const char *listen;
  struct sockaddr_storage addr;
  hubx_ops_config_t ops_config;
  uv_loop_t loop;
  hub_t *hub;
  hubx_signals_t signals;
  hubx_droplog_t droplog;
  hubx_gap_t gaps;
  hubx_ops_t ops;
  /* The program's adapter server, once made (NULL before, and once
   * closed), and its adapter. */
  void *server;
  const hubx_app_adapter_t *adapter;
  int stopping;
  int exit_code;
  /* Private: the Redis flags (NULL without Redis) and the bridge (NULL
   * without --redis, or once stopping). */
  struct hubx_redis_config_s *redis_config;
  struct hub_redis_s *bridge;
};

/* Defaults for every flag. `program` and `data` must outlive the app. */
void hubx_app_init(hubx_app_t *app, const hubx_app_program_t *program,
                   void *data);

/* The command line: the program's own flags (`flags`, `n` of them), and
 * those of every program: --listen, --max-queue-msgs, --max-queue-bytes,
 * --policy, --quiet, --help, the hub's (hubx-flags.h), the operations'
 * (hubx-ops.h) and, when built, the Redis ones. An error exits with
 * status 2 (hubx_bad_usage()), --help with 0. The table must outlive the
 * call only. */
void hubx_app_parse_args(hubx_app_t *app, int argc, char **argv,
                         const hubx_opt_t *flags, size_t n);
/* After parsing: --listen's address, the Redis flags going together and
 * its password, the operations' flags (logging starts here). Exits with
 * status 2 on an error. */
void hubx_app_check_args(hubx_app_t *app);
/* hubx_bad_usage() as the program. */
void hubx_app_bad_usage(const hubx_app_t *app, const char *fmt,
                        const char *arg) __attribute__((noreturn));

/* The program's --help, with the Redis flags' when built. */
void hubx_app_usage(const hubx_app_t *app, FILE *out);

/* The loop, the hub (with app->options), the drop log, gap notices and
 * the operations. Returns 0, or -1 after saying why on stderr and
 * freeing all (the program then exits with 1). */
int hubx_app_open(hubx_app_t *app);

/* The program's server, of `adapter` (which must outlive the app) with
 * its `options`: made on app->hub (app->server), listening on --listen's
 * address, then SIGINT and SIGTERM stop the app. The address it listens
 * on, as text, in `addr` (`len` bytes). Returns 0, or an error said on
 * stderr. */
int hubx_app_listen(hubx_app_t *app, const hubx_app_adapter_t *adapter,
                    const void *options, char *addr, size_t len);
/* Once the program's server listens and it said so: the adapter's part
 * of /metrics (the program's adapter) and the program's of the
 * statistics (hubx_ops_add_source()), the operations listener, SIGUSR1,
 * and the Redis bridge. Returns 0, or an error said on stderr. */
int hubx_app_serve(hubx_app_t *app);
/* "PROG: cannot WHAT: ERROR" on stderr, with `what` printf-style;
 * returns `err`. */
int hubx_app_cannot(const hubx_app_t *app, int err, const char *what, ...)
    __attribute__((format(printf, 3, 4)));
/* An adapter's message (its on_log) in the log: "#ID: MSG" about
 * `client`, or MSG alone about the server (`client` NULL). */
void hubx_app_log(const hubx_app_t *app, const hub_client_t *client,
                  const char *msg);

/* A message to `room`: through Redis with --redis, else to this hub
 * (hub_publish()). Returns what either returns. */
int hubx_app_publish(hubx_app_t *app, const char *room, const void *data,
                     size_t len, unsigned int flags);
/* hub_subscribe_from(), or with --redis its Redis counterpart, which may
 * return HUBX_APP_PENDING: the program's on_resumed follows, unless
 * hubx_app_cancel_resume() comes first (a client that joins another room
 * meanwhile; a closing client's is cancelled by the app). */
int hubx_app_subscribe_from(hubx_app_t *app, hub_client_t *client,
                            const char *room, uint64_t epoch,
                            uint64_t after, int64_t *missed);
void hubx_app_cancel_resume(hubx_app_t *app, hub_client_t *client);

/* Stop (idempotent): signals, gap notices, operations and Redis close,
 * then the program's server, then the hub, whose final statistics follow
 * unless the app failed. */
void hubx_app_stop(hubx_app_t *app);
/* Stop with exit status 1: it never served (the error was said). */
void hubx_app_fail(hubx_app_t *app);
/* The program's close_server is done: app->server is NULL again. */
void hubx_app_server_closed(hubx_app_t *app);

/* Run the loop until everything closed; free the app. Returns the exit
 * status: 0, or 1 after a failure. */
int hubx_app_run(hubx_app_t *app);

#endif /* HUBX_APP_H */
