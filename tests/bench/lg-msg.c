/* Encoding and decoding of the load generator's message header. */
#include "lg-msg.h"

#include <stdio.h>
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

/* ------------------------------------------------------------------------
 * The json payload
 * ------------------------------------------------------------------------ */

/* A chat's everyday phrases and words: text drawn from so few of them
 * compresses about as well as real chat messages do (1 KiB: 2.2-2.4x at
 * zlib's level 6, message by message). */
static const char *const phrases[] = {
  "see you later", "sounds good to me", "the build is broken again",
  "who is coming to lunch", "thanks for the update", "did you see the match",
  "the market is up today", "can someone look at this",
  "i think it works now", "let me check", "any news on the release",
  "running late, sorry", "good morning everyone", "what time is the meeting",
  "the server is down again", "that was a great goal", "coffee anyone",
  "ok, will do", "nice work on the deploy", "see the link above",
  "back in five minutes", "not sure about that", "the weather looks bad",
  "who has the new photo", "let's do it tomorrow", "it works on my machine",
  "can we move the meeting", "great game last night",
  "the train is late again", "sounds like a plan"
};
#define NPHRASES (sizeof(phrases) / sizeof(phrases[0]))

static const char *const words[] = {
  "the", "a", "to", "and", "is", "it", "you", "that", "in", "of", "for",
  "on", "we", "this", "with", "not", "just", "are", "be", "have", "so",
  "but", "can", "what", "do", "was", "if", "all", "me", "my", "at", "up",
  "out", "now", "get", "one", "no", "yes", "like", "know", "think", "see",
  "time", "today", "tomorrow", "game", "match", "team", "score", "goal",
  "price", "market", "update", "server", "deploy", "build", "release",
  "meeting", "lunch", "coffee", "thanks", "sorry", "great", "nice", "lol",
  "really", "maybe", "soon", "later", "again", "still", "back", "new",
  "last", "next", "good", "bad", "ok", "sure", "there", "here", "when",
  "where", "who", "how", "why", "going", "looks", "works", "broken",
  "fixed", "tonight", "weekend", "anyone", "everyone", "channel", "room",
  "link", "photo", "video", "music", "news", "weather", "train", "late"
};
#define NWORDS (sizeof(words) / sizeof(words[0]))

static const char *const rooms[] = {
  "lobby", "general", "random", "support", "dev", "sports", "markets",
  "music"
};

/* splitmix64: the message's members and words follow from pub and seq. */
static uint64_t mix(uint64_t *state) {
  uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

/* Appends s[0..n) to out at *at if it fits before cap; returns whether it
 * did. */
static int put(uint8_t *out, size_t *at, size_t cap, const char *s,
               size_t n) {
  if (n > cap - *at)
    return 0;
  memcpy(out + *at, s, n);
  *at += n;
  return 1;
}

/* Fills out[at..end) with phrases (three times in four) and words, some
 * followed by punctuation, the last cut to fit exactly. */
static void fill_text(uint8_t *out, size_t at, size_t end, uint64_t *rng) {
  static const char marks[] = ",.!?";
  const char *w;
  uint64_t r;
  size_t n;

  while (at < end) {
    r = mix(rng);
    w = r % 4 ? phrases[(r >> 8) % NPHRASES] : words[(r >> 8) % NWORDS];
    n = strlen(w);
    if (n > end - at)
      n = end - at;
    memcpy(out + at, w, n);
    at += n;
    if (at < end && r % 4 && (r >> 32) % 2 == 0)
      out[at++] = (uint8_t)marks[(r >> 40) % 4];
    if (at < end)
      out[at++] = ' ';
  }
}

void lg_msg_fill_json(uint8_t *out, size_t size, uint32_t pub, uint64_t seq,
                      uint64_t ts_ns) {
  static const char text_open[] = ",\"text\":\"";
  uint64_t rng = (uint64_t)pub << 40 ^ seq;
  char field[64];
  size_t at = 0, cap = size - 1, n, i; /* room for the closing brace */
  int fits = 1;

  put(out, &at, cap, "{\"h\":\"", LG_JSON_PREFIX);
  lg_msg_encode(out + at, pub, seq, ts_ns);
  at += LG_MSG_HEADER;
  out[at++] = '"';
  /* The members, in order, as long as they fit. The time is a wall
   * clock's milliseconds in appearance (13 digits), the monotonic one's
   * in value. */
  for (i = 0; i < 5 && fits; i++) {
    uint64_t r = mix(&rng);
    switch (i) {
    case 0: n = (size_t)snprintf(field, sizeof(field), ",\"type\":\"msg\"");
      break;
    case 1: n = (size_t)snprintf(field, sizeof(field), ",\"room\":\"%s\"",
                                 rooms[r % 8]);
      break;
    case 2: n = (size_t)snprintf(field, sizeof(field),
                                 ",\"user\":\"user-%u\"",
                                 (unsigned)(r % 1000));
      break;
    case 3: n = (size_t)snprintf(field, sizeof(field), ",\"seq\":%llu",
                                 (unsigned long long)seq);
      break;
    default: n = (size_t)snprintf(field, sizeof(field), ",\"ts\":%llu",
                                  1700000000000ull +
                                      (unsigned long long)(ts_ns / 1000000));
    }
    fits = put(out, &at, cap, field, n);
  }
  /* The text takes the rest; a rest too short for it is blank space. */
  if (cap - at >= sizeof(text_open)) {
    put(out, &at, cap, text_open, sizeof(text_open) - 1);
    fill_text(out, at, cap - 1, &rng);
    out[cap - 1] = '"';
  } else {
    memset(out + at, ' ', cap - at);
  }
  out[cap] = '}';
}

int lg_msg_decode(const uint8_t *in, size_t len, uint32_t *pub,
                  uint64_t *seq, uint64_t *ts_ns) {
  uint64_t p;

  if (len > 0 && in[0] == '{') { /* json: the header is the first member */
    if (len < LG_JSON_PREFIX || memcmp(in, "{\"h\":\"", LG_JSON_PREFIX) != 0)
      return -1;
    in += LG_JSON_PREFIX;
    len -= LG_JSON_PREFIX;
  }
  if (len < LG_MSG_HEADER)
    return -1;
  if (get_hex(in, 8, &p) != 0 || get_hex(in + 8, 16, seq) != 0 ||
      get_hex(in + 24, 16, ts_ns) != 0)
    return -1;
  *pub = (uint32_t)p;
  return 0;
}
