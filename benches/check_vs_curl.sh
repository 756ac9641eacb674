#!/usr/bin/env bash
# Speed of `medic check`, measured against curl on the same local endpoint (127.0.0.1 only).
#
#   1. `medic check URL` vs `curl -s -o /dev/null URL`, RUNS runs each, interleaved; prints the
#      median wall time of each and the ratio (target ≤ 1.5×, goal 1.2×).
#   2. `medic check --all` over ENDPOINTS configured local endpoints: wall time and peak RSS.
#
# Usage: benches/check_vs_curl.sh [RUNS] [ENDPOINTS]
#   MEDIC=path/to/medic   binary to measure (default: target/release/medic if built, else debug)
# Needs: bash, python3 (the local server), curl, GNU time (/usr/bin/time).
set -euo pipefail

RUNS=${1:-200}
ENDPOINTS=${2:-1000}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
if [[ -z "${MEDIC:-}" ]]; then
  if [[ -x "$ROOT/target/release/medic" ]]; then MEDIC="$ROOT/target/release/medic"; else MEDIC="$ROOT/target/debug/medic"; fi
fi
[[ -x "$MEDIC" ]] || { echo "no medic binary at $MEDIC (cargo build --release)" >&2; exit 2; }

WORK=$(mktemp -d)
SERVER_PID=""
cleanup() { [[ -n "$SERVER_PID" ]] && kill "$SERVER_PID" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT

# A small threaded HTTP/1.1 server on 127.0.0.1, port chosen by the OS, JSON health answer.
cat > "$WORK/server.py" <<'PY'
import http.server, socketserver, sys
BODY = b'{"status":"ok"}'
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(BODY)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(BODY)
    def log_message(self, *a): pass
class S(http.server.ThreadingHTTPServer):
    request_queue_size = 1024
    daemon_threads = True
s = S(("127.0.0.1", 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()
PY
python3 "$WORK/server.py" > "$WORK/port" &
SERVER_PID=$!
for _ in $(seq 50); do [[ -s "$WORK/port" ]] && break; sleep 0.1; done
PORT=$(head -1 "$WORK/port")
URL="http://127.0.0.1:$PORT/health"
echo "medic: $MEDIC"
echo "endpoint: $URL"

now_ns() { date +%s%N; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

# Warm up both (page cache, first-run effects).
for _ in 1 2 3; do "$MEDIC" check "$URL" >/dev/null; curl -s -o /dev/null "$URL"; done
"$MEDIC" check "$URL" >/dev/null || { echo "medic check failed against the local server" >&2; exit 1; }

: > "$WORK/medic.ns"; : > "$WORK/curl.ns"
for _ in $(seq "$RUNS"); do
  t=$(now_ns); "$MEDIC" check "$URL" >/dev/null; echo $(( $(now_ns) - t )) >> "$WORK/medic.ns"
  t=$(now_ns); curl -s -o /dev/null "$URL"; echo $(( $(now_ns) - t )) >> "$WORK/curl.ns"
done
M=$(median < "$WORK/medic.ns"); C=$(median < "$WORK/curl.ns")
awk -v m="$M" -v c="$C" -v n="$RUNS" 'BEGIN {
  printf "check URL, %d runs: medic median %.2f ms, curl median %.2f ms, ratio %.2fx\n", n, m/1e6, c/1e6, m/c }'

# check --all over many endpoints on the same server.
{
  for i in $(seq "$ENDPOINTS"); do
    printf '[[endpoints]]\nname = "e%d"\nurl = "http://127.0.0.1:%d/e%d"\ntimeout = "10s"\n\n' "$i" "$PORT" "$i"
  done
} > "$WORK/medic.toml"
/usr/bin/time -f "%e %M" -o "$WORK/all.time" "$MEDIC" --config "$WORK/medic.toml" check --all >/dev/null || true
read -r WALL RSS < "$WORK/all.time"
echo "check --all, $ENDPOINTS endpoints (concurrency 32): wall ${WALL} s, peak RSS $((RSS / 1024)) MiB"
