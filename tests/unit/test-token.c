/* SHA-256 and HMAC-SHA256 (examples/common/hubx-sha256.c) against the
 * standards' vectors, and the signed tokens built on them
 * (examples/common/hubx-token.c): minted and checked, and every way a
 * token can be wrong. */
#include <stdio.h>
#include <string.h>

#include "harness.h"
#include "hubx-sha256.h"
#include "hubx-token.h"

static const char *hex(const uint8_t *p, size_t n, char *out) {
  size_t i;

  for (i = 0; i < n; i++)
    sprintf(out + 2 * i, "%02x", p[i]);
  out[2 * n] = '\0';
  return out;
}

static const char *sha(const void *data, size_t len, char out[65]) {
  uint8_t d[HUBX_SHA256_LEN];

  hubx_sha256(data, len, d);
  return hex(d, sizeof(d), out);
}

/* FIPS 180-4's examples (csrc.nist.gov, "SHA256.pdf" and
 * "SHA2_Additional.pdf"): one block, two blocks, empty, a million a. */
TEST(sha256_fips_180_4_vectors) {
  static const char two_blocks[] =
      "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmn"
      "hijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu";
  static char million[1000000];
  char out[65];

  ASSERT_STR_EQ(sha("abc", 3, out),
    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  ASSERT_STR_EQ(sha("", 0, out),
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  ASSERT_STR_EQ(sha("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
                    56, out),
    "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  ASSERT_STR_EQ(sha(two_blocks, strlen(two_blocks), out),
    "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
  memset(million, 'a', sizeof(million));
  ASSERT_STR_EQ(sha(million, sizeof(million), out),
    "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

/* The digest does not depend on how the input is cut: every split of a
 * 150-byte input in two (across block boundaries and the padding's), and
 * one byte at a time; and a context finished is ready to begin again. */
TEST(sha256_input_split_at_every_offset) {
  uint8_t in[150], want[HUBX_SHA256_LEN], got[HUBX_SHA256_LEN];
  hubx_sha256_t ctx;
  size_t len, cut, i;

  for (i = 0; i < sizeof(in); i++)
    in[i] = (uint8_t)(i * 7 + 1);
  for (len = 0; len <= sizeof(in); len++) {
    hubx_sha256(in, len, want);
    for (cut = 0; cut <= len; cut++) {
      hubx_sha256_init(&ctx);
      hubx_sha256_update(&ctx, in, cut);
      hubx_sha256_update(&ctx, in + cut, len - cut);
      hubx_sha256_final(&ctx, got);
      ASSERT(memcmp(got, want, sizeof(got)) == 0);
    }
    for (i = 0; i < len; i++)
      hubx_sha256_update(&ctx, in + i, 1);
    hubx_sha256_final(&ctx, got);
    ASSERT(memcmp(got, want, sizeof(got)) == 0);
  }
}

static const char *hmac(const void *key, size_t klen, const void *msg,
                        size_t len, char out[65]) {
  uint8_t d[HUBX_SHA256_LEN];

  hubx_hmac_sha256(key, klen, msg, len, d);
  return hex(d, sizeof(d), out);
}

/* RFC 4231 §4, test cases 1 to 7 (case 5's output truncated to 128
 * bits, as there). */
TEST(hmac_sha256_rfc_4231_vectors) {
  static const char tc7[] =
      "This is a test using a larger than block-size key and a larger "
      "than block-size data. The key needs to be hashed before being "
      "used by the HMAC algorithm.";
  uint8_t key[131], data[50];
  char out[65];
  int i;

  memset(key, 0x0b, 20);
  ASSERT_STR_EQ(hmac(key, 20, "Hi There", 8, out),
    "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
  ASSERT_STR_EQ(hmac("Jefe", 4, "what do ya want for nothing?", 28, out),
    "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  memset(key, 0xaa, 20);
  memset(data, 0xdd, 50);
  ASSERT_STR_EQ(hmac(key, 20, data, 50, out),
    "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe");
  for (i = 0; i < 25; i++)
    key[i] = (uint8_t)(i + 1);
  memset(data, 0xcd, 50);
  ASSERT_STR_EQ(hmac(key, 25, data, 50, out),
    "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b");
  memset(key, 0x0c, 20);
  hmac(key, 20, "Test With Truncation", 20, out);
  out[32] = '\0';
  ASSERT_STR_EQ(out, "a3b6167473100ee06e0c796c2955552b");
  memset(key, 0xaa, 131);
  ASSERT_STR_EQ(hmac(key, 131,
                     "Test Using Larger Than Block-Size Key - Hash Key First",
                     54, out),
    "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
  ASSERT_STR_EQ(hmac(key, 131, tc7, strlen(tc7), out),
    "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2");
}

TEST(equal_ct_compares_every_byte) {
  uint8_t a[32], b[32];
  size_t i;

  memset(a, 0x5a, sizeof(a));
  memcpy(b, a, sizeof(b));
  ASSERT_EQ(hubx_equal_ct(a, b, sizeof(a)), 1);
  ASSERT_EQ(hubx_equal_ct(a, b, 0), 1);
  for (i = 0; i < sizeof(a); i++) {
    b[i] ^= 0x80;
    ASSERT_EQ(hubx_equal_ct(a, b, sizeof(a)), 0);
    b[i] ^= 0x80;
  }
}

static const char secret[] = "correct horse battery staple";
#define SECRET secret, sizeof(secret) - 1
#define NOW 1700000000LL

static hubx_token_result_t check(const char *token, char *name) {
  return hubx_token_check(SECRET, token, strlen(token), NOW, name);
}

TEST(token_minted_is_accepted_with_its_name) {
  static const char *names[] = {"alice", "a", "Zoë Müller", "a.b c",
      "日本語", "1234567890123456789012345678901234567890123456789012345678901234"};
  char tok[HUBX_TOKEN_MAX + 1], name[HUBX_TOKEN_NAME_MAX + 1];
  size_t i;

  for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
    ASSERT(hubx_token_mint(SECRET, names[i], strlen(names[i]), NOW + 60,
                           tok) == NULL);
    ASSERT(strlen(tok) <= HUBX_TOKEN_MAX);
    ASSERT_EQ(check(tok, name), HUBX_TOKEN_OK);
    ASSERT_STR_EQ(name, names[i]);
  }
}

/* The format is the documented one, which Python's hmac and base64
 * produce (docs/ws.md): "alice" is YWxpY2U. */
TEST(token_has_the_documented_form) {
  char tok[HUBX_TOKEN_MAX + 1], want[HUBX_TOKEN_MAX + 1], mac[65];
  const char *signed_part = "YWxpY2U.1700000060";

  ASSERT(hubx_token_mint(SECRET, "alice", 5, NOW + 60, tok) == NULL);
  snprintf(want, sizeof(want), "%s.%s", signed_part,
           hmac(SECRET, signed_part, strlen(signed_part), mac));
  ASSERT_STR_EQ(tok, want);
}

TEST(token_expired_only_once_signed) {
  char tok[HUBX_TOKEN_MAX + 1], name[HUBX_TOKEN_NAME_MAX + 1];

  ASSERT(hubx_token_mint(SECRET, "bob", 3, NOW, tok) == NULL);
  ASSERT_EQ(check(tok, name), HUBX_TOKEN_EXPIRED);
  ASSERT_STR_EQ(name, "");
  ASSERT(hubx_token_mint(SECRET, "bob", 3, NOW + 1, tok) == NULL);
  ASSERT_EQ(check(tok, name), HUBX_TOKEN_OK);
  /* Expired and signed with another secret: the signature is what is
   * reported, so that no one learns anything from a forged token. */
  ASSERT(hubx_token_mint("other", 5, "bob", 3, NOW - 10, tok) == NULL);
  ASSERT_EQ(check(tok, name), HUBX_TOKEN_BAD_SIGNATURE);
}

/* Any change of any character of a good token is refused: a changed
 * name or time is a bad signature, a changed signature too, a character
 * out of its field's alphabet is malformed. Never accepted. */
TEST(token_every_character_changed_is_refused) {
  char tok[HUBX_TOKEN_MAX + 1], name[HUBX_TOKEN_NAME_MAX + 1];
  static const char subst[] = "aA0.-_~%\x01";
  size_t i, j, n;
  hubx_token_result_t r;

  ASSERT(hubx_token_mint(SECRET, "carol", 5, NOW + 3600, tok) == NULL);
  n = strlen(tok);
  for (i = 0; i < n; i++) {
    char was = tok[i];
    for (j = 0; j < sizeof(subst) - 1; j++) {
      if (subst[j] == was)
        continue;
      tok[i] = subst[j];
      r = check(tok, name);
      ASSERT(r == HUBX_TOKEN_BAD_SIGNATURE || r == HUBX_TOKEN_MALFORMED);
      ASSERT_STR_EQ(name, "");
    }
    tok[i] = was;
  }
  ASSERT_EQ(check(tok, name), HUBX_TOKEN_OK);
}

TEST(token_malformed_forms) {
  static const char *bad[] = {
    "", ".", "..", "abc", "YWxpY2U", "YWxpY2U.1700000060",
    ".1700000060.0000000000000000000000000000000000000000000000000000000000000000",
    "YWxpY2U..0000000000000000000000000000000000000000000000000000000000000000",
    "YWxpY2U.17x0000060.0000000000000000000000000000000000000000000000000000000000000000",
    "YWxpY2U.1234567890123456789.0000000000000000000000000000000000000000000000000000000000000000",
    "YWxpY2U.01700000060.0000000000000000000000000000000000000000000000000000000000000000",
    "YWxpY2U.1700000060.000000000000000000000000000000000000000000000000000000000000000",
    "YWxpY2U.1700000060.00000000000000000000000000000000000000000000000000000000000000000",
    "YWxpY2U.1700000060.000000000000000000000000000000000000000000000000000000000000000G",
    "YWxpY2U.1700000060.000000000000000000000000000000000000000000000000000000000000000A",
    "YWxp.Y2U.1700000060.0000000000000000000000000000000000000000000000000000000000000000",
  };
  char name[HUBX_TOKEN_NAME_MAX + 1], big[HUBX_TOKEN_MAX + 2];
  size_t i;

  for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    ASSERT_EQ(check(bad[i], name), HUBX_TOKEN_MALFORMED);
  memset(big, 'A', sizeof(big) - 1);
  big[sizeof(big) - 1] = '\0';
  ASSERT_EQ(check(big, name), HUBX_TOKEN_MALFORMED);
  /* A NUL inside. */
  ASSERT_EQ(hubx_token_check(SECRET, "a\0b.1.00", 8, NOW, name),
            HUBX_TOKEN_MALFORMED);
}

/* Signed with the right secret, but a name the rule refuses (a control
 * character, not UTF-8, too long, empty, not canonical base64url):
 * malformed, never passed on. */
static void sign_raw(const char *b64name, char *tok) {
  char part[HUBX_TOKEN_MAX + 1], mac[65];

  snprintf(part, sizeof(part), "%s.%lld", b64name, NOW + 60);
  snprintf(tok, HUBX_TOKEN_MAX + 1, "%s.%s", part,
           hmac(SECRET, part, strlen(part), mac));
}

TEST(token_signed_bad_names_are_refused) {
  static const char *b64[] = {
    "YQo",   /* "a\n" */
    "_w",    /* 0xff */
    "YR",    /* "a" with bits left over */
    "Y",     /* a length of 1 mod 4 */
    "YW*j",  /* a character out of the alphabet */
    ("YWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFh"
     "YWFhYWFhYWFhYWFhYWFhYWE"), /* 65 bytes */
    "4oCuYQ", /* U+202E, then "a" */
  };
  char tok[HUBX_TOKEN_MAX + 1], name[HUBX_TOKEN_NAME_MAX + 1];
  size_t i;

  sign_raw("YWxpY2U", tok);
  ASSERT_EQ(check(tok, name), HUBX_TOKEN_OK);
  for (i = 0; i < sizeof(b64) / sizeof(b64[0]); i++) {
    sign_raw(b64[i], tok);
    ASSERT_EQ(check(tok, name), HUBX_TOKEN_MALFORMED);
    ASSERT_STR_EQ(name, "");
  }
}

TEST(token_mint_refuses_bad_names_and_times) {
  char tok[HUBX_TOKEN_MAX + 1];

  ASSERT(hubx_token_mint(SECRET, "", 0, NOW, tok) != NULL);
  ASSERT(hubx_token_mint(SECRET, "a\tb", 3, NOW, tok) != NULL);
  ASSERT(hubx_token_mint(SECRET, "\xff", 1, NOW, tok) != NULL);
  ASSERT(hubx_token_mint(SECRET,
      "12345678901234567890123456789012345678901234567890123456789012345",
      65, NOW, tok) != NULL);
  ASSERT(hubx_token_mint(SECRET, "a", 1, 0, tok) != NULL);
  ASSERT(hubx_token_mint(SECRET, "a", 1, 1000000000000000000LL, tok) != NULL);
}

int main(int argc, char **argv) {
  return RUN_TESTS(argc, argv);
}
