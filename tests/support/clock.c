/* The monotonic clock, sleeping, and the wait of a fixture's step. */
#include <errno.h>
#include <poll.h>
#include <time.h>

#include "support.h"

uint64_t ts_now_ms(void) {
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void ts_sleep_ms(unsigned ms) {
  struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};

  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

void ts_loop_wait(uv_loop_t *loop, int max_ms) {
  struct pollfd p;
  int timeout = uv_backend_timeout(loop);

  if (timeout < 0 || timeout > max_ms)
    timeout = max_ms;
  p.fd = uv_backend_fd(loop);
  p.events = POLLIN;
  p.revents = 0;
  (void)poll(&p, 1, timeout);
}
