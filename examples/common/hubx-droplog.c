/* Logging drops without flooding. See hubx-droplog.h. */
#include "hubx-droplog.h"

#include <string.h>

#include "hubx-log.h"

/* Each reason's words for the log and label for /metrics, by value. */
static const struct {
  const char *name, *label;
} hubx__reasons[HUBX_DROP_REASONS] = {
  [HUB_DROP_DISCONNECT] = {"slow consumer disconnected", "disconnect"},
  [HUB_DROP_EVICTED] = {"oldest evicted", "evicted"},
  [HUB_DROP_REFUSED] = {"newest refused", "refused"},
  [HUB_DROP_CLOSED] = {"closed with data queued", "closed"},
  [HUB_DROP_CONFLATED] = {"replaced by a newer message with the same key",
                          "conflated"},
  [HUB_DROP_NOMEM] = {"out of memory", "nomem"},
  [HUB_DROP_EXPIRED] = {"gone from the history before it was read",
                        "expired"},
};

static int hubx__reason_known(hub_drop_reason_t reason) {
  return (unsigned)reason < HUBX_DROP_REASONS &&
         hubx__reasons[reason].name != NULL;
}

const char *hubx_drop_reason_name(hub_drop_reason_t reason) {
  return hubx__reason_known(reason) ? hubx__reasons[reason].name
                                    : "unknown";
}

const char *hubx_drop_reason_label(hub_drop_reason_t reason) {
  return hubx__reason_known(reason) ? hubx__reasons[reason].label
                                    : "unknown";
}

/* Drops that may come with every message, as opposed to once a client. */
static int hubx_drop_is_frequent(hub_drop_reason_t reason) {
  return reason != HUB_DROP_DISCONNECT && reason != HUB_DROP_CLOSED &&
         (unsigned)reason < HUBX_DROP_REASONS;
}

static void hubx_droplog_flush(hubx_droplog_t *dl);

static void hubx_on_droplog_timer(uv_timer_t *timer) {
  hubx_droplog_flush(timer->data);
}

static void hubx_droplog_flush(hubx_droplog_t *dl) {
  int i, logged = 0;

  for (i = 0; i < HUBX_DROP_REASONS; i++) {
    if (dl->events[i] == 0)
      continue;
    hubx_log("dropped %llu messages (%llu bytes) in %llu more events: %s",
             (unsigned long long)dl->msgs[i],
             (unsigned long long)dl->bytes[i],
             (unsigned long long)dl->events[i],
             hubx_drop_reason_name((hub_drop_reason_t)i));
    dl->msgs[i] = dl->bytes[i] = dl->events[i] = 0;
    logged = 1;
  }
  /* A second with drops opens another; a quiet one ends the limiting. */
  if (logged && !dl->closing)
    uv_timer_start(&dl->timer, hubx_on_droplog_timer, 1000, 0);
}

void hubx_droplog_init(hubx_droplog_t *dl, uv_loop_t *loop) {
  memset(dl, 0, sizeof(*dl));
  (void)uv_timer_init(loop, &dl->timer);
  dl->timer.data = dl;
}

void hubx_droplog_report(hubx_droplog_t *dl, unsigned long long client_id,
                         hub_drop_reason_t reason, size_t n_msgs,
                         size_t n_bytes) {
  if ((unsigned)reason < HUBX_DROP_REASONS) {
    dl->total_msgs[reason] += n_msgs;
    dl->total_bytes[reason] += n_bytes;
  }
  if (hubx_drop_is_frequent(reason)) {
    if (uv_is_active((uv_handle_t *)&dl->timer)) {
      dl->msgs[reason] += n_msgs;
      dl->bytes[reason] += n_bytes;
      dl->events[reason]++;
      return;
    }
    if (!dl->closing)
      uv_timer_start(&dl->timer, hubx_on_droplog_timer, 1000, 0);
  }
  hubx_log("#%llu: dropped %zu messages (%zu bytes): %s", client_id, n_msgs,
           n_bytes, hubx_drop_reason_name(reason));
}

void hubx_droplog_close(hubx_droplog_t *dl) {
  if (dl->closing)
    return;
  dl->closing = 1;
  hubx_droplog_flush(dl);
  uv_close((uv_handle_t *)&dl->timer, NULL);
}
