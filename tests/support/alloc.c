/* Hub allocators for tests: one that counts and fails on request, one
 * that measures the heap the hub holds. */
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include "support.h"

#define CA_ADD(field, n) __atomic_add_fetch(&(field), (n), __ATOMIC_SEQ_CST)

/* Whether this call fails, as the test asked. */
static int ca_fails(count_alloc *ca) {
  long call = CA_ADD(ca->calls, 1);

  if (ca->fail_at <= 0 ||
      (call != ca->fail_at && !(ca->from && call > ca->fail_at)))
    return 0;
  CA_ADD(ca->failed, 1);
  return 1;
}

static void *ca_malloc(size_t size, void *ud) {
  count_alloc *ca = ud;
  void *p;

  if (ca_fails(ca))
    return NULL;
  p = malloc(size);
  if (p != NULL) {
    CA_ADD(ca->allocs, 1);
    CA_ADD(ca->live, 1);
  }
  return p;
}

static void *ca_realloc(void *ptr, size_t size, void *ud) {
  count_alloc *ca = ud;
  void *p;

  if (ca_fails(ca))
    return NULL;
  p = realloc(ptr, size);
  if (p != NULL && ptr == NULL) {
    CA_ADD(ca->allocs, 1);
    CA_ADD(ca->live, 1);
  }
  return p;
}

static void ca_free(void *ptr, void *ud) {
  count_alloc *ca = ud;

  if (ptr != NULL) {
    CA_ADD(ca->frees, 1);
    CA_ADD(ca->live, -1);
  }
  free(ptr);
}

void count_alloc_init(count_alloc *ca) {
  memset(ca, 0, sizeof(*ca));
  ca->a.malloc = ca_malloc;
  ca->a.realloc = ca_realloc;
  ca->a.free = ca_free;
  ca->a.user_data = ca;
}

void count_alloc_hub_options(hub_options_t *ho, count_alloc *ca) {
  hub_options_init(ho);
  count_alloc_init(ca);
  ca->from = 1;
  ho->allocator = &ca->a;
}

size_t ts_heap_bytes;

size_t ts_heap_in_use(void) {
  return mallinfo2().uordblks;
}

size_t ts_heap_chunk(void *p) {
  return p != NULL ? malloc_usable_size(p) + sizeof(size_t) : 0;
}

static void *heap_malloc(size_t size, void *ud) {
  void *p = malloc(size);

  (void)ud;
  ts_heap_bytes += ts_heap_chunk(p);
  return p;
}

static void *heap_realloc(void *ptr, size_t size, void *ud) {
  size_t old = ts_heap_chunk(ptr);
  void *p = realloc(ptr, size);

  (void)ud;
  if (p != NULL || size == 0)
    ts_heap_bytes += ts_heap_chunk(p) - old;
  return p;
}

static void heap_free(void *ptr, void *ud) {
  (void)ud;
  ts_heap_bytes -= ts_heap_chunk(ptr);
  free(ptr);
}

const hub_allocator_t ts_heap_allocator = {heap_malloc, heap_realloc,
                                           heap_free, NULL};
