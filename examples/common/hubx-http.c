/* The operations listener's request-head reader: see hubx-http.h. */
#include "hubx-http.h"

#include <string.h>

/* Token characters of a method (upper-case letters, as every method in
 * use) and of a header name (RFC 9110 tchar, roughly: visible ASCII but
 * the separators that matter here). */
static int hubx__method_char(char c) {
  return c >= 'A' && c <= 'Z';
}

static int hubx__name_char(char c) {
  return c > ' ' && c < 0x7f && c != ':' && c != '(' && c != ')' &&
         c != '"' && c != ',' && c != ';' && c != '<' && c != '>' &&
         c != '@' && c != '[' && c != ']' && c != '\\' && c != '/' &&
         c != '=' && c != '?' && c != '{' && c != '}';
}

/* The line starting at buf[i], up to len: its length without its end in
 * *n and the index after its end, or 0 if no LF came yet. */
static size_t hubx__line(const char *buf, size_t len, size_t i, size_t *n) {
  const char *lf = memchr(buf + i, '\n', len - i);

  if (lf == NULL)
    return 0;
  *n = (size_t)(lf - (buf + i));
  if (*n > 0 && buf[i + *n - 1] == '\r')
    (*n)--;
  return (size_t)(lf - buf) + 1;
}

/* "METHOD SP TARGET SP HTTP/1.x": 200, or the status to refuse with. */
static int hubx__request_line(const char *s, size_t n, hubx_http_req_t *req) {
  size_t i = 0, m, t, q;

  while (i < n && hubx__method_char(s[i]))
    i++;
  if (i == 0 || i > HUBX_HTTP_METHOD_MAX || i >= n || s[i] != ' ')
    return 400;
  m = i++;
  t = i;
  while (i < n && s[i] > ' ' && s[i] < 0x7f)
    i++;
  if (i == t || i >= n || s[i] != ' ' || s[t] != '/')
    return 400;
  if (i - t > HUBX_HTTP_TARGET_MAX)
    return 414;
  if (n - (i + 1) != 8 || memcmp(s + i + 1, "HTTP/", 5) != 0 ||
      s[i + 7] != '.' || s[i + 6] < '0' || s[i + 6] > '9' ||
      s[i + 8] < '0' || s[i + 8] > '9')
    return 400;
  if (s[i + 6] != '1')
    return 505;
  memcpy(req->method, s, m);
  req->method[m] = '\0';
  for (q = t; q < i && s[q] != '?' && s[q] != '#'; q++)
    ;
  memcpy(req->path, s + t, q - t);
  req->path[q - t] = '\0';
  return 200;
}

/* "Name: value", without control characters but tabs. */
static int hubx__header_ok(const char *s, size_t n) {
  size_t i = 0;

  while (i < n && hubx__name_char(s[i]))
    i++;
  if (i == 0 || i >= n || s[i] != ':')
    return 0;
  for (; i < n; i++)
    if (((unsigned char)s[i] < ' ' && s[i] != '\t') || s[i] == 0x7f)
      return 0;
  return 1;
}

int hubx_http_parse(const char *buf, size_t len, hubx_http_req_t *req) {
  size_t i, next, n;
  int r;

  memset(req, 0, sizeof(*req));
  if (len > HUBX_HTTP_HEAD_MAX)
    len = HUBX_HTTP_HEAD_MAX;
  next = hubx__line(buf, len, 0, &n);
  if (next == 0) {
    /* Refuse what cannot become a request line as soon as it shows. */
    for (i = 0; i < len && hubx__method_char(buf[i]); i++)
      ;
    if (i < len && (buf[i] != ' ' || i == 0 || i > HUBX_HTTP_METHOD_MAX))
      return 400;
    return len == HUBX_HTTP_HEAD_MAX ? 431 : 0;
  }
  r = hubx__request_line(buf, n, req);
  if (r != 200)
    return r;
  for (i = next;;) {
    next = hubx__line(buf, len, i, &n);
    if (next == 0) {
      /* A partial header line may not hold a control character. */
      size_t k;
      for (k = i; k < len; k++)
        if (((unsigned char)buf[k] < ' ' && buf[k] != '\t' &&
             buf[k] != '\r') ||
            buf[k] == 0x7f)
          return 400;
      return len == HUBX_HTTP_HEAD_MAX ? 431 : 0;
    }
    if (n == 0)
      break;
    if (!hubx__header_ok(buf + i, n))
      return 400;
    i = next;
  }
  req->head_len = next;
  return 200;
}

const char *hubx_http_reason(int status) {
  switch (status) {
  case 200:
    return "OK";
  case 400:
    return "Bad Request";
  case 404:
    return "Not Found";
  case 405:
    return "Method Not Allowed";
  case 408:
    return "Request Timeout";
  case 414:
    return "URI Too Long";
  case 431:
    return "Request Header Fields Too Large";
  case 500:
    return "Internal Server Error";
  case 503:
    return "Service Unavailable";
  case 505:
    return "HTTP Version Not Supported";
  default:
    return "Error";
  }
}
