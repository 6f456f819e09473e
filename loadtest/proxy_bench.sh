#!/usr/bin/env bash
# The proxy benchmark of the async issue: examples/proxy against nginx
# proxy_pass with an upstream keep-alive pool, both in front of the same
# `hello` upstream. The proxy under test is pinned to CPU 1 with one worker;
# the upstream and wrk share CPU 0, alike for both. Rounds are interleaved;
# each line gives req/s and the proxy's CPU per request.
# usage: loadtest/proxy_bench.sh [ROUNDS] [SECONDS]   (needs wrk and nginx)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3} secs=${2:-5}
up=18201 port=18202
cargo build --release -q -p percore-examples --bin hello --bin proxy
work=$(mktemp -d)
cat >"$work/nginx.conf" <<CONF
worker_processes 1;
pid $work/nginx.pid;
error_log $work/error.log warn;
events { use epoll; worker_connections 16384; accept_mutex off; }
http {
    access_log off;
    upstream hello { server 127.0.0.1:$up; keepalive 64; }
    server {
        listen 127.0.0.1:$port reuseport;
        keepalive_requests 100000;
        location / {
            proxy_pass http://hello;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
            proxy_buffering on;
        }
    }
}
CONF
wait_port() { until (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null; do sleep 0.05; done; }
taskset -c 0 target/release/hello --workers 1 --listen 127.0.0.1:$up 2>/dev/null &
hello=$!
wait_port $up
for round in $(seq "$rounds"); do
  taskset -c 1 target/release/proxy --workers 1 --listen 127.0.0.1:$port --upstream 127.0.0.1:$up 2>/dev/null &
  pid=$!; wait_port $port
  echo "percore-proxy $(loadtest/cpu_bench.sh $pid http://127.0.0.1:$port/plaintext 64 "$secs")"
  kill -TERM $pid; wait $pid || true
  taskset -c 1 nginx -p "$work" -c "$work/nginx.conf" -e "$work/error.log" -g 'daemon off;' &
  master=$!; wait_port $port
  worker=$(pgrep -P $master | head -1)
  echo "nginx-proxy   $(loadtest/cpu_bench.sh $worker http://127.0.0.1:$port/plaintext 64 "$secs")"
  kill -TERM $master; wait $master || true
done
kill -TERM $hello; wait $hello || true
rm -rf "$work"
