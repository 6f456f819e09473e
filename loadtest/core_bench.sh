#!/usr/bin/env bash
# The core issue's benchmark, as recorded in BENCHMARKS.md: hello pinned to
# CPU 1 with one worker, wrk pinned to CPU 0 with one thread; plaintext with
# 64 connections, plaintext pipelined 16 deep with 256 connections, in the
# default mode and with --sqpoll; then idle keep-alive memory.
# usage: loadtest/core_bench.sh [SECONDS]   (needs wrk and python3)
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
port=18080
cargo build --release -q -p percore-examples
run() {
  local mode=$1; shift
  taskset -c 1 target/release/hello --workers 1 --listen 127.0.0.1:$port "$@" 2>/dev/null &
  local pid=$!
  until (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; do sleep 0.05; done
  for i in 1 2 3; do
    echo "$mode plaintext c=64:        $(loadtest/cpu_bench.sh $pid http://127.0.0.1:$port/plaintext 64 "$secs")"
    echo "$mode pipelined16 c=256:     $(loadtest/cpu_bench.sh $pid http://127.0.0.1:$port/plaintext 256 "$secs" 16)"
  done
  kill -TERM $pid; wait $pid
}
run default
run sqpoll --sqpoll
taskset -c 1 target/release/hello --workers 1 --listen 127.0.0.1:$port 2>/dev/null &
pid=$!
until (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; do sleep 0.05; done
echo "idle memory: $(taskset -c 0 python3 loadtest/idle_memory.py $pid $port 10000)"
kill -TERM $pid; wait $pid
