/* A client's bounded queue, the slow-consumer policies, and the flush.
 *
 * The queue is a ring of message references. Its first `inflight` entries
 * belong to the write in flight and are never evicted or freed before the
 * transport reports completion (or closes), so a frame is never torn.
 * Entries after them are pending, oldest first.
 *
 * Every user callback (on_drop) is made last, once the queue is
 * consistent again, because it may call anything, including client_close()
 * or a nested hub_broadcast(). */
#include <string.h>

#include "hub-int.h"

static inline uint32_t hub__ring_pos(const hub_client_t *c, uint32_t i) {
  uint32_t pos = c->head + i;
  return pos >= c->cap ? pos - c->cap : pos;
}

static inline hub_msg_t **hub__ring_at(hub_client_t *c, uint32_t i) {
  return &c->ring[hub__ring_pos(c, i)];
}

static inline int hub__is_ctrl(const hub_msg_t *msg) {
  return (msg->flags & HUB_MSG_CONTROL) != 0;
}

/* A uv_buf_t, without a call into libuv per message. */
static inline uv_buf_t hub__buf(const void *base, size_t len) {
  uv_buf_t b;

  b.base = (char *)base;
  b.len = len;
  return b;
}

/* The buffers that put `msg` on the wire with frame `slot` (NULL: the
 * payload as is). Writes at most 3 into bufs; returns how many. */
static inline unsigned hub__msg_bufs(const hub_msg_t *msg,
                                     const hub__frame_slot *slot,
                                     uv_buf_t *bufs) {
  const hub_frame_t *f;
  unsigned n = 0;

  if (slot == NULL) {
    if (msg->len > 0)
      bufs[n++] = hub__buf((char *)msg->data, msg->len);
    return n;
  }
  f = &slot->frame;
  if (slot->contiguous) {
    bufs[0] = hub__buf((char *)msg->data - f->head_len,
                       f->head_len + msg->len + f->tail_len);
    return bufs[0].len > 0 ? 1 : 0;
  }
  if (f->head_len > 0)
    bufs[n++] = hub__buf((char *)f->head, f->head_len);
  if (f->body != NULL) {
    if (f->body_len > 0)
      bufs[n++] = hub__buf(f->body, f->body_len);
  } else if (msg->len > 0) {
    bufs[n++] = hub__buf((char *)msg->data, msg->len);
  }
  if (f->tail_len > 0)
    bufs[n++] = hub__buf((char *)f->tail, f->tail_len);
  return n;
}

/* Make room for one more entry. The ring grows by doubling up to the
 * most it can ever hold, so a client that never receives anything costs
 * nothing and a busy one stops allocating once it has grown. */
static int hub__ring_reserve(hub_client_t *c) {
  hub_t *hub = c->hub;
  size_t most = hub->opts.max_queue_msgs + HUB_MAX_CONTROL_QUEUED;
  hub_msg_t **ring;
  uint32_t cap, i;

  if (c->count < c->cap)
    return 0;
  cap = c->cap * 2 < 8 ? 8 : c->cap * 2;
  if (cap > most)
    cap = (uint32_t)most;
  if (cap <= c->count)
    return HUB_EQFULL; /* unreachable: the bounds are checked first */
  ring = hub__malloc(hub, (size_t)cap * sizeof(hub_msg_t *));
  if (ring == NULL)
    return UV_ENOMEM;
  for (i = 0; i < c->count; i++)
    ring[i] = *hub__ring_at(c, i);
  if (c->ring != c->inline_ring)
    hub__free(hub, c->ring);
  c->ring = ring;
  c->cap = cap;
  c->head = 0;
  return 0;
}

/* Account for a data or control entry leaving the queue. */
static void hub__forget(hub_client_t *c, const hub_msg_t *msg) {
  if (msg->key != 0)
    c->nkeyed--;
  if (hub__is_ctrl(msg)) {
    c->nctrl--;
  } else {
    c->qbytes -= msg->len;
    c->hub->stats.queued_msgs--;
    c->hub->stats.queued_bytes -= msg->len;
  }
}

static int hub__fits(const hub_client_t *c, size_t len) {
  const hub_options_t *o = &c->hub->opts;
  return c->count - c->nctrl + 1 <= o->max_queue_msgs &&
         c->qbytes + len <= o->max_queue_bytes;
}

/* DROP_OLDEST: remove the oldest pending data message. The in-flight
 * entries keep their place as a set; their order no longer matters once
 * their buffers were handed to the transport, so the slot freed at the
 * front of the pending part is filled with the first in-flight entry and
 * the ring head advances: O(1), plus a shift over pending control
 * messages (at most HUB_MAX_CONTROL_QUEUED) that stand before it. */
static void hub__evict_oldest(hub_client_t *c, size_t *n, size_t *bytes) {
  uint32_t k = c->inflight, j;
  hub_msg_t *victim;

  while (hub__is_ctrl(*hub__ring_at(c, k)))
    k++;
  victim = *hub__ring_at(c, k);
  for (j = k; j > c->inflight; j--)
    *hub__ring_at(c, j) = *hub__ring_at(c, j - 1);
  if (c->inflight > 0)
    *hub__ring_at(c, c->inflight) = *hub__ring_at(c, 0);
  c->head = hub__ring_pos(c, 1);
  c->count--;
  *n += 1;
  *bytes += victim->len;
  hub__forget(c, victim);
  hub__msg_unref(victim);
}

/* Queue a reference to `msg` at the end of c's ring (which has room). */
static inline void hub__ring_push(hub_client_t *c, hub_msg_t *msg) {
  c->ring[hub__ring_pos(c, c->count)] = hub__msg_ref(msg);
  c->count++;
  c->stamp = c->hub->stamp;
}

/* Let go of `msg`, just taken off c's ring: counted in *n and *bytes
 * when it is data. */
static void hub__let_go(hub_client_t *c, hub_msg_t *msg, size_t *n,
                        size_t *bytes) {
  if (!hub__is_ctrl(msg)) {
    *n += 1;
    *bytes += msg->len;
  }
  hub__forget(c, msg);
  hub__msg_unref(msg);
}

/* Free the entries from the newest back until `keep` are left; count
 * their data messages and bytes. */
static void hub__drop_tail(hub_client_t *c, uint32_t keep, size_t *n,
                             size_t *bytes) {
  while (c->count > keep) {
    hub_msg_t *msg = *hub__ring_at(c, c->count - 1);

    c->count--;
    hub__let_go(c, msg, n, bytes);
  }
}

/* Free the pending entries (not the in-flight ones); count their data
 * messages and bytes. */
static void hub__drop_pending(hub_client_t *c, size_t *n, size_t *bytes) {
  hub__drop_tail(c, c->inflight, n, bytes);
}

/* The client stops being a target: it leaves the client count and its
 * topics. Called as it leaves the OPEN state, whichever way. */
void hub__client_leave(hub_client_t *c) {
  if (c->state != HUB__OPEN)
    return;
  c->hub->stats.clients--;
  hub__client_unsubscribe_all(c);
  if (c->hub->blocker == c)
    hub__wait_forget(c);
}

/* hub__update_pressure() when it may have something to do: not for a
 * client below the first watermark that was already below it. */
static inline void hub__pressure(hub_client_t *c) {
  const hub_t *hub = c->hub;

  if (hub->nmarks == 0 ||
      (c->pressure == 0 && c->count - c->nctrl < hub->mark_msgs[0] &&
       c->qbytes < hub->mark_bytes[0]))
    return;
  hub__update_pressure(c);
}

/* Tell the application when the number of watermarks reached changes.
 * Called last, once the queue is consistent. */
void hub__update_pressure(hub_client_t *c) {
  hub_t *hub = c->hub;
  size_t msgs = c->count - c->nctrl;
  unsigned level = 0, old, i;

  if (hub->nmarks == 0 || c->state != HUB__OPEN)
    return;
  for (i = 0; i < hub->nmarks; i++)
    if (msgs >= hub->mark_msgs[i] || c->qbytes >= hub->mark_bytes[i])
      level = i + 1;
  if (level == c->pressure)
    return;
  old = c->pressure;
  c->pressure = (uint8_t)level;
  if (hub->opts.on_pressure != NULL)
    hub->opts.on_pressure(hub, c, old, level);
}

static void hub__begin_close(hub_client_t *c, int status, size_t n,
                             size_t bytes, hub_drop_reason_t reason) {
  hub__client_leave(c);
  c->state = HUB__CLOSING;
  c->status = status;
  if (c->dirty) {
    hub__queue_remove(&c->dnode);
    c->dirty = 0;
  }
  if (n > 0)
    hub__report_drop(c, reason, n, bytes);
  c->transport->close(c->transport, c, c->conn);
}

static void hub__abort_with(hub_client_t *c, int status,
                            hub_drop_reason_t reason, size_t extra_n,
                            size_t extra_bytes) {
  size_t n = extra_n, bytes = extra_bytes;

  hub__drop_pending(c, &n, &bytes);
  hub__begin_close(c, status, n, bytes, reason);
}

void hub__client_abort(hub_client_t *c, int status) {
  hub__abort_with(c, status, HUB_DROP_CLOSED, 0, 0);
}

/* Remove the pending entry `i`, which is `msg`. */
static void hub__remove_at(hub_client_t *c, uint32_t i, hub_msg_t *msg) {
  for (; i + 1 < c->count; i++)
    *hub__ring_at(c, i) = *hub__ring_at(c, i + 1);
  c->count--;
  hub__forget(c, msg);
  hub__msg_unref(msg);
}

/* Take `msg` back out of the client's pending entries (a walk that must
 * wait is undone), if this walk queued it (the client bears the walk's
 * stamp): the newest such entry, looked for from the tail, where the walk
 * put it. */
int hub__unqueue(hub_client_t *c, hub_msg_t *msg) {
  uint32_t i;

  if (c->state != HUB__OPEN || c->stamp != c->hub->stamp)
    return 0;
  for (i = c->count; i > c->inflight; i--) {
    if (*hub__ring_at(c, i - 1) == msg) {
      hub__remove_at(c, i - 1, msg);
      hub__pressure(c);
      return 1;
    }
  }
  return 0;
}

/* The client holding the most pending (not in flight) payload bytes, or
 * NULL when no open client holds any. O(clients), but it runs only when
 * the budget is hit, and each run frees a sixteenth of the budget. */
static hub_client_t *hub__largest(hub_t *hub) {
  hub_client_t *best = NULL, *c;
  uint32_t most = 0;
  hub__queue *q;

  for (q = hub->clients.next; q != &hub->clients; q = q->next) {
    c = hub__container_of(q, hub_client_t, node);
    if (c->state == HUB__OPEN && c->qbytes - c->inflight_bytes > most) {
      most = c->qbytes - c->inflight_bytes;
      best = c;
    }
  }
  return best;
}

/* Drop the newest pending data messages of `c` until `goal` bytes are
 * queued hub-wide or it has none left. */
static void hub__drop_newest(hub_client_t *c, uint64_t goal, size_t *n,
                             size_t *bytes) {
  hub_t *hub = c->hub;
  uint32_t i = c->count;
  hub_msg_t *msg;

  while (i > c->inflight && hub->stats.queued_bytes > goal) {
    msg = *hub__ring_at(c, --i);
    if (hub__is_ctrl(msg))
      continue;
    *n += 1;
    *bytes += msg->len;
    hub__remove_at(c, i, msg);
  }
}

/* The hub-wide budget would be exceeded by `len` more bytes: the policy
 * acts on the largest holders until the queues are at most 15/16 of the
 * budget with the new message. Returns 0, or HUB_EQFULL when what is left
 * is all in flight (the new message is then refused for `c`). */
int hub__budget(hub_client_t *c, size_t len) {
  hub_t *hub = c->hub;
  uint64_t goal = hub->budget - hub->budget / 16;
  hub_client_t *big;
  size_t n, bytes;

  goal = goal > len ? goal - len : 0;
  while (hub->stats.queued_bytes > goal) {
    big = hub__largest(hub);
    if (big == NULL)
      break;
    hub->stats.budget_actions++;
    n = bytes = 0;
    switch (hub->opts.policy) {
    case HUB_POLICY_DROP_OLDEST:
      while (hub->stats.queued_bytes > goal &&
             big->count - big->nctrl > big->inflight_data)
        hub__evict_oldest(big, &n, &bytes);
      if (n > 0)
        hub__report_drop(big, HUB_DROP_EVICTED, n, bytes);
      break;
    case HUB_POLICY_DROP_NEWEST:
      hub__drop_newest(big, goal, &n, &bytes);
      if (n > 0)
        hub__report_drop(big, HUB_DROP_REFUSED, n, bytes);
      break;
    case HUB_POLICY_DISCONNECT:
    default:
      hub->stats.clients_dropped++;
      hub__abort_with(big, HUB_ESLOW, HUB_DROP_DISCONNECT, 0, 0);
      break;
    }
    if (c->state != HUB__OPEN)
      return HUB_ECLOSING;
  }
  if (hub->stats.queued_bytes + len <= hub->budget)
    return 0;
  hub__report_drop(c, HUB_DROP_REFUSED, 1, len);
  return HUB_EQFULL;
}

/* A data message of `len` bytes does not fit: write what the client
 * holds now, as often as the socket takes it all, so that only what the
 * socket refuses can make the client slow. Returns HUB__EWAIT (with
 * hub->blocker set) when the socket refused part of a write that is not
 * old enough to judge and the caller's publish may wait; HUB_ECLOSING if
 * a failed write closed the client; else 0, and the caller checks the
 * bounds again. Not from a call nested inside a walk that may wait: that
 * walk must be able to take its message back out of every queue it
 * entered, which a write would hand to the transport. */
static int hub__make_room(hub_client_t *c, size_t len) {
  hub_t *hub = c->hub;

  if (hub->walking && hub->depth != hub->wait_depth)
    return 0;
  while (!c->writing && c->state == HUB__OPEN && c->count > c->inflight &&
         !hub__fits(c, len))
    hub__client_flush(c);
  if (c->state != HUB__OPEN)
    return HUB_ECLOSING;
  if (hub__fits(c, len) || !hub->walking || !c->writing || c->gap > 0 ||
      (hub->catching && hub->opts.policy == HUB_POLICY_CATCH_UP) ||
      (uint32_t)uv_now(hub->loop) - c->write_start >=
          hub->opts.slow_after_ms)
    return 0;
  hub->blocker = c;
  return HUB__EWAIT;
}

/* Apply the policy to a data message of `len` bytes that does not fit.
 * Returns 0 once there is room, or the error for the caller. *reason,
 * *n and *bytes say what to report after the queue is consistent. */
static int hub__overflow(hub_client_t *c, size_t len,
                         hub_drop_reason_t *reason, size_t *n,
                         size_t *bytes) {
  const hub_options_t *o = &c->hub->opts;

  switch (o->policy) {
  case HUB_POLICY_DROP_OLDEST:
    /* Only pending messages can go; if what is in flight leaves no room,
     * refuse without evicting anything. */
    if ((size_t)c->inflight_data + 1 <= o->max_queue_msgs &&
        c->inflight_bytes + len <= o->max_queue_bytes) {
      *reason = HUB_DROP_EVICTED;
      while (!hub__fits(c, len))
        hub__evict_oldest(c, n, bytes);
      return 0;
    }
    /* fall through */
  case HUB_POLICY_DROP_NEWEST:
    *reason = HUB_DROP_REFUSED;
    *n = 1;
    *bytes = len;
    return HUB_EQFULL;
  case HUB_POLICY_CATCH_UP:
    if (c->hub->catching)
      return HUB__EBEHIND; /* nothing dropped: it reads the history */
    /* A message it could not read from a history: as DISCONNECT. */
    /* fall through */
  case HUB_POLICY_DISCONNECT:
  default:
    c->hub->stats.clients_dropped++;
    hub__abort_with(c, HUB_ESLOW, HUB_DROP_DISCONNECT, 1, len);
    return HUB_ESLOW;
  }
}

/* Queue `msg` only if it fits the client's bounds (and the hub's budget)
 * as they are: no write first, no policy, no wait. HUB_EQFULL if not. */
int hub__enqueue_fit(hub_client_t *c, hub_msg_t *msg) {
  if (!hub__fits(c, msg->len) ||
      c->hub->stats.queued_bytes + msg->len > c->hub->budget)
    return HUB_EQFULL;
  return hub__client_enqueue(c, msg);
}

/* Keyed conflation: replace a pending message with the same key by `msg`,
 * in place, if the bounds allow. Returns 1 if it did (what it dropped in
 * *n and *bytes). */
static int hub__conflate(hub_client_t *c, hub_msg_t *msg, size_t *n,
                         size_t *bytes) {
  hub_t *hub = c->hub;
  hub_msg_t **slot, *old;
  uint32_t i;

  for (i = c->inflight; i < c->count; i++) {
    slot = hub__ring_at(c, i);
    old = *slot;
    if (old->key != msg->key || hub__is_ctrl(old))
      continue;
    if (c->qbytes - old->len + msg->len > hub->opts.max_queue_bytes ||
        hub->stats.queued_bytes - old->len + msg->len > hub->budget)
      return 0; /* let the policy (or the budget) make room instead */
    *slot = hub_msg_ref(msg);
    c->stamp = hub->stamp;
    c->qbytes = c->qbytes - old->len + msg->len;
    hub->stats.queued_bytes = hub->stats.queued_bytes - old->len + msg->len;
    *n = 1;
    *bytes = old->len;
    hub_msg_unref(old);
    return 1;
  }
  return 0;
}

#if defined(__GNUC__)
#define HUB__NOINLINE __attribute__((noinline))
#else
#define HUB__NOINLINE
#endif

static HUB__NOINLINE int hub__enqueue_slow(hub_client_t *c, hub_msg_t *msg);

/* Queue `msg` for `c`. This runs once per message per client, so the
 * common case (an open client, a data message without a key, already
 * framed for this transport, room in the queue and in the ring) is
 * handled here with few instructions and no call; everything else takes
 * hub__enqueue_slow(), which handles every case. */
int hub__client_enqueue(hub_client_t *c, hub_msg_t *msg) {
  hub_t *hub = c->hub;
  const hub_transport_t *tp = c->transport;

  if (c->state != HUB__OPEN ||
      (msg->flags & (HUB_MSG_CONTROL | HUB_MSG_RAW)) != 0 || msg->key != 0 ||
      (tp->frame != NULL && msg->frames[0].transport != tp) ||
      msg->len > hub->opts.max_queue_bytes || c->count >= c->cap ||
      !hub__fits(c, msg->len) ||
      hub->stats.queued_bytes + msg->len > hub->budget)
    return hub__enqueue_slow(c, msg);

  hub__ring_push(c, msg);
  c->qbytes += msg->len;
  hub->stats.queued_msgs++;
  hub->stats.queued_bytes += msg->len;
  if (!c->writing && !c->dirty)
    hub__mark_dirty(c);
  hub__pressure(c);
  return 0;
}

/* Room for a data message of `len` bytes within c's bounds and the
 * hub's budget: the hub writes first, then the policy evicts, waits or
 * refuses. The drops made are counted in *reason, *n and *bytes, and on
 * an error already reported. */
static int hub__room_for(hub_client_t *c, size_t len,
                         hub_drop_reason_t *reason, size_t *n,
                         size_t *bytes) {
  hub_t *hub = c->hub;
  int err;

  if (!hub__fits(c, len) && (err = hub__make_room(c, len)) != 0)
    return err;
  if (!hub__fits(c, len)) {
    err = hub__overflow(c, len, reason, n, bytes);
    if (err != 0) {
      if (err == HUB_EQFULL)
        hub__report_drop(c, *reason, *n, *bytes);
      return err;
    }
  }
  if (hub->stats.queued_bytes + len > hub->budget) {
    err = hub__budget(c, len);
    if (err != 0) {
      if (*n > 0)
        hub__report_drop(c, *reason, *n, *bytes);
      return err;
    }
  }
  return 0;
}

static int hub__enqueue_slow(hub_client_t *c, hub_msg_t *msg) {
  hub_t *hub = c->hub;
  const hub__frame_slot *slot;
  hub_drop_reason_t reason = HUB_DROP_REFUSED;
  size_t n = 0, bytes = 0;
  int ctrl = hub__is_ctrl(msg);
  int err;

  if (c->state != HUB__OPEN && !(ctrl && c->state == HUB__SHUTDOWN))
    return HUB_ECLOSING;
  if (ctrl) {
    if (c->nctrl >= HUB_MAX_CONTROL_QUEUED)
      return HUB_EQFULL;
  } else if (msg->len > hub->opts.max_queue_bytes) {
    return HUB_EMSGSIZE;
  }

  /* Framed already for this transport (by the client before): the
   * common case of a broadcast, checked inline. */
  if (!(msg->flags & HUB_MSG_RAW) && c->transport->frame != NULL &&
      msg->frames[0].transport != c->transport) {
    err = hub__msg_frame(msg, c->transport, &slot);
    if (err != 0)
      goto refused;
  }

  if (msg->key != 0 && c->nkeyed > 0 && !ctrl &&
      hub->opts.policy == HUB_POLICY_DROP_OLDEST &&
      hub__conflate(c, msg, &n, &bytes)) {
    hub__report_drop(c, HUB_DROP_CONFLATED, n, bytes);
    hub__update_pressure(c);
    return 0;
  }

  if (!ctrl && (err = hub__room_for(c, msg->len, &reason, &n, &bytes)) != 0)
    return err;

  err = hub__ring_reserve(c);
  if (err != 0)
    goto refused;

  hub__ring_push(c, msg);
  if (msg->key != 0)
    c->nkeyed++;
  if (ctrl) {
    c->nctrl++;
  } else {
    c->qbytes += msg->len;
    hub->stats.queued_msgs++;
    hub->stats.queued_bytes += msg->len;
  }
  if (!c->writing)
    hub__mark_dirty(c);
  if (n > 0)
    hub__report_drop(c, reason, n, bytes);
  hub__pressure(c);
  return 0;

refused:
  /* Evictions already made are reported too: nothing is lost silently. */
  if (n > 0)
    hub__report_drop(c, reason, n, bytes);
  if (!ctrl)
    hub__report_drop(c, err == UV_ENOMEM ? HUB_DROP_NOMEM : HUB_DROP_REFUSED,
                     1, msg->len);
  return err;
}

/* The write in flight is over: release its entries. */
static void hub__complete(hub_client_t *c, int status) {
  hub_t *hub = c->hub;
  size_t n = 0, bytes = 0;
  hub_msg_t *msg;

  c->writing = 0;
  if (c == hub->blocker)
    hub__wake(hub);
  while (c->inflight > 0) {
    msg = c->ring[c->head];
    c->head = hub__ring_pos(c, 1);
    c->count--;
    c->inflight--;
    hub__let_go(c, msg, &n, &bytes);
  }
  if (status == 0) {
    c->delivered += n;
    c->delivered_bytes += bytes;
    hub->stats.msgs_delivered += n;
    hub->stats.bytes_delivered += bytes;
    n = bytes = 0;
  }
  /* Drops before this write started hit messages older than the ones it
   * carried, so its delivery closes that gap; later drops hit newer
   * messages and stay open. */
  if (status == 0 && c->inflight_data > 0)
    c->gap = c->gap_new;
  c->inflight_data = 0;
  c->inflight_bytes = 0;

  if (status < 0 && c->state < HUB__CLOSING) {
    hub__abort_with(c, status, HUB_DROP_CLOSED, n, bytes);
    return;
  }
  if (c->state == HUB__CLOSING || c->state == HUB__CLOSED) {
    if (n > 0)
      hub__report_drop(c, HUB_DROP_CLOSED, n, bytes);
    return;
  }
  if (c->state == HUB__SHUTDOWN && c->count == 0) {
    hub__begin_close(c, c->status, 0, 0, HUB_DROP_CLOSED); /* drained */
    return;
  }
  if (c->count > 0 || c->behind)
    hub__mark_dirty(c);
  hub__pressure(c);
}

/* One vectored write of everything pending (up to HUB__MAX_WRITE_BUFS
 * buffers); at most one write in flight per client. */
/* The buffers of c's next write, into hub->bufs: its pending messages
 * in order, as many as one write takes. Returns how many buffers. */
static unsigned hub__gather(hub_client_t *c) {
  hub_t *hub = c->hub;
  const hub_transport_t *tp = c->transport;
  const hub__frame_slot *slot;
  uv_buf_t one[3];
  unsigned nbufs = 0, k;
  size_t max_msgs = SIZE_MAX, max_bytes = SIZE_MAX;
  hub_msg_t *msg;

  /* A write holds all its messages until the transport has written the
   * last byte, and they count against the bounds until then, even though
   * the peer may have read most of them already. So a write takes at most
   * a quarter of the byte bound (but at least one message): a client that
   * reads steadily while a big write trickles out through a small socket
   * buffer is not mistaken for a slow one. Under DROP_OLDEST a write takes
   * at most half of either bound: what is handed to the transport can no
   * longer be evicted, so if the write stalls, the other half is where the
   * newest messages replace the oldest. */
  if (hub->opts.policy == HUB_POLICY_DROP_OLDEST) {
    max_msgs = hub->opts.max_queue_msgs / 2;
    max_bytes = hub->opts.max_queue_bytes / 2;
  } else {
    max_bytes = hub->opts.max_queue_bytes / 4;
  }

  while (c->inflight < c->count) {
    msg = *hub__ring_at(c, c->inflight);
    if (!hub__is_ctrl(msg) && c->inflight_data > 0 &&
        ((size_t)c->inflight_data + 1 > max_msgs ||
         c->inflight_bytes + msg->len > max_bytes))
      break;
    slot = NULL;
    if (!(msg->flags & HUB_MSG_RAW) && tp->frame != NULL)
      slot = msg->frames[0].transport == tp ? &msg->frames[0]
                                            : hub__msg_find_frame(msg, tp);
    /* Straight into the write's array while there is room for the most
     * one message takes; near the end, through `one`. */
    if (nbufs + 3 <= HUB__MAX_WRITE_BUFS) {
      k = hub__msg_bufs(msg, slot, hub->bufs + nbufs);
    } else {
      k = hub__msg_bufs(msg, slot, one);
      if (nbufs + k > HUB__MAX_WRITE_BUFS)
        break;
      memcpy(hub->bufs + nbufs, one, k * sizeof(one[0]));
    }
    nbufs += k;
    c->inflight++;
    if (!hub__is_ctrl(msg)) {
      c->inflight_data++;
      c->inflight_bytes += msg->len;
    }
  }
  return nbufs;
}

void hub__client_flush(hub_client_t *c) {
  hub_t *hub = c->hub;
  const hub_transport_t *tp = c->transport;
  unsigned nbufs;
  int r;

  if (c->writing || c->state >= HUB__CLOSING)
    return;
  if (c->behind && c->state == HUB__OPEN) {
    hub__feed(c);
    if (c->writing || c->state >= HUB__CLOSING)
      return; /* a callback of the feed wrote or closed */
  }
  if (c->count == 0) {
    if (c->state == HUB__SHUTDOWN)
      hub__begin_close(c, c->status, 0, 0, HUB_DROP_CLOSED);
    return;
  }
  nbufs = hub__gather(c);
  c->writing = 1;
  c->write_start = (uint32_t)uv_now(hub->loop);
  c->gap_new = 0;
  c->writes++;
  hub->stats.writes++;
  if (nbufs == 0) {
    hub__complete(c, 0);
    return;
  }
  r = tp->write(tp, c, c->conn, hub->bufs, nbufs);
  if (r == HUB_WRITE_DONE)
    hub__complete(c, 0);
  else if (r != HUB_WRITE_PENDING)
    hub__complete(c, r < 0 ? r : HUB_ETRANSPORT);
}

int client_shutdown(hub_client_t *c, int status) {
  hub_t *hub;

  if (c == NULL)
    return UV_EINVAL;
  if (c->state != HUB__OPEN)
    return HUB_ECLOSING;
  hub = c->hub;
  hub__enter(hub);
  hub__client_leave(c);
  c->state = HUB__SHUTDOWN;
  c->status = status;
  if (!c->writing)
    hub__mark_dirty(c);
  hub__leave(hub);
  return 0;
}

int client_close(hub_client_t *c, int status) {
  hub_t *hub;

  if (c == NULL)
    return UV_EINVAL;
  if (c->state >= HUB__CLOSING)
    return HUB_ECLOSING;
  hub = c->hub;
  hub__enter(hub);
  hub__client_abort(c, status);
  hub__leave(hub);
  return 0;
}

void hub_client_write_done(hub_client_t *c, int status) {
  hub_t *hub;

  if (c == NULL || !c->writing || c->state == HUB__CLOSED)
    return;
  hub = c->hub;
  hub__enter(hub);
  hub__complete(c, status > 0 ? 0 : status);
  hub__leave(hub);
}

void hub_client_closed(hub_client_t *c) {
  hub_t *hub;
  size_t n = 0, bytes = 0;

  if (c == NULL || c->state == HUB__CLOSED)
    return;
  hub = c->hub;
  hub__enter(hub);
  hub__client_leave(c);
  /* Whatever is left, in flight or not, was never written. */
  hub__drop_tail(c, 0, &n, &bytes);
  c->inflight = c->inflight_data = 0;
  c->inflight_bytes = 0;
  c->writing = 0;
  if (c->dirty) {
    hub__queue_remove(&c->dnode);
    c->dirty = 0;
  }
  c->state = HUB__CLOSED;
  if (n > 0)
    hub__report_drop(c, HUB_DROP_CLOSED, n, bytes);
  if (hub->opts.on_client_close != NULL)
    hub->opts.on_client_close(hub, c, c->status);
  hub__queue_insert_tail(&hub->zombies, &c->dnode);
  hub__leave(hub);
}

void hub__client_free(hub_client_t *c) {
  hub_t *hub = c->hub;

  hub__wait_forget(c);
  hub__queue_remove(&c->node);
  hub__queue_remove(&c->dnode);
  if (c->ring != c->inline_ring)
    hub__free(hub, c->ring);
  hub__free(hub, c);
}

int client_is_closing(const hub_client_t *c) {
  return c == NULL || c->state != HUB__OPEN;
}

int client_close_status(const hub_client_t *c) {
  return c != NULL && c->state != HUB__OPEN ? c->status : 0;
}

int client_set_transport(hub_client_t *c, const hub_transport_t *tp) {
  const hub__frame_slot *slot;
  hub_msg_t *msg;
  uint32_t i;
  int err;

  if (c == NULL || tp == NULL || tp->write == NULL || tp->close == NULL)
    return UV_EINVAL;
  if (c->state != HUB__OPEN)
    return HUB_ECLOSING;
  /* What is queued and not yet written goes out in the new framing: each
   * such message is framed for it now (once per message, as ever). */
  for (i = c->inflight; i < c->count && tp->frame != NULL; i++) {
    msg = *hub__ring_at(c, i);
    if (msg->flags & HUB_MSG_RAW)
      continue;
    err = hub__msg_frame(msg, tp, &slot);
    if (err != 0)
      return err;
  }
  c->transport = tp;
  return 0;
}

HUB__GETTER(hub_t *, client_get_hub, hub_client_t, hub, NULL)
HUB__GETTER(void *, client_get_data, hub_client_t, data, NULL)
HUB__SETTER(void *, client_set_data, hub_client_t, data)
HUB__GETTER(void *, client_get_conn, hub_client_t, conn, NULL)
HUB__GETTER(const hub_transport_t *, client_get_transport, hub_client_t,
            transport, NULL)

void client_get_stats(const hub_client_t *c, hub_client_stats_t *s) {
  if (c == NULL || s == NULL)
    return;
  memset(s, 0, sizeof(*s));
  s->queued_msgs = c->count - c->nctrl;
  s->queued_bytes = c->qbytes;
  s->inflight_msgs = c->inflight_data;
  s->msgs_delivered = c->delivered;
  s->bytes_delivered = c->delivered_bytes;
  s->msgs_dropped = c->dropped;
  s->bytes_dropped = c->dropped_bytes;
  s->writes = c->writes;
  s->gap = c->gap;
  s->pressure = c->pressure;
  s->topics = c->nsubs;
  s->gap_untaken = c->gap_taken;
  s->ctrl_queued = c->nctrl;
}

uint64_t client_take_gap(hub_client_t *c) {
  uint64_t n;

  if (c == NULL)
    return 0;
  n = c->gap_taken;
  c->gap_taken = 0;
  return n;
}
