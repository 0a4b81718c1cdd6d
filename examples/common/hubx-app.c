/* The example programs' skeleton. See hubx-app.h. The one place that
 * knows whether the Redis backplane is built (HUB_WITH_REDIS). */
#include "hubx-app.h"

#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "hubx-flags.h"
#ifdef HUB_WITH_REDIS
#include "hubx-redis-cli.h"
_Static_assert(HUBX_APP_PENDING == HUB_REDIS_PENDING, "one pending value");
#define HUBX_APP_REDIS_NFLAGS HUBX_REDIS_NFLAGS
#else
#define HUBX_APP_REDIS_NFLAGS 0
#endif

/* getopt_long() values: HUBX_O_FLAG plus the flag's index in the table
 * of a program's flags followed by the app's; far from any short
 * option. */
#define HUBX_O_FLAG 0x5500
/* Flags of a program's own, at most; the app's own; those of every
 * program (hubx__app_flags()). */
#define HUBX_APP_FLAGS_MAX 48
#define HUBX_APP_OWN_FLAGS 5
#define HUBX_APP_ALL_FLAGS                                                   \
  (HUBX_APP_OWN_FLAGS + HUBX_HUB_NFLAGS + HUBX_OPS_NFLAGS +                 \
   HUBX_APP_REDIS_NFLAGS)

/* ------------------------------------------------------------------------
 * The command line
 * ------------------------------------------------------------------------ */

static int hubx__policy_opt(void *target, const char *arg, char *err,
                            size_t errlen) {
  (void)err;
  (void)errlen;
  return hubx_parse_policy(arg, target);
}

void hubx_app_init(hubx_app_t *app, const hubx_app_program_t *program,
                   void *data) {
  memset(app, 0, sizeof(*app));
  app->program = program;
  app->data = data;
  app->listen = program->listen;
  hubx_hub_options_init(&app->options);
  hubx_ops_config_init(&app->ops_config);
#ifdef HUB_WITH_REDIS
  app->redis_config = calloc(1, sizeof(*app->redis_config));
  if (app->redis_config == NULL) {
    fprintf(stderr, "%s: out of memory\n", program->prog);
    exit(1);
  }
  hubx_redis_config_init(app->redis_config);
#endif
}

/* The flags of every program: the app's own, the hub's, the operations'
 * and, when built, the Redis ones. */
static size_t hubx__app_flags(hubx_app_t *app, hubx_opt_t *out) {
  const hubx_opt_t flags[HUBX_APP_OWN_FLAGS] = {
    {"listen", HUBX_OPT_STRING, &app->listen, 0, 0, NULL, NULL},
    {"max-queue-msgs", HUBX_OPT_SIZE, &app->options.max_queue_msgs, 1,
     UINT32_MAX / 2 - HUB_MAX_CONTROL_QUEUED,
     "expected a count of at least 1", NULL},
    {"max-queue-bytes", HUBX_OPT_SIZE, &app->options.max_queue_bytes, 1,
     SIZE_MAX / 2, "expected a size of at least 1", NULL},
    {"policy", HUBX_OPT_CALL, &app->options.policy, 0, 0,
     "expected disconnect, drop-oldest, drop-newest or catch-up",
     hubx__policy_opt},
    {"quiet", HUBX_OPT_SET, &hubx_quiet, 0, 1, NULL, NULL},
  };

  size_t n = HUBX_APP_OWN_FLAGS;

  memcpy(out, flags, sizeof(flags));
  hubx_hub_flags(&app->options, out + n);
  n += HUBX_HUB_NFLAGS;
  hubx_ops_flags(&app->ops_config, out + n);
  n += HUBX_OPS_NFLAGS;
#ifdef HUB_WITH_REDIS
  hubx_redis_flags(app->redis_config, out + n);
  n += HUBX_REDIS_NFLAGS;
#endif
  return n;
}

/* The getopt_long() table of `flags` (the program's, then the app's) and
 * --help. */
static void hubx__longopts(struct option *longopts, const hubx_opt_t *flags,
                           size_t n) {
  static const struct option others[] = {
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0}
  };
  size_t i;

  for (i = 0; i < n; i++) {
    longopts[i].name = flags[i].name;
    longopts[i].has_arg =
        flags[i].type == HUBX_OPT_SET ? no_argument : required_argument;
    longopts[i].flag = NULL;
    longopts[i].val = HUBX_O_FLAG + (int)i;
  }
  memcpy(longopts + n, others, sizeof(others));
}

void hubx_app_parse_args(hubx_app_t *app, int argc, char **argv,
                         const hubx_opt_t *flags, size_t n) {
  struct option longopts[HUBX_APP_FLAGS_MAX + HUBX_APP_ALL_FLAGS + 2];
  hubx_opt_t all[HUBX_APP_FLAGS_MAX + HUBX_APP_ALL_FLAGS];
  char err[160];
  int opt;

  if (n > HUBX_APP_FLAGS_MAX)
    abort(); /* a program's table outgrew the app's */
  memcpy(all, flags, n * sizeof(*flags));
  n += hubx__app_flags(app, all + n);
  hubx__longopts(longopts, all, n);
  opterr = 0;
  while ((opt = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
    if (opt >= HUBX_O_FLAG && opt < HUBX_O_FLAG + (int)n) {
      if (hubx_opt_apply(&all[opt - HUBX_O_FLAG], optarg, err,
                         sizeof(err)) != 0)
        hubx_app_bad_usage(app, "%s", err);
    } else if (opt == 'h') {
      hubx_app_usage(app, stdout);
      exit(0);
    } else if (opt == ':') {
      hubx_app_bad_usage(app, "option '%s' needs a value", argv[optind - 1]);
    } else {
      hubx_app_bad_usage(app, "unknown option '%s'", argv[optind - 1]);
    }
  }
  if (optind < argc)
    hubx_app_bad_usage(app, "unexpected argument '%s'", argv[optind]);
}

void hubx_app_check_args(hubx_app_t *app) {
  char err[160];

  if (hubx_parse_listen(app->listen, &app->addr, err, sizeof(err)) != 0)
    hubx_app_bad_usage(app, "--listen: %s", err);
#ifdef HUB_WITH_REDIS
  if (hubx_redis_config_finish(app->redis_config, err, sizeof(err)) != 0)
    hubx_app_bad_usage(app, "%s", err);
#endif
  if (hubx_ops_config_finish(&app->ops_config, app->program->prog, err,
                             sizeof(err)) != 0)
    hubx_app_bad_usage(app, "%s", err);
}

void hubx_app_bad_usage(const hubx_app_t *app, const char *fmt,
                        const char *arg) {
  hubx_bad_usage(app->program->prog, fmt, arg);
}

void hubx_app_usage(const hubx_app_t *app, FILE *out) {
  const hubx_app_program_t *p = app->program;

  fputs(p->help.synopsis, out);
#ifdef HUB_WITH_REDIS
  /* Under the first flag, after "usage: PROG ". */
  fprintf(out, "%*s" HUBX_REDIS_SYNOPSIS "\n",
          (int)(strlen("usage: ") + strlen(p->prog) + 1), "");
#endif
  fputs(p->help.flags, out);
#ifdef HUB_WITH_REDIS
  fputs(HUBX_REDIS_HELP, out);
#endif
  fputs(p->help.tail, out);
}

/* ------------------------------------------------------------------------
 * The hub's callbacks
 * ------------------------------------------------------------------------ */

static void hubx__on_drop(hub_t *hub, hub_client_t *client,
                          hub_drop_reason_t reason, size_t n_msgs,
                          size_t n_bytes) {
  hubx_app_t *app = hub_get_data(hub);

  hubx_droplog_report(&app->droplog, app->program->callbacks.client_id(client), reason,
                      n_msgs, n_bytes);
  hubx_gap_on_drop(&app->gaps, client, reason);
}

static void hubx__on_pressure(hub_t *hub, hub_client_t *client,
                              unsigned old_level, unsigned new_level) {
  hubx_app_t *app = hub_get_data(hub);

  hubx_gap_on_pressure(&app->gaps, client, old_level, new_level);
}

/* A room got its first client here, or lost its last: the backplane
 * listens to a room's channel only while someone here is in it. */
static void hubx__on_topic(hub_t *hub, const char *topic, int active) {
  hubx_app_t *app = hub_get_data(hub);

#ifdef HUB_WITH_REDIS
  if (app->bridge != NULL)
    (void)hub_redis_topic_changed(app->bridge, topic, active);
#else
  (void)app;
  (void)topic;
  (void)active;
#endif
}

static void hubx__on_client_close(hub_t *hub, hub_client_t *client,
                                  int status) {
  hubx_app_t *app = hub_get_data(hub);

  hubx_gap_forget(&app->gaps, client);
  hubx_app_cancel_resume(app, client);
  if (app->program->callbacks.on_client_close != NULL)
    app->program->callbacks.on_client_close(app, client, status);
}

static void hubx__on_hub_closed(hub_t *hub) {
  hubx_app_t *app = hub_get_data(hub);
  hub_stats_t st;

  if (app->exit_code != 0)
    return; /* it never served: the error said why */
  hub_get_stats(hub, &st);
  hubx_print_final_stats(app->program->prog, &st);
}

/* ------------------------------------------------------------------------
 * Start
 * ------------------------------------------------------------------------ */

/* What the app holds outside the loop: the Redis flags (the password
 * wiped). */
static void hubx__free(hubx_app_t *app) {
#ifdef HUB_WITH_REDIS
  hubx_redis_config_free(app->redis_config);
  free(app->redis_config);
  app->redis_config = NULL;
#else
  (void)app;
#endif
}

int hubx_app_open(hubx_app_t *app) {
  hub_options_t *o = &app->options;
  int r;

  /* A peer that resets its connection must not kill the server: write
   * errors are handled where they happen. */
  signal(SIGPIPE, SIG_IGN);
  r = uv_loop_init(&app->loop);
  if (r != 0) {
    fprintf(stderr, "%s: cannot create the event loop: %s\n",
            app->program->prog, uv_strerror(r));
    hubx__free(app);
    return -1;
  }
  hubx_droplog_init(&app->droplog, &app->loop);
  hubx_gap_init(&app->gaps, &app->loop, app->program->callbacks.notice, 0);
  o->on_drop = hubx__on_drop;
  o->on_pressure = hubx__on_pressure;
  o->on_topic = hubx__on_topic;
  o->on_client_close = hubx__on_client_close;
  o->watermarks[0] = HUBX_APP_NOTICE_MARK_LOW;
  o->watermarks[1] = HUBX_APP_NOTICE_MARK_HIGH;
  o->data = app;
  r = hub_new(&app->hub, &app->loop, o);
  if (r != 0) {
    hubx_app_cannot(app, r, "create the hub");
    hubx_droplog_close(&app->droplog);
    hubx_gap_close(&app->gaps);
    uv_run(&app->loop, UV_RUN_DEFAULT);
    uv_loop_close(&app->loop);
    hubx__free(app);
    return -1;
  }
  hubx_ops_init(&app->ops, &app->ops_config, app->program->prog, app->hub,
                &app->droplog, &app->gaps);
  return 0;
}

static void hubx__on_signal(void *data, int signum) {
  hubx_app_t *app = data;

  fprintf(stderr, "%s: %s received, shutting down\n", app->program->prog,
          signum == SIGINT ? "SIGINT" : "SIGTERM");
  hubx_app_stop(app);
}

static int hubx__catch_signals(hubx_app_t *app) {
  int r = hubx_signals_start(&app->signals, &app->loop, hubx__on_signal, app);

  if (r != 0)
    return hubx_app_cannot(app, r, "catch signals");
  return 0;
}

/* The adapter's families of /metrics, while its server is open. */
static void hubx__server_metrics(void *data, hubx_metrics_t *m) {
  const hubx_app_t *app = data;
  uint64_t stats[HUBX_APP_STATS_MAX / sizeof(uint64_t)];

  if (app->server == NULL)
    return;
  app->adapter->get_stats(app->server, stats);
  hubx_metrics_fields(m, stats, app->adapter->fields, app->adapter->nfields);
}

int hubx_app_serve(hubx_app_t *app) {
  int r;

  /* After the "listening on" line, which scripts read first. */
  (void)hubx_ops_add_source(&app->ops, hubx__server_metrics, NULL, NULL,
                            app);
  if (app->program->stats != NULL)
    (void)hubx_ops_add_source(&app->ops, NULL, app->program->stats, NULL,
                              app->data);
#ifdef HUB_WITH_REDIS
  if (app->redis_config->addr != NULL)
    (void)hubx_redis_add_ops(&app->ops, &app->bridge);
#endif
  r = hubx_ops_start(&app->ops, &app->loop, &app->signals);
  if (r != 0)
    return r;
#ifdef HUB_WITH_REDIS
  r = hubx_redis_start(app->redis_config, app->hub,
                       app->options.max_queue_bytes, app->program->prog,
                       &app->bridge);
#endif
  return r;
}

int hubx_app_cannot(const hubx_app_t *app, int err, const char *what, ...) {
  va_list ap;

  fprintf(stderr, "%s: cannot ", app->program->prog);
  va_start(ap, what);
  vfprintf(stderr, what, ap);
  va_end(ap);
  fprintf(stderr, ": %s\n", hub_strerror(err));
  return err;
}

int hubx_app_listen(hubx_app_t *app, const hubx_app_adapter_t *adapter,
                    const void *options, char *addr, size_t len) {
  struct sockaddr_storage bound;
  int namelen = sizeof(bound), r;

  app->adapter = adapter;
  r = adapter->server_new(&app->server, app->hub, options);
  if (r != 0)
    return hubx_app_cannot(app, r, "create the server");
  r = adapter->start(app->server, (struct sockaddr *)&app->addr);
  if (r != 0)
    return hubx_app_cannot(app, r, "listen on %s", app->listen);
  r = hubx__catch_signals(app);
  if (r != 0)
    return r;
  /* --listen's address if getsockname() fails. */
  r = adapter->getsockname(app->server, (struct sockaddr *)&bound, &namelen);
  hubx_addr_str(r == 0 ? (const struct sockaddr *)&bound
                       : (const struct sockaddr *)&app->addr,
                addr, len);
  return 0;
}

void hubx_app_log(const hubx_app_t *app, const hub_client_t *client,
                  const char *msg) {
  if (client != NULL)
    hubx_log("#%llu: %s", app->program->callbacks.client_id(client), msg);
  else
    hubx_log("%s", msg);
}

/* ------------------------------------------------------------------------
 * Rooms through Redis
 * ------------------------------------------------------------------------ */

int hubx_app_publish(hubx_app_t *app, const char *room, const void *data,
                     size_t len, unsigned int flags) {
#ifdef HUB_WITH_REDIS
  if (app->bridge != NULL)
    return hub_redis_publish(app->bridge, NULL, room, data, len, flags);
#endif
  return hub_publish(app->hub, room, data, len, flags);
}

#ifdef HUB_WITH_REDIS
/* A resume that waited for this server to catch up with its room. */
static void hubx__on_resumed(hub_redis_t *bridge, hub_client_t *client,
                             const char *room, int status, int64_t missed,
                             void *arg) {
  hubx_app_t *app = arg;

  (void)bridge;
  if (app->program->callbacks.on_resumed != NULL)
    app->program->callbacks.on_resumed(app, client, room, status, missed);
}
#endif

int hubx_app_subscribe_from(hubx_app_t *app, hub_client_t *client,
                            const char *room, uint64_t epoch,
                            uint64_t after, int64_t *missed) {
#ifdef HUB_WITH_REDIS
  if (app->bridge != NULL)
    return hub_redis_subscribe_from(app->bridge, client, room, epoch, after,
                                    missed, hubx__on_resumed, app);
#else
  (void)app;
#endif
  return hub_subscribe_from(client, room, epoch, after, missed);
}

void hubx_app_cancel_resume(hubx_app_t *app, hub_client_t *client) {
#ifdef HUB_WITH_REDIS
  hub_redis_cancel_resume(app->bridge, client);
#else
  (void)app;
  (void)client;
#endif
}

/* ------------------------------------------------------------------------
 * Stop
 * ------------------------------------------------------------------------ */

/* The bridge goes first: closing clients empty rooms, and there is
 * nothing to tell Redis about them. */
static void hubx__close_bridge(hubx_app_t *app) {
#ifdef HUB_WITH_REDIS
  hub_redis_t *bridge = app->bridge;

  if (bridge == NULL)
    return;
  app->bridge = NULL;
  if (app->exit_code == 0)
    hubx_redis_print_stats(bridge, app->program->prog);
  hub_redis_close(bridge, NULL);
#else
  (void)app;
#endif
}

void hubx_app_stop(hubx_app_t *app) {
  if (app->stopping)
    return;
  app->stopping = 1;
  if (app->program->callbacks.on_stop != NULL)
    app->program->callbacks.on_stop(app);
  hubx_gap_close(&app->gaps);
  hubx_signals_close(&app->signals);
  hubx_ops_close(&app->ops);
  hubx__close_bridge(app);
  if (app->server != NULL)
    app->program->callbacks.close_server(app);
  else
    hubx_app_server_closed(app);
}

void hubx_app_fail(hubx_app_t *app) {
  app->exit_code = 1;
  hubx_app_stop(app);
}

void hubx_app_server_closed(hubx_app_t *app) {
  app->server = NULL;
  /* Summarise the drops still being counted before the hub goes. */
  hubx_droplog_close(&app->droplog);
  hub_close(app->hub, 0, hubx__on_hub_closed);
}

int hubx_app_run(hubx_app_t *app) {
  int r;

  uv_run(&app->loop, UV_RUN_DEFAULT);
  r = uv_loop_close(&app->loop);
  hubx__free(app);
  if (r != 0) {
    fprintf(stderr, "%s: event loop not empty at exit: %s\n",
            app->program->prog, uv_strerror(r));
    return 1;
  }
  return app->exit_code;
}
