/* Values on the example programs' command lines. See hubx-cli.h. */
#include "hubx-cli.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int hubx_parse_listen(const char *s, struct sockaddr_storage *addr,
                      char *err, size_t errlen) {
  char host[64];
  const char *colon, *port_s;
  size_t hlen;
  char *end;
  long port;
  struct sockaddr_in *v4 = (struct sockaddr_in *)addr;
  struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)addr;

  memset(addr, 0, sizeof(*addr));
  if (s[0] == '[') {
    colon = strstr(s, "]:");
    if (colon == NULL)
      goto bad;
    hlen = (size_t)(colon - s - 1);
    port_s = colon + 2;
    if (hlen == 0 || hlen >= sizeof(host))
      goto bad;
    memcpy(host, s + 1, hlen);
  } else {
    colon = strrchr(s, ':');
    if (colon == NULL)
      goto bad;
    hlen = (size_t)(colon - s);
    port_s = colon + 1;
    if (hlen >= sizeof(host))
      goto bad;
    memcpy(host, s, hlen);
  }
  host[hlen] = '\0';
  errno = 0;
  port = strtol(port_s, &end, 10);
  if (*port_s == '\0' || *end != '\0' || errno != 0 || port < 0 ||
      port > 65535) {
    snprintf(err, errlen, "bad port in '%s' (expected 0-65535)", s);
    return -1;
  }
  if (hlen == 0 || strcmp(host, "localhost") == 0)
    strcpy(host, "127.0.0.1");
  if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons((uint16_t)port);
    return 0;
  }
  if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons((uint16_t)port);
    return 0;
  }
  snprintf(err, errlen, "bad address '%s' (expected a numeric IPv4 or "
           "[IPv6] address, or localhost)", host);
  return -1;
bad:
  snprintf(err, errlen, "bad listen address '%s' (expected HOST:PORT)", s);
  return -1;
}

int hubx_parse_size(const char *s, size_t min, size_t max, size_t *out) {
  unsigned long long v, mult = 1;
  char *end;

  if (*s < '0' || *s > '9')
    return -1;
  errno = 0;
  v = strtoull(s, &end, 10);
  if (errno != 0)
    return -1;
  if (*end == 'K' || *end == 'k')
    mult = 1024ull, end++;
  else if (*end == 'M' || *end == 'm')
    mult = 1024ull * 1024, end++;
  else if (*end == 'G' || *end == 'g')
    mult = 1024ull * 1024 * 1024, end++;
  if (*end != '\0' || v > (unsigned long long)SIZE_MAX / mult)
    return -1;
  v *= mult;
  if (v < min || v > max)
    return -1;
  *out = (size_t)v;
  return 0;
}

/* The policies' names on the command line, by value. */
static const char *const hubx__policies[] = {
  [HUB_POLICY_DISCONNECT] = "disconnect",
  [HUB_POLICY_DROP_OLDEST] = "drop-oldest",
  [HUB_POLICY_DROP_NEWEST] = "drop-newest",
  [HUB_POLICY_CATCH_UP] = "catch-up",
};
#define HUBX_POLICIES (sizeof(hubx__policies) / sizeof(hubx__policies[0]))

int hubx_parse_policy(const char *s, hub_policy_t *out) {
  size_t i;

  for (i = 0; i < HUBX_POLICIES; i++) {
    if (strcmp(s, hubx__policies[i]) == 0) {
      *out = (hub_policy_t)i;
      return 0;
    }
  }
  return -1;
}

const char *hubx_policy_name(hub_policy_t policy) {
  if ((unsigned)policy < HUBX_POLICIES)
    return hubx__policies[policy];
  return hubx__policies[HUB_POLICY_DISCONNECT];
}

const char *hubx_addr_str(const struct sockaddr *addr, char *buf,
                          size_t buflen) {
  const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)addr;
  const struct sockaddr_in *a4 = (const struct sockaddr_in *)addr;
  int v6 = addr->sa_family == AF_INET6;
  unsigned port = ntohs(v6 ? a6->sin6_port : a4->sin_port);
  char ip[INET6_ADDRSTRLEN] = "?";
  int n;

  if (v6)
    inet_ntop(AF_INET6, &a6->sin6_addr, ip, sizeof(ip));
  else
    inet_ntop(AF_INET, &a4->sin_addr, ip, sizeof(ip));
  /* An IPv6 address in brackets, so that its port can follow. */
  n = snprintf(buf, buflen, v6 ? "[%s]" : "%s", ip);
  if (port != 0 && n >= 0 && (size_t)n < buflen)
    snprintf(buf + n, buflen - (size_t)n, ":%u", port);
  return buf;
}

int hubx_parse_seconds(const char *s, uint64_t max_ms, uint64_t *ms) {
  char *end;
  double v;

  if (*s < '0' || *s > '9')
    return -1;
  v = strtod(s, &end);
  if (*end != '\0' || v < 0 || v * 1000.0 > (double)max_ms)
    return -1;
  *ms = (uint64_t)(v * 1000.0 + 0.5);
  if (*ms == 0 && v > 0)
    *ms = 1;
  return 0;
}

/* A value of a size-like flag, checked against the table's bounds. */
static int hubx__opt_number(const hubx_opt_t *opt, const char *arg,
                            size_t *v) {
  return hubx_parse_size(arg, (size_t)opt->min, (size_t)opt->max, v);
}

static int hubx__opt_set(const hubx_opt_t *opt, const char *arg) {
  uint64_t ms;
  size_t v;

  switch (opt->type) {
  case HUBX_OPT_STRING:
    *(const char **)opt->target = arg;
    return 0;
  case HUBX_OPT_SIZE:
    return hubx__opt_number(opt, arg, opt->target);
  case HUBX_OPT_U32:
    if (hubx__opt_number(opt, arg, &v) != 0)
      return -1;
    *(uint32_t *)opt->target = (uint32_t)v;
    return 0;
  case HUBX_OPT_INT:
    if (hubx__opt_number(opt, arg, &v) != 0)
      return -1;
    *(int *)opt->target = (int)v;
    return 0;
  case HUBX_OPT_SECONDS:
    if (hubx_parse_seconds(arg, opt->max, &ms) != 0 || ms < opt->min)
      return -1;
    *(uint64_t *)opt->target = ms;
    return 0;
  case HUBX_OPT_SET:
    *(int *)opt->target = (int)opt->max;
    return 0;
  default:
    return -1;
  }
}

int hubx_opt_apply(const hubx_opt_t *opt, const char *arg, char *err,
                   size_t errlen) {
  int r;

  err[0] = '\0';
  if (opt->type == HUBX_OPT_CALL)
    r = opt->call(opt->target, arg, err, errlen);
  else
    r = hubx__opt_set(opt, arg);
  if (r != 0 && err[0] == '\0')
    snprintf(err, errlen, "--%s: %s, got '%s'", opt->name, opt->expected,
             arg);
  return r != 0 ? -1 : 0;
}

void hubx_bad_usage(const char *prog, const char *fmt, const char *arg) {
  fprintf(stderr, "%s: ", prog);
  fprintf(stderr, fmt, arg);
  fprintf(stderr, "\nTry '%s --help' for more information.\n", prog);
  exit(2);
}
