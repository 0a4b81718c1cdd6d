/* Topics: exact-match names, each with its list of subscribers.
 *
 * Two chained hash tables give O(1) average lookups: topics by name, and
 * subscriptions by (topic, client), so subscribing and unsubscribing never
 * walk a list. Publishing walks only the topic's subscriber list.
 *
 * A publish may call back into the application (on_drop), which may
 * unsubscribe or close clients while the list is being walked. Ended
 * subscriptions are therefore only marked dead and unlinked from the
 * lookups at once; they leave the topic's list, and empty topics are
 * freed, when the outermost hub call returns (hub__topics_reap). */
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

static uint32_t hub__hash_pair(const void *a, const void *b) {
  uint64_t x = (uint64_t)(uintptr_t)a * 0x9E3779B97F4A7C15ull;

  x ^= (uint64_t)(uintptr_t)b + 0x632BE59BD9B4E019ull + (x << 6) + (x >> 2);
  x ^= x >> 29;
  x *= 0xBF58476D1CE4E5B9ull;
  x ^= x >> 32;
  return (uint32_t)x;
}

static uint32_t hub__topic_node_hash(const hub__hnode *n) {
  return ((const hub__topic *)n)->hash;
}

static uint32_t hub__sub_node_hash(const hub__hnode *n) {
  const hub__sub *s = (const hub__sub *)n;
  return hub__hash_pair(s->topic, s->client);
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

static hub__sub *hub__sub_find(const hub_t *hub, const hub__topic *t,
                               const hub_client_t *c) {
  hub__sub *s;

  if (hub->subs.buckets == NULL)
    return NULL;
  for (s = hub->subs.buckets[hub__hash_pair(t, c) & hub->subs.mask];
       s != NULL; s = s->hnext)
    if (s->topic == t && s->client == c)
      return s;
  return NULL;
}

/* The live subscription of `c` to `name`, or NULL. */
static hub__sub *hub__lookup(const hub_client_t *c, const char *name,
                             size_t len) {
  const hub__topic *t;

  t = hub__topic_find(c->hub, name, len, hub__hash_name(name, len));
  return t != NULL ? hub__sub_find(c->hub, t, c) : NULL;
}

static void hub__sub_end(hub_t *hub, hub__sub *s) {
  hub__topic *t = s->topic;

  hub__htab_remove(&hub->subs, (hub__hnode *)s, hub__hash_pair(t, s->client));
  hub__queue_remove(&s->cnode);
  s->hnext = hub->dead_subs;
  hub->dead_subs = s;
  s->client->nsubs--;
  s->client = NULL; /* dead: skipped by publishers, freed by the reaper */
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
  hub__sub *s;
  uint32_t hash;
  size_t len;
  int err;

  if (c == NULL)
    return UV_EINVAL;
  if ((err = hub__topic_len(name, &len)) != 0)
    return err;
  if (c->state != HUB__OPEN)
    return HUB_ECLOSING;
  hub = c->hub;
  hash = hub__hash_name(name, len);
  t = hub__topic_find(hub, name, len, hash);
  if (t != NULL && hub__sub_find(hub, t, c) != NULL)
    return 1;

  if (hub__htab_reserve(hub, &hub->subs, hub__sub_node_hash) != 0 ||
      (t == NULL &&
       hub__htab_reserve(hub, &hub->topics, hub__topic_node_hash) != 0))
    return UV_ENOMEM;
  s = hub__malloc(hub, sizeof(*s));
  if (s == NULL)
    return UV_ENOMEM;
  if (t == NULL) {
    t = hub__malloc(hub, offsetof(hub__topic, name) + len + 1);
    if (t == NULL) {
      hub__free(hub, s);
      return UV_ENOMEM;
    }
    memset(t, 0, offsetof(hub__topic, name));
    memcpy(t->name, name, len);
    t->name[len] = '\0';
    t->len = len;
    t->hash = hash;
    hub__queue_init(&t->subs);
    hub__htab_insert(&hub->topics, (hub__hnode *)t, hash);
  }

  memset(s, 0, sizeof(*s));
  s->topic = t;
  s->client = c;
  hub__queue_insert_tail(&t->subs, &s->tnode);
  hub__queue_insert_tail(&c->subs, &s->cnode);
  hub__htab_insert(&hub->subs, (hub__hnode *)s, hub__hash_pair(t, c));
  c->nsubs++;
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

int hub_unsubscribe(hub_client_t *c, const char *name) {
  hub__sub *s;
  size_t len;
  int err;

  if (c == NULL)
    return UV_EINVAL;
  if ((err = hub__topic_len(name, &len)) != 0)
    return err;
  s = hub__lookup(c, name, len);
  if (s == NULL)
    return UV_ENOENT;
  hub__enter(c->hub);
  hub__sub_end(c->hub, s);
  hub__leave(c->hub);
  return 0;
}

void hub__client_unsubscribe_all(hub_client_t *c) {
  while (!hub__queue_empty(&c->subs))
    hub__sub_end(c->hub,
                 hub__container_of(c->subs.next, hub__sub, cnode));
}

int client_is_subscribed(const hub_client_t *c, const char *name) {
  size_t len;

  if (c == NULL || hub__topic_len(name, &len) != 0)
    return 0;
  return hub__lookup(c, name, len) != NULL;
}

size_t hub_topic_subscribers(const hub_t *hub, const char *name) {
  const hub__topic *t;
  size_t len;

  if (hub == NULL || hub__topic_len(name, &len) != 0)
    return 0;
  t = hub__topic_find(hub, name, len, hub__hash_name(name, len));
  return t != NULL ? t->nsubs : 0;
}

/* Free ended subscriptions and topics left without subscribers. Runs only
 * when no subscriber list is being walked. */
void hub__topics_reap(hub_t *hub) {
  hub__topic *t;
  hub__sub *s;

  while ((s = hub->dead_subs) != NULL) {
    hub->dead_subs = s->hnext;
    hub__queue_remove(&s->tnode);
    hub__free(hub, s);
  }
  while ((t = hub->emptied) != NULL) {
    hub->emptied = t->enext;
    t->emptied = 0;
    if (t->nsubs == 0) { /* not subscribed to again meanwhile */
      hub__htab_remove(&hub->topics, (hub__hnode *)t, t->hash);
      hub__free(hub, t);
    }
  }
}

/* At hub free: every client is gone, so every topic is empty. */
void hub__topics_free(hub_t *hub) {
  hub__topics_reap(hub);
  hub__free(hub, hub->topics.buckets);
  hub__free(hub, hub->subs.buckets);
  hub->topics.buckets = hub->subs.buckets = NULL;
}

int hub_publish_msg(hub_t *hub, hub_client_t *except, const char *name,
                    hub_msg_t *msg) {
  hub__topic *t;
  hub__queue *q;
  hub__sub *s;
  size_t len;
  int err, n = 0;

  if (hub == NULL || msg == NULL || msg->hub != hub ||
      (msg->flags & HUB_MSG_CONTROL))
    return UV_EINVAL;
  if ((err = hub__topic_len(name, &len)) != 0)
    return err;
  if (hub->closing)
    return HUB_ECLOSING;
  if (msg->len > hub->opts.max_queue_bytes)
    return HUB_EMSGSIZE;
  hub->stats.publishes++;
  t = hub__topic_find(hub, name, len, hub__hash_name(name, len));
  if (t == NULL)
    return 0;
  hub__enter(hub);
  for (q = t->subs.next; q != &t->subs; q = q->next) {
    s = hub__container_of(q, hub__sub, tnode);
    if (s->client != NULL && s->client != except &&
        s->client->state == HUB__OPEN &&
        hub__client_enqueue(s->client, msg) == 0 && n < INT32_MAX)
      n++;
  }
  hub__leave(hub);
  return n;
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
