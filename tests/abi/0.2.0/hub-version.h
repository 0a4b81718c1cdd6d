/* libhub 0.2.0's version header, frozen with its hub.h. */
#ifndef HUB_VERSION_H
#define HUB_VERSION_H

#define HUB_VERSION_MAJOR 0
#define HUB_VERSION_MINOR 2
#define HUB_VERSION_PATCH 0
#define HUB_VERSION_STRING "0.2.0"

#define HUB_VERSION_HEX                                                      \
  ((HUB_VERSION_MAJOR << 16) | (HUB_VERSION_MINOR << 8) | HUB_VERSION_PATCH)

#endif /* HUB_VERSION_H */
