/* Private definitions shared by the adapter's files: hub-ws.c (the
 * server), hub-ws-timer.c (timeouts), hub-ws-transport.c (the transport,
 * ending connections), hub-ws-conn.c (what a connection reads), hub-ws-limits.c
 * (abuse limits) and hub-ws-proxy.c (trusted reverse proxies). */
#ifndef HUB_WS_INT_H
#define HUB_WS_INT_H

#include <stddef.h>
#include <stdint.h>

#include "hub-queue.h"
#include "hub-ws.h"
#include "hubx-limits.h"
#include "hubx-listener.h"
#include "hubx-mem.h"
#include "hubx-sock.h"
#include "ws-deflate.h"
#include "ws-forwarded.h"
#include "ws-frame.h"
#include "ws-handshake.h"

#define HUB_WS__READ_BUF (64 * 1024)
/* Accepts per loop iteration, so that a burst of connections does not
 * starve the connections already open. */
#define HUB_WS__ACCEPT_BATCH 64

/* The lists a connection sits on. Each has one timeout, so appending at
 * the tail keeps it sorted by deadline, and one timer per server serves
 * them all: no timer per connection. */
enum {
  HUB_WS__L_HANDSHAKE, /* reading the request: handshake_timeout */
  HUB_WS__L_LIVE,      /* open, heard from lately: min(ping, idle) */
  HUB_WS__L_PING,      /* open, pinged, no answer yet: pong_timeout */
  HUB_WS__L_MESSAGE,   /* open, a message partly received: message_timeout */
  HUB_WS__L_CLOSE,     /* closing or answering: close_timeout */
  HUB_WS__L_NONE,      /* no timeout: open without heartbeat nor idle
                          timeout, or its handle is closing */
  HUB_WS__L_COUNT
};

/* A connection's phase. */
enum {
  HUB_WS__HANDSHAKE = 0, /* reading its request; st.hs may be set */
  HUB_WS__RESPONSE,      /* answered over HTTP; written, then closed */
  HUB_WS__OPEN,          /* a WebSocket client; st.rx may be set */
  HUB_WS__CLOSING,       /* a close frame was sent: reads are dropped */
  HUB_WS__STREAM         /* an HTTP response streamed by the hub (server-sent
                            events): reads are dropped */
};

enum {
  HUB_WS__F_CLOSE_SENT = 1 << 0,
  HUB_WS__F_CLOSE_RCVD = 1 << 1,  /* the peer's close came first */
  HUB_WS__F_CORE_CLOSED = 1 << 2, /* the hub called the transport's close */
  HUB_WS__F_HANDLE_CLOSING = 1 << 3,
  HUB_WS__F_SHUTDOWN = 1 << 4, /* our FIN is sent or on its way */
  HUB_WS__F_EOF = 1 << 5, /* the peer is gone, or a write failed: no
                             lingering, nothing more written */
  HUB_WS__F_DEFLATE = 1 << 6,  /* permessage-deflate was negotiated */
  HUB_WS__F_FORWARDED = 1 << 7 /* from a trusted proxy, for the client that
                                  X-Forwarded-For named: hub-ws-proxy.c */
};

typedef struct hub_ws__resp hub_ws__resp_t;

/* A server's compressing variant of one of the adapter's transports
 * (hub-ws-deflate.c): the hub hands `tp` back, and the frame function
 * finds the server from it. */
typedef struct {
  hub_transport_t tp; /* first */
  hub_ws_server_t *server;
  const hub_transport_t *plain; /* hub_ws__transport or hub_ws__transport_ids */
} hub_ws__dtp_t;

typedef struct hub_ws__conn {
  hubx_sock_t sock; /* hubx_sock_ctx() is the server's sock_ctx */
  hub__queue link;
  hub_client_t *client;
  union {
    hub_ws__hs_t *hs; /* HUB_WS__HANDSHAKE, once bytes arrived */
    /* HUB_WS__OPEN, while a frame or message is in progress */
    hub_ws__rx_t *rx;
    hub_ws__resp_t *resp; /* HUB_WS__RESPONSE, while its write is pending */
  } st;
  /* Loop time at which its list's timeout fires, truncated (mod 2^32):
   * timeouts are below 2^31 ms, so differences are exact. */
  uint32_t deadline;
  uint8_t phase : 4;
  uint8_t list : 4;
  uint8_t flags;
  uint16_t close_code;
} hub_ws__conn_t;

/* 200 bytes on 64-bit, glibc's 208-byte chunk: one per connection. */
#if UINTPTR_MAX == 0xffffffffffffffffu
_Static_assert(sizeof(hub_ws__conn_t) <= 200,
               "hub_ws__conn_t outgrew its malloc chunk");
#endif

/* An HTTP response in one allocation (from the hub's allocator). */
struct hub_ws__resp {
  size_t len;
  char data[];
};

struct hub_ws_request_s {
  hub_ws__conn_t *conn;
  hub_ws__hs_t *hs;
  hub_ws__resp_t *resp; /* built by hub_ws_request_respond() */
};

struct hub_ws_server_s {
  uv_loop_t *loop;
  hub_t *hub;
  /* What on_request chose for the upgrade it let through (requests are
   * handled one at a time): hub_ws_request_select(). */
  const hub_transport_t *sel_transport;
  char sel_protocol[64];
  /* ... or the head of a streamed response (hub_ws_request_stream()). */
  int sel_stream;
  char sel_headers[512];
  char sel_first[64]; /* the body's first bytes, right after the head */
  hub_ws_options_t opts;
  /* With opts.deflate: the compressor every message shares, and the
   * compressing variants of hub_ws__transport and hub_ws__transport_ids. */
  hub_ws__deflater_t *deflater;
  hub_ws__dtp_t dtp[2];
  char **origins; /* our copy of opts.origins */
  hub_ws__origin_policy_t policy;
  hubx_listener_t listener;
  hub_allocator_t conn_mem; /* the hub's allocator, for per-connection state */
  hubx_sock_ctx_t sock_ctx; /* what every connection's socket shares */
  uv_timer_t timer;
  uint64_t timer_due; /* when the timer fires, if active */
  uint64_t timeouts[HUB_WS__L_COUNT];
  hub__queue lists[HUB_WS__L_COUNT];
  hub_ws__reader_t *reader;
  uint8_t *rbuf; /* the read buffer all connections share */
  /* The latest ping of the connection being read, answered once the
   * read is processed: a burst of pings gets one pong (RFC 6455 §5.5.3). */
  hub_ws__conn_t *feeding; /* the connection whose frames are being read */
  uint64_t feed_messages; /* messages that read has completed so far */
  hub_ws__conn_t *pong_conn;
  uint8_t pong_len;
  uint8_t pong[HUB_WS__CONTROL_MAX];
  hubx_limits_t limits; /* max_conns_per_ip, max_msg_rate */
  hub_ws__cidr_t *trusted; /* opts.trusted_proxies, parsed (from malloc()) */
  size_t ntrusted;
  unsigned handles; /* listener and timer, until closed */
  uint8_t started, closing, timer_closing;
  hub_ws_close_cb close_cb;
  hub_ws_stats_t st;
};

static inline hub_ws__conn_t *hub_ws__conn_of(const hub__queue *l) {
  return hub__container_of(l, hub_ws__conn_t, link);
}

static inline hub_ws_server_t *hub_ws__server_of(const hub_ws__conn_t *c) {
  return (hub_ws_server_t *)((char *)hubx_sock_ctx(&c->sock) -
                              offsetof(hub_ws_server_t, sock_ctx));
}

/* hub-ws.c */
void hub_ws__log(hub_ws_server_t *s, hub_ws__conn_t *c, int err,
                 const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void hub_ws__maybe_finish(hub_ws_server_t *s);

/* hub-ws-timer.c */
void hub_ws__list_move(hub_ws__conn_t *c, unsigned list);

/* hub-ws-transport.c */
void hub_ws__handle_close(hub_ws__conn_t *c);
void hub_ws__conn_lost(hub_ws__conn_t *c, int err);
void hub_ws__linger(hub_ws__conn_t *c);
int hub_ws__send_close(hub_ws__conn_t *c, unsigned code, const char *reason);
void hub_ws__leave_handshake(hub_ws__conn_t *c);
extern const hub_transport_t hub_ws__transport;
extern const hub_transport_t hub_ws__transport_ids;

/* hub-ws-limits.c: connections per address, messages a second.
 * hub_ws__admit(): a connection was just accepted on `fd`; it is answered 503
 * (or closed) if it may not stay. hub_ws__release(): it is closing.
 * hub_ws__rate_ok(): a message of an open connection; 1 to deliver it, 0 when
 * it is over the rate and the connection is closing with 1008. */
void hub_ws__admit(hub_ws__conn_t *c, uv_os_sock_t fd);
void hub_ws__release(hub_ws__conn_t *c);
int hub_ws__rate_ok(hub_ws__conn_t *c);

/* hub-ws-proxy.c: trusted proxies. hub_ws__proxy_init(): parse the option
 * (UV_EINVAL, UV_ENOMEM). hub_ws__proxy_trusted(): nonzero if the address
 * key is a trusted proxy's. hub_ws__proxy_forward(): the request head of a
 * connection is complete; if it came from a trusted proxy, count it
 * under the client's address; 0 to go on, -1 when it was refused (400
 * for a malformed X-Forwarded-For, 503 over max_conns_per_ip).
 * hub_ws__client_address(): the forwarded address (port 0) or the peer's. */
int hub_ws__proxy_init(hub_ws_server_t *s);
int hub_ws__proxy_trusted(hub_ws_server_t *s, const uint8_t key[16]);
int hub_ws__proxy_forward(hub_ws__conn_t *c);
int hub_ws__client_address(hub_ws__conn_t *c, struct sockaddr *name,
                           int *namelen);

/* hub-ws-deflate.c: the deflate transports of a server with opts.deflate,
 * and the one a connection whose handshake offered permessage-deflate
 * gets instead of `tp` (NULL if it cannot have one: then *ext is empty),
 * with the Sec-WebSocket-Extensions value to answer in ext[cap]. */
int hub_ws__deflate_init(hub_ws_server_t *s);
const hub_transport_t *hub_ws__deflate_select(hub_ws_server_t *s,
                                              const hub_ws__hs_t *hs,
                                              const hub_transport_t *tp,
                                              char *ext, size_t cap);

/* hub-ws-conn.c */
extern const hub_ws__reader_callbacks_t hub_ws__reader_callbacks;
void hub_ws__on_read(hubx_sock_t *sock, ssize_t nread, char *buf);
void hub_ws__on_written(hubx_sock_t *sock, int status);
void hub_ws__free_response(hub_ws_server_t *s, hub_ws__resp_t *resp);
/* Answer `status` and close; `why` goes to the log (NULL: not logged). */
void hub_ws__refuse(hub_ws__conn_t *c, int status, const char *why);
void hub_ws__send_response(hub_ws__conn_t *c, hub_ws__resp_t *resp);

#endif /* HUB_WS_INT_H */
