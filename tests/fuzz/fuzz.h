/* The entry point every fuzz target defines (libFuzzer's convention). */
#ifndef HUB_FUZZ_H
#define HUB_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Chunking for parsers that read from the network: the input's first two
 * bytes seed the sizes of the pieces the rest is fed in, so the fuzzer
 * explores every way a message can be cut by the kernel. */
typedef struct {
  uint32_t state;
  unsigned max; /* largest piece */
} fuzz_chunker;

static inline void fuzz_chunker_init(fuzz_chunker *ch, const uint8_t **data,
                                     size_t *size) {
  ch->state = 1;
  ch->max = 1;
  if (*size >= 2) {
    ch->state = (uint32_t)(*data)[0] * 2654435761u + 1;
    ch->max = 1u + ((*data)[1] & 0x3f) * ((*data)[1] >> 6 ? 64u : 1u);
    *data += 2;
    *size -= 2;
  }
}

static inline size_t fuzz_chunk(fuzz_chunker *ch, size_t left) {
  size_t n;
  ch->state = ch->state * 1103515245u + 12345u;
  n = 1 + (ch->state >> 8) % ch->max;
  return n < left ? n : left;
}

#endif
