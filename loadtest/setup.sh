#!/usr/bin/env bash
# Installs what the load-test harness needs, idempotently:
#   - wrk, nginx-light, h2o from Debian (apt-get update once, only if something is missing)
#   - oha via `cargo install oha --locked` (only if `oha` is not on PATH)
#   - with --peers: builds the benchmark peers (loadtest/peers, its own cargo workspace)
#
# Usage: loadtest/setup.sh [--peers]
# Runs as root, or through sudo when not root and sudo is available.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"

build_peers=0
for arg in "$@"; do
    case "$arg" in
        --peers) build_peers=1 ;;
        -h|--help) sed -n '2,9p' "${BASH_SOURCE[0]}"; exit 0 ;;
        *) echo "setup.sh: unknown argument: $arg" >&2; exit 2 ;;
    esac
done

say() { echo "setup.sh: $*"; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        say "need root (or sudo) for: $*" >&2
        return 1
    fi
}

# --- Debian packages -------------------------------------------------------
# package name -> a command it provides (nginx-light provides /usr/sbin/nginx)
declare -A provides=([wrk]=wrk [nginx-light]=nginx [h2o]=h2o)
missing=()
for pkg in wrk nginx-light h2o; do
    cmd="${provides[$pkg]}"
    # /usr/sbin is not always on a non-root PATH
    if command -v "$cmd" >/dev/null 2>&1 || [ -x "/usr/sbin/$cmd" ] || [ -x "/usr/bin/$cmd" ]; then
        say "$pkg: already installed ($(command -v "$cmd" 2>/dev/null || echo "/usr/sbin/$cmd"))"
    else
        missing+=("$pkg")
    fi
done
if [ "${#missing[@]}" -gt 0 ]; then
    say "installing from Debian: ${missing[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
    # the Debian packages enable and start system services; the harness runs its
    # own foreground instances, so stop the system ones if they got started.
    for svc in nginx h2o; do
        if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$svc" 2>/dev/null; then
            say "stopping the system $svc service (the harness starts its own)"
            as_root systemctl stop "$svc" || true
        elif [ -x "/etc/init.d/$svc" ] && command -v service >/dev/null 2>&1 \
            && service "$svc" status >/dev/null 2>&1; then
            say "stopping the system $svc service (the harness starts its own)"
            as_root service "$svc" stop >/dev/null 2>&1 || true
        fi
    done
    say "installed: ${missing[*]}"
fi

# --- oha -------------------------------------------------------------------
if command -v oha >/dev/null 2>&1; then
    say "oha: already installed ($(command -v oha), $(oha --version 2>/dev/null | head -n1))"
else
    if ! command -v cargo >/dev/null 2>&1; then
        say "cargo not found: cannot install oha" >&2
        exit 1
    fi
    say "oha: installing with 'cargo install oha --locked' (takes several minutes)"
    cargo install oha --locked
    say "oha: installed ($(command -v oha || echo "$HOME/.cargo/bin/oha"))"
fi

# --- peers -----------------------------------------------------------------
if [ "$build_peers" -eq 1 ]; then
    say "peers: cargo build --release --manifest-path loadtest/peers/Cargo.toml"
    (cd "$repo" && cargo build --release --manifest-path loadtest/peers/Cargo.toml)
    say "peers: built in $repo/loadtest/peers/target/release/ (peer-actix peer-hyper peer-may peer-ntex)"
else
    say "peers: not built (pass --peers to build them)"
fi
say "done"
