/* loadgen: a load generator for broadcast servers, on libuv.
 *
 * It opens N subscriber and P publisher connections to one server over
 * WebSocket or the newline protocol, has the publishers send messages that
 * the server broadcasts to every client (the sender included), and
 * measures what arrives: delivered messages per second counted at the
 * receivers, losses, dropped clients, latency percentiles, and the
 * server's CPU time and memory read from /proc. It knows nothing of the
 * server it measures beyond its protocol. See docs/benchmarks.md.
 *
 * Receivers: every connection that reads, i.e. the subscribers that are
 * not stalled and the publishers (the servers broadcast to the sender
 * too, and a publisher that did not read would itself be a slow client).
 *
 * Window mode (--window W, the default): each publisher keeps at most W
 * of its messages in flight. A message stays in flight until every live
 * receiver has either received it or can no longer receive it (a later
 * message of the same publisher arrived first, or the receiver's
 * connection closed). So the whole pipeline, not only the path back to
 * the publisher, holds at most W messages per publisher: the load
 * adapts to the slower of server and load generator, and a server with
 * per-client queues deeper than W never drops a client because the load
 * generator read late. --ack echo instead frees the slot when the
 * publisher receives its own message back, which bounds only the
 * publisher's path. A message in flight for longer than
 * --window-timeout is forced out and counted (a server that lost it for
 * a client still connected, or that has stopped).
 *
 * Rate mode (--rate R): messages are due on a fixed schedule, R per
 * second in total, and carry their due time, not the time they were
 * actually written. If the server (or the load generator) falls behind,
 * the late messages' latency includes the whole delay, as a user of the
 * service would see it, instead of the load generator quietly sending
 * less ("coordinated omission"). A timerfd wakes the loop at each due
 * time with nanosecond resolution.
 *
 * --deflate: WebSocket clients offer permessage-deflate (RFC 7692) as
 * browsers do. Where the server accepts, its compressed messages (RSV1)
 * are inflated before they are checked, with one stream shared by all
 * connections and reset per message when the server answered
 * server_no_context_takeover, else one per connection kept across
 * messages; publishers compress what they send. The bytes the receivers
 * read are counted, to tell what compression saves on the wire. Without
 * context takeover, a payload that arrives again byte for byte (a
 * broadcast compressed once) is not inflated again: its result is kept
 * (lg_inflate_msg_memo), so that inflating does not bound the load.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "lg-deflate.h"
#include "lg-hist.h"
#include "lg-line.h"
#include "lg-msg.h"
#include "lg-ws.h"

#define PROG "loadgen"
#define MAX_MESSAGE (64u << 20)     /* largest --size */
#define READ_BUF_SIZE (256u << 10)  /* one buffer shared by all reads */
#define SEND_BACKLOG (4u << 20)     /* rate mode: bytes queued per publisher */
#define MAX_LOGGED 5                /* individual drop reasons printed */
#define HS_MAX 8192                 /* longest handshake response */

/* ------------------------------------------------------------------------
 * Configuration
 * ------------------------------------------------------------------------ */

/* PROTO_SSE: subscribers read server-sent events (GET /events, the
 * query of --path), publishers are WebSocket clients. */
enum { PROTO_WS, PROTO_LINE, PROTO_SSE };
enum { PAYLOAD_PLAIN, PAYLOAD_JSON };

typedef struct {
  int proto;
  char host[80]; /* for the Host header, "127.0.0.1:8080" */
  char path[256];
  struct sockaddr_storage addr;
  uint32_t subs, pubs, stalled;
  size_t size;
  uint32_t window;
  double rate; /* 0: window mode */
  uint64_t count;
  double duration, warmup, settle, drain, connect_timeout, window_timeout;
  uint32_t connect_batch;
  int ack_echo;
  int payload; /* PAYLOAD_* */
  int deflate; /* offer permessage-deflate */
  int connect_only, json, strict, quiet;
  long server_pid;
  int stalled_rcvbuf;
} config_t;

/* ------------------------------------------------------------------------
 * State
 * ------------------------------------------------------------------------ */

typedef struct {
  uint8_t *data;
  size_t len, cap;
} buf_t;

enum { ROLE_SUB, ROLE_PUB };
enum { C_IDLE, C_CONNECTING, C_HANDSHAKE, C_OPEN, C_CLOSING, C_CLOSED };

struct pub_s;

typedef struct {
  char *buf; /* response head gathered so far */
  size_t len;
  char accept[29];
} handshake_t;

typedef struct conn_s {
  uv_tcp_t tcp;
  uv_connect_t connect_req;
  uv_write_t write_req;
  uint32_t id;
  uint32_t recv_idx; /* row in the receivers' sequence table */
  uint8_t role, stalled, state, writing, dirty, receiver, live, stop_read;
  uint8_t close_after_write, lost;
  uint8_t sse; /* a subscriber reading server-sent events */
  uint8_t pmd; /* permessage-deflate was negotiated */
  uint8_t inflate_reset; /* server_no_context_takeover: G.inflate */
  uint8_t deflate_reset; /* client_no_context_takeover */
  uint64_t received; /* distinct messages received */
  buf_t out, wbuf;   /* bytes to write; bytes being written */
  buf_t zin;         /* the compressed message being received */
  lg_inflate_t *inflate; /* its own stream (context takeover), or NULL */
  lg_deflate_t *deflate; /* a publisher's compressor, or NULL */
  handshake_t *hs;
  struct pub_s *pub;
  union {
    lg_ws_parser_t ws;
    lg_line_parser_t line;
  } u;
} conn_t;

typedef struct pub_s {
  conn_t *conn;
  uint32_t id;
  int dead;
  uint64_t sent;     /* next sequence number */
  uint64_t quota;    /* --count: messages this publisher sends */
  uint64_t acked;    /* window: every sequence below is out of the window */
  uint32_t *pending; /* window: receivers yet to settle seq s, at s % W */
  uint64_t *sent_at; /* window: when seq s was sent, at s % W */
  uint64_t next_k;   /* rate: index of the next due message */
  uint64_t skipped;  /* rate: due messages not sent (backlog full) */
} pub_t;

enum { PH_CONNECT, PH_SETTLE, PH_HOLD, PH_WARMUP, PH_MEASURE, PH_DRAIN,
       PH_DONE };

typedef struct {
  int have;
  uint64_t cpu_ns;  /* utime + stime */
  uint64_t rss_kb, hwm_kb;
} proc_sample_t;

typedef struct {
  config_t cfg;
  uv_loop_t loop;
  int phase;
  int measuring, sending, aborted, interrupted, exit_code;
  uint64_t now; /* uv_hrtime() at the start of the current read */

  conn_t *conns; /* subs first, then pubs */
  uint32_t nconns, next_connect, connecting, ready, failed;
  uint32_t nreceivers, live_receivers;
  pub_t *pubs;
  uint32_t npubs;
  int64_t *last; /* [recv_idx * npubs + pub]: last sequence received */

  conn_t **dirty;
  uint32_t ndirty;

  uint8_t *tmpl; /* a message of cfg.size bytes */
  uint8_t *zout; /* a compressed message: lg_deflate_bound(cfg.size) */
  lg_inflate_t *inflate; /* shared by connections that reset per message */
  lg_inflate_memo_t *memo; /* their recent payloads, inflated once */
  uint64_t rng;

  uv_timer_t phase_timer, deadline_timer, tick_timer, connect_timer;
  uv_check_t flush_check;
  uv_signal_t sigint, sigterm;
  uv_poll_t rate_poll;
  int rate_fd;
  uint64_t rate_t0;
  double rate_interval_ns;

  /* Results. */
  lg_hist_t hist;
  uint64_t t_start, t_connected, t_meas_start, t_meas_end;
  uint64_t sent_total, delivered, received_total, gap_events, dups;
  uint64_t malformed, size_mismatch, proto_errors, dropped, pubs_dropped;
  uint64_t window_timeouts, stalled_closed, stalled_received;
  uint64_t wire_bytes;          /* read by receivers while measuring */
  uint64_t received_compressed; /* messages that came with RSV1 */
  uint64_t memo_hits;           /* of them, inflated once for several */
  uint32_t ws_open, pmd_open;   /* WebSocket upgrades; with deflate */
  lg_pmd_t pmd_first;           /* the first connection's deflate */
  uint64_t logged;
  int first_connect_error;
  proc_sample_t srv_before, srv_idle, srv_m0, srv_m1, srv_end;
  uint64_t own_cpu_m0, own_cpu_m1, host_m0, host_m1;
} lg_t;

static lg_t G;
static uint8_t read_buf[READ_BUF_SIZE];

static void finish(void);
static void conn_close(conn_t *c);
static void conn_lost(conn_t *c, const char *why, int err);
static void begin_publishing(void);

/* ------------------------------------------------------------------------
 * Utilities
 * ------------------------------------------------------------------------ */

static void logf_(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void logf_(const char *fmt, ...) {
  va_list ap;

  if (G.cfg.quiet)
    return;
  va_start(ap, fmt);
  fputs(PROG ": ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2),
                                                     noreturn));
/* "loadgen: " and the message on stderr, then `tail`. */
static void vreport(const char *tail, const char *fmt, va_list ap) {
  fputs(PROG ": ", stderr);
  vfprintf(stderr, fmt, ap);
  fputs(tail, stderr);
}

static void die(const char *fmt, ...) {
  va_list ap;

  va_start(ap, fmt);
  vreport("\n", fmt, ap);
  va_end(ap);
  exit(1);
}

static void *xmalloc(size_t n) {
  void *p = malloc(n ? n : 1);
  if (!p)
    die("out of memory");
  return p;
}

static void *xcalloc(size_t n, size_t size) {
  void *p = calloc(n ? n : 1, size ? size : 1);
  if (!p)
    die("out of memory");
  return p;
}

static uint8_t *buf_reserve(buf_t *b, size_t n) {
  if (b->cap - b->len < n) {
    size_t cap = b->cap ? b->cap : 4096;
    while (cap - b->len < n)
      cap *= 2;
    b->data = realloc(b->data, cap);
    if (!b->data)
      die("out of memory");
    b->cap = cap;
  }
  return b->data + b->len;
}

/* splitmix64: fast, and good enough for handshake nonces and masking
 * keys of a load generator (RFC 6455 wants unpredictable keys to protect
 * intermediaries from browser scripts; nothing here runs untrusted code). */
static uint64_t rng_next(void) {
  uint64_t z = (G.rng += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

static void rng_bytes(uint8_t *out, size_t n) {
  uint64_t v;
  size_t i;

  for (i = 0; i < n; i += 8) {
    v = rng_next();
    memcpy(out + i, &v, n - i < 8 ? n - i : 8);
  }
}

static double secs(uint64_t ns) {
  return (double)ns / 1e9;
}

static uint64_t ms_of(double s) {
  return s <= 0 ? 0 : (uint64_t)(s * 1000.0 + 0.5);
}

/* ------------------------------------------------------------------------
 * /proc
 * ------------------------------------------------------------------------ */

static int read_file(const char *path, char *buf, size_t cap) {
  FILE *f = fopen(path, "r");
  size_t n;

  if (!f)
    return -1;
  n = fread(buf, 1, cap - 1, f);
  fclose(f);
  buf[n] = '\0';
  return 0;
}

/* CPU time (user + system, all threads) and memory of a process. */
static void proc_sample(long pid, proc_sample_t *s) {
  char path[64], buf[4096], *p;
  unsigned long long ut = 0, st = 0;
  int field;

  memset(s, 0, sizeof(*s));
  if (pid <= 0)
    return;
  snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
  if (read_file(path, buf, sizeof(buf)) != 0)
    return;
  /* The command name may hold spaces and parentheses: fields are
   * counted from the last ')'. utime and stime are fields 14 and 15. */
  p = strrchr(buf, ')');
  if (!p)
    return;
  p++;
  for (field = 3; field < 14 && p; field++) {
    p = strchr(p + 1, ' ');
  }
  if (!p || sscanf(p, " %llu %llu", &ut, &st) != 2)
    return;
  s->cpu_ns = (uint64_t)((double)(ut + st) * 1e9 /
                         (double)sysconf(_SC_CLK_TCK));
  snprintf(path, sizeof(path), "/proc/%ld/status", pid);
  if (read_file(path, buf, sizeof(buf)) != 0)
    return;
  p = strstr(buf, "\nVmRSS:");
  if (p)
    s->rss_kb = strtoull(p + 7, NULL, 10);
  p = strstr(buf, "\nVmHWM:");
  if (p)
    s->hwm_kb = strtoull(p + 7, NULL, 10);
  s->have = 1;
}

/* CPU time used by the whole machine (all CPUs, everything but idle and
 * I/O wait), from the first line of /proc/stat. */
static uint64_t host_busy_ns(void) {
  char buf[512];
  unsigned long long v[10] = {0};
  uint64_t busy = 0;
  int i, n;

  if (read_file("/proc/stat", buf, sizeof(buf)) != 0)
    return 0;
  n = sscanf(buf, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0],
             &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]);
  /* user nice system idle iowait irq softirq steal: steal is time the
   * hypervisor gave to others, which this machine did not have either. */
  for (i = 0; i < n; i++)
    if (i != 3 && i != 4)
      busy += v[i];
  return (uint64_t)((double)busy * 1e9 / (double)sysconf(_SC_CLK_TCK));
}

static uint64_t own_cpu_ns(void) {
  struct rusage ru;

  getrusage(RUSAGE_SELF, &ru);
  return (uint64_t)ru.ru_utime.tv_sec * 1000000000ull +
         (uint64_t)ru.ru_utime.tv_usec * 1000ull +
         (uint64_t)ru.ru_stime.tv_sec * 1000000000ull +
         (uint64_t)ru.ru_stime.tv_usec * 1000ull;
}

/* ------------------------------------------------------------------------
 * Writing
 * ------------------------------------------------------------------------ */

static void mark_dirty(conn_t *c) {
  if (!c->dirty) {
    c->dirty = 1;
    G.dirty[G.ndirty++] = c;
  }
}

static void on_write(uv_write_t *req, int status);

/* One write in flight per connection: what is queued meanwhile goes out
 * in one piece when it completes. */
static void conn_flush(conn_t *c) {
  buf_t t;
  uv_buf_t b;
  int n;

  if (c->writing || c->out.len == 0 || c->state >= C_CLOSING)
    return;
  b = uv_buf_init((char *)c->out.data, (unsigned)c->out.len);
  n = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
  if (n == (int)c->out.len) {
    c->out.len = 0;
    if (c->close_after_write)
      conn_close(c);
    return;
  }
  if (n < 0 && n != UV_EAGAIN) {
    conn_lost(c, "write failed", n);
    return;
  }
  if (n > 0) {
    memmove(c->out.data, c->out.data + n, c->out.len - (size_t)n);
    c->out.len -= (size_t)n;
  }
  t = c->wbuf;
  c->wbuf = c->out;
  c->out = t;
  c->out.len = 0;
  b = uv_buf_init((char *)c->wbuf.data, (unsigned)c->wbuf.len);
  c->writing = 1;
  n = uv_write(&c->write_req, (uv_stream_t *)&c->tcp, &b, 1, on_write);
  if (n != 0) {
    c->writing = 0;
    conn_lost(c, "write failed", n);
  }
}

static void on_write(uv_write_t *req, int status) {
  conn_t *c = req->data;

  c->writing = 0;
  c->wbuf.len = 0;
  if (c->state >= C_CLOSING)
    return;
  if (status < 0) {
    conn_lost(c, "write failed", status);
    return;
  }
  if (c->out.len > 0)
    conn_flush(c);
  else if (c->close_after_write)
    conn_close(c);
}

static void on_flush_check(uv_check_t *h) {
  uint32_t i;

  (void)h;
  for (i = 0; i < G.ndirty; i++) {
    G.dirty[i]->dirty = 0;
    conn_flush(G.dirty[i]);
  }
  G.ndirty = 0;
}

/* Whether `c` speaks WebSocket (a publisher, under PROTO_SSE too). */
static int conn_ws(const conn_t *c) {
  return G.cfg.proto == PROTO_WS || (G.cfg.proto == PROTO_SSE && !c->sse);
}

/* Appends one frame (WebSocket: masked, with the reserved bits rsv of
 * the first byte; line: payload and "\n"). */
static void conn_queue_frame_rsv(conn_t *c, int opcode, uint8_t rsv,
                                 const uint8_t *payload, size_t len) {
  uint8_t *p, mask[4];
  size_t h;

  if (conn_ws(c)) {
    rng_bytes(mask, 4);
    p = buf_reserve(&c->out, LG_WS_MAX_HEADER + len);
    h = lg_ws_frame_header(p, opcode, len, mask);
    p[0] |= rsv;
    memcpy(p + h, payload, len);
    lg_ws_mask(p + h, len, mask);
    c->out.len += h + len;
  } else {
    p = buf_reserve(&c->out, len + 1);
    memcpy(p, payload, len);
    p[len] = '\n';
    c->out.len += len + 1;
  }
  mark_dirty(c);
}

static void conn_queue_frame(conn_t *c, int opcode, const uint8_t *payload,
                             size_t len) {
  conn_queue_frame_rsv(c, opcode, 0, payload, len);
}

/* Appends one text message compressed as permessage-deflate negotiated
 * (RSV1 set); fails the connection if zlib fails. */
static void conn_queue_compressed(conn_t *c, const uint8_t *payload,
                                  size_t len) {
  long n = lg_deflate_msg(c->deflate, payload, len, c->deflate_reset,
                          G.zout);

  if (n < 0) {
    conn_lost(c, "permessage-deflate: compression failed", 0);
    return;
  }
  conn_queue_frame_rsv(c, LG_WS_OP_TEXT, LG_WS_RSV1, G.zout, (size_t)n);
}

/* ------------------------------------------------------------------------
 * Publishing
 * ------------------------------------------------------------------------ */

/* Queues the publisher's next message, stamped ts. */
static void pub_send(pub_t *p, uint64_t ts) {
  uint64_t seq = p->sent++;

  if (G.cfg.payload == PAYLOAD_JSON)
    lg_msg_fill_json(G.tmpl, G.cfg.size, p->id, seq, ts);
  else
    lg_msg_encode(G.tmpl, p->id, seq, ts);
  if (p->conn->deflate)
    conn_queue_compressed(p->conn, G.tmpl, G.cfg.size);
  else
    conn_queue_frame(p->conn, LG_WS_OP_TEXT, G.tmpl, G.cfg.size);
  if (G.cfg.window) {
    uint32_t slot = (uint32_t)(seq % G.cfg.window);
    p->pending[slot] = G.cfg.ack_echo ? 1 : G.live_receivers;
    p->sent_at[slot] = ts;
  }
  G.sent_total++;
}

static int pub_can_send(pub_t *p) {
  return G.sending && !p->dead && p->sent < p->quota &&
         p->conn->state == C_OPEN;
}

/* Window mode: send while fewer than W messages are in flight. */
static void pub_fill(pub_t *p) {
  while (pub_can_send(p) && p->sent - p->acked < G.cfg.window)
    pub_send(p, uv_hrtime());
}

static void window_advance(pub_t *p) {
  while (p->acked < p->sent && p->pending[p->acked % G.cfg.window] == 0)
    p->acked++;
  pub_fill(p);
}

/* Receiver c has settled seq of p (received it, or can no longer). */
static inline void window_settle(pub_t *p, uint64_t seq, conn_t *c) {
  uint32_t *slot;

  if (!G.cfg.window || seq < p->acked || seq >= p->sent)
    return;
  if (G.cfg.ack_echo && c != p->conn)
    return;
  slot = &p->pending[seq % G.cfg.window];
  if (*slot > 0 && --*slot == 0 && seq == p->acked)
    window_advance(p);
}

/* Sequences [from, to) of p can no longer reach c. */
static void window_settle_range(pub_t *p, uint64_t from, uint64_t to,
                                conn_t *c) {
  uint64_t s;

  if (!G.cfg.window)
    return;
  if (from < p->acked)
    from = p->acked;
  if (to > p->sent)
    to = p->sent;
  for (s = from; s < to; s++)
    window_settle(p, s, c);
  if (p->acked < p->sent && p->pending[p->acked % G.cfg.window] == 0)
    window_advance(p);
}

/* Rate mode: when message k of publisher p is due. Publishers take turns
 * so that the total is evenly spaced. */
static uint64_t rate_due(const pub_t *p, uint64_t k) {
  return G.rate_t0 + (uint64_t)(((double)k * G.npubs + p->id) *
                                G.rate_interval_ns);
}

static void rate_arm(void) {
  struct itimerspec its;
  uint64_t next = UINT64_MAX, due;
  uint32_t i;

  for (i = 0; i < G.npubs; i++) {
    if (!pub_can_send(&G.pubs[i]))
      continue;
    due = rate_due(&G.pubs[i], G.pubs[i].next_k);
    if (due < next)
      next = due;
  }
  memset(&its, 0, sizeof(its));
  if (next != UINT64_MAX) {
    its.it_value.tv_sec = (time_t)(next / 1000000000ull);
    its.it_value.tv_nsec = (long)(next % 1000000000ull);
    if (its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0)
      its.it_value.tv_nsec = 1; /* zero would disarm */
  }
  timerfd_settime(G.rate_fd, TFD_TIMER_ABSTIME, &its, NULL);
}

static void on_rate_tick(uv_poll_t *h, int status, int events) {
  uint64_t expirations, now, due;
  uint32_t i;
  pub_t *p;

  (void)h;
  (void)status;
  (void)events;
  if (read(G.rate_fd, &expirations, sizeof(expirations)) < 0 &&
      errno != EAGAIN)
    return;
  now = uv_hrtime();
  for (i = 0; i < G.npubs; i++) {
    p = &G.pubs[i];
    while (pub_can_send(p) && (due = rate_due(p, p->next_k)) <= now) {
      p->next_k++;
      /* Stamped with the due time, however late it goes out. A backlog
       * beyond SEND_BACKLOG is skipped and counted, so that a stopped
       * server cannot make the load generator's memory grow. */
      if (p->conn->out.len + p->conn->wbuf.len > SEND_BACKLOG)
        p->skipped++;
      else
        pub_send(p, due);
    }
    conn_flush(p->conn);
  }
  rate_arm();
}

/* ------------------------------------------------------------------------
 * Receiving
 * ------------------------------------------------------------------------ */

/* A complete data message arrived at c. */
static int on_message(conn_t *c, const uint8_t *head, size_t head_len,
                      uint64_t len) {
  uint32_t pid;
  uint64_t seq, ts;
  int64_t *last;
  pub_t *p;

  if (!c->receiver) {
    G.stalled_received++;
    return 0;
  }
  if (lg_msg_decode(head, head_len, &pid, &seq, &ts) != 0 ||
      pid >= G.npubs) {
    G.malformed++;
    return 0;
  }
  if (len != G.cfg.size)
    G.size_mismatch++;
  p = &G.pubs[pid];
  last = &G.last[(size_t)c->recv_idx * G.npubs + pid];
  if ((int64_t)seq <= *last) {
    G.dups++; /* repeated or out of order */
    return 0;
  }
  if ((int64_t)seq != *last + 1) {
    G.gap_events++;
    window_settle_range(p, (uint64_t)(*last + 1), seq, c);
  }
  *last = (int64_t)seq;
  c->received++;
  G.received_total++;
  window_settle(p, seq, c);
  if (G.measuring) {
    G.delivered++;
    lg_hist_record(&G.hist, G.now > ts ? G.now - ts : 0);
  }
  return 0;
}

static int on_ws_message(void *ud, int opcode, const uint8_t *head,
                         size_t head_len, uint64_t len) {
  (void)opcode;
  return on_message(ud, head, head_len, len);
}

/* The inflate stream for c's next message, made on first use. */
static lg_inflate_t *conn_inflater(conn_t *c) {
  lg_inflate_t **z = c->inflate_reset ? &G.inflate : &c->inflate;

  if (!*z && !(*z = lg_inflate_new()))
    die("out of memory (zlib)");
  return *z;
}

/* A compressed message (permessage-deflate): gathered, then inflated and
 * checked like any other. */
static int on_ws_compressed(void *ud, int opcode, const uint8_t *data,
                            size_t len, int fin) {
  conn_t *c = ud;
  uint8_t head[LG_HEAD_MAX];
  size_t head_len;
  uint64_t mlen;
  int r;

  (void)opcode;
  if (!fin) {
    memcpy(buf_reserve(&c->zin, len), data, len);
    c->zin.len += len;
    return 0;
  }
  if (c->inflate_reset && G.memo)
    r = lg_inflate_msg_memo(G.memo, conn_inflater(c), c->zin.data,
                            c->zin.len, MAX_MESSAGE, head, sizeof(head),
                            &head_len, &mlen, &G.memo_hits);
  else
    r = lg_inflate_msg(conn_inflater(c), c->zin.data, c->zin.len,
                       c->inflate_reset, MAX_MESSAGE, head, sizeof(head),
                       &head_len, &mlen);
  c->zin.len = 0;
  if (r != 0) {
    G.proto_errors++;
    conn_lost(c, "permessage-deflate: a message that does not inflate", 0);
    return 1;
  }
  G.received_compressed++;
  return on_message(c, head, head_len, mlen);
}

static int on_line(void *ud, const uint8_t *head, size_t head_len,
                   uint64_t len) {
  return on_message(ud, head, head_len, len);
}

/* Server-sent events: the lines of an event; a message is its "data: "
 * line (loadgen's payloads are one line of text); "id:", "retry:",
 * comments and the empty line between events are skipped. */
static int on_sse_line(void *ud, const uint8_t *head, size_t head_len,
                       uint64_t len) {
  if (head_len < 6 || memcmp(head, "data: ", 6) != 0)
    return 0;
  return on_message(ud, head + 6, head_len - 6, len - 6);
}

static int on_ws_control(void *ud, int opcode, const uint8_t *payload,
                         size_t len) {
  conn_t *c = ud;

  if (opcode == LG_WS_OP_PING) {
    conn_queue_frame(c, LG_WS_OP_PONG, payload, len);
  } else if (opcode == LG_WS_OP_CLOSE) {
    /* Echo the status code, as RFC 6455 section 5.5.1 asks, then close. */
    conn_lost(c, "closed by the server (WebSocket close)", 0);
    return 1;
  }
  return 0;
}

static const lg_ws_callbacks_t ws_callbacks = {on_ws_message, on_ws_control,
                                               on_ws_compressed};

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)h;
  (void)suggested;
  *buf = uv_buf_init((char *)read_buf, sizeof(read_buf));
}

static void conn_ready(conn_t *c);

static void feed(conn_t *c, const uint8_t *data, size_t len) {
  int r;

  if (conn_ws(c)) {
    r = lg_ws_parse(&c->u.ws, data, len, &ws_callbacks, c);
    if (r < 0) {
      G.proto_errors++;
      conn_lost(c, r == LG_WS_ETOOBIG ? "message too big" :
                r == LG_WS_ERSV ? "WebSocket protocol error: a reserved "
                "bit set that no negotiated extension defines (RSV1 "
                "without permessage-deflate?)" : "WebSocket protocol error",
                0);
    }
  } else {
    r = lg_line_parse(&c->u.line, data, len, c->sse ? on_sse_line : on_line,
                      c);
    if (r < 0) {
      G.proto_errors++;
      conn_lost(c, "line too long", 0);
    }
  }
}

/* The server's answer to the permessage-deflate offer: sets c up to
 * inflate and, for a publisher, to compress. Returns 0, or -1 with *why
 * for an answer the connection must fail for. */
static int deflate_negotiate(conn_t *c, const char *head, size_t len,
                             const char **why) {
  lg_pmd_t pmd;
  int r = lg_ws_pmd_response(head, len, G.cfg.deflate, &pmd, why);

  if (r <= 0)
    return r;
  c->pmd = 1;
  c->inflate_reset = pmd.server_no_context_takeover;
  c->deflate_reset = pmd.client_no_context_takeover;
  lg_ws_parser_allow_rsv1(&c->u.ws);
  if (G.pmd_open++ == 0)
    G.pmd_first = pmd;
  /* zlib has no raw 8-bit window: then messages go uncompressed, which
   * a sender may always do. */
  if (c->role == ROLE_PUB && pmd.client_max_window_bits > 8 &&
      !(c->deflate = lg_deflate_new(pmd.client_max_window_bits)))
    die("out of memory (zlib)");
  return 0;
}

/* WebSocket: gather the 101 response; the bytes after it are frames. */
static void handshake_feed(conn_t *c, const uint8_t *data, size_t len) {
  handshake_t *hs = c->hs;
  size_t head, old = hs->len, take = len;
  const char *why;

  if (take > HS_MAX - hs->len)
    take = HS_MAX - hs->len;
  memcpy(hs->buf + hs->len, data, take);
  hs->len += take;
  head = lg_http_head_len(hs->buf, hs->len);
  if (head == 0) {
    if (hs->len == HS_MAX)
      conn_lost(c, "handshake response too long", 0);
    return;
  }
  if (c->sse ? strncmp(hs->buf, "HTTP/1.1 200 ", 13) != 0
             : lg_ws_check_response(hs->buf, head, hs->accept, &why) != 0 ||
                   deflate_negotiate(c, hs->buf, head, &why) != 0) {
    conn_lost(c, c->sse ? "event stream refused" : why, 0);
    return;
  }
  if (!c->sse)
    G.ws_open++;
  free(hs->buf);
  free(hs);
  c->hs = NULL;
  conn_ready(c);
  if (c->state == C_OPEN && head - old < len)
    feed(c, data + (head - old), len - (head - old));
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  conn_t *c = s->data;

  G.now = uv_hrtime();
  if (nread > 0) {
    if (c->state == C_HANDSHAKE) {
      handshake_feed(c, (const uint8_t *)buf->base, (size_t)nread);
    } else if (c->state == C_OPEN) {
      if (G.measuring && c->receiver)
        G.wire_bytes += (uint64_t)nread;
      feed(c, (const uint8_t *)buf->base, (size_t)nread);
    }
    if (c->stop_read && c->state == C_OPEN) {
      uv_read_stop(s); /* a stalled client, once upgraded */
      c->stop_read = 0;
    }
  } else if (nread < 0) {
    conn_lost(c, nread == UV_EOF ? "closed by the server" : "read failed",
              nread == UV_EOF ? 0 : (int)nread);
  }
}

/* ------------------------------------------------------------------------
 * Connections
 * ------------------------------------------------------------------------ */

static void connect_next(void);
static void connect_done(void);

static void on_close(uv_handle_t *h) {
  conn_t *c = h->data;

  c->state = C_CLOSED;
}

static void conn_close(conn_t *c) {
  if (c->state == C_CLOSING || c->state == C_CLOSED || c->state == C_IDLE)
    return;
  c->state = C_CLOSING;
  uv_close((uv_handle_t *)&c->tcp, on_close);
}

/* A receiver is gone: what it had not received leaves the windows. */
static void receiver_gone(conn_t *c) {
  uint32_t i;
  int64_t last;

  if (!c->live)
    return;
  c->live = 0;
  G.live_receivers--;
  for (i = 0; i < G.npubs; i++) {
    last = G.last[(size_t)c->recv_idx * G.npubs + i];
    window_settle_range(&G.pubs[i], (uint64_t)(last + 1), G.pubs[i].sent, c);
  }
}

/* The connection failed or the server closed it. */
static void conn_lost(conn_t *c, const char *why, int err) {
  int was = c->state;

  if (was >= C_CLOSING)
    return;
  if (c->lost) {
    conn_close(c); /* e.g. EOF while answering a close frame */
    return;
  }
  c->lost = 1;
  if (was == C_CONNECTING || was == C_HANDSHAKE) {
    G.failed++;
    G.connecting--;
    if (!G.first_connect_error)
      G.first_connect_error = err ? err : UV_EPROTO;
    if (G.logged++ < MAX_LOGGED)
      logf_("connection %u failed: %s%s%s", c->id, why, err ? ": " : "",
            err ? uv_strerror(err) : "");
    conn_close(c);
    connect_next();
    return;
  }
  if (G.phase < PH_DONE) {
    if (c->role == ROLE_PUB) {
      G.pubs_dropped++;
      c->pub->dead = 1;
    } else if (!c->stalled) {
      G.dropped++;
    } else {
      G.stalled_closed++;
    }
    if (G.logged++ < MAX_LOGGED)
      logf_("%s %u: %s%s%s", c->role == ROLE_PUB ? "publisher" : "subscriber",
            c->id, why, err ? ": " : "", err ? uv_strerror(err) : "");
  }
  receiver_gone(c);
  if (conn_ws(c) && err == 0 && strstr(why, "WebSocket close")) {
    /* Answer the server's close frame (RFC 6455 section 5.5.1), then
     * close the connection once the answer is written. */
    static const uint8_t normal[2] = {0x03, 0xe8};
    c->out.len = 0;
    conn_queue_frame(c, LG_WS_OP_CLOSE, normal, 2);
    c->close_after_write = 1;
    conn_flush(c);
    if (c->state == C_OPEN && c->writing)
      return;
  }
  conn_close(c);
}

static void conn_ready(conn_t *c) {
  c->state = C_OPEN;
  G.connecting--;
  G.ready++;
  if (c->receiver) {
    c->live = 1;
    G.live_receivers++;
  }
  if (c->stalled) {
    if (G.cfg.proto != PROTO_LINE)
      c->stop_read = 1; /* on_read stops reading after this read */
  } else if (G.cfg.proto == PROTO_LINE) {
    int r = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    if (r != 0) {
      conn_lost(c, "cannot read", r);
      return;
    }
  }
  connect_next();
}

static void on_connect(uv_connect_t *req, int status) {
  conn_t *c = req->data;
  char request[512];
  uint8_t nonce[16];
  int n, r;

  if (c->state != C_CONNECTING)
    return;
  if (status < 0) {
    conn_lost(c, "connect", status);
    return;
  }
  if (G.cfg.proto == PROTO_LINE) {
    conn_ready(c);
    return;
  }
  c->hs = xcalloc(1, sizeof(*c->hs));
  c->hs->buf = xmalloc(HS_MAX);
  rng_bytes(nonce, sizeof(nonce));
  if (c->sse) {
    const char *q = strchr(G.cfg.path, '?');
    n = snprintf(request, sizeof(request),
                 "GET /events%s HTTP/1.1\r\nHost: %s\r\n"
                 "Accept: text/event-stream\r\n\r\n",
                 q != NULL ? q : "", G.cfg.host);
    if ((size_t)n >= sizeof(request))
      n = -1;
  } else {
    n = lg_ws_request(request, sizeof(request), G.cfg.host, G.cfg.path,
                      nonce, G.cfg.deflate ? LG_PMD_OFFER : NULL,
                      c->hs->accept);
  }
  if (n < 0)
    die("request too long");
  memcpy(buf_reserve(&c->out, (size_t)n), request, (size_t)n);
  c->out.len += (size_t)n;
  c->state = C_HANDSHAKE;
  r = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
  if (r != 0) {
    conn_lost(c, "cannot read", r);
    return;
  }
  conn_flush(c);
}

static void conn_start(conn_t *c) {
  int r, fd;

  c->state = C_CONNECTING;
  G.connecting++;
  r = uv_tcp_init_ex(&G.loop, &c->tcp, G.cfg.addr.ss_family);
  if (r != 0) {
    c->state = C_IDLE; /* no handle to close */
    G.connecting--;
    G.failed++;
    if (!G.first_connect_error)
      G.first_connect_error = r;
    if (G.logged++ < MAX_LOGGED)
      logf_("connection %u: socket: %s", c->id, uv_strerror(r));
    return;
  }
  c->tcp.data = c;
  c->connect_req.data = c;
  c->write_req.data = c;
  if (c->stalled && uv_fileno((uv_handle_t *)&c->tcp, &fd) == 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &G.cfg.stalled_rcvbuf,
               sizeof(G.cfg.stalled_rcvbuf));
  uv_tcp_nodelay(&c->tcp, 1);
  r = uv_tcp_connect(&c->connect_req, &c->tcp,
                     (const struct sockaddr *)&G.cfg.addr, on_connect);
  if (r != 0)
    conn_lost(c, "connect", r);
}

/* At most --connect-batch connections are being set up at a time, so the
 * server's accept backlog never overflows (a dropped SYN costs a second
 * or more before the kernel retries it). */
static void connect_next(void) {
  while (G.phase == PH_CONNECT && G.connecting < G.cfg.connect_batch &&
         G.next_connect < G.nconns)
    conn_start(&G.conns[G.next_connect++]);
  connect_done();
}

static void on_settled(uv_timer_t *t);

static void connect_done(void) {
  if (G.phase != PH_CONNECT || G.ready + G.failed < G.nconns)
    return;
  uv_timer_stop(&G.connect_timer);
  G.t_connected = uv_hrtime();
  if (G.failed > 0)
    logf_("%u of %u connections failed (first: %s)", G.failed, G.nconns,
          uv_strerror(G.first_connect_error));
  G.phase = PH_SETTLE;
  uv_timer_start(&G.phase_timer, on_settled, ms_of(G.cfg.settle), 0);
}

static void on_connect_timeout(uv_timer_t *t) {
  uint32_t i;

  (void)t;
  logf_("connect timeout: %u of %u connections not up after %.1f s",
        G.nconns - G.ready - G.failed, G.nconns, G.cfg.connect_timeout);
  G.failed += G.nconns - G.next_connect; /* never started */
  G.next_connect = G.nconns;
  for (i = 0; i < G.nconns; i++) {
    conn_t *c = &G.conns[i];
    if (c->state == C_CONNECTING || c->state == C_HANDSHAKE)
      conn_lost(c, "timed out", UV_ETIMEDOUT);
  }
  connect_done();
}

/* ------------------------------------------------------------------------
 * Phases
 * ------------------------------------------------------------------------ */

static void end_measure(void) {
  if (!G.measuring)
    return;
  G.measuring = 0;
  G.t_meas_end = uv_hrtime();
  proc_sample(G.cfg.server_pid, &G.srv_m1);
  G.own_cpu_m1 = own_cpu_ns();
  G.host_m1 = host_busy_ns();
}

static void stop_sending(void) {
  G.sending = 0;
  if (G.rate_fd >= 0) {
    struct itimerspec its;
    memset(&its, 0, sizeof(its));
    timerfd_settime(G.rate_fd, TFD_TIMER_ABSTIME, &its, NULL);
  }
}

static void on_drain_timeout(uv_timer_t *t) {
  (void)t;
  finish();
}

static void begin_drain(void) {
  stop_sending();
  G.phase = PH_DRAIN;
  uv_timer_start(&G.phase_timer, on_drain_timeout, ms_of(G.cfg.drain), 0);
}

static void on_measure_end(uv_timer_t *t) {
  (void)t;
  end_measure();
  begin_drain();
}

static void begin_measure(void) {
  G.phase = PH_MEASURE;
  lg_hist_reset(&G.hist);
  G.delivered = 0;
  proc_sample(G.cfg.server_pid, &G.srv_m0);
  G.own_cpu_m0 = own_cpu_ns();
  G.host_m0 = host_busy_ns();
  G.t_meas_start = uv_hrtime();
  G.measuring = 1;
  uv_timer_start(&G.phase_timer, on_measure_end, ms_of(G.cfg.duration), 0);
}

static void on_warmed_up(uv_timer_t *t) {
  (void)t;
  begin_measure();
}

static void on_held(uv_timer_t *t) {
  (void)t;
  finish();
}

static void on_settled(uv_timer_t *t) {
  (void)t;
  proc_sample(G.cfg.server_pid, &G.srv_idle);
  if (G.cfg.connect_only) {
    G.phase = PH_HOLD;
    uv_timer_start(&G.phase_timer, on_held, ms_of(G.cfg.duration), 0);
    return;
  }
  if (G.ready == 0) {
    logf_("no connection is up");
    G.exit_code = 1;
    finish();
    return;
  }
  begin_publishing();
}

static void begin_publishing(void) {
  uint32_t i;

  G.sending = 1;
  if (G.cfg.warmup > 0 && G.cfg.count == 0) {
    G.phase = PH_WARMUP;
    uv_timer_start(&G.phase_timer, on_warmed_up, ms_of(G.cfg.warmup), 0);
  } else {
    begin_measure();
  }
  if (G.cfg.rate > 0) {
    G.rate_t0 = uv_hrtime();
    rate_arm();
  } else {
    for (i = 0; i < G.npubs; i++)
      pub_fill(&G.pubs[i]);
  }
}

/* Has every live receiver got every message sent? */
static int all_delivered(void) {
  uint32_t i, j;

  for (j = 0; j < G.npubs; j++)
    if (G.pubs[j].conn->state == C_OPEN &&
        (G.pubs[j].conn->out.len > 0 || G.pubs[j].conn->writing))
      return 0;
  for (i = 0; i < G.nconns; i++) {
    conn_t *c = &G.conns[i];
    if (!c->live)
      continue;
    for (j = 0; j < G.npubs; j++)
      if (G.last[(size_t)c->recv_idx * G.npubs + j] + 1 !=
          (int64_t)G.pubs[j].sent)
        return 0;
  }
  return 1;
}

/* Every 10 ms: window timeouts, the end of --count, the end of a drain. */
static void on_tick(uv_timer_t *t) {
  uint64_t now = uv_hrtime(), limit = (uint64_t)(G.cfg.window_timeout * 1e9);
  uint32_t i;
  int done = 1;

  (void)t;
  if (G.cfg.window && G.sending) {
    for (i = 0; i < G.npubs; i++) {
      pub_t *p = &G.pubs[i];
      while (p->acked < p->sent &&
             now - p->sent_at[p->acked % G.cfg.window] > limit) {
        G.window_timeouts++;
        p->pending[p->acked % G.cfg.window] = 0;
        window_advance(p);
      }
    }
  }
  if (G.cfg.count && G.phase == PH_MEASURE) {
    for (i = 0; i < G.npubs; i++)
      if (pub_can_send(&G.pubs[i]))
        done = 0;
    if (done)
      begin_drain();
  }
  if (G.phase == PH_DRAIN && all_delivered())
    finish();
}

static void on_deadline(uv_timer_t *t) {
  (void)t;
  logf_("hard deadline reached: stopping");
  G.aborted = 1;
  finish();
}

static void on_signal(uv_signal_t *s, int signum) {
  (void)s;
  logf_("%s: stopping", signum == SIGINT ? "SIGINT" : "SIGTERM");
  G.interrupted = 1;
  finish();
}

/* ------------------------------------------------------------------------
 * Report
 * ------------------------------------------------------------------------ */

typedef struct {
  uint64_t expected, received, lost, with_loss, max_lost;
} loss_t;

static void count_losses(loss_t *l) {
  uint64_t sent = 0, lost;
  uint32_t i;

  memset(l, 0, sizeof(*l));
  for (i = 0; i < G.npubs; i++)
    sent += G.pubs[i].sent;
  /* Receivers dropped by the server are counted as dropped, not as
   * having lost what was sent after they left. */
  for (i = 0; i < G.nconns; i++) {
    conn_t *c = &G.conns[i];
    if (!c->live)
      continue;
    l->expected += sent;
    l->received += c->received;
    lost = sent > c->received ? sent - c->received : 0;
    l->lost += lost;
    if (lost) {
      l->with_loss++;
      if (lost > l->max_lost)
        l->max_lost = lost;
    }
  }
}

/* Marks est[port] for every server-side socket of the target that is
 * established with a peer on that port, from /proc/net/tcp or tcp6. */
static void scan_server_sockets(const char *path, unsigned server_port,
                                uint8_t *est) {
  char line[512];
  unsigned lport, rport, st;
  FILE *f = fopen(path, "r");

  if (!f)
    return;
  while (fgets(line, sizeof(line), f))
    if (sscanf(line, " %*u: %*[0-9A-Fa-f]:%x %*[0-9A-Fa-f]:%x %x", &lport,
               &rport, &st) == 3 &&
        lport == server_port && rport < 65536 && st == 0x01)
      est[rport] = 1;
  fclose(f);
}

/* Stalled clients never read, so they cannot see the server close them.
 * Their own state does not tell either: a server that closes a client
 * with data still queued sends its FIN after that data, which a client
 * that does not read never receives. The server's side of the connection
 * does tell: once closed it is no longer ESTABLISHED (FIN_WAIT1 while the
 * data waits, or gone). Both ends are on this machine, in the kernel's
 * socket table. */
static void count_stalled_closed(void) {
  struct sockaddr_storage ss;
  struct tcp_info ti;
  socklen_t len;
  uint8_t *est;
  unsigned server_port, port;
  uint32_t i;
  int fd, namelen;

  for (i = 0; i < G.nconns; i++)
    if (G.conns[i].stalled && G.conns[i].state == C_OPEN)
      break;
  if (i == G.nconns)
    return;
  est = xcalloc(65536, 1);
  server_port = ntohs(G.cfg.addr.ss_family == AF_INET6 ?
                     ((struct sockaddr_in6 *)&G.cfg.addr)->sin6_port :
                     ((struct sockaddr_in *)&G.cfg.addr)->sin_port);
  scan_server_sockets("/proc/net/tcp", server_port, est);
  scan_server_sockets("/proc/net/tcp6", server_port, est);
  for (i = 0; i < G.nconns; i++) {
    conn_t *c = &G.conns[i];
    if (!c->stalled || c->state != C_OPEN)
      continue;
    len = sizeof(ti);
    if (uv_fileno((uv_handle_t *)&c->tcp, &fd) == 0 &&
        getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) == 0 &&
        ti.tcpi_state != TCP_ESTABLISHED) {
      G.stalled_closed++;
      continue;
    }
    namelen = sizeof(ss);
    if (uv_tcp_getsockname(&c->tcp, (struct sockaddr *)&ss, &namelen) != 0)
      continue;
    port = ntohs(ss.ss_family == AF_INET6 ?
                 ((struct sockaddr_in6 *)&ss)->sin6_port :
                 ((struct sockaddr_in *)&ss)->sin_port);
    if (!est[port])
      G.stalled_closed++;
  }
  free(est);
}

static void print_num(FILE *f, const char *key, double v, int have) {
  if (!have || !isfinite(v))
    fprintf(f, ",\"%s\":null", key);
  else if (v == floor(v) && fabs(v) < 1e15)
    fprintf(f, ",\"%s\":%.0f", key, v);
  else
    fprintf(f, ",\"%s\":%.10g", key, v);
}

static const char *json_bool(int v) {
  return v ? "true" : "false";
}

/* The deflate figures of the JSON line. */
static void report_deflate_json(FILE *f) {
  int all = G.pmd_open > 0 && G.pmd_open == G.ws_open;

  fprintf(f, ",\"payload\":\"%s\",\"deflate_offered\":%s,\"deflate\":%s",
          G.cfg.payload == PAYLOAD_JSON ? "json" : "plain",
          json_bool(G.cfg.deflate), json_bool(all));
  print_num(f, "deflate_conns", G.pmd_open, 1);
  if (G.pmd_open > 0)
    fprintf(f, ",\"server_no_context_takeover\":%s"
            ",\"client_no_context_takeover\":%s",
            json_bool(G.pmd_first.server_no_context_takeover),
            json_bool(G.pmd_first.client_no_context_takeover));
  else
    fprintf(f, ",\"server_no_context_takeover\":null"
            ",\"client_no_context_takeover\":null");
  print_num(f, "received_compressed", (double)G.received_compressed, 1);
  print_num(f, "wire_bytes", (double)G.wire_bytes, G.t_meas_end > 0);
  print_num(f, "wire_bytes_per_msg",
            G.delivered ? (double)G.wire_bytes / (double)G.delivered : 0,
            G.delivered > 0);
}

/* The deflate and wire lines of the text report. */
static void report_deflate_text(FILE *f) {
  if (G.cfg.deflate) {
    fprintf(f, "deflate     negotiated on %u of %u WebSocket connections",
            G.pmd_open, G.ws_open);
    if (G.pmd_open > 0)
      fprintf(f, " (server %s, client %s); %" PRIu64 " messages "
              "arrived compressed, %" PRIu64 " of them the same bytes as "
              "one inflated before",
              G.pmd_first.server_no_context_takeover ?
                  "no_context_takeover" : "keeps its context",
              G.pmd_first.client_no_context_takeover ?
                  "no_context_takeover" : "keeps its context",
              G.received_compressed, G.memo_hits);
    fputc('\n', f);
  }
  if (G.delivered > 0)
    fprintf(f, "wire        %.1f B read per delivered message (%" PRIu64
            " B in all, frame headers included)\n",
            (double)G.wire_bytes / (double)G.delivered, G.wire_bytes);
}

static void report(void) {
  config_t *cfg = &G.cfg;
  loss_t l;
  double meas_s = 0, rate = 0, cpu_s = 0, per = 0, util = 0, own = 0;
  double rss_per = 0, p50, p99, p999, pmax, mean, other = 0;
  uint64_t skipped = 0;
  int have_cpu, have_rss, ok;
  uint32_t i;
  FILE *f = stdout;

  count_losses(&l);
  for (i = 0; i < G.npubs; i++)
    skipped += G.pubs[i].skipped;
  if (G.t_meas_start && G.t_meas_end > G.t_meas_start) {
    meas_s = secs(G.t_meas_end - G.t_meas_start);
    rate = (double)G.delivered / meas_s;
    own = secs(G.own_cpu_m1 - G.own_cpu_m0) / meas_s;
  }
  have_cpu = G.srv_m0.have && G.srv_m1.have && meas_s > 0;
  if (have_cpu) {
    cpu_s = secs(G.srv_m1.cpu_ns - G.srv_m0.cpu_ns);
    util = cpu_s / meas_s;
    per = G.delivered ? cpu_s * 1e9 / (double)G.delivered : 0;
  }
  /* What the rest of the machine used meanwhile: a busy neighbour makes
   * a run noisy. The clock ticks make this accurate to a few %. */
  if (meas_s > 0 && G.host_m1 > G.host_m0) {
    other = secs(G.host_m1 - G.host_m0) / meas_s - own - util;
    if (other < 0)
      other = 0;
  }
  have_rss = G.srv_before.have && G.srv_idle.have && G.ready > 0;
  if (have_rss)
    rss_per = ((double)G.srv_idle.rss_kb - (double)G.srv_before.rss_kb) *
              1024.0 / G.ready;
  p50 = (double)lg_hist_quantile(&G.hist, 0.50) / 1e3;
  p99 = (double)lg_hist_quantile(&G.hist, 0.99) / 1e3;
  p999 = (double)lg_hist_quantile(&G.hist, 0.999) / 1e3;
  pmax = (double)G.hist.max / 1e3;
  mean = G.hist.count ? G.hist.sum / (double)G.hist.count / 1e3 : 0;

  ok = !G.aborted && G.failed == 0 && G.dropped == 0 &&
       G.pubs_dropped == 0 && l.lost == 0 && G.dups == 0 &&
       G.malformed == 0 && G.size_mismatch == 0 && G.proto_errors == 0 &&
       G.window_timeouts == 0 && skipped == 0;
  if (cfg->count && !cfg->connect_only)
    ok = ok && G.received_total ==
                   cfg->count * (uint64_t)(cfg->subs - cfg->stalled +
                                           cfg->pubs);
  if (cfg->strict && !ok && G.exit_code == 0)
    G.exit_code = 1;
  if (G.aborted)
    G.exit_code = 3;

  if (cfg->json) {
    fprintf(f, "{\"proto\":\"%s\",\"target\":\"%s%s\"",
            cfg->proto == PROTO_WS ? "ws" : cfg->proto == PROTO_SSE ? "sse"
                                                                    : "line",
            cfg->host, cfg->proto != PROTO_LINE ? cfg->path : "");
    fprintf(f, ",\"mode\":\"%s\",\"ack\":\"%s\"",
            cfg->connect_only ? "connect-only" : cfg->rate > 0 ? "rate" :
            "window", cfg->ack_echo ? "echo" : "all");
    print_num(f, "subs", cfg->subs, 1);
    print_num(f, "pubs", cfg->pubs, 1);
    print_num(f, "stalled", cfg->stalled, 1);
    print_num(f, "receivers", G.nreceivers, 1);
    print_num(f, "size", (double)cfg->size, 1);
    print_num(f, "window", cfg->rate > 0 ? 0 : cfg->window, 1);
    print_num(f, "rate", cfg->rate, 1);
    print_num(f, "count", (double)cfg->count, 1);
    print_num(f, "connected", G.ready, 1);
    print_num(f, "connect_failed", G.failed, 1);
    print_num(f, "connect_s", G.t_connected ?
              secs(G.t_connected - G.t_start) : 0, 1);
    print_num(f, "measure_s", meas_s, 1);
    print_num(f, "sent", (double)G.sent_total, 1);
    print_num(f, "delivered", (double)G.delivered, 1);
    print_num(f, "delivered_per_s", rate, 1);
    print_num(f, "received_total", (double)G.received_total, 1);
    print_num(f, "expected", (double)l.expected, 1);
    print_num(f, "lost", (double)l.lost, 1);
    print_num(f, "receivers_with_loss", (double)l.with_loss, 1);
    print_num(f, "max_lost", (double)l.max_lost, 1);
    print_num(f, "gaps", (double)G.gap_events, 1);
    print_num(f, "dups", (double)G.dups, 1);
    print_num(f, "malformed", (double)(G.malformed + G.size_mismatch), 1);
    print_num(f, "proto_errors", (double)G.proto_errors, 1);
    print_num(f, "dropped", (double)G.dropped, 1);
    print_num(f, "pubs_dropped", (double)G.pubs_dropped, 1);
    print_num(f, "stalled_closed", (double)G.stalled_closed, 1);
    print_num(f, "window_timeouts", (double)G.window_timeouts, 1);
    print_num(f, "skipped", (double)skipped, 1);
    print_num(f, "lat_count", (double)G.hist.count, 1);
    print_num(f, "lat_p50_us", p50, G.hist.count > 0);
    print_num(f, "lat_p99_us", p99, G.hist.count > 0);
    print_num(f, "lat_p999_us", p999, G.hist.count > 0);
    print_num(f, "lat_max_us", pmax, G.hist.count > 0);
    print_num(f, "lat_mean_us", mean, G.hist.count > 0);
    print_num(f, "server_pid", (double)cfg->server_pid, cfg->server_pid > 0);
    print_num(f, "server_cpu_s", cpu_s, have_cpu);
    print_num(f, "server_cpu_util", util, have_cpu);
    print_num(f, "server_cpu_ns_per_delivery", per,
              have_cpu && G.delivered > 0);
    print_num(f, "loadgen_cpu_util", own, meas_s > 0);
    print_num(f, "other_cpu_util", other, meas_s > 0 && G.host_m1 > 0);
    print_num(f, "rss_before_kb", (double)G.srv_before.rss_kb,
              G.srv_before.have);
    print_num(f, "rss_idle_kb", (double)G.srv_idle.rss_kb, G.srv_idle.have);
    print_num(f, "rss_per_conn_b", rss_per, have_rss);
    print_num(f, "rss_end_kb", (double)G.srv_end.rss_kb, G.srv_end.have);
    print_num(f, "rss_hwm_kb", (double)G.srv_end.hwm_kb, G.srv_end.have);
    report_deflate_json(f);
    fprintf(f, ",\"aborted\":%s,\"interrupted\":%s,\"ok\":%s}\n",
            G.aborted ? "true" : "false", G.interrupted ? "true" : "false",
            ok ? "true" : "false");
    fflush(f);
    return;
  }
  fprintf(f, "target      %s %s%s\n",
          cfg->proto == PROTO_WS ? "ws" : cfg->proto == PROTO_SSE ? "sse"
                                                                  : "line",
          cfg->host, cfg->proto != PROTO_LINE ? cfg->path : "");
  if (cfg->connect_only)
    fprintf(f, "mode        connect-only\n");
  else if (cfg->rate > 0)
    fprintf(f, "mode        rate %.0f msg/s, %zu B%s\n", cfg->rate,
            cfg->size, cfg->payload == PAYLOAD_JSON ? " json" : "");
  else
    fprintf(f, "mode        window %u (ack %s), %zu B%s\n", cfg->window,
            cfg->ack_echo ? "echo" : "all", cfg->size,
            cfg->payload == PAYLOAD_JSON ? " json" : "");
  fprintf(f, "clients     %u subscribers (%u stalled) + %u publishers; "
          "%u connected, %u failed, in %.2f s\n", cfg->subs, cfg->stalled,
          cfg->pubs, G.ready, G.failed,
          G.t_connected ? secs(G.t_connected - G.t_start) : 0.0);
  if (!cfg->connect_only) {
    fprintf(f, "delivered   %" PRIu64 " in %.2f s: %.0f msgs/s "
            "(%u receivers; %" PRIu64 " sent in all)\n", G.delivered, meas_s,
            rate, G.nreceivers, G.sent_total);
    fprintf(f, "loss        %" PRIu64 " lost of %" PRIu64 " expected "
            "(%" PRIu64 " receivers short, at most %" PRIu64 " each); "
            "%" PRIu64 " gaps, %" PRIu64 " duplicate/out of order, "
            "%" PRIu64 " malformed\n", l.lost, l.expected, l.with_loss,
            l.max_lost, G.gap_events, G.dups, G.malformed + G.size_mismatch);
    fprintf(f, "dropped     %" PRIu64 " receivers, %" PRIu64 " publishers, "
            "%" PRIu64 " of %u stalled closed by the server\n", G.dropped,
            G.pubs_dropped, G.stalled_closed, cfg->stalled);
    if (G.window_timeouts || skipped || G.proto_errors)
      fprintf(f, "anomalies   %" PRIu64 " window timeouts, %" PRIu64
              " sends skipped, %" PRIu64 " protocol errors\n",
              G.window_timeouts, skipped, G.proto_errors);
    fprintf(f, "latency     p50 %.1f us, p99 %.1f us, p99.9 %.1f us, "
            "max %.1f us, mean %.1f us (%" PRIu64 " samples)\n", p50, p99,
            p999, pmax, mean, G.hist.count);
  }
  report_deflate_text(f);
  if (have_cpu)
    fprintf(f, "server cpu  %.2f s (%.0f %% of a core), %.0f ns per "
            "delivery\n", cpu_s, util * 100, per);
  if (meas_s > 0)
    fprintf(f, "loadgen cpu %.0f %% of a core; everything else on the "
            "machine %.0f %% of a core%s\n", own * 100, other * 100,
            have_cpu ? "" : " (with the server: no --server-pid)");
  if (have_rss)
    fprintf(f, "server rss  %" PRIu64 " kB before, %" PRIu64 " kB idle with "
            "%u connections: %.0f B per connection\n", G.srv_before.rss_kb,
            G.srv_idle.rss_kb, G.ready, rss_per);
  if (G.srv_end.have)
    fprintf(f, "server end  %" PRIu64 " kB resident (peak %" PRIu64 " kB)\n",
            G.srv_end.rss_kb, G.srv_end.hwm_kb);
  else if (cfg->server_pid > 0)
    fprintf(f, "server end  process %ld is gone\n", cfg->server_pid);
  fprintf(f, "result      %s%s\n", ok ? "ok" : "NOT OK",
          G.aborted ? " (aborted at the hard deadline)" :
          G.interrupted ? " (interrupted)" : "");
  fflush(f);
}

static void on_walk_close(uv_handle_t *h, void *arg) {
  (void)arg;
  if (!uv_is_closing(h))
    uv_close(h, NULL);
}

static void finish(void) {
  uint32_t i;

  if (G.phase == PH_DONE)
    return;
  end_measure();
  stop_sending();
  count_stalled_closed();
  proc_sample(G.cfg.server_pid, &G.srv_end);
  G.phase = PH_DONE;
  report();
  /* Say goodbye on WebSocket where the kernel takes it at once; closing
   * the socket is enough for both protocols. */
  if (G.cfg.proto != PROTO_LINE) {
    static const uint8_t normal[2] = {0x03, 0xe8};
    for (i = 0; i < G.nconns; i++) {
      conn_t *c = &G.conns[i];
      uint8_t frame[LG_WS_MAX_HEADER + 2], mask[4];
      size_t h;
      uv_buf_t b;
      if (c->state != C_OPEN || c->writing || c->out.len || !conn_ws(c))
        continue;
      rng_bytes(mask, 4);
      h = lg_ws_frame_header(frame, LG_WS_OP_CLOSE, 2, mask);
      memcpy(frame + h, normal, 2);
      lg_ws_mask(frame + h, 2, mask);
      b = uv_buf_init((char *)frame, (unsigned)(h + 2));
      uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
    }
  }
  for (i = 0; i < G.nconns; i++)
    conn_close(&G.conns[i]);
  uv_walk(&G.loop, on_walk_close, NULL);
}

/* ------------------------------------------------------------------------
 * Command line
 * ------------------------------------------------------------------------ */

static void usage(FILE *f) {
  fprintf(f,
"usage: " PROG " [options]\n"
"\n"
"Load generator for broadcast servers (WebSocket or newline protocol) on\n"
"loopback: N subscribers and P publishers; every message a publisher sends\n"
"is expected back at every client. Reports delivered msgs/s, losses,\n"
"dropped clients, latency percentiles, and with --server-pid the server's\n"
"CPU time per delivery and memory per connection.\n"
"\n"
"Target (loopback addresses only: 127.0.0.0/8, ::1, localhost):\n"
"  --proto ws|line|sse    protocol (default ws); sse: subscribers read\n"
"                         server-sent events (GET /events and the query\n"
"                         of --path), publishers use WebSocket\n"
"  --url URL              ws://HOST:PORT/PATH or tcp://HOST:PORT\n"
"  --host HOST            default 127.0.0.1\n"
"  --port PORT            default 8080 (ws) or 9000 (line)\n"
"  --path PATH            WebSocket path (default /ws)\n"
"Load:\n"
"  --subs N               subscribers (default 100)\n"
"  --pubs P               publishers (default 1)\n"
"  --stalled K            K of the subscribers never read, with a small\n"
"                         receive buffer (default 0)\n"
"  --size BYTES           message payload size, at least 40 (default 64)\n"
"  --payload plain|json   what fills a message after its header: 'a'..'z'\n"
"                         repeated (plain, default), or a JSON chat message\n"
"                         whose text compresses about 2-3x (json; --size\n"
"                         48 or more)\n"
"  --deflate              WebSocket: offer permessage-deflate as browsers do\n"
"                         (permessage-deflate; client_max_window_bits);\n"
"                         where the server accepts, inflate its messages\n"
"                         and compress the publishers'; reports whether it\n"
"                         was negotiated and the bytes on the wire\n"
"  --window W             window mode: messages in flight per publisher\n"
"                         (default 50)\n"
"  --ack all|echo         window mode: a message leaves the window when\n"
"                         every receiver has it (all, default) or when the\n"
"                         publisher gets its own copy back (echo)\n"
"  --rate R               fixed-rate mode: R messages/s in total, latency\n"
"                         measured from each message's due time\n"
"  --count N              publish exactly N messages in all, then wait\n"
"                         for their delivery (no warm-up)\n"
"Timing (seconds, decimals allowed):\n"
"  --duration S           measurement (default 5); with --connect-only,\n"
"                         how long the idle connections are held\n"
"  --warmup S             load before measuring (default 1)\n"
"  --settle S             idle time after connecting (default 0.5)\n"
"  --drain S              time allowed for the last messages (default 2)\n"
"  --connect-timeout S    time allowed to set all connections up (30)\n"
"  --window-timeout S     a message in flight longer is forced out of\n"
"                         the window and counted (default 2)\n"
"  --connect-batch B      connections set up at once (default 64)\n"
"Measurement and output:\n"
"  --connect-only         open the connections, report RSS per\n"
"                         connection, hold them --duration, exit\n"
"  --server-pid PID       read the server's CPU time and memory from /proc\n"
"  --json                 one JSON object on one line\n"
"  --strict               exit 1 unless every message reached every\n"
"                         receiver exactly once, in order, with nothing\n"
"                         dropped or failed\n"
"  --quiet                no diagnostics on stderr\n"
"  -h, --help             this help\n"
"\n"
"The run always ends by itself: after connect + settle + warm-up +\n"
"duration + drain, and at a hard deadline 10 s later at the latest.\n"
"Exit status: 0 done (with --strict: and no anomaly), 1 failure or\n"
"anomaly, 2 usage error, 3 stopped at the hard deadline.\n");
  if (!lg_deflate_available())
    fprintf(f, "\nThis loadgen was built without zlib: --deflate is not "
            "available.\n");
}

static void bad_usage(const char *fmt, ...) __attribute__((format(printf, 1,
                                                                   2),
                                                            noreturn));
static void bad_usage(const char *fmt, ...) {
  va_list ap;

  va_start(ap, fmt);
  vreport("\nTry '" PROG " --help' for more information.\n", fmt, ap);
  va_end(ap);
  exit(2);
}

static uint64_t parse_uint(const char *opt, const char *s, uint64_t min,
                           uint64_t max) {
  char *end;
  unsigned long long v;

  errno = 0;
  if (*s < '0' || *s > '9')
    bad_usage("%s: expected a number, got '%s'", opt, s);
  v = strtoull(s, &end, 10);
  if (errno || *end || v < min || v > max)
    bad_usage("%s: expected a whole number from %" PRIu64 " to %" PRIu64
              ", got '%s'", opt, min, max, s);
  return v;
}

static double parse_secs(const char *opt, const char *s, double min) {
  char *end;
  double v;

  if ((*s < '0' || *s > '9') && *s != '.')
    bad_usage("%s: expected seconds, got '%s'", opt, s);
  v = strtod(s, &end);
  if (*end || !isfinite(v) || v < min || v > 86400)
    bad_usage("%s: expected seconds from %g to 86400, got '%s'", opt, min,
              s);
  return v;
}

/* An option whose value is seconds: its getopt code, its name, where it
 * is kept and its least value. */
typedef struct {
  int opt;
  const char *name;
  double *v;
  double min;
} secs_opt_t;

/* Sets the option of the n in table whose code is opt from arg (exiting
 * on a bad value); returns 0 if opt is none of them. */
static int set_secs(const secs_opt_t *table, size_t n, int opt,
                    const char *arg) {
  size_t i;

  for (i = 0; i < n; i++)
    if (table[i].opt == opt) {
      *table[i].v = parse_secs(table[i].name, arg, table[i].min);
      return 1;
    }
  return 0;
}

/* Numeric loopback addresses only, and "localhost". */
static void resolve(config_t *cfg, const char *host, int port) {
  struct sockaddr_in *in4 = (struct sockaddr_in *)&cfg->addr;
  struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&cfg->addr;
  char h[64];
  size_t n = strlen(host);

  if (n >= 2 && host[0] == '[' && host[n - 1] == ']') {
    if (n - 2 >= sizeof(h))
      bad_usage("bad host '%s'", host);
    memcpy(h, host + 1, n - 2);
    h[n - 2] = '\0';
  } else {
    if (n >= sizeof(h))
      bad_usage("bad host '%s'", host);
    memcpy(h, host, n + 1);
  }
  if (strcmp(h, "localhost") == 0)
    strcpy(h, "127.0.0.1");
  memset(&cfg->addr, 0, sizeof(cfg->addr));
  if (uv_ip4_addr(h, port, in4) == 0) {
    if ((ntohl(in4->sin_addr.s_addr) >> 24) != 127)
      bad_usage("refusing %s: only loopback addresses (127.0.0.0/8, ::1) "
                "may be targeted", h);
    snprintf(cfg->host, sizeof(cfg->host), "%s:%d", h, port);
  } else if (uv_ip6_addr(h, port, in6) == 0) {
    const uint8_t *b = in6->sin6_addr.s6_addr;
    int v4 = IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr) && b[12] == 127;
    if (!IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr) && !v4)
      bad_usage("refusing %s: only loopback addresses (127.0.0.0/8, ::1) "
                "may be targeted", h);
    snprintf(cfg->host, sizeof(cfg->host), "[%s]:%d", h, port);
  } else {
    bad_usage("host '%s': expected a numeric loopback address or localhost",
              host);
  }
}

/* ws://HOST:PORT/PATH or tcp://HOST:PORT; sets proto, host, port, path. */
static void parse_url(const char *url, int *proto, char *host, size_t hcap,
                      int *port, char *path, size_t pcap) {
  const char *p, *hs, *he, *colon, *slash;

  if (strncmp(url, "ws://", 5) == 0) {
    *proto = PROTO_WS;
    p = url + 5;
  } else if (strncmp(url, "tcp://", 6) == 0) {
    *proto = PROTO_LINE;
    p = url + 6;
  } else {
    bad_usage("--url: expected ws://HOST:PORT/PATH or tcp://HOST:PORT, got "
              "'%s' (wss is not supported)", url);
  }
  slash = strchr(p, '/');
  he = slash ? slash : p + strlen(p);
  hs = p;
  if (*hs == '[') {
    const char *rb = memchr(hs, ']', (size_t)(he - hs));
    if (!rb)
      bad_usage("--url: bad host in '%s'", url);
    colon = rb + 1 < he && rb[1] == ':' ? rb + 1 : NULL;
  } else {
    colon = memchr(hs, ':', (size_t)(he - hs));
  }
  if ((size_t)((colon ? colon : he) - hs) >= hcap || colon == hs)
    bad_usage("--url: bad host in '%s'", url);
  memcpy(host, hs, (size_t)((colon ? colon : he) - hs));
  host[(colon ? colon : he) - hs] = '\0';
  if (colon) {
    char num[16];
    size_t n = (size_t)(he - colon - 1);
    if (n == 0 || n >= sizeof(num))
      bad_usage("--url: bad port in '%s'", url);
    memcpy(num, colon + 1, n);
    num[n] = '\0';
    *port = (int)parse_uint("--url port", num, 1, 65535);
  }
  if (slash) {
    if (strlen(slash) >= pcap)
      bad_usage("--url: path too long");
    strcpy(path, slash);
  }
}

static void parse_args(int argc, char **argv, config_t *cfg) {
  enum {
    OPT_PROTO = 256, OPT_URL, OPT_HOST, OPT_PORT, OPT_PATH, OPT_SUBS,
    OPT_PUBS, OPT_STALLED, OPT_SIZE, OPT_WINDOW, OPT_ACK, OPT_RATE,
    OPT_COUNT, OPT_DURATION, OPT_WARMUP, OPT_SETTLE, OPT_DRAIN,
    OPT_CTIMEOUT, OPT_WTIMEOUT, OPT_BATCH, OPT_CONNONLY, OPT_PID, OPT_JSON,
    OPT_STRICT, OPT_QUIET, OPT_PAYLOAD, OPT_DEFLATE
  };
  static const struct option opts[] = {
    {"proto", required_argument, NULL, OPT_PROTO},
    {"url", required_argument, NULL, OPT_URL},
    {"host", required_argument, NULL, OPT_HOST},
    {"port", required_argument, NULL, OPT_PORT},
    {"path", required_argument, NULL, OPT_PATH},
    {"subs", required_argument, NULL, OPT_SUBS},
    {"pubs", required_argument, NULL, OPT_PUBS},
    {"stalled", required_argument, NULL, OPT_STALLED},
    {"size", required_argument, NULL, OPT_SIZE},
    {"payload", required_argument, NULL, OPT_PAYLOAD},
    {"deflate", no_argument, NULL, OPT_DEFLATE},
    {"window", required_argument, NULL, OPT_WINDOW},
    {"ack", required_argument, NULL, OPT_ACK},
    {"rate", required_argument, NULL, OPT_RATE},
    {"count", required_argument, NULL, OPT_COUNT},
    {"duration", required_argument, NULL, OPT_DURATION},
    {"warmup", required_argument, NULL, OPT_WARMUP},
    {"settle", required_argument, NULL, OPT_SETTLE},
    {"drain", required_argument, NULL, OPT_DRAIN},
    {"connect-timeout", required_argument, NULL, OPT_CTIMEOUT},
    {"window-timeout", required_argument, NULL, OPT_WTIMEOUT},
    {"connect-batch", required_argument, NULL, OPT_BATCH},
    {"connect-only", no_argument, NULL, OPT_CONNONLY},
    {"server-pid", required_argument, NULL, OPT_PID},
    {"json", no_argument, NULL, OPT_JSON},
    {"strict", no_argument, NULL, OPT_STRICT},
    {"quiet", no_argument, NULL, OPT_QUIET},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0}
  };
  const secs_opt_t secs[] = {
    {OPT_DURATION, "--duration", &cfg->duration, 0},
    {OPT_WARMUP, "--warmup", &cfg->warmup, 0},
    {OPT_SETTLE, "--settle", &cfg->settle, 0},
    {OPT_DRAIN, "--drain", &cfg->drain, 0},
    {OPT_CTIMEOUT, "--connect-timeout", &cfg->connect_timeout, 0.1},
    {OPT_WTIMEOUT, "--window-timeout", &cfg->window_timeout, 0.001},
  };
  const char *url = NULL, *host = "127.0.0.1";
  char url_host[64], url_path[256];
  int opt, proto = -1, url_proto = -1, port = 0, url_port = 0;
  int have_path = 0;

  memset(cfg, 0, sizeof(*cfg));
  cfg->subs = 100;
  cfg->pubs = 1;
  cfg->size = 64;
  cfg->window = 50;
  cfg->duration = 5;
  cfg->warmup = 1;
  cfg->settle = 0.5;
  cfg->drain = 2;
  cfg->connect_timeout = 30;
  cfg->window_timeout = 2;
  cfg->connect_batch = 64;
  cfg->stalled_rcvbuf = 4096;
  strcpy(cfg->path, "/ws");
  opterr = 0;
  while ((opt = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
    switch (opt) {
    case OPT_PROTO:
      if (strcmp(optarg, "ws") == 0)
        proto = PROTO_WS;
      else if (strcmp(optarg, "line") == 0)
        proto = PROTO_LINE;
      else if (strcmp(optarg, "sse") == 0)
        proto = PROTO_SSE;
      else
        bad_usage("--proto: expected ws, line or sse, got '%s'", optarg);
      break;
    case OPT_URL:
      url = optarg;
      break;
    case OPT_HOST:
      host = optarg;
      break;
    case OPT_PORT:
      port = (int)parse_uint("--port", optarg, 1, 65535);
      break;
    case OPT_PATH:
      if (optarg[0] != '/' || strlen(optarg) >= sizeof(cfg->path) ||
          strpbrk(optarg, " \r\n"))
        bad_usage("--path: expected an absolute path, got '%s'", optarg);
      strcpy(cfg->path, optarg);
      have_path = 1;
      break;
    case OPT_SUBS:
      cfg->subs = (uint32_t)parse_uint("--subs", optarg, 0, 1000000);
      break;
    case OPT_PUBS:
      cfg->pubs = (uint32_t)parse_uint("--pubs", optarg, 1, 10000);
      break;
    case OPT_STALLED:
      cfg->stalled = (uint32_t)parse_uint("--stalled", optarg, 0, 1000000);
      break;
    case OPT_SIZE:
      cfg->size = (size_t)parse_uint("--size", optarg, LG_MSG_HEADER,
                                     MAX_MESSAGE);
      break;
    case OPT_PAYLOAD:
      if (strcmp(optarg, "plain") == 0)
        cfg->payload = PAYLOAD_PLAIN;
      else if (strcmp(optarg, "json") == 0)
        cfg->payload = PAYLOAD_JSON;
      else
        bad_usage("--payload: expected plain or json, got '%s'", optarg);
      break;
    case OPT_DEFLATE:
      if (!lg_deflate_available())
        bad_usage("--deflate: this loadgen was built without zlib");
      cfg->deflate = 1;
      break;
    case OPT_WINDOW:
      cfg->window = (uint32_t)parse_uint("--window", optarg, 1, 1000000);
      break;
    case OPT_ACK:
      if (strcmp(optarg, "all") == 0)
        cfg->ack_echo = 0;
      else if (strcmp(optarg, "echo") == 0)
        cfg->ack_echo = 1;
      else
        bad_usage("--ack: expected all or echo, got '%s'", optarg);
      break;
    case OPT_RATE:
      cfg->rate = parse_secs("--rate", optarg, 0);
      if (cfg->rate <= 0 || cfg->rate > 1e8)
        bad_usage("--rate: expected messages/s from 1 to 1e8, got '%s'",
                  optarg);
      break;
    case OPT_COUNT:
      cfg->count = parse_uint("--count", optarg, 1, UINT64_MAX / 2);
      break;
    case OPT_BATCH:
      cfg->connect_batch = (uint32_t)parse_uint("--connect-batch", optarg,
                                                1, 100000);
      break;
    case OPT_CONNONLY:
      cfg->connect_only = 1;
      break;
    case OPT_PID:
      cfg->server_pid = (long)parse_uint("--server-pid", optarg, 1,
                                         4194304);
      break;
    case OPT_JSON:
      cfg->json = 1;
      break;
    case OPT_STRICT:
      cfg->strict = 1;
      break;
    case OPT_QUIET:
      cfg->quiet = 1;
      break;
    case 'h':
      usage(stdout);
      exit(0);
    case ':':
      bad_usage("option '%s' needs a value", argv[optind - 1]);
    default:
      if (!set_secs(secs, sizeof(secs) / sizeof(secs[0]), opt, optarg))
        bad_usage("unknown option '%s'", argv[optind - 1]);
    }
  }
  if (optind < argc)
    bad_usage("unexpected argument '%s'", argv[optind]);

  if (url) {
    url_path[0] = '\0';
    url_host[0] = '\0';
    parse_url(url, &url_proto, url_host, sizeof(url_host), &url_port,
              url_path, sizeof(url_path));
    if (proto >= 0 && proto != url_proto &&
        !(proto == PROTO_SSE && url_proto == PROTO_WS))
      bad_usage("--proto and --url disagree");
    if (proto != PROTO_SSE)
      proto = url_proto;
    host = url_host;
    if (url_port)
      port = url_port;
    if (url_path[0])
      strcpy(cfg->path, url_path);
  }
  cfg->proto = proto < 0 ? PROTO_WS : proto;
  if (have_path && cfg->proto == PROTO_LINE)
    bad_usage("--path is for WebSocket only");
  if (cfg->deflate && cfg->proto == PROTO_LINE)
    bad_usage("--deflate is for WebSocket only");
  if (cfg->payload == PAYLOAD_JSON && cfg->size < LG_JSON_MIN)
    bad_usage("--payload json needs --size %d or more", LG_JSON_MIN);
  if (!port)
    port = cfg->proto != PROTO_LINE ? 8080 : 9000;
  resolve(cfg, host, port);
  if (cfg->stalled > cfg->subs)
    bad_usage("--stalled %u is more than --subs %u", cfg->stalled,
              cfg->subs);
  if (cfg->rate > 0 && cfg->count)
    bad_usage("--count works in window mode only");
  if (cfg->rate > 0)
    cfg->window = 0; /* no window in rate mode */
  if (cfg->connect_only)
    cfg->pubs = 0; /* idle subscribers only */
  if (cfg->server_pid) {
    proc_sample_t s;
    proc_sample(cfg->server_pid, &s);
    if (!s.have)
      bad_usage("--server-pid %ld: cannot read /proc/%ld/stat and status",
                cfg->server_pid, cfg->server_pid);
  }
}

/* ------------------------------------------------------------------------
 * Main
 * ------------------------------------------------------------------------ */

static void raise_fd_limit(uint64_t need) {
  struct rlimit rl;

  if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
    return;
  if (rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    getrlimit(RLIMIT_NOFILE, &rl);
  }
  if (rl.rlim_cur != RLIM_INFINITY && need > rl.rlim_cur)
    die("%" PRIu64 " connections need more file descriptors than the "
        "limit of %llu (raise the hard limit: ulimit -Hn)",
        need, (unsigned long long)rl.rlim_cur);
}

static void setup(void) {
  config_t *cfg = &G.cfg;
  uint32_t i, r = 0;
  uint64_t seed;
  double deadline;

  if (getrandom(&seed, sizeof(seed), 0) != (ssize_t)sizeof(seed))
    seed = uv_hrtime() ^ ((uint64_t)getpid() << 32);
  G.rng = seed;
  G.rate_fd = -1;

  G.nconns = cfg->subs + cfg->pubs;
  G.npubs = cfg->pubs;
  G.conns = xcalloc(G.nconns, sizeof(conn_t));
  G.pubs = xcalloc(G.npubs, sizeof(pub_t));
  G.dirty = xcalloc(G.nconns, sizeof(conn_t *));
  for (i = 0; i < G.nconns; i++) {
    conn_t *c = &G.conns[i];
    c->id = i;
    c->role = i < cfg->subs ? ROLE_SUB : ROLE_PUB;
    /* Stalled subscribers are spread evenly over the subscribers. */
    if (c->role == ROLE_SUB && cfg->stalled &&
        (uint64_t)(i + 1) * cfg->stalled / cfg->subs !=
            (uint64_t)i * cfg->stalled / cfg->subs)
      c->stalled = 1;
    c->receiver = !c->stalled;
    if (c->receiver)
      c->recv_idx = r++;
    c->sse = cfg->proto == PROTO_SSE && c->role == ROLE_SUB;
    if (conn_ws(c))
      lg_ws_parser_init(&c->u.ws, MAX_MESSAGE);
    else
      lg_line_parser_init(&c->u.line, MAX_MESSAGE);
  }
  G.nreceivers = r;
  G.last = xmalloc((size_t)r * G.npubs * sizeof(int64_t));
  for (i = 0; i < r * G.npubs; i++)
    G.last[i] = -1;
  for (i = 0; i < G.npubs; i++) {
    pub_t *p = &G.pubs[i];
    p->id = i;
    p->conn = &G.conns[cfg->subs + i];
    p->conn->pub = p;
    p->quota = UINT64_MAX;
    if (cfg->count)
      p->quota = cfg->count / G.npubs + (i < cfg->count % G.npubs);
    if (cfg->window) {
      p->pending = xcalloc(cfg->window, sizeof(uint32_t));
      p->sent_at = xcalloc(cfg->window, sizeof(uint64_t));
    }
  }
  G.tmpl = xmalloc(cfg->size);
  lg_msg_fill(G.tmpl, cfg->size, 0, 0, 0);
  if (cfg->deflate) {
    G.zout = xmalloc(lg_deflate_bound(cfg->size));
    if (!(G.memo = lg_inflate_memo_new()))
      die("out of memory");
  }

  if (uv_loop_init(&G.loop) != 0)
    die("cannot create the event loop");
  uv_timer_init(&G.loop, &G.phase_timer);
  uv_timer_init(&G.loop, &G.deadline_timer);
  uv_timer_init(&G.loop, &G.tick_timer);
  uv_timer_init(&G.loop, &G.connect_timer);
  uv_check_init(&G.loop, &G.flush_check);
  uv_check_start(&G.flush_check, on_flush_check);
  uv_signal_init(&G.loop, &G.sigint);
  uv_signal_init(&G.loop, &G.sigterm);
  uv_signal_start_oneshot(&G.sigint, on_signal, SIGINT);
  uv_signal_start_oneshot(&G.sigterm, on_signal, SIGTERM);
  if (cfg->rate > 0) {
    G.rate_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (G.rate_fd < 0)
      die("timerfd_create: %s", strerror(errno));
    uv_poll_init(&G.loop, &G.rate_poll, G.rate_fd);
    uv_poll_start(&G.rate_poll, UV_READABLE, on_rate_tick);
    G.rate_interval_ns = 1e9 / cfg->rate;
  }
  deadline = cfg->connect_timeout + cfg->settle + cfg->warmup +
             cfg->duration + cfg->drain + 10;
  uv_timer_start(&G.deadline_timer, on_deadline, ms_of(deadline), 0);
  uv_timer_start(&G.tick_timer, on_tick, 10, 10);
  uv_timer_start(&G.connect_timer, on_connect_timeout,
                 ms_of(cfg->connect_timeout), 0);
}

static void teardown(void) {
  uint32_t i;
  int r;

  r = uv_loop_close(&G.loop);
  if (r != 0)
    logf_("event loop not empty at exit: %s", uv_strerror(r));
  if (G.rate_fd >= 0)
    close(G.rate_fd);
  for (i = 0; i < G.nconns; i++) {
    free(G.conns[i].out.data);
    free(G.conns[i].wbuf.data);
    free(G.conns[i].zin.data);
    lg_inflate_free(G.conns[i].inflate);
    lg_deflate_free(G.conns[i].deflate);
    if (G.conns[i].hs) {
      free(G.conns[i].hs->buf);
      free(G.conns[i].hs);
    }
  }
  for (i = 0; i < G.npubs; i++) {
    free(G.pubs[i].pending);
    free(G.pubs[i].sent_at);
  }
  free(G.conns);
  free(G.pubs);
  free(G.dirty);
  free(G.last);
  free(G.tmpl);
  free(G.zout);
  lg_inflate_free(G.inflate);
  lg_inflate_memo_free(G.memo);
}

int main(int argc, char **argv) {
  signal(SIGPIPE, SIG_IGN);
  parse_args(argc, argv, &G.cfg);
  raise_fd_limit((uint64_t)G.cfg.subs + G.cfg.pubs + 64);
  setup();
  G.t_start = uv_hrtime();
  proc_sample(G.cfg.server_pid, &G.srv_before);
  G.phase = PH_CONNECT;
  if (G.nconns == 0)
    finish();
  else
    connect_next();
  uv_run(&G.loop, UV_RUN_DEFAULT);
  teardown();
  return G.exit_code;
}
