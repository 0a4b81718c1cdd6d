#!/usr/bin/env bash
# Set up and run every libhub test on a Debian machine:
#   bash tests/run.sh
# As root it installs what is missing with apt-get. It then builds with
# -Wall -Wextra -Werror and runs the whole suite with ctest, builds again
# with AddressSanitizer + UndefinedBehaviorSanitizer and runs the suite
# again. The first pass includes the unit tests under valgrind memcheck
# (ctest label "memcheck"); a last pass builds with clang's
# ThreadSanitizer and runs the threaded tests (label "threads"), and a last
# one builds the libFuzzer targets and runs each for HUB_FUZZ_SECONDS
# (default 60; label "fuzz"). Every build also replays the fuzz corpora.
#
# Environment: HUB_BUILD_ROOT (default: build/ in the source tree),
# HUB_SKIP_ASAN=1 / HUB_SKIP_TSAN=1 / HUB_SKIP_FUZZ=1 to skip those passes.
set -euo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
root=${HUB_BUILD_ROOT:-$src/build}
jobs=$(nproc 2>/dev/null || echo 2)

bash "$src/tests/deps.sh"

strict="-Wall -Wextra -Werror"

build() { # build DIR VALGRIND(ON|OFF) EXTRA_C_FLAGS...
  local dir=$1 vg=$2
  shift 2
  cmake -S "$src" -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DHUB_TEST_VALGRIND="$vg" -DCMAKE_C_FLAGS="$strict $*" >/dev/null
  cmake --build "$dir" -j "$jobs"
}

echo "== build (-Wall -Wextra -Werror)"
build "$root/release" ON
echo "== tests (and unit tests under valgrind)"
(cd "$root/release" && ctest --output-on-failure -j "$jobs")

if [ "${HUB_SKIP_ASAN:-0}" != 1 ]; then
  echo "== build (AddressSanitizer + UndefinedBehaviorSanitizer)"
  build "$root/asan" OFF -fsanitize=address,undefined -fno-sanitize-recover=all \
    -fno-omit-frame-pointer
  echo "== tests under ASan+UBSan"
  (cd "$root/asan" &&
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --output-on-failure -j "$jobs" -LE 'memcheck|no-asan')
fi
if [ "${HUB_SKIP_TSAN:-0}" != 1 ]; then
  echo "== build (ThreadSanitizer, clang) and threaded tests"
  CC=clang cmake -S "$src" -B "$root/tsan" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DHUB_BUILD_EXAMPLES=OFF -DHUB_TCP=OFF -DHUB_WS=OFF -DHUB_REDIS=OFF \
    -DCMAKE_C_FLAGS="$strict -fsanitize=thread" >/dev/null
  cmake --build "$root/tsan" -j "$jobs"
  (cd "$root/tsan" && TSAN_OPTIONS=halt_on_error=1 \
    ctest --output-on-failure -j "$jobs" -L threads)
fi
if [ "${HUB_SKIP_FUZZ:-0}" != 1 ]; then
  echo "== build (libFuzzer, clang, ASan+UBSan) and fuzz each target for ${HUB_FUZZ_SECONDS:-60} s"
  CC=clang cmake -S "$src" -B "$root/fuzz" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DHUB_FUZZ=ON -DHUB_FUZZ_SECONDS="${HUB_FUZZ_SECONDS:-60}" \
    -DCMAKE_C_FLAGS="$strict -fsanitize=address,undefined -fno-sanitize-recover=all -fsanitize=fuzzer-no-link" >/dev/null
  cmake --build "$root/fuzz" -j "$jobs"
  (cd "$root/fuzz" && ctest --output-on-failure -j "$jobs" -L '^fuzz$')
fi
echo "== all tests passed"
