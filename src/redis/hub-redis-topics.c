/* The topics the bridge listens for: a chained hash set of names, so that
 * a topic's first subscriber or last unsubscriber costs O(1) on average,
 * and a reconnection can subscribe to all of them again. */
#include <stdlib.h>
#include <string.h>

#include "hub-redis-int.h"

static uint64_t hash(const char *s, size_t len) {
  uint64_t h = 1469598103934665603ull; /* FNV-1a */
  size_t i;

  for (i = 0; i < len; i++) {
    h ^= (unsigned char)s[i];
    h *= 1099511628211ull;
  }
  return h;
}

static hub_redis__topic **find(const hub_redis__topics *t, const char *name,
                               size_t len) {
  hub_redis__topic **p;

  p = &t->buckets[hash(name, len) & (t->nbuckets - 1)];
  while (*p != NULL &&
         ((*p)->len != len || memcmp((*p)->name, name, len) != 0))
    p = &(*p)->next;
  return p;
}

static int grow(hub_redis__topics *t) {
  size_t n = t->nbuckets != 0 ? t->nbuckets * 2 : 16, i;
  hub_redis__topic **b, *e, *next;

  b = calloc(n, sizeof(*b));
  if (b == NULL)
    return UV_ENOMEM;
  for (i = 0; i < t->nbuckets; i++) {
    for (e = t->buckets[i]; e != NULL; e = next) {
      next = e->next;
      e->next = b[hash(e->name, e->len) & (n - 1)];
      b[hash(e->name, e->len) & (n - 1)] = e;
    }
  }
  free(t->buckets);
  t->buckets = b;
  t->nbuckets = n;
  return 0;
}

int hub_redis__topics_add(hub_redis__topics *t, const char *name,
                          size_t len) {
  hub_redis__topic **p, *e;

  if (t->count >= t->nbuckets && grow(t) != 0)
    return UV_ENOMEM;
  p = find(t, name, len);
  if (*p != NULL)
    return 0;
  e = malloc(sizeof(*e) + len + 1);
  if (e == NULL)
    return UV_ENOMEM;
  e->next = NULL;
  e->held = e->held_tail = NULL;
  e->nheld = 0;
  e->fetching = 0;
  e->synced = 0;
  e->active = 0;
  e->waiting = 0;
  e->kept = 0;
  e->unseen = e->unseen_tail = NULL;
  e->nunseen = 0;
  e->heard_epoch = e->heard_offset = 0;
  e->len = len;
  memcpy(e->name, name, len);
  e->name[len] = '\0';
  *p = e;
  t->count++;
  return 1;
}

int hub_redis__topics_remove(hub_redis__topics *t, const char *name,
                             size_t len) {
  hub_redis__topic **p, *e;

  if (t->count == 0)
    return 0;
  p = find(t, name, len);
  if (*p == NULL)
    return 0;
  e = *p;
  *p = e->next;
  hub_redis__held_free(t, e);
  free(e);
  t->count--;
  return 1;
}

hub_redis__topic *hub_redis__topics_find(const hub_redis__topics *t,
                                         const char *name, size_t len) {
  if (t->count == 0)
    return NULL;
  return *find(t, name, len);
}

int hub_redis__held_push(hub_redis__held **head, hub_redis__held **tail,
                         hub_msg_t *msg, uint64_t epoch, uint64_t offset) {
  hub_redis__held *h = malloc(sizeof(*h));

  if (h == NULL)
    return UV_ENOMEM;
  h->next = NULL;
  h->msg = hub_msg_ref(msg);
  h->epoch = epoch;
  h->offset = offset;
  if (*tail != NULL)
    (*tail)->next = h;
  else
    *head = h;
  *tail = h;
  return 0;
}

static void held_list_free(hub_redis__held *h) {
  hub_redis__held *next;

  for (; h != NULL; h = next) {
    next = h->next;
    hub_msg_unref(h->msg);
    free(h);
  }
}

void hub_redis__held_free(hub_redis__topics *t, hub_redis__topic *e) {
  held_list_free(e->held);
  e->held = e->held_tail = NULL;
  e->nheld = 0;
  e->fetching = 0;
  held_list_free(e->unseen);
  e->unseen = e->unseen_tail = NULL;
  t->unseen -= e->nunseen;
  e->nunseen = 0;
}

void hub_redis__topics_each(const hub_redis__topics *t,
                            void (*fn)(void *arg, const char *name,
                                       size_t len),
                            void *arg) {
  hub_redis__topic *e;
  size_t i;

  for (i = 0; i < t->nbuckets; i++)
    for (e = t->buckets[i]; e != NULL; e = e->next)
      fn(arg, e->name, e->len);
}

void hub_redis__topics_unsync(hub_redis__topics *t) {
  hub_redis__topic *e;
  size_t i;

  for (i = 0; i < t->nbuckets; i++)
    for (e = t->buckets[i]; e != NULL; e = e->next)
      e->synced = 0;
}

void hub_redis__topics_free(hub_redis__topics *t) {
  hub_redis__topic *e, *next;
  size_t i;

  for (i = 0; i < t->nbuckets; i++) {
    for (e = t->buckets[i]; e != NULL; e = next) {
      next = e->next;
      hub_redis__held_free(t, e);
      free(e);
    }
  }
  free(t->buckets);
  memset(t, 0, sizeof(*t));
}
