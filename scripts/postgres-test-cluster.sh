#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the store tests (Debian's `postgresql` package).
#
#   eval "$(scripts/postgres-test-cluster.sh start)"   # prints the exports the tests read
#   scripts/postgres-test-cluster.sh stop "$ECGR1_TEST_POSTGRES_DIR"
#
# The cluster lives in a temporary folder, listens on 127.0.0.1 on a free port, trusts local
# connections (nothing outside the machine can reach it) and runs without fsync: the tests
# kill client processes, never the server. initdb and pg_ctl refuse to run as root, so as root
# they run as the `postgres` user the package creates. On failure it prints nothing to stdout
# and the PostgreSQL tests skip with a printed reason.
set -euo pipefail

pg_bin() {
    local dir
    dir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
    if [ -z "${dir}" ] || [ ! -x "${dir}/initdb" ]; then
        echo "postgres-test-cluster: no PostgreSQL server binaries under /usr/lib/postgresql" >&2
        return 1
    fi
    echo "${dir}"
}

as_pg() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

start() {
    local bin dir port
    bin="$(pg_bin)"
    dir="$(mktemp -d /tmp/ecgr1-pg.XXXXXX)"
    chmod 755 "${dir}"
    if [ "$(id -u)" -eq 0 ]; then chown postgres: "${dir}"; fi
    as_pg "${bin}/initdb" -D "${dir}/data" -U postgres -A trust -E UTF8 --no-sync >"${dir}/initdb.log" 2>&1 || {
        echo "postgres-test-cluster: initdb failed:" >&2; cat "${dir}/initdb.log" >&2; return 1; }
    for _ in $(seq 1 20); do
        port=$(( 20000 + RANDOM % 30000 ))
        if as_pg "${bin}/pg_ctl" -D "${dir}/data" -l "${dir}/server.log" -w -t 60 \
            -o "-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off -c max_connections=300" \
            start >/dev/null 2>&1; then
            echo "export ECGR1_TEST_POSTGRES_DIR=${dir}"
            echo "export ECGR1_TEST_POSTGRES_ADMIN_URL=postgres://postgres@127.0.0.1:${port}/postgres"
            echo "export ECGR1_TEST_POSTGRES_URL=postgres://ecgr1_test_ward@127.0.0.1:${port}/postgres"
            return 0
        fi
    done
    echo "postgres-test-cluster: the server did not start:" >&2
    cat "${dir}/server.log" >&2 || true
    return 1
}

stop() {
    local bin dir="${1:-}"
    [ -n "${dir}" ] && [ -d "${dir}/data" ] || return 0
    bin="$(pg_bin)"
    as_pg "${bin}/pg_ctl" -D "${dir}/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "${dir}"
}

case "${1:-}" in
    start) start ;;
    stop) stop "${2:-}" ;;
    *) echo "usage: $0 start | stop DIR" >&2; exit 2 ;;
esac
