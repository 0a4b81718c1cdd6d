/* Trusted proxies and X-Forwarded-For. See ws-forwarded.h. */
#include "ws-forwarded.h"

#include <arpa/inet.h>
#include <string.h>

/* A numeric address of `len` bytes (a copy is NUL-terminated for
 * inet_pton(3)), IPv4 when `v4`, as a key. */
static int hub_ws__pton(const char *s, size_t len, int v4, uint8_t out[16]) {
  char buf[INET6_ADDRSTRLEN];

  if (len == 0 || len >= sizeof(buf) || memchr(s, '\0', len) != NULL)
    return -1;
  memcpy(buf, s, len);
  buf[len] = '\0';
  if (v4) {
    memset(out, 0, 10);
    out[10] = out[11] = 0xff;
    return inet_pton(AF_INET, buf, out + 12) == 1 ? 0 : -1;
  }
  return inet_pton(AF_INET6, buf, out) == 1 ? 0 : -1;
}

/* A decimal number of 1 to `digits` digits, at most `max`. */
static int hub_ws__number(const char *s, size_t len, size_t digits,
                          unsigned max, unsigned *out) {
  unsigned v = 0;
  size_t i;

  if (len == 0 || len > digits)
    return -1;
  for (i = 0; i < len; i++) {
    if (s[i] < '0' || s[i] > '9')
      return -1;
    v = v * 10 + (unsigned)(s[i] - '0');
  }
  if (v > max)
    return -1;
  *out = v;
  return 0;
}

static int hub_ws__port(const char *s, size_t len) {
  unsigned port;

  return hub_ws__number(s, len, 5, 65535, &port) == 0 && port > 0 ? 0 : -1;
}

int hub_ws__cidr_parse(const char *s, size_t len, hub_ws__cidr_t *out) {
  const char *slash = memchr(s, '/', len);
  size_t alen = slash != NULL ? (size_t)(slash - s) : len;
  int v4 = memchr(s, ':', alen) == NULL;
  unsigned bits = v4 ? 32 : 128, i;

  if (hub_ws__pton(s, alen, v4, out->addr) != 0)
    return -1;
  if (slash != NULL &&
      hub_ws__number(slash + 1, len - alen - 1, 3, bits, &bits) != 0)
    return -1;
  if (v4)
    bits += 96;
  for (i = bits; i < 128; i++)
    if (out->addr[i / 8] & (0x80u >> (i % 8)))
      return -1; /* an address bit outside the prefix */
  out->bits = (uint8_t)bits;
  return 0;
}

int hub_ws__cidr_match(const hub_ws__cidr_t *set, size_t n,
                       const uint8_t addr[16]) {
  size_t i, whole;
  unsigned rest;

  for (i = 0; i < n; i++) {
    whole = set[i].bits / 8;
    rest = set[i].bits % 8;
    if (memcmp(set[i].addr, addr, whole) != 0)
      continue;
    if (rest == 0 ||
        ((set[i].addr[whole] ^ addr[whole]) & (0xff00u >> rest) & 0xff) == 0)
      return 1;
  }
  return 0;
}

int hub_ws__xff_addr(const char *s, size_t len, uint8_t out[16]) {
  const char *colon, *close;
  size_t colons = 0, i;

  if (len == 0 || len > HUB_WS__XFF_ELEMENT_MAX)
    return -1;
  if (s[0] == '[') {
    close = memchr(s, ']', len);
    if (close == NULL)
      return -1;
    i = (size_t)(close - s) + 1; /* what follows the bracket */
    if (i < len && (s[i] != ':' || hub_ws__port(s + i + 1, len - i - 1) != 0))
      return -1;
    return hub_ws__pton(s + 1, (size_t)(close - s) - 1, 0, out);
  }
  for (i = 0; i < len; i++)
    colons += s[i] == ':';
  if (colons >= 2)
    return hub_ws__pton(s, len, 0, out);
  if (colons == 1) {
    colon = memchr(s, ':', len);
    if (hub_ws__port(colon + 1, len - (size_t)(colon - s) - 1) != 0)
      return -1;
    len = (size_t)(colon - s);
  }
  return hub_ws__pton(s, len, 1, out);
}

static int hub_ws__space(char c) { return c == ' ' || c == '\t'; }

int hub_ws__xff_client(const char *v, size_t len, const hub_ws__cidr_t *trusted,
                       size_t n, uint8_t out[16]) {
  uint8_t addr[16];
  size_t end = len, start, a, b;
  int found = 0;

  while (end > 0) {
    /* The element is v[start, end): after the comma before it. */
    for (start = end; start > 0 && v[start - 1] != ','; start--)
      ;
    for (a = start; a < end && hub_ws__space(v[a]); a++)
      ;
    for (b = end; b > a && hub_ws__space(v[b - 1]); b--)
      ;
    end = start > 0 ? start - 1 : 0;
    if (a == b)
      continue; /* an empty element: lists may hold them */
    if (hub_ws__xff_addr(v + a, b - a, addr) != 0)
      return HUB_WS__XFF_BAD;
    memcpy(out, addr, 16);
    if (!hub_ws__cidr_match(trusted, n, addr))
      return HUB_WS__XFF_CLIENT;
    found = 1;
  }
  return found ? HUB_WS__XFF_TRUSTED : HUB_WS__XFF_NONE;
}
