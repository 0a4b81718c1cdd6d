/* Plain client sockets on 127.0.0.1: connecting, reading into growable
 * buffers, sending everything. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "support.h"

int ts_socket(int rcvbuf, int flags) {
  int one = 1, type = SOCK_STREAM | SOCK_CLOEXEC, fd;

  if (flags & TS_NONBLOCK)
    type |= SOCK_NONBLOCK;
  fd = socket(AF_INET, type, 0);
  if (fd < 0)
    return -1;
  if (rcvbuf > 0)
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
  if (flags & TS_NONBLOCK)
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return fd;
}

int ts_connect_loopback(int fd, int port) {
  struct sockaddr_in a;

  memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0 &&
      errno != EINPROGRESS)
    return -1;
  return 0;
}

int ts_connected(int fd) {
  int err = 0;
  socklen_t len = sizeof(err);
  struct sockaddr_in peer;
  socklen_t plen = sizeof(peer);

  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0)
    return -1;
  return getpeername(fd, (struct sockaddr *)&peer, &plen) == 0 ? 1 : 0;
}

int ts_limit_fds(int spare, struct rlimit *old) {
  struct rlimit low;
  int lowest = dup(0);

  if (lowest < 0 || close(lowest) != 0 || getrlimit(RLIMIT_NOFILE, old) != 0)
    return -1;
  low = *old;
  low.rlim_cur = (rlim_t)lowest + (rlim_t)spare;
  return setrlimit(RLIMIT_NOFILE, &low);
}

void ts_grow(char **buf, size_t *cap, size_t need) {
  if (need <= *cap)
    return;
  *cap = need * 2 + 256;
  *buf = realloc(*buf, *cap);
  if (*buf == NULL)
    abort();
}

ssize_t ts_recv_append(int fd, char **in, size_t *len, size_t *cap) {
  static char chunk[65536];
  ssize_t n = recv(fd, chunk, sizeof(chunk), MSG_DONTWAIT);

  if (n > 0) {
    ts_grow(in, cap, *len + (size_t)n + 1);
    memcpy(*in + *len, chunk, (size_t)n);
    *len += (size_t)n;
    (*in)[*len] = '\0';
    return n;
  }
  if (n == 0)
    return 0;
  return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR
             ? TS_AGAIN
             : -errno;
}

int ts_recv_all(int fd, char **in, size_t *len, size_t *cap) {
  ssize_t n;

  while ((n = ts_recv_append(fd, in, len, cap)) > 0) {
  }
  if (n == 0)
    return 1;
  return n == TS_AGAIN ? 0 : (int)n;
}

int ts_send_some(int fd, const void **data, size_t *len) {
  ssize_t n;

  while (*len > 0) {
    if (fd < 0)
      return -1;
    n = send(fd, *data, *len, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n > 0) {
      *data = (const char *)*data + n;
      *len -= (size_t)n;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK ||
                         errno == EINTR || errno == ENOTCONN)) {
      return 0;
    } else {
      return -1;
    }
  }
  return 1;
}
