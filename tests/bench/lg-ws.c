/* WebSocket client codec: handshake, client frames, server frame parser.
 * Written from RFC 6455 sections 4.1, 5.2 and 5.3, and RFC 7692 sections
 * 5, 6 and 7.1 for permessage-deflate's negotiation and RSV1. */
#include "lg-ws.h"

#include <stdio.h>
#include <string.h>

#include "lg-sha1.h"

static const char ws_guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

void lg_ws_parser_init(lg_ws_parser_t *p, uint64_t max_message) {
  memset(p, 0, sizeof(*p));
  p->max_message = max_message;
}

void lg_ws_parser_allow_rsv1(lg_ws_parser_t *p) {
  p->rsv1_ok = 1;
}

/* The whole header is in p->hdr: decode the length and start the
 * payload. Zero-length frames end at once. */
static int frame_begun(lg_ws_parser_t *p, const lg_ws_callbacks_t *cb,
                       void *ud);

static int frame_ended(lg_ws_parser_t *p, const lg_ws_callbacks_t *cb,
                       void *ud) {
  int r = 0;

  p->in_payload = 0;
  p->hdr_len = 0;
  if (p->opcode & 0x8) {
    if (p->opcode == LG_WS_OP_PING || p->opcode == LG_WS_OP_PONG ||
        p->opcode == LG_WS_OP_CLOSE)
      r = cb->on_control(ud, p->opcode, p->ctl, p->ctl_len);
    p->ctl_len = 0;
    return r;
  }
  if (!p->fin)
    return 0; /* more fragments follow */
  if (p->msg_rsv1)
    r = cb->on_compressed(ud, p->msg_op, NULL, 0, 1);
  else
    r = cb->on_message(ud, p->msg_op, p->head, p->head_len, p->msg_len);
  p->in_msg = 0;
  p->msg_rsv1 = 0;
  p->head_len = 0;
  p->msg_len = 0;
  return r;
}

/* Checks the first two header bytes; returns the full header length or
 * an error. */
static int header_size(lg_ws_parser_t *p) {
  uint8_t b0 = p->hdr[0], b1 = p->hdr[1];
  int op = b0 & 0x0f, len7 = b1 & 0x7f;

  if (b0 & 0x30)
    return LG_WS_ERSV; /* no extension defines RSV2 or RSV3 */
  if (b0 & LG_WS_RSV1) {
    if (!p->rsv1_ok)
      return LG_WS_ERSV; /* permessage-deflate was not negotiated */
    /* RFC 7692 section 6.1: only on the first frame of a message. */
    if (op != LG_WS_OP_TEXT && op != LG_WS_OP_BINARY)
      return LG_WS_EPROTO;
  }
  if (b1 & 0x80)
    return LG_WS_EPROTO; /* a server must not mask its frames */
  switch (op) {
  case LG_WS_OP_CONT:
    if (!p->in_msg)
      return LG_WS_EPROTO;
    break;
  case LG_WS_OP_TEXT:
  case LG_WS_OP_BINARY:
    if (p->in_msg)
      return LG_WS_EPROTO;
    break;
  case LG_WS_OP_CLOSE:
  case LG_WS_OP_PING:
  case LG_WS_OP_PONG:
    if (!(b0 & 0x80) || len7 > 125)
      return LG_WS_EPROTO;
    break;
  default:
    return LG_WS_EPROTO;
  }
  return len7 == 126 ? 4 : len7 == 127 ? 10 : 2;
}

static int frame_begun(lg_ws_parser_t *p, const lg_ws_callbacks_t *cb,
                       void *ud) {
  uint64_t len = p->hdr[1] & 0x7f;
  int i;

  if (len == 126) {
    len = (uint64_t)p->hdr[2] << 8 | p->hdr[3];
    if (len < 126)
      return LG_WS_EPROTO; /* the minimal length encoding is required */
  } else if (len == 127) {
    len = 0;
    for (i = 0; i < 8; i++)
      len = len << 8 | p->hdr[2 + i];
    if ((len >> 63) != 0 || len < 65536)
      return LG_WS_EPROTO;
  }
  p->opcode = p->hdr[0] & 0x0f;
  p->fin = (p->hdr[0] & 0x80) != 0;
  if (!(p->opcode & 0x8)) {
    if (p->opcode != LG_WS_OP_CONT) {
      p->in_msg = 1;
      p->msg_op = p->opcode;
      p->msg_rsv1 = (p->hdr[0] & LG_WS_RSV1) != 0;
      p->msg_len = 0;
      p->head_len = 0;
    }
    if (p->max_message && len > p->max_message - p->msg_len)
      return LG_WS_ETOOBIG;
  }
  p->remaining = len;
  p->in_payload = 1;
  if (len == 0)
    return frame_ended(p, cb, ud);
  return 0;
}

int lg_ws_parse(lg_ws_parser_t *p, const uint8_t *data, size_t len,
                const lg_ws_callbacks_t *cb, void *ud) {
  size_t i = 0, n;
  int r, need;

  while (i < len) {
    if (!p->in_payload) {
      if (p->hdr_len < 2) {
        n = 2 - p->hdr_len;
        if (n > len - i)
          n = len - i;
        memcpy(p->hdr + p->hdr_len, data + i, n);
        p->hdr_len += (uint8_t)n;
        i += n;
        if (p->hdr_len < 2)
          break;
      }
      need = header_size(p);
      if (need < 0)
        return need;
      n = (size_t)need - p->hdr_len;
      if (n > len - i)
        n = len - i;
      memcpy(p->hdr + p->hdr_len, data + i, n);
      p->hdr_len += (uint8_t)n;
      i += n;
      if (p->hdr_len < need)
        break;
      r = frame_begun(p, cb, ud);
      if (r != 0)
        return r;
      continue;
    }
    n = len - i;
    if (n > p->remaining)
      n = (size_t)p->remaining;
    if (p->opcode & 0x8) {
      memcpy(p->ctl + p->ctl_len, data + i, n); /* remaining <= 125 */
      p->ctl_len += (uint8_t)n;
    } else if (p->msg_rsv1) {
      r = cb->on_compressed(ud, p->msg_op, data + i, n, 0);
      if (r != 0)
        return r;
      p->msg_len += n;
    } else {
      if (p->head_len < LG_HEAD_MAX) {
        size_t keep = LG_HEAD_MAX - p->head_len;
        if (keep > n)
          keep = n;
        memcpy(p->head + p->head_len, data + i, keep);
        p->head_len += (uint8_t)keep;
      }
      p->msg_len += n;
    }
    i += n;
    p->remaining -= n;
    if (p->remaining == 0) {
      r = frame_ended(p, cb, ud);
      if (r != 0)
        return r;
    }
  }
  return 0;
}

size_t lg_ws_frame_header(uint8_t *out, int opcode, uint64_t len,
                          const uint8_t mask[4]) {
  size_t n = 2;
  int i;

  out[0] = (uint8_t)(0x80 | (opcode & 0x0f));
  if (len < 126) {
    out[1] = (uint8_t)len;
  } else if (len < 65536) {
    out[1] = 126;
    out[2] = (uint8_t)(len >> 8);
    out[3] = (uint8_t)len;
    n = 4;
  } else {
    out[1] = 127;
    for (i = 0; i < 8; i++)
      out[2 + i] = (uint8_t)(len >> (56 - 8 * i));
    n = 10;
  }
  if (mask) {
    out[1] |= 0x80;
    memcpy(out + n, mask, 4);
    n += 4;
  }
  return n;
}

void lg_ws_mask(uint8_t *p, size_t n, const uint8_t mask[4]) {
  uint64_t m8, v;
  size_t i = 0;

  /* Eight bytes at a time: the key repeats every four bytes, so a 64-bit
   * word of two keys lines up with every 8-byte step. */
  memcpy(&m8, mask, 4);
  memcpy((uint8_t *)&m8 + 4, mask, 4);
  for (; i + 8 <= n; i += 8) {
    memcpy(&v, p + i, 8);
    v ^= m8;
    memcpy(p + i, &v, 8);
  }
  for (; i < n; i++)
    p[i] ^= mask[i & 3];
}

int lg_ws_request(char *buf, size_t cap, const char *host, const char *path,
                  const uint8_t nonce[16], const char *extensions,
                  char accept[29]) {
  char key[32], cat[64];
  uint8_t sha[LG_SHA1_LEN];
  int n;

  lg_base64(nonce, 16, key); /* 24 characters */
  n = snprintf(cat, sizeof(cat), "%s%s", key, ws_guid);
  lg_sha1(cat, (size_t)n, sha);
  lg_base64(sha, sizeof(sha), accept); /* 28 characters */
  n = snprintf(buf, cap,
               "GET %s HTTP/1.1\r\n"
               "Host: %s\r\n"
               "Upgrade: websocket\r\n"
               "Connection: Upgrade\r\n"
               "Sec-WebSocket-Key: %s\r\n"
               "Sec-WebSocket-Version: 13\r\n"
               "%s%s%s"
               "\r\n",
               path, host, key, extensions ? "Sec-WebSocket-Extensions: " : "",
               extensions ? extensions : "", extensions ? "\r\n" : "");
  if (n < 0 || (size_t)n >= cap)
    return -1;
  return n;
}

size_t lg_http_head_len(const char *buf, size_t len) {
  size_t i;

  for (i = 3; i < len; i++)
    if (buf[i] == '\n' && buf[i - 1] == '\r' && buf[i - 2] == '\n' &&
        buf[i - 3] == '\r')
      return i + 1;
  return 0;
}

static int lower(int c) {
  return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

/* Case-insensitive: does s[0..n) start with the NUL-terminated w? */
static int starts_with_ci(const char *s, size_t n, const char *w) {
  size_t i;

  for (i = 0; w[i]; i++)
    if (i >= n || lower((unsigned char)s[i]) != lower((unsigned char)w[i]))
      return 0;
  return 1;
}

/* Does the comma-separated list v[0..n) hold the token tok? */
static int has_token_ci(const char *v, size_t n, const char *tok) {
  size_t i = 0, tl = strlen(tok), s, e;

  while (i < n) {
    while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
      i++;
    s = i;
    while (i < n && v[i] != ',')
      i++;
    e = i;
    while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
      e--;
    if (e - s == tl && starts_with_ci(v + s, e - s, tok))
      return 1;
  }
  return 0;
}

/* Header lines of a response head [.., end): *at is at the start of a
 * line (the status line at first). Each call moves to the next line that
 * has a colon and gives it whole in *line (for starts_with_ci) and its
 * value, trimmed, in *v. Returns 0 at the empty line or the end. */
static int next_header(const char **at, const char *end, const char **line,
                       size_t *line_len, const char **v, size_t *vl) {
  const char *p = *at, *eol, *c;
  size_t n;

  for (;;) {
    eol = memchr(p, '\n', (size_t)(end - p));
    if (!eol || eol + 1 >= end)
      return 0;
    p = eol + 1;
    eol = memchr(p, '\n', (size_t)(end - p));
    if (!eol || eol - p <= 1)
      return 0; /* the empty line */
    *at = p;
    c = memchr(p, ':', (size_t)(eol - p));
    if (c)
      break;
  }
  n = (size_t)(eol - c - 1);
  if (n > 0 && c[n] == '\r')
    n--;
  c++;
  while (n > 0 && (*c == ' ' || *c == '\t')) {
    c++;
    n--;
  }
  while (n > 0 && (c[n - 1] == ' ' || c[n - 1] == '\t'))
    n--;
  *line = p;
  *line_len = (size_t)(eol - p);
  *v = c;
  *vl = n;
  return 1;
}

int lg_ws_check_response(const char *head, size_t len, const char *accept,
                         const char **why) {
  const char *at = head, *end = head + len, *line, *v;
  int upgrade = 0, connection = 0, accepted = 0;
  size_t ll, vl;

  if (len < 12 || memcmp(head, "HTTP/1.1 101", 12) != 0) {
    *why = "the server did not answer 101 Switching Protocols";
    return -1;
  }
  while (next_header(&at, end, &line, &ll, &v, &vl)) {
    if (starts_with_ci(line, ll, "upgrade:"))
      upgrade = has_token_ci(v, vl, "websocket");
    else if (starts_with_ci(line, ll, "connection:"))
      connection = has_token_ci(v, vl, "upgrade");
    else if (starts_with_ci(line, ll, "sec-websocket-accept:"))
      accepted = vl == strlen(accept) && memcmp(v, accept, vl) == 0;
  }
  if (!upgrade) {
    *why = "no 'Upgrade: websocket' in the 101 response";
    return -1;
  }
  if (!connection) {
    *why = "no 'Connection: Upgrade' in the 101 response";
    return -1;
  }
  if (!accepted) {
    *why = "wrong or missing Sec-WebSocket-Accept";
    return -1;
  }
  return 0;
}

/* ------------------------------------------------------------------------
 * permessage-deflate's answer (RFC 7692 section 7.1)
 * ------------------------------------------------------------------------ */

/* The next item of the list v[0..n) separated by sep (outside double
 * quotes), from *i on, trimmed, in *s; moves *i past it. Returns 0 once
 * the list is done. An empty list has one empty item. */
static int next_item(const char *v, size_t n, size_t *i, char sep,
                     const char **s, size_t *sl) {
  size_t a = *i, b;
  int quoted = 0;

  if (a > n)
    return 0;
  for (b = a; b < n && (quoted || v[b] != sep); b++)
    if (v[b] == '"')
      quoted = !quoted;
  *i = b + 1;
  while (a < b && (v[a] == ' ' || v[a] == '\t'))
    a++;
  while (b > a && (v[b - 1] == ' ' || v[b - 1] == '\t'))
    b--;
  *s = v + a;
  *sl = b - a;
  return 1;
}

static int eq_ci(const char *s, size_t n, const char *w) {
  return n == strlen(w) && starts_with_ci(s, n, w);
}

/* A window size: 8..15 in decimal, without leading zeros. */
static int window_bits(const char *v, size_t n) {
  int bits;

  if (n == 0 || n > 2 || v[0] < '1' || v[0] > '9' ||
      (n == 2 && (v[1] < '0' || v[1] > '9')))
    return -1;
  bits = n == 1 ? v[0] - '0' : (v[0] - '0') * 10 + (v[1] - '0');
  return bits >= 8 && bits <= 15 ? bits : -1;
}

/* One parameter, name or name=value (the value a token or a quoted
 * string), into *pmd; *seen has a bit per parameter already given.
 * Returns 0, or -1 with *why. */
static int pmd_param(const char *s, size_t n, lg_pmd_t *pmd, unsigned *seen,
                     const char **why) {
  static const char *const names[4] = {
    "server_no_context_takeover", "client_no_context_takeover",
    "server_max_window_bits", "client_max_window_bits"};
  const char *eq = memchr(s, '=', n), *v = NULL;
  size_t nl = eq ? (size_t)(eq - s) : n, vl = 0, k;
  int bits = 0;

  while (nl > 0 && (s[nl - 1] == ' ' || s[nl - 1] == '\t'))
    nl--;
  if (eq) {
    v = eq + 1;
    vl = (size_t)(s + n - v);
    while (vl > 0 && (*v == ' ' || *v == '\t')) {
      v++;
      vl--;
    }
    if (vl >= 2 && v[0] == '"' && v[vl - 1] == '"') {
      v++;
      vl -= 2;
    }
  }
  for (k = 0; k < 4 && !eq_ci(s, nl, names[k]); k++)
    ;
  if (k == 4) {
    *why = "unknown permessage-deflate parameter in the response";
    return -1;
  }
  if (*seen & (1u << k)) {
    *why = "repeated permessage-deflate parameter in the response";
    return -1;
  }
  *seen |= 1u << k;
  if (k < 2) {
    if (eq) {
      *why = "a permessage-deflate no_context_takeover with a value";
      return -1;
    }
    if (k == 0)
      pmd->server_no_context_takeover = 1;
    else
      pmd->client_no_context_takeover = 1;
    return 0;
  }
  if (eq)
    bits = window_bits(v, vl);
  if (!eq || bits < 0) {
    *why = "a permessage-deflate window size missing or not 8..15";
    return -1;
  }
  if (k == 2)
    pmd->server_max_window_bits = (uint8_t)bits;
  else
    pmd->client_max_window_bits = (uint8_t)bits;
  return 0;
}

/* One element of the extension list: permessage-deflate and its
 * parameters. Returns 0, or -1 with *why. */
static int pmd_element(const char *e, size_t el, int offered, int *found,
                       lg_pmd_t *pmd, const char **why) {
  const char *s;
  size_t sl, j = 0;
  unsigned seen = 0;

  next_item(e, el, &j, ';', &s, &sl);
  if (!offered || !eq_ci(s, sl, "permessage-deflate")) {
    *why = "the server accepted an extension that was not offered";
    return -1;
  }
  if (*found) {
    *why = "the server accepted permessage-deflate twice";
    return -1;
  }
  *found = 1;
  while (next_item(e, el, &j, ';', &s, &sl))
    if (sl > 0 && pmd_param(s, sl, pmd, &seen, why) != 0)
      return -1;
  return 0;
}

int lg_ws_pmd_response(const char *head, size_t len, int offered,
                       lg_pmd_t *pmd, const char **why) {
  const char *at = head, *end = head + len, *line, *v, *e;
  size_t ll, vl, el, i;
  int found = 0;

  memset(pmd, 0, sizeof(*pmd));
  pmd->server_max_window_bits = 15;
  pmd->client_max_window_bits = 15;
  while (next_header(&at, end, &line, &ll, &v, &vl)) {
    if (!starts_with_ci(line, ll, "sec-websocket-extensions:"))
      continue;
    i = 0;
    while (next_item(v, vl, &i, ',', &e, &el))
      if (el > 0 && pmd_element(e, el, offered, &found, pmd, why) != 0)
        return -1;
  }
  return found;
}
