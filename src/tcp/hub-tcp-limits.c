/* hub-tcp's abuse limits: connections per client address, checked as a
 * connection is accepted, and lines a second per client, checked as each
 * line is complete. hubx-limits.h does the counting, and keeps what each
 * connection needs by its descriptor: the connection object has no room.
 *
 * A connection beyond max_conns_per_ip is closed before it is a client:
 * the application never hears of it, the peer sees its connection end.
 * A line over max_msg_rate is dropped rather than the client closed: a
 * person pasting a few lines too many loses those lines, not the
 * session, and a flood costs the server the parsing only. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "hub-tcp-int.h"

int hub_tcp__admit(hub_tcp_server_t *s, int fd) {
  char peer[64], msg[160];
  int report, r;

  r = hubx_limits_admit(&s->limits, fd, uv_now(s->loop), &report, peer,
                        sizeof(peer));
  if (r == 0)
    return 0;
  close(fd);
  if (r != HUBX_LIMITS_REFUSED)
    return r;
  s->stats.refused_per_ip++;
  /* Once per streak: a client retrying in a loop must not flood the
   * log. */
  if (report) {
    snprintf(msg, sizeof(msg),
             "%s has %u connections open: closing its new ones",
             peer, (unsigned)s->opts.max_conns_per_ip);
    hub_tcp__log(s, NULL, 0, msg);
  }
  return r;
}

void hub_tcp__release(hub_tcp_server_t *s, int fd) {
  hubx_limits_release(&s->limits, fd);
}

int hub_tcp__line_in(hub_tcp__conn *c) {
  hub_tcp_server_t *s = hub_tcp__server_of(c);
  const char *notice = s->opts.rate_notice;
  char msg[96];
  int report;

  hub_tcp__line_ended(c);
  if (s->opts.max_msg_rate == 0 ||
      hubx_limits_take(&s->limits, hubx_limits_fd(&c->sock), uv_now(s->loop),
                       &report))
    return 1;
  s->stats.lines_over_rate++;
  if (report) {
    snprintf(msg, sizeof(msg), "over %u lines a second: dropping lines",
             (unsigned)s->opts.max_msg_rate);
    hub_tcp__log(s, c->client, 0, msg);
    /* The log callback may have closed it. */
    if (notice != NULL && !hub_tcp__stopped(c))
      (void)client_send(c->client, notice, strlen(notice), 0);
  }
  return 0;
}
