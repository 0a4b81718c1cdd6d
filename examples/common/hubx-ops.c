/* /metrics, /healthz, SIGUSR1 and --log-format for the example programs:
 * see hubx-ops.h. */
#include "hubx-ops.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hubx-cli.h"
#include "hubx-flags.h"
#include "hubx-http.h"

/* ------------------------------------------------------------------------
 * Flags
 * ------------------------------------------------------------------------ */

void hubx_ops_config_init(hubx_ops_config_t *cfg) {
  memset(cfg, 0, sizeof(*cfg));
}

/* --metrics-listen: its address, and that there is one. */
static int hubx__ops_listen_opt(void *target, const char *arg, char *err,
                                size_t errlen) {
  hubx_ops_config_t *cfg = target;
  char why[128];

  if (hubx_parse_listen(arg, &cfg->addr, why, sizeof(why)) != 0) {
    snprintf(err, errlen, "--metrics-listen: %s", why);
    return -1;
  }
  cfg->metrics_listen = arg;
  return 0;
}

static int hubx__ops_format_opt(void *target, const char *arg, char *err,
                                size_t errlen) {
  (void)err;
  (void)errlen;
  return hubx_log_parse_format(arg, target);
}

void hubx_ops_flags(hubx_ops_config_t *cfg, hubx_opt_t *out) {
  const hubx_opt_t flags[HUBX_OPS_NFLAGS] = {
    {"metrics-listen", HUBX_OPT_CALL, cfg, 0, 0, NULL, hubx__ops_listen_opt},
    {"no-metrics", HUBX_OPT_SET, &cfg->no_metrics, 0, 1, NULL, NULL},
    {"no-healthz", HUBX_OPT_SET, &cfg->no_healthz, 0, 1, NULL, NULL},
    {"log-format", HUBX_OPT_CALL, &cfg->log_format, 0, 0,
     "expected text or json", hubx__ops_format_opt},
  };

  memcpy(out, flags, sizeof(flags));
}

int hubx_ops_config_finish(hubx_ops_config_t *cfg, const char *prog,
                           char *err, size_t errlen) {
  if (cfg->metrics_listen != NULL && cfg->no_metrics && cfg->no_healthz) {
    snprintf(err, errlen, "--metrics-listen with --no-metrics and "
             "--no-healthz would serve nothing");
    return -1;
  }
  if (hubx_log_start(prog, cfg->log_format) != 0) {
    snprintf(err, errlen, "--log-format: cannot set up the log stream");
    return -1;
  }
  return 0;
}

/* ------------------------------------------------------------------------
 * What is served
 * ------------------------------------------------------------------------ */

void hubx_ops_init(hubx_ops_t *ops, const hubx_ops_config_t *cfg,
                   const char *prog, hub_t *hub, const hubx_droplog_t *dl,
                   const hubx_gap_t *gaps) {
  memset(ops, 0, sizeof(*ops));
  ops->cfg = cfg;
  ops->prog = prog;
  ops->hub = hub;
  ops->droplog = dl;
  ops->gaps = gaps;
  hub__queue_init(&ops->conns);
  ops->metrics_on = !cfg->no_metrics;
  ops->healthz_on = !cfg->no_healthz;
  hubx_metrics_init(&ops->text);
}

int hubx_ops_add_source(hubx_ops_t *ops, hubx_ops_metrics_fn metrics,
                        hubx_ops_stats_fn stats, hubx_ops_health_fn health,
                        void *data) {
  if (ops->nsources == HUBX_OPS_SOURCES)
    return UV_ENOBUFS;
  ops->sources[ops->nsources].metrics = metrics;
  ops->sources[ops->nsources].stats = stats;
  ops->sources[ops->nsources].health = health;
  ops->sources[ops->nsources].data = data;
  ops->nsources++;
  return 0;
}

/* The body of /metrics into ops->text: 200, or 500 out of memory. */
static int hubx__metrics(hubx_ops_t *ops, hubx_ops_reply_t *reply) {
  size_t i;

  hubx_metrics_reset(&ops->text);
  hubx_metrics_hub(&ops->text, ops->hub, ops->droplog, ops->gaps);
  for (i = 0; i < ops->nsources; i++)
    if (ops->sources[i].metrics != NULL)
      ops->sources[i].metrics(ops->sources[i].data, &ops->text);
  if (ops->text.failed) {
    reply->status = 500;
    reply->content_type = "text/plain; charset=utf-8";
    reply->body = "out of memory\n";
    reply->len = strlen(reply->body);
    return 500;
  }
  reply->status = 200;
  reply->content_type = HUBX_METRICS_CONTENT_TYPE;
  reply->body = ops->text.data;
  reply->len = ops->text.len;
  return 200;
}

/* /healthz: 200 "ok" while the program serves and every source is
 * healthy, else 503 with the first reason. */
static void hubx__health(hubx_ops_t *ops, hubx_ops_reply_t *reply) {
  const char *why = NULL;
  size_t i;

  if (ops->closing || hub_is_closing(ops->hub))
    why = "shutting down";
  for (i = 0; why == NULL && i < ops->nsources; i++)
    if (ops->sources[i].health != NULL)
      why = ops->sources[i].health(ops->sources[i].data);
  if (why == NULL)
    snprintf(ops->health, sizeof(ops->health), "ok\n");
  else
    snprintf(ops->health, sizeof(ops->health), "unavailable: %s\n", why);
  reply->status = why == NULL ? 200 : 503;
  reply->content_type = "text/plain; charset=utf-8";
  reply->body = ops->health;
  reply->len = strlen(ops->health);
}

/* A request for `path`: 1 with *reply if it is one of ours and served. */
static int hubx__route(hubx_ops_t *ops, const char *method, const char *path,
                       hubx_ops_reply_t *reply) {
  int metrics = strcmp(path, "/metrics") == 0 && ops->metrics_on;
  int healthz = strcmp(path, "/healthz") == 0 && ops->healthz_on;

  if (!metrics && !healthz)
    return 0;
  if (ops->closing) {
    reply->status = 503;
    reply->content_type = "text/plain; charset=utf-8";
    reply->body = "unavailable: shutting down\n";
    reply->len = strlen(reply->body);
    return 1;
  }
  if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
    reply->status = 405;
    reply->content_type = "text/plain; charset=utf-8";
    reply->body = "method not allowed: GET or HEAD\n";
    reply->len = strlen(reply->body);
    return 1;
  }
  if (metrics)
    hubx__metrics(ops, reply);
  else
    hubx__health(ops, reply);
  return 1;
}

int hubx_ops_answer(hubx_ops_t *ops, const char *method, const char *path,
                    hubx_ops_reply_t *reply) {
  if (ops->cfg->metrics_listen != NULL)
    return 0; /* served on their own listener only */
  return hubx__route(ops, method, path, reply);
}

void hubx_ops_log_stats(hubx_ops_t *ops) {
  hub_stats_t st;
  size_t i;

  hub_get_stats(ops->hub, &st);
  hubx_print_stats(ops->prog, "stats", &st);
  for (i = 0; i < ops->nsources; i++)
    if (ops->sources[i].stats != NULL)
      ops->sources[i].stats(ops->sources[i].data, ops->prog);
}

static void hubx__on_usr1(void *data, int signum) {
  hubx_ops_t *ops = data;

  (void)signum;
  if (!ops->closing)
    hubx_ops_log_stats(ops);
}

/* ------------------------------------------------------------------------
 * The listener of its own (--metrics-listen)
 *
 * Each connection gets one request and one answer: its head is read into
 * a fixed buffer (HUBX_HTTP_HEAD_MAX) within HUBX_OPS_REQUEST_TIMEOUT_MS,
 * answered, and the connection is closed. After the answer, the socket is
 * shut down for writing and what the peer still sends is read and thrown
 * away until it closes (or for HUBX_OPS_LINGER_MS), so that closing with
 * unread bytes never turns into a reset that could destroy the answer.
 * ------------------------------------------------------------------------ */

struct hubx_ops_conn_s {
  uv_tcp_t tcp;
  uv_timer_t timer;
  uv_write_t write;
  uv_shutdown_t shutdown;
  hubx_ops_t *ops;
  hub__queue node; /* on ops->conns while open */
  char head[HUBX_HTTP_HEAD_MAX];
  size_t len;
  char *answer; /* the response, while it is written */
  int answered;
  int eof; /* the peer will send nothing more */
  int closing;
  int handles; /* open handles; freed when none is left */
};

static void hubx__conn_on_close(uv_handle_t *handle) {
  hubx_ops_conn_t *c = handle->data;

  if (--c->handles > 0)
    return;
  free(c->answer);
  free(c);
}

static void hubx__conn_close(hubx_ops_conn_t *c) {
  hubx_ops_t *ops = c->ops;

  if (c->closing)
    return;
  c->closing = 1;
  hub__queue_remove(&c->node);
  ops->nconns--;
  uv_close((uv_handle_t *)&c->tcp, hubx__conn_on_close);
  uv_close((uv_handle_t *)&c->timer, hubx__conn_on_close);
}

static void hubx__conn_on_linger(uv_timer_t *timer) {
  hubx__conn_close(timer->data);
}

static void hubx__conn_on_shutdown(uv_shutdown_t *req, int status) {
  (void)req;
  (void)status; /* the linger timer or the peer's close ends it */
}

static void hubx__conn_on_write(uv_write_t *req, int status) {
  hubx_ops_conn_t *c = req->data;

  free(c->answer);
  c->answer = NULL;
  if (c->closing)
    return;
  if (status != 0 || c->eof ||
      uv_shutdown(&c->shutdown, (uv_stream_t *)&c->tcp,
                  hubx__conn_on_shutdown) != 0) {
    hubx__conn_close(c);
    return;
  }
  uv_timer_stop(&c->timer);
  uv_timer_start(&c->timer, hubx__conn_on_linger, HUBX_OPS_LINGER_MS, 0);
}

/* Answer with `reply` (its body left out for HEAD) and close. The answer
 * has HUBX_OPS_REQUEST_TIMEOUT_MS to be written, then the peer
 * HUBX_OPS_LINGER_MS to go. */
static void hubx__conn_answer(hubx_ops_conn_t *c, const char *method,
                              const hubx_ops_reply_t *reply) {
  const char *allow = reply->status == 405 ? "Allow: GET, HEAD\r\n" : "";
  size_t body = strcmp(method, "HEAD") == 0 ? 0 : reply->len, n;
  uv_buf_t buf;
  int head;

  c->answered = 1;
  uv_timer_stop(&c->timer);
  uv_timer_start(&c->timer, hubx__conn_on_linger,
                 HUBX_OPS_REQUEST_TIMEOUT_MS, 0);
  c->answer = malloc(256 + body);
  if (c->answer == NULL) {
    hubx__conn_close(c);
    return;
  }
  head = snprintf(c->answer, 256,
                  "HTTP/1.1 %d %s\r\nContent-Type: %s\r\n"
                  "Content-Length: %zu\r\n%sCache-Control: no-store\r\n"
                  "Connection: close\r\n\r\n",
                  reply->status, hubx_http_reason(reply->status),
                  reply->content_type, reply->len, allow);
  if (head < 0 || head >= 256) {
    hubx__conn_close(c);
    return;
  }
  n = (size_t)head;
  if (body > 0)
    memcpy(c->answer + n, reply->body, body);
  buf = uv_buf_init(c->answer, (unsigned)(n + body));
  c->write.data = c;
  if (uv_write(&c->write, (uv_stream_t *)&c->tcp, &buf, 1,
               hubx__conn_on_write) != 0)
    hubx__conn_close(c);
}

/* An error status, with a one-line body. */
static void hubx__conn_refuse(hubx_ops_conn_t *c, int status) {
  hubx_ops_reply_t reply;
  char body[64];

  snprintf(body, sizeof(body), "%s\n", hubx_http_reason(status));
  reply.status = status;
  reply.content_type = "text/plain; charset=utf-8";
  reply.body = body;
  reply.len = strlen(body);
  hubx__conn_answer(c, "GET", &reply);
}

static void hubx__conn_on_timeout(uv_timer_t *timer) {
  hubx__conn_refuse(timer->data, 408);
}

static void hubx__conn_alloc(uv_handle_t *handle, size_t suggested,
                             uv_buf_t *buf) {
  hubx_ops_conn_t *c = handle->data;
  static char discard[4096]; /* after the answer: read and thrown away */

  (void)suggested;
  if (c->answered)
    *buf = uv_buf_init(discard, sizeof(discard));
  else
    *buf = uv_buf_init(c->head + c->len, (unsigned)(sizeof(c->head) - c->len));
}

static void hubx__conn_on_read(uv_stream_t *stream, ssize_t nread,
                               const uv_buf_t *buf) {
  hubx_ops_conn_t *c = stream->data;
  hubx_ops_reply_t reply;
  hubx_http_req_t req;
  int r;

  (void)buf;
  if (nread == UV_EOF && !c->answered && c->len > 0) {
    c->eof = 1; /* a request cut short: still answered */
    hubx__conn_refuse(c, 400);
    return;
  }
  if (nread < 0) {
    hubx__conn_close(c);
    return;
  }
  if (c->answered || nread == 0)
    return;
  c->len += (size_t)nread;
  r = hubx_http_parse(c->head, c->len, &req);
  if (r == 0)
    return;
  if (r != 200) {
    hubx__conn_refuse(c, r);
    return;
  }
  if (!hubx__route(c->ops, req.method, req.path, &reply)) {
    hubx__conn_refuse(c, 404);
    return;
  }
  hubx__conn_answer(c, req.method, &reply);
}

static void hubx__on_connection(uv_stream_t *server, int status) {
  hubx_ops_t *ops = server->data;
  hubx_ops_conn_t *c;

  if (status != 0 || ops->closing)
    return;
  c = calloc(1, sizeof(*c));
  if (c == NULL)
    return;
  c->ops = ops;
  (void)uv_tcp_init(server->loop, &c->tcp);
  (void)uv_timer_init(server->loop, &c->timer);
  c->tcp.data = c->timer.data = c;
  c->handles = 2;
  hub__queue_insert_head(&ops->conns, &c->node);
  ops->nconns++;
  if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0 ||
      ops->nconns > HUBX_OPS_CONNS_MAX ||
      uv_read_start((uv_stream_t *)&c->tcp, hubx__conn_alloc,
                    hubx__conn_on_read) != 0) {
    hubx__conn_close(c);
    return;
  }
  uv_timer_start(&c->timer, hubx__conn_on_timeout,
                 HUBX_OPS_REQUEST_TIMEOUT_MS, 0);
}

static int hubx__listen(hubx_ops_t *ops, uv_loop_t *loop) {
  struct sockaddr_storage bound;
  int len = sizeof(bound), r;
  char addr[64];

  (void)uv_tcp_init(loop, &ops->listener);
  ops->listener.data = ops;
  ops->listening = 1;
  r = uv_tcp_bind(&ops->listener, (const struct sockaddr *)&ops->cfg->addr,
                  0);
  if (r == 0)
    r = uv_listen((uv_stream_t *)&ops->listener, 64, hubx__on_connection);
  if (r != 0) {
    fprintf(stderr, "%s: cannot listen on %s: %s\n", ops->prog,
            ops->cfg->metrics_listen, uv_strerror(r));
    return r;
  }
  r = uv_tcp_getsockname(&ops->listener, (struct sockaddr *)&bound, &len);
  hubx_addr_str(r == 0 ? (struct sockaddr *)&bound
                       : (struct sockaddr *)&ops->cfg->addr,
                addr, sizeof(addr));
  fprintf(stderr, "%s: operations listener on %s (%s%s%s)\n", ops->prog,
          addr, ops->metrics_on ? "/metrics" : "",
          ops->metrics_on && ops->healthz_on ? ", " : "",
          ops->healthz_on ? "/healthz" : "");
  return 0;
}

int hubx_ops_start(hubx_ops_t *ops, uv_loop_t *loop, hubx_signals_t *sigs) {
  int r;

  r = hubx_signals_on_usr1(sigs, hubx__on_usr1, ops);
  if (r != 0) {
    fprintf(stderr, "%s: cannot catch SIGUSR1: %s\n", ops->prog,
            uv_strerror(r));
    return r;
  }
  if (ops->cfg->metrics_listen == NULL)
    return 0;
  return hubx__listen(ops, loop);
}

void hubx_ops_close(hubx_ops_t *ops) {
  if (ops->closing)
    return;
  ops->closing = 1;
  if (ops->listening)
    uv_close((uv_handle_t *)&ops->listener, NULL);
  while (!hub__queue_empty(&ops->conns))
    hubx__conn_close(
        hub__container_of(ops->conns.next, hubx_ops_conn_t, node));
  hubx_metrics_free(&ops->text);
}
