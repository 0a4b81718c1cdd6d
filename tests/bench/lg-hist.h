/* A log-linear histogram of non-negative 64-bit values (latencies in ns),
 * in the manner of HdrHistogram: each power of two is split into
 * 2^LG_HIST_SUB_BITS equal buckets, so every recorded value is known to
 * within 1 part in 2^LG_HIST_SUB_BITS (0.8 %), over the whole 64-bit
 * range, in a fixed 60 KB table. Recording is a few instructions and
 * never allocates. Values below 2^LG_HIST_SUB_BITS are exact. */
#ifndef LG_HIST_H
#define LG_HIST_H

#include <stddef.h>
#include <stdint.h>

#define LG_HIST_SUB_BITS 7
#define LG_HIST_SUB (1u << LG_HIST_SUB_BITS)
#define LG_HIST_BUCKETS ((65 - LG_HIST_SUB_BITS) * LG_HIST_SUB)

typedef struct {
  uint64_t count, min, max;
  double sum;
  uint64_t buckets[LG_HIST_BUCKETS];
} lg_hist_t;

void lg_hist_reset(lg_hist_t *h);

/* The bucket of v, and the largest value that falls in a bucket. */
size_t lg_hist_index(uint64_t v);
uint64_t lg_hist_bucket_high(size_t index);

static inline void lg_hist_record(lg_hist_t *h, uint64_t v) {
  h->buckets[lg_hist_index(v)]++;
  if (h->count == 0 || v < h->min)
    h->min = v;
  if (v > h->max)
    h->max = v;
  h->count++;
  h->sum += (double)v;
}

/* The value at quantile q (0..1): the highest value of the bucket that
 * holds the ceil(q * count)-th smallest recorded value, never above the
 * largest value recorded. 0 when empty. */
uint64_t lg_hist_quantile(const lg_hist_t *h, double q);

/* Adds every count of src to dst. */
void lg_hist_merge(lg_hist_t *dst, const lg_hist_t *src);

#endif /* LG_HIST_H */
