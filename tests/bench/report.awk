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

# The median of key for uws-server in scen, to compare a WebSocket server
# with ("" for a newline server, which uws-server does not speak).
function uws(scen, srv, key) {
  return PROTO[srv] == "line" ? "" : median(scen, "uws-server", key)
}

function has(scen, srv) {
  return (scen SUBSEP srv) in RUNS
}

# Starts the table of scenario scen: prints nothing and returns 0 if scen
# was not run; else prints the title, the header row of `columns` (names
# separated by "|") and its rule, and returns 1.
function table_start(scen, title, columns,    n, c, i, head, rule) {
  if (!SCEN[scen])
    return 0
  printf "### %s\n\n", title
  n = split(columns, c, "|")
  head = rule = "|"
  for (i = 1; i <= n; i++) {
    head = head " " c[i] " |"
    rule = rule "---|"
  }
  print head
  print rule
  return 1
}

# The servers that ran scen, in the order of the command line, into
# list[1..n]; returns n.
function ran(scen, list,    i, n) {
  n = 0
  for (i = 1; i <= NS; i++)
    if (has(scen, S[i]))
      list[++n] = S[i]
  return n
}

function throughput_table(scen, title,    L, n, i, srv, dps, floor, go, lg,
                          mark) {
  if (!table_start(scen, title, "server|proto|delivered msgs/s|× floor|" \
                   "× Go|× uWS|server ns/delivery|server CPU|loadgen CPU|" \
                   "other load|anomalies"))
    return
  floor = median(scen, "raw-bound", "delivered_per_s")
  n = ran(scen, L)
  for (i = 1; i <= n; i++) {
    srv = L[i]
    dps = median(scen, srv, "delivered_per_s")
    go = median(scen, go_peer(srv), "delivered_per_s")
    lg = median(scen, srv, "loadgen_cpu_util")
    mark = lg != "" && lg >= 0.9 ? " †" : ""
    if (mark != "")
      LGBOUND = 1
    printf "| %s | %s | %s%s%s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
           srv, PROTO[srv], human(dps),
           range(scen, srv, "delivered_per_s", 1), mark, ratio(dps, floor),
           ratio(dps, go), ratio(dps, uws(scen, srv, "delivered_per_s")),
           num(median(scen, srv, "server_cpu_ns_per_delivery"), "%.0f"),
           pct(median(scen, srv, "server_cpu_util")), pct(lg),
           other(scen, srv), anomalies(scen, srv)
  }
  print ""
}

function idle_table(scen,    L, n, i, srv, b, floor, go) {
  if (!table_start(scen, "Idle memory, 10,000 connections (server RSS " \
                   "growth ÷ connections)", "server|proto|bytes/connection|" \
                   "× floor|× Go|× uWS|connected|anomalies"))
    return
  floor = median(scen, "raw-bound", "rss_per_conn_b")
  n = ran(scen, L)
  for (i = 1; i <= n; i++) {
    srv = L[i]
    b = median(scen, srv, "rss_per_conn_b")
    go = median(scen, go_peer(srv), "rss_per_conn_b")
    printf "| %s | %s | %s%s | %s | %s | %s | %s | %s |\n", srv, PROTO[srv],
           num(b, "%.0f"), range(scen, srv, "rss_per_conn_b", 0),
           ratio(b, floor), ratio(b, go), ratio(b, uws(scen, srv,
                                                       "rss_per_conn_b")),
           num(median(scen, srv, "connected"), "%.0f"), anomalies(scen, srv)
  }
  print ""
}

function latency_table(scen,    L, n, i, srv, best, p) {
  if (!table_start(scen, "Latency under steady load: 1000 subscribers, " \
                   "100 msg/s (from each message's due time)",
                   "server|proto|p50 µs|p99 µs|p99.9 µs|max µs|" \
                   "p99 ÷ best peer's|delivered msgs/s|server CPU|" \
                   "other load|anomalies"))
    return
  n = ran(scen, L)
  best = ""
  for (i = 1; i <= n; i++) {
    p = median(scen, L[i], "lat_p99_us")
    if (L[i] !~ /^hub-/ && p != "" && (best == "" || p < best))
      best = p
  }
  for (i = 1; i <= n; i++) {
    srv = L[i]
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

function stalled_table(scen, base,    L, n, i, srv, dps, r, r0, b0, per,
                       grow) {
  if (!table_start(scen, "10 % stalled: 1000 subscribers of which 100 " \
                   "never read, 1 KiB", "server|proto|delivered msgs/s|" \
                   "per reader vs no stall|stalled closed by server|" \
                   "RSS growth under load|other load|anomalies"))
    return
  n = ran(scen, L)
  for (i = 1; i <= n; i++) {
    srv = L[i]
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

# permessage-deflate: the same server without it (hub-ws-chat@deflate:
# hub-ws-chat; uws-server@shared and @dedicated: uws-server), or "".
function plain_of(srv) {
  if (srv !~ /@(deflate|shared|dedicated)$/)
    return ""
  sub(/@.*/, "", srv)
  return srv
}

# Whether the runs negotiated permessage-deflate: yes, no, or in some
# rounds only ("-" where the load generator did not say).
function negotiated(scen, srv) {
  if (N[scen, srv, "deflate"] + 0 == 0)
    return "-"
  if (extreme(scen, srv, "deflate", 0) == 1)
    return "yes"
  return extreme(scen, srv, "deflate", 1) == 0 ? "no" : "some rounds"
}

function mb(kb) {
  return kb == "" ? "-" : sprintf("%.1f MB", kb / 1024)
}

function deflate_table(scen,    L, n, i, srv, ns, sh, w) {
  if (!table_start(scen, "permessage-deflate: 1000 subscribers, 1 KiB " \
                   "JSON messages, clients offer deflate",
                   "server|deflate|delivered msgs/s|server ns/delivery|" \
                   "CPU × without deflate|CPU × uws-server@shared|" \
                   "wire B/msg|wire ÷ payload|server RSS|peak RSS|" \
                   "loadgen CPU|other load|anomalies"))
    return
  sh = median(scen, "uws-server@shared", "server_cpu_ns_per_delivery")
  n = ran(scen, L)
  for (i = 1; i <= n; i++) {
    srv = L[i]
    ns = median(scen, srv, "server_cpu_ns_per_delivery")
    w = median(scen, srv, "wire_bytes_per_msg")
    printf "| %s | %s | %s%s | %s%s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
           srv, negotiated(scen, srv),
           human(median(scen, srv, "delivered_per_s")),
           range(scen, srv, "delivered_per_s", 1), num(ns, "%.0f"),
           range(scen, srv, "server_cpu_ns_per_delivery", 0),
           plain_of(srv) == "" ? "-" : ratio(ns, median(scen, plain_of(srv),
                                       "server_cpu_ns_per_delivery")),
           plain_of(srv) == "" ? "-" : ratio(ns, sh), num(w, "%.0f"),
           w == "" ? "-" : sprintf("%.2f", w / median(scen, srv, "size")),
           mb(median(scen, srv, "rss_end_kb")),
           mb(median(scen, srv, "rss_hwm_kb")),
           pct(median(scen, srv, "loadgen_cpu_util")), other(scen, srv),
           anomalies(scen, srv)
  }
  print ""
  deflate_summary(scen)
}

# The figures libhub's deflate is judged by, in words.
function deflate_summary(scen,    d, neg, key) {
  if (!has(scen, "hub-ws-chat@deflate"))
    return
  neg = negotiated(scen, "hub-ws-chat@deflate")
  if (neg != "yes") {
    print "hub-ws-chat@deflate did not negotiate permessage-deflate (" neg \
          "): its figures are those of plain WebSocket.\n"
    return
  }
  key = "server_cpu_ns_per_delivery"
  d = median(scen, "hub-ws-chat@deflate", key)
  printf "hub-ws-chat with deflate: server CPU per delivery %s its own " \
         "without deflate, %s uws-server@shared's; wire bytes per " \
         "message %s its own without deflate.\n\n",
         ratio(d, median(scen, "hub-ws-chat", key)),
         ratio(d, median(scen, "uws-server@shared", key)),
         ratio(median(scen, "hub-ws-chat@deflate", "wire_bytes_per_msg"),
               median(scen, "hub-ws-chat", "wire_bytes_per_msg"))
}

function deflate_idle_table(scen,    L, n, i, srv, b) {
  if (!table_start(scen, "Idle memory with permessage-deflate offered, " \
                   "10,000 connections (server RSS growth ÷ connections)",
                   "server|deflate|bytes/connection|× without deflate|" \
                   "connected|anomalies"))
    return
  n = ran(scen, L)
  for (i = 1; i <= n; i++) {
    srv = L[i]
    b = median(scen, srv, "rss_per_conn_b")
    printf "| %s | %s | %s%s | %s | %s | %s |\n", srv,
           negotiated(scen, srv), num(b, "%.0f"),
           range(scen, srv, "rss_per_conn_b", 0),
           plain_of(srv) == "" ? "-" : ratio(b, median(scen, plain_of(srv),
                                                       "rss_per_conn_b")),
           num(median(scen, srv, "connected"), "%.0f"), anomalies(scen, srv)
  }
  print ""
}

BEGIN {
  NS = split(servers, S, " ")
}

{
  parse($0)
  scen = F["scenario"]; srv = F["server"]
  SCEN[scen] = 1
  RUNS[scen, srv] = 1
  PROTO[srv] = F["proto"]
  F["aborted"] = F["aborted"] == "true" ? 1 : 0
  if ("deflate" in F)
    F["deflate"] = F["deflate"] == "true" ? 1 : 0
  split("delivered_per_s server_cpu_ns_per_delivery server_cpu_util " \
        "loadgen_cpu_util lost dropped pubs_dropped connect_failed " \
        "window_timeouts malformed dups skipped aborted receivers " \
        "rss_per_conn_b connected lat_p50_us lat_p99_us lat_p999_us " \
        "lat_max_us stalled_closed rss_end_kb rss_idle_kb other_cpu_util " \
        "deflate wire_bytes_per_msg rss_hwm_kb size",
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
  deflate_table("fanout1000-1k-json")
  deflate_idle_table("idle10k-deflate")
  if (NOISY)
    print "‡ in at least one run, other processes on the machine used a " \
          "quarter of a core or more while measuring: compare the ranges, " \
          "or run again on a quiet machine.\n"
}
