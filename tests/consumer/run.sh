#!/usr/bin/env bash
# Consumer tests: build libhub's sources the ways users do, build small
# programs against them, and talk to the servers among them with real
# clients (talk.py).
#   run.sh install SRC WORK   install shared libraries and the example
#                             programs into WORK/prefix; check what is
#                             installed, the exported symbols and the
#                             SONAMEs; build app.c, tcp-server.c and
#                             ws-server.c with pkg-config and with
#                             find_package(libhub COMPONENTS tcp ws)
#   run.sh install-static SRC WORK
#                             the same with static libraries (their
#                             dependencies then come from pkg-config's
#                             --static and the CMake package), built
#                             without the Redis backplane, whose
#                             component must then be refused
#   run.sh readme SRC WORK    install (shared), then extract the quick
#                             start's program from README.md, build it
#                             with its own pkg-config command and chat
#                             through it
#   run.sh vendor SRC WORK    a parent project that add_subdirectory()s
#                             libhub and links hub::hub, hub::tcp, hub::ws
set -euo pipefail
mode=$1 src=$2 work=$3
here=$(cd "$(dirname "$0")" && pwd)
python=${HUB_TEST_PYTHON:-/usr/bin/python3}
rm -rf "$work" && mkdir -p "$work"
quiet() { "$@" >"$work/last.log" 2>&1 || { cat "$work/last.log"; exit 1; }; }
fail() { echo "FAIL: $*" >&2; exit 1; }
strict="-Wall -Wextra -Werror"

# install_libhub SHARED(ON|OFF) EXAMPLES(ON|OFF) REDIS(ON|OFF)
install_libhub() {
  prefix=$work/prefix redis=$3
  quiet cmake -S "$src" -B "$work/lib" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DBUILD_SHARED_LIBS="$1" -DHUB_BUILD_TESTS=OFF -DHUB_BUILD_EXAMPLES="$2" \
    -DHUB_REDIS="$redis" \
    -DCMAKE_INSTALL_PREFIX="$prefix" -DCMAKE_INSTALL_LIBDIR=lib
  quiet cmake --build "$work/lib" -j2
  quiet cmake --install "$work/lib"
  for f in include/hub.h include/hub-version.h include/hub-tcp.h \
    include/hub-ws.h include/hub-sse.h \
    lib/pkgconfig/libhub.pc lib/pkgconfig/libhub-tcp.pc \
    lib/pkgconfig/libhub-ws.pc \
    lib/cmake/libhub/libhubConfig.cmake lib/cmake/libhub/libhubTargets.cmake \
    lib/cmake/libhub/libhub-tcpTargets.cmake \
    lib/cmake/libhub/libhub-wsTargets.cmake; do
    test -f "$prefix/$f" || fail "$f is not installed"
  done
  for f in include/hub-redis.h lib/pkgconfig/libhub-redis.pc \
    lib/cmake/libhub/libhub-redisTargets.cmake; do
    if [ "$redis" = ON ]; then
      test -f "$prefix/$f" || fail "$f is not installed"
    else
      test ! -e "$prefix/$f" || fail "$f is installed with HUB_REDIS=OFF"
    fi
  done
  # Nothing internal is installed.
  for f in hubx-sock.h hub-tcp-int.h hub-ws-int.h ws-frame.h hub-redis-int.h; do
    test ! -e "$prefix/include/$f" || fail "internal header $f is installed"
  done
  export PKG_CONFIG_PATH=$prefix/lib/pkgconfig
  export LD_LIBRARY_PATH=$prefix/lib
}

# check_shared: each library is libNAME.so.SOVERSION and exports only its
# public API (hub_*/client_*, nothing internal: hub__*, hubx_*, ws_*).
check_shared() {
  local so lib bad
  so=$(sed -n 's/^set(HUB_SOVERSION \([0-9]*\))/\1/p' "$src/CMakeLists.txt")
  [ -n "$so" ] || fail "no HUB_SOVERSION in CMakeLists.txt"
  for lib in hub hub-tcp hub-ws hub-redis; do
    test -L "$prefix/lib/lib$lib.so.$so" || fail "no lib$lib.so.$so"
    readelf -d "$prefix/lib/lib$lib.so" | grep -q "SONAME.*\[lib$lib.so.$so\]" ||
      fail "lib$lib.so's SONAME is not lib$lib.so.$so"
    bad=$(nm -D --defined-only "$prefix/lib/lib$lib.so" |
      awk '$2 ~ /[TDBR]/ {print $3}' | grep -Ev '^(hub_|client_)' || true)
    [ -z "$bad" ] || fail "lib$lib.so exports $bad"
    if nm -D --defined-only "$prefix/lib/lib$lib.so" | grep -q ' hub__'; then
      fail "lib$lib.so exports internal symbols"
    fi
  done
  nm -D --defined-only "$prefix/lib/libhub.so" | grep -q ' T hub_broadcast$'
  nm -D --defined-only "$prefix/lib/libhub-tcp.so" | grep -q ' T hub_tcp_server_new$'
  nm -D --defined-only "$prefix/lib/libhub-ws.so" | grep -q ' T hub_sse_accept$'
  nm -D --defined-only "$prefix/lib/libhub-redis.so" | grep -q ' T hub_redis_new$'
}

# build_pc STATIC(--static or "") : the programs with pkg-config
build_pc() {
  local st=$1
  # shellcheck disable=SC2046,SC2086
  cc $strict -o "$work/app-pc" "$here/app.c" $(pkg-config $st --cflags --libs libhub)
  "$work/app-pc"
  # Strict C11 works too, given the POSIX level libuv's header needs.
  # shellcheck disable=SC2046,SC2086
  cc -std=c11 -pedantic -D_POSIX_C_SOURCE=200809L $strict -o "$work/app-c11" \
    "$here/app.c" $(pkg-config $st --cflags --libs libhub)
  "$work/app-c11"
  # shellcheck disable=SC2046,SC2086
  cc $strict -o "$work/tcp-server-pc" "$here/tcp-server.c" \
    $(pkg-config $st --cflags --libs libhub-tcp)
  # shellcheck disable=SC2046,SC2086
  cc $strict -o "$work/ws-server-pc" "$here/ws-server.c" \
    $(pkg-config $st --cflags --libs libhub-ws)
  "$python" "$here/talk.py" tcp "$work/tcp-server-pc"
  "$python" "$here/talk.py" ws "$work/ws-server-pc"
}

# build_fp: the programs with find_package(libhub COMPONENTS tcp ws)
build_fp() {
  quiet cmake -S "$here/find_package" -B "$work/fp" \
    -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_C_FLAGS="$strict"
  quiet cmake --build "$work/fp"
  "$work/fp/app"
  "$python" "$here/talk.py" tcp "$work/fp/tcp-server"
  "$python" "$here/talk.py" ws "$work/fp/ws-server"
  # A component libhub does not have fails, and says so.
  refused_component nope "libhub has no component 'nope'" \
    "a missing component"
  # So does a component this libhub was built without.
  if [ "$redis" = OFF ]; then
    refused_component redis "built without its redis component (HUB_REDIS=OFF" \
      "a component not built"
  fi
}

# refused_component NAME MESSAGE WHAT: find_package(libhub COMPONENTS ws
# NAME) must fail, saying MESSAGE (WHAT names the case when it does not).
refused_component() {
  if cmake -S "$here/find_package" -B "$work/fp-bad" \
      -DCMAKE_PREFIX_PATH="$prefix" -DHUB_TEST_COMPONENTS="ws;$1" \
      >"$work/fp-bad.log" 2>&1; then
    fail "find_package(libhub COMPONENTS $1) succeeded ($3)"
  fi
  grep -q "$2" "$work/fp-bad.log" ||
    { cat "$work/fp-bad.log"; fail "no clear message for $3"; }
}

case $mode in
install)
  install_libhub ON ON ON
  check_shared
  for p in hub-tcp-echo hub-ws-chat; do
    "$prefix/bin/$p" --help >/dev/null || fail "$p --help from bin/"
  done
  build_pc ""
  build_fp
  ;;
install-static)
  # Without the Redis backplane: a component not built must be refused.
  install_libhub OFF OFF OFF
  test -f "$prefix/lib/libhub-ws.a" || fail "no libhub-ws.a"
  build_pc --static
  build_fp
  ;;
readme)
  # Shared, so that the README's command works as it is written.
  install_libhub ON OFF ON
  # The first C block after "## Quick start".
  awk '/^## Quick start/ {q=1} q && /^```c$/ {c=1; next} c && /^```$/ {exit}
       c {print}' "$src/README.md" >"$work/chat.c"
  [ -s "$work/chat.c" ] || fail "no C block under README.md's Quick start"
  cmd=$(sed -n 's|^ \* *\(cc chat\.c .*\)$|\1|p' "$work/chat.c")
  [ -n "$cmd" ] || fail "the quick start does not say how to build it"
  echo "README: $cmd"
  (cd "$work" && eval "$cmd" && "$python" "$here/talk.py" chat ./chat 0)
  # And as the README says to build it for strict C11.
  # shellcheck disable=SC2046,SC2086
  cc -std=c11 -D_POSIX_C_SOURCE=200809L $strict -o "$work/chat-c11" \
    "$work/chat.c" $(pkg-config --cflags --libs libhub-tcp)
  "$python" "$here/talk.py" chat "$work/chat-c11" 0
  ;;
vendor)
  quiet cmake -S "$here/vendor" -B "$work/parent" -DLIBHUB_SOURCE_DIR="$src"
  quiet cmake --build "$work/parent" -j2
  "$work/parent/app"
  "$python" "$here/talk.py" tcp "$work/parent/tcp-server"
  "$python" "$here/talk.py" ws "$work/parent/ws-server"
  ;;
*)
  echo "usage: run.sh install|install-static|readme|vendor SRC WORK" >&2
  exit 2
  ;;
esac
