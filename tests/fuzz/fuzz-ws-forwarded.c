/* Fuzz target: X-Forwarded-For values and trusted-proxy prefixes
 * (ws-forwarded.h), both from the network or the command line. The first
 * byte picks the trusted set; the rest is a header value. Checks:
 * hub_ws__xff_client() agrees with a reference that splits the whole list
 * first and reads it from the right; for a client found, what lies left
 * of it does not matter (garbage put there changes nothing); and the
 * input, as a prefix, is either refused or one that matches its own
 * address and has no bit set beyond its length. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "ws-forwarded.h"

#define VALUE_MAX 8192

static const char *const sets[][3] = {
    {"127.0.0.1", NULL, NULL},
    {"10.0.0.0/8", "fd00::/8", "127.0.0.1"},
    {"0.0.0.0/0", NULL, NULL},
    {"::/0", NULL, NULL},
};

/* The reference: split at commas, trim, skip empties, right to left. */
static int reference(const char *v, size_t len, const hub_ws__cidr_t *trusted,
                     size_t n, uint8_t out[16]) {
  static size_t start[VALUE_MAX + 2], end[VALUE_MAX + 2];
  size_t k = 0, i, a, b;
  uint8_t addr[16];
  int found = HUB_WS__XFF_NONE;

  start[0] = 0;
  for (i = 0; i <= len; i++) {
    if (i == len || v[i] == ',') {
      end[k++] = i;
      start[k] = i + 1;
    }
  }
  while (k-- > 0) {
    for (a = start[k]; a < end[k] && (v[a] == ' ' || v[a] == '\t'); a++)
      ;
    for (b = end[k]; b > a && (v[b - 1] == ' ' || v[b - 1] == '\t'); b--)
      ;
    if (a == b)
      continue;
    if (hub_ws__xff_addr(v + a, b - a, addr) != 0)
      return HUB_WS__XFF_BAD;
    memcpy(out, addr, 16);
    found = HUB_WS__XFF_TRUSTED;
    if (!hub_ws__cidr_match(trusted, n, addr))
      return HUB_WS__XFF_CLIENT;
  }
  return found;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static char v[VALUE_MAX + 32];
  hub_ws__cidr_t trusted[3], self;
  uint8_t got[16], want[16], again[16];
  size_t n = 0, len, i;
  int r, w;

  if (size < 1)
    return 0;
  for (i = 0; i < 3; i++) {
    const char *s = sets[data[0] % 4][i];
    if (s != NULL && hub_ws__cidr_parse(s, strlen(s), &trusted[n++]) != 0)
      abort();
  }
  len = size - 1 < VALUE_MAX ? size - 1 : VALUE_MAX;
  memcpy(v + 16, data + 1, len);

  r = hub_ws__xff_client(v + 16, len, trusted, n, got);
  w = reference(v + 16, len, trusted, n, want);
  if (r != w)
    abort();
  if ((r == HUB_WS__XFF_CLIENT || r == HUB_WS__XFF_TRUSTED) &&
      memcmp(got, want, 16) != 0)
    abort();
  if (r == HUB_WS__XFF_CLIENT) {
    if (hub_ws__cidr_match(trusted, n, got))
      abort();
    /* Garbage a client wrote on the left is never read. */
    memcpy(v, "\x01garbage[::%,,,,", 16);
    if (hub_ws__xff_client(v, len + 16, trusted, n, again) !=
            HUB_WS__XFF_CLIENT ||
        memcmp(again, got, 16) != 0)
      abort();
  }

  /* The same bytes as a prefix. */
  if (hub_ws__cidr_parse((const char *)data + 1, size - 1 < 64 ? size - 1 : 64,
                         &self) == 0) {
    if (self.bits > 128 || !hub_ws__cidr_match(&self, 1, self.addr))
      abort();
    for (i = self.bits; i < 128; i++)
      if (self.addr[i / 8] & (0x80u >> (i % 8)))
        abort();
  }
  return 0;
}
