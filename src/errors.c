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

/* libhub's own codes, a row each from HUB_ERRNO_MAP: the code, its name
 * and its message. */
static const struct {
  int err;
  const char *name, *msg;
} hub__errs[] = {
#define HUB__ERR_ROW(name, value, msg) {HUB_##name, "HUB_" #name, msg},
    HUB_ERRNO_MAP(HUB__ERR_ROW)
#undef HUB__ERR_ROW
};

/* The name (`name` nonzero) or the message of `err`: libhub's, 0's,
 * libuv's, or a static fallback. */
static const char *hub__err_text(int err, int name) {
  size_t i;

  for (i = 0; i < sizeof(hub__errs) / sizeof(hub__errs[0]); i++)
    if (hub__errs[i].err == err)
      return name ? hub__errs[i].name : hub__errs[i].msg;
  if (err == 0)
    return name ? "OK" : "success";
  if (!hub__uv_knows(err))
    return name ? "UNKNOWN" : "unknown error";
  return name ? uv_err_name(err) : uv_strerror(err);
}

const char *hub_strerror(int err) {
  return hub__err_text(err, 0);
}

const char *hub_err_name(int err) {
  return hub__err_text(err, 1);
}
