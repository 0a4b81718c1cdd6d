/* System helpers for the fault tests: the clock, descriptor counts and
 * resident memory read from /proc, descriptor limits, and the plain
 * sockets the clients use. Header-only, Linux only. */
#ifndef HUB_FAULT_SYS_H
#define HUB_FAULT_SYS_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

static inline uint64_t fs_now_ms(void) {
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static inline void fs_sleep_ms(unsigned ms) {
  struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};

  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

/* Open descriptors of process `pid` (0: this one), or -1. */
static inline int fs_fd_count(pid_t pid) {
  char path[64];
  DIR *d;
  struct dirent *e;
  int n = 0;

  if (pid == 0)
    snprintf(path, sizeof(path), "/proc/self/fd");
  else
    snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
  d = opendir(path);
  if (d == NULL)
    return -1;
  while ((e = readdir(d)) != NULL)
    if (e->d_name[0] != '.')
      n++;
  closedir(d);
  return pid == 0 ? n - 1 : n; /* not the directory's own descriptor */
}

/* Resident memory of process `pid` (0: this one) in KiB, or 0. */
static inline long fs_rss_kib(pid_t pid) {
  char path[64], line[256];
  FILE *f;
  long kib = 0;

  if (pid == 0)
    snprintf(path, sizeof(path), "/proc/self/status");
  else
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
  f = fopen(path, "r");
  if (f == NULL)
    return 0;
  while (fgets(line, sizeof(line), f) != NULL)
    if (strncmp(line, "VmRSS:", 6) == 0) {
      kib = strtol(line + 6, NULL, 10);
      break;
    }
  fclose(f);
  return kib;
}

/* Raise this process's soft RLIMIT_NOFILE to `want` descriptors, or as
 * far as the hard limit allows. Returns the soft limit now in force. */
static inline long fs_raise_nofile(long want) {
  struct rlimit rl;

  if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
    return -1;
  if (rl.rlim_cur != RLIM_INFINITY && (long)rl.rlim_cur < want) {
    rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || (long)rl.rlim_max >= want
                      ? (rlim_t)want
                      : rl.rlim_max;
    (void)setrlimit(RLIMIT_NOFILE, &rl);
    (void)getrlimit(RLIMIT_NOFILE, &rl);
  }
  return rl.rlim_cur == RLIM_INFINITY ? want : (long)rl.rlim_cur;
}

/* How many connections a test may open when each costs `per` descriptors
 * in one process: `want` if the limit can be raised that far, else as many
 * as fit, with a line saying so. */
static inline int fs_scale_connections(int want, int per, const char *what) {
  long limit = fs_raise_nofile((long)want * per + 256);
  long fit = (limit - 256) / per;

  if (fit >= want)
    return want;
  if (fit < 16)
    fit = 16;
  printf("# %s: RLIMIT_NOFILE allows %ld descriptors: scaled down from %d "
         "to %ld connections\n", what, limit, want, fit);
  return (int)fit;
}

/* A non-blocking, close-on-exec TCP socket, not connected yet, with
 * SO_RCVBUF `rcvbuf` if > 0. Returns the descriptor or -1. */
static inline int fs_socket_nb(int rcvbuf) {
  int one = 1;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

  if (fd < 0)
    return -1;
  /* Before connect(), so that the window is negotiated for it. */
  if (rcvbuf > 0)
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
  /* Messages sent in pieces go out as they are written. */
  (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return fd;
}

/* Start connecting `fd` to 127.0.0.1:port. Returns 0 or -1. */
static inline int fs_connect_to(int fd, int port) {
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

/* Both at once: the descriptor (the connection completes later), or -1. */
static inline int fs_connect_nb(int port, int rcvbuf) {
  int fd = fs_socket_nb(rcvbuf);

  if (fd >= 0 && fs_connect_to(fd, port) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

/* Close with a reset (SO_LINGER 0) instead of a FIN. */
static inline void fs_close_rst(int fd) {
  struct linger lg = {1, 0};

  (void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
  close(fd);
}

/* Close with a FIN: what is unread is read first, as Linux answers a
 * close() with unread data by a reset. */
static inline void fs_close_fin(int fd) {
  char buf[4096];

  while (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) > 0) {
  }
  close(fd);
}

/* The connection state of a non-blocking connect(): 1 connected, 0 still
 * connecting, -1 failed. */
static inline int fs_connected(int fd) {
  int err = 0;
  socklen_t len = sizeof(err);
  struct sockaddr_in peer;
  socklen_t plen = sizeof(peer);

  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0)
    return -1;
  return getpeername(fd, (struct sockaddr *)&peer, &plen) == 0 ? 1 : 0;
}

/* The WebSocket upgrade request every client sends. */
#define FS_WS_REQUEST                                                        \
  "GET /ws HTTP/1.1\r\n"                                                     \
  "Host: 127.0.0.1\r\n"                                                      \
  "Upgrade: websocket\r\n"                                                   \
  "Connection: Upgrade\r\n"                                                  \
  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"                          \
  "Sec-WebSocket-Version: 13\r\n\r\n"

/* The same, offering permessage-deflate as browsers do. */
#define FS_WS_REQUEST_DEFLATE                                                \
  "GET /ws HTTP/1.1\r\n"                                                     \
  "Host: 127.0.0.1\r\n"                                                      \
  "Upgrade: websocket\r\n"                                                   \
  "Connection: Upgrade\r\n"                                                  \
  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"                          \
  "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"  \
  "Sec-WebSocket-Version: 13\r\n\r\n"

/* A masked client frame into out (len + 14 bytes). */
static inline size_t fs_ws_frame(uint8_t *out, int fin, unsigned op,
                                 const void *payload, size_t len) {
  static const uint8_t key[4] = {0x37, 0xfa, 0x21, 0x3d};
  const uint8_t *p = payload;
  size_t n = 0, i;

  out[n++] = (uint8_t)((fin ? 0x80 : 0) | op);
  if (len < 126) {
    out[n++] = (uint8_t)(0x80 | len);
  } else if (len <= 0xFFFF) {
    out[n++] = 0x80 | 126;
    out[n++] = (uint8_t)(len >> 8);
    out[n++] = (uint8_t)len;
  } else {
    out[n++] = 0x80 | 127;
    for (i = 0; i < 8; i++)
      out[n++] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
  }
  memcpy(out + n, key, 4);
  n += 4;
  for (i = 0; i < len; i++)
    out[n + i] = p[i] ^ key[i % 4];
  return n + len;
}

#endif /* HUB_FAULT_SYS_H */
