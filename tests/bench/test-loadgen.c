/* Unit tests of the load generator's codecs: WebSocket frames and
 * handshake, permessage-deflate (the answer's parser, RSV1 frames,
 * inflate and deflate), the newline parser, the message header and the
 * json payload, SHA-1/base64 and the latency histogram. Parsers are fed
 * every split of their input. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "lg-deflate.h"
#include "lg-hist.h"
#include "lg-line.h"
#include "lg-msg.h"
#include "lg-sha1.h"
#include "lg-ws.h"

/* ------------------------------------------------------------------------
 * Recording callbacks
 * ------------------------------------------------------------------------ */

#define MAX_EVENTS 16

typedef struct {
  int kind; /* 'm' message, 'c' control, 'z' compressed message */
  int opcode;
  uint8_t head[LG_HEAD_MAX];
  size_t head_len;
  uint64_t len;
  size_t zoff; /* 'z': its payload is z[zoff .. zoff + len) */
} event_t;

typedef struct {
  event_t ev[MAX_EVENTS];
  int n;
  int stop_on_close;
  uint8_t z[4096]; /* compressed payloads, one after the other */
  size_t zlen, zstart;
} events_t;

/* The next event of e, of that kind and opcode; NULL when e is full. */
static event_t *next_event(events_t *e, int kind, int opcode) {
  event_t *v;

  if (e->n == MAX_EVENTS)
    return NULL;
  v = &e->ev[e->n++];
  v->kind = kind;
  v->opcode = opcode;
  return v;
}

/* Keeps the first LG_HEAD_MAX bytes of head (n bytes) and the length of
 * what they begin. */
static void keep_head(event_t *v, const uint8_t *head, size_t n,
                      uint64_t len) {
  v->head_len = n < LG_HEAD_MAX ? n : LG_HEAD_MAX;
  memcpy(v->head, head, v->head_len);
  v->len = len;
}

static int rec_message(void *ud, int opcode, const uint8_t *head,
                       size_t head_len, uint64_t len) {
  event_t *v = next_event(ud, 'm', opcode);

  if (v == NULL)
    return 99;
  keep_head(v, head, head_len, len);
  return 0;
}

static int rec_control(void *ud, int opcode, const uint8_t *payload,
                       size_t len) {
  events_t *e = ud;
  event_t *v = next_event(e, 'c', opcode);

  if (v == NULL)
    return 99;
  keep_head(v, payload, len, len);
  return opcode == LG_WS_OP_CLOSE && e->stop_on_close ? 7 : 0;
}

static int rec_line(void *ud, const uint8_t *head, size_t head_len,
                    uint64_t len) {
  return rec_message(ud, 0, head, head_len, len);
}

/* Gathers a compressed message's pieces into e->z; an event at fin. */
static int rec_compressed(void *ud, int opcode, const uint8_t *data,
                          size_t len, int fin) {
  events_t *e = ud;
  event_t *v;

  if (!fin) {
    if (data == NULL || len == 0 || len > sizeof(e->z) - e->zlen)
      return 98; /* pieces are never empty */
    memcpy(e->z + e->zlen, data, len);
    e->zlen += len;
    return 0;
  }
  if (data != NULL || len != 0 || (v = next_event(e, 'z', opcode)) == NULL)
    return 99;
  v->zoff = e->zstart;
  v->len = e->zlen - e->zstart;
  e->zstart = e->zlen;
  return 0;
}

static const lg_ws_callbacks_t rec_cbs = {rec_message, rec_control,
                                          rec_compressed};

/* Parses data in up to three pieces split at a and b (a <= b <= len);
 * returns the parser's first non-zero result. */
static int ws_parse_split_rsv1(const uint8_t *data, size_t len, size_t a,
                               size_t b, events_t *e, uint64_t max,
                               int rsv1_ok) {
  lg_ws_parser_t p;
  int r;

  memset(e, 0, sizeof(*e));
  lg_ws_parser_init(&p, max);
  if (rsv1_ok)
    lg_ws_parser_allow_rsv1(&p);
  r = lg_ws_parse(&p, data, a, &rec_cbs, e);
  if (r == 0)
    r = lg_ws_parse(&p, data + a, b - a, &rec_cbs, e);
  if (r == 0)
    r = lg_ws_parse(&p, data + b, len - b, &rec_cbs, e);
  return r;
}

static int ws_parse_split(const uint8_t *data, size_t len, size_t a,
                          size_t b, events_t *e, uint64_t max) {
  return ws_parse_split_rsv1(data, len, a, b, e, max, 0);
}

/* Appends an unmasked (server) frame to out; returns the new length. */
static size_t server_frame(uint8_t *out, size_t at, int fin, int opcode,
                           const uint8_t *payload, size_t len) {
  size_t h = lg_ws_frame_header(out + at, opcode, len, NULL);

  if (!fin)
    out[at] &= 0x7f;
  if (len)
    memcpy(out + at + h, payload, len);
  return at + h + len;
}

/* ------------------------------------------------------------------------
 * SHA-1, base64, handshake
 * ------------------------------------------------------------------------ */

TEST(sha1_known_digests) {
  static const struct {
    const char *in;
    const char *hex;
  } v[] = {
    {"", "da39a3ee5e6b4b0d3255bfef95601890afd80709"},
    {"abc", "a9993e364706816aba3e25717850c26c9cd0d89d"},
    {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
     "84983e441c3bd26ebaae4aa1f95129e5e54670f1"},
  };
  uint8_t d[LG_SHA1_LEN];
  char hex[41];
  size_t i, j;

  for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
    lg_sha1(v[i].in, strlen(v[i].in), d);
    for (j = 0; j < LG_SHA1_LEN; j++)
      snprintf(hex + 2 * j, 3, "%02x", d[j]);
    ASSERT_STR_EQ(hex, v[i].hex);
  }
}

TEST(sha1_of_a_million_a) {
  static char buf[1000000];
  uint8_t d[LG_SHA1_LEN];
  char hex[41];
  size_t j;

  memset(buf, 'a', sizeof(buf));
  lg_sha1(buf, sizeof(buf), d);
  for (j = 0; j < LG_SHA1_LEN; j++)
    snprintf(hex + 2 * j, 3, "%02x", d[j]);
  ASSERT_STR_EQ(hex, "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
}

TEST(base64_padding) {
  char out[16];

  ASSERT_EQ(lg_base64((const uint8_t *)"", 0, out), 0);
  ASSERT_STR_EQ(out, "");
  lg_base64((const uint8_t *)"f", 1, out);
  ASSERT_STR_EQ(out, "Zg==");
  lg_base64((const uint8_t *)"fo", 2, out);
  ASSERT_STR_EQ(out, "Zm8=");
  lg_base64((const uint8_t *)"foo", 3, out);
  ASSERT_STR_EQ(out, "Zm9v");
  lg_base64((const uint8_t *)"foobar", 6, out);
  ASSERT_STR_EQ(out, "Zm9vYmFy");
}

/* RFC 6455 section 1.3: the nonce "the sample nonce" gives the key
 * dGhlIHNhbXBsZSBub25jZQ== and the accept value
 * s3pPLMBiTxaQ9kYGzzhZRbK+xOo=. */
TEST(ws_request_has_rfc_key_and_accept) {
  const uint8_t nonce[16] = "the sample nonce";
  char req[512], accept[29];
  int n;

  n = lg_ws_request(req, sizeof(req), "127.0.0.1:8080", "/ws", nonce, NULL,
                    accept);
  ASSERT(n > 0);
  ASSERT_STR_EQ(accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  ASSERT(strncmp(req, "GET /ws HTTP/1.1\r\n", 18) == 0);
  ASSERT(strstr(req, "\r\nHost: 127.0.0.1:8080\r\n") != NULL);
  ASSERT(strstr(req, "\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"));
  ASSERT(strstr(req, "\r\nSec-WebSocket-Version: 13\r\n") != NULL);
  ASSERT(strstr(req, "\r\nUpgrade: websocket\r\n") != NULL);
  ASSERT(strstr(req, "\r\nConnection: Upgrade\r\n") != NULL);
  ASSERT(strstr(req, "Extensions") == NULL);
  ASSERT_EQ(lg_http_head_len(req, (size_t)n), n);
  ASSERT_EQ(lg_ws_request(req, 40, "127.0.0.1:8080", "/ws", nonce, NULL,
                          accept), -1);
  /* The permessage-deflate offer, as browsers make it. */
  n = lg_ws_request(req, sizeof(req), "127.0.0.1:8080", "/ws", nonce,
                    LG_PMD_OFFER, accept);
  ASSERT(n > 0);
  ASSERT(strstr(req, "\r\nSec-WebSocket-Extensions: permessage-deflate; "
                     "client_max_window_bits\r\n") != NULL);
  ASSERT_EQ(lg_http_head_len(req, (size_t)n), n);
}

TEST(ws_response_check) {
  const char *accept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", *why = NULL;
  const char *good =
      "HTTP/1.1 101 Switching Protocols\r\n"
      "upgrade:  WebSocket \r\n"
      "Connection: keep-alive, Upgrade\r\n"
      "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
      "\r\n";
  const char *wrong_accept =
      "HTTP/1.1 101 Switching Protocols\r\n"
      "Upgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOx=\r\n\r\n";
  const char *no_conn =
      "HTTP/1.1 101 Switching Protocols\r\n"
      "Upgrade: websocket\r\n"
      "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
  const char *not_101 = "HTTP/1.1 404 Not Found\r\n\r\n";

  ASSERT_EQ(lg_ws_check_response(good, strlen(good), accept, &why), 0);
  ASSERT_EQ(lg_ws_check_response(wrong_accept, strlen(wrong_accept), accept,
                                 &why), -1);
  ASSERT(strstr(why, "Accept") != NULL);
  ASSERT_EQ(lg_ws_check_response(no_conn, strlen(no_conn), accept, &why),
            -1);
  ASSERT_EQ(lg_ws_check_response(not_101, strlen(not_101), accept, &why),
            -1);
}

TEST(http_head_len_waits_for_the_empty_line) {
  const char *r = "HTTP/1.1 101 X\r\nA: b\r\n\r\n\x81\x01x";
  size_t full = strlen("HTTP/1.1 101 X\r\nA: b\r\n\r\n"), i;

  for (i = 0; i < full; i++)
    ASSERT_EQ(lg_http_head_len(r, i), 0);
  ASSERT_EQ(lg_http_head_len(r, full), full);
  ASSERT_EQ(lg_http_head_len(r, full + 3), full);
}

/* ------------------------------------------------------------------------
 * WebSocket frames
 * ------------------------------------------------------------------------ */

TEST(ws_frame_header_lengths) {
  uint8_t h[LG_WS_MAX_HEADER];
  const uint8_t mask[4] = {1, 2, 3, 4};

  ASSERT_EQ(lg_ws_frame_header(h, LG_WS_OP_TEXT, 0, NULL), 2);
  ASSERT_EQ(h[0], 0x81);
  ASSERT_EQ(h[1], 0);
  ASSERT_EQ(lg_ws_frame_header(h, LG_WS_OP_TEXT, 125, mask), 6);
  ASSERT_EQ(h[1], 0x80 | 125);
  ASSERT(memcmp(h + 2, mask, 4) == 0);
  ASSERT_EQ(lg_ws_frame_header(h, LG_WS_OP_BINARY, 126, mask), 8);
  ASSERT_EQ(h[0], 0x82);
  ASSERT_EQ(h[1], 0x80 | 126);
  ASSERT_EQ(h[2], 0);
  ASSERT_EQ(h[3], 126);
  ASSERT_EQ(lg_ws_frame_header(h, LG_WS_OP_TEXT, 65535, NULL), 4);
  ASSERT_EQ(h[2], 0xff);
  ASSERT_EQ(h[3], 0xff);
  ASSERT_EQ(lg_ws_frame_header(h, LG_WS_OP_TEXT, 65536, mask), 14);
  ASSERT_EQ(h[1], 0x80 | 127);
  ASSERT(memcmp(h + 2, "\0\0\0\0\0\1\0\0", 8) == 0);
  ASSERT(memcmp(h + 10, mask, 4) == 0);
  ASSERT_EQ(lg_ws_frame_header(h, LG_WS_OP_PING, 0x123456789aull, NULL),
            10);
  ASSERT(memcmp(h + 2, "\0\0\0\x12\x34\x56\x78\x9a", 8) == 0);
}

TEST(ws_mask_is_its_own_inverse) {
  const uint8_t mask[4] = {0x37, 0xfa, 0x21, 0x3d};
  uint8_t data[37], copy[37];
  size_t i;

  for (i = 0; i < sizeof(data); i++)
    data[i] = (uint8_t)(i * 7 + 3);
  memcpy(copy, data, sizeof(data));
  lg_ws_mask(data, sizeof(data), mask);
  for (i = 0; i < sizeof(data); i++)
    ASSERT_EQ(data[i], copy[i] ^ mask[i % 4]);
  lg_ws_mask(data, sizeof(data), mask);
  ASSERT(memcmp(data, copy, sizeof(data)) == 0);
}

/* RFC 6455 section 5.7: "Hello" as one unmasked text frame, masked
 * client frame with key 37 fa 21 3d, and a 256-byte binary message. */
TEST(ws_rfc_examples) {
  const uint8_t unmasked[] = {0x81, 0x05, 'H', 'e', 'l', 'l', 'o'};
  const uint8_t masked[] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d,
                            0x7f, 0x9f, 0x4d, 0x51, 0x58};
  const uint8_t mask[4] = {0x37, 0xfa, 0x21, 0x3d};
  uint8_t out[32];
  size_t h;
  events_t e;

  h = lg_ws_frame_header(out, LG_WS_OP_TEXT, 5, mask);
  memcpy(out + h, "Hello", 5);
  lg_ws_mask(out + h, 5, mask);
  ASSERT_EQ(h + 5, sizeof(masked));
  ASSERT(memcmp(out, masked, sizeof(masked)) == 0);

  ASSERT_EQ(ws_parse_split(unmasked, sizeof(unmasked), 0, 0, &e, 0), 0);
  ASSERT_EQ(e.n, 1);
  ASSERT_EQ(e.ev[0].kind, 'm');
  ASSERT_EQ(e.ev[0].opcode, LG_WS_OP_TEXT);
  ASSERT_EQ(e.ev[0].len, 5);
  ASSERT(memcmp(e.ev[0].head, "Hello", 5) == 0);
  /* A masked frame from a server is a protocol error. */
  ASSERT_EQ(ws_parse_split(masked, sizeof(masked), 0, 0, &e, 0),
            LG_WS_EPROTO);
}

/* A script of server frames: a short text message, a ping, a 300-byte
 * message (16-bit length), a fragmented message with a pong between its
 * fragments, a 70000-byte message (64-bit length), an empty message and
 * a close. Every split into three pieces gives the same events. */
TEST(ws_parser_any_split) {
  static uint8_t big[70000], script[71000];
  uint8_t mid[300];
  size_t n = 0, a, b, i, step;
  events_t e;
  int r;

  for (i = 0; i < sizeof(big); i++)
    big[i] = (uint8_t)('a' + i % 26);
  for (i = 0; i < sizeof(mid); i++)
    mid[i] = (uint8_t)('A' + i % 26);
  n = server_frame(script, n, 1, LG_WS_OP_TEXT, (const uint8_t *)"hi", 2);
  n = server_frame(script, n, 1, LG_WS_OP_PING, (const uint8_t *)"p1", 2);
  n = server_frame(script, n, 1, LG_WS_OP_BINARY, mid, sizeof(mid));
  n = server_frame(script, n, 0, LG_WS_OP_TEXT, (const uint8_t *)"frag", 4);
  n = server_frame(script, n, 1, LG_WS_OP_PONG, NULL, 0);
  n = server_frame(script, n, 0, LG_WS_OP_CONT, (const uint8_t *)"ment", 4);
  n = server_frame(script, n, 1, LG_WS_OP_CONT, mid, 100);
  n = server_frame(script, n, 1, LG_WS_OP_TEXT, big, sizeof(big));
  n = server_frame(script, n, 1, LG_WS_OP_TEXT, NULL, 0);
  n = server_frame(script, n, 1, LG_WS_OP_CLOSE,
                   (const uint8_t *)"\x03\xe8", 2);

  /* Every split point near the frame boundaries, and a sample of the
   * rest (the big frame's payload is plain copying). */
  for (a = 0; a <= n; a += step) {
    step = a < 400 || a > n - 100 ? 1 : 997;
    for (b = a; b <= n; b += (b < 400 || b > n - 100) ? 1 : 4999) {
      r = ws_parse_split(script, n, a, b, &e, 0);
      if (r != 0 || e.n != 8) {
        fprintf(stderr, "split %zu %zu: r=%d n=%d\n", a, b, r, e.n);
        ASSERT(0);
      }
      ASSERT_EQ(e.ev[0].kind, 'm');
      ASSERT_EQ(e.ev[0].len, 2);
      ASSERT(memcmp(e.ev[0].head, "hi", 2) == 0);
      ASSERT_EQ(e.ev[1].kind, 'c');
      ASSERT_EQ(e.ev[1].opcode, LG_WS_OP_PING);
      ASSERT(e.ev[1].len == 2 && memcmp(e.ev[1].head, "p1", 2) == 0);
      ASSERT_EQ(e.ev[2].opcode, LG_WS_OP_BINARY);
      ASSERT_EQ(e.ev[2].len, 300);
      ASSERT_EQ(e.ev[2].head_len, LG_HEAD_MAX);
      ASSERT(memcmp(e.ev[2].head, mid, LG_HEAD_MAX) == 0);
      ASSERT_EQ(e.ev[3].kind, 'c');
      ASSERT_EQ(e.ev[3].opcode, LG_WS_OP_PONG);
      ASSERT_EQ(e.ev[4].kind, 'm');
      ASSERT_EQ(e.ev[4].opcode, LG_WS_OP_TEXT);
      ASSERT_EQ(e.ev[4].len, 108);
      ASSERT(memcmp(e.ev[4].head, "fragmentABCD", 12) == 0);
      ASSERT_EQ(e.ev[5].len, sizeof(big));
      ASSERT(memcmp(e.ev[5].head, big, LG_HEAD_MAX) == 0);
      ASSERT_EQ(e.ev[6].kind, 'm');
      ASSERT_EQ(e.ev[6].len, 0);
      ASSERT_EQ(e.ev[7].opcode, LG_WS_OP_CLOSE);
      ASSERT(e.ev[7].len == 2 && e.ev[7].head[0] == 3);
    }
  }
}

TEST(ws_parser_callback_stops_it) {
  uint8_t s[32];
  size_t n = 0;
  events_t e;
  lg_ws_parser_t p;

  n = server_frame(s, n, 1, LG_WS_OP_CLOSE, NULL, 0);
  n = server_frame(s, n, 1, LG_WS_OP_TEXT, (const uint8_t *)"x", 1);
  memset(&e, 0, sizeof(e));
  e.stop_on_close = 1;
  lg_ws_parser_init(&p, 0);
  ASSERT_EQ(lg_ws_parse(&p, s, n, &rec_cbs, &e), 7);
  ASSERT_EQ(e.n, 1);
}

/* A frame the parser must refuse with `err`, however it is split. */
typedef struct {
  const char *what;
  uint8_t b[12];
  size_t n;
  int err;
} bad_frame_t;

/* Each of the n frames of bad[], split at every offset, is refused with
 * its error by a parser for messages up to max bytes that allows RSV1
 * (permessage-deflate negotiated) if rsv1_ok. */
static void expect_refused(const bad_frame_t *bad, size_t n, uint64_t max,
                           int rsv1_ok) {
  size_t i, a;
  events_t e;

  for (i = 0; i < n; i++)
    for (a = 0; a <= bad[i].n; a++)
      if (ws_parse_split_rsv1(bad[i].b, bad[i].n, a, a, &e, max, rsv1_ok) !=
          bad[i].err)
        HARNESS_FAIL("%s (split at %zu) was not rejected", bad[i].what, a);
}

TEST(ws_parser_rejects_bad_frames) {
  static const bad_frame_t bad[] = {
    {"rsv1", {0xc1, 0x00}, 2, LG_WS_ERSV},
    {"rsv2", {0xa1, 0x00}, 2, LG_WS_ERSV},
    {"rsv3", {0x91, 0x00}, 2, LG_WS_ERSV},
    {"reserved opcode 3", {0x83, 0x00}, 2, LG_WS_EPROTO},
    {"reserved opcode 0xb", {0x8b, 0x00}, 2, LG_WS_EPROTO},
    {"continuation first", {0x80, 0x00}, 2, LG_WS_EPROTO},
    {"fragmented ping", {0x09, 0x00}, 2, LG_WS_EPROTO},
    {"ping of 126", {0x89, 0x7e, 0x00, 0x7e}, 4, LG_WS_EPROTO},
    {"non-minimal 16-bit", {0x81, 0x7e, 0x00, 0x05}, 4, LG_WS_EPROTO},
    {"non-minimal 64-bit", {0x81, 0x7f, 0, 0, 0, 0, 0, 0, 0xff, 0xff},
     10, LG_WS_EPROTO},
    {"64-bit top bit", {0x81, 0x7f, 0x80, 0, 0, 0, 0, 0, 0, 0}, 10,
     LG_WS_EPROTO},
    {"text inside a message", {0x01, 0x00, 0x81, 0x00}, 4, LG_WS_EPROTO},
    {"too big", {0x81, 0x7e, 0x10, 0x00}, 4, LG_WS_ETOOBIG},
  };

  expect_refused(bad, sizeof(bad) / sizeof(bad[0]), 1000, 0);
}

TEST(ws_parser_too_big_across_fragments) {
  uint8_t s[2000], part[600];
  size_t n = 0;
  events_t e;

  memset(part, 'z', sizeof(part));
  n = server_frame(s, n, 0, LG_WS_OP_TEXT, part, sizeof(part));
  n = server_frame(s, n, 1, LG_WS_OP_CONT, part, sizeof(part));
  ASSERT_EQ(ws_parse_split(s, n, 0, 0, &e, 1000), LG_WS_ETOOBIG);
  ASSERT_EQ(ws_parse_split(s, n, 0, 0, &e, 1200), 0);
  ASSERT_EQ(e.n, 1);
  ASSERT_EQ(e.ev[0].len, 1200);
}

/* ------------------------------------------------------------------------
 * permessage-deflate: the answer, RSV1 frames, inflate and deflate
 * ------------------------------------------------------------------------ */

/* A 101 response head with the given extension header lines. */
static const char *response_with(const char *ext_lines) {
  static char buf[1024];

  snprintf(buf, sizeof(buf),
           "HTTP/1.1 101 Switching Protocols\r\n"
           "Upgrade: websocket\r\nConnection: Upgrade\r\n"
           "%s"
           "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
           ext_lines);
  return buf;
}

static int pmd_of(const char *ext_lines, int offered, lg_pmd_t *pmd) {
  const char *head = response_with(ext_lines), *why = NULL;
  int r = lg_ws_pmd_response(head, strlen(head), offered, pmd, &why);

  if (r < 0 && (why == NULL || *why == '\0'))
    return -99; /* a refusal always says why */
  return r;
}

TEST(pmd_response_accepted) {
  lg_pmd_t m;

  ASSERT_EQ(pmd_of("", 1, &m), 0);
  ASSERT_EQ(pmd_of("", 0, &m), 0);
  ASSERT_EQ(pmd_of("Sec-WebSocket-Extensions: permessage-deflate\r\n", 1,
                   &m), 1);
  ASSERT(!m.server_no_context_takeover && !m.client_no_context_takeover);
  ASSERT(m.server_max_window_bits == 15 && m.client_max_window_bits == 15);
  /* What uWebSockets' shared compressor answers. */
  ASSERT_EQ(pmd_of("Sec-WebSocket-Extensions: permessage-deflate; "
                   "server_no_context_takeover; "
                   "client_no_context_takeover\r\n", 1, &m), 1);
  ASSERT(m.server_no_context_takeover && m.client_no_context_takeover);
  /* Any case, odd spacing, quoted values, an empty list element. */
  ASSERT_EQ(pmd_of("sec-websocket-extensions:  , Permessage-Deflate ;"
                   "client_max_window_bits=10 ;  SERVER_MAX_WINDOW_BITS="
                   "\"12\"\r\n", 1, &m), 1);
  ASSERT(!m.server_no_context_takeover && !m.client_no_context_takeover);
  ASSERT_EQ(m.client_max_window_bits, 10);
  ASSERT_EQ(m.server_max_window_bits, 12);
  ASSERT_EQ(pmd_of("Sec-WebSocket-Extensions: permessage-deflate; "
                   "server_no_context_takeover\r\n", 1, &m), 1);
  ASSERT(m.server_no_context_takeover && !m.client_no_context_takeover);
  ASSERT_EQ(pmd_of("X-Other: permessage-deflate\r\n", 1, &m), 0);
}

TEST(pmd_response_refused) {
  static const struct {
    const char *lines;
    int offered;
  } bad[] = {
    {"Sec-WebSocket-Extensions: permessage-deflate\r\n", 0},
    {"Sec-WebSocket-Extensions: x-webkit-deflate-frame\r\n", 1},
    {"Sec-WebSocket-Extensions: permessage-deflate, permessage-deflate\r\n",
     1},
    {"Sec-WebSocket-Extensions: permessage-deflate\r\n"
     "Sec-WebSocket-Extensions: permessage-deflate\r\n", 1},
    {"Sec-WebSocket-Extensions: permessage-deflate; foo\r\n", 1},
    {"Sec-WebSocket-Extensions: permessage-deflate; "
     "server_no_context_takeover; server_no_context_takeover\r\n", 1},
    {"Sec-WebSocket-Extensions: permessage-deflate; "
     "client_no_context_takeover=1\r\n", 1},
    {"Sec-WebSocket-Extensions: permessage-deflate; "
     "client_max_window_bits\r\n", 1},
    {"Sec-WebSocket-Extensions: permessage-deflate; "
     "client_max_window_bits=7\r\n", 1},
    {"Sec-WebSocket-Extensions: permessage-deflate; "
     "server_max_window_bits=16\r\n", 1},
    {"Sec-WebSocket-Extensions: permessage-deflate; "
     "server_max_window_bits=08\r\n", 1},
    {"Sec-WebSocket-Extensions: permessage-deflate; "
     "server_max_window_bits=1x\r\n", 1},
  };
  lg_pmd_t m;
  size_t i;

  for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    if (pmd_of(bad[i].lines, bad[i].offered, &m) != -1)
      HARNESS_FAIL("accepted: %s", bad[i].lines);
}

/* RSV1 only once negotiated, and only on a data message's first frame;
 * a compressed message's payload is handed on whole, in any split, around
 * uncompressed messages and a control frame between its fragments. */
TEST(ws_parser_rsv1_frames) {
  uint8_t s[256];
  size_t n = 0, a, b;
  events_t e;

  n = server_frame(s, n, 1, LG_WS_OP_TEXT, (const uint8_t *)"plain", 5);
  n = server_frame(s, n, 1, LG_WS_OP_TEXT, (const uint8_t *)"ZIPPED", 6);
  s[n - 6 - 2] |= LG_WS_RSV1;
  n = server_frame(s, n, 0, LG_WS_OP_BINARY, (const uint8_t *)"ab", 2);
  s[n - 2 - 2] |= LG_WS_RSV1;
  n = server_frame(s, n, 1, LG_WS_OP_PING, NULL, 0);
  n = server_frame(s, n, 1, LG_WS_OP_CONT, (const uint8_t *)"cde", 3);
  n = server_frame(s, n, 1, LG_WS_OP_TEXT, NULL, 0); /* empty, compressed */
  s[n - 2] |= LG_WS_RSV1;
  n = server_frame(s, n, 1, LG_WS_OP_TEXT, (const uint8_t *)"end", 3);
  for (a = 0; a <= n; a++)
    for (b = a; b <= n; b++) {
      ASSERT_EQ(ws_parse_split_rsv1(s, n, a, b, &e, 0, 1), 0);
      ASSERT_EQ(e.n, 6);
      ASSERT(e.ev[0].kind == 'm' && e.ev[0].len == 5);
      ASSERT(e.ev[1].kind == 'z' && e.ev[1].len == 6);
      ASSERT_EQ(e.ev[1].opcode, LG_WS_OP_TEXT);
      ASSERT(memcmp(e.z + e.ev[1].zoff, "ZIPPED", 6) == 0);
      ASSERT(e.ev[2].kind == 'c' && e.ev[2].opcode == LG_WS_OP_PING);
      ASSERT(e.ev[3].kind == 'z' && e.ev[3].len == 5);
      ASSERT_EQ(e.ev[3].opcode, LG_WS_OP_BINARY);
      ASSERT(memcmp(e.z + e.ev[3].zoff, "abcde", 5) == 0);
      ASSERT(e.ev[4].kind == 'z' && e.ev[4].len == 0);
      ASSERT(e.ev[5].kind == 'm' && e.ev[5].len == 3);
    }
  /* Without negotiation: the first RSV1 frame is refused. */
  ASSERT_EQ(ws_parse_split(s, n, 0, 0, &e, 0), LG_WS_ERSV);
  ASSERT_EQ(e.n, 1);
}

TEST(ws_parser_rsv1_misplaced) {
  static const bad_frame_t bad[] = {
    {"rsv1 on a continuation", {0x01, 0x00, 0xc0, 0x00}, 4, LG_WS_EPROTO},
    {"rsv1 on a ping", {0xc9, 0x00}, 2, LG_WS_EPROTO},
    {"rsv1 on a close", {0xc8, 0x00}, 2, LG_WS_EPROTO},
    {"rsv2 with deflate", {0xa1, 0x00}, 2, LG_WS_ERSV},
    {"rsv3 with deflate", {0xd1, 0x00}, 2, LG_WS_ERSV},
  };

  expect_refused(bad, sizeof(bad) / sizeof(bad[0]), 0, 1);
}

#ifdef LG_HAVE_ZLIB

/* Parses server frames with RSV1 allowed and inflates each compressed
 * message with z (reset per message or not); fills out[] with the
 * results. Returns the number of messages, or -1. */
static int inflate_frames(const uint8_t *frames, size_t n, lg_inflate_t *z,
                          int reset, char out[][LG_HEAD_MAX + 1]) {
  static events_t e;
  uint8_t head[LG_HEAD_MAX];
  size_t head_len;
  uint64_t len;
  int i;

  if (ws_parse_split_rsv1(frames, n, n / 2, n / 2, &e, 0, 1) != 0)
    return -1;
  for (i = 0; i < e.n; i++) {
    if (e.ev[i].kind != 'z' ||
        lg_inflate_msg(z, e.z + e.ev[i].zoff, e.ev[i].len, reset, 1000,
                       head, sizeof(head), &head_len, &len) != 0 ||
        len != head_len)
      return -1;
    memcpy(out[i], head, head_len);
    out[i][head_len] = '\0';
  }
  return e.n;
}

/* RFC 7692 section 7.2.3's examples of "Hello": compressed, a second
 * message using the first's window, a stored block, a final block, and
 * two blocks in one message. */
TEST(inflate_rfc7692_examples) {
  static const uint8_t one[] = {0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9,
                                0x07, 0x00};
  static const uint8_t shared[] = {0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9,
                                   0xc9, 0x07, 0x00, 0xc1, 0x05, 0xf2,
                                   0x00, 0x11, 0x00, 0x00};
  static const uint8_t stored[] = {0xc1, 0x0b, 0x00, 0x05, 0x00, 0xfa,
                                   0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f,
                                   0x00};
  static const uint8_t final[] = {0xc1, 0x08, 0xf3, 0x48, 0xcd, 0xc9,
                                  0xc9, 0x07, 0x00, 0x00};
  static const uint8_t two[] = {0xc1, 0x0d, 0xf2, 0x48, 0x05, 0x00, 0x00,
                                0x00, 0xff, 0xff, 0xca, 0xc9, 0xc9, 0x07,
                                0x00};
  char out[4][LG_HEAD_MAX + 1];
  lg_inflate_t *z = lg_inflate_new();

  ASSERT(z != NULL);
  ASSERT_EQ(inflate_frames(one, sizeof(one), z, 1, out), 1);
  ASSERT_STR_EQ(out[0], "Hello");
  ASSERT_EQ(inflate_frames(stored, sizeof(stored), z, 1, out), 1);
  ASSERT_STR_EQ(out[0], "Hello");
  ASSERT_EQ(inflate_frames(final, sizeof(final), z, 1, out), 1);
  ASSERT_STR_EQ(out[0], "Hello");
  ASSERT_EQ(inflate_frames(two, sizeof(two), z, 1, out), 1);
  ASSERT_STR_EQ(out[0], "Hello");
  /* The window kept across messages (context takeover)... */
  ASSERT_EQ(inflate_frames(shared, sizeof(shared), z, 1, out), -1);
  lg_inflate_free(z);
  z = lg_inflate_new();
  ASSERT_EQ(inflate_frames(shared, sizeof(shared), z, 0, out), 2);
  ASSERT_STR_EQ(out[0], "Hello");
  ASSERT_STR_EQ(out[1], "Hello");
  /* ...and after a final block, a new stream. */
  ASSERT_EQ(inflate_frames(final, sizeof(final), z, 0, out), 1);
  ASSERT_EQ(inflate_frames(one, sizeof(one), z, 0, out), 1);
  ASSERT_STR_EQ(out[0], "Hello");
  lg_inflate_free(z);
}

TEST(inflate_rejects_bad_data_and_bombs) {
  static const uint8_t junk[] = {0xff, 0xff, 0xff, 0xff, 0x00};
  static uint8_t zeros[100000], packed[1000];
  uint8_t head[LG_HEAD_MAX];
  size_t head_len;
  uint64_t len;
  long n;
  lg_inflate_t *z = lg_inflate_new();
  lg_deflate_t *d = lg_deflate_new(15);

  ASSERT(z != NULL && d != NULL);
  ASSERT_EQ(lg_inflate_msg(z, junk, sizeof(junk), 1, 0, head, sizeof(head),
                           &head_len, &len), -1);
  n = lg_deflate_msg(d, zeros, sizeof(zeros), 1, packed);
  ASSERT(n > 0 && n < 1000);
  ASSERT_EQ(lg_inflate_msg(z, packed, (size_t)n, 1, 99999, head,
                           sizeof(head), &head_len, &len), -1);
  ASSERT_EQ(lg_inflate_msg(z, packed, (size_t)n, 1, 100000, head,
                           sizeof(head), &head_len, &len), 0);
  ASSERT(len == sizeof(zeros) && head_len == LG_HEAD_MAX);
  lg_inflate_free(z);
  lg_deflate_free(d);
}

/* Our compressor against our decompressor, with and without context
 * takeover: no 00 00 ff ff on the wire, and the messages come back. */
TEST(deflate_round_trip) {
  static uint8_t msg[3000], packed[4000];
  uint8_t head[LG_HEAD_MAX];
  size_t head_len;
  uint64_t len;
  long n, first = 0;
  int reset, k;

  for (reset = 0; reset <= 1; reset++) {
    lg_deflate_t *d = lg_deflate_new(reset ? 9 : 15);
    lg_inflate_t *z = lg_inflate_new();
    ASSERT(d != NULL && z != NULL);
    for (k = 0; k < 5; k++) {
      lg_msg_fill_json(msg, sizeof(msg), 3, 100, 5);
      ASSERT(lg_deflate_bound(sizeof(msg)) <= sizeof(packed));
      n = lg_deflate_msg(d, msg, sizeof(msg), reset, packed);
      ASSERT(n > 4);
      ASSERT(memcmp(packed + n - 4, "\0\0\xff\xff", 4) != 0);
      if (k == 0)
        first = n;
      else if (reset)
        ASSERT_EQ(n, first); /* every message alone */
      else
        ASSERT(n < first / 4); /* the same message again: a reference */
      ASSERT_EQ(lg_inflate_msg(z, packed, (size_t)n, reset, 0, head,
                               sizeof(head), &head_len, &len), 0);
      ASSERT_EQ(len, sizeof(msg));
      ASSERT(memcmp(head, msg, LG_HEAD_MAX) == 0);
    }
    lg_deflate_free(d);
    lg_inflate_free(z);
  }
}

/* The memo gives what inflating gives, inflates each distinct payload
 * once, never keeps a failure, and tells payloads apart by their bytes. */
TEST(inflate_memo_inflates_each_payload_once) {
  static uint8_t msg[1024], packed[4][2048];
  long n[4];
  uint8_t head[LG_HEAD_MAX], head2[LG_HEAD_MAX];
  size_t head_len, head_len2;
  uint64_t len, len2, hits = 0;
  int k, round;
  lg_deflate_t *d = lg_deflate_new(15);
  lg_inflate_t *z = lg_inflate_new();
  lg_inflate_memo_t *m = lg_inflate_memo_new();

  ASSERT(d != NULL && z != NULL && m != NULL);
  for (k = 0; k < 4; k++) {
    lg_msg_fill_json(msg, sizeof(msg), 1, (uint64_t)k, 99);
    n[k] = lg_deflate_msg(d, msg, sizeof(msg), 1, packed[k]);
    ASSERT(n[k] > 0);
  }
  for (round = 0; round < 3; round++)
    for (k = 0; k < 4; k++) {
      ASSERT_EQ(lg_inflate_msg_memo(m, z, packed[k], (size_t)n[k], 0, head,
                                    sizeof(head), &head_len, &len, &hits),
                0);
      ASSERT_EQ(lg_inflate_msg(z, packed[k], (size_t)n[k], 1, 0, head2,
                               sizeof(head2), &head_len2, &len2), 0);
      ASSERT(len == len2 && len == sizeof(msg) && head_len == head_len2);
      ASSERT(memcmp(head, head2, head_len) == 0);
      ASSERT_EQ(hits, round == 0 ? 0 : 4 * (round - 1) + k + 1);
    }
  ASSERT_EQ(hits, 8);
  /* One byte changed: another payload, inflated (whatever comes of it). */
  packed[0][n[0] / 2] ^= 0x55;
  lg_inflate_msg_memo(m, z, packed[0], (size_t)n[0], 0, head, sizeof(head),
                      &head_len, &len, &hits);
  ASSERT_EQ(hits, 8);
  /* A limit applies to a remembered result too; failures are not kept. */
  ASSERT_EQ(lg_inflate_msg_memo(m, z, packed[1], (size_t)n[1], 100, head,
                                sizeof(head), &head_len, &len, &hits), -1);
  ASSERT_EQ(lg_inflate_msg_memo(m, z, (const uint8_t *)"\xff\xff", 2, 0,
                                head, sizeof(head), &head_len, &len, &hits),
            -1);
  ASSERT_EQ(lg_inflate_msg_memo(m, z, (const uint8_t *)"\xff\xff", 2, 0,
                                head, sizeof(head), &head_len, &len, &hits),
            -1);
  ASSERT_EQ(hits, 8);
  lg_inflate_memo_free(m);
  lg_deflate_free(d);
  lg_inflate_free(z);
}

#endif /* LG_HAVE_ZLIB */

/* ------------------------------------------------------------------------
 * Newline protocol and message header
 * ------------------------------------------------------------------------ */

TEST(line_parser_any_split) {
  static uint8_t text[400];
  size_t n, a, b, i;
  events_t e;
  lg_line_parser_t p;
  int r;

  n = (size_t)snprintf((char *)text, sizeof(text), "one\n\ntwo\r\n%s\nlast\n",
                       "0123456789012345678901234567890123456789"
                       "0123456789012345678901234567890123456789");
  for (a = 0; a <= n; a++)
    for (b = a; b <= n; b++) {
      memset(&e, 0, sizeof(e));
      lg_line_parser_init(&p, 0);
      r = lg_line_parse(&p, text, a, rec_line, &e);
      r |= lg_line_parse(&p, text + a, b - a, rec_line, &e);
      r |= lg_line_parse(&p, text + b, n - b, rec_line, &e);
      ASSERT_EQ(r, 0);
      ASSERT_EQ(e.n, 5);
      ASSERT(e.ev[0].len == 3 && memcmp(e.ev[0].head, "one", 3) == 0);
      ASSERT_EQ(e.ev[1].len, 0);
      ASSERT(e.ev[2].len == 3 && e.ev[2].head_len == 3);
      ASSERT(memcmp(e.ev[2].head, "two", 3) == 0);
      ASSERT_EQ(e.ev[3].len, 80);
      ASSERT_EQ(e.ev[3].head_len, LG_HEAD_MAX);
      ASSERT(memcmp(e.ev[3].head, text + 10, LG_HEAD_MAX) == 0);
      ASSERT(e.ev[4].len == 4 && memcmp(e.ev[4].head, "last", 4) == 0);
    }
  /* An unterminated tail is not a message yet. */
  memset(&e, 0, sizeof(e));
  lg_line_parser_init(&p, 0);
  ASSERT_EQ(lg_line_parse(&p, (const uint8_t *)"abc", 3, rec_line, &e), 0);
  ASSERT_EQ(e.n, 0);
  /* Too long. */
  lg_line_parser_init(&p, 10);
  for (i = 0; i < 10; i++)
    ASSERT_EQ(lg_line_parse(&p, (const uint8_t *)"x", 1, rec_line, &e), 0);
  ASSERT_EQ(lg_line_parse(&p, (const uint8_t *)"x", 1, rec_line, &e),
            LG_LINE_ETOOBIG);
}

TEST(msg_header_round_trip_and_printable) {
  uint8_t m[100];
  uint32_t pub;
  uint64_t seq, ts;
  size_t i;

  lg_msg_fill(m, sizeof(m), 0xdeadbeef, 0x0123456789abcdefull,
              0xfedcba9876543210ull);
  for (i = 0; i < sizeof(m); i++)
    ASSERT(m[i] >= 0x21 && m[i] < 0x7f);
  ASSERT(memcmp(m, "deadbeef0123456789abcdeffedcba9876543210", 40) == 0);
  ASSERT_EQ(lg_msg_decode(m, sizeof(m), &pub, &seq, &ts), 0);
  ASSERT_EQ(pub, 0xdeadbeef);
  ASSERT(seq == 0x0123456789abcdefull);
  ASSERT(ts == 0xfedcba9876543210ull);
  lg_msg_encode(m, 7, 8, 9);
  ASSERT_EQ(lg_msg_decode(m, 40, &pub, &seq, &ts), 0);
  ASSERT(pub == 7 && seq == 8 && ts == 9);
  ASSERT_EQ(lg_msg_decode(m, 39, &pub, &seq, &ts), -1);
  m[20] = 'g';
  ASSERT_EQ(lg_msg_decode(m, 40, &pub, &seq, &ts), -1);
  m[20] = 'A';
  ASSERT_EQ(lg_msg_decode(m, 40, &pub, &seq, &ts), -1);
}

/* Every byte value at every header position: only lowercase hex digits
 * decode, and each decodes to its value. */
TEST(msg_header_rejects_every_non_hex_byte) {
  uint8_t m[LG_MSG_HEADER], ok[LG_MSG_HEADER];
  uint32_t pub;
  uint64_t seq, ts, x = 0x243f6a8885a308d3ull;
  int pos, c, k, valid, d;

  lg_msg_fill(ok, sizeof(ok), 0, 0, 0);
  for (pos = 0; pos < LG_MSG_HEADER; pos++)
    for (c = 0; c < 256; c++) {
      memcpy(m, ok, sizeof(m));
      m[pos] = (uint8_t)c;
      valid = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
      d = c <= '9' ? c - '0' : c - 'a' + 10;
      if (lg_msg_decode(m, sizeof(m), &pub, &seq, &ts) != (valid ? 0 : -1))
        HARNESS_FAIL("byte 0x%02x at %d", c, pos);
      if (!valid)
        continue;
      if (pos < 8)
        ASSERT_EQ(pub, (uint32_t)d << (4 * (7 - pos)));
      else if (pos < 24)
        ASSERT(seq == (uint64_t)d << (4 * (23 - pos)));
      else
        ASSERT(ts == (uint64_t)d << (4 * (39 - pos)));
    }
  for (k = 0; k < 10000; k++) {
    uint64_t s2, t2;
    uint32_t p2 = (uint32_t)(x >> 17);
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    s2 = x;
    t2 = x * 31 + 7;
    lg_msg_encode(m, p2, s2, t2);
    ASSERT_EQ(lg_msg_decode(m, sizeof(m), &pub, &seq, &ts), 0);
    ASSERT(pub == p2 && seq == s2 && ts == t2);
  }
}

/* A flat JSON object of string keys and string or whole number values,
 * as the json payload is: returns the number of members, or -1. */
static int flat_json_members(const uint8_t *m, size_t n) {
  size_t i = 0;
  int members = 0;

  if (n < 2 || m[0] != '{' || m[n - 1] != '}')
    return -1;
  for (i = 1; i < n - 1;) {
    if (members > 0 && m[i++] != ',')
      return m[i - 1] == ' ' ? members : -1; /* blank padding to the end */
    if (m[i++] != '"')
      return -1;
    while (i < n && m[i] != '"')
      if (m[i] < 0x20 || m[i] == '\\' || m[i++] >= 0x7f)
        return -1;
    if (i + 2 >= n || m[i + 1] != ':')
      return -1;
    i += 2;
    if (m[i] == '"') {
      for (i++; i < n && m[i] != '"'; i++)
        if (m[i] < 0x20 || m[i] == '\\' || m[i] >= 0x7f)
          return -1;
      i++;
    } else {
      if (m[i] < '1' || m[i] > '9')
        if (m[i] != '0' || (m[i + 1] >= '0' && m[i + 1] <= '9'))
          return -1;
      while (m[i] >= '0' && m[i] <= '9')
        i++;
    }
    members++;
  }
  return i == n - 1 ? members : -1;
}

TEST(json_payload_is_json_of_the_size_with_the_header) {
  static uint8_t m[4096], m2[4096];
  uint32_t pub;
  uint64_t seq, ts;
  size_t size, i, spaces;

  for (size = LG_JSON_MIN; size <= sizeof(m); size += size < 200 ? 1 : 97) {
    memset(m, 0, sizeof(m));
    lg_msg_fill_json(m, size, 12, 3456 + size, 7000000000000ull + size);
    ASSERT_EQ(m[size], 0); /* not a byte more */
    for (i = 0; i < size; i++)
      ASSERT(m[i] >= 0x20 && m[i] < 0x7f);
    if (flat_json_members(m, size) < 1)
      HARNESS_FAIL("size %zu: not a flat JSON object: %.*s", size,
                   (int)size, m);
    ASSERT(memcmp(m, "{\"h\":\"", LG_JSON_PREFIX) == 0);
    ASSERT_EQ(lg_msg_decode(m, size < LG_HEAD_MAX ? size : LG_HEAD_MAX,
                            &pub, &seq, &ts), 0);
    ASSERT(pub == 12 && seq == 3456 + size && ts == 7000000000000ull + size);
    if (size >= 200)
      ASSERT(strstr((char *)m, ",\"text\":\"") != NULL);
  }
  /* A chat message's members, and text that differs between messages. */
  lg_msg_fill_json(m, 1024, 1, 1, 1);
  lg_msg_fill_json(m2, 1024, 1, 2, 1);
  ASSERT_EQ(flat_json_members(m, 1024), 7);
  for (i = 0, spaces = 0; i < 1024; i++)
    spaces += m[i] == ' ';
  ASSERT(spaces > 100); /* words, not one long run */
  ASSERT(memcmp(m + 500, m2 + 500, 100) != 0);
  ASSERT(strstr((char *)m, "\"type\":\"msg\",\"room\":\"") != NULL);
  /* A brace that does not start the header is not one. */
  memcpy(m2, m, 1024);
  m2[2] = 'x';
  ASSERT_EQ(lg_msg_decode(m2, LG_HEAD_MAX, &pub, &seq, &ts), -1);
  ASSERT_EQ(lg_msg_decode(m, LG_JSON_PREFIX + LG_MSG_HEADER - 1, &pub, &seq,
                          &ts), -1);
}

#ifdef LG_HAVE_ZLIB

/* 1 KiB json messages compress 2-3x at level 6 one by one (no context
 * takeover), unlike plain padding, and come back through the parser and
 * the inflater with their header intact. */
TEST(json_payload_compresses_and_round_trips) {
  static uint8_t m[1024], packed[2048], frame[2048];
  static events_t e;
  uint8_t head[LG_HEAD_MAX];
  size_t head_len, h, total = 0, k;
  uint64_t len, seq, ts;
  uint32_t pub;
  long n;
  double ratio;
  lg_deflate_t *d = lg_deflate_new(15);
  lg_inflate_t *z = lg_inflate_new();

  ASSERT(d != NULL && z != NULL);
  for (k = 0; k < 100; k++) {
    lg_msg_fill_json(m, sizeof(m), 4, k, 1000 + k);
    n = lg_deflate_msg(d, m, sizeof(m), 1, packed);
    ASSERT(n > 0);
    total += (size_t)n;
    h = lg_ws_frame_header(frame, LG_WS_OP_TEXT, (uint64_t)n, NULL);
    frame[0] |= LG_WS_RSV1;
    memcpy(frame + h, packed, (size_t)n);
    ASSERT_EQ(ws_parse_split_rsv1(frame, h + (size_t)n, h + 3, h + 3, &e, 0,
                                  1), 0);
    ASSERT(e.n == 1 && e.ev[0].kind == 'z' && e.ev[0].len == (uint64_t)n);
    ASSERT_EQ(lg_inflate_msg(z, e.z, e.ev[0].len, 1, 0, head, sizeof(head),
                             &head_len, &len), 0);
    ASSERT_EQ(len, sizeof(m));
    ASSERT_EQ(lg_msg_decode(head, head_len, &pub, &seq, &ts), 0);
    ASSERT(pub == 4 && seq == k && ts == 1000 + k);
  }
  ratio = 100.0 * sizeof(m) / (double)total;
  printf("# json 1 KiB: %.2fx at zlib level 6, message by message\n", ratio);
  ASSERT(ratio >= 2.0 && ratio <= 3.5);
  lg_msg_fill(m, sizeof(m), 4, 0, 0);
  n = lg_deflate_msg(d, m, sizeof(m), 1, packed);
  ASSERT(n > 0 && n < 100); /* plain padding: next to nothing */
  lg_deflate_free(d);
  lg_inflate_free(z);
}

#endif /* LG_HAVE_ZLIB */

/* ------------------------------------------------------------------------
 * Histogram
 * ------------------------------------------------------------------------ */

TEST(hist_index_is_monotonic_and_tight) {
  uint64_t v, prev_high = 0;
  size_t i, prev = 0;
  int shift;

  for (v = 0; v < 4 * LG_HIST_SUB; v++)
    ASSERT_EQ(lg_hist_index(v), v < 2 * LG_HIST_SUB ? v : lg_hist_index(v));
  for (shift = 0; shift < 64; shift++) {
    uint64_t base = (uint64_t)1 << shift;
    uint64_t probes[3] = {base, base + base / 3, base + (base - 1)};
    int k;
    for (k = 0; k < 3; k++) {
      v = probes[k];
      i = lg_hist_index(v);
      ASSERT(i < LG_HIST_BUCKETS);
      ASSERT(i >= prev);
      prev = i;
      ASSERT(lg_hist_bucket_high(i) >= v);
      /* Within 1/2^SUB_BITS of the value. */
      ASSERT((double)(lg_hist_bucket_high(i) - v) <=
             (double)v / LG_HIST_SUB + 1);
      /* The bucket below ends below v. */
      if (i > 0)
        ASSERT(lg_hist_bucket_high(i - 1) < v);
    }
  }
  ASSERT_EQ(lg_hist_index(UINT64_MAX), LG_HIST_BUCKETS - 1);
  ASSERT(lg_hist_bucket_high(LG_HIST_BUCKETS - 1) == UINT64_MAX);
  /* Every bucket's range follows the previous one's. */
  for (i = 1; i < LG_HIST_BUCKETS; i++) {
    ASSERT(lg_hist_bucket_high(i) > prev_high || i == 1);
    ASSERT_EQ(lg_hist_index(lg_hist_bucket_high(i)), i);
    ASSERT_EQ(lg_hist_index(lg_hist_bucket_high(i - 1) + 1), i);
    prev_high = lg_hist_bucket_high(i);
  }
}

TEST(hist_quantiles) {
  static lg_hist_t h, h2;
  uint64_t v;
  double q;

  lg_hist_reset(&h);
  ASSERT_EQ(lg_hist_quantile(&h, 0.5), 0);
  /* 1..100000 ns once each: the q-quantile is q * 100000 within 1/128. */
  for (v = 1; v <= 100000; v++)
    lg_hist_record(&h, v);
  ASSERT_EQ(h.count, 100000);
  ASSERT_EQ(h.min, 1);
  ASSERT_EQ(h.max, 100000);
  for (q = 0.01; q < 1.0; q += 0.01) {
    double want = q * 100000, got = (double)lg_hist_quantile(&h, q);
    ASSERT(got >= want - 1);
    ASSERT(got <= want * (1 + 1.0 / LG_HIST_SUB) + 1);
  }
  ASSERT_EQ(lg_hist_quantile(&h, 1.0), 100000);
  ASSERT_EQ(lg_hist_quantile(&h, 0.0), 1);
  ASSERT(fabs(h.sum / (double)h.count - 50000.5) < 1e-6);
  /* A tail: 999 fast, 1 slow. p99.9 is fast, max is slow. */
  lg_hist_reset(&h2);
  for (v = 0; v < 999; v++)
    lg_hist_record(&h2, 1000);
  lg_hist_record(&h2, 5000000);
  ASSERT(lg_hist_quantile(&h2, 0.5) >= 1000);
  ASSERT(lg_hist_quantile(&h2, 0.5) <= 1000 + 1000 / LG_HIST_SUB);
  ASSERT(lg_hist_quantile(&h2, 0.999) <= 1000 + 1000 / LG_HIST_SUB);
  ASSERT_EQ(lg_hist_quantile(&h2, 0.9995), 5000000);
  ASSERT_EQ(h2.max, 5000000);
  lg_hist_merge(&h, &h2);
  ASSERT_EQ(h.count, 101000);
  ASSERT_EQ(h.max, 5000000);
  ASSERT_EQ(h.min, 1);
}

int main(int argc, char **argv) {
  return RUN_TESTS(argc, argv);
}
