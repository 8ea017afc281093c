#!/bin/sh
# A throw-away PostgreSQL 15 server for tests: initdb in a temporary directory, postgres
# listening only on a unix socket in that directory (no TCP), run as an unprivileged user
# (the `postgres` system user the Debian package creates when we are root; ourselves
# otherwise). Installs postgresql-15 with apt when it is missing and we are root.
#
# Usage:
#   sh scripts/pg-test-server.sh run CMD [ARG...]
#       start a server, run CMD with COINAGE_TEST_PG set to a libpq URI of its `postgres`
#       database (user `coinage`, a superuser), stop the server and delete the directory
#       (also when CMD fails or we are interrupted); exit with CMD's status.
#   sh scripts/pg-test-server.sh start DIR    start a server in DIR (must not exist); prints
#                                              the URI. For benchmarks and hand testing.
#   sh scripts/pg-test-server.sh stop DIR     stop it and delete DIR.
#   sh scripts/pg-test-server.sh crash DIR    stop it as a crash would (pg_ctl stop -m immediate:
#                                              every backend quits at once, no checkpoint); DIR kept.
#   sh scripts/pg-test-server.sh resume DIR   start it again on the same data (crash recovery).
# Environment: PG_PORT (default 5432; only names the socket file, nothing listens on TCP).
set -eu

PGBIN=/usr/lib/postgresql/15/bin
PORT=${PG_PORT:-5432}

need_pg() {
    [ -x "$PGBIN/initdb" ] && [ -x "$PGBIN/postgres" ] && return 0
    if [ "$(id -u)" -ne 0 ]; then
        echo "pg-test-server: $PGBIN missing; as root: apt-get install postgresql-15" >&2
        exit 1
    fi
    echo "pg-test-server: installing postgresql-15" >&2
    DEBIAN_FRONTEND=noninteractive apt-get update -q >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends postgresql-15 >&2
}

# as_user CMD...: run CMD as the server's user.
as_user() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

uri() {
    echo "postgresql:///postgres?host=$1&port=$PORT&user=coinage"
}

start() {
    dir=$1
    need_pg
    mkdir -p "$dir"
    if [ "$(id -u)" -eq 0 ]; then
        id postgres >/dev/null 2>&1 || useradd --system --home-dir /nonexistent \
            --shell /usr/sbin/nologin postgres
        chown postgres "$dir"
    fi
    chmod 700 "$dir"
    # trust auth is safe here: no TCP listener and the socket directory is mode 700
    as_user "$PGBIN/initdb" -D "$dir/data" -U coinage -A trust --no-sync -E UTF8 \
        --locale=C >"$dir/initdb.log" 2>&1 || {
        cat "$dir/initdb.log" >&2
        exit 1
    }
    echo "$PORT" >"$dir/port"
    launch "$dir"
    uri "$dir"
}

launch() {
    as_user "$PGBIN/pg_ctl" -D "$1/data" -l "$1/postgres.log" -w -t 60 \
        -o "-k $1 -p $PORT -c listen_addresses= -c max_connections=300 \
-c shared_buffers=64MB" start >/dev/null || {
        cat "$1/postgres.log" >&2
        exit 1
    }
}

stop() {
    dir=$1
    if [ -d "$dir/data" ]; then
        as_user "$PGBIN/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$dir"
}

case "${1:-}" in
run)
    shift
    [ $# -gt 0 ] || { echo "usage: $0 run CMD..." >&2; exit 2; }
    dir=$(mktemp -d /tmp/cg-pg.XXXXXX)
    rmdir "$dir"
    trap 'stop "$dir"' EXIT
    trap 'exit 130' INT TERM
    COINAGE_TEST_PG=$(start "$dir")
    export COINAGE_TEST_PG
    echo "pg-test-server: PostgreSQL $("$PGBIN/postgres" -V | awk '{print $3}') at $dir" >&2
    rc=0
    "$@" || rc=$?
    exit $rc
    ;;
start)
    [ $# -eq 2 ] || { echo "usage: $0 start DIR" >&2; exit 2; }
    [ ! -e "$2" ] || { echo "pg-test-server: $2 exists" >&2; exit 1; }
    start "$2"
    ;;
stop)
    [ $# -eq 2 ] || { echo "usage: $0 stop DIR" >&2; exit 2; }
    stop "$2"
    ;;
crash)
    [ $# -eq 2 ] || { echo "usage: $0 crash DIR" >&2; exit 2; }
    as_user "$PGBIN/pg_ctl" -D "$2/data" -m immediate -w stop >/dev/null
    ;;
resume)
    [ $# -eq 2 ] || { echo "usage: $0 resume DIR" >&2; exit 2; }
    PORT=$(cat "$2/port")
    launch "$2"
    ;;
*)
    sed -n '2,21p' "$0" >&2
    exit 2
    ;;
esac
