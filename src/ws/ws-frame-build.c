/* Server frames. They are never masked (RFC 6455 §5.1), so one message's
 * frame is the same bytes for every client: built once, shared by all. */
#include "ws-frame.h"

#include <string.h>

size_t hub_ws__frame_head(uint8_t *out, unsigned opcode, uint64_t len) {
  int i;

  out[0] = (uint8_t)(0x80 | (opcode & 0x0F));
  if (len < 126) {
    out[1] = (uint8_t)len;
    return 2;
  }
  if (len <= 0xFFFF) {
    out[1] = 126;
    out[2] = (uint8_t)(len >> 8);
    out[3] = (uint8_t)len;
    return 4;
  }
  out[1] = 127;
  for (i = 0; i < 8; i++)
    out[2 + i] = (uint8_t)(len >> (56 - 8 * i));
  return 10;
}

size_t hub_ws__frame_control(uint8_t *out, unsigned opcode, const void *payload,
                             size_t len) {
  if (len > HUB_WS__CONTROL_MAX)
    len = HUB_WS__CONTROL_MAX;
  out[0] = (uint8_t)(0x80 | (opcode & 0x0F));
  out[1] = (uint8_t)len;
  if (len > 0)
    memcpy(out + 2, payload, len);
  return 2 + len;
}

size_t hub_ws__frame_close(uint8_t *out, unsigned code, const char *reason) {
  size_t n = reason != NULL ? strlen(reason) : 0;

  if (code == 0)
    return hub_ws__frame_control(out, HUB_WS__OP_CLOSE, NULL, 0);
  if (n > HUB_WS__CONTROL_MAX - 2) {
    n = HUB_WS__CONTROL_MAX - 2;
    /* Never cut a character: back off over continuation bytes. */
    while (n > 0 && ((uint8_t)reason[n] & 0xC0) == 0x80)
      n--;
  }
  out[0] = 0x80 | HUB_WS__OP_CLOSE;
  out[1] = (uint8_t)(2 + n);
  out[2] = (uint8_t)(code >> 8);
  out[3] = (uint8_t)code;
  if (n > 0)
    memcpy(out + 4, reason, n);
  return 4 + n;
}

int hub_ws__close_code_valid(unsigned code) {
  /* 1004-1006 and 1015 are reserved and never sent; 1016-2999 are kept
   * for future revisions; 3000-4999 belong to libraries and apps. */
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
         (code >= 3000 && code <= 4999);
}
