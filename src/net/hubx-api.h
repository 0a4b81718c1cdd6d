/* The shapes the adapters' public functions share, written once: the
 * NULL-safe getters and setters every public object has (the core's,
 * HUB__GETTER() and HUB__SETTER()), and the checks that open every
 * close(). Header only (macros). */
#ifndef HUBX_API_H
#define HUBX_API_H

#include <hub.h>

#include "hub-accessors.h"

/* The start of an adapter's close(o, cb), an int: UV_EINVAL when o is
 * NULL, HUB_ECLOSING when o is closing already, else 0 with o marked
 * closing and cb kept (o->closing, o->close_cb). */
#define HUBX_CLOSE_BEGIN(o, cb)                                              \
  ((o) == NULL      ? UV_EINVAL                                              \
   : (o)->closing   ? HUB_ECLOSING                                           \
                    : ((o)->closing = 1, (o)->close_cb = (cb), 0))

#endif /* HUBX_API_H */
