/* System helpers for the fault tests, on top of the shared test support:
 * descriptor counts and resident memory read from /proc, descriptor
 * limits, and ways to close a client's socket. Header-only, Linux only. */
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

#include "support.h"

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

/* Both at once: the descriptor (the connection completes later), or -1. */
static inline int fs_connect_nb(int port, int rcvbuf) {
  int fd = ts_socket(rcvbuf, TS_NONBLOCK);

  if (fd >= 0 && ts_connect_loopback(fd, port) != 0) {
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

/* The WebSocket upgrade request every client sends. */
#define FS_WS_REQUEST TS_WS_REQUEST("/ws", "")

/* The same, offering permessage-deflate as browsers do. */
#define FS_WS_REQUEST_DEFLATE                                                \
  TS_WS_REQUEST("/ws", "Sec-WebSocket-Extensions: permessage-deflate; "      \
                       "client_max_window_bits\r\n")

#endif /* HUB_FAULT_SYS_H */
