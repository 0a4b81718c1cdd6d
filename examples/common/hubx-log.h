/* The example programs' log lines on stderr, as text or as JSON
 * (--log-format), and the --quiet switch. Not part of libhub's API. */
#ifndef HUBX_LOG_H
#define HUBX_LOG_H

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

#endif /* HUBX_LOG_H */
