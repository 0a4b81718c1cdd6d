/* hub-ws behind reverse proxies (the trusted_proxies option): the client
 * address of a connection from a trusted proxy is the one its request's
 * X-Forwarded-For names (ws-forwarded.h reads it), in logs and in the
 * connections counted per address.
 *
 * Per-address counting happens as a connection is accepted, before any
 * header is read; behind a proxy, every connection then comes from the
 * proxy. A trusted proxy's connections are therefore admitted without the
 * max_conns_per_ip check, counted under the proxy's address, and moved to
 * their client's address once the request head is read: refused there
 * with 503 when that address has its share already, exactly as at accept.
 * A connection from any other peer is counted by its peer's address, and
 * its X-Forwarded-For is never read.
 *
 * Where the client's address is kept: the connection object has no room
 * (200 bytes, see hub-ws-int.h), but the per-address table of
 * hubx-limits.h already holds the address each descriptor counts under.
 * With trusted proxies the table is kept even without max_conns_per_ip
 * (hubx_limits_track()), and a flag bit of the connection says that its
 * address is a forwarded one. */
#include "hub-ws-int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int hub_ws_proxy_check(const char *spec) {
  hub_ws__cidr_t cidr;

  return spec != NULL && hub_ws__cidr_parse(spec, strlen(spec), &cidr) == 0
             ? 0
             : UV_EINVAL;
}

int hub_ws__proxy_init(hub_ws_server_t *s) {
  size_t i;

  if (s->opts.n_trusted_proxies == 0)
    return 0;
  s->trusted = malloc(s->opts.n_trusted_proxies * sizeof(*s->trusted));
  if (s->trusted == NULL)
    return UV_ENOMEM;
  for (i = 0; i < s->opts.n_trusted_proxies; i++)
    if (hub_ws__cidr_parse(s->opts.trusted_proxies[i],
                           strlen(s->opts.trusted_proxies[i]),
                           &s->trusted[i]) != 0)
      return UV_EINVAL;
  s->ntrusted = s->opts.n_trusted_proxies;
  /* The strings were the caller's: only the parsed prefixes stay. */
  s->opts.trusted_proxies = NULL;
  s->opts.n_trusted_proxies = 0;
  hubx_limits_track(&s->limits);
  return 0;
}

int hub_ws__proxy_trusted(hub_ws_server_t *s, const uint8_t key[16]) {
  return hub_ws__cidr_match(s->trusted, s->ntrusted, key);
}

/* The client named by the request's X-Forwarded-For headers, read from
 * the last one back (RFC 9110 §5.3: several lines of a list header are
 * one list, in order), into `client`. HUB_WS__XFF_NONE without any. */
static int hub_ws__xff(hub_ws_server_t *s, const hub_ws__hs_t *hs,
                       uint8_t client[16], const char **bad) {
  uint8_t addr[16];
  unsigned i = hub_ws__hs_nfields(hs);
  const char *v;
  int r, found = HUB_WS__XFF_NONE;

  while (i-- > 0) {
    if (strcasecmp(hub_ws__hs_field_name(hs, i), "X-Forwarded-For") != 0)
      continue;
    v = hub_ws__hs_field_value(hs, i);
    r = hub_ws__xff_client(v, strlen(v), s->trusted, s->ntrusted, addr);
    if (r == HUB_WS__XFF_BAD) {
      *bad = v;
      return r;
    }
    if (r == HUB_WS__XFF_NONE)
      continue;
    memcpy(client, addr, 16); /* the left-most so far, if trusted */
    found = r;
    if (r == HUB_WS__XFF_CLIENT)
      break;
  }
  return found;
}

/* Why a malformed X-Forwarded-For is refused, for the log: its value
 * cut to 64 bytes of printable ASCII (the peer wrote it). */
static const char *hub_ws__shown(const char *v, char *buf, size_t len) {
  size_t n, i;

  n = (size_t)snprintf(buf, len, "malformed X-Forwarded-For from a "
                       "trusted proxy: '");
  for (i = 0; v[i] != '\0' && i < 64 && n + 8 < len; i++)
    buf[n++] = v[i] >= ' ' && v[i] < 127 ? v[i] : '?';
  snprintf(buf + n, len - n, "%s'", v[i] != '\0' ? "..." : "");
  return buf;
}

int hub_ws__proxy_forward(hub_ws__conn_t *c) {
  hub_ws_server_t *s = hub_ws__server_of(c);
  uv_os_sock_t fd = hubx_limits_fd(&c->sock);
  uint8_t peer[16], client[16];
  char shown[160], ip[64];
  const char *bad = NULL;
  int r, found, report;

  if (s->ntrusted == 0 || hubx_limits_addr(&s->limits, fd, peer) != 0 ||
      !hub_ws__proxy_trusted(s, peer))
    return 0;
  found = r = hub_ws__xff(s, c->st.hs, client, &bad);
  if (r == HUB_WS__XFF_BAD) {
    hub_ws__refuse(c, 400, hub_ws__shown(bad, shown, sizeof(shown)));
    return -1;
  }
  /* Without the header, the request is the proxy's own (a health check,
   * say), counted under its address like any client's. */
  if (r == HUB_WS__XFF_NONE)
    memcpy(client, peer, 16);
  r = hubx_limits_move(&s->limits, fd, client, &report);
  if (r == 0) {
    if (found != HUB_WS__XFF_NONE)
      c->flags |= HUB_WS__F_FORWARDED;
    return 0;
  }
  hubx_limits_key_name(client, ip, sizeof(ip));
  if (r != HUBX_LIMITS_REFUSED) {
    hub_ws__log(s, c, r, "forwarded for %s: %s", ip, uv_strerror(r));
    hub_ws__refuse(c, 503, NULL);
    return -1;
  }
  s->st.refused_per_ip++;
  if (report)
    hub_ws__log(s, c, 0,
                "forwarded for %s, which has %u connections open: "
                "refusing its new ones with 503",
                ip, (unsigned)s->opts.max_conns_per_ip);
  hub_ws__refuse(c, 503, NULL);
  return -1;
}

int hub_ws__client_address(hub_ws__conn_t *c, struct sockaddr *name,
                           int *namelen) {
  hub_ws_server_t *s = hub_ws__server_of(c);
  struct sockaddr_in6 a6;
  struct sockaddr_in a4;
  uint8_t key[16];
  const void *a;
  int n;

  if (!(c->flags & HUB_WS__F_FORWARDED) ||
      hubx_limits_addr(&s->limits, hubx_limits_fd(&c->sock), key) != 0)
    return hubx_sock_getpeername(&c->sock, name, namelen);
  memset(&a6, 0, sizeof(a6));
  memset(&a4, 0, sizeof(a4));
  if (hubx_limits_key_is_v4(key)) {
    a4.sin_family = AF_INET;
    memcpy(&a4.sin_addr, key + 12, 4);
    a = &a4, n = (int)sizeof(a4);
  } else {
    a6.sin6_family = AF_INET6;
    memcpy(&a6.sin6_addr, key, 16);
    a = &a6, n = (int)sizeof(a6);
  }
  if (*namelen < n)
    return UV_ENOBUFS;
  memcpy(name, a, (size_t)n);
  *namelen = n;
  return 0;
}

int hub_ws_request_client_address(const hub_ws_request_t *req,
                                  struct sockaddr *name, int *namelen) {
  if (req == NULL || name == NULL || namelen == NULL)
    return UV_EINVAL;
  return hub_ws__client_address(req->conn, name, namelen);
}
