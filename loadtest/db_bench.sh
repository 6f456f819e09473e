#!/usr/bin/env bash
# TechEmpower database endpoints against the local PostgreSQL
# (.ci/postgres.sh): examples/techempower, and each database peer that is
# built (loadtest/peers: peer-actix, peer-ntex), every server pinned to CPU 1 with one
# worker, wrk on CPU 0; rounds interleaved. Prints req/s, the server's CPU
# per request and PostgreSQL's (every postgres process, from /proc).
# usage: loadtest/db_bench.sh [SECONDS] [CONNECTIONS] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-5} conns=${2:-64} rounds=${3:-1}
cargo build --release -q -p percore-examples --bin techempower
ticks=$(getconf CLK_TCK)
cpu_of() { awk '{s += $14 + $15} END {print s + 0}' $(for p in "$@"; do echo "/proc/$p/stat"; done) 2>/dev/null; }
pg_pids() { pgrep -d ' ' -x postgres || pgrep -d ' ' -f 'postgres:'; }
declare -A pid port
taskset -c 1 target/release/techempower --workers 1 --listen 127.0.0.1:18611 2>/dev/null &
pid[percore]=$! port[percore]=18611
names=(percore)
port_of=(actix:18612 ntex:18613)
for entry in "${port_of[@]}"; do
  n=${entry%%:*} p=${entry##*:}
  if [ -x "loadtest/peers/target/release/peer-$n" ]; then
    taskset -c 1 "loadtest/peers/target/release/peer-$n" --workers 1 --listen "127.0.0.1:$p" >/dev/null 2>&1 &
    pid[$n]=$! port[$n]=$p
    names+=("$n")
  fi
done
trap 'for n in "${names[@]}"; do kill ${pid[$n]} 2>/dev/null; done' EXIT
until curl -sf "http://127.0.0.1:18611/cached-queries" >/dev/null; do sleep 0.2; done
for n in "${names[@]}"; do until curl -sf "http://127.0.0.1:${port[$n]}/db" >/dev/null; do sleep 0.2; done; done
for path in /db "/queries?queries=20" /fortunes "/updates?queries=20"; do
  for round in $(seq "$rounds"); do
    for n in "${names[@]}"; do
      url="http://127.0.0.1:${port[$n]}$path"
      taskset -c 0 wrk -t1 -c"$conns" -d1s "$url" >/dev/null # warm-up
      pgs=$(pg_pids)
      s0=$(cpu_of ${pid[$n]}); p0=$(cpu_of $pgs)
      out=$(taskset -c 0 wrk -t1 -c"$conns" -d"${secs}s" "$url")
      s1=$(cpu_of ${pid[$n]}); p1=$(cpu_of $pgs)
      reqs=$(echo "$out" | awk '/requests in/ {print $1}')
      rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
      errors=$(echo "$out" | grep -E "Non-2xx|Socket errors" || true)
      awk -v n="$n" -v p="$path" -v r="$rps" -v q="$reqs" -v s="$((s1 - s0))" -v g="$((p1 - p0))" -v t="$ticks" -v e="$errors" \
        'BEGIN { printf "%-8s %-22s req/s=%s server_us_per_req=%.1f postgres_us_per_req=%.1f %s\n", n, p, r, s/t*1e6/q, g/t*1e6/q, e }'
    done
  done
done
