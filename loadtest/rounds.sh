#!/usr/bin/env bash
# Interleaved rounds, a fresh server instance per run (the method of
# BENCHMARKS.md): each server pinned to CPU 1 with one worker, wrk pinned
# to CPU 0 (loadtest/cpu_bench.sh: req/s and server CPU per request).
# Used for the floor comparisons and the file-size candidates of issue 12.
#
# usage: loadtest/rounds.sh ROUNDS SECS CONNS DEPTH TARGET...
#   TARGET: hello            target/release/hello, GET /plaintext
#           floor            target/release/floor --mode plaintext, GET /
#           server:FILE      target/release/percore-server (no access log), GET /FILE
#           floor-MODE:FILE  target/release/floor --mode MODE --file FILE (file-send, file-sendmsg, file-zc,
#                            file-splice, file-sendfile)
#           nginx:FILE       nginx (loadtest/peers/nginx.conf.in), GET /static/FILE
#           peer-NAME        loadtest/peers/target/release/peer-NAME (may, hyper,
#                            actix, ntex; loadtest/setup.sh --peers), GET /plaintext
#   FILEs are created under $ROOT (default /tmp/percore-rounds): 4k.bin,
#   16k.bin, 64k.bin, 256k.bin, 1m.bin, 2m.bin.
#   BIN=DIR uses the binaries in DIR instead of target/release.
# Prints one line per run: round, target, then cpu_bench.sh's figures.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
rounds=$1 secs=$2 conns=$3 depth=$4
shift 4
bin=${BIN:-$here/../target/release}
root=${ROOT:-/tmp/percore-rounds}
port=18190
mkdir -p "$root/static" "$root/nginx"
chmod 755 "$root" "$root/static"
for f in 4k:4 16k:16 64k:64 256k:256 1m:1024 2m:2048; do
    name=${f%%:*}.bin
    [ -f "$root/static/$name" ] || head -c $((${f##*:} * 1024)) /dev/urandom >"$root/static/$name"
done
chmod 644 "$root"/static/*.bin
printf '[log]\naccess_log = false\n' >"$root/percore.toml"
sed -e "s|@PORT@|$port|g" -e "s|@WORKERS@|1|g" -e "s|@ROOT@|$root/static|g" \
    -e "s|@PREFIX@|$root/nginx|g" "$here/peers/nginx.conf.in" >"$root/nginx/nginx.conf"

for round in $(seq "$rounds"); do
    for target in "$@"; do
        name=${target%%:*} file=${target#*:}
        case $name in
            hello) cmd=("$bin/hello" --listen 127.0.0.1:$port --workers 1) path=/plaintext ;;
            floor) cmd=("$bin/floor" --listen 127.0.0.1:$port) path=/ ;;
            server) cmd=("$bin/percore-server" --listen 127.0.0.1:$port --workers 1
                         --root "$root/static" --config "$root/percore.toml") path=/$file ;;
            floor-*) cmd=("$bin/floor" --listen 127.0.0.1:$port --mode "${name#floor-}"
                          --file "$root/static/$file") path=/ ;;
            peer-*) cmd=("$here/peers/target/release/$name" --listen 127.0.0.1:$port --workers 1)
                    path=/plaintext ;;
            nginx) cmd=(nginx -p "$root/nginx" -c "$root/nginx/nginx.conf"
                        -e "$root/nginx/error.log" -g 'daemon off;') path=/static/$file ;;
            *) echo "rounds.sh: unknown target $target" >&2; exit 2 ;;
        esac
        taskset -c 1 "${cmd[@]}" >/dev/null 2>&1 &
        pid=$!
        url=http://127.0.0.1:$port$path
        for _ in $(seq 100); do curl -s -o /dev/null "$url" && break; sleep 0.05; done
        echo "$round $target $("$here/cpu_bench.sh" "$pid" "$url" "$conns" "$secs" "$depth")"
        # The floor has no shutdown: a splice stuck in an io-wq worker
        # can hold SIGTERM's exit, so it is killed.
        case $name in floor*) kill -9 "$pid" ;; *) kill "$pid" ;; esac
        wait "$pid" 2>/dev/null || true
        for _ in $(seq 100); do ss -ltn | grep -q ":$port " || break; sleep 0.05; done
    done
done
