#!/bin/sh
# Run test files over and over to surface intermittent failures (`make test-soak`). Each run of each
# file is one `node --test` process; a failing run keeps its whole output in $SOAK_DIR/fail-*.log
# and a summary line per run goes to $SOAK_DIR/summary.txt. Not part of `make test`.
# Usage: sh scripts/soak.sh ROUNDS DIR FILE...     (DIR is tests/api, tests/compat, tests/web, ...)
# Environment: COINAGE_BIN (required by the suites), SOAK_DIR (default /tmp/cg-soak-<pid>),
#              SOAK_ARGS (extra node --test arguments, e.g. --test-concurrency=1).
set -eu

rounds=${1:?usage: soak.sh ROUNDS DIR FILE...}
dir=${2:?usage: soak.sh ROUNDS DIR FILE...}
shift 2
[ $# -gt 0 ] || { echo "usage: soak.sh ROUNDS DIR FILE..." >&2; exit 2; }
out=${SOAK_DIR:-/tmp/cg-soak-$$}
mkdir -p "$out"
fails=0
runs=0
i=1
while [ "$i" -le "$rounds" ]; do
    for f in "$@"; do
        runs=$((runs + 1))
        log="$out/run-$i-$(basename "$f").log"
        t0=$(date +%s)
        rc=0
        # shellcheck disable=SC2086 # SOAK_ARGS is a list of arguments
        (cd "$dir" && node --test ${SOAK_ARGS:-} "$f") >"$log" 2>&1 || rc=$?
        t=$(($(date +%s) - t0))
        if [ "$rc" -ne 0 ]; then
            fails=$((fails + 1))
            mv "$log" "$out/fail-$i-$(basename "$f").log"
            echo "round $i $f FAIL rc=$rc ${t}s load=$(cut -d' ' -f1 /proc/loadavg)" | tee -a "$out/summary.txt"
        else
            rm -f "$log"
            echo "round $i $f ok ${t}s load=$(cut -d' ' -f1 /proc/loadavg)" >>"$out/summary.txt"
        fi
    done
    i=$((i + 1))
done
echo "soak: $fails of $runs runs failed; logs in $out"
[ "$fails" -eq 0 ]
