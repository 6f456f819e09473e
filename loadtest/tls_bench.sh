#!/usr/bin/env bash
# HTTPS side by side: percore (hello for /plaintext, percore-server for a
# 4 KiB file) against nginx, both with the same ECDSA P-256 certificate,
# TLS 1.2 and 1.3 with session tickets, one worker pinned to CPU 1; the
# client pinned to CPU 0. Interleaved rounds; prints one line per run.
#
# The clients offer only TLS_AES_128_GCM_SHA256 for TLS 1.3 (an OpenSSL
# config file in OPENSSL_CONF, which wrk and s_time read; the servers keep
# their defaults). Keep-alive load: wrk. New connections: `openssl s_time`
# (one connection at a time, one GET each, full handshakes then resumed
# ones) and the server's CPU per connection.
#
# usage: loadtest/tls_bench.sh [ROUNDS] [SECONDS]   (after cargo build --release)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3} secs=${2:-5}
bin=${BIN_DIR:-target/release}
tmp=$(mktemp -d)
chmod 755 "$tmp"
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$tmp"' EXIT

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
  -keyout "$tmp/key.pem" -out "$tmp/cert.pem" -days 2 -subj /CN=localhost \
  -addext subjectAltName=DNS:localhost,IP:127.0.0.1 2>/dev/null
mkdir -p "$tmp/www"
head -c 4096 /dev/urandom >"$tmp/www/4k.bin"

cat >"$tmp/client.cnf" <<EOF
openssl_conf = default_conf
[default_conf]
ssl_conf = ssl_sect
[ssl_sect]
system_default = system_default_sect
[system_default_sect]
Ciphersuites = TLS_AES_128_GCM_SHA256
EOF

cat >"$tmp/percore.toml" <<EOF
[server]
workers = 1
[log]
access_log = false
[files]
root = "$tmp/www"
[tls]
cert = "$tmp/cert.pem"
key = "$tmp/key.pem"
EOF

# nginx: the harness's tuned config, its listener speaking TLS.
sed -e "s|@PORT@|9443|g" -e "s|@WORKERS@|1|g" -e "s|@ROOT@|$tmp/www|g" \
  -e "s|@PREFIX@|$tmp|g" loadtest/peers/nginx.conf.in |
  sed -e "s|default_server reuseport backlog=4096;|ssl default_server reuseport backlog=4096;\n        ssl_certificate $tmp/cert.pem;\n        ssl_certificate_key $tmp/key.pem;\n        ssl_protocols TLSv1.2 TLSv1.3;\n        ssl_session_cache shared:SSL:10m;\n        ssl_session_tickets on;|" \
    >"$tmp/nginx.conf"

wait_port() { for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return; sleep 0.1; done; echo "port $1 never opened" >&2; exit 1; }

taskset -c 1 "$bin/hello" --workers 1 --listen 127.0.0.1:9444 --config "$tmp/percore.toml" 2>/dev/null &
hello=$!
taskset -c 1 "$bin/percore-server" --listen 127.0.0.1:9445 --config "$tmp/percore.toml" 2>/dev/null &
files=$!
taskset -c 1 nginx -p "$tmp" -c "$tmp/nginx.conf" -e "$tmp/error.log" -g 'daemon off;' &
wait_port 9443; wait_port 9444; wait_port 9445
nginx_worker=$(pgrep -P "$(cat "$tmp/nginx.pid")" | head -1)
export OPENSSL_CONF="$tmp/client.cnf"
for port in 9443 9444; do
  echo "127.0.0.1:$port: $(echo | openssl s_client -connect 127.0.0.1:$port 2>/dev/null | grep -m1 'Cipher is')"
done

ticks=$(getconf CLK_TCK)
cpu() { awk '{print $14+$15}' "/proc/$1/stat"; }

# s_time: connections made, and the server's CPU per connection.
handshakes() { # name pid label s_time-args...
  local who=$1 pid=$2 label=$3 before after out n
  shift 3
  before=$(cpu "$pid")
  out=$(taskset -c 0 openssl s_time "$@" -time "$secs" 2>&1 | grep "connections in" | head -1)
  after=$(cpu "$pid")
  n=$(echo "$out" | awk '{print $1}')
  awk -v a="$after" -v b="$before" -v t="$ticks" -v n="$n" -v s="$secs" -v who="$who" -v m="$label" \
    'BEGIN { printf "%-8s %-18s conns/s=%.0f server_cpu_us_per_conn=%.1f\n", who, m, n/s, (a-b)/t*1e6/n }'
}

# One GET of a 4 KiB file (the same bytes from both) per connection: TLS
# 1.3 full handshakes, then resumed ones (a resumed TLS 1.3 handshake still
# does ECDHE, psk_dhe_ke), and the same with TLS 1.2 (resumption by ticket).
new_conns() { # name pid port file-path
  local at="-connect 127.0.0.1:$3 -www $4"
  handshakes "$1" "$2" tls1.3-full $at -new -tls1_3
  handshakes "$1" "$2" tls1.3-resumed $at -reuse -tls1_3
  handshakes "$1" "$2" tls1.2-full $at -new -tls1_2
  handshakes "$1" "$2" tls1.2-resumed $at -reuse -tls1_2
}

for r in $(seq "$rounds"); do
  echo "# round $r"
  echo "nginx   plaintext   $(loadtest/cpu_bench.sh "$nginx_worker" https://127.0.0.1:9443/plaintext 64 "$secs")"
  echo "percore plaintext   $(loadtest/cpu_bench.sh "$hello" https://127.0.0.1:9444/plaintext 64 "$secs")"
  echo "nginx   4k-file     $(loadtest/cpu_bench.sh "$nginx_worker" https://127.0.0.1:9443/static/4k.bin 64 "$secs")"
  echo "percore 4k-file     $(loadtest/cpu_bench.sh "$files" https://127.0.0.1:9445/4k.bin 64 "$secs")"
  new_conns nginx "$nginx_worker" 9443 /static/4k.bin
  new_conns percore "$files" 9445 /4k.bin
done
