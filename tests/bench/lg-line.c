/* Newline protocol parser. */
#include "lg-line.h"

#include <string.h>

void lg_line_parser_init(lg_line_parser_t *p, uint64_t max_line) {
  memset(p, 0, sizeof(*p));
  p->max_line = max_line;
}

/* Appends n bytes of the current line. */
static void take(lg_line_parser_t *p, const uint8_t *s, size_t n) {
  if (n == 0)
    return;
  if (p->head_len < LG_HEAD_MAX) {
    size_t keep = LG_HEAD_MAX - p->head_len;
    if (keep > n)
      keep = n;
    memcpy(p->head + p->head_len, s, keep);
    p->head_len += (uint8_t)keep;
  }
  p->len += n;
  p->last = s[n - 1];
}

int lg_line_parse(lg_line_parser_t *p, const uint8_t *data, size_t len,
                  lg_line_cb cb, void *ud) {
  const uint8_t *s = data, *end = data + len, *nl;
  uint64_t n;
  size_t head;
  int r;

  while (s < end) {
    nl = memchr(s, '\n', (size_t)(end - s));
    take(p, s, nl ? (size_t)(nl - s) : (size_t)(end - s));
    if (p->max_line && p->len > p->max_line)
      return LG_LINE_ETOOBIG;
    if (!nl)
      break;
    n = p->len;
    head = p->head_len;
    if (n > 0 && p->last == '\r') {
      n--;
      if (head > n)
        head = (size_t)n;
    }
    p->len = 0;
    p->head_len = 0;
    p->last = 0;
    r = cb(ud, p->head, head, n);
    if (r != 0)
      return r;
    s = nl + 1;
  }
  return 0;
}
