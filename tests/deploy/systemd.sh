#!/usr/bin/env bash
# The systemd unit of examples/deploy, checked without running systemd:
#
#   systemd.sh HUB_WS_CHAT UNIT_FILE
#
# 1. systemd-analyze verify must say nothing about the unit: no unknown
#    key, no value it cannot parse, no missing binary. (It exits 0 even
#    when it warns, so its output is what is checked.) verify wants
#    ExecStart's binary to exist and be executable, and /usr/bin/hub-ws-chat
#    exists only once the programs are installed; the unit is therefore
#    checked as a copy, in a temporary directory under the same name, whose
#    ExecStart names the binary just built instead: that path is the only
#    change, and it must be made exactly once.
# 2. The same check catches a broken unit: a copy with a misspelt key and
#    a bad value must make verify complain, or this test proves nothing.
# 3. The sandbox is what docs/deploy.md says: the settings it lists are in
#    the unit with those values, and systemd-analyze security --offline
#    rates the unit's exposure at most 1.5 (of 10).
# 4. ExecStart's command line is one the built program accepts: run with
#    its port replaced by 0, it starts listening and stops cleanly on
#    SIGTERM.
#
# Skipped (77) only where systemd-analyze does not exist: Debian's systemd
# package has it.
set -u

if [ $# -ne 2 ]; then
  echo "usage: systemd.sh HUB_WS_CHAT UNIT_FILE" >&2
  exit 2
fi
bin=$1
unit=$2
name=$(basename "$unit")
if ! command -v systemd-analyze >/dev/null 2>&1; then
  echo "# skipped: systemd-analyze is not installed (Debian package systemd)"
  exit 77
fi

tmp=$(mktemp -d)
chat_pid=
cleanup() {
  [ -n "$chat_pid" ] && kill -KILL "$chat_pid" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
failed=0
fail() {
  echo "not ok - $*"
  failed=1
}

# verify_quiet FILE: 0 when systemd-analyze verify says nothing about FILE
# (lines about other units, such as the system's own, are only shown).
verify_quiet() {
  local out
  out=$(timeout 60 systemd-analyze verify "$1" 2>&1)
  local rc=$?
  if [ -n "$out" ]; then
    printf '%s\n' "$out" | sed 's/^/# /'
  fi
  [ $rc -eq 0 ] || return 1
  ! printf '%s\n' "$out" | grep -q -F "$(basename "$1")"
}

# 1. The unit itself, with the built binary.
n=$(grep -c '^ExecStart=/usr/bin/hub-ws-chat ' "$unit")
if [ "$n" != 1 ]; then
  fail "expected one ExecStart=/usr/bin/hub-ws-chat line in $unit, found $n"
  exit 1
fi
sed "s|^ExecStart=/usr/bin/hub-ws-chat |ExecStart=$bin |" "$unit" \
  > "$tmp/$name"
if verify_quiet "$tmp/$name"; then
  echo "ok - systemd-analyze verify has nothing to say about $name"
else
  fail "systemd-analyze verify complained about $name"
fi

# 2. A broken copy must be caught.
mkdir "$tmp/broken"
sed -e 's/^NoNewPrivileges=yes$/NoNewPrivilege=yes/' \
    -e 's/^ProtectSystem=strict$/ProtectSystem=strictt/' \
    "$tmp/$name" > "$tmp/broken/$name"
if verify_quiet "$tmp/broken/$name"; then
  fail "a misspelt key and a bad value went unnoticed"
else
  echo "ok - a misspelt key and a bad value are caught"
fi

# 3. The sandbox.
for setting in DynamicUser=yes ProtectSystem=strict NoNewPrivileges=yes \
    PrivateTmp=yes ProtectHome=yes PrivateDevices=yes \
    CapabilityBoundingSet= 'RestrictAddressFamilies=AF_INET AF_INET6' \
    SystemCallFilter=@system-service SystemCallArchitectures=native \
    MemoryDenyWriteExecute=yes; do
  grep -q -x -F "$setting" "$unit" || fail "$name lacks $setting"
done
grep -q -E '^LimitNOFILE=[0-9]+$' "$unit" || fail "$name sets no LimitNOFILE"
if out=$(timeout 60 systemd-analyze security --offline=yes --threshold=15 \
    "$tmp/$name" 2>&1); then
  echo "ok - $(printf '%s\n' "$out" | grep 'Overall exposure' |
    sed 's/^[^O]*//')"
else
  printf '%s\n' "$out" | sed 's/^/# /'
  fail "systemd-analyze security rates $name above 1.5"
fi

# 4. ExecStart's command line, on a port the kernel picks.
args=$(sed -n 's|^ExecStart=/usr/bin/hub-ws-chat ||p' "$unit" |
  sed -E 's/--listen ([0-9.]+):[0-9]+/--listen \1:0/')
# shellcheck disable=SC2086 # the unit's arguments, split as systemd does
"$bin" $args 2> "$tmp/chat.log" &
chat_pid=$!
for _ in $(seq 1 300); do
  grep -q 'listening on' "$tmp/chat.log" && break
  kill -0 "$chat_pid" 2>/dev/null || break
  sleep 0.1
done
if grep -q 'listening on' "$tmp/chat.log"; then
  kill -TERM "$chat_pid"
  wait "$chat_pid"
  rc=$?
  chat_pid=
  if [ $rc -eq 0 ]; then
    echo "ok - ExecStart's command line starts hub-ws-chat ($args)"
  else
    fail "hub-ws-chat exited with $rc on SIGTERM"
  fi
else
  fail "hub-ws-chat did not start with ExecStart's arguments ($args)"
fi
sed 's/^/# /' "$tmp/chat.log"

if [ $failed -ne 0 ]; then
  exit 1
fi
echo "all passed"
