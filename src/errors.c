/* Error strings for libhub's codes, falling back to libuv's for the rest.
 * Codes that neither knows get a static string: libuv's own fallback for
 * unknown codes allocates a string that is never freed. */
#include "hub-int.h"

static int hub__uv_knows(int err) {
  switch (err) {
#define HUB__UV_CASE(code, _) case UV_##code:
    UV_ERRNO_MAP(HUB__UV_CASE)
#undef HUB__UV_CASE
    return 1;
  default:
    return 0;
  }
}

const char *hub_strerror(int err) {
  switch (err) {
#define HUB__ERR_MSG(name, value, msg)                                       \
  case HUB_##name:                                                           \
    return msg;
    HUB_ERRNO_MAP(HUB__ERR_MSG)
#undef HUB__ERR_MSG
  case 0:
    return "success";
  default:
    return hub__uv_knows(err) ? uv_strerror(err) : "unknown error";
  }
}

const char *hub_err_name(int err) {
  switch (err) {
#define HUB__ERR_NAME(name, value, msg)                                      \
  case HUB_##name:                                                           \
    return "HUB_" #name;
    HUB_ERRNO_MAP(HUB__ERR_NAME)
#undef HUB__ERR_NAME
  case 0:
    return "OK";
  default:
    return hub__uv_knows(err) ? uv_err_name(err) : "UNKNOWN";
  }
}
