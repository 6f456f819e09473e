#!/usr/bin/env bash
# Measures one server with the method of BENCHMARKS.md: the server pinned to
# one core, wrk pinned to the other; prints req/s and server CPU per request
# (utime+stime of every thread of the server and of its child processes,
# such as nginx's workers, from /proc, over the run).
#
# usage: loadtest/cpu_bench.sh PID URL CONNECTIONS SECONDS [PIPELINE_DEPTH]
set -euo pipefail
pid=$1 url=$2 conns=$3 secs=$4 depth=${5:-1}
ticks=$(getconf CLK_TCK)
tree() { echo "$1"; for c in $(pgrep -P "$1"); do tree "$c"; done; }
cpu() { for p in $(tree "$pid"); do cat "/proc/$p/stat" 2>/dev/null; done | awk '{s += $14+$15} END {print s}'; }
script=()
if [ "$depth" -gt 1 ]; then script=(-s "$(dirname "$0")/pipeline.lua"); fi
before=$(cpu)
out=$(taskset -c 0 wrk -t1 -c"$conns" -d"${secs}s" --latency "${script[@]}" "$url" -- "$depth")
after=$(cpu)
reqs=$(echo "$out" | awk '/requests in/ {print $1}')
rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
errors=$(echo "$out" | grep -E "Non-2xx|Socket errors" || true)
us=$(awk -v a="$after" -v b="$before" -v t="$ticks" -v n="$reqs" 'BEGIN { printf "%.3f", (a-b)/t*1e6/n }')
p50=$(echo "$out" | awk '/ 50%/ {print $2}')
p99=$(echo "$out" | awk '/ 99%/ {print $2}')
echo "req/s=$rps requests=$reqs server_cpu_us_per_req=$us p50=$p50 p99=$p99 ${errors:+errors: $errors}"
