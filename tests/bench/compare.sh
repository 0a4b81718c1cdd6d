#!/usr/bin/env bash
# Side-by-side benchmark of libhub's example servers and the reference
# peers, on this machine, in one run. See docs/benchmarks.md.
#
#   bash tests/bench/compare.sh [--quick] [--rounds N] [options]
#
# It builds the peers (../shared/peers/build.sh: the Go WebSocket hub, the
# Go newline chat, the raw frame-once+writev floor and uWebSockets),
# libhub's hub-ws-chat and hub-tcp-echo (CMake, Release), and the load
# generator;
# then, for each round, runs every scenario against every server in turn,
# each on a fresh server process, and prints the medians over the rounds
# and their ratios as markdown tables (also saved in the build directory).
# Servers that cannot be built are skipped with a note.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
. "$here/lib.sh"

usage() {
  cat <<EOF
usage: compare.sh [options]

  --quick              one round with short runs: a smoke run of the whole
                       comparison (about 2 minutes)
  --rounds N           rounds of every scenario on every server (default 3)
  --duration S         measured seconds per run (default 5)
  --warmup S           seconds of load before measuring (default 1)
  --build-dir DIR      where to build and write results
                       (default: build/bench in the source tree)
  --peers DIR          the reference peers' sources (default: the
                       shared/peers directory beside the source tree)
  --servers LIST       comma-separated subset of: hub-ws-chat, go-ws-hub,
                       raw-bound, uws-server, hub-tcp-echo, go-tcp-chat
  --scenarios LIST     comma-separated subset of: fanout1000, fanout100,
                       fanout1000-1k, idle10k, latency, stalled,
                       fanout1000-1k-json, idle10k-deflate (the last two
                       run on hub-ws-chat and uws-server only)
  --pin                pin the load generator to CPU 0 and the servers to
                       the other CPUs (multi-threaded servers then have one
                       CPU less; off by default)
  --baseline DIR       also measure hub-ws-chat and hub-tcp-echo as built in
                       DIR (a libhub build tree, say of the commit before a
                       change), as hub-ws-chat@base and hub-tcp-echo@base:
                       before and after, side by side in one run
  --sse                also measure hub-ws-chat's server-sent events, as
                       hub-ws-chat@sse (subscribers on GET /events,
                       publishers on WebSocket)
  --history-off        also measure hub-ws-chat and hub-tcp-echo with
                       --history 0, as hub-ws-chat@nohist and
                       hub-tcp-echo@nohist: what room history costs
  --deflate            also measure permessage-deflate: the scenarios
                       fanout1000-1k-json and idle10k-deflate (clients
                       offer deflate) on hub-ws-chat with its deflate on
                       (hub-ws-chat@deflate), uws-server -compression
                       shared and dedicated (uws-server@shared,
                       uws-server@dedicated), and hub-ws-chat and
                       uws-server without deflate, for the ratios
  --no-build           use what an earlier run built in the build directory
  -h, --help           this help

Results: DIR/bench-results.md (tables), DIR/bench-results.jsonl (every
run's loadgen output), DIR/logs/ (server output).
EOF
}

rounds=3
duration=5
warmup=1
quick=0
build=$src/build/bench
peers_src=$(cd "$src/.." && pwd)/shared/peers
servers_sel=hub-ws-chat,go-ws-hub,raw-bound,uws-server,hub-tcp-echo,go-tcp-chat
scenarios_sel=fanout1000,fanout100,fanout1000-1k,idle10k,latency,stalled
do_build=1
pin=0
baseline=
history_off=0
sse=0
deflate=0

need_arg() { [ $# -ge 2 ] || { echo "compare.sh: $1 needs a value" >&2; exit 2; }; }
while [ $# -gt 0 ]; do
  case $1 in
    --quick) quick=1 ;;
    --rounds) need_arg "$@"; rounds=$2; shift ;;
    --duration) need_arg "$@"; duration=$2; shift ;;
    --warmup) need_arg "$@"; warmup=$2; shift ;;
    --build-dir) need_arg "$@"; build=$2; shift ;;
    --peers) need_arg "$@"; peers_src=$2; shift ;;
    --servers) need_arg "$@"; servers_sel=$2; shift ;;
    --scenarios) need_arg "$@"; scenarios_sel=$2; shift ;;
    --baseline) need_arg "$@"; baseline=$2; shift ;;
    --history-off) history_off=1 ;;
    --sse) sse=1 ;;
    --deflate) deflate=1 ;;
    --no-build) do_build=0 ;;
    --pin) pin=1 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "compare.sh: unknown option '$1' (try --help)" >&2; exit 2 ;;
  esac
  shift
done
if [ "$quick" = 1 ]; then
  rounds=1
  duration=2
  warmup=0.5
fi
case $rounds in ''|*[!0-9]*|0) echo "compare.sh: --rounds: expected a count" >&2; exit 2 ;; esac

bench_begin

# ---------------------------------------------------------------------------
# Build
# ---------------------------------------------------------------------------

declare -A bin=()

have_debs() {
  local p
  for p in "$@"; do
    dpkg -s "$p" >/dev/null 2>&1 || return 1
  done
}

build_peers() {
  local debs=(golang-go golang-github-gorilla-websocket-dev libssl-dev g++
              zlib1g-dev)
  if [ ! -f "$peers_src/build.sh" ]; then
    note "no peers at $peers_src (--peers DIR): go-ws-hub, go-tcp-chat, raw-bound and uws-server skipped"
    return
  fi
  if ! have_debs "${debs[@]}"; then
    if [ "$(id -u)" = 0 ]; then
      echo "== installing ${debs[*]}"
      DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
        --no-install-recommends "${debs[@]}" >"$build/logs/apt.log" 2>&1 ||
        note "apt-get install failed (see logs/apt.log)"
    else
      note "missing Debian packages (${debs[*]}); run as root to install them"
    fi
  fi
  echo "== building the peers"
  mkdir -p "$build/peers"
  if ! sh "$peers_src/build.sh" "$build/peers" >"$build/logs/peers-build.log" 2>&1; then
    note "the peers did not build (see logs/peers-build.log)"
  fi
}

if [ "$do_build" = 1 ]; then
  bench_build_loadgen "$build"
  build_peers
  bench_build_libhub "$src" "$build" "$jobs"
fi
[ -x "$build/loadgen" ] || { echo "compare.sh: no loadgen in $build" >&2; exit 1; }

declare -A proto=([hub-ws-chat]=ws [go-ws-hub]=ws [raw-bound]=ws
                  [uws-server]=ws [hub-tcp-echo]=line [go-tcp-chat]=line
                  [hub-ws-chat@base]=ws [hub-tcp-echo@base]=line
                  [hub-ws-chat@nohist]=ws [hub-tcp-echo@nohist]=line
                  [hub-ws-chat@sse]=sse [hub-ws-chat@deflate]=ws
                  [uws-server@shared]=ws [uws-server@dedicated]=ws)
servers=()
IFS=, read -r -a wanted <<<"$servers_sel"
for s in "${wanted[@]}"; do
  [ -n "${proto[$s]:-}" ] || { echo "compare.sh: unknown server '$s'" >&2; exit 2; }
  bench_add_server "$s"
done
if [ -n "$baseline" ]; then
  for s in hub-ws-chat:ws hub-tcp-echo:tcp; do
    b=$baseline/examples/${s#*:}/${s%:*}
    if [ -x "$b" ]; then
      bin[${s%:*}@base]=$b
      servers+=("${s%:*}@base")
    else
      note "--baseline: no $b"
    fi
  done
fi
if [ "$history_off" = 1 ]; then
  for s in hub-ws-chat hub-tcp-echo; do
    if [ -n "${bin[$s]:-}" ]; then
      bin[$s@nohist]=${bin[$s]}
      servers+=("$s@nohist")
    fi
  done
fi
if [ "$sse" = 1 ] && [ -n "${bin[hub-ws-chat]:-}" ]; then
  bin[hub-ws-chat@sse]=${bin[hub-ws-chat]}
  servers+=("hub-ws-chat@sse")
fi
if [ "$deflate" = 1 ]; then
  if [ -n "${bin[hub-ws-chat]:-}" ]; then
    bin[hub-ws-chat@deflate]=${bin[hub-ws-chat]}
    servers+=("hub-ws-chat@deflate")
  fi
  if [ -n "${bin[uws-server]:-}" ]; then
    for m in shared dedicated; do
      bin[uws-server@$m]=${bin[uws-server]}
      servers+=("uws-server@$m")
    done
  fi
fi
[ ${#servers[@]} -gt 0 ] || { echo "compare.sh: no server to measure" >&2; exit 1; }

# hub-ws-chat compresses (permessage-deflate) by default where it can:
# every run of it but @deflate turns that off, with --no-deflate, where
# its --help shows the switch (so that builds without it run as before).
declare -A no_deflate=()
for s in "${servers[@]}"; do
  case $s in
    hub-ws-chat@deflate) ;;
    hub-ws-chat*)
      if [[ $("${bin[$s]}" --help 2>&1 || true) == *--no-deflate* ]]; then
        no_deflate[$s]=--no-deflate
      fi ;;
  esac
done

# Server command lines, with their normal limits and policies.
server_args() { # server_args NAME PORT
  case $1 in
    *@nohist) echo "--listen 127.0.0.1:$2 --quiet --history 0 ${no_deflate[$1]:-}" ;;
    hub-ws-chat*|hub-tcp-echo*) echo "--listen 127.0.0.1:$2 --quiet ${no_deflate[$1]:-}" ;;
    uws-server@shared) echo "-addr 127.0.0.1:$2 -compression shared" ;;
    uws-server@dedicated) echo "-addr 127.0.0.1:$2 -compression dedicated" ;;
    *) echo "-addr 127.0.0.1:$2" ;;
  esac
}

# ---------------------------------------------------------------------------
# Scenarios
# ---------------------------------------------------------------------------

declare -A scen_args=(
  [fanout1000]="--subs 1000 --pubs 1 --size 64 --window 50"
  [fanout100]="--subs 100 --pubs 1 --size 64 --window 50"
  [fanout1000-1k]="--subs 1000 --pubs 1 --size 1024 --window 50"
  [idle10k]="--subs 10000 --connect-only --settle 1 --duration 0"
  [latency]="--subs 1000 --pubs 1 --size 64 --rate 100"
  [stalled]="--subs 1000 --stalled 100 --pubs 1 --size 1024 --window 50"
  [fanout1000-1k-json]="--subs 1000 --pubs 1 --size 1024 --window 50 --payload json --deflate"
  [idle10k-deflate]="--subs 10000 --connect-only --settle 1 --duration 0 --deflate"
)
scenarios=()
IFS=, read -r -a wanted <<<"$scenarios_sel"
[ "$deflate" = 1 ] && wanted+=(fanout1000-1k-json idle10k-deflate)
for s in "${wanted[@]}"; do
  [ -n "${scen_args[$s]:-}" ] || { echo "compare.sh: unknown scenario '$s'" >&2; exit 2; }
  [[ " ${scenarios[*]} " == *" $s "* ]] || scenarios+=("$s")
done

# The deflate scenarios compare permessage-deflate with the same server
# without it: they run on hub-ws-chat and uws-server (and @base), and the
# deflate variants run nothing else.
runs_on() { # runs_on SCENARIO SERVER
  local dscen=0
  case $1 in fanout1000-1k-json|idle10k-deflate) dscen=1 ;; esac
  case $2 in
    *@deflate|*@shared|*@dedicated) [ "$dscen" = 1 ] ;;
    hub-ws-chat|hub-ws-chat@base|uws-server) return 0 ;;
    *) [ "$dscen" = 0 ] ;;
  esac
}

# A loadgen built without zlib cannot offer deflate: it runs the deflate
# scenarios without.
lg_deflate=1
if [[ $("$build/loadgen" --help) == *'without zlib'* ]]; then
  lg_deflate=0
  for s in "${scenarios[@]}"; do
    if [[ ${scen_args[$s]} == *--deflate* ]]; then
      note "loadgen has no zlib: $s runs without permessage-deflate"
    fi
  done
fi

# Many connections: the load generator raises its own limit; the servers
# inherit ours.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# Server and load generator share the machine; anything else running
# makes the figures noisy (loadgen reports it per run as other_cpu_util).
server_pin=()
loadgen_pin=()
ncpu=$(nproc 2>/dev/null || echo 1)
if [ "$pin" = 1 ]; then
  if [ "$ncpu" -ge 2 ] && command -v taskset >/dev/null; then
    cpus=1
    [ "$ncpu" -gt 2 ] && cpus="1-$((ncpu - 1))"
    server_pin=(taskset -c "$cpus")
    loadgen_pin=(taskset -c 0)
  else
    note "--pin needs taskset and 2 CPUs or more: not pinned"
  fi
fi
load=$(cut -d' ' -f1 /proc/loadavg)
if awk -v l="$load" 'BEGIN { exit !(l > 0.5) }'; then
  note "the machine was not idle at the start (load average $load)"
fi

results=$build/bench-results.jsonl
: >"$results"

run_one() { # run_one ROUND SCENARIO SERVER
  local round=$1 scen=$2 name=$3 port args out rc=0 limit log
  runs_on "$scen" "$name" || return 0
  port=$(bench_free_port)
  log=$build/logs/$name-$scen-$round.log
  # shellcheck disable=SC2046
  "${server_pin[@]}" "${bin[$name]}" $(server_args "$name" "$port") \
    >"$log" 2>&1 &
  server_pid=$!
  if ! bench_wait_listen "$port" "$server_pid" 10; then
    note "$name did not start for $scen (round $round; see ${log#"$build"/})"
    bench_cleanup
    return
  fi
  args=${scen_args[$scen]}
  [ "$lg_deflate" = 1 ] || args=${args//--deflate/}
  case $scen in
    idle10k*) ;;
    # A server that compresses for every client can be a hundred times
    # slower: time for its window of 50 to reach 1000 clients, so that
    # slowness shows as such and not as losses.
    *-json) args="$args --warmup $warmup --duration $duration --settle 0.3 --drain 5 --window-timeout 10" ;;
    *) args="$args --warmup $warmup --duration $duration --settle 0.3 --drain 1" ;;
  esac
  limit=$(awk -v d="$duration" -v w="$warmup" 'BEGIN { print int(d + w + 60) }')
  # shellcheck disable=SC2086
  out=$(timeout -k 5 "$limit" "${loadgen_pin[@]}" "$build/loadgen" \
        --proto "${proto[$name]}" \
        --port "$port" $args --server-pid "$server_pid" --json --quiet) || rc=$?
  if ! kill -0 "$server_pid" 2>/dev/null; then
    note "$name exited during $scen (round $round; see ${log#"$build"/})"
  fi
  bench_cleanup
  if [ -z "$out" ]; then
    note "loadgen failed on $name/$scen (round $round, exit $rc)"
    return
  fi
  printf '{"round":%s,"scenario":"%s","server":"%s",%s\n' "$round" "$scen" \
    "$name" "${out#\{}" >>"$results"
  printf '  %-18s %-20s %s\n' "$scen" "$name" "$(bench_summary "$out")"
}

start=$(date +%s)
nruns=0
for scen in "${scenarios[@]}"; do
  for name in "${servers[@]}"; do
    if runs_on "$scen" "$name"; then nruns=$((nruns + 1)); fi
  done
done
echo "== ${#servers[@]} servers x ${#scenarios[@]} scenarios ($nruns runs)" \
  "x $rounds rounds (warm-up $warmup s, measure $duration s)"
for round in $(seq 1 "$rounds"); do
  echo "== round $round of $rounds"
  for scen in "${scenarios[@]}"; do
    for name in "${servers[@]}"; do
      run_one "$round" "$scen" "$name"
    done
  done
done
elapsed=$(($(date +%s) - start))

# ---------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------

report=$build/bench-results.md
{
  bench_report_head "libhub benchmark:"
  echo "- $rounds round(s), each scenario on a fresh server process, servers in turn;" \
    "warm-up $warmup s, measure $duration s; medians over rounds (min-max in brackets);" \
    "run took ${elapsed} s"
  echo "- floor = raw-bound; Go = go-ws-hub for WebSocket servers, go-tcp-chat for newline servers; uWS = uws-server (uWebSockets, C++)"
  echo "- CPU figures are in cores (100 % = one core); \"other load\" is what the rest of the machine used meanwhile"
  [ "$pin" = 1 ] && [ ${#loadgen_pin[@]} -gt 0 ] &&
    echo "- pinned: loadgen on CPU 0, servers on CPU(s) $cpus"
  echo
  awk -v servers="${servers[*]}" -f "$here/lib.awk" -f "$here/report.awk" \
    "$results"
  if [ ${#notes[@]} -gt 0 ]; then
    echo
    bench_report_notes
  fi
} >"$report"
echo
cat "$report"
echo
echo "saved: $report and $results"
