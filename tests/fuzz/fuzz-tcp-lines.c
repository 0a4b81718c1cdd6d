/* Fuzz target: the raw-TCP adapter's line splitter, fed in fuzzer-chosen
 * pieces, checked against a one-shot reference split of the same bytes:
 * same lines, same order, same verdict on an over-long line. It is fed
 * twice: straight, and stopping after every line of odd length (as the
 * adapter does while the hub is congested), the rest fed afterwards. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "hub-tcp-lines.h"

#define MAX_LINE 64

typedef struct {
  char out[1 << 16];
  size_t len;
  unsigned lines;
  int pausing;
} sink;

/* Lines are stored as length byte + bytes, so that empty lines count. */
static int collect(void *arg, const char *line, size_t len) {
  sink *s = arg;
  if (len > MAX_LINE || memchr(line, '\n', len) != NULL)
    abort();
  if (s->len + 1 + len <= sizeof(s->out)) {
    s->out[s->len++] = (char)len;
    memcpy(s->out + s->len, line, len);
    s->len += len;
  }
  s->lines++;
  return s->pausing && (len & 1);
}

/* The reference: split the whole input at '\n', drop one '\r' before it,
 * deliver a last unterminated line at the end. Returns -1 at the first
 * line over MAX_LINE (the adapter closes the connection there). */
static int reference(const uint8_t *p, size_t n, sink *s) {
  size_t start = 0, i, len;
  for (i = 0; i <= n; i++) {
    if (i < n && p[i] != '\n') {
      if (i - start > MAX_LINE + 1)
        return -1; /* too long whatever follows */
      continue;
    }
    if (i == n && start == n)
      break; /* no partial line at the end */
    len = i - start;
    if (len > 0 && p[start + len - 1] == '\r')
      len--;
    if (len > MAX_LINE)
      return -1;
    collect(s, (const char *)p + start, len);
    start = i + 1;
  }
  return 0;
}

/* Split the input in the fuzzer's pieces; returns the verdict. */
static int split(const uint8_t *data, size_t size, fuzz_chunker *ch,
                 sink *got) {
  hub_tcp_lines_t st;
  const char *p;
  size_t off = 0, n, used;
  int r = 0;

  memset(&st, 0, sizeof(st));
  while (off < size && r == 0) {
    n = fuzz_chunk(ch, size - off);
    p = (const char *)data + off;
    off += n;
    do {
      r = hub_tcp__lines_feed_some(&st, p, n, MAX_LINE, collect, got, NULL,
                                   &used);
      if (used > n)
        abort();
      p += used;
      n -= used;
    } while (r == 0 && n > 0);
  }
  if (r == 0)
    r = hub_tcp__lines_finish(&st, MAX_LINE, collect, got);
  hub_tcp__lines_reset(&st);
  if (st.partial != NULL)
    abort();
  return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static sink got, paused, want;
  const uint8_t *d = data;
  size_t sz = size;
  fuzz_chunker ch;
  int r, r2, ref;

  got.len = got.lines = 0;
  paused.len = paused.lines = 0;
  paused.pausing = 1;
  want.len = want.lines = 0;
  fuzz_chunker_init(&ch, &d, &sz);
  r = split(d, sz, &ch, &got);
  d = data;
  sz = size;
  fuzz_chunker_init(&ch, &d, &sz);
  r2 = split(d, sz, &ch, &paused);

  ref = reference(d, sz, &want);
  if ((r != 0) != (ref != 0) || r != r2)
    abort(); /* one saw an over-long line, the other did not */
  if (r == 0 && (got.lines != want.lines || got.len != want.len ||
                 memcmp(got.out, want.out, got.len) != 0))
    abort();
  if (r == 0 && (paused.lines != want.lines || paused.len != want.len ||
                 memcmp(paused.out, want.out, paused.len) != 0))
    abort();
  return 0;
}
