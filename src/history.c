/* Topic history: a bounded ring of message references, and the positions
 * (epoch, offset) that make a stream resumable.
 *
 * Every message published to a topic with history gets the topic's next
 * offset (1, 2, 3 ...) and the topic's epoch, a random 64-bit number drawn
 * when the stream starts empty, and the ring takes one more reference to
 * it: no copy, and no allocation once the ring has grown to its bound.
 * The ring drops its oldest references past max_msgs or max_bytes.
 *
 * A subscriber of such a topic has a cursor, the offset of the next
 * message it is to get, kept beside its entry in the topic's member array.
 * A publish queues the message only for the members whose cursor is the
 * message's offset (the live edge), and moves it on; a member behind
 * (catching up, or resuming) is fed from the ring as its queue drains
 * (hub__feed()). So each message reaches each subscriber once, in order,
 * whether it comes live or from history. */
#include <string.h>

#include "hub-int.h"

/* A random epoch, never 0 (0 means "no position" in a message). */
static uint64_t hub__new_epoch(hub_t *hub) {
  static uint64_t counter;
  uint64_t e = 0;

  if (uv_random(NULL, NULL, &e, sizeof(e), 0, NULL) != 0) {
    /* No entropy source: time, address and a counter still differ from
     * one stream (and one run) to the next. */
    e = uv_hrtime() ^ ((uint64_t)(uintptr_t)hub << 17) ^
        (++counter * 0x9e3779b97f4a7c15ull);
  }
  return e != 0 ? e : 1;
}

hub__hist *hub__hist_new(hub_t *hub, size_t max_msgs, size_t max_bytes) {
  hub__hist *h = hub__malloc(hub, sizeof(*h));

  if (h == NULL)
    return NULL;
  memset(h, 0, sizeof(*h));
  h->max_msgs = max_msgs;
  h->max_bytes = max_bytes;
  h->epoch = hub__new_epoch(hub);
  h->first = h->next = 1;
  return h;
}

static hub_msg_t **hub__hist_slot(const hub__hist *h, uint64_t offset) {
  uint64_t i = (h->head + (offset - h->first)) % h->cap;
  return &h->ring[i];
}

hub_msg_t *hub__hist_at(const hub__hist *h, uint64_t offset) {
  return *hub__hist_slot(h, offset);
}

static void hub__hist_drop_oldest(hub__hist *h) {
  hub_msg_t *msg = h->ring[h->head];

  h->ring[h->head] = NULL;
  h->head = h->head + 1 == h->cap ? 0 : h->head + 1;
  h->count--;
  h->bytes -= msg->len;
  h->first++;
  hub__msg_unref(msg);
}

/* The ring grows by doubling up to max_msgs entries, so that a topic that
 * keeps little costs little and a busy one stops allocating. */
static int hub__hist_grow(hub_t *hub, hub__hist *h) {
  uint32_t cap, i;
  hub_msg_t **ring;

  if (h->count < h->cap)
    return 0;
  cap = h->cap < 8 ? 8 : h->cap * 2;
  if (cap > h->max_msgs)
    cap = (uint32_t)h->max_msgs;
  ring = hub__malloc(hub, (size_t)cap * sizeof(*ring));
  if (ring == NULL)
    return UV_ENOMEM;
  for (i = 0; i < h->count; i++)
    ring[i] = h->ring[(h->head + i) % h->cap];
  hub__free(hub, h->ring);
  h->ring = ring;
  h->cap = cap;
  h->head = 0;
  return 0;
}

/* Keep a reference to `msg`, whose position is the stream's next. If the
 * ring cannot grow, the oldest entry makes room (a shorter history, never
 * a lost position). */
static void hub__hist_push(hub_t *hub, hub__hist *h, hub_msg_t *msg) {
  h->next = msg->offset + 1;
  if (h->max_msgs == 0)
    return;
  if (h->count >= h->max_msgs ||
      (h->count == h->cap && hub__hist_grow(hub, h) != 0)) {
    if (h->count == 0) {
      h->first = h->next;
      return;
    }
    hub__hist_drop_oldest(h);
  }
  h->ring[(h->head + h->count) % h->cap] = hub__msg_ref(msg);
  h->count++;
  h->bytes += msg->len;
  hub__hist_trim(h);
}

/* Give `msg` the stream's next position and keep it. */
void hub__hist_append(hub_t *hub, hub__hist *h, hub_msg_t *msg) {
  msg->epoch = h->epoch;
  msg->offset = h->next;
  hub__hist_push(hub, h, msg);
}

/* Take `msg` at the position it was given (hub_publish_at()) in topic
 * `t`'s stream. An offset already passed in this epoch is refused
 * (UV_EALREADY): the message was had. Another epoch means another stream
 * (a restart elsewhere): the history starts again at the message, and
 * every member with it; a member that had not read all of the old stream
 * is told what it lost as a gap, as far as it can be counted. An offset
 * beyond the next one is a hole in the stream here: the history starts
 * again at the message, and a member that was at the live edge learns of
 * the messages it will never get here as a gap (HUB_DROP_EXPIRED, when it
 * is fed). */
int hub__hist_place(hub_t *hub, hub__topic *t, hub_msg_t *msg) {
  hub__hist *h = t->hist;
  uint64_t behind;
  uint32_t i;

  if (msg->epoch == h->epoch && msg->offset < h->next)
    return UV_EALREADY;
  if (msg->epoch != h->epoch || msg->offset > h->next) {
    while (h->count > 0)
      hub__hist_drop_oldest(h);
    if (msg->epoch != h->epoch) {
      for (i = 0; i < t->n; i++) {
        /* Behind by this much (a reader waiting ahead is not). */
        behind = t->cursors[i] < h->next ? h->next - t->cursors[i] : 0;
        t->cursors[i] = behind < msg->offset ? msg->offset - behind : 0;
      }
      h->epoch = msg->epoch;
    }
    h->first = h->next = msg->offset;
    /* Those now short of the stream's start hear of it when fed. */
    for (i = 0; i < t->n; i++) {
      hub_client_t *c = t->members[i];

      if (c != NULL && c->state == HUB__OPEN && t->cursors[i] < h->first) {
        c->behind = 1;
        if (!c->writing)
          hub__mark_dirty(c);
      }
    }
  }
  hub__hist_push(hub, h, msg);
  return 0;
}

/* Drop the oldest references past the bounds (which may have shrunk). */
void hub__hist_trim(hub__hist *h) {
  while (h->count > 0 && (h->count > h->max_msgs || h->bytes > h->max_bytes))
    hub__hist_drop_oldest(h);
  if (h->count == 0)
    h->first = h->next;
}

void hub__hist_free(hub_t *hub, hub__hist *h) {
  if (h == NULL)
    return;
  while (h->count > 0)
    hub__hist_drop_oldest(h);
  hub__free(hub, h->ring);
  hub__free(hub, h);
}

int hub_msg_position(const hub_msg_t *msg, uint64_t *epoch,
                     uint64_t *offset) {
  if (msg == NULL || msg->offset == 0)
    return UV_ENOENT;
  if (epoch != NULL)
    *epoch = msg->epoch;
  if (offset != NULL)
    *offset = msg->offset;
  return 0;
}

/* Where `c` starts in `h` when it resumes after `epoch`/`after`
 * (after 0: from the oldest held). *missed: how many it cannot get (-1:
 * unknown, another epoch or a position the stream never had).
 *
 * A position of this epoch not reached yet, at most a history's length
 * ahead, is one another hub gave (hub_publish_at(): this one is behind
 * the sequencer): the client waits there and reads on when the stream
 * gets to it. Farther ahead, it is taken for a position the stream never
 * had. */
uint64_t hub__hist_start(const hub__hist *h, uint64_t epoch, uint64_t after,
                         int64_t *missed) {
  *missed = 0;
  if (after == 0)
    return h->first;
  if (epoch == h->epoch && after >= h->next && after - h->next < h->max_msgs)
    return after + 1;
  if (epoch != h->epoch || after >= h->next) {
    *missed = -1;
    return h->first;
  }
  if (after + 1 < h->first)
    *missed = (int64_t)(h->first - (after + 1));
  return after + 1 < h->first ? h->first : after + 1;
}

/* Queue for `c`, from the history of each topic it is behind in, what
 * its bounds take now; a client that caught up everywhere is no longer
 * behind. Messages that left a history before `c` read them are a gap
 * (HUB_DROP_EXPIRED). Called before a flush and when a write made room. */
/* The broadcast stream's part of hub__feed(): 1 if still behind, 0 if
 * not, -1 if the client closed. */
static int hub__feed_broadcasts(hub_client_t *c) {
  hub__hist *h = c->hub->bhist;
  uint64_t n;

  if (h == NULL || c->bnext >= h->next)
    return 0;
  if (c->bnext < h->first) {
    n = h->first - c->bnext;
    c->bnext = h->first;
    hub__report_drop(c, HUB_DROP_EXPIRED, n > SIZE_MAX ? SIZE_MAX : n, 0);
    if (c->state != HUB__OPEN)
      return -1;
  }
  while (c->state == HUB__OPEN && c->bnext < h->next &&
         c->bnext >= h->first &&
         hub__enqueue_fit(c, hub__hist_at(h, c->bnext)) == 0)
    c->bnext++;
  if (c->state != HUB__OPEN)
    return -1;
  return c->bnext < h->next;
}

void hub__feed(hub_client_t *c) {
  hub__topic *t;
  hub_msg_t *msg;
  uint64_t *cur;
  uint32_t k;
  int behind;

  behind = hub__feed_broadcasts(c);
  if (behind < 0)
    return;

  for (k = 0; k < c->nsubs && c->state == HUB__OPEN; k++) {
    t = c->subs[k].topic;
    if (t->hist == NULL)
      continue;
    cur = &t->cursors[c->subs[k].idx];
    if (*cur < t->hist->first) {
      uint64_t n = t->hist->first - *cur;
      *cur = t->hist->first;
      hub__report_drop(c, HUB_DROP_EXPIRED, n > SIZE_MAX ? SIZE_MAX : n, 0);
      if (c->state != HUB__OPEN)
        return;
      /* The callback may have changed anything: start again. */
      k = UINT32_MAX;
      behind = c->hub->bhist != NULL && c->bnext < c->hub->bhist->next;
      continue;
    }
    /* Queueing may call back (on_pressure), and a callback may move the
     * arrays: the cursor is looked up afresh for each message. */
    while (c->state == HUB__OPEN && k < c->nsubs &&
           (cur = &t->cursors[c->subs[k].idx], *cur < t->hist->next)) {
      msg = hub__hist_at(t->hist, *cur);
      if (hub__enqueue_fit(c, msg) != 0)
        break;
      t->cursors[c->subs[k].idx]++;
    }
    if (c->state == HUB__OPEN && k < c->nsubs &&
        t->cursors[c->subs[k].idx] < t->hist->next)
      behind = 1;
  }
  c->behind = (uint8_t)behind;
}
