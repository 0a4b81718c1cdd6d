/* The allocator hook and version queries. */
#include <stdlib.h>

#include "hub-int.h"

void *hub__malloc(hub_t *hub, size_t size) {
  return hub->mem.malloc(size, hub->mem.ud);
}

void *hub__realloc(hub_t *hub, void *ptr, size_t size) {
  return hub->mem.realloc(ptr, size, hub->mem.ud);
}

void hub__free(hub_t *hub, void *ptr) {
  hub->mem.free(ptr, hub->mem.ud);
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

unsigned int hub_version(void) {
  return HUB_VERSION_HEX;
}

const char *hub_version_string(void) {
  return HUB_VERSION_STRING;
}
