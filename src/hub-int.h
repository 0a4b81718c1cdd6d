/* Private definitions shared by the core's source files. Never installed. */
#ifndef HUB_INT_H
#define HUB_INT_H

#include <stddef.h>
#include <stdint.h>

#include "hub.h"
#include "hub-accessors.h"
#include "hub-queue.h"

/* a + b, stopping at UINT32_MAX. */
static inline uint32_t hub__sat_add32(uint32_t a, uint64_t b) {
  return b > UINT32_MAX - a ? UINT32_MAX : a + (uint32_t)b;
}

/* Most buffers handed to one transport write: Linux's IOV_MAX, so that a
 * write is one writev(2). */
#define HUB__MAX_WRITE_BUFS 1024

/* Frames cached inline in a message: one per transport kind. A message
 * seen by more kinds chains the rest in hub__frame_ext nodes. */
#define HUB__INLINE_FRAMES 2

typedef struct hub__frame_slot {
  const hub_transport_t *transport; /* NULL: slot unused */
  hub_frame_t frame;
  /* The head and tail were copied into the room around the payload, so
   * the whole frame is one contiguous buffer. */
  uint8_t contiguous;
} hub__frame_slot;

typedef struct hub__frame_ext {
  struct hub__frame_ext *next;
  hub__frame_slot slot;
} hub__frame_ext;

struct hub_msg_s {
  uint32_t refs;
  uint16_t flags;
  /* Copied messages have HUB_FRAME_HEAD_MAX bytes of room before the
   * payload and HUB_FRAME_TAIL_MAX after it, used by the first frame. */
  uint8_t has_room : 1;
  uint8_t room_used : 1;
  /* hub_publish_at(): epoch and offset were given, for the history to
   * take as they are (history.c), until the publish places it. */
  uint8_t preset : 1;
  size_t len;
  uint8_t *data;
  hub_t *hub; /* only dereferenced while the message is being queued */
  hub_allocator_t mem;
  hub_msg_free_cb zc_free; /* zero-copy messages */
  void *zc_ud;
  hub__frame_slot frames[HUB__INLINE_FRAMES];
  hub__frame_ext *more;
  uint64_t key; /* conflation key; 0: none */
  /* hub_post(): the link in the hub's post queue and the topic (stored
   * after the payload's tail room, in the same allocation), or NULL. */
  hub_msg_t *post_next;
  const char *post_topic;
  /* Its position in a topic's stream (history.c); offset 0: none. */
  uint64_t epoch, offset;
};

/* A topic's history (history.c): references to its newest messages, and
 * the positions of its stream. */
typedef struct hub__hist {
  hub_msg_t **ring;
  uint32_t cap, head, count;
  size_t max_msgs, max_bytes, bytes;
  uint64_t epoch;
  uint64_t first; /* offset of the oldest message held */
  uint64_t next;  /* offset of the next message published */
} hub__hist;

/* A topic and its subscribers: an array of clients, which a publish
 * walks. Freed once it has none and the hub is not inside a call. */
typedef struct hub__topic {
  struct hub__topic *hnext; /* hash chain */
  uint32_t hash;
  uint32_t nsubs;           /* live subscribers */
  hub_client_t **members;   /* [0, n): NULL where one left during a walk */
  uint32_t n, cap;
  uint32_t walkers; /* publishes walking `members` right now */
  uint32_t holes;   /* NULL entries, closed up when the last walk ends */
  uint8_t emptied;  /* on hub->emptied, to be freed if still empty */
  uint8_t idle;     /* on hub->idle_topics: empty, kept for its history */
  uint8_t pinned;   /* hub_topic_set_history() made it: kept while empty */
  struct hub__topic *enext;
  /* With history: the stream, and each member's cursor (the offset of the
   * next message for it), beside `members`, with the same indexes. */
  hub__hist *hist;
  uint64_t *cursors;
  hub__queue inode; /* hub->idle_topics */
  size_t len;
  char name[1]; /* NUL-terminated; allocated to fit */
} hub__topic;

/* One of a client's subscriptions: the topic, and where the client is in
 * its member array. A subscription costs these 16 bytes in the client's
 * array and one pointer in the topic's: no allocation of its own. */
typedef struct hub__csub {
  hub__topic *topic;
  uint32_t idx;
} hub__csub;

typedef struct hub__htab {
  void **buckets;
  uint32_t mask; /* nbuckets - 1; nbuckets is a power of two */
  uint32_t count;
} hub__htab;

/* The per-delivery fast paths, inlined into the loops that run once per
 * message per client. The public hub_msg_ref()/hub_msg_unref() also
 * accept NULL; these do not. */
static inline hub_msg_t *hub__msg_ref(hub_msg_t *msg) {
  msg->refs++;
  return msg;
}

void hub__msg_destroy(hub_msg_t *msg);

static inline void hub__msg_unref(hub_msg_t *msg) {
  if (--msg->refs == 0)
    hub__msg_destroy(msg);
}

enum {
  HUB__OPEN = 0,
  HUB__SHUTDOWN = 1, /* draining its queue, then closes */
  HUB__CLOSING = 2,  /* transport close requested */
  HUB__CLOSED = 3    /* transport closed; freed when the hub is idle */
};

/* Ring slots kept inside the client: a client that never has more than
 * this many messages queued at once (an idle one, or one that only got a
 * transport's handshake reply) never allocates a ring. */
#define HUB__RING_INLINE 2

struct hub_client_s {
  hub_t *hub;
  hub__queue node;  /* hub->clients, until freed */
  hub__queue dnode; /* hub->dirty while it has output to flush; then
                       hub->zombies once closed */
  const hub_transport_t *transport;
  void *conn;
  void *data;

  /* The queue: a ring of message references. The first `inflight`
   * entries from `head` are in the write in flight; the rest are pending,
   * oldest first. `ring` is `inline_ring` until it needs more room. */
  hub_msg_t **ring;
  /* 32 bits are enough: max_queue_bytes is below 4 GiB. */
  uint32_t qbytes;         /* payload bytes of queued data messages */
  uint32_t inflight_bytes; /* ... of those in flight */
  uint32_t cap;
  uint32_t head;
  uint32_t count;
  uint32_t nkeyed;        /* queued messages with a conflation key */
  uint16_t inflight;      /* at most HUB__MAX_WRITE_BUFS */
  uint16_t inflight_data; /* data messages among the in-flight ones */
  uint8_t nctrl;          /* control messages queued */
  uint8_t state;
  uint8_t writing;
  uint8_t dirty;
  uint8_t pressure; /* watermarks reached */
  uint8_t stamp;    /* hub->stamp of the last walk that queued for it */
  uint8_t behind;   /* reads some topic's history (hub__feed()) */
  int status;       /* for on_client_close */
  uint32_t nsubs;
  /* Data messages dropped since the write in flight started (saturating):
   * what stays of the gap once that write is delivered. */
  uint32_t gap_new;
  /* Saturating too: a gap of four billion messages says enough. */
  uint32_t gap;       /* dropped since the last delivery */
  uint32_t gap_taken; /* dropped since client_take_gap() */
  uint32_t subs_cap;
  /* uv_now() when the write in flight began, truncated (mod 2^32): how
   * long the socket has refused it (see hub_options_t.slow_after_ms). */
  uint32_t write_start;
  hub__csub *subs; /* [0, nsubs), in no order; NULL when none */
  hub_msg_t *inline_ring[HUB__RING_INLINE];
  /* With broadcast history: the offset of the next broadcast for it. */
  uint64_t bnext;

  uint64_t delivered, delivered_bytes, dropped, dropped_bytes, writes;
};

/* 208 bytes on 64-bit, glibc's 224-byte chunk: every idle connection
 * has one, so a field more is paid 10,000 times over. */
#if UINTPTR_MAX == 0xffffffffffffffffu
_Static_assert(sizeof(struct hub_client_s) <= 216,
               "hub_client_t outgrew its malloc chunk");
#endif

/* A publish waiting for a client's socket (pace.c): the message, whom
 * it skips, and its topic (NUL-terminated, allocated with the entry; an
 * empty name for a broadcast). */
typedef struct hub__wait {
  struct hub__wait *next;
  hub_msg_t *msg; /* one reference */
  hub_client_t *except;
  uint8_t is_topic;
  char topic[1];
} hub__wait;

typedef struct hub__ready {
  hub_ready_cb cb;
  void *arg;
} hub__ready;

/* hub__client_enqueue(): the client's socket refused what it holds and
 * it is not judged yet: the publish must wait. Never returned to users. */
#define HUB__EWAIT (-30100)
/* hub__client_enqueue() under HUB_POLICY_CATCH_UP: the message does not
 * fit, and the client will read it from its topic's history instead. */
#define HUB__EBEHIND (-30101)

struct hub_s {
  uv_loop_t *loop;
  hub_options_t opts;
  hub_allocator_t mem; /* the hook, or libc's */
  void *data;

  hub__queue clients; /* every client not yet freed */
  hub__queue dirty;   /* clients with output to flush */
  hub__queue zombies; /* closed clients, freed when depth returns to 0 */
  uint64_t nalive;    /* clients not yet freed */

  unsigned depth; /* nesting of hub calls; frees are deferred while > 0 */
  uint8_t closing;
  uint8_t handles_closing;
  uint8_t timer_started;
  unsigned handles_open;
  hub_close_cb close_cb;

  uv_check_t check; /* flushes dirty clients once per loop iteration */
  uv_idle_t idle;   /* keeps the poll from blocking while dirty */
  uv_timer_t drain_timer;

  hub_stats_t stats;

  /* Watermarks as absolute thresholds, lowest first. */
  unsigned nmarks;
  size_t mark_msgs[HUB_MAX_WATERMARKS];
  size_t mark_bytes[HUB_MAX_WATERMARKS];

  hub__htab topics; /* hub__topic by name */
  hub__topic *emptied; /* topics that lost their last subscriber */

  /* hub_post(): a bounded FIFO filled by any thread, drained on the loop. */
  hub_post_cb post_cb; /* loop thread only */
  void *post_arg;
  uv_mutex_t post_lock;
  uv_async_t post_async;
  hub_msg_t *post_head, *post_tail;
  size_t post_count;
  uint64_t posts_refused; /* under post_lock; copied into stats on read */
  uint8_t post_closed;

  /* Waiting publishes (pace.c), oldest first. */
  hub__wait *wait_head, *wait_tail;
  size_t wait_bytes;
  hub_client_t *blocker; /* the client the head waits for, or NULL */
  uint8_t walking;       /* a publish that may wait is walking its clients */
  unsigned wait_depth;   /* ... at this depth (nested calls are deeper) */
  uint8_t stamp;         /* that walk's mark on the clients it queued for */
  uint8_t wait_retry;    /* the blocker wrote or left: try the head again */
  uv_timer_t wait_timer; /* the blocker's time is up */
  hub__ready *ready;     /* hub_on_ready() registrations */
  uint32_t nready, ready_cap;
  size_t budget; /* max_total_queue_bytes, SIZE_MAX when none */
  uint8_t catching; /* the walk's message may be read from history later */

  hub__hist *bhist;       /* the broadcast stream's history, or NULL */
  hub__queue idle_topics; /* empty topics kept for their history, LRU */
  size_t nidle_topics;

  uv_buf_t bufs[HUB__MAX_WRITE_BUFS]; /* scratch for one write */
};

/* mem.c */
/* The checks of every publish, in one order: the arguments (UV_EINVAL),
 * the topic's name unless `topic` is NULL (a broadcast; its length in
 * *tlen), the hub closing (HUB_ECLOSING; hub_post() checks it under its
 * lock instead: `loop_thread` 0), the size (HUB_EMSGSIZE). Copying senders
 * use the first, senders of a message made already the second. */
int hub__check_send(const hub_t *hub, const char *topic, size_t *tlen,
                    const void *data, size_t len, unsigned int flags,
                    int loop_thread);
int hub__check_msg(const hub_t *hub, const char *topic, size_t *tlen,
                   const hub_msg_t *msg);
/* Validate a topic name; its length in *lenp. UV_EINVAL (NULL, empty),
 * UV_ENAMETOOLONG. */
int hub__topic_len(const char *name, size_t *lenp);

void *hub__malloc(hub_t *hub, size_t size);
/* hub__malloc(), with the `size` bytes zeroed. */
void *hub__zalloc(hub_t *hub, size_t size);
void *hub__realloc(hub_t *hub, void *ptr, size_t size);
void hub__free(hub_t *hub, void *ptr);

/* msg.c */
hub_msg_t *hub__msg_alloc(hub_t *hub, const void *data, size_t len,
                          unsigned flags, size_t extra);
int hub__msg_frame(hub_msg_t *msg, const hub_transport_t *tp,
                   const hub__frame_slot **slotp);
const hub__frame_slot *hub__msg_find_frame(const hub_msg_t *msg,
                                           const hub_transport_t *tp);

/* topic.c */
int hub__topic_walk(hub_t *hub, hub_client_t *except, const char *name,
                    size_t len, hub_msg_t *msg);
int hub__topic_position(hub_t *hub, const char *name, size_t len,
                        hub_msg_t *msg);
int hub__topic_to_history(hub_t *hub, const char *name, size_t len);
size_t hub__topic_targets(hub_t *hub, hub_client_t *except,
                          const char *name, size_t len);
void hub__topics_reap(hub_t *hub);
void hub__history_totals(const hub_t *hub, uint64_t *msgs, uint64_t *bytes);
void hub__topics_free(hub_t *hub);
void hub__client_unsubscribe_all(hub_client_t *c);

/* post.c */
int hub__post_init(hub_t *hub);
void hub__post_close(hub_t *hub);

/* pace.c */
int hub__publish(hub_t *hub, hub_client_t *except, const char *topic,
                 size_t topic_len, hub_msg_t *msg);
void hub__wait_run(hub_t *hub);
void hub__wait_forget(hub_client_t *c);
void hub__wait_close(hub_t *hub);
void hub__wait_init(hub_t *hub);

/* history.c */
hub__hist *hub__hist_new(hub_t *hub, size_t max_msgs, size_t max_bytes);
void hub__hist_free(hub_t *hub, hub__hist *h);
void hub__hist_append(hub_t *hub, hub__hist *h, hub_msg_t *msg);
int hub__hist_place(hub_t *hub, hub__topic *t, hub_msg_t *msg);
void hub__hist_trim(hub__hist *h);
hub_msg_t *hub__hist_at(const hub__hist *h, uint64_t offset);
uint64_t hub__hist_start(const hub__hist *h, uint64_t epoch, uint64_t after,
                         int64_t *missed);
void hub__feed(hub_client_t *c);

/* client.c */
int hub__unqueue(hub_client_t *c, hub_msg_t *msg);
int hub__enqueue_fit(hub_client_t *c, hub_msg_t *msg);
int hub__budget(hub_client_t *c, size_t len);
void hub__client_leave(hub_client_t *c);
void hub__update_pressure(hub_client_t *c);
int hub__client_enqueue(hub_client_t *c, hub_msg_t *msg);
void hub__client_flush(hub_client_t *c);
void hub__client_free(hub_client_t *c);
void hub__client_abort(hub_client_t *c, int status);

/* hub.c */
int hub__clients_walk(hub_t *hub, hub_client_t *except, hub_msg_t *msg);
void hub__wake(hub_t *hub);
void hub__enter(hub_t *hub);
void hub__leave(hub_t *hub);
void hub__mark_dirty(hub_client_t *c);
void hub__report_drop(hub_client_t *c, hub_drop_reason_t reason,
                      size_t n_msgs, size_t n_bytes);

#endif /* HUB_INT_H */
