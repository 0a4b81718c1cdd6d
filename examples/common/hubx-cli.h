/* Values on the example programs' command lines: addresses, sizes,
 * durations and the queue policy, parsed and shown one way for both
 * programs, and a table-driven getopt_long() loop for their own flags
 * (hubx_cli_parse()). Not part of libhub's API. */
#ifndef HUBX_CLI_H
#define HUBX_CLI_H

#include <stddef.h>
#include <stdint.h>
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
#define HUBX_SEND_BUFFER_HELP                                                \
  "  --send-buffer N        kernel send buffer of each connection\n"          \
  "                         (SO_SNDBUF; default 128K; 0: the system's\n"      \
  "                         default, which grows with the load)\n"

/* "disconnect", "drop-oldest", "drop-newest". Returns 0 or -1. */
int hubx_parse_policy(const char *s, hub_policy_t *out);
const char *hubx_policy_name(hub_policy_t policy);

/* "127.0.0.1:9000" or "[::1]:9000" into buf; without ":PORT" for port 0
 * (an address a proxy forwarded, which has none). */
const char *hubx_addr_str(const struct sockaddr *addr, char *buf,
                          size_t buflen);

/* Seconds, possibly with decimals, into milliseconds, at most `max_ms`.
 * Returns 0 or -1. */
int hubx_parse_seconds(const char *s, uint64_t max_ms, uint64_t *ms);

/* One flag of a program's own, described in a table rather than written
 * as a case: its name, what it sets and how, and what it expects. */
typedef enum {
  HUBX_OPT_STRING,  /* const char *: the value as given */
  HUBX_OPT_SIZE,    /* size_t: hubx_parse_size(), from min to max */
  HUBX_OPT_U32,     /* uint32_t: the same */
  HUBX_OPT_INT,     /* int: the same */
  HUBX_OPT_SECONDS, /* uint64_t milliseconds: hubx_parse_seconds(), from
                       min to max milliseconds */
  HUBX_OPT_SET,     /* int, a flag without a value: set to max */
  HUBX_OPT_CALL     /* whatever `call` does with the value */
} hubx_opt_type_t;

/* HUBX_OPT_CALL: apply `arg` to `target`. Returns 0, or -1 with a message
 * in err (errlen bytes), or with err empty for the flag's `expected`. */
typedef int (*hubx_opt_fn)(void *target, const char *arg, char *err,
                           size_t errlen);

typedef struct {
  const char *name;     /* without its "--" */
  hubx_opt_type_t type;
  void *target;
  uint64_t min, max;
  /* A bad value is said "--NAME: EXPECTED, got 'VALUE'". */
  const char *expected;
  hubx_opt_fn call;     /* HUBX_OPT_CALL only */
} hubx_opt_t;

/* Apply `arg` (NULL for HUBX_OPT_SET) to what `opt` sets. Returns 0, or
 * -1 with a message in err (errlen bytes). */
int hubx_opt_apply(const hubx_opt_t *opt, const char *arg, char *err,
                   size_t errlen);

/* A command-line error: "PROG: " and the message on stderr, a hint to try
 * --help, and exit status 2. */
void hubx_bad_usage(const char *prog, const char *fmt, const char *arg)
    __attribute__((noreturn));

#endif /* HUBX_CLI_H */
