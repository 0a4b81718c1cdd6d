/* A fixture for the backplane's C tests: a real redis-server of the test's
 * own on a free loopback port, hubs with in-memory clients, and bridges,
 * all on one loop driven from the test's thread.
 *
 * redis-server is found through $HUB_REDIS_SERVER or PATH. It is started
 * with no persistence, on 127.0.0.1 only, and killed by the test; one that
 * a failed test left running is killed when the test program exits. */
#ifndef HUB_REDIS_FIXTURE_H
#define HUB_REDIS_FIXTURE_H

#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"
#include "hub-redis-envelope.h"
#include "hub-redis.h"
#include "mem-transport.h"
#include "support.h"

#define RX_CLIENTS 4

static uv_loop_t rx_loop;

/* One loop iteration without blocking, then wait a little for events. */
static inline void rx_step(void) {
  uv_run(&rx_loop, UV_RUN_NOWAIT);
  ts_loop_wait(&rx_loop, 5);
}

#define RX_UNTIL(cond) TS_UNTIL_MS(rx_step(), cond, TS_DEADLINE_MS)

/* Run the loop for `ms` milliseconds. */
static inline void rx_run_for(uint64_t ms) {
  TS_RUN_FOR(rx_step(), ms);
}

/* ------------------------------------------------------------------------
 * redis-server
 * ------------------------------------------------------------------------ */

typedef struct {
  uv_process_t proc;
  int port;
  int running; /* spawned and not reaped */
  char password[32];
} rx_redis_t;

/* A port that was free a moment ago. */
static inline int rx_free_port(void) {
  struct sockaddr_in a;
  socklen_t len = sizeof(a);
  int fd = socket(AF_INET, SOCK_STREAM, 0), port;

  memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
      getsockname(fd, (struct sockaddr *)&a, &len) != 0)
    abort();
  port = ntohs(a.sin_port);
  close(fd);
  return port;
}

/* Servers still running, killed at exit if a failed test left them. */
#define RX_MAX_SERVERS 8
static int rx_pids[RX_MAX_SERVERS];

static inline void rx_kill_leftovers(void) {
  int i;

  for (i = 0; i < RX_MAX_SERVERS; i++)
    if (rx_pids[i] > 0)
      kill(rx_pids[i], SIGKILL);
}

static inline void rx_track(int pid, int add) {
  static int registered;
  int i;

  if (!registered) {
    registered = 1;
    atexit(rx_kill_leftovers);
  }
  for (i = 0; i < RX_MAX_SERVERS; i++) {
    if (add && rx_pids[i] == 0) {
      rx_pids[i] = pid;
      return;
    }
    if (!add && rx_pids[i] == pid) {
      rx_pids[i] = 0;
      return;
    }
  }
}

static inline void rx_on_redis_exit(uv_process_t *proc, int64_t status,
                                    int signum) {
  rx_redis_t *r = proc->data;

  (void)status;
  (void)signum;
  rx_track(proc->pid, 0);
  uv_close((uv_handle_t *)proc, NULL);
  r->running = 0;
}

/* A synchronous connection for the test's own commands; NULL if Redis
 * does not answer. AUTHs when the server has a password. */
static inline redisContext *rx_cli(const rx_redis_t *r) {
  struct timeval tv = {1, 0};
  redisContext *c = redisConnectWithTimeout("127.0.0.1", r->port, tv);
  redisReply *reply;

  if (c == NULL || c->err) {
    if (c != NULL)
      redisFree(c);
    return NULL;
  }
  if (r->password[0] != '\0') {
    reply = redisCommand(c, "AUTH %s", r->password);
    if (reply != NULL)
      freeReplyObject(reply);
  }
  return c;
}

/* An integer reply of a command, or -1. */
static inline long long rx_cmd_int(const rx_redis_t *r, const char *fmt,
                                   const char *arg) {
  redisContext *c = rx_cli(r);
  redisReply *reply;
  long long v = -1;

  if (c == NULL)
    return -1;
  reply = redisCommand(c, fmt, arg);
  if (reply != NULL && reply->type == REDIS_REPLY_INTEGER)
    v = reply->integer;
  if (reply != NULL && reply->type == REDIS_REPLY_ARRAY &&
      reply->elements == 2 && reply->element[1]->type == REDIS_REPLY_INTEGER)
    v = reply->element[1]->integer; /* PUBSUB NUMSUB channel */
  if (reply != NULL)
    freeReplyObject(reply);
  redisFree(c);
  return v;
}

/* Publish raw bytes, as any other Redis client could. */
static inline void rx_publish_raw(const rx_redis_t *r, const char *channel,
                                  const void *data, size_t len) {
  redisContext *c = rx_cli(r);
  redisReply *reply;

  if (c == NULL)
    abort();
  reply = redisCommand(c, "PUBLISH %s %b", channel, data, len);
  if (reply != NULL)
    freeReplyObject(reply);
  redisFree(c);
}

static inline int rx_redis_answers(const rx_redis_t *r) {
  redisContext *c = rx_cli(r);
  redisReply *reply;
  int ok;

  if (c == NULL)
    return 0;
  reply = redisCommand(c, "PING");
  ok = reply != NULL; /* PONG, or NOAUTH: either way it is up */
  if (reply != NULL)
    freeReplyObject(reply);
  redisFree(c);
  return ok;
}

/* Start redis-server on r->port (a free one if 0). Returns 0 once it
 * answers PING. */
static inline int rx_redis_start(rx_redis_t *r) {
  uv_process_options_t o;
  uv_stdio_container_t stdio[3];
  char port[16];
  const char *bin = getenv("HUB_REDIS_SERVER");
  char *args[16];
  int n = 0, i;

  if (bin == NULL || bin[0] == '\0')
    bin = "redis-server";
  if (r->port == 0)
    r->port = rx_free_port();
  snprintf(port, sizeof(port), "%d", r->port);
  args[n++] = (char *)bin;
  args[n++] = "--port";
  args[n++] = port;
  args[n++] = "--bind";
  args[n++] = "127.0.0.1";
  args[n++] = "--save";
  args[n++] = "";
  args[n++] = "--appendonly";
  args[n++] = "no";
  args[n++] = "--daemonize";
  args[n++] = "no";
  if (r->password[0] != '\0') {
    args[n++] = "--requirepass";
    args[n++] = r->password;
  }
  args[n] = NULL;
  memset(&o, 0, sizeof(o));
  memset(stdio, 0, sizeof(stdio));
  for (i = 0; i < 3; i++)
    stdio[i].flags = UV_IGNORE;
  o.file = bin;
  o.args = args;
  o.exit_cb = rx_on_redis_exit;
  o.stdio = stdio;
  o.stdio_count = 3;
  r->proc.data = r;
  if (uv_spawn(&rx_loop, &r->proc, &o) != 0)
    return -1;
  r->running = 1;
  rx_track(r->proc.pid, 1);
  RX_UNTIL(rx_redis_answers(r) || !r->running);
  return rx_redis_answers(r) ? 0 : -1;
}

static inline void rx_redis_signal(rx_redis_t *r, int sig) {
  if (r->running)
    (void)uv_process_kill(&r->proc, sig);
}

/* Kill it and wait until it is reaped. */
static inline void rx_redis_kill(rx_redis_t *r) {
  rx_redis_signal(r, SIGKILL);
  RX_UNTIL(!r->running);
  uv_run(&rx_loop, UV_RUN_NOWAIT); /* the process handle's close */
}

/* ------------------------------------------------------------------------
 * Nodes: a hub, in-memory clients, a bridge
 * ------------------------------------------------------------------------ */

typedef struct {
  hub_t *hub;
  hub_redis_t *bridge;
  mem_transport mt;
  mem_conn *c[RX_CLIENTS];
  int logs;
  int errs[16]; /* the last errors logged, newest last */
  char last_log[1024];
  int saw_auth, saw_noauth, saw_connect_err, saw_lost, saw_full;
  int saw_connected, saw_reconnected;
  int hub_closed, bridge_closed;
  int close_on_log; /* close the bridge from on_log */
} rx_node_t;

static inline void rx_on_log(hub_redis_t *b, int err, const char *msg) {
  rx_node_t *n = hub_redis_get_data(b);

  n->logs++;
  memmove(n->errs, n->errs + 1, sizeof(n->errs) - sizeof(n->errs[0]));
  n->errs[15] = err;
  snprintf(n->last_log, sizeof(n->last_log), "%s", msg);
  if (getenv("HUB_TEST_VERBOSE") != NULL)
    fprintf(stderr, "  [node %p] %d %s\n", (void *)n, err, msg);
  n->saw_auth += err == HUB_REDIS_EAUTH;
  n->saw_noauth += err == HUB_REDIS_ENOAUTH;
  n->saw_connect_err += err == HUB_REDIS_ECONNECT;
  n->saw_lost += err == HUB_REDIS_ELOST;
  n->saw_full += err == HUB_EQFULL;
  n->saw_connected += err == 0 && strstr(msg, "connected to Redis") == msg;
  n->saw_reconnected += err == 0 && strstr(msg, "reconnected") == msg;
  if (n->close_on_log && n->bridge != NULL) {
    hub_redis_t *bridge = n->bridge;
    n->bridge = NULL;
    hub_redis_close(bridge, NULL);
  }
}

static inline void rx_on_topic(hub_t *hub, const char *topic, int active) {
  rx_node_t *n = hub_get_data(hub);

  if (n->bridge != NULL)
    (void)hub_redis_topic_changed(n->bridge, topic, active);
}

static inline void rx_on_hub_closed(hub_t *hub) {
  rx_node_t *n = hub_get_data(hub);

  n->hub_closed = 1;
}

static inline void rx_on_bridge_closed(hub_redis_t *b) {
  rx_node_t *n = hub_redis_get_data(b);

  n->bridge_closed = 1;
}

/* A node with RX_CLIENTS clients; `tweak` may change the bridge's
 * options. Returns 0 or an error. */
static inline int rx_node_start(rx_node_t *n, int port, const char *password,
                                void (*tweak)(hub_redis_options_t *)) {
  hub_options_t ho;
  hub_redis_options_t ro;
  int i, r;

  memset(n, 0, sizeof(*n));
  hub_options_init(&ho);
  ho.on_topic = rx_on_topic;
  ho.data = n;
  ho.max_queue_msgs = 100000;
  ho.max_queue_bytes = 64u << 20;
  r = hub_new(&n->hub, &rx_loop, &ho);
  if (r != 0)
    return r;
  mem_transport_init(&n->mt, 1);
  for (i = 0; i < RX_CLIENTS; i++)
    n->c[i] = mem_connect(n->hub, &n->mt, MEM_WRITE_SYNC, MEM_CLOSE_SYNC,
                          NULL);
  hub_redis_options_init(&ro);
  ro.host = "127.0.0.1";
  ro.port = port;
  ro.password = password;
  ro.retry_min_ms = 20;
  ro.retry_max_ms = 200;
  ro.max_message = 64u << 20;
  ro.on_log = rx_on_log;
  ro.data = n;
  if (tweak != NULL)
    tweak(&ro);
  return hub_redis_new(&n->bridge, n->hub, &ro);
}

static inline hub_redis_stats_t rx_stats(const rx_node_t *n) {
  hub_redis_stats_t st;

  memset(&st, 0, sizeof(st));
  if (n->bridge != NULL)
    hub_redis_get_stats(n->bridge, &st);
  return st;
}

static inline int rx_connected(const rx_node_t *n) {
  return n->bridge != NULL &&
         hub_redis_get_state(n->bridge) == HUB_REDIS_CONNECTED;
}

/* Close the bridge, then the hub; free the clients. */
static inline void rx_node_stop(rx_node_t *n) {
  int i;

  if (n->bridge != NULL) {
    hub_redis_t *b = n->bridge;
    n->bridge = NULL;
    hub_redis_close(b, rx_on_bridge_closed);
  } else {
    n->bridge_closed = 1;
  }
  hub_close(n->hub, 0, rx_on_hub_closed);
  RX_UNTIL(n->hub_closed && n->bridge_closed);
  for (i = 0; i < RX_CLIENTS; i++)
    mem_conn_free(n->c[i]);
}

/* How many times "<text>" was written to a client. */
static inline int rx_count(const mem_conn *c, const char *text) {
  char framed[256];
  const char *p;
  int k = 0;

  snprintf(framed, sizeof(framed), "<%s>", text);
  for (p = c->out; p != NULL && (p = strstr(p, framed)) != NULL;
       p += strlen(framed))
    k++;
  return k;
}

/* Messages written to a client. */
static inline int rx_msgs(const mem_conn *c) {
  const char *p;
  int k = 0;

  for (p = c->out; p != NULL && *p != '\0'; p++)
    k += *p == '<';
  return k;
}

/* The loop is empty: every handle closed. */
static inline int rx_loop_close(void) {
  uv_run(&rx_loop, UV_RUN_DEFAULT);
  return uv_loop_close(&rx_loop);
}

#endif /* HUB_REDIS_FIXTURE_H */
