#!/bin/sh
# Recovery-time benchmark: build a store with FILLS historical fills and OPEN open orders through
# the real engine and store thread (bench/bench_recovery.c), then measure (1) store_recover() in
# process and (2) a whole `coinage serve` start on that store until GET /health answers and the
# book shows the open orders. Prints conditions and figures.
# Usage: sh bench/bench_recovery.sh [fills, default 1000000] [open, default 100000]
# With COINAGE_DB set to a postgres:// URI the store is that PostgreSQL database (it must be
# empty: `make bench-recovery-pg` starts a throw-away server); BENCH_PORT (default 18091) is the
# port of the measured `coinage serve`.
set -eu
cd "$(dirname "$0")/.."
fills=${1:-1000000}
open=${2:-100000}
port=${BENCH_PORT:-18091}
make -s build/coinage build/bench/bench_recovery >/dev/null
dir=$(mktemp -d /tmp/coinage-recovery-XXXXXX)
trap 'kill $pid 2>/dev/null || true; rm -rf "$dir"' EXIT INT TERM
pid=
echo "== coinage bench-recovery"
echo "commit:     $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
echo "date:       $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "cpu:        $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //') x $(nproc); load $(cut -d' ' -f1-3 /proc/loadavg)"
if [ -n "${COINAGE_DB:-}" ]; then
    echo "store:      PostgreSQL $(psql "$COINAGE_DB" -Atc 'SHOW server_version') (fsync=$(psql "$COINAGE_DB" -Atc 'SHOW fsync'), synchronous_commit=$(psql "$COINAGE_DB" -Atc 'SHOW synchronous_commit'), shared_buffers=$(psql "$COINAGE_DB" -Atc 'SHOW shared_buffers')) on $(df -P /tmp | awk 'NR==2{print $1}'), unix socket"
else
    echo "store:      SQLite WAL synchronous=FULL on $(df -P "$dir" | awk 'NR==2{print $1}')"
fi
build/coinage import --data-dir "$dir" >/dev/null 2>&1
build/bench/bench_recovery generate "$dir" "$fills" "$open"
if [ -n "${COINAGE_DB:-}" ]; then
    echo "size:       $(psql "$COINAGE_DB" -Atc 'SELECT pg_size_pretty(pg_database_size(current_database()))') (database, with the imported candle history)"
else
    echo "size:       $(du -sh "$dir" | cut -f1) (with the imported candle history)"
fi
build/bench/bench_recovery recover "$dir" 3
# a whole server start: process start -> recovery -> feed, API -> /health answers
t0=$(date +%s%N)
build/coinage serve --port $port --data-dir "$dir" --replay-speed 1 2>"$dir/server.log" &
pid=$!
until curl -sf http://127.0.0.1:$port/health >/dev/null 2>&1; do
    kill -0 $pid 2>/dev/null || { echo "server exited"; cat "$dir/server.log"; exit 1; }
    sleep 0.005
done
t1=$(date +%s%N)
until curl -s "http://127.0.0.1:$port/api/v1/markets/BTC-USDT/book?depth=1" | grep -q '"bids":\[\['; do
    sleep 0.005
done
t2=$(date +%s%N)
echo "serve:      coinage serve -> first GET /health 200 in $(( (t1 - t0) / 1000000 )) ms;" \
     "the restored bids on the public book in $(( (t2 - t0) / 1000000 )) ms"
grep 'store: recovered' "$dir/server.log" | sed 's/^.*info  /log:        /'
kill $pid; wait $pid 2>/dev/null || true; pid=
