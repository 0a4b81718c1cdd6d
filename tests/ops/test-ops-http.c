/* The operations listener's request-head reader (examples/common/
 * hubx-http.c): requests it must take, requests it must refuse and with
 * which status, each fed whole and split at every byte offset (the first
 * part must never be refused or taken early). */
#include <string.h>

#include "harness.h"
#include "hubx-http.h"

/* Feed `s` in two parts at every offset: the first part alone is "not
 * complete yet" unless it already shows an error, and the whole gives
 * `want`. */
static int split_status(const char *s, size_t len, int want) {
  hubx_http_req_t req;
  size_t cut;
  int r;

  for (cut = 0; cut < len; cut++) {
    r = hubx_http_parse(s, cut, &req);
    if (r != 0 && r != want)
      return r;
    if (r == 200)
      return -1; /* taken before its end */
  }
  return hubx_http_parse(s, len, &req);
}

static int status_of(const char *s, int want) {
  return split_status(s, strlen(s), want);
}

TEST(takes_a_get_and_gives_method_and_path) {
  const char *s = "GET /metrics?x=1 HTTP/1.1\r\nHost: 127.0.0.1:9\r\n"
                  "Accept: */*\r\n\r\n";
  hubx_http_req_t req;

  ASSERT_EQ(split_status(s, strlen(s), 200), 200);
  ASSERT_EQ(hubx_http_parse(s, strlen(s), &req), 200);
  ASSERT_STR_EQ(req.method, "GET");
  ASSERT_STR_EQ(req.path, "/metrics");
  ASSERT_EQ(req.head_len, strlen(s));
}

TEST(takes_lf_only_http10_and_no_headers) {
  const char *s = "HEAD /healthz HTTP/1.0\n\n";
  hubx_http_req_t req;

  ASSERT_EQ(split_status(s, strlen(s), 200), 200);
  ASSERT_EQ(hubx_http_parse(s, strlen(s), &req), 200);
  ASSERT_STR_EQ(req.method, "HEAD");
  ASSERT_STR_EQ(req.path, "/healthz");
}

TEST(a_body_after_the_head_is_not_read) {
  const char *s = "POST /metrics HTTP/1.1\r\nContent-Length: 4\r\n\r\nbody";
  hubx_http_req_t req;

  ASSERT_EQ(hubx_http_parse(s, strlen(s), &req), 200);
  ASSERT_STR_EQ(req.method, "POST");
  ASSERT_EQ(req.head_len, strlen(s) - 4);
}

TEST(refuses_what_is_not_a_request_line) {
  static const char *bad[] = {
    "garbage\r\n\r\n",
    "get /metrics HTTP/1.1\r\n\r\n",
    "GET metrics HTTP/1.1\r\n\r\n",
    "GET  /metrics HTTP/1.1\r\n\r\n",
    "GET /metrics\r\n\r\n",
    "GET /metrics HTTP/1.1 \r\n\r\n",
    "GET /metrics HTTP/1.x\r\n\r\n",
    "GET /met\x01rics HTTP/1.1\r\n\r\n",
    "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", /* a TLS hello */
    "ABCDEFGHIJKLMNOPQ / HTTP/1.1\r\n\r\n",
  };
  size_t i;

  for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    size_t len = i == 8 ? 11 : strlen(bad[i]);
    ASSERT_EQ(split_status(bad[i], len, 400), 400);
  }
}

TEST(refuses_bad_header_lines) {
  ASSERT_EQ(status_of("GET / HTTP/1.1\r\nNo colon\r\n\r\n", 400), 400);
  ASSERT_EQ(status_of("GET / HTTP/1.1\r\n: empty name\r\n\r\n", 400), 400);
  ASSERT_EQ(status_of("GET / HTTP/1.1\r\nSpace : no\r\n\r\n", 400), 400);
  ASSERT_EQ(status_of("GET / HTTP/1.1\r\nX: a\x1b[2Jb\r\n\r\n", 400), 400);
  {
    static const char nul[] = "GET / HTTP/1.1\r\nX: a\0b\r\n\r\n";
    ASSERT_EQ(split_status(nul, sizeof(nul) - 1, 400), 400);
  }
}

TEST(refuses_other_versions_and_long_targets) {
  char target[600];

  ASSERT_EQ(status_of("GET /metrics HTTP/2.0\r\n\r\n", 505), 505);
  ASSERT_EQ(status_of("GET /metrics HTTP/0.9\r\n\r\n", 505), 505);
  memset(target, 'a', sizeof(target));
  memcpy(target, "GET /", 5);
  memcpy(target + 300, " HTTP/1.1\r\n\r\n", 14);
  target[314] = '\0';
  ASSERT_EQ(status_of(target, 414), 414);
}

TEST(a_head_without_end_stops_at_the_bound) {
  static char big[HUBX_HTTP_HEAD_MAX + 100];
  hubx_http_req_t req;
  size_t n;

  n = (size_t)snprintf(big, sizeof(big), "GET /metrics HTTP/1.1\r\n");
  while (n + 10 < sizeof(big))
    n += (size_t)snprintf(big + n, sizeof(big) - n, "X-A: b\r\n");
  ASSERT_EQ(hubx_http_parse(big, HUBX_HTTP_HEAD_MAX - 1, &req), 0);
  ASSERT_EQ(hubx_http_parse(big, HUBX_HTTP_HEAD_MAX, &req), 431);
  ASSERT_EQ(hubx_http_parse(big, n, &req), 431);
  /* A request line that never ends. */
  memset(big, 'A', sizeof(big));
  big[3] = ' ';
  memcpy(big, "GET /", 5);
  ASSERT_EQ(hubx_http_parse(big, HUBX_HTTP_HEAD_MAX - 1, &req), 0);
  ASSERT_EQ(hubx_http_parse(big, HUBX_HTTP_HEAD_MAX, &req), 431);
}

TEST(reasons_are_named) {
  ASSERT_STR_EQ(hubx_http_reason(404), "Not Found");
  ASSERT_STR_EQ(hubx_http_reason(431), "Request Header Fields Too Large");
  ASSERT_STR_EQ(hubx_http_reason(299), "Error");
}

int main(int argc, char **argv) {
  return RUN_TESTS(argc, argv);
}
