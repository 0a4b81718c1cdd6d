#!/usr/bin/env bash
# Build a parent project that vendors libhub and links hub::tcp, then run
# its program.   run.sh SRC WORK
set -euo pipefail
src=$1 work=$2
here=$(cd "$(dirname "$0")" && pwd)
rm -rf "$work" && mkdir -p "$work"
quiet() { "$@" >"$work/last.log" 2>&1 || { cat "$work/last.log"; exit 1; }; }
quiet cmake -S "$here" -B "$work" -DLIBHUB_SOURCE_DIR="$src"
quiet cmake --build "$work" -j2
"$work/app"
