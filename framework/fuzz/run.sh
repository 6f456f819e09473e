#!/usr/bin/env bash
# Runs every fuzz target (or those named) for MINUTES each, one after the
# other, after replaying the kept regressions. Corpora grow in corpus/<target>
# (not committed) from the committed seeds/<target>. One summary line per
# target goes to stdout and to results.txt: executions, seconds, corpus size,
# and "ok" or the crash file.
#
#   framework/fuzz/run.sh 10                  # all targets, 10 minutes each
#   framework/fuzz/run.sh 1 head_parser       # one target, one minute
set -euo pipefail
cd "$(dirname "$0")/.."   # framework/, where cargo fuzz looks for fuzz/
minutes=${1:?usage: run.sh MINUTES [TARGET...]}
shift
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <(cargo +nightly fuzz list)
fi
cargo +nightly fuzz build -O >/dev/null
mkdir -p fuzz/logs
for t in "${targets[@]}"; do
    for f in fuzz/regressions/"$t"/*; do
        [ -e "$f" ] || continue
        cargo +nightly fuzz run -O "$t" "$f" >/dev/null 2>&1 \
            || { echo "$t: regression $f fails"; exit 1; }
    done
    mkdir -p fuzz/corpus/"$t"
    log=fuzz/logs/$t.log
    status=ok
    cargo +nightly fuzz run -O "$t" fuzz/corpus/"$t" fuzz/seeds/"$t" -- \
        -max_total_time=$((minutes * 60)) -timeout=10 -print_final_stats=1 >"$log" 2>&1 \
        || status="CRASH: $(grep -o 'artifacts/[^ ]*' "$log" | head -1)"
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')
    secs=$(grep -o 'Done [0-9]* runs in [0-9]*' "$log" | awk '{print $5}' || true)
    corpus=$(ls fuzz/corpus/"$t" | wc -l)
    line="$(date -u +%F) $t: ${runs} executions in ${secs:-?} s, corpus ${corpus}, $status"
    echo "$line"
    echo "$line" >>fuzz/results.txt
done
