/* hub-redis: a sequenced room's message is this node's to send until it
 * has come back on the node's own subscription.
 *
 * Redis runs a room's script (number, keep, publish) in one step and
 * answers it, but it writes the answer and the PUBLISH to the
 * subscribers in separate writes: killed in between, it has answered a
 * message that no subscriber got, and a Redis that restarts without its
 * data has forgotten it. So the node keeps each of its numbered messages
 * (hub_redis__numbered()) until it hears that offset of the room, or a
 * later one, on its subscription (hub_redis__heard()). What is still
 * unheard when the connection goes waits for the room's catch-up after
 * the reconnection (hub_redis__settle()): a message the room's stream
 * holds at its offset, with this node's envelope, was published (the
 * others get it live or from the stream as this node does); any other
 * was lost with Redis and is sent again. Possibly a duplicate (Redis died
 * in the middle of its writes, after some subscriber got it), never a
 * loss. */
#include <stdlib.h>
#include <string.h>

#include "hub-redis-envelope.h"
#include "hub-redis-int.h"

void hub_redis__numbered(hub_redis_t *b, const char *topic, size_t len,
                         hub_msg_t *msg, uint64_t epoch, uint64_t offset) {
  hub_redis__topic *t = hub_redis__topics_find(&b->topics, topic, len);

  /* Not subscribed here: nothing to hear it with (as before a lost
   * connection, the answer is all there is). Heard already: the
   * subscription's message came before the script's answer. */
  if (t == NULL || (t->heard_epoch == epoch && t->heard_offset >= offset))
    return;
  /* Bounded like the buffer for Redis; past it the answer is trusted. */
  if (b->topics.unseen >= b->opts.buffer_msgs)
    return;
  if (hub_redis__held_push(&t->unseen, &t->unseen_tail, msg, epoch,
                           offset) != 0)
    return;
  t->nunseen++;
  b->topics.unseen++;
}

static void hub_redis__unseen_pop(hub_redis_t *b, hub_redis__topic *t) {
  hub_redis__held *h = t->unseen;

  t->unseen = h->next;
  if (t->unseen == NULL)
    t->unseen_tail = NULL;
  t->nunseen--;
  b->topics.unseen--;
  hub_msg_unref(h->msg);
  free(h);
}

/* Redis delivers a room's messages in offset order: hearing one means
 * every earlier one of its epoch was published too. */
void hub_redis__heard(hub_redis_t *b, const char *topic, uint64_t epoch,
                      uint64_t offset) {
  hub_redis__topic *t = hub_redis__topics_find(&b->topics, topic,
                                               strlen(topic));

  if (t == NULL)
    return;
  t->heard_epoch = epoch;
  t->heard_offset = offset;
  while (t->unseen != NULL && t->unseen->epoch == epoch &&
         t->unseen->offset <= offset)
    hub_redis__unseen_pop(b, t);
}

int hub_redis__stream_entry(const hub_redis_t *b, const redisReply *e,
                            uint64_t *offset, hub_redis_env_t *env) {
  const redisReply *fields;
  char *end;
  size_t i;

  if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
      e->element[0]->type != REDIS_REPLY_STRING ||
      e->element[1]->type != REDIS_REPLY_ARRAY)
    return -1;
  *offset = strtoull(e->element[0]->str, &end, 10);
  fields = e->element[1];
  if (*offset == 0 || strcmp(end, "-1") != 0)
    return -1;
  for (i = 0; i + 1 < fields->elements; i += 2)
    if (fields->element[i]->type == REDIS_REPLY_STRING &&
        strcmp(fields->element[i]->str, "m") == 0 &&
        fields->element[i + 1]->type == REDIS_REPLY_STRING)
      return hub_redis_env_decode(fields->element[i + 1]->str,
                                  fields->element[i + 1]->len,
                                  b->opts.max_message,
                                  env) == HUB_REDIS_ENV_OK
                 ? 0
                 : -1;
  return -1;
}

/* Does the room's stream (`entries`, in offset order, of the room's
 * epoch) hold `h` as this node sent it? `*pos` is where the search for
 * the room's previous (older) unheard message stopped: one pass over the
 * stream serves them all. An offset older than the stream's oldest entry
 * (`oldest`) was held once and trimmed since: published. */
static int hub_redis__kept(const hub_redis_t *b, const redisReply *entries,
                           uint64_t oldest, const hub_redis__held *h,
                           size_t *pos) {
  hub_redis_env_t env;
  uint64_t offset;

  if (h->offset < oldest)
    return 1;
  for (; *pos < entries->elements; (*pos)++) {
    if (hub_redis__stream_entry(b, entries->element[*pos], &offset, &env) !=
            0 ||
        offset < h->offset)
      continue;
    return offset == h->offset && env.origin == b->node_id &&
           env.len == hub_msg_len(h->msg) &&
           memcmp(env.payload, hub_msg_data(h->msg), env.len) == 0;
  }
  return 0;
}

/* The offset of the oldest entry of a room's stream (0: none). */
static uint64_t hub_redis__oldest(const hub_redis_t *b,
                                  const redisReply *entries) {
  hub_redis_env_t env;
  uint64_t offset;
  size_t i;

  for (i = 0; i < entries->elements; i++)
    if (hub_redis__stream_entry(b, entries->element[i], &offset, &env) == 0)
      return offset;
  return 0;
}

void hub_redis__settle(hub_redis_t *b, hub_redis__topic *t, uint64_t epoch,
                       const redisReply *entries) {
  uint64_t oldest;
  size_t pos = 0;
  int resent = 0;

  if (t->unseen == NULL)
    return;
  if (entries == NULL)
    epoch = 0;
  oldest = epoch != 0 ? hub_redis__oldest(b, entries) : 0;
  /* Sent again ahead of what waits, in their order. */
  b->requeue_last = NULL;
  while (t->unseen != NULL) {
    if (epoch == 0 || t->unseen->epoch != epoch ||
        !hub_redis__kept(b, entries, oldest, t->unseen, &pos)) {
      hub_redis__requeue(b, t->name, t->len, t->unseen->msg);
      resent = 1;
    }
    hub_redis__unseen_pop(b, t);
  }
  b->requeue_last = NULL;
  if (resent && !b->closing && b->state == HUB_REDIS_CONNECTED)
    hub_redis__pump(b);
}
