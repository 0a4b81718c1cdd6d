/* Fuzz target: the core API driven by operation sequences against the
 * in-memory transport. Each input byte picks an operation, later bytes
 * its arguments. After every operation the hub's accounting must agree
 * with its clients', no bound may be exceeded, and at the end everything
 * must close and every allocation be freed. Any violation aborts. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "mem-transport.h"

#define MAX_CONNS 8

typedef struct {
  const uint8_t *p, *end;
} input;

static unsigned next(input *in) {
  return in->p < in->end ? *in->p++ : 0;
}

static void check_at(int ok, int line) {
  if (!ok) {
    fprintf(stderr, "fuzz-core.c:%d: check failed\n", line);
    abort();
  }
}
#define check(ok) check_at((ok), __LINE__)

static mem_conn *conns[MAX_CONNS];
static hub_t *the_hub;
static int hub_gone; /* the close callback ran: the hub is freed */

static void on_hub_closed(hub_t *hub) {
  (void)hub;
  hub_gone = 1;
}

static void on_close(hub_t *hub, hub_client_t *c, int status) {
  mem_conn *mc = client_get_conn(c);
  (void)hub;
  (void)status;
  mc->client = NULL; /* the client is about to be freed */
}

static void on_drop(hub_t *hub, hub_client_t *c, hub_drop_reason_t r,
                    size_t n, size_t bytes) {
  (void)hub, (void)c, (void)bytes;
  check(r >= HUB_DROP_DISCONNECT && r <= HUB_DROP_CONFLATED && n > 0);
}

static void check_accounting(hub_t *hub, const hub_options_t *o) {
  hub_stats_t st;
  uint64_t msgs = 0, bytes = 0;
  int i;

  hub_get_stats(hub, &st);
  for (i = 0; i < MAX_CONNS; i++) {
    hub_client_stats_t cs;
    if (conns[i] == NULL || conns[i]->client == NULL)
      continue;
    client_get_stats(conns[i]->client, &cs);
    check(cs.queued_msgs <= o->max_queue_msgs);
    check(cs.queued_bytes <= o->max_queue_bytes);
    check(cs.inflight_msgs <= cs.queued_msgs);
    msgs += cs.queued_msgs;
    bytes += cs.queued_bytes;
  }
  check(st.queued_msgs == msgs);
  check(st.queued_bytes == bytes);
  check(o->max_total_queue_bytes == 0 ||
        st.queued_bytes <= o->max_total_queue_bytes);
  check(st.waiting <= o->max_waiting_msgs);
  check((st.waiting > 0) == (hub_is_congested(hub) != 0));
}

static mem_conn *pick(input *in) {
  mem_conn *mc = conns[next(in) % MAX_CONNS];
  return mc != NULL && mc->client != NULL ? mc : NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const char *topics[] = {"a", "b", "c"};
  static char payload[300];
  input in = {data, data + size};
  uv_loop_t loop;
  hub_options_t o;
  mem_transport mt, mt2;
  count_alloc ca;
  mem_conn *mc;
  hub_msg_t *msg;
  int i, closing = 0, rounds;

  memset(payload, 'x', sizeof(payload));
  memset(conns, 0, sizeof(conns));
  hub_gone = 0;
  count_alloc_init(&ca);
  uv_loop_init(&loop);
  hub_options_init(&o);
  o.max_queue_msgs = 1 + next(&in) % 8;
  o.max_queue_bytes = 1 + next(&in) * 4;
  o.policy = (hub_policy_t)(next(&in) % 3);
  o.watermarks[0] = 50;
  /* Publishes that wait for a young write (they never time out here), or
   * a hub that judges at once; with or without a hub-wide budget. */
  o.slow_after_ms = (next(&in) & 1) ? 60000 : 0;
  o.max_waiting_msgs = 1 + next(&in) % 8;
  o.max_total_queue_bytes = (next(&in) & 1) ? 1 + next(&in) * 8 : 0;
  o.allocator = &ca.a;
  o.on_client_close = on_close;
  o.on_drop = on_drop;
  mem_transport_init(&mt, 1);
  mem_transport_init(&mt2, 0);
  check(hub_new(&the_hub, &loop, &o) == 0);

  while (in.p < in.end && !hub_gone) {
    unsigned op = next(&in) % 16;
    switch (op) {
    case 0: /* register */
      i = (int)(next(&in) % MAX_CONNS);
      if (conns[i] == NULL) {
        unsigned mode = next(&in);
        conns[i] = mem_connect(the_hub, (mode & 4) ? &mt2 : &mt, mode & 1,
                               (mode >> 1) & 1, NULL);
      }
      break;
    case 1: /* broadcast */
      hub_broadcast(the_hub, payload, next(&in), next(&in) & 3);
      break;
    case 2: /* send */
      if ((mc = pick(&in)) != NULL)
        client_send(mc->client, payload, next(&in) % 64, 0);
      break;
    case 3: /* close */
      if ((mc = pick(&in)) != NULL)
        client_close(mc->client, -(int)next(&in));
      break;
    case 4:
      if ((mc = pick(&in)) != NULL)
        client_shutdown(mc->client, -(int)next(&in));
      break;
    case 5:
      uv_run(&loop, UV_RUN_NOWAIT);
      break;
    case 6: /* a write completes */
      if ((mc = pick(&in)) != NULL && mc->in_flight)
        mem_complete(mc, (next(&in) & 7) == 0 ? UV_EPIPE : 0);
      break;
    case 7: /* a deferred close completes */
      i = (int)(next(&in) % MAX_CONNS);
      if (conns[i] != NULL && conns[i]->client != NULL &&
          conns[i]->close_requested && !conns[i]->closed)
        mem_finish_close(conns[i]);
      break;
    case 8:
      hub_set_policy(the_hub, (hub_policy_t)(next(&in) % 3));
      break;
    case 9:
      if ((mc = pick(&in)) != NULL)
        hub_subscribe(mc->client, topics[next(&in) % 3]);
      break;
    case 10:
      if ((mc = pick(&in)) != NULL)
        hub_unsubscribe(mc->client, topics[next(&in) % 3]);
      break;
    case 11:
      hub_publish(the_hub, topics[next(&in) % 3], payload, next(&in) % 40,
                  0);
      break;
    case 12:
      if ((mc = pick(&in)) != NULL)
        client_send(mc->client, "C", 1, HUB_MSG_CONTROL | HUB_MSG_RAW);
      break;
    case 13: /* keyed */
      if (hub_msg_new(the_hub, payload, next(&in) % 16, 0, &msg) == 0) {
        hub_msg_set_key(msg, 1 + next(&in) % 3);
        hub_broadcast_msg(the_hub, NULL, msg);
        hub_msg_unref(msg);
      }
      break;
    case 14:
      if ((mc = pick(&in)) != NULL)
        client_take_gap(mc->client);
      break;
    case 15:
      if (!closing && (next(&in) & 15) == 0) {
        check(hub_close(the_hub, next(&in) % 3, on_hub_closed) == 0);
        closing = 1;
      }
      break;
    }
    if (!closing)
      check_accounting(the_hub, &o);
  }

  /* Wind down: close the hub, let every write and deferred close
   * complete, and require that everything is freed. */
  if (!closing)
    check(hub_close(the_hub, 0, on_hub_closed) == 0);
  for (rounds = 0; rounds < 100; rounds++) {
    int busy = 0;
    for (i = 0; i < MAX_CONNS; i++) {
      mc = conns[i];
      if (mc == NULL || mc->client == NULL)
        continue;
      busy = 1;
      if (mc->in_flight)
        mem_complete(mc, 0);
      else if (mc->close_requested && !mc->closed)
        mem_finish_close(mc);
    }
    if (uv_run(&loop, UV_RUN_NOWAIT) == 0 && !busy)
      break;
  }
  check(hub_gone);
  check(uv_loop_close(&loop) == 0);
  check(ca.live == 0);
  for (i = 0; i < MAX_CONNS; i++)
    mem_conn_free(conns[i]);
  return 0;
}
