#!/usr/bin/env bash
# Instructions per diagnosed message, counted by callgrind: a figure that does not depend on
# what else the machine is doing (criterion's wall-clock figures do).
# Usage: benches/matcher_instructions.sh   (needs valgrind: apt-get install valgrind)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
msgs=$(mktemp)
out=$(mktemp)
trap 'rm -f "$msgs" "$out"' EXIT
cat tests/data/labelled.jsonl tests/data/holdout.jsonl > "$msgs"
n=$(grep -c . "$msgs")
valgrind --tool=callgrind --toggle-collect='*Matcher::diagnose*' --callgrind-out-file="$out" \
  target/release/medic diagnose --json --batch < "$msgs" > /dev/null 2>&1
total=$(callgrind_annotate "$out" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')
echo "messages: $n"
echo "instructions in Matcher::diagnose: $total"
echo "instructions per message: $((total / n))"
