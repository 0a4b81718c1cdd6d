/* The allocator the WebSocket protocol code takes for what it allocates
 * per connection, so that an adapter can make it the hub's. */
#ifndef WS_ALLOC_H
#define WS_ALLOC_H

#include <stddef.h>

/* Functions that behave like malloc(), realloc() and free(), with `ud`.
 * Where a function takes a `const ws_alloc_t *`, NULL means libc's. */
typedef struct {
  void *(*malloc)(size_t size, void *ud);
  void *(*realloc)(void *ptr, size_t size, void *ud);
  void (*free)(void *ptr, void *ud);
  void *ud;
} ws_alloc_t;

#endif /* WS_ALLOC_H */
