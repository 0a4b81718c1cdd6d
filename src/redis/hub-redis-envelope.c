/* The backplane's envelope: see hub-redis-envelope.h. */
#include "hub-redis-envelope.h"

#include <string.h>

static void put_be64(uint8_t *p, uint64_t v) {
  int i;

  for (i = 7; i >= 0; i--) {
    p[i] = (uint8_t)(v & 0xff);
    v >>= 8;
  }
}

static uint64_t get_be64(const uint8_t *p) {
  uint64_t v = 0;
  int i;

  for (i = 0; i < 8; i++)
    v = (v << 8) | p[i];
  return v;
}

size_t hub_redis_env_header(uint8_t out[HUB_REDIS_ENV_MAX], uint64_t origin,
                            int binary, uint64_t key) {
  out[0] = 'h';
  out[1] = 'b';
  out[2] = HUB_REDIS_ENV_VERSION;
  out[3] = (uint8_t)((binary ? HUB_REDIS_ENV_BINARY : 0) |
                     (key != 0 ? HUB_REDIS_ENV_KEYED : 0));
  put_be64(out + 4, origin);
  if (key == 0)
    return HUB_REDIS_ENV_MIN;
  put_be64(out + 12, key);
  return HUB_REDIS_ENV_MAX;
}

hub_redis_env_err_t hub_redis_env_decode(const void *buf, size_t len,
                                         size_t max_payload,
                                         hub_redis_env_t *env) {
  const uint8_t *p = buf;
  size_t head = HUB_REDIS_ENV_MIN;

  memset(env, 0, sizeof(*env));
  if (len < HUB_REDIS_ENV_MIN)
    return HUB_REDIS_ENV_SHORT;
  if (p[0] != 'h' || p[1] != 'b')
    return HUB_REDIS_ENV_MAGIC;
  if (p[2] != HUB_REDIS_ENV_VERSION)
    return HUB_REDIS_ENV_VERSION_BAD;
  if (p[3] & ~(HUB_REDIS_ENV_BINARY | HUB_REDIS_ENV_KEYED))
    return HUB_REDIS_ENV_FLAGS;
  env->origin = get_be64(p + 4);
  if (env->origin == 0)
    return HUB_REDIS_ENV_ORIGIN;
  if (p[3] & HUB_REDIS_ENV_KEYED) {
    if (len < HUB_REDIS_ENV_MAX)
      return HUB_REDIS_ENV_SHORT;
    env->key = get_be64(p + 12);
    if (env->key == 0)
      return HUB_REDIS_ENV_KEY;
    head = HUB_REDIS_ENV_MAX;
  }
  if (len - head > max_payload)
    return HUB_REDIS_ENV_TOO_BIG;
  env->binary = (p[3] & HUB_REDIS_ENV_BINARY) != 0;
  env->payload = p + head;
  env->len = len - head;
  return HUB_REDIS_ENV_OK;
}

const char *hub_redis_env_strerror(hub_redis_env_err_t err) {
  /* Indexed by -err: the codes run from 0 down to HUB_REDIS_ENV_TOO_BIG. */
  static const char *const text[] = {
      "valid",                    "shorter than its header",
      "not a libhub envelope",    "unknown envelope version",
      "unknown envelope flags",   "no origin node",
      "a zero conflation key",    "larger than the largest message"};

  if (err > HUB_REDIS_ENV_OK || err < HUB_REDIS_ENV_TOO_BIG)
    return "unknown";
  return text[-err];
}

int hub_redis_seq_decode(const void *buf, size_t len, uint64_t *epoch,
                         uint64_t *offset, const void **rest,
                         size_t *rest_len) {
  const char *p = buf, *end = p + len;
  uint64_t e = 0, o = 0;
  int i, digits = 0;

  if (len < 2 + 16 + 1 + 1 + 1 || memcmp(p, HUB_REDIS_SEQ_MAGIC, 2) != 0)
    return -1;
  p += 2;
  for (i = 0; i < 16; i++, p++) {
    int d = *p >= '0' && *p <= '9'   ? *p - '0'
            : *p >= 'a' && *p <= 'f' ? *p - 'a' + 10
                                     : -1;
    if (d < 0)
      return -1;
    e = e << 4 | (uint64_t)d;
  }
  if (e == 0 || *p++ != ':')
    return -1;
  for (; p < end && *p >= '0' && *p <= '9'; p++, digits++) {
    if (digits == 0 && *p == '0')
      return -1; /* leading zero, or offset 0 */
    if (digits == 16)
      return -1; /* beyond 2^53 */
    o = o * 10 + (uint64_t)(*p - '0');
  }
  if (digits == 0 || o > ((uint64_t)1 << 53) || p == end || *p++ != ':')
    return -1;
  *epoch = e;
  *offset = o;
  *rest = p;
  *rest_len = (size_t)(end - p);
  return 0;
}
