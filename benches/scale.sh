#!/usr/bin/env bash
# Scale benchmark for scheduled checks (not a test): N endpoints on a 10 s interval against local
# HTTP servers on 127.0.0.1, run by `medic watch` for DURATION seconds after a warm-up.
# Reports medic's CPU % of one core, peak RSS, database growth extrapolated to a day (and the
# steady-state size under the retention period) and how late checks start (from medic's own
# once-a-minute scheduler log line). Figures and how they were taken: docs/alerts.md.
#
#   benches/scale.sh                      # 1000 endpoints, 10s, 180 s measured
#   N=200 DURATION=60 benches/scale.sh    # quicker
#   MEDIC_BIN=target/debug/medic ...      # another binary (default: release, built if missing)
set -euo pipefail
cd "$(dirname "$0")/.."

N=${N:-1000}
INTERVAL=${INTERVAL:-10s}
DURATION=${DURATION:-180}
WARMUP=${WARMUP:-30}
SERVERS=${SERVERS:-4}
BIN=${MEDIC_BIN:-target/release/medic}
[ -x "$BIN" ] || cargo build --release --bin medic

work=$(mktemp -d)
cleanup() {
    [ -n "${medic_pid:-}" ] && kill "$medic_pid" 2>/dev/null || true
    [ -n "${server_pid:-}" ] && kill "$server_pid" 2>/dev/null || true
}
trap cleanup EXIT

# Local endpoints: SERVERS threaded HTTP servers answering 200 with a small JSON body.
python3 benches/local_http.py "$SERVERS" >"$work/ports" &
server_pid=$!
for _ in $(seq 50); do [ "$(wc -l <"$work/ports")" -ge "$SERVERS" ] && break; sleep 0.1; done
mapfile -t ports <"$work/ports"

{
    printf '[alerts]\nretention = "7d"\n\n[checks]\nconcurrency = 64\n\n'
    for i in $(seq 0 $((N - 1))); do
        port=${ports[$((i % SERVERS))]}
        printf '[[endpoints]]\nname = "ep-%04d"\nurl = "http://127.0.0.1:%s/health/%d"\ninterval = "%s"\ntimeout = "5s"\n\n' \
            "$i" "$port" "$i" "$INTERVAL"
    done
} >"$work/medic.toml"

MEDIC_DB="$work/bench.db" RUST_LOG=warn,medic=info "$BIN" watch --config "$work/medic.toml" \
    >"$work/alerts.out" 2>"$work/medic.log" &
medic_pid=$!

cpu_ticks() { awk '{print $14 + $15}' "/proc/$medic_pid/stat"; }
rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$medic_pid/status"; }
db_bytes() { cat "$work"/bench.db "$work"/bench.db-wal 2>/dev/null | wc -c; }
count_checks() { python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('select count(*) from checks').fetchone()[0])" "$work/bench.db"; }

sleep "$WARMUP"
t0=$(date +%s.%N); c0=$(cpu_ticks); d0=$(db_bytes); n0=$(count_checks)
peak=0
end=$(( $(date +%s) + DURATION ))
while [ "$(date +%s)" -lt "$end" ]; do
    r=$(rss_kb); [ "$r" -gt "$peak" ] && peak=$r
    sleep 5
done
t1=$(date +%s.%N); c1=$(cpu_ticks); d1=$(db_bytes); n1=$(count_checks)
kill -TERM "$medic_pid"; wait "$medic_pid" || true; medic_pid=

hz=$(getconf CLK_TCK)
python3 - "$t0" "$t1" "$c0" "$c1" "$hz" "$d0" "$d1" "$n0" "$n1" "$peak" "$N" "$INTERVAL" "$work" <<'PY'
import re, sqlite3, sys
t0, t1, c0, c1, hz, d0, d1, n0, n1, peak = map(float, sys.argv[1:11])
n, interval, work = sys.argv[11], sys.argv[12], sys.argv[13]
secs = t1 - t0
db = sqlite3.connect(f"{work}/bench.db")
pages, page_size = db.execute("pragma page_count").fetchone()[0], db.execute("pragma page_size").fetchone()[0]
rows = db.execute("select count(*) from checks").fetchone()[0]
per_row = pages * page_size / max(rows, 1)
checks_per_day = (n1 - n0) / secs * 86400
print(f"endpoints            {n} every {interval}, measured {secs:.0f} s after warm-up")
print(f"checks               {int(n1 - n0)} ({(n1 - n0) / secs:.1f}/s)")
print(f"CPU                  {(c1 - c0) / hz / secs * 100:.2f} % of one core")
print(f"peak RSS             {peak / 1024:.1f} MB")
print(f"DB size              {pages * page_size / 1e6:.1f} MB for {rows} checks: {per_row:.0f} bytes per stored check")
print(f"DB growth            {checks_per_day * per_row / 1e6:.0f} MB/day ({checks_per_day / 1e6:.2f} M checks/day); file growth while measured {(d1 - d0) / secs * 86400 / 1e6:.0f} MB/day")
print(f"DB at retention (7d) {checks_per_day * 7 * per_row / 1e6:.0f} MB steady state (pruned hourly), then flat")
lines = [l for l in open(f"{work}/medic.log") if "scheduler:" in l]
for l in lines[-3:]:
    f = dict(re.findall(r"(\w+)=(\d+)", re.sub(r"\x1b\[[0-9;]*m", "", l)))
    print(f"start lateness       p50 {f.get('lateness_p50_ms')} ms, p99 {f.get('lateness_p99_ms')} ms, max {f.get('lateness_max_ms')} ms over {f.get('checks')} checks (one minute)")
alerts = [l for l in open(f"{work}/alerts.out") if l[:1].isdigit()]
print(f"alerts               {len(alerts)} (expected 0: every endpoint is up)")
PY
