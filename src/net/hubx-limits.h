/* Abuse limits shared by the adapters (hub::tcp, hub::ws): how
 * many connections one client address may have open, and how many
 * messages a second one connection may send. Not part of libhub's API.
 *
 * Connections per address. A hash table keyed by the peer's address holds
 * a count for each address that has connections open, and nothing for any
 * other: an entry goes with its address's last connection. An IPv4
 * address and the same address mapped into IPv6 (as a dual-stack socket
 * reports it) are one key. The hash is keyed with a random seed per
 * server, so that a client that picks its addresses (an IPv6 /64 holds
 * 2^64 of them) cannot aim them at one chain.
 *
 * Messages per connection. A token bucket of `burst` tokens refilled at
 * `rate` tokens a second: a message takes a token, or is over the rate.
 * The refill is computed when a message arrives, from the loop's clock; no
 * timer. Tokens are counted in thousandths, so that the refill for any
 * whole number of milliseconds is exact.
 *
 * Where a connection's share is kept. A connection that closes must give
 * its count back to its address, and by then the socket may no longer
 * know the address: after a reset, getpeername(2) fails with ENOTCONN.
 * The adapters' connection objects have no byte to spare (200 bytes,
 * glibc's 208-byte chunk), so what a connection needs (the address entry
 * it counts in, its bucket) is kept in arrays indexed by its descriptor,
 * which is a small integer, unique among open sockets, and which the
 * socket gives back (hubx_limits_fd()): 4 bytes per descriptor while
 * max_per_addr (or tracking) is on, 8 while the rate is, grown to the
 * highest descriptor seen.
 *
 * Everything is O(1): an accept, a close and a message each touch a
 * descriptor's elements of those arrays, and an accept or a close one
 * hash chain (expected length below 1). Memory comes from the hub's
 * allocator. */
#ifndef HUBX_LIMITS_H
#define HUBX_LIMITS_H

#include <stddef.h>
#include <stdint.h>

#include <hub.h>
#include <uv.h>

#include "hubx-sock.h"

/* Largest rate and burst: a bucket of a million messages still fits its
 * 31 bits in thousandths. */
#define HUBX_LIMITS_MAX_RATE 1000000u

/* hubx_limits_admit(): the address has max_per_addr connections already. */
#define HUBX_LIMITS_REFUSED 1

typedef struct hubx__addr hubx__addr;
typedef struct hubx__bucket hubx__bucket;

/* Lives inside its owner (the server); private fields. */
typedef struct {
  hub_t *hub;
  uint32_t max_per_addr; /* 0: no limit */
  uint32_t rate, burst;  /* messages a second, and at once; rate 0: none */
  int track;             /* count per address even without max_per_addr */
  uint64_t seed[2];
  hubx__addr *addrs;  /* the entries: in use (count > 0) or free */
  uint32_t naddrs;    /* entries allocated */
  uint32_t free;      /* 1 + the first free entry; 0: none */
  uint32_t *chains;   /* 1 + the first entry of each chain; 0: empty */
  uint32_t nchains;   /* a power of 2, or 0 before the first address */
  uint32_t live;      /* entries in use: addresses with connections */
  /* Indexed by descriptor, each only while its limit is on: 1 + the
   * address entry (0: none), and the bucket. */
  uint32_t *addr_of;
  hubx__bucket *buckets;
  size_t nfds; /* descriptors the arrays have room for */
} hubx_limits_t;

/* Prepare `l` for a server of `hub`: at most `max_per_addr` connections
 * per address (0: no limit), and `rate` messages a second per connection
 * with bursts of `burst` (rate 0: no limit; 1 to HUBX_LIMITS_MAX_RATE
 * each, which the caller checks). Allocates nothing; cannot fail. */
void hubx_limits_init(hubx_limits_t *l, hub_t *hub, uint32_t max_per_addr,
                      uint32_t rate, uint32_t burst);

/* Give everything back to the hub's allocator, whatever is still
 * counted. The limits are off afterwards: later releases do nothing. */
void hubx_limits_free(hubx_limits_t *l);

/* Nonzero when some limit is on. */
static inline int hubx_limits_on(const hubx_limits_t *l) {
  return l->max_per_addr > 0 || l->rate > 0 || l->track;
}

/* Count connections per address even without max_per_addr (none is then
 * refused), so that hubx_limits_addr() knows each one's address: for an
 * adapter behind a reverse proxy, whose connections are counted under the
 * client's address once the proxy has said which (hubx_limits_move()).
 * Call it before the first admission. */
void hubx_limits_track(hubx_limits_t *l);

/* The descriptor of an open socket, to name its connection below. */
static inline uv_os_sock_t hubx_limits_fd(const hubx_sock_t *sock) {
  uv_os_fd_t fd = -1;

  (void)uv_fileno((const uv_handle_t *)&sock->poll, &fd);
  return fd;
}

/* A connection was accepted on `fd` at loop time `now`: count it against
 * its address, and give it a full bucket. Returns 0 (admitted: call
 * hubx_limits_release() before `fd` is closed), HUBX_LIMITS_REFUSED (its
 * address has max_per_addr connections open: close it; *report is 1 for
 * the first refusal since that address last had one admitted, and `peer`
 * holds the address as text), UV_ENOMEM, or the error of getpeername(2)
 * (the peer is gone already). Refused or failed, nothing is kept for
 * `fd`. `peer` may be NULL; `report` may not. */
int hubx_limits_admit(hubx_limits_t *l, uv_os_sock_t fd, uint64_t now,
                      int *report, char *peer, size_t peerlen);

/* As hubx_limits_admit(), for the address `key` (16 bytes; IPv4 as
 * ::ffff:a.b.c.d) rather than the peer's. With `exempt`, the connection
 * is counted but never refused: a trusted proxy's, to be counted under its
 * client's address by hubx_limits_move() once that is known. */
int hubx_limits_admit_key(hubx_limits_t *l, uv_os_sock_t fd,
                          const uint8_t key[16], int exempt, uint64_t now,
                          int *report);

/* The peer's address of `fd` as a key, and as text in `peer`
 * (`peerlen` bytes; may be NULL), from getpeername(2). Returns 0,
 * UV_EAFNOSUPPORT, or getpeername(2)'s error (the peer is gone). */
int hubx_limits_peer_key(uv_os_sock_t fd, uint8_t key[16], char *peer,
                         size_t peerlen);

/* Whether the address `key` is an IPv4 one (IPv4-mapped). */
int hubx_limits_key_is_v4(const uint8_t key[16]);

/* The address `key` as text, into buf[len] (len > 0); returns buf. */
const char *hubx_limits_key_name(const uint8_t key[16], char *buf,
                                 size_t len);

/* The connection on `fd`, admitted, belongs to the address `key` after
 * all (the client behind a proxy): from now on it counts there, if that
 * address has fewer than max_per_addr connections besides this one; it
 * keeps its bucket. Returns 0 (also when addresses are not counted, or
 * `fd` was not admitted), HUBX_LIMITS_REFUSED (*report as for
 * hubx_limits_admit()) or UV_ENOMEM; refused or failed, `fd` counts
 * nowhere any more: close it. */
int hubx_limits_move(hubx_limits_t *l, uv_os_sock_t fd,
                     const uint8_t key[16], int *report);

/* The address the connection on `fd` counts under, into `key`. Returns 0,
 * or UV_ENOENT (addresses are not counted, or `fd` counts nowhere). */
int hubx_limits_addr(const hubx_limits_t *l, uv_os_sock_t fd,
                     uint8_t key[16]);

/* The connection on `fd`, admitted, is closing: its address counts it no
 * more. Call it before closing `fd`, or at least before anything else
 * can be accepted on the same number. Nothing happens for a descriptor
 * that was not admitted, or was released already. */
void hubx_limits_release(hubx_limits_t *l, uv_os_sock_t fd);

/* A message from the connection on `fd` at loop time `now`: returns 1 if
 * it is within the rate (it took a token), 0 if it is over. *report is 1
 * for the first message over the rate since one was last within it.
 * Always 1 with no rate limit, or for a descriptor not admitted. */
int hubx_limits_take(hubx_limits_t *l, uv_os_sock_t fd, uint64_t now,
                     int *report);

#endif /* HUBX_LIMITS_H */
