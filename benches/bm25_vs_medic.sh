#!/usr/bin/env bash
# medic's matcher against a BM25 baseline (issue 13): messages per second through
# `medic diagnose --json --batch` versus tantivy term queries over the same catalogue
# (`medic kb export`), both pinned to the same core, run alternately so machine noise hits
# both alike. The figure is the ratio medic ÷ BM25 of each pair.
#
# Usage: benches/bm25_vs_medic.sh [SEED]     (default seed 3; PAIRS=5 REPEAT=40)
#   GEN=path/to/gen_catalogue.py   the generator (default ../shared/bench/gen_catalogue.py)
#
# Messages: every labelled set in tests/data (problems and chit-chat alike), REPEAT times.
# medic's rate is taken over the batch minus a one-message run of the same catalogue, so its
# start-up (parsing and indexing a large catalogue) is not counted against it; the baseline
# times its query loop only (its index build is outside the clock as well).
set -euo pipefail
cd "$(dirname "$0")/.."
GEN=${GEN:-../shared/bench/gen_catalogue.py}
SEED=${1:-3}
PAIRS=${PAIRS:-5}
REPEAT=${REPEAT:-40}
CORE=${CORE:-0}
command -v taskset >/dev/null || { echo "needs taskset (util-linux)" >&2; exit 2; }
[[ -f $GEN ]] || { echo "generator not found: $GEN (set GEN=...)" >&2; exit 2; }

cargo build --release --quiet
CARGO_TARGET_DIR=target/bm25 cargo build --release --quiet --manifest-path benches/bm25/Cargo.toml
medic=target/release/medic
bm25=target/bm25/release/medic-bm25-baseline

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat tests/data/*.jsonl | grep . > "$work/msgs"
n=$(wc -l < "$work/msgs")
for _ in $(seq "$REPEAT"); do cat "$work/msgs"; done > "$work/batch"
total=$((n * REPEAT))
head -1 "$work/msgs" > "$work/one"

medic_seconds() { # wall seconds of one pinned batch run: input file, then catalogue flags
  local input=$1 start end
  shift
  start=$(date +%s.%N)
  taskset -c "$CORE" "$medic" "$@" diagnose --json --batch < "$input" > /dev/null
  end=$(date +%s.%N)
  awk -v a="$start" -v b="$end" 'BEGIN {printf "%.6f", b - a}'
}

compare() { # label, then medic's catalogue flags
  local label=$1
  shift
  "$medic" "$@" kb export --json > "$work/export.json"
  local entries
  entries=$(grep -o '"id":' "$work/export.json" | wc -l)
  local ratios=()
  for pair in $(seq "$PAIRS"); do
    local t_batch t_one medic_rate bm25_rate
    t_batch=$(medic_seconds "$work/batch" "$@")
    t_one=$(medic_seconds "$work/one" "$@")
    medic_rate=$(awk -v t="$total" -v a="$t_batch" -v b="$t_one" 'BEGIN {printf "%.0f", t / (a - b)}')
    bm25_rate=$(taskset -c "$CORE" "$bm25" "$work/export.json" "$work/msgs" "$REPEAT" 2>/dev/null)
    ratios+=("$(awk -v a="$medic_rate" -v b="$bm25_rate" 'BEGIN {printf "%.1f", a / b}')")
    echo "  pair $pair: medic $medic_rate msgs/s, BM25 $bm25_rate msgs/s, ${ratios[-1]}x"
  done
  printf '%s (%s entries, %s messages): medic/BM25 = %s (median %s)\n' "$label" "$entries" "$total" \
    "${ratios[*]}" "$(printf '%s\n' "${ratios[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')"
}

compare "built-in"
python3 "$GEN" 5000 "$work/cat5k" "$SEED" knowledge > /dev/null
compare "+5,000 seed $SEED" --knowledge "$work/cat5k"
