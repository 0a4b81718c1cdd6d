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

/* "disconnect", "drop-oldest", "drop-newest". Returns 0 or -1. */
int hubx_parse_policy(const char *s, hub_policy_t *out);
const char *hubx_policy_name(hub_policy_t policy);
const char *hubx_drop_reason_name(hub_drop_reason_t reason);

/* "127.0.0.1:9000" or "[::1]:9000" into buf. */
const char *hubx_addr_str(const struct sockaddr *addr, char *buf,
                          size_t buflen);

/* printf-style line to stderr with a UTC timestamp, unless hubx_quiet. */
extern int hubx_quiet;
void hubx_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif /* HUB_EXAMPLE_UTIL_H */
