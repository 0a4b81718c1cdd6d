/* permessage-deflate's compression on zlib (RFC 7692 section 7.2). */
#include "lg-deflate.h"

#include <stdlib.h>
#include <string.h>

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

lg_inflate_t *lg_inflate_new(void) {
  lg_inflate_t *z = calloc(1, sizeof(*z));

  if (z && inflateInit2(&z->s, -15) != Z_OK) {
    free(z);
    z = NULL;
  }
  return z;
}

void lg_inflate_free(lg_inflate_t *z) {
  if (z) {
    inflateEnd(&z->s);
    free(z);
  }
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
  if (z && deflateInit2(&z->s, 6, Z_DEFLATED, -window_bits, 8,
                        Z_DEFAULT_STRATEGY) != Z_OK) {
    free(z);
    z = NULL;
  }
  return z;
}

void lg_deflate_free(lg_deflate_t *z) {
  if (z) {
    deflateEnd(&z->s);
    free(z);
  }
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
