# Turns compare.sh's results (one flat JSON object per run, as loadgen
# --json writes them, plus round, scenario and server) into markdown tables
# of medians and ratios. Plain POSIX awk.
#
#   awk -v servers="name1 name2 ..." -f lib.awk -f report.awk \
#       bench-results.jsonl

# The median CPU used by the rest of the machine during the runs, with a
# mark when any run had a busy neighbour (a quarter of a core or more).
function other(scen, srv,    m, mark) {
  m = median(scen, srv, "other_cpu_util")
  mark = ""
  if (extreme(scen, srv, "other_cpu_util", 1) >= 0.25) {
    mark = " ‡"
    NOISY = 1
  }
  return m == "" ? "-" : sprintf("%.0f %%%s", 100 * m, mark)
}

function ratio(a, b) {
  if (a == "" || b == "" || b == 0)
    return "-"
  return sprintf("%.2f×", a / b)
}

function range(scen, srv, key, fn_human,    lo, hi) {
  if (N[scen, srv, key] + 0 < 2)
    return ""
  lo = extreme(scen, srv, key, 0)
  hi = extreme(scen, srv, key, 1)
  if (fn_human)
    return " (" human(lo) "–" human(hi) ")"
  return sprintf(" (%.0f–%.0f)", lo, hi)
}

function go_peer(srv) {
  return PROTO[srv] == "line" ? "go-tcp-chat" : "go-ws-hub"
}

function has(scen, srv) {
  return (scen SUBSEP srv) in RUNS
}

function throughput_table(scen, title,    i, srv, dps, floor, go, lg, mark) {
  if (!SCEN[scen])
    return
  printf "### %s\n\n", title
  print "| server | proto | delivered msgs/s | × floor | × Go | server ns/delivery | server CPU | loadgen CPU | other load | anomalies |"
  print "|---|---|---|---|---|---|---|---|---|---|"
  floor = median(scen, "raw-bound", "delivered_per_s")
  for (i = 1; i <= NS; i++) {
    srv = S[i]
    if (!has(scen, srv))
      continue
    dps = median(scen, srv, "delivered_per_s")
    go = median(scen, go_peer(srv), "delivered_per_s")
    lg = median(scen, srv, "loadgen_cpu_util")
    mark = lg != "" && lg >= 0.9 ? " †" : ""
    if (mark != "")
      LGBOUND = 1
    printf "| %s | %s | %s%s%s | %s | %s | %s | %s | %s | %s | %s |\n", srv,
           PROTO[srv], human(dps), range(scen, srv, "delivered_per_s", 1),
           mark, ratio(dps, floor), ratio(dps, go),
           num(median(scen, srv, "server_cpu_ns_per_delivery"), "%.0f"),
           pct(median(scen, srv, "server_cpu_util")), pct(lg),
           other(scen, srv), anomalies(scen, srv)
  }
  print ""
}

function idle_table(scen,    i, srv, b, floor, go) {
  if (!SCEN[scen])
    return
  print "### Idle memory, 10,000 connections (server RSS growth ÷ connections)\n"
  print "| server | proto | bytes/connection | × floor | × Go | connected | anomalies |"
  print "|---|---|---|---|---|---|---|"
  floor = median(scen, "raw-bound", "rss_per_conn_b")
  for (i = 1; i <= NS; i++) {
    srv = S[i]
    if (!has(scen, srv))
      continue
    b = median(scen, srv, "rss_per_conn_b")
    go = median(scen, go_peer(srv), "rss_per_conn_b")
    printf "| %s | %s | %s%s | %s | %s | %s | %s |\n", srv, PROTO[srv],
           num(b, "%.0f"), range(scen, srv, "rss_per_conn_b", 0),
           ratio(b, floor), ratio(b, go),
           num(median(scen, srv, "connected"), "%.0f"), anomalies(scen, srv)
  }
  print ""
}

function latency_table(scen,    i, srv, best, p) {
  if (!SCEN[scen])
    return
  print "### Latency under steady load: 1000 subscribers, 100 msg/s (from each message's due time)\n"
  best = ""
  for (i = 1; i <= NS; i++) {
    srv = S[i]
    if (srv ~ /^hub-/ || !has(scen, srv))
      continue
    p = median(scen, srv, "lat_p99_us")
    if (p != "" && (best == "" || p < best))
      best = p
  }
  print "| server | proto | p50 µs | p99 µs | p99.9 µs | max µs | p99 ÷ best peer's | delivered msgs/s | server CPU | other load | anomalies |"
  print "|---|---|---|---|---|---|---|---|---|---|---|"
  for (i = 1; i <= NS; i++) {
    srv = S[i]
    if (!has(scen, srv))
      continue
    p = median(scen, srv, "lat_p99_us")
    printf "| %s | %s | %s | %s%s | %s | %s | %s | %s | %s | %s | %s |\n",
           srv, PROTO[srv], num(median(scen, srv, "lat_p50_us"), "%.0f"),
           num(p, "%.0f"), range(scen, srv, "lat_p99_us", 0),
           num(median(scen, srv, "lat_p999_us"), "%.0f"),
           num(median(scen, srv, "lat_max_us"), "%.0f"), ratio(p, best),
           human(median(scen, srv, "delivered_per_s")),
           pct(median(scen, srv, "server_cpu_util")), other(scen, srv),
           anomalies(scen, srv)
  }
  print ""
}

function stalled_table(scen, base,    i, srv, dps, r, r0, b0, per, grow) {
  if (!SCEN[scen])
    return
  print "### 10 % stalled: 1000 subscribers of which 100 never read, 1 KiB\n"
  print "| server | proto | delivered msgs/s | per reader vs no stall | stalled closed by server | RSS growth under load | other load | anomalies |"
  print "|---|---|---|---|---|---|---|---|"
  for (i = 1; i <= NS; i++) {
    srv = S[i]
    if (!has(scen, srv))
      continue
    dps = median(scen, srv, "delivered_per_s")
    r = median(scen, srv, "receivers")
    r0 = median(base, srv, "receivers")
    per = "-"
    b0 = median(base, srv, "delivered_per_s")
    if (dps != "" && r > 0 && r0 > 0 && b0 > 0)
      per = sprintf("%.2f×", (dps / r) / (b0 / r0))
    grow = ""
    if (N[scen, srv, "rss_end_kb"] > 0 && N[scen, srv, "rss_idle_kb"] > 0)
      grow = median(scen, srv, "rss_end_kb") - median(scen, srv, "rss_idle_kb")
    printf "| %s | %s | %s%s | %s | %s | %s | %s | %s |\n", srv,
           PROTO[srv], human(dps), range(scen, srv, "delivered_per_s", 1),
           per, num(median(scen, srv, "stalled_closed"), "%.0f") " of 100",
           grow == "" ? "-" : sprintf("%.0f kB", grow), other(scen, srv),
           anomalies(scen, srv)
  }
  print ""
}

BEGIN {
  NS = split(servers, S, " ")
  PROTO["hub-ws-chat"] = "ws"; PROTO["go-ws-hub"] = "ws"
  PROTO["raw-bound"] = "ws"; PROTO["hub-tcp-echo"] = "line"
  PROTO["go-tcp-chat"] = "line"
  PROTO["hub-ws-chat@base"] = "ws"; PROTO["hub-tcp-echo@base"] = "line"
  PROTO["hub-ws-chat@nohist"] = "ws"; PROTO["hub-tcp-echo@nohist"] = "line"
  PROTO["hub-ws-chat@sse"] = "sse"
}

{
  parse($0)
  scen = F["scenario"]; srv = F["server"]
  SCEN[scen] = 1
  RUNS[scen, srv] = 1
  F["aborted"] = F["aborted"] == "true" ? 1 : 0
  split("delivered_per_s server_cpu_ns_per_delivery server_cpu_util " \
        "loadgen_cpu_util lost dropped pubs_dropped connect_failed " \
        "window_timeouts malformed dups skipped aborted receivers " \
        "rss_per_conn_b connected lat_p50_us lat_p99_us lat_p999_us " \
        "lat_max_us stalled_closed rss_end_kb rss_idle_kb other_cpu_util",
        keys, " ")
  for (k in keys)
    add(scen, srv, keys[k])
}

END {
  print "## Fan-out throughput: N subscribers + 1 publisher, window 50\n"
  throughput_table("fanout1000", "1000 subscribers, 64 B")
  throughput_table("fanout100", "100 subscribers, 64 B")
  throughput_table("fanout1000-1k", "1000 subscribers, 1 KiB")
  if (LGBOUND)
    print "† the load generator used ≥ 90 % of a core: the figure may be " \
          "bounded by the load generator rather than the server.\n"
  idle_table("idle10k")
  latency_table("latency")
  stalled_table("stalled", "fanout1000-1k")
  if (NOISY)
    print "‡ in at least one run, other processes on the machine used a " \
          "quarter of a core or more while measuring: compare the ranges, " \
          "or run again on a quiet machine.\n"
}
