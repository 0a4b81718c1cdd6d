/* permessage-deflate (RFC 7692): negotiation and the server's compressor.
 *
 * The offers follow RFC 6455 §9.1:
 *   extension-list  = 1#extension
 *   extension       = extension-token *( ";" extension-param )
 *   extension-param = token [ "=" (token | quoted-string) ]
 * An offer that breaks that grammar is declined like one with a bad
 * parameter; the list goes on at the next comma outside a quoted
 * string. */
#include "ws-deflate.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <zlib.h>

/* ------------------------------------------------------------------------
 * Negotiation
 * ------------------------------------------------------------------------ */

/* RFC 7230 tchar. */
static int hub_ws__tchar(char ch) {
  unsigned char c = (unsigned char)ch;

  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
      (c >= 'A' && c <= 'Z'))
    return 1;
  return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static const char *hub_ws__ows(const char *p) {
  while (*p == ' ' || *p == '\t')
    p++;
  return p;
}

/* A token at p: its length (0 if none). */
static size_t hub_ws__token(const char *p) {
  size_t n = 0;

  while (hub_ws__tchar(p[n]))
    n++;
  return n;
}

/* A parameter value, token or quoted-string, at *pp, unquoted into
 * val[cap] (cut short: such a value is never valid anyway). Returns 0,
 * or -1 if there is none or the quotes are not closed. */
static int hub_ws__value(const char **pp, char *val, size_t cap) {
  const char *p = *pp;
  size_t n = 0;

  if (*p != '"') {
    size_t t = hub_ws__token(p);

    if (t == 0)
      return -1;
    n = t < cap - 1 ? t : cap - 1;
    memcpy(val, p, n);
    val[n] = '\0';
    *pp = p + t;
    return 0;
  }
  for (p++; *p != '"'; p++) {
    if (*p == '\\' && p[1] != '\0')
      p++;
    if (*p == '\0')
      return -1;
    if (n < cap - 1)
      val[n++] = *p;
  }
  val[n] = '\0';
  *pp = p + 1;
  return 0;
}

/* Window bits as RFC 7692 §7.1.2 writes them: 8 to 15, no leading zero. */
static int hub_ws__window_bits(const char *v) {
  if (v[0] == '1' && v[1] >= '0' && v[1] <= '5' && v[2] == '\0')
    return 10 + (v[1] - '0');
  if (v[0] >= '8' && v[0] <= '9' && v[1] == '\0')
    return v[0] - '0';
  return -1;
}

enum {
  HUB_WS__P_SNCT = 1 << 0, /* server_no_context_takeover */
  HUB_WS__P_CNCT = 1 << 1, /* client_no_context_takeover */
  HUB_WS__P_SMWB = 1 << 2, /* server_max_window_bits */
  HUB_WS__P_CMWB = 1 << 3  /* client_max_window_bits */
};

/* One parameter of a permessage-deflate offer. Returns its bit, or 0 if
 * it makes the offer unacceptable. */
static unsigned hub_ws__param(const char *name, size_t len, int has_value,
                              const char *val, unsigned window_bits) {
  int bits = has_value ? hub_ws__window_bits(val) : -1;

  if (len == 26 && memcmp(name, "server_no_context_takeover", len) == 0)
    return has_value ? 0 : HUB_WS__P_SNCT;
  if (len == 26 && memcmp(name, "client_no_context_takeover", len) == 0)
    return has_value ? 0 : HUB_WS__P_CNCT;
  if (len == 22 && memcmp(name, "server_max_window_bits", len) == 0)
    return bits >= (int)window_bits ? HUB_WS__P_SMWB : 0;
  if (len == 22 && memcmp(name, "client_max_window_bits", len) == 0)
    return !has_value || bits >= 8 ? HUB_WS__P_CMWB : 0;
  return 0;
}

/* The offer at *pp, up to its end (the next comma outside quotes, or the
 * end of the value), where *pp is left. Returns the parameters it has
 * (with bit 31 set) if it is an acceptable permessage-deflate offer, else
 * 0. */
static unsigned hub_ws__offer(const char **pp, unsigned window_bits) {
  const char *p = hub_ws__ows(*pp), *name;
  unsigned have = 0, bit;
  size_t n;
  int ok, has_value;
  char val[8];

  n = hub_ws__token(p);
  ok = n == 18 && memcmp(p, "permessage-deflate", n) == 0;
  val[0] = '\0';
  p = hub_ws__ows(p + n);
  while (*p == ';') {
    p = hub_ws__ows(p + 1);
    name = p;
    n = hub_ws__token(p);
    p = hub_ws__ows(p + n);
    has_value = *p == '=';
    if (has_value) {
      p = hub_ws__ows(p + 1);
      if (hub_ws__value(&p, val, sizeof(val)) != 0) {
        ok = 0; /* not an offer at all */
        break;
      }
      p = hub_ws__ows(p);
    }
    bit = n > 0 ? hub_ws__param(name, n, has_value, val, window_bits) : 0;
    if (bit == 0 || (have & bit))
      ok = 0;
    have |= bit;
  }
  if (*p != ',' && *p != '\0')
    ok = 0;
  /* Skip what is left of this offer. */
  while (*p != ',' && *p != '\0') {
    if (*p == '"') {
      p++;
      while (*p != '"' && *p != '\0')
        p += p[0] == '\\' && p[1] != '\0' ? 2 : 1;
      if (*p == '\0')
        break;
    }
    p++;
  }
  *pp = p;
  return ok ? have | 1u << 31 : 0;
}

int hub_ws__pmd_accept_value(const char *value, unsigned window_bits, char *out,
                             size_t cap) {
  static const char base[] = "permessage-deflate; "
                             "server_no_context_takeover; "
                             "client_no_context_takeover";
  const char *p = value;
  unsigned got;
  int n;

  if (value == NULL || window_bits < HUB_WS__PMD_MIN_WINDOW_BITS ||
      window_bits > HUB_WS__PMD_MAX_WINDOW_BITS)
    return 0;
  for (;;) {
    got = hub_ws__offer(&p, window_bits);
    if (got != 0) {
      if (got & HUB_WS__P_SMWB)
        n = snprintf(out, cap, "%s; server_max_window_bits=%u", base,
                     window_bits);
      else
        n = snprintf(out, cap, "%s", base);
      return n > 0 && (size_t)n < cap ? 1 : -1;
    }
    if (*p == '\0')
      return 0;
    p++; /* the comma */
  }
}

int hub_ws__pmd_accept(const hub_ws__hs_t *hs, unsigned window_bits, char *out,
                       size_t cap) {
  unsigned i, n = hub_ws__hs_nfields(hs);
  int r;

  for (i = 0; i < n; i++) {
    if (strcasecmp(hub_ws__hs_field_name(hs, i), "Sec-WebSocket-Extensions") !=
        0)
      continue;
    r = hub_ws__pmd_accept_value(hub_ws__hs_field_value(hs, i), window_bits,
                                 out, cap);
    if (r != 0)
      return r;
  }
  return 0;
}

/* ------------------------------------------------------------------------
 * The compressor
 * ------------------------------------------------------------------------ */

/* A scratch buffer up to this size is kept between messages; a larger one
 * only until the next message. */
#define HUB_WS__SCRATCH_KEEP (64 * 1024)

struct hub_ws__deflater_s {
  z_stream z;
  uint8_t *buf;
  size_t cap;
};

int hub_ws__deflater_new(hub_ws__deflater_t **dp, int level,
                         unsigned window_bits) {
  hub_ws__deflater_t *d;

  if (dp == NULL || level < 1 || level > 9 ||
      window_bits < HUB_WS__PMD_MIN_WINDOW_BITS ||
      window_bits > HUB_WS__PMD_MAX_WINDOW_BITS)
    return -EINVAL;
  d = calloc(1, sizeof(*d));
  if (d == NULL)
    return -ENOMEM;
  if (deflateInit2(&d->z, level, Z_DEFLATED, -(int)window_bits, 8,
                   Z_DEFAULT_STRATEGY) != Z_OK) {
    free(d);
    return -ENOMEM;
  }
  *dp = d;
  return 0;
}

void hub_ws__deflater_free(hub_ws__deflater_t *d) {
  if (d == NULL)
    return;
  deflateEnd(&d->z);
  free(d->buf);
  free(d);
}

/* Room for `need` bytes of output. */
static int hub_ws__scratch(hub_ws__deflater_t *d, size_t need) {
  uint8_t *buf;

  if (d->cap >= need &&
      (d->cap <= HUB_WS__SCRATCH_KEEP || need > HUB_WS__SCRATCH_KEEP))
    return 0;
  if (need < 256)
    need = 256;
  free(d->buf);
  d->cap = 0;
  d->buf = buf = malloc(need);
  if (buf == NULL)
    return -ENOMEM;
  d->cap = need;
  return 0;
}

int hub_ws__deflate(hub_ws__deflater_t *d, const void *a, size_t alen,
                    const void *b, size_t blen, const uint8_t **out,
                    size_t *outlen) {
  size_t total = alen + blen, cap, got;
  int r;

  /* The compressed message must come out shorter than `total`: with the
   * flush's 4 bytes, at most total + 3 bytes. Output that fills a buffer
   * of total + 4 does not shrink. */
  if (total == 0 || total > UINT_MAX - 8)
    return 1;
  cap = total + 4;
  if (hub_ws__scratch(d, cap) != 0)
    return -ENOMEM;
  if (deflateReset(&d->z) != Z_OK)
    return -ENOMEM;
  d->z.next_out = d->buf;
  d->z.avail_out = (uInt)cap;
  if (alen > 0) {
    d->z.next_in = (Bytef *)(uintptr_t)a;
    d->z.avail_in = (uInt)alen;
    r = deflate(&d->z, Z_NO_FLUSH);
    if (r != Z_OK || d->z.avail_in != 0)
      return 1; /* no room: it does not shrink */
  }
  d->z.next_in = (Bytef *)(uintptr_t)b;
  d->z.avail_in = (uInt)blen;
  r = deflate(&d->z, Z_SYNC_FLUSH);
  if (r != Z_OK || d->z.avail_in != 0 || d->z.avail_out == 0)
    return 1;
  got = cap - d->z.avail_out;
  if (got < 4 || memcmp(d->buf + got - 4, "\x00\x00\xff\xff", 4) != 0)
    return 1; /* never: a sync flush ends so */
  *out = d->buf;
  *outlen = got - 4;
  return 0;
}
