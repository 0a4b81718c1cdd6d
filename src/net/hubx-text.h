/* Text that comes from peers: UTF-8 checks, room names, and escaping for
 * logs. Shared by the example programs, hub-ws-chat's room parser and the
 * Redis bridge, so that every one of them applies the same rules. Bytes
 * in, bytes out: no I/O, no allocation, and no dependency (not even
 * hub.h), so that each user can be vendored or fuzzed on its own. Not part
 * of libhub's API. */
#ifndef HUBX_TEXT_H
#define HUBX_TEXT_H

#include <stddef.h>

/* The longest room name, in bytes: the hub's HUB_TOPIC_MAX (the programs
 * check that they agree). */
#define HUBX_ROOM_MAX 255

/* Nonzero if `len` bytes at `s` are UTF-8 as RFC 3629 defines it: no
 * overlong forms, surrogates, code points past U+10FFFF, stray or missing
 * continuation bytes. */
int hubx_utf8_valid(const void *s, size_t len);

/* NULL if `len` bytes at `s` are a room name both programs accept: 1 to
 * HUBX_ROOM_MAX bytes of UTF-8 without control characters (C0 U+0000-
 * U+001F, DEL and C1 U+007F-U+009F) or bidirectional controls (U+061C,
 * U+200E, U+200F, U+202A-U+202E, U+2066-U+2069), which could make a name
 * look like another in logs and on pages. Otherwise a short reason, in
 * words fit for the client ("not UTF-8", ...). */
const char *hubx_room_name_check(const void *s, size_t len);

/* `len` bytes at `s` made fit for a log line, into `out` (`outlen` >= 4
 * bytes, NUL-terminated), which is returned: printable UTF-8 is copied as
 * it is; a byte that is not UTF-8 becomes \xNN, a control or
 * bidirectional character (as above, and U+2028, U+2029) \u{XXXX}, and a
 * backslash or a single quote is escaped with a backslash, so that a name
 * logged between quotes cannot end them. What does not fit ends in
 * "...". */
char *hubx_escape(const void *s, size_t len, char *out, size_t outlen);

/* The same for the contents of a JSON string (RFC 8259): printable UTF-8
 * is copied; '"' and a backslash are escaped with a backslash; a control
 * or bidirectional character (and U+2028, U+2029) becomes \uXXXX; a byte
 * that is not UTF-8 the text \xNN (written \\xNN), so that the result is
 * valid JSON whatever the bytes. What does not fit ends in "...". */
char *hubx_json_escape(const void *s, size_t len, char *out, size_t outlen);

/* The value of the hex digit `c` (0-9, a-f or A-F), or -1 if it is not
 * one: for percent-decoding and message ids. */
int hubx_hex_value(int c);

#endif /* HUBX_TEXT_H */
