/* hiredis's own libuv adapter, in a file of its own: its header defines
 * static functions with common names (on_close, ...).
 *
 * The adapter of hiredis 0.14 ignores the status of its poll callback.
 * libuv reports a socket error (a refused connection, say) with a
 * negative status and stops watching the socket, so hiredis would never
 * hear of it and the attempt would hang until the connect timeout. The
 * adapter's attach, state and cleanup are kept; its four event hooks are
 * replaced by ones that start the same poll handle with a callback that
 * hands an error to hiredis as readiness: hiredis then reads or writes,
 * meets the error and fails the connection at once, as it does with the
 * other event libraries. */
#include <hiredis/adapters/libuv.h>

#include "hub-redis-int.h"

static void hub_redis__poll(uv_poll_t *handle, int status, int events) {
  redisLibuvEvents *p = handle->data;

  if (status != 0)
    events = p->events;
  if (p->context != NULL && (events & UV_READABLE))
    redisAsyncHandleRead(p->context);
  /* Reading may have ended the context (p->context is then NULL). */
  if (p->context != NULL && (events & UV_WRITABLE))
    redisAsyncHandleWrite(p->context);
}

/* The adapter's four hooks: watch (`on`) or stop watching `events`. */
static void hub_redis__watch(void *privdata, int events, int on) {
  redisLibuvEvents *p = privdata;

  if (on)
    p->events |= events;
  else
    p->events &= ~events;
  if (p->events != 0)
    uv_poll_start(&p->handle, p->events, hub_redis__poll);
  else
    uv_poll_stop(&p->handle);
}

static void hub_redis__add_read(void *p) {
  hub_redis__watch(p, UV_READABLE, 1);
}

static void hub_redis__del_read(void *p) {
  hub_redis__watch(p, UV_READABLE, 0);
}

static void hub_redis__add_write(void *p) {
  hub_redis__watch(p, UV_WRITABLE, 1);
}

static void hub_redis__del_write(void *p) {
  hub_redis__watch(p, UV_WRITABLE, 0);
}

int hub_redis__attach(redisAsyncContext *ac, uv_loop_t *loop) {
  if (redisLibuvAttach(ac, loop) != REDIS_OK)
    return UV_ENOMEM;
  ac->ev.addRead = hub_redis__add_read;
  ac->ev.delRead = hub_redis__del_read;
  ac->ev.addWrite = hub_redis__add_write;
  ac->ev.delWrite = hub_redis__del_write;
  return 0;
}
