/* Reading client frames from scripted bytes, fed whole and split at every
 * offset, and building server frames; the incremental UTF-8 validator. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <zlib.h>

#include "harness.h"
#include "ws-deflate.h"
#include "ws-frame.h"
#include "ws-utf8.h"

/* ------------------------------------------------------------------------
 * UTF-8
 * ------------------------------------------------------------------------ */

/* Validate `s` whole and split at every offset; all must agree. Returns
 * 1 valid, 0 invalid, -1 disagreement. */
static int utf8_verdict(const char *s, size_t len) {
  const uint8_t *p = (const uint8_t *)s;
  hub_ws__utf8_t u;
  size_t cut;
  int whole, v;

  hub_ws__utf8_init(&u);
  whole = hub_ws__utf8_feed(&u, p, len) == 0 && hub_ws__utf8_complete(&u);
  for (cut = 0; cut <= len; cut++) {
    hub_ws__utf8_init(&u);
    v = hub_ws__utf8_feed(&u, p, cut) == 0 &&
        hub_ws__utf8_feed(&u, p + cut, len - cut) == 0 &&
        hub_ws__utf8_complete(&u);
    if (v != whole)
      return -1;
  }
  return whole;
}

#define VALID(s) ASSERT_EQ(utf8_verdict(s, sizeof(s) - 1), 1)
#define INVALID(s) ASSERT_EQ(utf8_verdict(s, sizeof(s) - 1), 0)

TEST(utf8_accepts_valid_text_split_anywhere) {
  VALID("");
  VALID("hello, plain ASCII text that is longer than eight bytes");
  VALID("\xc2\x80 \xdf\xbf");                 /* 2-byte bounds */
  VALID("\xe0\xa0\x80 \xef\xbf\xbf");         /* 3-byte bounds */
  VALID("\xed\x9f\xbf \xee\x80\x80");         /* around surrogates */
  VALID("\xf0\x90\x80\x80 \xf4\x8f\xbf\xbf"); /* 4-byte bounds */
  VALID("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5"); /* Greek */
  VALID("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 and more ascii!");
}

TEST(utf8_rejects_invalid_text_split_anywhere) {
  INVALID("\x80");                 /* stray continuation */
  INVALID("\xbf");
  INVALID("\xc0\xaf");             /* overlong '/' */
  INVALID("\xc1\xbf");
  INVALID("\xe0\x80\xaf");         /* overlong 3-byte */
  INVALID("\xe0\x9f\xbf");
  INVALID("\xf0\x80\x80\xaf");     /* overlong 4-byte */
  INVALID("\xf0\x8f\xbf\xbf");
  INVALID("\xed\xa0\x80");         /* U+D800 surrogate */
  INVALID("\xed\xbf\xbf");         /* U+DFFF */
  INVALID("\xf4\x90\x80\x80");     /* U+110000 */
  INVALID("\xf5\x80\x80\x80");
  INVALID("\xff");
  INVALID("\xfe");
  INVALID("\xc3");                 /* truncated */
  INVALID("\xe2\x82");
  INVALID("\xf0\x9f\x98");
  INVALID("\xe2\x82\x28");         /* bad continuation */
  INVALID("abcdefgh\xe2\x28\xa1"); /* after the ASCII fast path */
  INVALID("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80" "edited");
}

/* ------------------------------------------------------------------------
 * A scripted client
 * ------------------------------------------------------------------------ */

static const uint8_t mask_key[4] = {0x37, 0xfa, 0x21, 0x3d};

/* Append one client frame to buf: fin, rsv bits, opcode, masked or not,
 * with `len` payload bytes (len_form forces the 7/16/64-bit length form
 * when nonzero: 1, 2 or 3). Returns the new length. */
static size_t put_frame_ex(uint8_t *buf, size_t at, int fin, int rsv,
                           unsigned op, int masked, const void *payload,
                           size_t len, int len_form) {
  const uint8_t *p = payload;
  uint8_t *o = buf + at;
  size_t i, n = 0;

  o[n++] = (uint8_t)((fin ? 0x80 : 0) | (rsv << 4) | op);
  if (len_form == 0)
    len_form = len < 126 ? 1 : len <= 0xFFFF ? 2 : 3;
  if (len_form == 1) {
    o[n++] = (uint8_t)((masked ? 0x80 : 0) | len);
  } else if (len_form == 2) {
    o[n++] = (uint8_t)((masked ? 0x80 : 0) | 126);
    o[n++] = (uint8_t)(len >> 8);
    o[n++] = (uint8_t)len;
  } else {
    o[n++] = (uint8_t)((masked ? 0x80 : 0) | 127);
    for (i = 0; i < 8; i++)
      o[n++] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
  }
  if (masked) {
    memcpy(o + n, mask_key, 4);
    n += 4;
  }
  for (i = 0; i < len; i++)
    o[n + i] = (uint8_t)(p[i] ^ (masked ? mask_key[i % 4] : 0));
  return at + n + len;
}

static size_t put_frame(uint8_t *buf, size_t at, int fin, unsigned op,
                        const void *payload, size_t len) {
  return put_frame_ex(buf, at, fin, 0, op, 1, payload, len, 0);
}

/* Events, written as text: "T:payload|", "B:hex|", "PING:..|", ... */
static char events[1 << 16];
static size_t nevents;
static int stop_after_message;
/* The flags every feed of run_cut() passes (HUB_WS__RX_DEFLATE). */
static unsigned feed_flags;

static void log_event(const char *tag, const uint8_t *p, size_t n, int hexit) {
  size_t i;

  nevents += (size_t)snprintf(events + nevents, sizeof(events) - nevents,
                              "%s:", tag);
  for (i = 0; i < n && nevents + 4 < sizeof(events); i++) {
    if (hexit)
      nevents += (size_t)snprintf(events + nevents, sizeof(events) - nevents,
                                  "%02x", p[i]);
    else
      events[nevents++] = (char)p[i];
  }
  if (nevents + 2 < sizeof(events))
    events[nevents++] = '|';
  events[nevents] = '\0';
}

static int on_message(void *conn, const uint8_t *p, size_t n, int binary) {
  char tag[32];

  (void)conn;
  if (n > 64) {
    snprintf(tag, sizeof(tag), "%s%zu", binary ? "BIGB" : "BIGT", n);
    log_event(tag, p, 0, 0);
  } else {
    log_event(binary ? "B" : "T", p, n, binary);
  }
  return stop_after_message;
}

static int on_ping(void *conn, const uint8_t *p, size_t n) {
  (void)conn;
  log_event("PING", p, n, 0);
  return 0;
}

static int on_pong(void *conn, const uint8_t *p, size_t n) {
  (void)conn;
  log_event("PONG", p, n, 0);
  return 0;
}

static int on_close(void *conn, unsigned code, const uint8_t *p, size_t n) {
  char tag[32];

  (void)conn;
  snprintf(tag, sizeof(tag), "CLOSE%u", code);
  log_event(tag, p, n, 0);
  return 1; /* as the adapter does: nothing is read after a close */
}

static const hub_ws__reader_callbacks_t callbacks = {on_message, on_ping,
                                                     on_pong, on_close};

/* A counting allocator, to see what the reader allocates. */
static size_t alloc_live, alloc_peak, alloc_largest;

static void count(size_t add, size_t sub) {
  alloc_live += add;
  alloc_live -= sub;
  if (alloc_live > alloc_peak)
    alloc_peak = alloc_live;
  if (add > alloc_largest)
    alloc_largest = add;
}

/* Each block carries its size in front. */
static void *c_malloc(size_t size, void *ud) {
  size_t *p = malloc(sizeof(size_t) + size);

  (void)ud;
  if (p == NULL)
    return NULL;
  *p = size;
  count(size, 0);
  return p + 1;
}

static void *c_realloc(void *ptr, size_t size, void *ud) {
  size_t *p = ptr != NULL ? (size_t *)ptr - 1 : NULL, old = p ? *p : 0;

  (void)ud;
  p = realloc(p, sizeof(size_t) + size);
  if (p == NULL)
    return NULL;
  *p = size;
  count(size, old);
  return p + 1;
}

static void c_free(void *ptr, void *ud) {
  size_t *p = ptr != NULL ? (size_t *)ptr - 1 : NULL;

  (void)ud;
  if (p == NULL)
    return;
  count(0, *p);
  free(p);
}

static const hub_allocator_t counting = {c_malloc, c_realloc, c_free, NULL};

static hub_ws__reader_t *new_reader(size_t max_message) {
  hub_ws__reader_t *r = NULL;

  alloc_live = alloc_peak = alloc_largest = 0;
  if (hub_ws__reader_new(&r, max_message, &callbacks, &counting) != 0)
    return NULL;
  return r;
}

/* Feed `len` bytes cut at `cuts` into a fresh connection. Returns the
 * result; the events are in `events`. */
static int run_cut(hub_ws__reader_t *r, const uint8_t *b, size_t len,
                   const size_t *cuts, size_t ncuts) {
  hub_ws__rx_t *rx = NULL;
  size_t start = 0, end, i;
  int res = HUB_WS__READ_OK;

  nevents = 0;
  events[0] = '\0';
  for (i = 0; i <= ncuts && res == HUB_WS__READ_OK; i++) {
    end = i < ncuts ? cuts[i] : len;
    size_t used;

    res = hub_ws__reader_feed_some(r, &rx, NULL, feed_flags, b + start,
                                   end - start, &used);
    if (res != HUB_WS__READ_OK && rx != NULL)
      return -1; /* the state must be released after a failure */
    start = end;
  }
  hub_ws__rx_free(r, rx);
  return res;
}

/* Feed whole, then split at every offset: the result and the events
 * must always be the same. Returns the result (-1 on disagreement) and
 * leaves the events of the whole feed in `expect_events`. */
static char expect_events[sizeof(events)];

static int script(size_t max_message, const uint8_t *b, size_t len) {
  hub_ws__reader_t *r = new_reader(max_message);
  size_t cut;
  int whole, res;

  if (r == NULL)
    return -2;
  whole = run_cut(r, b, len, NULL, 0);
  strcpy(expect_events, events);
  for (cut = 0; cut <= len; cut++) {
    res = run_cut(r, b, len, &cut, 1);
    if (res != whole || strcmp(events, expect_events) != 0) {
      fprintf(stderr, "cut %zu: %d \"%s\" vs %d \"%s\"\n", cut, res, events,
              whole, expect_events);
      whole = -1;
      break;
    }
  }
  hub_ws__reader_free(r);
  if (alloc_live != 0)
    return -3; /* a leak */
  return whole;
}

TEST(messages_control_frames_and_fragments_split_anywhere) {
  static uint8_t b[4096];
  uint8_t bin[3] = {0x00, 0xff, 0x80};
  size_t n = 0;

  n = put_frame(b, n, 1, HUB_WS__OP_TEXT, "hello", 5);
  n = put_frame(b, n, 1, HUB_WS__OP_BINARY, bin, 3);
  n = put_frame(b, n, 1, HUB_WS__OP_TEXT, "", 0);
  /* A fragmented text message with a ping and a pong between fragments
   * and a character split across fragments. */
  n = put_frame(b, n, 0, HUB_WS__OP_TEXT, "frag-\xe2\x82", 7);
  n = put_frame(b, n, 1, HUB_WS__OP_PING, "are you there", 13);
  n = put_frame(b, n, 0, HUB_WS__OP_CONT, "\xac-", 2);
  n = put_frame(b, n, 1, HUB_WS__OP_PONG, "", 0);
  n = put_frame(b, n, 0, HUB_WS__OP_CONT, "", 0);
  n = put_frame(b, n, 1, HUB_WS__OP_CONT, "end", 3);
  n = put_frame(b, n, 0, HUB_WS__OP_BINARY, bin, 1);
  n = put_frame(b, n, 1, HUB_WS__OP_CONT, bin + 1, 2);
  n = put_frame(b, n, 1, HUB_WS__OP_CLOSE,
                "\x03\xe8"
                "bye",
                5);
  /* Ignored: nothing is read after a close. */
  n = put_frame(b, n, 1, HUB_WS__OP_TEXT, "late", 4);
  ASSERT_EQ(script(1 << 20, b, n), HUB_WS__READ_STOPPED);
  ASSERT_STR_EQ(expect_events,
                "T:hello|B:00ff80|T:|PING:are you there|PONG:|"
                "T:frag-\xe2\x82\xac-end|B:00ff80|CLOSE1000:bye|");
}

TEST(long_lengths_and_large_messages_split_anywhere) {
  static uint8_t b[200000], payload[70000];
  size_t n = 0, i;

  for (i = 0; i < sizeof(payload); i++)
    payload[i] = (uint8_t)('a' + i % 26);
  n = put_frame(b, n, 1, HUB_WS__OP_TEXT, payload, 126); /* 16-bit length */
  n = put_frame(b, n, 1, HUB_WS__OP_BINARY, payload, 65535);
  n = put_frame(b, n, 1, HUB_WS__OP_TEXT, payload, 65536); /* 64-bit length */
  n = put_frame(b, n, 0, HUB_WS__OP_TEXT, payload, 5000);
  n = put_frame(b, n, 1, HUB_WS__OP_CONT, payload, 3);
  hub_ws__reader_t *r = new_reader(1 << 20);
  ASSERT(r != NULL);
  ASSERT_EQ(run_cut(r, b, n, NULL, 0), HUB_WS__READ_OK);
  ASSERT_STR_EQ(events, "BIGT126:|BIGB65535:|BIGT65536:|BIGT5003:|");
  /* Every 97th offset: the whole sweep would be slow under valgrind. */
  for (i = 0; i <= n; i += 97) {
    ASSERT_EQ(run_cut(r, b, n, &i, 1), HUB_WS__READ_OK);
    ASSERT_STR_EQ(events, "BIGT126:|BIGB65535:|BIGT65536:|BIGT5003:|");
  }
  hub_ws__reader_free(r);
  ASSERT_EQ(alloc_live, 0);
}

TEST(payload_bytes_arrive_intact) {
  static uint8_t b[10000], payload[3000], got[3000];
  hub_ws__reader_t *r = new_reader(1 << 20);
  hub_ws__rx_t *rx = NULL;
  size_t n, i;

  (void)got;
  for (i = 0; i < sizeof(payload); i++)
    payload[i] = (uint8_t)(i * 131 + 7);
  n = put_frame(b, 0, 0, HUB_WS__OP_BINARY, payload, 1000);
  n = put_frame(b, n, 1, HUB_WS__OP_CONT, payload + 1000, 2000);
  nevents = 0;
  for (i = 0; i < n; i += 7)
    ASSERT_EQ(hub_ws__reader_feed(r, &rx, NULL, b + i, n - i < 7 ? n - i : 7),
              HUB_WS__READ_OK);
  ASSERT(rx == NULL);
  ASSERT_STR_EQ(events, "BIGB3000:|");
  hub_ws__reader_free(r);
}

static int verdict1(const uint8_t *b, size_t n) {
  return script(1 << 20, b, n);
}

/* put_frame_ex's arguments for one frame. */
typedef struct {
  int fin, rsv;
  unsigned op;
  int masked;
  const char *payload;
  size_t len;
  int len_form;
} frame_spec;

#define MASKED 1
/* 200 bytes: longer than a control frame may be. */
#define X200                                                                 \
  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" \
  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" \
  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"

/* Up to two frames fed in one go, and the reader's verdict on them. */
typedef struct {
  const char *what;
  int verdict;
  frame_spec frame[2]; /* the second only if it has a payload */
} frame_case;

/* Feed each case (split at every offset, by script()); 0 when all got
 * their verdict, else the number of the first that did not. */
static int verdicts(const frame_case *cases, size_t ncases) {
  uint8_t b[512];
  size_t i, k, n;

  for (i = 0; i < ncases; i++) {
    for (n = 0, k = 0; k < 2; k++) {
      const frame_spec *f = &cases[i].frame[k];
      if (f->payload == NULL)
        break;
      n = put_frame_ex(b, n, f->fin, f->rsv, f->op, f->masked, f->payload,
                       f->len, f->len_form);
    }
    if (verdict1(b, n) != cases[i].verdict) {
      fprintf(stderr, "case %zu (%s): verdict %d\n", i + 1, cases[i].what,
              verdict1(b, n));
      return (int)i + 1;
    }
  }
  return 0;
}

TEST(protocol_errors_close_with_1002) {
  static const frame_case cases[] = {
    {"an unmasked client frame", HUB_WS__CLOSE_PROTOCOL,
     {{1, 0, HUB_WS__OP_TEXT, 0, "hi", 2, 0}}},
    {"an unmasked ping", HUB_WS__CLOSE_PROTOCOL,
     {{1, 0, HUB_WS__OP_PING, 0, "", 0, 0}}},
    {"a continuation with no message open", HUB_WS__CLOSE_PROTOCOL,
     {{1, 0, HUB_WS__OP_CONT, MASKED, "x", 1, 0}}},
    {"a text message inside a message", HUB_WS__CLOSE_PROTOCOL,
     {{0, 0, HUB_WS__OP_TEXT, MASKED, "a", 1, 0},
      {1, 0, HUB_WS__OP_TEXT, MASKED, "b", 1, 0}}},
    {"a binary message inside a message", HUB_WS__CLOSE_PROTOCOL,
     {{0, 0, HUB_WS__OP_BINARY, MASKED, "a", 1, 0},
      {1, 0, HUB_WS__OP_BINARY, MASKED, "b", 1, 0}}},
    {"a ping longer than 125", HUB_WS__CLOSE_PROTOCOL,
     {{1, 0, HUB_WS__OP_PING, MASKED, X200, 126, 0}}},
    {"a close longer than 125", HUB_WS__CLOSE_PROTOCOL,
     {{1, 0, HUB_WS__OP_CLOSE, MASKED, X200, 126, 0}}},
    {"a fragmented ping", HUB_WS__CLOSE_PROTOCOL,
     {{0, 0, HUB_WS__OP_PING, MASKED, "x", 1, 0}}},
    {"a fragmented pong", HUB_WS__CLOSE_PROTOCOL,
     {{0, 0, HUB_WS__OP_PONG, MASKED, "", 0, 0}}},
    {"a 16-bit length that fits in 7 bits", HUB_WS__CLOSE_PROTOCOL,
     {{1, 0, HUB_WS__OP_TEXT, MASKED, "hi", 2, 2}}},
    {"a 64-bit length that fits in 16 bits", HUB_WS__CLOSE_PROTOCOL,
     {{1, 0, HUB_WS__OP_TEXT, MASKED, X200, 200, 3}}},
    /* The error stops reading: a valid message after it is not seen. */
    {"an RSV bit, then a valid message", HUB_WS__CLOSE_PROTOCOL,
     {{1, 1, HUB_WS__OP_TEXT, MASKED, "hi", 2, 0},
      {1, 0, HUB_WS__OP_TEXT, MASKED, "after", 5, 0}}},
  };
  uint8_t b[64];
  unsigned op;
  size_t n;
  int rsv;

  /* Each RSV bit. */
  for (rsv = 1; rsv <= 4; rsv <<= 1) {
    n = put_frame_ex(b, 0, 1, rsv, HUB_WS__OP_TEXT, 1, "hi", 2, 0);
    ASSERT_EQ(verdict1(b, n), HUB_WS__CLOSE_PROTOCOL);
  }
  /* Every reserved opcode. */
  for (op = 3; op <= 0xF; op++) {
    if (op >= HUB_WS__OP_CLOSE && op <= HUB_WS__OP_PONG)
      continue;
    n = put_frame(b, 0, 1, op, "x", 1);
    ASSERT_EQ(verdict1(b, n), HUB_WS__CLOSE_PROTOCOL);
  }
  ASSERT_EQ(verdicts(cases, sizeof(cases) / sizeof(cases[0])), 0);
  ASSERT_STR_EQ(expect_events, "");
}

TEST(close_frames_are_checked) {
  static const unsigned bad[] = {0, 999, 1004, 1005, 1006, 1015, 1016, 2000,
                                 2999, 5000, 65535};
  static const unsigned good[] = {1000, 1001, 1002, 1003, 1007, 1008, 1009,
                                  1010, 1011, 1012, 1013, 1014, 3000, 4999};
  uint8_t b[256], pl[130];
  char want[64];
  size_t n, i;

  n = put_frame(b, 0, 1, HUB_WS__OP_CLOSE, "", 0);
  ASSERT_EQ(verdict1(b, n), HUB_WS__READ_STOPPED);
  ASSERT_STR_EQ(expect_events, "CLOSE1005:|");
  n = put_frame(b, 0, 1, HUB_WS__OP_CLOSE, "\x03", 1);
  ASSERT_EQ(verdict1(b, n), HUB_WS__CLOSE_PROTOCOL);
  for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    pl[0] = (uint8_t)(bad[i] >> 8);
    pl[1] = (uint8_t)bad[i];
    n = put_frame(b, 0, 1, HUB_WS__OP_CLOSE, pl, 2);
    ASSERT_EQ(verdict1(b, n), HUB_WS__CLOSE_PROTOCOL);
    ASSERT(!hub_ws__close_code_valid(bad[i]));
  }
  for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
    pl[0] = (uint8_t)(good[i] >> 8);
    pl[1] = (uint8_t)good[i];
    memcpy(pl + 2, "\xc3\xa9t\xc3\xa9", 5);
    n = put_frame(b, 0, 1, HUB_WS__OP_CLOSE, pl, 7);
    ASSERT_EQ(verdict1(b, n), HUB_WS__READ_STOPPED);
    snprintf(want, sizeof(want), "CLOSE%u:\xc3\xa9t\xc3\xa9|", good[i]);
    ASSERT_STR_EQ(expect_events, want);
  }
  /* A reason that is not UTF-8, or cut inside a character. */
  n = put_frame(b, 0, 1, HUB_WS__OP_CLOSE, "\x03\xe8\xff", 3);
  ASSERT_EQ(verdict1(b, n), HUB_WS__CLOSE_INVALID_DATA);
  n = put_frame(b, 0, 1, HUB_WS__OP_CLOSE, "\x03\xe8ok\xc3", 5);
  ASSERT_EQ(verdict1(b, n), HUB_WS__CLOSE_INVALID_DATA);
}

TEST(invalid_utf8_closes_with_1007_even_across_fragments) {
  static const frame_case cases[] = {
    {"a byte never in UTF-8", HUB_WS__CLOSE_INVALID_DATA,
     {{1, 0, HUB_WS__OP_TEXT, MASKED, "bad \xff byte", 10, 0}}},
    {"a surrogate", HUB_WS__CLOSE_INVALID_DATA,
     {{1, 0, HUB_WS__OP_TEXT, MASKED, "\xed\xa0\x80", 3, 0}}},
    {"a character that starts in one fragment, wrong in the next",
     HUB_WS__CLOSE_INVALID_DATA,
     {{0, 0, HUB_WS__OP_TEXT, MASKED, "ok \xe2\x82", 5, 0},
      {1, 0, HUB_WS__OP_CONT, MASKED, "\x28", 1, 0}}},
    {"a message that ends inside a character", HUB_WS__CLOSE_INVALID_DATA,
     {{0, 0, HUB_WS__OP_TEXT, MASKED, "ok \xe2", 4, 0},
      {1, 0, HUB_WS__OP_CONT, MASKED, "\x82", 1, 0}}},
    {"detected at the bad fragment, before the message is complete",
     HUB_WS__CLOSE_INVALID_DATA,
     {{0, 0, HUB_WS__OP_TEXT, MASKED, "\xc0\xaf", 2, 0}}},
    {"binary messages are not text: any bytes go", HUB_WS__READ_OK,
     {{1, 0, HUB_WS__OP_BINARY, MASKED, "\xff\xfe", 2, 0}}},
  };

  ASSERT_EQ(verdicts(cases, sizeof(cases) / sizeof(cases[0])), 0);
  ASSERT_STR_EQ(expect_events, "B:fffe|");
}

TEST(too_big_closes_with_1009_without_allocating_it) {
  static uint8_t b[4096], payload[1100];
  hub_ws__reader_stats_t st;
  hub_ws__reader_t *r;
  hub_ws__rx_t *rx = NULL;
  size_t n;

  memset(payload, 'x', sizeof(payload));
  /* Exactly the limit passes, one more byte does not: in one frame or
   * summed over fragments. */
  n = put_frame(b, 0, 1, HUB_WS__OP_TEXT, payload, 1000);
  ASSERT_EQ(script(1000, b, n), HUB_WS__READ_OK);
  n = put_frame(b, 0, 1, HUB_WS__OP_TEXT, payload, 1001);
  ASSERT_EQ(script(1000, b, n), HUB_WS__CLOSE_TOO_BIG);
  n = put_frame(b, 0, 0, HUB_WS__OP_BINARY, payload, 600);
  n = put_frame(b, n, 1, HUB_WS__OP_CONT, payload, 400);
  ASSERT_EQ(script(1000, b, n), HUB_WS__READ_OK);
  n = put_frame(b, 0, 0, HUB_WS__OP_BINARY, payload, 600);
  n = put_frame(b, n, 1, HUB_WS__OP_CONT, payload, 401);
  ASSERT_EQ(script(1000, b, n), HUB_WS__CLOSE_TOO_BIG);
  ASSERT_STR_EQ(expect_events, "");

  /* A header announcing 2^40 bytes, followed by a few: refused at once,
   * and nothing near that size is ever allocated. */
  r = new_reader(1 << 20);
  n = put_frame_ex(b, 0, 1, 0, HUB_WS__OP_BINARY, 1, payload, 16, 3);
  b[2] = 0x00, b[3] = 0x00, b[4] = 0x01; /* length 2^40 */
  memset(b + 5, 0, 5);
  ASSERT_EQ(hub_ws__reader_feed(r, &rx, NULL, b, n), HUB_WS__CLOSE_TOO_BIG);
  ASSERT(rx == NULL);
  ASSERT(alloc_largest < 4096);

  /* A frame announcing 1 MiB that has sent 100 bytes holds buffers for
   * what came, not for what was announced. */
  n = put_frame_ex(b, 0, 1, 0, HUB_WS__OP_BINARY, 1, payload, 100, 3);
  b[7] = 0x10, b[8] = 0x00, b[9] = 0x00; /* length 1 MiB */
  ASSERT_EQ(hub_ws__reader_feed(r, &rx, NULL, b, n), HUB_WS__READ_OK);
  ASSERT(rx != NULL);
  hub_ws__reader_get_stats(r, &st);
  ASSERT(st.buffered <= 256);
  ASSERT(alloc_peak < 4096);
  hub_ws__rx_free(r, rx);
  hub_ws__reader_free(r);
  ASSERT_EQ(alloc_live, 0);
}

TEST(state_exists_only_while_a_frame_or_message_is_open) {
  static uint8_t b[1 << 16];
  hub_ws__rx_t *rx[100];
  hub_ws__reader_stats_t st;
  hub_ws__reader_t *r = new_reader(1 << 20);
  size_t n, i, half;

  n = put_frame(b, 0, 1, HUB_WS__OP_TEXT, "complete", 8);
  for (i = 0; i < 100; i++) {
    rx[i] = NULL;
    ASSERT_EQ(hub_ws__reader_feed(r, &rx[i], NULL, b, n), HUB_WS__READ_OK);
    ASSERT(rx[i] == NULL);
  }
  hub_ws__reader_get_stats(r, &st);
  ASSERT_EQ(st.rx_live, 0);
  ASSERT_EQ(st.contexts_lent, 0);
  ASSERT_EQ(st.contexts_live, 1); /* one context served them all */
  ASSERT_EQ(st.buffered, 0);

  /* 100 connections each stopped inside a frame: each holds a context
   * until its frame completes, then none does. */
  memset(b + 100, 'y', 3000);
  n = put_frame(b, 0, 1, HUB_WS__OP_BINARY, b + 100, 3000);
  half = n / 2;
  for (i = 0; i < 100; i++)
    ASSERT_EQ(hub_ws__reader_feed(r, &rx[i], NULL, b, half), HUB_WS__READ_OK);
  hub_ws__reader_get_stats(r, &st);
  ASSERT_EQ(st.rx_live, 100);
  ASSERT_EQ(st.contexts_lent, 100);
  for (i = 0; i < 100; i++) {
    ASSERT_EQ(hub_ws__reader_feed(r, &rx[i], NULL, b + half, n - half),
              HUB_WS__READ_OK);
    ASSERT(rx[i] == NULL);
  }
  hub_ws__reader_get_stats(r, &st);
  ASSERT_EQ(st.rx_live, 0);
  ASSERT_EQ(st.contexts_lent, 0);
  ASSERT(st.contexts_live <= 4);
  ASSERT_EQ(st.buffered, 0);

  /* Between the fragments of a message, no context, only the bytes. */
  n = put_frame(b, 0, 0, HUB_WS__OP_TEXT, "part one ", 9);
  rx[0] = NULL;
  ASSERT_EQ(hub_ws__reader_feed(r, &rx[0], NULL, b, n), HUB_WS__READ_OK);
  ASSERT(rx[0] != NULL);
  hub_ws__reader_get_stats(r, &st);
  ASSERT_EQ(st.contexts_lent, 0);
  ASSERT(st.buffered > 0);
  n = put_frame(b, 0, 1, HUB_WS__OP_CONT, "and two", 7);
  nevents = 0;
  ASSERT_EQ(hub_ws__reader_feed(r, &rx[0], NULL, b, n), HUB_WS__READ_OK);
  ASSERT(rx[0] == NULL);
  ASSERT_STR_EQ(events, "T:part one and two|");
  hub_ws__reader_free(r);
  ASSERT_EQ(alloc_live, 0);
}

TEST(a_callback_can_stop_reading) {
  uint8_t b[256];
  hub_ws__reader_t *r = new_reader(1 << 20);
  hub_ws__rx_t *rx = NULL;
  size_t n;

  n = put_frame(b, 0, 1, HUB_WS__OP_TEXT, "one", 3);
  n = put_frame(b, n, 0, HUB_WS__OP_TEXT, "two", 3);
  stop_after_message = 1;
  nevents = 0;
  ASSERT_EQ(hub_ws__reader_feed(r, &rx, NULL, b, n), HUB_WS__READ_STOPPED);
  stop_after_message = 0;
  ASSERT(rx == NULL);
  ASSERT_STR_EQ(events, "T:one|");
  hub_ws__reader_free(r);
  ASSERT_EQ(alloc_live, 0);
}

/* A small deterministic generator, so that a failure can be replayed. */
static uint32_t rng_state = 12345;

static uint32_t rng(void) {
  rng_state = rng_state * 1103515245u + 12345u;
  return rng_state >> 8;
}

/* Random frame sequences (messages in fragments, control frames between
 * them, closes), a third of them with one bit flipped: fed whole and in
 * random pieces they must give the same events and result, and never
 * crash or leak. */
TEST(random_streams_give_the_same_events_whatever_the_cuts) {
  static uint8_t b[8192], payload[600];
  static char whole_events[sizeof(events)];
  hub_ws__reader_t *r = new_reader(1000);
  size_t n, cuts[8], i, k, len;
  int iter, whole, res, outcomes[3] = {0, 0, 0};
  unsigned op, choice, nfrag, f;

  ASSERT(r != NULL);
  for (iter = 0; iter < 3000; iter++) {
    n = 0;
    for (k = 0; k < 1 + rng() % 6 && n < sizeof(b) - 2000; k++) {
      choice = rng() % 10;
      if (choice < 6) {
        /* A message in 1 to 3 fragments, maybe with a ping between. */
        op = rng() % 2 ? HUB_WS__OP_TEXT : HUB_WS__OP_BINARY;
        nfrag = 1 + rng() % 3;
        for (f = 0; f < nfrag; f++) {
          len = rng() % 3 == 0 ? rng() % 500 : rng() % 20;
          for (i = 0; i < len; i++)
            payload[i] = op == HUB_WS__OP_BINARY ? (uint8_t)rng()
                                                 : (uint8_t)('a' + rng() % 26);
          n = put_frame(b, n, f == nfrag - 1, f == 0 ? op : HUB_WS__OP_CONT,
                        payload, len);
          if (f < nfrag - 1 && rng() % 3 == 0)
            n = put_frame(b, n, 1, HUB_WS__OP_PING, "p", 1);
        }
      } else if (choice < 9) {
        n = put_frame(b, n, 1, rng() % 2 ? HUB_WS__OP_PING : HUB_WS__OP_PONG,
                      payload, rng() % 126);
      } else {
        n = put_frame(b, n, 1, HUB_WS__OP_CLOSE,
                      "\x03\xe8"
                      "bye",
                      5);
      }
    }
    if (rng() % 3 == 0)
      b[rng() % n] ^= (uint8_t)(1u << (rng() % 8));
    whole = run_cut(r, b, n, NULL, 0);
    strcpy(whole_events, events);
    for (k = 0; k < 8; k++)
      cuts[k] = rng() % (n + 1);
    for (k = 1; k < 8; k++) /* sort the cuts */
      for (i = k; i > 0 && cuts[i - 1] > cuts[i]; i--) {
        len = cuts[i];
        cuts[i] = cuts[i - 1];
        cuts[i - 1] = len;
      }
    res = run_cut(r, b, n, cuts, 8);
    ASSERT_EQ(res, whole);
    ASSERT_STR_EQ(events, whole_events);
    outcomes[whole == HUB_WS__READ_OK        ? 0
             : whole == HUB_WS__READ_STOPPED ? 1
                                             : 2]++;
  }
  /* The mix covers clean streams, closes and failures alike. */
  ASSERT(outcomes[0] > 500 && outcomes[1] > 100 && outcomes[2] > 50);
  hub_ws__reader_free(r);
  ASSERT_EQ(alloc_live, 0);
}

/* ------------------------------------------------------------------------
 * permessage-deflate
 * ------------------------------------------------------------------------ */

/* What a client's compressor makes of `len` bytes: raw deflate, flushed
 * and its 00 00 FF FF removed (RFC 7692 §7.2.1), or with `final` ending
 * in a final block instead. Returns its length. */
static size_t zcompress(const void *in, size_t len, uint8_t *out, size_t cap,
                        int final) {
  z_stream z;
  size_t n;

  memset(&z, 0, sizeof(z));
  if (deflateInit2(&z, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    return 0;
  z.next_in = (Bytef *)(uintptr_t)in;
  z.avail_in = (uInt)len;
  z.next_out = out;
  z.avail_out = (uInt)cap;
  (void)deflate(&z, final ? Z_FINISH : Z_SYNC_FLUSH);
  n = cap - z.avail_out;
  deflateEnd(&z);
  return final ? n : n - 4;
}

/* A compressed message in one frame (RSV1). */
static size_t put_z(uint8_t *b, size_t at, unsigned op, const void *p,
                    size_t len) {
  static uint8_t z[1 << 16];
  size_t n = zcompress(p, len, z, sizeof(z), 0);

  return put_frame_ex(b, at, 1, 4, op, 1, z, n, 0);
}

static int zverdict(size_t max_message, const uint8_t *b, size_t n) {
  int r;

  feed_flags = HUB_WS__RX_DEFLATE;
  r = script(max_message, b, n);
  feed_flags = 0;
  return r;
}

TEST(deflate_messages_split_anywhere) {
  static uint8_t b[1 << 17], z[4096], big[100000];
  static const char json[] =
      "{\"type\":\"msg\",\"room\":\"lobby\",\"text\":\"caf\xc3\xa9 caf\xc3\xa9\"}";
  size_t n = 0, zn, i;

  n = put_z(b, n, HUB_WS__OP_TEXT, "hello", 5);
  n = put_z(b, n, HUB_WS__OP_BINARY, "\x00\xff\x80", 3);
  n = put_frame(b, n, 1, HUB_WS__OP_TEXT, "plain", 5); /* RSV1 clear */
  /* One compressed message in three fragments, RSV1 on the first only,
   * a ping between them. */
  zn = zcompress(json, sizeof(json) - 1, z, sizeof(z), 0);
  n = put_frame_ex(b, n, 0, 4, HUB_WS__OP_TEXT, 1, z, 3, 0);
  n = put_frame(b, n, 1, HUB_WS__OP_PING, "p", 1);
  n = put_frame(b, n, 0, HUB_WS__OP_CONT, z + 3, 4);
  n = put_frame(b, n, 1, HUB_WS__OP_CONT, z + 7, zn - 7);
  /* Empty messages: no payload at all, one 0x00, and what a flushed
   * deflate of nothing gives. */
  n = put_frame_ex(b, n, 1, 4, HUB_WS__OP_TEXT, 1, "", 0, 0);
  n = put_frame_ex(b, n, 1, 4, HUB_WS__OP_TEXT, 1, "\x00", 1, 0);
  n = put_z(b, n, HUB_WS__OP_BINARY, "", 0);
  /* A message that ends with a final block. */
  zn = zcompress("final", 5, z, sizeof(z), 1);
  n = put_frame_ex(b, n, 1, 4, HUB_WS__OP_TEXT, 1, z, zn, 0);
  ASSERT_EQ(zverdict(1 << 20, b, n), HUB_WS__READ_OK);
  ASSERT_STR_EQ(expect_events,
                "T:hello|B:00ff80|T:plain|PING:p|T:{\"type\":\"msg\","
                "\"room\":\"lobby\",\"text\":\"caf\xc3\xa9 caf\xc3\xa9\"}|"
                "T:|T:|B:|T:final|");

  /* A large message inflates intact, and the reader keeps no more than
   * 64 KiB for the next one. */
  for (i = 0; i < sizeof(big); i++)
    big[i] = (uint8_t)("abcdefghij"[i % 10] + (i / 1000) % 7);
  n = put_z(b, 0, HUB_WS__OP_BINARY, big, sizeof(big));
  ASSERT(n < sizeof(big) / 4);
  ASSERT_EQ(zverdict(1 << 20, b, n), HUB_WS__READ_OK);
  ASSERT_STR_EQ(expect_events, "BIGB100000:|");
}

TEST(deflate_rsv_rules_close_with_1002) {
  uint8_t b[256], z[64];
  size_t n, zn = zcompress("hi", 2, z, sizeof(z), 0);

  /* RSV1 without permessage-deflate. */
  n = put_frame_ex(b, 0, 1, 4, HUB_WS__OP_TEXT, 1, z, zn, 0);
  ASSERT_EQ(verdict1(b, n), HUB_WS__CLOSE_PROTOCOL);
  /* With it: on a control frame, on a continuation, RSV2, RSV3. */
  n = put_frame_ex(b, 0, 1, 4, HUB_WS__OP_PING, 1, "", 0, 0);
  ASSERT_EQ(zverdict(1 << 20, b, n), HUB_WS__CLOSE_PROTOCOL);
  n = put_frame_ex(b, 0, 0, 4, HUB_WS__OP_TEXT, 1, z, 1, 0);
  n = put_frame_ex(b, n, 1, 4, HUB_WS__OP_CONT, 1, z + 1, zn - 1, 0);
  ASSERT_EQ(zverdict(1 << 20, b, n), HUB_WS__CLOSE_PROTOCOL);
  n = put_frame_ex(b, 0, 0, 0, HUB_WS__OP_TEXT, 1, "a", 1, 0);
  n = put_frame_ex(b, n, 1, 4, HUB_WS__OP_CONT, 1, "b", 1, 0);
  ASSERT_EQ(zverdict(1 << 20, b, n), HUB_WS__CLOSE_PROTOCOL);
  n = put_frame_ex(b, 0, 1, 2, HUB_WS__OP_TEXT, 1, z, zn, 0);
  ASSERT_EQ(zverdict(1 << 20, b, n), HUB_WS__CLOSE_PROTOCOL);
  n = put_frame_ex(b, 0, 1, 6, HUB_WS__OP_TEXT, 1, z, zn, 0);
  ASSERT_EQ(zverdict(1 << 20, b, n), HUB_WS__CLOSE_PROTOCOL);
}

TEST(deflate_bad_data_closes_with_1007) {
  uint8_t b[256], z[64];
  size_t n, zn;

  /* A block of the reserved type 11. */
  n = put_frame_ex(b, 0, 1, 4, HUB_WS__OP_BINARY, 1, "\xff\xff\xff", 3, 0);
  ASSERT_EQ(zverdict(1 << 20, b, n), HUB_WS__CLOSE_INVALID_DATA);
  /* Bytes after a final block. */
  zn = zcompress("done", 4, z, sizeof(z), 1);
  memcpy(z + zn, "junk", 4);
  n = put_frame_ex(b, 0, 1, 4, HUB_WS__OP_BINARY, 1, z, zn + 4, 0);
  ASSERT_EQ(zverdict(1 << 20, b, n), HUB_WS__CLOSE_INVALID_DATA);
  /* Text that is not UTF-8 once inflated; the same bytes as binary are
   * fine. */
  n = put_z(b, 0, HUB_WS__OP_TEXT, "bad \xc3\x28", 6);
  ASSERT_EQ(zverdict(1 << 20, b, n), HUB_WS__CLOSE_INVALID_DATA);
  n = put_z(b, 0, HUB_WS__OP_BINARY, "bad \xc3\x28", 6);
  ASSERT_EQ(zverdict(1 << 20, b, n), HUB_WS__READ_OK);
}

/* 10 MB of zeros compress to about 10 KB: inflating stops at
 * max_message, and the reader never holds much more than that. */
TEST(deflate_bomb_closes_with_1009_in_bounded_memory) {
  static uint8_t zeros[10 << 20], z[1 << 16], b[1 << 17];
  uint8_t *exact = zeros;
  size_t zn, n, limit = 64 * 1024;
  z_stream zs;

  memset(&zs, 0, sizeof(zs));
  ASSERT_EQ(deflateInit2(&zs, 9, Z_DEFLATED, -15, 9, Z_DEFAULT_STRATEGY),
            Z_OK);
  zs.next_in = zeros;
  zs.avail_in = sizeof(zeros);
  zs.next_out = z;
  zs.avail_out = sizeof(z);
  ASSERT_EQ(deflate(&zs, Z_SYNC_FLUSH), Z_OK);
  zn = sizeof(z) - zs.avail_out - 4;
  deflateEnd(&zs);
  ASSERT(zn < 20000);
  n = put_frame_ex(b, 0, 1, 4, HUB_WS__OP_BINARY, 1, z, zn, 0);
  ASSERT_EQ(zverdict(limit, b, n), HUB_WS__CLOSE_TOO_BIG);
  /* Inflate state (~7 KB and a 32 KiB window), the compressed bytes
   * split across reads, and the output up to the limit. */
  ASSERT(alloc_peak < limit + zn + 64 * 1024);
  /* Exactly max_message is fine; one byte more is not. */
  n = put_z(b, 0, HUB_WS__OP_BINARY, exact, limit);
  ASSERT_EQ(zverdict(limit, b, n), HUB_WS__READ_OK);
  n = put_z(b, 0, HUB_WS__OP_BINARY, exact, limit + 1);
  ASSERT_EQ(zverdict(limit, b, n), HUB_WS__CLOSE_TOO_BIG);
}

/* Incompressible bytes come out longer compressed: a message of exactly
 * max_message bytes is still delivered, while a compressed frame longer
 * than the worst encoding of such a message is refused at its header. */
TEST(deflate_limit_counts_inflated_bytes) {
  static uint8_t noise[4096], z[8192], b[16384];
  size_t i, zn, n;
  uint32_t x = 2463534242u;

  for (i = 0; i < sizeof(noise); i++) {
    x ^= x << 13, x ^= x >> 17, x ^= x << 5;
    noise[i] = (uint8_t)x;
  }
  zn = zcompress(noise, sizeof(noise), z, sizeof(z), 0);
  ASSERT(zn > sizeof(noise));
  n = put_frame_ex(b, 0, 1, 4, HUB_WS__OP_BINARY, 1, z, zn, 0);
  ASSERT_EQ(zverdict(sizeof(noise), b, n), HUB_WS__READ_OK);
  ASSERT_STR_EQ(expect_events, "BIGB4096:|");
  /* The same frame, uncompressed, is too long. */
  n = put_frame_ex(b, 0, 1, 0, HUB_WS__OP_BINARY, 1, z, zn, 0);
  ASSERT_EQ(zverdict(sizeof(noise), b, n), HUB_WS__CLOSE_TOO_BIG);
  /* 4096 + 512 + 64 bytes at most on the wire. */
  n = put_frame_ex(b, 0, 1, 4, HUB_WS__OP_BINARY, 1, z, 4096 + 512 + 65, 0);
  ASSERT_EQ(zverdict(sizeof(noise), b, 14), HUB_WS__CLOSE_TOO_BIG);
  (void)n;
}

/* The server's compressor, read back by the reader as a client's
 * message would be: the same bytes. */
TEST(deflate_compressor_round_trips) {
  static uint8_t msg[20000], b[1 << 16];
  static const char id[] = "0123456789abcdef.42\n";
  hub_ws__deflater_t *d = NULL;
  const uint8_t *z;
  size_t zn, n, i;
  char want[64];
  static const char unit[] = "{\"user\":\"ann\",\"text\":\"hello world\"}";

  for (i = 0; i < sizeof(msg); i++)
    msg[i] = (uint8_t)unit[i % (sizeof(unit) - 1)];
  ASSERT_EQ(hub_ws__deflater_new(&d, 0, 15), -EINVAL);
  ASSERT_EQ(hub_ws__deflater_new(&d, 6, 8), -EINVAL);
  ASSERT_EQ(hub_ws__deflater_new(&d, 6, 15), 0);
  for (i = 0; i < 3; i++) { /* the stream is reset between messages */
    ASSERT_EQ(hub_ws__deflate(d, id, sizeof(id) - 1, msg, sizeof(msg), &z, &zn),
              0);
    ASSERT(zn < sizeof(msg) / 10);
    n = put_frame_ex(b, 0, 1, 4, HUB_WS__OP_TEXT, 1, z, zn, 0);
    ASSERT_EQ(zverdict(1 << 20, b, n), HUB_WS__READ_OK);
    snprintf(want, sizeof(want), "BIGT%zu:|", sizeof(id) - 1 + sizeof(msg));
    ASSERT_STR_EQ(expect_events, want);
  }
  /* A short one with one part only. */
  ASSERT_EQ(
      hub_ws__deflate(d, NULL, 0, "aaaaaaaaaaaaaaaaaaaaaaaa", 24, &z, &zn), 0);
  n = put_frame_ex(b, 0, 1, 4, HUB_WS__OP_TEXT, 1, z, zn, 0);
  ASSERT_EQ(zverdict(1 << 20, b, n), HUB_WS__READ_OK);
  ASSERT_STR_EQ(expect_events, "T:aaaaaaaaaaaaaaaaaaaaaaaa|");
  /* What does not shrink is left alone: random bytes, tiny messages,
   * nothing at all. */
  for (i = 0; i < sizeof(msg); i++)
    msg[i] = (uint8_t)rng();
  ASSERT_EQ(hub_ws__deflate(d, NULL, 0, msg, sizeof(msg), &z, &zn), 1);
  ASSERT_EQ(hub_ws__deflate(d, "a", 1, "b", 1, &z, &zn), 1);
  ASSERT_EQ(hub_ws__deflate(d, NULL, 0, NULL, 0, &z, &zn), 1);
  hub_ws__deflater_free(d);
}

TEST(server_frames) {
  uint8_t out[HUB_WS__CONTROL_FRAME_MAX];
  char reason[200];

  ASSERT_EQ(hub_ws__frame_head(out, HUB_WS__OP_TEXT, 0), 2);
  ASSERT(out[0] == 0x81 && out[1] == 0);
  ASSERT_EQ(hub_ws__frame_head(out, HUB_WS__OP_BINARY, 125), 2);
  ASSERT(out[0] == 0x82 && out[1] == 125);
  ASSERT_EQ(hub_ws__frame_head(out, HUB_WS__OP_TEXT, 126), 4);
  ASSERT(out[1] == 126 && out[2] == 0 && out[3] == 126);
  ASSERT_EQ(hub_ws__frame_head(out, HUB_WS__OP_TEXT, 65535), 4);
  ASSERT(out[2] == 0xff && out[3] == 0xff);
  ASSERT_EQ(hub_ws__frame_head(out, HUB_WS__OP_TEXT, 65536), 10);
  ASSERT(out[1] == 127 && out[7] == 1 && out[8] == 0 && out[9] == 0);
  ASSERT_EQ(hub_ws__frame_control(out, HUB_WS__OP_PONG, "abc", 3), 5);
  ASSERT(out[0] == 0x8A && out[1] == 3 && memcmp(out + 2, "abc", 3) == 0);
  ASSERT_EQ(hub_ws__frame_close(out, 0, NULL), 2);
  ASSERT(out[0] == 0x88 && out[1] == 0);
  ASSERT_EQ(hub_ws__frame_close(out, 1009, "too big"), 11);
  ASSERT(out[1] == 9 && out[2] == 0x03 && out[3] == 0xf1);
  /* A long reason is cut at a character boundary within 125 bytes. */
  memset(reason, 'a', 122);
  strcpy(reason + 122, "\xc3\xa9\xc3\xa9");
  ASSERT_EQ(hub_ws__frame_close(out, 1000, reason), 2 + 2 + 122);
  strcpy(reason + 121, "\xc3\xa9");
  ASSERT_EQ(hub_ws__frame_close(out, 1000, reason), 2 + 2 + 123);
}

int main(int argc, char **argv) {
  return RUN_TESTS(argc, argv);
}
