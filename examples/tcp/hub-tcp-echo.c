/* hub-tcp-echo: every line a client sends goes to every client in its room.
 *
 * A newline-delimited chat server over plain TCP, built on libhub and the
 * hub-tcp adapter: try it with `nc 127.0.0.1 9000` in a few terminals.
 * Every client starts in the room "lobby"; a line "/join NAME" moves it to
 * room NAME. Each room is a hub topic, so a line costs O(clients in that
 * room). With --redis, several servers share their rooms through Redis
 * (docs/scaling.md). What every example program does alike (flags of the
 * hub, signals, logs, /metrics, Redis, start and stop) is the app's
 * (hubx-app.h); this file holds the line protocol. See docs/tcp.md. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hub-tcp.h"
#include "hubx-app.h"
#include "hubx-id.h"
#include "hubx-text.h"

#define PROG "hub-tcp-echo"
#define DEFAULT_ROOM "lobby"
_Static_assert(HUBX_ROOM_MAX == HUB_TOPIC_MAX, "room names are topics");
/* A client-provided string in a log line, escaped: at most this long. */
#define LOG_TEXT_MAX 600
/* What a client over --max-msg-rate is told, once per streak. */
#define RATE_NOTICE "[hub] rate limit exceeded: lines dropped"

/* The program's state beside the app's (app->data). A client has no
 * state of its own here: its data pointer holds its id (a number, not a
 * pointer), its room is the one topic it is subscribed to
 * (client_topic()), and the hub counts the drops not yet announced
 * (gap_untaken). An idle client costs the server nothing beyond the
 * adapter's connection and the hub's client. */
typedef struct {
  hub_tcp_options_t options;
  uint64_t next_id;
} echo_t;

static hubx_app_t *app_of(const hub_client_t *client) {
  return hub_get_data(client_get_hub(client));
}

static const char usage_synopsis[] =
    "usage: " PROG " [--listen HOST:PORT] [--max-queue-msgs N]\n"
    "                    [--max-queue-bytes N]\n"
    "                    [--policy disconnect|drop-oldest|drop-newest|catch-up]\n"
    "                    [--max-line N] [--idle-timeout SECONDS]\n"
    "                    [--line-timeout SECONDS] [--max-conns-per-ip N]\n"
    "                    [--max-msg-rate R] [--msg-burst B]\n"
    "                    [--send-buffer N] [--quiet]\n"
    "                    " HUBX_HUB_SYNOPSIS "\n"
    "                    " HUBX_OPS_SYNOPSIS "\n";

static const char usage_flags[] =
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
    HUBX_SEND_BUFFER_HELP
    HUBX_HUB_HELP
    HUBX_OPS_HELP("not served")
    "  --quiet                do not log connects, disconnects and drops\n";

static const char usage_tail[] =
    "  -h, --help             print this help and exit\n"
    "\n"
    "Logs go to stderr. SIGINT or SIGTERM stops the server cleanly and\n"
    "prints final statistics; SIGUSR1 prints the statistics and goes on.\n";

static void on_connect(hub_tcp_server_t *server, hub_client_t *client);
static void on_line(hub_tcp_server_t *server, hub_client_t *client,
                    const char *line, size_t len);
static void on_log(hub_tcp_server_t *server, hub_client_t *client, int err,
                   const char *msg);

/* The flags of the adapter's options; the app parses the rest. */
static void parse_args(hubx_app_t *app, int argc, char **argv) {
  echo_t *echo = app->data;
  hub_tcp_options_t *o = &echo->options;
  const hubx_opt_t flags[] = {
    {"max-line", HUBX_OPT_SIZE, &o->max_line, 1, HUB_TCP_MAX_LINE_LIMIT,
     "expected a size from 1 to 1G", NULL},
    {"idle-timeout", HUBX_OPT_SECONDS, &o->idle_timeout_ms, 0, INT32_MAX,
     "expected seconds (0 for none)", NULL},
    {"line-timeout", HUBX_OPT_SECONDS, &o->line_timeout_ms, 0, INT32_MAX,
     "expected seconds (0 for none)", NULL},
    HUBX_APP_OPT_PER_IP(&o->max_conns_per_ip),
    {"max-msg-rate", HUBX_OPT_U32, &o->max_msg_rate, 0, 1000000,
     "expected lines a second from 0 (no limit) to 1000000", NULL},
    HUBX_APP_OPT_BURST(&o->msg_burst),
    HUBX_APP_OPT_SEND_BUFFER(&o->send_buffer),
  };

  hub_tcp_options_init(o);
  o->send_buffer = HUBX_SEND_BUFFER_DEFAULT;
  o->rate_notice = RATE_NOTICE;
  o->on_connect = on_connect;
  o->on_line = on_line;
  o->on_log = on_log;
  o->data = app;
  hubx_app_parse_args(app, argc, argv, flags,
                      sizeof(flags) / sizeof(flags[0]));
  hubx_app_check_args(app);
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
    return hubx_gap_json(buf, len, "! ", "missed", dropped);
  return snprintf(buf, len, "[hub] %llu message%s dropped",
                  (unsigned long long)dropped, dropped == 1 ? "" : "s");
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

/* A resume that waited for this server to catch up with its room. */
static void on_resumed(hubx_app_t *app, hub_client_t *client,
                       const char *room, int status, int64_t missed) {
  (void)app;
  join_done(client, room, status < 0 ? status : 0, missed);
}

/* Leave the room the client is in, if any, for `name`; with `resume`,
 * after the message (epoch, after) of its history (*missed: what cannot
 * be had, -1 unknown). In a room shared through Redis that this server
 * has no client in yet, a resume waits for the room's stream from Redis
 * (HUBX_APP_PENDING: join_done() comes later). */
static int room_join(hub_client_t *client, const char *name, int resume,
                     uint64_t epoch, uint64_t after, int64_t *missed) {
  const char *now = client_room(client);
  char old[HUB_TOPIC_MAX + 1];
  int r;

  *missed = 0;
  /* A resume still waiting for Redis is dropped for this join: one room
   * at a time. */
  hubx_app_cancel_resume(app_of(client), client);
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
  else
    r = hubx_app_subscribe_from(app_of(client), client, name, epoch, after,
                                missed);
  if (r < 0)
    return r;
  if (now != NULL)
    (void)hub_unsubscribe(client, old);
  return r == HUBX_APP_PENDING ? r : 0;
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
  if (r == HUBX_APP_PENDING) {
    hubx_log("#%llu: resumes in room '%s' once this server has the "
             "room's history from Redis", client_id(client), shown);
    return;
  }
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
  hubx_app_t *app = hub_tcp_server_get_data(server);
  echo_t *echo = app->data;
  struct sockaddr_storage peer;
  int len = sizeof(peer), r;
  int64_t missed;
  char addr[64] = "?";

  client_set_data(client, (void *)(uintptr_t)++echo->next_id);
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

static void on_client_close(hubx_app_t *app, hub_client_t *client,
                            int status) {
  hubx_log("#%llu: disconnected: %s (%llu clients)", client_id(client),
           close_reason(status), (unsigned long long)clients_now(app->hub));
}

static void on_line(hub_tcp_server_t *server, hub_client_t *client,
                    const char *line, size_t len) {
  hubx_app_t *app = hub_tcp_server_get_data(server);
  const char *room = client_room(client), *arg;
  size_t alen;
  int r;

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
  if (room == NULL) { /* its resume waits for the room from Redis */
    reply2(client, "[hub] not in a room yet: line not sent",
           "{\"hub\":\"error\",\"error\":\"not in a room yet\"}");
    return;
  }
  r = hubx_app_publish(app, room, line, len, 0);
  if (r < 0)
    hubx_log("#%llu: line of %zu bytes not sent: %s", client_id(client), len,
             hub_strerror(r));
}

static void on_log(hub_tcp_server_t *server, hub_client_t *client, int err,
                   const char *msg) {
  (void)err;
  hubx_app_log(hub_tcp_server_get_data(server), client, msg);
}

/* ------------------------------------------------------------------------
 * Operating: the adapter's part of /metrics (--metrics-listen)
 * ------------------------------------------------------------------------ */

static const hubx_metrics_field_t tcp_families[] = {
  HUBX_METRICS_GAUGE(hub_tcp_stats_t, connections,
                     "hub_tcp_connections",
                     "Connections open now."),
  HUBX_METRICS_COUNTER(hub_tcp_stats_t, accepted,
                       "hub_tcp_accepted_total",
                       "Connections ever accepted."),
  HUBX_METRICS_COUNTER(hub_tcp_stats_t, accept_errors,
                       "hub_tcp_accept_errors_total",
                       "Failed accepts."),
  HUBX_METRICS_COUNTER(hub_tcp_stats_t, lines,
                       "hub_tcp_lines_received_total",
                       "Lines received from clients."),
  HUBX_METRICS_COUNTER(hub_tcp_stats_t, lines_too_long,
                       "hub_tcp_lines_too_long_total",
                       "Clients closed for a line over --max-line."),
  HUBX_METRICS_COUNTER(hub_tcp_stats_t, idle_timeouts,
                       "hub_tcp_idle_timeouts_total",
                       "Clients closed by --idle-timeout."),
  HUBX_METRICS_COUNTER(hub_tcp_stats_t, line_timeouts,
                       "hub_tcp_line_timeouts_total",
                       "Clients closed by --line-timeout."),
  HUBX_METRICS_COUNTER(hub_tcp_stats_t, refused_per_ip,
                       "hub_tcp_refused_per_ip_total",
                       "Connections closed by --max-conns-per-ip."),
  HUBX_METRICS_COUNTER(hub_tcp_stats_t, lines_over_rate,
                       "hub_tcp_lines_over_rate_total",
                       "Lines dropped by --max-msg-rate."),
  HUBX_METRICS_GAUGE(hub_tcp_stats_t, partial_bytes,
                     "hub_tcp_partial_bytes",
                     "Bytes held now for partial lines."),
};

HUBX_APP_ADAPTER(tcp_adapter, hub_tcp, tcp_families);

/* ------------------------------------------------------------------------
 * Start and stop
 * ------------------------------------------------------------------------ */

static void close_server(hubx_app_t *app) {
  hub_tcp_server_close(app->server, NULL);
  hubx_app_server_closed(app);
}

static int start(hubx_app_t *app) {
  echo_t *echo = app->data;
  const hub_tcp_options_t *o = &echo->options;
  char addr[64], idle[32] = "off";
  int r;

  r = hubx_app_listen(app, &tcp_adapter, o, addr, sizeof(addr));
  if (r != 0)
    return r;
  if (o->idle_timeout_ms > 0)
    snprintf(idle, sizeof(idle), "%.3f s",
             (double)o->idle_timeout_ms / 1000.0);
  fprintf(stderr,
          PROG ": listening on %s (policy %s, max-queue-msgs %zu, "
          "max-queue-bytes %zu, max-line %zu, idle-timeout %s, "
          "line-timeout %llu ms, max-conns-per-ip %u, max-msg-rate %u)\n",
          addr, hubx_policy_name(app->options.policy),
          app->options.max_queue_msgs, app->options.max_queue_bytes,
          o->max_line, idle, (unsigned long long)o->line_timeout_ms,
          (unsigned)o->max_conns_per_ip, (unsigned)o->max_msg_rate);
  return hubx_app_serve(app);
}

static const hubx_app_program_t program = {
  .prog = PROG,
  .listen = "127.0.0.1:9000",
  .help = {usage_synopsis, usage_flags, usage_tail},
  .callbacks = {client_id, notice_text, on_client_close, on_resumed,
                close_server, NULL},
};

int main(int argc, char **argv) {
  static hubx_app_t app;
  static echo_t echo;

  hubx_app_init(&app, &program, &echo);
  parse_args(&app, argc, argv);
  if (hubx_app_open(&app) != 0)
    return 1;
  if (start(&app) != 0)
    hubx_app_fail(&app);
  return hubx_app_run(&app);
}
