/* hub-ws-chat: chat rooms in the browser. Every message a WebSocket
 * client sends goes to every client in its room, the sender included, with
 * the same type (text or binary) and bytes.
 *
 * GET / serves the chat page (embedded in the program at build time), GET
 * /ws?room=NAME is the WebSocket endpoint (the room "lobby" without a
 * name), anything else is 404. Each room is a hub topic, so a message costs
 * O(clients in its room). A client that lost messages (under the drop
 * policies) is told how many. With --redis, several servers share their
 * rooms through Redis. Built on libhub and the hub-ws adapter; what
 * every example program does alike (flags of the hub, signals, logs,
 * /metrics, Redis, start and stop) is the app's (hubx-app.h), this file
 * holds the chat's HTTP and WebSocket side. See docs/ws.md. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "chat-presence.h"
#include "chat-room.h"
#include "hub-sse.h"
#include "hub-ws.h"
#include "hubx-app.h"
#include "hubx-id.h"
#include "hubx-text.h"
#include "hubx-token.h"

#define PROG "hub-ws-chat"
#define MAX_ORIGINS 32
#define MAX_HOSTS 32
#define MAX_PROXIES 32
#define DEFAULT_ROOM CHAT_DEFAULT_ROOM
/* The subprotocol of clients that read message ids and resume. */
#define PROTOCOL_V1 "libhub.v1"
_Static_assert(CHAT_ROOM_MAX == HUB_TOPIC_MAX, "room names are topics");
/* A client-provided string in a log line, escaped: at most this long. */
#define LOG_TEXT_MAX 600

/* refuse_saying() answered the request itself: on_request returns 0. */
#define ANSWERED (-1)
/* A minted token is valid at most 10 years. */
#define TOKEN_TTL_MAX_MS (3650ull * 86400 * 1000)
/* The secret tokens are signed with, in bytes. */
#define SECRET_MIN 16
#define SECRET_MAX 1024
_Static_assert(CHAT_NAME_MAX == HUBX_TOKEN_NAME_MAX, "one limit for names");

/* The page, generated from chat.html by the build. */
extern const unsigned char hub_ws_chat_page[];
extern const size_t hub_ws_chat_page_len;

/* The chat's own flags; the app holds the others. */
typedef struct {
  const char *origins[MAX_ORIGINS];
  const char *hosts[MAX_HOSTS]; /* --host */
  const char *proxies[MAX_PROXIES]; /* --trust-proxy */
  size_t n_hosts;
  hub_ws_options_t ws;
  int max_message_set;
  /* Signed tokens (--auth-secret-file, --mint-token, --token-ttl). */
  const char *auth_secret_file;
  const char *mint_name;
  uint64_t token_ttl_ms;
} config_t;

typedef struct app_s app_t;

static int valid_host_name(const char *s, size_t n);


/* A client's data is its member (chat-presence.h): its id, the name it
 * goes by and its room's presence entry. Its room is also the one topic
 * it is subscribed to (client_topic()), and the hub counts the drops not
 * yet announced (gap_untaken). */

/* The chat's state beside the app's: `base` is the app (hubx-app.h), whose
 * data is this. */
struct app_s {
  hubx_app_t base; /* base.server: the hub_ws_server_t */
  /* The room of the WebSocket request on_request accepted last, for the
   * on_connect that follows it (hub-ws.h guarantees the order). */
  char pending_room[HUB_TOPIC_MAX + 1];
  int pending;
  /* ... whether it chose libhub.v1, and where it resumes (since=). */
  int pending_v1, pending_resume;
  uint64_t pending_epoch, pending_after;
  /* ... the name it goes by ("" for none), whether a token gave it, and
   * whether it asked for presence notices (presence=1). */
  char pending_name[CHAT_NAME_MAX + 1];
  int pending_named_by_token, pending_presence;
  chat_presence_t presence;
  /* The secret tokens are signed with (--auth-secret-file); NULL when
   * clients are not authenticated. */
  char *secret;
  size_t secret_len;
  /* The names the server answers to besides IP addresses and localhost
   * (--host). */
  const char *const *hosts;
  size_t n_hosts;
  uint64_t next_id;
  int deflate; /* the server accepts permessage-deflate */
};

static const char usage_synopsis[] =
    "usage: " PROG " [--listen HOST:PORT] [--origin ORIGIN]...\n"
    "                   [--max-message BYTES] [--ping-interval SECONDS]\n"
    "                   [--max-queue-msgs N] [--max-queue-bytes N]\n"
    "                   [--policy disconnect|drop-oldest|drop-newest|catch-up]\n"
    "                   [--message-timeout SECONDS] [--max-conns-per-ip N]\n"
    "                   [--max-msg-rate R] [--msg-burst B]\n"
    "                   [--no-deflate] [--deflate-threshold BYTES]\n"
    "                   [--deflate-level N] [--deflate-window-bits N]\n"
    "                   [--host NAME]... [--send-buffer N] [--quiet]\n"
    "                   [--trust-proxy ADDR[/BITS]]...\n"
    "                   [--auth-secret-file FILE [--token-ttl SECONDS]]\n"
    "                   " HUBX_HUB_SYNOPSIS "\n"
    "                   " HUBX_OPS_SYNOPSIS "\n";

static const char usage_flags[] =
    "\n"
    "Chat rooms: open http://HOST:PORT/ in a few browser tabs. A WebSocket\n"
    "client of ws://HOST:PORT/ws?room=NAME is in room NAME (percent-encoded,\n"
    "1 to 255 bytes of UTF-8 without control characters or bidirectional\n"
    "controls, as in hub-tcp-echo); without a name, in \"" DEFAULT_ROOM "\".\n"
    "Every message a client sends goes to every client in its room, the\n"
    "sender included, as text or binary as it came. A libhub.v1 or /events\n"
    "client that asks with presence=1 is told who joins and leaves its room\n"
    "(&name=NAME names a client without a token). Under the drop\n"
    "policies, a client that lost messages gets a text message\n"
    "{\"hub\":\"gap\",\"dropped\":N} before the next ones.\n"
    "\n"
    "  --listen HOST:PORT     address to listen on (default 127.0.0.1:8080;\n"
    "                         port 0 picks a free port, printed at start)\n"
    "  --origin ORIGIN        also let pages from ORIGIN (such as\n"
    "                         https://chat.example) connect; repeatable.\n"
    "                         Pages this server serves itself are always\n"
    "                         allowed, browsers from other origins get 403;\n"
    "                         clients that send no Origin are allowed\n"
    "  --host NAME            a DNS name this server is reached by;\n"
    "                         repeatable. Requests whose Host header is\n"
    "                         neither an IP address, localhost nor such a\n"
    "                         name get 421 (against DNS rebinding)\n"
    "  --trust-proxy ADDR[/BITS]\n"
    "                         a reverse proxy (an IPv4 or IPv6 address, or a\n"
    "                         CIDR prefix such as 10.0.0.0/8) whose\n"
    "                         X-Forwarded-For names the client, in logs and\n"
    "                         for --max-conns-per-ip; repeatable. Other\n"
    "                         peers' X-Forwarded-For is ignored\n"
    "  --max-message BYTES    longest message a client may send (default\n"
    "                         1M, or --max-queue-bytes if smaller; K, M and\n"
    "                         G suffixes are 1024-based); a longer one\n"
    "                         closes that client with 1009\n"
    "  --ping-interval S      ping a client silent for S seconds (decimals\n"
    "                         allowed; default 30; 0: no heartbeat); one that\n"
    "                         does not answer within S seconds (10 at most)\n"
    "                         is closed\n"
    "  --message-timeout SECONDS\n"
    "                         close (1008) a client whose message is not\n"
    "                         complete that long after its first byte\n"
    "                         (decimals allowed; default 60; 0: never)\n"
    "  --max-conns-per-ip N   connections one client address may have open;\n"
    "                         more get 503 at once (default 0: no limit)\n"
    "  --max-msg-rate R       messages a second a client may send on\n"
    "                         average; one over it closes the client with\n"
    "                         1008 (default 0: no limit)\n"
    "  --msg-burst B          messages a client may send at once (default R)\n"
    "  --no-deflate           do not accept permessage-deflate; by default a\n"
    "                         client that offers it gets it, and each message\n"
    "                         is compressed once for all such clients\n"
    "  --deflate-threshold BYTES\n"
    "                         send messages shorter than this uncompressed\n"
    "                         (default 128)\n"
    "  --deflate-level N      zlib level, 1 (fastest) to 9 (default 6)\n"
    "  --deflate-window-bits N\n"
    "                         compress with a 2^N-byte window, 9 to 15\n"
    "                         (default 15); clients that allow the server\n"
    "                         less get no compression\n"
    "  --max-queue-msgs N     messages queued per client at most (default 256)\n"
    "  --max-queue-bytes N    payload bytes queued per client at most\n"
    "                         (default 1M); at least --max-message\n"
    "  --policy P             when a client's queue is full: disconnect it\n"
    "                         (default), drop-oldest queued messages, or\n"
    "                         drop-newest (refuse the new message), or\n"
    "                         catch-up (it reads the room's history at its\n"
    "                         own pace, losing only what the history lost)\n"
    HUBX_SEND_BUFFER_HELP
    HUBX_HUB_HELP
    HUBX_OPS_HELP("on --listen")
    "  --quiet                do not log connects, disconnects and drops\n"
    "  --auth-secret-file FILE\n"
    "                         authenticate clients: /ws and /events need\n"
    "                         ?token=TOKEN, signed with the secret on FILE's\n"
    "                         first line (16 to 1024 bytes); the name in\n"
    "                         the token is the client's, attached by the\n"
    "                         server to its messages. Off by default\n"
    "  --mint-token NAME      print a token for NAME, signed with\n"
    "                         --auth-secret-file, and exit\n"
    "  --token-ttl SECONDS    how long a minted token is valid (default\n"
    "                         86400)\n";

static const char usage_tail[] =
    "  -h, --help             print this help and exit\n"
    "\n"
    "Logs go to stderr. SIGINT or SIGTERM closes every client with 1001,\n"
    "stops the server and prints final statistics; SIGUSR1 prints the\n"
    "statistics and goes on.\n";

/* "scheme://host[:port]", as browsers send it. */
static int valid_origin(const char *s) {
  const char *host = strstr(s, "://");

  return host != NULL && host > s && host[3] != '\0' &&
         strchr(host + 3, '/') == NULL && strpbrk(s, " \t\r\n") == NULL;
}

/* --origin, --host and --trust-proxy: repeatable, up to a bound. */
static int add_origin(void *target, const char *arg, char *err,
                      size_t errlen) {
  config_t *cfg = target;

  if (!valid_origin(arg))
    return -1;
  if (cfg->ws.n_origins == MAX_ORIGINS)
    return snprintf(err, errlen, "--origin: at most 32 origins"), -1;
  cfg->origins[cfg->ws.n_origins++] = arg;
  return 0;
}

static int add_host(void *target, const char *arg, char *err,
                    size_t errlen) {
  config_t *cfg = target;

  if (!valid_host_name(arg, strlen(arg)))
    return -1;
  if (cfg->n_hosts == MAX_HOSTS)
    return snprintf(err, errlen, "--host: at most 32 names"), -1;
  cfg->hosts[cfg->n_hosts++] = arg;
  return 0;
}

static int add_proxy(void *target, const char *arg, char *err,
                     size_t errlen) {
  config_t *cfg = target;

  if (hub_ws_proxy_check(arg) != 0)
    return -1;
  if (cfg->ws.n_trusted_proxies == MAX_PROXIES)
    return snprintf(err, errlen, "--trust-proxy: at most 32"), -1;
  cfg->proxies[cfg->ws.n_trusted_proxies++] = arg;
  cfg->ws.trusted_proxies = cfg->proxies;
  return 0;
}

/* --max-message, which must then fit in the queues. */
static int set_max_message(void *target, const char *arg, char *err,
                           size_t errlen) {
  config_t *cfg = target;

  (void)err;
  (void)errlen;
  cfg->max_message_set = 1;
  return hubx_parse_size(arg, 1, HUB_WS_MAX_MESSAGE_LIMIT,
                         &cfg->ws.max_message);
}

/* The chat's own flags, as a table for the app's parser (at most
 * CHAT_FLAGS_MAX). */
#define CHAT_FLAGS_MAX 24
static size_t chat_flags(config_t *cfg, hubx_opt_t out[CHAT_FLAGS_MAX]) {
  hub_ws_options_t *o = &cfg->ws;
  const hubx_opt_t flags[] = {
    {"origin", HUBX_OPT_CALL, cfg, 0, 0, "expected SCHEME://HOST[:PORT] "
     "such as https://chat.example", add_origin},
    {"max-message", HUBX_OPT_CALL, cfg, 0, 0,
     "expected a size from 1 to 1G", set_max_message},
    {"ping-interval", HUBX_OPT_SECONDS, &o->ping_interval_ms, 0, INT32_MAX,
     "expected seconds (0 for none)", NULL},
    {"message-timeout", HUBX_OPT_SECONDS, &o->message_timeout_ms, 0,
     INT32_MAX, "expected seconds (0 for none)", NULL},
    HUBX_APP_OPT_PER_IP(&o->max_conns_per_ip),
    {"max-msg-rate", HUBX_OPT_U32, &o->max_msg_rate, 0, 1000000,
     "expected messages a second from 0 (no limit) to 1000000", NULL},
    HUBX_APP_OPT_BURST(&o->msg_burst),
    {"no-deflate", HUBX_OPT_SET, &o->deflate, 0, 0, NULL, NULL},
    {"deflate-threshold", HUBX_OPT_SIZE, &o->deflate_threshold, 0,
     SIZE_MAX / 2, "expected a size in bytes", NULL},
    {"deflate-level", HUBX_OPT_INT, &o->deflate_level, 1, 9,
     "expected 1 to 9", NULL},
    {"deflate-window-bits", HUBX_OPT_INT, &o->deflate_window_bits, 9, 15,
     "expected 9 to 15", NULL},
    {"host", HUBX_OPT_CALL, cfg, 0, 0,
     "expected a DNS name such as chat.example", add_host},
    {"trust-proxy", HUBX_OPT_CALL, cfg, 0, 0, "expected an IP address or "
     "a prefix such as 10.0.0.0/8", add_proxy},
    HUBX_APP_OPT_SEND_BUFFER(&o->send_buffer),
    {"auth-secret-file", HUBX_OPT_STRING, &cfg->auth_secret_file, 0, 0,
     NULL, NULL},
    {"mint-token", HUBX_OPT_STRING, &cfg->mint_name, 0, 0, NULL, NULL},
    {"token-ttl", HUBX_OPT_SECONDS, &cfg->token_ttl_ms, 1000,
     TOKEN_TTL_MAX_MS, "expected seconds, at least 1", NULL},
  };

  _Static_assert(sizeof(flags) <= CHAT_FLAGS_MAX * sizeof(flags[0]),
                 "room for the chat's flags");
  memcpy(out, flags, sizeof(flags));
  return sizeof(flags) / sizeof(flags[0]);
}

/* What the flags imply for the adapter's options, once all are read. */
static void finish_args(app_t *app, config_t *cfg) {
  const hub_options_t *hub = &app->base.options;

  /* A message every client must receive has to fit in their queues. */
  if (cfg->ws.max_message > hub->max_queue_bytes) {
    if (cfg->max_message_set)
      hubx_app_bad_usage(&app->base, "--max-message must not exceed "
                         "--max-queue-bytes (%s)", "a message larger than "
                         "a queue could never be delivered");
    cfg->ws.max_message = hub->max_queue_bytes;
  }
  /* A heartbeat faster than the default answer time waits one period. */
  if (cfg->ws.ping_interval_ms > 0 &&
      cfg->ws.ping_interval_ms < cfg->ws.pong_timeout_ms)
    cfg->ws.pong_timeout_ms = cfg->ws.ping_interval_ms;
  cfg->ws.origins = cfg->origins;
  cfg->ws.origin_same_host = 1;
}

static int on_request(hub_ws_server_t *server, hub_ws_request_t *req);
static void on_connect(hub_ws_server_t *server, hub_client_t *client);
static void on_message(hub_ws_server_t *server, hub_client_t *client,
                       const void *data, size_t len, unsigned int flags);
static void on_log(hub_ws_server_t *server, hub_client_t *client, int err,
                   const char *msg);

static void parse_args(app_t *app, int argc, char **argv, config_t *cfg) {
  hubx_opt_t flags[CHAT_FLAGS_MAX];
  size_t n;

  memset(cfg, 0, sizeof(*cfg));
  hub_ws_options_init(&cfg->ws);
  cfg->ws.send_buffer = HUBX_SEND_BUFFER_DEFAULT;
  cfg->ws.deflate = 1;
  cfg->ws.on_request = on_request;
  cfg->ws.on_connect = on_connect;
  cfg->ws.on_message = on_message;
  cfg->ws.on_log = on_log;
  cfg->ws.data = app;
  cfg->token_ttl_ms = 86400 * 1000ull;
  n = chat_flags(cfg, flags);
  hubx_app_parse_args(&app->base, argc, argv, flags, n);
  if (cfg->mint_name != NULL && cfg->auth_secret_file == NULL)
    hubx_app_bad_usage(&app->base, "--mint-token needs --auth-secret-file "
                       "(%s)", "the secret the server checks tokens with");
  hubx_app_check_args(&app->base);
  finish_args(app, cfg);
}

/* ------------------------------------------------------------------------
 * Logging
 * ------------------------------------------------------------------------ */

static chat_member_t *member_of(const hub_client_t *client) {
  return client_get_data(client);
}

static unsigned long long client_id(const hub_client_t *client) {
  const chat_member_t *m = member_of(client);

  return m != NULL ? (unsigned long long)m->id : 0;
}

static uint64_t clients_now(hub_t *hub) {
  hub_stats_t st;

  hub_get_stats(hub, &st);
  return st.clients;
}

static void close_reason(hub_client_t *client, int status, char *buf,
                         size_t len) {
  int by_peer;
  unsigned code = hub_ws_client_close_code(client, &by_peer);

  switch (status) {
  case 0:
    if (code == 1006)
      snprintf(buf, len, "closed by the server");
    else
      snprintf(buf, len, "closed by the %s with %u",
               by_peer ? "client" : "server", code);
    break;
  case UV_EOF:
    snprintf(buf, len, "connection closed by the client");
    break;
  case HUB_ESLOW:
    snprintf(buf, len, "dropped as a slow consumer");
    break;
  case UV_ETIMEDOUT:
    snprintf(buf, len, "timed out");
    break;
  default:
    snprintf(buf, len, "%s", hub_strerror(status));
  }
}

/* ------------------------------------------------------------------------
 * Gap notices
 *
 * A client that lost messages (evicted under drop-oldest, refused under
 * drop-newest) is told how many with one text message,
 * {"hub":"gap","dropped":N}, queued before the messages that follow; when
 * and how often is hubx-gap.h's business. Sharing the control allowance
 * with the pongs and the close frame, a notice waits while one of those
 * does.
 * ------------------------------------------------------------------------ */

/* libhub.v1 clients: room messages come as "ID\nPAYLOAD", notices as
 * "!\n{...}", which no room message can look like. */
/* Compressed or not. */
static int is_v1(const hub_client_t *client) {
  return hub_ws_client_framing(client) == hub_ws_transport_ids();
}

/* Server-sent events clients get notices as events of type "hub" (the
 * transport frames them so), with the JSON object as their data. */
static int is_sse(const hub_client_t *client) {
  return client_get_transport(client) == hub_sse_transport();
}

/* What sets a notice apart from the room's messages: "!\n" for libhub.v1
 * clients, nothing for others (events are typed by their transport). */
static const char *notice_mark(const hub_client_t *client) {
  return is_v1(client) && !is_sse(client) ? "!\n" : "";
}

/* A gap notice says "missed", as a resume does, to v1 and event clients,
 * and "dropped" to the first protocol's. */
static int notice_text(const hub_client_t *client, char *buf, size_t len,
                       uint64_t dropped) {
  return hubx_gap_json(buf, len, notice_mark(client),
                       is_v1(client) || is_sse(client) ? "missed" : "dropped",
                       dropped);
}

/* What a client that resumed cannot get: `missed` messages the history
 * no longer holds, or (-1) an unknown number, the room's stream having
 * started again (a restart) since the id it gave. */
static void resume_notice(hub_client_t *client, int64_t missed) {
  char buf[96];
  int n;

  if (missed == 0)
    return;
  if (missed < 0)
    n = snprintf(buf, sizeof(buf), "%s{\"hub\":\"reset\",\"missed\":null}",
                 notice_mark(client));
  else
    n = hubx_gap_json(buf, sizeof(buf), notice_mark(client), "missed",
                      (uint64_t)missed);
  (void)client_send(client, buf, (size_t)n, HUB_MSG_CONTROL);
}

/* A message from a client that is in no room yet (its resume waits for
 * the room's history from Redis): not sent, and the client is told. */
static void not_in_room_notice(hub_client_t *client) {
  char buf[64];
  int n = snprintf(buf, sizeof(buf),
                   "%s{\"hub\":\"error\",\"error\":\"not in a room yet\"}",
                   is_v1(client) ? "!\n" : "");

  (void)client_send(client, buf, (size_t)n, HUB_MSG_CONTROL);
}

/* ------------------------------------------------------------------------
 * Rooms
 * ------------------------------------------------------------------------ */

/* ------------------------------------------------------------------------
 * HTTP and WebSocket
 * ------------------------------------------------------------------------ */

/* The page needs nothing but itself and a WebSocket to its own host. */
#define PAGE_HEADERS                                                        \
  "Cache-Control: no-store\r\n"                                             \
  "X-Content-Type-Options: nosniff\r\n"                                     \
  "X-Frame-Options: DENY\r\n"                                               \
  "Referrer-Policy: no-referrer\r\n"                                        \
  "Content-Security-Policy: default-src 'none'; script-src 'unsafe-inline'; " \
  "style-src 'unsafe-inline'; connect-src 'self' ws: wss:; "                \
  "base-uri 'none'; form-action 'none'; frame-ancestors 'none'\r\n"

/* Letters, digits, '-' and '.', as in DNS names (at most 253 bytes). */
static int valid_host_name(const char *s, size_t n) {
  size_t i;

  if (n == 0 || n > 253)
    return 0;
  for (i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
          (c >= '0' && c <= '9') || c == '-' || c == '.'))
      return 0;
  }
  return 1;
}

/* Whether a Host header names this server: an IP address (v4, or v6 in
 * brackets), "localhost", or a --host name, with an optional port. A
 * page's origin matching its Host is trusted as this server's own page;
 * without this check, a site whose name an attacker points at this
 * server's address (DNS rebinding) would pass as such, and its pages
 * could use the chat in a local user's name. */
static int host_ok(const app_t *app, const char *host) {
  char buf[256];
  const char *end, *colon;
  size_t n, i;

  if (host[0] == '[') {
    end = strchr(host, ']');
    if (end == NULL || (end[1] != '\0' && end[1] != ':'))
      return 0;
    n = (size_t)(end - host - 1);
    if (n >= sizeof(buf))
      return 0;
    memcpy(buf, host + 1, n);
    buf[n] = '\0';
    return uv_inet_pton(AF_INET6, buf, &(struct in6_addr){0}) == 0;
  }
  colon = strchr(host, ':');
  n = colon != NULL ? (size_t)(colon - host) : strlen(host);
  if (n == 0 || n >= sizeof(buf) || (colon != NULL && strchr(colon + 1, ':')))
    return 0;
  memcpy(buf, host, n);
  buf[n] = '\0';
  if (uv_inet_pton(AF_INET, buf, &(struct in_addr){0}) == 0 ||
      strcasecmp(buf, "localhost") == 0)
    return 1;
  for (i = 0; i < app->n_hosts; i++)
    if (strcasecmp(buf, app->hosts[i]) == 0)
      return 1;
  return 0;
}

/* Refuse a request with `status`, and log it once, with why: the adapter
 * leaves refusals by on_request to the application, which knows why. */
static int refuse(hub_ws_request_t *req, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void refusal_log(hub_ws_request_t *req, int status,
                        const char *fmt, va_list ap) {
  struct sockaddr_storage peer;
  int len = sizeof(peer);
  char addr[64] = "?", why[LOG_TEXT_MAX + 100];

  if (hub_ws_request_client_address(req, (struct sockaddr *)&peer,
                                    &len) == 0)
    hubx_addr_str((struct sockaddr *)&peer, addr, sizeof(addr));
  vsnprintf(why, sizeof(why), fmt, ap);
  hubx_log("%s: refused with %d: %s", addr, status, why);
}

static int refuse(hub_ws_request_t *req, int status, const char *fmt, ...) {
  va_list ap;

  va_start(ap, fmt);
  refusal_log(req, status, fmt, ap);
  va_end(ap);
  return status;
}

/* As refuse(), but the body tells the client why in words (`says`, one
 * line), for the page to show: a browser's WebSocket never sees the
 * status of a refused handshake, so the page asks again with a plain GET
 * and reads this. Returns ANSWERED, or the status if no answer could
 * be made (on_request then returns it: the same status, without words). */
static int refuse_saying(hub_ws_request_t *req, int status,
                         const char *says, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int refuse_saying(hub_ws_request_t *req, int status,
                         const char *says, const char *fmt, ...) {
  char body[LOG_TEXT_MAX + 2];
  va_list ap;
  int n;

  va_start(ap, fmt);
  refusal_log(req, status, fmt, ap);
  va_end(ap);
  n = snprintf(body, sizeof(body), "%s\n", says);
  if (n < 0 || (size_t)n >= sizeof(body))
    n = (int)strlen(body);
  if (hub_ws_request_respond(req, status, "text/plain; charset=utf-8",
                             status == 401
                                 ? "WWW-Authenticate: Bearer realm=\"chat\"\r\n"
                                 : NULL,
                             body, (size_t)n) != 0)
    return status;
  return ANSWERED;
}

/* `s` (the client's) escaped for a log line, into shown. */
static const char *shown_as(const char *s, char shown[LOG_TEXT_MAX]) {
  return hubx_escape(s, strlen(s), shown, LOG_TEXT_MAX);
}

/* The request target for a log line: a token's value (a password while it
 * is valid) left out, the rest escaped. */
static const char *shown_target(const char *target,
                                char shown[LOG_TEXT_MAX]) {
  const char *query = strchr(target, '?'), *p = target;
  char buf[LOG_TEXT_MAX];
  size_t o = 0;

  while (*p != '\0' && o + 10 < sizeof(buf)) {
    if (query != NULL && p > query && (p[-1] == '?' || p[-1] == '&') &&
        strncmp(p, "token=", 6) == 0) {
      memcpy(buf + o, "token=...", 9);
      o += 9;
      p += strcspn(p, "&");
      continue;
    }
    buf[o++] = *p++;
  }
  return hubx_escape(buf, o, shown, LOG_TEXT_MAX);
}

/* ------------------------------------------------------------------------
 * Names, presence and tokens
 * ------------------------------------------------------------------------ */

/* --auth-secret-file: the client's name from its token=, checked in
 * constant time; no name of its own choosing. 401 without a valid one,
 * 403 for a signature the secret did not make. */
static int identify_by_token(app_t *app, hub_ws_request_t *req) {
  const char *target = hub_ws_request_target(req);
  char token[HUBX_TOKEN_MAX + 1], shown[LOG_TEXT_MAX], says[160];
  hubx_token_result_t r = HUBX_TOKEN_MALFORMED;
  const char *why;
  size_t n;
  int found;

  why = chat_query_param(target, "token", token, sizeof(token), &n, &found);
  if (why == NULL && !found)
    return refuse_saying(req, 401, "not signed in: this server needs a "
                         "token (open the page with #token=TOKEN)",
                         "no token in '%s'", shown_target(target, shown));
  if (why == NULL)
    r = hubx_token_check(app->secret, app->secret_len, token, n,
                         (int64_t)time(NULL), app->pending_name);
  if (r != HUBX_TOKEN_OK) {
    snprintf(says, sizeof(says), "not signed in: %s%s",
             hubx_token_result_str(r),
             r == HUBX_TOKEN_EXPIRED ? " (ask for a new one)" : "");
    return refuse_saying(req, r == HUBX_TOKEN_BAD_SIGNATURE ? 403 : 401,
                         says, "%s in '%s'", hubx_token_result_str(r),
                         shown_target(target, shown));
  }
  app->pending_named_by_token = 1;
  return 0;
}

/* Who the client of a /ws or /events request is (name=, or its token
 * with --auth-secret-file) and whether it asks for presence notices
 * (presence=1; `can_listen`: it can tell notices from messages), into
 * app->pending_*. Returns 0 to go on, else refuse_saying()'s: the request
 * was refused, in words. */
static int identify(app_t *app, hub_ws_request_t *req, int can_listen) {
  const char *target = hub_ws_request_target(req);
  char value[CHAT_NAME_MAX + 1], shown[LOG_TEXT_MAX], says[160];
  const char *why;
  size_t n;
  int found;

  app->pending_name[0] = '\0';
  app->pending_named_by_token = app->pending_presence = 0;
  why = chat_query_param(target, "presence", value, sizeof(value), &n,
                         &found);
  if (why == NULL && found && strcmp(value, "1") != 0 &&
      strcmp(value, "0") != 0)
    why = "expected presence=1 or presence=0";
  if (why == NULL && found && value[0] == '1' && !can_listen)
    why = "presence notices need the subprotocol libhub.v1";
  if (why != NULL) {
    snprintf(says, sizeof(says), "bad presence parameter: %s", why);
    return refuse_saying(req, 400, says, "bad presence in '%s': %s",
                         shown_target(target, shown), why);
  }
  app->pending_presence = found && value[0] == '1';
  if (app->secret != NULL)
    return identify_by_token(app, req);
  why = chat_query_param(target, "name", value, sizeof(value), &n, &found);
  if (why != NULL && strcmp(why, "a parameter is too long") == 0)
    why = "longer than 64 bytes";
  if (why == NULL && n > 0)
    why = hubx_room_name_check(value, n);
  if (why != NULL) {
    snprintf(says, sizeof(says), "the server refused this name: %s", why);
    return refuse_saying(req, 400, says, "bad name in '%s': %s",
                         shown_target(target, shown), why);
  }
  memcpy(app->pending_name, value, n + 1);
  return 0;
}

/* With --auth-secret-file, what the room gets of a client's text: the
 * name its token gave, attached by the server where the client cannot
 * write, {"user":NAME,"text":TEXT}. A malloc'd buffer of *out_len bytes,
 * or NULL when out of memory. */
static char *signed_text(const chat_member_t *m, const char *text,
                         size_t len, size_t *out_len) {
  size_t nl = strlen(m->name), n, o;
  char *buf;

  n = 9 + chat_json_string(m->name, nl, NULL, 0) + 8 +
      chat_json_string(text, len, NULL, 0) + 2;
  buf = malloc(n);
  if (buf == NULL)
    return NULL;
  o = (size_t)sprintf(buf, "{\"user\":");
  o += chat_json_string(m->name, nl, buf + o, n - o);
  o += (size_t)sprintf(buf + o, ",\"text\":");
  o += chat_json_string(text, len, buf + o, n - o);
  buf[o++] = '}';
  buf[o] = '\0';
  *out_len = o;
  return buf;
}

/* since=ID: resume after the message ID (hubx-id.h; "0": from the oldest
 * message the room holds). NULL, or why it is refused. */
static const char *since_from_target(app_t *app, const char *target) {
  char id[HUBX_ID_MAX + 1];
  const char *why;
  size_t n;
  int found;

  app->pending_resume = 0;
  why = chat_query_param(target, "since", id, sizeof(id), &n, &found);
  if (why != NULL || !found)
    return why;
  if (hubx_id_parse(id, n, &app->pending_epoch, &app->pending_after) != 0)
    return "not a message id";
  app->pending_resume = 1;
  return NULL;
}

/* GET /events?room=NAME: the room as server-sent events, resuming after
 * the Last-Event-ID header or the last-event-id parameter (which clients
 * that cannot set headers use; "0": from the oldest message held). */
static int events_request(app_t *app, hub_ws_request_t *req) {
  const char *target = hub_ws_request_target(req);
  const char *header = hub_ws_request_header(req, "Last-Event-ID");
  char id[HUBX_ID_MAX + 1], shown[LOG_TEXT_MAX];
  const char *why;
  size_t n;
  int found, r;

  if (strcmp(hub_ws_request_method(req), "GET") != 0)
    return refuse(req, 405, "%s is not allowed for /events",
                  hub_ws_request_method(req));
  why = chat_room_from_target(target, app->pending_room);
  if (why != NULL)
    return refuse(req, 400, "bad room name in '%s': %s",
                  shown_target(target, shown), why);
  app->pending_resume = 0;
  why = chat_query_param(target, "last-event-id", id, sizeof(id), &n,
                         &found);
  if (why == NULL && !found && header != NULL && header[0] != '\0') {
    n = strlen(header);
    found = n < sizeof(id);
    if (found)
      memcpy(id, header, n + 1);
    else
      why = "Last-Event-ID is too long";
  }
  if (why == NULL && found &&
      hubx_id_parse(id, n, &app->pending_epoch, &app->pending_after) != 0)
    why = "not a message id";
  if (why != NULL)
    return refuse(req, 400, "bad last event id in '%s': %s",
                  shown_target(target, shown), why);
  app->pending_resume = found;
  if ((r = identify(app, req, 1)) != 0)
    return r == ANSWERED ? 0 : r;
  r = hub_sse_accept(req, 1000);
  if (r == UV_EACCES)
    return refuse(req, 403, "origin not allowed for /events");
  if (r != 0)
    return refuse(req, 500, "cannot stream events: %s", hub_strerror(r));
  app->pending_v1 = 1;
  app->pending = 1;
  return 0;
}

static int on_request(hub_ws_server_t *server, hub_ws_request_t *req) {
  app_t *app = hub_ws_server_get_data(server);
  const char *path = hub_ws_request_path(req);
  const char *method = hub_ws_request_method(req);
  const char *host = hub_ws_request_header(req, "Host");
  const char *why;
  char shown[LOG_TEXT_MAX];
  hubx_ops_reply_t reply;
  int r;

  app->pending = 0;
  if (host == NULL)
    return refuse(req, 400, "no Host header");
  if (!host_ok(app, host))
    return refuse(req, 421, "Host is not a name of this server (see "
                  "--host): '%s'", shown_as(host, shown));
  if (strcmp(path, "/ws") == 0) {
    why = chat_room_from_target(hub_ws_request_target(req),
                                app->pending_room);
    if (why != NULL)
      return refuse(req, 400, "bad room name in '%s': %s",
                    shown_target(hub_ws_request_target(req), shown), why);
    why = since_from_target(app, hub_ws_request_target(req));
    if (why != NULL)
      return refuse(req, 400, "bad since in '%s': %s",
                    shown_target(hub_ws_request_target(req), shown), why);
    app->pending_v1 = hub_ws_request_offers(req, PROTOCOL_V1);
    /* A plain GET (the page asking why its handshake failed) is never
     * upgraded: it is told what an upgrade would be. */
    r = identify(app, req,
                 app->pending_v1 || !hub_ws_request_is_upgrade(req));
    if (r != 0)
      return r == ANSWERED ? 0 : r;
    if (app->pending_v1)
      hub_ws_request_select(req, PROTOCOL_V1, hub_ws_transport_ids());
    app->pending = 1;
    return 0; /* the adapter checks and upgrades the handshake */
  }
  if (strcmp(path, "/events") == 0)
    return events_request(app, req);
  /* /metrics and /healthz, unless turned off or served elsewhere. */
  if (hubx_ops_answer(&app->base.ops, method, path, &reply))
    return hub_ws_request_respond(req, reply.status, reply.content_type,
                                  NULL, reply.body, reply.len) == 0
               ? 0
               : 500;
  if (strcmp(path, "/") != 0 && strcmp(path, "/index.html") != 0)
    return refuse(req, 404, "no page at '%s'", shown_as(path, shown));
  if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
    return refuse(req, 405, "%s is not allowed for the page", method);
  hub_ws_request_respond(req, 200, "text/html; charset=utf-8", PAGE_HEADERS,
                         hub_ws_chat_page, hub_ws_chat_page_len);
  return 0;
}

/* The client is in `room` now (r >= 0, with `missed` to tell it), or
 * could not join it (r < 0: closed). It enters the room's presence: its
 * listeners are told. */
static void joined(app_t *app, hub_client_t *client, const char *room, int r,
                   int64_t missed) {
  chat_member_t *m = member_of(client);
  struct sockaddr_storage peer;
  int len = sizeof(peer);
  char addr[64] = "?", shown[LOG_TEXT_MAX], as[LOG_TEXT_MAX + 8] = "";

  if (hub_ws_client_address(client, (struct sockaddr *)&peer, &len) == 0)
    hubx_addr_str((struct sockaddr *)&peer, addr, sizeof(addr));
  /* The name is the client's: escaped in the log. */
  shown_as(room, shown);
  if (r >= 0)
    r = chat_presence_join(&app->presence, m, room, m->notices);
  if (r < 0) {
    hubx_log("#%llu: connected from %s, but cannot join room '%s': %s, "
             "closing", client_id(client), addr, shown, hub_strerror(r));
    client_close(client, r);
    return;
  }
  resume_notice(client, missed);
  if (m->name[0] != '\0') {
    char name[LOG_TEXT_MAX];

    snprintf(as, sizeof(as), " as '%s'",
             hubx_escape(m->name, strlen(m->name), name, sizeof(name)));
  }
  /* A room line counts the room's clients, this one included; the
   * server's total is on the lines of disconnections. */
  hubx_log("#%llu: connected from %s%s to room '%s' (%zu clients in the "
           "room)", client_id(client), addr, as, shown,
           hub_topic_subscribers(app->base.hub, room));
}

/* A resume that waited for this server to catch up with its room. */
static void on_resumed(hubx_app_t *base, hub_client_t *client,
                       const char *room, int status, int64_t missed) {
  joined(base->data, client, room, status, missed);
}

/* The client joins the room its request named (on_request checked it),
 * from the position it gave (since=). In a room shared through Redis
 * that this server has no client in yet, the client waits until the
 * room's stream has come from Redis. Its member (who it is, whether it
 * asked for presence notices) is made first. */
static void on_connect(hub_ws_server_t *server, hub_client_t *client) {
  app_t *app = hub_ws_server_get_data(server);
  const char *room = app->pending ? app->pending_room : DEFAULT_ROOM;
  int64_t missed = 0;
  chat_member_t *m;
  int r;

  m = chat_member_new(client, ++app->next_id,
                      app->pending ? app->pending_name : "",
                      app->pending && app->pending_named_by_token);
  if (m == NULL) {
    hubx_log("#%llu: out of memory for a new client, closing",
             (unsigned long long)app->next_id);
    client_close(client, UV_ENOMEM);
    return;
  }
  if (app->pending && app->pending_presence)
    m->notices = is_sse(client) ? CHAT_NOTICES_EVENT : CHAT_NOTICES_V1;
  client_set_data(client, m);
  if (app->pending && app->pending_resume) {
    r = hubx_app_subscribe_from(&app->base, client, room, app->pending_epoch,
                                app->pending_after, &missed);
  } else {
    r = hub_subscribe(client, room);
  }
  app->pending = app->pending_resume = 0;
  if (r == HUBX_APP_PENDING) {
    char shown[LOG_TEXT_MAX];

    hubx_log("#%llu: connected; resumes in room '%s' once this server has "
             "the room's history from Redis", client_id(client),
             shown_as(room, shown));
    return;
  }
  joined(app, client, room, r, missed);
}

static void on_client_close(hubx_app_t *base, hub_client_t *client,
                            int status) {
  app_t *app = base->data;
  char why[96];

  close_reason(client, status, why, sizeof(why));
  hubx_log("#%llu: disconnected: %s (%llu clients)", client_id(client), why,
           (unsigned long long)clients_now(base->hub));
  /* Its room's listeners are told it left. */
  chat_member_free(&app->presence, member_of(client));
  client_set_data(client, NULL);
}

static void on_message(hub_ws_server_t *server, hub_client_t *client,
                       const void *data, size_t len, unsigned int flags) {
  app_t *app = hub_ws_server_get_data(server);
  const char *now = client_topic(client, 0);
  char room[HUB_TOPIC_MAX + 1];
  char *signed_copy = NULL;
  size_t n;
  int r;

  if (now == NULL) {
    not_in_room_notice(client);
    return;
  }
  if (app->secret != NULL) {
    /* The room learns who wrote, from the server: text only. */
    if (flags & HUB_MSG_BINARY) {
      hubx_log("#%llu: binary message refused: with --auth-secret-file "
               "messages are text, signed with the sender's name, closing",
               client_id(client));
      (void)hub_ws_client_close(client, 1003, "only text messages here");
      return;
    }
    signed_copy = signed_text(member_of(client), data, len, &len);
    if (signed_copy == NULL) {
      hubx_log("#%llu: out of memory for a message of %zu bytes",
               client_id(client), len);
      return;
    }
    data = signed_copy;
  }
  /* The hub's copy of the name may go with the publish (a slow consumer
   * closed, this client among them): the log below uses ours. */
  n = strlen(now);
  memcpy(room, now, n + 1);
  r = hubx_app_publish(&app->base, room, data, len, flags);
  if (r < 0) {
    char shown[LOG_TEXT_MAX];

    hubx_log("#%llu: message of %zu bytes not sent to room '%s': %s",
             client_id(client), len,
             hubx_escape(room, n, shown, sizeof(shown)), hub_strerror(r));
    /* Its name made it larger than a queue: the sender is told. */
    if (r == HUB_EMSGSIZE && signed_copy != NULL)
      (void)hub_ws_client_close(client, 1009, "message too large");
  }
  free(signed_copy);
}

static void on_log(hub_ws_server_t *server, hub_client_t *client, int err,
                   const char *msg) {
  app_t *app = hub_ws_server_get_data(server);

  (void)err;
  hubx_app_log(&app->base, client, msg);
}

/* ------------------------------------------------------------------------
 * Operating: the adapter's part of /metrics and of the statistics
 * ------------------------------------------------------------------------ */

static const hubx_metrics_field_t ws_families[] = {
  HUBX_METRICS_GAUGE(hub_ws_stats_t, connections,
                     "hub_ws_connections",
                     "Connections open now, in any phase."),
  HUBX_METRICS_COUNTER(hub_ws_stats_t, accepted,
                       "hub_ws_accepted_total",
                       "Connections ever accepted."),
  HUBX_METRICS_COUNTER(hub_ws_stats_t, upgraded,
                       "hub_ws_upgraded_total",
                       "Connections upgraded to WebSocket."),
  HUBX_METRICS_COUNTER(hub_ws_stats_t, http_responses,
                       "hub_ws_http_responses_total",
                       "Plain HTTP requests answered (pages, metrics)."),
  HUBX_METRICS_COUNTER(hub_ws_stats_t, refused,
                       "hub_ws_refused_total",
                       "Requests refused with an error status."),
  HUBX_METRICS_COUNTER(hub_ws_stats_t, refused_per_ip,
                       "hub_ws_refused_per_ip_total",
                       "Connections refused by --max-conns-per-ip."),
  HUBX_METRICS_COUNTER(hub_ws_stats_t, messages,
                       "hub_ws_messages_received_total",
                       "Messages received from clients."),
  HUBX_METRICS_COUNTER(hub_ws_stats_t, protocol_errors,
                       "hub_ws_protocol_errors_total",
                       "Connections closed for a protocol error."),
  HUBX_METRICS_COUNTER(hub_ws_stats_t, timeouts,
                       "hub_ws_timeouts_total",
                       "Connections closed by a deadline."),
  HUBX_METRICS_COUNTER(hub_ws_stats_t, rate_limited,
                       "hub_ws_rate_limited_total",
                       "Clients closed by --max-msg-rate."),
  HUBX_METRICS_COUNTER(hub_ws_stats_t, accept_errors,
                       "hub_ws_accept_errors_total",
                       "Failed accepts."),
  HUBX_METRICS_COUNTER(hub_ws_stats_t, streams,
                       "hub_ws_event_streams_total",
                       "Server-sent event streams opened."),
  HUBX_METRICS_COUNTER(hub_ws_stats_t, deflate_connections,
                       "hub_ws_deflate_connections_total",
                       "Connections upgraded with permessage-deflate."),
  HUBX_METRICS_COUNTER(hub_ws_stats_t, deflated,
                       "hub_ws_deflated_messages_total",
                       "Messages compressed (once for all clients)."),
  HUBX_METRICS_COUNTER(hub_ws_stats_t, deflate_in,
                       "hub_ws_deflate_in_bytes_total",
                       "Bytes of the messages compressed."),
  HUBX_METRICS_COUNTER(hub_ws_stats_t, deflate_out,
                       "hub_ws_deflate_out_bytes_total",
                       "Compressed bytes sent instead."),
  HUBX_METRICS_COUNTER(hub_ws_stats_t, inflated,
                       "hub_ws_inflated_messages_total",
                       "Compressed messages received and inflated."),
};

HUBX_APP_ADAPTER(ws_adapter, hub_ws, ws_families);

static void ws_stats(void *data, const char *prog) {
  app_t *app = data;
  hub_ws_stats_t st;

  if (!app->deflate || app->base.server == NULL)
    return;
  hub_ws_server_get_stats(app->base.server, &st);
  fprintf(stderr,
          "%s: deflate: connections %llu, messages compressed %llu "
          "(%llu -> %llu bytes), messages inflated %llu\n",
          prog, (unsigned long long)st.deflate_connections,
          (unsigned long long)st.deflated,
          (unsigned long long)st.deflate_in,
          (unsigned long long)st.deflate_out,
          (unsigned long long)st.inflated);
}

/* ------------------------------------------------------------------------
 * Start and stop
 * ------------------------------------------------------------------------ */

/* Everyone leaves at once: nobody is left to tell. */
static void on_stop(hubx_app_t *base) {
  app_t *app = base->data;

  app->presence.silent = 1;
}

/* The server has closed its clients with 1001 and waited for them (each
 * at most close_timeout_ms): the hub can go. */
static void on_server_closed(hub_ws_server_t *server) {
  app_t *app = hub_ws_server_get_data(server);

  ws_stats(app, PROG);
  hubx_app_server_closed(&app->base);
}

static void close_server(hubx_app_t *base) {
  hub_ws_server_close(base->server, on_server_closed);
}

/* The "listening on" line, which scripts read first. */
static void say_listening(const app_t *app, const config_t *cfg,
                          const char *addr) {
  const hub_options_t *hub = &app->base.options;
  char ping[32] = "off";

  if (cfg->ws.ping_interval_ms > 0)
    snprintf(ping, sizeof(ping), "%.3f s",
             (double)cfg->ws.ping_interval_ms / 1000.0);
  fprintf(stderr,
          PROG ": listening on %s (page http://%s/, WebSocket ws://%s/ws; "
          "policy %s, max-queue-msgs %zu, max-queue-bytes %zu, "
          "max-message %zu, ping-interval %s, message-timeout %llu ms, "
          "max-conns-per-ip %u, max-msg-rate %u, history %zu, "
          "deflate %s, %zu extra origins)\n",
          addr, addr, addr, hubx_policy_name(hub->policy),
          hub->max_queue_msgs, hub->max_queue_bytes, cfg->ws.max_message,
          ping, (unsigned long long)cfg->ws.message_timeout_ms,
          (unsigned)cfg->ws.max_conns_per_ip, (unsigned)cfg->ws.max_msg_rate,
          hub->history_msgs, cfg->ws.deflate ? "on" : "off",
          cfg->ws.n_origins);
  if (app->secret != NULL)
    fprintf(stderr, PROG ": clients authenticate with tokens signed with "
            "the secret of %s\n", cfg->auth_secret_file);
}

static int start(app_t *app, config_t *cfg) {
  char addr[64];
  int r;

  r = hubx_app_listen(&app->base, &ws_adapter, &cfg->ws, addr,
                      sizeof(addr));
  if (r != 0)
    return r;
  say_listening(app, cfg, addr);
  return hubx_app_serve(&app->base);
}

/* --auth-secret-file: the secret is the file's first line, without its
 * line end. Exits with status 2 when it cannot be used. */
static void read_secret(app_t *app, const char *path) {
  char *buf;
  size_t n;
  FILE *f;

  f = fopen(path, "rb");
  if (f == NULL) {
    fprintf(stderr, PROG ": --auth-secret-file: cannot read '%s': %s\n",
            path, strerror(errno));
    exit(2);
  }
  buf = calloc(1, SECRET_MAX + 2);
  if (buf == NULL) {
    fprintf(stderr, PROG ": out of memory\n");
    exit(2);
  }
  n = fread(buf, 1, SECRET_MAX + 1, f);
  fclose(f);
  n = strcspn(buf, "\r\n");
  if (n < SECRET_MIN || n > SECRET_MAX) {
    fprintf(stderr, PROG ": --auth-secret-file: the first line of '%s' "
            "must be a secret of %d to %d bytes (it has %zu; try: head -c "
            "32 /dev/urandom | base64 > FILE)\n", path, SECRET_MIN,
            SECRET_MAX, n);
    free(buf);
    exit(2);
  }
  app->secret = buf;
  app->secret_len = n;
}

/* --mint-token NAME: print its token and exit. */
static int mint_token(const app_t *app, const config_t *cfg) {
  char token[HUBX_TOKEN_MAX + 1];
  const char *why;

  why = hubx_token_mint(app->secret, app->secret_len, cfg->mint_name,
                        strlen(cfg->mint_name),
                        (int64_t)time(NULL) +
                            (int64_t)(cfg->token_ttl_ms / 1000),
                        token);
  if (why != NULL) {
    fprintf(stderr, PROG ": --mint-token: cannot use '%s' as a name: %s\n",
            cfg->mint_name, why);
    return 2;
  }
  printf("%s\n", token);
  return 0;
}

static void secret_free(app_t *app) {
  if (app->secret != NULL) {
    volatile char *p = app->secret;
    size_t i;

    for (i = 0; i < app->secret_len; i++)
      p[i] = 0;
    free(app->secret);
    app->secret = NULL;
  }
}

static const hubx_app_program_t program = {
  .prog = PROG,
  .listen = "127.0.0.1:8080",
  .help = {usage_synopsis, usage_flags, usage_tail},
  .stats = ws_stats,
  .callbacks = {client_id, notice_text, on_client_close, on_resumed,
                close_server, on_stop},
};

int main(int argc, char **argv) {
  static app_t app;
  config_t cfg;
  int r;

  hubx_app_init(&app.base, &program, &app);
  parse_args(&app, argc, argv, &cfg);
  if (cfg.auth_secret_file != NULL)
    read_secret(&app, cfg.auth_secret_file);
  if (cfg.mint_name != NULL) {
    r = mint_token(&app, &cfg);
    secret_free(&app);
    return r;
  }
  chat_presence_init(&app.presence);
  app.hosts = cfg.hosts;
  app.n_hosts = cfg.n_hosts;
  app.deflate = cfg.ws.deflate;
  if (hubx_app_open(&app.base) != 0) {
    secret_free(&app);
    return 1;
  }
  if (start(&app, &cfg) != 0)
    hubx_app_fail(&app.base);
  r = hubx_app_run(&app.base);
  chat_presence_free(&app.presence);
  secret_free(&app);
  return r;
}
