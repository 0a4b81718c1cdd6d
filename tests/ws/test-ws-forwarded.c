/* Trusted proxies and X-Forwarded-For (ws-forwarded.h), from strings:
 * prefixes, single elements, whole lists read from the right, and hostile
 * values (huge, thousands of hops, garbage, every byte, IPv6 forms,
 * spaces). */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "ws-forwarded.h"

/* The key of a numeric address, as the adapter makes it. */
static void key_of(const char *s, uint8_t key[16]) {
  memset(key, 0, 16);
  if (strchr(s, ':') != NULL) {
    if (inet_pton(AF_INET6, s, key) != 1)
      abort();
  } else {
    key[10] = key[11] = 0xff;
    if (inet_pton(AF_INET, s, key + 12) != 1)
      abort();
  }
}

static int cidr(const char *s, hub_ws__cidr_t *out) {
  return hub_ws__cidr_parse(s, strlen(s), out);
}

static int addr_is(const char *s, const char *want) {
  uint8_t got[16], key[16];

  if (hub_ws__xff_addr(s, strlen(s), got) != 0)
    return 0;
  key_of(want, key);
  return memcmp(got, key, 16) == 0;
}

static int not_addr(const char *s) {
  uint8_t got[16];

  return hub_ws__xff_addr(s, strlen(s), got) != 0;
}

/* The trusted set of most tests: loopback, 10/8 and fd00::/8. */
static hub_ws__cidr_t trusted[3];
static size_t ntrusted;

static void trust_defaults(void) {
  ntrusted = 0;
  if (cidr("127.0.0.1", &trusted[ntrusted++]) != 0 ||
      cidr("10.0.0.0/8", &trusted[ntrusted++]) != 0 ||
      cidr("fd00::/8", &trusted[ntrusted++]) != 0)
    abort();
}

/* hub_ws__xff_client() over `v`; for CLIENT and TRUSTED, *out as text. */
static int xff(const char *v, size_t len, char *text, size_t cap) {
  uint8_t out[16];
  static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                     0xff, 0xff};
  int r = hub_ws__xff_client(v, len, trusted, ntrusted, out);

  text[0] = '\0';
  if (r == HUB_WS__XFF_CLIENT || r == HUB_WS__XFF_TRUSTED) {
    if (memcmp(out, mapped, 12) == 0)
      inet_ntop(AF_INET, out + 12, text, (socklen_t)cap);
    else
      inet_ntop(AF_INET6, out, text, (socklen_t)cap);
  }
  return r;
}

static int client_is(const char *v, const char *want) {
  char got[64];

  return xff(v, strlen(v), got, sizeof(got)) == HUB_WS__XFF_CLIENT &&
         strcmp(got, want) == 0;
}

static int bad(const char *v) {
  char got[64];

  return xff(v, strlen(v), got, sizeof(got)) == HUB_WS__XFF_BAD;
}

/* A value and what `check` must read in it. */
typedef const char *const read_case[2];

/* 0 when `check` holds for every case, else the number of the first for
 * which it does not. */
static size_t reads_as(int (*check)(const char *, const char *),
                       read_case *cases, size_t n) {
  size_t i;

  for (i = 0; i < n; i++) {
    if (!check(cases[i][0], cases[i][1])) {
      printf("# '%s' does not read as '%s'\n", cases[i][0], cases[i][1]);
      return i + 1;
    }
  }
  return 0;
}

#define READS_AS(check, cases)                                               \
  reads_as(check, cases, sizeof(cases) / sizeof(cases[0]))

TEST(cidr_parses_addresses_and_prefixes) {
  static const struct {
    const char *spec;
    int bits; /* of the 128 of an IPv6 key */
  } prefixes[] = {
      {"127.0.0.1", 128},
      {"10.0.0.0/8", 104},
      {"0.0.0.0/0", 96}, /* every IPv4 address, no IPv6 one */
      {"::1", 128},
      {"2001:db8::/32", 32},
      {"::/0", 0},
  };
  hub_ws__cidr_t c;
  uint8_t k[16];
  size_t i;

  for (i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
    ASSERT_EQ(cidr(prefixes[i].spec, &c), 0);
    ASSERT_EQ(c.bits, prefixes[i].bits);
  }
  ASSERT_EQ(cidr("::ffff:10.0.0.0/104", &c), 0);
  key_of("10.0.0.0", k);
  ASSERT(memcmp(c.addr, k, 16) == 0);
  ASSERT_EQ(cidr("192.0.2.1/32", &c), 0);
  ASSERT_EQ(cidr("2001:db8::1/128", &c), 0);
}

TEST(cidr_refuses_what_is_not_a_prefix) {
  static const char *const bad_specs[] = {
      "", "/8", "10.0.0.0/", "10.0.0.0/33", "10.0.0.0/-1", "10.0.0.0/+8",
      "10.0.0.0/8/8", "10.0.0.0/0008", "10.1.0.0/8", "::1/129",
      "2001:db8::1/32", "localhost", "proxy.example", "10.0.0", "10.0.0.256",
      "010.0.0.1", "1.2.3.4 ", " 1.2.3.4", "[::1]", "::1%lo", "fe80::1%1",
      "1.2.3.4:80", "::1/ 8", "::1/8 ", "*", "0x7f000001",
  };
  hub_ws__cidr_t c;
  size_t i;

  for (i = 0; i < sizeof(bad_specs) / sizeof(bad_specs[0]); i++) {
    if (cidr(bad_specs[i], &c) == 0)
      printf("# accepted: '%s'\n", bad_specs[i]);
    ASSERT(cidr(bad_specs[i], &c) != 0);
  }
  /* Only the given length is read. */
  ASSERT_EQ(hub_ws__cidr_parse("10.0.0.0/8garbage", 10, &c), 0);
  ASSERT_EQ(c.bits, 104);
}

TEST(cidr_match_compares_the_prefix_bits_only) {
  static const struct {
    const char *addr;
    int in; /* in the set below */
  } addrs[] = {
      {"10.255.1.2", 1},       {"11.0.0.0", 0},
      {"192.168.5.255", 1},    {"192.168.6.0", 0},
      {"192.168.3.255", 0},    {"2001:db8:ffff::1", 1},
      {"2001:db8:7fff::1", 0}, {"::1", 1},
      {"::2", 0},
      /* An IPv4 prefix matches the IPv4-mapped form (a dual-stack
       * socket's peer), which is the same key. */
      {"::ffff:10.1.2.3", 1},
  };
  hub_ws__cidr_t set[4];
  uint8_t k[16];
  size_t i;

  ASSERT_EQ(cidr("10.0.0.0/8", &set[0]), 0);
  ASSERT_EQ(cidr("192.168.4.0/23", &set[1]), 0);
  ASSERT_EQ(cidr("2001:db8:8000::/33", &set[2]), 0);
  ASSERT_EQ(cidr("::1", &set[3]), 0);
  for (i = 0; i < sizeof(addrs) / sizeof(addrs[0]); i++) {
    key_of(addrs[i].addr, k);
    if (!hub_ws__cidr_match(set, 4, k) != !addrs[i].in)
      printf("# %s\n", addrs[i].addr);
    ASSERT_EQ(!hub_ws__cidr_match(set, 4, k), !addrs[i].in);
  }
  /* k is still the last one's: no set, no match. */
  ASSERT(!hub_ws__cidr_match(set, 0, k));
}

TEST(xff_element_forms) {
  static read_case forms[] = {
      {"192.0.2.7", "192.0.2.7"},
      {"192.0.2.7:5000", "192.0.2.7"},
      {"192.0.2.7:65535", "192.0.2.7"},
      {"2001:db8::7", "2001:db8::7"},
      {"[2001:db8::7]", "2001:db8::7"},
      {"[2001:db8::7]:443", "2001:db8::7"},
      {"::1", "::1"},
      {"::ffff:192.0.2.7", "192.0.2.7"},
      {"[::ffff:192.0.2.7]:1", "192.0.2.7"},
      {"2001:0db8:0000:0000:0000:0000:0000:0007", "2001:db8::7"},
      {"ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255",
       "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"},
      /* The longest form there is still fits. */
      {"[ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255]:65535",
       "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"},
  };

  ASSERT_EQ(READS_AS(addr_is, forms), 0);
}

TEST(xff_element_refusals) {
  static const char *const garbage[] = {
      "", "unknown", "_hidden", "_abc", "proxy.example", "localhost",
      "192.0.2.7:", "192.0.2.7:0", "192.0.2.7:65536", "192.0.2.7:123456",
      "192.0.2.7:80:80", "192.0.2.7:-1", "192.0.2.7:+80", "192.0.2.7:8a",
      "192.0.2", "192.0.2.7.1", "192.0.2.256", "0192.0.2.7", "192.0.2.7/32",
      "[192.0.2.7]", "[2001:db8::7", "2001:db8::7]", "[2001:db8::7]:",
      "[2001:db8::7]:0", "[2001:db8::7]x", "[2001:db8::7]:80x",
      "[[2001:db8::7]]", "2001:db8::7%eth0", "[fe80::1%25eth0]",
      "2001:db8:::7", "2001:db8::7::1", "12345::1", "g::1", "1.2.3.4 5",
      "1.2.3.4\t", " 1.2.3.4", "\"1.2.3.4\"", "for=1.2.3.4", "1.2.3.4;",
      "\xc0\xa8\x00\x01", "1.2.3.4\x80",
  };
  char longv[128];
  size_t i;

  for (i = 0; i < sizeof(garbage) / sizeof(garbage[0]); i++) {
    if (!not_addr(garbage[i]))
      printf("# accepted: '%s'\n", garbage[i]);
    ASSERT(not_addr(garbage[i]));
  }
  /* Longer than any address, refused before any copy. */
  memset(longv, '1', sizeof(longv) - 1);
  longv[sizeof(longv) - 1] = '\0';
  ASSERT(not_addr(longv));
  memcpy(longv, "::", 2);
  ASSERT(not_addr(longv));
  /* Only the given length is read: no NUL needed. */
  {
    uint8_t got[16];

    ASSERT_EQ(hub_ws__xff_addr("192.0.2.7GARBAGE", 9, got), 0);
  }
}

TEST(xff_right_most_untrusted_address_is_the_client) {
  static read_case lists[] = {
      {"192.0.2.7", "192.0.2.7"},
      /* A client that writes its own header cannot choose its address:
       * the proxy appended the real one. */
      {"6.6.6.6, 192.0.2.7", "192.0.2.7"},
      /* Trusted hops on the right are skipped. */
      {"192.0.2.7, 10.0.0.2", "192.0.2.7"},
      {"192.0.2.7, 10.0.0.2, 127.0.0.1", "192.0.2.7"},
      {"6.6.6.6, 192.0.2.7, 10.1.1.1, fd00::5", "192.0.2.7"},
      /* Whatever is left of the client is never read, garbage included:
       * a client cannot make a request fail through the proxy. */
      {"garbage, 192.0.2.7", "192.0.2.7"},
      {"\x01\x02\xff, unknown,,[, 192.0.2.7, 10.0.0.1", "192.0.2.7"},
      {"2001:db8::7", "2001:db8::7"},
      {"[2001:db8::7]:5000, 10.0.0.9", "2001:db8::7"},
      {"192.0.2.7:1234, [fd00::1]:80", "192.0.2.7"},
  };

  trust_defaults();
  ASSERT_EQ(READS_AS(client_is, lists), 0);
}

TEST(xff_spaces_and_empty_elements) {
  static read_case lists[] = {
      {"  192.0.2.7  ", "192.0.2.7"},
      {"\t192.0.2.7\t,\t10.0.0.1\t", "192.0.2.7"},
      {"192.0.2.7,10.0.0.1", "192.0.2.7"},
      {"192.0.2.7 ,, , 10.0.0.1,", "192.0.2.7"},
      {",,,192.0.2.7,,,", "192.0.2.7"},
  };
  char got[64];

  trust_defaults();
  ASSERT_EQ(READS_AS(client_is, lists), 0);
  ASSERT_EQ(xff("", 0, got, sizeof(got)), HUB_WS__XFF_NONE);
  ASSERT_EQ(xff(" ,\t, ,", 6, got, sizeof(got)), HUB_WS__XFF_NONE);
  /* A space inside an element is not a separator. */
  ASSERT(bad("192.0.2.7 10.0.0.1"));
  ASSERT(bad("192.0.2.7; 10.0.0.1"));
}

TEST(xff_every_address_trusted_gives_the_left_most) {
  char got[64];

  trust_defaults();
  ASSERT_EQ(xff("10.0.0.3, 10.0.0.2", 18, got, sizeof(got)),
            HUB_WS__XFF_TRUSTED);
  ASSERT_STR_EQ(got, "10.0.0.3");
  ASSERT_EQ(xff("127.0.0.1", 9, got, sizeof(got)), HUB_WS__XFF_TRUSTED);
  ASSERT_STR_EQ(got, "127.0.0.1");
  /* With nothing trusted, the right-most address is the client. */
  ntrusted = 0;
  ASSERT(client_is("10.0.0.3, 10.0.0.2", "10.0.0.2"));
}

TEST(xff_garbage_in_the_proxies_part_is_malformed) {
  static const char *const lists[] = {
      "unknown", "192.0.2.7, unknown", "192.0.2.7, 10.0.0.1, garbage",
      "192.0.2.7, _hidden, 10.0.0.1", "for=192.0.2.7",
      "192.0.2.7, fe80::1%eth0", "\xff\xfe", "192.0.2.7, 10.0.0.1:99999",
  };
  size_t i;

  trust_defaults();
  for (i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
    if (!bad(lists[i]))
      printf("# not malformed: '%s'\n", lists[i]);
    ASSERT(bad(lists[i]));
  }
}

TEST(xff_every_byte_value_as_an_element) {
  char v[32], got[64];
  int c, r;

  trust_defaults();
  /* "192.0.2.7, X10.0.0.1" and "192.0.2.7, 10.0.0.1X" for every byte X:
   * a definite result, and never a client other than 192.0.2.7, or the
   * address a digit made ("110.0.0.1"). */
  for (c = 1; c < 256; c++) {
    int n = snprintf(v, sizeof(v), "192.0.2.7, %c10.0.0.1", c);
    r = xff(v, (size_t)n, got, sizeof(got));
    ASSERT(r == HUB_WS__XFF_CLIENT || r == HUB_WS__XFF_BAD);
    if (r == HUB_WS__XFF_CLIENT)
      ASSERT(strcmp(got, "192.0.2.7") == 0 ||
             (c >= '1' && c <= '9' && strcmp(got, v + 11) == 0));
    n = snprintf(v, sizeof(v), "192.0.2.7, 10.0.0.1%c", c);
    r = xff(v, (size_t)n, got, sizeof(got));
    ASSERT(r == HUB_WS__XFF_CLIENT || r == HUB_WS__XFF_BAD);
    if (r == HUB_WS__XFF_CLIENT)
      ASSERT(strcmp(got, "192.0.2.7") == 0);
  }
  /* A NUL inside the given length is a byte like any other. */
  ASSERT_EQ(xff("192.0.2.7\0, 10.0.0.1", 20, got, sizeof(got)),
            HUB_WS__XFF_BAD);
}

TEST(xff_huge_values_and_many_hops) {
  size_t n = 60000, i, len = 0;
  char *v = malloc(n + 64), got[64];
  int r;

  ASSERT(v != NULL);
  trust_defaults();
  /* One element of 60,000 bytes: refused, not copied. */
  memset(v, '1', n);
  ASSERT_EQ(xff(v, n, got, sizeof(got)), HUB_WS__XFF_BAD);
  /* 6,000 trusted hops then the client on the left: the walk reads them
   * all, once. */
  len = (size_t)sprintf(v, "192.0.2.7");
  for (i = 0; len + 12 < n; i++)
    len += (size_t)sprintf(v + len, ",10.0.0.%u", (unsigned)(i % 250));
  r = xff(v, len, got, sizeof(got));
  ASSERT_EQ(r, HUB_WS__XFF_CLIENT);
  ASSERT_STR_EQ(got, "192.0.2.7");
  /* Thousands of client-written hops on the left cost nothing. */
  len = 0;
  while (len + 20 < n)
    len += (size_t)sprintf(v + len, "garbage,");
  len += (size_t)sprintf(v + len, "192.0.2.8");
  ASSERT(client_is(v, "192.0.2.8"));
  /* 60,000 commas. */
  memset(v, ',', n);
  ASSERT_EQ(xff(v, n, got, sizeof(got)), HUB_WS__XFF_NONE);
  /* 30,000 spaces around one address. */
  memset(v, ' ', n);
  memcpy(v + n / 2, "192.0.2.9", 9);
  ASSERT_EQ(xff(v, n, got, sizeof(got)), HUB_WS__XFF_CLIENT);
  ASSERT_STR_EQ(got, "192.0.2.9");
  free(v);
}

TEST(xff_random_lists_read_like_a_reference) {
  /* Lists of random elements (addresses trusted or not, garbage, empty),
   * joined with random spaces: hub_ws__xff_client() agrees with a reference
   * that splits the list, trims, and reads it from the right. */
  static const char *const pool[] = {
      "192.0.2.7", "10.0.0.1", "127.0.0.1", "fd00::3", "[fd00::4]:80",
      "2001:db8::9", "198.51.100.2:80", "garbage", "", " ", "unknown",
      "10.9.9.9", "::1",
  };
  enum { NPOOL = sizeof(pool) / sizeof(pool[0]) };
  char v[512], got[64], want[64];
  unsigned seed = 12345;
  int iter, k, n, pick[12], want_r, r;

  trust_defaults();
  for (iter = 0; iter < 20000; iter++) {
    size_t len = 0;

    n = 1 + (int)((seed = seed * 1103515245u + 12345u) >> 16) % 12;
    for (k = 0; k < n; k++) {
      pick[k] = (int)((seed = seed * 1103515245u + 12345u) >> 16) % NPOOL;
      len += (size_t)snprintf(v + len, sizeof(v) - len, "%s%s%s%s",
                              k > 0 ? "," : "", (seed & 1) ? " " : "",
                              pool[pick[k]], (seed & 2) ? "\t" : "");
    }
    /* The reference. */
    want_r = HUB_WS__XFF_NONE;
    want[0] = '\0';
    for (k = n - 1; k >= 0; k--) {
      const char *e = pool[pick[k]];
      uint8_t key[16];

      if (e[0] == '\0' || strcmp(e, " ") == 0)
        continue;
      if (hub_ws__xff_addr(e, strlen(e), key) != 0) {
        want_r = HUB_WS__XFF_BAD;
        break;
      }
      want_r = hub_ws__cidr_match(trusted, ntrusted, key) ? HUB_WS__XFF_TRUSTED
                                                          : HUB_WS__XFF_CLIENT;
      if (strcmp(e, "[fd00::4]:80") == 0)
        e = "fd00::4";
      else if (strcmp(e, "198.51.100.2:80") == 0)
        e = "198.51.100.2";
      snprintf(want, sizeof(want), "%s", e);
      if (want_r == HUB_WS__XFF_CLIENT)
        break;
    }
    r = xff(v, len, got, sizeof(got));
    ASSERT_EQ(r, want_r);
    if (r == HUB_WS__XFF_CLIENT || r == HUB_WS__XFF_TRUSTED)
      ASSERT_STR_EQ(got, want);
  }
}

int main(int argc, char **argv) {
  return RUN_TESTS(argc, argv);
}
