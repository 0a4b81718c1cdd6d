# Checking and escaping text from peers (hubx-text.h): UTF-8, room names,
# log lines. A small static library, hub_text, without dependencies.
# Included by examples/common, examples/ws and examples/redis, so that
# each can be vendored on its own.
if(NOT TARGET hub_text)
  add_library(hub_text STATIC ${CMAKE_CURRENT_LIST_DIR}/hubx-text.c)
  target_include_directories(hub_text PUBLIC ${CMAKE_CURRENT_LIST_DIR})
  set_target_properties(hub_text PROPERTIES
    C_STANDARD 11
    C_STANDARD_REQUIRED ON
    C_EXTENSIONS OFF
    POSITION_INDEPENDENT_CODE ON)
  if(COMMAND hub_target_warnings)
    hub_target_warnings(hub_text)
  endif()
endif()
