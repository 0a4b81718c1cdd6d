/* The example programs' log lines, as text or as JSON (see
 * hubx-log.h). */
#include "hubx-log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "hubx-text.h"

int hubx_quiet;

/* The longest message logged; a longer one is cut (and says so). */
#define HUBX_LOG_LINE_MAX 4096

static hubx_log_format_t hubx__format = HUBX_LOG_TEXT;
static const char *hubx__prog = "";
/* In JSON, where the objects go: the process's stderr as it was before
 * hubx_log_start() replaced it. */
static FILE *hubx__out;
/* A line written to the replacement stderr, until its newline. */
static char hubx__pending[HUBX_LOG_LINE_MAX];
static size_t hubx__npending;

int hubx_log_parse_format(const char *s, hubx_log_format_t *out) {
  if (strcmp(s, "text") == 0)
    *out = HUBX_LOG_TEXT;
  else if (strcmp(s, "json") == 0)
    *out = HUBX_LOG_JSON;
  else
    return -1;
  return 0;
}

static void hubx__stamp(char *buf, size_t len) {
  char day[32];
  struct timespec ts;
  struct tm tm;

  clock_gettime(CLOCK_REALTIME, &ts);
  gmtime_r(&ts.tv_sec, &tm);
  strftime(day, sizeof(day), "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(buf, len, "%s.%03dZ", day, (int)(ts.tv_nsec / 1000000) % 1000);
}

/* One JSON object for the message msg[0..len): its time, level, the
 * program, the message, and the client's number when the message is
 * about one ("#N: ..."). */
static void hubx__json_line(const char *level, const char *msg, size_t len) {
  /* Every byte of the message takes at most 6 bytes escaped. */
  static char shown[HUBX_LOG_LINE_MAX * 6 + 4];
  char stamp[64], client[32] = "";
  size_t digits = 0;

  hubx__stamp(stamp, sizeof(stamp));
  if (len > 1 && msg[0] == '#') {
    while (digits < 19 && 1 + digits < len && msg[1 + digits] >= '0' &&
           msg[1 + digits] <= '9')
      digits++;
    if (digits > 0 && 1 + digits < len && msg[1 + digits] == ':')
      snprintf(client, sizeof(client), ",\"client\":%.*s", (int)digits,
               msg + 1);
  }
  hubx_json_escape(msg, len, shown, sizeof(shown));
  fprintf(hubx__out,
          "{\"ts\":\"%s\",\"level\":\"%s\",\"prog\":\"%s\"%s,\"msg\":\"%s\"}\n",
          stamp, level, hubx__prog, client, shown);
  fflush(hubx__out);
}

/* A line the program wrote to stderr itself ("PROG: listening on ...",
 * the statistics): without its "PROG: ", at the level it reads as. */
static void hubx__stderr_line(const char *line, size_t len) {
  size_t n = strlen(hubx__prog);
  const char *level = "info";

  if (len > n + 2 && memcmp(line, hubx__prog, n) == 0 && line[n] == ':' &&
      line[n + 1] == ' ') {
    line += n + 2;
    len -= n + 2;
  }
  if ((len >= 7 && memcmp(line, "cannot ", 7) == 0) ||
      (len >= 10 && memcmp(line, "event loop", 10) == 0))
    level = "error";
  hubx__json_line(level, line, len);
}

/* The replacement stderr's write: whole lines become objects; a line
 * longer than HUBX_LOG_LINE_MAX is logged in pieces. */
static ssize_t hubx__stderr_write(void *cookie, const char *buf,
                                  size_t size) {
  size_t i;

  (void)cookie;
  for (i = 0; i < size; i++) {
    if (buf[i] == '\n' || hubx__npending == sizeof(hubx__pending)) {
      hubx__stderr_line(hubx__pending, hubx__npending);
      hubx__npending = 0;
      if (buf[i] == '\n')
        continue;
    }
    hubx__pending[hubx__npending++] = buf[i];
  }
  return (ssize_t)size;
}

int hubx_log_start(const char *prog, hubx_log_format_t format) {
  static const cookie_io_functions_t io = {NULL, hubx__stderr_write, NULL,
                                           NULL};
  FILE *f;

  hubx__prog = prog;
  hubx__format = format;
  if (format != HUBX_LOG_JSON || hubx__out != NULL)
    return 0;
  f = fopencookie(NULL, "w", io);
  if (f == NULL)
    return -1;
  setvbuf(f, NULL, _IOLBF, BUFSIZ);
  hubx__out = stderr;
  stderr = f;
  return 0;
}

static void hubx__logv(const char *level, const char *fmt, va_list ap) {
  char msg[HUBX_LOG_LINE_MAX], stamp[64];
  int n;

  if (hubx__format != HUBX_LOG_JSON) {
    hubx__stamp(stamp, sizeof(stamp));
    fprintf(stderr, "%s ", stamp);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    return;
  }
  n = vsnprintf(msg, sizeof(msg), fmt, ap);
  if (n < 0)
    n = 0;
  if ((size_t)n >= sizeof(msg)) {
    memcpy(msg + sizeof(msg) - 4, "...", 4);
    n = (int)sizeof(msg) - 1;
  }
  hubx__json_line(level, msg, (size_t)n);
}

void hubx_log(const char *fmt, ...) {
  va_list ap;

  if (hubx_quiet)
    return;
  va_start(ap, fmt);
  hubx__logv("info", fmt, ap);
  va_end(ap);
}

void hubx_log_always(const char *fmt, ...) {
  va_list ap;

  va_start(ap, fmt);
  hubx__logv("notice", fmt, ap);
  va_end(ap);
}

void hubx_log_warn(const char *fmt, ...) {
  va_list ap;

  va_start(ap, fmt);
  hubx__logv("warn", fmt, ap);
  va_end(ap);
}
