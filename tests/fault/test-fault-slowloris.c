/* Slowloris against the WebSocket adapter: clients that send their
 * request head one byte per second, and clients that, once upgraded, send
 * a frame one byte per second. With both deadlines set to 2 s (so that the
 * test stays short; the defaults are 10 s and 60 s), each such client is
 * closed at its deadline, never before: 408 for the head, a close frame
 * 1008 for the message. Meanwhile new clients keep connecting, upgrading
 * and chatting, and a client that sends a message slowly but within the
 * deadline has it delivered. */
#include "fault-fixture.h"

#define DEADLINE_MS 2000
#define NLORIS 4 /* of each kind */

typedef struct {
  int i;             /* client index */
  const uint8_t *p;  /* what it trickles */
  size_t len, sent;
  uint64_t start;    /* when it connected / sent its first frame byte */
  uint64_t next;     /* when its next byte is due */
  uint64_t closed;   /* when it saw the server's answer, or 0 */
  unsigned period;   /* ms between bytes */
} loris_t;

/* Send the next byte of every trickling client that is due. */
static void trickle(ff_t *ff, loris_t *l, int n) {
  uint64_t now = ts_now_ms();
  int k;

  for (k = 0; k < n; k++) {
    fc_t *c = &ff->fc[l[k].i];

    if (l[k].closed == 0 && (c->eof || c->close_code != 0 ||
                             (c->http != 0 && c->http != 101)))
      l[k].closed = now;
    if (l[k].closed != 0 || l[k].sent == l[k].len || now < l[k].next)
      continue;
    if (send(c->fd, l[k].p + l[k].sent, 1, MSG_DONTWAIT | MSG_NOSIGNAL) ==
        1) {
      if (l[k].sent == 0 && l[k].start == 0)
        l[k].start = now;
      l[k].sent++;
    }
    l[k].next = now + l[k].period;
  }
}

static int all_closed(const loris_t *l, int n) {
  int k;

  for (k = 0; k < n; k++)
    if (l[k].closed == 0)
      return 0;
  return 1;
}

TEST(slow_heads_and_slow_frames_are_closed_at_their_deadlines) {
  static const char head[] = FS_WS_REQUEST;
  static uint8_t frame[64], quick[64];
  hub_ws_options_t wo;
  loris_t heads[NLORIS], frames[NLORIS], slowok;
  ff_t ff;
  size_t flen, qlen;
  uint64_t next_client = 0, t0;
  int k, i, joined = 0, chatted = 0, failed = 0;
  hub_ws_stats_t st;

  hub_ws_options_init(&wo);
  wo.handshake_timeout_ms = DEADLINE_MS;
  wo.message_timeout_ms = DEADLINE_MS;
  ASSERT_EQ(ff_start(&ff, FF_WS, NULL, NULL, &wo), 0);
  ff.echo = 1;
  flen = ts_ws_frame(frame, 1, 0x1, "twenty bytes, slowly", 20);
  qlen = ts_ws_frame(quick, 1, 0x1, "ok", 2);

  memset(heads, 0, sizeof(heads));
  memset(frames, 0, sizeof(frames));
  memset(&slowok, 0, sizeof(slowok));
  /* The heads: connected now, their deadline counts from the accept. */
  for (k = 0; k < NLORIS; k++) {
    heads[k].i = fc_open(&ff, 0);
    ASSERT(heads[k].i >= 0);
    heads[k].p = (const uint8_t *)head;
    heads[k].len = sizeof(head) - 1;
    heads[k].period = 1000;
    heads[k].start = ts_now_ms();
  }
  /* The frames: upgraded first. */
  for (k = 0; k < NLORIS; k++) {
    frames[k].i = fc_join(&ff, 0);
    ASSERT(frames[k].i >= 0);
    frames[k].p = frame;
    frames[k].len = flen;
    frames[k].period = 1000;
  }
  /* One that sends a short message slowly, but within the deadline. */
  slowok.i = fc_join(&ff, 0);
  ASSERT(slowok.i >= 0);
  slowok.p = quick;
  slowok.len = qlen;
  slowok.period = DEADLINE_MS / 2 / (unsigned)qlen;

  t0 = ts_now_ms();
  while (!(all_closed(heads, NLORIS) && all_closed(frames, NLORIS) &&
           slowok.sent == slowok.len) &&
         ts_now_ms() < t0 + 30000) {
    trickle(&ff, heads, NLORIS);
    trickle(&ff, frames, NLORIS);
    trickle(&ff, &slowok, 1);
    /* A new client every 200 ms: upgraded, chats, leaves. */
    if (ts_now_ms() >= next_client) {
      next_client = ts_now_ms() + 200;
      i = fc_join_ms(&ff, 0, 5000);
      if (i < 0) {
        failed++;
      } else {
        uint64_t before = ff.fc[i].msgs;

        joined++;
        if (fc_send_msg(&ff, i, "hello", 5) == 0) {
          FF_UNTIL_MS(&ff, ff.fc[i].msgs > before, 5000);
          if (ff.fc[i].msgs > before)
            chatted++;
          else
            failed++;
        }
        fc_close(&ff, i);
      }
    }
    ff_step(&ff);
  }

  for (k = 0; k < NLORIS; k++) {
    fc_t *h = &ff.fc[heads[k].i], *f = &ff.fc[frames[k].i];

    printf("# head %d: 408 after %llu ms, %zu of %zu bytes sent\n", k,
           (unsigned long long)(heads[k].closed - heads[k].start),
           heads[k].sent, heads[k].len);
    printf("# frame %d: 1008 after %llu ms, %zu of %zu bytes sent\n", k,
           (unsigned long long)(frames[k].closed - frames[k].start),
           frames[k].sent, frames[k].len);
    ASSERT_EQ(h->http, 408);
    ASSERT(heads[k].sent < heads[k].len);
    /* Never early (less a little for the loop's cached clock). */
    ASSERT(heads[k].closed - heads[k].start >= DEADLINE_MS - 20);
    ASSERT_EQ(f->close_code, 1008);
    ASSERT(frames[k].sent < frames[k].len);
    ASSERT(frames[k].closed - frames[k].start >= DEADLINE_MS - 20);
  }
  /* The patient sender got its message through, and its echo. */
  FF_UNTIL(&ff, ff.fc[slowok.i].msgs >= 1);
  ASSERT(ff.fc[slowok.i].msgs >= 1);
  ASSERT_EQ(ff.fc[slowok.i].close_code, 0);
  printf("# %d new clients meanwhile: %d chatted, %d failed\n", joined,
         chatted, failed);
  ASSERT(joined >= 5);
  ASSERT_EQ(failed, 0);
  ASSERT_EQ(chatted, joined);
  hub_ws_server_get_stats(ff.ws, &st);
  ASSERT_EQ(st.timeouts, 2 * NLORIS);
  ASSERT_EQ(ff_stop(&ff), 0);
}

int main(int argc, char **argv) {
  return RUN_TESTS(argc, argv);
}
