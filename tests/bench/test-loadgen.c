/* Unit tests of the load generator's codecs: WebSocket frames and
 * handshake, the newline parser, the message header, SHA-1/base64 and the
 * latency histogram. Parsers are fed every split of their input. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
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
  int kind; /* 'm' message, 'c' control */
  int opcode;
  uint8_t head[LG_HEAD_MAX];
  size_t head_len;
  uint64_t len;
} event_t;

typedef struct {
  event_t ev[MAX_EVENTS];
  int n;
  int stop_on_close;
} events_t;

static int rec_message(void *ud, int opcode, const uint8_t *head,
                       size_t head_len, uint64_t len) {
  events_t *e = ud;
  event_t *v;

  if (e->n == MAX_EVENTS)
    return 99;
  v = &e->ev[e->n++];
  v->kind = 'm';
  v->opcode = opcode;
  memcpy(v->head, head, head_len);
  v->head_len = head_len;
  v->len = len;
  return 0;
}

static int rec_control(void *ud, int opcode, const uint8_t *payload,
                       size_t len) {
  events_t *e = ud;
  event_t *v;

  if (e->n == MAX_EVENTS)
    return 99;
  v = &e->ev[e->n++];
  v->kind = 'c';
  v->opcode = opcode;
  memcpy(v->head, payload, len < LG_HEAD_MAX ? len : LG_HEAD_MAX);
  v->head_len = len < LG_HEAD_MAX ? len : LG_HEAD_MAX;
  v->len = len;
  return opcode == LG_WS_OP_CLOSE && e->stop_on_close ? 7 : 0;
}

static int rec_line(void *ud, const uint8_t *head, size_t head_len,
                    uint64_t len) {
  return rec_message(ud, 0, head, head_len, len);
}

static const lg_ws_callbacks_t rec_cbs = {rec_message, rec_control};

/* Parses data in up to three pieces split at a and b (a <= b <= len);
 * returns the parser's first non-zero result. */
static int ws_parse_split(const uint8_t *data, size_t len, size_t a,
                          size_t b, events_t *e, uint64_t max) {
  lg_ws_parser_t p;
  int r;

  memset(e, 0, sizeof(*e));
  lg_ws_parser_init(&p, max);
  r = lg_ws_parse(&p, data, a, &rec_cbs, e);
  if (r == 0)
    r = lg_ws_parse(&p, data + a, b - a, &rec_cbs, e);
  if (r == 0)
    r = lg_ws_parse(&p, data + b, len - b, &rec_cbs, e);
  return r;
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

  n = lg_ws_request(req, sizeof(req), "127.0.0.1:8080", "/ws", nonce,
                    accept);
  ASSERT(n > 0);
  ASSERT_STR_EQ(accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  ASSERT(strncmp(req, "GET /ws HTTP/1.1\r\n", 18) == 0);
  ASSERT(strstr(req, "\r\nHost: 127.0.0.1:8080\r\n") != NULL);
  ASSERT(strstr(req, "\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"));
  ASSERT(strstr(req, "\r\nSec-WebSocket-Version: 13\r\n") != NULL);
  ASSERT(strstr(req, "\r\nUpgrade: websocket\r\n") != NULL);
  ASSERT(strstr(req, "\r\nConnection: Upgrade\r\n") != NULL);
  ASSERT_EQ(lg_http_head_len(req, (size_t)n), n);
  ASSERT_EQ(lg_ws_request(req, 40, "127.0.0.1:8080", "/ws", nonce, accept),
            -1);
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

TEST(ws_parser_rejects_bad_frames) {
  static const struct {
    const char *what;
    uint8_t b[12];
    size_t n;
    int err;
  } bad[] = {
    {"rsv1", {0xc1, 0x00}, 2, LG_WS_EPROTO},
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
  size_t i, a;
  events_t e;

  for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    for (a = 0; a <= bad[i].n; a++)
      if (ws_parse_split(bad[i].b, bad[i].n, a, a, &e, 1000) != bad[i].err)
        HARNESS_FAIL("%s (split at %zu) was not rejected", bad[i].what, a);
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
