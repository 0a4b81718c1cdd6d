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
  nb = hub__malloc(hub, (size_t)size * sizeof(hub__hnode *));
  if (nb == NULL)
    return UV_ENOMEM;
  memset(nb, 0, (size_t)size * sizeof(hub__hnode *));
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
static int hub__topic_len(const char *name, size_t *lenp) {
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

int hub_subscribe(hub_client_t *c, const char *name) {
  hub_t *hub;
  hub__topic *t;
  uint32_t hash;
  size_t len;
  int err, created = 0;

  if (c == NULL)
    return UV_EINVAL;
  if ((err = hub__topic_len(name, &len)) != 0)
    return err;
  if (c->state != HUB__OPEN)
    return HUB_ECLOSING;
  hub = c->hub;
  hash = hub__hash_name(name, len);
  t = hub__topic_find(hub, name, len, hash);
  if (t != NULL && hub__csub_find(c, t) >= 0)
    return 1;

  if (t == NULL) {
    if (hub__htab_reserve(hub, &hub->topics, hub__topic_node_hash) != 0)
      return UV_ENOMEM;
    t = hub__malloc(hub, offsetof(hub__topic, name) + len + 1);
    if (t == NULL)
      return UV_ENOMEM;
    memset(t, 0, offsetof(hub__topic, name));
    memcpy(t->name, name, len);
    t->name[len] = '\0';
    t->len = len;
    t->hash = hash;
    hub__htab_insert(&hub->topics, (hub__hnode *)t, hash);
    created = 1;
  }
  if (hub__grow(hub, (void **)&t->members, &t->cap, t->n,
                sizeof(*t->members)) != 0 ||
      hub__grow(hub, (void **)&c->subs, &c->subs_cap, c->nsubs,
                sizeof(*c->subs)) != 0) {
    if (created) {
      hub__htab_remove(&hub->topics, (hub__hnode *)t, hash);
      hub__free(hub, t->members);
      hub__free(hub, t);
    }
    return UV_ENOMEM;
  }

  c->subs[c->nsubs].topic = t;
  c->subs[c->nsubs].idx = t->n;
  c->nsubs++;
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
 * is being walked. */
void hub__topics_reap(hub_t *hub) {
  hub__topic *t;

  while ((t = hub->emptied) != NULL) {
    hub->emptied = t->enext;
    t->emptied = 0;
    if (t->nsubs == 0) { /* not subscribed to again meanwhile */
      hub__htab_remove(&hub->topics, (hub__hnode *)t, t->hash);
      hub__free(hub, t->members);
      hub__free(hub, t);
    }
  }
}

/* At hub free: every client is gone, so every topic is empty. */
void hub__topics_free(hub_t *hub) {
  hub__topics_reap(hub);
  hub__free(hub, hub->topics.buckets);
  hub->topics.buckets = NULL;
}

/* Queue `msg` for the topic's subscribers but `except` (pace.c's walk,
 * inside a hub call). Returns the count, or HUB__EWAIT with the message
 * taken back out of every queue it entered. */
int hub__topic_walk(hub_t *hub, hub_client_t *except, const char *name,
                    size_t len, hub_msg_t *msg) {
  hub__topic *t;
  hub_client_t *c;
  uint32_t i, j;
  int n = 0, r = 0;

  t = hub__topic_find(hub, name, len, hub__hash_name(name, len));
  if (t == NULL)
    return 0;
  /* Callbacks may subscribe (appending, perhaps moving the array: it is
   * read afresh each time) or unsubscribe (leaving holes) meanwhile. */
  t->walkers++;
  for (i = 0; i < t->n; i++) {
    c = t->members[i];
    if (c == NULL || c == except || c->state != HUB__OPEN)
      continue;
    r = hub__client_enqueue(c, msg);
    if (r == HUB__EWAIT) {
      for (j = 0; j < i; j++)
        if (t->members[j] != NULL)
          hub__unqueue(t->members[j], msg);
      break;
    }
    if (r == 0 && n < INT32_MAX)
      n++;
  }
  if (--t->walkers == 0 && t->holes > 0)
    hub__topic_compact(t);
  return r == HUB__EWAIT ? r : n;
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

  if (hub == NULL || msg == NULL || msg->hub != hub ||
      (msg->flags & HUB_MSG_CONTROL))
    return UV_EINVAL;
  if ((err = hub__topic_len(name, &len)) != 0)
    return err;
  if (hub->closing)
    return HUB_ECLOSING;
  if (msg->len > hub->opts.max_queue_bytes)
    return HUB_EMSGSIZE;
  return hub__publish(hub, except, name, len, msg);
}

int hub_publish_except(hub_t *hub, hub_client_t *except, const char *name,
                       const void *data, size_t len, unsigned int flags) {
  hub_msg_t *msg;
  size_t tlen;
  int r;

  if (hub == NULL || (data == NULL && len > 0) ||
      (flags & ~(unsigned)(HUB_MSG_BINARY | HUB_MSG_RAW)) != 0)
    return UV_EINVAL;
  if ((r = hub__topic_len(name, &tlen)) != 0)
    return r;
  if (hub->closing)
    return HUB_ECLOSING;
  if (len > hub->opts.max_queue_bytes)
    return HUB_EMSGSIZE;
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
