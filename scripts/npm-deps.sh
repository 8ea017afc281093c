#!/bin/sh
# Install the node test dependencies of a test folder (default tests/api: its package.json +
# package-lock.json) into its node_modules with `npm ci`, but only when node_modules is missing or the
# lockfile (or package.json) is newer than the last install. Otherwise prints one line and does nothing.
# Usage: sh scripts/npm-deps.sh [DIR]   (DIR defaults to tests/api; `make test-compat` passes
# tests/compat, which pins the npm ccxt package; `make test-analytics` passes tests/analytics)
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
dir="$root/${1:-tests/api}"
lock="$dir/package-lock.json"
# npm ci writes node_modules/.package-lock.json (npm >= 7): its mtime marks the last install.
stamp="$dir/node_modules/.package-lock.json"

if [ ! -f "$dir/package.json" ] || [ ! -f "$lock" ]; then
    echo "npm-deps: $dir/package.json or package-lock.json missing" >&2
    exit 1
fi

reason=""
if [ ! -d "$dir/node_modules" ]; then
    reason="node_modules missing"
elif [ ! -f "$stamp" ]; then
    reason="node_modules incomplete"
elif [ -n "$(find "$lock" "$dir/package.json" -newer "$stamp")" ]; then
    reason="package-lock.json or package.json newer than node_modules"
fi

if [ -z "$reason" ]; then
    echo "npm-deps: ${1:-tests/api}/node_modules up to date"
    exit 0
fi

if ! command -v npm >/dev/null 2>&1; then
    echo "npm-deps: npm not found; run: sh scripts/setup-debian.sh" >&2
    exit 1
fi

echo "npm-deps: $reason; npm ci in ${1:-tests/api}"
cd "$dir"
npm ci --no-audit --no-fund --ignore-scripts
# Mark the install time even if npm kept the old hidden lockfile's mtime.
touch "$stamp"
