#!/usr/bin/env bash
# The matcher at scale (issue 13), in callgrind instruction counts (machine load does not
# change them) and peak RSS, on catalogues of realistic vocabulary from the shared generator.
#
# Usage: benches/matcher_scale.sh [SEED...]        (default seeds: 1 2 3; needs valgrind)
#   GEN=path/to/gen_catalogue.py   the generator (default ../shared/bench/gen_catalogue.py)
#
# Per message: instructions inside Matcher::diagnose over the 601 labelled and held-out
# messages, built-in catalogue vs +5,000 and +20,000 generated entries.
# Start-up: all instructions of `medic diagnose 429` (process start to exit), and of
# `medic --version` for reference. Peak RSS: /usr/bin/time's maximum resident set size.
set -euo pipefail
cd "$(dirname "$0")/.."
GEN=${GEN:-../shared/bench/gen_catalogue.py}
if [[ ! -f $GEN ]]; then
  echo "generator not found: $GEN (set GEN=path/to/gen_catalogue.py)" >&2
  exit 2
fi
command -v valgrind >/dev/null || { echo "needs valgrind (apt-get install valgrind)" >&2; exit 2; }
seeds=("$@")
[[ ${#seeds[@]} -gt 0 ]] || seeds=(1 2 3)
cargo build --release --quiet
bin=target/release/medic
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat tests/data/labelled.jsonl tests/data/holdout.jsonl > "$work/msgs"
n=$(grep -c . "$work/msgs")

total() { # instructions of a whole run
  valgrind --tool=callgrind --callgrind-out-file="$work/cg" "$@" >/dev/null 2>&1 < /dev/null
  callgrind_annotate "$work/cg" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}'
}
per_message() { # instructions per message inside Matcher::diagnose
  valgrind --tool=callgrind --toggle-collect='*Matcher::diagnose*' --callgrind-out-file="$work/cg" \
    "$bin" diagnose --json --batch "$@" < "$work/msgs" > /dev/null 2>&1
  callgrind_annotate "$work/cg" 2>/dev/null | awk -v n="$n" '/PROGRAM TOTALS/ {gsub(",", "", $1); printf "%d", $1 / n}'
}
rss() { /usr/bin/time -f %M "$bin" diagnose 429 "$@" 2>&1 >/dev/null | tail -1; }

base=$(per_message)
echo "version: $(total "$bin" --version) instructions"
echo "built-in: $base instructions/message; start-up $(total "$bin" diagnose 429) instructions; peak RSS $(rss) KB"
for seed in "${seeds[@]}"; do
  for size in 5000 20000; do
    dir="$work/cat-$size-$seed"
    python3 "$GEN" "$size" "$dir" "$seed" knowledge > /dev/null
    pm=$(per_message --knowledge "$dir")
    line="+$size seed $seed: $pm instructions/message ($(awk -v a="$pm" -v b="$base" 'BEGIN {printf "%.2f", a / b}')x built-in)"
    if [[ $size == 5000 ]]; then
      line+="; start-up $(total "$bin" diagnose 429 --knowledge "$dir") instructions; peak RSS $(rss --knowledge "$dir") KB"
    fi
    echo "$line"
    rm -rf "$dir"
  done
done
