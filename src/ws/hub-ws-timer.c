/* hub-ws's timeouts: every connection sits on exactly one list (reading
 * its request, open, pinged, partway through a message, closing), each
 * with a single timeout, so appending at the tail keeps a list in
 * deadline order and one timer per server, armed for the earliest head,
 * serves them all. A read moves its connection to the tail of the open
 * list: O(1), and no uv_timer_t (152 bytes) in every connection. */
#include "hub-ws-int.h"

static void hub_ws__on_timer(uv_timer_t *timer);

static void hub_ws__timer_arm(hub_ws_server_t *s, uint64_t due) {
  uint64_t now = uv_now(s->loop);

  if (s->timer_closing)
    return;
  s->timer_due = due;
  uv_timer_start(&s->timer, hub_ws__on_timer, due > now ? due - now : 0, 0);
}

/* What is left of `c`'s timeout at loop time `now`, in ms: <= 0 once
 * it has expired. */
static int64_t hub_ws__left(const hub_ws__conn_t *c, uint64_t now) {
  return (int32_t)(c->deadline - (uint32_t)now);
}

void hub_ws__list_move(hub_ws__conn_t *c, unsigned list) {
  hub_ws_server_t *s = hub_ws__server_of(c);
  uint64_t due;

  hub__queue_remove(&c->link);
  c->list = (uint8_t)list;
  hub__queue_insert_tail(&s->lists[list], &c->link);
  if (list == HUB_WS__L_NONE)
    return;
  /* Every list has one timeout, so the new tail has the latest deadline
   * of its list: only a list that was empty can bring the timer
   * forward. */
  due = uv_now(s->loop) + s->timeouts[list];
  c->deadline = (uint32_t)due;
  if (!uv_is_active((uv_handle_t *)&s->timer) || due < s->timer_due)
    hub_ws__timer_arm(s, due);
}

/* The head of `list` timed out. Each case moves it off the list. */
static void hub_ws__expire(hub_ws_server_t *s, hub_ws__conn_t *c,
                           unsigned list) {
  uint8_t ping[HUB_WS__CONTROL_FRAME_MAX];
  const hub_ws_options_t *o = &s->opts;
  int relive = 0;
  size_t n;

  switch (list) {
  case HUB_WS__L_HANDSHAKE:
    s->st.timeouts++;
    hub_ws__refuse(c, 408, "no complete request in time");
    break;
  case HUB_WS__L_LIVE:
    if (c->phase == HUB_WS__STREAM) {
      /* A stream's heartbeat is a comment, which proxies see as traffic;
       * its client answers nothing, and is never idle for that: it goes
       * back to the tail of the live list (below). */
      s->st.pings++;
      hub_ws__list_move(c, HUB_WS__L_NONE);
      relive = o->ping_interval_ms > 0;
      if (client_send(c->client, ": ping\n\n", 8,
                      HUB_MSG_RAW | HUB_MSG_CONTROL) == UV_ENOMEM)
        hub_ws__log(s, c, UV_ENOMEM, "out of memory for a ping");
    } else if (o->ping_interval_ms > 0 &&
               (o->idle_timeout_ms == 0 ||
                o->ping_interval_ms <= o->idle_timeout_ms)) {
      s->st.pings++;
      hub_ws__list_move(c, HUB_WS__L_PING);
      n = hub_ws__frame_control(ping, HUB_WS__OP_PING, NULL, 0);
      /* A full control queue means the client reads nothing: no ping,
       * and the pong timeout will tell; out of memory likewise. */
      if (client_send(c->client, ping, n, HUB_MSG_RAW | HUB_MSG_CONTROL) ==
          UV_ENOMEM)
        hub_ws__log(s, c, UV_ENOMEM, "out of memory for a ping");
    } else {
      s->st.timeouts++;
      hub_ws__log(s, c, UV_ETIMEDOUT, "idle timeout: closing with 1001");
      hub_ws__send_close(c, HUB_WS__CLOSE_GOING_AWAY, "idle timeout");
    }
    break;
  case HUB_WS__L_MESSAGE:
    s->st.timeouts++;
    hub_ws__log(s, c, UV_ETIMEDOUT,
                "message not complete within %llu ms: "
                "closing with 1008",
                (unsigned long long)o->message_timeout_ms);
    hub_ws__send_close(c, HUB_WS__CLOSE_POLICY, "message timeout");
    break;
  case HUB_WS__L_PING:
    s->st.timeouts++;
    hub_ws__log(s, c, UV_ETIMEDOUT, "no answer to a ping: closing");
    hub_ws__list_move(c, HUB_WS__L_NONE);
    client_close(c->client, UV_ETIMEDOUT);
    break;
  default: /* HUB_WS__L_CLOSE */
    s->st.timeouts++;
    hub_ws__list_move(c, HUB_WS__L_NONE);
    if (c->client != NULL && !(c->flags & HUB_WS__F_CORE_CLOSED))
      client_close(c->client, UV_ETIMEDOUT);
    else
      hub_ws__handle_close(c);
    break;
  }
  /* Whatever happened, it must have left the list. */
  if (c->list == list && !(c->flags & HUB_WS__F_HANDLE_CLOSING))
    hub_ws__list_move(c, HUB_WS__L_NONE);
  else if (relive && c->list == HUB_WS__L_NONE &&
           !(c->flags & HUB_WS__F_HANDLE_CLOSING))
    hub_ws__list_move(c, HUB_WS__L_LIVE);
}

static void hub_ws__on_timer(uv_timer_t *timer) {
  hub_ws_server_t *s = timer->data;
  uint64_t now = uv_now(s->loop), due = UINT64_MAX;
  int64_t left;
  hub_ws__conn_t *c;
  unsigned l;

  for (l = 0; l < HUB_WS__L_NONE; l++) {
    while (s->lists[l].next != &s->lists[l]) {
      c = hub_ws__conn_of(s->lists[l].next);
      if (hub_ws__left(c, now) > 0)
        break;
      hub_ws__expire(s, c, l);
    }
  }
  for (l = 0; l < HUB_WS__L_NONE; l++) {
    if (s->lists[l].next == &s->lists[l])
      continue;
    left = hub_ws__left(hub_ws__conn_of(s->lists[l].next), now);
    if (left < 0)
      left = 0;
    if (now + (uint64_t)left < due)
      due = now + (uint64_t)left;
  }
  if (due != UINT64_MAX)
    hub_ws__timer_arm(s, due);
}
