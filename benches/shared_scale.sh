#!/usr/bin/env bash
# Lease overhead and failover on Postgres (not a test): N endpoints on a 10 s interval against
# local HTTP servers on 127.0.0.1, shared by INSTANCES `medic watch` processes on one Postgres
# started here (initdb into a temp dir, on a free loopback port; as root through
# `runuser -u postgres`). Side by side, as the baseline, one `medic watch` on SQLite checks the
# same N endpoints. Reports each process's CPU % of one core over DURATION seconds after a
# warm-up; then SIGKILLs one instance and reports how long its endpoints went unchecked.
# Figures and how they were taken: docs/benchmarks.md.
#
#   benches/shared_scale.sh                        # 1000 endpoints, 3 instances, 120 s measured
#   N=300 DURATION=60 benches/shared_scale.sh      # quicker
#   MEDIC_LEASE_TTL=15s (default) sets the lease TTL of the instances.
set -euo pipefail
cd "$(dirname "$0")/.."

N=${N:-1000}
INSTANCES=${INSTANCES:-3}
INTERVAL=${INTERVAL:-10s}
DURATION=${DURATION:-120}
WARMUP=${WARMUP:-30}
SERVERS=${SERVERS:-4}
TTL=${MEDIC_LEASE_TTL:-15s}
BIN=${MEDIC_BIN:-target/release/medic}
[ -x "$BIN" ] || cargo build --release --bin medic
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
[ -x "$PGBIN/initdb" ] || { echo "needs Debian's postgresql package" >&2; exit 2; }

work=$(mktemp -d)
pids=()
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    as_pg "$PGBIN/pg_ctl" -D "$work/pg" -m immediate stop >/dev/null 2>&1 || true
}
trap cleanup EXIT
[ "$(id -u)" = 0 ] && chown postgres: "$work"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
as_pg "$PGBIN/initdb" -D "$work/pg" -A trust -U medic --no-sync >/dev/null
as_pg "$PGBIN/pg_ctl" -D "$work/pg" -l "$work/pg.log" -w \
    -o "-p $port -c listen_addresses=127.0.0.1 -k $work" start >/dev/null
as_pg "$PGBIN/psql" -h 127.0.0.1 -p "$port" -U medic -d postgres -qc 'CREATE DATABASE bench'
url="postgres://medic@127.0.0.1:$port/bench"

python3 benches/local_http.py "$SERVERS" >"$work/ports" &
pids+=($!)
for _ in $(seq 50); do [ "$(wc -l <"$work/ports")" -ge "$SERVERS" ] && break; sleep 0.1; done
mapfile -t ports <"$work/ports"
{
    printf '[alerts]\nretention = "7d"\n\n[checks]\nconcurrency = 64\n\n'
    for i in $(seq 0 $((N - 1))); do
        p=${ports[$((i % SERVERS))]}
        printf '[[endpoints]]\nname = "ep-%04d"\nurl = "http://127.0.0.1:%s/health/%d"\ninterval = "%s"\ntimeout = "5s"\n\n' \
            "$i" "$p" "$i" "$INTERVAL"
    done
} >"$work/medic.toml"

names=()
for i in $(seq 1 "$INSTANCES"); do
    MEDIC_DB="$url" MEDIC_LEASE_TTL="$TTL" RUST_LOG=warn "$BIN" watch --config "$work/medic.toml" \
        >"$work/alerts-$i.out" 2>"$work/medic-$i.log" &
    pids+=($!); names+=("postgres-$i")
done
MEDIC_DB="$work/baseline.db" RUST_LOG=warn "$BIN" watch --config "$work/medic.toml" \
    >"$work/alerts-sqlite.out" 2>"$work/medic-sqlite.log" &
pids+=($!); names+=("sqlite-baseline")
medic_pids=("${pids[@]:1}")

ticks() { for p in "${medic_pids[@]}"; do awk '{print $14 + $15}' "/proc/$p/stat"; done; }
sleep "$WARMUP"
t0=$(date +%s.%N); mapfile -t c0 < <(ticks)
sleep "$DURATION"
t1=$(date +%s.%N); mapfile -t c1 < <(ticks)
hz=$(getconf CLK_TCK)
echo "endpoints $N every $INTERVAL, $INSTANCES instances on Postgres (lease TTL $TTL), measured ${DURATION} s"
for i in "${!medic_pids[@]}"; do
    python3 -c "import sys; t0,t1,a,b,hz=map(float,sys.argv[1:6]); print(f'{sys.argv[6]:16} CPU {(b-a)/hz/(t1-t0)*100:.2f} % of one core')" \
        "$t0" "$t1" "${c0[$i]}" "${c1[$i]}" "$hz" "${names[$i]}"
done
psql_q() { as_pg "$PGBIN/psql" -h 127.0.0.1 -p "$port" -U medic -d bench -Atc "$1"; }
echo "leases per owner: $(psql_q "SELECT string_agg(n::text, ' ') FROM (SELECT count(*) n FROM endpoint_leases WHERE owner IS NOT NULL GROUP BY owner ORDER BY 1) x")"

# Failover: SIGKILL the first instance, wait two TTLs and an interval, then look at its
# endpoints: the gap between their last check before the kill and the first one after.
victim=${medic_pids[0]}
psql_q "CREATE TABLE victim AS SELECT endpoint FROM endpoint_leases WHERE owner LIKE '${victim}-%'" >/dev/null
killed_ms=$(psql_q "SELECT (extract(epoch from clock_timestamp()) * 1000)::bigint")
kill -KILL "$victim"
ttl_s=$(python3 -c "import re,sys; m=re.fullmatch(r'(\d+)s',sys.argv[1]); print(int(m.group(1)) if m else 15)" "$TTL")
sleep $(( 2 * ttl_s + 12 ))
psql_q "SELECT count(*) || ' endpoints of the killed instance; after the SIGKILL each was checked again within ' ||
               max(after - $killed_ms) || ' ms (p50 ' || percentile_disc(0.5) WITHIN GROUP (ORDER BY after - $killed_ms) ||
               ' ms); worst gap between two checks ' || max(after - before) || ' ms'
        FROM (SELECT e.name,
                     max(c.at) FILTER (WHERE c.at <= $killed_ms) AS before,
                     min(c.at) FILTER (WHERE c.at > $killed_ms) AS after
              FROM checks c JOIN endpoints e ON e.id = c.endpoint_id
              WHERE e.name IN (SELECT endpoint FROM victim) GROUP BY e.name) x"
echo "leases per owner after the kill: $(psql_q "SELECT string_agg(n::text, ' ') FROM (SELECT count(*) n FROM endpoint_leases WHERE owner IS NOT NULL GROUP BY owner ORDER BY 1) x")"
