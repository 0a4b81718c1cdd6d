/* Message ids on the wire: a message's position in its topic's stream
 * (hub.h, "History and resume") as an opaque ASCII token, shared by the
 * adapters' id-prefixed framings and the programs' resume
 * parameters. Not part of libhub's API.
 *
 * An id is 16 lowercase hex digits of the epoch, '.', and the offset in
 * decimal: "9f2c44d1a0b3e781.1234" (at most 37 characters, all of them in
 * [A-Za-z0-9._:-], as the programs' protocol promises). Clients treat it
 * as opaque: they keep the last one they got and send it back. */
#ifndef HUBX_ID_H
#define HUBX_ID_H

#include <stddef.h>
#include <stdint.h>

#include <hub.h>

#define HUBX_ID_MAX 37

/* Write the id of (epoch, offset) and a NUL into buf (HUBX_ID_MAX + 1
 * bytes); returns its length. */
size_t hubx_id_format(uint64_t epoch, uint64_t offset, char *buf);

/* The id of `msg`, or "" when it has no position. */
size_t hubx_msg_id(const hub_msg_t *msg, char *buf);

/* Parse `len` bytes at `s`: an id as above, or "0" for "from the oldest
 * message held" (epoch and offset 0). Returns 0, or -1 for anything
 * else. */
int hubx_id_parse(const char *s, size_t len, uint64_t *epoch,
                  uint64_t *offset);

#endif /* HUBX_ID_H */
