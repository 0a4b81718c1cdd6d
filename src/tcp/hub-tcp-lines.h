/* Splitting a byte stream into lines: bytes in, lines out, no I/O.
 *
 * Private to the TCP adapter (and its tests); not installed. A line ends
 * at "\n" or, for the last one, at end of input; a "\r" right before its
 * end is removed. A line reaches the callback straight from the input
 * when it is complete there; only a line cut by the end of a chunk is
 * copied, into a buffer that exists only while such a partial line is
 * pending. */
#ifndef HUB_TCP_LINES_H
#define HUB_TCP_LINES_H

#include <stddef.h>
#include <stdint.h>

#include <hub.h>

/* The partial line: its length and room, then its bytes, in one
 * allocation. */
typedef struct {
  uint32_t len; /* bytes of the partial line */
  uint32_t cap; /* room at data */
  char data[];
} hub_tcp_partial_t;

/* One pointer per connection: an idle one holds nothing more. */
typedef struct {
  hub_tcp_partial_t *partial; /* NULL when no partial line is pending */
} hub_tcp_lines_t;

/* The partial line's length, and the bytes allocated for it (0 when
 * none is pending). */
static inline size_t hub_tcp__lines_len(const hub_tcp_lines_t *st) {
  return st->partial != NULL ? st->partial->len : 0;
}

static inline size_t hub_tcp__lines_held(const hub_tcp_lines_t *st) {
  return st->partial != NULL ? sizeof(*st->partial) + st->partial->cap : 0;
}

/* Called for each complete line (without its end), `len` bytes at `line`,
 * valid only during the call. Return 0 to go on, nonzero to stop: the
 * rest of the input is then discarded. */
typedef int (*hub_tcp_line_fn)(void *arg, const char *line, size_t len);

/* Split `n` bytes at `p` into lines for `fn`, lines being at most
 * `max_line` bytes (1 to 1 GiB) without their end. The state must be
 * zeroed before first use.
 * Returns 0 when everything was consumed or fn asked to stop;
 * UV_EMSGSIZE when a line (complete or not) is longer than max_line, and
 * UV_ENOMEM when the partial line cannot be stored; the state is then
 * reset and the rest of the input discarded. */
int hub_tcp__lines_feed(hub_tcp_lines_t *st, const char *p, size_t n,
                        size_t max_line, hub_tcp_line_fn fn, void *arg);

/* As hub_tcp__lines_feed_mem(), and *used says how many bytes were
 * consumed: all `n`, or, when fn asked to stop, those up to the end of
 * the line it was given; the caller may feed the rest later. */
int hub_tcp__lines_feed_some(hub_tcp_lines_t *st, const char *p, size_t n,
                             size_t max_line, hub_tcp_line_fn fn, void *arg,
                             const hub_allocator_t *mem, size_t *used);

/* End of input: hand the pending partial line, if any, to `fn` and free
 * it. Returns 0 or UV_EMSGSIZE (the partial line was too long once its
 * "\r" was removed; it is freed). */
int hub_tcp__lines_finish(hub_tcp_lines_t *st, size_t max_line,
                          hub_tcp_line_fn fn, void *arg);

/* Free the partial line, if any, and reset the state. */
void hub_tcp__lines_reset(hub_tcp_lines_t *st);

/* The same three with an allocator for the partial-line buffer (NULL:
 * libc's; the adapter passes the hub's). A state must be used with one
 * allocator throughout. */
int hub_tcp__lines_feed_mem(hub_tcp_lines_t *st, const char *p, size_t n,
                            size_t max_line, hub_tcp_line_fn fn, void *arg,
                            const hub_allocator_t *mem);
int hub_tcp__lines_finish_mem(hub_tcp_lines_t *st, size_t max_line,
                              hub_tcp_line_fn fn, void *arg,
                              const hub_allocator_t *mem);
void hub_tcp__lines_reset_mem(hub_tcp_lines_t *st,
                              const hub_allocator_t *mem);

#endif /* HUB_TCP_LINES_H */
