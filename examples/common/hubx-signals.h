/* The signals the example programs catch on their loop: SIGINT and
 * SIGTERM stop them, SIGUSR1 logs their statistics. Not part of libhub's
 * API. */
#ifndef HUBX_SIGNALS_H
#define HUBX_SIGNALS_H

#include <uv.h>

/* SIGINT and SIGTERM, caught on a loop for a clean shutdown: `cb` runs on
 * the loop thread with the signal's number, once per signal received.
 * hubx_signals_close() closes both handles (idempotent; call it when
 * shutting down so that the loop can end). */
typedef void (*hubx_signal_cb)(void *data, int signum);

typedef struct {
  uv_signal_t sigint, sigterm;
  hubx_signal_cb cb;
  void *data;
  int open;
  uv_signal_t sigusr1; /* see hubx_signals_on_usr1() */
  hubx_signal_cb usr1_cb;
  void *usr1_data;
} hubx_signals_t;

/* Returns 0, or a libuv error after which hubx_signals_close() is still
 * needed. */
int hubx_signals_start(hubx_signals_t *sigs, uv_loop_t *loop,
                       hubx_signal_cb cb, void *data);
void hubx_signals_close(hubx_signals_t *sigs);
/* Also catch SIGUSR1, which does not stop anything: `cb` runs on the loop
 * thread with `data` once per SIGUSR1 received, until
 * hubx_signals_close(). After hubx_signals_start(). Returns 0 or a libuv
 * error. */
int hubx_signals_on_usr1(hubx_signals_t *sigs, hubx_signal_cb cb,
                         void *data);

#endif /* HUBX_SIGNALS_H */
