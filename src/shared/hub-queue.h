/* The intrusive list of the core, the adapters and the programs: one list
 * for all, header only. Never installed. */
#ifndef HUB_QUEUE_H
#define HUB_QUEUE_H

#include <stddef.h>

/* An intrusive circular doubly linked list, as libuv's uv__queue: adding
 * and removing never allocate, and removal is O(1) from anywhere. */
typedef struct hub__queue {
  struct hub__queue *next;
  struct hub__queue *prev;
} hub__queue;

#define hub__container_of(ptr, type, member)                                \
  ((type *)((char *)(ptr) - offsetof(type, member)))

static inline void hub__queue_init(hub__queue *q) {
  q->next = q;
  q->prev = q;
}

static inline int hub__queue_empty(const hub__queue *q) {
  return q->next == q;
}

static inline void hub__queue_insert_tail(hub__queue *h, hub__queue *q) {
  q->next = h;
  q->prev = h->prev;
  q->prev->next = q;
  h->prev = q;
}

static inline void hub__queue_insert_head(hub__queue *h, hub__queue *q) {
  q->next = h->next;
  q->prev = h;
  q->next->prev = q;
  h->next = q;
}

static inline void hub__queue_remove(hub__queue *q) {
  q->prev->next = q->next;
  q->next->prev = q->prev;
  hub__queue_init(q);
}

/* Move every element of h to the (empty) list n, leaving h empty. */
static inline void hub__queue_move(hub__queue *h, hub__queue *n) {
  if (hub__queue_empty(h)) {
    hub__queue_init(n);
    return;
  }
  n->next = h->next;
  n->prev = h->prev;
  n->next->prev = n;
  n->prev->next = n;
  hub__queue_init(h);
}

#endif /* HUB_QUEUE_H */
