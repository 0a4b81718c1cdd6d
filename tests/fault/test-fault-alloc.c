/* Allocation failure in the adapters, on real sockets: the hub's allocator
 * fails its Nth call, for every N from the first allocation to past the
 * last one a scripted session makes (and, in a second sweep, fails every
 * call from the Nth on). The session runs both adapters through what
 * allocates per connection: registering, partial lines and frames, a long
 * line, a reassembled message, a fragmented one, a slow reader whose
 * writes wait for the socket, a close handshake, plain HTTP answers.
 *
 * For every N: no crash, every wait ends (each client either gets what
 * was broadcast while it was there, or is closed, or has the message
 * reported dropped), a failure shows as an error (UV_ENOMEM from a call,
 * a close status or a log; a 500/503; a close frame 1011; a message
 * refused for a client, which the DISCONNECT policy never does itself), no client ends with an unexpected status, every
 * block taken from the allocator is given back, uv_loop_close() succeeds,
 * and (in the first sweep, where only one call fails) a new client is
 * served normally afterwards. AddressSanitizer's or valgrind's leak check
 * covers what the adapters allocate with malloc() and wslay. The WebSocket
 * session runs twice: plain, and with permessage-deflate negotiated by
 * every client (compressed frames cached in messages, a client's
 * compressed message inflated). */
#include "fault-fixture.h"
#include <execinfo.h>
#include <zlib.h>

/* The WebSocket session's clients offer permessage-deflate, and the
 * server accepts it. */
static int use_deflate;

/* The failing allocator: the support library's counting one, failing its
 * fail_at-th call (and every later one with `from`). */
typedef count_alloc fa_t;

/* ------------------------------------------------------------------------
 * The session
 * ------------------------------------------------------------------------ */

#define MAXC 16

typedef struct {
  ff_t ff;
  int srv_of[MAXC];    /* client index -> server index, -1 if none */
  uint64_t want[MAXC]; /* messages client i must get unless closed */
  int waits_failed;
} session_t;

/* Client i is done waiting: it has what it is owed, or it is gone. */
static int settled(session_t *s, int i) {
  fc_t *c = &s->ff.fc[i];
  int k = s->srv_of[i];

  return k < 0 || c->eof || c->fd < 0 || s->ff.srv[k].closed ||
         c->msgs + s->ff.srv[k].dropped >= s->want[i] || c->bad;
}

static int all_settled(session_t *s) {
  int i;

  for (i = 0; i < s->ff.nfc; i++)
    if (!s->ff.fc[i].paused && !settled(s, i))
      return 0;
  return 1;
}

static void wait_settled(session_t *s) {
  FF_UNTIL_MS(&s->ff, all_settled(s), 20000);
  if (!all_settled(s))
    s->waits_failed++;
}

/* A client the server registered (for WebSocket: upgraded): its index,
 * or -1 (it was refused or closed, which a failure may cause). */
static int join(session_t *s, int rcvbuf) {
  ff_t *ff = &s->ff;
  int before = ff->nclients, i;

  i = fc_open(ff, rcvbuf);
  if (i < 0 || i >= MAXC)
    abort();
  s->srv_of[i] = -1;
  s->want[i] = 0;
  if (ff->kind == FF_WS && !use_deflate &&
      fc_send(ff, i, FS_WS_REQUEST, sizeof(FS_WS_REQUEST) - 1) != 0)
    return -1;
  if (ff->kind == FF_WS && use_deflate &&
      fc_send(ff, i, FS_WS_REQUEST_DEFLATE,
              sizeof(FS_WS_REQUEST_DEFLATE) - 1) != 0)
    return -1;
  FF_UNTIL_MS(ff,
              ff->fc[i].eof || (ff->nclients > before &&
                                (ff->kind == FF_TCP || ff->fc[i].http > 0)),
              20000);
  if (ff->nclients > before)
    s->srv_of[i] = before;
  else if (!ff->fc[i].eof && ff->fc[i].http == 0)
    s->waits_failed++;
  return s->srv_of[i] >= 0 && !ff->fc[i].eof ? i : -1;
}

/* The server received one more message (or the sender went): every
 * client it was broadcast to is owed it. */
static void account(session_t *s, int sender, uint64_t before) {
  ff_t *ff = &s->ff;
  int i, k = s->srv_of[sender];

  FF_UNTIL_MS(ff,
              ff->messages > before || ff->fc[sender].eof ||
                  (k >= 0 && ff->srv[k].closed),
              20000);
  if (ff->messages == before)
    return;
  if (ff->last_broadcast <= 0)
    return;
  for (i = 0; i < ff->nfc; i++)
    if (s->srv_of[i] >= 0 && !ff->srv[s->srv_of[i]].closed)
      s->want[i]++;
}

/* Send one message from client i, in `pieces` parts with loop steps
 * between them, and wait until everyone has it (or is gone). */
static void say(session_t *s, int i, const char *data, size_t len,
                int pieces) {
  ff_t *ff = &s->ff;
  uint8_t *buf = malloc(len + 14);
  uint64_t before = ff->messages;
  size_t n, off = 0, part;
  int p;

  if (i < 0 || buf == NULL) {
    free(buf);
    return;
  }
  n = ff_msg_bytes(ff, buf, data, len);
  for (p = 0; p < pieces; p++) {
    part = p == pieces - 1 ? n - off : n / (size_t)pieces;
    if (fc_send(ff, i, buf + off, part) != 0)
      break;
    off += part;
    ff_wait(ff, 2);
  }
  free(buf);
  account(s, i, before);
  wait_settled(s);
}

/* A WebSocket message in two fragments, with a ping between them. */
static void say_fragmented(session_t *s, int i) {
  ff_t *ff = &s->ff;
  uint8_t buf[128];
  uint64_t before = ff->messages;
  size_t n;

  if (i < 0)
    return;
  n = ts_ws_frame(buf, 0, 0x1, "frag", 4);
  n += ts_ws_frame(buf + n, 1, 0x9, "p", 1);
  if (fc_send(ff, i, buf, n) != 0)
    return;
  ff_wait(ff, 2);
  n = ts_ws_frame(buf, 1, 0x0, "mented", 6);
  if (fc_send(ff, i, buf, n) != 0)
    return;
  account(s, i, before);
  wait_settled(s);
}

/* A compressed message (RSV1) of `len` bytes of `ch`, from client i. */
static void say_compressed(session_t *s, int i, int ch, size_t len) {
  static uint8_t in[20000], z[2048], buf[2048 + 14];
  ff_t *ff = &s->ff;
  uint64_t before = ff->messages;
  z_stream zs;
  size_t n;

  if (i < 0 || len > sizeof(in))
    return;
  memset(in, ch, len);
  memset(&zs, 0, sizeof(zs));
  if (deflateInit2(&zs, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    abort();
  zs.next_in = in;
  zs.avail_in = (uInt)len;
  zs.next_out = z;
  zs.avail_out = sizeof(z);
  if (deflate(&zs, Z_SYNC_FLUSH) != Z_OK || zs.avail_in != 0)
    abort();
  n = sizeof(z) - zs.avail_out - 4;
  deflateEnd(&zs);
  n = ts_ws_frame(buf, 1, 0x1, z, n);
  buf[0] |= 0x40;
  if (fc_send(ff, i, buf, n) != 0)
    return;
  account(s, i, before);
  wait_settled(s);
}

/* A plain HTTP request: wait for its answer or the end. */
static void http_get(session_t *s, const char *path) {
  ff_t *ff = &s->ff;
  char req[128];
  int i = fc_open(ff, 0);

  if (i < 0 || i >= MAXC)
    abort();
  s->srv_of[i] = -1;
  snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path);
  if (fc_send(ff, i, req, strlen(req)) != 0)
    return;
  FF_UNTIL_MS(ff, ff->fc[i].eof, 20000);
  if (!ff->fc[i].eof)
    s->waits_failed++;
  fc_close(ff, i);
}

/* The whole session. Returns hub_new()'s or the server's start error, or
 * 0 once it ran. */
static int session(session_t *s, ff_kind kind, fa_t *fa, int *served) {
  static char big[60000]; /* under both adapters' limits */
  hub_options_t ho;
  hub_tcp_options_t to;
  hub_ws_options_t wo;
  ff_t *ff = &s->ff;
  char msg[8192];
  int a, b, c, d, k, r;

  memset(s, 0, sizeof(*s));
  *served = 0;
  memset(big, 'x', sizeof(big));
  hub_options_init(&ho);
  ho.allocator = &fa->a;
  hub_tcp_options_init(&to);
  to.send_buffer = 8192;
  hub_ws_options_init(&wo);
  wo.send_buffer = 8192;
  wo.max_message = 200000;
  wo.close_timeout_ms = 2000;
  wo.deflate = use_deflate;
  r = ff_start(ff, kind, &ho, &to, &wo);
  if (r != 0)
    return r;

  a = join(s, 0);
  b = join(s, 0);
  say(s, a, "hello", 5, 1);
  say(s, a, "partial", 7, 3);
  say(s, b, big, sizeof(big), 4);
  if (kind == FF_WS) {
    if (use_deflate)
      say_compressed(s, a, 'z', 20000);
    say_fragmented(s, b);
    http_get(s, "/");
    http_get(s, "/nowhere");
  }

  /* A reader that stalls: its writes wait for the socket. */
  c = join(s, 4096);
  if (c >= 0)
    ff->fc[c].paused = 1;
  memset(msg, 'm', sizeof(msg));
  for (k = 0; k < 20; k++) {
    snprintf(msg, 16, "%d", k);
    say(s, a, msg, sizeof(msg), 1);
  }
  if (c >= 0)
    ff->fc[c].paused = 0;
  wait_settled(s);

  /* A close handshake, started by the client. */
  if (kind == FF_WS && b >= 0) {
    uint8_t frame[16];
    size_t n = ts_ws_frame(frame, 1, 0x8, "\x03\xe8", 2);

    if (fc_send(ff, b, frame, n) == 0)
      FF_UNTIL_MS(ff, ff->fc[b].eof, 20000);
  }

  /* Service goes on: a new client is served (the failure may still have
   * been to come, and hit the first one). */
  for (k = 0; k < 2 && !*served; k++) {
    d = join(s, 0);
    if (d >= 0) {
      say(s, d, "still here", 10, 1);
      *served = ff->fc[d].msgs >= 1;
    }
  }
  return 0;
}

/* One run failing the Nth call (and every later one with `from`).
 * Returns the number of failures injected, or -1 after a failed check. */
static long run_one(ff_kind kind, long n, int from, long *calls) {
  static session_t s;
  fa_t fa;
  int r, served, stopped;

  count_alloc_init(&fa);
  fa.fail_at = n;
  fa.from = from;
  r = session(&s, kind, &fa, &served);
  stopped = ff_stop(&s.ff);
  *calls = fa.calls;
  if (r != 0 && r != UV_ENOMEM) {
    printf("# %s fail_at %ld: start failed with %s\n", ff_name(kind), n,
           hub_err_name(r));
    return -1;
  }
  if (stopped != 0 || fa.live != 0 || s.waits_failed || s.ff.bad_status ||
      (fa.failed > 0 && r == 0 && !s.ff.enomem_seen &&
       s.ff.drops[HUB_DROP_REFUSED] == 0 && s.ff.drops[HUB_DROP_NOMEM] == 0) ||
      (fa.failed == 0 && !served) ||
      (!from && r == 0 && !served)) {
    printf("# %s fail_at %ld%s: stop %d, live blocks %ld, waits failed %d, "
           "bad status %s, failures %ld, ENOMEM seen %d, served %d\n",
           ff_name(kind), n, from ? " and after" : "", stopped, fa.live,
           s.waits_failed, hub_err_name(s.ff.bad_status), fa.failed,
           s.ff.enomem_seen, served);
    return -1;
  }
  return fa.failed;
}

/* Sweep N from 1 until a run makes no call fail. */
static int sweep(ff_kind kind, int from, long stride) {
  long n, failed, calls = 0, runs = 0;

  for (n = 1;; n += stride) {
    failed = run_one(kind, n, from, &calls);
    if (failed < 0)
      return -1;
    runs++;
    if (failed == 0)
      break;
  }
  printf("# %s: %ld runs, failing call %s1..%ld (a whole session makes "
         "%ld calls)\n", ff_name(kind), runs,
         from ? "N and every later one, N = " : "N = ", n - 1, calls);
  return 0;
}

/* Under valgrind every run is slow: sweep every third N there. */
static long stride(void) {
  const char *pre = getenv("LD_PRELOAD");

  return pre != NULL && strstr(pre, "vgpreload") != NULL ? 3 : 1;
}

TEST(tcp_each_allocation_fails_once) {
  ASSERT_EQ(sweep(FF_TCP, 0, stride()), 0);
}

TEST(tcp_every_allocation_fails_from_n_on) {
  ASSERT_EQ(sweep(FF_TCP, 1, stride() * 2), 0);
}

TEST(ws_each_allocation_fails_once) {
  ASSERT_EQ(sweep(FF_WS, 0, stride()), 0);
}

TEST(ws_every_allocation_fails_from_n_on) {
  ASSERT_EQ(sweep(FF_WS, 1, stride() * 2), 0);
}

TEST(ws_deflate_each_allocation_fails_once) {
  use_deflate = 1;
  ASSERT_EQ(sweep(FF_WS, 0, stride()), 0);
  use_deflate = 0;
}

TEST(ws_deflate_every_allocation_fails_from_n_on) {
  use_deflate = 1;
  ASSERT_EQ(sweep(FF_WS, 1, stride() * 2), 0);
  use_deflate = 0;
}

int main(int argc, char **argv) {
  return RUN_TESTS(argc, argv);
}
