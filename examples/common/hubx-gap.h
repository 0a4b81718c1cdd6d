/* Gap notices, shared by the example programs: telling a client how many
 * messages it lost, with one message of the program's own format, queued
 * before the messages that follow. Not part of libhub's API.
 *
 * The notice is a control message (HUB_MSG_CONTROL): never counted against
 * the queue bounds, never dropped by the policy, so no loss is silent.
 * Control messages share a small per-client allowance
 * (HUB_MAX_CONTROL_QUEUED) with a transport's own (pongs, a close frame),
 * so a notice is queued only when no other control message waits: a
 * client has at most one notice queued at a time, and notices cannot
 * crowd out the transport's messages. The hub counts the drops until a
 * notice is queued (client_take_gap() is called only then), so drops
 * while one waits add up for the next, and a notice that cannot be
 * queued loses nothing. A notice is sent once the client reads again, so
 * that it carries the total of the episode:
 *  - a drop while the client's queue is below the first watermark (a
 *    message too big for the room left, say) is announced at once;
 *  - a drop while the queue is above it is announced when the queue's
 *    level falls, which takes a completed write;
 *  - a notice that had to wait for another control message (or for
 *    memory) is tried again every HUBX_GAP_RECHECK_MS, from a timer
 *    outside the hub's calls, if the queue is below the first watermark
 *    by then, else at the next fall.
 * Clients waiting for that are kept in a small array: a client carries
 * nothing for its notices.
 *
 * Wiring: call hubx_gap_on_drop() from the hub's on_drop,
 * hubx_gap_on_pressure() from on_pressure (the hub needs a watermark),
 * hubx_gap_forget() from on_client_close, and hubx_gap_close() before
 * the loop ends. */
#ifndef HUBX_GAP_H
#define HUBX_GAP_H

#include <stddef.h>
#include <stdint.h>

#include <hub.h>
#include <uv.h>

#define HUBX_GAP_RECHECK_MS 20

/* Write the notice for `dropped` messages to `client` into `buf` (`len`
 * bytes, 64 at least); return its length. */
typedef int (*hubx_gap_format_fn)(const hub_client_t *client, char *buf,
                                  size_t len, uint64_t dropped);

/* A notice in JSON, {"hub":"gap","KEY":N}, after `mark` (what sets a
 * framing's notices apart from its messages, "" for none), as a
 * hubx_gap_format_fn writes it. */
int hubx_gap_json(char *buf, size_t len, const char *mark, const char *key,
                  uint64_t n);

typedef struct {
  hubx_gap_format_fn format;
  unsigned int flags; /* HUB_MSG_CONTROL, and HUB_MSG_RAW if unframed */
  uint64_t notices;   /* notices queued so far */
  uint64_t waited;    /* times a notice had to wait */
  /* Private. */
  uv_timer_t timer;
  hub_client_t **wait; /* clients to look at again */
  size_t nwait, capwait;
  int closing;
} hubx_gap_t;

/* Notices of `format`, queued with `flags` | HUB_MSG_CONTROL. Cannot
 * fail; hubx_gap_close() must follow. */
void hubx_gap_init(hubx_gap_t *g, uv_loop_t *loop, hubx_gap_format_fn format,
                   unsigned int flags);
void hubx_gap_on_drop(hubx_gap_t *g, hub_client_t *client,
                      hub_drop_reason_t reason);
void hubx_gap_on_pressure(hubx_gap_t *g, hub_client_t *client,
                          unsigned int old_level, unsigned int new_level);
/* The client is gone: never look at it again. */
void hubx_gap_forget(hubx_gap_t *g, hub_client_t *client);
/* No more notices; the timer's handle closes (the loop must run). */
void hubx_gap_close(hubx_gap_t *g);

#endif /* HUBX_GAP_H */
