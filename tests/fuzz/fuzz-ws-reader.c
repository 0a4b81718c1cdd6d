/* Fuzz target: the WebSocket adapter's inbound path, bytes to frames to
 * messages to close, fed in fuzzer-chosen pieces to a reader with small
 * limits. The reader must stop with a close code from the protocol's
 * set, deliver only messages within the limit (text ones valid UTF-8),
 * and hold nothing once the connection's state is released. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "ws-frame.h"
#include "ws-utf8.h"

#define MAX_MESSAGE 1024

static int on_message(void *conn, const uint8_t *p, size_t len, int bin) {
  ws_utf8_t u;
  (void)conn;
  if (len > MAX_MESSAGE)
    abort();
  if (!bin) {
    ws_utf8_init(&u);
    if (ws_utf8_feed(&u, p, len) != 0 || !ws_utf8_complete(&u))
      abort();
  }
  return 0;
}

static int on_control(void *conn, const uint8_t *p, size_t len) {
  (void)conn, (void)p;
  if (len > WS_CONTROL_MAX)
    abort();
  return 0;
}

static int on_close(void *conn, unsigned code, const uint8_t *p,
                    size_t len) {
  (void)conn, (void)p;
  if (len > WS_CONTROL_MAX - 2 ||
      (code != WS_CLOSE_NO_STATUS && !ws_close_code_valid(code)))
    abort();
  return 1; /* an adapter stops reading once the peer closes */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  ws_reader_callbacks_t cb = {on_message, on_control, on_control, on_close};
  ws_reader_stats_t st;
  ws_reader_t *reader;
  ws_rx_t *rx = NULL;
  fuzz_chunker ch;
  size_t off = 0, n;
  int r = WS_READ_OK;

  fuzz_chunker_init(&ch, &data, &size);
  if (ws_reader_new(&reader, MAX_MESSAGE, &cb, NULL) != 0)
    abort();
  while (off < size && r == WS_READ_OK) {
    n = fuzz_chunk(&ch, size - off);
    r = ws_reader_feed(reader, &rx, NULL, data + off, n);
    off += n;
  }
  if (r != WS_READ_OK && r != WS_READ_STOPPED && r != WS_CLOSE_PROTOCOL &&
      r != WS_CLOSE_INVALID_DATA && r != WS_CLOSE_TOO_BIG &&
      r != WS_CLOSE_INTERNAL)
    abort();
  if (r != WS_READ_OK && rx != NULL)
    abort(); /* released on every failure */
  ws_rx_free(reader, rx);
  ws_reader_get_stats(reader, &st);
  if (st.rx_live != 0 || st.buffered != 0)
    abort();
  ws_reader_free(reader);
  return 0;
}
