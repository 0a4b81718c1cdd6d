/* hub-sse: server-sent events as a libhub transport. See hub-sse.h. */
#include "hub-sse.h"

#include <stdio.h>
#include <string.h>

#include "hubx-id.h"
#include "hubx-text.h"

static const char hub_sse__b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* The payload's lines, as the standard splits a stream: at CRLF, CR or
 * LF. Calls `line` for each (with `arg`); returns how many. */
static size_t hub_sse__lines(const char *p, size_t n,
                             void (*line)(const char *, size_t, void *),
                             void *arg) {
  size_t i, start = 0, count = 0;

  for (i = 0; i <= n; i++) {
    if (i < n && p[i] != '\r' && p[i] != '\n')
      continue;
    if (line != NULL)
      line(p + start, i - start, arg);
    count++;
    if (i < n && p[i] == '\r' && i + 1 < n && p[i + 1] == '\n')
      i++;
    start = i + 1;
  }
  return count;
}

typedef struct {
  char *out;
  size_t len, cap;
} hub_sse__buf;

static void hub_sse__put(hub_sse__buf *b, const char *s, size_t n) {
  if (b->len + n <= b->cap)
    memcpy(b->out + b->len, s, n);
  b->len += n;
}

static void hub_sse__data_line(const char *s, size_t n, void *arg) {
  hub_sse__put(arg, "data: ", 6);
  hub_sse__put(arg, s, n);
  hub_sse__put(arg, "\n", 1);
}

static void hub_sse__base64(hub_sse__buf *b, const uint8_t *p, size_t n) {
  char q[4];
  size_t i;
  uint32_t v;

  for (i = 0; i < n; i += 3) {
    v = (uint32_t)p[i] << 16;
    if (i + 1 < n)
      v |= (uint32_t)p[i + 1] << 8;
    if (i + 2 < n)
      v |= p[i + 2];
    q[0] = hub_sse__b64[v >> 18 & 63];
    q[1] = hub_sse__b64[v >> 12 & 63];
    q[2] = i + 1 < n ? hub_sse__b64[v >> 6 & 63] : '=';
    q[3] = i + 2 < n ? hub_sse__b64[v & 63] : '=';
    hub_sse__put(b, q, 4);
  }
}

long hub_sse_event(const hub_msg_t *msg, char *out, size_t cap) {
  const char *data = hub_msg_data(msg);
  size_t len = hub_msg_len(msg), idlen;
  unsigned flags = hub_msg_flags(msg);
  hub_sse__buf b = {out, 0, cap};
  char id[HUBX_ID_MAX + 1];

  if (flags & HUB_MSG_CONTROL) {
    hub_sse__put(&b, "event: hub\n", 11);
  } else {
    idlen = hubx_msg_id(msg, id);
    if (idlen > 0) {
      hub_sse__put(&b, "id: ", 4);
      hub_sse__put(&b, id, idlen);
      hub_sse__put(&b, "\n", 1);
    }
  }
  if (flags & HUB_MSG_BINARY) {
    if (!(flags & HUB_MSG_CONTROL))
      hub_sse__put(&b, "event: binary\n", 14);
    hub_sse__put(&b, "data: ", 6);
    hub_sse__base64(&b, (const uint8_t *)data, len);
    hub_sse__put(&b, "\n", 1);
  } else {
    if (!hubx_utf8_valid(data, len))
      return UV_EILSEQ;
    hub_sse__lines(data, len, hub_sse__data_line, &b);
  }
  hub_sse__put(&b, "\n", 1);
  return (long)b.len;
}

/* Once per message, for every SSE client: the whole event in one buffer
 * that replaces the payload. */
static int hub_sse__frame(const hub_transport_t *tp, const hub_msg_t *msg,
                          hub_frame_t *frame) {
  long n;
  char *body;

  (void)tp;
  n = hub_sse_event(msg, NULL, 0);
  if (n < 0)
    return (int)n;
  body = hub_frame_alloc(msg, (size_t)n);
  if (body == NULL)
    return UV_ENOMEM;
  hub_sse_event(msg, body, (size_t)n);
  frame->body = body;
  frame->body_len = (size_t)n;
  return 0;
}

static hub_transport_t hub_sse__transport;

const hub_transport_t *hub_sse_transport(void) {
  /* The WebSocket adapter's connections, written and closed by it. */
  if (hub_sse__transport.write == NULL) {
    hub_sse__transport = *hub_ws_transport();
    hub_sse__transport.name = "sse";
    hub_sse__transport.frame = hub_sse__frame;
  }
  return &hub_sse__transport;
}

int hub_sse_accept(hub_ws_request_t *req, unsigned retry_ms) {
  char first[32] = "";

  if (retry_ms > 0)
    snprintf(first, sizeof(first), "retry: %u\n\n", retry_ms);
  return hub_ws_request_stream(req, HUB_SSE_HEADERS, first,
                               hub_sse_transport());
}
