#!/bin/sh
# End-to-end HTTP benchmark: a release coinage on loopback with a fresh SQLite store, driven by
# wrk on the same machine. Prints conditions and wrk's figures (throughput, latency percentiles).
#   - order entry: place + cancel limit orders with a valid JWT, each acknowledged only after
#     its engine batch is committed (group commit, SQLite WAL, synchronous=FULL);
#   - market data: GET ticker, book (depth 20) and candles (1h, 500 bars).
# Usage: sh bench/bench_http.sh [seconds per run, default 10] [connections, default 32]
#   BENCH_ORDER_CONNS (default "128 256"; "" for none): also run order entry at these concurrencies (group commit
#   batches grow with the number of requests in flight). Each run prints the server's CPU time
#   per request (utime + stime of the coinage process over the run / requests).
# Store: SQLite in a fresh data directory, or the PostgreSQL database named by COINAGE_DB
# (`make bench-http-pg` starts a throw-away server for it; the database should be empty).
set -eu
cd "$(dirname "$0")/.."
secs=${1:-10}
conns=${2:-32}
port=${BENCH_PORT:-18090}
bin=build/coinage
make -s build/coinage >/dev/null
command -v wrk >/dev/null || { echo "bench-http: wrk is not installed (apt-get install wrk)"; exit 1; }
dir=$(mktemp -d /tmp/coinage-bench-XXXXXX)
COINAGE_AUTH_RATE=1000 $bin serve --port $port --data-dir "$dir" --replay-speed 1 2>"$dir/server.log" &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$dir"' EXIT INT TERM
base=http://127.0.0.1:$port
i=0
until curl -sf $base/health >/dev/null 2>&1; do
    i=$((i + 1)); [ $i -gt 300 ] && { echo "server did not start"; cat "$dir/server.log"; exit 1; }
    sleep 0.1
done
curl -sf -XPOST $base/api/v1/auth/register -d '{"email":"bench@example.com","password":"loadtest-secret-77"}' >/dev/null
token=$(curl -sf -XPOST $base/api/v1/auth/login -d '{"email":"bench@example.com","password":"loadtest-secret-77"}' |
        sed 's/.*"access_token":"\([^"]*\)".*/\1/')
curl -sf -XPOST $base/api/v1/deposits -H "Authorization: Bearer $token" -H 'Idempotency-Key: bench-1' \
     -d '{"asset":"USDT","amount":"1000000"}' >/dev/null

echo "== coinage bench-http"
echo "commit:     $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
echo "date:       $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "cpu:        $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //') x $(nproc) (wrk and coinage share them)"
echo "loadavg:    $(cut -d" " -f1-3 /proc/loadavg) (before the runs)"
if [ -n "${COINAGE_DB:-}" ]; then
    store="PostgreSQL $(/usr/lib/postgresql/15/bin/postgres -V 2>/dev/null | awk '{print $3}') via COINAGE_DB (libpq, pipelined group commit, fsync=on, synchronous_commit=on)"
else
    store="SQLite WAL synchronous=FULL on $(df -P "$dir" | awk 'NR==2{print $1}')"
fi
echo "server:     build/coinage (-O2), 1 libwebsockets service thread, $store"
echo "load:       wrk -t2 -c$conns -d${secs}s --latency, loopback, replay running at 1x"
cpu_ticks() { awk '{print $14 + $15}' /proc/$pid/stat 2>/dev/null || echo 0; }
cpu_per_req() { # ticks before, ticks after, wrk output
    n=$(echo "$3" | awk '/requests in/{print $1}')
    echo "$1 $2 ${n:-0} $(getconf CLK_TCK)" |
        awk '{ if ($3 > 0) printf "  server CPU: %.0f us per request\n", ($2 - $1) / $4 * 1e6 / $3 }'
}
for path in "/api/v1/markets/BTC-USDT/ticker" "/api/v1/markets/BTC-USDT/book?depth=20" \
            "/api/v1/markets/BTC-USDT/candles?interval=1h&limit=500"; do
    echo
    echo "-- GET $path"
    t0=$(cpu_ticks)
    out=$(wrk -t2 -c"$conns" -d"${secs}s" --latency "$base$path")
    echo "$out" | grep -E 'Requests/sec|Latency|50%|75%|90%|99%|requests in|Non-2xx'
    cpu_per_req "$t0" "$(cpu_ticks)" "$out"
done
for c in $conns ${BENCH_ORDER_CONNS-128 256}; do
    echo
    echo "-- order entry, wrk -c$c: POST /api/v1/orders + DELETE /api/v1/orders/{id} (durable acks)"
    t0=$(cpu_ticks)
    out=$(COINAGE_TOKEN=$token wrk -t2 -c"$c" -d"${secs}s" --latency -s bench/http/orders.lua "$base")
    echo "$out" | grep -E 'Requests/sec|Latency|50%|75%|90%|99%|requests in|non-2xx|Non-2xx'
    cpu_per_req "$t0" "$(cpu_ticks)" "$out"
done
echo
echo "-- after the run"
$bin check --data-dir "$dir" | sed 's/^/  /'
