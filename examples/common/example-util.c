/* Small helpers shared by the example programs. */
#include "example-util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int hubx_quiet;

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

int hubx_parse_send_buffer(const char *s, int *out) {
  size_t v;

  if (hubx_parse_size(s, 0, (size_t)1 << 30, &v) != 0)
    return -1;
  *out = (int)v;
  return 0;
}

int hubx_parse_policy(const char *s, hub_policy_t *out) {
  if (strcmp(s, "disconnect") == 0)
    *out = HUB_POLICY_DISCONNECT;
  else if (strcmp(s, "drop-oldest") == 0)
    *out = HUB_POLICY_DROP_OLDEST;
  else if (strcmp(s, "drop-newest") == 0)
    *out = HUB_POLICY_DROP_NEWEST;
  else if (strcmp(s, "catch-up") == 0)
    *out = HUB_POLICY_CATCH_UP;
  else
    return -1;
  return 0;
}

const char *hubx_policy_name(hub_policy_t policy) {
  switch (policy) {
  case HUB_POLICY_DROP_OLDEST:
    return "drop-oldest";
  case HUB_POLICY_DROP_NEWEST:
    return "drop-newest";
  case HUB_POLICY_CATCH_UP:
    return "catch-up";
  default:
    return "disconnect";
  }
}

const char *hubx_drop_reason_name(hub_drop_reason_t reason) {
  switch (reason) {
  case HUB_DROP_DISCONNECT:
    return "slow consumer disconnected";
  case HUB_DROP_EVICTED:
    return "oldest evicted";
  case HUB_DROP_REFUSED:
    return "newest refused";
  case HUB_DROP_CLOSED:
    return "closed with data queued";
  case HUB_DROP_CONFLATED:
    return "replaced by a newer message with the same key";
  case HUB_DROP_NOMEM:
    return "out of memory";
  case HUB_DROP_EXPIRED:
    return "gone from the history before it was read";
  default:
    return "unknown";
  }
}

const char *hubx_addr_str(const struct sockaddr *addr, char *buf,
                          size_t buflen) {
  char ip[INET6_ADDRSTRLEN] = "?";

  if (addr->sa_family == AF_INET6) {
    const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)addr;
    inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof(ip));
    if (a->sin6_port == 0)
      snprintf(buf, buflen, "[%s]", ip);
    else
      snprintf(buf, buflen, "[%s]:%u", ip, ntohs(a->sin6_port));
  } else {
    const struct sockaddr_in *a = (const struct sockaddr_in *)addr;
    inet_ntop(AF_INET, &a->sin_addr, ip, sizeof(ip));
    if (a->sin_port == 0)
      snprintf(buf, buflen, "%s", ip);
    else
      snprintf(buf, buflen, "%s:%u", ip, ntohs(a->sin_port));
  }
  return buf;
}

/* hubx_log() and hubx_log_always() are in hubx-log.c. */

static void hubx_on_signal(uv_signal_t *handle, int signum) {
  hubx_signals_t *sigs = handle->data;

  sigs->cb(sigs->data, signum);
}

int hubx_signals_start(hubx_signals_t *sigs, uv_loop_t *loop,
                       hubx_signal_cb cb, void *data) {
  int r;

  memset(sigs, 0, sizeof(*sigs));
  sigs->cb = cb;
  sigs->data = data;
  /* Initialising a signal handle only links it into the loop. */
  (void)uv_signal_init(loop, &sigs->sigint);
  (void)uv_signal_init(loop, &sigs->sigterm);
  (void)uv_signal_init(loop, &sigs->sigusr1);
  sigs->sigint.data = sigs->sigterm.data = sigs;
  sigs->sigusr1.data = sigs;
  sigs->open = 1;
  r = uv_signal_start(&sigs->sigint, hubx_on_signal, SIGINT);
  if (r == 0)
    r = uv_signal_start(&sigs->sigterm, hubx_on_signal, SIGTERM);
  return r;
}

static void hubx_on_usr1(uv_signal_t *handle, int signum) {
  hubx_signals_t *sigs = handle->data;

  sigs->usr1_cb(sigs->usr1_data, signum);
}

int hubx_signals_on_usr1(hubx_signals_t *sigs, hubx_signal_cb cb,
                         void *data) {
  if (!sigs->open)
    return UV_EINVAL;
  sigs->usr1_cb = cb;
  sigs->usr1_data = data;
  return uv_signal_start(&sigs->sigusr1, hubx_on_usr1, SIGUSR1);
}

void hubx_signals_close(hubx_signals_t *sigs) {
  if (!sigs->open)
    return;
  sigs->open = 0;
  uv_close((uv_handle_t *)&sigs->sigint, NULL);
  uv_close((uv_handle_t *)&sigs->sigterm, NULL);
  uv_close((uv_handle_t *)&sigs->sigusr1, NULL);
}

/* Drops that may come with every message, as opposed to once a client. */
static int hubx_drop_is_frequent(hub_drop_reason_t reason) {
  return reason != HUB_DROP_DISCONNECT && reason != HUB_DROP_CLOSED &&
         (unsigned)reason < HUBX_DROP_REASONS;
}

static void hubx_droplog_flush(hubx_droplog_t *dl);

static void hubx_on_droplog_timer(uv_timer_t *timer) {
  hubx_droplog_flush(timer->data);
}

static void hubx_droplog_flush(hubx_droplog_t *dl) {
  int i, logged = 0;

  for (i = 0; i < HUBX_DROP_REASONS; i++) {
    if (dl->events[i] == 0)
      continue;
    hubx_log("dropped %llu messages (%llu bytes) in %llu more events: %s",
             (unsigned long long)dl->msgs[i],
             (unsigned long long)dl->bytes[i],
             (unsigned long long)dl->events[i],
             hubx_drop_reason_name((hub_drop_reason_t)i));
    dl->msgs[i] = dl->bytes[i] = dl->events[i] = 0;
    logged = 1;
  }
  /* A second with drops opens another; a quiet one ends the limiting. */
  if (logged && !dl->closing)
    uv_timer_start(&dl->timer, hubx_on_droplog_timer, 1000, 0);
}

void hubx_droplog_init(hubx_droplog_t *dl, uv_loop_t *loop) {
  memset(dl, 0, sizeof(*dl));
  (void)uv_timer_init(loop, &dl->timer);
  dl->timer.data = dl;
}

void hubx_droplog_report(hubx_droplog_t *dl, unsigned long long client_id,
                         hub_drop_reason_t reason, size_t n_msgs,
                         size_t n_bytes) {
  if ((unsigned)reason < HUBX_DROP_REASONS) {
    dl->total_msgs[reason] += n_msgs;
    dl->total_bytes[reason] += n_bytes;
  }
  if (hubx_drop_is_frequent(reason)) {
    if (uv_is_active((uv_handle_t *)&dl->timer)) {
      dl->msgs[reason] += n_msgs;
      dl->bytes[reason] += n_bytes;
      dl->events[reason]++;
      return;
    }
    if (!dl->closing)
      uv_timer_start(&dl->timer, hubx_on_droplog_timer, 1000, 0);
  }
  hubx_log("#%llu: dropped %zu messages (%zu bytes): %s", client_id, n_msgs,
           n_bytes, hubx_drop_reason_name(reason));
}

void hubx_droplog_close(hubx_droplog_t *dl) {
  if (dl->closing)
    return;
  dl->closing = 1;
  hubx_droplog_flush(dl);
  uv_close((uv_handle_t *)&dl->timer, NULL);
}
