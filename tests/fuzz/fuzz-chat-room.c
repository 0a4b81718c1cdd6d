/* Fuzz target: hub-ws-chat's room names, taken from the request target of
 * an upgrade ("/ws?room=NAME&..."), which comes from the network. Checks:
 * a name accepted is a valid room (1 to CHAT_ROOM_MAX bytes that
 * hubx_room_name_check() accepts, NUL-terminated), and encoding it back as
 * %XX for every byte, among other parameters, gives the same name. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat-room.h"
#include "fuzz.h"
#include "hubx-text.h"

#define TARGET_MAX 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char target[TARGET_MAX + 1], again[3 * CHAT_ROOM_MAX + 64];
  char room[CHAT_ROOM_MAX + 1], room2[CHAT_ROOM_MAX + 1];
  const char *why;
  size_t len, i, n;

  /* A target is a C string: it ends at the first NUL. */
  if (size > TARGET_MAX)
    size = TARGET_MAX;
  memcpy(target, data, size);
  target[size] = '\0';

  why = chat_room_from_target(target, room);
  if (why != NULL) {
    if (why[0] == '\0')
      abort(); /* a refusal always says why */
    return 0;
  }
  {
    const char *end = memchr(room, '\0', sizeof(room));
    if (end == NULL)
      abort(); /* not NUL-terminated */
    len = (size_t)(end - room);
  }
  if (len == 0 || len > CHAT_ROOM_MAX ||
      hubx_room_name_check(room, len) != NULL)
    abort();

  /* The same room, every byte percent-encoded, between other parameters. */
  n = (size_t)snprintf(again, sizeof(again), "/ws?x=1&room=");
  for (i = 0; i < len; i++)
    n += (size_t)snprintf(again + n, sizeof(again) - n, "%%%02X",
                          (unsigned char)room[i]);
  snprintf(again + n, sizeof(again) - n, "&roomy=2");
  if (chat_room_from_target(again, room2) != NULL || strcmp(room, room2) != 0)
    abort();
  return 0;
}
