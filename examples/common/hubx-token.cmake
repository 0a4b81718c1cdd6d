# Signed tokens (hubx-token.h) and the SHA-256/HMAC under them
# (hubx-sha256.h): a small static library, hub_token, that needs only
# hub_text. Included by examples/common and examples/ws, so that each can
# be vendored on its own.
include(${CMAKE_CURRENT_LIST_DIR}/hubx-text.cmake)
if(NOT TARGET hub_token)
  add_library(hub_token STATIC ${CMAKE_CURRENT_LIST_DIR}/hubx-sha256.c
    ${CMAKE_CURRENT_LIST_DIR}/hubx-token.c)
  target_include_directories(hub_token PUBLIC ${CMAKE_CURRENT_LIST_DIR})
  target_link_libraries(hub_token PUBLIC hub_text)
  set_target_properties(hub_token PROPERTIES
    C_STANDARD 11
    C_STANDARD_REQUIRED ON
    C_EXTENSIONS OFF
    POSITION_INDEPENDENT_CODE ON)
  if(COMMAND hub_target_warnings)
    hub_target_warnings(hub_token)
  endif()
endif()
