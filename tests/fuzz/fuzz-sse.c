/* Fuzz target: the server-sent events framing (src/sse). Any payload,
 * text or binary, with or without a position, must become one event that
 * a client's parser turns back into the payload: "data:" lines whose
 * joined values are the text with CRLF and CR as LF, or the base64 of the
 * bytes; an "id:" line exactly when the message has a position; no line
 * that ends anywhere but at its LF; and text that is not UTF-8 refused. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "hub-sse.h"
#include "hubx-text.h"

static uv_loop_t loop;
static hub_t *hub;

static size_t b64_decode(const char *in, size_t n, uint8_t *out) {
  static const char abc[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  uint32_t v = 0;
  size_t i, bits = 0, o = 0;

  for (i = 0; i < n && in[i] != '='; i++) {
    const char *p = memchr(abc, in[i], 64);
    if (p == NULL)
      abort();
    v = v << 6 | (uint32_t)(p - abc);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (uint8_t)(v >> bits);
    }
  }
  return o;
}

/* The text as a client reads it: CRLF and CR become LF. */
static size_t normalized(const uint8_t *p, size_t n, uint8_t *out) {
  size_t i, o = 0;

  for (i = 0; i < n; i++) {
    if (p[i] == '\r') {
      out[o++] = '\n';
      if (i + 1 < n && p[i + 1] == '\n')
        i++;
    } else {
      out[o++] = p[i];
    }
  }
  return o;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  hub_msg_t *msg;
  unsigned flags;
  char *ev, *line, *end, *nl;
  uint8_t *joined, *want;
  size_t jn = 0, wn, len;
  long n;
  int ids = 0, datas = 0;

  if (size < 1)
    return 0;
  if (hub == NULL) {
    uv_loop_init(&loop);
    if (hub_new(&hub, &loop, NULL) != 0)
      abort();
  }
  flags = data[0] & 1 ? HUB_MSG_BINARY : 0;
  if (data[0] & 2)
    flags |= HUB_MSG_CONTROL;
  if (hub_msg_new(hub, data + 1, size - 1, flags, &msg) != 0)
    abort();
  n = hub_sse_event(msg, NULL, 0);
  if (n == UV_EILSEQ) {
    if ((flags & HUB_MSG_BINARY) || hubx_utf8_valid(data + 1, size - 1))
      abort();
    hub_msg_unref(msg);
    return 0;
  }
  if (n <= 0)
    abort();
  ev = malloc((size_t)n + 1);
  joined = malloc(size * 2 + 8);
  want = malloc(size * 2 + 8);
  if (hub_sse_event(msg, ev, (size_t)n) != n)
    abort();
  ev[n] = '\0';
  /* One event: lines ending in LF, then an empty line, and nothing else. */
  if (n < 2 || ev[n - 1] != '\n' || ev[n - 2] != '\n')
    abort();
  for (line = ev, end = ev + n - 1; line < end; line = nl + 1) {
    nl = memchr(line, '\n', (size_t)(end - line));
    if (nl == NULL || memchr(line, '\r', (size_t)(nl - line)) != NULL)
      abort();
    len = (size_t)(nl - line);
    if (len >= 6 && memcmp(line, "data: ", 6) == 0) {
      if (datas++ > 0 && !(flags & HUB_MSG_BINARY))
        joined[jn++] = '\n';
      if (flags & HUB_MSG_BINARY) {
        jn += b64_decode(line + 6, len - 6, joined + jn);
      } else {
        memcpy(joined + jn, line + 6, len - 6);
        jn += len - 6;
      }
    } else if (len >= 4 && memcmp(line, "id: ", 4) == 0) {
      ids++;
    } else if (!(len == 10 && memcmp(line, "event: hub", 10) == 0) &&
               !(len == 13 && memcmp(line, "event: binary", 13) == 0)) {
      abort(); /* a line of no known field */
    }
  }
  if (ids != 0) /* no position: a message never published */
    abort();
  wn = (flags & HUB_MSG_BINARY) ? (memcpy(want, data + 1, size - 1), size - 1)
                                : normalized(data + 1, size - 1, want);
  if (jn != wn || memcmp(joined, want, jn) != 0)
    abort();
  free(ev);
  free(joined);
  free(want);
  hub_msg_unref(msg);
  return 0;
}
