/* Helpers of the slow-consumer tests: lines of a fixed size sent in
 * batches, small kernel buffers, and a stalled client.
 *
 * Kernel buffers are made small so that a stalled client fills up after a
 * few kilobytes: the stalled client's socket gets a 4 KiB SO_RCVBUF, and
 * the server's side of every connection a 4 KiB SO_SNDBUF. Lines are sent
 * in batches, each read by every fast client before the next, so fast
 * clients never come near their bound while the stalled one overflows.
 * The including file defines `static fx_t fx;` first. */
#ifndef HUB_TCP_BATCH_H
#define HUB_TCP_BATCH_H

#include <stdio.h>

#include "tcp-fixture.h"

enum { LINE = 100, BATCH = 16, MAX_MSGS = 64, MAX_BYTES = 8 * 1024 };

/* Line k: "line NNNNNN " padded with dots to LINE bytes, "\n" included. */
static inline void make_line(char *buf, int k) {
  int n = snprintf(buf, LINE, "line %06d ", k);

  memset(buf + n, '.', (size_t)(LINE - 1 - n));
  buf[LINE - 1] = '\n';
}

/* Expected stream: lines 0 .. n-1. */
static inline char *expected(int n) {
  char *s = malloc((size_t)n * LINE);
  int k;

  for (k = 0; k < n; k++)
    make_line(s + (size_t)k * LINE, k);
  return s;
}

static inline void slow_options(hub_options_t *ho, hub_tcp_options_t *to,
                         hub_policy_t policy) {
  hub_options_init(ho);
  ho->max_queue_msgs = MAX_MSGS;
  ho->max_queue_bytes = MAX_BYTES;
  ho->policy = policy;
  hub_tcp_options_init(to);
  to->send_buffer = 4096;
}

/* A server with these options under `policy`, two clients that read (0
 * and 1) and one with a 4 KiB SO_RCVBUF (2). Returns 0 or -1. */
static inline int start_slow(hub_policy_t policy) {
  hub_options_t ho;
  hub_tcp_options_t to;

  slow_options(&ho, &to, policy);
  if (fx_start(&fx, &ho, &to) != 0 || fx_client(&fx, 0) != 0 ||
      fx_client(&fx, 0) != 1 || fx_client(&fx, 4096) != 2)
    return -1;
  return 0;
}

/* Client `from` sends lines first .. first+BATCH-1; then wait until every
 * client in fast[] has all `total` lines so far. Returns 0 or -1. */
static inline int send_batch(int from, int first, const int *fast, int nfast) {
  char buf[BATCH * LINE];
  size_t want = (size_t)(first + BATCH) * LINE;
  uint64_t deadline = ts_now_ms() + TS_DEADLINE_MS;
  int k, i, done;

  for (k = 0; k < BATCH; k++)
    make_line(buf + k * LINE, first + k);
  if (tc_send(&fx, from, buf, sizeof(buf)) != 0)
    return -1;
  for (;;) {
    done = 1;
    for (i = 0; i < nfast; i++)
      done &= fx.tc[fast[i]].len >= want;
    if (done)
      return 0;
    if (ts_now_ms() > deadline)
      return -1;
    fx_step(&fx);
  }
}

/* Line number of the line at `p` ("line NNNNNN ..."), or -1. Parsed by
 * hand: the stream is not a string. */
static inline int line_no(const char *p) {
  int i, k = 0;

  if (memcmp(p, "line ", 5) != 0)
    return -1;
  for (i = 5; i < 11; i++) {
    if (p[i] < '0' || p[i] > '9')
      return -1;
    k = k * 10 + (p[i] - '0');
  }
  return k;
}

/* Messages dropped for the stalled client, evicted or refused. */
static inline uint64_t stall_drops(void) {
  return fx.dropped[HUB_DROP_EVICTED] + fx.dropped[HUB_DROP_REFUSED];
}

/* Run a stall: client 2 stops reading while client 0 sends batches that
 * clients 0 and 1 read, until `drops` of its messages were dropped.
 * After every batch, check that what the server holds for the stalled
 * client stays within the bounds. Returns the lines sent, or -1. */
static inline int stall(uint64_t drops) {
  const int fast[] = {0, 1};
  hub_client_stats_t cs;
  hub_stats_t hs;
  int n = 0;

  fx.tc[2].paused = 1;
  while (n < 4000 && stall_drops() < drops) {
    if (send_batch(0, n, fast, 2) != 0)
      return -1;
    n += BATCH;
    cs = fx_client_stats(&fx, 2);
    hs = fx_hub_stats(&fx);
    if (cs.queued_bytes > MAX_BYTES || cs.queued_msgs > MAX_MSGS ||
        hs.queued_bytes > 3 * MAX_BYTES || fx_tcp_stats(&fx).partial_bytes)
      return -1;
  }
  return n;
}

#endif /* HUB_TCP_BATCH_H */
