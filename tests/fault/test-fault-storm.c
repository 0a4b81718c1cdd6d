/* Connection storms against both adapters in-process: 10,000 connections
 * opened, then dropped all at once, in three rounds: with resets (SO_LINGER
 * 0), with FINs, and half-way through the request (WebSocket) or a line
 * (TCP), half reset and half FIN. After each round: the adapter holds no
 * connection and the hub no client (their stats), the server process has
 * exactly the descriptors it had before (/proc/self/fd), and a new client
 * is served.
 *
 * The clients run in a child process (fork), so that each side needs only
 * its own 10,000 descriptors; RLIMIT_NOFILE is raised for the test as far
 * as the hard limit allows, and the count scaled down (and said so) if
 * that is not enough. HUB_FAULT_CONNECTIONS sets another count. The child
 * and the test talk over a socket pair, one line per step. */
#include <sys/wait.h>

#include "fault-bulk.h"
#include "fault-fixture.h"

#define ROUND_MS 120000 /* only a broken test waits this long */

static int want_connections(void) {
  const char *e = getenv("HUB_FAULT_CONNECTIONS");
  int n = e != NULL ? atoi(e) : 10000;

  return n > 0 ? n : 10000;
}

/* ------------------------------------------------------------------------
 * The child: the clients
 * ------------------------------------------------------------------------ */

static void ctl_say(int ctl, const char *fmt, int v) {
  char line[64];
  int n = snprintf(line, sizeof(line), fmt, v);

  if (write(ctl, line, (size_t)n) != n)
    _exit(3);
}

/* Wait for the test's "go". */
static void ctl_wait(int ctl) {
  char c;

  if (read(ctl, &c, 1) != 1 || c != 'G')
    _exit(4);
}

static void child(int ctl, int proto, int port, int n) {
  static const int modes[3] = {FB_FULL, FB_FULL, FB_PARTIAL};
  static const int hows[3] = {FB_RST, FB_FIN, FB_MIXED};
  fb_t b;
  int round, opened;

  for (round = 0; round < 3; round++) {
    opened = fb_open(&b, proto, port, n, modes[round], ROUND_MS);
    ctl_say(ctl, "O %d\n", opened);
    ctl_wait(ctl);
    fb_drop(&b, hows[round]);
    ctl_say(ctl, "D %d\n", round);
    ctl_wait(ctl);
    ctl_say(ctl, "P %d\n", fb_probe(proto, port, 10000) == 0);
    ctl_wait(ctl);
  }
  _exit(0);
}

/* ------------------------------------------------------------------------
 * The test: the server
 * ------------------------------------------------------------------------ */

/* The child's next line, stepping the server meanwhile: its number, or
 * -1 if the child is gone or the deadline passed. */
static int ctl_read(ff_t *ff, int ctl, char want) {
  char line[64];
  size_t len = 0;
  uint64_t deadline = ts_now_ms() + ROUND_MS;
  struct pollfd p;

  while (ts_now_ms() < deadline) {
    p.fd = ctl;
    p.events = POLLIN;
    p.revents = 0;
    if (poll(&p, 1, 0) > 0) {
      if (read(ctl, line + len, 1) != 1)
        return -1;
      if (line[len] == '\n') {
        line[len] = '\0';
        return line[0] == want ? atoi(line + 2) : -1;
      }
      if (++len == sizeof(line))
        return -1;
      continue;
    }
    ff_step(ff);
  }
  return -1;
}

static void ctl_go(int ctl) {
  if (write(ctl, "G", 1) != 1)
    abort();
}

/* Step until the server holds no connection and no client, and has the
 * descriptors it had at the start (counted now and then). */
static int settle(ff_t *ff, int base_fds, int *fds) {
  uint64_t deadline = ts_now_ms() + ROUND_MS, next = 0;

  *fds = -1;
  while (ts_now_ms() < deadline) {
    ff_step(ff);
    if (ff_connections(ff) != 0 || ff_hub_stats(ff).clients != 0 ||
        ts_now_ms() < next)
      continue;
    *fds = fs_fd_count(0);
    if (*fds == base_fds)
      return 0;
    next = ts_now_ms() + 50;
  }
  return -1;
}

static void storm(ff_kind kind) {
  static const char *const rounds[3] = {"reset", "FIN", "half-way"};
  hub_ws_stats_t ws;
  hub_tcp_stats_t ts;
  ff_t ff;
  int n, ctl[2], base_fds, peak_fds, fds, round, got, status, probe;
  uint64_t t0;
  pid_t pid;

  n = fs_scale_connections(want_connections(), 1, "storm");
  ASSERT_EQ(ff_start(&ff, kind, NULL, NULL, NULL), 0);
  /* A first client, so that libuv has made every descriptor it keeps. */
  ASSERT(fc_join(&ff, 0) == 0);
  ASSERT_EQ(fc_send_msg(&ff, 0, "warm", 4), 0);
  FF_UNTIL(&ff, ff.fc[0].msgs == 1);
  fc_close(&ff, 0);
  FF_UNTIL(&ff, ff_connections(&ff) == 0 && ff_hub_stats(&ff).clients == 0);
  ASSERT_EQ(ff_connections(&ff), 0);
  base_fds = fs_fd_count(0);

  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ctl), 0);
  base_fds += 1; /* our end of the pair */
  fflush(stdout);
  pid = fork();
  ASSERT(pid >= 0);
  if (pid == 0) {
    close(ctl[0]);
    child(ctl[1], kind == FF_WS ? FB_WS : FB_TCP, ff.port, n);
  }
  close(ctl[1]);

  for (round = 0; round < 3; round++) {
    t0 = ts_now_ms();
    got = ctl_read(&ff, ctl[0], 'O');
    ASSERT_EQ(got, n);
    /* Every connection reached the server: registered (upgraded), or in
     * its handshake for the half-way round. */
    if (kind == FF_WS && round == 2) {
      FF_UNTIL_MS(&ff, (hub_ws_server_get_stats(ff.ws, &ws),
                        ws.handshakes == (uint64_t)n), ROUND_MS);
      ASSERT_EQ(ws.handshakes, n);
    } else if (kind == FF_TCP && round == 2) {
      FF_UNTIL_MS(&ff, (hub_tcp_server_get_stats(ff.tcp, &ts),
                        ts.partial_bytes > 0 &&
                        ff_hub_stats(&ff).clients == (uint64_t)n),
                  ROUND_MS);
      ASSERT_EQ(ff_hub_stats(&ff).clients, n);
    } else {
      FF_UNTIL_MS(&ff, ff_hub_stats(&ff).clients == (uint64_t)n, ROUND_MS);
      ASSERT_EQ(ff_hub_stats(&ff).clients, n);
    }
    ASSERT_EQ(ff_connections(&ff), n);
    peak_fds = fs_fd_count(0);
    ASSERT(peak_fds >= base_fds + n);
    ctl_go(ctl[0]);

    /* All dropped at once: nothing may be left. */
    ASSERT_EQ(ctl_read(&ff, ctl[0], 'D'), round);
    ASSERT_EQ(settle(&ff, base_fds, &fds), 0);
    ASSERT_EQ(ff_hub_stats(&ff).clients, 0);
    ASSERT_EQ(ff_hub_stats(&ff).queued_bytes, 0);
    if (kind == FF_WS) {
      hub_ws_server_get_stats(ff.ws, &ws);
      ASSERT_EQ(ws.connections + ws.handshakes + ws.rx_states, 0);
    } else {
      hub_tcp_server_get_stats(ff.tcp, &ts);
      ASSERT_EQ(ts.connections + ts.partial_bytes, 0);
    }
    ctl_go(ctl[0]);

    /* And it still serves. */
    probe = ctl_read(&ff, ctl[0], 'P');
    printf("# %s, %s: %d connections (%d descriptors at the peak, %d "
           "before and after), a new client %s, %llu ms\n",
           ff_name(kind), rounds[round], n, peak_fds, base_fds,
           probe == 1 ? "served" : "NOT served",
           (unsigned long long)(ts_now_ms() - t0));
    ASSERT_EQ(probe, 1);
    ctl_go(ctl[0]);
  }
  while (waitpid(pid, &status, WNOHANG) == 0)
    ff_step(&ff);
  ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  close(ctl[0]);
  ASSERT_EQ(settle(&ff, base_fds - 1, &fds), 0);
  ASSERT_EQ(ff_stop(&ff), 0);
}

FF_TEST_BOTH(storm_of_10000_connections, storm)

int main(int argc, char **argv) {
  return RUN_TESTS(argc, argv);
}
