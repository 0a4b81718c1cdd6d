/* Test support shared by libhub's C tests: one static library, built once
 * and linked into every C test (tests/support/), as libuv's test runner
 * and nghttp2's test helper are. Each suite's fixture is a thin layer on
 * top of it.
 *
 *   clock.c   the monotonic clock, sleeping, stepping a loop with a bound
 *   sock.c    plain client sockets on 127.0.0.1, reading into growable
 *             buffers, sending everything
 *   alloc.c   counting (and failing) hub allocators
 *   wire.c    the WebSocket wire as a client speaks it: requests, masked
 *             frames out, server frames and HTTP heads in
 *   server.c  the server side of a fixture: a hub with the fixture's
 *             callbacks, a listening address, clients in connection order
 *
 * Everything is Linux and single-threaded unless it says otherwise. */
#ifndef HUB_TEST_SUPPORT_H
#define HUB_TEST_SUPPORT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "hub.h"

/* ------------------------------------------------------------------------
 * Clock and stepping (clock.c)
 * ------------------------------------------------------------------------ */

/* Long enough for valgrind on a busy machine; only a hung test waits it.
 * Deadlines only stop a broken test: nothing asserts on speed. */
#define TS_DEADLINE_MS 60000

/* Milliseconds on the monotonic clock. */
uint64_t ts_now_ms(void);

/* Sleep `ms` milliseconds, resumed after signals. */
void ts_sleep_ms(unsigned ms);

/* Wait at most `max_ms` (less when a timer of the loop is due sooner) for
 * the loop's backend to have an event. Never runs the loop: a fixture's
 * step is uv_run(UV_RUN_NOWAIT), its own reads, then this. */
void ts_loop_wait(uv_loop_t *loop, int max_ms);

/* Run `step` until `cond` holds or `ms` pass; check `cond` after. */
#define TS_UNTIL_MS(step, cond, ms)                                          \
  for (uint64_t ts_deadline_ = ts_now_ms() + (ms);                            \
       !(cond) && ts_now_ms() < ts_deadline_; step) {                        \
  }

/* Run `step` for `ms` milliseconds whatever happens. */
#define TS_RUN_FOR(step, ms)                                                 \
  for (uint64_t ts_end_ = ts_now_ms() + (ms); ts_now_ms() < ts_end_; step) { \
  }

/* ------------------------------------------------------------------------
 * Client sockets (sock.c)
 * ------------------------------------------------------------------------ */

enum {
  TS_NONBLOCK = 1, /* SOCK_NONBLOCK, and TCP_NODELAY: pieces go as sent */
};

/* A close-on-exec TCP socket, not connected yet, with SO_RCVBUF `rcvbuf`
 * if > 0 (set before connect(), so that the window is negotiated for
 * it). Returns the descriptor or -1. */
int ts_socket(int rcvbuf, int flags);

/* Connect (or, non-blocking, start connecting) `fd` to 127.0.0.1:port.
 * Returns 0 or -1. */
int ts_connect_loopback(int fd, int port);

/* The state of a non-blocking connect(): 1 connected, 0 still connecting,
 * -1 failed. */
int ts_connected(int fd);

/* One recv() of what `fd` holds, appended to the growable buffer *in
 * (*len used of *cap; allocated only once data arrives, and kept
 * NUL-terminated so that text can be searched). Returns the bytes read, 0
 * at end of stream, TS_AGAIN when nothing is there now, or -errno. */
#define TS_AGAIN (-11000)
ssize_t ts_recv_append(int fd, char **in, size_t *len, size_t *cap);

/* Everything `fd` holds now, appended as above. Returns 0 (more may
 * come), 1 at end of stream, or -errno. */
int ts_recv_all(int fd, char **in, size_t *len, size_t *cap);

/* Send as much of *data as the socket takes now, advancing *data and
 * *len. Returns 1 once all is sent, 0 when the socket is full (or still
 * connecting), -1 on error (a closed descriptor included). */
int ts_send_some(int fd, const void **data, size_t *len);

/* Grow *buf (of *cap bytes) to hold `need`; aborts when out of memory. */
void ts_grow(char **buf, size_t *cap, size_t need);

/* ------------------------------------------------------------------------
 * Allocators (alloc.c)
 * ------------------------------------------------------------------------ */

/* A hub allocator over malloc() that counts, and fails on request: call
 * number `fail_at` (1-based; 0 never), or with `from` set every call from
 * it on. The counters are updated atomically: hub_post() allocates on
 * whatever thread calls it. */
typedef struct count_alloc {
  hub_allocator_t a;
  long allocs, frees, live; /* blocks allocated, freed, and still held */
  long calls;               /* malloc and realloc calls */
  long fail_at;
  int from;
  long failed; /* failures injected */
} count_alloc;

void count_alloc_init(count_alloc *ca);

/* A hub allocator that counts the heap the hub holds as glibc does (each
 * block's usable size and one header word), for the memory tests. */
extern size_t ts_heap_bytes;
extern const hub_allocator_t ts_heap_allocator;

/* The heap in use, as glibc counts it. */
size_t ts_heap_in_use(void);

/* ------------------------------------------------------------------------
 * The WebSocket wire, client side (wire.c)
 * ------------------------------------------------------------------------ */

/* An upgrade request for `path` with header lines `extra` (each ending in
 * CRLF). */
#define TS_WS_REQUEST(path, extra)                                           \
  "GET " path " HTTP/1.1\r\n"                                                \
  "Host: 127.0.0.1\r\n"                                                      \
  "Upgrade: websocket\r\n"                                                   \
  "Connection: Upgrade\r\n"                                                  \
  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"                          \
  "Sec-WebSocket-Version: 13\r\n" extra "\r\n"

/* A masked client frame into out, which must hold len + 14 bytes.
 * Returns its length. */
size_t ts_ws_frame(uint8_t *out, int fin, unsigned op, const void *payload,
                   size_t len);

/* A frame a client received. */
typedef struct {
  int fin, op;
  int rsv; /* RSV1-3 as bits 2-0: 4 is a compressed message */
  const uint8_t *data;
  size_t len;
} ts_frame_t;

/* The server frame at the start of p[0..avail): 1 and the frame (*used:
 * its length), 0 if incomplete, -1 if it is not a valid server frame
 * (masked, say). */
int ts_ws_parse(const uint8_t *p, size_t avail, ts_frame_t *f, size_t *used);

/* The length of the HTTP head at the start of in[0..len) with its blank
 * line, or 0 while incomplete. */
size_t ts_http_head_len(const char *in, size_t len);

/* The status of a complete HTTP/1.1 response head there: 0 while
 * incomplete, -1 if it is not one. */
int ts_http_status(const char *in, size_t len);

/* ------------------------------------------------------------------------
 * The server side of a fixture (server.c)
 * ------------------------------------------------------------------------ */

/* A hub on `loop` with `opts` (NULL: defaults) whose client-close and drop
 * callbacks and data are replaced by the fixture's. Returns hub_new()'s
 * result. */
int ts_hub_new(hub_t **hub, uv_loop_t *loop, const hub_options_t *opts,
               hub_client_close_cb on_close, hub_drop_cb on_drop,
               void *data);

/* 127.0.0.1, port 0: the kernel picks the port. */
struct sockaddr *ts_any_port(struct sockaddr_in *addr);

/* The port of a bound IPv4 address, or UV_EINVAL if none. */
int ts_port_of(const struct sockaddr_storage *bound);

/* A client the server registered: recorded at clients[*n] (aborts when
 * `max` are there), its client data the index + 1. Returns the index. */
int ts_client_add(hub_client_t **clients, int *n, int max, hub_client_t *c);

/* The index ts_client_add() gave c. */
int ts_client_index(hub_client_t *c);

/* A client closed: marks closed[index] and counts it in *nclosed; aborts
 * if it closed twice or was never registered (index >= max). Returns the
 * index. */
int ts_client_closed(int *closed, int *nclosed, int max, hub_client_t *c);

#endif /* HUB_TEST_SUPPORT_H */
