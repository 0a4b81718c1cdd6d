/* Text from peers (examples/common/hubx-text.c): the UTF-8 check, the
 * rule for room names both example programs apply, and escaping for
 * logs. */
#include <stdint.h>
#include <string.h>

#include "harness.h"
#include "hubx-text.h"

/* The UTF-8 encoding of `cp` into out; its length. */
static size_t encode(uint32_t cp, unsigned char out[4]) {
  if (cp < 0x80) {
    out[0] = (unsigned char)cp;
    return 1;
  }
  if (cp < 0x800) {
    out[0] = (unsigned char)(0xc0 | cp >> 6);
    out[1] = (unsigned char)(0x80 | (cp & 0x3f));
    return 2;
  }
  if (cp < 0x10000) {
    out[0] = (unsigned char)(0xe0 | cp >> 12);
    out[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
    out[2] = (unsigned char)(0x80 | (cp & 0x3f));
    return 3;
  }
  out[0] = (unsigned char)(0xf0 | cp >> 18);
  out[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3f));
  out[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
  out[3] = (unsigned char)(0x80 | (cp & 0x3f));
  return 4;
}

static int valid(const char *s) {
  return hubx_utf8_valid(s, strlen(s));
}

TEST(utf8_every_code_point_but_surrogates_is_valid) {
  unsigned char b[16];
  uint32_t cp;
  size_t n;

  for (cp = 0; cp <= 0x10ffff; cp++) {
    n = encode(cp, b);
    ASSERT_EQ(hubx_utf8_valid(b, n), cp < 0xd800 || cp > 0xdfff);
    /* Also after ASCII that the eight-byte skip takes. */
    memcpy(b + 8, b, n);
    memset(b, 'a', 8);
    ASSERT_EQ(hubx_utf8_valid(b, 8 + n), cp < 0xd800 || cp > 0xdfff);
  }
}

/* A two-byte string is valid exactly when it is one encoded code point
 * or two ASCII bytes: every one of the 65536 is checked. */
TEST(utf8_every_two_byte_string) {
  unsigned char b[2];
  unsigned i, j;
  int want;

  for (i = 0; i < 256; i++) {
    for (j = 0; j < 256; j++) {
      b[0] = (unsigned char)i;
      b[1] = (unsigned char)j;
      want = (i < 0x80 && j < 0x80) ||
             (i >= 0xc2 && i <= 0xdf && j >= 0x80 && j <= 0xbf);
      ASSERT_EQ(hubx_utf8_valid(b, 2), want);
    }
  }
}

TEST(utf8_malformed_sequences_are_refused) {
  ASSERT(valid(""));
  ASSERT(hubx_utf8_valid(NULL, 0));
  ASSERT(valid("plain ASCII, longer than eight bytes"));
  ASSERT(valid("caf\xc3\xa9 \xe6\x97\xa5 \xf0\x9f\x98\x80"));
  ASSERT(!valid("\xc3\x28 after a bad pair"));
  ASSERT(!valid("\xc0\x80"));         /* overlong NUL */
  ASSERT(!valid("\xe0\x80\x80"));     /* overlong */
  ASSERT(!valid("\xf0\x80\x80\x80")); /* overlong */
  ASSERT(!valid("\xed\xa0\x80"));     /* surrogate */
  ASSERT(!valid("\xf4\x90\x80\x80")); /* past U+10FFFF */
  ASSERT(!valid("\xf5\x80\x80\x80"));
  ASSERT(!valid("\xff"));
  ASSERT(!valid("\x80"));             /* a stray continuation */
  ASSERT(!valid("ends in a cut \xe2\x82"));
  ASSERT(!valid("\xe2\x82 cut in the middle"));
  ASSERT(!valid("01234567\xc3"));     /* cut after the eight-byte skip */
}

static const char *room(const char *s) {
  return hubx_room_name_check(s, strlen(s));
}

TEST(room_names_are_printable_utf8) {
  char name[HUBX_ROOM_MAX + 2];

  ASSERT(room("lobby") == NULL);
  ASSERT(room("caf\xc3\xa9") == NULL);
  ASSERT(room("two words") == NULL);
  ASSERT(room("\xe6\x97\xa5\xe6\x9c\xac") == NULL);
  ASSERT(room("\xf0\x9f\x98\x80") == NULL);
  memset(name, 'x', HUBX_ROOM_MAX);
  ASSERT(hubx_room_name_check(name, HUBX_ROOM_MAX) == NULL);
  ASSERT_STR_EQ(hubx_room_name_check(name, HUBX_ROOM_MAX + 1),
                "longer than 255 bytes");
  ASSERT_STR_EQ(hubx_room_name_check("", 0), "empty");
  ASSERT_STR_EQ(hubx_room_name_check("a\0b", 3), "has a control character");
  ASSERT_STR_EQ(room("\xc3\x28"), "not UTF-8");
  ASSERT_STR_EQ(room("\xed\xa0\x80"), "not UTF-8");
  /* C0, DEL and C1: the CSI of "\xc2\x9b" "31m" colours a terminal as
   * ESC [ does. */
  ASSERT_STR_EQ(room("\x1b[31m"), "has a control character");
  ASSERT_STR_EQ(room("tab\there"), "has a control character");
  ASSERT_STR_EQ(room("\x7f"), "has a control character");
  ASSERT_STR_EQ(room("\xc2\x80"), "has a control character");
  ASSERT_STR_EQ(room("\xc2\x9b" "31m"), "has a control character");
  ASSERT_STR_EQ(room("\xc2\x9f"), "has a control character");
  ASSERT(room("\xc2\xa0") == NULL); /* U+00A0, the first after C1 */
}

TEST(room_names_refuse_every_bidi_control_and_only_those) {
  static const uint32_t bidi[] = {0x061c, 0x200e, 0x200f, 0x202a, 0x202b,
                                  0x202c, 0x202d, 0x202e, 0x2066, 0x2067,
                                  0x2068, 0x2069};
  static const uint32_t near[] = {0x061b, 0x061d, 0x200d, 0x2010, 0x2029,
                                  0x202f, 0x2065, 0x206a};
  unsigned char b[8] = "a";
  size_t i, n;

  for (i = 0; i < sizeof(bidi) / sizeof(bidi[0]); i++) {
    n = encode(bidi[i], b + 1);
    ASSERT_STR_EQ(hubx_room_name_check(b, 1 + n),
                  "has a bidirectional control character");
  }
  for (i = 0; i < sizeof(near) / sizeof(near[0]); i++) {
    n = encode(near[i], b + 1);
    ASSERT(hubx_room_name_check(b, 1 + n) == NULL);
  }
}

static const char *esc(const char *s, size_t outlen) {
  static char out[256];

  return hubx_escape(s, strlen(s), out, outlen);
}

TEST(escape_keeps_printable_text_and_shows_the_rest) {
  ASSERT_STR_EQ(esc("caf\xc3\xa9 room", 64), "caf\xc3\xa9 room");
  ASSERT_STR_EQ(esc("\x1b[31mred", 64), "\\u{001B}[31mred");
  ASSERT_STR_EQ(esc("\xc2\x9b" "31m", 64), "\\u{009B}31m");
  ASSERT_STR_EQ(esc("a\xe2\x80\xae" "b", 64), "a\\u{202E}b");
  ASSERT_STR_EQ(esc("line\xe2\x80\xa8" "break", 64), "line\\u{2028}break");
  ASSERT_STR_EQ(esc("\xc3\x28", 64), "\\xC3(");
  ASSERT_STR_EQ(esc("\xff\xfe", 64), "\\xFF\\xFE");
  ASSERT_STR_EQ(esc("it's a \\", 64), "it\\'s a \\\\");
  ASSERT_STR_EQ(esc("", 64), "");
}

TEST(escape_cuts_what_does_not_fit) {
  char out[8];

  /* Seven bytes fit exactly in eight; ten do not. */
  ASSERT_STR_EQ(esc("abcdefg", 8), "abcdefg");
  ASSERT_STR_EQ(esc("abcdefghij", 8), "abcd...");
  /* An escape is never cut in two, nor a character. */
  ASSERT_STR_EQ(esc("ab\x1b" "cdefgh", 8), "ab...");
  ASSERT_STR_EQ(esc("ab\xe6\x97\xa5\xe6\x97\xa5x", 8), "ab...");
  ASSERT_STR_EQ(esc("abc\xe6\x97\xa5", 8), "abc\xe6\x97\xa5");
  /* Too small for anything but the terminator. */
  memset(out, 'z', sizeof(out));
  ASSERT_STR_EQ(hubx_escape("abc", 3, out, 3), "");
  ASSERT_EQ(out[1], 'z');
  ASSERT_STR_EQ(hubx_escape("abcdef", 6, out, 4), "...");
}

static const char *jesc(const char *s, size_t outlen) {
  static char out[256];

  return hubx_json_escape(s, strlen(s), out, outlen);
}

TEST(json_escape_makes_any_bytes_a_valid_json_string) {
  char out[16];

  ASSERT_STR_EQ(jesc("caf\xc3\xa9 room", 64), "caf\xc3\xa9 room");
  ASSERT_STR_EQ(jesc("say \"hi\" \\ it's", 64), "say \\\"hi\\\" \\\\ it's");
  ASSERT_STR_EQ(jesc("a\nb\tc\x1b", 64), "a\\u000Ab\\u0009c\\u001B");
  ASSERT_STR_EQ(jesc("\x7f\xc2\x9b", 64), "\\u007F\\u009B");
  ASSERT_STR_EQ(jesc("a\xe2\x80\xae" "b\xe2\x80\xa8", 64),
                "a\\u202Eb\\u2028");
  /* Not UTF-8: the text \xNN, its backslash escaped. */
  ASSERT_STR_EQ(jesc("\xff\xc3(", 64), "\\\\xFF\\\\xC3(");
  ASSERT_STR_EQ(jesc("", 64), "");
  /* Cut before an escape, never inside one. */
  ASSERT_STR_EQ(jesc("abcd\"efghijklmnop", 8), "abcd...");
  ASSERT_STR_EQ(hubx_json_escape("\"", 1, out, 3), "");
}

int main(int argc, char **argv) {
  return RUN_TESTS(argc, argv);
}
