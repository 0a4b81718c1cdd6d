/* Incremental parser of the newline protocol: messages end with "\n"
 * (a "\r" before it is stripped). Like the WebSocket parser it keeps only
 * the first LG_HEAD_MAX bytes of each message and its length. */
#ifndef LG_LINE_H
#define LG_LINE_H

#include <stddef.h>
#include <stdint.h>

#include "lg-msg.h"

#define LG_LINE_ETOOBIG (-2) /* a line longer than max_line */

typedef int (*lg_line_cb)(void *ud, const uint8_t *head, size_t head_len,
                          uint64_t len);

typedef struct {
  uint64_t max_line; /* 0: no limit */
  uint64_t len;      /* bytes of the current line so far */
  uint8_t last;      /* its last byte, to strip a "\r" */
  uint8_t head_len;
  uint8_t head[LG_HEAD_MAX];
} lg_line_parser_t;

void lg_line_parser_init(lg_line_parser_t *p, uint64_t max_line);

/* Feeds len bytes and calls cb for every complete line. Returns 0,
 * LG_LINE_ETOOBIG, or cb's non-zero return value (which stops it). */
int lg_line_parse(lg_line_parser_t *p, const uint8_t *data, size_t len,
                  lg_line_cb cb, void *ud);

#endif /* LG_LINE_H */
