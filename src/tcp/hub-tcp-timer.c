/* hub-tcp's timeouts: the idle timeout, and the deadline of a line once
 * begun.
 *
 * An open connection sits on one of two lists: `lines` while it has a
 * line pending, `conns` otherwise. `conns` is in the order connections
 * were last heard from (a read moves its connection to the tail), `lines`
 * in the order their pending lines began (a connection joins the tail
 * with the read that begins a line, and leaves when the line is
 * complete), so the head of each list is the first of it to expire. One
 * timer per server, armed for the earlier head, closes whatever has
 * expired and re-arms itself: O(1) per read, no per-connection timer (a
 * uv_timer_t would cost 152 bytes a connection) and no sweep over the
 * connections that are still within their time.
 *
 * A connection with a line pending is timed by its line only: the line
 * began no later than the last read, and the line timeout is never longer
 * than the idle timeout (hub_tcp_server_new() cuts it), so its line
 * expires no later than its silence would. That is why one list, one
 * link and one time per connection serve both. */
#include <stdio.h>

#include "hub-tcp-int.h"

static void hub_tcp__on_timer(uv_timer_t *timer);

/* Lower *wait to what is left of the head of `list`, whose connections
 * expire `timeout` ms (0: never) after their time. Differences of
 * truncated times are exact while below 2^32 ms, and timeouts are at most
 * INT32_MAX ms. */
static void hub_tcp__head_wait(const hub_tcp_server_t *s, hub__queue *list,
                               uint64_t timeout, uint64_t *wait) {
  uint32_t age;
  uint64_t left;

  if (timeout == 0 || list->next == list)
    return;
  /* heard and began are one field: the time by which its list is kept. */
  age = hub_tcp__now32(s) - hub_tcp__conn_of(list->next)->heard;
  left = age >= timeout ? 0 : timeout - age;
  if (left < *wait)
    *wait = left;
}

/* Arm the timer for the earlier of the two heads, or stop it. */
void hub_tcp__timer_arm(hub_tcp_server_t *s) {
  uint64_t wait = UINT64_MAX;

  if (s->closing)
    return;
  hub_tcp__head_wait(s, &s->conns, s->opts.idle_timeout_ms, &wait);
  hub_tcp__head_wait(s, &s->lines, s->line_timeout, &wait);
  if (wait == UINT64_MAX)
    uv_timer_stop(&s->timer);
  else
    uv_timer_start(&s->timer, hub_tcp__on_timer, wait, 0);
}

/* Close `c`, the head of its list, which has expired. */
static void hub_tcp__expire(hub_tcp_server_t *s, hub_tcp__conn *c,
                            const char *msg) {
  hub_tcp__log(s, c->client, UV_ETIMEDOUT, msg);
  /* Closing unlinks the connection (hub_tcp__close()); unlink it here
   * too in case the log callback already closed it some other way. */
  if (!hubx_sock_is_closing(&c->sock))
    client_close(c->client, UV_ETIMEDOUT);
  hub__queue_remove(&c->node);
  c->in_line = 0;
}

static void hub_tcp__on_timer(uv_timer_t *timer) {
  hub_tcp_server_t *s = timer->data;
  uint32_t now = hub_tcp__now32(s);
  hub_tcp__conn *c;
  char msg[96];

  while (s->opts.idle_timeout_ms > 0 && s->conns.next != &s->conns) {
    c = hub_tcp__conn_of(s->conns.next);
    if (now - c->heard < s->opts.idle_timeout_ms)
      break;
    s->stats.idle_timeouts++;
    snprintf(msg, sizeof(msg), "silent for %llu ms, closing",
             (unsigned long long)(now - c->heard));
    hub_tcp__expire(s, c, msg);
  }
  while (s->line_timeout > 0 && s->lines.next != &s->lines) {
    c = hub_tcp__conn_of(s->lines.next);
    if (now - c->began < s->line_timeout)
      break;
    s->stats.line_timeouts++;
    snprintf(msg, sizeof(msg), "line not complete after %llu ms, closing",
             (unsigned long long)(now - c->began));
    hub_tcp__expire(s, c, msg);
  }
  hub_tcp__timer_arm(s);
}

/* Move `c` to the tail of `conns`, heard now. */
static void hub_tcp__to_conns(hub_tcp_server_t *s, hub_tcp__conn *c) {
  c->heard = hub_tcp__now32(s);
  c->in_line = 0;
  hub__queue_remove(&c->node);
  hub__queue_insert_tail(&s->conns, &c->node);
}

/* After a read that `c` is still open for: a line it began in an earlier
 * read keeps its place on `lines`; a line begun by this read joins its
 * tail; with no line pending, `c` goes to the tail of `conns`, heard now
 * (when something times it: the idle timeout, or a line just ended). */
void hub_tcp__heard(hub_tcp__conn *c) {
  hub_tcp_server_t *s = hub_tcp__server_of(c);
  int first;

  if (hub_tcp__stopped(c))
    return;
  if (s->line_timeout > 0 && hub_tcp__lines_len(&c->lines) > 0) {
    if (c->in_line)
      return;
    first = s->lines.next == &s->lines;
    hub__queue_remove(&c->node);
    c->began = hub_tcp__now32(s);
    c->in_line = 1;
    hub__queue_insert_tail(&s->lines, &c->node);
    /* The timer may be armed for a later idle deadline. */
    if (first)
      hub_tcp__timer_arm(s);
  } else if (c->in_line || s->opts.idle_timeout_ms > 0) {
    hub_tcp__to_conns(s, c);
  }
}

/* A line of `c` is complete: the one it had pending, if any, has met its
 * deadline, and the next one has not begun. */
void hub_tcp__line_ended(hub_tcp__conn *c) {
  if (c->in_line)
    hub_tcp__to_conns(hub_tcp__server_of(c), c);
}
