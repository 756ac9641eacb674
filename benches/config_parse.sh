#!/usr/bin/env bash
# Config parsing benchmark (not a test): `medic config check` on generated files of N endpoints
# (default 20,000 and 50,000), best wall time of RUNS runs each. Parsing used to count line
# numbers from the file start for every span (quadratic); it now uses a line index built once.
# Figures and how they were taken: docs/benchmarks.md.
#
#   benches/config_parse.sh                 # 20000 and 50000 endpoints, best of 3
#   SIZES="1000 100000" RUNS=5 benches/config_parse.sh
#   MEDIC_BIN=target/debug/medic ...        # another binary (default: release, built if missing)
set -euo pipefail
cd "$(dirname "$0")/.."

SIZES=${SIZES:-"20000 50000"}
RUNS=${RUNS:-3}
BIN=${MEDIC_BIN:-target/release/medic}
[ -x "$BIN" ] || cargo build --release --bin medic

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

for n in $SIZES; do
    file="$work/medic-$n.toml"
    python3 - "$n" >"$file" <<'PY'
import sys
n = int(sys.argv[1])
print('[alerts]\nremind_every = "1h"\n')
for i in range(n):
    print(f'[[endpoints]]\nname = "endpoint-{i}"\nurl = "https://api{i % 97}.example.com/v1/health?page={i}"\n'
          f'timeout = "5s"\ninterval = "60s"\nexpect_status = [200, "3xx"]\n'
          f'headers = {{ "X-Request-Source" = "medic" }}\nalerts = {{ failure_threshold = 3 }}\n')
PY
    best=""
    for _ in $(seq "$RUNS"); do
        start=$(date +%s.%N)
        "$BIN" --config "$file" config check >/dev/null
        end=$(date +%s.%N)
        t=$(echo "$end - $start" | bc)
        if [ -z "$best" ] || [ "$(echo "$t < $best" | bc)" = 1 ]; then best=$t; fi
    done
    printf '%6d endpoints, %5.1f MiB: best of %d runs %.3f s\n' "$n" \
        "$(echo "$(stat -c %s "$file") / 1048576" | bc -l)" "$RUNS" "$best"
done
