/* The WebSocket opening handshake: SHA-1, base64, the accept key, and the
 * request parser fed whole, byte by byte and split at every offset. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"
#include "ws-deflate.h"
#include "ws-handshake.h"
#include "ws-key.h"

static void hex(const uint8_t *d, size_t n, char *out) {
  size_t i;

  for (i = 0; i < n; i++)
    sprintf(out + 2 * i, "%02x", d[i]);
}

static void sha1_hex(const void *data, size_t len, size_t repeat,
                     char out[41]) {
  uint8_t digest[HUB_WS__SHA1_LEN];
  hub_ws__sha1_t s;
  size_t i;

  hub_ws__sha1_init(&s);
  for (i = 0; i < repeat; i++)
    hub_ws__sha1_update(&s, data, len);
  hub_ws__sha1_final(&s, digest);
  hex(digest, sizeof(digest), out);
}

/* FIPS 180-2 appendix A and RFC 3174 §7.3 test vectors. */
TEST(sha1_fips_and_rfc3174_vectors) {
  char out[41];

  sha1_hex("", 0, 1, out);
  ASSERT_STR_EQ(out, "da39a3ee5e6b4b0d3255bfef95601890afd80709");
  sha1_hex("abc", 3, 1, out);
  ASSERT_STR_EQ(out, "a9993e364706816aba3e25717850c26c9cd0d89d");
  sha1_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56,
           1, out);
  ASSERT_STR_EQ(out, "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
  sha1_hex("a", 1, 1000000, out);
  ASSERT_STR_EQ(out, "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
  sha1_hex("0123456701234567012345670123456701234567012345670123456701234567",
           64, 10, out);
  ASSERT_STR_EQ(out, "dea356a2cddd90c7a7ecedc5ebb563934f460452");
}

/* Padding lengths around the 56-byte boundary hash the same whole or in
 * pieces. */
TEST(sha1_incremental_matches_one_shot) {
  uint8_t buf[200], d1[HUB_WS__SHA1_LEN], d2[HUB_WS__SHA1_LEN];
  hub_ws__sha1_t a, b;
  size_t len, i;

  for (i = 0; i < sizeof(buf); i++)
    buf[i] = (uint8_t)(i * 7 + 3);
  for (len = 0; len <= sizeof(buf); len++) {
    hub_ws__sha1_init(&a);
    hub_ws__sha1_update(&a, buf, len);
    hub_ws__sha1_final(&a, d1);
    hub_ws__sha1_init(&b);
    for (i = 0; i < len; i++)
      hub_ws__sha1_update(&b, buf + i, 1);
    hub_ws__sha1_final(&b, d2);
    ASSERT(memcmp(d1, d2, sizeof(d1)) == 0);
  }
}

/* RFC 4648 §10. */
TEST(base64_rfc4648_vectors) {
  static const char *plain[] = {"", "f", "fo", "foo", "foob", "fooba",
                                "foobar"};
  static const char *coded[] = {"",         "Zg==",     "Zm8=",    "Zm9v",
                                "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
  char out[16];
  uint8_t raw[16];
  size_t i;
  long n;

  for (i = 0; i < 7; i++) {
    ASSERT_EQ(hub_ws__base64_encode(plain[i], strlen(plain[i]), out),
              strlen(coded[i]));
    ASSERT_STR_EQ(out, coded[i]);
    n = hub_ws__base64_decode(coded[i], strlen(coded[i]), raw);
    ASSERT_EQ(n, strlen(plain[i]));
    ASSERT(memcmp(raw, plain[i], (size_t)n) == 0);
  }
}

TEST(base64_decode_rejects_malformed_text) {
  uint8_t raw[16];

  ASSERT_EQ(hub_ws__base64_decode("Zg=", 3, raw), -1);  /* not a multiple */
  ASSERT_EQ(hub_ws__base64_decode("Z===", 4, raw), -1); /* too much padding */
  ASSERT_EQ(hub_ws__base64_decode("Zg=a", 4, raw), -1); /* data after pad */
  ASSERT_EQ(hub_ws__base64_decode("Zg==Zg==", 8, raw), -1); /* pad mid-text */
  ASSERT_EQ(hub_ws__base64_decode("Zm9*", 4, raw), -1);     /* alphabet */
  ASSERT_EQ(hub_ws__base64_decode("Zm 9", 4, raw), -1);     /* whitespace */
}

TEST(accept_key_matches_rfc6455_example) {
  char out[HUB_WS__ACCEPT_LEN + 1];

  hub_ws__accept_key("dGhlIHNhbXBsZSBub25jZQ==", 24, out);
  ASSERT_STR_EQ(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

TEST(key_must_be_base64_of_16_bytes) {
  ASSERT(hub_ws__key_valid("dGhlIHNhbXBsZSBub25jZQ==", 24));
  ASSERT(!hub_ws__key_valid("dGhlIHNhbXBsZSBub25jZQ=", 23));
  ASSERT(!hub_ws__key_valid("dGhlIHNhbXBsZSBub25jZQ===", 25));
  ASSERT(!hub_ws__key_valid("dGhlIHNhbXBsZSBub25jZ***", 24));
  ASSERT(!hub_ws__key_valid("dGhlIHNhbXBsZSBub25jZWE=", 24)); /* 17 bytes */
  ASSERT(!hub_ws__key_valid("dGhlIHNhbXBsZSBub25jZQ", 22));
  ASSERT(!hub_ws__key_valid("", 0));
}

/* ------------------------------------------------------------------------
 * The request parser
 * ------------------------------------------------------------------------ */

#define GOOD_REQUEST                                                        \
  "GET /ws?room=1 HTTP/1.1\r\n"                                             \
  "Host: 127.0.0.1:8080\r\n"                                                \
  "Upgrade: websocket\r\n"                                                  \
  "Connection: Upgrade\r\n"                                                 \
  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"                         \
  "Origin: http://127.0.0.1:8080\r\n"                                       \
  "X-Empty:\r\n"                                                            \
  "X-Spaces:   padded value  \r\n"                                          \
  "Sec-WebSocket-Version: 13\r\n"                                           \
  "\r\n"

/* A masked text frame "Hi" that arrived with the request. */
static const char first_frame[] = "\x81\x82\x01\x02\x03\x04\x49\x6b";

typedef struct {
  int result;       /* HUB_WS__HS_DONE or the HTTP status */
  size_t head_len;  /* bytes of the input that were the head */
} outcome;

/* Feed `req` (len bytes) in pieces cut at the offsets in `cuts` (sorted,
 * ncuts of them), as reads from a socket would. */
static outcome feed_cut(hub_ws__hs_t *hs, const char *req, size_t len,
                        const size_t *cuts, size_t ncuts) {
  outcome o = {HUB_WS__HS_MORE, 0};
  size_t start = 0, end, used, i;

  for (i = 0; i <= ncuts && o.result == HUB_WS__HS_MORE; i++) {
    end = i < ncuts ? cuts[i] : len;
    o.result = hub_ws__hs_feed(hs, req + start, end - start, &used);
    if (o.result == HUB_WS__HS_MORE && used != end - start)
      o.result = -1; /* a head that is not complete takes everything */
    if (o.result == HUB_WS__HS_DONE)
      o.head_len = start + used;
    start = end;
  }
  return o;
}

static outcome feed_whole(hub_ws__hs_t *hs, const char *req, size_t len) {
  return feed_cut(hs, req, len, NULL, 0);
}

static void check_good(hub_ws__hs_t *hs) {
  char resp[256];
  size_t n;

  ASSERT_STR_EQ(hub_ws__hs_method(hs), "GET");
  ASSERT_STR_EQ(hub_ws__hs_target(hs), "/ws?room=1");
  ASSERT_STR_EQ(hub_ws__hs_path(hs), "/ws");
  ASSERT_STR_EQ(hub_ws__hs_header(hs, "host"), "127.0.0.1:8080");
  ASSERT_STR_EQ(hub_ws__hs_header(hs, "X-EMPTY"), "");
  ASSERT_STR_EQ(hub_ws__hs_header(hs, "x-spaces"), "padded value");
  ASSERT(hub_ws__hs_header(hs, "X-Missing") == NULL);
  ASSERT_EQ(hub_ws__hs_nfields(hs), 8);
  ASSERT_STR_EQ(hub_ws__hs_field_name(hs, 0), "Host");
  ASSERT_STR_EQ(hub_ws__hs_field_value(hs, 7), "13");
  ASSERT(hub_ws__hs_is_upgrade(hs));
  ASSERT_EQ(hub_ws__hs_check_upgrade(hs), 0);
  n = hub_ws__hs_accept_response(hs, resp, sizeof(resp), NULL, NULL);
  ASSERT(n > 0);
  ASSERT(strncmp(resp, "HTTP/1.1 101 Switching Protocols\r\n", 34) == 0);
  ASSERT(strstr(resp, "\r\nSec-WebSocket-Accept: "
                      "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n") != NULL);
  ASSERT(strstr(resp, "\r\nUpgrade: websocket\r\n") != NULL);
  ASSERT(strstr(resp, "\r\nConnection: Upgrade\r\n") != NULL);
  ASSERT(strcmp(resp + n - 4, "\r\n\r\n") == 0);
}

TEST(good_request_split_at_every_offset_keeps_first_frame) {
  char req[1024];
  size_t head = strlen(GOOD_REQUEST), len, cut;
  outcome o;
  hub_ws__hs_t hs;

  memcpy(req, GOOD_REQUEST, head);
  memcpy(req + head, first_frame, sizeof(first_frame) - 1);
  len = head + sizeof(first_frame) - 1;
  for (cut = 0; cut <= len; cut++) {
    hub_ws__hs_init(&hs, 8192);
    o = feed_cut(&hs, req, len, &cut, 1);
    ASSERT_EQ(o.result, HUB_WS__HS_DONE);
    /* The head ends exactly where it does, so the frame is intact. */
    ASSERT_EQ(o.head_len, head);
    check_good(&hs);
    if (harness_failed_now) {
      fprintf(stderr, "cut at %zu\n", cut);
      hub_ws__hs_free(&hs);
      return;
    }
    hub_ws__hs_free(&hs);
  }
}

TEST(good_request_split_at_every_pair_of_offsets) {
  const char *req = GOOD_REQUEST;
  size_t len = strlen(req), cuts[2];
  outcome o;
  hub_ws__hs_t hs;

  for (cuts[0] = 0; cuts[0] <= len; cuts[0] += 3) {
    for (cuts[1] = cuts[0]; cuts[1] <= len; cuts[1]++) {
      hub_ws__hs_init(&hs, 8192);
      o = feed_cut(&hs, req, len, cuts, 2);
      ASSERT_EQ(o.result, HUB_WS__HS_DONE);
      ASSERT_EQ(o.head_len, len);
      check_good(&hs);
      hub_ws__hs_free(&hs);
      if (harness_failed_now)
        return;
    }
  }
}

TEST(good_request_byte_by_byte) {
  const char *req = GOOD_REQUEST;
  size_t len = strlen(req), cuts[1024], i;
  outcome o;
  hub_ws__hs_t hs;

  for (i = 0; i < len; i++)
    cuts[i] = i;
  hub_ws__hs_init(&hs, 8192);
  o = feed_cut(&hs, req, len, cuts, len);
  ASSERT_EQ(o.result, HUB_WS__HS_DONE);
  ASSERT_EQ(o.head_len, len);
  check_good(&hs);
  hub_ws__hs_free(&hs);
}

TEST(feeding_after_done_changes_nothing) {
  const char *req = GOOD_REQUEST;
  size_t used;
  hub_ws__hs_t hs;

  hub_ws__hs_init(&hs, 8192);
  ASSERT_EQ(feed_whole(&hs, req, strlen(req)).result, HUB_WS__HS_DONE);
  ASSERT_EQ(hub_ws__hs_feed(&hs, "xyz", 3, &used), HUB_WS__HS_DONE);
  ASSERT_EQ(used, 0);
  check_good(&hs);
  hub_ws__hs_free(&hs);
}

/* Parse `req` whole and at every split offset; every way must give the
 * same result. Returns it (-1 if they disagree). For a complete head the
 * result is hub_ws__hs_check_upgrade()'s, or 1000 + status of the origin
 * check when `pol` is given and the handshake is otherwise valid. */
static int verdict_pol(const char *req, const hub_ws__origin_policy_t *pol) {
  size_t len = strlen(req), cut;
  int first = -2, r;
  outcome o;
  hub_ws__hs_t hs;

  for (cut = 0; cut <= len; cut++) {
    hub_ws__hs_init(&hs, 8192);
    o = feed_cut(&hs, req, len, &cut, 1);
    r = o.result;
    if (r == HUB_WS__HS_DONE) {
      r = hub_ws__hs_check_upgrade(&hs);
      if (r == 0 && pol != NULL)
        r = hub_ws__hs_check_origin(&hs, pol);
    }
    hub_ws__hs_free(&hs);
    if (first == -2)
      first = r;
    else if (r != first)
      return -1;
  }
  return first;
}

static int verdict(const char *req) {
  return verdict_pol(req, NULL);
}

#define HOST "Host: h\r\n"
#define UPG "Upgrade: websocket\r\nConnection: Upgrade\r\n"
#define KEY "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
#define VER "Sec-WebSocket-Version: 13\r\n"

TEST(valid_variants_are_accepted) {
  /* Tokens are case-insensitive and may sit in comma lists, possibly
   * spread over repeated fields. */
  ASSERT_EQ(verdict("GET / HTTP/1.1\r\n" HOST
                    "upgrade: WebSocket\r\nconnection: keep-alive, UPGRADE\r\n"
                    KEY VER "\r\n"), 0);
  ASSERT_EQ(verdict("GET / HTTP/1.1\r\n" HOST
                    "Upgrade: websocket\r\nConnection: keep-alive\r\n"
                    "Connection: Upgrade\r\n" KEY VER "\r\n"), 0);
  ASSERT_EQ(verdict("GET / HTTP/1.1\r\n" HOST
                    "Upgrade: foo/2, websocket\r\nConnection: Upgrade\r\n"
                    KEY VER "\r\n"), 0);
  ASSERT_EQ(verdict("GET /chat HTTP/1.1\r\n" HOST UPG KEY VER
                    "Content-Length: 0\r\n\r\n"), 0);
  /* Hosts with a port, IPv6 literals, names with RFC 3986's characters. */
  ASSERT_EQ(verdict("GET / HTTP/1.1\r\nHost: 127.0.0.1:65535\r\n" UPG KEY
                    VER "\r\n"), 0);
  ASSERT_EQ(verdict("GET / HTTP/1.1\r\nHost: [::1]:8080\r\n" UPG KEY VER
                    "\r\n"), 0);
  ASSERT_EQ(verdict("GET / HTTP/1.1\r\nHost: [fe80::1]\r\n" UPG KEY VER
                    "\r\n"), 0);
  ASSERT_EQ(verdict("GET / HTTP/1.1\r\nHost: Chat-1.example_x~:0080\r\n"
                    UPG KEY VER "\r\n"), 0);
}

/* Leniencies of http-parser that a server must not share: each is a way
 * for two readers of the same request to disagree. */
TEST(lenient_http_is_refused) {
  /* Obsolete line folding, also of an empty first line, whatever the
   * header. */
  ASSERT_EQ(verdict("GET / HTTP/1.1\r\n" HOST UPG
                    "Sec-WebSocket-Key:\r\n dGhlIHNhbXBsZSBub25jZQ==\r\n"
                    VER "\r\n"), 400);
  ASSERT_EQ(verdict("GET / HTTP/1.1\r\n" HOST UPG
                    "Sec-WebSocket-Key:\r\n\tdGhlIHNhbXBsZSBub25jZQ==\r\n"
                    VER "\r\n"), 400);
  ASSERT_EQ(verdict("GET / HTTP/1.1\r\n" HOST UPG KEY VER
                    "X-Empty:\r\n \r\n\r\n"), 400);
  ASSERT_EQ(verdict("GET / HTTP/1.1\r\nHost:\r\n h\r\n" UPG KEY VER
                    "\r\n"), 400);
  /* Versions other than HTTP/1.1 and 1.0. */
  ASSERT_EQ(verdict("GET / HTTP/2.0\r\n" HOST UPG KEY VER "\r\n"), 505);
  ASSERT_EQ(verdict("GET / HTTP/1.2\r\n" HOST UPG KEY VER "\r\n"), 505);
  ASSERT_EQ(verdict("GET / HTTP/0.9\r\n" HOST UPG KEY VER "\r\n"), 505);
  ASSERT_EQ(verdict("GET / HTTP/3.0\r\n" HOST "\r\n"), 505);
  /* Targets that are not in origin form. */
  ASSERT_EQ(verdict("GET http://h/ws HTTP/1.1\r\n" HOST UPG KEY VER
                    "\r\n"), 400);
  ASSERT_EQ(verdict("GET http://evil.example/ws HTTP/1.1\r\n" HOST UPG KEY
                    VER "\r\n"), 400);
  ASSERT_EQ(verdict("GET ws://h/ws HTTP/1.1\r\n" HOST UPG KEY VER "\r\n"),
            400);
  ASSERT_EQ(verdict("OPTIONS * HTTP/1.1\r\n" HOST "\r\n"), 400);
  /* Hosts that are not a host and a port. */
  ASSERT_EQ(verdict("GET / HTTP/1.1\r\nHost: 127.0.0.1:evil\r\n" UPG KEY
                    VER "\r\n"), 400);
  ASSERT_EQ(verdict("GET / HTTP/1.1\r\nHost: 127.0.0.1:65536\r\n" UPG KEY
                    VER "\r\n"), 400);
  ASSERT_EQ(verdict("GET / HTTP/1.1\r\nHost: h:123456\r\n" UPG KEY VER
                    "\r\n"), 400);
  ASSERT_EQ(verdict("GET / HTTP/1.1\r\nHost: h:\r\n" UPG KEY VER "\r\n"),
            400);
  ASSERT_EQ(verdict("GET / HTTP/1.1\r\nHost: h:1:2\r\n" UPG KEY VER
                    "\r\n"), 400);
  ASSERT_EQ(verdict("GET / HTTP/1.1\r\nHost: :80\r\n" UPG KEY VER "\r\n"),
            400);
  ASSERT_EQ(verdict("GET / HTTP/1.1\r\nHost: user@h\r\n" UPG KEY VER
                    "\r\n"), 400);
  ASSERT_EQ(verdict("GET / HTTP/1.1\r\nHost: a b\r\n" UPG KEY VER "\r\n"),
            400);
  ASSERT_EQ(verdict("GET / HTTP/1.1\r\nHost: [::1\r\n" UPG KEY VER
                    "\r\n"), 400);
  ASSERT_EQ(verdict("GET / HTTP/1.1\r\nHost: []:80\r\n" UPG KEY VER
                    "\r\n"), 400);
  ASSERT_EQ(verdict("GET / HTTP/1.1\r\nHost: [::1]x\r\n" UPG KEY VER
                    "\r\n"), 400);
  /* Two Hosts are refused for a plain page too. */
  ASSERT_EQ(verdict("GET / HTTP/1.1\r\n" HOST "Host: other\r\n\r\n"), 400);
}

TEST(invalid_handshakes_get_the_right_status) {
  ASSERT_EQ(verdict("POST / HTTP/1.1\r\n" HOST UPG KEY VER "\r\n"), 405);
  ASSERT_EQ(verdict("HEAD / HTTP/1.1\r\n" HOST UPG KEY VER "\r\n"), 405);
  ASSERT_EQ(verdict("GET / HTTP/1.0\r\n" HOST UPG KEY VER "\r\n"), 400);
  ASSERT_EQ(verdict("GET / HTTP/1.1\r\n" UPG KEY VER "\r\n"), 400);
  ASSERT_EQ(verdict("GET / HTTP/1.1\r\n" HOST HOST UPG KEY VER "\r\n"), 400);
  ASSERT_EQ(verdict("GET / HTTP/1.1\r\nHost:\r\n" UPG KEY VER "\r\n"), 400);
  /* No Upgrade at all: the client must upgrade. */
  ASSERT_EQ(verdict("GET / HTTP/1.1\r\n" HOST
                    "Connection: Upgrade\r\n" KEY VER "\r\n"), 426);
  ASSERT_EQ(verdict("GET / HTTP/1.1\r\n" HOST
                    "Upgrade: h2c\r\nConnection: Upgrade\r\n" KEY VER
                    "\r\n"), 400);
  ASSERT_EQ(verdict("GET / HTTP/1.1\r\n" HOST
                    "Upgrade: websockets\r\nConnection: Upgrade\r\n" KEY VER
                    "\r\n"), 400);
  ASSERT_EQ(verdict("GET / HTTP/1.1\r\n" HOST
                    "Upgrade: websocket\r\nConnection: keep-alive\r\n" KEY
                    VER "\r\n"), 400);
  ASSERT_EQ(verdict("GET / HTTP/1.1\r\n" HOST
                    "Upgrade: websocket\r\nConnection: upgraded\r\n" KEY VER
                    "\r\n"), 400);
  ASSERT_EQ(verdict("GET / HTTP/1.1\r\n" HOST
                    "Upgrade: websocket\r\n" KEY VER "\r\n"), 400);
  ASSERT_EQ(verdict("GET / HTTP/1.1\r\n" HOST UPG VER "\r\n"), 400);
  ASSERT_EQ(verdict("GET / HTTP/1.1\r\n" HOST UPG KEY KEY VER "\r\n"), 400);
  ASSERT_EQ(verdict("GET / HTTP/1.1\r\n" HOST UPG
                    "Sec-WebSocket-Key: dGhlIHNhbXBsZQ==\r\n" VER "\r\n"),
            400);
  ASSERT_EQ(verdict("GET / HTTP/1.1\r\n" HOST UPG
                    "Sec-WebSocket-Key: not base64 at all!!!!!!\r\n" VER
                    "\r\n"), 400);
  ASSERT_EQ(verdict("GET / HTTP/1.1\r\n" HOST UPG KEY
                    "Sec-WebSocket-Version: 8\r\n\r\n"), 426);
  ASSERT_EQ(verdict("GET / HTTP/1.1\r\n" HOST UPG KEY
                    "Sec-WebSocket-Version: 13, 8\r\n\r\n"), 426);
  ASSERT_EQ(verdict("GET / HTTP/1.1\r\n" HOST UPG KEY "\r\n"), 426);
  ASSERT_EQ(verdict("GET / HTTP/1.1\r\n" HOST UPG KEY VER VER "\r\n"), 426);
  ASSERT_EQ(verdict("GET / HTTP/1.1\r\n" HOST UPG KEY VER
                    "Content-Length: 5\r\n\r\n"), 400);
  ASSERT_EQ(verdict("GET / HTTP/1.1\r\n" HOST UPG KEY VER
                    "Transfer-Encoding: chunked\r\n\r\n"), 400);
}

TEST(malformed_requests_get_400) {
  ASSERT_EQ(verdict("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"), 400);
  ASSERT_EQ(verdict("GET / FTP/1.1\r\n\r\n"), 400);
  ASSERT_EQ(verdict("GET / HTTP/1.1\r\nBad Header: x\r\n\r\n"), 400);
  ASSERT_EQ(verdict("GET / HTTP/1.1\r\nNoColon\r\n\r\n"), 400);
  ASSERT_EQ(verdict("GET / HTTP/1.1\r\n" HOST
                    "X-Folded: a\r\n b\r\n" UPG KEY VER "\r\n"), 400);
}

TEST(head_too_long_gets_431_at_the_exact_limit) {
  char req[9000];
  const char *start = "GET / HTTP/1.1\r\n" HOST UPG KEY VER "X-Pad: ";
  size_t fixed = strlen(start) + 4, pad, len, i, used;
  hub_ws__hs_t hs;
  int r;

  /* A head of exactly max_head bytes passes; one more byte fails, whole
   * or fed in two pieces. */
  for (pad = 8192 - fixed - 1; pad <= 8192 - fixed + 1; pad++) {
    len = (size_t)snprintf(req, sizeof(req), "%s", start);
    memset(req + len, 'a', pad);
    len += pad;
    memcpy(req + len, "\r\n\r\n", 4);
    len += 4;
    for (i = 0; i <= len; i += 997) {
      hub_ws__hs_init(&hs, 8192);
      r = hub_ws__hs_feed(&hs, req, i, &used);
      if (r == HUB_WS__HS_MORE)
        r = hub_ws__hs_feed(&hs, req + i, len - i, &used);
      ASSERT_EQ(r, len <= 8192 ? HUB_WS__HS_DONE : 431);
      if (r == HUB_WS__HS_DONE)
        ASSERT_EQ(hub_ws__hs_check_upgrade(&hs), 0);
      hub_ws__hs_free(&hs);
    }
  }
}

TEST(endless_head_is_cut_at_the_limit) {
  char chunk[100];
  size_t used, total = 0;
  hub_ws__hs_t hs;
  int r;

  memset(chunk, 'a', sizeof(chunk));
  hub_ws__hs_init(&hs, 1000);
  r = hub_ws__hs_feed(&hs, "GET / HTTP/1.1\r\nX: ", 19, &used);
  while (r == HUB_WS__HS_MORE) {
    total += sizeof(chunk);
    ASSERT(total < 2000);
    r = hub_ws__hs_feed(&hs, chunk, sizeof(chunk), &used);
  }
  ASSERT_EQ(r, 431);
  /* Never buffered more than the limit. */
  ASSERT(hs.cap <= 1024);
  hub_ws__hs_free(&hs);
}

TEST(too_many_fields_get_431) {
  char req[4096];
  size_t len, used;
  hub_ws__hs_t hs;
  int i;

  len = (size_t)snprintf(req, sizeof(req), "GET / HTTP/1.1\r\n");
  for (i = 0; i < HUB_WS__HS_MAX_FIELDS + 1; i++)
    len += (size_t)snprintf(req + len, sizeof(req) - len, "X-%d: v\r\n", i);
  len += (size_t)snprintf(req + len, sizeof(req) - len, "\r\n");
  hub_ws__hs_init(&hs, 8192);
  ASSERT_EQ(hub_ws__hs_feed(&hs, req, len, &used), 431);
  hub_ws__hs_free(&hs);
}

TEST(plain_requests_parse_and_are_not_upgrades) {
  const char *req = "GET /index.html?x=%20 HTTP/1.0\r\nAccept: */*\r\n\r\n";
  outcome o;
  hub_ws__hs_t hs;

  hub_ws__hs_init(&hs, 8192);
  o = feed_whole(&hs, req, strlen(req));
  ASSERT_EQ(o.result, HUB_WS__HS_DONE);
  ASSERT_STR_EQ(hub_ws__hs_path(&hs), "/index.html");
  ASSERT_STR_EQ(hub_ws__hs_target(&hs), "/index.html?x=%20");
  ASSERT(!hub_ws__hs_is_upgrade(&hs));
  hub_ws__hs_free(&hs);

  /* An absolute-form target is refused, even for a plain page: its host
   * would be a second Host. */
  req = "GET http://h:1/ws HTTP/1.1\r\nHost: h:1\r\n\r\n";
  hub_ws__hs_init(&hs, 8192);
  ASSERT_EQ(feed_whole(&hs, req, strlen(req)).result, 400);
  hub_ws__hs_free(&hs);
  req = "GET http://h:1 HTTP/1.1\r\nHost: h:1\r\n\r\n";
  hub_ws__hs_init(&hs, 8192);
  ASSERT_EQ(feed_whole(&hs, req, strlen(req)).result, 400);
  hub_ws__hs_free(&hs);
}

#define REQ_ORIGIN(o) "GET / HTTP/1.1\r\nHost: chat.example:8080\r\n" UPG KEY VER o "\r\n"

TEST(origin_policy) {
  static const char *const list[] = {"https://app.example",
                                     "http://localhost:3000"};
  hub_ws__origin_policy_t open = {NULL, 0, 0, 0};
  hub_ws__origin_policy_t allow = {list, 2, 0, 0};
  hub_ws__origin_policy_t same = {NULL, 0, 1, 0};
  hub_ws__origin_policy_t strict = {list, 2, 1, 1};
  const struct {
    const char *origins; /* the request's Origin lines */
    const hub_ws__origin_policy_t *pol;
    int status;
  } cases[] = {
      /* Nothing configured: anything goes. */
      {"Origin: https://evil.example\r\n", &open, 0},
      {"", &open, 0},
      /* An allowlist. */
      {"Origin: https://app.example\r\n", &allow, 0},
      {"Origin: HTTPS://APP.example\r\n", &allow, 0},
      {"Origin: http://localhost:3000\r\n", &allow, 0},
      {"Origin: https://evil.example\r\n", &allow, 403},
      {"Origin: https://app.example.evil\r\n", &allow, 403},
      {"Origin: http://app.example\r\n", &allow, 403},
      {"Origin: null\r\n", &allow, 403},
      {"Origin: https://app.example\r\nOrigin: https://evil.example\r\n",
       &allow, 403},
      /* Non-browser clients send no Origin: allowed unless required. */
      {"", &allow, 0},
      {"", &strict, 403},
      /* Same host as the request. */
      {"Origin: http://chat.example:8080\r\n", &same, 0},
      {"Origin: https://chat.example:8080\r\n", &same, 0},
      {"Origin: http://chat.example:8081\r\n", &same, 403},
      {"Origin: ws://chat.example:8080\r\n", &same, 403},
      {"Origin: http://chat.example:8080\r\n", &strict, 0},
      {"Origin: https://app.example\r\n", &strict, 0},
  };
  size_t k;

  for (k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
    char req[512];

    snprintf(req, sizeof(req), REQ_ORIGIN("%s"), cases[k].origins);
    if (verdict_pol(req, cases[k].pol) != cases[k].status)
      printf("# case %zu\n", k + 1);
    ASSERT_EQ(verdict_pol(req, cases[k].pol), cases[k].status);
  }
}

/* ------------------------------------------------------------------------
 * permessage-deflate offers (RFC 7692 §5, §7.1)
 * ------------------------------------------------------------------------ */

#define PMD "permessage-deflate; server_no_context_takeover; " \
            "client_no_context_takeover"

/* The answer to one Sec-WebSocket-Extensions value from a server that
 * compresses with `bits`: the response value, or "" if it declines. */
static const char *pmd(const char *value, unsigned bits) {
  static char out[HUB_WS__PMD_RESPONSE_MAX];
  int r = hub_ws__pmd_accept_value(value, bits, out, sizeof(out));

  if (r == -1)
    return "(no room)";
  return r == 1 ? out : "";
}

TEST(deflate_offers_accepted) {
  static const char *const plain[] = {
      "permessage-deflate",
      "permessage-deflate; client_max_window_bits", /* browsers */
      "permessage-deflate;client_max_window_bits=10",
      "permessage-deflate; client_max_window_bits=8",
      "permessage-deflate; server_no_context_takeover",
      "permessage-deflate; client_no_context_takeover",
      ("permessage-deflate ; server_no_context_takeover ;"
       " client_no_context_takeover ; client_max_window_bits=\"15\""),
      "x-webkit-deflate-frame, permessage-deflate",
      "foo; bar=\"a, b\", permessage-deflate",
      /* The first offer is bad: the second is taken. */
      "permessage-deflate; server_max_window_bits=16, permessage-deflate",
      "permessage-deflate; unknown, permessage-deflate; client_max_window_bits",
  };
  size_t i;

  for (i = 0; i < sizeof(plain) / sizeof(plain[0]); i++)
    ASSERT_STR_EQ(pmd(plain[i], 15), PMD);
  /* server_max_window_bits: accepted when the server's window fits. */
  ASSERT_STR_EQ(pmd("permessage-deflate; server_max_window_bits=15", 15),
                PMD "; server_max_window_bits=15");
  ASSERT_STR_EQ(pmd("permessage-deflate; server_max_window_bits=\"12\"", 10),
                PMD "; server_max_window_bits=10");
  ASSERT_STR_EQ(pmd("permessage-deflate; server_max_window_bits=9", 9),
                PMD "; server_max_window_bits=9");
  ASSERT_STR_EQ(pmd("permessage-deflate; server_max_window_bits=10, "
                    "permessage-deflate",
                    15),
                PMD);
  /* No room for the answer. */
  ASSERT_EQ(hub_ws__pmd_accept_value("permessage-deflate", 15, (char[8]){0}, 8),
            -1);
}

TEST(deflate_offers_declined) {
  static const char *const bad[] = {
      "",
      "deflate-frame",
      "permessage-deflate2",
      "Permessage-Deflate",
      "permessage-deflate; server_max_window_bits",     /* needs a value */
      "permessage-deflate; server_max_window_bits=10",  /* < 15: can't */
      "permessage-deflate; server_max_window_bits=8",
      "permessage-deflate; server_max_window_bits=016",
      "permessage-deflate; client_max_window_bits=7",
      "permessage-deflate; client_max_window_bits=16",
      "permessage-deflate; client_max_window_bits=015",
      "permessage-deflate; client_max_window_bits=1a",
      "permessage-deflate; client_max_window_bits=",
      "permessage-deflate; client_max_window_bits=\"9",
      "permessage-deflate; server_no_context_takeover=1",
      "permessage-deflate; client_no_context_takeover=\"\"",
      ("permessage-deflate; server_no_context_takeover; "
       "server_no_context_takeover"),
      "permessage-deflate; client_max_window_bits; client_max_window_bits",
      "permessage-deflate; mystery",
      "permessage-deflate; ; client_max_window_bits",
      "permessage-deflate client_max_window_bits",
      "permessage-deflate; client_max_window_bits=9 9",
  };
  size_t i;

  for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    if (*pmd(bad[i], 15) != '\0')
      fprintf(stderr, "accepted: %s\n", bad[i]);
    ASSERT_STR_EQ(pmd(bad[i], 15), "");
  }
  /* zlib has no 8-bit window: a server cannot honour 8 at all. */
  ASSERT_STR_EQ(pmd("permessage-deflate; server_max_window_bits=8", 9), "");
  ASSERT_EQ(
      hub_ws__pmd_accept_value("permessage-deflate", 8, (char[128]){0}, 128),
      0);
}

/* Offers spread over several headers, and the 101 that answers them. */
TEST(deflate_offers_across_headers_and_the_response) {
  static const char req[] =
      "GET /ws HTTP/1.1\r\n"
      "Host: h\r\n"
      "Upgrade: websocket\r\n"
      "Connection: Upgrade\r\n"
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
      "Sec-WebSocket-Version: 13\r\n"
      "Sec-WebSocket-Extensions: permessage-deflate; bogus\r\n"
      "Sec-WebSocket-Extensions: permessage-deflate; "
      "server_max_window_bits=15\r\n"
      "\r\n";
  char out[HUB_WS__PMD_RESPONSE_MAX], resp[512];
  size_t used;
  hub_ws__hs_t hs;

  hub_ws__hs_init(&hs, 8192);
  ASSERT_EQ(hub_ws__hs_feed(&hs, req, sizeof(req) - 1, &used), HUB_WS__HS_DONE);
  ASSERT_EQ(hub_ws__pmd_accept(&hs, 15, out, sizeof(out)), 1);
  ASSERT_STR_EQ(out, PMD "; server_max_window_bits=15");
  ASSERT_EQ(hub_ws__pmd_accept(&hs, 14, out, sizeof(out)), 1);
  ASSERT_STR_EQ(out, PMD "; server_max_window_bits=14");
  ASSERT(hub_ws__hs_accept_response(&hs, resp, sizeof(resp), "libhub.v1", out) >
         0);
  ASSERT(strstr(resp, "\r\nSec-WebSocket-Protocol: libhub.v1\r\n"
                      "Sec-WebSocket-Extensions: " PMD
                      "; server_max_window_bits=14\r\n\r\n") != NULL);
  hub_ws__hs_free(&hs);
}

TEST(response_heads) {
  char out[512];
  size_t n;

  n = hub_ws__http_response_head(out, sizeof(out), 426, NULL, NULL, 0);
  ASSERT(n > 0);
  ASSERT(strncmp(out, "HTTP/1.1 426 Upgrade Required\r\n", 31) == 0);
  ASSERT(strstr(out, "\r\nSec-WebSocket-Version: 13\r\n") != NULL);
  ASSERT(strstr(out, "\r\nConnection: close\r\n") != NULL);
  ASSERT(strcmp(out + n - 4, "\r\n\r\n") == 0);
  n = hub_ws__http_response_head(out, sizeof(out), 405, NULL, NULL, 3);
  ASSERT(strstr(out, "\r\nAllow: GET\r\n") != NULL);
  ASSERT(strstr(out, "\r\nContent-Length: 3\r\n") != NULL);
  n = hub_ws__http_response_head(out, sizeof(out), 200, "text/html",
                                 "X-A: b\r\n", 10);
  ASSERT(strncmp(out, "HTTP/1.1 200 OK\r\n", 17) == 0);
  ASSERT(strstr(out, "\r\nContent-Type: text/html\r\n") != NULL);
  ASSERT(strstr(out, "\r\nX-A: b\r\n\r\n") != NULL);
  ASSERT_EQ(hub_ws__http_response_head(out, 20, 200, NULL, NULL, 0), 0);
  ASSERT_STR_EQ(hub_ws__http_reason(431), "Request Header Fields Too Large");
  ASSERT_STR_EQ(hub_ws__http_reason(505), "HTTP Version Not Supported");
}

int main(int argc, char **argv) {
  return RUN_TESTS(argc, argv);
}
