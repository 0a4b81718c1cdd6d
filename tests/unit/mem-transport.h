/* An in-memory transport for the core's unit tests: it records what the
 * hub writes, and lets a test decide when writes and closes complete.
 * Never a stand-in for the real adapters. */
#ifndef HUB_TEST_MEM_TRANSPORT_H
#define HUB_TEST_MEM_TRANSPORT_H

#include <stddef.h>

#include "hub.h"
#include "support.h" /* count_alloc */

enum {
  MEM_WRITE_SYNC = 0,  /* write returns HUB_WRITE_DONE */
  MEM_WRITE_ASYNC = 1, /* write returns HUB_WRITE_PENDING; mem_complete() */
};

enum {
  MEM_CLOSE_SYNC = 0,  /* close calls hub_client_closed before returning */
  MEM_CLOSE_DEFER = 1, /* the test calls mem_finish_close() */
};

typedef struct mem_conn {
  hub_client_t *client;
  char *out; /* everything written, concatenated, NUL-terminated */
  size_t len, cap;
  int write_mode;
  int close_mode;
  int fail_write; /* nonzero: write returns this error */
  int writes;
  unsigned last_nbufs;
  int in_flight;
  int close_requested;
  int closed;       /* hub_client_closed was called */
  int close_status; /* from on_client_close, when the test wires it */
  struct mem_conn *fx_next; /* the fixture's list (fixture.h), if any */
} mem_conn;

/* Frames each message as "<" payload ">". Counts its frame calls. */
typedef struct mem_transport {
  hub_transport_t tp;
  int frames;
} mem_transport;

void mem_transport_init(mem_transport *mt, int framed);

/* Register a new connection with the given modes. Returns NULL if
 * hub_register failed (its error in *err if err is non-NULL). */
mem_conn *mem_connect(hub_t *hub, mem_transport *mt, int write_mode,
                      int close_mode, int *err);
void mem_conn_free(mem_conn *mc);

/* Complete the write in flight with `status`. */
void mem_complete(mem_conn *mc, int status);
/* Report the close requested by the hub as done. */
void mem_finish_close(mem_conn *mc);

#endif
