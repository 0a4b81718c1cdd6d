/* The Prometheus text of the example programs: see hubx-metrics.h. */
#include "hubx-metrics.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void hubx_metrics_init(hubx_metrics_t *m) {
  memset(m, 0, sizeof(*m));
}

void hubx_metrics_reset(hubx_metrics_t *m) {
  m->len = 0;
  m->failed = 0;
}

void hubx_metrics_free(hubx_metrics_t *m) {
  free(m->data);
  hubx_metrics_init(m);
}

static void hubx__printf(hubx_metrics_t *m, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void hubx__printf(hubx_metrics_t *m, const char *fmt, ...) {
  va_list ap;
  size_t cap;
  char *p;
  int n;

  if (m->failed)
    return;
  for (;;) {
    va_start(ap, fmt);
    n = vsnprintf(m->data != NULL ? m->data + m->len : NULL,
                  m->cap - m->len, fmt, ap);
    va_end(ap);
    if (n < 0) {
      m->failed = 1;
      return;
    }
    if ((size_t)n < m->cap - m->len) {
      m->len += (size_t)n;
      return;
    }
    cap = m->cap == 0 ? 4096 : m->cap * 2;
    while (cap - m->len <= (size_t)n)
      cap *= 2;
    p = realloc(m->data, cap);
    if (p == NULL) {
      m->failed = 1;
      return;
    }
    m->data = p;
    m->cap = cap;
  }
}

void hubx_metrics_family(hubx_metrics_t *m, const char *name,
                         const char *type, const char *help) {
  hubx__printf(m, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void hubx_metrics_sample(hubx_metrics_t *m, const char *name,
                         const char *labels, uint64_t value) {
  if (labels != NULL)
    hubx__printf(m, "%s{%s} %llu\n", name, labels,
                 (unsigned long long)value);
  else
    hubx__printf(m, "%s %llu\n", name, (unsigned long long)value);
}

void hubx_metrics_counter(hubx_metrics_t *m, const char *name,
                          const char *help, uint64_t value) {
  hubx_metrics_family(m, name, "counter", help);
  hubx_metrics_sample(m, name, NULL, value);
}

void hubx_metrics_gauge(hubx_metrics_t *m, const char *name,
                        const char *help, uint64_t value) {
  hubx_metrics_family(m, name, "gauge", help);
  hubx_metrics_sample(m, name, NULL, value);
}

void hubx_metrics_fields(hubx_metrics_t *m, const void *stats,
                         const hubx_metrics_field_t *fields, size_t n) {
  size_t i;

  for (i = 0; i < n; i++) {
    const hubx_metrics_field_t *f = &fields[i];
    uint64_t v;

    memcpy(&v, (const char *)stats + f->offset, sizeof(v));
    if (f->gauge)
      hubx_metrics_gauge(m, f->name, f->help, v);
    else
      hubx_metrics_counter(m, f->name, f->help, v);
  }
}

/* A counter with one sample per drop reason (every reason, zero or not,
 * so that rates work from the first scrape): `values`, by reason. */
static void hubx__by_reason(hubx_metrics_t *m, const char *name,
                            const char *help, const uint64_t *values) {
  char label[48];
  int r;

  hubx_metrics_family(m, name, "counter", help);
  for (r = 1; r < HUBX_DROP_REASONS; r++) {
    snprintf(label, sizeof(label), "reason=\"%s\"",
             hubx_drop_reason_label((hub_drop_reason_t)r));
    hubx_metrics_sample(m, name, label, values[r]);
  }
}

/* Messages and bytes dropped, by reason. */
static void hubx__drops(hubx_metrics_t *m, const hubx_droplog_t *dl) {
  hubx__by_reason(m, "hub_messages_dropped_total",
                  "Messages dropped for a client, by reason.",
                  dl->total_msgs);
  hubx__by_reason(m, "hub_dropped_bytes_total",
                  "Payload bytes of the messages dropped, by reason.",
                  dl->total_bytes);
}

/* Open clients per pressure level (watermarks their queue reached). */
static void hubx__pressure(hubx_metrics_t *m, const hub_t *hub) {
  uint64_t counts[HUB_MAX_WATERMARKS + 1];
  char label[32];
  int levels, i;

  levels = hub_get_pressure(hub, counts, HUB_MAX_WATERMARKS + 1);
  if (levels < 1)
    return;
  hubx_metrics_family(m, "hub_clients_pressure", "gauge",
                      "Clients whose queue has reached this many "
                      "watermarks (0: below the first).");
  for (i = 0; i < levels && i <= HUB_MAX_WATERMARKS; i++) {
    snprintf(label, sizeof(label), "level=\"%d\"", i);
    hubx_metrics_sample(m, "hub_clients_pressure", label, counts[i]);
  }
}

void hubx_metrics_hub(hubx_metrics_t *m, const hub_t *hub,
                      const hubx_droplog_t *dl, const hubx_gap_t *gaps) {
  hub_stats_t st;

  hub_get_stats(hub, &st);
  hubx_metrics_gauge(m, "hub_clients", "Clients connected now.",
                     st.clients);
  hubx_metrics_counter(m, "hub_clients_registered_total",
                       "Clients ever connected.", st.clients_total);
  hubx_metrics_counter(m, "hub_clients_dropped_slow_total",
                       "Clients closed as slow consumers (disconnect "
                       "policy, or the memory budget).",
                       st.clients_dropped);
  hubx_metrics_gauge(m, "hub_rooms", "Rooms with at least one client.",
                     st.topics);
  hubx_metrics_gauge(m, "hub_subscriptions", "Client-room pairs now.",
                     st.subscriptions);
  /* Every message goes to a room: a publish to its topic. */
  hubx_metrics_counter(m, "hub_messages_published_total",
                       "Messages published to rooms (or to everyone).",
                       st.broadcasts + st.publishes);
  hubx_metrics_counter(m, "hub_messages_delivered_total",
                       "Messages written to a client (one per client).",
                       st.msgs_delivered);
  hubx_metrics_counter(m, "hub_delivered_bytes_total",
                       "Payload bytes of the messages delivered.",
                       st.bytes_delivered);
  if (dl != NULL)
    hubx__drops(m, dl);
  hubx_metrics_gauge(m, "hub_queued_messages",
                     "Messages queued for clients now, over all clients.",
                     st.queued_msgs);
  hubx_metrics_gauge(m, "hub_queued_bytes",
                     "Payload bytes queued for clients now.",
                     st.queued_bytes);
  hubx__pressure(m, hub);
  hubx_metrics_counter(m, "hub_writes_total",
                       "Vectored writes handed to the transports.",
                       st.writes);
  hubx_metrics_counter(m, "hub_publish_waits_total",
                       "Publishes that waited for a reader's socket.",
                       st.waits);
  hubx_metrics_gauge(m, "hub_publishes_waiting",
                     "Publishes waiting now.", st.waiting);
  hubx_metrics_counter(m, "hub_publishes_refused_total",
                       "Publishes refused: too many waiting.",
                       st.waits_refused);
  hubx_metrics_counter(m, "hub_budget_actions_total",
                       "Clients the memory budget acted on.",
                       st.budget_actions);
  hubx_metrics_counter(m, "hub_resumes_total",
                       "Clients that resumed after a message id.",
                       st.resumes);
  hubx_metrics_gauge(m, "hub_history_messages",
                     "Messages held in the rooms' histories now.",
                     st.history_msgs);
  hubx_metrics_gauge(m, "hub_history_bytes",
                     "Payload bytes held in the histories now.",
                     st.history_bytes);
  if (gaps != NULL)
    hubx_metrics_counter(m, "hub_gap_notices_total",
                         "Notices telling a client how many messages it "
                         "lost.",
                         gaps->notices);
}
