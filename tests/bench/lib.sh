# Shell helpers shared by the benchmark scripts (sourced, not run):
# loopback ports, waiting for a server to listen, and starting and
# stopping server processes. Linux only: they read /proc/net/tcp.

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
  local lo hi port i
  read -r lo hi < /proc/sys/net/ipv4/ip_local_port_range
  hi=$((lo - 1))
  lo=$((hi > 20000 ? 15000 : 10000))
  [ "$hi" -gt "$lo" ] || { lo=20000; hi=29999; }
  for i in $(seq 1 200); do
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
  local port=$1 pid=$2 limit=${3:-10} i
  for i in $(seq 1 $((limit * 20))); do
    bench_port_listening "$port" && return 0
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.05
  done
  return 1
}

# bench_stop PID: SIGTERM, then SIGKILL after 5 s; waits for it.
bench_stop() {
  local pid=$1 i
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  for i in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
