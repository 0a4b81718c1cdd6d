#!/usr/bin/env bash
# Consumer tests: build libhub's sources the ways users do and link a tiny
# program against them.
#   run.sh install SRC WORK   install a shared libhub into WORK/prefix, then
#                             build with pkg-config and with find_package;
#                             check the exported symbols and SOVERSION
#   run.sh vendor SRC WORK    build a parent project that add_subdirectory()s
#                             libhub
set -euo pipefail
mode=$1 src=$2 work=$3
here=$(cd "$(dirname "$0")" && pwd)
rm -rf "$work" && mkdir -p "$work"
quiet() { "$@" >"$work/last.log" 2>&1 || { cat "$work/last.log"; exit 1; }; }

case $mode in
install)
  prefix=$work/prefix
  quiet cmake -S "$src" -B "$work/lib" -DBUILD_SHARED_LIBS=ON \
    -DHUB_BUILD_TESTS=OFF -DHUB_BUILD_EXAMPLES=OFF \
    -DCMAKE_INSTALL_PREFIX="$prefix" -DCMAKE_INSTALL_LIBDIR=lib
  quiet cmake --build "$work/lib" -j2
  quiet cmake --install "$work/lib"
  test -f "$prefix/include/hub.h" && test -f "$prefix/include/hub-version.h"
  test -f "$prefix/lib/pkgconfig/libhub.pc"
  test -f "$prefix/lib/cmake/libhub/libhubConfig.cmake"
  # SOVERSION is the major version.
  major=$(sed -n 's/#define HUB_VERSION_MAJOR \([0-9]*\)/\1/p' "$prefix/include/hub-version.h")
  test -L "$prefix/lib/libhub.so.$major" || { echo "no libhub.so.$major"; exit 1; }
  # Only the public API is exported.
  bad=$(nm -D --defined-only "$prefix/lib/libhub.so" | awk '$2 ~ /[TDBR]/ {print $3}' |
    grep -Ev '^(hub_|client_)' || true)
  if [ -n "$bad" ]; then echo "unexpected exported symbols: $bad"; exit 1; fi
  nm -D --defined-only "$prefix/lib/libhub.so" | grep -q ' T hub_broadcast$'
  if nm -D --defined-only "$prefix/lib/libhub.so" | grep -q 'hub__'; then
    echo "internal symbols are exported"; exit 1
  fi

  # pkg-config, as a user would type it.
  export PKG_CONFIG_PATH=$prefix/lib/pkgconfig
  pkg-config --exists libhub
  flags=$(pkg-config --cflags --libs libhub)
  # shellcheck disable=SC2086
  cc -Wall -Wextra -Werror -o "$work/app-pc" "$here/app.c" $flags
  LD_LIBRARY_PATH=$prefix/lib "$work/app-pc"
  # Strict C11 works too, given the POSIX level libuv's header needs.
  # shellcheck disable=SC2086
  cc -std=c11 -pedantic -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Werror \
    -o "$work/app-c11" "$here/app.c" $flags
  LD_LIBRARY_PATH=$prefix/lib "$work/app-c11"

  # find_package(libhub)
  quiet cmake -S "$here/find_package" -B "$work/fp" \
    -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_C_FLAGS="-Wall -Wextra -Werror"
  quiet cmake --build "$work/fp"
  "$work/fp/app"
  ;;
vendor)
  quiet cmake -S "$here/vendor" -B "$work/parent" -DLIBHUB_SOURCE_DIR="$src"
  quiet cmake --build "$work/parent" -j2
  "$work/parent/app"
  ;;
*)
  echo "usage: run.sh install|vendor SRC WORK" >&2
  exit 2
  ;;
esac
