/* hub-redis: the bridge's life cycle, the publishing calls, the buffer of
 * messages waiting for Redis, and delivery of what Redis sends. The
 * connections themselves are in hub-redis-conn.c. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hub-redis-envelope.h"
#include "hub-redis-int.h"
#include "hubx-api.h"
#include "hubx-text.h"

/* ------------------------------------------------------------------------
 * Small things
 * ------------------------------------------------------------------------ */

const char *hub_redis_strerror(int err) {
  switch (err) {
#define HUB_REDIS__ERR_TEXT(name, value, text)                               \
  case HUB_REDIS_##name:                                                     \
    return text;
    HUB_REDIS_ERRNO_MAP(HUB_REDIS__ERR_TEXT)
#undef HUB_REDIS__ERR_TEXT
  default:
    return hub_strerror(err);
  }
}

const char *hub_redis_state_name(hub_redis_state_t state) {
  /* Indexed by the state: HUB_REDIS_DISCONNECTED (0) to _CLOSING (3). */
  static const char *const name[] = {"disconnected", "connecting",
                                     "connected", "closing"};

  if ((unsigned)state >= sizeof(name) / sizeof(name[0]))
    return "unknown";
  return name[state];
}

void hub_redis__log(hub_redis_t *b, int err, const char *fmt, ...) {
  char msg[1024];
  va_list ap;

  if (b->opts.on_log == NULL)
    return;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  b->opts.on_log(b, err, msg);
}

void hub_redis__set_state(hub_redis_t *b, hub_redis_state_t state, int err) {
  if (b->opts.on_state != NULL)
    b->opts.on_state(b, state, err);
}

/* xorshift64*, for the backoff's jitter. */
uint64_t hub_redis__random(hub_redis_t *b) {
  uint64_t x = b->rng;

  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  b->rng = x;
  return x * 2685821657736338717ull;
}

static char *hub_redis__strdup(const char *s) {
  size_t n;
  char *p;

  if (s == NULL)
    return NULL;
  n = strlen(s) + 1;
  p = malloc(n);
  if (p != NULL)
    memcpy(p, s, n);
  return p;
}

/* Overwrite a secret before freeing it, in a way the compiler keeps. */
static void hub_redis__free_secret(char *s) {
  volatile char *p = s;

  if (s == NULL)
    return;
  while (*p != '\0')
    *p++ = '\0';
  free(s);
}

/* ------------------------------------------------------------------------
 * Options, creation
 * ------------------------------------------------------------------------ */

void hub_redis_options_init(hub_redis_options_t *opts) {
  if (opts == NULL)
    return;
  memset(opts, 0, sizeof(*opts));
  opts->host = "127.0.0.1";
  opts->port = 6379;
  opts->prefix = "hub:";
  opts->max_message = 1u << 20;
  opts->buffer_msgs = 10000;
  opts->buffer_bytes = 16u << 20;
  opts->max_inflight = 1000;
  opts->connect_timeout_ms = 5000;
  opts->retry_min_ms = 100;
  opts->retry_max_ms = 5000;
  opts->ping_interval_ms = 1000;
  opts->ping_timeout_ms = 5000;
  opts->history_age_ms = 3600 * 1000;
}

static int hub_redis__check(const hub_redis_options_t *o) {
  if (o->host == NULL || o->host[0] == '\0' || strlen(o->host) > 255 ||
      o->port < 1 || o->port > 65535 || o->prefix == NULL ||
      strlen(o->prefix) > HUB_REDIS_PREFIX_MAX || o->max_message == 0 ||
      o->buffer_msgs == 0 || o->buffer_bytes == 0 || o->max_inflight == 0 ||
      o->connect_timeout_ms == 0 || o->connect_timeout_ms > INT32_MAX ||
      o->retry_min_ms == 0 || o->retry_max_ms < o->retry_min_ms ||
      o->retry_max_ms > INT32_MAX || o->ping_interval_ms > INT32_MAX ||
      (o->ping_interval_ms > 0 && o->ping_timeout_ms == 0) ||
      (o->password == NULL && o->username != NULL))
    return UV_EINVAL;
  return 0;
}

static void hub_redis__free(hub_redis_t *b) {
  free(b->host);
  free(b->prefix);
  free(b->username);
  hub_redis__free_secret(b->password);
  free(b);
}

/* hub_post()'s messages, on the loop thread: here and on every node, like
 * hub_redis_send_msg(). One that cannot be forwarded (a raw message,
 * framed for one transport here) is at least delivered here. */
static void hub_redis__on_posted(hub_t *hub, const char *topic,
                                 hub_msg_t *msg, void *arg) {
  if (hub_redis_send_msg(arg, NULL, topic, msg) >= 0)
    return;
  if (topic != NULL)
    (void)hub_publish_msg(hub, NULL, topic, msg);
  else
    (void)hub_broadcast_msg(hub, NULL, msg);
}

int hub_redis_new(hub_redis_t **bridgep, hub_t *hub,
                  const hub_redis_options_t *opts) {
  hub_redis_options_t defaults;
  hub_redis_t *b;
  const char *fmt;

  if (bridgep == NULL || hub == NULL)
    return UV_EINVAL;
  if (opts == NULL) {
    hub_redis_options_init(&defaults);
    opts = &defaults;
  }
  if (hub_redis__check(opts) != 0)
    return UV_EINVAL;
  b = calloc(1, sizeof(*b));
  if (b == NULL)
    return UV_ENOMEM;
  hub__queue_init(&b->resumes);
  b->opts = *opts;
  b->host = hub_redis__strdup(opts->host);
  b->prefix = hub_redis__strdup(opts->prefix);
  b->username = hub_redis__strdup(opts->username);
  b->password = hub_redis__strdup(opts->password);
  if (b->host == NULL || b->prefix == NULL ||
      (opts->username != NULL && b->username == NULL) ||
      (opts->password != NULL && b->password == NULL)) {
    hub_redis__free(b);
    return UV_ENOMEM;
  }
  b->opts.host = b->opts.prefix = NULL;
  b->opts.username = b->opts.password = NULL;
  b->prefix_len = strlen(b->prefix);
  fmt = strchr(b->host, ':') != NULL ? "[%s]:%d" : "%s:%d";
  snprintf(b->where, sizeof(b->where), fmt, b->host, opts->port);

  b->hub = hub;
  b->loop = hub_get_loop(hub);
  b->pub.bridge = b->sub.bridge = b;
  b->pub.role = "pub";
  b->sub.role = "sub";
  (void)uv_random(NULL, NULL, &b->rng, sizeof(b->rng), 0, NULL);
  b->rng |= 1; /* xorshift needs a nonzero state */
  b->node_id = opts->node_id;
  while (b->node_id == 0)
    b->node_id = hub_redis__random(b);
  b->stats.node_id = b->node_id;
  b->state = HUB_REDIS_DISCONNECTED;

  /* Initialising a timer only links it into the loop. */
  (void)uv_timer_init(b->loop, &b->timer);
  (void)uv_timer_init(b->loop, &b->ping);
  /* Like a listening server, the bridge keeps the loop alive (with its
   * connections, or the timer of its next attempt) until it is closed. */
  b->timer.data = b->ping.data = b;

  /* Messages posted from other threads go through the bridge too. */
  hub_set_post_handler(hub, hub_redis__on_posted, b);
  *bridgep = b;
  hub_redis__connect(b);
  return 0;
}

/* ------------------------------------------------------------------------
 * Closing
 * ------------------------------------------------------------------------ */

static void hub_redis__buffer_clear(hub_redis_t *b, uint64_t *count) {
  hub_redis__out *e;

  while ((e = b->out_head) != NULL) {
    b->out_head = e->next;
    *count += 1;
    hub_msg_unref(e->msg);
    free(e);
  }
  b->out_tail = NULL;
  b->stats.buffered_msgs = b->stats.buffered_bytes = 0;
}

void hub_redis__close_step(hub_redis_t *b) {
  hub_redis_close_cb cb;

  if (b->pending_closes > 0)
    return;
  cb = b->close_cb;
  if (cb != NULL)
    cb(b);
  hub_redis__free(b);
}

static void hub_redis__on_handle_closed(uv_handle_t *handle) {
  hub_redis_t *b = handle->data;

  b->pending_closes--;
  hub_redis__close_step(b);
}

int hub_redis_close(hub_redis_t *b, hub_redis_close_cb cb) {
  int err;

  if ((err = HUBX_CLOSE_BEGIN(b, cb)) != 0)
    return err;
  hub_set_post_handler(b->hub, NULL, NULL);
  b->state = HUB_REDIS_CLOSING;
  /* The timers first: their close callbacks, which end the close, then
   * come after those of hiredis's own handles, closed below. */
  b->pending_closes = 2;
  uv_close((uv_handle_t *)&b->timer, hub_redis__on_handle_closed);
  uv_close((uv_handle_t *)&b->ping, hub_redis__on_handle_closed);
  if (b->resolving) {
    b->pending_closes++; /* its callback always comes */
    (void)uv_cancel((uv_req_t *)&b->resolver);
  }
  hub_redis__disconnect(b);
  hub_redis__buffer_clear(b, &b->stats.dropped_closing);
  hub_redis__resumes_run(b, NULL);
  hub_redis__topics_free(&b->topics);
  return 0;
}

/* ------------------------------------------------------------------------
 * Outbound: local delivery, then Redis or the buffer
 * ------------------------------------------------------------------------ */

static void hub_redis__drop_oldest(hub_redis_t *b) {
  hub_redis__out *e = b->out_head;
  size_t len = hub_msg_len(e->msg) + e->topic_len;

  b->out_head = e->next;
  if (b->out_head == NULL)
    b->out_tail = NULL;
  b->stats.buffered_msgs--;
  b->stats.buffered_bytes -= len;
  b->stats.dropped++;
  b->stats.dropped_bytes += hub_msg_len(e->msg);
  b->outage_dropped++;
  hub_msg_unref(e->msg);
  free(e);
}

static void hub_redis__note_drop(hub_redis_t *b) {
  if (b->drop_logged)
    return;
  b->drop_logged = 1;
  hub_redis__log(b, HUB_EQFULL,
                 "the buffer for Redis is full (%zu messages, %zu bytes): "
                 "dropping the oldest messages until Redis takes them again",
                 b->opts.buffer_msgs, b->opts.buffer_bytes);
}

/* Bytes pending toward Redis: those waiting in the buffer, and those
 * handed to hiredis whose answer has not come yet. buffer_bytes bounds
 * their sum, or a stalled Redis would let hiredis's output buffer grow
 * to max_inflight messages (a gigabyte of 1 MiB ones). */
static size_t hub_redis__pending(const hub_redis_t *b) {
  return (size_t)(b->stats.buffered_bytes + b->stats.inflight_bytes);
}

static void hub_redis__drop_new(hub_redis_t *b, hub_msg_t *msg) {
  b->stats.dropped++;
  b->stats.dropped_bytes += hub_msg_len(msg);
  b->outage_dropped++;
  hub_redis__note_drop(b);
}

static void hub_redis__buffer(hub_redis_t *b, const char *topic,
                              size_t topic_len, hub_msg_t *msg) {
  size_t len = hub_msg_len(msg) + topic_len;
  hub_redis__out *e;

  /* What is in flight cannot be taken back: when it leaves no room even
   * with the buffer empty, the new message is the one dropped. */
  if (b->stats.inflight_bytes + len > b->opts.buffer_bytes) {
    hub_redis__drop_new(b, msg);
    return;
  }
  while (b->out_head != NULL &&
         (b->stats.buffered_msgs + 1 > b->opts.buffer_msgs ||
          hub_redis__pending(b) + len > b->opts.buffer_bytes)) {
    hub_redis__drop_oldest(b);
    hub_redis__note_drop(b);
  }
  e = malloc(sizeof(*e) + topic_len + 1);
  if (e == NULL) {
    b->stats.dropped++;
    b->stats.dropped_bytes += hub_msg_len(msg);
    b->outage_dropped++;
    return;
  }
  e->next = NULL;
  e->msg = hub_msg_ref(msg);
  e->topic_len = topic_len;
  if (topic_len > 0)
    memcpy(e->topic, topic, topic_len);
  e->topic[topic_len] = '\0';
  if (b->out_tail != NULL)
    b->out_tail->next = e;
  else
    b->out_head = e;
  b->out_tail = e;
  b->stats.buffered_msgs++;
  b->stats.buffered_bytes += len;
  b->stats.buffered_total++;
  b->outage_buffered++;
}

/* A sequenced message whose script was in flight when the connection
 * went: back into the buffer, ahead of what waits, in the order they were
 * sent (the lost connection fails its commands in that order). It is
 * sent again once Redis is back: nothing lost, at the price of a second
 * number if the first script had run. */
void hub_redis__requeue(hub_redis_t *b, const char *topic, size_t topic_len,
                        hub_msg_t *msg) {
  hub_redis__out *e = malloc(sizeof(*e) + topic_len + 1);

  if (e == NULL) {
    b->stats.dropped++;
    b->stats.dropped_bytes += hub_msg_len(msg);
    b->outage_dropped++;
    return;
  }
  e->msg = hub_msg_ref(msg);
  e->topic_len = topic_len;
  memcpy(e->topic, topic, topic_len);
  e->topic[topic_len] = '\0';
  if (b->requeue_last != NULL) {
    e->next = b->requeue_last->next;
    b->requeue_last->next = e;
  } else {
    e->next = b->out_head;
    b->out_head = e;
  }
  if (e->next == NULL)
    b->out_tail = e;
  b->requeue_last = e;
  b->stats.buffered_msgs++;
  b->stats.buffered_bytes += hub_msg_len(msg) + topic_len;
  b->stats.retried++;
}

/* Forward what waits, in order, as far as the in-flight bound allows. */
void hub_redis__pump(hub_redis_t *b) {
  hub_redis__out *e;

  while ((e = b->out_head) != NULL && b->state == HUB_REDIS_CONNECTED &&
         b->pub.ac != NULL && b->sub_pending == 0 &&
         b->stats.inflight < b->opts.max_inflight) {
    b->out_head = e->next;
    if (b->out_head == NULL)
      b->out_tail = NULL;
    b->stats.buffered_msgs--;
    b->stats.buffered_bytes -= hub_msg_len(e->msg) + e->topic_len;
    if (hub_redis__publish_now(b, e->topic_len > 0 ? e->topic : NULL,
                               e->topic_len, e->msg) != 0) {
      b->stats.dropped++;
      b->stats.dropped_bytes += hub_msg_len(e->msg);
    }
    hub_msg_unref(e->msg);
    free(e);
  }
  /* The episode of drops ends once the backlog is gone and what is in
   * flight has fallen well below the bound. */
  if (b->out_head == NULL &&
      b->stats.inflight_bytes <= b->opts.buffer_bytes / 2)
    b->drop_logged = 0;
}

static void hub_redis__forward(hub_redis_t *b, const char *topic,
                               hub_msg_t *msg) {
  size_t topic_len = topic != NULL ? strlen(topic) : 0;

  if (b->state == HUB_REDIS_CONNECTED && b->out_head == NULL &&
      b->pub.ac != NULL && b->sub_pending == 0 &&
      b->stats.inflight < b->opts.max_inflight &&
      hub_redis__pending(b) + hub_msg_len(msg) <= b->opts.buffer_bytes &&
      hub_redis__publish_now(b, topic, topic_len, msg) == 0)
    return;
  hub_redis__buffer(b, topic, topic_len, msg);
}

/* Sequenced rooms: a topic message goes to Redis first, and is
 * delivered here when it comes back numbered. While Redis cannot be
 * reached, it is delivered here at once under this outage's own epoch
 * (hub_publish_at() starts the topic's stream again with it; later ones
 * take its next offsets), and waits in the buffer for Redis like any
 * message: once Redis is back it is numbered and every node delivers it,
 * this one's clients a second time, with the room's id. */
static int hub_redis__send_sequenced(hub_redis_t *b, const char *topic,
                                     hub_msg_t *msg) {
  uint64_t epoch;
  int r;

  if (b->state == HUB_REDIS_CONNECTED) {
    hub_redis__forward(b, topic, msg);
    return 0;
  }
  while (b->outage_epoch == 0)
    b->outage_epoch = hub_redis__random(b);
  b->stats.outage_local++;
  if (hub_topic_position(b->hub, topic, &epoch, NULL, NULL) == 0 &&
      epoch != b->outage_epoch)
    r = hub_publish_at(b->hub, topic, msg, b->outage_epoch, 1);
  else
    r = hub_publish_msg(b->hub, NULL, topic, msg);
  if (r >= 0) /* the script reads its bytes, not its position here */
    hub_redis__buffer(b, topic, strlen(topic), msg);
  return r;
}

int hub_redis_send_msg(hub_redis_t *b, hub_client_t *except,
                       const char *topic, hub_msg_t *msg) {
  char name[HUB_TOPIC_MAX + 1];
  int n;

  if (b == NULL || msg == NULL ||
      (hub_msg_flags(msg) & ~(unsigned)HUB_MSG_BINARY))
    return UV_EINVAL;
  if (b->closing)
    return HUB_ECLOSING;
  if (topic != NULL && strnlen(topic, sizeof(name)) < sizeof(name)) {
    /* The name may be the hub's own (client_topic()), and the publish may
     * end the subscription that keeps it alive (a slow consumer closed):
     * forward a copy. */
    memcpy(name, topic, strlen(topic) + 1);
    topic = name;
  }
  if (topic != NULL && b->opts.history_msgs > 0) {
    if (except != NULL)
      return UV_EINVAL; /* every node delivers it, to every subscriber */
    if (hub_msg_len(msg) > b->opts.max_message) {
      b->stats.oversized++;
      return HUB_EMSGSIZE;
    }
    return hub_redis__send_sequenced(b, topic, msg);
  }
  if (topic != NULL)
    n = hub_publish_msg(b->hub, except, topic, msg);
  else
    n = hub_broadcast_msg(b->hub, except, msg);
  if (n < 0)
    return n;
  if (hub_msg_len(msg) > b->opts.max_message) {
    /* The other nodes would refuse it: say so here, once per message. */
    b->stats.oversized++;
    return n;
  }
  hub_redis__forward(b, topic, msg);
  return n;
}

static int hub_redis__send(hub_redis_t *b, hub_client_t *except,
                           const char *topic, const void *data, size_t len,
                           unsigned int flags) {
  hub_msg_t *msg;
  int n;

  if (b == NULL || (flags & ~(unsigned)HUB_MSG_BINARY))
    return UV_EINVAL;
  if (b->closing)
    return HUB_ECLOSING;
  n = hub_msg_new(b->hub, data, len, flags, &msg);
  if (n != 0)
    return n;
  n = hub_redis_send_msg(b, except, topic, msg);
  hub_msg_unref(msg);
  return n;
}

int hub_redis_broadcast(hub_redis_t *b, hub_client_t *except,
                        const void *data, size_t len, unsigned int flags) {
  return hub_redis__send(b, except, NULL, data, len, flags);
}

int hub_redis_publish(hub_redis_t *b, hub_client_t *except,
                      const char *topic, const void *data, size_t len,
                      unsigned int flags) {
  if (topic == NULL)
    return UV_EINVAL;
  return hub_redis__send(b, except, topic, data, len, flags);
}

/* ------------------------------------------------------------------------
 * Topics
 * ------------------------------------------------------------------------ */

int hub_redis_topic_changed(hub_redis_t *b, const char *topic, int active) {
  hub_redis__topic *t;
  size_t len;
  int r;

  if (b == NULL || topic == NULL || topic[0] == '\0')
    return UV_EINVAL;
  len = strlen(topic);
  if (len > HUB_TOPIC_MAX)
    return UV_ENAMETOOLONG;
  if (b->closing)
    return HUB_ECLOSING;
  t = hub_redis__topics_find(&b->topics, topic, len);
  if (active) {
    r = hub_redis__topics_add(&b->topics, topic, len);
    if (r < 0)
      return r;
    hub_redis__topics_find(&b->topics, topic, len)->active = 1;
  } else if (t != NULL && t->waiting > 0) {
    t->active = 0; /* resumes waiting for its catch-up keep it */
    r = 0;
  } else {
    r = hub_redis__topics_remove(&b->topics, topic, len);
  }
  if (r == 1)
    hub_redis__subscribe(b, topic, len, active);
  b->stats.topics = b->topics.count;
  return 0;
}

/* ------------------------------------------------------------------------
 * Inbound
 * ------------------------------------------------------------------------ */

static void hub_redis__invalid(hub_redis_t *b, const char *channel,
                               size_t chlen, const char *why) {
  char shown[320];

  b->stats.invalid++;
  /* The first one, then one in a thousand. The channel is anyone's
   * bytes: escaped for the log. */
  if (b->invalid_logged++ % 1000 == 0)
    hub_redis__log(b, UV_EINVAL,
                   "ignored a message from Redis on channel '%s': %s "
                   "(%llu so far)",
                   hubx_escape(channel, chlen, shown, sizeof(shown)), why,
                   (unsigned long long)b->stats.invalid);
}

/* Text must be UTF-8 wherever it comes from: a WebSocket client would
 * close with 1007 on a text frame that is not. Another node's program
 * may well have sent such bytes (hub-tcp-echo's lines are any bytes), so
 * the message is not dropped but delivered as binary, which every
 * transport carries as it is. Checked here, once per message, rather
 * than by every client's transport. */
static unsigned hub_redis__text_flags(hub_redis_t *b, const char *channel,
                                      size_t chlen,
                                      const hub_redis_env_t *env) {
  char shown[320];

  if (env->binary)
    return HUB_MSG_BINARY;
  if (hubx_utf8_valid(env->payload, env->len))
    return 0;
  /* The first one, then one in a thousand. */
  if (b->stats.not_utf8++ % 1000 == 0)
    hub_redis__log(b, UV_EILSEQ,
                   "a text message from Redis on channel '%s' is not "
                   "UTF-8: delivered as binary (%llu so far)",
                   hubx_escape(channel, chlen, shown, sizeof(shown)),
                   (unsigned long long)b->stats.not_utf8);
  return HUB_MSG_BINARY;
}

void hub_redis__deliver(hub_redis_t *b, const char *channel, size_t chlen,
                        const void *data, size_t len) {
  char topic[HUB_TOPIC_MAX + 1];
  const char *rest;
  hub_redis_env_t env;
  hub_redis_env_err_t err;
  uint64_t epoch = 0, offset = 0;
  size_t rlen;
  hub_msg_t *msg;
  int is_topic, r, seq;

  if (chlen < b->prefix_len || memcmp(channel, b->prefix, b->prefix_len)) {
    hub_redis__invalid(b, channel, chlen, "not one of the bridge's");
    return;
  }
  rest = channel + b->prefix_len;
  rlen = chlen - b->prefix_len;
  if (rlen == 3 && memcmp(rest, "all", 3) == 0) {
    is_topic = 0;
  } else if (rlen > 2 && rlen - 2 <= HUB_TOPIC_MAX && rest[0] == 't' &&
             rest[1] == ':' && memchr(rest + 2, '\0', rlen - 2) == NULL) {
    is_topic = 1;
    memcpy(topic, rest + 2, rlen - 2);
    topic[rlen - 2] = '\0';
  } else {
    hub_redis__invalid(b, channel, chlen, "not one of the bridge's");
    return;
  }
  seq = hub_redis_seq_decode(data, len, &epoch, &offset, &data, &len) == 0;
  err = hub_redis_env_decode(data, len, b->opts.max_message, &env);
  if (err == HUB_REDIS_ENV_TOO_BIG) {
    b->stats.oversized++;
    return;
  }
  if (err != HUB_REDIS_ENV_OK) {
    hub_redis__invalid(b, channel, chlen, hub_redis_env_strerror(err));
    return;
  }
  /* A sequenced room's messages are all delivered as they come back,
   * this node's own too. */
  seq = seq && is_topic && b->opts.history_msgs > 0;
  if (env.origin == b->node_id && !seq) {
    b->stats.own++; /* delivered here when it was published */
    return;
  }
  r = hub_msg_new(b->hub, env.payload, env.len,
                  hub_redis__text_flags(b, channel, chlen, &env), &msg);
  if (r == 0) {
    if (env.key != 0)
      (void)hub_msg_set_key(msg, env.key);
    if (seq) {
      hub_redis__heard(b, topic, epoch, offset);
      r = hub_redis__deliver_seq(b, topic, msg, epoch, offset);
    } else {
      r = is_topic ? hub_publish_msg(b->hub, NULL, topic, msg)
                   : hub_broadcast_msg(b->hub, NULL, msg);
    }
    hub_msg_unref(msg);
  }
  if (r == UV_EALREADY) {
    b->stats.duplicates++;
    return;
  }
  if (r < 0) {
    if (b->stats.deliver_errors++ == 0)
      hub_redis__log(b, r, "a message from Redis was not delivered here: "
                     "%s", hub_strerror(r));
    return;
  }
  b->stats.received++;
  b->stats.received_bytes += env.len;
}

/* A sequenced room's message, at its position: held while the room's
 * stream is being fetched (hub_redis__catch_up()), else delivered. */
int hub_redis__deliver_seq(hub_redis_t *b, const char *topic, hub_msg_t *msg,
                           uint64_t epoch, uint64_t offset) {
  hub_redis__topic *t = hub_redis__topics_find(&b->topics, topic,
                                               strlen(topic));
  int r;

  /* Bounded like the outage buffer: past it, a message is delivered at
   * once (a hole it leaves is told to the room's clients as a gap). */
  if (t != NULL && t->fetching && t->nheld < b->opts.buffer_msgs) {
    if (hub_redis__held_push(&t->held, &t->held_tail, msg, epoch,
                             offset) != 0)
      return UV_ENOMEM;
    t->nheld++;
    return 0;
  }
  r = hub_publish_at(b->hub, topic, msg, epoch, offset);
  if (r == UV_ENOENT) /* no history here: delivered, without its id */
    r = hub_publish_msg(b->hub, NULL, topic, msg);
  return r;
}

/* One entry of a room's stream, delivered at its offset. */
static void hub_redis__fetched_entry(hub_redis_t *b, const char *topic,
                                     uint64_t epoch, const redisReply *e) {
  hub_redis_env_t env;
  hub_msg_t *msg;
  uint64_t offset;
  int r;

  if (hub_redis__stream_entry(b, e, &offset, &env) != 0)
    return;
  if (hub_msg_new(b->hub, env.payload, env.len,
                  hub_redis__text_flags(b, topic, strlen(topic), &env),
                  &msg) != 0)
    return;
  if (env.key != 0)
    (void)hub_msg_set_key(msg, env.key);
  r = hub_publish_at(b->hub, topic, msg, epoch, offset);
  hub_msg_unref(msg);
  if (r >= 0)
    b->stats.fetched++;
}

/* The answer to a catch-up (hub-redis-conn.c): the room's epoch and the
 * entries of its stream this node has not had, delivered in order; then
 * what came live meanwhile. */
void hub_redis__fetched(hub_redis_t *b, const char *topic, size_t len,
                        const redisReply *reply) {
  hub_redis__topic *t = hub_redis__topics_find(&b->topics, topic, len);
  const redisReply *entries = NULL;
  hub_redis__held *h, *next;
  uint64_t epoch = 0;
  char *end;
  size_t i;
  int r;

  if (t == NULL || !t->fetching)
    return;
  /* An answer (nil: the room has no stream yet) rather than the
   * connection's loss. */
  t->synced = reply != NULL && (reply->type == REDIS_REPLY_NIL ||
                                reply->type == REDIS_REPLY_ARRAY);
  if (reply != NULL && reply->type == REDIS_REPLY_ARRAY &&
      reply->elements == 2 && reply->element[0]->type == REDIS_REPLY_STRING &&
      reply->element[0]->len == 16 &&
      reply->element[1]->type == REDIS_REPLY_ARRAY) {
    epoch = strtoull(reply->element[0]->str, &end, 16);
    if (*end != '\0')
      epoch = 0;
    entries = reply->element[1];
  }
  /* What this node sent and never heard: Redis kept it, or it goes again
   * (only on an answer: nil, or the room's epoch and stream). */
  if (reply != NULL && (reply->type == REDIS_REPLY_NIL || entries != NULL))
    hub_redis__settle(b, t, epoch, entries);
  if (epoch != 0)
    for (i = 0; i < entries->elements; i++)
      hub_redis__fetched_entry(b, topic, epoch, entries->element[i]);
  /* Callbacks may drop the topic: take what it held first. */
  t = hub_redis__topics_find(&b->topics, topic, len);
  if (t == NULL)
    return;
  h = t->held;
  t->held = t->held_tail = NULL;
  t->nheld = 0;
  t->fetching = 0;
  for (; h != NULL; h = next) {
    next = h->next;
    r = hub_redis__deliver_seq(b, topic, h->msg, h->epoch, h->offset);
    if (r == UV_EALREADY)
      b->stats.duplicates++;
    hub_msg_unref(h->msg);
    free(h);
  }
  /* The room is as complete here as Redis has it: the resumes that
   * waited for it can start. */
  t = hub_redis__topics_find(&b->topics, topic, len);
  if (t != NULL)
    hub_redis__resumes_run(b, t);
}

/* ------------------------------------------------------------------------
 * Accessors
 * ------------------------------------------------------------------------ */

void hub_redis_get_stats(const hub_redis_t *b, hub_redis_stats_t *stats) {
  if (b == NULL || stats == NULL)
    return;
  *stats = b->stats;
  stats->state = b->state;
}

HUB__GETTER(hub_t *, hub_redis_get_hub, hub_redis_t, hub, NULL)
HUB__GETTER(uint64_t, hub_redis_node_id, hub_redis_t, node_id, 0)
HUB__GETTER(hub_redis_state_t, hub_redis_get_state, hub_redis_t, state,
            HUB_REDIS_CLOSING)
HUB__GETTER(void *, hub_redis_get_data, hub_redis_t, opts.data, NULL)
HUB__SETTER(void *, hub_redis_set_data, hub_redis_t, opts.data)
