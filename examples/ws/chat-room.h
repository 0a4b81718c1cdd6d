/* hub-ws-chat's room names (see docs/ws.md). No I/O. */
#ifndef CHAT_ROOM_H
#define CHAT_ROOM_H

#include <stddef.h>

/* The longest room name, HUB_TOPIC_MAX (hub-ws-chat checks that they
 * agree): this header does without hub.h and libuv. */
#define CHAT_ROOM_MAX 255

/* The room of a client that names none. */
#define CHAT_DEFAULT_ROOM "lobby"

/* The room a request target ("/ws?room=NAME&...") asks for, into `room`
 * (CHAT_ROOM_MAX + 1 bytes): the value of the query parameter "room",
 * percent-decoded, "+" for a space; CHAT_DEFAULT_ROOM when there is no
 * such parameter or it is empty. Returns NULL, with `room` a valid name
 * (NUL-terminated, accepted by hubx_room_name_check(), the rule
 * hub-tcp-echo applies too), or why the name is refused (`room` is then
 * undefined). */
const char *chat_room_from_target(const char *target,
                                  char room[CHAT_ROOM_MAX + 1]);

/* The value of the query parameter `name` of a request target, percent-
 * decoded ("+" for a space), into `out` (`cap` bytes, NUL-terminated; its
 * length in *len), and *found 1 if it is there (0: out is ""). Returns
 * NULL, or why the target is refused (the parameter given twice, bad
 * percent-encoding, a value of `cap` bytes or more). */
const char *chat_query_param(const char *target, const char *name,
                             char *out, size_t cap, size_t *len,
                             int *found);

#endif /* CHAT_ROOM_H */
