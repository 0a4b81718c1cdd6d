/* hiredis's own libuv adapter, in a file of its own: its header defines
 * static functions with common names (on_close, ...). */
#include <hiredis/adapters/libuv.h>

#include "hub-redis-int.h"

int hub_redis__attach(redisAsyncContext *ac, uv_loop_t *loop) {
  return redisLibuvAttach(ac, loop) == REDIS_OK ? 0 : UV_ENOMEM;
}
