/* A tiny HTTP/1.x request-head reader, for the example programs'
 * operations listener (--metrics-listen: /metrics and /healthz). Bytes in,
 * a verdict out: no I/O, no allocation. It reads only what such a
 * listener needs (the method and the path) and refuses anything it
 * cannot vouch for; bodies are never read. Not part of libhub's API. */
#ifndef HUBX_HTTP_H
#define HUBX_HTTP_H

#include <stddef.h>

/* The longest request head (request line and headers), in bytes. */
#define HUBX_HTTP_HEAD_MAX 4096
/* The longest method and request target, in bytes. */
#define HUBX_HTTP_METHOD_MAX 15
#define HUBX_HTTP_TARGET_MAX 255

typedef struct {
  char method[HUBX_HTTP_METHOD_MAX + 1];
  /* The target up to its query ('?'), NUL-terminated. */
  char path[HUBX_HTTP_TARGET_MAX + 1];
  size_t head_len; /* bytes of the head, its empty line included */
} hubx_http_req_t;

/* Read the request head in buf[0..len) (everything received so far).
 * Returns 0 if it is not complete yet and nothing wrong was seen so far;
 * 200 with *req filled once it is; or the status to refuse it with: 400
 * (not an HTTP/1.x request line, a header line without a name and a
 * colon, a control character or NUL), 414 (target longer than
 * HUBX_HTTP_TARGET_MAX), 431 (no end within HUBX_HTTP_HEAD_MAX bytes), 505
 * (HTTP of another version). A line may end in CRLF or LF. */
int hubx_http_parse(const char *buf, size_t len, hubx_http_req_t *req);

/* The reason phrase of the statuses this listener sends ("Not Found"). */
const char *hubx_http_reason(int status);

#endif /* HUBX_HTTP_H */
