#!/usr/bin/env bash
# Install the Debian packages libhub's build, examples and tests need,
# if any is missing:  bash tests/deps.sh [PACKAGE...]
# With no arguments, everything the whole test suite uses. Needs root to
# install; without root it only reports what is missing.
set -euo pipefail

if [ $# -gt 0 ]; then
  packages=("$@")
else
  packages=(build-essential cmake pkg-config clang libclang-rt-14-dev valgrind
    libuv1-dev libwslay-dev libhttp-parser-dev libhiredis-dev zlib1g-dev
    python3 python3-websockets python3-prometheus-client nodejs node-ws
    chromium redis-server netcat-openbsd procps iproute2 nginx openssl
    systemd)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "missing Debian packages: ${missing[*]} (run as root to install them)" >&2
  exit 1
fi
echo "== installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
