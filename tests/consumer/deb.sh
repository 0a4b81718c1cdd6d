#!/usr/bin/env bash
# The Debian packages, as a user of Debian gets them:
#   deb.sh SRC WORK
# builds libhub shared for /usr with its programs, makes the packages with
# `cpack -G DEB` (libhubN, libhub-dev, libhub-tools), checks their
# dependencies, installs them with `apt-get install ./*.deb`, builds the
# TCP server against them with pkg-config and talks to it (talk.py), runs
# the installed programs, then purges the packages and whatever their
# installation brought in, leaving the machine as it was.
# Installing needs root: without it the test is skipped (77). It is also
# skipped when a libhub package is installed already (it is not ours to
# remove).
set -euo pipefail
src=$1 work=$2
here=$(cd "$(dirname "$0")" && pwd)
python=${HUB_TEST_PYTHON:-/usr/bin/python3}
fail() { echo "FAIL: $*" >&2; exit 1; }
quiet() { "$@" >"$work/last.log" 2>&1 || { cat "$work/last.log"; exit 1; }; }

if [ "$(id -u)" -ne 0 ]; then
  echo "skipped: installing the packages needs root"
  exit 77
fi
for tool in cpack dpkg-shlibdeps apt-get pkg-config; do
  command -v "$tool" >/dev/null || fail "$tool is missing (bash tests/deps.sh)"
done
rm -rf "$work" && mkdir -p "$work"

# One package installation at a time on this machine, whoever runs it.
exec 9>/tmp/libhub-deb-test.lock
flock -w 600 9 || fail "another libhub package test holds the lock"
if dpkg-query -W -f '${Package} ${Status}\n' 'libhub*' 2>/dev/null |
    grep -q 'install ok installed'; then
  echo "skipped: a libhub package is installed already:"
  dpkg-query -W 'libhub*'
  exit 77
fi

quiet cmake -S "$src" -B "$work/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DBUILD_SHARED_LIBS=ON -DHUB_BUILD_TESTS=OFF -DHUB_BUILD_EXAMPLES=ON \
  -DCMAKE_INSTALL_PREFIX=/usr
quiet cmake --build "$work/build" -j2
(cd "$work/build" && quiet cpack -G DEB -B "$work/pkg")
so=$(sed -n 's/^set(HUB_SOVERSION \([0-9]*\))/\1/p' "$src/CMakeLists.txt")
ver=$(sed -n 's/^project(libhub VERSION \([0-9.]*\).*/\1/p' "$src/CMakeLists.txt")
runtime=$work/pkg/libhub${so}_${ver}_$(dpkg --print-architecture).deb
dev=$work/pkg/libhub-dev_${ver}_$(dpkg --print-architecture).deb
tools=$work/pkg/libhub-tools_${ver}_$(dpkg --print-architecture).deb
for d in "$runtime" "$dev" "$tools"; do
  test -f "$d" || { ls "$work/pkg"; fail "no $(basename "$d")"; }
  echo "$(basename "$d"): $(dpkg-deb -f "$d" Depends)"
done
# The runtime package holds the shared libraries and depends on what they
# link; -dev and the programs depend on this very runtime package.
runtime_files=$(dpkg-deb -c "$runtime")
dev_files=$(dpkg-deb -c "$dev")
tools_files=$(dpkg-deb -c "$tools")
grep -q "libhub-tcp\.so\.$so\( \|$\)" <<<"$runtime_files" || fail "no libhub-tcp.so.$so"
if grep -q '\.h$\|\.pc$\|libhub\.so$' <<<"$runtime_files"; then
  fail "development files in the runtime package"
fi
dpkg-deb -f "$runtime" Depends | grep -q 'libuv1' || fail "libhub$so does not depend on libuv1"
grep -q 'include/hub-tcp\.h$' <<<"$dev_files" || fail "no hub-tcp.h in -dev"
grep -q 'pkgconfig/libhub-ws\.pc$' <<<"$dev_files" || fail "no libhub-ws.pc in -dev"
for d in "$dev" "$tools"; do
  dpkg-deb -f "$d" Depends | grep -q "libhub$so (= $ver)" ||
    fail "$(basename "$d") does not depend on libhub$so (= $ver)"
done
grep -q 'usr/bin/hub-ws-chat$' <<<"$tools_files" || fail "no hub-ws-chat"

before=$work/packages-before
dpkg-query -W -f '${Package}\n' | sort >"$before"
cleanup() {
  local added
  added=$(dpkg-query -W -f '${Package}\n' | sort | comm -13 "$before" - | tr '\n' ' ')
  if [ -n "$added" ]; then
    echo "purging: $added"
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive apt-get purge -y -q $added >"$work/purge.log" 2>&1 ||
      { cat "$work/purge.log"; echo "FAIL: could not purge $added" >&2; }
  fi
}
trap cleanup EXIT
DEBIAN_FRONTEND=noninteractive quiet apt-get install -y -q \
  --no-install-recommends "$runtime" "$dev" "$tools"

# Built against the system's libhub as a Debian user builds.
# shellcheck disable=SC2046
cc -Wall -Wextra -Werror -o "$work/tcp-server" "$here/tcp-server.c" \
  $(pkg-config --cflags --libs libhub-tcp)
grep -q "libhub-tcp\.so\.$so => /\(usr/\)\?lib/" <<<"$(ldd "$work/tcp-server")" ||
  fail "tcp-server does not use the installed libhub-tcp.so.$so"
"$python" "$here/talk.py" tcp "$work/tcp-server"
hub-tcp-echo --help >/dev/null || fail "hub-tcp-echo --help"
hub-ws-chat --help >/dev/null || fail "hub-ws-chat --help"

cleanup
trap - EXIT
if dpkg-query -W -f '${Package} ${Status}\n' 'libhub*' 2>/dev/null |
    grep -q 'install ok installed'; then
  fail "the packages are still installed"
fi
test ! -e /usr/include/hub.h || fail "/usr/include/hub.h is left behind"
echo "deb: ok"
