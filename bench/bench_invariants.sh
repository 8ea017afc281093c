#!/bin/sh
# Does the ledger audit block the network thread? Build a store with FILLS fills and OPEN open
# orders (bench/bench_recovery.c, through the real engine and store thread), start `coinage serve`
# on it, then send GET /api/v1/admin/invariants (the full postings audit, seconds on a big store)
# while polling GET /health every 20 ms. Prints the audit's time and the /health latencies seen
# while it ran: with the audit on the admin worker, /health stays at loopback latency; on the
# network thread it waited for the whole audit.
# Usage: sh bench/bench_invariants.sh [fills, default 1000000] [open, default 100000] [binary]
# (another binary, e.g. an older build, to compare; GEN=path picks the store generator; STORE=dir
# keeps the generated store there, before the admin user is added, and reuses it on the next run)
set -eu
cd "$(dirname "$0")/.."
fills=${1:-1000000}
open=${2:-100000}
bin=${3:-build/coinage}
port=${BENCH_PORT:-18093}
gen=${GEN:-build/bench/bench_recovery}
if [ "$bin" = build/coinage ]; then make -s build/coinage >/dev/null; fi
if [ "$gen" = build/bench/bench_recovery ]; then make -s build/bench/bench_recovery >/dev/null; fi
dir=$(mktemp -d /tmp/coinage-invariants-XXXXXX)
trap 'kill $pid 2>/dev/null || true; rm -rf "$dir"' EXIT INT TERM
pid=
echo "== coinage bench-invariants"
echo "binary:     $bin ($(git rev-parse --short HEAD 2>/dev/null || echo unknown) tree)"
echo "date:       $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "cpu:        $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //') x $(nproc); load $(cut -d' ' -f1-3 /proc/loadavg)"
if [ -n "${STORE:-}" ] && [ -d "$STORE" ]; then
    cp -a "$STORE"/. "$dir"/ # a store generated before (same fills/open), to compare binaries
else
    "$bin" import --data-dir "$dir" >/dev/null 2>&1
    "$gen" generate "$dir" "$fills" "$open" >/dev/null
    if [ -n "${STORE:-}" ]; then mkdir -p "$STORE" && cp -a "$dir"/. "$STORE"/; fi
fi
"$bin" user add --admin --email bench@coinage.test --password 'Audit-pass-2026' \
    --data-dir "$dir" >/dev/null
echo "store:      $fills fills, $open open orders; $(du -sh "$dir" | cut -f1) SQLite WAL"
"$bin" serve --port "$port" --data-dir "$dir" --replay-speed 1 2>"$dir/server.log" &
pid=$!
until curl -sf "http://127.0.0.1:$port/health" >/dev/null 2>&1; do
    kill -0 $pid 2>/dev/null || { echo "server exited"; cat "$dir/server.log"; exit 1; }
    sleep 0.05
done
token=$(curl -s "http://127.0.0.1:$port/api/v1/auth/login" -H 'content-type: application/json' \
    -d '{"email":"bench@coinage.test","password":"Audit-pass-2026"}' |
    sed 's/.*"access_token":"\([^"]*\)".*/\1/')
curl -s -o "$dir/inv.json" -w '%{time_total}\n' -H "authorization: Bearer $token" \
    "http://127.0.0.1:$port/api/v1/admin/invariants" >"$dir/inv.time" &
inv=$!
: >"$dir/health.times"
while kill -0 $inv 2>/dev/null; do
    curl -s -o /dev/null -w '%{time_total}\n' "http://127.0.0.1:$port/health" >>"$dir/health.times"
    sleep 0.02
done
wait $inv
echo "audit:      $(cat "$dir/inv.json") in $(cat "$dir/inv.time") s"
sort -n "$dir/health.times" | awk '{ t[NR] = $1 } END {
    if (NR == 0) { print "health:     no request finished during the audit"; exit }
    printf "health:     %d GET /health during the audit: median %.1f ms, max %.1f ms\n",
        NR, t[int((NR + 1) / 2)] * 1000, t[NR] * 1000 }'
kill $pid
wait $pid 2>/dev/null || true
pid=
