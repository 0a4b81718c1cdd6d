/* The backplane's envelope, bytes in and out: every field, every
 * truncation, every way to be refused. */
#include <stdint.h>
#include <string.h>

#include "harness.h"
#include "hub-redis-envelope.h"

static size_t build(uint8_t *buf, uint64_t origin, int binary, uint64_t key,
                    const char *payload) {
  size_t h = hub_redis_env_header(buf, origin, binary, key);

  memcpy(buf + h, payload, strlen(payload));
  return h + strlen(payload);
}

TEST(header_layout_is_fixed) {
  uint8_t buf[HUB_REDIS_ENV_MAX];
  static const uint8_t plain[12] = {'h', 'b', 1, 0, 0x01, 0x23, 0x45, 0x67,
                                    0x89, 0xab, 0xcd, 0xef};
  static const uint8_t keyed[20] = {'h', 'b', 1, 3, 0, 0, 0, 0, 0, 0, 0, 7,
                                    0, 0, 0, 0, 0, 0, 0x01, 0x02};

  ASSERT_EQ(hub_redis_env_header(buf, 0x0123456789abcdefull, 0, 0), 12);
  ASSERT(memcmp(buf, plain, 12) == 0);
  ASSERT_EQ(hub_redis_env_header(buf, 7, 1, 0x102), 20);
  ASSERT(memcmp(buf, keyed, 20) == 0);
}

TEST(round_trip_text_binary_keyed_empty) {
  uint8_t buf[256];
  hub_redis_env_t env;
  size_t n;

  n = build(buf, 42, 0, 0, "hello");
  ASSERT_EQ(hub_redis_env_decode(buf, n, 1024, &env), HUB_REDIS_ENV_OK);
  ASSERT_EQ(env.origin, 42);
  ASSERT_EQ(env.key, 0);
  ASSERT_EQ(env.binary, 0);
  ASSERT_EQ(env.len, 5);
  ASSERT(memcmp(env.payload, "hello", 5) == 0);
  ASSERT(env.payload == buf + 12);

  n = build(buf, UINT64_MAX, 1, UINT64_MAX, "\x01\x02");
  ASSERT_EQ(hub_redis_env_decode(buf, n, 1024, &env), HUB_REDIS_ENV_OK);
  ASSERT(env.origin == UINT64_MAX);
  ASSERT(env.key == UINT64_MAX);
  ASSERT_EQ(env.binary, 1);
  ASSERT_EQ(env.len, 2);
  ASSERT(env.payload == buf + 20);

  n = build(buf, 1, 0, 0, "");
  ASSERT_EQ(hub_redis_env_decode(buf, n, 0, &env), HUB_REDIS_ENV_OK);
  ASSERT_EQ(env.len, 0);
}

TEST(every_truncation_of_the_header_is_refused) {
  uint8_t buf[64];
  hub_redis_env_t env;
  size_t n, k;

  n = build(buf, 5, 0, 9, "");
  ASSERT_EQ(n, 20);
  for (k = 0; k < n; k++)
    ASSERT_EQ(hub_redis_env_decode(buf, k, 1024, &env),
              HUB_REDIS_ENV_SHORT);
  ASSERT_EQ(hub_redis_env_decode(buf, n, 1024, &env), HUB_REDIS_ENV_OK);
  n = build(buf, 5, 0, 0, "");
  for (k = 0; k < n; k++)
    ASSERT_EQ(hub_redis_env_decode(buf, k, 1024, &env),
              HUB_REDIS_ENV_SHORT);
  ASSERT_EQ(hub_redis_env_decode(NULL, 0, 1024, &env), HUB_REDIS_ENV_SHORT);
}

/* Decode a copy of the n bytes of `good` with `len` bytes from `at` set
 * to `v`. */
static int decode_spoilt(const uint8_t *good, size_t n, size_t at, int v,
                         size_t len, hub_redis_env_t *env) {
  uint8_t bad[64];

  memcpy(bad, good, n);
  memset(bad + at, v, len);
  return hub_redis_env_decode(bad, n, 1024, env);
}

TEST(bad_fields_are_refused_with_their_reason) {
  uint8_t buf[64];
  hub_redis_env_t env;
  size_t n;
  int bit;

  n = build(buf, 5, 0, 0, "payload");
  ASSERT_EQ(decode_spoilt(buf, n, 0, 'H', 1, &env), HUB_REDIS_ENV_MAGIC);
  ASSERT_EQ(decode_spoilt(buf, n, 1, 0, 1, &env), HUB_REDIS_ENV_MAGIC);
  ASSERT_EQ(decode_spoilt(buf, n, 2, 2, 1, &env), HUB_REDIS_ENV_VERSION_BAD);
  for (bit = 2; bit < 8; bit++)
    ASSERT_EQ(decode_spoilt(buf, n, 3, 1 << bit, 1, &env),
              HUB_REDIS_ENV_FLAGS);
  ASSERT_EQ(decode_spoilt(buf, n, 4, 0, 8, &env), HUB_REDIS_ENV_ORIGIN);
  /* The key flag with a zero key. */
  n = build(buf, 5, 0, 1, "x");
  ASSERT_EQ(decode_spoilt(buf, n, 12, 0, 8, &env), HUB_REDIS_ENV_KEY);
  /* A refused envelope leaves nothing usable behind. */
  ASSERT(env.payload == NULL);
  ASSERT_EQ(env.len, 0);
}

TEST(payload_bound_is_inclusive) {
  uint8_t buf[64];
  hub_redis_env_t env;
  size_t n;
  int keyed;

  /* A plain text envelope, then a keyed binary one: the bound is on the
   * payload, not on the header. */
  for (keyed = 0; keyed < 2; keyed++) {
    n = build(buf, 5, keyed, keyed ? 3 : 0, "12345");
    ASSERT_EQ(hub_redis_env_decode(buf, n, 5, &env), HUB_REDIS_ENV_OK);
    ASSERT_EQ(hub_redis_env_decode(buf, n, 4, &env), HUB_REDIS_ENV_TOO_BIG);
  }
}

/* Sequenced rooms: the position the Redis script puts in front. */
TEST(sequenced_position_in_front) {
  static const char *const bad[] = {
      "", "hs", "hb00000000000000ab:1:x", "hs00000000000000ab:0:x",
      "hs00000000000000ab:01:x", "hs0000000000000000:1:x",
      "hs00000000000000AB:1:x", "hs00000000000000ab:1", "hs00000000000000ab1:x",
      "hs00000000000000ab:12345678901234567:x", "hs00000000000000ab::x",
      "hs0000000000000ab:1:x"};
  uint64_t e, o;
  const void *rest;
  size_t n, i;
  const char *ok = "hsfedcba9876543210:9007199254740992:env";

  ASSERT_EQ(hub_redis_seq_decode(ok, strlen(ok), &e, &o, &rest, &n), 0);
  ASSERT(e == 0xfedcba9876543210ull && o == 9007199254740992ull);
  ASSERT(n == 3 && memcmp(rest, "env", 3) == 0);
  ok = "hs0000000000000001:42:";
  ASSERT_EQ(hub_redis_seq_decode(ok, strlen(ok), &e, &o, &rest, &n), 0);
  ASSERT(e == 1 && o == 42 && n == 0);
  ok = "hs0000000000000001:9007199254740993:x"; /* past 2^53 */
  ASSERT_EQ(hub_redis_seq_decode(ok, strlen(ok), &e, &o, &rest, &n), -1);
  for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    ASSERT_EQ(hub_redis_seq_decode(bad[i], strlen(bad[i]), &e, &o, &rest,
                                   &n),
              -1);
}

TEST(any_bytes_never_crash) {
  /* Every 1- and 2-byte mutation of a valid envelope decodes or is
   * refused; a valid decode always points inside the buffer. */
  uint8_t buf[64], m[64];
  hub_redis_env_t env;
  size_t n, i, j;
  int v, w;

  n = build(buf, 0x1122334455667788ull, 1, 99, "abc");
  for (i = 0; i < n; i++) {
    for (v = 0; v < 256; v += 17) {
      for (j = i; j < n; j += 5) {
        for (w = 0; w < 256; w += 51) {
          memcpy(m, buf, n);
          m[i] = (uint8_t)v;
          m[j] = (uint8_t)w;
          if (hub_redis_env_decode(m, n, 1024, &env) == HUB_REDIS_ENV_OK) {
            ASSERT((const uint8_t *)env.payload >= m + 12);
            ASSERT((const uint8_t *)env.payload + env.len == m + n);
            ASSERT(env.origin != 0);
          }
        }
      }
    }
  }
  ASSERT_STR_EQ(hub_redis_env_strerror(HUB_REDIS_ENV_TOO_BIG),
                "larger than the largest message");
  ASSERT_STR_EQ(hub_redis_env_strerror(HUB_REDIS_ENV_OK), "valid");
  ASSERT_STR_EQ(hub_redis_env_strerror(HUB_REDIS_ENV_SHORT),
                "shorter than its header");
  ASSERT_STR_EQ(hub_redis_env_strerror((hub_redis_env_err_t)1), "unknown");
  ASSERT_STR_EQ(hub_redis_env_strerror((hub_redis_env_err_t)-8), "unknown");
}

int main(int argc, char **argv) { return RUN_TESTS(argc, argv); }
