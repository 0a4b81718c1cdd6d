/* A connected TCP socket on a uv_poll_t, shared by the adapters
 * (hub::tcp, hub::ws). Not part of libhub's API.
 *
 * Why not a uv_tcp_t: it is 248 bytes, and a write libuv could not finish
 * at once completes one loop iteration after the kernel took its last
 * byte, so a client holds data already sent for a whole iteration. A
 * uv_poll_t is 160 bytes; with recv() and sendmsg() on the non-blocking
 * socket directly, a write is done when sendmsg() says so, and the only
 * per-write memory is the unwritten rest of a write the kernel did not
 * take whole, kept until the socket is writable again. POSIX only.
 *
 * The socket lives inside its owner's connection (no allocation of its
 * own). Every socket of a server shares one hubx_sock_ctx_t, also inside
 * the owner: its callbacks, its read buffer (one per server: each read is
 * consumed before the next) and the allocator of pending writes. */
#ifndef HUBX_SOCK_H
#define HUBX_SOCK_H

#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <hub.h>
#include <uv.h>

typedef struct hubx_sock_s hubx_sock_t;

/* `nread` > 0 bytes at `buf` (the context's buffer, valid during the
 * call), UV_EOF, or a negative error; 0 only when a pause ends with no
 * bytes kept (see hubx_sock_pause()). After UV_EOF or an error the socket
 * reads no more. The callback may close the socket. */
typedef void (*hubx_sock_read_cb)(hubx_sock_t *sock, ssize_t nread,
                                  char *buf);

/* The write hubx_sock_write() left pending is out (`status` 0) or failed
 * (a negative error; the socket then writes nothing more). Not called for
 * a write dropped by hubx_sock_close(). */
typedef void (*hubx_sock_write_cb)(hubx_sock_t *sock, int status);

/* A socket whose reading waits for the hub (hubx_sock_pause()), and the
 * input it had not consumed yet. */
typedef struct {
  hubx_sock_t *sock;
  char *rest; /* from the hub's allocator; NULL when len is 0 */
  size_t len;
} hubx__held_t;

/* Its address, and the hub allocator's pointers, must be 8-byte aligned
 * at least (as malloc()'s are). Set up with hubx_sock_ctx_init(). */
typedef struct {
  hubx_sock_read_cb on_read;
  hubx_sock_write_cb on_write;
  hub_t *hub; /* pending writes come from its allocator */
  char *rbuf;
  size_t rbuf_len;
  /* Private: the paused sockets, in the order they paused (a table from
   * malloc(): it may outlive the hub), and whether the context waits for
   * the hub's hub_on_ready() callback. */
  hubx__held_t *held;
  size_t nheld, held_cap;
  int registered;
} hubx_sock_ctx_t;

void hubx_sock_ctx_init(hubx_sock_ctx_t *ctx, hub_t *hub,
                        hubx_sock_read_cb on_read,
                        hubx_sock_write_cb on_write, char *rbuf,
                        size_t rbuf_len);

/* Forget the context's registration with the hub, if it has one (its
 * sockets must all be closed): call it before the owner frees the
 * context. */
void hubx_sock_ctx_close(hubx_sock_ctx_t *ctx);

/* Nothing but the handle: its data pointer is the context, or the
 * pending write (which points to the context), with three flag bits in
 * its low bits (both are at least 8-byte aligned). Private: use
 * hubx_sock_ctx().
 *
 * Why not plain fields: a pointer for the pending write and two flags
 * would make the socket 176 bytes, and the adapters' connections, which
 * fill glibc's 208-byte chunk to the byte (hub_ws__conn_t) or to three
 * bytes (hub_tcp__conn), would move to the 224-byte chunk: 16 bytes more
 * per connection, for state that no other field can give up. */
struct hubx_sock_s {
  uv_poll_t poll;
};

/* The context the socket was opened with. */
hubx_sock_ctx_t *hubx_sock_ctx(const hubx_sock_t *sock);

/* Watch `fd` (connected, non-blocking) and start reading. TCP_NODELAY is
 * set, and SO_SNDBUF to `send_buffer` bytes when it is > 0. Returns 0, or
 * an error after which `fd` is still the caller's and `sock` needs no
 * closing. */
int hubx_sock_open(hubx_sock_t *sock, hubx_sock_ctx_t *ctx, uv_loop_t *loop,
                   uv_os_sock_t fd, int send_buffer);

/* Write what the socket takes now; keep the rest (the buffers' addresses,
 * not their bytes: they must stay valid until the write is done) and
 * write it as the socket takes it. Returns HUB_WRITE_DONE, or
 * HUB_WRITE_PENDING (ctx->on_write() follows), or a negative error (part
 * of the data may have been written). UV_EBUSY while a write is pending.
 * May change `bufs`. */
int hubx_sock_write(hubx_sock_t *sock, uv_buf_t *bufs, unsigned int nbufs);

/* Write now or not at all, as uv_try_write(): the bytes written, possibly
 * fewer than given; UV_EAGAIN when none can be, or a write is pending. */
int hubx_sock_try_write(hubx_sock_t *sock, const uv_buf_t *bufs,
                        unsigned int nbufs);

/* Send a FIN once the pending write, if any, is out. Returns 0 or an
 * error (the peer is gone, typically). */
int hubx_sock_shutdown(hubx_sock_t *sock);

/* Stop, and close the descriptor now; a pending write is dropped. `cb`
 * runs from the loop once the handle is closed (uv_close()). */
void hubx_sock_close(hubx_sock_t *sock, uv_close_cb cb);

int hubx_sock_is_closing(const hubx_sock_t *sock);

/* Senders wait while the hub is congested (hub.h, "Bursts and slow
 * consumers"): from inside on_read, stop reading this socket and keep
 * the `len` bytes at `rest` (the part of the buffer not consumed yet;
 * copied). Once the hub is ready, on_read is called with them, even if
 * `len` was 0 (nread 0: go on with what the owner holds), and reading goes
 * on unless the owner paused again. The kernel's buffers then fill and
 * TCP makes the sender wait. Only while the hub is congested. Returns 0,
 * UV_EBUSY (not congested: go on), or UV_ENOMEM. */
int hubx_sock_pause(hubx_sock_t *sock, const char *rest, size_t len);

int hubx_sock_is_paused(const hubx_sock_t *sock);

/* The peer's address, as uv_tcp_getpeername(). */
int hubx_sock_getpeername(const hubx_sock_t *sock, struct sockaddr *name,
                          int *namelen);

#endif /* HUBX_SOCK_H */
