/* hub-redis: a Redis pub/sub backplane for libhub.
 *
 * Copyright (c) libhub contributors. MIT licensed, see LICENSE.
 *
 * Several hub processes ("nodes"), each with its own clients, share their
 * messages through one Redis server. A bridge connects one hub to Redis:
 *
 *  - hub_redis_broadcast() / hub_redis_publish() deliver a message to the
 *    local clients at once, as hub_broadcast() / hub_publish() do, and
 *    publish it to Redis, on the channel PREFIX "all" (broadcasts) or
 *    PREFIX "t:" TOPIC (topics), in an envelope that names this node;
 *  - whatever arrives from Redis on the channels the bridge listens to is
 *    delivered to the local clients, except this node's own messages,
 *    which Redis hands back and the bridge ignores: every client of every
 *    node gets each message once, the sender's node never twice. A text
 *    message that is not UTF-8 (a line of any bytes from hub-tcp-echo,
 *    say) is delivered as binary, so that WebSocket clients never get a
 *    text frame they must refuse; it is counted (not_utf8) and logged;
 *  - the bridge listens to PREFIX "all" always, and to a topic's channel
 *    only while some local client is subscribed to that topic: forward the
 *    hub's on_topic callback to hub_redis_topic_changed().
 *
 * It uses hiredis and hiredis's libuv adapter on the hub's own loop: no
 * thread of its own. Two connections: one subscribes, one publishes.
 *
 * Redis down or restarting: local delivery goes on unchanged. The bridge
 * reconnects with exponential backoff (bounded, with jitter), sends AUTH
 * again, and subscribes again to every channel it needs. Messages
 * published meanwhile wait in a bounded buffer (messages and bytes) and
 * are forwarded, in order, once Redis is back; when the buffer is full,
 * the oldest are dropped, counted and logged. Across nodes the guarantee
 * is therefore at-most-once during an outage: see docs/scaling.md.
 *
 * Threads. Everything here runs on the hub's loop thread, except
 * hub_redis_options_init() and hub_redis_strerror(), which any thread may
 * call. Messages given to hub_post() from other threads are forwarded
 * too: the bridge sets the hub's post handler (hub_set_post_handler())
 * while it is open, and restores the default when it closes; a raw
 * message (HUB_MSG_RAW) is delivered locally only.
 *
 * Sequenced rooms (history_msgs > 0). A topic message is not delivered
 * at once: one Redis script, atomically, numbers it in its room (the
 * room's epoch, drawn by the first node that publishes to it, and the
 * next offset), appends it to the room's bounded history (a Redis stream
 * of history_msgs entries) and publishes it with its position. Every
 * node, the publisher's included, delivers the room's messages as they
 * come back from Redis, with hub_publish_at(): one order and one id per
 * message on every node, so that a client that read up to an id on one
 * node resumes after it on another (hub_subscribe_from() there, from that
 * node's history of the room). The topic needs a history on every node
 * (hub_options_t.history_msgs). Broadcasts are not sequenced. Whenever
 * Redis confirms this node's subscription to a room, the node fetches
 * what it has not had of the room's stream (an outage, a first
 * subscription) before what comes live. While Redis is unreachable, a
 * topic message is delivered to this node's clients at once, under an
 * epoch of this node's own (so that its ids are never mistaken for the
 * room's), and waits in the buffer: once Redis is back it is numbered and
 * every node delivers it (this one's clients a second time, with the
 * room's id). A message Redis numbered is kept until this node hears it
 * back on its subscription: if the connection goes first and Redis comes
 * back without it, it is sent again. docs/scaling.md says what each side
 * then knows.
 *
 * Errors. As in hub.h: 0 (or a count) on success, a negative code on
 * failure: libuv's, libhub's, or the HUB_REDIS_E* codes below.
 */
#ifndef HUB_REDIS_H
#define HUB_REDIS_H

#include <stddef.h>
#include <stdint.h>

#include "hub.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct hub_redis_s hub_redis_t;

/* Longest channel prefix, in bytes. */
#define HUB_REDIS_PREFIX_MAX 200

/* The bridge's own error codes, below libhub's. XX(name, value, text). */
#define HUB_REDIS_ERRNO_MAP(XX)                                              \
  XX(EAUTH, -30101, "Redis refused the username or password")               \
  XX(ENOAUTH, -30102, "Redis requires a password")                          \
  XX(ECONNECT, -30103, "cannot connect to Redis")                           \
  XX(ELOST, -30104, "connection to Redis lost")                             \
  XX(EREPLY, -30105, "Redis replied with an error")                         \
  XX(ERESOLVE, -30106, "cannot resolve the Redis host")

typedef enum {
#define HUB_REDIS__ERR_ENUM(name, value, text) HUB_REDIS_##name = (value),
  HUB_REDIS_ERRNO_MAP(HUB_REDIS__ERR_ENUM)
#undef HUB_REDIS__ERR_ENUM
  HUB_REDIS__ERR_PLACEHOLDER = 0
} hub_redis_errno_t;

/* A static message for any code: the bridge's, libhub's or libuv's. */
HUB_EXTERN const char *hub_redis_strerror(int err);

typedef enum {
  /* Not connected; a new attempt is scheduled (with backoff). */
  HUB_REDIS_DISCONNECTED = 0,
  /* Resolving, connecting, authenticating. */
  HUB_REDIS_CONNECTING = 1,
  /* Both connections are up and authenticated: messages are forwarded. */
  HUB_REDIS_CONNECTED = 2,
  /* hub_redis_close() was called. */
  HUB_REDIS_CLOSING = 3
} hub_redis_state_t;

/* "disconnected", "connecting", "connected", "closing". */
HUB_EXTERN const char *hub_redis_state_name(hub_redis_state_t state);

/* Something an operator should see: a connection made, failed or lost
 * (with the reason Redis or the system gave, e.g. "WRONGPASS invalid
 * username-password pair"), messages dropped because the buffer was full,
 * an invalid message from Redis, text from Redis that is not UTF-8. `err`
 * is 0 for good news, else the error's code; `msg` is one sentence, valid
 * during the call. Repeated failures of the same kind are not all
 * logged: the first of a streak is, then one in ten. */
typedef void (*hub_redis_log_cb)(hub_redis_t *bridge, int err,
                                 const char *msg);

/* The state changed. `err` says why for DISCONNECTED (0 otherwise). */
typedef void (*hub_redis_state_cb)(hub_redis_t *bridge,
                                   hub_redis_state_t state, int err);

/* hub_redis_close() has finished; the bridge is freed after it returns. */
typedef void (*hub_redis_close_cb)(hub_redis_t *bridge);

typedef struct {
  /* Redis's address: a numeric IPv4 or IPv6 address, "localhost", or a
   * host name (resolved with uv_getaddrinfo() before every attempt).
   * Default "127.0.0.1". Copied. */
  const char *host;
  /* Default 6379. */
  int port;
  /* Credentials for AUTH, or NULL (the default) for none. A username
   * needs Redis 6 or later (ACL users); without one, AUTH uses the
   * password alone. Copied; the copy is wiped when the bridge is freed. */
  const char *username;
  const char *password;
  /* Prefix of every channel name. Default "hub:". At most 200 bytes.
   * Nodes with the same prefix on the same Redis share their messages;
   * another prefix makes another, separate group. Copied. */
  const char *prefix;
  /* Largest payload forwarded or accepted from Redis. Set it to the hub's
   * max_queue_bytes (a larger message could not be queued anyway).
   * Default 1 MiB, the hub's default. */
  size_t max_message;
  /* The buffer for messages that cannot be forwarded yet (Redis down,
   * or max_inflight reached): at most buffer_msgs messages. buffer_bytes
   * bounds everything pending toward Redis: the payload and topic bytes
   * of the buffered messages plus the payload bytes of the PUBLISH
   * commands in flight (handed to hiredis, not answered yet), which a
   * stalled Redis leaves in hiredis's output buffer. When a new message
   * does not fit, the oldest buffered ones are dropped, or the new one
   * when those in flight leave no room (a message larger than
   * buffer_bytes is never forwarded). Defaults 10000 and 16 MiB. Both
   * >= 1. */
  size_t buffer_msgs;
  size_t buffer_bytes;
  /* PUBLISH commands sent and not answered yet, at most (each also holds
   * its channel name and some 40 bytes of framing in hiredis's buffer,
   * beyond buffer_bytes). Default 1000. */
  size_t max_inflight;
  /* Give up on an attempt to connect (and authenticate) after this long.
   * Default 5000 ms. */
  uint64_t connect_timeout_ms;
  /* Delay before the first retry after a failure, doubled at every failed
   * attempt up to retry_max_ms; each delay is drawn at random between
   * half its value and its value (jitter), so that many nodes do not
   * reconnect in step. Defaults 100 ms and 5000 ms. */
  uint64_t retry_min_ms;
  uint64_t retry_max_ms;
  /* While connected, send PING every ping_interval_ms on the publishing
   * connection; a PING unanswered for ping_timeout_ms means Redis is
   * stuck: both connections are dropped and made again. Defaults 1000
   * and 5000 ms; ping_interval_ms 0 disables it. */
  uint64_t ping_interval_ms;
  uint64_t ping_timeout_ms;
  /* This node's id in the envelopes. 0 (the default): a random one. */
  uint64_t node_id;
  /* Optional callbacks. */
  hub_redis_log_cb on_log;
  hub_redis_state_cb on_state;
  /* Yours; see hub_redis_get_data(). */
  void *data;
  /* Sequenced rooms: > 0 to give every topic message one id and one
   * order across all nodes (see "Sequenced rooms" below), Redis keeping
   * the newest history_msgs of each room. 0 (the default): the plain
   * backplane described above. Every node of a prefix must agree. */
  size_t history_msgs;
  /* ... and a room's Redis keys expire this long after its last message.
   * Default one hour. */
  uint64_t history_age_ms;
  /* Room for fields of later versions (hub.h, "Binary compatibility"). */
  uint64_t reserved[16];
} hub_redis_options_t;

typedef struct {
  uint64_t node_id;
  hub_redis_state_t state;
  uint64_t connects;         /* times both connections became ready */
  uint64_t connect_failures; /* attempts that failed (refused, auth, ...) */
  uint64_t disconnects;      /* ready sessions that were lost */
  uint64_t channels;         /* channels subscribed now, as Redis counts */
  uint64_t topics;           /* topics with local subscribers */
  /* Outbound. */
  uint64_t forwarded;        /* PUBLISH commands Redis confirmed */
  uint64_t forwarded_bytes;  /* their payload bytes */
  uint64_t inflight;         /* PUBLISH commands sent, not answered yet */
  uint64_t unconfirmed;      /* sent, but the connection was lost before
                                the answer: maybe delivered, maybe not */
  uint64_t publish_errors;   /* Redis answered a PUBLISH with an error */
  uint64_t buffered_msgs;    /* in the buffer now */
  uint64_t buffered_bytes;
  uint64_t buffered_total;   /* messages that ever waited in the buffer */
  uint64_t dropped;          /* dropped from a full buffer */
  uint64_t dropped_bytes;
  uint64_t dropped_closing;  /* still in the buffer at hub_redis_close() */
  /* Inbound. */
  uint64_t received;         /* from other nodes, delivered locally */
  uint64_t received_bytes;
  uint64_t own;              /* this node's own, handed back and ignored */
  uint64_t invalid;          /* malformed, or on an unknown channel */
  uint64_t oversized;        /* payload over max_message: not forwarded
                                (sent here), or ignored (received) */
  uint64_t deliver_errors;   /* refused by the local hub */
  uint64_t not_utf8;         /* text that is not UTF-8: delivered here as
                                binary (see the top of this file) */
  uint64_t inflight_bytes;   /* payload bytes of the `inflight` commands */
  /* Sequenced rooms. */
  uint64_t sequenced;        /* topic messages Redis numbered for us */
  uint64_t duplicates;       /* received at an offset already had: ignored */
  uint64_t outage_local;     /* published while Redis was unreachable:
                                delivered here at once, under a local
                                epoch (and numbered once Redis is back) */
  uint64_t fetched;          /* read from a room's Redis stream when this
                                node (re)subscribed to the room */
  uint64_t retried;          /* sequenced messages sent again: their
                                script was in flight when the connection
                                was lost (maybe numbered twice), or was
                                answered but never heard back and Redis
                                came back without it */
  uint64_t resumes_waited;   /* hub_redis_subscribe_from() calls that
                                waited for a room's catch-up */
  uint64_t reserved[16];     /* for later versions; 0 */
} hub_redis_stats_t;

/* Set every option to its default. Always call it first. */
HUB_EXTERN void hub_redis_options_init(hub_redis_options_t *opts);

/* Create a bridge between `hub` and Redis and start connecting (the first
 * attempt starts before this returns; its outcome is reported through
 * on_log and on_state). The bridge lives on the hub's loop. Create it
 * before clients subscribe to topics, and forward the hub's on_topic to
 * hub_redis_topic_changed() from then on: the hub has no way to list the
 * topics that existed before. Like a listening server, the bridge keeps
 * the loop alive until it is closed.
 * Errors: UV_EINVAL (NULL, bad options: empty host, port out of range,
 * prefix too long, a zero bound), UV_ENOMEM. */
HUB_EXTERN int hub_redis_new(hub_redis_t **bridgep, hub_t *hub,
                             const hub_redis_options_t *opts);

/* Close the bridge: disconnect from Redis, drop what is still buffered
 * (counted as dropped_closing), stop listening, and call `cb` (may be
 * NULL) once every handle is closed; the bridge is freed after `cb`.
 * Close it before its hub is freed (at the latest from hub_close()'s
 * callback) and stop calling hub_redis_topic_changed() then: a hub that
 * closes its clients reports their topics as inactive.
 * Errors: UV_EINVAL (NULL), HUB_ECLOSING (already closing). */
HUB_EXTERN int hub_redis_close(hub_redis_t *bridge, hub_redis_close_cb cb);

/* `topic` gained its first local subscriber (active nonzero) or lost its
 * last (active 0): subscribe to its channel, or unsubscribe. The hub's
 * on_topic has this exact meaning; call this from it. Idempotent.
 * Errors: UV_EINVAL (NULL, empty topic), UV_ENAMETOOLONG (longer than
 * HUB_TOPIC_MAX), HUB_ECLOSING, UV_ENOMEM. */
HUB_EXTERN int hub_redis_topic_changed(hub_redis_t *bridge, const char *topic,
                                       int active);

/* Deliver to every local client (except `except`, which may be NULL) and
 * forward to every other node. `flags` is 0 or HUB_MSG_BINARY. Returns
 * the number of local clients the message was queued for, or an error of
 * hub_broadcast(), in which case nothing is forwarded. Forwarding itself
 * never fails the call: a message that cannot be forwarded now is
 * buffered, and a message dropped from the buffer is counted and logged. */
HUB_EXTERN int hub_redis_broadcast(hub_redis_t *bridge, hub_client_t *except,
                                   const void *data, size_t len,
                                   unsigned int flags);

/* The same for the subscribers of `topic`, here and on every node. With
 * sequenced rooms (history_msgs > 0) the message is delivered when it
 * comes back from Redis with its id, here as everywhere: the call returns
 * 0 (or an error), `except` must be NULL (UV_EINVAL otherwise: every
 * subscriber gets it), and a payload over max_message is refused
 * (HUB_EMSGSIZE). */
HUB_EXTERN int hub_redis_publish(hub_redis_t *bridge, hub_client_t *except,
                                 const char *topic, const void *data,
                                 size_t len, unsigned int flags);

/* Either of the two with a message made with hub_msg_new*() on the same
 * hub (topic NULL: a broadcast). The caller keeps its reference. A
 * conflation key (hub_msg_set_key()) travels with the message. */
HUB_EXTERN int hub_redis_send_msg(hub_redis_t *bridge, hub_client_t *except,
                                  const char *topic, hub_msg_t *msg);

/* A resume that waited (hub_redis_subscribe_from() returned
 * HUB_REDIS_PENDING) is done: `status` and `missed` are what
 * hub_subscribe_from() returned and said when it was made. `topic` is
 * valid during the call. */
typedef void (*hub_redis_resume_cb)(hub_redis_t *bridge, hub_client_t *client,
                                    const char *topic, int status,
                                    int64_t missed, void *arg);

/* hub_redis_subscribe_from(): the client waits for the room's stream. */
#define HUB_REDIS_PENDING 2

/* Resume `client` in `topic` after the message at `epoch`, `after`, as
 * hub_subscribe_from() does, on any node. In a sequenced room this node
 * has not caught up with yet (it had no local subscriber, or its
 * subscription to the room is being made again after a reconnect), the
 * node's history cannot say what comes after the position: the client
 * then WAITS, not subscribed yet, while the bridge subscribes to the room
 * and fetches its stream from Redis; once that is done (or fails, or
 * Redis is lost), the client is subscribed from its position with
 * hub_subscribe_from() and `cb` (may be NULL) is told the outcome. It
 * gets exactly the messages after its position that the room's Redis
 * stream holds, none twice. Returns HUB_REDIS_PENDING (*missed is 0)
 * when waiting; otherwise what hub_subscribe_from() returns, done now
 * (plain rooms, a room caught up already, Redis unreachable: then the
 * node's history is all there is). A client waits for one resume at a
 * time: a new call cancels the one it waited for. Call
 * hub_redis_cancel_resume() before a waiting client goes away (from the
 * hub's on_client_close, say): the bridge keeps its pointer. A room's
 * catch-up is made of its own Redis stream only: give every node a
 * history (hub_options_t.history_msgs) at least as long as the bridge's
 * history_msgs, so that a node that has the room holds whatever Redis
 * does. Errors: those of hub_subscribe_from(), UV_ENOMEM. */
HUB_EXTERN int hub_redis_subscribe_from(hub_redis_t *bridge,
                                        hub_client_t *client,
                                        const char *topic, uint64_t epoch,
                                        uint64_t after, int64_t *missed,
                                        hub_redis_resume_cb cb, void *arg);

/* Forget the resume `client` waits for, if any (its callback will not be
 * called). */
HUB_EXTERN void hub_redis_cancel_resume(hub_redis_t *bridge,
                                        hub_client_t *client);

/* Fill *stats. Both must be non-NULL (else nothing happens). */
HUB_EXTERN void hub_redis_get_stats(const hub_redis_t *bridge,
                                    hub_redis_stats_t *stats);

HUB_EXTERN hub_t *hub_redis_get_hub(const hub_redis_t *bridge);
HUB_EXTERN uint64_t hub_redis_node_id(const hub_redis_t *bridge);
HUB_EXTERN hub_redis_state_t hub_redis_get_state(const hub_redis_t *bridge);
HUB_EXTERN void *hub_redis_get_data(const hub_redis_t *bridge);
HUB_EXTERN void hub_redis_set_data(hub_redis_t *bridge, void *data);

#ifdef __cplusplus
}
#endif

#endif /* HUB_REDIS_H */
