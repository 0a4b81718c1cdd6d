/* Message ids on the wire. See hubx-id.h. */
#include "hubx-id.h"

#include <stdio.h>

#include "hubx-text.h"

size_t hubx_id_format(uint64_t epoch, uint64_t offset, char *buf) {
  int n = snprintf(buf, HUBX_ID_MAX + 1, "%016llx.%llu",
                   (unsigned long long)epoch, (unsigned long long)offset);
  return n > 0 ? (size_t)n : 0;
}

size_t hubx_msg_id(const hub_msg_t *msg, char *buf) {
  uint64_t epoch, offset;

  if (hub_msg_position(msg, &epoch, &offset) != 0) {
    buf[0] = '\0';
    return 0;
  }
  return hubx_id_format(epoch, offset, buf);
}

int hubx_id_parse(const char *s, size_t len, uint64_t *epoch,
                  uint64_t *offset) {
  uint64_t e = 0, o = 0;
  size_t i;

  if (len == 1 && s[0] == '0') {
    *epoch = *offset = 0;
    return 0;
  }
  if (len < 18 || len > HUBX_ID_MAX || s[16] != '.')
    return -1;
  for (i = 0; i < 16; i++) {
    if (hubx_hex_value(s[i]) < 0)
      return -1;
    e = e << 4 | (uint64_t)hubx_hex_value(s[i]);
  }
  for (i = 17; i < len; i++) {
    if (s[i] < '0' || s[i] > '9' || o > (UINT64_MAX - 9) / 10)
      return -1;
    o = o * 10 + (uint64_t)(s[i] - '0');
  }
  if (o == 0)
    return -1; /* offsets start at 1 */
  *epoch = e;
  *offset = o;
  return 0;
}
