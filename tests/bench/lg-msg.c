/* Encoding and decoding of the load generator's message header. */
#include "lg-msg.h"

#include <string.h>

/* The header is decoded for every message received, millions per second,
 * so hex is converted eight digits at a time in a 64-bit word, without a
 * branch per digit. Digits are stored most significant first. */

static uint64_t load_be64(const uint8_t *p) {
  uint64_t v;

  memcpy(&v, p, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  v = __builtin_bswap64(v);
#endif
  return v;
}

static void store_be64(uint8_t *p, uint64_t v) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  v = __builtin_bswap64(v);
#endif
  memcpy(p, &v, 8);
}

/* Eight lowercase hex digits of v, one per byte, first digit in the top
 * byte. */
static uint64_t hex8_encode(uint32_t v) {
  uint64_t x = v;

  /* Spread the nibbles, one per byte. */
  x = (x | (x << 16)) & 0x0000ffff0000ffffull;
  x = (x | (x << 8)) & 0x00ff00ff00ff00ffull;
  x = (x | (x << 4)) & 0x0f0f0f0f0f0f0f0full;
  /* '0' + n, and 'a' - '0' - 10 = 39 more where n >= 10. */
  return x + 0x3030303030303030ull +
         (((x + 0x0606060606060606ull) >> 4) & 0x0101010101010101ull) * 39;
}

/* The value of eight hex digits (first digit in the top byte). Returns 0,
 * or -1 if any is not a lowercase hex digit: the value is re-encoded and
 * compared, which is exact and still branch-free. */
static int hex8_decode(uint64_t x, uint32_t *out) {
  uint64_t n;

  /* '0'..'9' are 0x30..0x39 and 'a'..'f' 0x61..0x66: the low nibble,
   * plus 9 where bit 6 is set. */
  n = (x & 0x0f0f0f0f0f0f0f0full) + ((x >> 6) & 0x0101010101010101ull) * 9;
  /* Gather the nibbles. */
  n = (n | (n >> 4)) & 0x00ff00ff00ff00ffull;
  n = (n | (n >> 8)) & 0x0000ffff0000ffffull;
  n = (n | (n >> 16)) & 0x00000000ffffffffull;
  *out = (uint32_t)n;
  return hex8_encode((uint32_t)n) == x ? 0 : -1;
}

static void put_hex(uint8_t *out, uint64_t v, int digits) {
  if (digits == 16) {
    store_be64(out, hex8_encode((uint32_t)(v >> 32)));
    store_be64(out + 8, hex8_encode((uint32_t)v));
  } else {
    store_be64(out, hex8_encode((uint32_t)v));
  }
}

/* Returns 0 and the value of 8 or 16 hex digits, or -1. */
static int get_hex(const uint8_t *in, int digits, uint64_t *out) {
  uint32_t hi, lo;

  if (digits == 8) {
    if (hex8_decode(load_be64(in), &lo) != 0)
      return -1;
    *out = lo;
    return 0;
  }
  if ((hex8_decode(load_be64(in), &hi) | hex8_decode(load_be64(in + 8), &lo))
      != 0)
    return -1;
  *out = (uint64_t)hi << 32 | lo;
  return 0;
}

void lg_msg_encode(uint8_t *out, uint32_t pub, uint64_t seq,
                   uint64_t ts_ns) {
  put_hex(out, pub, 8);
  put_hex(out + 8, seq, 16);
  put_hex(out + 24, ts_ns, 16);
}

void lg_msg_fill(uint8_t *out, size_t size, uint32_t pub, uint64_t seq,
                 uint64_t ts_ns) {
  size_t i;

  for (i = LG_MSG_HEADER; i < size; i++)
    out[i] = (uint8_t)('a' + (i - LG_MSG_HEADER) % 26);
  lg_msg_encode(out, pub, seq, ts_ns);
}

int lg_msg_decode(const uint8_t *in, size_t len, uint32_t *pub,
                  uint64_t *seq, uint64_t *ts_ns) {
  uint64_t p;

  if (len < LG_MSG_HEADER)
    return -1;
  if (get_hex(in, 8, &p) != 0 || get_hex(in + 8, 16, seq) != 0 ||
      get_hex(in + 24, 16, ts_ns) != 0)
    return -1;
  *pub = (uint32_t)p;
  return 0;
}
