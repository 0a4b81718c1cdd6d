/* tests/abi: what the frozen-header side reports to the current-header
 * side. Plain types only: each side has its own hub.h. */
#ifndef HUB_TEST_ABI_H
#define HUB_TEST_ABI_H

#include <stddef.h>

typedef struct {
  size_t options, options_last;
  size_t stats, stats_last;
  size_t client_stats, client_stats_last;
  size_t transport, transport_last;
  size_t frame;
  size_t allocator;
} abi_layout_t;

/* caller.c, built against the frozen header. */
void abi_frozen_layout(abi_layout_t *l);
int abi_frozen_run(void);

#endif /* HUB_TEST_ABI_H */
