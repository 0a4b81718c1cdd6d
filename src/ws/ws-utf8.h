/* Incremental UTF-8 validation (RFC 3629) for WebSocket text messages,
 * which may be split anywhere, even inside a character, across fragments
 * and reads. The state is three bytes, carried from one call to the
 * next. */
#ifndef WS_UTF8_H
#define WS_UTF8_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
  uint8_t need;   /* continuation bytes still expected */
  uint8_t lo, hi; /* the range allowed for the next continuation byte */
} hub_ws__utf8_t;

/* Start a new text (all zero is the initial state too). */
void hub_ws__utf8_init(hub_ws__utf8_t *s);

/* Check the next `len` bytes. Returns 0 if they can still be part of
 * valid UTF-8, -1 at the first byte that cannot (overlong forms,
 * surrogates, code points above U+10FFFF, stray or missing continuation
 * bytes). After -1 the state is undefined. */
int hub_ws__utf8_feed(hub_ws__utf8_t *s, const uint8_t *p, size_t len);

/* Nonzero if the text fed so far ends on a character boundary. */
int hub_ws__utf8_complete(const hub_ws__utf8_t *s);

/* Nonzero if the whole of `len` bytes at `p` is UTF-8. */
int hub_ws__utf8_valid(const void *p, size_t len);

#endif /* WS_UTF8_H */
