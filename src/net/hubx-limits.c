/* Connections per address and messages per connection. See
 * hubx-limits.h. */
#include "hubx-limits.h"

#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

/* Entries and chains are allocated 64 at first, then doubled. */
#define HUBX__LIMITS_MIN 64

/* One address with connections open, or a free entry. */
struct hubx__addr {
  uint8_t key[16]; /* the address; IPv4 as ::ffff:a.b.c.d */
  uint32_t count;  /* connections open from it; 0: free */
  uint32_t next;   /* 1 + the next entry of its chain, or of the free
                      list; 0: none */
  uint8_t refusing; /* a refusal was reported, and none admitted since */
};

/* A descriptor's bucket. */
struct hubx__bucket {
  uint32_t tokens : 30; /* thousandths of a message */
  uint32_t over : 1;    /* its last message was over the rate */
  uint32_t used : 1;    /* admitted, and not released yet */
  uint32_t filled;      /* uv_now() (mod 2^32) of the last refill */
};

void hubx_limits_init(hubx_limits_t *l, hub_t *hub, uint32_t max_per_addr,
                      uint32_t rate, uint32_t burst) {
  memset(l, 0, sizeof(*l));
  l->hub = hub;
  l->max_per_addr = max_per_addr;
  l->rate = rate;
  l->burst = burst;
  /* Without the system's randomness (it never fails on Linux once
   * booted), a seed that differs per process still beats a known one. */
  if (uv_random(NULL, NULL, l->seed, sizeof(l->seed), 0, NULL) != 0) {
    l->seed[0] = uv_hrtime();
    l->seed[1] = (uint64_t)(uintptr_t)l ^ 0x9e3779b97f4a7c15u;
  }
}

void hubx_limits_track(hubx_limits_t *l) {
  l->track = 1;
}

void hubx_limits_free(hubx_limits_t *l) {
  if (l->hub != NULL) {
    hub_mem_free(l->hub, l->addrs);
    hub_mem_free(l->hub, l->chains);
    hub_mem_free(l->hub, l->addr_of);
    hub_mem_free(l->hub, l->buckets);
  }
  l->addrs = NULL;
  l->chains = NULL;
  l->addr_of = NULL;
  l->buckets = NULL;
  l->naddrs = l->nchains = l->live = l->free = 0;
  l->nfds = 0;
  l->max_per_addr = l->rate = 0;
  l->track = 0;
}

/* ------------------------------------------------------------------------
 * The address table
 * ------------------------------------------------------------------------ */

/* MurmurHash3's finaliser: every input bit moves about half the output
 * bits. Not a cryptographic function, but the seed is unknown to the
 * peer. */
static uint64_t hubx__mix(uint64_t h) {
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdu;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53u;
  h ^= h >> 33;
  return h;
}

static uint32_t hubx__chain(const hubx_limits_t *l, const uint8_t key[16]) {
  uint64_t a, b;

  memcpy(&a, key, 8);
  memcpy(&b, key + 8, 8);
  return (uint32_t)hubx__mix(hubx__mix(a ^ l->seed[0]) ^ b ^ l->seed[1]) &
         (l->nchains - 1);
}

int hubx_limits_peer_key(uv_os_sock_t fd, uint8_t key[16], char *peer,
                         size_t peerlen) {
  struct sockaddr_storage ss;
  socklen_t len = sizeof(ss);
  const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)&ss;
  const struct sockaddr_in *a4 = (const struct sockaddr_in *)&ss;

  if (getpeername(fd, (struct sockaddr *)&ss, &len) != 0)
    return uv_translate_sys_error(errno);
  if (ss.ss_family == AF_INET6) {
    memcpy(key, &a6->sin6_addr, 16);
  } else if (ss.ss_family == AF_INET) {
    memset(key, 0, 10);
    key[10] = key[11] = 0xff;
    memcpy(key + 12, &a4->sin_addr, 4);
  } else {
    return UV_EAFNOSUPPORT;
  }
  if (peer != NULL && peerlen > 0)
    hubx_limits_key_name(key, peer, peerlen);
  return 0;
}

int hubx_limits_key_is_v4(const uint8_t key[16]) {
  static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                     0xff, 0xff};

  return memcmp(key, mapped, 12) == 0;
}

const char *hubx_limits_key_name(const uint8_t key[16], char *buf,
                                 size_t len) {
  if (hubx_limits_key_is_v4(key))
    uv_inet_ntop(AF_INET, key + 12, buf, len);
  else
    uv_inet_ntop(AF_INET6, key, buf, len);
  return buf;
}

/* The entry of `key`, or 0; 1 + its index otherwise. */
static uint32_t hubx__find(const hubx_limits_t *l, const uint8_t key[16]) {
  uint32_t i;

  if (l->nchains == 0)
    return 0;
  for (i = l->chains[hubx__chain(l, key)]; i != 0; i = l->addrs[i - 1].next)
    if (memcmp(l->addrs[i - 1].key, key, 16) == 0)
      return i;
  return 0;
}

/* Chain every entry in use anew, into `n` chains. */
static int hubx__rechain(hubx_limits_t *l, uint32_t n) {
  uint32_t *chains, i, h;

  chains = hub_mem_alloc(l->hub, n * sizeof(*chains));
  if (chains == NULL)
    return UV_ENOMEM;
  memset(chains, 0, n * sizeof(*chains));
  hub_mem_free(l->hub, l->chains);
  l->chains = chains;
  l->nchains = n;
  for (i = 0; i < l->naddrs; i++) {
    if (l->addrs[i].count == 0)
      continue; /* free: its `next` links the free list */
    h = hubx__chain(l, l->addrs[i].key);
    l->addrs[i].next = chains[h];
    chains[h] = i + 1;
  }
  return 0;
}

/* Room for one more entry in use: entries are doubled when none is free,
 * chains when there would be more entries in use than chains. */
static int hubx__reserve(hubx_limits_t *l) {
  hubx__addr *addrs;
  uint32_t n, i;

  if (l->free == 0) {
    n = l->naddrs == 0 ? HUBX__LIMITS_MIN : l->naddrs * 2;
    if (n <= l->naddrs || n > UINT32_MAX / sizeof(*addrs))
      return UV_ENOMEM;
    addrs = hub_mem_realloc(l->hub, l->addrs, n * sizeof(*addrs));
    if (addrs == NULL)
      return UV_ENOMEM;
    memset(addrs + l->naddrs, 0, (n - l->naddrs) * sizeof(*addrs));
    for (i = n; i > l->naddrs; i--) {
      addrs[i - 1].next = l->free;
      l->free = i;
    }
    l->addrs = addrs;
    l->naddrs = n;
  }
  if (l->live + 1 > l->nchains)
    return hubx__rechain(l, l->nchains == 0 ? HUBX__LIMITS_MIN
                                            : l->nchains * 2);
  return 0;
}

/* A new entry for `key`, with no connection counted yet. */
static uint32_t hubx__insert(hubx_limits_t *l, const uint8_t key[16]) {
  uint32_t i = l->free, h;
  hubx__addr *a = &l->addrs[i - 1];

  l->free = a->next;
  memcpy(a->key, key, 16);
  a->refusing = 0;
  h = hubx__chain(l, key);
  a->next = l->chains[h];
  l->chains[h] = i;
  l->live++;
  return i;
}

/* Unchain entry `i` (1-based), whose last connection went, and free it. */
static void hubx__remove(hubx_limits_t *l, uint32_t i) {
  hubx__addr *a = &l->addrs[i - 1];
  uint32_t *p = &l->chains[hubx__chain(l, a->key)];

  while (*p != i)
    p = &l->addrs[*p - 1].next;
  *p = a->next;
  a->next = l->free;
  l->free = i;
  l->live--;
}

/* ------------------------------------------------------------------------
 * Connections
 * ------------------------------------------------------------------------ */

/* Nonzero when connections are counted per address. */
static int hubx__counting(const hubx_limits_t *l) {
  return l->max_per_addr > 0 || l->track;
}

/* `array` (of `size`-byte elements, nfds of them) grown to `n`, the new
 * ones zeroed; NULL when out of memory (`array` is left as it was). */
static void *hubx__grow(hubx_limits_t *l, void *array, size_t size,
                        size_t n) {
  char *p = hub_mem_realloc(l->hub, array, n * size);

  if (p != NULL)
    memset(p + l->nfds * size, 0, (n - l->nfds) * size);
  return p;
}

/* Make `fd` an index of the arrays of the limits that are on. */
static int hubx__fd_room(hubx_limits_t *l, uv_os_sock_t fd) {
  uint32_t *addr_of;
  hubx__bucket *buckets;
  size_t n;

  if (fd < 0)
    return UV_EBADF;
  if ((size_t)fd < l->nfds)
    return 0;
  n = l->nfds < HUBX__LIMITS_MIN ? HUBX__LIMITS_MIN : l->nfds * 2;
  if (n <= (size_t)fd)
    n = (size_t)fd + 1;
  /* Should the second fail, the first keeps its room: unused, and
   * zeroed again when it grows next. */
  if (hubx__counting(l)) {
    addr_of = hubx__grow(l, l->addr_of, sizeof(*addr_of), n);
    if (addr_of == NULL)
      return UV_ENOMEM;
    l->addr_of = addr_of;
  }
  if (l->rate > 0) {
    buckets = hubx__grow(l, l->buckets, sizeof(*buckets), n);
    if (buckets == NULL)
      return UV_ENOMEM;
    l->buckets = buckets;
  }
  l->nfds = n;
  return 0;
}

/* Count a connection against the address `key`, or refuse it (unless
 * `exempt`): its entry in *addr. */
static int hubx__count(hubx_limits_t *l, const uint8_t key[16], int exempt,
                       uint32_t *addr, int *report) {
  uint32_t i;
  int r;

  i = hubx__find(l, key);
  if (i != 0 && !exempt && l->max_per_addr > 0 &&
      l->addrs[i - 1].count >= l->max_per_addr) {
    *report = !l->addrs[i - 1].refusing;
    l->addrs[i - 1].refusing = 1;
    return HUBX_LIMITS_REFUSED;
  }
  if (i == 0) {
    r = hubx__reserve(l);
    if (r != 0)
      return r;
    i = hubx__insert(l, key);
  }
  l->addrs[i - 1].count++;
  if (!exempt)
    l->addrs[i - 1].refusing = 0;
  *addr = i;
  return 0;
}

int hubx_limits_admit(hubx_limits_t *l, uv_os_sock_t fd, uint64_t now,
                      int *report, char *peer, size_t peerlen) {
  uint8_t key[16] = {0};
  int r;

  *report = 0;
  if (peer != NULL && peerlen > 0)
    peer[0] = '\0';
  if (!hubx_limits_on(l))
    return 0;
  if (hubx__counting(l)) {
    r = hubx_limits_peer_key(fd, key, peer, peerlen);
    if (r != 0)
      return r;
  }
  return hubx_limits_admit_key(l, fd, key, 0, now, report);
}

int hubx_limits_admit_key(hubx_limits_t *l, uv_os_sock_t fd,
                          const uint8_t key[16], int exempt, uint64_t now,
                          int *report) {
  hubx__bucket *b;
  uint32_t addr;
  int r;

  *report = 0;
  if (!hubx_limits_on(l))
    return 0;
  /* Room first: once counted, the connection must be releasable. */
  r = hubx__fd_room(l, fd);
  if (r != 0)
    return r;
  if (hubx__counting(l)) {
    l->addr_of[fd] = 0;
    r = hubx__count(l, key, exempt, &addr, report);
    if (r != 0)
      return r;
    l->addr_of[fd] = addr;
  }
  if (l->rate > 0) {
    b = &l->buckets[fd];
    b->tokens = l->burst * 1000u;
    b->over = 0;
    b->used = 1;
    b->filled = (uint32_t)now;
  }
  return 0;
}

/* Give `fd`'s count back to its address, keeping its bucket. */
static void hubx__uncount(hubx_limits_t *l, uv_os_sock_t fd) {
  uint32_t i;

  if (l->addr_of != NULL && (i = l->addr_of[fd]) != 0) {
    l->addr_of[fd] = 0;
    if (--l->addrs[i - 1].count == 0)
      hubx__remove(l, i);
  }
}

int hubx_limits_move(hubx_limits_t *l, uv_os_sock_t fd,
                     const uint8_t key[16], int *report) {
  uint32_t addr;
  int r;

  *report = 0;
  if (!hubx__counting(l) || fd < 0 || (size_t)fd >= l->nfds ||
      l->addr_of[fd] == 0)
    return 0;
  /* Out first, so that the connection does not count against itself
   * when it stays where it was. */
  hubx__uncount(l, fd);
  r = hubx__count(l, key, 0, &addr, report);
  if (r == 0)
    l->addr_of[fd] = addr;
  return r;
}

int hubx_limits_addr(const hubx_limits_t *l, uv_os_sock_t fd,
                     uint8_t key[16]) {
  uint32_t i;

  if (l->addr_of == NULL || fd < 0 || (size_t)fd >= l->nfds ||
      (i = l->addr_of[fd]) == 0)
    return UV_ENOENT;
  memcpy(key, l->addrs[i - 1].key, 16);
  return 0;
}

void hubx_limits_release(hubx_limits_t *l, uv_os_sock_t fd) {
  if (fd < 0 || (size_t)fd >= l->nfds)
    return;
  hubx__uncount(l, fd);
  if (l->buckets != NULL)
    l->buckets[fd].used = 0;
}

int hubx_limits_take(hubx_limits_t *l, uv_os_sock_t fd, uint64_t now,
                     int *report) {
  uint64_t tokens, cap = (uint64_t)l->burst * 1000u;
  hubx__bucket *b;

  *report = 0;
  if (l->rate == 0 || fd < 0 || (size_t)fd >= l->nfds ||
      !l->buckets[fd].used)
    return 1;
  b = &l->buckets[fd];
  /* A rate of R a second is R thousandths of a message a millisecond.
   * The difference of truncated times is exact below 2^32 ms (49 days);
   * a bucket fills in at most 10^6 s (11.6 days) anyway. */
  tokens = b->tokens + (uint64_t)((uint32_t)now - b->filled) * l->rate;
  b->tokens = (uint32_t)(tokens < cap ? tokens : cap);
  b->filled = (uint32_t)now;
  if (b->tokens >= 1000) {
    b->tokens -= 1000;
    b->over = 0;
    return 1;
  }
  *report = !b->over;
  b->over = 1;
  return 0;
}
