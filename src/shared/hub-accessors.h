/* The NULL-safe getters and setters of the public objects, written once
 * for the core (hub-int.h) and the adapters (hubx-api.h, src/net). Header
 * only (macros). Never installed. */
#ifndef HUB_ACCESSORS_H
#define HUB_ACCESSORS_H

#include <stddef.h>

/* Defines `type name(const otype *o)`: o->member, or `none` when o is
 * NULL, as the public headers promise of every getter. */
#define HUB__GETTER(type, name, otype, member, none)                         \
  type name(const otype *o) { return o != NULL ? o->member : none; }

/* Defines `void name(otype *o, type v)`: sets o->member to v; nothing
 * when o is NULL. */
#define HUB__SETTER(type, name, otype, member)                               \
  void name(otype *o, type v) {                                              \
    if (o != NULL)                                                           \
      o->member = v;                                                         \
  }

#endif /* HUB_ACCESSORS_H */
