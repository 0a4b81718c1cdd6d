/* hub-redis internals: the bridge's state, shared by its files. */
#ifndef HUB_REDIS_INT_H
#define HUB_REDIS_INT_H

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include "hub-queue.h"
#include "hub-redis-envelope.h"
#include "hub-redis.h"

/* prefix + "t:" + topic + NUL */
#define HUB_REDIS_CHANNEL_MAX (HUB_REDIS_PREFIX_MAX + 2 + HUB_TOPIC_MAX + 1)

/* A sequenced room's message that came while the room's stream was
 * being fetched: delivered after what the fetch brings. */
typedef struct hub_redis__held {
  struct hub_redis__held *next;
  hub_msg_t *msg; /* one reference */
  uint64_t epoch, offset;
} hub_redis__held;

/* One topic with local subscribers, in a chained hash set. */
typedef struct hub_redis__topic {
  struct hub_redis__topic *next;
  hub_redis__held *held, *held_tail;
  size_t nheld; /* at most buffer_msgs: then delivered as they come */
  int fetching; /* a catch-up from the room's Redis stream is on its way */
  int synced;   /* caught up since this node's last (re)subscription */
  int active;   /* the hub has local subscribers (on_topic) */
  size_t waiting; /* resumes waiting for the catch-up: they keep the
                     room subscribed, local subscribers or not */
  int kept;     /* the bridge keeps the hub's topic (hub_topic_keep())
                   for them, so that the catch-up has a history to fill */
  /* This node's own messages that Redis numbered (their script was
   * answered) but that have not come back on its subscription yet, oldest
   * first: until one does, Redis may have died before publishing it
   * (hub_redis__numbered(), hub_redis__settle()). */
  hub_redis__held *unseen, *unseen_tail;
  size_t nunseen;
  uint64_t heard_epoch, heard_offset; /* the last one heard here */
  size_t len;
  char name[]; /* NUL-terminated */
} hub_redis__topic;

typedef struct {
  hub_redis__topic **buckets;
  size_t nbuckets; /* a power of two, or 0 before the first topic */
  size_t count;
  size_t unseen; /* the topics' nunseen, summed: at most buffer_msgs */
} hub_redis__topics;

/* A client's resume in a sequenced room this node has not caught up
 * with yet (hub_redis_subscribe_from()). */
typedef struct hub_redis__resume {
  hub__queue node; /* on the bridge's resumes */
  hub_redis__topic *t; /* kept by t->waiting */
  hub_client_t *client;
  uint64_t epoch, after;
  uint64_t gen; /* for running those of one catch-up only */
  hub_redis_resume_cb cb;
  void *arg;
} hub_redis__resume;

/* A message waiting to be forwarded. */
typedef struct hub_redis__out {
  struct hub_redis__out *next;
  hub_msg_t *msg;     /* one reference */
  size_t topic_len;   /* 0: a broadcast */
  char topic[];       /* NUL-terminated */
} hub_redis__out;

/* One of the two Redis connections. */
typedef struct {
  hub_redis_t *bridge;
  redisAsyncContext *ac; /* NULL when there is none */
  int ready;             /* connected, authenticated, answered PING */
  const char *role;      /* "pub" or "sub", for the client name */
} hub_redis__conn;

struct hub_redis_s {
  hub_t *hub;
  uv_loop_t *loop;
  hub_redis_options_t opts; /* the strings below replace the caller's */
  char *host, *username, *password, *prefix;
  size_t prefix_len;
  char ip[64];       /* the address connected to */
  char where[300];   /* "host:port", for logs */
  uint64_t node_id;
  hub_redis_state_t state;
  hub_redis__conn pub, sub;

  uv_timer_t timer;  /* connect timeout while CONNECTING, else retry */
  uv_timer_t ping;   /* health check while CONNECTED */
  uv_getaddrinfo_t resolver;
  int resolving;
  int ping_outstanding;
  uint64_t ping_sent;

  unsigned failures;        /* failed attempts in a row */
  int last_fail_err;
  uint64_t rng;

  hub_redis__out *out_head, *out_tail;
  int drop_logged;          /* "buffer full" said for this episode */
  uint64_t outage_buffered; /* since the connection was lost */
  uint64_t outage_dropped;
  uint64_t outage_unconfirmed;
  uint64_t invalid_logged;

  hub_redis__topics topics;
  hub_redis_stats_t stats;
  /* Sequenced rooms: the epoch this node's messages take while Redis is
   * unreachable, drawn anew for each outage. */
  uint64_t outage_epoch;
  /* SUBSCRIBE commands not confirmed yet: nothing is published until
   * Redis has them all, so that this node hears its own messages (and a
   * sequenced room's go through the node's own subscription). */
  unsigned sub_pending;
  /* While a lost connection fails its commands: the last sequenced
   * message put back at the head of the buffer, for the next to follow. */
  hub_redis__out *requeue_last;
  /* Resumes waiting for a room's catch-up, oldest first. */
  hub__queue resumes;
  uint64_t resume_gen;

  /* Reading what a lost session left in its sockets (hub-redis-conn.c):
   * the connections' ends seen meanwhile fail nothing more. */
  int draining;
  int closing;
  int pending_closes;
  hub_redis_close_cb close_cb;
};

/* hub-redis-uv.c: hiredis's libuv adapter. 0 or UV_ENOMEM. */
int hub_redis__attach(redisAsyncContext *ac, uv_loop_t *loop);

/* hub-redis-conn.c */
void hub_redis__connect(hub_redis_t *b);
void hub_redis__disconnect(hub_redis_t *b);
void hub_redis__subscribe(hub_redis_t *b, const char *topic, size_t len,
                          int on);
int hub_redis__publish_now(hub_redis_t *b, const char *topic,
                           size_t topic_len, hub_msg_t *msg);
size_t hub_redis__channel(const hub_redis_t *b, const char *topic,
                          size_t topic_len, char *out);

/* hub-redis.c */
void hub_redis__log(hub_redis_t *b, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void hub_redis__set_state(hub_redis_t *b, hub_redis_state_t state, int err);
void hub_redis__pump(hub_redis_t *b);
void hub_redis__requeue(hub_redis_t *b, const char *topic, size_t topic_len,
                        hub_msg_t *msg);
void hub_redis__deliver(hub_redis_t *b, const char *channel, size_t chlen,
                        const void *data, size_t len);
void hub_redis__close_step(hub_redis_t *b);
int hub_redis__deliver_seq(hub_redis_t *b, const char *topic, hub_msg_t *msg,
                           uint64_t epoch, uint64_t offset);
void hub_redis__catch_up(hub_redis_t *b, const char *channel, size_t chlen);
void hub_redis__fetched(hub_redis_t *b, const char *topic, size_t len,
                        const redisReply *reply);
uint64_t hub_redis__random(hub_redis_t *b);

/* Sequenced rooms: this node's message numbered (epoch, offset) by Redis;
 * heard (epoch, offset) on the subscription; the answer to a room's
 * catch-up settles what was not heard before a lost connection. */
void hub_redis__numbered(hub_redis_t *b, const char *topic, size_t len,
                         hub_msg_t *msg, uint64_t epoch, uint64_t offset);
void hub_redis__heard(hub_redis_t *b, const char *topic, uint64_t epoch,
                      uint64_t offset);
/* After a reconnection, with the answer to the room's catch-up: its
 * epoch and stream entries (epoch 0 or entries NULL: the room has none). */
void hub_redis__settle(hub_redis_t *b, hub_redis__topic *t, uint64_t epoch,
                       const redisReply *entries);
/* One entry of a room's stream, "OFFSET-1" with its envelope in "m":
 * 0, or -1 if it is not one. env points into the reply. */
int hub_redis__stream_entry(const hub_redis_t *b, const redisReply *e,
                            uint64_t *offset, hub_redis_env_t *env);

/* hub-redis-resume.c: run the waiting resumes of `t` (NULL: all). */
void hub_redis__resumes_run(hub_redis_t *b, hub_redis__topic *t);

/* hub-redis-topics.c */
int hub_redis__topics_add(hub_redis__topics *t, const char *name,
                          size_t len);
int hub_redis__topics_remove(hub_redis__topics *t, const char *name,
                             size_t len);
void hub_redis__topics_each(const hub_redis__topics *t,
                            void (*fn)(void *arg, const char *name,
                                       size_t len),
                            void *arg);
void hub_redis__topics_free(hub_redis__topics *t);
hub_redis__topic *hub_redis__topics_find(const hub_redis__topics *t,
                                         const char *name, size_t len);
/* Append (msg, epoch, offset) to a list of held messages, with a
 * reference to msg. 0 or UV_ENOMEM. */
int hub_redis__held_push(hub_redis__held **head, hub_redis__held **tail,
                         hub_msg_t *msg, uint64_t epoch, uint64_t offset);
/* Free what `e` holds: its held and its unseen messages. */
void hub_redis__held_free(hub_redis__topics *t, hub_redis__topic *e);
/* Every room is to be caught up again (the connection was lost). */
void hub_redis__topics_unsync(hub_redis__topics *t);

#endif /* HUB_REDIS_INT_H */
