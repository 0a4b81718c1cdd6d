/* Fuzz target: the operations listener's request-head reader
 * (examples/common/hubx-http.c, behind --metrics-listen), fed the way the
 * listener feeds it: everything received so far, after each piece (the
 * pieces' sizes chosen by the input). Checks: a definite, known result;
 * once a verdict is given it is final (the listener answers then); a
 * request taken has a method of 1 to HUBX_HTTP_METHOD_MAX upper-case
 * letters and a path that starts with '/' and holds no space or control
 * character, within a head that ends in an empty line and within
 * HUBX_HTTP_HEAD_MAX bytes; and the same bytes read whole give the same
 * verdict; the JSON log escaping of the bytes is valid. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "hubx-http.h"
#include "hubx-text.h"

static void check_taken(const hubx_http_req_t *req, const char *buf,
                        size_t len) {
  size_t i, n = strlen(req->method);

  if (n == 0 || n > HUBX_HTTP_METHOD_MAX)
    abort();
  for (i = 0; i < n; i++)
    if (req->method[i] < 'A' || req->method[i] > 'Z')
      abort();
  if (req->path[0] != '/' || strlen(req->path) > HUBX_HTTP_TARGET_MAX)
    abort();
  for (i = 0; req->path[i] != '\0'; i++)
    if ((unsigned char)req->path[i] <= ' ' || req->path[i] == 0x7f ||
        req->path[i] == '?')
      abort();
  if (req->head_len < 4 || req->head_len > len ||
      req->head_len > HUBX_HTTP_HEAD_MAX || buf[req->head_len - 1] != '\n')
    abort();
}

static int known(int r) {
  return r == 0 || r == 200 || r == 400 || r == 414 || r == 431 || r == 505;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static char buf[HUBX_HTTP_HEAD_MAX];
  static char shown[HUBX_HTTP_HEAD_MAX * 6 + 4];
  hubx_http_req_t req;
  fuzz_chunker ch;
  size_t len = 0, n;
  int r = 0, whole;

  fuzz_chunker_init(&ch, &data, &size);
  if (size > sizeof(buf))
    size = sizeof(buf);
  while (len < size && r == 0) {
    n = fuzz_chunk(&ch, size - len);
    memcpy(buf + len, data + len, n);
    len += n;
    r = hubx_http_parse(buf, len, &req);
    if (!known(r))
      abort();
  }
  if (r == 200)
    check_taken(&req, buf, len);
  /* Whole: the same verdict, unless pieces stopped it earlier, in which
   * case the whole may only add to a request already taken. */
  whole = hubx_http_parse(buf, len, &req);
  if (whole != r)
    abort();
  if (r == 200)
    check_taken(&req, buf, len);
  /* What a log line would show of it is valid: NUL-terminated, no raw
   * control character, quote or lone backslash. */
  hubx_json_escape(buf, len, shown, sizeof(shown));
  for (n = 0; shown[n] != '\0'; n++) {
    if ((unsigned char)shown[n] < ' ' || shown[n] == '"')
      abort();
    if (shown[n] == '\\') {
      n++;
      if (strchr("\\\"u", shown[n]) == NULL || shown[n] == '\0')
        abort();
    }
  }
  return 0;
}
