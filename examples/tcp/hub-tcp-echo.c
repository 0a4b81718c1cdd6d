/* hub-tcp-echo: every line a client sends goes to every client in its room.
 *
 * A newline-delimited chat server over plain TCP, built on libhub and the
 * hub-tcp adapter: try it with `nc 127.0.0.1 9000` in a few terminals.
 * Every client starts in the room "lobby"; a line "/join NAME" moves it to
 * room NAME. Each room is a hub topic, so a line costs O(clients in that
 * room). With --redis, several servers share their rooms through Redis
 * (docs/scaling.md). See docs/tcp.md. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "example-util.h"
#include "hubx-flags.h"
#include "hub-tcp.h"
#include "hubx-gap.h"
#include "hubx-id.h"
#include "hubx-ops.h"
#include "hubx-text.h"
#ifdef HUB_WITH_REDIS
#include "hub-redis-cli.h"
#endif

#define PROG "hub-tcp-echo"
#define DEFAULT_ROOM "lobby"
_Static_assert(HUBX_ROOM_MAX == HUB_TOPIC_MAX, "room names are topics");
/* A client-provided string in a log line, escaped: at most this long. */
#define LOG_TEXT_MAX 600
/* Percent of either queue bound. Only falling levels matter here: they
 * tell when a client that lost messages is reading again. */
#define NOTICE_MARK_LOW 50
#define NOTICE_MARK_HIGH 90
/* What a client over --max-msg-rate is told, once per streak. */
#define RATE_NOTICE "[hub] rate limit exceeded: lines dropped"

typedef struct {
  const char *listen;
  struct sockaddr_storage addr;
  hub_options_t hub;
  hub_tcp_options_t tcp;
#ifdef HUB_WITH_REDIS
  hubx_redis_config_t redis;
#endif
  hubx_ops_config_t ops; /* --metrics-listen, --log-format */
} config_t;

/* A client has no state of its own here: its data pointer holds its id
 * (a number, not a pointer), its room is the one topic it is subscribed
 * to (client_topic()), and the hub counts the drops not yet announced
 * (gap_untaken). An idle client costs the server nothing beyond the
 * adapter's connection and the hub's client. */

typedef struct {
  uv_loop_t loop;
  hub_t *hub;
  hub_tcp_server_t *server;
  /* The Redis backplane, with --redis; NULL otherwise. */
  hub_redis_t *bridge;
  hubx_signals_t signals;
  hubx_droplog_t droplog;
  hubx_gap_t gaps;
  hubx_ops_t ops;
  uint64_t next_id;
  int stopping;
  int exit_code;
} app_t;

static app_t *app_of(const hub_client_t *client) {
  return hub_get_data(client_get_hub(client));
}

static void usage(FILE *out) {
  fprintf(out,
    "usage: " PROG " [--listen HOST:PORT] [--max-queue-msgs N]\n"
    "                    [--max-queue-bytes N]\n"
    "                    [--policy disconnect|drop-oldest|drop-newest|catch-up]\n"
    "                    [--max-line N] [--idle-timeout SECONDS]\n"
    "                    [--line-timeout SECONDS] [--max-conns-per-ip N]\n"
    "                    [--max-msg-rate R] [--msg-burst B]\n"
    "                    [--send-buffer N] [--quiet]\n"
    "                    " HUBX_HUB_SYNOPSIS "\n"
    "                    " HUBX_OPS_SYNOPSIS "\n"
#ifdef HUB_WITH_REDIS
    "                    " HUBX_REDIS_SYNOPSIS "\n"
#endif
    "\n"
    "Send every line a client sends to every client in the same room, the\n"
    "sender included, in the order received. Lines end with \"\\n\" (or\n"
    "\"\\r\\n\"). Clients start in the room \"" DEFAULT_ROOM "\"; the line\n"
    "\"/join NAME\" moves a client to room NAME (1 to 255 bytes of UTF-8\n"
    "without control characters or bidirectional controls, as in\n"
    "hub-ws-chat). A client that lost lines under drop-oldest or\n"
    "drop-newest is told how many (\"[hub] N messages dropped\").\n"
    "\n"
    "Rooms keep their recent lines (--history). \"/ids on\" makes this\n"
    "client's room lines \"ID LINE\" and the server's own lines notices,\n"
    "\"! {JSON}\", that no room line can look like; \"/resume ID NAME\"\n"
    "joins room NAME with every line after ID that it still holds (\"0\":\n"
    "from the oldest), then the live ones, and says what was missed.\n"
    "\n"
    "  --listen HOST:PORT     address to listen on (default 127.0.0.1:9000;\n"
    "                         port 0 picks a free port, printed at start)\n"
    "  --max-queue-msgs N     messages queued per client at most\n"
    "                         (default 256)\n"
    "  --max-queue-bytes N    payload bytes queued per client at most\n"
    "                         (default 1M; K, M and G suffixes are powers\n"
    "                         of 1024)\n"
    "  --policy P             when a client's queue is full: disconnect it\n"
    "                         (default), drop-oldest queued lines,\n"
    "                         drop-newest (refuse the new line), or\n"
    "                         catch-up (it reads the room's history at its\n"
    "                         own pace, losing only what the history lost)\n"
    "  --max-line N           longest line a client may send (default 64K);\n"
    "                         a longer one closes that client\n"
    "  --idle-timeout SECONDS close clients silent that long (decimals\n"
    "                         allowed; default 0: never)\n"
    "  --line-timeout SECONDS close a client whose line is not complete that\n"
    "                         long after its first byte (decimals allowed;\n"
    "                         default 30; 0: never; the idle timeout if\n"
    "                         shorter)\n"
    "  --max-conns-per-ip N   connections one client address may have open;\n"
    "                         more are closed at once (default 0: no limit)\n"
    "  --max-msg-rate R       lines a second a client may send on average;\n"
    "                         lines over it are dropped, and the client is\n"
    "                         told so once per streak (default 0: no limit)\n"
    "  --msg-burst B          lines a client may send at once (default R)\n"
    SEND_BUFFER_HELP
    HUBX_HUB_HELP
    HUBX_OPS_HELP("not served")
    "  --quiet                do not log connects, disconnects and drops\n"
#ifdef HUB_WITH_REDIS
    HUBX_REDIS_HELP
#endif
    "  -h, --help             print this help and exit\n"
    "\n"
    "Logs go to stderr. SIGINT or SIGTERM stops the server cleanly and\n"
    "prints final statistics; SIGUSR1 prints the statistics and goes on.\n");
}

static void bad_usage(const char *fmt, const char *arg) {
  fprintf(stderr, PROG ": ");
  fprintf(stderr, fmt, arg);
  fprintf(stderr, "\nTry '" PROG " --help' for more information.\n");
  exit(2);
}

static void parse_args(int argc, char **argv, config_t *cfg) {
  enum { O_LISTEN = 256, O_MSGS, O_BYTES, O_POLICY, O_LINE, O_IDLE, O_SNDBUF,
         O_QUIET, O_LINE_TIMEOUT, O_PER_IP, O_RATE, O_BURST };
  static const struct option longopts[] = {
    {"listen", required_argument, NULL, O_LISTEN},
    {"max-queue-msgs", required_argument, NULL, O_MSGS},
    {"max-queue-bytes", required_argument, NULL, O_BYTES},
    {"policy", required_argument, NULL, O_POLICY},
    {"max-line", required_argument, NULL, O_LINE},
    {"idle-timeout", required_argument, NULL, O_IDLE},
    {"line-timeout", required_argument, NULL, O_LINE_TIMEOUT},
    {"max-conns-per-ip", required_argument, NULL, O_PER_IP},
    {"max-msg-rate", required_argument, NULL, O_RATE},
    {"msg-burst", required_argument, NULL, O_BURST},
    {"send-buffer", required_argument, NULL, O_SNDBUF},
    {"quiet", no_argument, NULL, O_QUIET},
    {"help", no_argument, NULL, 'h'},
    HUBX_HUB_LONGOPTS,
    HUBX_OPS_LONGOPTS,
#ifdef HUB_WITH_REDIS
    HUBX_REDIS_LONGOPTS,
#endif
    {NULL, 0, NULL, 0}
  };
  char err[160];
  size_t n;
  int opt;

  hubx_hub_options_init(&cfg->hub);
  hubx_ops_config_init(&cfg->ops);
  hub_tcp_options_init(&cfg->tcp);
  cfg->tcp.send_buffer = HUBX_SEND_BUFFER_DEFAULT;
  cfg->tcp.rate_notice = RATE_NOTICE;
  cfg->listen = "127.0.0.1:9000";
#ifdef HUB_WITH_REDIS
  hubx_redis_config_init(&cfg->redis);
#endif
  opterr = 0;
  while ((opt = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
    int h = hubx_hub_parse_opt(&cfg->hub, opt, optarg, err, sizeof(err));
    if (h < 0)
      bad_usage("%s", err);
    if (h > 0)
      continue;
    h = hubx_ops_parse_opt(&cfg->ops, opt, optarg, err, sizeof(err));
    if (h < 0)
      bad_usage("%s", err);
    if (h > 0)
      continue;
#ifdef HUB_WITH_REDIS
    int r = hubx_redis_parse_opt(&cfg->redis, opt, optarg, err, sizeof(err));
    if (r < 0)
      bad_usage("%s", err);
    if (r > 0)
      continue;
#endif
    switch (opt) {
    case O_LISTEN:
      cfg->listen = optarg;
      break;
    case O_MSGS:
      if (hubx_parse_size(optarg, 1, UINT32_MAX / 2 - HUB_MAX_CONTROL_QUEUED,
                          &cfg->hub.max_queue_msgs) != 0)
        bad_usage("--max-queue-msgs: expected a count of at least 1, "
                  "got '%s'", optarg);
      break;
    case O_BYTES:
      if (hubx_parse_size(optarg, 1, SIZE_MAX / 2,
                          &cfg->hub.max_queue_bytes) != 0)
        bad_usage("--max-queue-bytes: expected a size of at least 1, "
                  "got '%s'", optarg);
      break;
    case O_POLICY:
      if (hubx_parse_policy(optarg, &cfg->hub.policy) != 0)
        bad_usage("--policy: expected disconnect, drop-oldest, "
                  "drop-newest or catch-up, got '%s'", optarg);
      break;
    case O_LINE:
      if (hubx_parse_size(optarg, 1, HUB_TCP_MAX_LINE_LIMIT,
                          &cfg->tcp.max_line) != 0)
        bad_usage("--max-line: expected a size from 1 to 1G, got '%s'",
                  optarg);
      break;
    case O_IDLE:
      if (hubx_parse_seconds(optarg, INT32_MAX,
                             &cfg->tcp.idle_timeout_ms) != 0)
        bad_usage("--idle-timeout: expected seconds (0 for none), "
                  "got '%s'", optarg);
      break;
    case O_LINE_TIMEOUT:
      if (hubx_parse_seconds(optarg, INT32_MAX,
                             &cfg->tcp.line_timeout_ms) != 0)
        bad_usage("--line-timeout: expected seconds (0 for none), "
                  "got '%s'", optarg);
      break;
    case O_PER_IP:
      if (hubx_parse_size(optarg, 0, UINT32_MAX, &n) != 0)
        bad_usage("--max-conns-per-ip: expected a count (0 for no limit), "
                  "got '%s'", optarg);
      cfg->tcp.max_conns_per_ip = (uint32_t)n;
      break;
    case O_RATE:
      if (hubx_parse_size(optarg, 0, 1000000, &n) != 0)
        bad_usage("--max-msg-rate: expected lines a second from 0 (no "
                  "limit) to 1000000, got '%s'", optarg);
      cfg->tcp.max_msg_rate = (uint32_t)n;
      break;
    case O_BURST:
      if (hubx_parse_size(optarg, 1, 1000000, &n) != 0)
        bad_usage("--msg-burst: expected a count from 1 to 1000000, "
                  "got '%s'", optarg);
      cfg->tcp.msg_burst = (uint32_t)n;
      break;
    case O_SNDBUF:
      if (hubx_parse_send_buffer(optarg, &cfg->tcp.send_buffer) != 0)
        bad_usage("--send-buffer: expected a size from 0 to 1G, got '%s'",
                  optarg);
      break;
    case O_QUIET:
      hubx_quiet = 1;
      break;
    case 'h':
      usage(stdout);
      exit(0);
    case ':':
      bad_usage("option '%s' needs a value", argv[optind - 1]);
      break;
    default:
      bad_usage("unknown option '%s'", argv[optind - 1]);
    }
  }
  if (optind < argc)
    bad_usage("unexpected argument '%s'", argv[optind]);
  if (hubx_parse_listen(cfg->listen, &cfg->addr, err, sizeof(err)) != 0)
    bad_usage("--listen: %s", err);
#ifdef HUB_WITH_REDIS
  if (hubx_redis_config_finish(&cfg->redis, err, sizeof(err)) != 0)
    bad_usage("%s", err);
#endif
  if (hubx_ops_config_finish(&cfg->ops, PROG, err, sizeof(err)) != 0)
    bad_usage("%s", err);
}

/* ------------------------------------------------------------------------
 * Logging
 * ------------------------------------------------------------------------ */

static unsigned long long client_id(const hub_client_t *client) {
  return (unsigned long long)(uintptr_t)client_get_data(client);
}

/* The client's room, or NULL before it joined one. */
static const char *client_room(const hub_client_t *client) {
  return client_topic(client, 0);
}

static uint64_t clients_now(hub_t *hub) {
  hub_stats_t st;

  hub_get_stats(hub, &st);
  return st.clients;
}

static const char *close_reason(int status) {
  switch (status) {
  case 0:
    return "closed by the server";
  case UV_EOF:
    return "closed by the client";
  case HUB_ESLOW:
    return "dropped as a slow consumer";
  case UV_EMSGSIZE:
    return "line too long";
  case UV_ETIMEDOUT:
    return "timed out"; /* idle, or a line too slow: logged just before */
  default:
    return hub_strerror(status);
  }
}

/* ------------------------------------------------------------------------
 * Gap notices
 *
 * A client that lost lines (evicted, refused) is told how many with one
 * line "[hub] N messages dropped", before the lines that follow; when and
 * how often is hubx-gap.h's business.
 * ------------------------------------------------------------------------ */

/* A client that turned ids on ("/ids on") reads room lines as "ID LINE"
 * and the server's own lines as "! {JSON}", which no room line can look
 * like. */
static int ids_on(const hub_client_t *client) {
  return client_get_transport(client) == hub_tcp_transport_ids();
}

static int notice_text(const hub_client_t *client, char *buf, size_t len,
                       uint64_t dropped) {
  if (ids_on(client))
    return snprintf(buf, len, "! {\"hub\":\"gap\",\"missed\":%llu}",
                    (unsigned long long)dropped);
  return snprintf(buf, len, "[hub] %llu message%s dropped",
                  (unsigned long long)dropped, dropped == 1 ? "" : "s");
}

static void on_drop(hub_t *hub, hub_client_t *client,
                    hub_drop_reason_t reason, size_t n_msgs,
                    size_t n_bytes) {
  app_t *app = hub_get_data(hub);

  hubx_droplog_report(&app->droplog, client_id(client), reason, n_msgs,
                      n_bytes);
  hubx_gap_on_drop(&app->gaps, client, reason);
}

/* A room got its first client here, or lost its last: the backplane
 * listens to a room's channel only while someone here is in it. */
static void on_topic(hub_t *hub, const char *topic, int active) {
  app_t *app = hub_get_data(hub);

#ifdef HUB_WITH_REDIS
  if (app->bridge != NULL)
    (void)hub_redis_topic_changed(app->bridge, topic, active);
#else
  (void)app;
  (void)topic;
  (void)active;
#endif
}

static void on_pressure(hub_t *hub, hub_client_t *client, unsigned old_level,
                        unsigned new_level) {
  app_t *app = hub_get_data(hub);

  hubx_gap_on_pressure(&app->gaps, client, old_level, new_level);
}

/* ------------------------------------------------------------------------
 * Rooms
 * ------------------------------------------------------------------------ */

/* A line to this client only. Like any line, it is subject to the
 * client's queue bounds and policy. A client with ids gets `json` (a
 * notice: "! {...}"), others `text`; either may be NULL (nothing then). */
static void reply2(hub_client_t *client, const char *text,
                   const char *json) {
  char line[HUB_TOPIC_MAX * 6 + 128];

  if (ids_on(client) && json != NULL) {
    snprintf(line, sizeof(line), "! %s", json);
    text = line;
  }
  if (text != NULL) /* NULL: nothing to say without ids */
    (void)client_send(client, text, strlen(text), 0);
}

static void reply(hub_client_t *client, const char *text) {
  reply2(client, text, NULL);
}

static void join_done(hub_client_t *client, const char *name, int r,
                      int64_t missed);

#ifdef HUB_WITH_REDIS
/* A resume that waited for this server to catch up with its room. */
static void on_resumed(hub_redis_t *bridge, hub_client_t *client,
                       const char *room, int status, int64_t missed,
                       void *arg) {
  (void)bridge;
  (void)arg;
  join_done(client, room, status < 0 ? status : 0, missed);
}
#endif

/* Leave the room the client is in, if any, for `name`; with `resume`,
 * after the message (epoch, after) of its history (*missed: what cannot
 * be had, -1 unknown). In a room shared through Redis that this server
 * has no client in yet, a resume waits for the room's stream from Redis
 * (HUB_REDIS_PENDING: join_done() comes later). */
static int room_join(hub_client_t *client, const char *name, int resume,
                     uint64_t epoch, uint64_t after, int64_t *missed) {
  const char *now = client_room(client);
  char old[HUB_TOPIC_MAX + 1];
  int r;

  *missed = 0;
  if (now != NULL && strcmp(now, name) == 0 && !resume)
    return 0;
  /* The hub's copy of the name goes with the subscription: keep ours. */
  if (now != NULL) {
    snprintf(old, sizeof(old), "%s", now);
    if (resume && strcmp(old, name) == 0) {
      (void)hub_unsubscribe(client, old); /* resuming where it is */
      now = NULL;
    }
  }
  if (!resume)
    r = hub_subscribe(client, name);
#ifdef HUB_WITH_REDIS
  else if (app_of(client)->bridge != NULL)
    r = hub_redis_subscribe_from(app_of(client)->bridge, client, name, epoch,
                                 after, missed, on_resumed, NULL);
#endif
  else
    r = hub_subscribe_from(client, name, epoch, after, missed);
  if (r < 0)
    return r;
  if (now != NULL)
    (void)hub_unsubscribe(client, old);
#ifdef HUB_WITH_REDIS
  if (r == HUB_REDIS_PENDING)
    return r;
#endif
  return 0;
}

/* "/join NAME": switch rooms, and say so to this client only. A name
 * follows hub-ws-chat's rule (hubx-text.h), so that a room shared
 * through Redis is open to the clients of both. The name is the client's:
 * escaped in the log. */
/* The name as a JSON string's contents, into `out` (6 bytes a byte at
 * most, and a NUL): the notices quote room names. */
static const char *json_str(const char *s, char *out) {
  char *o = out;

  for (; *s != '\0'; s++) {
    unsigned char ch = (unsigned char)*s;
    if (ch == '"' || ch == '\\')
      o += sprintf(o, "\\%c", ch);
    else if (ch < 0x20 || ch == 0x7f)
      o += sprintf(o, "\\u%04x", ch);
    else
      *o++ = (char)ch;
  }
  *o = '\0';
  return out;
}

/* "/join NAME" and "/resume ID NAME": switch rooms, and say so to this
 * client only. A name follows hub-ws-chat's rule (hubx-text.h), so that a
 * room shared through Redis is open to the clients of both. The name is
 * the client's: escaped in the log. */
static void command_join(hub_client_t *client, const char *arg, size_t len,
                         int resume, uint64_t epoch, uint64_t after) {
  char name[HUB_TOPIC_MAX + 1], text[HUB_TOPIC_MAX * 6 + 96];
  char shown[LOG_TEXT_MAX];
  const char *why = hubx_room_name_check(arg, len);
  int64_t missed;
  int r;

  hubx_escape(arg, len, shown, sizeof(shown));
  if (why != NULL) {
    hubx_log("#%llu: bad room name '%s': %s", client_id(client), shown, why);
    snprintf(text, sizeof(text), "[hub] bad room name: %s",
             len == 0 ? "expected /join NAME" : why);
    reply2(client, text, "{\"hub\":\"error\",\"error\":\"bad room name\"}");
    return;
  }
  memcpy(name, arg, len);
  name[len] = '\0';
  r = room_join(client, name, resume, epoch, after, &missed);
#ifdef HUB_WITH_REDIS
  if (r == HUB_REDIS_PENDING) {
    hubx_log("#%llu: resumes in room '%s' once this server has the "
             "room's history from Redis", client_id(client), shown);
    return;
  }
#endif
  join_done(client, name, r, missed);
}

/* The outcome of a join: said in the log and to the client. */
static void join_done(hub_client_t *client, const char *name, int r,
                      int64_t missed) {
  char text[HUB_TOPIC_MAX * 6 + 96];
  char shown[LOG_TEXT_MAX], quoted[HUB_TOPIC_MAX * 6 + 1];

  hubx_escape(name, strlen(name), shown, sizeof(shown));
  if (r != 0) {
    hubx_log("#%llu: cannot join room '%s': %s", client_id(client), shown,
             hub_strerror(r));
    snprintf(text, sizeof(text), "[hub] cannot join %s: %s", name,
             hub_strerror(r));
    reply2(client, text, "{\"hub\":\"error\",\"error\":\"cannot join\"}");
    return;
  }
  hubx_log("#%llu: joined room '%s' (%zu clients in the room)",
           client_id(client), shown,
           hub_topic_subscribers(client_get_hub(client), name));
  snprintf(text, sizeof(text), "{\"hub\":\"joined\",\"room\":\"%s\"}",
           json_str(name, quoted));
  reply2(client, NULL, text);
  if (!ids_on(client)) {
    snprintf(text, sizeof(text), "[hub] joined %s", name);
    reply(client, text);
  }
  if (missed < 0)
    reply2(client, "[hub] history reset: what was missed is unknown",
           "{\"hub\":\"reset\",\"missed\":null}");
  else if (missed > 0) {
    snprintf(text, sizeof(text), "{\"hub\":\"gap\",\"missed\":%lld}",
             (long long)missed);
    reply2(client, NULL, text);
    if (!ids_on(client)) {
      snprintf(text, sizeof(text), "[hub] %lld messages missed",
               (long long)missed);
      reply(client, text);
    }
  }
}

/* "/ids on" and "/ids off": room lines with or without their ids. */
static void command_ids(hub_client_t *client, const char *arg, size_t len) {
  hub_t *hub = client_get_hub(client);
  const char *room = client_room(client);
  int on = len == 2 && memcmp(arg, "on", 2) == 0, r;

  if (!on && !(len == 3 && memcmp(arg, "off", 3) == 0)) {
    reply2(client, "[hub] expected /ids on or /ids off",
           "{\"hub\":\"error\",\"error\":\"expected /ids on or /ids off\"}");
    return;
  }
  if (on && (room == NULL || hub_topic_position(hub, room, NULL, NULL,
                                                 NULL) != 0)) {
    reply(client, "[hub] no history here (--history 0): no ids");
    return;
  }
  r = client_set_transport(client, on ? hub_tcp_transport_ids()
                                      : hub_tcp_transport());
  if (r != 0)
    reply(client, "[hub] cannot switch ids now");
  else
    reply2(client, "[hub] ids off", "{\"hub\":\"ids\",\"on\":true}");
}

/* "/resume ID NAME": join NAME, resuming after the message ID ("0": from
 * the oldest line the room holds). */
static void command_resume(hub_client_t *client, const char *arg,
                           size_t len) {
  const char *sp = memchr(arg, ' ', len);
  uint64_t epoch, after;

  if (sp == NULL ||
      hubx_id_parse(arg, (size_t)(sp - arg), &epoch, &after) != 0) {
    reply2(client, "[hub] expected /resume ID NAME",
           "{\"hub\":\"error\",\"error\":\"expected /resume ID NAME\"}");
    return;
  }
  command_join(client, sp + 1, len - (size_t)(sp + 1 - arg), 1, epoch,
               after);
}

/* Whether `line` is the command `cmd` (alone, or followed by a space);
 * its argument, if any, in *arg and *alen. */
static int is_command(const char *line, size_t len, const char *cmd,
                      const char **arg, size_t *alen) {
  size_t n = strlen(cmd);

  if (len < n || memcmp(line, cmd, n) != 0 || (len > n && line[n] != ' '))
    return 0;
  *arg = len > n + 1 ? line + n + 1 : "";
  *alen = len > n + 1 ? len - n - 1 : 0;
  return 1;
}

/* ------------------------------------------------------------------------
 * Clients
 * ------------------------------------------------------------------------ */

static void on_connect(hub_tcp_server_t *server, hub_client_t *client) {
  app_t *app = hub_tcp_server_get_data(server);
  struct sockaddr_storage peer;
  int len = sizeof(peer), r;
  int64_t missed;
  char addr[64] = "?";

  client_set_data(client, (void *)(uintptr_t)++app->next_id);
  if (hub_tcp_client_getpeername(client, (struct sockaddr *)&peer, &len) == 0)
    hubx_addr_str((struct sockaddr *)&peer, addr, sizeof(addr));
  hubx_log("#%llu: connected from %s (%llu clients)", client_id(client), addr,
           (unsigned long long)clients_now(app->hub));
  r = room_join(client, DEFAULT_ROOM, 0, 0, 0, &missed);
  if (r != 0) {
    hubx_log("#%llu: cannot join " DEFAULT_ROOM ": %s, closing",
             client_id(client), hub_strerror(r));
    client_close(client, r);
  }
}

static void on_client_close(hub_t *hub, hub_client_t *client, int status) {
  app_t *app = hub_get_data(hub);

  hubx_gap_forget(&app->gaps, client);
#ifdef HUB_WITH_REDIS
  hub_redis_cancel_resume(app->bridge, client);
#endif
  hubx_log("#%llu: disconnected: %s (%llu clients)", client_id(client),
           close_reason(status), (unsigned long long)clients_now(hub));
}

static void on_line(hub_tcp_server_t *server, hub_client_t *client,
                    const char *line, size_t len) {
  app_t *app = hub_tcp_server_get_data(server);
  const char *room = client_room(client), *arg;
  size_t alen;
  int r;

  if (room == NULL)
    return;
  if (is_command(line, len, "/join", &arg, &alen)) {
    command_join(client, arg, alen, 0, 0, 0);
    return;
  }
  if (is_command(line, len, "/resume", &arg, &alen)) {
    command_resume(client, arg, alen);
    return;
  }
  if (is_command(line, len, "/ids", &arg, &alen)) {
    command_ids(client, arg, alen);
    return;
  }
#ifdef HUB_WITH_REDIS
  if (app->bridge != NULL)
    r = hub_redis_publish(app->bridge, NULL, room, line, len, 0);
  else
#endif
    r = hub_publish(app->hub, room, line, len, 0);
  if (r < 0)
    hubx_log("#%llu: line of %zu bytes not sent: %s", client_id(client), len,
             hub_strerror(r));
}

static void on_log(hub_tcp_server_t *server, hub_client_t *client, int err,
                   const char *msg) {
  (void)server;
  (void)err;
  if (client != NULL)
    hubx_log("#%llu: %s", client_id(client), msg);
  else
    hubx_log("%s", msg);
}


/* ------------------------------------------------------------------------
 * Operating: the adapter's part of /metrics (--metrics-listen)
 * ------------------------------------------------------------------------ */

static void tcp_metrics(void *data, hubx_metrics_t *m) {
  app_t *app = data;
  hub_tcp_stats_t st;

  if (app->server == NULL)
    return;
  hub_tcp_server_get_stats(app->server, &st);
  hubx_metrics_gauge(m, "hub_tcp_connections", "Connections open now.",
                     st.connections);
  hubx_metrics_counter(m, "hub_tcp_accepted_total",
                       "Connections ever accepted.", st.accepted);
  hubx_metrics_counter(m, "hub_tcp_accept_errors_total", "Failed accepts.",
                       st.accept_errors);
  hubx_metrics_counter(m, "hub_tcp_lines_received_total",
                       "Lines received from clients.", st.lines);
  hubx_metrics_counter(m, "hub_tcp_lines_too_long_total",
                       "Clients closed for a line over --max-line.",
                       st.lines_too_long);
  hubx_metrics_counter(m, "hub_tcp_idle_timeouts_total",
                       "Clients closed by --idle-timeout.",
                       st.idle_timeouts);
  hubx_metrics_counter(m, "hub_tcp_line_timeouts_total",
                       "Clients closed by --line-timeout.",
                       st.line_timeouts);
  hubx_metrics_counter(m, "hub_tcp_refused_per_ip_total",
                       "Connections closed by --max-conns-per-ip.",
                       st.refused_per_ip);
  hubx_metrics_counter(m, "hub_tcp_lines_over_rate_total",
                       "Lines dropped by --max-msg-rate.",
                       st.lines_over_rate);
  hubx_metrics_gauge(m, "hub_tcp_partial_bytes",
                     "Bytes held now for partial lines.", st.partial_bytes);
}

/* ------------------------------------------------------------------------
 * Start and stop
 * ------------------------------------------------------------------------ */

static void on_hub_closed(hub_t *hub) {
  app_t *app = hub_get_data(hub);
  hub_stats_t st;

  if (app->exit_code != 0)
    return; /* it never served: the error said why */
  hub_get_stats(hub, &st);
  hubx_print_final_stats(PROG, &st);
}

static void app_stop(app_t *app) {
  if (app->stopping)
    return;
  app->stopping = 1;
  hubx_signals_close(&app->signals);
  hubx_ops_close(&app->ops);
#ifdef HUB_WITH_REDIS
  if (app->bridge != NULL) {
    hub_redis_t *bridge = app->bridge;

    app->bridge = NULL; /* closing clients empty rooms: nothing to tell */
    if (app->exit_code == 0)
      hubx_redis_print_stats(bridge, PROG);
    hub_redis_close(bridge, NULL);
  }
#endif
  if (app->server != NULL)
    hub_tcp_server_close(app->server, NULL);
  /* Summarise the drops still being counted before the hub goes. */
  hubx_droplog_close(&app->droplog);
  hubx_gap_close(&app->gaps);
  hub_close(app->hub, 0, on_hub_closed);
}

static void on_signal(void *data, int signum) {
  fprintf(stderr, PROG ": %s received, shutting down\n",
          signum == SIGINT ? "SIGINT" : "SIGTERM");
  app_stop(data);
}

static int start(app_t *app, config_t *cfg) {
  struct sockaddr_storage bound;
  int len = sizeof(bound), r;
  char addr[64], idle[32] = "off";

  r = hub_tcp_server_new(&app->server, app->hub, &cfg->tcp);
  if (r != 0) {
    fprintf(stderr, PROG ": cannot create the server: %s\n",
            hub_strerror(r));
    return r;
  }
  r = hub_tcp_server_start(app->server, (struct sockaddr *)&cfg->addr);
  if (r != 0) {
    fprintf(stderr, PROG ": cannot listen on %s: %s\n", cfg->listen,
            hub_strerror(r));
    return r;
  }
  r = hubx_signals_start(&app->signals, &app->loop, on_signal, app);
  if (r != 0) {
    fprintf(stderr, PROG ": cannot catch signals: %s\n", hub_strerror(r));
    return r;
  }
  r = hub_tcp_server_getsockname(app->server, (struct sockaddr *)&bound,
                                 &len);
  hubx_addr_str(r == 0 ? (struct sockaddr *)&bound
                       : (struct sockaddr *)&cfg->addr,
                addr, sizeof(addr));
  if (cfg->tcp.idle_timeout_ms > 0)
    snprintf(idle, sizeof(idle), "%.3f s",
             (double)cfg->tcp.idle_timeout_ms / 1000.0);
  fprintf(stderr,
          PROG ": listening on %s (policy %s, max-queue-msgs %zu, "
          "max-queue-bytes %zu, max-line %zu, idle-timeout %s, "
          "line-timeout %llu ms, max-conns-per-ip %u, max-msg-rate %u)\n",
          addr, hubx_policy_name(cfg->hub.policy), cfg->hub.max_queue_msgs,
          cfg->hub.max_queue_bytes, cfg->tcp.max_line, idle,
          (unsigned long long)cfg->tcp.line_timeout_ms,
          (unsigned)cfg->tcp.max_conns_per_ip,
          (unsigned)cfg->tcp.max_msg_rate);
  /* After the "listening on" line, which scripts read first. */
  (void)hubx_ops_add_source(&app->ops, tcp_metrics, NULL, NULL, app);
#ifdef HUB_WITH_REDIS
  if (cfg->redis.addr != NULL)
    (void)hubx_redis_add_ops(&app->ops, &app->bridge);
#endif
  r = hubx_ops_start(&app->ops, &app->loop, &app->signals);
  if (r != 0)
    return r;
#ifdef HUB_WITH_REDIS
  r = hubx_redis_start(&cfg->redis, app->hub, cfg->hub.max_queue_bytes, PROG,
                       &app->bridge);
  if (r != 0)
    return r;
#endif
  return 0;
}

int main(int argc, char **argv) {
  static app_t app;
  config_t cfg;
  int r;

  parse_args(argc, argv, &cfg);
  /* A peer that resets its connection must not kill the server: write
   * errors are handled where they happen. */
  signal(SIGPIPE, SIG_IGN);

  r = uv_loop_init(&app.loop);
  if (r != 0) {
    fprintf(stderr, PROG ": cannot create the event loop: %s\n",
            uv_strerror(r));
    return 1;
  }
  hubx_droplog_init(&app.droplog, &app.loop);
  hubx_gap_init(&app.gaps, &app.loop, notice_text, 0);
  cfg.hub.on_drop = on_drop;
  cfg.hub.on_client_close = on_client_close;
  cfg.hub.on_pressure = on_pressure;
  cfg.hub.on_topic = on_topic;
  cfg.hub.watermarks[0] = NOTICE_MARK_LOW;
  cfg.hub.watermarks[1] = NOTICE_MARK_HIGH;
  cfg.hub.data = &app;
  cfg.tcp.on_connect = on_connect;
  cfg.tcp.on_line = on_line;
  cfg.tcp.on_log = on_log;
  cfg.tcp.data = &app;

  r = hub_new(&app.hub, &app.loop, &cfg.hub);
  if (r != 0) {
    fprintf(stderr, PROG ": cannot create the hub: %s\n", hub_strerror(r));
    hubx_droplog_close(&app.droplog);
    hubx_gap_close(&app.gaps);
    uv_run(&app.loop, UV_RUN_DEFAULT);
    uv_loop_close(&app.loop);
#ifdef HUB_WITH_REDIS
    hubx_redis_config_free(&cfg.redis);
#endif
    return 1;
  }
  hubx_ops_init(&app.ops, &cfg.ops, PROG, app.hub, &app.droplog, &app.gaps);
  if (start(&app, &cfg) != 0) {
    app.exit_code = 1;
    app_stop(&app);
  }
  uv_run(&app.loop, UV_RUN_DEFAULT);
  r = uv_loop_close(&app.loop);
#ifdef HUB_WITH_REDIS
  hubx_redis_config_free(&cfg.redis);
#endif
  if (r != 0) {
    fprintf(stderr, PROG ": event loop not empty at exit: %s\n",
            uv_strerror(r));
    return 1;
  }
  return app.exit_code;
}
