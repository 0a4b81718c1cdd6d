/* The version of the library the program runs with. */
#include "hub-int.h"

unsigned int hub_version(void) {
  return HUB_VERSION_HEX;
}

const char *hub_version_string(void) {
  return HUB_VERSION_STRING;
}
