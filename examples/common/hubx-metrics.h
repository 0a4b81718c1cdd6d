/* The example programs' /metrics, in the Prometheus text exposition
 * format (version 0.0.4): every family has its "# HELP" and "# TYPE"
 * lines, counters end in _total, drops carry their reason as a label.
 * Written in one place for both programs; a program adds its adapter's
 * own families with the same functions (hubx-ops.h). Not part of libhub's
 * API. docs/ws.md lists the families. */
#ifndef HUBX_METRICS_H
#define HUBX_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "hubx-droplog.h"
#include "hubx-gap.h"
#include "hub.h"

/* The content type of the text. */
#define HUBX_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* The text being written, in a buffer that grows (with malloc). */
typedef struct {
  char *data;
  size_t len, cap;
  int failed; /* out of memory: the text is incomplete */
} hubx_metrics_t;

void hubx_metrics_init(hubx_metrics_t *m);
/* Empty it again, keeping the buffer. */
void hubx_metrics_reset(hubx_metrics_t *m);
void hubx_metrics_free(hubx_metrics_t *m);

/* A family's "# HELP" and "# TYPE" lines: `type` is "counter" (then
 * `name` ends in _total) or "gauge"; `help` is one line of fixed text. */
void hubx_metrics_family(hubx_metrics_t *m, const char *name,
                         const char *type, const char *help);
/* A sample of the family just begun: `labels` NULL, or label pairs as
 * they appear between the braces (reason="evicted"); fixed text, written
 * as it is. */
void hubx_metrics_sample(hubx_metrics_t *m, const char *name,
                         const char *labels, uint64_t value);
/* A family of one sample. */
void hubx_metrics_counter(hubx_metrics_t *m, const char *name,
                          const char *help, uint64_t value);
void hubx_metrics_gauge(hubx_metrics_t *m, const char *name,
                        const char *help, uint64_t value);

/* A family of one sample whose value is a uint64_t field of a statistics
 * struct: an adapter's families are a table of these. */
typedef struct {
  const char *name;
  const char *help;
  size_t offset; /* of the field, offsetof() */
  int gauge;     /* 1: a gauge, 0: a counter */
} hubx_metrics_field_t;

#define HUBX_METRICS_COUNTER(type, field, name, help)                        \
  {(name), (help), offsetof(type, field), 0}
#define HUBX_METRICS_GAUGE(type, field, name, help)                          \
  {(name), (help), offsetof(type, field), 1}

/* The `n` families of `fields`, in order, with their values in `stats`. */
void hubx_metrics_fields(hubx_metrics_t *m, const void *stats,
                         const hubx_metrics_field_t *fields, size_t n);

/* The hub's families (hub_get_stats(), hub_get_pressure()), the drops by
 * reason that `dl` counted and the gap notices `gaps` sent (either may be
 * NULL: their families are left out). */
void hubx_metrics_hub(hubx_metrics_t *m, const hub_t *hub,
                      const hubx_droplog_t *dl, const hubx_gap_t *gaps);


#endif /* HUBX_METRICS_H */
