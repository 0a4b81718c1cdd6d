/* Running out of file descriptors does not stop the server: it keeps
 * serving its clients, leaves new connections in the kernel's backlog,
 * and accepts them once descriptors are free again.
 *
 * The test lowers its own RLIMIT_NOFILE so that the server can accept
 * exactly two more connections: its own executable, so that no other test
 * runs under that limit. */
#include <sys/resource.h>

#include "tcp-fixture.h"

static fx_t fx;

TEST(accepting_resumes_when_descriptors_free_up) {
  struct rlimit old;
  hub_tcp_options_t to;
  int w, a, b, c, d;

  hub_tcp_options_init(&to);
  to.accept_retry_ms = 20;
  ASSERT_EQ(fx_start(&fx, NULL, &to), 0);
  /* A first client, so that libuv has made every descriptor it keeps. */
  ASSERT_EQ((w = fx_client(&fx, 0)), 0);
  ASSERT_EQ(tc_send_str(&fx, w, "w0\n"), 0);
  UNTIL(&fx, fx.tc[w].len == 3);

  /* Every client socket is made now, while descriptors are plenty. */
  a = tc_socket(&fx, 0);
  b = tc_socket(&fx, 0);
  c = tc_socket(&fx, 0);
  d = tc_socket(&fx, 0);
  ASSERT(a >= 0 && b >= 0 && c >= 0 && d >= 0);
  ASSERT_EQ(ts_limit_fds(2, &old), 0);

  /* Two fit. */
  ASSERT_EQ(tc_connect(&fx, a), 0);
  UNTIL(&fx, fx.nclients == 2);
  ASSERT_EQ(tc_connect(&fx, b), 0);
  UNTIL(&fx, fx.nclients == 3);
  ASSERT_EQ(fx.nclients, 3);

  /* The next two complete their handshake in the kernel's backlog, but
   * the server cannot accept them: it pauses, says so, and retries. */
  ASSERT_EQ(tc_connect(&fx, c), 0);
  ASSERT_EQ(tc_connect(&fx, d), 0);
  UNTIL(&fx, fx_tcp_stats(&fx).accept_errors >= 3);
  ASSERT(fx_tcp_stats(&fx).accept_errors >= 3);
  ASSERT_EQ(fx.nlog_accept, 1); /* once for the whole streak */
  ASSERT_EQ(fx.last_log_err, UV_EMFILE);
  ASSERT_EQ(fx.nclients, 3);

  /* Meanwhile the clients it has are served as usual. */
  ASSERT_EQ(tc_send_str(&fx, w, "w1\n"), 0);
  UNTIL(&fx, fx.tc[w].len == 6 && fx.tc[a].len == 3 && fx.tc[b].len == 3);
  ASSERT(memcmp(fx.tc[a].in, "w1\n", 3) == 0);
  ASSERT(memcmp(fx.tc[b].in, "w1\n", 3) == 0);
  ASSERT_EQ(fx.tc[c].len + fx.tc[d].len, 0);
  ASSERT_EQ(fx.tc[c].eof + fx.tc[d].eof, 0); /* waiting, not refused */

  /* A client leaves: its descriptors are freed, and both waiting
   * connections are accepted, none lost. */
  tc_close(&fx.tc[b]);
  UNTIL(&fx, fx.nclients == 5);
  ASSERT_EQ(fx.nclients, 5);
  /* Freed one at a time, descriptors may end the shortage twice; the
   * last word is that accepting works again. */
  ASSERT(fx.nlog_accept >= 2);
  ASSERT_EQ(fx.last_log_err, 0);
  ASSERT(fx.closed[2]);
  ASSERT_EQ(fx.status[2], UV_EOF);

  ASSERT_EQ(tc_send_str(&fx, c, "c1\n"), 0);
  ASSERT_EQ(tc_send_str(&fx, d, "d1\n"), 0);
  UNTIL(&fx, fx.tc[w].len == 12 && fx.tc[a].len == 9 &&
                 fx.tc[c].len == 6 && fx.tc[d].len == 6);
  ASSERT_EQ(fx.tc[w].len, 12);
  ASSERT_EQ(fx.tc[a].len, 9);
  ASSERT_EQ(fx.tc[c].len, 6);
  ASSERT_EQ(fx.tc[d].len, 6);
  ASSERT_EQ(fx_tcp_stats(&fx).accepted, 5);

  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &old), 0);
  ASSERT_EQ(fx_stop(&fx), 0);
}

int main(int argc, char **argv) {
  return RUN_TESTS(argc, argv);
}
