/* Reading a client's WebSocket frames with wslay's frame API.
 *
 * wslay_frame_recv() pulls bytes through a callback into the context's
 * own 4 KiB buffer and returns payload chunks with the frame header that
 * carries them. A context that has returned every byte it pulled, at a
 * frame boundary, is in its initial state again; the reader then takes it
 * back, so that only connections with a frame in progress hold one. To
 * know when that is, the reader counts the bytes it gave a context and
 * subtracts each whole frame (its header has a single valid size: wslay
 * refuses lengths not in their shortest form).
 *
 * wslay checks the frame structure; the rules of RFC 6455 on top of it
 * (masking, RSV bits, opcodes, fragmentation, sizes, UTF-8, close
 * payloads) are checked here, on the first chunk of each frame. */
#include "ws-frame.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <wslay/wslay.h>
#include <zlib.h>

#include "hubx-mem.h"
#include "ws-utf8.h"

/* Contexts kept for reuse beyond those lent out. */
#define HUB_WS__SPARE_MAX 4
/* An inflate buffer up to this size is kept between messages. */
#define HUB_WS__OUT_KEEP (64 * 1024)

struct hub_ws__rx_s {
  wslay_frame_context_ptr ctx; /* holds part of a frame, or NULL */
  uint64_t pending;   /* bytes given to ctx and not yet in a whole frame */
  uint64_t frame_len; /* payload length of the frame being read */
  uint64_t frame_got; /* ... and how much of it was read */
  uint8_t in_frame;   /* a frame's first chunk was seen, not its last */
  uint8_t frame_op;
  uint8_t frame_fin;
  uint8_t msg_op; /* HUB_WS__OP_TEXT/BINARY while a message is open, else 0 */
  uint8_t msg_z;  /* ... and it is compressed (RSV1: permessage-deflate) */
  hub_ws__utf8_t utf8; /* of the open text message */
  uint8_t ctrl_len;
  uint8_t ctrl[HUB_WS__CONTROL_MAX]; /* a control payload split across reads */
  uint8_t *buf;                 /* the open message's bytes so far */
  size_t len, cap;
};

struct hub_ws__reader_s {
  struct wslay_frame_callbacks wcb;
  hub_ws__reader_callbacks_t cb;
  hub_allocator_t own; /* the reader itself */
  hub_allocator_t mem; /* connection state and reassembly buffers */
  size_t max_message;
  size_t max_compressed; /* of a compressed message: hub_ws__zlimit() */
  /* The feed in progress: its input and the state it reads into. */
  const uint8_t *in;
  size_t in_len;
  hub_ws__rx_t *cur;
  unsigned flags;       /* of the feed in progress: HUB_WS__RX_DEFLATE */
  hub_ws__rx_t scratch; /* the state of a connection that had none */
  /* Compressed messages: one inflate stream for every connection, reset
   * per message, made at the first one; and the buffer messages are
   * inflated into, kept up to HUB_WS__OUT_KEEP bytes between messages. */
  z_stream *inf;
  uint8_t *out;
  size_t out_cap;
  wslay_frame_context_ptr spare[HUB_WS__SPARE_MAX];
  unsigned nspare;
  hub_ws__reader_stats_t st;
};

/* wslay asks for bytes: hand over what the feed in progress has left. */
static ssize_t hub_ws__recv(uint8_t *buf, size_t len, int flags, void *ud) {
  hub_ws__reader_t *r = ud;

  (void)flags;
  if (r->in_len == 0)
    return -1; /* wslay's "want read" */
  if (len > r->in_len)
    len = r->in_len;
  memcpy(buf, r->in, len);
  r->in += len;
  r->in_len -= len;
  r->cur->pending += len;
  return (ssize_t)len;
}

/* Never called: server frames are built by hub_ws__frame_head(). */
static ssize_t hub_ws__send(const uint8_t *data, size_t len, int flags,
                            void *ud) {
  (void)data, (void)len, (void)flags, (void)ud;
  return -1;
}

static int hub_ws__genmask(uint8_t *buf, size_t len, void *ud) {
  (void)buf, (void)len, (void)ud;
  return -1;
}

/* The compressed form of a message of max_message bytes can be longer
 * than the message: stored blocks add 5 bytes per 64 KiB, fixed Huffman
 * codes at most 9 bits per 8-bit byte. So a compressed message may take
 * an eighth more, and 64 bytes, on the wire. */
static size_t hub_ws__zlimit(size_t max_message) {
  size_t more = max_message / 8 + 64;

  return max_message > SIZE_MAX - more ? SIZE_MAX : max_message + more;
}

/* The most bytes the open message may have on the wire. */
static size_t hub_ws__rx_limit(const hub_ws__reader_t *r,
                               const hub_ws__rx_t *rx) {
  return rx->msg_z ? r->max_compressed : r->max_message;
}

int hub_ws__reader_new(hub_ws__reader_t **readerp, size_t max_message,
                       const hub_ws__reader_callbacks_t *cb,
                       const hub_allocator_t *alloc) {
  hub_ws__reader_t *r;
  const hub_allocator_t *mem = hubx_mem_or_libc(alloc);

  if (readerp == NULL || cb == NULL || max_message == 0)
    return -EINVAL;
  r = mem->malloc(sizeof(*r), mem->user_data);
  if (r == NULL)
    return -ENOMEM;
  memset(r, 0, sizeof(*r));
  r->wcb.recv_callback = hub_ws__recv;
  r->wcb.send_callback = hub_ws__send;
  r->wcb.genmask_callback = hub_ws__genmask;
  r->cb = *cb;
  r->own = *mem;
  r->mem = *mem;
  r->max_message = max_message;
  r->max_compressed = hub_ws__zlimit(max_message);
  *readerp = r;
  return 0;
}

void hub_ws__reader_free(hub_ws__reader_t *r) {
  if (r == NULL)
    return;
  while (r->nspare > 0)
    wslay_frame_context_free(r->spare[--r->nspare]);
  if (r->inf != NULL) {
    inflateEnd(r->inf);
    r->own.free(r->inf, r->own.user_data);
  }
  if (r->out != NULL)
    r->own.free(r->out, r->own.user_data);
  r->own.free(r, r->own.user_data);
}

void hub_ws__reader_set_conn_alloc(hub_ws__reader_t *r,
                                   const hub_allocator_t *alloc) {
  if (r == NULL || r->st.rx_live > 0)
    return;
  r->mem = *hubx_mem_or_libc(alloc);
}

static wslay_frame_context_ptr hub_ws__take_ctx(hub_ws__reader_t *r) {
  wslay_frame_context_ptr ctx;

  if (r->nspare > 0)
    return r->spare[--r->nspare];
  if (wslay_frame_context_init(&ctx, &r->wcb, r) != 0)
    return NULL;
  r->st.contexts_live++;
  return ctx;
}

/* A context back from a connection: reuse it only if it is known to be
 * empty and at a frame boundary, which is its initial state. */
static void hub_ws__give_ctx(hub_ws__reader_t *r, wslay_frame_context_ptr ctx,
                             int clean) {
  if (clean && r->nspare < HUB_WS__SPARE_MAX) {
    r->spare[r->nspare++] = ctx;
    return;
  }
  wslay_frame_context_free(ctx);
  r->st.contexts_live--;
}

/* Release everything `rx` holds, not `rx` itself. */
static void hub_ws__rx_release(hub_ws__reader_t *r, hub_ws__rx_t *rx) {
  if (rx->ctx != NULL) {
    hub_ws__give_ctx(r, rx->ctx, rx->pending == 0 && !rx->in_frame);
    rx->ctx = NULL;
  }
  if (rx->buf != NULL) {
    r->st.buffered -= rx->cap;
    r->mem.free(rx->buf, r->mem.user_data);
    rx->buf = NULL;
    rx->len = rx->cap = 0;
  }
}

void hub_ws__rx_free(hub_ws__reader_t *r, hub_ws__rx_t *rx) {
  if (rx == NULL)
    return;
  hub_ws__rx_release(r, rx);
  r->mem.free(rx, r->mem.user_data);
  r->st.rx_live--;
}

/* The frame just read to its end: forget its bytes. Its header took 2
 * bytes, 2 or 8 more for a long length, 4 for the mask. */
static void hub_ws__frame_done(hub_ws__rx_t *rx) {
  uint64_t head = 2 + 4;

  if (rx->frame_len > 0xFFFF)
    head += 8;
  else if (rx->frame_len > 125)
    head += 2;
  rx->pending -= head + rx->frame_len;
  rx->in_frame = 0;
}

/* The first chunk of a frame: check its header. Returns 0 or the close
 * code. */
static int hub_ws__frame_start(hub_ws__reader_t *r, hub_ws__rx_t *rx,
                               const struct wslay_frame_iocb *io) {
  rx->in_frame = 1;
  rx->frame_len = io->payload_length;
  rx->frame_got = 0;
  rx->frame_op = io->opcode;
  rx->frame_fin = io->fin;
  /* RSV1 marks the first frame of a compressed message, on a connection
   * that negotiated permessage-deflate (RFC 7692 §6.1); nothing else may
   * set a reserved bit. */
  if (!io->mask || (io->rsv & ~WSLAY_RSV1_BIT) != 0)
    return HUB_WS__CLOSE_PROTOCOL;
  if ((io->rsv & WSLAY_RSV1_BIT) &&
      (!(r->flags & HUB_WS__RX_DEFLATE) ||
       (io->opcode != HUB_WS__OP_TEXT && io->opcode != HUB_WS__OP_BINARY)))
    return HUB_WS__CLOSE_PROTOCOL;
  switch (io->opcode) {
  case HUB_WS__OP_CLOSE:
  case HUB_WS__OP_PING:
  case HUB_WS__OP_PONG:
    /* wslay checks these too; they are cheap to restate. */
    if (!io->fin || io->payload_length > HUB_WS__CONTROL_MAX)
      return HUB_WS__CLOSE_PROTOCOL;
    rx->ctrl_len = 0;
    return 0;
  case HUB_WS__OP_CONT:
    if (rx->msg_op == 0)
      return HUB_WS__CLOSE_PROTOCOL;
    break;
  case HUB_WS__OP_TEXT:
  case HUB_WS__OP_BINARY:
    if (rx->msg_op != 0)
      return HUB_WS__CLOSE_PROTOCOL;
    rx->msg_op = io->opcode;
    rx->msg_z = (io->rsv & WSLAY_RSV1_BIT) != 0;
    rx->len = 0;
    hub_ws__utf8_init(&rx->utf8);
    break;
  default:
    return HUB_WS__CLOSE_PROTOCOL; /* reserved opcodes */
  }
  /* The whole frame must fit beside what the message holds already:
   * refuse it now rather than buffer toward a length only announced. */
  if (io->payload_length > hub_ws__rx_limit(r, rx) - rx->len)
    return HUB_WS__CLOSE_TOO_BIG;
  return 0;
}

static int hub_ws__control(hub_ws__reader_t *r, hub_ws__rx_t *rx, void *conn,
                           const uint8_t *p, size_t n) {
  unsigned code;

  switch (rx->frame_op) {
  case HUB_WS__OP_PING:
    return r->cb.on_ping != NULL && r->cb.on_ping(conn, p, n)
               ? HUB_WS__READ_STOPPED
               : 0;
  case HUB_WS__OP_PONG:
    return r->cb.on_pong != NULL && r->cb.on_pong(conn, p, n)
               ? HUB_WS__READ_STOPPED
               : 0;
  default: /* HUB_WS__OP_CLOSE */
    if (n == 1)
      return HUB_WS__CLOSE_PROTOCOL;
    code = HUB_WS__CLOSE_NO_STATUS;
    if (n >= 2) {
      code = (unsigned)p[0] << 8 | p[1];
      if (!hub_ws__close_code_valid(code))
        return HUB_WS__CLOSE_PROTOCOL;
      if (!hub_ws__utf8_valid(p + 2, n - 2))
        return HUB_WS__CLOSE_INVALID_DATA;
      p += 2;
      n -= 2;
    }
    return r->cb.on_close != NULL && r->cb.on_close(conn, code, p, n)
               ? HUB_WS__READ_STOPPED
               : 0;
  }
}

/* Append a chunk to the open message, growing its buffer by doubling:
 * at most twice what was received, never beyond its limit. */
static int hub_ws__append(hub_ws__reader_t *r, hub_ws__rx_t *rx,
                          const uint8_t *p, size_t n) {
  size_t need = rx->len + n, cap;
  uint8_t *buf;

  if (need > rx->cap) {
    cap = rx->cap < 256 ? 256 : rx->cap;
    while (cap < need)
      cap *= 2;
    if (cap > hub_ws__rx_limit(r, rx))
      cap = hub_ws__rx_limit(r, rx); /* >= need: checked at the frame header */
    buf = r->mem.realloc(rx->buf, cap, r->mem.user_data);
    if (buf == NULL)
      return HUB_WS__CLOSE_INTERNAL;
    r->st.buffered += cap - rx->cap;
    rx->buf = buf;
    rx->cap = cap;
  }
  memcpy(rx->buf + rx->len, p, n);
  rx->len = need;
  return 0;
}

static voidpf hub_ws__zalloc(voidpf opaque, uInt items, uInt size) {
  hub_ws__reader_t *r = opaque;

  if (size != 0 && items > SIZE_MAX / size)
    return NULL;
  return r->own.malloc((size_t)items * size, r->own.user_data);
}

static void hub_ws__zfree(voidpf opaque, voidpf ptr) {
  hub_ws__reader_t *r = opaque;

  r->own.free(ptr, r->own.user_data);
}

/* The reader's inflate stream, ready for a new message. */
static z_stream *hub_ws__inflater(hub_ws__reader_t *r) {
  z_stream *z = r->inf;

  if (z != NULL)
    return inflateReset(z) == Z_OK ? z : NULL;
  z = r->own.malloc(sizeof(*z), r->own.user_data);
  if (z == NULL)
    return NULL;
  memset(z, 0, sizeof(*z));
  z->zalloc = hub_ws__zalloc;
  z->zfree = hub_ws__zfree;
  z->opaque = r;
  /* A 15-bit window inflates what any client window size made. */
  if (inflateInit2(z, -15) != Z_OK) {
    r->own.free(z, r->own.user_data);
    return NULL;
  }
  r->inf = z;
  return z;
}

/* Make room in the output buffer: double it, up to max_message + 1 (one
 * byte more than a message may have tells that it has more). */
static int hub_ws__out_grow(hub_ws__reader_t *r) {
  size_t cap = r->out_cap < 1024 ? 1024 : r->out_cap * 2;
  uint8_t *out;

  if (cap > r->max_message + 1 || cap < r->out_cap)
    cap = r->max_message + 1;
  out = r->own.realloc(r->out, cap, r->own.user_data);
  if (out == NULL)
    return -1;
  r->out = out;
  r->out_cap = cap;
  return 0;
}

/* Inflate `n` bytes of a compressed message, then the 00 00 FF FF its
 * sender removed (RFC 7692 §7.2.2), into r->out. Stops as soon as the
 * output exceeds max_message: a small message that inflates to a huge
 * one costs no more than the limit. Returns 0 with its length in *lenp,
 * or the close code: 1007 (not deflate data, or bytes after its final
 * block), 1009 (too long), 1011 (out of memory). */
static int hub_ws__inflate(hub_ws__reader_t *r, const uint8_t *p, size_t n,
                           size_t *lenp) {
  static const uint8_t tail[4] = {0x00, 0x00, 0xFF, 0xFF};
  z_stream *z = hub_ws__inflater(r);
  size_t len = 0;
  int pass, zr;

  if (z == NULL)
    return HUB_WS__CLOSE_INTERNAL;
  for (pass = 0; pass < 2; pass++) {
    z->next_in = (Bytef *)(uintptr_t)(pass == 0 ? p : tail);
    z->avail_in = (uInt)(pass == 0 ? n : sizeof(tail));
    for (;;) {
      if (len == r->out_cap && hub_ws__out_grow(r) != 0)
        return HUB_WS__CLOSE_INTERNAL;
      z->next_out = r->out + len;
      z->avail_out = (uInt)(r->out_cap - len);
      zr = inflate(z, Z_SYNC_FLUSH);
      len = r->out_cap - z->avail_out;
      if (len > r->max_message)
        return HUB_WS__CLOSE_TOO_BIG;
      if (zr == Z_STREAM_END) {
        /* A final block ends the message: nothing but the tail may
         * follow it. */
        if (pass == 0 && z->avail_in > 0)
          return HUB_WS__CLOSE_INVALID_DATA;
        *lenp = len;
        return 0;
      }
      if (zr == Z_MEM_ERROR)
        return HUB_WS__CLOSE_INTERNAL;
      if (zr != Z_OK && zr != Z_BUF_ERROR)
        return HUB_WS__CLOSE_INVALID_DATA;
      if (z->avail_in == 0 && z->avail_out > 0)
        break;
    }
  }
  *lenp = len;
  return 0;
}

/* Between messages the inflate buffer shrinks back to HUB_WS__OUT_KEEP. */
static void hub_ws__out_trim(hub_ws__reader_t *r) {
  if (r->out_cap > HUB_WS__OUT_KEEP) {
    r->own.free(r->out, r->own.user_data);
    r->out = NULL;
    r->out_cap = 0;
  }
}

static int hub_ws__deliver(hub_ws__reader_t *r, hub_ws__rx_t *rx, void *conn,
                           const uint8_t *p, size_t n) {
  int binary = rx->msg_op == HUB_WS__OP_BINARY, z = rx->msg_z, res;

  if (z) {
    res = hub_ws__inflate(r, p, n, &n);
    p = r->out;
    if (res == 0 && !binary && !hub_ws__utf8_valid(p, n))
      res = HUB_WS__CLOSE_INVALID_DATA;
    if (res != 0) {
      hub_ws__out_trim(r);
      return res;
    }
    r->st.inflated++;
  } else if (!binary && !hub_ws__utf8_complete(&rx->utf8)) {
    return HUB_WS__CLOSE_INVALID_DATA; /* ends inside a character */
  }
  rx->msg_op = 0;
  rx->msg_z = 0;
  rx->len = 0;
  res = r->cb.on_message != NULL ? r->cb.on_message(conn, p, n, binary) : 0;
  if (z)
    hub_ws__out_trim(r);
  switch (res) {
  case 0:
    return 0;
  case HUB_WS__READ_PAUSED:
    return HUB_WS__READ_PAUSED;
  default:
    return HUB_WS__READ_STOPPED;
  }
}

/* One chunk of payload from wslay. Returns 0 or a feed result. */
static int hub_ws__chunk(hub_ws__reader_t *r, hub_ws__rx_t *rx, void *conn,
                         const struct wslay_frame_iocb *io) {
  const uint8_t *p = io->data;
  size_t n = io->data_length;
  int first = !rx->in_frame, last, err;

  if (first && (err = hub_ws__frame_start(r, rx, io)) != 0)
    return err;
  rx->frame_got += n;
  last = rx->frame_got == rx->frame_len;

  if (rx->frame_op & 0x8) {
    if (!(first && last)) {
      memcpy(rx->ctrl + rx->ctrl_len, p, n);
      rx->ctrl_len = (uint8_t)(rx->ctrl_len + n);
      if (!last)
        return 0;
      p = rx->ctrl;
      n = rx->ctrl_len;
    }
    hub_ws__frame_done(rx);
    return hub_ws__control(r, rx, conn, p, n);
  }

  if (rx->msg_op == HUB_WS__OP_TEXT && !rx->msg_z &&
      hub_ws__utf8_feed(&rx->utf8, p, n) != 0)
    return HUB_WS__CLOSE_INVALID_DATA;
  if (last)
    hub_ws__frame_done(rx);
  /* A message that came whole in one chunk is delivered from wslay's
   * buffer; anything else is gathered first. */
  if (first && last && rx->frame_fin && rx->len == 0)
    return hub_ws__deliver(r, rx, conn, p, n);
  if (n > 0 && (err = hub_ws__append(r, rx, p, n)) != 0)
    return err;
  if (last && rx->frame_fin) {
    err = hub_ws__deliver(r, rx, conn, rx->buf, rx->len);
    if ((err == 0 || err == HUB_WS__READ_PAUSED) && rx->buf != NULL) {
      /* Between messages a connection holds no buffer. */
      r->st.buffered -= rx->cap;
      r->mem.free(rx->buf, r->mem.user_data);
      rx->buf = NULL;
      rx->cap = 0;
    }
    return err;
  }
  return 0;
}

static int hub_ws__rx_idle(const hub_ws__rx_t *rx) {
  return rx->ctx == NULL && rx->msg_op == 0 && !rx->in_frame &&
         rx->buf == NULL;
}

int hub_ws__reader_feed(hub_ws__reader_t *r, hub_ws__rx_t **rxp, void *conn,
                        const uint8_t *data, size_t len) {
  size_t used;

  return hub_ws__reader_feed_some(r, rxp, conn, 0, data, len, &used);
}

static int hub_ws__rx_settle(hub_ws__reader_t *r, hub_ws__rx_t **rxp,
                             hub_ws__rx_t *rx, int res);

int hub_ws__reader_feed_some(hub_ws__reader_t *r, hub_ws__rx_t **rxp,
                             void *conn, unsigned flags, const uint8_t *data,
                             size_t len, size_t *used) {
  struct wslay_frame_iocb io;
  hub_ws__rx_t *rx = *rxp != NULL ? *rxp : &r->scratch;
  ssize_t n;
  int res = HUB_WS__READ_OK;

  r->in = data;
  r->in_len = len;
  r->cur = rx;
  r->flags = flags;
  for (;;) {
    if (rx->ctx == NULL) {
      if (r->in_len == 0)
        break;
      rx->ctx = hub_ws__take_ctx(r);
      if (rx->ctx == NULL) {
        res = HUB_WS__CLOSE_INTERNAL;
        break;
      }
      rx->pending = 0;
    }
    n = wslay_frame_recv(rx->ctx, &io);
    if (n == WSLAY_ERR_WANT_READ) {
      /* wslay wants more only once it took all there was; a partial
       * frame may wait in ctx. */
      if (r->in_len > 0)
        res = HUB_WS__CLOSE_INTERNAL;
      break;
    }
    if (n < 0) {
      res = HUB_WS__CLOSE_PROTOCOL;
      break;
    }
    res = hub_ws__chunk(r, rx, conn, &io);
    if (res != 0 && res != HUB_WS__READ_PAUSED)
      break;
    if (!rx->in_frame && rx->pending == 0) {
      hub_ws__give_ctx(r, rx->ctx, 1);
      rx->ctx = NULL;
    }
    if (res == HUB_WS__READ_PAUSED)
      break;
  }
  *used = res == HUB_WS__READ_PAUSED ? len - r->in_len : len;
  r->in = NULL;
  r->in_len = 0;
  r->cur = NULL;
  return hub_ws__rx_settle(r, rxp, rx, res);
}

/* After a feed: the connection's read state `rx` (the reader's scratch,
 * or its own) is freed when it failed, stopped or is idle, and moved off
 * the scratch when it stops mid-frame or mid-message. Returns `res`, or
 * HUB_WS__CLOSE_INTERNAL when that move finds no memory. */
static int hub_ws__rx_settle(hub_ws__reader_t *r, hub_ws__rx_t **rxp,
                             hub_ws__rx_t *rx, int res) {
  if (res != HUB_WS__READ_OK && res != HUB_WS__READ_PAUSED) {
    /* A failed or stopped connection is never fed again. A context in an
     * unknown state is freed, not reused. */
    if (res != HUB_WS__READ_STOPPED && rx->ctx != NULL) {
      wslay_frame_context_free(rx->ctx);
      r->st.contexts_live--;
      rx->ctx = NULL;
    }
    hub_ws__rx_release(r, rx);
    if (rx != &r->scratch) {
      r->mem.free(rx, r->mem.user_data);
      r->st.rx_live--;
    }
    *rxp = NULL;
  } else if (hub_ws__rx_idle(rx)) {
    if (rx != &r->scratch) {
      r->mem.free(rx, r->mem.user_data);
      r->st.rx_live--;
    }
    *rxp = NULL;
  } else if (rx == &r->scratch) {
    /* The connection stops mid-frame or mid-message: its state moves
     * from the reader's scratch space to its own. */
    rx = r->mem.malloc(sizeof(*rx), r->mem.user_data);
    if (rx == NULL) {
      hub_ws__rx_release(r, &r->scratch);
      res = HUB_WS__CLOSE_INTERNAL;
    } else {
      *rx = r->scratch;
      r->st.rx_live++;
    }
    *rxp = rx;
  }
  memset(&r->scratch, 0, sizeof(r->scratch));
  return res;
}

void hub_ws__reader_get_stats(const hub_ws__reader_t *r,
                              hub_ws__reader_stats_t *st) {
  if (r == NULL || st == NULL)
    return;
  *st = r->st;
  st->contexts_lent = r->st.contexts_live - r->nspare;
}
