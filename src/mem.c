/* The allocator hook. */
#include <stdlib.h>
#include <string.h>

#include "hub-int.h"

void *hub__malloc(hub_t *hub, size_t size) {
  return hub->mem.malloc(size, hub->mem.user_data);
}

void *hub__zalloc(hub_t *hub, size_t size) {
  void *p = hub__malloc(hub, size);

  if (p != NULL)
    memset(p, 0, size);
  return p;
}

void *hub__realloc(hub_t *hub, void *ptr, size_t size) {
  return hub->mem.realloc(ptr, size, hub->mem.user_data);
}

void hub__free(hub_t *hub, void *ptr) {
  hub->mem.free(ptr, hub->mem.user_data);
}

void *hub_mem_alloc(hub_t *hub, size_t size) {
  return hub != NULL ? hub__malloc(hub, size) : NULL;
}

void *hub_mem_realloc(hub_t *hub, void *ptr, size_t size) {
  return hub != NULL ? hub__realloc(hub, ptr, size) : NULL;
}

void hub_mem_free(hub_t *hub, void *ptr) {
  if (hub != NULL && ptr != NULL)
    hub__free(hub, ptr);
}
