# shellcheck shell=bash
# Shell helpers shared by the benchmark scripts (sourced, not run):
# loopback ports, waiting for a server to listen, and starting and
# stopping server processes, building and finding the programs, a line
# of progress per run. Linux only: they read /proc/net/tcp.

# bench_port_used PORT: is PORT bound on this machine (TCP, v4 or v6)?
bench_port_used() {
  local hex
  hex=$(printf ':%04X' "$1")
  awk -v h="$hex" 'FNR > 1 && substr($2, length($2) - 4) == h { f = 1 }
                   END { exit !f }' /proc/net/tcp /proc/net/tcp6 2>/dev/null
}

# bench_port_listening PORT: is a socket listening on PORT?
bench_port_listening() {
  local hex
  hex=$(printf ':%04X' "$1")
  awk -v h="$hex" 'FNR > 1 && substr($2, length($2) - 4) == h &&
                   $4 == "0A" { f = 1 }
                   END { exit !f }' /proc/net/tcp /proc/net/tcp6 2>/dev/null
}

# bench_free_port: prints a port nobody uses, below the ephemeral range so
# that the load generator's own connections can never take it.
bench_free_port() {
  local lo hi port _
  read -r lo hi < /proc/sys/net/ipv4/ip_local_port_range
  hi=$((lo - 1))
  lo=$((hi > 20000 ? 15000 : 10000))
  [ "$hi" -gt "$lo" ] || { lo=20000; hi=29999; }
  for _ in $(seq 1 200); do
    port=$((lo + (RANDOM * 32768 + RANDOM) % (hi - lo)))
    if ! bench_port_used "$port"; then
      echo "$port"
      return 0
    fi
  done
  echo "no free port found" >&2
  return 1
}

# bench_wait_listen PORT PID [SECONDS]: waits until PORT is listening
# (at most SECONDS, default 10) while process PID is alive.
bench_wait_listen() {
  local port=$1 pid=$2 limit=${3:-10} _
  for _ in $(seq 1 $((limit * 20))); do
    bench_port_listening "$port" && return 0
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.05
  done
  return 1
}

# bench_stop PID: SIGTERM, then SIGKILL after 5 s; waits for it.
bench_stop() {
  local pid=$1 _
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

# ---------------------------------------------------------------------------
# Building and finding what the benchmark scripts run. These report
# problems with bench_note, which a script may redefine to collect them.
# ---------------------------------------------------------------------------

bench_here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# bench_note MESSAGE: something the reader of the results should know.
bench_note() { echo "note: $*" >&2; }

# bench_build_loadgen DIR: compiles the load generator into DIR/loadgen,
# with the C compiler ($CC), libuv and, where pkg-config finds it, zlib
# (for --deflate) directly.
bench_build_loadgen() {
  local zcflags='' zlibs=''
  echo "== building loadgen"
  if pkg-config --exists zlib 2>/dev/null; then
    zcflags="-DLG_HAVE_ZLIB $(pkg-config --cflags zlib)"
    zlibs=$(pkg-config --libs zlib)
  else
    bench_note "no zlib (Debian: zlib1g-dev): loadgen is built without --deflate"
  fi
  # shellcheck disable=SC2046,SC2086
  ${CC:-cc} -std=c11 -O2 -Wall -Wextra $zcflags -o "$1/loadgen" \
    "$bench_here/loadgen.c" "$bench_here"/lg-*.c -I"$bench_here" \
    $(pkg-config --cflags --libs libuv) $zlibs -lm
}

# bench_build_libhub SRC DIR JOBS: builds libhub's hub-ws-chat and
# hub-tcp-echo (CMake, Release) from SRC into DIR/libhub, logs in DIR/logs.
bench_build_libhub() {
  local src=$1 dir=$2 jobs=$3 t
  echo "== building libhub (Release)"
  if ! cmake -S "$src" -B "$dir/libhub" -DCMAKE_BUILD_TYPE=Release \
      -DHUB_BUILD_TESTS=OFF -DHUB_INSTALL=OFF >"$dir/logs/libhub-cmake.log" 2>&1; then
    bench_note "libhub did not configure (see logs/libhub-cmake.log): hub-ws-chat and hub-tcp-echo skipped"
    return
  fi
  for t in hub-ws-chat hub-tcp-echo; do
    cmake --build "$dir/libhub" -j "$jobs" --target "$t" \
      >"$dir/logs/$t-build.log" 2>&1 ||
      bench_note "$t did not build (see logs/$t-build.log): skipped"
  done
}

# bench_find_bin DIR NAME: the newest executable NAME under DIR/peers or
# DIR/libhub (empty if there is none).
bench_find_bin() {
  { find "$1/peers" "$1/libhub" -name "$2" -type f -perm -u+x \
      -printf '%T@ %p\n' 2>/dev/null || true; } |
    sort -rn | head -1 | cut -d' ' -f2-
}

# bench_summary JSON: one line of progress from loadgen's --json output.
bench_summary() {
  awk -v line="$1" 'BEGIN {
    n = split(substr(line, 2, length(line) - 2), kv, ",")
    for (i = 1; i <= n; i++) {
      split(kv[i], p, ":"); gsub(/"/, "", p[1]); v[p[1]] = p[2]
    }
    if (v["mode"] == "\"connect-only\"")
      printf "%d conns, %.0f B/conn", v["connected"], v["rss_per_conn_b"]
    else
      printf "%.0f msgs/s, p50 %.0f us, p99 %.0f us, lost %d, dropped %d, " \
             "cpu: server %.0f%% loadgen %.0f%% other %.0f%%",
             v["delivered_per_s"], v["lat_p50_us"], v["lat_p99_us"],
             v["lost"], v["dropped"], 100 * v["server_cpu_util"],
             100 * v["loadgen_cpu_util"], 100 * v["other_cpu_util"]
    if (v["deflate_offered"] == "true")
      printf ", deflate %s", v["deflate"] == "true" ? "yes" : "no"
    if (v["wire_bytes_per_msg"] != "" && v["wire_bytes_per_msg"] != "null")
      printf ", wire %.0f B/msg", v["wire_bytes_per_msg"]
  }'
}

# bench_report_machine SRC: the report lines naming the machine and the
# source (commit) measured.
bench_report_machine() {
  echo "- machine: $(nproc) cores, $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo), Linux $(uname -r)"
  echo "- source: $(git -C "$1" describe --always --dirty 2>/dev/null || echo unknown)"
}

# ---------------------------------------------------------------------------
# The frame of a measuring run (compare.sh, sweep.sh): its build
# directory, the notes collected for the report, the server process
# stopped however the script ends.
# ---------------------------------------------------------------------------

# bench_begin: creates $build (with logs/) and makes it absolute, sets
# $jobs (the build's parallelism, at most 2), starts the list of notes
# (note MESSAGE adds one, and so do the helpers above through
# bench_note), and stops $server_pid when the script exits.
bench_begin() {
  mkdir -p "$build/logs"
  build=$(cd "$build" && pwd)
  jobs=$(nproc 2>/dev/null || echo 1)
  [ "$jobs" -gt 2 ] && jobs=2
  notes=()
  note() { notes+=("$*"); echo "note: $*" >&2; }
  bench_note() { note "$@"; }
  server_pid=
  trap bench_cleanup EXIT
  trap 'exit 130' INT TERM
}

bench_cleanup() {
  bench_stop "$server_pid"
  server_pid=
}

# bench_add_server NAME: NAME's newest binary under $build into bin[NAME]
# and NAME onto the servers measured, or a note that it is not built.
bench_add_server() {
  local b
  b=$(bench_find_bin "$build" "$1")
  if [ -n "$b" ]; then
    bin[$1]=$b
    servers+=("$1")
  else
    note "$1 is not built: skipped"
  fi
}

# bench_report_head TITLE: the report's title (TITLE and the date), then
# the lines naming the machine and the source measured ($src).
bench_report_head() {
  echo "# $* $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo
  bench_report_machine "$src"
}

# bench_report_notes: the report's "Notes" section, if there are notes.
bench_report_notes() {
  [ ${#notes[@]} -gt 0 ] || return 0
  echo "## Notes"
  echo
  for n in "${notes[@]}"; do echo "- $n"; done
}
