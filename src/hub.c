/* The hub: its lifecycle, its client set, broadcasting, and the flush that
 * runs once per loop iteration.
 *
 * Queued output is written from a uv_check handle, which runs right after
 * the loop polled for I/O: everything that read callbacks broadcast during
 * one iteration leaves in one vectored write per client. A uv_idle handle
 * is active while output waits, so that a broadcast made outside I/O (from
 * a timer, say) does not wait for the next poll to time out. Neither handle
 * is active while nothing waits, so an idle hub never keeps a loop alive.
 *
 * Teardown is deferred: `depth` counts nested hub calls, and closed
 * clients (and the hub itself) are freed only when it returns to zero, so
 * no callback ever runs on freed memory. */
#include <stdlib.h>
#include <string.h>

#include "hub-int.h"

static void *hub__libc_malloc(size_t size, void *ud) {
  (void)ud;
  return malloc(size);
}

static void *hub__libc_realloc(void *ptr, size_t size, void *ud) {
  (void)ud;
  return realloc(ptr, size);
}

static void hub__libc_free(void *ptr, void *ud) {
  (void)ud;
  free(ptr);
}

void hub_options_init(hub_options_t *opts) {
  if (opts == NULL)
    return;
  memset(opts, 0, sizeof(*opts));
  opts->max_queue_msgs = 256;
  opts->max_queue_bytes = (size_t)1 << 20; /* 1 MiB */
  opts->policy = HUB_POLICY_DISCONNECT;
  opts->max_posted = 65536;
  opts->slow_after_ms = 500;
  opts->max_waiting_msgs = 1024;
  opts->max_waiting_bytes = (size_t)16 << 20; /* 16 MiB */
  opts->history_bytes = (size_t)1 << 20;        /* 1 MiB, when on */
  opts->history_idle_topics = 1024;
}

/* Watermarks: 1-100, strictly ascending, ended by 0 or the array's end.
 * Returns how many, or -1. */
static int hub__count_marks(const hub_options_t *o) {
  int i;

  for (i = 0; i < HUB_MAX_WATERMARKS && o->watermarks[i] != 0; i++)
    if (o->watermarks[i] > 100 ||
        (i > 0 && o->watermarks[i] <= o->watermarks[i - 1]))
      return -1;
  for (int j = i; j < HUB_MAX_WATERMARKS; j++)
    if (o->watermarks[j] != 0)
      return -1;
  return i;
}

/* ceil(bound * pct / 100), without overflow. */
static size_t hub__mark(size_t bound, unsigned pct) {
  size_t v = bound / 100 * pct + (bound % 100 * pct + 99) / 100;
  return v > 0 ? v : 1;
}

static int hub__valid_policy(int policy) {
  return policy == HUB_POLICY_DISCONNECT ||
         policy == HUB_POLICY_DROP_OLDEST ||
         policy == HUB_POLICY_DROP_NEWEST || policy == HUB_POLICY_CATCH_UP;
}

static void hub__on_handle_closed(uv_handle_t *handle) {
  hub_t *hub = handle->data;
  hub_allocator_t mem;
  hub_close_cb cb;

  if (--hub->handles_open > 0)
    return;
  cb = hub->close_cb;
  if (cb != NULL)
    cb(hub);
  hub__topics_free(hub);
  hub__hist_free(hub, hub->bhist);
  uv_mutex_destroy(&hub->post_lock);
  mem = hub->mem;
  mem.free(hub, mem.user_data);
}

static void hub__close_handles(hub_t *hub) {
  hub->handles_closing = 1;
  uv_close((uv_handle_t *)&hub->check, hub__on_handle_closed);
  uv_close((uv_handle_t *)&hub->idle, hub__on_handle_closed);
  uv_close((uv_handle_t *)&hub->drain_timer, hub__on_handle_closed);
  uv_close((uv_handle_t *)&hub->post_async, hub__on_handle_closed);
  uv_close((uv_handle_t *)&hub->wait_timer, hub__on_handle_closed);
}

static void hub__on_check(uv_check_t *handle) {
  hub_t *hub = handle->data;
  hub__queue work, *q;
  hub_client_t *c;

  hub__enter(hub);
  /* Waiting publishes first: what they queue leaves in this flush. */
  if (hub->wait_head != NULL && hub->wait_retry)
    hub__wait_run(hub);
  hub__queue_move(&hub->dirty, &work);
  while (!hub__queue_empty(&work)) {
    q = work.next;
    c = hub__container_of(q, hub_client_t, dnode);
    hub__queue_remove(q);
    c->dirty = 0;
    hub__client_flush(c);
  }
  if (hub__queue_empty(&hub->dirty) &&
      !(hub->wait_head != NULL && hub->wait_retry)) {
    uv_check_stop(&hub->check);
    uv_idle_stop(&hub->idle);
  }
  hub__leave(hub);
}

static void hub__on_idle(uv_idle_t *handle) {
  (void)handle; /* only here to keep the poll from blocking */
}

/* The options' bounds, and the allocator they name (or libc's) into
 * *mem. 0 or UV_EINVAL. */
static int hub__check_options(const hub_options_t *opts,
                              hub_allocator_t *mem) {
  static const hub_allocator_t libc = {hub__libc_malloc, hub__libc_realloc,
                                       hub__libc_free, NULL};
  const hub_allocator_t *a = opts->allocator;

  if (opts->max_queue_msgs < 1 ||
      opts->max_queue_msgs > UINT32_MAX / 2 - HUB_MAX_CONTROL_QUEUED ||
      opts->max_queue_bytes < 1 || opts->max_queue_bytes > UINT32_MAX ||
      !hub__valid_policy(opts->policy) ||
      opts->max_posted < 1 || hub__count_marks(opts) < 0 ||
      opts->slow_after_ms > 86400000 || opts->max_waiting_msgs < 1 ||
      opts->max_waiting_bytes < 1 ||
      (opts->history_msgs > 0 && opts->history_bytes == 0) ||
      opts->history_msgs > UINT32_MAX / 2)
    return UV_EINVAL;
  if (a != NULL &&
      (a->malloc == NULL || a->realloc == NULL || a->free == NULL))
    return UV_EINVAL;
  *mem = a != NULL ? *a : libc;
  return 0;
}

int hub_new(hub_t **hubp, uv_loop_t *loop, const hub_options_t *opts) {
  hub_options_t defaults;
  hub_allocator_t mem;
  hub_t *hub;
  int err;

  if (hubp == NULL || loop == NULL)
    return UV_EINVAL;
  if (opts == NULL) {
    hub_options_init(&defaults);
    opts = &defaults;
  }
  if ((err = hub__check_options(opts, &mem)) != 0)
    return err;

  hub = mem.malloc(sizeof(*hub), mem.user_data);
  if (hub == NULL)
    return UV_ENOMEM;
  memset(hub, 0, sizeof(*hub));
  hub->loop = loop;
  hub->opts = *opts;
  hub->opts.allocator = NULL; /* the copy in `mem` is what counts */
  hub->mem = mem;
  hub->data = opts->data;
  hub__queue_init(&hub->clients);
  hub__queue_init(&hub->dirty);
  hub__queue_init(&hub->zombies);
  hub__queue_init(&hub->idle_topics);
  hub->nmarks = (unsigned)hub__count_marks(opts);
  for (unsigned i = 0; i < hub->nmarks; i++) {
    hub->mark_msgs[i] = hub__mark(opts->max_queue_msgs, opts->watermarks[i]);
    hub->mark_bytes[i] = hub__mark(opts->max_queue_bytes, opts->watermarks[i]);
  }

  /* The broadcast stream counts as a topic: it has the same history. */
  if (opts->history_msgs > 0) {
    hub->bhist = hub__hist_new(hub, opts->history_msgs, opts->history_bytes);
    if (hub->bhist == NULL) {
      mem.free(hub, mem.user_data);
      return UV_ENOMEM;
    }
  }
  err = hub__post_init(hub);
  if (err != 0) {
    hub__hist_free(hub, hub->bhist);
    mem.free(hub, mem.user_data);
    return err;
  }

  /* These cannot fail on any platform libuv supports (they only link the
   * handle into the loop), and once one is initialised the hub could only
   * be freed asynchronously, so their results are not checked. */
  (void)uv_check_init(loop, &hub->check);
  (void)uv_idle_init(loop, &hub->idle);
  (void)uv_timer_init(loop, &hub->drain_timer);
  hub->check.data = hub;
  hub->idle.data = hub;
  hub->drain_timer.data = hub;
  hub__wait_init(hub);
  hub->handles_open = 5; /* with post_async and wait_timer */
  hub->budget = opts->max_total_queue_bytes > 0 ? opts->max_total_queue_bytes
                                                : SIZE_MAX;

  *hubp = hub;
  return 0;
}

void hub__enter(hub_t *hub) {
  hub->depth++;
}

/* Leaving the outermost hub call: free what was closed meanwhile. */
void hub__leave(hub_t *hub) {
  hub_client_t *c;

  if (--hub->depth > 0)
    return;
  while (!hub__queue_empty(&hub->zombies)) {
    c = hub__container_of(hub->zombies.next, hub_client_t, dnode);
    hub__client_free(c);
    hub->nalive--;
  }
  hub__topics_reap(hub);
  if (hub->closing && hub->nalive == 0 && !hub->handles_closing)
    hub__close_handles(hub);
}

void hub__mark_dirty(hub_client_t *c) {
  hub_t *hub = c->hub;

  if (c->dirty)
    return;
  c->dirty = 1;
  hub__queue_insert_tail(&hub->dirty, &c->dnode);
  uv_check_start(&hub->check, hub__on_check);
  uv_idle_start(&hub->idle, hub__on_idle);
}

/* The client a waiting publish waits for wrote or left: try again in
 * this iteration's check, without blocking in the poll first. */
void hub__wake(hub_t *hub) {
  if (hub->wait_head == NULL)
    return;
  hub->wait_retry = 1;
  uv_check_start(&hub->check, hub__on_check);
  uv_idle_start(&hub->idle, hub__on_idle);
}

void hub__report_drop(hub_client_t *c, hub_drop_reason_t reason,
                      size_t n_msgs, size_t n_bytes) {
  hub_t *hub = c->hub;

  c->dropped += n_msgs;
  c->dropped_bytes += n_bytes;
  /* A client's own close is not a gap it lives through. */
  if (reason != HUB_DROP_DISCONNECT && reason != HUB_DROP_CLOSED) {
    c->gap = hub__sat_add32(c->gap, n_msgs);
    c->gap_taken = hub__sat_add32(c->gap_taken, n_msgs);
    c->gap_new = hub__sat_add32(c->gap_new, n_msgs);
  }
  hub->stats.msgs_dropped += n_msgs;
  hub->stats.bytes_dropped += n_bytes;
  if (hub->opts.on_drop != NULL)
    hub->opts.on_drop(hub, c, reason, n_msgs, n_bytes);
}

/* Close every client that is not closing yet. Safe against callbacks:
 * clients stay linked until depth returns to 0. */
static void hub__abort_all(hub_t *hub) {
  hub__queue *q;
  hub_client_t *c;

  for (q = hub->clients.next; q != &hub->clients; q = q->next) {
    c = hub__container_of(q, hub_client_t, node);
    if (c->state < HUB__CLOSING)
      hub__client_abort(c, 0);
  }
}

static void hub__on_drain_timeout(uv_timer_t *timer) {
  hub_t *hub = timer->data;

  hub__enter(hub);
  hub__abort_all(hub);
  hub__leave(hub);
}

int hub_close(hub_t *hub, uint64_t drain_timeout_ms, hub_close_cb cb) {
  hub__queue *q;
  hub_client_t *c;

  if (hub == NULL)
    return UV_EINVAL;
  if (hub->closing)
    return HUB_ECLOSING;
  hub__enter(hub);
  hub->closing = 1;
  hub->close_cb = cb;
  hub__post_close(hub);
  hub__wait_close(hub);
  if (drain_timeout_ms > 0) {
    for (q = hub->clients.next; q != &hub->clients; q = q->next) {
      c = hub__container_of(q, hub_client_t, node);
      if (c->state == HUB__OPEN)
        client_shutdown(c, 0);
    }
    uv_timer_start(&hub->drain_timer, hub__on_drain_timeout,
                   drain_timeout_ms, 0);
  } else {
    hub__abort_all(hub);
  }
  hub__leave(hub);
  return 0;
}

int hub_is_closing(const hub_t *hub) {
  return hub == NULL || hub->closing;
}

HUB__GETTER(uv_loop_t *, hub_get_loop, hub_t, loop, NULL)
HUB__GETTER(void *, hub_get_data, hub_t, data, NULL)
HUB__SETTER(void *, hub_set_data, hub_t, data)

int hub_set_policy(hub_t *hub, hub_policy_t policy) {
  if (hub == NULL || !hub__valid_policy(policy))
    return UV_EINVAL;
  hub->opts.policy = policy;
  return 0;
}

void hub_get_stats(const hub_t *hub, hub_stats_t *stats) {
  uv_mutex_t *lock;

  if (hub == NULL || stats == NULL)
    return;
  *stats = hub->stats;
  hub__history_totals(hub, &stats->history_msgs, &stats->history_bytes);
  lock = (uv_mutex_t *)&hub->post_lock; /* posting threads write this */
  uv_mutex_lock(lock);
  stats->posts_refused = hub->posts_refused;
  uv_mutex_unlock(lock);
}

int hub_get_pressure(const hub_t *hub, uint64_t *counts, size_t n) {
  const hub__queue *q;
  const hub_client_t *c;
  size_t i;

  if (hub == NULL || (counts == NULL && n > 0))
    return UV_EINVAL;
  for (i = 0; i < n; i++)
    counts[i] = 0;
  for (q = hub->clients.next; q != &hub->clients; q = q->next) {
    c = hub__container_of(q, hub_client_t, node);
    if (c->state == HUB__OPEN && c->pressure < n)
      counts[c->pressure]++;
  }
  return (int)hub->nmarks + 1;
}

int hub_register(hub_t *hub, const hub_transport_t *transport, void *conn,
                 hub_client_t **clientp) {
  hub_client_t *c;

  if (hub == NULL || transport == NULL || clientp == NULL ||
      transport->write == NULL || transport->close == NULL)
    return UV_EINVAL;
  if (hub->closing)
    return HUB_ECLOSING;
  c = hub__zalloc(hub, sizeof(*c));
  if (c == NULL)
    return UV_ENOMEM;
  c->hub = hub;
  c->transport = transport;
  c->conn = conn;
  hub__queue_init(&c->dnode);
  c->ring = c->inline_ring;
  c->cap = HUB__RING_INLINE;
  c->bnext = hub->bhist != NULL ? hub->bhist->next : 0;
  hub__queue_insert_tail(&hub->clients, &c->node);
  hub->nalive++;
  hub->stats.clients++;
  hub->stats.clients_total++;
  *clientp = c;
  return 0;
}

int hub__check_send(const hub_t *hub, const char *topic, size_t *tlen,
                    const void *data, size_t len, unsigned int flags,
                    int loop_thread) {
  int err;

  if (hub == NULL || (data == NULL && len > 0) ||
      (flags & ~(unsigned)(HUB_MSG_BINARY | HUB_MSG_RAW)) != 0)
    return UV_EINVAL;
  *tlen = 0;
  if (topic != NULL && (err = hub__topic_len(topic, tlen)) != 0)
    return err;
  if (loop_thread && hub->closing)
    return HUB_ECLOSING;
  /* Refuse before allocating what no queue could take. The options are
   * never written after hub_new(): any thread may read them. */
  if (len > hub->opts.max_queue_bytes)
    return HUB_EMSGSIZE;
  return 0;
}

int hub__check_msg(const hub_t *hub, const char *topic, size_t *tlen,
                   const hub_msg_t *msg) {
  int err;

  if (hub == NULL || msg == NULL || msg->hub != hub ||
      (msg->flags & HUB_MSG_CONTROL))
    return UV_EINVAL;
  *tlen = 0;
  if (topic != NULL && (err = hub__topic_len(topic, tlen)) != 0)
    return err;
  if (hub->closing)
    return HUB_ECLOSING;
  if (msg->len > hub->opts.max_queue_bytes)
    return HUB_EMSGSIZE;
  return 0;
}

int hub_broadcast_msg(hub_t *hub, hub_client_t *except, hub_msg_t *msg) {
  size_t tlen;
  int err;

  if ((err = hub__check_msg(hub, NULL, &tlen, msg)) != 0)
    return err;
  return hub__publish(hub, except, NULL, 0, msg);
}

/* Queue `msg` for every open client but `except` (pace.c's walk, inside a
 * hub call). Returns the count, or HUB__EWAIT with the message taken back
 * out of every queue it entered. Clients stay linked until the hub call
 * returns, so the list can be walked again to undo. */
int hub__clients_walk(hub_t *hub, hub_client_t *except, hub_msg_t *msg) {
  hub__queue *q, *u;
  hub_client_t *c, *p;
  int n = 0, r, hist;

  /* With history, as a topic's walk (topic.c): only the clients at the
   * stream's live edge get it now. */
  hist = hub->bhist != NULL && msg->offset != 0 &&
         msg->epoch == hub->bhist->epoch;
  for (q = hub->clients.next; q != &hub->clients; q = q->next) {
    c = hub__container_of(q, hub_client_t, node);
    if (hist && c->bnext != msg->offset)
      continue;
    if (hist)
      c->bnext = msg->offset + 1;
    if (c == except || c->state != HUB__OPEN)
      continue;
    hub->catching = (uint8_t)hist;
    r = hub__client_enqueue(c, msg);
    hub->catching = 0;
    if (r == HUB__EBEHIND) {
      c->bnext = msg->offset; /* read from the history later */
      c->behind = 1;
      continue;
    }
    if (r == HUB__EWAIT) {
      if (hist)
        c->bnext = msg->offset;
      for (u = hub->clients.next; u != q; u = u->next) {
        p = hub__container_of(u, hub_client_t, node);
        if (hub__unqueue(p, msg) && hist)
          p->bnext = msg->offset;
      }
      return r;
    }
    if (r == 0 && n < INT32_MAX)
      n++;
  }
  return n;
}

static int hub__send_copy(hub_t *hub, hub_client_t *except,
                          hub_client_t *client, const void *data, size_t len,
                          unsigned flags) {
  hub_msg_t *msg;
  int r;

  r = hub_msg_new(hub, data, len, flags, &msg);
  if (r != 0)
    return r;
  r = client != NULL ? client_send_msg(client, msg)
                     : hub_broadcast_msg(hub, except, msg);
  hub_msg_unref(msg);
  return r;
}

int hub_broadcast_except(hub_t *hub, hub_client_t *except, const void *data,
                         size_t len, unsigned int flags) {
  size_t tlen;
  int err;

  if ((err = hub__check_send(hub, NULL, &tlen, data, len, flags, 1)) != 0)
    return err;
  return hub__send_copy(hub, except, NULL, data, len, flags);
}

int hub_broadcast(hub_t *hub, const void *data, size_t len,
                  unsigned int flags) {
  return hub_broadcast_except(hub, NULL, data, len, flags);
}

int client_send_msg(hub_client_t *client, hub_msg_t *msg) {
  hub_t *hub;
  int r;

  if (client == NULL || msg == NULL || msg->hub != client->hub)
    return UV_EINVAL;
  hub = client->hub;
  hub__enter(hub);
  r = hub__client_enqueue(client, msg);
  hub__leave(hub);
  return r;
}

int client_send(hub_client_t *client, const void *data, size_t len,
                unsigned int flags) {
  if (client == NULL || (data == NULL && len > 0) ||
      (flags & ~(unsigned)(HUB_MSG_BINARY | HUB_MSG_RAW | HUB_MSG_CONTROL)))
    return UV_EINVAL;
  if (client->state != HUB__OPEN &&
      !((flags & HUB_MSG_CONTROL) && client->state == HUB__SHUTDOWN))
    return HUB_ECLOSING;
  if (!(flags & HUB_MSG_CONTROL) && len > client->hub->opts.max_queue_bytes)
    return HUB_EMSGSIZE;
  return hub__send_copy(client->hub, NULL, client, data, len, flags);
}
