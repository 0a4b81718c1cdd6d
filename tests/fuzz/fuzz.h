/* The entry point every fuzz target defines (libFuzzer's convention). */
#ifndef HUB_FUZZ_H
#define HUB_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
