#!/usr/bin/env bash
# How the cost of fan-out grows with the number of clients and the message
# size, for libhub's example servers. See docs/benchmarks.md.
#
#   bash tests/bench/sweep.sh [--subs LIST] [--sizes LIST] [options]
#
# It builds hub-ws-chat and hub-tcp-echo (CMake, Release) and the load
# generator as compare.sh does, in the same build directory by default so
# that the two share a build. Then, for each round, server, number of
# subscribers and message size, it starts a fresh server process, has one
# publisher broadcast to the subscribers in window mode, and stops the
# server. It prints, per server, tables of delivered msgs/s, server CPU
# per delivery and delivered MB/s (medians over the rounds), also saved in
# the build directory. A point that fails is shown as "—" with a note.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
. "$here/lib.sh"

usage() {
  cat <<EOF
usage: sweep.sh [options]

  --servers LIST       comma-separated subset of: hub-ws-chat, hub-tcp-echo
                       (default: both)
  --subs LIST          numbers of subscribers (default 10,100,1000,10000)
  --sizes LIST         message sizes in bytes (default 40,256,1024,4096,
                       16384); the load generator's messages are 40
                       bytes at least (their header): smaller sizes are
                       measured at 40
  --duration S         measured seconds per point (default 2)
  --warmup S           seconds of load before measuring (default 0.5)
  --rounds N           rounds of the whole sweep; the tables give the
                       medians (default 1)
  --build-dir DIR      where to build and write results
                       (default: build/bench in the source tree)
  --no-build           use what an earlier run built in the build directory
  -h, --help           this help

Each point: a fresh server on a free loopback port, started with
  --listen 127.0.0.1:PORT --quiet --max-queue-bytes 4M
(the default bound, 1 MiB, is 64 messages of 16 KiB: barely more than the
load generator's window of 50, so keeping-up clients would be dropped as
slow at that size; 4M leaves five windows), then
  loadgen --subs N --pubs 1 --size S --window 50 --warmup W --duration D
          --settle 0.3 --drain 1 --server-pid PID --json --quiet

Results: DIR/sweep-results.md (tables), DIR/sweep-results.jsonl (every
run's loadgen output, with round, server and status), DIR/logs/ (server
output).
EOF
}

servers_sel=hub-ws-chat,hub-tcp-echo
subs_sel=10,100,1000,10000
sizes_sel=40,256,1024,4096,16384
duration=2
warmup=0.5
rounds=1
build=$src/build/bench
do_build=1

die_usage() { echo "sweep.sh: $*" >&2; exit 2; }
need_arg() { [ $# -ge 2 ] || die_usage "$1 needs a value (try --help)"; }
while [ $# -gt 0 ]; do
  case $1 in
    --servers) need_arg "$@"; servers_sel=$2; shift ;;
    --subs) need_arg "$@"; subs_sel=$2; shift ;;
    --sizes) need_arg "$@"; sizes_sel=$2; shift ;;
    --duration) need_arg "$@"; duration=$2; shift ;;
    --warmup) need_arg "$@"; warmup=$2; shift ;;
    --rounds) need_arg "$@"; rounds=$2; shift ;;
    --build-dir) need_arg "$@"; build=$2; shift ;;
    --no-build) do_build=0 ;;
    -h|--help) usage; exit 0 ;;
    *) die_usage "unknown option '$1' (try --help)" ;;
  esac
  shift
done

# count_list OPTION LIST MIN MAX: LIST must be comma-separated whole
# numbers from MIN to MAX; puts them in the array "counts".
count_list() {
  local opt=$1 list=$2 min=$3 max=$4 v vals
  counts=()
  IFS=, read -r -a vals <<<"$list"
  [ ${#vals[@]} -gt 0 ] || die_usage "$opt: expected a comma-separated list"
  for v in "${vals[@]}"; do
    case $v in
      ''|*[!0-9]*) die_usage "$opt: '$v' is not a whole number" ;;
    esac
    v=$((10#$v))
    if [ "$v" -lt "$min" ] || [ "$v" -gt "$max" ]; then
      die_usage "$opt: $v is out of range ($min to $max)"
    fi
    counts+=("$v")
  done
}
seconds() { # seconds OPTION VALUE: a non-negative decimal
  [[ $2 =~ ^[0-9]+(\.[0-9]+)?$ ]] || die_usage "$1: expected seconds, got '$2'"
}
count_list --subs "$subs_sel" 1 1000000
subs_list=("${counts[@]}")
count_list --sizes "$sizes_sel" 1 $((64 << 20))
sizes_list=("${counts[@]}")
seconds --duration "$duration"
seconds --warmup "$warmup"
awk -v d="$duration" 'BEGIN { exit !(d > 0) }' ||
  die_usage "--duration: must be more than 0"
case $rounds in
  ''|*[!0-9]*|0) die_usage "--rounds: expected a count of at least 1, got '$rounds'" ;;
esac
declare -A proto=([hub-ws-chat]=ws [hub-tcp-echo]=line)
IFS=, read -r -a wanted <<<"$servers_sel"
[ ${#wanted[@]} -gt 0 ] || die_usage "--servers: expected a comma-separated list"
for s in "${wanted[@]}"; do
  [ -n "${proto[$s]:-}" ] ||
    die_usage "--servers: unknown server '$s' (hub-ws-chat or hub-tcp-echo)"
done

bench_begin

# The load generator's messages carry a 40-byte header: smaller sizes are
# measured at 40 bytes (once).
declare -A seen=()
sizes=()
for v in "${sizes_list[@]}"; do
  if [ "$v" -lt 40 ]; then
    note "$v B is below the smallest message the load generator sends (its 40-byte header): measured at 40 B"
    v=40
  fi
  [ -n "${seen[$v]:-}" ] || sizes+=("$v")
  seen[$v]=1
done
sizes_list=("${sizes[@]}")

if [ "$do_build" = 1 ]; then
  bench_build_loadgen "$build"
  bench_build_libhub "$src" "$build" "$jobs"
fi
[ -x "$build/loadgen" ] || { echo "sweep.sh: no loadgen in $build" >&2; exit 1; }

declare -A bin=()
servers=()
for s in "${wanted[@]}"; do
  bench_add_server "$s"
done
[ ${#servers[@]} -gt 0 ] || { echo "sweep.sh: no server to measure" >&2; exit 1; }

# Many connections: the load generator raises its own limit; the servers
# inherit ours.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
fds=$(ulimit -n)
for n in "${subs_list[@]}"; do
  if [ "$fds" != unlimited ] && [ "$n" -gt $((fds - 100)) ]; then
    note "the descriptor limit ($fds) is too low for $n subscribers: those points may fail"
  fi
done
load=$(cut -d' ' -f1 /proc/loadavg)
if awk -v l="$load" 'BEGIN { exit !(l > 0.5) }'; then
  note "the machine was not idle at the start (load average $load)"
fi

results=$build/sweep-results.jsonl
: >"$results"

# record ROUND SERVER SUBS SIZE STATUS JSON: one line of the results.
record() {
  if [ -n "$6" ]; then
    printf '{"round":%s,"server":"%s","status":"%s",%s\n' "$1" "$2" "$5" \
      "${6#\{}" >>"$results"
  else
    printf '{"round":%s,"server":"%s","status":"%s","subs":%s,"size":%s}\n' \
      "$1" "$2" "$5" "$3" "$4" >>"$results"
  fi
}

run_point() { # run_point ROUND SERVER SUBS SIZE
  local round=$1 name=$2 n=$3 size=$4 port log out rc=0 limit status=ok
  local what="$name, $n subscribers, $size B, round $round"
  log=$build/logs/sweep-$name-$n-$size-$round.log
  if ! port=$(bench_free_port); then
    record "$round" "$name" "$n" "$size" no-port ""
    printf '  %-13s %6s subs %6s B  failed: no free port\n' "$name" "$n" "$size"
    return
  fi
  "${bin[$name]}" --listen "127.0.0.1:$port" --quiet --max-queue-bytes 4M \
    >"$log" 2>&1 &
  server_pid=$!
  if ! bench_wait_listen "$port" "$server_pid" 10; then
    bench_cleanup
    record "$round" "$name" "$n" "$size" no-start ""
    printf '  %-13s %6s subs %6s B  failed: the server did not start\n' \
      "$name" "$n" "$size"
    return
  fi
  limit=$(awk -v d="$duration" -v w="$warmup" 'BEGIN { print int(d + w + 60) }')
  out=$(timeout -k 5 "$limit" "$build/loadgen" --proto "${proto[$name]}" \
        --port "$port" --subs "$n" --pubs 1 --size "$size" --window 50 \
        --warmup "$warmup" --duration "$duration" --settle 0.3 --drain 1 \
        --server-pid "$server_pid" --json --quiet) || rc=$?
  out=$(printf '%s\n' "$out" | grep '^{' | tail -n 1) || true
  if ! kill -0 "$server_pid" 2>/dev/null; then
    status=server-exited
  elif [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
    status=timeout
  elif [ -z "$out" ]; then
    status=loadgen-exit-$rc
  elif [[ $out == *'"aborted":true'* ]]; then
    status=aborted
  fi
  bench_cleanup
  record "$round" "$name" "$n" "$size" "$status" "$out"
  if [ "$status" = ok ]; then
    printf '  %-13s %6s subs %6s B  %s\n' "$name" "$n" "$size" \
      "$(bench_summary "$out")"
  else
    printf '  %-13s %6s subs %6s B  failed: %s (%s)\n' "$name" "$n" "$size" \
      "$status" "$what"
  fi
}

npoints=$(( ${#servers[@]} * ${#subs_list[@]} * ${#sizes_list[@]} ))
start=$(date +%s)
echo "== ${#servers[@]} servers x ${#subs_list[@]} subscriber counts x" \
  "${#sizes_list[@]} sizes = $npoints points x $rounds rounds" \
  "(warm-up $warmup s, measure $duration s)"
for round in $(seq 1 "$rounds"); do
  echo "== round $round of $rounds"
  for name in "${servers[@]}"; do
    for n in "${subs_list[@]}"; do
      for size in "${sizes_list[@]}"; do
        run_point "$round" "$name" "$n" "$size"
      done
    done
  done
done
elapsed=$(($(date +%s) - start))

# ---------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------

report=$build/sweep-results.md
{
  bench_report_head "libhub sweep: fan-out cost against clients and" \
    "message size,"
  echo "- one publisher and N subscribers, window 50; each point on a fresh" \
    "server process; warm-up $warmup s, measure $duration s; $rounds round(s)," \
    "medians over the rounds; run took ${elapsed} s"
  echo "- a message delivered to N subscribers and the publisher counts N + 1" \
    "deliveries; server ns per delivery = the server's CPU time (user + system)" \
    "÷ deliveries; MB/s = delivered msgs/s × message size, payload only" \
    "(1 MB = 10^6 bytes)"
  echo
  awk -v servers="${servers[*]}" -v subs="${subs_list[*]}" \
      -v sizes="${sizes_list[*]}" \
      -f "$here/lib.awk" -f "$here/sweep.awk" "$results"
  if [ ${#notes[@]} -gt 0 ]; then
    bench_report_notes
    echo
  fi
} >"$report"
echo
cat "$report"
echo "saved: $report and $results"
