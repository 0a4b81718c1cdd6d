/* The WebSocket opening handshake, server side (RFC 6455 §4.2).
 *
 * Bytes are appended to one buffer and http-parser runs over the new part
 * only, so a name or value split across reads is one contiguous range of
 * the buffer: the callbacks just extend it. Ranges are offsets, not
 * pointers, because the buffer moves when it grows. http-parser is told
 * that every request is an upgrade (on_headers_complete returns 2), so it
 * stops right after the head: what follows belongs to the next protocol
 * and is handed back to the caller untouched. */
#include "ws-handshake.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hubx-mem.h"
#include "ws-key.h"

#define HUB_WS__NAME 1
#define HUB_WS__VALUE 2

static int hub_ws__lower(int c) {
  return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

/* ASCII case-insensitive comparison of a[0..alen) with b[0..blen). */
static int hub_ws__ieq(const char *a, size_t alen, const char *b, size_t blen) {
  size_t i;

  if (alen != blen)
    return 0;
  for (i = 0; i < alen; i++)
    if (hub_ws__lower((unsigned char)a[i]) !=
        hub_ws__lower((unsigned char)b[i]))
      return 0;
  return 1;
}

static int hub_ws__is_ows(char c) { return c == ' ' || c == '\t'; }

static int hub_ws__on_url(http_parser *p, const char *at, size_t len) {
  hub_ws__hs_t *hs = p->data;

  if (hs->url_len == 0)
    hs->url_off = (uint16_t)(at - hs->buf);
  hs->url_len = (uint16_t)(hs->url_len + len);
  return 0;
}

static int hub_ws__on_field(http_parser *p, const char *at, size_t len) {
  hub_ws__hs_t *hs = p->data;
  hub_ws__hs_field_t *f;

  if (hs->last != HUB_WS__NAME) {
    if (hs->nfields == HUB_WS__HS_MAX_FIELDS) {
      hs->status = 431;
      return -1;
    }
    f = &hs->fields[hs->nfields++];
    memset(f, 0, sizeof(*f));
    f->name_off = (uint16_t)(at - hs->buf);
    hs->last = HUB_WS__NAME;
  } else {
    f = &hs->fields[hs->nfields - 1];
  }
  f->name_len = (uint16_t)(f->name_len + len);
  return 0;
}

static int hub_ws__on_value(http_parser *p, const char *at, size_t len) {
  hub_ws__hs_t *hs = p->data;
  hub_ws__hs_field_t *f = &hs->fields[hs->nfields - 1];

  if (hs->last != HUB_WS__VALUE) {
    f->value_off = (uint16_t)(at - hs->buf);
    f->value_len = 0;
    hs->last = HUB_WS__VALUE;
  }
  f->value_len = (uint16_t)(f->value_len + len);
  return 0;
}

static int hub_ws__on_headers_complete(http_parser *p) {
  (void)p;
  return 2; /* stop after the head, whatever the request */
}

static int hub_ws__on_message_complete(http_parser *p) {
  hub_ws__hs_t *hs = p->data;

  hs->complete = 1;
  return 0;
}

static const http_parser_settings hub_ws__settings = {
    .on_url = hub_ws__on_url,
    .on_header_field = hub_ws__on_field,
    .on_header_value = hub_ws__on_value,
    .on_headers_complete = hub_ws__on_headers_complete,
    .on_message_complete = hub_ws__on_message_complete,
};

void hub_ws__hs_init_mem(hub_ws__hs_t *hs, size_t max_head,
                         const hub_allocator_t *mem) {
  memset(hs, 0, sizeof(*hs));
  http_parser_init(&hs->parser, HTTP_REQUEST);
  hs->parser.data = hs;
  hs->max_head =
      max_head > HUB_WS__HS_MAX_HEAD ? HUB_WS__HS_MAX_HEAD : max_head;
  hs->mem = hubx_mem_or_libc(mem);
}

void hub_ws__hs_init(hub_ws__hs_t *hs, size_t max_head) {
  hub_ws__hs_init_mem(hs, max_head, NULL);
}

void hub_ws__hs_free(hub_ws__hs_t *hs) {
  if (hs->buf != NULL)
    hs->mem->free(hs->buf, hs->mem->user_data);
  hs->buf = NULL;
  hs->len = hs->cap = 0;
}

static int hub_ws__reserve(hub_ws__hs_t *hs, size_t need) {
  size_t cap = hs->cap == 0 ? 512 : hs->cap;
  char *buf;

  if (need <= hs->cap)
    return 0;
  while (cap < need)
    cap *= 2;
  buf = hs->mem->realloc(hs->buf, cap, hs->mem->user_data);
  if (buf == NULL)
    return -1;
  hs->buf = buf;
  hs->cap = cap;
  return 0;
}

static int hub_ws__name_is(const hub_ws__hs_t *hs, unsigned i,
                           const char *name);

/* Nonzero if `h` is a valid Host value (RFC 7230 §5.4, RFC 3986 §3.2.2):
 * empty, or a name or IPv4 address (letters, digits and -._~!$&'()*+,;=%)
 * or an IPv6 address in brackets, then optionally ":" and a port of 1 to
 * 5 digits up to 65535. "127.0.0.1:evil" is not a Host but a trap: a
 * check that reads only what comes before the colon would pass it. */
static int hub_ws__host_valid(const char *h) {
  static const char name[] = "-._~!$&'()*+,;=%";
  const char *p = h;
  unsigned long port = 0;
  size_t digits = 0;

  if (*p == '\0')
    return 1;
  if (*p == '[') {
    for (p++; (*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f') ||
              (*p >= 'A' && *p <= 'F') || *p == ':' || *p == '.';
         p++) {
    }
    if (*p != ']' || p == h + 1)
      return 0;
    p++;
  } else {
    while ((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') ||
           (*p >= 'A' && *p <= 'Z') || (*p != '\0' && strchr(name, *p)))
      p++;
    if (p == h)
      return 0;
  }
  if (*p == '\0')
    return 1;
  if (*p++ != ':')
    return 0;
  for (; *p >= '0' && *p <= '9'; p++) {
    if (++digits > 5)
      return 0;
    port = port * 10 + (unsigned long)(*p - '0');
  }
  return *p == '\0' && digits > 0 && port <= 65535;
}

/* Nonzero if a line of the head begins with a space or a tab: obsolete
 * line folding (RFC 7230 §3.2.4), which a server must refuse. http-parser
 * folds such a line into the value before it, even into an empty one, so
 * it is looked for in the raw head. */
static int hub_ws__has_obs_fold(const hub_ws__hs_t *hs, size_t head_len) {
  const char *p = hs->buf, *end = hs->buf + head_len;

  while ((p = memchr(p, '\n', (size_t)(end - p))) != NULL && ++p < end)
    if (*p == ' ' || *p == '\t')
      return 1;
  return 0;
}

/* Refusals that do not depend on what the request is for: the version,
 * the form of the target, folding, the Host headers. 0 or a status. */
static int hub_ws__check_head(hub_ws__hs_t *hs, size_t head_len) {
  unsigned i, hosts = 0;

  /* HTTP/1.1, and 1.0 for plain pages (hub_ws__hs_check_upgrade() wants
   * 1.1): http-parser reads any digit.digit, HTTP/2.0 included, which
   * this server cannot answer in kind. */
  if (hs->parser.http_major != 1 || hs->parser.http_minor > 1)
    return 505;
  /* Origin form only ("/path?query"). An absolute-form target
   * ("http://host/ws"), which browsers send only to proxies, names a host
   * of its own: a second Host, which the checks of Host would miss. */
  if (hs->buf[hs->url_off] != '/')
    return 400;
  if (hub_ws__has_obs_fold(hs, head_len))
    return 400;
  for (i = 0; i < hs->nfields; i++) {
    if (!hub_ws__name_is(hs, i, "Host"))
      continue;
    if (++hosts > 1 || !hub_ws__host_valid(hub_ws__hs_field_value(hs, i)))
      return 400;
  }
  return 0;
}

/* The head is complete: trim and NUL-terminate the strings in place and
 * append a copy of the path. Returns 0 or an HTTP status. */
static int hub_ws__finish(hub_ws__hs_t *hs, size_t head_len) {
  struct http_parser_url u;
  hub_ws__hs_field_t *f;
  size_t path_off = 0, path_len = 0;
  unsigned i, j;

  hs->len = head_len;
  if (hs->url_len == 0)
    return 400;
  http_parser_url_init(&u);
  if (http_parser_parse_url(hs->buf + hs->url_off, hs->url_len, 0, &u) != 0)
    return 400;
  if (u.field_set & (1u << UF_PATH)) {
    path_off = hs->url_off + u.field_data[UF_PATH].off;
    path_len = u.field_data[UF_PATH].len;
  }
  if (hub_ws__reserve(hs, hs->len + path_len + 2) != 0)
    return 500;
  hs->path_off = (uint16_t)hs->len;
  if (path_len > 0)
    memcpy(hs->buf + hs->len, hs->buf + path_off, path_len);
  else
    hs->buf[hs->len + path_len++] = '/'; /* kept: origin form has a path */
  hs->len += path_len;
  hs->buf[hs->len++] = '\0';

  /* The byte after the target is the space before the version, the one
   * after a name is its colon, and the one after a trimmed value is
   * whitespace or the CR ending its line: all free to become NULs. */
  hs->buf[hs->url_off + hs->url_len] = '\0';
  for (i = 0; i < hs->nfields; i++) {
    f = &hs->fields[i];
    hs->buf[f->name_off + f->name_len] = '\0';
    if (f->value_off == 0)
      continue;
    while (f->value_len > 0 &&
           hub_ws__is_ows(hs->buf[f->value_off + f->value_len - 1]))
      f->value_len--;
    for (j = 0; j < f->value_len; j++) {
      char c = hs->buf[f->value_off + j];
      if (c == '\r' || c == '\n' || c == '\0')
        return 400; /* obsolete line folding or a stray control byte */
    }
    /* An empty value's offset may be the next line's first byte. */
    if (f->value_len == 0)
      f->value_off = 0;
    else
      hs->buf[f->value_off + f->value_len] = '\0';
  }
  return hub_ws__check_head(hs, head_len);
}

int hub_ws__hs_feed(hub_ws__hs_t *hs, const char *data, size_t len,
                    size_t *used) {
  size_t old = hs->len, chunk, n;
  int r;

  *used = 0;
  if (hs->status != 0)
    return hs->status;
  if (hs->complete)
    return HUB_WS__HS_DONE;
  chunk = hs->max_head - old;
  if (chunk > len)
    chunk = len;
  /* http-parser takes an empty buffer to mean end of input. */
  if (len == 0)
    return HUB_WS__HS_MORE;
  if (chunk == 0)
    return hs->status = 431;
  if (hub_ws__reserve(hs, old + chunk) != 0)
    return hs->status = 500;
  memcpy(hs->buf + old, data, chunk);
  hs->len = old + chunk;

  n = http_parser_execute(&hs->parser, &hub_ws__settings, hs->buf + old, chunk);
  if (hs->status != 0)
    return hs->status;
  if (HTTP_PARSER_ERRNO(&hs->parser) != HPE_OK)
    return hs->status = HTTP_PARSER_ERRNO(&hs->parser) == HPE_HEADER_OVERFLOW
                            ? 431
                            : 400;
  if (hs->complete) {
    r = hub_ws__finish(hs, old + n);
    if (r != 0)
      return hs->status = r;
    *used = n;
    return HUB_WS__HS_DONE;
  }
  if (n != chunk)
    return hs->status = 400;
  if (hs->len >= hs->max_head)
    return hs->status = 431;
  *used = chunk;
  return HUB_WS__HS_MORE;
}

const char *hub_ws__hs_method(const hub_ws__hs_t *hs) {
  return http_method_str((enum http_method)hs->parser.method);
}

const char *hub_ws__hs_target(const hub_ws__hs_t *hs) {
  return hs->buf + hs->url_off;
}

const char *hub_ws__hs_path(const hub_ws__hs_t *hs) {
  return hs->buf + hs->path_off;
}

unsigned hub_ws__hs_nfields(const hub_ws__hs_t *hs) {
  return hs->complete && hs->status == 0 ? hs->nfields : 0;
}

const char *hub_ws__hs_field_name(const hub_ws__hs_t *hs, unsigned i) {
  return hs->buf + hs->fields[i].name_off;
}

const char *hub_ws__hs_field_value(const hub_ws__hs_t *hs, unsigned i) {
  return hs->fields[i].value_off == 0 ? ""
                                      : hs->buf + hs->fields[i].value_off;
}

static int hub_ws__name_is(const hub_ws__hs_t *hs, unsigned i,
                           const char *name) {
  const hub_ws__hs_field_t *f = &hs->fields[i];

  return hub_ws__ieq(hs->buf + f->name_off, f->name_len, name, strlen(name));
}

const char *hub_ws__hs_header(const hub_ws__hs_t *hs, const char *name) {
  unsigned i;

  for (i = 0; i < hub_ws__hs_nfields(hs); i++)
    if (hub_ws__name_is(hs, i, name))
      return hub_ws__hs_field_value(hs, i);
  return NULL;
}

unsigned hub_ws__hs_header_count(const hub_ws__hs_t *hs, const char *name) {
  unsigned i, n = 0;

  for (i = 0; i < hub_ws__hs_nfields(hs); i++)
    n += hub_ws__name_is(hs, i, name) ? 1 : 0;
  return n;
}

/* Nonzero if the comma-separated list `s` holds `token`. */
static int hub_ws__list_has(const char *s, const char *token) {
  size_t tlen = strlen(token), n;

  while (*s != '\0') {
    while (hub_ws__is_ows(*s) || *s == ',')
      s++;
    n = strcspn(s, ",");
    while (n > 0 && hub_ws__is_ows(s[n - 1]))
      n--;
    if (hub_ws__ieq(s, n, token, tlen))
      return 1;
    s += strcspn(s, ",");
  }
  return 0;
}

int hub_ws__hs_header_has_token(const hub_ws__hs_t *hs, const char *name,
                                const char *token) {
  unsigned i;

  for (i = 0; i < hub_ws__hs_nfields(hs); i++)
    if (hub_ws__name_is(hs, i, name) &&
        hub_ws__list_has(hub_ws__hs_field_value(hs, i), token))
      return 1;
  return 0;
}

int hub_ws__hs_is_upgrade(const hub_ws__hs_t *hs) {
  return hub_ws__hs_header_count(hs, "Upgrade") > 0;
}

int hub_ws__hs_check_upgrade(const hub_ws__hs_t *hs) {
  const http_parser *p = &hs->parser;
  const char *key, *version, *cl;

  if (!hs->complete || hs->status != 0)
    return hs->status != 0 ? hs->status : 400;
  if (p->method != HTTP_GET)
    return 405;
  if (p->http_major < 1 || (p->http_major == 1 && p->http_minor < 1))
    return 400;
  if (hub_ws__hs_header_count(hs, "Host") != 1 ||
      *hub_ws__hs_header(hs, "Host") == 0)
    return 400;
  if (!hub_ws__hs_is_upgrade(hs))
    return 426;
  if (!hub_ws__hs_header_has_token(hs, "Upgrade", "websocket") ||
      !hub_ws__hs_header_has_token(hs, "Connection", "Upgrade"))
    return 400;
  key = hub_ws__hs_header(hs, "Sec-WebSocket-Key");
  if (hub_ws__hs_header_count(hs, "Sec-WebSocket-Key") != 1 ||
      !hub_ws__key_valid(key, strlen(key)))
    return 400;
  version = hub_ws__hs_header(hs, "Sec-WebSocket-Version");
  if (hub_ws__hs_header_count(hs, "Sec-WebSocket-Version") != 1 ||
      strcmp(version, "13") != 0)
    return 426;
  /* A handshake has no body; bytes after the head are frames. */
  cl = hub_ws__hs_header(hs, "Content-Length");
  if ((cl != NULL && strcmp(cl, "0") != 0) ||
      hub_ws__hs_header(hs, "Transfer-Encoding") != NULL)
    return 400;
  return 0;
}

/* Nonzero if `origin` is http://HOST or https://HOST. */
static int hub_ws__origin_is_host(const char *origin, const char *host) {
  size_t n;

  if (host == NULL)
    return 0;
  if (hub_ws__ieq(origin, 7, "http://", 7))
    n = 7;
  else if (hub_ws__ieq(origin, 8, "https://", 8))
    n = 8;
  else
    return 0;
  return hub_ws__ieq(origin + n, strlen(origin + n), host, strlen(host));
}

int hub_ws__hs_check_origin(const hub_ws__hs_t *hs,
                            const hub_ws__origin_policy_t *pol) {
  const char *origin = hub_ws__hs_header(hs, "Origin");
  size_t i;

  if (origin == NULL)
    return pol->require_origin ? 403 : 0;
  if (hub_ws__hs_header_count(hs, "Origin") != 1)
    return 403;
  if (pol->n_origins == 0 && !pol->same_host)
    return 0;
  if (pol->same_host && hub_ws__hs_header_count(hs, "Host") == 1 &&
      hub_ws__origin_is_host(origin, hub_ws__hs_header(hs, "Host")))
    return 0;
  for (i = 0; i < pol->n_origins; i++)
    if (hub_ws__ieq(origin, strlen(origin), pol->origins[i],
                    strlen(pol->origins[i])))
      return 0;
  return 403;
}

size_t hub_ws__hs_accept_response(const hub_ws__hs_t *hs, char *out, size_t cap,
                                  const char *protocol,
                                  const char *extensions) {
  const char *key = hub_ws__hs_header(hs, "Sec-WebSocket-Key");
  char accept[HUB_WS__ACCEPT_LEN + 1];
  int n;

  if (key == NULL)
    return 0;
  hub_ws__accept_key(key, strlen(key), accept);
  n = snprintf(out, cap,
               "HTTP/1.1 101 Switching Protocols\r\n"
               "Upgrade: websocket\r\n"
               "Connection: Upgrade\r\n"
               "Sec-WebSocket-Accept: %s\r\n"
               "%s%s%s"
               "%s%s%s"
               "\r\n",
               accept, protocol != NULL ? "Sec-WebSocket-Protocol: " : "",
               protocol != NULL ? protocol : "",
               protocol != NULL ? "\r\n" : "",
               extensions != NULL ? "Sec-WebSocket-Extensions: " : "",
               extensions != NULL ? extensions : "",
               extensions != NULL ? "\r\n" : "");
  return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

const char *hub_ws__http_reason(int status) {
  switch (status) {
  case 101: return "Switching Protocols";
  case 200: return "OK";
  case 400: return "Bad Request";
  case 401: return "Unauthorized";
  case 403: return "Forbidden";
  case 404: return "Not Found";
  case 405: return "Method Not Allowed";
  case 408: return "Request Timeout";
  case 421: return "Misdirected Request";
  case 426: return "Upgrade Required";
  case 429: return "Too Many Requests";
  case 431: return "Request Header Fields Too Large";
  case 500: return "Internal Server Error";
  case 503: return "Service Unavailable";
  case 505: return "HTTP Version Not Supported";
  default: return "Error";
  }
}

size_t hub_ws__http_response_head(char *out, size_t cap, int status,
                                  const char *content_type, const char *extra,
                                  size_t body_len) {
  const char *required = "";
  int n;

  if (status == 405)
    required = "Allow: GET\r\n";
  else if (status == 426)
    required = "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n";
  n = snprintf(out, cap,
               "HTTP/1.1 %d %s\r\n"
               "Content-Type: %s\r\n"
               "Content-Length: %zu\r\n"
               "Connection: close\r\n"
               "%s%s\r\n",
               status, hub_ws__http_reason(status),
               content_type != NULL ? content_type
                                    : "text/plain; charset=utf-8",
               body_len, required, extra != NULL ? extra : "");
  return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}
