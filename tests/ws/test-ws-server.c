/* The WebSocket adapter over real sockets on 127.0.0.1: the handshake
 * and HTTP answers, messages both ways, control frames, close handshakes,
 * timeouts and the heartbeat, protocol errors, and what a connection
 * holds in memory. Clients are plain sockets speaking bytes, so every
 * detail of the wire is checked. */
#include "ws-fixture.h"

/* The hub's allocator, counting its malloc and realloc calls. */
static count_alloc hub_ca;

static hub_ws_options_t ws_opts(void) {
  hub_ws_options_t o;

  hub_ws_options_init(&o);
  return o;
}

/* Wait until client i sees the end of the stream: the server closed. */
static int wait_eof(fx_t *fx, int i) {
  UNTIL(fx, fx->tc[i].eof != 0);
  return fx->tc[i].eof;
}

/* After the server's close frame: client i waits for the server's FIN,
 * closes its socket too, and the loop runs until the server has seen the
 * connection end. Returns wait_eof()'s result. */
static int close_after_server(fx_t *fx, int i) {
  int eof = wait_eof(fx, i);

  tc_close(&fx->tc[i]);
  UNTIL(fx, fx->nclosed == 1);
  return eof;
}

/* The close frame client i receives next: its code (1005 without one),
 * or -1 if the next frame is not a close frame. */
static int next_close_code(fx_t *fx, int i) {
  tc_frame_t f;

  while (fx_next_frame(fx, i, &f)) {
    if (f.op == 0x8)
      return f.len >= 2 ? (f.data[0] << 8 | f.data[1]) : 1005;
    if (f.op != 0x1 && f.op != 0x2 && f.op != 0x9 && f.op != 0xA)
      return -1;
  }
  return -1;
}

/* A server on default options and two WebSocket clients, a (0) and b
 * (1), upgraded. 0, or -1. */
static int two_clients(fx_t *fx, int *a, int *b) {
  if (fx_start(fx, NULL, NULL) != 0)
    return -1;
  *a = fx_ws_client(fx, 0);
  *b = fx_ws_client(fx, 0);
  return *a == 0 && *b == 1 ? 0 : -1;
}

TEST(upgrade_and_echo_text_and_binary_keep_their_type) {
  fx_t fx;
  tc_frame_t f;
  int a, b;

  ASSERT_EQ(two_clients(&fx, &a, &b), 0);
  ASSERT(strstr(fx.tc[a].in, "\r\nSec-WebSocket-Accept: "
                             "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n") != NULL);
  ASSERT_EQ(tc_send_frame(&fx, a, 1, 0x1, "hello", 5), 0);
  ASSERT_EQ(tc_send_frame(&fx, b, 1, 0x2, "\x00\xff", 2), 0);
  /* Every client, the sender included, gets both, with their types. */
  ASSERT(fx_next_frame(&fx, a, &f) && f.fin && f.op == 0x1 && f.len == 5 &&
         memcmp(f.data, "hello", 5) == 0);
  ASSERT(fx_next_frame(&fx, a, &f) && f.op == 0x2 && f.len == 2 &&
         memcmp(f.data, "\x00\xff", 2) == 0);
  ASSERT(fx_next_frame(&fx, b, &f) && f.op == 0x1 && f.len == 5);
  ASSERT(fx_next_frame(&fx, b, &f) && f.op == 0x2 && f.len == 2);
  ASSERT_EQ(fx.messages, 2);
  ASSERT_EQ(fx_stop(&fx), 0);
}

TEST(a_first_frame_in_the_request_packet_is_not_lost) {
  uint8_t frame[64];
  fx_t fx;
  tc_frame_t f;
  size_t n;
  int a;

  ASSERT_EQ(fx_start(&fx, NULL, NULL), 0);
  n = ts_ws_frame(frame, 1, 0x1, "early bird", 10);
  n += ts_ws_frame(frame + n, 1, 0x9, "p", 1);
  a = fx_ws_client_with(&fx, 0, frame, n);
  ASSERT_EQ(a, 0);
  /* The 101 comes first, then the pong and the echoed message. */
  ASSERT(fx_next_frame(&fx, a, &f));
  ASSERT(f.op == 0x1 && f.len == 10 && memcmp(f.data, "early bird", 10) == 0);
  ASSERT(fx_next_frame(&fx, a, &f) && f.op == 0xA && f.len == 1);
  ASSERT_EQ(fx_stop(&fx), 0);
}

/* A message sent just before the connection is reset (an abortive
 * close: the frame and the reset are both in the server's socket when it
 * next looks) is delivered, not lost with the connection. */
TEST(a_message_sent_just_before_a_reset_is_delivered) {
  fx_t fx;
  tc_frame_t f;
  int a, b;

  ASSERT_EQ(two_clients(&fx, &a, &b), 0);
  ASSERT_EQ(tc_send_frame(&fx, a, 1, 0x1, "last words", 10), 0);
  ts_client_reset(&fx.tc[a]);
  ts_sleep_ms(50);
  ASSERT(fx_next_frame(&fx, b, &f) && f.op == 0x1 && f.len == 10 &&
         memcmp(f.data, "last words", 10) == 0);
  ASSERT_EQ(fx.messages, 1);
  UNTIL(&fx, fx.closed[a]);
  ASSERT_EQ(fx.closed[b], 0);
  ASSERT_EQ(fx_stop(&fx), 0);
}

TEST(frames_are_the_same_bytes_for_every_client) {
  static char big[70000];
  fx_t fx;
  tc_frame_t f;
  int i, n = 20;
  size_t j;

  memset(big, 'q', sizeof(big));
  ASSERT_EQ(fx_start(&fx, NULL, NULL), 0);
  for (i = 0; i < n; i++)
    ASSERT_EQ(fx_ws_client(&fx, 0), i);
  ASSERT_EQ(hub_broadcast(fx.hub, big, 100, 0), n);
  ASSERT_EQ(hub_broadcast(fx.hub, big, 300, HUB_MSG_BINARY), n);
  ASSERT_EQ(hub_broadcast(fx.hub, big, sizeof(big), 0), n);
  for (i = 0; i < n; i++) {
    ASSERT(fx_next_frame(&fx, i, &f) && f.op == 0x1 && f.len == 100);
    ASSERT(fx_next_frame(&fx, i, &f) && f.op == 0x2 && f.len == 300);
    ASSERT(fx_next_frame(&fx, i, &f) && f.op == 0x1 && f.len == sizeof(big));
    /* The whole stream after the handshake is identical. */
    ASSERT_EQ(fx.tc[i].len - tc_head_len(&fx.tc[i]),
              fx.tc[0].len - tc_head_len(&fx.tc[0]));
    j = fx.tc[i].len - tc_head_len(&fx.tc[i]);
    ASSERT(memcmp(fx.tc[i].in + tc_head_len(&fx.tc[i]),
                  fx.tc[0].in + tc_head_len(&fx.tc[0]), j) == 0);
  }
  ASSERT_EQ(fx_stop(&fx), 0);
}

/* A text message that is not UTF-8, from whatever sender, would make
 * every WebSocket client fail with 1007: the transport refuses it, the
 * hub counts it as refused for each client, and the clients stay. The
 * same bytes as binary go through. */
TEST(text_that_is_not_utf8_is_refused_for_websocket_clients) {
  static const char *const bad[] = {"\xc3\x28 is not UTF-8",
                                    "cut at the end \xe2\x82",
                                    "\xed\xa0\x80 a surrogate"};
  hub_msg_t *msg;
  fx_t fx;
  tc_frame_t f;
  size_t k;
  int i, n = 3;

  ASSERT_EQ(fx_start(&fx, NULL, NULL), 0);
  for (i = 0; i < n; i++)
    ASSERT_EQ(fx_ws_client(&fx, 0), i);
  for (k = 0; k < 3; k++) {
    ASSERT_EQ(hub_broadcast(fx.hub, bad[k], strlen(bad[k]), 0), 0);
    ASSERT_EQ(client_send(fx.clients[0], bad[k], strlen(bad[k]), 0),
              UV_EILSEQ);
  }
  ASSERT_EQ(fx.dropped[HUB_DROP_REFUSED], 3 * n + 3);
  ASSERT_EQ(hub_msg_new(fx.hub, bad[0], strlen(bad[0]), 0, &msg), 0);
  ASSERT_EQ(hub_broadcast_msg(fx.hub, NULL, msg), 0);
  hub_msg_unref(msg);
  ASSERT_EQ(hub_broadcast(fx.hub, bad[0], strlen(bad[0]), HUB_MSG_BINARY), n);
  ASSERT_EQ(hub_broadcast(fx.hub, "still here", 10, 0), n);
  for (i = 0; i < n; i++) {
    ASSERT(fx_next_frame(&fx, i, &f) && f.op == 0x2 &&
           f.len == strlen(bad[0]) && memcmp(f.data, bad[0], f.len) == 0);
    ASSERT(fx_next_frame(&fx, i, &f) && f.op == 0x1 && f.len == 10 &&
           memcmp(f.data, "still here", 10) == 0);
    ASSERT(!fx.closed[i] && fx.tc[i].eof == 0);
  }
  ASSERT_EQ(fx_ws_stats(&fx).protocol_errors, 0);
  ASSERT_EQ(fx_stop(&fx), 0);
}

/* ------------------------------------------------------------------------
 * HTTP
 * ------------------------------------------------------------------------ */

/* Send `req` on a new connection; wait for the response and the close
 * (only for the head of a 101: the connection then stays open). */
static int http_status(fx_t *fx, const char *req, int *eof) {
  int i = tc_open(fx, 0);

  if (i < 0 || tc_send_str(fx, i, req) != 0)
    return -1;
  UNTIL(fx, fx->tc[i].eof != 0 || tc_status(&fx->tc[i]) == 101);
  *eof = fx->tc[i].eof;
  return tc_status(&fx->tc[i]);
}

/* A request on its own connection, the status it must get, and a piece
 * of the response it must contain (NULL: any). Anything but a 101 must
 * also close the connection. */
typedef struct {
  const char *req;
  int status;
  const char *in;
} http_case;

/* 0 when every case got its answer, else the number of the first that
 * did not. */
static int http_answers(fx_t *fx, const http_case *cases, size_t n) {
  size_t i;
  int eof, st;

  for (i = 0; i < n; i++) {
    st = http_status(fx, cases[i].req, &eof);
    if (st != cases[i].status || (st != 101 && eof != 1) ||
        (cases[i].in != NULL &&
         strstr(fx->tc[fx->ntc - 1].in, cases[i].in) == NULL)) {
      fprintf(stderr, "case %zu: status %d, eof %d\n", i + 1, st, eof);
      return (int)i + 1;
    }
  }
  return 0;
}

/* The headers of an upgrade after the request line and Host, but for the
 * version. */
#define UPGRADE_HEADERS                                                      \
  "Upgrade: websocket\r\nConnection: Upgrade\r\n"                            \
  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"

TEST(http_answers_and_refusals) {
  static const http_case refusals[] = {
    /* Not an upgrade and not served: 426 with the version we speak. */
    {"GET /ws HTTP/1.1\r\nHost: x\r\n\r\n", 426,
     "\r\nSec-WebSocket-Version: 13\r\n"},
    {FX_REQUEST("/ws", "Origin: https://evil.example\r\n"), 403, NULL},
    {FX_REQUEST("/ws", "Origin: https://good.example\r\n"), 101, NULL},
    {"GET /ws HTTP/1.1\r\nHost: x\r\n" UPGRADE_HEADERS
     "Sec-WebSocket-Version: 8\r\n\r\n", 426, NULL},
    {"POST /ws HTTP/1.1\r\nHost: x\r\n" UPGRADE_HEADERS
     "Sec-WebSocket-Version: 13\r\n\r\n", 405, NULL},
    {"\x16\x03\x01 not http\r\n\r\n", 400, NULL},
  };
  hub_ws_options_t o = ws_opts();
  const char *allowed[] = {"https://good.example"};
  fx_t fx;
  int eof, i, logs;

  o.origins = allowed;
  o.n_origins = 1;
  ASSERT_EQ(fx_start(&fx, NULL, &o), 0);
  fx.request_action = -1;
  ASSERT_EQ(http_status(&fx, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", &eof), 200);
  ASSERT_EQ(eof, 1); /* closed cleanly after the response */
  i = fx.ntc - 1;
  ASSERT(strstr(fx.tc[i].in, "\r\nX-Test: 1\r\n") != NULL);
  ASSERT(strstr(fx.tc[i].in, "\r\nContent-Length: 11\r\n") != NULL);
  ASSERT_EQ(fx.tc[i].len, tc_head_len(&fx.tc[i]) + 11);
  ASSERT(memcmp(fx.tc[i].in + tc_head_len(&fx.tc[i]), "<p>page</p>", 11) == 0);
  /* HEAD gets the head only. */
  ASSERT_EQ(http_status(&fx, "HEAD / HTTP/1.1\r\nHost: x\r\n\r\n", &eof), 200);
  i = fx.ntc - 1;
  ASSERT_EQ(fx.tc[i].len, tc_head_len(&fx.tc[i]));
  ASSERT_EQ(http_answers(&fx, refusals, sizeof(refusals) / sizeof(*refusals)),
            0);
  /* The hook refuses: its status, and no log line, which would say it a
   * second time if the application logs it, and without its reason. */
  fx.request_action = 404;
  logs = fx.nlogs;
  ASSERT_EQ(http_status(&fx, FX_REQUEST("/elsewhere", ""), &eof), 404);
  ASSERT_EQ(fx.nlogs, logs);
  /* A hook that returns no HTTP status is a bug worth a line. */
  fx.request_action = 99;
  ASSERT_EQ(http_status(&fx, FX_REQUEST("/elsewhere", ""), &eof), 500);
  ASSERT_EQ(fx.nlogs, logs + 1);
  ASSERT(strstr(fx.last_log, "refused with 500: on_request returned no HTTP "
                             "status") != NULL);
  ASSERT(fx.requests >= 8);
  ASSERT_EQ(fx_ws_stats(&fx).handshakes, 0);
  ASSERT_EQ(fx_stop(&fx), 0);
}

/* What http-parser would let through, refused before the hook sees it:
 * none of these may ever be upgraded. */
TEST(lenient_requests_are_refused_before_the_hook) {
  static const http_case lenient[] = {
    /* A folded key whose first line is empty. */
    {"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
     "Connection: Upgrade\r\nSec-WebSocket-Key:\r\n "
     "dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", 400,
     NULL},
    {"GET /ws HTTP/2.0\r\nHost: x\r\n" UPGRADE_HEADERS
     "Sec-WebSocket-Version: 13\r\n\r\n", 505,
     " 505 HTTP Version Not Supported\r\n"},
    {"GET http://evil.example/ws HTTP/1.1\r\nHost: x\r\n" UPGRADE_HEADERS
     "Sec-WebSocket-Version: 13\r\n\r\n", 400, NULL},
    {"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:evil\r\n" UPGRADE_HEADERS
     "Sec-WebSocket-Version: 13\r\n\r\n", 400, NULL},
  };
  fx_t fx;
  int eof;

  ASSERT_EQ(fx_start(&fx, NULL, NULL), 0);
  ASSERT_EQ(http_answers(&fx, lenient, sizeof(lenient) / sizeof(*lenient)), 0);
  /* The same requests, done right, are upgraded. */
  ASSERT_EQ(http_status(&fx, FX_REQUEST("/ws", ""), &eof), 101);
  ASSERT_EQ(fx.requests, 1);
  ASSERT_EQ(fx_ws_stats(&fx).refused, 4);
  ASSERT_EQ(fx_ws_stats(&fx).upgraded, 1);
  ASSERT_EQ(fx_stop(&fx), 0);
}

TEST(the_hook_decides_by_header) {
  static const http_case cases[] = {
    {FX_REQUEST("/ws", ""), 401, NULL},
    {FX_REQUEST("/ws", "Authorization: Bearer no\r\n"), 401, NULL},
    {FX_REQUEST("/ws", "AUTHORIZATION:  Bearer let-me-in \r\n"), 101, NULL},
  };
  fx_t fx;

  ASSERT_EQ(fx_start(&fx, NULL, NULL), 0);
  fx.request_action = -2;
  ASSERT_EQ(http_answers(&fx, cases, sizeof(cases) / sizeof(*cases)), 0);
  ASSERT_EQ(fx_stop(&fx), 0);
}

/* The local port of client socket i. */
static int tc_port(fx_t *fx, int i) {
  struct sockaddr_in a;
  socklen_t len = sizeof(a);

  if (getsockname(fx->tc[i].fd, (struct sockaddr *)&a, &len) != 0)
    return -1;
  return ntohs(a.sin_port);
}

/* on_connect comes straight after the on_request of its own connection,
 * whatever order requests complete in, several in one read of the loop
 * included: what the hook read from a request (a room, a user) can be
 * handed over to on_connect. */
TEST(on_connect_follows_the_request_of_its_own_connection) {
  static const char *const targets[] = {"/ws?room=a", "/ws?room=b",
                                        "/ws?room=c", "/ws?room=d"};
  static const int order[] = {2, 0, 3, 1};
  enum { N = 4, CUT = 20 };
  struct sockaddr_in peer;
  char req[256];
  fx_t fx;
  int i, k, len, found;

  ASSERT_EQ(fx_start(&fx, NULL, NULL), 0);
  /* Every connection sends the start of its request... */
  for (i = 0; i < N; i++) {
    ASSERT_EQ(tc_open(&fx, 0), i);
    snprintf(req, sizeof(req), FX_REQUEST("%s", ""), targets[i]);
    ASSERT_EQ(tc_send(&fx, i, req, CUT), 0);
  }
  UNTIL(&fx, fx_ws_stats(&fx).handshakes == N);
  ASSERT_EQ(fx_ws_stats(&fx).handshakes, N);
  /* ... then the rest, in another order, with no loop step in between:
   * the requests complete in the same turn of the loop. */
  for (k = 0; k < N; k++) {
    i = order[k];
    snprintf(req, sizeof(req), FX_REQUEST("%s", ""), targets[i]);
    ASSERT_EQ(tc_send_str(&fx, i, req + CUT), 0);
  }
  UNTIL(&fx, fx.nclients == N);
  ASSERT_EQ(fx.nclients, N);
  for (k = 0; k < N; k++) {
    len = sizeof(peer);
    ASSERT_EQ(hub_ws_client_getpeername(fx.clients[k],
                                        (struct sockaddr *)&peer, &len), 0);
    found = 0;
    for (i = 0; i < N; i++) {
      if (tc_port(&fx, i) != ntohs(peer.sin_port))
        continue;
      ASSERT_STR_EQ(fx.connect_target[k], targets[i]);
      found = 1;
    }
    ASSERT(found);
  }
  ASSERT_EQ(fx_stop(&fx), 0);
}

TEST(a_head_over_the_limit_gets_431) {
  hub_ws_options_t o = ws_opts();
  char req[3000];
  fx_t fx;
  int eof;

  o.max_header_bytes = 1024;
  ASSERT_EQ(fx_start(&fx, NULL, &o), 0);
  snprintf(req, sizeof(req), "GET / HTTP/1.1\r\nX-Big: %01100d\r\n\r\n", 0);
  ASSERT_EQ(http_status(&fx, req, &eof), 431);
  ASSERT_EQ(fx_stop(&fx), 0);
}

TEST(a_slow_request_times_out_with_408) {
  hub_ws_options_t o = ws_opts();
  fx_t fx;
  int i;

  o.handshake_timeout_ms = 150;
  ASSERT_EQ(fx_start(&fx, NULL, &o), 0);
  i = tc_open(&fx, 0);
  ASSERT_EQ(tc_send_str(&fx, i, "GET /ws HTTP/1.1\r\nHost: slow"), 0);
  ASSERT_EQ(wait_eof(&fx, i), 1);
  ASSERT_EQ(tc_status(&fx.tc[i]), 408);
  /* A connection that never sends anything is closed too. */
  i = tc_open(&fx, 0);
  ASSERT_EQ(wait_eof(&fx, i), 1);
  ASSERT_EQ(fx_ws_stats(&fx).timeouts, 2);
  ASSERT_EQ(fx_stop(&fx), 0);
}

/* ------------------------------------------------------------------------
 * Control frames and closing
 * ------------------------------------------------------------------------ */

TEST(pings_get_one_pong_with_the_latest_payload) {
  uint8_t burst[256];
  fx_t fx;
  tc_frame_t f;
  size_t n = 0;
  int a;

  ASSERT_EQ(fx_start(&fx, NULL, NULL), 0);
  a = fx_ws_client(&fx, 0);
  ASSERT_EQ(tc_send_frame(&fx, a, 1, 0x9, "one", 3), 0);
  ASSERT(fx_next_frame(&fx, a, &f) && f.op == 0xA && f.len == 3 &&
         memcmp(f.data, "one", 3) == 0);
  /* A burst in one write is answered once (RFC 6455 §5.5.3). */
  n += ts_ws_frame(burst + n, 1, 0x9, "a", 1);
  n += ts_ws_frame(burst + n, 1, 0x9, "b", 1);
  n += ts_ws_frame(burst + n, 1, 0x9, "last", 4);
  n += ts_ws_frame(burst + n, 1, 0x1, "msg", 3);
  ASSERT_EQ(tc_send(&fx, a, burst, n), 0);
  ASSERT(fx_next_frame(&fx, a, &f) && f.op == 0x1 && f.len == 3);
  ASSERT(fx_next_frame(&fx, a, &f) && f.op == 0xA && f.len == 4 &&
         memcmp(f.data, "last", 4) == 0);
  fx_wait(&fx, 50);
  ASSERT_EQ(tc_frame(&fx.tc[a], &f), 0);
  ASSERT_EQ(fx_stop(&fx), 0);
}

TEST(a_client_close_is_echoed_and_the_server_closes_tcp_first) {
  fx_t fx;
  int a;

  ASSERT_EQ(fx_start(&fx, NULL, NULL), 0);
  a = fx_ws_client(&fx, 0);
  ASSERT_EQ(tc_send_frame(&fx, a, 1, 0x8, "\x0f\xa0" "bye", 5), 0);
  ASSERT_EQ(next_close_code(&fx, a), 4000);
  /* The server's FIN arrives while the client has not closed at all. */
  ASSERT_EQ(close_after_server(&fx, a), 1);
  ASSERT_EQ(fx.status[0], 0);
  ASSERT_EQ(fx.close_code[0], 4000);
  ASSERT_EQ(fx.close_by_peer[0], 1);
  ASSERT_EQ(fx_ws_stats(&fx).connections, 0);
  ASSERT_EQ(fx_stop(&fx), 0);
}

TEST(an_empty_close_gets_an_empty_close) {
  fx_t fx;
  int a;

  ASSERT_EQ(fx_start(&fx, NULL, NULL), 0);
  a = fx_ws_client(&fx, 0);
  ASSERT_EQ(tc_send_frame(&fx, a, 1, 0x8, "", 0), 0);
  ASSERT_EQ(next_close_code(&fx, a), 1005);
  ASSERT_EQ(close_after_server(&fx, a), 1);
  ASSERT_EQ(fx.close_code[0], 1005);
  ASSERT_EQ(fx_stop(&fx), 0);
}

TEST(queued_data_goes_out_before_the_close_frame) {
  fx_t fx;
  tc_frame_t f;
  int a, i;

  ASSERT_EQ(fx_start(&fx, NULL, NULL), 0);
  a = fx_ws_client(&fx, 0);
  for (i = 0; i < 10; i++)
    ASSERT_EQ(hub_broadcast(fx.hub, "data", 4, 0), 1);
  ASSERT_EQ(hub_ws_client_close(fx.clients[a], 4001, "done"), 0);
  /* After the close, nothing more is queued for it. */
  ASSERT_EQ(hub_broadcast(fx.hub, "late", 4, 0), 0);
  ASSERT_EQ(hub_ws_client_close(fx.clients[a], 1000, NULL), HUB_ECLOSING);
  for (i = 0; i < 10; i++)
    ASSERT(fx_next_frame(&fx, a, &f) && f.op == 0x1 && f.len == 4);
  ASSERT(fx_next_frame(&fx, a, &f) && f.op == 0x8 && f.len == 6 &&
         memcmp(f.data, "\x0f\xa1" "done", 6) == 0);
  ASSERT_EQ(wait_eof(&fx, a), 1);
  /* The client answers, as it should; the connection is then gone. */
  ASSERT_EQ(tc_send_frame(&fx, a, 1, 0x8, "\x0f\xa1", 2), 0);
  tc_close(&fx.tc[a]);
  UNTIL(&fx, fx.nclosed == 1);
  ASSERT_EQ(fx.status[0], 0);
  ASSERT_EQ(fx.close_code[0], 4001);
  ASSERT_EQ(fx.close_by_peer[0], 0);
  ASSERT_EQ(fx_stop(&fx), 0);
}

TEST(a_peer_that_never_closes_is_cut_at_the_close_timeout) {
  hub_ws_options_t o = ws_opts();
  fx_t fx;
  int a;

  o.close_timeout_ms = 150;
  ASSERT_EQ(fx_start(&fx, NULL, &o), 0);
  a = fx_ws_client(&fx, 0);
  ASSERT_EQ(hub_ws_client_close(fx.clients[a], 1000, NULL), 0);
  ASSERT_EQ(next_close_code(&fx, a), 1000);
  /* The client keeps its socket open and says nothing. */
  UNTIL(&fx, fx.nclosed == 1);
  ASSERT_EQ(fx_ws_stats(&fx).connections, 0);
  ASSERT_EQ(fx_ws_stats(&fx).timeouts, 1);
  ASSERT_EQ(fx_stop(&fx), 0);
}

TEST(protocol_errors_close_with_their_codes) {
  static uint8_t big[2000];
  hub_ws_options_t o = ws_opts();
  uint8_t raw[16];
  fx_t fx;
  int i;

  o.max_message = 1000;
  ASSERT_EQ(fx_start(&fx, NULL, &o), 0);
  /* Unmasked. */
  i = fx_ws_client(&fx, 0);
  raw[0] = 0x81, raw[1] = 0x02, raw[2] = 'h', raw[3] = 'i';
  ASSERT_EQ(tc_send(&fx, i, raw, 4), 0);
  ASSERT_EQ(next_close_code(&fx, i), 1002);
  ASSERT_EQ(wait_eof(&fx, i), 1);
  /* RSV1 without an extension. */
  i = fx_ws_client(&fx, 0);
  ts_ws_frame(raw, 1, 0x1, "x", 1);
  raw[0] |= 0x40;
  ASSERT_EQ(tc_send(&fx, i, raw, 7), 0);
  ASSERT_EQ(next_close_code(&fx, i), 1002);
  /* A reserved opcode. */
  i = fx_ws_client(&fx, 0);
  ASSERT_EQ(tc_send_frame(&fx, i, 1, 0x3, "x", 1), 0);
  ASSERT_EQ(next_close_code(&fx, i), 1002);
  /* A continuation out of nowhere. */
  i = fx_ws_client(&fx, 0);
  ASSERT_EQ(tc_send_frame(&fx, i, 1, 0x0, "x", 1), 0);
  ASSERT_EQ(next_close_code(&fx, i), 1002);
  /* A bad close code. */
  i = fx_ws_client(&fx, 0);
  ASSERT_EQ(tc_send_frame(&fx, i, 1, 0x8, "\x03\xed", 2), 0);
  ASSERT_EQ(next_close_code(&fx, i), 1002);
  /* Invalid UTF-8 across fragments. */
  i = fx_ws_client(&fx, 0);
  ASSERT_EQ(tc_send_frame(&fx, i, 0, 0x1, "ok \xf0\x9f", 5), 0);
  ASSERT_EQ(tc_send_frame(&fx, i, 1, 0x0, "\x41", 1), 0);
  ASSERT_EQ(next_close_code(&fx, i), 1007);
  /* Too big. */
  i = fx_ws_client(&fx, 0);
  ASSERT_EQ(tc_send_frame(&fx, i, 1, 0x2, big, 1001), 0);
  ASSERT_EQ(next_close_code(&fx, i), 1009);
  ASSERT_EQ(wait_eof(&fx, i), 1);
  for (i = 0; i < fx.ntc; i++)
    tc_close(&fx.tc[i]);
  UNTIL(&fx, fx.nclosed == 7);
  ASSERT_EQ(fx_ws_stats(&fx).protocol_errors, 7);
  ASSERT_EQ(fx.messages, 0);
  ASSERT_EQ(fx_stop(&fx), 0);
}

/* ------------------------------------------------------------------------
 * Heartbeat and idle timeout
 * ------------------------------------------------------------------------ */

TEST(heartbeat_closes_a_silent_client_and_keeps_an_answering_one) {
  hub_ws_options_t o = ws_opts();
  fx_t fx;
  tc_frame_t f;
  int quiet, alive, pings = 0;
  uint64_t end;

  /* Long enough for the answering client on a loaded machine. */
  o.ping_interval_ms = 150;
  o.pong_timeout_ms = 150;
  ASSERT_EQ(fx_start(&fx, NULL, &o), 0);
  quiet = fx_ws_client(&fx, 0);
  alive = fx_ws_client(&fx, 0);
  /* The alive client answers every ping for a while. */
  end = ts_now_ms() + 1200;
  while (ts_now_ms() < end && !fx.closed[alive]) {
    fx_step(&fx);
    while (tc_frame(&fx.tc[alive], &f) == 1)
      if (f.op == 0x9) {
        pings++;
        ASSERT_EQ(tc_send_frame(&fx, alive, 1, 0xA, f.data, f.len), 0);
      }
  }
  ASSERT(pings >= 3);
  ASSERT(!fx.closed[alive]);
  /* The quiet one got a ping, said nothing, and was closed. */
  ASSERT(fx.closed[quiet]);
  ASSERT_EQ(fx.status[quiet], UV_ETIMEDOUT);
  ASSERT(fx_next_frame(&fx, quiet, &f) && f.op == 0x9);
  ASSERT_EQ(wait_eof(&fx, quiet), 1);
  ASSERT(fx_ws_stats(&fx).pings >= 4);
  ASSERT_EQ(fx_stop(&fx), 0);
}

TEST(idle_timeout_closes_with_1001_when_the_heartbeat_is_off) {
  hub_ws_options_t o = ws_opts();
  fx_t fx;
  int a;

  o.ping_interval_ms = 0;
  o.idle_timeout_ms = 100;
  ASSERT_EQ(fx_start(&fx, NULL, &o), 0);
  a = fx_ws_client(&fx, 0);
  ASSERT_EQ(next_close_code(&fx, a), 1001);
  ASSERT_EQ(close_after_server(&fx, a), 1);
  ASSERT_EQ(fx.close_code[0], 1001);
  ASSERT_EQ(fx.close_by_peer[0], 0);
  ASSERT_EQ(fx_ws_stats(&fx).timeouts, 1);
  ASSERT_EQ(fx_stop(&fx), 0);
}

/* ------------------------------------------------------------------------
 * Memory
 * ------------------------------------------------------------------------ */

TEST(idle_connections_hold_no_parser_state) {
  static uint8_t frame[10000], payload[9000];
  fx_t fx;
  hub_ws_stats_t st;
  size_t n;
  int i, nc = 50;

  memset(payload, 'z', sizeof(payload));
  ASSERT_EQ(fx_start(&fx, NULL, NULL), 0);
  fx.echo = 0;
  for (i = 0; i < nc; i++) {
    ASSERT_EQ(fx_ws_client(&fx, 0), i);
    ASSERT_EQ(tc_send_frame(&fx, i, 1, 0x1, "hi", 2), 0);
  }
  UNTIL(&fx, fx.messages == (uint64_t)nc);
  st = fx_ws_stats(&fx);
  ASSERT_EQ(st.rx_states, 0);
  ASSERT(st.rx_contexts <= 4);
  ASSERT_EQ(st.rx_buffered, 0);
  /* Half a large frame: that connection alone holds state. */
  n = ts_ws_frame(frame, 1, 0x2, payload, sizeof(payload));
  ASSERT_EQ(tc_send(&fx, 0, frame, n / 2), 0);
  UNTIL(&fx, fx_ws_stats(&fx).rx_states == 1);
  st = fx_ws_stats(&fx);
  ASSERT_EQ(st.rx_states, 1);
  ASSERT(st.rx_buffered > 0 && st.rx_buffered < sizeof(payload));
  ASSERT_EQ(tc_send(&fx, 0, frame + n / 2, n - n / 2), 0);
  UNTIL(&fx, fx.messages == (uint64_t)nc + 1);
  st = fx_ws_stats(&fx);
  ASSERT_EQ(st.rx_states, 0);
  ASSERT_EQ(st.rx_buffered, 0);
  ASSERT_EQ(fx_stop(&fx), 0);
}

/* ------------------------------------------------------------------------
 * Shutting down
 * ------------------------------------------------------------------------ */

static void count_closed(hub_ws_server_t *srv) {
  fx_t *fx = hub_ws_server_get_data(srv);

  fx->srv_closed++;
}

TEST(server_close_says_going_away_to_every_client) {
  fx_t fx;
  int a, b, h, i;

  ASSERT_EQ(fx_start(&fx, NULL, NULL), 0);
  a = fx_ws_client(&fx, 0);
  b = fx_ws_client(&fx, 0);
  h = tc_open(&fx, 0); /* still in its handshake */
  ASSERT_EQ(tc_send_str(&fx, h, "GET /ws HTTP/1.1\r\n"), 0);
  UNTIL(&fx, fx_ws_stats(&fx).handshakes == 1);
  ASSERT_EQ(hub_ws_server_close(fx.srv, count_closed), 0);
  ASSERT_EQ(hub_ws_server_close(fx.srv, count_closed), HUB_ECLOSING);
  ASSERT_EQ(next_close_code(&fx, a), 1001);
  ASSERT_EQ(next_close_code(&fx, b), 1001);
  ASSERT(wait_eof(&fx, h) != 0); /* closed at once: FIN or reset */
  for (i = 0; i < 2; i++)
    ASSERT_EQ(wait_eof(&fx, i), 1);
  for (i = 0; i < fx.ntc; i++)
    tc_close(&fx.tc[i]);
  UNTIL(&fx, fx.srv_closed == 1);
  ASSERT_EQ(fx.srv_closed, 1);
  ASSERT_EQ(fx.nclosed, 2);
  fx.srv = NULL;
  ASSERT_EQ(hub_close(fx.hub, 0, ts_hub_closed), 0);
  fx.srv_closed = 1;
  ASSERT_EQ(fx_stop(&fx), 0);
}

/* hub_close() and client_close() on upgraded clients: the adapter writes
 * a close frame saying why (its queue is gone, so straight to the
 * socket), then waits for the peer's answer before closing. */
TEST(hub_and_client_close_tell_the_peer_why) {
  static const uint8_t bye[2] = {0x03, 0xE8}; /* 1000 */
  fx_t fx;
  int a, b, c, d, i;

  ASSERT_EQ(fx_start(&fx, NULL, NULL), 0);
  a = fx_ws_client(&fx, 0);
  b = fx_ws_client(&fx, 0);
  c = fx_ws_client(&fx, 0);
  d = fx_ws_client(&fx, 0);
  ASSERT_EQ(client_close(fx.clients[a], 0), 0);
  ASSERT_EQ(next_close_code(&fx, a), 1000);
  ASSERT_EQ(client_close(fx.clients[b], UV_EPROTO), 0);
  ASSERT_EQ(next_close_code(&fx, b), 1011);
  ASSERT_EQ(hub_close(fx.hub, 1000, ts_hub_closed), 0);
  ASSERT_EQ(next_close_code(&fx, c), 1001);
  ASSERT_EQ(next_close_code(&fx, d), 1001);
  /* The peers answer; the server then ends every connection. */
  for (i = 0; i < 4; i++)
    ASSERT_EQ(tc_send_frame(&fx, i, 1, 0x8, bye, sizeof(bye)), 0);
  for (i = 0; i < 4; i++)
    ASSERT_EQ(wait_eof(&fx, i), 1);
  UNTIL(&fx, fx.hub_closed == 1);
  ASSERT_EQ(fx.hub_closed, 1);
  ASSERT_EQ(fx.status[b], UV_EPROTO);
  ASSERT_EQ(fx.status[c], 0);
  ASSERT_EQ(hub_ws_server_close(fx.srv, count_closed), 0);
  fx.srv = NULL;
  ASSERT_EQ(fx_stop(&fx), 0);
}

#define WO(field, value) TS_FIELD(hub_ws_options_t, field, value)

TEST(defaults_are_the_documented_ones) {
  hub_ws_options_t o;

  memset(&o, 0xff, sizeof(o));
  hub_ws_options_init(&o);
  ASSERT_FIELDS(hub_ws_options_t, &o, WO(max_header_bytes, 8192),
                WO(handshake_timeout_ms, 10000), WO(max_message, 1 << 20),
                WO(ping_interval_ms, 30000), WO(pong_timeout_ms, 10000),
                WO(idle_timeout_ms, 120000), WO(close_timeout_ms, 5000),
                WO(n_origins, 0), WO(origin_same_host, 0),
                WO(require_origin, 0), WO(backlog, 511), WO(send_buffer, 0));
  ASSERT(o.on_request == NULL && o.on_message == NULL && o.data == NULL);
}


/* Allocations the hub makes for `nb` broadcasts to `nc` clients, once
 * every client's queue has grown to its working size. */
static size_t allocs_per_round(int nc, int nb) {
  hub_options_t ho;
  fx_t fx;
  tc_frame_t f;
  size_t before, total = (size_t)-1;
  int i, j, round;

  hub_options_init(&ho);
  count_alloc_init(&hub_ca);
  ho.allocator = &hub_ca.a;
  if (fx_start(&fx, &ho, NULL) != 0)
    return (size_t)-1;
  for (i = 0; i < nc; i++)
    if (fx_ws_client(&fx, 0) != i)
      goto out;
  for (round = 0; round < 2; round++) {
    before = (size_t)hub_ca.calls;
    for (j = 0; j < nb; j++)
      if (hub_broadcast(fx.hub, "framed once", 11, j % 2 ? HUB_MSG_BINARY : 0)
          != nc)
        goto out;
    for (i = 0; i < nc; i++)
      for (j = 0; j < nb; j++)
        if (!fx_next_frame(&fx, i, &f) || f.len != 11)
          goto out;
    total = (size_t)hub_ca.calls - before;
  }
out:
  if (fx_stop(&fx) != 0)
    return (size_t)-1;
  return total;
}

TEST(one_allocation_per_broadcast_whatever_the_number_of_clients) {
  /* The second round is measured: by then the queues have grown. */
  ASSERT_EQ(allocs_per_round(1, 8), 8);
  ASSERT_EQ(allocs_per_round(40, 8), 8);
}

TEST(control_frames_pass_a_full_queue) {
  hub_options_t ho;
  hub_ws_options_t wo = ws_opts();
  static char chunk[4096];
  fx_t fx;
  tc_frame_t f;
  int a, i, refused = 0, pongs = 0;

  hub_options_init(&ho);
  ho.max_queue_msgs = 4;
  ho.policy = HUB_POLICY_DROP_NEWEST;
  wo.send_buffer = 4096;
  ASSERT_EQ(fx_start(&fx, &ho, &wo), 0);
  fx.echo = 0;
  a = fx_ws_client(&fx, 4096);
  fx.tc[a].paused = 1;
  /* Fill the kernel's buffers and the queue until data is refused. */
  for (i = 0; i < 2000 && refused == 0; i++) {
    if (hub_broadcast(fx.hub, chunk, sizeof(chunk), HUB_MSG_BINARY) == 0)
      refused = 1;
    fx_step(&fx);
  }
  ASSERT(refused);
  /* A ping now still gets its pong, and a close its close frame, behind
   * the data already queued. */
  ASSERT_EQ(tc_send_frame(&fx, a, 1, 0x9, "still?", 6), 0);
  UNTIL(&fx, fx_ws_stats(&fx).connections == 1 && fx.dropped[HUB_DROP_REFUSED] > 0);
  fx_wait(&fx, 50);
  ASSERT_EQ(hub_ws_client_close(fx.clients[a], 1000, "bye"), 0);
  fx.tc[a].paused = 0;
  while (fx_next_frame(&fx, a, &f)) {
    if (f.op == 0xA) {
      pongs++;
      ASSERT(f.len == 6 && memcmp(f.data, "still?", 6) == 0);
    }
    if (f.op == 0x8)
      break;
  }
  ASSERT_EQ(pongs, 1);
  ASSERT(f.op == 0x8);
  ASSERT_EQ(fx_stop(&fx), 0);
}

TEST(options_are_checked) {
  hub_ws_options_t o;
  hub_ws_server_t *s = NULL;
  fx_t fx;
  hub_t *hub;
  const char *bad[] = {NULL};

  ASSERT_EQ(fx_start(&fx, NULL, NULL), 0);
  hub = fx.hub;
  o = ws_opts();
  o.max_header_bytes = 10;
  ASSERT_EQ(hub_ws_server_new(&s, hub, &o), UV_EINVAL);
  o = ws_opts();
  o.max_message = 0;
  ASSERT_EQ(hub_ws_server_new(&s, hub, &o), UV_EINVAL);
  o = ws_opts();
  o.close_timeout_ms = 0;
  ASSERT_EQ(hub_ws_server_new(&s, hub, &o), UV_EINVAL);
  o = ws_opts();
  o.origins = bad;
  o.n_origins = 1;
  ASSERT_EQ(hub_ws_server_new(&s, hub, &o), UV_EINVAL);
  ASSERT_EQ(hub_ws_server_new(NULL, hub, NULL), UV_EINVAL);
  ASSERT_EQ(hub_ws_server_new(&s, hub, NULL), 0);
  ASSERT_EQ(hub_ws_server_start(s, NULL), UV_EINVAL);
  ASSERT_EQ(hub_ws_client_close(NULL, 1000, NULL), UV_EINVAL);
  ASSERT_EQ(hub_ws_client_close_code(NULL, NULL), 0);
  ASSERT_EQ(hub_ws_server_close(s, NULL), 0);
  ASSERT_EQ(fx_stop(&fx), 0);
}

int main(int argc, char **argv) {
  return RUN_TESTS(argc, argv);
}
