/* Reverse proxies: the trusted-proxy list (addresses and CIDR prefixes)
 * and the client address in an X-Forwarded-For header. Pure code: bytes
 * in, an address out, no I/O, so that hostile headers are unit-tested and
 * fuzzed.
 *
 * Addresses are 16-byte keys, IPv4 as the IPv4-mapped IPv6 address
 * (::ffff:a.b.c.d), as hubx-limits.h keys them: "10.0.0.0/8" is the
 * prefix ::ffff:10.0.0.0/104, and matches a peer that a dual-stack socket
 * reports as ::ffff:10.1.2.3 as well as one reported as 10.1.2.3.
 *
 * X-Forwarded-For is a comma-separated list of the addresses a request
 * went through: the client's first, then each proxy appends the address
 * of the peer it received the request from. Only the proxies' part of the
 * list can be believed (anything to the left of it was written by the
 * client), so it is read from the right: each address that is a trusted
 * proxy is skipped, and the first one that is not is the client. What
 * lies to the left of that is never looked at, so that a client cannot
 * make a request fail with a header of its own. */
#ifndef WS_FORWARDED_H
#define WS_FORWARDED_H

#include <stddef.h>
#include <stdint.h>

/* An address or a prefix: its first `bits` bits are compared. */
typedef struct {
  uint8_t addr[16];
  uint8_t bits; /* 0 to 128; an IPv4 prefix /n is 96 + n */
} hub_ws__cidr_t;

/* The longest element of an X-Forwarded-For list that can be an address:
 * "[v6]:port" with a full IPv6 address in IPv4 form. Longer ones are
 * malformed without being copied. */
#define HUB_WS__XFF_ELEMENT_MAX 56

/* hub_ws__xff_client() results. */
enum {
  HUB_WS__XFF_NONE = 0,    /* no address in the value (empty, or only commas) */
  HUB_WS__XFF_CLIENT = 1,  /* *out is the right-most address not trusted */
  HUB_WS__XFF_TRUSTED = 2, /* every address is trusted; *out is the left-most */
  HUB_WS__XFF_BAD = -1     /* an element read is not an address */
};

/* Parse "ADDR" or "ADDR/BITS" (`len` bytes, no NUL needed): a numeric
 * IPv4 address with a prefix of 0 to 32 bits, or an IPv6 address with 0
 * to 128; without /BITS, the address alone. Bits set in the address
 * beyond the prefix ("10.1.0.0/8") are refused, as the typo they usually
 * are. Returns 0, or -1 for anything else. */
int hub_ws__cidr_parse(const char *s, size_t len, hub_ws__cidr_t *out);

/* Nonzero if the 16-byte key `addr` is in one of the `n` prefixes. */
int hub_ws__cidr_match(const hub_ws__cidr_t *set, size_t n,
                       const uint8_t addr[16]);

/* One element of an X-Forwarded-For list, without surrounding
 * whitespace: an IPv4 address ("192.0.2.7"), optionally with a port
 * ("192.0.2.7:5000"); an IPv6 address ("2001:db8::7"), or one in
 * brackets, optionally with a port ("[2001:db8::7]:5000"). The port, if
 * any (1 to 65535), is checked and dropped. Zone indexes, host names,
 * "unknown" and obfuscated identifiers (RFC 7239's "_hidden") are not
 * addresses. Returns 0 with the key in out, or -1. */
int hub_ws__xff_addr(const char *s, size_t len, uint8_t out[16]);

/* Read the X-Forwarded-For value `v` (`len` bytes) from the right: skip
 * empty elements and spaces or tabs around elements, skip the addresses
 * in `trusted` (`n` prefixes), and stop at the first other one. Returns
 * HUB_WS__XFF_CLIENT with it in *out; HUB_WS__XFF_TRUSTED when every address
 * was trusted, with the left-most one in *out (a client inside a trusted
 * network); HUB_WS__XFF_NONE when there is no element at all; HUB_WS__XFF_BAD
 * when an element read is not an address (hub_ws__xff_addr()), *out then being
 * unspecified. Time is linear in the part read, whatever the input; no
 * allocation. */
int hub_ws__xff_client(const char *v, size_t len, const hub_ws__cidr_t *trusted,
                       size_t n, uint8_t out[16]);

#endif /* WS_FORWARDED_H */
