#!/usr/bin/env bash
# Before/after benchmark of two builds of percore in one run, rounds
# interleaved (the VM's noise moves between runs, so only figures from the
# same run are compared). Each build's hello and percore-server are run
# pinned to CPU 1 with one worker, wrk pinned to CPU 0 with one thread, as in
# BENCHMARKS.md; figures are the medians over the rounds.
#
# usage: loadtest/compare.sh OLD_RELEASE_DIR NEW_RELEASE_DIR [ROUNDS] [SECONDS]
#   (each dir holds `hello` and `percore-server`, e.g. target/release)
set -euo pipefail
cd "$(dirname "$0")/.."
old=$1 new=$2 rounds=${3:-3} secs=${4:-5}
port=18181
root=$(mktemp -d)
head -c 4096 /dev/urandom >"$root/4k.bin"
head -c 65536 /dev/urandom >"$root/64k.bin"
head -c 1048576 /dev/urandom >"$root/1m.bin"
conf=$root/server.toml
printf '[log]\naccess_log = false\n' >"$conf"
results=$(mktemp)
wait_port() { until (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; do sleep 0.05; done; }
bench() { # label build scenario url conns [depth]
  local line
  line=$(loadtest/cpu_bench.sh "$pid" "$3" "$4" "$secs" "${5:-1}")
  echo "$1 $2 $line" | tee -a "$results"
}
for round in $(seq "$rounds"); do
  for build in old new; do
    dir=${!build}
    taskset -c 1 "$dir/hello" --workers 1 --listen 127.0.0.1:$port 2>/dev/null &
    pid=$!; wait_port
    bench "$build" plaintext http://127.0.0.1:$port/plaintext 64
    bench "$build" pipelined16 http://127.0.0.1:$port/plaintext 256 16
    if [ "$round" = 1 ]; then
      echo "$build idle $(taskset -c 0 python3 loadtest/idle_memory.py $pid $port 10000)" | tee -a "$results"
    fi
    kill -TERM $pid; wait $pid || true
    taskset -c 1 "$dir/percore-server" --workers 1 --listen 127.0.0.1:$port --root "$root" --config "$conf" 2>/dev/null &
    pid=$!; wait_port
    bench "$build" static-4k http://127.0.0.1:$port/4k.bin 64
    bench "$build" static-64k http://127.0.0.1:$port/64k.bin 64
    bench "$build" static-1m http://127.0.0.1:$port/1m.bin 16
    kill -TERM $pid; wait $pid || true
  done
done
echo
echo "medians over $rounds rounds of ${secs} s (req/s, server CPU us per request):"
python3 - "$results" <<'PY'
import re, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    parts = line.split()
    if len(parts) < 3 or parts[1] == "idle":
        if len(parts) > 1 and parts[1] == "idle":
            print(line.strip())
        continue
    build, scen = parts[0], parts[1]
    rps = float(re.search(r"req/s=([\d.]+)", line).group(1))
    us = float(re.search(r"server_cpu_us_per_req=([\d.]+)", line).group(1))
    rows.setdefault(scen, {}).setdefault(build, []).append((rps, us))
print(f"| scenario | old req/s | old us/req | new req/s | new us/req |")
print(f"|---|---|---|---|---|")
for scen, builds in rows.items():
    cells = []
    for b in ("old", "new"):
        v = builds.get(b, [])
        cells += [f"{statistics.median(r for r, _ in v):,.0f}", f"{statistics.median(u for _, u in v):.2f}"] if v else ["-", "-"]
    print(f"| {scen} | " + " | ".join(cells) + " |")
PY
rm -rf "$root" "$results"
