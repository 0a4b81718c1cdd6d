/* --redis flags for the example programs: see hubx-redis-cli.h. */
#include "hubx-redis-cli.h"

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hubx-cli.h"
#include "hubx-log.h"
#include "hubx-flags.h"

#define HUBX_PASSWORD_MAX 4096

void hubx_redis_config_init(hubx_redis_config_t *cfg) {
  memset(cfg, 0, sizeof(*cfg));
}

static void wipe(char *s) {
  volatile char *p = s;

  if (s == NULL)
    return;
  while (*p != '\0')
    *p++ = '\0';
}

void hubx_redis_config_free(hubx_redis_config_t *cfg) {
  wipe(cfg->password);
  free(cfg->password);
  cfg->password = NULL;
}

/* "HOST:PORT" or "[V6]:PORT". */
/* --redis HOST:PORT. */
static int parse_addr(void *target, const char *s, char *err,
                      size_t errlen) {
  hubx_redis_config_t *cfg = target;
  const char *colon, *host = s, *p;
  size_t hlen;
  char *end;
  long port;

  if (s[0] == '[') {
    colon = strstr(s, "]:");
    host = s + 1;
    hlen = colon != NULL ? (size_t)(colon - host) : 0;
    colon = colon != NULL ? colon + 1 : NULL;
  } else {
    colon = strrchr(s, ':');
    hlen = colon != NULL ? (size_t)(colon - s) : 0;
  }
  if (colon == NULL || hlen == 0 || hlen >= sizeof(cfg->host)) {
    snprintf(err, errlen, "--redis: expected HOST:PORT, got '%s'", s);
    return -1;
  }
  for (p = host; p < host + hlen; p++) {
    if (*p <= ' ' || *p == '/' || *p == '[' || *p == ']' || *p == 0x7f) {
      snprintf(err, errlen, "--redis: bad host in '%s'", s);
      return -1;
    }
  }
  errno = 0;
  port = strtol(colon + 1, &end, 10);
  if (colon[1] == '\0' || *end != '\0' || errno != 0 || port < 1 ||
      port > 65535) {
    snprintf(err, errlen, "--redis: bad port in '%s' (expected 1-65535)", s);
    return -1;
  }
  memcpy(cfg->host, host, hlen);
  cfg->host[hlen] = '\0';
  cfg->port = (int)port;
  cfg->addr = s;
  return 0;
}

static int parse_prefix(void *target, const char *arg, char *err,
                        size_t errlen) {
  if (strlen(arg) > HUB_REDIS_PREFIX_MAX) {
    snprintf(err, errlen, "--redis-prefix: at most %d bytes",
             HUB_REDIS_PREFIX_MAX);
    return -1;
  }
  *(const char **)target = arg;
  return 0;
}

static int parse_user(void *target, const char *arg, char *err,
                      size_t errlen) {
  if (arg[0] == '\0') {
    snprintf(err, errlen, "--redis-user: expected a name");
    return -1;
  }
  *(const char **)target = arg;
  return 0;
}

void hubx_redis_flags(hubx_redis_config_t *cfg, hubx_opt_t *out) {
  const hubx_opt_t flags[HUBX_REDIS_NFLAGS] = {
    {"redis", HUBX_OPT_CALL, cfg, 0, 0, NULL, parse_addr},
    {"redis-prefix", HUBX_OPT_CALL, &cfg->prefix, 0, 0, NULL, parse_prefix},
    {"redis-user", HUBX_OPT_CALL, &cfg->user, 0, 0, NULL, parse_user},
    {"redis-password-file", HUBX_OPT_STRING, &cfg->password_file, 0, 0, NULL,
     NULL},
    {"redis-buffer", HUBX_OPT_SIZE, &cfg->buffer_msgs, 1, (size_t)1 << 30,
     "expected a count of at least 1", NULL},
    {"redis-history", HUBX_OPT_SIZE, &cfg->history_msgs, 0, (size_t)1 << 30,
     "expected a count (0: off)", NULL},
    {"redis-history-age", HUBX_OPT_SECONDS, &cfg->history_age_ms, 1,
     (uint64_t)1 << 40, "expected seconds, more than 0", NULL},
  };

  memcpy(out, flags, sizeof(flags));
}

static int read_password_file(hubx_redis_config_t *cfg, char *err,
                              size_t errlen) {
  char *buf;
  size_t n;
  FILE *f;

  f = fopen(cfg->password_file, "r");
  if (f == NULL) {
    snprintf(err, errlen, "--redis-password-file: cannot read '%s': %s",
             cfg->password_file, strerror(errno));
    return -1;
  }
  buf = calloc(1, HUBX_PASSWORD_MAX + 2);
  if (buf == NULL) {
    fclose(f);
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  n = fread(buf, 1, HUBX_PASSWORD_MAX + 1, f);
  fclose(f);
  buf[strcspn(buf, "\r\n")] = '\0';
  if (n > HUBX_PASSWORD_MAX || buf[0] == '\0') {
    snprintf(err, errlen, "--redis-password-file: '%s' %s",
             cfg->password_file,
             buf[0] == '\0' ? "holds no password on its first line"
                            : "is too long for a password");
    wipe(buf);
    free(buf);
    return -1;
  }
  cfg->password = buf;
  return 0;
}

int hubx_redis_config_finish(hubx_redis_config_t *cfg, char *err,
                             size_t errlen) {
  const char *env;
  size_t n;

  if (cfg->addr == NULL) {
    if (cfg->prefix != NULL || cfg->user != NULL ||
        cfg->password_file != NULL || cfg->buffer_msgs != 0 ||
        cfg->history_msgs != 0 || cfg->history_age_ms != 0) {
      snprintf(err, errlen, "the --redis-* options need --redis HOST:PORT");
      return -1;
    }
    return 0;
  }
  if (cfg->password_file != NULL) {
    if (read_password_file(cfg, err, errlen) != 0)
      return -1;
  } else {
    env = getenv("HUB_REDIS_PASSWORD");
    if (env != NULL && env[0] != '\0') {
      n = strlen(env);
      cfg->password = malloc(n + 1);
      if (cfg->password == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
      }
      memcpy(cfg->password, env, n + 1);
    }
  }
  if (cfg->user != NULL && cfg->password == NULL) {
    snprintf(err, errlen, "--redis-user needs a password "
             "(HUB_REDIS_PASSWORD or --redis-password-file)");
    return -1;
  }
  return 0;
}

static void on_redis_log(hub_redis_t *bridge, int err, const char *msg) {
  (void)bridge;
  if (err == HUB_REDIS_EAUTH)
    hubx_log_warn("redis: %s (check HUB_REDIS_PASSWORD or "
                  "--redis-password-file)", msg);
  else if (err == HUB_REDIS_ENOAUTH)
    hubx_log_warn("redis: %s: set HUB_REDIS_PASSWORD or use "
                  "--redis-password-file", msg);
  else if (err != 0)
    hubx_log_warn("redis: %s", msg);
  else
    hubx_log_always("redis: %s", msg);
}

int hubx_redis_start(hubx_redis_config_t *cfg, hub_t *hub,
                     size_t max_message, const char *prog,
                     hub_redis_t **bridgep) {
  hub_redis_options_t opts;
  int r;

  *bridgep = NULL;
  if (cfg->addr == NULL)
    return 0;
  hub_redis_options_init(&opts);
  opts.host = cfg->host;
  opts.port = cfg->port;
  if (cfg->prefix != NULL)
    opts.prefix = cfg->prefix;
  opts.username = cfg->user;
  opts.password = cfg->password;
  if (cfg->buffer_msgs != 0)
    opts.buffer_msgs = cfg->buffer_msgs;
  opts.history_msgs = cfg->history_msgs;
  if (cfg->history_age_ms != 0)
    opts.history_age_ms = cfg->history_age_ms;
  opts.max_message = max_message;
  opts.on_log = on_redis_log;
  r = hub_redis_new(bridgep, hub, &opts);
  hubx_redis_config_free(cfg); /* the bridge has its own copy */
  if (r != 0) {
    fprintf(stderr, "%s: cannot set up the Redis bridge: %s\n", prog,
            hub_redis_strerror(r));
    *bridgep = NULL;
  }
  return r;
}

/* The statistics' line after the node's id: each count after its words,
 * in the order they are said. */
static const struct {
  const char *words;
  size_t offset; /* of the count (uint64_t) in hub_redis_stats_t */
} hubx__redis_said[] = {
#define HUBX__AT(field) offsetof(hub_redis_stats_t, field)
  {", connects ", HUBX__AT(connects)},
  {", disconnects ", HUBX__AT(disconnects)},
  {", forwarded ", HUBX__AT(forwarded)},
  {" messages (", HUBX__AT(forwarded_bytes)},
  {" bytes), received ", HUBX__AT(received)},
  {" (own ", HUBX__AT(own)},
  {" ignored), buffered ", HUBX__AT(buffered_total)},
  {", dropped ", HUBX__AT(dropped)},
  {" (buffer full) + ", HUBX__AT(buffered_msgs)},
  {" (at exit), unconfirmed ", HUBX__AT(unconfirmed)},
  {" + ", HUBX__AT(inflight)},
  {" (at exit), invalid ", HUBX__AT(invalid)},
  {", oversized ", HUBX__AT(oversized)},
  {", text not UTF-8 ", HUBX__AT(not_utf8)},
  {" (delivered as binary), sequenced ", HUBX__AT(sequenced)},
  {", duplicates ", HUBX__AT(duplicates)},
  {", outage local ", HUBX__AT(outage_local)},
  {", fetched ", HUBX__AT(fetched)},
  {", resumes waited ", HUBX__AT(resumes_waited)},
  {", retried ", HUBX__AT(retried)},
#undef HUBX__AT
};

void hubx_redis_print_stats(const hub_redis_t *bridge, const char *prog) {
  hub_redis_stats_t st;
  char line[1024];
  size_t i, n;
  uint64_t v;
  int k;

  if (bridge == NULL)
    return;
  hub_redis_get_stats(bridge, &st);
  k = snprintf(line, sizeof(line), "%s: redis stats: node %016llx", prog,
               (unsigned long long)st.node_id);
  n = k > 0 ? (size_t)k : 0;
  for (i = 0; i < sizeof(hubx__redis_said) / sizeof(hubx__redis_said[0]) &&
              n < sizeof(line);
       i++) {
    memcpy(&v, (const char *)&st + hubx__redis_said[i].offset, sizeof(v));
    k = snprintf(line + n, sizeof(line) - n, "%s%llu",
                 hubx__redis_said[i].words, (unsigned long long)v);
    n += k > 0 ? (size_t)k : 0;
  }
  /* One write: the line is whole in a log that others write to. */
  fprintf(stderr, "%s\n", line);
}

/* ------------------------------------------------------------------------
 * /metrics, /healthz and SIGUSR1
 * ------------------------------------------------------------------------ */

static const hubx_metrics_field_t redis_families[] = {
  HUBX_METRICS_COUNTER(hub_redis_stats_t, connects,
                       "hub_redis_connects_total",
                       "Times the connections to Redis became ready."),
  HUBX_METRICS_COUNTER(hub_redis_stats_t, connect_failures,
                       "hub_redis_connect_failures_total",
                       "Attempts to connect to Redis that failed."),
  HUBX_METRICS_COUNTER(hub_redis_stats_t, disconnects,
                       "hub_redis_disconnects_total",
                       "Ready sessions with Redis that were lost."),
  HUBX_METRICS_GAUGE(hub_redis_stats_t, channels,
                     "hub_redis_channels",
                     "Redis channels subscribed now."),
  HUBX_METRICS_COUNTER(hub_redis_stats_t, forwarded,
                       "hub_redis_forwarded_total",
                       "Messages published to Redis and confirmed."),
  HUBX_METRICS_COUNTER(hub_redis_stats_t, forwarded_bytes,
                       "hub_redis_forwarded_bytes_total",
                       "Payload bytes of the messages forwarded."),
  HUBX_METRICS_GAUGE(hub_redis_stats_t, inflight,
                     "hub_redis_inflight",
                     "Messages sent to Redis and not answered yet."),
  HUBX_METRICS_COUNTER(hub_redis_stats_t, received,
                       "hub_redis_received_total",
                       "Messages from other servers, delivered here."),
  HUBX_METRICS_COUNTER(hub_redis_stats_t, received_bytes,
                       "hub_redis_received_bytes_total",
                       "Payload bytes of the messages received."),
  HUBX_METRICS_GAUGE(hub_redis_stats_t, buffered_msgs,
                     "hub_redis_buffered_messages",
                     "Messages waiting for Redis now."),
  HUBX_METRICS_GAUGE(hub_redis_stats_t, buffered_bytes,
                     "hub_redis_buffered_bytes",
                     "Payload bytes waiting for Redis now."),
  HUBX_METRICS_COUNTER(hub_redis_stats_t, dropped,
                       "hub_redis_dropped_total",
                       "Messages dropped from a full buffer."),
  HUBX_METRICS_COUNTER(hub_redis_stats_t, publish_errors,
                       "hub_redis_publish_errors_total",
                       "Publishes Redis answered with an error."),
  HUBX_METRICS_COUNTER(hub_redis_stats_t, invalid,
                       "hub_redis_invalid_total",
                       "Malformed messages from Redis."),
  HUBX_METRICS_COUNTER(hub_redis_stats_t, oversized,
                       "hub_redis_oversized_total",
                       "Messages too large to forward or deliver."),
  HUBX_METRICS_COUNTER(hub_redis_stats_t, deliver_errors,
                       "hub_redis_deliver_errors_total",
                       "Messages from Redis the local hub refused."),
  HUBX_METRICS_COUNTER(hub_redis_stats_t, sequenced,
                       "hub_redis_sequenced_total",
                       "Room messages Redis numbered for this server."),
  HUBX_METRICS_COUNTER(hub_redis_stats_t, duplicates,
                       "hub_redis_duplicates_total",
                       "Messages received again and ignored."),
  HUBX_METRICS_COUNTER(hub_redis_stats_t, fetched,
                       "hub_redis_fetched_total",
                       "Messages read from a room's Redis stream."),
  HUBX_METRICS_COUNTER(hub_redis_stats_t, unconfirmed,
                       "hub_redis_unconfirmed_total",
                       "Publishes whose connection was lost before Redis "
                       "answered."),
  HUBX_METRICS_COUNTER(hub_redis_stats_t, not_utf8,
                       "hub_redis_not_utf8_total",
                       "Text from Redis that is not UTF-8 (delivered as "
                       "binary)."),
  HUBX_METRICS_COUNTER(hub_redis_stats_t, outage_local,
                       "hub_redis_outage_local_total",
                       "Room messages published while Redis was "
                       "unreachable."),
  HUBX_METRICS_COUNTER(hub_redis_stats_t, retried,
                       "hub_redis_retried_total",
                       "Sequenced messages sent again after a lost "
                       "connection."),
  HUBX_METRICS_COUNTER(hub_redis_stats_t, resumes_waited,
                       "hub_redis_resumes_waited_total",
                       "Resumes that waited for a room's catch-up from "
                       "Redis."),
};

static void redis_metrics(void *data, hubx_metrics_t *m) {
  const hub_redis_t *bridge = *(hub_redis_t *const *)data;
  hub_redis_stats_t st;

  if (bridge == NULL)
    return;
  hub_redis_get_stats(bridge, &st);
  hubx_metrics_gauge(m, "hub_redis_connected",
                     "1 while connected to Redis, else 0.",
                     st.state == HUB_REDIS_CONNECTED);
  hubx_metrics_fields(m, &st, redis_families,
                      sizeof(redis_families) / sizeof(redis_families[0]));
}

static void redis_stats(void *data, const char *prog) {
  hubx_redis_print_stats(*(hub_redis_t *const *)data, prog);
}

static const char *redis_health(void *data) {
  const hub_redis_t *bridge = *(hub_redis_t *const *)data;

  if (bridge == NULL || hub_redis_get_state(bridge) == HUB_REDIS_CONNECTED)
    return NULL;
  return hub_redis_get_state(bridge) == HUB_REDIS_CONNECTING
             ? "redis is connecting"
             : "redis is disconnected";
}

int hubx_redis_add_ops(hubx_ops_t *ops, hub_redis_t *const *bridgep) {
  return hubx_ops_add_source(ops, redis_metrics, redis_stats, redis_health,
                             (void *)bridgep);
}
