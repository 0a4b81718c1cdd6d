/* Fuzz target: the WebSocket opening handshake, fed in fuzzer-chosen
 * pieces. Whatever the bytes, the parser must end in a definite state,
 * keep its limits, account for every byte, let none of http-parser's
 * leniencies through, and answer with a 101 only for a request that
 * passed every check. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "ws-deflate.h"
#include "ws-handshake.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const char *const origins[] = {"https://ok.example"};
  ws_origin_policy_t policy = {origins, 1, 1, 0};
  fuzz_chunker ch;
  ws_hs_t hs;
  size_t off = 0, n, used = 0;
  char resp[512];
  int r = WS_HS_MORE;
  unsigned i;

  fuzz_chunker_init(&ch, &data, &size);
  ws_hs_init(&hs, 1024);
  while (off < size && r == WS_HS_MORE) {
    n = fuzz_chunk(&ch, size - off);
    used = 0;
    r = ws_hs_feed(&hs, (const char *)data + off, n, &used);
    if (r == WS_HS_DONE && used > n)
      abort();
    off += n;
  }
  if (r != WS_HS_MORE && r != WS_HS_DONE && r != 400 && r != 431 &&
      r != 500 && r != 505)
    abort();
  if (hs.len > 1024 + 64 * 1024)
    abort();
  if (r == WS_HS_DONE) {
    /* Everything an adapter reads from a complete head. */
    if (ws_hs_method(&hs) == NULL || ws_hs_target(&hs) == NULL ||
        ws_hs_path(&hs) == NULL)
      abort();
    /* None of http-parser's leniencies got through: an origin-form
     * target, HTTP/1.0 or 1.1, at most one Host, no CR or LF in a
     * value. */
    if (ws_hs_target(&hs)[0] != '/' || hs.parser.http_major != 1 ||
        hs.parser.http_minor > 1 || ws_hs_header_count(&hs, "Host") > 1)
      abort();
    for (i = 0; i < ws_hs_nfields(&hs); i++)
      if (strpbrk(ws_hs_field_value(&hs, i), "\r\n") != NULL)
        abort();
    (void)ws_hs_header(&hs, "Host");
    (void)ws_hs_header_count(&hs, "Sec-WebSocket-Key");
    (void)ws_hs_header_has_token(&hs, "Connection", "upgrade");
    for (i = 0; i < ws_hs_nfields(&hs); i++)
      if (ws_hs_field_name(&hs, i) == NULL ||
          ws_hs_field_value(&hs, i) == NULL)
        abort();
    if (ws_hs_is_upgrade(&hs)) {
      int st = ws_hs_check_upgrade(&hs);
      if (st != 0 && st != 400 && st != 405 && st != 426)
        abort();
      if (st == 0) {
        int o = ws_hs_check_origin(&hs, &policy);
        if (o != 0 && o != 403)
          abort();
        char ext[WS_PMD_RESPONSE_MAX];
        int a = ws_pmd_accept(&hs, 9 + (unsigned)(size % 7), ext,
                              sizeof(ext));
        if (a != 0 && (a != 1 || strncmp(ext, "permessage-deflate; ", 20)))
          abort();
        if (ws_hs_accept_response(&hs, resp, sizeof(resp), NULL,
                                  a == 1 ? ext : NULL) == 0 ||
            memcmp(resp, "HTTP/1.1 101 ", 13) != 0)
          abort();
      }
    }
  }
  ws_hs_free(&hs);
  return 0;
}
