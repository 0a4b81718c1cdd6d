/* permessage-deflate in the adapter, over real sockets on 127.0.0.1:
 * what the 101 answers, frames compressed once per message for every
 * client that negotiated it (and plain ones for the others on the same
 * server), what stays uncompressed, compressed messages from a client, the
 * RSV rules. Clients are plain sockets speaking bytes; zlib stands in for
 * a client's (de)compressor. */
#include <zlib.h>

#include "ws-fixture.h"

/* The hub's allocator, counting its malloc and realloc calls. */
static count_alloc hub_ca;

#define OFFER "Sec-WebSocket-Extensions: permessage-deflate; " \
              "client_max_window_bits\r\n"
#define ANSWER "\r\nSec-WebSocket-Extensions: permessage-deflate; " \
               "server_no_context_takeover; client_no_context_takeover\r\n"


static int start(fx_t *fx, int deflate) {
  hub_options_t ho;
  hub_ws_options_t wo;

  hub_options_init(&ho);
  count_alloc_init(&hub_ca);
  ho.allocator = &hub_ca.a;
  hub_ws_options_init(&wo);
  wo.deflate = deflate;
  return fx_start(fx, &ho, &wo);
}

/* Inflate a message's payload as a client does (RFC 7692 §7.2.2) into
 * out[cap]; returns its length, or (size_t)-1. */
static size_t inflate_msg(const uint8_t *p, size_t n, uint8_t *out,
                          size_t cap) {
  static const uint8_t tail[4] = {0, 0, 0xff, 0xff};
  z_stream z;
  size_t len;
  int r;

  memset(&z, 0, sizeof(z));
  if (inflateInit2(&z, -15) != Z_OK)
    return (size_t)-1;
  z.next_out = out;
  z.avail_out = (uInt)cap;
  z.next_in = (Bytef *)(uintptr_t)p;
  z.avail_in = (uInt)n;
  r = inflate(&z, Z_SYNC_FLUSH);
  if (r == Z_OK || r == Z_BUF_ERROR) {
    z.next_in = (Bytef *)(uintptr_t)tail;
    z.avail_in = 4;
    r = inflate(&z, Z_SYNC_FLUSH);
  }
  len = cap - z.avail_out;
  inflateEnd(&z);
  return r == Z_OK || r == Z_BUF_ERROR || r == Z_STREAM_END ? len
                                                             : (size_t)-1;
}

/* A client's compressed frame of `len` bytes at `msg` (RSV1, masked). */
static int send_deflated(fx_t *fx, int i, unsigned op, const void *msg,
                         size_t len) {
  static uint8_t z[1 << 16], frame[(1 << 16) + 14];
  z_stream zs;
  size_t n;

  memset(&zs, 0, sizeof(zs));
  if (deflateInit2(&zs, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    return -1;
  zs.next_in = (Bytef *)(uintptr_t)msg;
  zs.avail_in = (uInt)len;
  zs.next_out = z;
  zs.avail_out = sizeof(z);
  (void)deflate(&zs, Z_SYNC_FLUSH);
  n = sizeof(z) - zs.avail_out - 4;
  deflateEnd(&zs);
  n = ts_ws_frame(frame, 1, op, z, n);
  frame[0] |= 0x40;
  return tc_send(fx, i, frame, n);
}

/* JSON-like text that compresses well. */
static size_t json(char *buf, size_t len) {
  size_t n = 0;
  int k = 0;

  while (n + 80 < len)
    n += (size_t)snprintf(buf + n, len - n,
                          "{\"user\":\"user-%d\",\"text\":\"hello again\"},",
                          k++ % 7);
  return n;
}

static int has_answer(const tc_t *t) {
  size_t head = tc_head_len(t);
  char save;
  int found;

  if (head == 0)
    return 0;
  save = t->in[head - 1];
  t->in[head - 1] = '\0';
  found = strstr(t->in, ANSWER) != NULL;
  t->in[head - 1] = save;
  return found;
}

TEST(each_message_is_compressed_once_for_all_its_clients) {
  static char text[2000];
  static uint8_t out[4096], noise[2000];
  size_t len = json(text, sizeof(text)), before, i2;
  uint32_t x;
  hub_ws_stats_t st;
  tc_frame_t f;
  fx_t fx;
  int i, nd = 12, np = 4;

  ASSERT_EQ(start(&fx, 1), 0);
  fx.echo = 0;
  fx.client_headers = OFFER;
  for (i = 0; i < nd; i++) {
    ASSERT_EQ(fx_ws_client(&fx, 0), i);
    ASSERT(has_answer(&fx.tc[i]));
    ASSERT(hub_ws_client_deflate(fx.clients[i]));
  }
  fx.client_headers = NULL; /* these offer nothing */
  for (i = nd; i < nd + np; i++) {
    ASSERT_EQ(fx_ws_client(&fx, 0), i);
    ASSERT(!has_answer(&fx.tc[i]));
    ASSERT(!hub_ws_client_deflate(fx.clients[i]));
  }
  /* Warm the queues up, then count: the message and its compressed
   * frame, whatever the number of clients. */
  ASSERT_EQ(hub_broadcast(fx.hub, text, len, 0), nd + np);
  for (i = 0; i < nd + np; i++)
    ASSERT(fx_next_frame(&fx, i, &f));
  before = (size_t)hub_ca.calls;
  ASSERT_EQ(hub_broadcast(fx.hub, text, len, 0), nd + np);
  for (i = 0; i < nd + np; i++) {
    ASSERT(fx_next_frame(&fx, i, &f));
    ASSERT_EQ(f.op, 0x1);
    if (i < nd) {
      ASSERT_EQ(f.rsv, 4);
      ASSERT(f.len < len / 4);
      ASSERT_EQ(inflate_msg(f.data, f.len, out, sizeof(out)), len);
      ASSERT(memcmp(out, text, len) == 0);
    } else {
      ASSERT_EQ(f.rsv, 0);
      ASSERT(f.len == len && memcmp(f.data, text, len) == 0);
    }
  }
  ASSERT_EQ((size_t)hub_ca.calls - before, 2);
  st = fx_ws_stats(&fx);
  ASSERT_EQ(st.deflate_connections, (uint64_t)nd);
  ASSERT_EQ(st.deflated, 2);
  ASSERT_EQ(st.deflate_in, 2 * (uint64_t)len);
  ASSERT(st.deflate_out < st.deflate_in / 4);

  /* Below the threshold, and what does not shrink: plain for all. */
  for (i2 = 0, x = 2463534242u; i2 < sizeof(noise); i2++) {
    x ^= x << 13, x ^= x >> 17, x ^= x << 5; /* xorshift32 */
    noise[i2] = (uint8_t)x;
  }
  ASSERT_EQ(hub_broadcast(fx.hub, "short", 5, 0), nd + np);
  ASSERT_EQ(hub_broadcast(fx.hub, noise, sizeof(noise), HUB_MSG_BINARY),
            nd + np);
  for (i = 0; i < nd + np; i++) {
    ASSERT(fx_next_frame(&fx, i, &f) && f.rsv == 0 && f.len == 5);
    ASSERT(fx_next_frame(&fx, i, &f) && f.rsv == 0 && f.op == 0x2 &&
           f.len == sizeof(noise));
  }
  ASSERT_EQ(fx_ws_stats(&fx).deflated, 2);
  ASSERT_EQ(fx_stop(&fx), 0);
}

TEST(compressed_messages_from_clients_are_inflated) {
  static char text[3000];
  static uint8_t out[4096];
  size_t len = json(text, sizeof(text));
  tc_frame_t f;
  fx_t fx;
  int a, b;

  ASSERT_EQ(start(&fx, 1), 0);
  fx.client_headers = OFFER;
  a = fx_ws_client(&fx, 0);
  fx.client_headers = NULL;
  b = fx_ws_client(&fx, 0);
  ASSERT(a == 0 && b == 1);
  /* The fixture broadcasts what it gets: b reads it plain, a
   * compressed again by the server. */
  ASSERT_EQ(send_deflated(&fx, a, 0x1, text, len), 0);
  ASSERT(fx_next_frame(&fx, b, &f) && f.rsv == 0 && f.len == len &&
         memcmp(f.data, text, len) == 0);
  ASSERT(fx_next_frame(&fx, a, &f) && f.rsv == 4);
  ASSERT_EQ(inflate_msg(f.data, f.len, out, sizeof(out)), len);
  ASSERT_EQ(fx_ws_stats(&fx).inflated, 1);
  /* Binary too, and a short compressed message echoed plain. */
  ASSERT_EQ(send_deflated(&fx, a, 0x2, "\x00\x01\x02", 3), 0);
  ASSERT(fx_next_frame(&fx, b, &f) && f.op == 0x2 && f.len == 3 &&
         memcmp(f.data, "\x00\x01\x02", 3) == 0);
  ASSERT(fx_next_frame(&fx, a, &f) && f.rsv == 0 && f.len == 3);
  /* RSV1 from the client without deflate: 1002. */
  ASSERT_EQ(send_deflated(&fx, b, 0x1, "hi", 2), 0);
  UNTIL(&fx, fx.closed[b]);
  ASSERT_EQ(fx.close_code[b], 1002);
  /* Not deflate data: 1007. */
  {
    uint8_t raw[16];
    size_t n = ts_ws_frame(raw, 1, 0x2, "\xff\xff\xff", 3);

    raw[0] |= 0x40;
    ASSERT_EQ(tc_send(&fx, a, raw, n), 0);
    UNTIL(&fx, fx.closed[a]);
    ASSERT_EQ(fx.close_code[a], 1007);
  }
  ASSERT_EQ(fx_stop(&fx), 0);
}

#define WO(field, value) TS_FIELD(hub_ws_options_t, field, value)

/* Without the option nothing is negotiated, and RSV1 stays an error. */
TEST(off_by_default) {
  hub_ws_options_t wo;
  fx_t fx;
  int a;

  hub_ws_options_init(&wo);
  ASSERT_FIELDS(hub_ws_options_t, &wo, WO(deflate, 0),
                WO(deflate_threshold, 128), WO(deflate_level, 6),
                WO(deflate_window_bits, 15));
  ASSERT_EQ(start(&fx, 0), 0);
  fx.client_headers = OFFER;
  a = fx_ws_client(&fx, 0);
  ASSERT(a == 0 && !has_answer(&fx.tc[a]));
  ASSERT_EQ(send_deflated(&fx, a, 0x1, "hi", 2), 0);
  UNTIL(&fx, fx.closed[a]);
  ASSERT_EQ(fx.close_code[a], 1002);
  ASSERT_EQ(fx_stop(&fx), 0);
}

TEST(out_of_range_settings_are_refused) {
  static const struct {
    int level, window_bits, status;
  } cases[] = {
      {10, 15, UV_EINVAL}, {0, 15, UV_EINVAL}, {1, 8, UV_EINVAL},
      {1, 16, UV_EINVAL},  {1, 9, 0},
  };
  hub_ws_options_t wo;
  hub_ws_server_t *s = NULL;
  fx_t fx;
  size_t i;

  ASSERT_EQ(fx_start(&fx, NULL, NULL), 0);
  for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    hub_ws_options_init(&wo);
    wo.deflate = 1;
    wo.deflate_level = cases[i].level;
    wo.deflate_window_bits = cases[i].window_bits;
    ASSERT_EQ(hub_ws_server_new(&s, fx.hub, &wo), cases[i].status);
  }
  ASSERT_EQ(hub_ws_server_close(s, NULL), 0);
  ASSERT_EQ(fx_stop(&fx), 0);
}

int main(int argc, char **argv) {
  return RUN_TESTS(argc, argv);
}
