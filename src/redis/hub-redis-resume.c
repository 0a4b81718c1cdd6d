/* hub-redis: resuming in a sequenced room this node has not caught up
 * with yet. The client waits, unsubscribed, until the room's stream has
 * been fetched from Redis; then it is subscribed from the position it
 * gave, as if the node had had the room all along. */
#include <stdlib.h>
#include <string.h>

#include "hub-redis-int.h"

static void hub_redis__resume_unlink(hub_redis__resume *p) {
  hub__queue_remove(&p->node);
  p->t->waiting--;
}

/* The oldest waiting resume of `client` (NULL: any) in `t` (NULL: any)
 * that began by `gen`; NULL if none. */
static hub_redis__resume *hub_redis__resume_find(hub_redis_t *b,
                                                 const hub_redis__topic *t,
                                                 const hub_client_t *client,
                                                 uint64_t gen) {
  hub__queue *q;
  hub_redis__resume *p;

  for (q = b->resumes.next; q != &b->resumes; q = q->next) {
    p = hub__container_of(q, hub_redis__resume, node);
    if (p->gen <= gen && (t == NULL || p->t == t) &&
        (client == NULL || p->client == client))
      return p;
  }
  return NULL;
}

/* No resume waits for `t` any more: the hub's topic goes back to the
 * hub's rules (kept while subscribed to, then idle for its history). */
static void hub_redis__unkeep(hub_redis_t *b, hub_redis__topic *t) {
  if (t->waiting == 0 && t->kept) {
    t->kept = 0;
    (void)hub_topic_keep(b->hub, t->name, 0);
  }
}

/* A room that neither local subscribers nor resumes need any more. */
static void hub_redis__topic_release(hub_redis_t *b, const char *name,
                                     size_t len) {
  hub_redis__topic *t = hub_redis__topics_find(&b->topics, name, len);

  if (t != NULL && !t->active && t->waiting == 0 &&
      hub_redis__topics_remove(&b->topics, name, len) == 1) {
    hub_redis__subscribe(b, name, len, 0);
    b->stats.topics = b->topics.count;
  }
}

/* Subscribe the client of `p` from its position, then tell its owner.
 * The callback may do anything (close clients, start or cancel other
 * resumes): nothing of `p` or its room is used after it. */
static void hub_redis__resume_one(hub_redis_t *b, hub_redis__resume *p) {
  char name[HUB_TOPIC_MAX + 1];
  size_t len = p->t->len;
  int64_t missed = 0;
  int r;

  memcpy(name, p->t->name, len + 1);
  hub_redis__resume_unlink(p);
  r = hub_subscribe_from(p->client, name, p->epoch, p->after, &missed);
  hub_redis__unkeep(b, p->t);
  if (p->cb != NULL)
    p->cb(b, p->client, name, r, missed, p->arg);
  free(p);
  hub_redis__topic_release(b, name, len);
}

/* Those waiting now (not those that callbacks add), oldest first. A
 * record stays listed until its turn, so that a callback can cancel it. */
void hub_redis__resumes_run(hub_redis_t *b, hub_redis__topic *t) {
  uint64_t gen = b->resume_gen;
  hub_redis__resume *p;

  for (;;) {
    p = hub_redis__resume_find(b, t, NULL, gen);
    if (p == NULL)
      return;
    /* `t` lives while it has waiting resumes; once its last is run it
     * may be freed, and no record points to it any more. */
    hub_redis__resume_one(b, p);
  }
}

void hub_redis_cancel_resume(hub_redis_t *b, hub_client_t *client) {
  hub_redis__resume *p;
  char name[HUB_TOPIC_MAX + 1];
  size_t len;

  if (b == NULL || client == NULL)
    return;
  p = hub_redis__resume_find(b, NULL, client, UINT64_MAX);
  if (p == NULL)
    return;
  len = p->t->len;
  memcpy(name, p->t->name, len + 1);
  hub_redis__resume_unlink(p);
  hub_redis__unkeep(b, p->t);
  free(p);
  hub_redis__topic_release(b, name, len);
}

int hub_redis_subscribe_from(hub_redis_t *b, hub_client_t *client,
                             const char *topic, uint64_t epoch,
                             uint64_t after, int64_t *missed,
                             hub_redis_resume_cb cb, void *arg) {
  hub_redis__topic *t;
  hub_redis__resume *p;
  size_t len;
  int r;

  if (b == NULL || client == NULL || topic == NULL || topic[0] == '\0')
    return UV_EINVAL;
  len = strlen(topic);
  if (len > HUB_TOPIC_MAX)
    return UV_ENAMETOOLONG;
  hub_redis_cancel_resume(b, client);
  t = hub_redis__topics_find(&b->topics, topic, len);
  /* Plain rooms, Redis out of reach, or a room caught up already: what
   * this node holds is all there is to have. */
  if (b->opts.history_msgs == 0 || b->closing ||
      b->state == HUB_REDIS_DISCONNECTED || (t != NULL && t->synced))
    return hub_subscribe_from(client, topic, epoch, after, missed);
  p = malloc(sizeof(*p));
  if (p == NULL)
    return UV_ENOMEM;
  r = hub_redis__topics_add(&b->topics, topic, len);
  if (r < 0) {
    free(p);
    return r;
  }
  t = hub_redis__topics_find(&b->topics, topic, len);
  /* The catch-up fills the topic's history before anyone subscribes:
   * the hub keeps the topic meanwhile. A hub without history has no
   * position to resume from: nothing to wait for. */
  if (!t->kept) {
    int was = hub_topic_keep(b->hub, topic, 1);

    if (was < 0 || hub_topic_position(b->hub, topic, NULL, NULL, NULL) != 0) {
      if (was == 0)
        (void)hub_topic_keep(b->hub, topic, 0);
      free(p);
      hub_redis__topic_release(b, topic, len);
      return was < 0 ? was : hub_subscribe_from(client, topic, epoch, after,
                                                 missed);
    }
    t->kept = was == 0;
  }
  if (r == 1) { /* new here: Redis is asked for it, then its stream */
    hub_redis__subscribe(b, topic, len, 1);
    b->stats.topics = b->topics.count;
  }
  p->t = t;
  p->client = client;
  p->epoch = epoch;
  p->after = after;
  p->gen = ++b->resume_gen;
  p->cb = cb;
  p->arg = arg;
  hub__queue_insert_tail(&b->resumes, &p->node);
  t->waiting++;
  b->stats.resumes_waited++;
  if (missed != NULL)
    *missed = 0;
  return HUB_REDIS_PENDING;
}
