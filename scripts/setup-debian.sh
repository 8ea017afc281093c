#!/bin/sh
# Install what Coinage needs to build and test on Debian 12 (bookworm). Idempotent:
# each package is checked with `dpkg -s`; `apt-get update` + `apt-get install` run only
# for what is missing, so a second run changes nothing and prints one line.
# As root it installs; as another user it only checks (and fails, naming what is missing).
# Usage: sh scripts/setup-debian.sh      (also: make setup)
set -eu

export DEBIAN_FRONTEND=noninteractive

PACKAGES="build-essential pkg-config libwebsockets-dev libjansson-dev libsodium-dev libjwt-dev
libsqlite3-dev zlib1g-dev libcriterion-dev nodejs npm sqlite3 clang-format
chromium libpq-dev postgresql-15 postgresql-client-15"

# installed PKG: true if dpkg knows PKG as installed.
installed() {
    dpkg -s "$1" 2>/dev/null | grep -q '^Status: install ok installed$'
}

missing=""
count=0
for p in $PACKAGES; do
    count=$((count + 1))
    if installed "$p"; then
        continue
    fi
    # npm is also shipped inside the nodejs package of some distributions of Node
    # (e.g. NodeSource's, which "Provides: npm" and conflicts with Debian's npm package):
    # a working npm next to an installed nodejs counts, or apt would try to replace nodejs.
    if [ "$p" = npm ] && installed nodejs && command -v npm >/dev/null 2>&1; then
        continue
    fi
    missing="$missing $p"
done

if [ -z "$missing" ]; then
    echo "setup-debian: all $count packages already installed, nothing to do"
    exit 0
fi

echo "setup-debian: missing:$missing"
if [ "$(id -u)" -ne 0 ]; then
    echo "setup-debian: not root, cannot install; run as root: sh scripts/setup-debian.sh" >&2
    echo "  (or: apt-get update && apt-get install -y --no-install-recommends$missing)" >&2
    exit 1
fi

echo "setup-debian: apt-get update"
apt-get update -q
echo "setup-debian: apt-get install -y --no-install-recommends$missing"
# shellcheck disable=SC2086 # word splitting of the package list is intended
apt-get install -y -q --no-install-recommends $missing

# Verify: everything asked for must now be there.
still=""
for p in $missing; do
    installed "$p" || { [ "$p" = npm ] && command -v npm >/dev/null 2>&1; } || still="$still $p"
done
if [ -n "$still" ]; then
    echo "setup-debian: still missing after install:$still" >&2
    exit 1
fi
echo "setup-debian: installed:$missing"
