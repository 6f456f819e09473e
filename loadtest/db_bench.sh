#!/usr/bin/env bash
# TechEmpower database endpoints of examples/techempower against the local
# PostgreSQL (.ci/postgres.sh): the server pinned to CPU 1 (one worker), wrk
# to CPU 0; prints req/s, the server's CPU per request and PostgreSQL's
# (every postgres process, from /proc) per request.
# usage: loadtest/db_bench.sh [SECONDS] [CONNECTIONS]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-5} conns=${2:-64} port=18611
cargo build --release -q -p percore-examples --bin techempower
ticks=$(getconf CLK_TCK)
cpu_of() { awk '{s += $14 + $15} END {print s + 0}' $(for p in "$@"; do echo "/proc/$p/stat"; done) 2>/dev/null; }
pg_pids() { pgrep -d ' ' -x postgres || pgrep -d ' ' -f 'postgres:' ; }
taskset -c 1 target/release/techempower --workers 1 --listen 127.0.0.1:$port 2>/dev/null &
server=$!
trap 'kill $server 2>/dev/null' EXIT
until curl -sf "http://127.0.0.1:$port/cached-queries" >/dev/null; do sleep 0.2; done
for path in /db "/queries?queries=20" /fortunes "/updates?queries=20"; do
  taskset -c 0 wrk -t1 -c"$conns" -d1s "http://127.0.0.1:$port$path" >/dev/null # warm-up
  pgs=$(pg_pids)
  s0=$(cpu_of $server); p0=$(cpu_of $pgs)
  out=$(taskset -c 0 wrk -t1 -c"$conns" -d"${secs}s" "http://127.0.0.1:$port$path")
  s1=$(cpu_of $server); p1=$(cpu_of $pgs)
  n=$(echo "$out" | awk '/requests in/ {print $1}')
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  errors=$(echo "$out" | grep -E "Non-2xx|Socket errors" || true)
  awk -v p="$path" -v r="$rps" -v n="$n" -v s="$((s1 - s0))" -v g="$((p1 - p0))" -v t="$ticks" -v e="$errors" \
    'BEGIN { printf "%-22s req/s=%s server_us_per_req=%.1f postgres_us_per_req=%.1f %s\n", p, r, s/t*1e6/n, g/t*1e6/n, e }'
done
