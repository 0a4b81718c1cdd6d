/* Log-linear histogram. */
#include "lg-hist.h"

#include <math.h>
#include <string.h>

void lg_hist_reset(lg_hist_t *h) {
  memset(h, 0, sizeof(*h));
}

/* Below 2^S values are their own bucket. Above, with e = floor(log2 v),
 * the top S+1 bits of v (m, from 2^S to 2^(S+1) - 1) pick one of 2^S
 * buckets in group e - S + 1. Group 1 (e == S) is again exact, so the
 * mapping is continuous: index(v) == v for all v < 2^(S+1). */
size_t lg_hist_index(uint64_t v) {
  unsigned e, shift;

  if (v < LG_HIST_SUB)
    return (size_t)v;
  e = 63u - (unsigned)__builtin_clzll(v);
  shift = e - LG_HIST_SUB_BITS;
  return (size_t)(shift + 1) * LG_HIST_SUB +
         (size_t)((v >> shift) - LG_HIST_SUB);
}

uint64_t lg_hist_bucket_high(size_t index) {
  size_t group = index / LG_HIST_SUB;
  uint64_t m, low;

  if (group == 0)
    return index;
  m = (uint64_t)(index % LG_HIST_SUB) + LG_HIST_SUB;
  low = m << (group - 1);
  return low + ((uint64_t)1 << (group - 1)) - 1;
}

uint64_t lg_hist_quantile(const lg_hist_t *h, double q) {
  uint64_t rank, seen = 0, v;
  size_t i;

  if (h->count == 0)
    return 0;
  if (q <= 0)
    return h->min;
  if (q >= 1)
    return h->max;
  rank = (uint64_t)ceil(q * (double)h->count);
  if (rank < 1)
    rank = 1;
  for (i = 0; i < LG_HIST_BUCKETS; i++) {
    seen += h->buckets[i];
    if (seen >= rank) {
      v = lg_hist_bucket_high(i);
      return v > h->max ? h->max : v < h->min ? h->min : v;
    }
  }
  return h->max;
}

void lg_hist_merge(lg_hist_t *dst, const lg_hist_t *src) {
  size_t i;

  if (src->count == 0)
    return;
  for (i = 0; i < LG_HIST_BUCKETS; i++)
    dst->buckets[i] += src->buckets[i];
  if (dst->count == 0 || src->min < dst->min)
    dst->min = src->min;
  if (src->max > dst->max)
    dst->max = src->max;
  dst->count += src->count;
  dst->sum += src->sum;
}
