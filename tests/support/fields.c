/* A struct's integer fields checked against expected values at once. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support.h"

/* The field's bits, whatever its width (1, 2, 4 or 8 bytes). */
static uint64_t field_bits(const void *s, const ts_field_t *f) {
  const unsigned char *p = (const unsigned char *)s + f->offset;
  uint8_t u8;
  uint16_t u16;
  uint32_t u32;
  uint64_t u64;

  switch (f->size) {
  case 1:
    memcpy(&u8, p, 1);
    return u8;
  case 2:
    memcpy(&u16, p, 2);
    return u16;
  case 4:
    memcpy(&u32, p, 4);
    return u32;
  default:
    memcpy(&u64, p, 8);
    return u64;
  }
}

/* `want` cut to the field's width, as assigning it to the field would. */
static uint64_t want_bits(const ts_field_t *f) {
  uint64_t w = (uint64_t)f->want;

  return f->size >= 8 ? w : w & ((UINT64_C(1) << (f->size * 8)) - 1);
}

void ts_fields_set(void *s, size_t size, const ts_field_t *f) {
  unsigned char *p = (unsigned char *)s + f->offset;
  uint64_t w = want_bits(f);
  uint8_t u8 = (uint8_t)w;
  uint16_t u16 = (uint16_t)w;
  uint32_t u32 = (uint32_t)w;

  if (f->of != size)
    abort(); /* a field of another struct: the test is wrong */
  switch (f->size) {
  case 1:
    memcpy(p, &u8, 1);
    break;
  case 2:
    memcpy(p, &u16, 2);
    break;
  case 4:
    memcpy(p, &u32, 4);
    break;
  default:
    memcpy(p, &w, 8);
    break;
  }
}

int ts_fields_differ(const char *what, const void *s, size_t size,
                     const ts_field_t *fields, size_t n) {
  size_t i;
  int bad = 0;

  if (what[0] == '&') /* "&st" names st */
    what++;
  for (i = 0; i < n; i++) {
    const ts_field_t *f = &fields[i];

    if (f->of != size || (f->size != 1 && f->size != 2 && f->size != 4 &&
                          f->size != 8)) {
      fprintf(stderr, "  %s.%s: not a field of this struct\n", what, f->name);
      bad++;
    } else if (field_bits(s, f) != want_bits(f)) {
      fprintf(stderr, "  %s.%s is %" PRIu64 ", expected %lld\n", what,
              f->name, field_bits(s, f), f->want);
      bad++;
    }
  }
  return bad;
}
