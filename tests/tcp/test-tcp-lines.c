/* The line splitter of the TCP adapter, without sockets: every split of
 * the input gives the same lines, the length bound is exact, a partial
 * line is held only while pending. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "harness.h"
#include "hub-tcp-lines.h"

/* Lines collected, each as a 4-byte length and its bytes. */
typedef struct {
  char buf[1 << 16];
  size_t len;
  int n;
  int stop_after; /* ask to stop after this many lines (0: never) */
  const char *last_ptr;
} sink_t;

static int sink_fn(void *arg, const char *line, size_t len) {
  sink_t *s = arg;
  uint32_t n = (uint32_t)len;

  if (s->len + 4 + len > sizeof(s->buf))
    abort();
  memcpy(s->buf + s->len, &n, 4);
  memcpy(s->buf + s->len + 4, line, len);
  s->len += 4 + len;
  s->n++;
  s->last_ptr = line;
  return s->stop_after > 0 && s->n >= s->stop_after;
}

static void sink_add(sink_t *s, const char *line, size_t len) {
  int keep = s->stop_after;

  s->stop_after = 0;
  sink_fn(s, line, len);
  s->stop_after = keep;
}

/* The splitter's state fed by hand, and the lines it gave. */
typedef struct {
  hub_tcp_lines_t st;
  sink_t got;
} feeder_t;

/* Feed len bytes of `in` to f's splitter: hub_tcp__lines_feed()'s result. */
static int feed(feeder_t *f, const void *in, size_t len, size_t max_line) {
  return hub_tcp__lines_feed(&f->st, in, len, max_line, sink_fn, &f->got);
}

/* Feed `in` cut at the offsets in cuts[0..ncuts) and finish. */
static int feed_cut(sink_t *s, const char *in, size_t len, const size_t *cuts,
                    int ncuts, size_t max_line) {
  hub_tcp_lines_t st;
  size_t from = 0, to;
  int i, r;

  memset(&st, 0, sizeof(st));
  for (i = 0; i <= ncuts; i++) {
    to = i < ncuts ? cuts[i] : len;
    r = hub_tcp__lines_feed(&st, in + from, to - from, max_line, sink_fn, s);
    if (r != 0) {
      if (st.partial != NULL)
        return -100; /* an error must reset the state */
      return r;
    }
    from = to;
  }
  r = hub_tcp__lines_finish(&st, max_line, sink_fn, s);
  if (st.partial != NULL)
    return -101;
  return r;
}

/* Everything the splitter must handle, and what it must produce. */
static const char input[] =
    "hello\n"
    "\n"
    "crlf line\r\n"
    "\r\n"
    "bin\0ary \xff\xfe\x01 bytes\n"
    "a lone \r inside\n"
    "two\r\r\n"
    "last without newline\r";

static void expected(sink_t *s) {
  memset(s, 0, sizeof(*s));
  sink_add(s, "hello", 5);
  sink_add(s, "", 0);
  sink_add(s, "crlf line", 9);
  sink_add(s, "", 0);
  sink_add(s, "bin\0ary \xff\xfe\x01 bytes", 17);
  sink_add(s, "a lone \r inside", 15);
  sink_add(s, "two\r", 4);
  sink_add(s, "last without newline", 20);
}

TEST(lines_same_result_for_every_split) {
  static sink_t want, got;
  size_t len = sizeof(input) - 1, cuts[2], i, j;

  expected(&want);
  memset(&got, 0, sizeof(got));
  ASSERT_EQ(feed_cut(&got, input, len, NULL, 0, 64), 0);
  ASSERT_EQ(got.n, want.n);
  ASSERT(got.len == want.len && memcmp(got.buf, want.buf, got.len) == 0);

  for (i = 0; i <= len; i++) {
    for (j = i; j <= len; j++) {
      cuts[0] = i;
      cuts[1] = j;
      memset(&got, 0, sizeof(got));
      ASSERT_EQ(feed_cut(&got, input, len, cuts, 2, 64), 0);
      ASSERT_EQ(got.n, want.n);
      ASSERT(got.len == want.len && memcmp(got.buf, want.buf, got.len) == 0);
    }
  }
}

TEST(lines_byte_by_byte) {
  static sink_t want, got;
  size_t len = sizeof(input) - 1, cuts[sizeof(input)], i;

  for (i = 0; i < len; i++)
    cuts[i] = i;
  expected(&want);
  memset(&got, 0, sizeof(got));
  ASSERT_EQ(feed_cut(&got, input, len, cuts, (int)len, 64), 0);
  ASSERT(got.len == want.len && memcmp(got.buf, want.buf, got.len) == 0);
}

TEST(lines_complete_lines_are_not_copied) {
  static feeder_t f;
  const char in[] = "one\ntwo\nthr";

  memset(&f, 0, sizeof(f));
  ASSERT_EQ(feed(&f, in, 8, 64), 0);
  ASSERT_EQ(f.got.n, 2);
  ASSERT(f.got.last_ptr == in + 4); /* straight from the input */
  ASSERT(f.st.partial == NULL);     /* nothing held between lines */

  ASSERT_EQ(feed(&f, in + 8, 3, 64), 0);
  ASSERT(f.st.partial != NULL);
  ASSERT_EQ(hub_tcp__lines_len(&f.st), 3);
  ASSERT(f.st.partial->cap >= 3 && f.st.partial->cap <= 128);
  ASSERT_EQ(feed(&f, "ee\n", 3, 64), 0);
  ASSERT_EQ(f.got.n, 3);
  ASSERT(f.st.partial == NULL); /* freed once consumed */
  ASSERT_EQ(hub_tcp__lines_held(&f.st), 0);
  ASSERT_EQ(hub_tcp__lines_finish(&f.st, 64, sink_fn, &f.got), 0);
  ASSERT_EQ(f.got.n, 3);
}

TEST(lines_length_bound_is_exact) {
  static char big[200];
  static sink_t got;
  size_t cut[1];
  int k;

  memset(big, 'x', sizeof(big));
  /* Exactly max_line bytes, with "\n", "\r\n" or end of input. */
  for (k = 0; k < 3; k++) {
    memcpy(big + 100, k == 0 ? "\n" : "\r\n", k == 0 ? 1 : 2);
    memset(&got, 0, sizeof(got));
    ASSERT_EQ(feed_cut(&got, big, k == 2 ? 100 : 100 + 1 + (k == 1), NULL,
                       0, 100), 0);
    ASSERT_EQ(got.n, 1);
    ASSERT_EQ(got.len, 4 + 100);
    memset(big + 100, 'x', 2);
  }
  /* One byte more, whole or cut anywhere, in every form. */
  memcpy(big + 101, "\n", 1);
  for (cut[0] = 0; cut[0] <= 102; cut[0]++) {
    memset(&got, 0, sizeof(got));
    ASSERT_EQ(feed_cut(&got, big, 102, cut, 1, 100), UV_EMSGSIZE);
    ASSERT_EQ(got.n, 0);
  }
  memcpy(big + 101, "\r\n", 2);
  memset(&got, 0, sizeof(got));
  ASSERT_EQ(feed_cut(&got, big, 103, NULL, 0, 100), UV_EMSGSIZE);
  memset(big + 101, 'x', 2);
  memset(&got, 0, sizeof(got));
  ASSERT_EQ(feed_cut(&got, big, 101, NULL, 0, 100), UV_EMSGSIZE);
  /* A line ending in "\r" at end of input may be max_line + 1 bytes. */
  big[100] = '\r';
  memset(&got, 0, sizeof(got));
  ASSERT_EQ(feed_cut(&got, big, 101, NULL, 0, 100), 0);
  ASSERT_EQ(got.n, 1);
  ASSERT_EQ(got.len, 4 + 100);
}

TEST(lines_overlong_partial_fails_without_waiting_for_newline) {
  static char big[4096];
  static feeder_t f;

  memset(big, 'y', sizeof(big));
  memset(&f, 0, sizeof(f));
  ASSERT_EQ(feed(&f, "ok\n", 3, 1000), 0);
  ASSERT_EQ(feed(&f, big, 1000, 1000), 0);
  ASSERT_EQ(hub_tcp__lines_len(&f.st), 1000);
  ASSERT(f.st.partial->cap <= 1001); /* no more than the longest legal line */
  ASSERT_EQ(feed(&f, big, 1, 1000), 0);
  ASSERT_EQ(feed(&f, big, 1, 1000), UV_EMSGSIZE);
  ASSERT(f.st.partial == NULL && hub_tcp__lines_held(&f.st) == 0);
  ASSERT_EQ(f.got.n, 1);
  /* Straight from one chunk, too. */
  ASSERT_EQ(feed(&f, big, sizeof(big), 1000), UV_EMSGSIZE);
  ASSERT(f.st.partial == NULL);
}

TEST(lines_callback_can_stop) {
  static feeder_t f;
  const char in[] = "a\nb\nc\nd";

  memset(&f, 0, sizeof(f));
  f.got.stop_after = 2;
  ASSERT_EQ(feed(&f, in, sizeof(in) - 1, 10), 0);
  ASSERT_EQ(f.got.n, 2);
  ASSERT(f.st.partial == NULL); /* the rest was discarded, not kept */
  hub_tcp__lines_reset(&f.st);
}

/* A slow, obviously right splitter to compare against. */
static int reference(const char *in, size_t len, size_t max_line,
                     sink_t *s) {
  size_t start = 0, i, n;

  for (i = 0; i <= len; i++) {
    if (i < len && in[i] != '\n')
      continue;
    if (i == len && start == len)
      break;
    n = i - start;
    if (n > 0 && in[start + n - 1] == '\r')
      n--;
    if (n > max_line)
      return UV_EMSGSIZE;
    sink_add(s, in + start, n);
    start = i + 1;
  }
  return 0;
}

TEST(lines_match_a_reference_on_random_input) {
  static char in[2048];
  static sink_t want, got;
  static const char alphabet[] = "ab\r\n\n\0\xff";
  size_t cuts[16], len, max_line;
  uint32_t seed = 12345;
  int iter, i, ncuts, rw, rg;

#define NEXT() (seed = seed * 1103515245u + 12345u, (seed >> 8) & 0xffff)
  for (iter = 0; iter < 3000; iter++) {
    len = NEXT() % sizeof(in);
    for (i = 0; i < (int)len; i++)
      in[i] = alphabet[NEXT() % (sizeof(alphabet) - 1)];
    if (NEXT() % 4 == 0) /* long runs without newlines */
      memset(in, 'z', len / 2);
    max_line = 1 + NEXT() % 300;
    ncuts = (int)(NEXT() % 16);
    for (i = 0; i < ncuts; i++)
      cuts[i] = len == 0 ? 0 : NEXT() % (len + 1);
    for (i = 1; i < ncuts; i++) { /* sort the cuts */
      size_t v = cuts[i];
      int j = i;
      while (j > 0 && cuts[j - 1] > v) {
        cuts[j] = cuts[j - 1];
        j--;
      }
      cuts[j] = v;
    }
    memset(&want, 0, sizeof(want));
    memset(&got, 0, sizeof(got));
    rw = reference(in, len, max_line, &want);
    rg = feed_cut(&got, in, len, cuts, ncuts, max_line);
    ASSERT_EQ(rg, rw);
    /* On success, the same lines; on failure, those before the bad one. */
    ASSERT_EQ(got.n, want.n);
    ASSERT(got.len == want.len && memcmp(got.buf, want.buf, got.len) == 0);
  }
#undef NEXT
}

int main(int argc, char **argv) {
  return RUN_TESTS(argc, argv);
}
