/* Fuzz target: the signed tokens of hub-ws-chat's --auth-secret-file
 * (examples/common/hubx-token.c), which come from the network in a query
 * string. The input's first byte chooses how the rest is used:
 *
 * - even: the rest is a token, checked as it is. The fuzzer cannot sign,
 *   so it must be refused, with no name given;
 * - odd: the rest is the signed part ("NAME.EXPIRES", any bytes), signed
 *   here with the secret, so the parsing of a token whose signature is
 *   good is explored. It must never be called a bad signature; when it
 *   is accepted, the name must pass the rule of names and minting that
 *   name and time must give the very same token (one encoding per
 *   token). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "hubx-sha256.h"
#include "hubx-text.h"
#include "hubx-token.h"

#define NOW 1700000000LL

static const char secret[] = "fuzzing secret, 32 bytes or so..";

static void check_name(hubx_token_result_t r, const char *name) {
  const char *end = memchr(name, '\0', HUBX_TOKEN_NAME_MAX + 1);

  if (end == NULL)
    abort(); /* not NUL-terminated */
  if (r != HUBX_TOKEN_OK && name[0] != '\0')
    abort(); /* a name given for a refused token */
  if (r == HUBX_TOKEN_OK &&
      (name[0] == '\0' ||
       hubx_room_name_check(name, (size_t)(end - name)) != NULL))
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const char hex[] = "0123456789abcdef";
  char token[2 * HUBX_TOKEN_MAX + 2], again[HUBX_TOKEN_MAX + 1];
  char name[HUBX_TOKEN_NAME_MAX + 1];
  uint8_t mac[HUBX_SHA256_LEN];
  hubx_token_result_t r;
  long long expires;
  size_t n, i;

  if (size == 0)
    return 0;
  if ((data[0] & 1) == 0) {
    r = hubx_token_check(secret, sizeof(secret) - 1, (const char *)data + 1,
                         size - 1, NOW, name);
    if (r != HUBX_TOKEN_MALFORMED && r != HUBX_TOKEN_BAD_SIGNATURE)
      abort(); /* the fuzzer signed without the secret */
    check_name(r, name);
    return 0;
  }
  n = size - 1;
  if (n > HUBX_TOKEN_MAX)
    n = HUBX_TOKEN_MAX;
  memcpy(token, data + 1, n);
  hubx_hmac_sha256(secret, sizeof(secret) - 1, token, n, mac);
  token[n++] = '.';
  for (i = 0; i < HUBX_SHA256_LEN; i++) {
    token[n++] = hex[mac[i] >> 4];
    token[n++] = hex[mac[i] & 15];
  }
  r = hubx_token_check(secret, sizeof(secret) - 1, token, n, NOW, name);
  check_name(r, name);
  /* Signed with the secret: a signed part with a dot more or less makes
   * the fields wrong (malformed), never the signature. */
  if (r == HUBX_TOKEN_BAD_SIGNATURE)
    abort();
  if (r != HUBX_TOKEN_OK)
    return 0;
  expires = strtoll(strchr(token, '.') + 1, NULL, 10);
  if (expires <= NOW ||
      hubx_token_mint(secret, sizeof(secret) - 1, name, strlen(name),
                      expires, again) != NULL ||
      strlen(again) != n || memcmp(again, token, n) != 0)
    abort();
  return 0;
}
