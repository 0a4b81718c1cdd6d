/* Descriptor exhaustion, both adapters: with RLIMIT_NOFILE lowered so that
 * the server can accept exactly two more connections, the next ones wait
 * in the kernel's backlog while the server pauses accepting, reports the
 * failure once, and keeps serving the clients it has; once descriptors
 * are free again, the waiting connections are accepted and served, none
 * refused.
 *
 * The limit is the process's: the test runs alone in its own process, and
 * not under valgrind, which keeps descriptor limits of its own. */
#include "fault-fixture.h"

/* Client i is served: registered (WebSocket: upgraded). */
static int served(ff_t *ff, int i) {
  return ff->fc[i].open && (ff->kind == FF_TCP || ff->fc[i].http == 101);
}

static void accepting_resumes(ff_kind kind) {
  struct rlimit old;
  hub_tcp_options_t to;
  hub_ws_options_t wo;
  ff_t ff;
  int w, a, b, c, d, i;
  uint64_t got;

  hub_tcp_options_init(&to);
  to.accept_retry_ms = 20;
  hub_ws_options_init(&wo);
  wo.accept_retry_ms = 20;
  ASSERT_EQ(ff_start(&ff, kind, NULL, &to, &wo), 0);
  /* A first client, so that libuv has made every descriptor it keeps. */
  ASSERT((w = fc_join(&ff, 0)) == 0);
  ASSERT_EQ(fc_send_msg(&ff, w, "w0", 2), 0);
  FF_UNTIL(&ff, ff.fc[w].msgs == 1);
  ASSERT_EQ(ff.fc[w].msgs, 1);

  /* Every client socket is made now, while descriptors are plenty. */
  a = fc_socket(&ff, 0);
  b = fc_socket(&ff, 0);
  c = fc_socket(&ff, 0);
  d = fc_socket(&ff, 0);
  ASSERT(a >= 0 && b >= 0 && c >= 0 && d >= 0);
  ASSERT_EQ(ts_limit_fds(2, &old), 0);

  /* Two fit. */
  for (i = a; i <= b; i++) {
    ASSERT_EQ(fc_connect(&ff, i), 0);
    if (kind == FF_WS)
      ASSERT_EQ(fc_send(&ff, i, FS_WS_REQUEST, sizeof(FS_WS_REQUEST) - 1),
                0);
    FF_UNTIL(&ff, ff.nclients == i + 1 && served(&ff, i));
    ASSERT_EQ(ff.nclients, i + 1);
  }

  /* The next two complete their TCP handshake in the kernel's backlog
   * (and send their request), but the server cannot accept them: it
   * pauses, says so once, and retries. */
  for (i = c; i <= d; i++) {
    ASSERT_EQ(fc_connect(&ff, i), 0);
    if (kind == FF_WS)
      ASSERT_EQ(fc_send(&ff, i, FS_WS_REQUEST, sizeof(FS_WS_REQUEST) - 1),
                0);
  }
  FF_UNTIL(&ff, ff_accept_errors(&ff) >= 3);
  ASSERT(ff_accept_errors(&ff) >= 3);
  ASSERT_EQ(ff.nlog_accept, 1);
  ASSERT_EQ(ff.last_log_err, UV_EMFILE);
  ASSERT_EQ(ff.nclients, 3);

  /* Meanwhile the clients it has are served as usual. */
  ASSERT_EQ(fc_send_msg(&ff, w, "w1", 2), 0);
  FF_UNTIL(&ff, ff.fc[w].msgs == 2 && ff.fc[a].msgs == 1 &&
                    ff.fc[b].msgs == 1);
  ASSERT_EQ(ff.fc[a].msgs + ff.fc[b].msgs, 2);
  ASSERT_EQ(ff.fc[c].msgs + ff.fc[d].msgs, 0);
  ASSERT_EQ(ff.fc[c].http + ff.fc[d].http, 0);
  ASSERT_EQ(ff.fc[c].eof + ff.fc[d].eof, 0); /* waiting, not refused */

  /* A client leaves: its descriptors (the client's and the server's) are
   * freed, and both waiting connections are accepted, none lost. */
  fc_close(&ff, b);
  FF_UNTIL(&ff, ff.nclients == 5 && served(&ff, c) && served(&ff, d));
  ASSERT_EQ(ff.nclients, 5);
  ASSERT(served(&ff, c) && served(&ff, d));
  /* Freed one at a time, descriptors may end the shortage more than
   * once; the last word is that accepting works again. */
  ASSERT(ff.nlog_accept >= 2);
  ASSERT_EQ(ff.last_log_err, 0);
  ASSERT(strstr(ff.last_log, "accepting again") != NULL);
  ASSERT(ff.srv[2].closed);
  ASSERT_EQ(ff.srv[2].status, UV_EOF);

  got = ff.fc[w].msgs;
  ASSERT_EQ(fc_send_msg(&ff, c, "c1", 2), 0);
  ASSERT_EQ(fc_send_msg(&ff, d, "d1", 2), 0);
  FF_UNTIL(&ff, ff.fc[w].msgs == got + 2 && ff.fc[a].msgs == 3 &&
                    ff.fc[c].msgs == 2 && ff.fc[d].msgs >= 1);
  ASSERT_EQ(ff.fc[w].msgs, got + 2);
  ASSERT_EQ(ff.fc[a].msgs, 3);
  ASSERT_EQ(ff.fc[c].msgs, 2);
  printf("# %s: %llu accept errors during the shortage, %d log lines\n",
         ff_name(kind), (unsigned long long)ff_accept_errors(&ff),
         ff.nlog_accept);

  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &old), 0);
  ASSERT_EQ(ff_stop(&ff), 0);
}

FF_TEST_BOTH(accepting_resumes_when_descriptors_free_up, accepting_resumes)

int main(int argc, char **argv) {
  return RUN_TESTS(argc, argv);
}
