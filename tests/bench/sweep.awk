# Turns sweep.sh's results (one flat JSON object per run, as loadgen
# --json writes them, plus round, server and status) into markdown tables:
# per server, rows = subscribers, columns = message sizes. Plain POSIX awk.
#
#   awk -v servers="name1 name2 ..." -v subs="10 100 ..." \
#       -v sizes="40 256 ..." -f lib.awk -f sweep.awk sweep-results.jsonl

function size_name(s) {
  return s % 1024 == 0 ? (s / 1024) " KiB" : s " B"
}

function mbs(x) {
  return sprintf(x >= 100 ? "%.0f" : x >= 10 ? "%.1f" : "%.2f", x)
}

# cell(srv, n, s, what): one cell of a table (what: rate, ns or mb), with
# its marks; "—" if no run of the point succeeded.
function cell(srv, n, s, what,    p, v, out, mark) {
  p = n "/" s
  if (N[p, srv, "delivered_per_s"] + 0 == 0) {
    FAILED = 1
    return "—"
  }
  if (what == "rate") {
    out = human(median(p, srv, "delivered_per_s"))
  } else if (what == "ns") {
    v = median(p, srv, "server_cpu_ns_per_delivery")
    out = v == "" ? "-" : sprintf("%.0f", v)
  } else {
    out = mbs(median(p, srv, "delivered_per_s") * s / 1e6)
  }
  mark = ""
  if (what != "ns" && median(p, srv, "loadgen_cpu_util") >= 0.9) {
    mark = mark "†"
    LGBOUND = 1
  }
  if (extreme(p, srv, "other_cpu_util", 1) >= 0.25) {
    mark = mark "‡"
    NOISY = 1
  }
  if (anomalies(p, srv) != "none") {
    mark = mark "*"
    ANOM = 1
  }
  return mark == "" ? out : out " " mark
}

function table(srv, title, what,    i, j, line) {
  printf "### %s: %s\n\n", srv, title
  line = "| subscribers |"
  for (j = 1; j <= NZ; j++)
    line = line " " size_name(Z[j]) " |"
  print line
  line = "|---:|"
  for (j = 1; j <= NZ; j++)
    line = line "---:|"
  print line
  for (i = 1; i <= NN; i++) {
    line = "| " Nsub[i] " |"
    for (j = 1; j <= NZ; j++)
      line = line " " cell(srv, Nsub[i], Z[j], what) " |"
    print line
  }
  print ""
}

function reason(st) {
  if (st == "no-start")
    return "the server did not start"
  if (st == "no-port")
    return "no free port"
  if (st == "server-exited")
    return "the server exited during the run"
  if (st == "timeout")
    return "timed out"
  if (st == "aborted")
    return "the load generator hit its deadline"
  if (st ~ /^loadgen-exit-/) {
    sub(/^loadgen-exit-/, "", st)
    return "the load generator failed (exit status " st ")"
  }
  return st
}

# The failed runs and the anomalies of one server, under its tables.
function server_notes(srv,    i, j, k, p, a, any) {
  any = 0
  for (k = 1; k <= NFAIL; k++) {
    if (FAILSRV[k] != srv)
      continue
    if (!any++)
      print "Notes:\n"
    printf "- %s subscribers, %s, round %s: %s (server output: " \
           "logs/sweep-%s-%s-%s-%s.log)\n", FAILN[k], size_name(FAILSZ[k]), FAILR[k],
           reason(FAILST[k]), srv, FAILN[k], FAILSZ[k], FAILR[k]
  }
  for (i = 1; i <= NN; i++)
    for (j = 1; j <= NZ; j++) {
      p = Nsub[i] "/" Z[j]
      a = anomalies(p, srv)
      sub(/^ /, "", a)
      if (N[p, srv, "delivered_per_s"] + 0 == 0 || a == "none")
        continue
      if (!any++)
        print "Notes:\n"
      printf "- %s subscribers, %s: %s (*)\n", Nsub[i], size_name(Z[j]), a
    }
  if (any)
    print ""
}

BEGIN {
  NS = split(servers, S, " ")
  NN = split(subs, Nsub, " ")
  NZ = split(sizes, Z, " ")
  PROTO["hub-ws-chat"] = "WebSocket"
  PROTO["hub-tcp-echo"] = "newline protocol over TCP"
}

{
  parse($0)
  srv = F["server"]
  if (F["status"] != "ok") {
    NFAIL++
    FAILSRV[NFAIL] = srv; FAILN[NFAIL] = F["subs"]; FAILSZ[NFAIL] = F["size"]
    FAILR[NFAIL] = F["round"]; FAILST[NFAIL] = F["status"]
    next
  }
  p = F["subs"] "/" F["size"]
  F["aborted"] = F["aborted"] == "true" ? 1 : 0
  split("delivered_per_s server_cpu_ns_per_delivery loadgen_cpu_util " \
        "other_cpu_util lost dropped pubs_dropped connect_failed " \
        "window_timeouts malformed dups skipped aborted", keys, " ")
  for (k in keys)
    add(p, srv, keys[k])
}

END {
  for (i = 1; i <= NS; i++) {
    srv = S[i]
    printf "## %s (%s)\n\n", srv, PROTO[srv]
    table(srv, "delivered msgs/s", "rate")
    table(srv, "server CPU ns per delivery", "ns")
    table(srv, "delivered MB/s (msgs/s × message size)", "mb")
    server_notes(srv)
  }
  if (FAILED)
    print "— no run of the point succeeded (see the notes).\n"
  if (LGBOUND)
    print "† the load generator used ≥ 90 % of a core: the figure may be " \
          "bounded by the load generator rather than the server.\n"
  if (NOISY)
    print "‡ in at least one run, other processes on the machine used a " \
          "quarter of a core or more while measuring.\n"
  if (ANOM)
    print "* the run had anomalies (losses, dropped clients, failed " \
          "connections, timeouts): see the notes under the tables.\n"
}
