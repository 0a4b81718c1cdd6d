/* The example programs' log of the messages their hub dropped. Not part
 * of libhub's API. */
#ifndef HUBX_DROPLOG_H
#define HUBX_DROPLOG_H

#include <stdint.h>

#include "hub.h"

/* Logging drops without flooding: drops that can come with every message
 * (evictions, refusals, conflation) are logged at once for the first event
 * of a second, then summarised once a second while they go on; drops that
 * end a client (DISCONNECT, CLOSED) are always logged at once. Messages
 * go through hubx_log(). */
#define HUBX_DROP_REASONS 8

typedef struct {
  uv_timer_t timer;
  uint64_t msgs[HUBX_DROP_REASONS];
  uint64_t bytes[HUBX_DROP_REASONS];
  uint64_t events[HUBX_DROP_REASONS];
  int closing;
  /* Every drop reported, by reason, since hubx_droplog_init(): for
   * /metrics (their sums are the hub's msgs_dropped and bytes_dropped). */
  uint64_t total_msgs[HUBX_DROP_REASONS];
  uint64_t total_bytes[HUBX_DROP_REASONS];
} hubx_droplog_t;

void hubx_droplog_init(hubx_droplog_t *dl, uv_loop_t *loop);
/* For hub_options_t.on_drop: `client_id` names the client in the log. */
void hubx_droplog_report(hubx_droplog_t *dl, unsigned long long client_id,
                         hub_drop_reason_t reason, size_t n_msgs,
                         size_t n_bytes);
/* Log what is still being counted and close the timer (idempotent). */
void hubx_droplog_close(hubx_droplog_t *dl);

/* A drop reason in words, for the log: "oldest evicted", ...; and as a
 * label value of /metrics: "disconnect", "evicted", "refused", "closed",
 * "conflated", "nomem", "expired". "unknown" for any other value. */
const char *hubx_drop_reason_name(hub_drop_reason_t reason);
const char *hubx_drop_reason_label(hub_drop_reason_t reason);

#endif /* HUBX_DROPLOG_H */
