/* Fault injection against the example programs, as processes:
 *
 *   fault-procs storm  tcp|ws PROGRAM   10,000 connections opened, then
 *                                        dropped at once (a third reset, a
 *                                        third FIN, a third half-way
 *                                        through the request or a line)
 *   fault-procs emfile tcp|ws PROGRAM   the server's RLIMIT_NOFILE lowered
 *                                        under load, then raised again
 *   fault-procs soak   tcp|ws PROGRAM   clients come and go and talk for
 *                                        HUB_SOAK_SECONDS (default 20)
 *
 * PROGRAM is hub-tcp-echo (tcp) or hub-ws-chat (ws), started on
 * 127.0.0.1 port 0 with its log in the working directory. Every check
 * reads what the program shows from outside: its descriptors and resident
 * memory in /proc, what clients receive, its log, its final statistics on
 * SIGTERM and its exit status (0: under the sanitizers, also no leak).
 * Exits 0 when every check holds. */
#include <signal.h>
#include <sys/epoll.h>
#include <sys/wait.h>

#include "fault-bulk.h"

static int proto;          /* FB_TCP or FB_WS */
static const char *prog;   /* the program */
static int failures;

#define CHECK(cond, ...)                                                     \
  do {                                                                       \
    if (!(cond)) {                                                           \
      printf("FAILED: %s: ", #cond);                                         \
      printf(__VA_ARGS__);                                                   \
      printf("\n");                                                          \
      failures++;                                                            \
    }                                                                        \
  } while (0)

/* ------------------------------------------------------------------------
 * The program
 * ------------------------------------------------------------------------ */

typedef struct {
  pid_t pid;
  int port;
  char log[256];
} proc_t;

/* The whole log, NUL-terminated (free it), or NULL. */
static char *read_log(const proc_t *p) {
  FILE *f = fopen(p->log, "r");
  char *buf;
  long len;

  if (f == NULL)
    return NULL;
  fseek(f, 0, SEEK_END);
  len = ftell(f);
  fseek(f, 0, SEEK_SET);
  buf = malloc((size_t)len + 1);
  if (buf == NULL)
    abort();
  len = (long)fread(buf, 1, (size_t)len, f);
  buf[len] = '\0';
  fclose(f);
  return buf;
}

static int count_in_log(const proc_t *p, const char *what) {
  char *log = read_log(p), *s;
  int n = 0;

  for (s = log; s != NULL && (s = strstr(s, what)) != NULL; s++)
    n++;
  free(log);
  return n;
}

/* Start PROGRAM --listen 127.0.0.1:0 with `args`, its output to a log
 * named after `what`; wait until it says which port it listens on. */
static int proc_start(proc_t *p, const char *what, const char *const *args,
                      int small_quarantine) {
  const char *argv[16];
  char asan[512];
  const char *env;
  uint64_t deadline;
  char *log, *at;
  int n = 0, fd;

  memset(p, 0, sizeof(*p));
  snprintf(p->log, sizeof(p->log), "fault-%s-%s.log", what,
           proto == FB_WS ? "ws" : "tcp");
  argv[n++] = prog;
  argv[n++] = "--listen";
  argv[n++] = "127.0.0.1:0";
  while (*args != NULL && n < 15)
    argv[n++] = *args++;
  argv[n] = NULL;
  /* Not the log of an earlier run, with its port. */
  (void)unlink(p->log);
  fflush(stdout);
  p->pid = fork();
  if (p->pid < 0)
    return -1;
  if (p->pid == 0) {
    fd = open(p->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
      _exit(126);
    fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (fd < 0 || dup2(fd, 0) < 0)
      _exit(126);
    /* Under AddressSanitizer, freed memory is held back in a quarantine
     * of up to 256 MiB, which a long churn fills: it would look like
     * growth. */
    env = getenv("ASAN_OPTIONS");
    if (small_quarantine) {
      snprintf(asan, sizeof(asan), "%s%squarantine_size_mb=8",
               env != NULL ? env : "", env != NULL && *env ? ":" : "");
      setenv("ASAN_OPTIONS", asan, 1);
    }
    execv(prog, (char *const *)argv);
    _exit(127);
  }
  deadline = ts_now_ms() + 30000;
  while (ts_now_ms() < deadline) {
    log = read_log(p);
    at = log != NULL ? strstr(log, "listening on 127.0.0.1:") : NULL;
    if (at != NULL)
      p->port = atoi(at + strlen("listening on 127.0.0.1:"));
    free(log);
    if (p->port > 0)
      return 0;
    if (waitpid(p->pid, NULL, WNOHANG) == p->pid) {
      p->pid = 0;
      return -1;
    }
    ts_sleep_ms(20);
  }
  return -1;
}

/* SIGTERM, and the clients total of its final statistics (-1 if none);
 * *status is its exit status (-1 if it had to be killed). */
static long proc_stop(proc_t *p, int *status) {
  uint64_t deadline = ts_now_ms() + 60000;
  char *log, *at, *last = NULL;
  long clients = -1;
  int st;

  *status = -1;
  kill(p->pid, SIGTERM);
  while (waitpid(p->pid, &st, WNOHANG) == 0) {
    if (ts_now_ms() > deadline) {
      kill(p->pid, SIGKILL);
      waitpid(p->pid, &st, 0);
      return -1;
    }
    ts_sleep_ms(10);
  }
  if (WIFEXITED(st))
    *status = WEXITSTATUS(st);
  log = read_log(p);
  for (at = log; at != NULL && (at = strstr(at, "final stats: clients ")) !=
                                   NULL;
       at++)
    last = at;
  if (last != NULL)
    clients = strtol(last + strlen("final stats: clients "), NULL, 10);
  free(log);
  return clients;
}

/* The program's descriptors once they stop changing for 100 ms. */
static int stable_fds(pid_t pid) {
  int a = fs_fd_count(pid), b, i;

  for (i = 0; i < 100; i++) {
    ts_sleep_ms(100);
    b = fs_fd_count(pid);
    if (a == b)
      return a;
    a = b;
  }
  return a;
}

/* Wait until the program holds `want` descriptors (or `at_least`). */
static int wait_fds(pid_t pid, int want, int at_least, uint64_t ms) {
  uint64_t deadline = ts_now_ms() + ms;
  int n;

  for (;;) {
    n = fs_fd_count(pid);
    if (at_least ? n >= want : n == want)
      return n;
    if (ts_now_ms() > deadline)
      return n;
    ts_sleep_ms(20);
  }
}

/* ------------------------------------------------------------------------
 * storm
 * ------------------------------------------------------------------------ */

static void storm(void) {
  static const char *const args[] = {"--quiet", NULL};
  fb_t rst, fin, half;
  proc_t p;
  int n, third, base, peak, after, status;
  long clients, want_clients;
  uint64_t t0;

  n = fs_scale_connections(10000, 1, "storm");
  third = n / 3;
  CHECK(proc_start(&p, "storm", args, 0) == 0, "%s did not start", prog);
  if (p.pid <= 0)
    return;
  CHECK(fb_probe(proto, p.port, 10000) == 0, "first client not served");
  base = stable_fds(p.pid);

  t0 = ts_now_ms();
  fb_open(&rst, proto, p.port, third, FB_FULL, 120000);
  fb_open(&fin, proto, p.port, third, FB_FULL, 120000);
  fb_open(&half, proto, p.port, n - 2 * third, FB_PARTIAL, 120000);
  CHECK(rst.done + fin.done + half.done == n, "%d of %d connections made",
        rst.done + fin.done + half.done, n);
  peak = wait_fds(p.pid, base + n, 1, 60000);
  CHECK(peak >= base + n, "the server holds %d descriptors, %d expected",
        peak, base + n);
  fb_drop(&rst, FB_RST);
  fb_drop(&fin, FB_FIN);
  fb_drop(&half, FB_MIXED);
  after = wait_fds(p.pid, base, 0, 120000);
  CHECK(after == base, "descriptors: %d before, %d after", base, after);
  CHECK(fb_probe(proto, p.port, 10000) == 0, "no client served after");
  printf("# %s: %d connections (%d reset, %d FIN, %d half-way) opened and "
         "dropped in %llu ms; descriptors %d before, %d at the peak, %d "
         "after\n", prog, n, third, third, n - 2 * third,
         (unsigned long long)(ts_now_ms() - t0), base, peak, after);

  clients = proc_stop(&p, &status);
  /* Every TCP connection is a client from its accept; a WebSocket one
   * from its upgrade. The two probes are clients too. */
  want_clients = proto == FB_TCP ? n + 2 : 2 * third + 2;
  printf("# final stats: %ld clients (%ld expected), exit status %d\n",
         clients, want_clients, status);
  CHECK(clients == want_clients, "%ld clients, %ld expected", clients,
        want_clients);
  CHECK(status == 0, "exit status %d", status);
}

/* ------------------------------------------------------------------------
 * emfile
 * ------------------------------------------------------------------------ */

#define EM_CLIENTS 20
#define EM_ROOM 8 /* descriptors the server may still open */

typedef struct {
  int fd;
  int sent;   /* its request or line is out */
  int served; /* WebSocket: 101 received; TCP: its own line came back */
  int eof;
  char in[4096];
  size_t len;
} em_t;

static void em_poll(em_t *c, int n, int ms) {
  char line[32];
  uint64_t end = ts_now_ms() + (uint64_t)ms;
  ssize_t r;
  int i;

  do {
    for (i = 0; i < n; i++) {
      if (c[i].fd < 0 || c[i].eof)
        continue;
      if (!c[i].sent && ts_connected(c[i].fd) == 1) {
        if (proto == FB_WS)
          (void)send(c[i].fd, FS_WS_REQUEST, sizeof(FS_WS_REQUEST) - 1,
                     MSG_NOSIGNAL);
        else
          (void)send(c[i].fd, line,
                     (size_t)snprintf(line, sizeof(line), "em%d\n", i),
                     MSG_NOSIGNAL);
        c[i].sent = 1;
      }
      r = recv(c[i].fd, c[i].in + c[i].len, sizeof(c[i].in) - c[i].len - 1,
               MSG_DONTWAIT);
      if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR &&
                     errno != ENOTCONN)) {
        c[i].eof = 1;
        continue;
      }
      if (r > 0)
        c[i].len += (size_t)r;
      c[i].in[c[i].len] = '\0';
      if (proto == FB_WS)
        c[i].served = strncmp(c[i].in, "HTTP/1.1 101", 12) == 0 &&
                      strstr(c[i].in, "\r\n\r\n") != NULL;
      else
        c[i].served = strstr(c[i].in,
                             (snprintf(line, sizeof(line), "em%d\n", i),
                              line)) != NULL;
      /* Only the start matters: keep the buffer from filling. */
      if (c[i].len > sizeof(c[i].in) / 2)
        c[i].len = sizeof(c[i].in) / 2;
    }
    ts_sleep_ms(5);
  } while (ts_now_ms() < end);
}

static int em_count(const em_t *c, int n, int what) {
  int i, k = 0;

  for (i = 0; i < n; i++)
    k += what == 0 ? c[i].served : c[i].eof;
  return k;
}

static void emfile(void) {
  static const char *const args[] = {NULL};
  struct rlimit old, low;
  em_t c[EM_CLIENTS];
  proc_t p;
  int i, base, served, waiting, refused, after, status, want;

  CHECK(proc_start(&p, "emfile", args, 0) == 0, "%s did not start", prog);
  if (p.pid <= 0)
    return;
  CHECK(fb_probe(proto, p.port, 10000) == 0, "first client not served");
  base = stable_fds(p.pid);
  CHECK(prlimit(p.pid, RLIMIT_NOFILE, NULL, &old) == 0, "prlimit: %s",
        strerror(errno));
  low = old;
  low.rlim_cur = (rlim_t)(base + EM_ROOM);
  CHECK(prlimit(p.pid, RLIMIT_NOFILE, &low, NULL) == 0, "prlimit: %s",
        strerror(errno));

  /* More clients than it has descriptors for: the first ones are served,
   * the others wait in the backlog, none is refused. */
  for (i = 0; i < EM_CLIENTS; i++) {
    memset(&c[i], 0, sizeof(c[i]));
    c[i].fd = fs_connect_nb(p.port, 0);
    CHECK(c[i].fd >= 0, "socket: %s", strerror(errno));
  }
  em_poll(c, EM_CLIENTS, 1500);
  served = em_count(c, EM_CLIENTS, 0);
  refused = em_count(c, EM_CLIENTS, 1);
  printf("# %s, %d descriptors allowed beyond the %d it had: %d of %d "
         "clients served, %d waiting, %d refused\n", prog, EM_ROOM, base,
         served, EM_CLIENTS, EM_CLIENTS - served - refused, refused);
  /* Descriptor numbers may have a hole or two below the limit. */
  CHECK(served >= 1 && served <= EM_ROOM + 2, "%d served", served);
  CHECK(served < EM_CLIENTS, "all served: the limit did not bite");
  CHECK(refused == 0, "%d refused", refused);
  CHECK(count_in_log(&p, "accept failed") == 1,
        "%d 'accept failed' lines in the log (one per streak expected)",
        count_in_log(&p, "accept failed"));

  /* The served ones leave: as many waiting ones are served in turn. */
  for (i = 0; i < EM_CLIENTS; i++)
    if (c[i].served) {
      fs_close_fin(c[i].fd);
      c[i].fd = -1;
    }
  waiting = EM_CLIENTS - served;
  want = served < waiting ? 2 * served : EM_CLIENTS;
  for (i = 0; i < 100 && em_count(c, EM_CLIENTS, 0) < want; i++)
    em_poll(c, EM_CLIENTS, 50);
  printf("# after %d left: %d of the %d waiting served, %d refused\n",
         served, em_count(c, EM_CLIENTS, 0) - served, waiting,
         em_count(c, EM_CLIENTS, 1));
  CHECK(em_count(c, EM_CLIENTS, 0) == want, "%d served in all, %d expected",
        em_count(c, EM_CLIENTS, 0), want);
  CHECK(em_count(c, EM_CLIENTS, 1) == 0, "some refused");

  /* Descriptors to spare again: everyone is served. */
  CHECK(prlimit(p.pid, RLIMIT_NOFILE, &old, NULL) == 0, "prlimit: %s",
        strerror(errno));
  for (i = 0; i < 100 && em_count(c, EM_CLIENTS, 0) < EM_CLIENTS; i++)
    em_poll(c, EM_CLIENTS, 50);
  printf("# limit restored: %d of %d served, %d refused\n",
         em_count(c, EM_CLIENTS, 0), EM_CLIENTS, em_count(c, EM_CLIENTS, 1));
  CHECK(em_count(c, EM_CLIENTS, 0) == EM_CLIENTS, "%d served in all",
        em_count(c, EM_CLIENTS, 0));
  CHECK(em_count(c, EM_CLIENTS, 1) == 0, "some refused");
  CHECK(count_in_log(&p, "accepting again") >= 1, "no 'accepting again'");

  for (i = 0; i < EM_CLIENTS; i++)
    if (c[i].fd >= 0)
      fs_close_fin(c[i].fd);
  after = wait_fds(p.pid, base, 0, 30000);
  CHECK(after == base, "descriptors: %d before, %d after", base, after);
  CHECK(fb_probe(proto, p.port, 10000) == 0, "no client served after");
  proc_stop(&p, &status);
  CHECK(status == 0, "exit status %d", status);
}

/* ------------------------------------------------------------------------
 * soak
 * ------------------------------------------------------------------------ */

#define SOAK_CLIENTS 100

enum { SK_EMPTY, SK_CONNECTING, SK_UPGRADING, SK_OPEN };

typedef struct {
  int fd;
  int state;
  uint32_t cid;  /* this connection's number */
  uint32_t sent; /* its messages so far */
  uint8_t match; /* of "\r\n\r\n" */
  uint64_t leave_at;
} sk_t;

/* The observer: connected all along, it reads every message and checks
 * that each connection's messages arrive in order, with none missing. */
typedef struct {
  int fd;
  char *in;
  size_t len, cap;
  uint32_t *next; /* per connection number: the next message due */
  size_t nnext;
  uint64_t got, errors;
} obs_t;

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint32_t rnd(uint32_t n) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return (uint32_t)(rng_state % n);
}

static void obs_message(obs_t *o, const char *p, size_t n) {
  char buf[32];
  unsigned long cid, seq;

  if (n == 0 || n >= sizeof(buf))
    return; /* not a soak message ("[hub] ..." notices are longer) */
  memcpy(buf, p, n);
  buf[n] = '\0';
  if (sscanf(buf, "%lu:%lu", &cid, &seq) != 2)
    return;
  o->got++;
  if (cid >= o->nnext) {
    size_t m = cid * 2 + 1024;

    o->next = realloc(o->next, m * sizeof(*o->next));
    if (o->next == NULL)
      abort();
    memset(o->next + o->nnext, 0, (m - o->nnext) * sizeof(*o->next));
    o->nnext = m;
  }
  if (seq != o->next[cid])
    o->errors++;
  o->next[cid] = (uint32_t)seq + 1;
}

/* Parse what the observer holds: lines, or server frames (answering
 * pings). Returns the bytes consumed. */
static size_t obs_parse(obs_t *o) {
  const uint8_t *p;
  size_t pos = 0, k, n;
  uint64_t len;
  uint8_t pong[140];

  if (proto == FB_TCP) {
    for (k = 0; k < o->len; k++)
      if (o->in[k] == '\n') {
        obs_message(o, o->in + pos, k - pos);
        pos = k + 1;
      }
    return pos;
  }
  while (o->len - pos >= 2) {
    p = (const uint8_t *)o->in + pos;
    len = p[1] & 0x7F;
    n = 2;
    if (len == 126) {
      if (o->len - pos < 4)
        break;
      len = (uint64_t)p[2] << 8 | p[3];
      n = 4;
    } else if (len == 127) {
      if (o->len - pos < 10)
        break;
      for (len = 0, k = 0; k < 8; k++)
        len = len << 8 | p[2 + k];
      n = 10;
    }
    if (o->len - pos - n < len)
      break;
    if ((p[0] & 0x0F) == 0x1 || (p[0] & 0x0F) == 0x2)
      obs_message(o, (const char *)p + n, (size_t)len);
    else if ((p[0] & 0x0F) == 0x9 && len <= 125)
      (void)send(o->fd, pong,
                 ts_ws_frame(pong, 1, 0xA, p + n, (size_t)len),
                 MSG_NOSIGNAL);
    pos += n + (size_t)len;
  }
  return pos;
}

static int obs_read(obs_t *o) {
  ssize_t r;
  size_t used;

  for (;;) {
    if (o->cap - o->len < 65536) {
      o->cap = o->len + 65536;
      o->in = realloc(o->in, o->cap);
      if (o->in == NULL)
        abort();
    }
    r = recv(o->fd, o->in + o->len, o->cap - o->len, MSG_DONTWAIT);
    if (r == 0)
      return -1;
    if (r < 0)
      return errno == EAGAIN || errno == EINTR ? 0 : -1;
    o->len += (size_t)r;
    used = obs_parse(o);
    memmove(o->in, o->in + used, o->len - used);
    o->len -= used;
  }
}

/* Send `req`, then read until `mark` arrives or `deadline`; where the
 * mark starts in o->in (NUL-terminated), or NULL on error or timeout. */
static char *obs_ask(obs_t *o, const char *req, const char *mark,
                     uint64_t deadline) {
  size_t n = strlen(req);

  if (send(o->fd, req, n, MSG_NOSIGNAL) != (ssize_t)n)
    return NULL;
  while (ts_now_ms() < deadline) {
    ssize_t r;
    char *at;

    if (!fb_wait_fd(o->fd, POLLIN, 1000))
      continue;
    r = recv(o->fd, o->in + o->len, o->cap - o->len - 1, 0);
    if (r <= 0)
      return NULL;
    o->len += (size_t)r;
    o->in[o->len] = '\0';
    if ((at = strstr(o->in, mark)) != NULL)
      return at;
  }
  return NULL;
}

/* Open the observer: connected, upgraded, the 101 consumed. */
static int obs_open(obs_t *o, int port) {
  uint64_t deadline = ts_now_ms() + 10000;
  char *end;

  memset(o, 0, sizeof(*o));
  o->fd = fs_connect_nb(port, 0);
  if (o->fd < 0 || !fb_wait_fd(o->fd, POLLOUT, 10000) ||
      ts_connected(o->fd) != 1)
    return -1;
  o->cap = 65536;
  o->in = malloc(o->cap);
  if (o->in == NULL)
    abort();
  if (proto == FB_TCP) {
    /* Registered once its own line comes back. */
    if (obs_ask(o, "hello\n", "hello\n", deadline) == NULL)
      return -1;
    o->len = 0;
    return 0;
  }
  end = obs_ask(o, FS_WS_REQUEST, "\r\n\r\n", deadline);
  if (end == NULL || strncmp(o->in, "HTTP/1.1 101", 12) != 0)
    return -1;
  o->len -= (size_t)(end + 4 - o->in);
  memmove(o->in, end + 4, o->len);
  return 0;
}

static void sk_close(int epfd, sk_t *c, int rst) {
  (void)epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
  if (rst)
    fs_close_rst(c->fd);
  else
    fs_close_fin(c->fd);
  c->fd = -1;
  c->state = SK_EMPTY;
}

/* Drain what a client received; move it along its handshake. */
static void sk_readable(int epfd, sk_t *c) {
  static const char end[] = "\r\n\r\n";
  char buf[16384];
  ssize_t r, k;

  for (;;) {
    r = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);
    if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
      sk_close(epfd, c, 0);
      return;
    }
    if (r < 0)
      return;
    for (k = 0; c->state == SK_UPGRADING && k < r; k++) {
      c->match = buf[k] == end[c->match] ? c->match + 1
                                         : (buf[k] == '\r' ? 1 : 0);
      if (c->match == 4)
        c->state = SK_OPEN;
    }
  }
}

static void soak(void) {
  static const char *const args[] = {"--quiet", "--max-queue-msgs",
                                     "65536", "--max-queue-bytes", "64M",
                                     NULL};
  struct epoll_event ev[64];
  sk_t c[SOAK_CLIENTS];
  obs_t o;
  proc_t p;
  const char *env = getenv("HUB_SOAK_SECONDS");
  uint64_t seconds = env != NULL && atoi(env) > 0 ? (uint64_t)atoi(env) : 20;
  uint64_t t0, end, next_sample, warm_at, now, sent = 0, connects = 0;
  uint64_t next_tick = 0;
  uint64_t upgraded = 0, resets = 0, established = 0;
  ssize_t r;
  long rss_warm = 0, rss_max = 0, rss_end, rss;
  uint32_t cid = 0;
  uint8_t frame[64];
  char text[32];
  size_t len;
  int epfd, base, i, k, m, status, fds;
  long clients;

  CHECK(proc_start(&p, "soak", args, 1) == 0, "%s did not start", prog);
  if (p.pid <= 0)
    return;
  CHECK(fb_probe(proto, p.port, 10000) == 0, "first client not served");
  base = stable_fds(p.pid);
  CHECK(obs_open(&o, p.port) == 0, "observer not served");
  epfd = epoll_create1(EPOLL_CLOEXEC);
  for (i = 0; i < SOAK_CLIENTS; i++) {
    c[i].fd = -1;
    c[i].state = SK_EMPTY;
  }

  printf("# %s soak for %llu s (HUB_SOAK_SECONDS), %d clients coming and "
         "going\n", prog, (unsigned long long)seconds, SOAK_CLIENTS);
  t0 = ts_now_ms();
  end = t0 + seconds * 1000;
  warm_at = t0 + seconds * 250;
  next_sample = t0;
  while ((now = ts_now_ms()) < end) {
    /* A few actions every 5 ms (some 1,000 messages a second, each to
     * every client): connect, talk, leave. */
    for (k = 0; k < 8 && now >= next_tick; k++) {
      sk_t *s = &c[rnd(SOAK_CLIENTS)];

      if (s->state == SK_EMPTY) {
        s->fd = fs_connect_nb(p.port, 0);
        if (s->fd < 0)
          continue;
        s->state = SK_CONNECTING;
        s->cid = cid++;
        s->sent = 0;
        s->match = 0;
        s->leave_at = now + 50 + rnd(2000);
        connects++;
        ev[0].events = EPOLLOUT | EPOLLIN;
        ev[0].data.ptr = s;
        (void)epoll_ctl(epfd, EPOLL_CTL_ADD, s->fd, &ev[0]);
      } else if (s->state == SK_OPEN && now >= s->leave_at) {
        /* One that has talked leaves with a FIN, so that what it sent
         * is read first; a silent one may just as well reset. */
        int rst = s->sent == 0 && rnd(2) == 0;

        resets += (uint64_t)rst;
        sk_close(epfd, s, rst);
      } else if (s->state == SK_OPEN && rnd(3) != 0) {
        snprintf(text, sizeof(text), "%u:%u", s->cid, s->sent);
        if (proto == FB_WS) {
          len = ts_ws_frame(frame, 1, 0x1, text, strlen(text));
        } else {
          len = (size_t)snprintf((char *)frame, sizeof(frame), "%s\n", text);
        }
        /* A few bytes always fit: a short send would be a stalled
         * server. */
        r = send(s->fd, frame, len, MSG_DONTWAIT | MSG_NOSIGNAL);
        CHECK(r == (ssize_t)len || (r < 0 && errno != EAGAIN),
              "a %zu-byte send took %zd", len, r);
        if (r == (ssize_t)len) {
          s->sent++;
          sent++;
        }
      }
    }
    if (now >= next_tick)
      next_tick = now + 5;
    m = epoll_wait(epfd, ev, 64, 1);
    for (i = 0; i < m; i++) {
      sk_t *s = ev[i].data.ptr;

      if (s->state == SK_CONNECTING) {
        r = ts_connected(s->fd);
        if (r < 0) {
          sk_close(epfd, s, 1);
          continue;
        }
        if (r == 0)
          continue;
        established++;
        ev[i].events = EPOLLIN;
        (void)epoll_ctl(epfd, EPOLL_CTL_MOD, s->fd, &ev[i]);
        if (proto == FB_WS) {
          (void)send(s->fd, FS_WS_REQUEST, sizeof(FS_WS_REQUEST) - 1,
                     MSG_NOSIGNAL);
          s->state = SK_UPGRADING;
        } else {
          s->state = SK_OPEN;
        }
        continue;
      }
      sk_readable(epfd, s);
      if (s->state == SK_OPEN && s->match == 4) {
        s->match = 5; /* counted once */
        upgraded++;
      }
    }
    CHECK(obs_read(&o) == 0, "the observer was closed");
    if (failures > 0)
      break;
    if (now >= next_sample) {
      rss = fs_rss_kib(p.pid);
      fds = fs_fd_count(p.pid);
      if (rss > rss_max)
        rss_max = rss;
      if (rss_warm == 0 && now >= warm_at)
        rss_warm = rss;
      printf("# t=%3llus rss %ld KiB, %d descriptors, %llu connections so "
             "far, %llu messages sent, %llu seen by the observer\n",
             (unsigned long long)((now - t0) / 1000), rss, fds,
             (unsigned long long)connects, (unsigned long long)sent,
             (unsigned long long)o.got);
      next_sample = now + (seconds > 60 ? 10000 : 2000);
    }
  }

  /* Everyone leaves (with a FIN: what they sent is read first); the
   * observer must have seen every message sent. */
  for (i = 0; i < SOAK_CLIENTS; i++)
    if (c[i].state != SK_EMPTY)
      sk_close(epfd, &c[i], 0);
  close(epfd);
  for (k = 0; k < 3000 && o.got < sent; k++) {
    if (obs_read(&o) != 0)
      break;
    ts_sleep_ms(10);
  }
  fds = wait_fds(p.pid, base + 1, 0, 30000);
  CHECK(fds == base + 1, "descriptors: %d with the observer, %d expected",
        fds, base + 1);
  fs_close_fin(o.fd);
  fds = wait_fds(p.pid, base, 0, 30000);
  ts_sleep_ms(200);
  rss_end = fs_rss_kib(p.pid);
  printf("# %llu connections (%llu established, %llu upgraded, %llu reset "
         "before talking), %llu messages sent, %llu seen by the observer, "
         "%llu out of order or missing\n",
         (unsigned long long)connects, (unsigned long long)established,
         (unsigned long long)(proto == FB_WS ? upgraded : established),
         (unsigned long long)resets, (unsigned long long)sent,
         (unsigned long long)o.got, (unsigned long long)o.errors);
  printf("# rss: %ld KiB after the warm-up, %ld KiB at most, %ld KiB at "
         "the end with every client gone; descriptors %d before, %d "
         "after\n", rss_warm, rss_max, rss_end, base, fds);
  CHECK(o.got == sent, "observer saw %llu of %llu messages",
        (unsigned long long)o.got, (unsigned long long)sent);
  CHECK(o.errors == 0, "%llu messages out of order or missing",
        (unsigned long long)o.errors);
  CHECK(fds == base, "descriptors: %d before, %d after", base, fds);
  /* A generous bound: growth is what a leak would show, not noise. */
  CHECK(rss_end <= rss_warm * 2 + 32 * 1024, "rss grew from %ld to %ld KiB",
        rss_warm, rss_end);
  CHECK(fb_probe(proto, p.port, 10000) == 0, "no client served after");
  free(o.in);
  free(o.next);
  clients = proc_stop(&p, &status);
  printf("# final stats: %ld clients, exit status %d\n", clients, status);
  /* Every connection that got its 101 (every one established, for TCP),
   * the observer and two probes were clients; one cut short may have been
   * one too. */
  CHECK(clients >= (long)(proto == FB_WS ? upgraded : established) + 3 &&
            clients <= (long)connects + 3,
        "%ld clients in the final stats", clients);
  CHECK(status == 0, "exit status %d", status);
}

int main(int argc, char **argv) {
  if (argc != 4 || (strcmp(argv[2], "tcp") != 0 &&
                    strcmp(argv[2], "ws") != 0)) {
    fprintf(stderr, "usage: fault-procs storm|emfile|soak tcp|ws PROGRAM\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  setvbuf(stdout, NULL, _IONBF, 0);
  proto = strcmp(argv[2], "ws") == 0 ? FB_WS : FB_TCP;
  prog = argv[3];
  if (strcmp(argv[1], "storm") == 0)
    storm();
  else if (strcmp(argv[1], "emfile") == 0)
    emfile();
  else if (strcmp(argv[1], "soak") == 0)
    soak();
  else
    return 2;
  printf("%s %s %s: %s\n", argv[1], argv[2], prog,
         failures == 0 ? "ok" : "FAILED");
  return failures == 0 ? 0 : 1;
}
