/* Operating the example programs: GET /metrics (Prometheus text,
 * hubx-metrics.h) and GET /healthz, on the program's own listener (if it
 * speaks HTTP) or on a listener of their own (--metrics-listen), the
 * statistics logged on SIGUSR1, and --log-format. Both programs use it;
 * each adds its adapter's (and the Redis bridge's) metrics, statistics and
 * health through a source (hubx_ops_add_source()). Not part of libhub's
 * API.
 *
 * A program adds the flags as it does the hub's (hubx-flags.h):
 * hubx_ops_flags() in its table of flags, hubx_ops_config_finish() after
 * parsing, HUBX_OPS_SYNOPSIS and
 * HUBX_OPS_HELP in its --help. Once its hub and signals exist:
 * hubx_ops_init(), hubx_ops_add_source()..., hubx_ops_start(); when
 * stopping, hubx_ops_close(). A program whose listener speaks HTTP hands
 * its requests to hubx_ops_answer() first. */
#ifndef HUBX_OPS_H
#define HUBX_OPS_H

#include <stddef.h>
#include <sys/socket.h>

#include "hubx-droplog.h"
#include "hubx-log.h"
#include "hubx-signals.h"
#include "hubx-gap.h"
#include "hubx-metrics.h"
#include "hub.h"
#include "hub-queue.h"
#include "hubx-cli.h"

#define HUBX_OPS_SYNOPSIS                                                    \
  "[--metrics-listen HOST:PORT] [--no-metrics] [--no-healthz]\n"             \
  "                    [--log-format text|json]"

/* `where`: where /metrics and /healthz are served without
 * --metrics-listen. */
#define HUBX_OPS_HELP(where)                                                 \
  "  --metrics-listen HOST:PORT\n"                                           \
  "                         serve GET /metrics (Prometheus text) and GET\n" \
  "                         /healthz on a listener of their own at this\n"  \
  "                         address (port 0 picks one, printed at start);\n"\
  "                         without it, " where "\n"                         \
  "  --no-metrics           do not serve /metrics\n"                         \
  "  --no-healthz           do not serve /healthz\n"                         \
  "  --log-format F         text (default) or json: one JSON object a\n"     \
  "                         line on stderr\n"

typedef struct {
  const char *metrics_listen; /* NULL: none */
  struct sockaddr_storage addr;
  int no_metrics, no_healthz;
  hubx_log_format_t log_format;
} hubx_ops_config_t;

void hubx_ops_config_init(hubx_ops_config_t *cfg);
/* The flags, setting `cfg`, into `out` (HUBX_OPS_NFLAGS of them). */
#define HUBX_OPS_NFLAGS 4
void hubx_ops_flags(hubx_ops_config_t *cfg, hubx_opt_t *out);
/* After parsing: check the flags go together, and start logging as
 * `prog` in the chosen format (hubx_log_start()). 0, or -1 with a message
 * in err. */
int hubx_ops_config_finish(hubx_ops_config_t *cfg, const char *prog,
                           char *err, size_t errlen);

/* A source's part: its metrics families (with hubx_metrics_*()), its
 * statistics line(s) on stderr, and whether it is healthy (NULL) or why
 * not (a short phrase: "redis is disconnected"). Any may be NULL. */
typedef void (*hubx_ops_metrics_fn)(void *data, hubx_metrics_t *m);
typedef void (*hubx_ops_stats_fn)(void *data, const char *prog);
typedef const char *(*hubx_ops_health_fn)(void *data);

#define HUBX_OPS_SOURCES 4
/* Connections the operations listener serves at once; more are closed as
 * soon as they are accepted. */
#define HUBX_OPS_CONNS_MAX 16
/* Time a connection has to send its request head (then 408) and to take
 * the answer, and to go away once it has it (then it is closed). */
#define HUBX_OPS_REQUEST_TIMEOUT_MS 5000
#define HUBX_OPS_LINGER_MS 1000

typedef struct hubx_ops_conn_s hubx_ops_conn_t;

typedef struct {
  const char *prog;
  hub_t *hub;
  const hubx_droplog_t *droplog;
  const hubx_gap_t *gaps;
  int metrics_on, healthz_on;
  const hubx_ops_config_t *cfg;
  struct {
    hubx_ops_metrics_fn metrics;
    hubx_ops_stats_fn stats;
    hubx_ops_health_fn health;
    void *data;
  } sources[HUBX_OPS_SOURCES];
  size_t nsources;
  hubx_metrics_t text;      /* the last /metrics, reused */
  char health[128];         /* the last /healthz */
  /* The listener of its own (--metrics-listen) and its connections. */
  uv_tcp_t listener;
  int listening;
  hub__queue conns; /* hubx_ops_conn_t */
  size_t nconns;
  int closing;
} hubx_ops_t;

/* Serve `prog`'s `hub` with what `cfg` (which must outlive it) asks;
 * `dl` and `gaps` are the program's drop log and gap notices (may be
 * NULL). Cannot fail; hubx_ops_close() must follow. */
void hubx_ops_init(hubx_ops_t *ops, const hubx_ops_config_t *cfg,
                   const char *prog, hub_t *hub, const hubx_droplog_t *dl,
                   const hubx_gap_t *gaps);
/* Add a source (at most HUBX_OPS_SOURCES; UV_ENOBUFS past that). */
int hubx_ops_add_source(hubx_ops_t *ops, hubx_ops_metrics_fn metrics,
                        hubx_ops_stats_fn stats, hubx_ops_health_fn health,
                        void *data);
/* Open the listener of --metrics-listen, if given (its address is
 * printed: "PROG: operations listener on ADDR (/metrics, /healthz)"),
 * and log the statistics on every SIGUSR1 caught through `sigs` (started
 * already). Returns 0 or a libuv error (said on stderr). */
int hubx_ops_start(hubx_ops_t *ops, uv_loop_t *loop, hubx_signals_t *sigs);

/* An answer for the program's own HTTP listener. `body` is the ops's,
 * valid until its next call. */
typedef struct {
  int status;
  const char *content_type;
  const char *body;
  size_t len;
} hubx_ops_reply_t;

/* A request the program's own listener received: 1 with *reply filled if
 * it is for /metrics or /healthz and they are served there (not turned
 * off, no --metrics-listen), 0 if the program should answer it as any
 * other. A method other than GET and HEAD gets 405. */
int hubx_ops_answer(hubx_ops_t *ops, const char *method, const char *path,
                    hubx_ops_reply_t *reply);

/* The statistics on stderr, the same lines as the programs' final ones
 * ("PROG: stats: ..." for the hub's, then each source's). */
void hubx_ops_log_stats(hubx_ops_t *ops);

/* Close the listener and its connections (idempotent; the loop must run
 * for their handles to close). */
void hubx_ops_close(hubx_ops_t *ops);

#endif /* HUBX_OPS_H */
