/* The adapters' allocators, as hub_allocator_t (hub.h): libc's, for
 * protocol code used without a hub (its tests, its fuzz targets), and the
 * hub's (hub_mem_alloc()), for what a server allocates per connection.
 * Header only, so that the protocol code needs no object of the socket
 * layer. */
#ifndef HUBX_MEM_H
#define HUBX_MEM_H

#include <stdlib.h>

#include <hub.h>

static inline void *hubx_mem__libc_malloc(size_t size, void *ud) {
  (void)ud;
  return malloc(size);
}

static inline void *hubx_mem__libc_realloc(void *ptr, size_t size,
                                           void *ud) {
  (void)ud;
  return realloc(ptr, size);
}

static inline void hubx_mem__libc_free(void *ptr, void *ud) {
  (void)ud;
  free(ptr);
}

/* `mem`, or libc's allocator when `mem` is NULL. */
static inline const hub_allocator_t *hubx_mem_or_libc(
    const hub_allocator_t *mem) {
  static const hub_allocator_t libc = {
    hubx_mem__libc_malloc, hubx_mem__libc_realloc, hubx_mem__libc_free, NULL
  };

  return mem != NULL ? mem : &libc;
}

static inline void *hubx_mem__hub_malloc(size_t size, void *hub) {
  return hub_mem_alloc(hub, size);
}

static inline void *hubx_mem__hub_realloc(void *ptr, size_t size,
                                          void *hub) {
  return hub_mem_realloc(hub, ptr, size);
}

static inline void hubx_mem__hub_free(void *ptr, void *hub) {
  hub_mem_free(hub, ptr);
}

/* The hub's allocator: `hub` must outlive what is allocated with it. */
static inline hub_allocator_t hubx_mem_of_hub(hub_t *hub) {
  hub_allocator_t mem = {
    hubx_mem__hub_malloc, hubx_mem__hub_realloc, hubx_mem__hub_free, hub
  };

  return mem;
}

#endif /* HUBX_MEM_H */
