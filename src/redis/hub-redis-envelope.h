/* The envelope of a message on the Redis backplane: bytes in, fields out.
 *
 * Copyright (c) libhub contributors. MIT licensed, see LICENSE.
 *
 * Every message a node publishes to Redis is its payload behind a small
 * binary header:
 *
 *   offset  size  field
 *   0       2     magic "hb"
 *   2       1     version, 1
 *   3       1     flags: bit 0 binary payload, bit 1 a conflation key
 *                 follows; the other bits must be 0
 *   4       8     origin: the publishing node's id, big-endian, never 0
 *   12      8     the conflation key, big-endian, nonzero (flag bit 1 only)
 *   12/20   ...   payload
 *
 * The channel says where the message goes (every client, or a topic); the
 * header says who sent it, so that a node ignores its own messages when
 * Redis hands them back, and how to deliver it. This file does no I/O and
 * allocates nothing. */
#ifndef HUB_REDIS_ENVELOPE_H
#define HUB_REDIS_ENVELOPE_H

#include <stddef.h>
#include <stdint.h>

#define HUB_REDIS_ENV_VERSION 1
#define HUB_REDIS_ENV_BINARY 0x01u
#define HUB_REDIS_ENV_KEYED 0x02u
#define HUB_REDIS_ENV_MIN 12u /* header without a key */
#define HUB_REDIS_ENV_MAX 20u /* header with a key */

/* Why an envelope was refused. */
typedef enum {
  HUB_REDIS_ENV_OK = 0,
  HUB_REDIS_ENV_SHORT = -1,    /* shorter than its header */
  HUB_REDIS_ENV_MAGIC = -2,    /* not "hb" */
  HUB_REDIS_ENV_VERSION_BAD = -3, /* a version this code does not know */
  HUB_REDIS_ENV_FLAGS = -4,    /* unknown flag bits */
  HUB_REDIS_ENV_ORIGIN = -5,   /* origin 0 */
  HUB_REDIS_ENV_KEY = -6,      /* key flag with key 0 */
  HUB_REDIS_ENV_TOO_BIG = -7   /* payload over the limit given */
} hub_redis_env_err_t;

typedef struct {
  uint64_t origin;
  uint64_t key;     /* 0: none */
  int binary;       /* nonzero: a binary payload (HUB_MSG_BINARY) */
  const void *payload; /* points into the decoded buffer */
  size_t len;
} hub_redis_env_t;

/* Write the header for a message from `origin` (nonzero) into `out`
 * (HUB_REDIS_ENV_MAX bytes) and return its length. */
size_t hub_redis_env_header(uint8_t out[HUB_REDIS_ENV_MAX], uint64_t origin,
                            int binary, uint64_t key);

/* Decode `len` bytes at `buf`; a payload longer than `max_payload` is
 * refused. Returns HUB_REDIS_ENV_OK with *env filled, or the reason. */
hub_redis_env_err_t hub_redis_env_decode(const void *buf, size_t len,
                                         size_t max_payload,
                                         hub_redis_env_t *env);

/* Sequenced rooms: the Redis script that numbers a room's message
 * publishes it as
 *   "hs" EPOCH ":" OFFSET ":" ENVELOPE
 * EPOCH 16 lowercase hex digits (nonzero), OFFSET decimal without leading
 * zeros (1 to 2^53), ENVELOPE the node's envelope as above. */
#define HUB_REDIS_SEQ_MAGIC "hs"

/* The position in front of a sequenced message: 0 with *epoch, *offset
 * and the envelope's place (*rest, *rest_len) filled, -1 if `buf` does not
 * start with a valid one. */
int hub_redis_seq_decode(const void *buf, size_t len, uint64_t *epoch,
                         uint64_t *offset, const void **rest,
                         size_t *rest_len);

/* A short English phrase for a reason ("too short", ...). */
const char *hub_redis_env_strerror(hub_redis_env_err_t err);

#endif /* HUB_REDIS_ENVELOPE_H */
