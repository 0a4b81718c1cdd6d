/* Topics: exact-match names, each with its list of subscribers.
 *
 * A chained hash table finds topics by name. Each topic keeps its
 * subscribers in an array, which a publish walks (pointers side by side,
 * not a list of nodes); each client keeps its subscriptions in an array
 * of (topic, index in the topic's array), so that leaving a topic is a
 * swap with the topic's last member. A subscription has no allocation of
 * its own: 16 bytes in the client's array, 8 (and the array's slack) in
 * the topic's. Finding a client's subscription walks the client's array:
 * cheap for the few topics a client is usually in.
 *
 * A publish may call back into the application (on_drop), which may
 * subscribe, unsubscribe or close clients while the array is being
 * walked. A client leaving then leaves a hole (NULL) instead of moving
 * the last member, and the holes are closed up when the last walk of
 * that topic ends. Empty topics are freed when the outermost hub call
 * returns (hub__topics_reap). */
#include <string.h>

#include "hub-int.h"

typedef struct hub__hnode {
  struct hub__hnode *hnext;
} hub__hnode;

/* FNV-1a: short keys, good spread, no allocation. */
static uint32_t hub__hash_name(const char *s, size_t len) {
  uint32_t h = 2166136261u;
  size_t i;

  for (i = 0; i < len; i++) {
    h ^= (uint8_t)s[i];
    h *= 16777619u;
  }
  return h;
}

static uint32_t hub__topic_node_hash(const hub__hnode *n) {
  return ((const hub__topic *)n)->hash;
}

/* Make room for one more node: the table doubles at load factor 1. */
static int hub__htab_reserve(hub_t *hub, hub__htab *t,
                             uint32_t (*hash)(const hub__hnode *)) {
  hub__hnode **old = (hub__hnode **)t->buckets, **nb, *n, *next;
  uint32_t size, i, oldsize = t->buckets != NULL ? t->mask + 1 : 0;

  if (t->buckets != NULL && t->count < oldsize)
    return 0;
  size = oldsize != 0 ? oldsize * 2 : 16;
  if (size == 0)
    return UV_ENOMEM;
  nb = hub__zalloc(hub, (size_t)size * sizeof(hub__hnode *));
  if (nb == NULL)
    return UV_ENOMEM;
  for (i = 0; i < oldsize; i++) {
    for (n = old[i]; n != NULL; n = next) {
      next = n->hnext;
      n->hnext = nb[hash(n) & (size - 1)];
      nb[hash(n) & (size - 1)] = n;
    }
  }
  hub__free(hub, old);
  t->buckets = (void **)nb;
  t->mask = size - 1;
  return 0;
}

static void hub__htab_insert(hub__htab *t, hub__hnode *n, uint32_t hash) {
  hub__hnode **b = (hub__hnode **)&t->buckets[hash & t->mask];

  n->hnext = *b;
  *b = n;
  t->count++;
}

static void hub__htab_remove(hub__htab *t, hub__hnode *n, uint32_t hash) {
  hub__hnode **p = (hub__hnode **)&t->buckets[hash & t->mask];

  while (*p != n)
    p = &(*p)->hnext;
  *p = n->hnext;
  n->hnext = NULL;
  t->count--;
}

/* Validate a topic name; its length in *lenp. */
int hub__topic_len(const char *name, size_t *lenp) {
  size_t len;

  if (name == NULL)
    return UV_EINVAL;
  len = strnlen(name, HUB_TOPIC_MAX + 1);
  if (len == 0)
    return UV_EINVAL;
  if (len > HUB_TOPIC_MAX)
    return UV_ENAMETOOLONG;
  *lenp = len;
  return 0;
}

static hub__topic *hub__topic_find(const hub_t *hub, const char *name,
                                   size_t len, uint32_t hash) {
  hub__topic *t;

  if (hub->topics.buckets == NULL)
    return NULL;
  for (t = hub->topics.buckets[hash & hub->topics.mask]; t != NULL;
       t = t->hnext)
    if (t->hash == hash && t->len == len && memcmp(t->name, name, len) == 0)
      return t;
  return NULL;
}

/* Where `t` is in `c`'s subscriptions, or -1. A client is in few topics
 * as a rule; this is the one walk that grows with their number. */
static int64_t hub__csub_find(const hub_client_t *c, const hub__topic *t) {
  uint32_t i;

  for (i = 0; i < c->nsubs; i++)
    if (c->subs[i].topic == t)
      return i;
  return -1;
}

/* `c`'s entry in `t`'s members moved to `idx`: tell its subscription. */
static void hub__csub_moved(hub_client_t *c, const hub__topic *t,
                            uint32_t idx) {
  int64_t k = hub__csub_find(c, t);

  if (k >= 0)
    c->subs[k].idx = idx;
}

/* Room for one more entry in an array of `size`-byte entries: 1, 2, 4
 * ... for a client's subscriptions (most have one), then growth by half
 * for large member arrays, which keeps their slack to a quarter on
 * average. */
static int hub__grow(hub_t *hub, void **arr, uint32_t *cap, uint32_t n,
                     size_t size) {
  uint32_t nc;
  void *p;

  if (n < *cap)
    return 0;
  if (*cap >= UINT32_MAX / 2)
    return UV_ENOMEM;
  nc = *cap < 8 ? (*cap == 0 ? 1 : *cap * 2) : *cap + *cap / 2;
  p = hub__realloc(hub, *arr, (size_t)nc * size);
  if (p == NULL)
    return UV_ENOMEM;
  *arr = p;
  *cap = nc;
  return 0;
}

/* Close up the holes left by clients that unsubscribed while the topic
 * was being walked. */
static void hub__topic_compact(hub__topic *t) {
  uint32_t i, j = 0;

  for (i = 0; i < t->n; i++) {
    if (t->members[i] == NULL)
      continue;
    if (i != j) {
      t->members[j] = t->members[i];
      if (t->cursors != NULL)
        t->cursors[j] = t->cursors[i];
      hub__csub_moved(t->members[j], t, j);
    }
    j++;
  }
  t->n = j;
  t->holes = 0;
}

/* End `c`'s k-th subscription. */
static void hub__sub_end(hub_t *hub, hub_client_t *c, uint32_t k) {
  hub__topic *t = c->subs[k].topic;
  uint32_t idx = c->subs[k].idx;
  hub_client_t *last;

  c->subs[k] = c->subs[--c->nsubs];
  if (c->nsubs == 0) {
    hub__free(hub, c->subs);
    c->subs = NULL;
    c->subs_cap = 0;
  }
  if (t->walkers > 0) {
    /* A publish is walking the array: leave a hole for it to skip. */
    t->members[idx] = NULL;
    t->holes++;
  } else {
    last = t->members[--t->n];
    if (idx != t->n) {
      t->members[idx] = last;
      if (t->cursors != NULL)
        t->cursors[idx] = t->cursors[t->n];
      hub__csub_moved(last, t, idx);
    }
  }
  t->nsubs--;
  hub->stats.subscriptions--;
  if (t->nsubs == 0) {
    hub->stats.topics--;
    if (!t->emptied) {
      t->emptied = 1;
      t->enext = hub->emptied;
      hub->emptied = t;
    }
    if (hub->opts.on_topic != NULL)
      hub->opts.on_topic(hub, t->name, 0);
  }
}

/* A new topic, with the hub's default history, in the table. */
static hub__topic *hub__topic_new(hub_t *hub, const char *name, size_t len,
                                  uint32_t hash) {
  hub__topic *t;

  if (hub__htab_reserve(hub, &hub->topics, hub__topic_node_hash) != 0)
    return NULL;
  t = hub__malloc(hub, offsetof(hub__topic, name) + len + 1);
  if (t == NULL)
    return NULL;
  memset(t, 0, offsetof(hub__topic, name));
  memcpy(t->name, name, len);
  t->name[len] = '\0';
  t->len = len;
  t->hash = hash;
  hub__queue_init(&t->inode);
  if (hub->opts.history_msgs > 0) {
    t->hist = hub__hist_new(hub, hub->opts.history_msgs,
                            hub->opts.history_bytes);
    if (t->hist == NULL) {
      hub__free(hub, t);
      return NULL;
    }
  }
  hub__htab_insert(&hub->topics, (hub__hnode *)t, hash);
  return t;
}

/* `t` is wanted again (a subscriber, or kept): off the idle list. */
static void hub__topic_unidle(hub_t *hub, hub__topic *t) {
  if (t->idle) {
    t->idle = 0;
    hub__queue_remove(&t->inode);
    hub->nidle_topics--;
  }
}

/* `t` has no subscriber: the next reap decides (hub__topics_reap()). */
static void hub__topic_emptied(hub_t *hub, hub__topic *t) {
  if (t->nsubs == 0 && !t->emptied && !t->idle) {
    t->emptied = 1;
    t->enext = hub->emptied;
    hub->emptied = t;
  }
}

static void hub__topic_free(hub_t *hub, hub__topic *t) {
  hub__htab_remove(&hub->topics, (hub__hnode *)t, t->hash);
  if (t->idle) {
    hub__queue_remove(&t->inode);
    hub->nidle_topics--;
  }
  hub__hist_free(hub, t->hist);
  hub__free(hub, t->cursors);
  hub__free(hub, t->members);
  hub__free(hub, t);
}

/* Room for one more member (and its cursor) and one more subscription. */
static int hub__sub_reserve(hub_t *hub, hub__topic *t, hub_client_t *c) {
  uint32_t cap = t->cap;

  if (hub__grow(hub, (void **)&t->members, &t->cap, t->n,
                sizeof(*t->members)) != 0)
    return UV_ENOMEM;
  if (t->hist != NULL && (t->cursors == NULL || t->cap != cap)) {
    uint64_t *cur = hub__realloc(hub, t->cursors,
                                 (size_t)t->cap * sizeof(*cur));
    if (cur == NULL)
      return UV_ENOMEM;
    t->cursors = cur;
  }
  return hub__grow(hub, (void **)&c->subs, &c->subs_cap, c->nsubs,
                   sizeof(*c->subs));
}

/* Subscribe; with `from`, resume after (epoch, after) in the history. */
static int hub__subscribe(hub_client_t *c, const char *name, int from,
                          uint64_t epoch, uint64_t after, int64_t *missed) {
  hub_t *hub;
  hub__topic *t;
  uint32_t hash;
  size_t len;
  int err, created = 0;
  uint64_t start;

  if (missed != NULL)
    *missed = from && after != 0 ? -1 : 0;
  if (c == NULL)
    return UV_EINVAL;
  if ((err = hub__topic_len(name, &len)) != 0)
    return err;
  if (c->state != HUB__OPEN)
    return HUB_ECLOSING;
  hub = c->hub;
  hash = hub__hash_name(name, len);
  t = hub__topic_find(hub, name, len, hash);
  if (t != NULL && hub__csub_find(c, t) >= 0) {
    if (missed != NULL)
      *missed = 0;
    return 1;
  }
  if (t == NULL) {
    t = hub__topic_new(hub, name, len, hash);
    if (t == NULL)
      return UV_ENOMEM;
    created = 1;
  }
  if (hub__sub_reserve(hub, t, c) != 0) {
    if (created)
      hub__topic_free(hub, t);
    return UV_ENOMEM;
  }
  hub__topic_unidle(hub, t);

  c->subs[c->nsubs].topic = t;
  c->subs[c->nsubs].idx = t->n;
  c->nsubs++;
  if (t->hist != NULL) {
    start = t->hist->next;
    if (from) {
      start = hub__hist_start(t->hist, epoch, after, missed);
      hub->stats.resumes++;
    }
    t->cursors[t->n] = start;
    if (start < t->hist->next) {
      c->behind = 1;
      if (!c->writing)
        hub__mark_dirty(c);
    }
  }
  t->members[t->n++] = c;
  hub->stats.subscriptions++;
  if (++t->nsubs == 1) {
    hub->stats.topics++;
    if (hub->opts.on_topic != NULL) {
      hub__enter(hub);
      hub->opts.on_topic(hub, t->name, 1);
      hub__leave(hub);
    }
  }
  return 0;
}

int hub_subscribe(hub_client_t *c, const char *name) {
  return hub__subscribe(c, name, 0, 0, 0, NULL);
}

/* The broadcast stream: every client is in it; resuming moves its
 * cursor back. */
static int hub__resume_broadcasts(hub_client_t *c, uint64_t epoch,
                                  uint64_t after, int64_t *missed) {
  hub_t *hub;
  int64_t m = after != 0 ? -1 : 0;

  if (c == NULL)
    return UV_EINVAL;
  if (c->state != HUB__OPEN)
    return HUB_ECLOSING;
  hub = c->hub;
  if (hub->bhist != NULL) {
    c->bnext = hub__hist_start(hub->bhist, epoch, after, &m);
    hub->stats.resumes++;
    if (c->bnext < hub->bhist->next) {
      c->behind = 1;
      if (!c->writing)
        hub__mark_dirty(c);
    }
  }
  if (missed != NULL)
    *missed = m;
  return 0;
}

int hub_subscribe_from(hub_client_t *c, const char *name, uint64_t epoch,
                       uint64_t after, int64_t *missed) {
  if (name == NULL)
    return hub__resume_broadcasts(c, epoch, after, missed);
  return hub__subscribe(c, name, 1, epoch, after, missed);
}

/* The subscription of `c` to `name`, as an index in c->subs, or -1. */
static int64_t hub__lookup(const hub_client_t *c, const char *name,
                           size_t len) {
  const hub__topic *t;

  t = hub__topic_find(c->hub, name, len, hub__hash_name(name, len));
  return t != NULL ? hub__csub_find(c, t) : -1;
}

int hub_unsubscribe(hub_client_t *c, const char *name) {
  int64_t k;
  size_t len;
  int err;

  if (c == NULL)
    return UV_EINVAL;
  if ((err = hub__topic_len(name, &len)) != 0)
    return err;
  k = hub__lookup(c, name, len);
  if (k < 0)
    return UV_ENOENT;
  hub__enter(c->hub);
  hub__sub_end(c->hub, c, (uint32_t)k);
  hub__leave(c->hub);
  return 0;
}

void hub__client_unsubscribe_all(hub_client_t *c) {
  while (c->nsubs > 0)
    hub__sub_end(c->hub, c, c->nsubs - 1);
}

int client_is_subscribed(const hub_client_t *c, const char *name) {
  size_t len;

  if (c == NULL || hub__topic_len(name, &len) != 0)
    return 0;
  return hub__lookup(c, name, len) >= 0;
}

const char *client_topic(const hub_client_t *c, size_t i) {
  if (c == NULL || i >= c->nsubs)
    return NULL;
  return c->subs[i].topic->name;
}

size_t hub_topic_subscribers(const hub_t *hub, const char *name) {
  const hub__topic *t;
  size_t len;

  if (hub == NULL || hub__topic_len(name, &len) != 0)
    return 0;
  t = hub__topic_find(hub, name, len, hub__hash_name(name, len));
  return t != NULL ? t->nsubs : 0;
}

/* Free topics left without subscribers. Runs only when no member array
 * is being walked. A topic whose history holds messages is kept (its
 * clients may come back to resume), up to history_idle_topics of them:
 * past that the one idle longest goes. */
void hub__topics_reap(hub_t *hub) {
  hub__topic *t;

  while ((t = hub->emptied) != NULL) {
    hub->emptied = t->enext;
    t->emptied = 0;
    if (t->nsubs != 0 || t->pinned) /* subscribed to again, or kept */
      continue;
    if (t->hist != NULL && t->hist->count > 0 && !t->idle) {
      t->idle = 1;
      hub__queue_insert_tail(&hub->idle_topics, &t->inode);
      hub->nidle_topics++;
    } else if (!t->idle) {
      hub__topic_free(hub, t);
    }
  }
  while (hub->nidle_topics > hub->opts.history_idle_topics) {
    t = hub__container_of(hub->idle_topics.next, hub__topic, inode);
    hub__topic_free(hub, t);
  }
}

void hub__history_totals(const hub_t *hub, uint64_t *msgs, uint64_t *bytes) {
  const hub__topic *t;
  uint32_t i;

  *msgs = hub->bhist != NULL ? hub->bhist->count : 0;
  *bytes = hub->bhist != NULL ? hub->bhist->bytes : 0;
  for (i = 0; hub->topics.buckets != NULL && i <= hub->topics.mask; i++)
    for (t = hub->topics.buckets[i]; t != NULL; t = t->hnext)
      if (t->hist != NULL) {
        *msgs += t->hist->count;
        *bytes += t->hist->bytes;
      }
}

/* At hub free: every client is gone; free every topic. */
void hub__topics_free(hub_t *hub) {
  hub__topic *t;
  uint32_t i;

  hub__topics_reap(hub);
  for (i = 0; hub->topics.buckets != NULL && i <= hub->topics.mask; i++)
    while ((t = hub->topics.buckets[i]) != NULL)
      hub__topic_free(hub, t);
  hub__free(hub, hub->topics.buckets);
  hub->topics.buckets = NULL;
}

/* Queue `msg` for the topic's subscribers but `except` (pace.c's walk,
 * inside a hub call). Returns the count, or HUB__EWAIT with the message
 * taken back out of every queue it entered.
 *
 * With history, only the members at the live edge (cursor == the
 * message's offset) get it now; the cursor of each of them moves on, but
 * for a client under CATCH_UP that cannot take it (it will read it from
 * the history) and when the walk must wait (undone). */
int hub__topic_walk(hub_t *hub, hub_client_t *except, const char *name,
                    size_t len, hub_msg_t *msg) {
  hub__topic *t;
  hub_client_t *c;
  uint32_t i, j;
  int n = 0, r = 0, hist;

  t = hub__topic_find(hub, name, len, hub__hash_name(name, len));
  if (t == NULL)
    return 0;
  hist = t->hist != NULL && msg->offset != 0 && msg->epoch == t->hist->epoch;
  /* Callbacks may subscribe (appending, perhaps moving the arrays: they
   * are read afresh each time) or unsubscribe (leaving holes). */
  t->walkers++;
  for (i = 0; i < t->n; i++) {
    c = t->members[i];
    if (c == NULL || (hist && t->cursors[i] != msg->offset))
      continue;
    if (hist)
      t->cursors[i] = msg->offset + 1;
    if (c == except || c->state != HUB__OPEN)
      continue;
    hub->catching = (uint8_t)hist;
    r = hub__client_enqueue(c, msg);
    hub->catching = 0;
    if (r == HUB__EBEHIND) {
      t->cursors[i] = msg->offset; /* read from the history later */
      c->behind = 1;
      continue;
    }
    if (r == HUB__EWAIT) {
      if (hist)
        t->cursors[i] = msg->offset;
      for (j = 0; j < i; j++)
        if (t->members[j] != NULL && hub__unqueue(t->members[j], msg) &&
            hist)
          t->cursors[j] = msg->offset;
      break;
    }
    if (r == 0 && n < INT32_MAX)
      n++;
  }
  if (--t->walkers == 0 && t->holes > 0)
    hub__topic_compact(t);
  return r == HUB__EWAIT ? r : n;
}

/* Before a publish walks (or waits): give `msg` its position in the
 * topic's stream, and keep it in the history. */
/* The history of topic `name`, or of the broadcast stream (NULL). */
static hub__hist *hub__hist_of(const hub_t *hub, const char *name,
                               size_t len) {
  const hub__topic *t;

  if (name == NULL)
    return hub->bhist;
  t = hub__topic_find(hub, name, len, hub__hash_name(name, len));
  return t != NULL ? t->hist : NULL;
}

int hub__topic_position(hub_t *hub, const char *name, size_t len,
                        hub_msg_t *msg) {
  hub__topic *t;
  hub__hist *h;
  int r;

  if (msg->preset) {
    /* hub_publish_at(): a topic's, never the broadcast stream's. */
    msg->preset = 0;
    t = hub__topic_find(hub, name, len, hub__hash_name(name, len));
    r = t != NULL && t->hist != NULL ? hub__hist_place(hub, t, msg)
                                     : UV_ENOENT;
    if (r != 0)
      msg->epoch = msg->offset = 0;
    return r;
  }
  h = hub__hist_of(hub, name, len);
  if (h == NULL)
    return 0;
  if (msg->offset != 0)
    return UV_EBUSY;
  hub__hist_append(hub, h, msg);
  return 0;
}

/* Every member not yet at the end of the topic's stream reads the rest
 * from its history. Returns 0, or UV_ENOENT without a history. */
int hub__topic_to_history(hub_t *hub, const char *name, size_t len) {
  hub__topic *t;
  hub_client_t *c;
  hub__queue *q;
  uint32_t i;

  if (name == NULL) {
    if (hub->bhist == NULL)
      return UV_ENOENT;
    for (q = hub->clients.next; q != &hub->clients; q = q->next) {
      c = hub__container_of(q, hub_client_t, node);
      if (c->state == HUB__OPEN && c->bnext < hub->bhist->next) {
        c->behind = 1;
        if (!c->writing)
          hub__mark_dirty(c);
      }
    }
    return 0;
  }
  t = hub__topic_find(hub, name, len, hub__hash_name(name, len));
  if (t == NULL || t->hist == NULL)
    return UV_ENOENT;
  for (i = 0; i < t->n; i++) {
    c = t->members[i];
    if (c != NULL && c->state == HUB__OPEN &&
        t->cursors[i] < t->hist->next) {
      c->behind = 1;
      if (!c->writing)
        hub__mark_dirty(c);
    }
  }
  return 0;
}

/* hub_topic_set_history() for the broadcast stream. */
static int hub__broadcast_history(hub_t *hub, size_t max_msgs,
                                  size_t max_bytes) {
  hub_client_t *c;
  hub__queue *q;

  if (max_msgs == 0) {
    hub__hist_free(hub, hub->bhist);
    hub->bhist = NULL;
  } else if (hub->bhist == NULL) {
    hub->bhist = hub__hist_new(hub, max_msgs, max_bytes);
    if (hub->bhist == NULL)
      return UV_ENOMEM;
    for (q = hub->clients.next; q != &hub->clients; q = q->next) {
      c = hub__container_of(q, hub_client_t, node);
      c->bnext = hub->bhist->next; /* everyone at the live edge */
    }
  } else {
    hub->bhist->max_msgs = max_msgs;
    hub->bhist->max_bytes = max_bytes;
    hub__hist_trim(hub->bhist);
  }
  return 0;
}

int hub_topic_set_history(hub_t *hub, const char *name, size_t max_msgs,
                          size_t max_bytes) {
  hub__topic *t;
  uint64_t *cur;
  uint32_t hash, i;
  size_t len;
  int err;

  if (hub == NULL || (max_msgs > 0 && max_bytes == 0))
    return UV_EINVAL;
  if (name == NULL)
    return hub__broadcast_history(hub, max_msgs, max_bytes);
  if ((err = hub__topic_len(name, &len)) != 0)
    return err;
  hash = hub__hash_name(name, len);
  t = hub__topic_find(hub, name, len, hash);
  if (t == NULL && (t = hub__topic_new(hub, name, len, hash)) == NULL)
    return UV_ENOMEM;
  t->pinned = max_msgs > 0;
  if (t->pinned)
    hub__topic_unidle(hub, t);
  if (max_msgs == 0) {
    hub__hist_free(hub, t->hist);
    hub__free(hub, t->cursors);
    t->hist = NULL;
    t->cursors = NULL;
  } else if (t->hist == NULL) {
    cur = hub__malloc(hub, ((size_t)t->cap + 1) * sizeof(*cur));
    if (cur == NULL || (t->hist = hub__hist_new(hub, max_msgs,
                                                max_bytes)) == NULL) {
      hub__free(hub, cur);
      return UV_ENOMEM;
    }
    t->cursors = cur;
    for (i = 0; i < t->n; i++)
      cur[i] = t->hist->next; /* everyone at the live edge */
  } else {
    t->hist->max_msgs = max_msgs;
    t->hist->max_bytes = max_bytes;
    hub__hist_trim(t->hist);
  }
  hub__topic_emptied(hub, t); /* reaped, or kept idle, like any empty topic */
  hub__enter(hub);
  hub__leave(hub);
  return 0;
}

int hub_topic_keep(hub_t *hub, const char *name, int keep) {
  hub__topic *t;
  uint32_t hash;
  size_t len;
  int err, was;

  if (hub == NULL || name == NULL)
    return UV_EINVAL;
  if ((err = hub__topic_len(name, &len)) != 0)
    return err;
  hash = hub__hash_name(name, len);
  t = hub__topic_find(hub, name, len, hash);
  if (t == NULL && !keep)
    return 0;
  if (t == NULL && (t = hub__topic_new(hub, name, len, hash)) == NULL)
    return UV_ENOMEM;
  was = t->pinned;
  t->pinned = keep != 0;
  if (t->pinned)
    hub__topic_unidle(hub, t);
  hub__topic_emptied(hub, t);
  hub__enter(hub);
  hub__leave(hub);
  return was;
}

int hub_topic_position(const hub_t *hub, const char *name, uint64_t *epoch,
                       uint64_t *first, uint64_t *next) {
  const hub__hist *h;
  size_t len = 0;
  int err;

  if (hub == NULL)
    return UV_EINVAL;
  if (name != NULL && (err = hub__topic_len(name, &len)) != 0)
    return err;
  h = hub__hist_of(hub, name, name != NULL ? len : 0);
  if (h == NULL)
    return UV_ENOENT;
  if (epoch != NULL)
    *epoch = h->epoch;
  if (first != NULL)
    *first = h->first;
  if (next != NULL)
    *next = h->next;
  return 0;
}

size_t hub__topic_targets(hub_t *hub, hub_client_t *except, const char *name,
                          size_t len) {
  const hub__topic *t;
  size_t n;

  t = hub__topic_find(hub, name, len, hub__hash_name(name, len));
  if (t == NULL)
    return 0;
  n = t->nsubs;
  if (except != NULL && except->state == HUB__OPEN && n > 0 &&
      hub__lookup(except, name, len) >= 0)
    n--;
  return n;
}

int hub_publish_msg(hub_t *hub, hub_client_t *except, const char *name,
                    hub_msg_t *msg) {
  size_t len;
  int err;

  if (name == NULL) /* a topic's publish: NULL is not a name */
    return UV_EINVAL;
  if ((err = hub__check_msg(hub, name, &len, msg)) != 0)
    return err;
  return hub__publish(hub, except, name, len, msg);
}

int hub_publish_at(hub_t *hub, const char *name, hub_msg_t *msg,
                   uint64_t epoch, uint64_t offset) {
  size_t len;
  int err;

  if (name == NULL || epoch == 0 || offset == 0 || offset == UINT64_MAX)
    return UV_EINVAL;
  if ((err = hub__check_msg(hub, name, &len, msg)) != 0)
    return err;
  if (msg->offset != 0)
    return UV_EBUSY;
  msg->epoch = epoch;
  msg->offset = offset;
  msg->preset = 1;
  err = hub__publish(hub, NULL, name, len, msg);
  if (msg->preset) { /* not placed: taken back */
    msg->preset = 0;
    msg->epoch = msg->offset = 0;
  }
  return err;
}

int hub_publish_except(hub_t *hub, hub_client_t *except, const char *name,
                       const void *data, size_t len, unsigned int flags) {
  hub_msg_t *msg;
  size_t tlen;
  int r;

  if (name == NULL)
    return UV_EINVAL;
  if ((r = hub__check_send(hub, name, &tlen, data, len, flags, 1)) != 0)
    return r;
  r = hub_msg_new(hub, data, len, flags, &msg);
  if (r != 0)
    return r;
  r = hub_publish_msg(hub, except, name, msg);
  hub_msg_unref(msg);
  return r;
}

int hub_publish(hub_t *hub, const char *name, const void *data, size_t len,
                unsigned int flags) {
  return hub_publish_except(hub, NULL, name, data, len, flags);
}
