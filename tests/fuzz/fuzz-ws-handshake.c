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
  hub_ws__origin_policy_t policy = {origins, 1, 1, 0};
  fuzz_chunker ch;
  hub_ws__hs_t hs;
  size_t off = 0, n, used = 0;
  char resp[512];
  int r = HUB_WS__HS_MORE;
  unsigned i;

  fuzz_chunker_init(&ch, &data, &size);
  hub_ws__hs_init(&hs, 1024);
  while (off < size && r == HUB_WS__HS_MORE) {
    n = fuzz_chunk(&ch, size - off);
    used = 0;
    r = hub_ws__hs_feed(&hs, (const char *)data + off, n, &used);
    if (r == HUB_WS__HS_DONE && used > n)
      abort();
    off += n;
  }
  if (r != HUB_WS__HS_MORE && r != HUB_WS__HS_DONE && r != 400 && r != 431 &&
      r != 500 && r != 505)
    abort();
  if (hs.len > 1024 + 64 * 1024)
    abort();
  if (r == HUB_WS__HS_DONE) {
    /* Everything an adapter reads from a complete head. */
    if (hub_ws__hs_method(&hs) == NULL || hub_ws__hs_target(&hs) == NULL ||
        hub_ws__hs_path(&hs) == NULL)
      abort();
    /* None of http-parser's leniencies got through: an origin-form
     * target, HTTP/1.0 or 1.1, at most one Host, no CR or LF in a
     * value. */
    if (hub_ws__hs_target(&hs)[0] != '/' || hs.parser.http_major != 1 ||
        hs.parser.http_minor > 1 || hub_ws__hs_header_count(&hs, "Host") > 1)
      abort();
    for (i = 0; i < hub_ws__hs_nfields(&hs); i++)
      if (strpbrk(hub_ws__hs_field_value(&hs, i), "\r\n") != NULL)
        abort();
    (void)hub_ws__hs_header(&hs, "Host");
    (void)hub_ws__hs_header_count(&hs, "Sec-WebSocket-Key");
    (void)hub_ws__hs_header_has_token(&hs, "Connection", "upgrade");
    for (i = 0; i < hub_ws__hs_nfields(&hs); i++)
      if (hub_ws__hs_field_name(&hs, i) == NULL ||
          hub_ws__hs_field_value(&hs, i) == NULL)
        abort();
    if (hub_ws__hs_is_upgrade(&hs)) {
      int st = hub_ws__hs_check_upgrade(&hs);
      if (st != 0 && st != 400 && st != 405 && st != 426)
        abort();
      if (st == 0) {
        int o = hub_ws__hs_check_origin(&hs, &policy);
        if (o != 0 && o != 403)
          abort();
        char ext[HUB_WS__PMD_RESPONSE_MAX];
        int a =
            hub_ws__pmd_accept(&hs, 9 + (unsigned)(size % 7), ext, sizeof(ext));
        if (a != 0 && (a != 1 || strncmp(ext, "permessage-deflate; ", 20)))
          abort();
        if (hub_ws__hs_accept_response(&hs, resp, sizeof(resp), NULL,
                                       a == 1 ? ext : NULL) == 0 ||
            memcmp(resp, "HTTP/1.1 101 ", 13) != 0)
          abort();
      }
    }
  }
  hub_ws__hs_free(&hs);
  return 0;
}
