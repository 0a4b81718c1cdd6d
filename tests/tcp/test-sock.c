/* The socket both adapters read and write through
 * (src/net/hubx-sock.h), on real TCP connections over 127.0.0.1:
 * reads, writes the kernel does not take at once, the FIN that waits for
 * them, and how a pending write ends when the socket is closed or the
 * peer resets. The peer is a plain blocking-free socket of the test. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"
#include "hubx-sock.h"

#define BIG (4 * 1024 * 1024)

typedef struct {
  uv_loop_t loop;
  hub_t *hub;
  hubx_sock_ctx_t ctx;
  char rbuf[4096];
  hubx_sock_t sock;
  int peer;  /* the test's end */
  int open;  /* sock is open (not closed yet) */
  int closed; /* its close callback ran */
  /* What the callbacks saw. */
  size_t nread;
  int read_end; /* the status of the read that ended reading, or 0 */
  int read_ends;
  int writes_done;
  int write_status;
  /* What the peer received. */
  char *got;
  size_t ngot;
  int peer_eof;
} sk_t;

static sk_t sk;

static void on_read(hubx_sock_t *sock, ssize_t n, char *buf) {
  (void)sock;
  (void)buf;
  if (n > 0) {
    sk.nread += (size_t)n;
  } else {
    sk.read_end = (int)n;
    sk.read_ends++;
  }
}

static void on_write(hubx_sock_t *sock, int status) {
  (void)sock;
  sk.writes_done++;
  sk.write_status = status;
}

static void on_closed(uv_handle_t *h) {
  (void)h;
  sk.closed = 1;
}

static void nonblock(int fd) {
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

/* A connected pair over loopback: sk.sock on the accepted end (small send
 * buffer, so that big writes stay pending), sk.peer the other. */
static int sk_start(void) {
  struct sockaddr_in a;
  socklen_t alen = sizeof(a);
  int l, fd, small = 4096;

  memset(&sk, 0, sizeof(sk));
  if (uv_loop_init(&sk.loop) != 0 || hub_new(&sk.hub, &sk.loop, NULL) != 0)
    return -1;
  hubx_sock_ctx_init(&sk.ctx, sk.hub, on_read, on_write, sk.rbuf,
                     sizeof(sk.rbuf));
  memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  l = socket(AF_INET, SOCK_STREAM, 0);
  if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) != 0 ||
      listen(l, 1) != 0 || getsockname(l, (struct sockaddr *)&a, &alen) != 0)
    return -1;
  sk.peer = socket(AF_INET, SOCK_STREAM, 0);
  setsockopt(sk.peer, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
  if (connect(sk.peer, (struct sockaddr *)&a, sizeof(a)) != 0)
    return -1;
  fd = accept(l, NULL, NULL);
  close(l);
  if (fd < 0)
    return -1;
  nonblock(fd);
  nonblock(sk.peer);
  if (hubx_sock_open(&sk.sock, &sk.ctx, &sk.loop, fd, 4096) != 0)
    return -1;
  sk.open = 1;
  sk.got = malloc(BIG + 1);
  return sk.got != NULL ? 0 : -1;
}

/* The peer reads what is there (up to `max` bytes in all), and notes
 * its EOF. */
static void peer_drain(size_t max) {
  ssize_t r;

  while (sk.ngot < max) {
    r = recv(sk.peer, sk.got + sk.ngot, max - sk.ngot, 0);
    if (r > 0) {
      sk.ngot += (size_t)r;
    } else {
      if (r == 0)
        sk.peer_eof = 1;
      return;
    }
  }
}

/* Run the loop, the peer reading up to `max` bytes meanwhile, until
 * `cond` or 10 s. */
#define SPIN(max, cond)                                                      \
  do {                                                                       \
    int spin_i_;                                                             \
    for (spin_i_ = 0; spin_i_ < 10000 && !(cond); spin_i_++) {               \
      peer_drain(max);                                                       \
      uv_run(&sk.loop, UV_RUN_NOWAIT);                                       \
      if (!(cond))                                                           \
        poll(NULL, 0, 1);                                                    \
    }                                                                        \
  } while (0)

static void sk_stop(void) {
  if (sk.open && !hubx_sock_is_closing(&sk.sock))
    hubx_sock_close(&sk.sock, on_closed);
  if (sk.peer > 0)
    close(sk.peer);
  hub_close(sk.hub, 0, NULL);
  uv_run(&sk.loop, UV_RUN_DEFAULT);
  uv_loop_close(&sk.loop);
  free(sk.got);
  sk.got = NULL;
}

/* Four buffers of BIG bytes in all, a pattern the peer can check. */
static char *pattern(uv_buf_t bufs[4]) {
  char *data = malloc(BIG);
  size_t i;

  if (data == NULL)
    return NULL;
  for (i = 0; i < BIG; i++)
    data[i] = (char)(i * 7 + i / 251);
  for (i = 0; i < 4; i++)
    bufs[i] = uv_buf_init(data + i * (BIG / 4), BIG / 4);
  return data;
}

/* Start, and leave a write of BIG bytes pending: its data in *datap. */
static int start_pending(char **datap, uv_buf_t bufs[4]) {
  if (sk_start() != 0 || (*datap = pattern(bufs)) == NULL)
    return -1;
  return hubx_sock_write(&sk.sock, bufs, 4) == HUB_WRITE_PENDING ? 0 : -1;
}

TEST(reads_arrive_then_one_eof) {
  ASSERT_EQ(sk_start(), 0);
  ASSERT_EQ(send(sk.peer, "hello\n", 6, 0), 6);
  SPIN(0, sk.nread == 6);
  ASSERT_EQ(sk.nread, 6);
  ASSERT_EQ(sk.read_ends, 0);
  shutdown(sk.peer, SHUT_WR);
  SPIN(0, sk.read_ends > 0);
  ASSERT_EQ(sk.read_end, UV_EOF);
  /* Reading has ended: the EOF is not reported again. */
  SPIN(0, 0 && sk.read_ends > 1);
  ASSERT_EQ(sk.read_ends, 1);
  sk_stop();
}

TEST(a_write_the_kernel_cannot_take_completes_once_all_is_out) {
  uv_buf_t bufs[4], more = uv_buf_init("x", 1);
  char *data;

  ASSERT_EQ(start_pending(&data, bufs), 0);
  /* One write at a time. */
  ASSERT_EQ(hubx_sock_write(&sk.sock, &more, 1), UV_EBUSY);
  ASSERT_EQ(hubx_sock_try_write(&sk.sock, &more, 1), UV_EAGAIN);
  SPIN(BIG, sk.writes_done > 0);
  ASSERT_EQ(sk.writes_done, 1);
  ASSERT_EQ(sk.write_status, 0);
  SPIN(BIG, sk.ngot == BIG);
  ASSERT_EQ(sk.ngot, BIG);
  ASSERT(memcmp(sk.got, data, BIG) == 0);
  /* Done: the next write goes straight out. */
  ASSERT_EQ(hubx_sock_write(&sk.sock, &more, 1), HUB_WRITE_DONE);
  free(data);
  sk_stop();
}

TEST(the_fin_waits_for_the_pending_write) {
  uv_buf_t bufs[4];
  char *data;

  ASSERT_EQ(start_pending(&data, bufs), 0);
  ASSERT_EQ(hubx_sock_shutdown(&sk.sock), 0);
  /* The peer reads a little: no EOF while data is still to come. */
  SPIN(65536, sk.ngot >= 65536);
  ASSERT(!sk.peer_eof);
  SPIN(BIG + 1, sk.peer_eof);
  ASSERT(sk.peer_eof);
  ASSERT_EQ(sk.ngot, BIG);
  ASSERT(memcmp(sk.got, data, BIG) == 0);
  ASSERT_EQ(sk.writes_done, 1);
  ASSERT_EQ(sk.write_status, 0);
  free(data);
  sk_stop();
}

TEST(closing_drops_a_pending_write_without_a_callback) {
  uv_buf_t bufs[4];
  char *data;

  ASSERT_EQ(start_pending(&data, bufs), 0);
  hubx_sock_close(&sk.sock, on_closed);
  ASSERT(hubx_sock_is_closing(&sk.sock));
  ASSERT_EQ(hubx_sock_write(&sk.sock, bufs, 1), UV_ECANCELED);
  /* The caller's buffers may go at once. */
  free(data);
  SPIN(BIG, sk.closed && sk.peer_eof);
  ASSERT(sk.closed);
  ASSERT(sk.peer_eof);
  ASSERT(sk.ngot < BIG);
  ASSERT_EQ(sk.writes_done, 0);
  sk_stop();
}

TEST(a_reset_fails_the_pending_write_once) {
  struct linger lg = {1, 0};
  uv_buf_t bufs[4];
  char *data;

  ASSERT_EQ(start_pending(&data, bufs), 0);
  /* The peer goes away with a RST, its buffer unread. */
  setsockopt(sk.peer, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
  close(sk.peer);
  sk.peer = -1;
  SPIN(0, sk.writes_done > 0 && sk.read_ends > 0);
  ASSERT_EQ(sk.writes_done, 1);
  ASSERT(sk.write_status < 0);
  /* Reading says so too, once. */
  ASSERT_EQ(sk.read_ends, 1);
  ASSERT(sk.read_end < 0);
  free(data);
  sk_stop();
}

TEST(getpeername_names_the_peer) {
  struct sockaddr_storage ss;
  int n = sizeof(ss);

  ASSERT_EQ(sk_start(), 0);
  ASSERT_EQ(hubx_sock_getpeername(&sk.sock, (struct sockaddr *)&ss, &n), 0);
  ASSERT_EQ(ss.ss_family, AF_INET);
  ASSERT_EQ(n, (int)sizeof(struct sockaddr_in));
  hubx_sock_close(&sk.sock, on_closed);
  n = sizeof(ss);
  ASSERT_EQ(hubx_sock_getpeername(&sk.sock, (struct sockaddr *)&ss, &n),
            UV_EBADF);
  sk_stop();
}

int main(int argc, char **argv) {
  return RUN_TESTS(argc, argv);
}
