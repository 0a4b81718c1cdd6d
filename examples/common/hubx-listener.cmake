# What both example adapters share: the pausing listener they accept with
# (hubx-listener.h), the connected socket they read and write through
# (hubx-sock.h) and the abuse limits they enforce (hubx-limits.h), in a
# small static library, hub_listener. Included by examples/tcp and
# examples/ws, so that either can be vendored on its own.
if(NOT TARGET hub_listener)
  add_library(hub_listener STATIC ${CMAKE_CURRENT_LIST_DIR}/hubx-listener.c
                            ${CMAKE_CURRENT_LIST_DIR}/hubx-sock.c
                            ${CMAKE_CURRENT_LIST_DIR}/hubx-limits.c
                            ${CMAKE_CURRENT_LIST_DIR}/hubx-id.c)
  target_include_directories(hub_listener PUBLIC ${CMAKE_CURRENT_LIST_DIR})
  target_link_libraries(hub_listener PUBLIC hub::hub)
  # accept4() and SOCK_NONBLOCK/SOCK_CLOEXEC are GNU/BSD extensions.
  target_compile_definitions(hub_listener PRIVATE _GNU_SOURCE)
  set_target_properties(hub_listener PROPERTIES
    C_EXTENSIONS OFF
    POSITION_INDEPENDENT_CODE ON)
  if(COMMAND hub_target_warnings)
    hub_target_warnings(hub_listener)
  endif()
endif()
