/* hub-redis: the two Redis connections, their handshake, failures,
 * reconnection with backoff, and the health check.
 *
 * A "session" is one attempt with two hiredis contexts: "pub" publishes,
 * "sub" subscribes. Each sends AUTH (with a password), CLIENT SETNAME and
 * PING; the session is ready when both PINGs are answered. Whatever goes
 * wrong with either connection ends the whole session: both contexts are
 * freed and a new attempt is scheduled. That keeps one rule for every
 * failure, and a new session subscribes to every channel again.
 *
 * hiredis 0.14 rules that shape this file:
 *  - after onConnect(REDIS_ERR) or onDisconnect(), hiredis frees the
 *    context itself: forget it, never free it;
 *  - redisAsyncFree() runs every pending reply callback with a NULL reply
 *    (and onDisconnect(REDIS_OK) if connected); called from inside one of
 *    that context's reply callbacks it is deferred until the callback
 *    returns. So every callback here tolerates a NULL reply and checks
 *    that its context is still the current one. */
#include <arpa/inet.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hub-redis-envelope.h"
#include "hub-redis-int.h"

static void hub_redis__fail(hub_redis_t *b, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static uint64_t hub_redis__now(hub_redis_t *b) {
  return uv_now(b->loop);
}

/* "PREFIX" "all" or "PREFIX" "t:" TOPIC into out (HUB_REDIS_CHANNEL_MAX). */
size_t hub_redis__channel(const hub_redis_t *b, const char *topic,
                          size_t topic_len, char *out) {
  size_t n = b->prefix_len;

  memcpy(out, b->prefix, n);
  if (topic == NULL) {
    memcpy(out + n, "all", 3);
    n += 3;
  } else {
    out[n++] = 't';
    out[n++] = ':';
    memcpy(out + n, topic, topic_len);
    n += topic_len;
  }
  out[n] = '\0';
  return n;
}

/* ------------------------------------------------------------------------
 * Ending a session
 * ------------------------------------------------------------------------ */

static void hub_redis__free_conn(hub_redis__conn *conn) {
  redisAsyncContext *ac = conn->ac;

  conn->ac = NULL;
  conn->ready = 0;
  if (ac != NULL)
    redisAsyncFree(ac); /* deferred if inside one of its callbacks */
}

/* Free both contexts and stop the health check. */
void hub_redis__disconnect(hub_redis_t *b) {
  hub_redis__free_conn(&b->pub);
  hub_redis__free_conn(&b->sub);
  if (!b->closing)
    uv_timer_stop(&b->ping);
  b->ping_outstanding = 0;
  b->stats.channels = 0;
  b->sub_pending = 0;
  hub_redis__topics_unsync(&b->topics);
}

static uint64_t hub_redis__backoff(hub_redis_t *b) {
  uint64_t delay = b->opts.retry_min_ms, half;
  unsigned i;

  for (i = 1; i < b->failures && delay < b->opts.retry_max_ms; i++)
    delay *= 2;
  if (delay > b->opts.retry_max_ms)
    delay = b->opts.retry_max_ms;
  /* Jitter: anywhere between half the delay and the delay. */
  half = delay / 2;
  return half + (delay - half > 0 ? hub_redis__random(b) % (delay - half + 1)
                                  : 0);
}

static void hub_redis__on_timer(uv_timer_t *timer);

/* A lost session: what Redis wrote before it went is still in the
 * sockets. Read it before the connections go: answers to scripts, and
 * the messages Redis published to this node, its own among them (so that
 * a message of this node's that Redis published is heard, not sent again
 * for want of it, hub-redis-heard.c). Only what is there already: a
 * connection that is still up is not waited for. Reading the end of a
 * connection ends it (hub_redis__on_disconnect(), which does nothing more
 * while `draining`). */
static void hub_redis__drain(hub_redis_t *b, hub_redis__conn *conn) {
  struct pollfd p;
  int i;

  for (i = 0; i < 1024 && conn->ac != NULL && !b->closing &&
              !(conn->ac->c.flags & (REDIS_IN_CALLBACK | REDIS_FREEING));
       i++) {
    p.fd = conn->ac->c.fd;
    p.events = POLLIN;
    if (poll(&p, 1, 0) != 1 || !(p.revents & (POLLIN | POLLHUP | POLLERR)))
      break;
    redisAsyncHandleRead(conn->ac);
  }
}

/* The session failed or was lost: end it, say why, and try again later. */
static void hub_redis__fail(hub_redis_t *b, int err, const char *fmt, ...) {
  hub_redis_state_t was = b->state;
  char why[512];
  uint64_t delay;
  va_list ap;

  if (b->closing || was == HUB_REDIS_DISCONNECTED || b->draining)
    return;
  if (was == HUB_REDIS_CONNECTED) {
    b->draining = 1;
    hub_redis__drain(b, &b->pub);
    hub_redis__drain(b, &b->sub);
    b->draining = 0;
    if (b->closing)
      return;
  }
  va_start(ap, fmt);
  vsnprintf(why, sizeof(why), fmt, ap);
  va_end(ap);

  /* The outage's counts start before the commands in flight are
   * failed: those are its first unconfirmed ones. */
  if (was == HUB_REDIS_CONNECTED)
    b->outage_buffered = b->outage_dropped = b->outage_unconfirmed = 0;
  b->requeue_last = NULL;
  hub_redis__disconnect(b);
  b->requeue_last = NULL;
  b->state = HUB_REDIS_DISCONNECTED;
  b->failures++;
  delay = hub_redis__backoff(b);
  uv_timer_start(&b->timer, hub_redis__on_timer, delay, 0);

  if (was == HUB_REDIS_CONNECTED) {
    b->stats.disconnects++;
    b->last_fail_err = err;
    hub_redis__log(b, err,
                   "lost the connection to Redis at %s: %s; clients here "
                   "are still served, and up to %zu messages wait for "
                   "Redis (reconnecting in %llu ms)",
                   b->where, why, b->opts.buffer_msgs,
                   (unsigned long long)delay);
  } else {
    b->stats.connect_failures++;
    /* The first failure of a streak, a new kind of failure, and then one
     * in ten: enough to see that it goes on, without a flood. */
    if (b->failures == 1 || err != b->last_fail_err || b->failures % 10 == 0)
      hub_redis__log(b, err, "%s (attempt %u; retrying in %llu ms)", why,
                     b->failures, (unsigned long long)delay);
    b->last_fail_err = err;
  }
  hub_redis__set_state(b, HUB_REDIS_DISCONNECTED, err);
  /* Resumes waiting for a catch-up get what this node holds now. */
  hub_redis__resumes_run(b, NULL);
}

/* ------------------------------------------------------------------------
 * Subscriptions
 * ------------------------------------------------------------------------ */

/* The bridge a reply of `conn`'s (priv) is for, or NULL if no one waits
 * for it any more: the connection was lost (no reply) or replaced, or the
 * bridge is closing. */
static hub_redis_t *hub_redis__for(redisAsyncContext *ac, void *r,
                                   hub_redis__conn *conn) {
  if (r == NULL || conn->bridge->closing || conn->ac != ac)
    return NULL;
  return conn->bridge;
}

/* Every reply on the subscribing connection: messages, and the counts
 * that come with (un)subscribe confirmations. */
static void hub_redis__on_sub_reply(redisAsyncContext *ac, void *r,
                                    void *priv) {
  hub_redis_t *b = hub_redis__for(ac, r, priv);
  redisReply *reply = r, **e;

  if (b == NULL)
    return;
  if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 3)
    return;
  e = reply->element;
  if (e[0]->type != REDIS_REPLY_STRING || e[1]->type != REDIS_REPLY_STRING)
    return;
  if (strcmp(e[0]->str, "message") == 0) {
    if (e[2]->type == REDIS_REPLY_STRING)
      hub_redis__deliver(b, e[1]->str, e[1]->len, e[2]->str, e[2]->len);
  } else if (e[2]->type == REDIS_REPLY_INTEGER && e[2]->integer >= 0) {
    b->stats.channels = (uint64_t)e[2]->integer;
    if (strcmp(e[0]->str, "subscribe") != 0)
      return;
    /* Now that Redis sends this node the room's messages, fetch what it
     * missed before (sent before anything waiting is published). */
    hub_redis__catch_up(b, e[1]->str, e[1]->len);
    if (b->sub_pending > 0 && --b->sub_pending == 0 &&
        b->state == HUB_REDIS_CONNECTED)
      hub_redis__pump(b); /* what waited for the subscriptions */
  }
}

/* Sequenced rooms: the room's epoch, and its stream from this node's
 * next offset on when the epochs agree (else all of it). */
static const char hub_redis__fetch_script[] =
    "local e = redis.call('GET', KEYS[1]) "
    "if not e then return false end "
    "local s = '-' "
    "if e == ARGV[1] then s = ARGV[2] .. '-1' end "
    "return {e, redis.call('XRANGE', KEYS[2], s, '+')}";

typedef struct {
  size_t len;
  char name[]; /* the topic, NUL-terminated */
} hub_redis__fetch_t;

static void hub_redis__on_fetched(redisAsyncContext *ac, void *r,
                                  void *priv) {
  hub_redis__conn *conn = ac->data;
  hub_redis__fetch_t *f = priv;

  if (!conn->bridge->closing)
    hub_redis__fetched(conn->bridge, f->name, f->len, r);
  free(f);
}

static size_t hub_redis__key(const hub_redis_t *b, char kind,
                             const char *topic, size_t topic_len,
                             char *out);

/* A subscription to `channel` was confirmed: for a sequenced room, ask
 * Redis for what this node has not had of the room's stream (an outage,
 * a first subscription). Messages that come live meanwhile are held
 * (hub_redis__deliver_seq()) and follow what the answer brings. */
void hub_redis__catch_up(hub_redis_t *b, const char *channel, size_t chlen) {
  char ke[HUB_REDIS_CHANNEL_MAX], kh[HUB_REDIS_CHANNEL_MAX], epoch[17];
  const char *topic = channel + b->prefix_len + 2;
  size_t len = chlen - b->prefix_len - 2, le, lh;
  hub_redis__topic *t;
  hub_redis__fetch_t *f;
  uint64_t e = 0, next = 1;

  if (b->opts.history_msgs == 0 || b->pub.ac == NULL ||
      chlen <= b->prefix_len + 2 ||
      memcmp(channel, b->prefix, b->prefix_len) != 0 ||
      memcmp(channel + b->prefix_len, "t:", 2) != 0 || len > HUB_TOPIC_MAX)
    return;
  t = hub_redis__topics_find(&b->topics, topic, len);
  if (t == NULL || t->fetching)
    return;
  f = malloc(sizeof(*f) + len + 1);
  if (f == NULL) {
    hub_redis__resumes_run(b, t); /* no catch-up this time */
    return;
  }
  f->len = len;
  memcpy(f->name, topic, len);
  f->name[len] = '\0';
  (void)hub_topic_position(b->hub, f->name, &e, NULL, &next);
  snprintf(epoch, sizeof(epoch), "%016llx", (unsigned long long)e);
  le = hub_redis__key(b, 'e', topic, len, ke);
  lh = hub_redis__key(b, 'h', topic, len, kh);
  if (redisAsyncCommand(b->pub.ac, hub_redis__on_fetched, f,
                        "EVAL %s 2 %b %b %s %llu", hub_redis__fetch_script,
                        ke, le, kh, lh, epoch,
                        (unsigned long long)next) != REDIS_OK) {
    free(f);
    hub_redis__resumes_run(b, t);
    return;
  }
  t->fetching = 1;
}

static void hub_redis__sub_command(hub_redis_t *b, const char *topic,
                                   size_t len, int on) {
  char chan[HUB_REDIS_CHANNEL_MAX];
  const char *argv[2];
  size_t argvlen[2];

  argv[0] = on ? "SUBSCRIBE" : "UNSUBSCRIBE";
  argvlen[0] = strlen(argv[0]);
  argv[1] = chan;
  argvlen[1] = hub_redis__channel(b, topic, len, chan);
  /* UNSUBSCRIBE has no reply of its own in hiredis: the channel's
   * callback gets the confirmation. */
  if (redisAsyncCommandArgv(b->sub.ac, on ? hub_redis__on_sub_reply : NULL,
                            &b->sub, 2, argv, argvlen) == REDIS_OK &&
      on)
    b->sub_pending++;
}

void hub_redis__subscribe(hub_redis_t *b, const char *topic, size_t len,
                          int on) {
  /* Before the subscribing connection is ready, the set is all there is:
   * it is subscribed to in full once the connection is. */
  if (b->sub.ac != NULL && b->sub.ready)
    hub_redis__sub_command(b, topic, len, on);
}

static void hub_redis__subscribe_one(void *arg, const char *name,
                                     size_t len) {
  hub_redis__sub_command(arg, name, len, 1);
}

static void hub_redis__subscribe_all(hub_redis_t *b) {
  hub_redis__sub_command(b, NULL, 0, 1);
  hub_redis__topics_each(&b->topics, hub_redis__subscribe_one, b);
}

/* ------------------------------------------------------------------------
 * Publishing
 * ------------------------------------------------------------------------ */

/* The answer to a PUBLISH, or to the script of a sequenced room (`seq`:
 * the message's offset). */
static void hub_redis__published(redisAsyncContext *ac, redisReply *reply,
                                 size_t len, int seq) {
  hub_redis__conn *conn = ac->data;
  hub_redis_t *b = conn->bridge;

  b->stats.inflight--;
  b->stats.inflight_bytes -= len;
  if (reply == NULL) {
    /* Sent, but the connection went before the answer. */
    b->stats.unconfirmed++;
    b->outage_unconfirmed++;
    return;
  }
  if (reply->type == REDIS_REPLY_ERROR) {
    if (b->stats.publish_errors++ == 0)
      hub_redis__log(b, HUB_REDIS_EREPLY, "Redis refused a PUBLISH: %s",
                     reply->str);
  } else {
    b->stats.forwarded++;
    b->stats.forwarded_bytes += len;
    if (seq)
      b->stats.sequenced++;
  }
  if (!b->closing && conn->ac == ac)
    hub_redis__pump(b);
}

static void hub_redis__on_published(redisAsyncContext *ac, void *r,
                                    void *priv) {
  hub_redis__published(ac, r, (size_t)(uintptr_t)priv, 0);
}

/* A sequenced message in flight: what its retry needs. */
typedef struct {
  hub_msg_t *msg; /* one reference */
  size_t topic_len;
  char topic[];
} hub_redis__seq_t;

static void hub_redis__on_sequenced(redisAsyncContext *ac, void *r,
                                    void *priv) {
  hub_redis__conn *conn = ac->data;
  hub_redis_t *b = conn->bridge;
  hub_redis__seq_t *s = priv;
  size_t len = hub_msg_len(s->msg);

  redisReply *reply = r;
  uint64_t epoch;
  char *end;

  if (r == NULL && !b->closing) {
    /* Lost with the connection: sent again, not counted unconfirmed. */
    b->stats.inflight--;
    b->stats.inflight_bytes -= len;
    hub_redis__requeue(b, s->topic, s->topic_len, s->msg);
  } else {
    /* Numbered: kept until it is heard on this node's subscription. */
    if (reply != NULL && !b->closing && reply->type == REDIS_REPLY_ARRAY &&
        reply->elements == 2 &&
        reply->element[0]->type == REDIS_REPLY_STRING &&
        reply->element[0]->len == 16 &&
        reply->element[1]->type == REDIS_REPLY_INTEGER &&
        reply->element[1]->integer > 0) {
      epoch = strtoull(reply->element[0]->str, &end, 16);
      if (*end == '\0' && epoch != 0)
        hub_redis__numbered(b, s->topic, s->topic_len, s->msg, epoch,
                            (uint64_t)reply->element[1]->integer);
    }
    hub_redis__published(ac, r, len, 1);
  }
  hub_msg_unref(s->msg);
  free(s);
}

/* Sequenced rooms: number a room's message, keep it in the room's
 * history and publish it with its position, in one step (Redis runs a
 * script atomically, so every subscriber sees the room's messages in the
 * order of their offsets).
 *   KEYS: the room's epoch, its last offset, its history (a stream whose
 *         entry ids are OFFSET-1, with the envelope in "m")
 *   ARGV: a new epoch in case the room has none, the envelope, the
 *         history's length, the channel, the keys' lifetime in ms
 * It answers the message's position: {epoch, offset}.
 * The lifetime is renewed with the room's first message and every 64th:
 * a room's keys go at most 64 messages short of history_age_ms after its
 * last one. A stream left behind by an offset that was lost (evicted) is
 * started again rather than refuse the message. */
static const char hub_redis__seq_script[] =
    "local e = redis.call('GET', KEYS[1]) "
    "if not e then e = ARGV[1] redis.call('SET', KEYS[1], e) end "
    "local o = redis.call('INCR', KEYS[2]) "
    "local a = {KEYS[3], 'MAXLEN', ARGV[3], o .. '-1', 'm', ARGV[2]} "
    "local r = redis.pcall('XADD', unpack(a)) "
    "if type(r) == 'table' and r.err then redis.call('DEL', KEYS[3]) "
    "redis.call('XADD', unpack(a)) end "
    "redis.call('PUBLISH', ARGV[4], 'hs' .. e .. ':' .. o .. ':' .. ARGV[2]) "
    "if o % 64 == 1 then "
    "for i = 1, 3 do redis.call('PEXPIRE', KEYS[i], ARGV[5]) end end "
    "return {e, o}";

/* A room's key: PREFIX kind ":" topic. */
static size_t hub_redis__key(const hub_redis_t *b, char kind,
                             const char *topic, size_t topic_len,
                             char *out) {
  memcpy(out, b->prefix, b->prefix_len);
  out[b->prefix_len] = kind;
  out[b->prefix_len + 1] = ':';
  memcpy(out + b->prefix_len + 2, topic, topic_len);
  return b->prefix_len + 2 + topic_len;
}

static int hub_redis__sequence_now(hub_redis_t *b, const char *topic,
                                   size_t topic_len, hub_msg_t *msg,
                                   const uint8_t *head, size_t hlen) {
  char chan[HUB_REDIS_CHANNEL_MAX], ke[HUB_REDIS_CHANNEL_MAX],
      ko[HUB_REDIS_CHANNEL_MAX], kh[HUB_REDIS_CHANNEL_MAX], epoch[17];
  size_t chlen, le, lo, lh, len = hub_msg_len(msg);
  hub_redis__seq_t *s;
  uint64_t e;
  int r;

  chlen = hub_redis__channel(b, topic, topic_len, chan);
  le = hub_redis__key(b, 'e', topic, topic_len, ke);
  lo = hub_redis__key(b, 'o', topic, topic_len, ko);
  lh = hub_redis__key(b, 'h', topic, topic_len, kh);
  do
    e = hub_redis__random(b);
  while (e == 0);
  s = malloc(sizeof(*s) + topic_len);
  if (s == NULL)
    return -1;
  s->msg = hub_msg_ref(msg);
  s->topic_len = topic_len;
  memcpy(s->topic, topic, topic_len);
  snprintf(epoch, sizeof(epoch), "%016llx", (unsigned long long)e);
  r = redisAsyncCommand(
      b->pub.ac, hub_redis__on_sequenced, s,
      "EVAL %s 3 %b %b %b %s %b%b %llu %b %llu", hub_redis__seq_script, ke,
      le, ko, lo, kh, lh, epoch, head, hlen, hub_msg_data(msg), len,
      (unsigned long long)b->opts.history_msgs, chan, chlen,
      (unsigned long long)b->opts.history_age_ms);
  if (r != REDIS_OK) {
    hub_msg_unref(s->msg);
    free(s);
    return -1;
  }
  b->stats.inflight++;
  b->stats.inflight_bytes += len;
  return 0;
}

/* PUBLISH one message now (a sequenced room's through the script). 0, or
 * -1 if hiredis refused the command. */
int hub_redis__publish_now(hub_redis_t *b, const char *topic,
                           size_t topic_len, hub_msg_t *msg) {
  char chan[HUB_REDIS_CHANNEL_MAX];
  uint8_t head[HUB_REDIS_ENV_MAX];
  size_t chlen, hlen, len = hub_msg_len(msg);
  int r;

  hlen = hub_redis_env_header(head, b->node_id,
                              (hub_msg_flags(msg) & HUB_MSG_BINARY) != 0,
                              hub_msg_key(msg));
  if (topic != NULL && b->opts.history_msgs > 0)
    return hub_redis__sequence_now(b, topic, topic_len, msg, head, hlen);
  chlen = hub_redis__channel(b, topic, topic_len, chan);
  /* "%b%b" in one word makes one argument: header and payload are copied
   * once, into hiredis's output buffer. */
  r = redisAsyncCommand(b->pub.ac, hub_redis__on_published,
                        (void *)(uintptr_t)len, "PUBLISH %b %b%b", chan,
                        chlen, head, hlen, hub_msg_data(msg), len);
  if (r != REDIS_OK)
    return -1;
  b->stats.inflight++;
  b->stats.inflight_bytes += len;
  return 0;
}

/* ------------------------------------------------------------------------
 * Health check
 * ------------------------------------------------------------------------ */

static void hub_redis__on_pong(redisAsyncContext *ac, void *r, void *priv) {
  hub_redis__conn *conn = priv;

  if (r == NULL || conn->ac != ac)
    return;
  conn->bridge->ping_outstanding = 0;
}

static void hub_redis__on_ping_timer(uv_timer_t *timer) {
  hub_redis_t *b = timer->data;
  uint64_t waited;

  if (b->state != HUB_REDIS_CONNECTED || b->pub.ac == NULL)
    return;
  if (b->ping_outstanding) {
    waited = hub_redis__now(b) - b->ping_sent;
    if (waited >= b->opts.ping_timeout_ms)
      hub_redis__fail(b, UV_ETIMEDOUT,
                      "no answer to PING for %llu ms",
                      (unsigned long long)waited);
    return;
  }
  if (redisAsyncCommand(b->pub.ac, hub_redis__on_pong, &b->pub, "PING") ==
      REDIS_OK) {
    b->ping_outstanding = 1;
    b->ping_sent = hub_redis__now(b);
  }
}

/* ------------------------------------------------------------------------
 * Connecting
 * ------------------------------------------------------------------------ */

static void hub_redis__ready(hub_redis_t *b) {
  hub_redis_stats_t *st = &b->stats;

  b->state = HUB_REDIS_CONNECTED;
  b->outage_epoch = 0; /* the next outage gets an epoch of its own */
  b->stats.connects++;
  uv_timer_stop(&b->timer);
  if (b->opts.ping_interval_ms > 0)
    uv_timer_start(&b->ping, hub_redis__on_ping_timer,
                   b->opts.ping_interval_ms, b->opts.ping_interval_ms);
  if (st->connects == 1)
    hub_redis__log(b, 0, "connected to Redis at %s (node %016llx, "
                   "channels %s*)", b->where,
                   (unsigned long long)b->node_id, b->prefix);
  else
    hub_redis__log(b, 0, "reconnected to Redis at %s after %u failed "
                   "attempts: %llu messages waited in the buffer, %llu "
                   "dropped (buffer full), %llu unconfirmed",
                   b->where, b->failures,
                   (unsigned long long)b->outage_buffered,
                   (unsigned long long)b->outage_dropped,
                   (unsigned long long)b->outage_unconfirmed);
  b->failures = 0;
  hub_redis__set_state(b, HUB_REDIS_CONNECTED, 0);
  if (!b->closing && b->state == HUB_REDIS_CONNECTED)
    hub_redis__pump(b);
}

static void hub_redis__on_hello(redisAsyncContext *ac, void *r, void *priv) {
  hub_redis__conn *conn = priv;
  hub_redis_t *b = hub_redis__for(ac, r, conn);
  redisReply *reply = r;

  if (b == NULL)
    return;
  if (reply->type == REDIS_REPLY_ERROR) {
    if (strncmp(reply->str, "NOAUTH", 6) == 0)
      hub_redis__fail(b, HUB_REDIS_ENOAUTH,
                      "Redis at %s requires a password (%s)", b->where,
                      reply->str);
    else
      hub_redis__fail(b, HUB_REDIS_EREPLY, "Redis at %s answered PING "
                      "with an error: %s", b->where, reply->str);
    return;
  }
  conn->ready = 1;
  if (conn == &b->sub)
    hub_redis__subscribe_all(b);
  if (b->pub.ready && b->sub.ready)
    hub_redis__ready(b);
}

static void hub_redis__on_auth(redisAsyncContext *ac, void *r, void *priv) {
  hub_redis_t *b = hub_redis__for(ac, r, priv);
  redisReply *reply = r;

  if (b != NULL && reply->type == REDIS_REPLY_ERROR)
    hub_redis__fail(b, HUB_REDIS_EAUTH,
                    "authentication to Redis at %s failed: %s", b->where,
                    reply->str);
}

static void hub_redis__on_connect(const redisAsyncContext *cac, int status) {
  redisAsyncContext *ac = (redisAsyncContext *)cac;
  hub_redis__conn *conn = ac->data;
  hub_redis_t *b = conn->bridge;

  if (status == REDIS_OK || conn->ac != ac)
    return;
  /* hiredis frees the context after this returns. */
  conn->ac = NULL;
  hub_redis__fail(b, HUB_REDIS_ECONNECT, "cannot connect to Redis at %s: %s",
                  b->where, ac->errstr != NULL ? ac->errstr : "error");
}

static void hub_redis__on_disconnect(const redisAsyncContext *cac,
                                     int status) {
  redisAsyncContext *ac = (redisAsyncContext *)cac;
  hub_redis__conn *conn = ac->data;
  hub_redis_t *b = conn->bridge;

  if (conn->ac != ac)
    return; /* freed by us: nothing to learn */
  conn->ac = NULL;
  conn->ready = 0;
  (void)status;
  hub_redis__fail(b, HUB_REDIS_ELOST, "%s",
                  ac->errstr != NULL && ac->errstr[0] != '\0'
                      ? ac->errstr
                      : "closed by Redis");
}

/* Open one connection and queue its handshake (hiredis sends it once the
 * TCP connection is up). 0, or an error with *why filled. */
static int hub_redis__open(hub_redis_t *b, hub_redis__conn *conn, char *why,
                           size_t whylen) {
  redisAsyncContext *ac;
  const char *argv[3];
  size_t argvlen[3];
  char name[64];
  int n;

  ac = redisAsyncConnect(b->ip, b->opts.port);
  if (ac == NULL) {
    snprintf(why, whylen, "out of memory");
    return UV_ENOMEM;
  }
  if (ac->err) {
    snprintf(why, whylen, "cannot connect to Redis at %s: %s", b->where,
             ac->errstr);
    redisAsyncFree(ac);
    return HUB_REDIS_ECONNECT;
  }
  ac->data = conn;
  if (hub_redis__attach(ac, b->loop) != 0) {
    snprintf(why, whylen, "cannot watch the Redis connection");
    redisAsyncFree(ac);
    return UV_ENOMEM;
  }
  redisAsyncSetConnectCallback(ac, hub_redis__on_connect);
  redisAsyncSetDisconnectCallback(ac, hub_redis__on_disconnect);
  (void)redisEnableKeepAlive(&ac->c);
  conn->ac = ac;
  conn->ready = 0;

  if (b->password != NULL) {
    n = 0;
    argv[n] = "AUTH";
    argvlen[n++] = 4;
    if (b->username != NULL) {
      argv[n] = b->username;
      argvlen[n++] = strlen(b->username);
    }
    argv[n] = b->password;
    argvlen[n++] = strlen(b->password);
    (void)redisAsyncCommandArgv(ac, hub_redis__on_auth, conn, n, argv,
                                argvlen);
  }
  /* Names the connection in CLIENT LIST: "libhub-NODE-pub". */
  snprintf(name, sizeof(name), "libhub-%016llx-%s",
           (unsigned long long)b->node_id, conn->role);
  (void)redisAsyncCommand(ac, NULL, NULL, "CLIENT SETNAME %s", name);
  (void)redisAsyncCommand(ac, hub_redis__on_hello, conn, "PING");
  return 0;
}

static void hub_redis__open_both(hub_redis_t *b) {
  char why[400];
  int r;

  r = hub_redis__open(b, &b->pub, why, sizeof(why));
  if (r == 0)
    r = hub_redis__open(b, &b->sub, why, sizeof(why));
  if (r != 0)
    hub_redis__fail(b, r, "%s", why);
}

static void hub_redis__resolve(hub_redis_t *b);

static void hub_redis__on_resolved(uv_getaddrinfo_t *req, int status,
                                   struct addrinfo *res) {
  hub_redis_t *b = req->data;
  struct addrinfo *ai;
  int ok = 0;

  b->resolving = 0;
  if (b->closing) {
    uv_freeaddrinfo(res);
    b->pending_closes--;
    hub_redis__close_step(b);
    return;
  }
  if (b->state != HUB_REDIS_CONNECTING) {
    uv_freeaddrinfo(res); /* the attempt it was for has ended */
    return;
  }
  if (status == UV_ECANCELED) {
    /* Cancelled for an attempt that timed out, while a new one waited. */
    uv_freeaddrinfo(res);
    hub_redis__resolve(b);
    return;
  }
  if (status == 0) {
    for (ai = res; ai != NULL && !ok; ai = ai->ai_next) {
      if (ai->ai_family == AF_INET)
        ok = uv_ip4_name((struct sockaddr_in *)ai->ai_addr, b->ip,
                         sizeof(b->ip)) == 0;
      else if (ai->ai_family == AF_INET6)
        ok = uv_ip6_name((struct sockaddr_in6 *)ai->ai_addr, b->ip,
                         sizeof(b->ip)) == 0;
    }
  }
  uv_freeaddrinfo(res);
  if (!ok) {
    hub_redis__fail(b, HUB_REDIS_ERESOLVE,
                    "cannot resolve the Redis host '%s': %s", b->host,
                    status != 0 ? uv_strerror(status) : "no address");
    return;
  }
  hub_redis__open_both(b);
}

/* A host name is resolved on libuv's thread pool, as libuv does it. */
static void hub_redis__resolve(hub_redis_t *b) {
  struct addrinfo hints;
  int r;

  memset(&hints, 0, sizeof(hints));
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  b->resolver.data = b;
  r = uv_getaddrinfo(b->loop, &b->resolver, hub_redis__on_resolved, b->host,
                     NULL, &hints);
  if (r != 0) {
    hub_redis__fail(b, HUB_REDIS_ERESOLVE,
                    "cannot resolve the Redis host '%s': %s", b->host,
                    uv_strerror(r));
    return;
  }
  b->resolving = 1;
}

static int hub_redis__numeric(const char *host) {
  unsigned char buf[sizeof(struct in6_addr)];

  return inet_pton(AF_INET, host, buf) == 1 ||
         inet_pton(AF_INET6, host, buf) == 1;
}

/* Start an attempt: resolve the host if it is a name, connect both. */
void hub_redis__connect(hub_redis_t *b) {
  if (b->closing)
    return;
  b->state = HUB_REDIS_CONNECTING;
  uv_timer_start(&b->timer, hub_redis__on_timer, b->opts.connect_timeout_ms,
                 0);
  hub_redis__set_state(b, HUB_REDIS_CONNECTING, 0);
  if (b->closing || b->state != HUB_REDIS_CONNECTING)
    return;
  if (strcmp(b->host, "localhost") == 0) {
    snprintf(b->ip, sizeof(b->ip), "127.0.0.1");
  } else if (hub_redis__numeric(b->host)) {
    snprintf(b->ip, sizeof(b->ip), "%s", b->host);
  } else {
    /* A cancelled resolution still in flight restarts when it ends. */
    if (!b->resolving)
      hub_redis__resolve(b);
    return;
  }
  hub_redis__open_both(b);
}

/* The connect timeout (while connecting) or the end of a backoff delay. */
static void hub_redis__on_timer(uv_timer_t *timer) {
  hub_redis_t *b = timer->data;

  if (b->closing)
    return;
  if (b->state == HUB_REDIS_CONNECTING) {
    if (b->resolving)
      (void)uv_cancel((uv_req_t *)&b->resolver);
    hub_redis__fail(b, UV_ETIMEDOUT,
                    "no answer from Redis at %s within %llu ms", b->where,
                    (unsigned long long)b->opts.connect_timeout_ms);
  } else if (b->state == HUB_REDIS_DISCONNECTED) {
    hub_redis__connect(b);
  }
}
