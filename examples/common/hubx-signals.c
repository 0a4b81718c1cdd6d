/* SIGINT, SIGTERM and SIGUSR1 on the loop. See hubx-signals.h. */
#include "hubx-signals.h"

#include <signal.h>
#include <string.h>

static void hubx_on_signal(uv_signal_t *handle, int signum) {
  hubx_signals_t *sigs = handle->data;

  sigs->cb(sigs->data, signum);
}

int hubx_signals_start(hubx_signals_t *sigs, uv_loop_t *loop,
                       hubx_signal_cb cb, void *data) {
  int r;

  memset(sigs, 0, sizeof(*sigs));
  sigs->cb = cb;
  sigs->data = data;
  /* Initialising a signal handle only links it into the loop. */
  (void)uv_signal_init(loop, &sigs->sigint);
  (void)uv_signal_init(loop, &sigs->sigterm);
  (void)uv_signal_init(loop, &sigs->sigusr1);
  sigs->sigint.data = sigs->sigterm.data = sigs;
  sigs->sigusr1.data = sigs;
  sigs->open = 1;
  r = uv_signal_start(&sigs->sigint, hubx_on_signal, SIGINT);
  if (r == 0)
    r = uv_signal_start(&sigs->sigterm, hubx_on_signal, SIGTERM);
  return r;
}

static void hubx_on_usr1(uv_signal_t *handle, int signum) {
  hubx_signals_t *sigs = handle->data;

  sigs->usr1_cb(sigs->usr1_data, signum);
}

int hubx_signals_on_usr1(hubx_signals_t *sigs, hubx_signal_cb cb,
                         void *data) {
  if (!sigs->open)
    return UV_EINVAL;
  sigs->usr1_cb = cb;
  sigs->usr1_data = data;
  return uv_signal_start(&sigs->sigusr1, hubx_on_usr1, SIGUSR1);
}

void hubx_signals_close(hubx_signals_t *sigs) {
  if (!sigs->open)
    return;
  sigs->open = 0;
  uv_close((uv_handle_t *)&sigs->sigint, NULL);
  uv_close((uv_handle_t *)&sigs->sigterm, NULL);
  uv_close((uv_handle_t *)&sigs->sigusr1, NULL);
}
