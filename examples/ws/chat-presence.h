/* hub-ws-chat's presence: who is in which room on this server, and the
 * join and leave notices that tell it (see docs/ws.md, "Presence").
 *
 * Every client of the program has a member: its number for the logs, the
 * name it goes by (from its token, or the one it gave; may be none) and
 * its room. Members are kept per room; those that asked for notices
 * (libhub.v1 WebSocket clients and server-sent events clients) are also
 * on their room's list of listeners. A join or a leave costs one lookup
 * of the room and one notice queued per listener of that room, the same
 * message for all listeners that read the same framing: nothing for
 * rooms where nobody listens, nothing per pair of members.
 *
 * Notices are control messages (HUB_MSG_CONTROL): never counted against
 * the queue bounds, never dropped by the policy, and never part of a
 * room's history or ids. A listener whose control messages are half the
 * hub's allowance (HUB_MAX_CONTROL_QUEUED) or more is not reading: it
 * skips a notice rather than crowd out its pongs and close frame; each
 * notice carries the room's count, so the next one it gets is exact. */
#ifndef CHAT_PRESENCE_H
#define CHAT_PRESENCE_H

#include <stddef.h>
#include <stdint.h>

#include <hub.h>

#include "hub-queue.h"

/* How a member reads notices. */
typedef enum {
  CHAT_NOTICES_NONE = 0, /* it gets none (it did not ask, or cannot) */
  CHAT_NOTICES_V1,       /* "!" LF JSON, libhub.v1 WebSocket */
  CHAT_NOTICES_EVENT     /* JSON, framed by its transport as a notice
                          * (server-sent events: an event of type hub) */
} chat_notices_t;

typedef struct chat_room_s chat_room_t;
typedef struct chat_member_s chat_member_t;

struct chat_member_s {
  hub__queue node; /* in its room's list of listeners */
  chat_room_t *room;
  hub_client_t *client;
  uint64_t id;
  chat_notices_t notices;
  int named_by_token; /* its name comes from a token the server checked */
  char name[];        /* "" for none */
};

typedef struct {
  chat_room_t **buckets;
  size_t nbuckets;
  size_t nrooms;
  int silent; /* set when the server stops: no more notices */
} chat_presence_t;

/* The longest name a member may have, in bytes. */
#define CHAT_NAME_MAX 64

void chat_presence_init(chat_presence_t *p);
/* Free every room (members are their clients': freed with them). */
void chat_presence_free(chat_presence_t *p);

/* A new member for `client` (its data, to the caller), named `name`
 * (NUL-terminated, at most CHAT_NAME_MAX bytes; "" for none), in no room
 * yet. NULL when out of memory. */
chat_member_t *chat_member_new(hub_client_t *client, uint64_t id,
                               const char *name, int named_by_token);

/* `m` enters the room `room`, reading notices as `notices`: every
 * listener of the room but `m` is told {"hub":"join",...} with the new
 * count; `m` itself, if a listener, the same with "you":true (and
 * whether names are checked, "auth"). Returns 0, or UV_ENOMEM (the
 * member is then in no room, and nobody was told). */
int chat_presence_join(chat_presence_t *p, chat_member_t *m,
                       const char *room, chat_notices_t notices);

/* `m` leaves its room (if it is in one), and the listeners left are told
 * {"hub":"leave",...}; then `m` is freed. */
void chat_member_free(chat_presence_t *p, chat_member_t *m);

/* The members of `room` on this server (0 for none). */
size_t chat_presence_count(const chat_presence_t *p, const char *room);

/* `len` bytes of UTF-8 at `s` as a JSON string with its quotes, into out
 * (`cap` bytes, NUL-terminated): '"', '\' and control characters
 * escaped. Returns the length, or the length it would need (>= cap: not
 * written whole), as snprintf() does. At most 6 * len + 2. */
size_t chat_json_string(const char *s, size_t len, char *out, size_t cap);

#endif /* CHAT_PRESENCE_H */
