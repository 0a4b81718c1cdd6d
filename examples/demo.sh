#!/usr/bin/env bash
# Set up and run libhub's main example on a Debian machine:
#   bash examples/demo.sh [ARGS...]
# As root it installs what is missing with apt-get, then builds libhub and
# its examples (in build/demo) and runs the WebSocket chat server
# hub-ws-chat (or, if it is not built, hub-tcp-echo) on 127.0.0.1 with
# ARGS. Ctrl-C stops it.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
build=${HUB_BUILD_ROOT:-$src/build}/demo

bash "$src/tests/deps.sh" build-essential cmake pkg-config libuv1-dev \
  libwslay-dev libhttp-parser-dev zlib1g-dev
cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Release \
  -DHUB_BUILD_TESTS=OFF >/dev/null
cmake --build "$build" -j "$(nproc 2>/dev/null || echo 2)" >/dev/null

for prog in ws/hub-ws-chat tcp/hub-tcp-echo; do
  if [ -x "$build/examples/$prog" ]; then
    name=$(basename "$prog")
    case $name in
    hub-ws-chat) echo "== open http://127.0.0.1:8080/ in a browser (Ctrl-C stops)" ;;
    hub-tcp-echo) echo "== connect with: nc 127.0.0.1 9000 (Ctrl-C stops)" ;;
    esac
    exec "$build/examples/$prog" "$@"
  fi
done
echo "no example program was built" >&2
exit 1
