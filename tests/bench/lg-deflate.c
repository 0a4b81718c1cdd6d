/* permessage-deflate's compression on zlib (RFC 7692 section 7.2). */
#include "lg-deflate.h"

#include <stdlib.h>
#include <string.h>

#include "lg-msg.h" /* LG_HEAD_MAX */

size_t lg_deflate_bound(size_t n) {
  /* Stored blocks at worst (5 bytes per 16 KiB at zlib's memLevel 8),
   * a sync flush's empty stored block, and margin. */
  return n + n / 1024 + 64;
}

#ifdef LG_HAVE_ZLIB

#include <zlib.h>

/* The end of a sync flush, left off the wire (RFC 7692 section 7.2.1). */
static const uint8_t tail[4] = {0x00, 0x00, 0xff, 0xff};

struct lg_inflate {
  z_stream s;
};

struct lg_deflate {
  z_stream s;
};

int lg_deflate_available(void) {
  return 1;
}

/* `z` (a new lg_inflate_t or lg_deflate_t) if zlib answered Z_OK (`r`)
 * to the initialisation of its stream; otherwise z is freed: NULL. */
static void *initialised(void *z, int r) {
  if (r == Z_OK)
    return z;
  free(z);
  return NULL;
}

lg_inflate_t *lg_inflate_new(void) {
  lg_inflate_t *z = calloc(1, sizeof(*z));

  return z ? initialised(z, inflateInit2(&z->s, -15)) : NULL;
}

void lg_inflate_free(lg_inflate_t *z) {
  if (z)
    inflateEnd(&z->s);
  free(z);
}

/* Inflates avail_in bytes of z->s, keeping the head and counting the
 * output. Returns 0 when the input is used up, 1 at the end of a block
 * with BFINAL set (RFC 7692 section 7.2.3.4 allows a sender to end a
 * message so), -1 on an error. */
static int inflate_some(z_stream *s, uint64_t max, uint8_t *head,
                        size_t head_cap, size_t *head_len, uint64_t *len) {
  static uint8_t sink[16384];
  size_t got, keep;
  int r;

  do {
    s->next_out = sink;
    s->avail_out = sizeof(sink);
    r = inflate(s, Z_SYNC_FLUSH);
    if (r != Z_OK && r != Z_BUF_ERROR && r != Z_STREAM_END)
      return -1;
    got = sizeof(sink) - s->avail_out;
    if (*head_len < head_cap) {
      keep = head_cap - *head_len < got ? head_cap - *head_len : got;
      memcpy(head + *head_len, sink, keep);
      *head_len += keep;
    }
    *len += got;
    if (max && *len > max)
      return -1;
    if (r == Z_STREAM_END)
      return 1;
    if (r == Z_BUF_ERROR && got == 0 && s->avail_in > 0)
      return -1; /* no progress */
  } while (s->avail_in > 0 || s->avail_out == 0);
  return 0;
}

int lg_inflate_msg(lg_inflate_t *z, const uint8_t *in, size_t n, int reset,
                   uint64_t max, uint8_t *head, size_t head_cap,
                   size_t *head_len, uint64_t *len) {
  int r = 0;

  *head_len = 0;
  *len = 0;
  if (reset && inflateReset(&z->s) != Z_OK)
    return -1;
  /* zlib's avail_in is 32 bits: feed large messages in pieces. */
  while (n > 0 && r == 0) {
    uInt piece = n > (1u << 30) ? 1u << 30 : (uInt)n;
    z->s.next_in = (Bytef *)(uintptr_t)in;
    z->s.avail_in = piece;
    r = inflate_some(&z->s, max, head, head_cap, head_len, len);
    in += piece;
    n -= piece;
  }
  if (r == 0) {
    z->s.next_in = (Bytef *)(uintptr_t)tail;
    z->s.avail_in = sizeof(tail);
    r = inflate_some(&z->s, max, head, head_cap, head_len, len);
  }
  if (r < 0)
    return -1;
  /* After a final block, the next message starts a new stream. */
  if (r == 1 && inflateReset(&z->s) != Z_OK)
    return -1;
  return 0;
}

lg_deflate_t *lg_deflate_new(int window_bits) {
  lg_deflate_t *z = calloc(1, sizeof(*z));

  if (window_bits < 9)
    window_bits = 9;
  return z ? initialised(z, deflateInit2(&z->s, 6, Z_DEFLATED, -window_bits,
                                         8, Z_DEFAULT_STRATEGY))
           : NULL;
}

void lg_deflate_free(lg_deflate_t *z) {
  if (z)
    deflateEnd(&z->s);
  free(z);
}

long lg_deflate_msg(lg_deflate_t *z, const uint8_t *in, size_t n, int reset,
                    uint8_t *out) {
  size_t cap = lg_deflate_bound(n), len;

  if (n > (1u << 30) || (reset && deflateReset(&z->s) != Z_OK))
    return -1;
  z->s.next_in = (Bytef *)(uintptr_t)in;
  z->s.avail_in = (uInt)n;
  z->s.next_out = out;
  z->s.avail_out = (uInt)cap;
  if (deflate(&z->s, Z_SYNC_FLUSH) != Z_OK || z->s.avail_in != 0 ||
      z->s.avail_out == 0)
    return -1; /* avail_out 0: the flush may not be complete */
  len = cap - z->s.avail_out;
  if (len < 4 || memcmp(out + len - 4, tail, 4) != 0)
    return -1;
  return (long)(len - 4);
}

/* ------------------------------------------------------------------------
 * The memo of recent payloads
 * ------------------------------------------------------------------------ */

/* Direct-mapped: with W messages in flight, about W / MEMO_SLOTS of the
 * lookups miss for a collision (50 of 4096: about 1 %). */
#define MEMO_SLOTS 4096

typedef struct {
  uint64_t hash;
  uint8_t *z; /* the payload, z_len bytes (z_cap allocated) */
  size_t z_len, z_cap;
  uint8_t head[LG_HEAD_MAX];
  size_t head_len;
  uint64_t len;
} memo_slot_t;

struct lg_inflate_memo {
  memo_slot_t slot[MEMO_SLOTS];
};

lg_inflate_memo_t *lg_inflate_memo_new(void) {
  return calloc(1, sizeof(lg_inflate_memo_t));
}

void lg_inflate_memo_free(lg_inflate_memo_t *m) {
  size_t i;

  if (!m)
    return;
  for (i = 0; i < MEMO_SLOTS; i++)
    free(m->slot[i].z);
  free(m);
}

/* A fast 64-bit hash, eight bytes at a time: collisions only cost a
 * comparison, the bytes are always compared. */
static uint64_t memo_hash(const uint8_t *p, size_t n) {
  uint64_t h = 0x9e3779b97f4a7c15ull ^ n, w;
  size_t i = 0;

  for (; i + 8 <= n; i += 8) {
    memcpy(&w, p + i, 8);
    h = (h ^ w) * 0xff51afd7ed558ccdull;
    h ^= h >> 32;
  }
  for (; i < n; i++)
    h = (h ^ p[i]) * 0x100000001b3ull;
  return h ^ (h >> 29);
}

int lg_inflate_msg_memo(lg_inflate_memo_t *m, lg_inflate_t *z,
                        const uint8_t *in, size_t n, uint64_t max,
                        uint8_t *head, size_t head_cap, size_t *head_len,
                        uint64_t *len, uint64_t *hits) {
  uint64_t h;
  memo_slot_t *s;
  int r;

  if (n > LG_MEMO_MAX || head_cap > LG_HEAD_MAX)
    return lg_inflate_msg(z, in, n, 1, max, head, head_cap, head_len, len);
  h = memo_hash(in, n);
  s = &m->slot[h % MEMO_SLOTS];
  if (s->z && s->hash == h && s->z_len == n && memcmp(s->z, in, n) == 0 &&
      (!max || s->len <= max)) {
    *head_len = s->head_len < head_cap ? s->head_len : head_cap;
    memcpy(head, s->head, *head_len);
    *len = s->len;
    ++*hits;
    return 0;
  }
  r = lg_inflate_msg(z, in, n, 1, max, head, head_cap, head_len, len);
  if (r != 0)
    return r;
  if (s->z_cap < n) {
    uint8_t *p = realloc(s->z, n ? n : 1);
    if (!p)
      return 0; /* not kept: no harm done */
    s->z = p;
    s->z_cap = n;
  }
  memcpy(s->z, in, n);
  s->z_len = n;
  s->hash = h;
  memcpy(s->head, head, *head_len);
  s->head_len = *head_len;
  s->len = *len;
  return 0;
}

#else /* no zlib */

int lg_deflate_available(void) {
  return 0;
}

lg_inflate_t *lg_inflate_new(void) {
  return NULL;
}

void lg_inflate_free(lg_inflate_t *z) {
  (void)z;
}

int lg_inflate_msg(lg_inflate_t *z, const uint8_t *in, size_t n, int reset,
                   uint64_t max, uint8_t *head, size_t head_cap,
                   size_t *head_len, uint64_t *len) {
  (void)z, (void)in, (void)n, (void)reset, (void)max, (void)head;
  (void)head_cap;
  *head_len = 0;
  *len = 0;
  return -1;
}

lg_inflate_memo_t *lg_inflate_memo_new(void) {
  return NULL;
}

void lg_inflate_memo_free(lg_inflate_memo_t *m) {
  (void)m;
}

int lg_inflate_msg_memo(lg_inflate_memo_t *m, lg_inflate_t *z,
                        const uint8_t *in, size_t n, uint64_t max,
                        uint8_t *head, size_t head_cap, size_t *head_len,
                        uint64_t *len, uint64_t *hits) {
  (void)m, (void)hits;
  return lg_inflate_msg(z, in, n, 1, max, head, head_cap, head_len, len);
}

lg_deflate_t *lg_deflate_new(int window_bits) {
  (void)window_bits;
  return NULL;
}

void lg_deflate_free(lg_deflate_t *z) {
  (void)z;
}

long lg_deflate_msg(lg_deflate_t *z, const uint8_t *in, size_t n, int reset,
                    uint8_t *out) {
  (void)z, (void)in, (void)n, (void)reset, (void)out;
  return -1;
}

#endif
