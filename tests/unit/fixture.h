/* A hub on a private loop with the in-memory transport, recording every
 * drop and close the hub reports. */
#ifndef HUB_TEST_FIXTURE_H
#define HUB_TEST_FIXTURE_H

#include "harness.h"
#include "mem-transport.h"

typedef struct fx fx;
typedef void (*fx_drop_hook)(fx *f, hub_client_t *c, hub_drop_reason_t r);
typedef void (*fx_close_hook)(fx *f, hub_client_t *c, int status);

struct fx {
  uv_loop_t loop;
  hub_t *hub;
  mem_transport mt;
  count_alloc ca;
  int drops[8];            /* drop events by reason */
  size_t drop_msgs[8];     /* messages dropped by reason */
  size_t drop_bytes[8];
  int closes;              /* on_client_close calls */
  int hub_closed;
  fx_drop_hook drop_hook;
  fx_close_hook close_hook;
  void *user;
  mem_conn *conns; /* made by fx_conn, freed by fx_end */
};

static inline void fx_on_drop(hub_t *hub, hub_client_t *c,
                              hub_drop_reason_t r, size_t n, size_t bytes) {
  fx *f = hub_get_data(hub);
  f->drops[r]++;
  f->drop_msgs[r] += n;
  f->drop_bytes[r] += bytes;
  if (f->drop_hook != NULL)
    f->drop_hook(f, c, r);
}

static inline void fx_on_close(hub_t *hub, hub_client_t *c, int status) {
  fx *f = hub_get_data(hub);
  mem_conn *mc = client_get_conn(c);
  f->closes++;
  if (mc != NULL)
    mc->close_status = status;
  if (f->close_hook != NULL)
    f->close_hook(f, c, status);
}

static inline void fx_on_hub_closed(hub_t *hub) {
  fx *f = hub_get_data(hub);
  f->hub_closed++;
}

/* opts may be NULL for the defaults; the counting allocator is always
 * used so that every test also checks that nothing leaks. */
static inline int fx_init(fx *f, const hub_options_t *opts) {
  hub_options_t o;
  memset(f, 0, sizeof(*f));
  if (opts != NULL)
    o = *opts;
  else
    hub_options_init(&o);
  count_alloc_init(&f->ca);
  o.allocator = &f->ca.a;
  o.on_drop = fx_on_drop;
  o.on_client_close = fx_on_close;
  o.data = f;
  mem_transport_init(&f->mt, 1);
  if (uv_loop_init(&f->loop) != 0)
    return -1;
  return hub_new(&f->hub, &f->loop, &o);
}

/* The fixture owns the connection: fx_end (or fx_free_conns) frees it,
 * so a test must not mem_conn_free it. NULL if hub_register failed. */
static inline mem_conn *fx_conn(fx *f, int write_mode, int close_mode) {
  mem_conn *mc = mem_connect(f->hub, &f->mt, write_mode, close_mode, NULL);
  if (mc != NULL) {
    mc->fx_next = f->conns;
    f->conns = mc;
  }
  return mc;
}

/* n clients, each made by fx_conn with the same modes, in c[0..n-1].
 * 0, or -1 when one could not be registered. */
static inline int fx_conns(fx *f, mem_conn **c, int n, int write_mode,
                           int close_mode) {
  int i;

  for (i = 0; i < n; i++)
    if ((c[i] = fx_conn(f, write_mode, close_mode)) == NULL)
      return -1;
  return 0;
}

/* One loop iteration: the hub flushes what is queued. */
static inline void fx_step(fx *f) {
  uv_run(&f->loop, UV_RUN_NOWAIT);
}

/* Close the hub, run the loop to the end; 0 when the hub reported closed,
 * the loop closed cleanly and every allocation was freed. */
static inline int fx_finish(fx *f) {
  if (f->hub != NULL && f->hub_closed == 0) {
    int r = hub_close(f->hub, 0, fx_on_hub_closed);
    if (r != 0 && r != HUB_ECLOSING) /* a test may have closed it */
      return -1;
  }
  uv_run(&f->loop, UV_RUN_DEFAULT);
  if (f->hub_closed != 1)
    return -2;
  if (uv_loop_close(&f->loop) != 0)
    return -3;
  if (f->ca.live != 0)
    return -4;
  return 0;
}

/* fx_init with a hub that judges a full client at once (no grace for
 * slow_after_ms) under `policy`, at `msgs` queued messages and `bytes`
 * queued bytes a client (0 keeps the default). */
static inline int fx_init_judged(fx *f, hub_policy_t policy, size_t msgs,
                                 size_t bytes) {
  hub_options_t o;
  hub_options_init(&o);
  o.slow_after_ms = 0;
  o.policy = policy;
  o.max_queue_msgs = msgs;
  if (bytes != 0)
    o.max_queue_bytes = bytes;
  return fx_init(f, &o);
}

/* fx_init, then one client: how most tests begin. NULL on error. */
static inline mem_conn *fx_one(fx *f, const hub_options_t *opts,
                               int write_mode, int close_mode) {
  if (fx_init(f, opts) != 0)
    return NULL;
  return fx_conn(f, write_mode, close_mode);
}

/* Free every connection fx_conn made; for a test that still looks at
 * them after fx_finish. */
static inline void fx_free_conns(fx *f) {
  while (f->conns != NULL) {
    mem_conn *next = f->conns->fx_next;
    mem_conn_free(f->conns);
    f->conns = next;
  }
}

/* fx_finish, then free the fixture's connections: how most tests end. */
static inline int fx_end(fx *f) {
  int r = fx_finish(f);
  fx_free_conns(f);
  return r;
}

/* TEST(name) on a fixture with one client, as most tests are: `setup`,
 * an expression of `f` (fx *), makes the fixture and returns its client
 * (NULL on error); the body that follows gets `f` and that client `c`;
 * then `end`(f) must return 0 (fx_end, or a file's own ending that calls
 * it). The body's first failed ASSERT ends the test. */
#define FX_TEST_END(name, setup, end)                                        \
  static void fx_test_##name(fx *f, mem_conn *c);                            \
  TEST(name) {                                                               \
    fx fx_, *f = &fx_;                                                       \
    mem_conn *c;                                                             \
                                                                             \
    ASSERT((c = (setup)) != NULL);                                           \
    fx_test_##name(f, c);                                                    \
    if (!harness_failed_now)                                                 \
      ASSERT_EQ(end(f), 0);                                                  \
  }                                                                          \
  static void fx_test_##name(fx *f, mem_conn *c)

/* The same, ending with fx_end. */
#define FX_TEST(name, setup) FX_TEST_END(name, setup, fx_end)

static inline int out_is(const mem_conn *mc, const char *s) {
  return mc->len == strlen(s) && memcmp(mc->out, s, mc->len) == 0;
}

#define BCAST(f, s) hub_broadcast((f)->hub, (s), strlen(s), 0)

#endif
