/* Publishes that wait for clients' sockets, and the senders' side of it.
 *
 * A broadcast or topic publish walks its clients and queues the message
 * for each. When one of them cannot take it and is not judged yet (its
 * socket refused part of a write less than slow_after_ms ago; see
 * hub__client_enqueue()), the walk is undone: the message is taken out of
 * the queues it already entered, so that no client has it, and the whole
 * publish waits in a FIFO. Every later publish waits behind it, whatever
 * its topic: one order for everyone. The head is tried again when the
 * client it waits for (the blocker) finished a write or left, and when the
 * blocker's time is up; then the blocker is judged by the policy like any
 * other client whose write is old.
 *
 * Undoing a walk is cheap and rare: the message is at the tail of each
 * queue it entered (a callback made during the walk may have queued
 * something behind it; hub__unqueue() looks from the tail). Nothing here
 * runs while no queue is full.
 *
 * The FIFO is what makes the hub "congested". Senders learn it from
 * hub_is_congested() and wait for hub_on_ready(); hub_post()'s messages
 * stay with their threads meanwhile (post.c). */
#include <string.h>

#include "hub-int.h"

static void hub__on_wait_timer(uv_timer_t *timer);

void hub__wait_init(hub_t *hub) {
  (void)uv_timer_init(hub->loop, &hub->wait_timer);
  hub->wait_timer.data = hub;
}

/* Queue `msg` for its targets. Returns the count, or HUB__EWAIT with
 * nothing queued (hub->blocker says for whom it waits). Only the
 * outermost walk may wait: one made from a callback during another is
 * judged as before, so that undoing the outer one stays exact. */
static int hub__walk(hub_t *hub, hub_client_t *except, const char *topic,
                     size_t tlen, hub_msg_t *msg) {
  int outer = !hub->walking, r;

  hub__enter(hub);
  if (outer) {
    hub->walking = 1;
    hub->wait_depth = hub->depth;
    hub->stamp++;
  }
  r = topic != NULL ? hub__topic_walk(hub, except, topic, tlen, msg)
                    : hub__clients_walk(hub, except, msg);
  if (outer)
    hub->walking = 0;
  hub__leave(hub);
  return r;
}

/* Arm the timer for the moment the blocker's write is old enough to be
 * judged. */
static void hub__wait_arm(hub_t *hub) {
  hub_client_t *c = hub->blocker;
  uint32_t age;
  uint64_t left = 0;

  if (c == NULL)
    return;
  age = (uint32_t)uv_now(hub->loop) - c->write_start;
  if (age < hub->opts.slow_after_ms)
    left = hub->opts.slow_after_ms - age;
  uv_timer_start(&hub->wait_timer, hub__on_wait_timer, left, 0);
}

static int hub__wait_push(hub_t *hub, hub_client_t *except,
                          const char *topic, size_t tlen, hub_msg_t *msg) {
  hub__wait *w;

  if (hub->stats.waiting >= hub->opts.max_waiting_msgs ||
      msg->len > hub->opts.max_waiting_bytes - hub->wait_bytes) {
    hub->stats.waits_refused++;
    return HUB_ECONGESTED;
  }
  w = hub__malloc(hub, sizeof(*w) + tlen);
  if (w == NULL)
    return UV_ENOMEM;
  w->next = NULL;
  w->msg = hub__msg_ref(msg);
  w->except = except;
  w->is_topic = topic != NULL;
  if (topic != NULL)
    memcpy(w->topic, topic, tlen);
  w->topic[topic != NULL ? tlen : 0] = '\0';
  if (hub->wait_tail != NULL)
    hub->wait_tail->next = w;
  else
    hub->wait_head = w;
  hub->wait_tail = w;
  hub->wait_bytes += msg->len;
  hub->stats.waiting++;
  hub->stats.waits++;
  return 0;
}

static void hub__wait_pop(hub_t *hub) {
  hub__wait *w = hub->wait_head;

  hub->wait_head = w->next;
  if (hub->wait_head == NULL)
    hub->wait_tail = NULL;
  hub->wait_bytes -= w->msg->len;
  hub->stats.waiting--;
  hub__msg_unref(w->msg);
  hub__free(hub, w);
}

static void hub__count_sent(hub_t *hub, int is_topic) {
  if (is_topic)
    hub->stats.publishes++;
  else
    hub->stats.broadcasts++;
}

/* Whom a publish is for now: the value returned for one that waits. */
static int hub__targets(hub_t *hub, hub_client_t *except, const char *topic,
                        size_t tlen) {
  size_t n;

  if (topic != NULL)
    return (int)hub__topic_targets(hub, except, topic, tlen);
  n = hub->stats.clients;
  if (except != NULL && except->state == HUB__OPEN && n > 0)
    n--;
  return n > INT32_MAX ? INT32_MAX : (int)n;
}

int hub__publish(hub_t *hub, hub_client_t *except, const char *topic,
                 size_t tlen, hub_msg_t *msg) {
  int r;

  /* Its place in the stream is taken now, waiting or not: the order of
   * positions is the order of publishes. */
  if ((r = hub__topic_position(hub, topic, tlen, msg)) != 0)
    return r;
  if (hub->wait_head == NULL) {
    r = hub__walk(hub, except, topic, tlen, msg);
    if (r != HUB__EWAIT) {
      hub__count_sent(hub, topic != NULL);
      return r;
    }
  }
  r = hub__wait_push(hub, except, topic, tlen, msg);
  if (r != 0) {
    /* A message with a place in a history is not refused: its topic's
     * clients read it (and what waits before it) from the history. */
    if (msg->offset == 0 || hub__topic_to_history(hub, topic, tlen) != 0)
      return r;
    return hub__targets(hub, except, topic, tlen);
  }
  if (hub->wait_head == hub->wait_tail)
    hub__wait_arm(hub);
  return hub__targets(hub, except, topic, tlen);
}

/* Tell the registered senders, oldest first, while the hub stays ready:
 * one that makes it congested again leaves the rest registered. */
static void hub__ready_notify(hub_t *hub) {
  hub__ready e;

  while (hub->nready > 0 && (hub->wait_head == NULL || hub->closing)) {
    e = hub->ready[0];
    hub->nready--;
    memmove(hub->ready, hub->ready + 1, hub->nready * sizeof(e));
    e.cb(hub, e.arg);
  }
}

/* Try the waiting publishes again, oldest first, until one must wait
 * again. Called inside a hub call. */
void hub__wait_run(hub_t *hub) {
  hub__wait *w;
  int r;

  hub->wait_retry = 0;
  hub->blocker = NULL;
  uv_timer_stop(&hub->wait_timer);
  while ((w = hub->wait_head) != NULL && !hub->closing) {
    r = hub__walk(hub, w->except, w->is_topic ? w->topic : NULL,
                  strlen(w->topic), w->msg);
    if (r == HUB__EWAIT) {
      hub__wait_arm(hub);
      return;
    }
    hub__count_sent(hub, w->is_topic);
    hub__wait_pop(hub);
  }
  hub__ready_notify(hub);
}

static void hub__on_wait_timer(uv_timer_t *timer) {
  hub_t *hub = timer->data;

  hub__enter(hub);
  hub__wait_run(hub);
  hub__leave(hub);
}

/* `c` is leaving: no waiting publish may point to it any more. */
void hub__wait_forget(hub_client_t *c) {
  hub_t *hub = c->hub;
  hub__wait *w;

  if (hub->blocker == c) {
    hub->blocker = NULL;
    hub__wake(hub);
  }
  for (w = hub->wait_head; w != NULL; w = w->next)
    if (w->except == c)
      w->except = NULL;
}

/* hub_close(): what waits will never go; the senders hear it. */
void hub__wait_close(hub_t *hub) {
  while (hub->wait_head != NULL) {
    hub->stats.waits_refused++;
    hub__wait_pop(hub);
  }
  hub->blocker = NULL;
  uv_timer_stop(&hub->wait_timer);
  hub__ready_notify(hub);
  hub__free(hub, hub->ready);
  hub->ready = NULL;
  hub->nready = hub->ready_cap = 0;
}

int hub_is_congested(const hub_t *hub) {
  return hub == NULL || hub->wait_head != NULL;
}

int hub_on_ready(hub_t *hub, hub_ready_cb cb, void *arg) {
  hub__ready *r;
  uint32_t i, cap;

  if (hub == NULL || cb == NULL)
    return UV_EINVAL;
  if (hub->wait_head == NULL || hub->closing)
    return 1;
  for (i = 0; i < hub->nready; i++)
    if (hub->ready[i].cb == cb && hub->ready[i].arg == arg)
      return 0;
  if (hub->nready == hub->ready_cap) {
    cap = hub->ready_cap < 4 ? 4 : hub->ready_cap * 2;
    r = hub__realloc(hub, hub->ready, cap * sizeof(*r));
    if (r == NULL)
      return UV_ENOMEM;
    hub->ready = r;
    hub->ready_cap = cap;
  }
  hub->ready[hub->nready].cb = cb;
  hub->ready[hub->nready].arg = arg;
  hub->nready++;
  return 0;
}

void hub_cancel_ready(hub_t *hub, hub_ready_cb cb, void *arg) {
  uint32_t i;

  if (hub == NULL)
    return;
  for (i = 0; i < hub->nready; i++) {
    if (hub->ready[i].cb == cb && hub->ready[i].arg == arg) {
      hub->nready--;
      memmove(hub->ready + i, hub->ready + i + 1,
              (hub->nready - i) * sizeof(*hub->ready));
      return;
    }
  }
}
