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

#endif /* CHAT_ROOM_H */
