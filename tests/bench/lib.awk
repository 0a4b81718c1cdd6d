# Helpers shared by the benchmark reports (report.awk, sweep.sh): reading
# loadgen's --json lines and summarising the runs. Plain POSIX awk; load
# it before the report's own program:
#
#   awk -f lib.awk -f report.awk results.jsonl
#
# Runs are kept by (scen, srv, key): scen is any group of runs that are
# repeats of one another (compare.sh: a scenario; sweep.sh: a point of
# the sweep), srv the server, key a JSON field.

# parse(line): the flat JSON object LINE into F[key] (strings unquoted).
function parse(line,    body, n, kv, i, c, k, v) {
  delete F
  body = substr(line, 2, length(line) - 2)
  n = split(body, kv, ",")
  for (i = 1; i <= n; i++) {
    c = index(kv[i], ":")
    k = substr(kv[i], 1, c - 1)
    v = substr(kv[i], c + 1)
    gsub(/"/, "", k)
    gsub(/"/, "", v)
    F[k] = v
  }
}

function add(scen, srv, key) {
  if (!(key in F) || F[key] == "null")
    return
  N[scen, srv, key]++
  V[scen, srv, key, N[scen, srv, key]] = F[key] + 0
}

function median(scen, srv, key,    n, i, j, t, a) {
  n = N[scen, srv, key] + 0
  if (n == 0)
    return ""
  for (i = 1; i <= n; i++)
    a[i] = V[scen, srv, key, i]
  for (i = 2; i <= n; i++)
    for (j = i; j > 1 && a[j - 1] > a[j]; j--) {
      t = a[j]; a[j] = a[j - 1]; a[j - 1] = t
    }
  if (n % 2)
    return a[(n + 1) / 2]
  return (a[n / 2] + a[n / 2 + 1]) / 2
}

function extreme(scen, srv, key, want_max,    n, i, m) {
  n = N[scen, srv, key] + 0
  if (n == 0)
    return ""
  m = V[scen, srv, key, 1]
  for (i = 2; i <= n; i++)
    if (want_max ? V[scen, srv, key, i] > m : V[scen, srv, key, i] < m)
      m = V[scen, srv, key, i]
  return m
}

function total(scen, srv, key,    n, i, s) {
  n = N[scen, srv, key] + 0
  s = 0
  for (i = 1; i <= n; i++)
    s += V[scen, srv, key, i]
  return s
}

# 1234567 -> "1.23M", 45678 -> "45.7k"
function human(x) {
  if (x == "")
    return "-"
  if (x >= 1e6)
    return sprintf("%.2fM", x / 1e6)
  if (x >= 1e4)
    return sprintf("%.0fk", x / 1e3)
  if (x >= 1e3)
    return sprintf("%.1fk", x / 1e3)
  return sprintf("%.0f", x)
}

function num(x, fmt) {
  return x == "" ? "-" : sprintf(fmt, x)
}

function pct(x) {
  return x == "" ? "-" : sprintf("%.0f %%", 100 * x)
}

# anomalies(scen, srv): the runs' anomalies, summed, as "lost 3; dropped 1"
# ("none" if there were none). The caller adds "aborted" as 1 or 0.
function anomalies(scen, srv,    s) {
  s = ""
  if (total(scen, srv, "lost") > 0)
    s = s sprintf(" lost %d;", total(scen, srv, "lost"))
  if (total(scen, srv, "dropped") > 0)
    s = s sprintf(" dropped %d;", total(scen, srv, "dropped"))
  if (total(scen, srv, "pubs_dropped") > 0)
    s = s sprintf(" publisher dropped %d;", total(scen, srv, "pubs_dropped"))
  if (total(scen, srv, "connect_failed") > 0)
    s = s sprintf(" connect failed %d;", total(scen, srv, "connect_failed"))
  if (total(scen, srv, "window_timeouts") > 0)
    s = s sprintf(" window timeouts %d;", total(scen, srv, "window_timeouts"))
  if (total(scen, srv, "malformed") + total(scen, srv, "dups") > 0)
    s = s sprintf(" malformed/dup %d;",
                  total(scen, srv, "malformed") + total(scen, srv, "dups"))
  if (total(scen, srv, "skipped") > 0)
    s = s sprintf(" sends skipped %d;", total(scen, srv, "skipped"))
  if (total(scen, srv, "aborted") > 0)
    s = s " aborted;"
  sub(/;$/, "", s)
  return s == "" ? "none" : s
}
