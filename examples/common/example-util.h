/* Small helpers shared by the example programs: command-line values and
 * logging. Not part of libhub's API. */
#ifndef HUB_EXAMPLE_UTIL_H
#define HUB_EXAMPLE_UTIL_H

#include <stddef.h>
#include <sys/socket.h>

#include "hub.h"

/* Parse "HOST:PORT", "[V6ADDR]:PORT" or ":PORT" (127.0.0.1). HOST must be
 * a numeric address or "localhost". Returns 0, or -1 with a message in
 * err (errlen bytes). */
int hubx_parse_listen(const char *s, struct sockaddr_storage *addr,
                      char *err, size_t errlen);

/* Parse a decimal count with an optional K, M or G suffix (powers of
 * 1024), between min and max. Returns 0 or -1. */
int hubx_parse_size(const char *s, size_t min, size_t max, size_t *out);

/* --send-buffer: the SO_SNDBUF the example servers give every
 * connection. The kernel's buffer holds what a stalled reader has not
 * taken on top of the hub's queue bound; left to autotuning, Linux lets
 * it grow to net.ipv4.tcp_wmem's maximum (4 MiB by default), so that a
 * reader that stopped is noticed only megabytes later, and a hundred of
 * them hold hundreds of megabytes of kernel memory. */
#define HUBX_SEND_BUFFER_DEFAULT (128 * 1024)
#define SEND_BUFFER_HELP                                                     \
  "  --send-buffer N        kernel send buffer of each connection\n"          \
  "                         (SO_SNDBUF; default 128K; 0: the system's\n"      \
  "                         default, which grows with the load)\n"

/* A size from 0 to 1G for --send-buffer. Returns 0 or -1. */
int hubx_parse_send_buffer(const char *s, int *out);

/* "disconnect", "drop-oldest", "drop-newest". Returns 0 or -1. */
int hubx_parse_policy(const char *s, hub_policy_t *out);
const char *hubx_policy_name(hub_policy_t policy);
const char *hubx_drop_reason_name(hub_drop_reason_t reason);

/* "127.0.0.1:9000" or "[::1]:9000" into buf; without ":PORT" for port 0
 * (an address a proxy forwarded, which has none). */
const char *hubx_addr_str(const struct sockaddr *addr, char *buf,
                          size_t buflen);

/* printf-style line to stderr with a UTC timestamp, unless hubx_quiet;
 * level "info" in JSON. */
extern int hubx_quiet;
void hubx_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The same, even with hubx_quiet: for what an operator must see whatever
 * the verbosity (a backplane that cannot connect, say); level "notice" in
 * JSON. */
void hubx_log_always(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
/* The same for something that went wrong (a connection lost): level
 * "warn" in JSON. */
void hubx_log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* --log-format: "text" (the default: "TIMESTAMP message" lines from
 * hubx_log(), "PROG: message" lines the programs print themselves) or
 * "json": one object a line, {"ts":"2026-01-02T03:04:05.678Z",
 * "level":"info","prog":"PROG","msg":"..."} (plus "client":N for a
 * message about client #N), every string valid JSON whatever the bytes
 * (hubx_json_escape()). Returns 0 or -1. */
typedef enum { HUBX_LOG_TEXT = 0, HUBX_LOG_JSON = 1 } hubx_log_format_t;
int hubx_log_parse_format(const char *s, hubx_log_format_t *out);

/* Log as `prog` in `format` from now on. In JSON, stderr itself is
 * replaced by a stream that turns every line written to it into an object
 * (without its "PROG: "; level "error" if it then starts with "cannot "),
 * so that the lines the programs print with fprintf(stderr) (the
 * "listening on" line, the statistics) are JSON too. Once, before the
 * loop runs. Returns 0, or -1 if the stream cannot be made. */
int hubx_log_start(const char *prog, hubx_log_format_t format);

/* SIGINT and SIGTERM, caught on a loop for a clean shutdown: `cb` runs on
 * the loop thread with the signal's number, once per signal received.
 * hubx_signals_close() closes both handles (idempotent; call it when
 * shutting down so that the loop can end). */
typedef void (*hubx_signal_cb)(void *data, int signum);

typedef struct {
  uv_signal_t sigint, sigterm;
  hubx_signal_cb cb;
  void *data;
  int open;
  uv_signal_t sigusr1; /* see hubx_signals_on_usr1() */
  hubx_signal_cb usr1_cb;
  void *usr1_data;
} hubx_signals_t;

/* Returns 0, or a libuv error after which hubx_signals_close() is still
 * needed. */
int hubx_signals_start(hubx_signals_t *sigs, uv_loop_t *loop,
                       hubx_signal_cb cb, void *data);
void hubx_signals_close(hubx_signals_t *sigs);
/* Also catch SIGUSR1, which does not stop anything: `cb` runs on the loop
 * thread with `data` once per SIGUSR1 received, until
 * hubx_signals_close(). After hubx_signals_start(). Returns 0 or a libuv
 * error. */
int hubx_signals_on_usr1(hubx_signals_t *sigs, hubx_signal_cb cb,
                         void *data);

/* Logging drops without flooding: drops that can come with every message
 * (evictions, refusals, conflation) are logged at once for the first event
 * of a second, then summarised once a second while they go on; drops that
 * end a client (DISCONNECT, CLOSED) are always logged at once. Messages
 * go through hubx_log(). */
#define HUBX_DROP_REASONS 8

typedef struct {
  uv_timer_t timer;
  uint64_t msgs[HUBX_DROP_REASONS];
  uint64_t bytes[HUBX_DROP_REASONS];
  uint64_t events[HUBX_DROP_REASONS];
  int closing;
  /* Every drop reported, by reason, since hubx_droplog_init(): for
   * /metrics (their sums are the hub's msgs_dropped and bytes_dropped). */
  uint64_t total_msgs[HUBX_DROP_REASONS];
  uint64_t total_bytes[HUBX_DROP_REASONS];
} hubx_droplog_t;

void hubx_droplog_init(hubx_droplog_t *dl, uv_loop_t *loop);
/* For hub_options_t.on_drop: `client_id` names the client in the log. */
void hubx_droplog_report(hubx_droplog_t *dl, unsigned long long client_id,
                         hub_drop_reason_t reason, size_t n_msgs,
                         size_t n_bytes);
/* Log what is still being counted and close the timer (idempotent). */
void hubx_droplog_close(hubx_droplog_t *dl);

#endif /* HUB_EXAMPLE_UTIL_H */
