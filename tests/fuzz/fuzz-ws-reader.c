/* Fuzz target: the WebSocket adapter's inbound path, bytes to frames to
 * messages to close, fed in fuzzer-chosen pieces to a reader with small
 * limits. The reader must stop with a close code from the protocol's
 * set, deliver only messages within the limit (text ones valid UTF-8),
 * and hold nothing once the connection's state is released. The same
 * input is read a second time pausing after every message of odd length
 * (as the adapter does while the hub is congested) and feeding the rest
 * afterwards: the messages and the verdict must be the same. And all of
 * it once more on a connection with permessage-deflate, where frames
 * with RSV1 are inflated (within the same limit: a message that inflates
 * past it must stop with 1009, however small it was on the wire). */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "ws-frame.h"
#include "ws-utf8.h"

#define MAX_MESSAGE 1024

typedef struct {
  uint64_t hash; /* FNV-1a over every message's length and bytes */
  unsigned messages;
  int pausing;
} trace_t;

static void mix(trace_t *t, const uint8_t *p, size_t len) {
  size_t i;
  for (i = 0; i < len; i++)
    t->hash = (t->hash ^ p[i]) * 1099511628211ull;
}

static int on_message(void *conn, const uint8_t *p, size_t len, int bin) {
  trace_t *t = conn;
  uint8_t head[2] = {(uint8_t)len, (uint8_t)bin};
  hub_ws__utf8_t u;
  if (len > MAX_MESSAGE)
    abort();
  if (!bin) {
    hub_ws__utf8_init(&u);
    if (hub_ws__utf8_feed(&u, p, len) != 0 || !hub_ws__utf8_complete(&u))
      abort();
  }
  mix(t, head, sizeof(head));
  mix(t, p, len);
  t->messages++;
  return t->pausing && (len & 1) ? HUB_WS__READ_PAUSED : 0;
}

static int on_control(void *conn, const uint8_t *p, size_t len) {
  (void)conn, (void)p;
  if (len > HUB_WS__CONTROL_MAX)
    abort();
  return 0;
}

static int on_close(void *conn, unsigned code, const uint8_t *p,
                    size_t len) {
  (void)conn, (void)p;
  if (len > HUB_WS__CONTROL_MAX - 2 ||
      (code != HUB_WS__CLOSE_NO_STATUS && !hub_ws__close_code_valid(code)))
    abort();
  return 1; /* an adapter stops reading once the peer closes */
}

/* Read the input in the fuzzer's pieces; returns the verdict. */
static int read_all(const uint8_t *data, size_t size, fuzz_chunker *ch,
                    trace_t *t, unsigned flags) {
  hub_ws__reader_callbacks_t cb = {on_message, on_control, on_control,
                                   on_close};
  hub_ws__reader_stats_t st;
  hub_ws__reader_t *reader;
  hub_ws__rx_t *rx = NULL;
  const uint8_t *p;
  size_t off = 0, n, used;
  int r = HUB_WS__READ_OK;

  if (hub_ws__reader_new(&reader, MAX_MESSAGE, &cb, NULL) != 0)
    abort();
  while (off < size && r == HUB_WS__READ_OK) {
    n = fuzz_chunk(ch, size - off);
    p = data + off;
    off += n;
    do {
      r = hub_ws__reader_feed_some(reader, &rx, t, flags, p, n, &used);
      if (used > n || (r != HUB_WS__READ_PAUSED && used != n))
        abort();
      p += used;
      n -= used;
    } while (r == HUB_WS__READ_PAUSED); /* the rest, even if none is left */
  }
  if (r != HUB_WS__READ_OK && r != HUB_WS__READ_STOPPED &&
      r != HUB_WS__CLOSE_PROTOCOL && r != HUB_WS__CLOSE_INVALID_DATA &&
      r != HUB_WS__CLOSE_TOO_BIG && r != HUB_WS__CLOSE_INTERNAL)
    abort();
  if (r != HUB_WS__READ_OK && rx != NULL)
    abort(); /* released on every failure */
  hub_ws__rx_free(reader, rx);
  hub_ws__reader_get_stats(reader, &st);
  if (st.rx_live != 0 || st.buffered != 0 || (flags == 0 && st.inflated))
    abort();
  hub_ws__reader_free(reader);
  return r;
}

/* Read the input twice, pausing the second time: the same result. */
static void read_twice(const uint8_t *data, size_t size, unsigned flags) {
  trace_t plain = {14695981039346656037ull, 0, 0};
  trace_t paused = {14695981039346656037ull, 0, 1};
  const uint8_t *d = data;
  size_t sz = size;
  fuzz_chunker ch;
  int r1, r2;

  fuzz_chunker_init(&ch, &d, &sz);
  r1 = read_all(d, sz, &ch, &plain, flags);
  d = data;
  sz = size;
  fuzz_chunker_init(&ch, &d, &sz);
  r2 = read_all(d, sz, &ch, &paused, flags);
  if (r1 != r2 || plain.messages != paused.messages ||
      plain.hash != paused.hash)
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  read_twice(data, size, 0);
  read_twice(data, size, HUB_WS__RX_DEFLATE);
  return 0;
}
