/* Splitting a byte stream into lines. See hub-tcp-lines.h. */
#include "hub-tcp-lines.h"

#include <string.h>

#include <uv.h>

#include "hubx-mem.h"

/* Smallest partial-line room, 128 bytes with its header: small enough
 * that an idle peer that sent half a word costs little, large enough that
 * a line arriving in a few pieces is not reallocated for each. */
#define HUB_TCP__LINES_MIN_CAP (128 - sizeof(hub_tcp_partial_t))

void hub_tcp__lines_reset_mem(hub_tcp_lines_t *st,
                              const hub_allocator_t *mem) {
  mem = hubx_mem_or_libc(mem);
  if (st->partial != NULL)
    mem->free(st->partial, mem->user_data);
  st->partial = NULL;
}

void hub_tcp__lines_reset(hub_tcp_lines_t *st) {
  hub_tcp__lines_reset_mem(st, NULL);
}

/* A complete line: drop its "\r", check its length, hand it over. */
static int hub_tcp__deliver(const char *line, size_t len, size_t max_line,
                            hub_tcp_line_fn fn, void *arg, int *stop) {
  if (len > 0 && line[len - 1] == '\r')
    len--;
  if (len > max_line)
    return UV_EMSGSIZE;
  *stop = fn(arg, line, len) != 0;
  return 0;
}

/* Keep `n` more bytes of a partial line. The buffer grows by doubling up
 * to what the longest legal line needs (max_line, plus one byte for a
 * "\r" that may yet be followed by "\n"). */
static int hub_tcp__keep(hub_tcp_lines_t *st, const char *p, size_t n,
                         size_t max_line, const hub_allocator_t *mem) {
  hub_tcp_partial_t *pl = st->partial;
  size_t len = pl != NULL ? pl->len : 0, have = pl != NULL ? pl->cap : 0;
  size_t need = len + n, cap;

  if (need > max_line + 1)
    return UV_EMSGSIZE;
  if (need > have) {
    cap = have < HUB_TCP__LINES_MIN_CAP ? HUB_TCP__LINES_MIN_CAP : have * 2;
    if (cap < need)
      cap = need;
    if (cap > max_line + 1)
      cap = max_line + 1;
    pl = mem->realloc(pl, sizeof(*pl) + cap, mem->user_data);
    if (pl == NULL)
      return UV_ENOMEM;
    pl->len = (uint32_t)len;
    pl->cap = (uint32_t)cap;
    st->partial = pl;
  }
  memcpy(pl->data + len, p, n);
  pl->len = (uint32_t)need;
  return 0;
}

int hub_tcp__lines_feed_mem(hub_tcp_lines_t *st, const char *p, size_t n,
                            size_t max_line, hub_tcp_line_fn fn, void *arg,
                            const hub_allocator_t *mem) {
  size_t used;

  return hub_tcp__lines_feed_some(st, p, n, max_line, fn, arg, mem, &used);
}

int hub_tcp__lines_feed_some(hub_tcp_lines_t *st, const char *p, size_t n,
                             size_t max_line, hub_tcp_line_fn fn, void *arg,
                             const hub_allocator_t *mem, size_t *used) {
  const char *start = p, *end = p + n, *nl;
  hub_tcp_partial_t *line;
  int stop = 0, err;

  mem = hubx_mem_or_libc(mem);
  *used = n;
  while (p < end && !stop) {
    nl = memchr(p, '\n', (size_t)(end - p));
    if (nl == NULL) {
      err = hub_tcp__keep(st, p, (size_t)(end - p), max_line, mem);
      if (err != 0)
        hub_tcp__lines_reset_mem(st, mem);
      return err;
    }
    if (st->partial == NULL) {
      /* The whole line is in the input: no copy. */
      err = hub_tcp__deliver(p, (size_t)(nl - p), max_line, fn, arg, &stop);
    } else {
      err = hub_tcp__keep(st, p, (size_t)(nl - p), max_line, mem);
      if (err == 0) {
        /* Take the buffer out of the state before the callback, which
         * may reset the state (by closing the connection, say). */
        line = st->partial;
        st->partial = NULL;
        err = hub_tcp__deliver(line->data, line->len, max_line, fn, arg,
                               &stop);
        mem->free(line, mem->user_data);
      }
    }
    if (err != 0) {
      hub_tcp__lines_reset_mem(st, mem);
      return err;
    }
    p = nl + 1;
  }
  if (stop)
    *used = (size_t)(p - start);
  return 0;
}

int hub_tcp__lines_feed(hub_tcp_lines_t *st, const char *p, size_t n,
                        size_t max_line, hub_tcp_line_fn fn, void *arg) {
  return hub_tcp__lines_feed_mem(st, p, n, max_line, fn, arg, NULL);
}

int hub_tcp__lines_finish_mem(hub_tcp_lines_t *st, size_t max_line,
                              hub_tcp_line_fn fn, void *arg,
                              const hub_allocator_t *mem) {
  hub_tcp_partial_t *line = st->partial;
  int stop, err;

  if (line == NULL)
    return 0;
  mem = hubx_mem_or_libc(mem);
  st->partial = NULL;
  err = hub_tcp__deliver(line->data, line->len, max_line, fn, arg, &stop);
  mem->free(line, mem->user_data);
  return err;
}

int hub_tcp__lines_finish(hub_tcp_lines_t *st, size_t max_line,
                          hub_tcp_line_fn fn, void *arg) {
  return hub_tcp__lines_finish_mem(st, max_line, fn, arg, NULL);
}
