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
 *   fixture.c what the tcp and ws fixtures share: the loop, the hub, the
 *             server side in connection order, the client sockets
 *   fields.c  a struct's integer fields checked at once (ASSERT_FIELDS)
 *   transport.c
 *             a transport that discards everything, for a client of
 *             another transport than the one under test
 *   listen-tcp.c, listen-ws.c (servers.h)
 *             the adapters' servers started with a fixture's callbacks,
 *             built for the tests that link those adapters
 *
 * Everything is Linux and single-threaded unless it says otherwise. */
#ifndef HUB_TEST_SUPPORT_H
#define HUB_TEST_SUPPORT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/resource.h>
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

/* Lower this process's soft RLIMIT_NOFILE so that exactly `spare` more
 * descriptors fit above the lowest free one; the limit before in *old.
 * Returns 0 or -1. */
int ts_limit_fds(int spare, struct rlimit *old);

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

/* Default hub options whose allocator is `ca`, freshly initialised to
 * fail every call from its fail_at-th on, once the test sets fail_at. */
void count_alloc_hub_options(hub_options_t *ho, count_alloc *ca);

/* A hub allocator that counts the heap the hub holds as glibc does (each
 * block's usable size and one header word), for the memory tests. */
extern size_t ts_heap_bytes;
extern const hub_allocator_t ts_heap_allocator;

/* The heap in use, as glibc counts it. */
size_t ts_heap_in_use(void);

/* glibc's chunk for an allocation: its usable size and one header word
 * (0 for NULL). */
size_t ts_heap_chunk(void *p);

/* Defined when built with AddressSanitizer, whose allocator glibc's
 * statistics do not see. */
#if defined(__SANITIZE_ADDRESS__)
#define TS_UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TS_UNDER_ASAN 1
#endif
#endif

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
 * An adapter's fixture (fixture.c)
 * ------------------------------------------------------------------------ */

/* What the tcp and ws fixtures share: a hub on a private loop, the port
 * the adapter's server listens on (127.0.0.1, chosen by the kernel), the
 * clients as the server saw them, in connection order (client data =
 * index + 1), and plain client sockets driven from the test's thread.
 *
 * The test never blocks: ts_step() runs one non-blocking loop iteration,
 * reads whatever the clients have received, and waits at most a few
 * milliseconds for the loop's next event. */
#define TS_MAX_CLIENTS 256

/* A client socket and everything it received. */
typedef struct {
  int fd;
  int connected;
  int paused; /* do not read (a stalled consumer) */
  int eof;    /* 1 after end of file, or a negative errno */
  char *in;   /* everything received, NUL-terminated */
  size_t len, cap;
  size_t pos; /* how far the fixture has parsed `in` */
} ts_client_t;

#define TS_FIXTURE_FIELDS                                                    \
  uv_loop_t loop;                                                            \
  hub_t *hub;                                                                \
  int port;                                                                  \
  hub_client_t *clients[TS_MAX_CLIENTS];                                     \
  int nclients;                                                              \
  int closed[TS_MAX_CLIENTS];                                                \
  int status[TS_MAX_CLIENTS]; /* on_client_close's */                        \
  int nclosed;                                                               \
  uint64_t dropped[16]; /* messages, per hub_drop_reason_t */                \
  int srv_closed, hub_closed;                                                \
  ts_client_t tc[TS_MAX_CLIENTS];                                            \
  int ntc;

typedef struct ts_fixture {
  TS_FIXTURE_FIELDS
} ts_fixture_t;

/* An adapter's fixture begins with TS_FIXTURE: its test reads the shared
 * fields by name (fx->nclients), and the support functions take
 * &fx->base, the same bytes (a union's common initial sequence). */
#define TS_FIXTURE                                                           \
  union {                                                                    \
    ts_fixture_t base;                                                       \
    struct {                                                                 \
      TS_FIXTURE_FIELDS                                                      \
    };                                                                       \
  }

/* A hub on `loop` with `opts` (NULL: defaults) whose client-close and drop
 * callbacks and data are replaced by the fixture's. Returns hub_new()'s
 * result. */
int ts_hub_new(hub_t **hub, uv_loop_t *loop, const hub_options_t *opts,
               hub_client_close_cb on_close, hub_drop_cb on_drop,
               void *data);

/* Options `o` as a test gave them (`given`), or the defaults from
 * init(&o) when it gave NULL. */
#define TS_OPTIONS(o, init, given)                                           \
  ((given) != NULL ? (void)((o) = *(given)) : init(&(o)))

/* Zero an adapter's fixture (`size` bytes, beginning with TS_FIXTURE),
 * then make its loop and its hub, with `opts` (NULL: defaults) whose
 * client-close and drop callbacks and data are the fixture's (`on_close`
 * NULL: ts_on_client_close). SIGPIPE is ignored: writes to a reset
 * connection must fail, not kill the test. Returns 0 or an error. */
int ts_fixture_start(void *fixture, size_t size, const hub_options_t *opts,
                     hub_client_close_cb on_close);

/* The hub's callbacks: the close recorded (aborts if a client closes
 * twice or was never registered), drops counted. */
void ts_on_client_close(hub_t *hub, hub_client_t *c, int status);
void ts_on_drop(hub_t *hub, hub_client_t *c, hub_drop_reason_t reason,
                size_t n, size_t bytes);

/* The adapter registered c: returns its index. */
int ts_client_added(ts_fixture_t *f, hub_client_t *c);

/* The index of a registered client. */
int ts_client_index(hub_client_t *c);

/* For the adapter's server close callback: counts it and closes the hub;
 * aborts if the hub refuses. */
void ts_server_closed(ts_fixture_t *f);

/* A hub close callback that counts it. */
void ts_hub_closed(hub_t *hub);

/* The hub's statistics. */
hub_stats_t ts_hub_stats(hub_t *hub);

/* After a server's start and getsockname() returned `r`: the port of its
 * bound address into *port. Returns 0, `r` if not 0, or UV_EINVAL. */
int ts_listening(int r, const struct sockaddr_storage *bound, int *port);

/* The same for a bound address of `family` (AF_INET or AF_INET6). */
int ts_listening_on(int r, const struct sockaddr_storage *bound, int family,
                    int *port);

/* 127.0.0.1, port 0: the kernel picks the port. */
struct sockaddr *ts_any_port(struct sockaddr_in *addr);

/* `ip` (IPv4 or IPv6), port 0, into *addr. Returns 0 or UV_EINVAL. */
int ts_ip_any_port(const char *ip, struct sockaddr_storage *addr);

/* One step: a non-blocking loop iteration, every client's reads, a wait
 * of at most 2 ms. */
void ts_step(ts_fixture_t *f);

/* Step until `cond` holds or the deadline passes; check `cond` after. */
#define UNTIL(fx, cond) TS_UNTIL_MS(ts_step(&(fx)->base), cond, TS_DEADLINE_MS)

/* A new client socket (SO_RCVBUF `rcvbuf` if > 0), not connected yet:
 * its index, or -1. */
int ts_client_socket(ts_fixture_t *f, int rcvbuf);

/* A client socket bound to `from` (an IPv4 or IPv6 address), connected to
 * `port` on the loopback address of the same family: its index, or -1. */
int ts_client_from(ts_fixture_t *f, const char *from, int port);

/* Connect client i to the server; the kernel completes the connection
 * from its backlog, whether or not the server has accepted yet. Returns 0
 * or -1. */
int ts_client_connect(ts_fixture_t *f, int i);

/* Send everything from client i, stepping while its socket is full.
 * Returns 0 or -1. */
int ts_client_send(ts_fixture_t *f, int i, const void *data, size_t len);

/* Read what a connected client has received, unless it is paused. */
void ts_client_read(ts_client_t *t);

/* Close client i's socket (what it received stays). */
void ts_client_close(ts_client_t *t);

/* Close it with a reset (SO_LINGER 0) rather than a FIN, as a crashed or
 * hostile peer would. */
void ts_client_reset(ts_client_t *t);

/* After the adapter's server close was requested (if it was made): run
 * the loop dry, free the clients' buffers, close the loop. Returns
 * uv_loop_close()'s result, or -1 if a close callback did not run exactly
 * once. The caller closed the client sockets it wanted closed first. */
int ts_fixture_finish(ts_fixture_t *f);

/* ------------------------------------------------------------------------
 * A transport that discards (transport.c)
 * ------------------------------------------------------------------------ */

/* hub_transport_t.write: every write completes at once, its bytes
 * discarded. */
int ts_null_write(const hub_transport_t *tp, hub_client_t *client,
                  void *conn, uv_buf_t *bufs, unsigned nbufs);

/* hub_transport_t.close: the close is finished at once. */
void ts_null_close(const hub_transport_t *tp, hub_client_t *client,
                   void *conn);

/* ------------------------------------------------------------------------
 * Expected fields (fields.c)
 * ------------------------------------------------------------------------ */

/* The number of elements of an array (not a pointer). */
#define TS_COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* One integer field of a struct (of `of` bytes) and the value expected in
 * it. Build it with TS_FIELD. */
typedef struct ts_field_s {
  const char *name;
  size_t of;
  size_t offset;
  size_t size;
  long long want;
} ts_field_t;

#define TS_FIELD(type, field, value)                                         \
  {#field, sizeof(type), offsetof(type, field),                              \
   sizeof(((type *)0)->field), (long long)(value)}

/* The fields of hub_stats_t and hub_client_stats_t, the ones tests check
 * most. */
#define TS_STAT(field, value) TS_FIELD(hub_stats_t, field, value)
#define TS_CSTAT(field, value) TS_FIELD(hub_client_stats_t, field, value)

/* Print one line on stderr for each of the n fields of *s (`size` bytes,
 * named `what`) that does not hold its expected value, compared as
 * ASSERT_EQ does for values the field can hold. Returns how many differ. */
int ts_fields_differ(const char *what, const void *s, size_t size,
                     const ts_field_t *fields, size_t n);

/* Set field f of *s (`size` bytes) to its value, cut to the field's width
 * as an assignment would: one case of a table of options. */
void ts_fields_set(void *s, size_t size, const ts_field_t *f);

/* In a test (harness.h): fail, after naming every field that differs,
 * unless each field listed holds its value. `s` points to a `type`. */
#define ASSERT_FIELDS(type, s, ...)                                          \
  do {                                                                       \
    const type *ts_s_ = (s);                                                 \
    const ts_field_t ts_fields_[] = {__VA_ARGS__};                           \
    if (ts_fields_differ(#s, ts_s_, sizeof(type), ts_fields_,                \
                         sizeof(ts_fields_) / sizeof(ts_fields_[0])) != 0)   \
      HARNESS_FAIL("%s: fields differ (above)", #s);                         \
  } while (0)

#define ASSERT_STATS(s, ...) ASSERT_FIELDS(hub_stats_t, s, __VA_ARGS__)
#define ASSERT_CSTATS(s, ...) ASSERT_FIELDS(hub_client_stats_t, s, __VA_ARGS__)

#endif /* HUB_TEST_SUPPORT_H */
