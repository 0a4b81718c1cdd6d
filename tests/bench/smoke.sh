#!/usr/bin/env bash
# Smoke tests of the load generator (run by ctest, label "bench"):
#
#   smoke.sh run LOADGEN ws|line SERVER
#     starts SERVER (hub-ws-chat or hub-tcp-echo) on a free loopback port
#     and has LOADGEN publish a fixed number of messages through it, in
#     window mode and in rate mode. Every message must reach every client
#     exactly once and in order (loadgen --strict); speed is not checked.
#   smoke.sh refuse LOADGEN
#     LOADGEN must refuse any target that is not a loopback address.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

server_pid=
cleanup() { bench_stop "$server_pid"; }
trap cleanup EXIT

refuse() {
  local lg=$1 target out rc
  for target in "--host 10.0.0.1" "--host 192.168.1.1 --proto line" \
                "--url ws://8.8.8.8:80/ws" "--host ::2" \
                "--host example.com" "--url tcp://[2001:db8::1]:9000"; do
    rc=0
    # shellcheck disable=SC2086
    out=$("$lg" $target --subs 1 --duration 1 2>&1) || rc=$?
    if [ "$rc" -ne 2 ]; then
      echo "FAIL: '$target' was not refused (exit $rc): $out" >&2
      exit 1
    fi
    echo "refused $target: $out" | head -1
  done
}

run() {
  local lg=$1 proto=$2 server=$3 port out
  port=$(bench_free_port)
  "$server" --listen "127.0.0.1:$port" --quiet &
  server_pid=$!
  if ! bench_wait_listen "$port" "$server_pid" 20; then
    echo "FAIL: $server did not listen on 127.0.0.1:$port" >&2
    exit 1
  fi
  # 10 subscribers and 2 publishers; 2000 messages, 50 in flight each.
  "$lg" --proto "$proto" --port "$port" --subs 10 --pubs 2 --size 100 \
    --count 2000 --window 50 --duration 30 --settle 0.2 --strict \
    --server-pid "$server_pid"
  # Two publishers at a fixed rate with larger messages (16-bit frame
  # lengths on WebSocket) and one stalled subscriber that is not counted.
  out=$("$lg" --proto "$proto" --port "$port" --subs 10 --pubs 2 --size 1000 \
    --rate 500 --warmup 0 --duration 1 --settle 0.2 --stalled 1 --json \
    --server-pid "$server_pid")
  echo "$out"
  case $out in
    *'"lost":0,'*'"dropped":0,'*) ;;
    *) echo "FAIL: rate mode lost messages or clients" >&2; exit 1 ;;
  esac
  case $out in
    *'"sent":0,'*) echo "FAIL: rate mode sent nothing" >&2; exit 1 ;;
  esac
  # Messages over 64 KiB: 64-bit frame lengths on WebSocket (whose
  # default message limit is 1 MiB; the newline server's is 64 KiB).
  if [ "$proto" = ws ]; then
    "$lg" --proto ws --port "$port" --subs 3 --size 70000 --count 20 \
      --window 4 --duration 30 --settle 0.2 --strict
  fi
  # permessage-deflate offered, with JSON messages: compressed both ways
  # where the server accepts it, plain WebSocket where it does not; the
  # same checks either way (and a loadgen without zlib skips this).
  if [ "$proto" = ws ] && [[ $("$lg" --help) != *'without zlib'* ]]; then
    "$lg" --proto ws --port "$port" --subs 10 --pubs 2 --size 1000 \
      --payload json --deflate --count 2000 --window 50 --duration 30 \
      --settle 0.2 --strict
  fi
}

case ${1:-} in
  run) shift; run "$@" ;;
  refuse) shift; refuse "$@" ;;
  *) echo "usage: smoke.sh run LOADGEN ws|line SERVER | refuse LOADGEN" >&2
     exit 2 ;;
esac
