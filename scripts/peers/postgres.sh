#!/usr/bin/env bash
# PostgreSQL 15 binaries for the calendar tests, from Debian's package; no Docker.
#
#   postgres.sh install   apt-get install postgresql-15 when initdb/pg_ctl are missing (says what it does)
#   postgres.sh check     exit 0 when they are installed, else print what to run and exit 1
#
# The tests make a private cluster per test file (test/support/postgres.ts: initdb in a temporary folder
# owned by the postgres user, 127.0.0.1, a free port, fsync off, stopped with pg_ctl). Set
# CALSYNC_TEST_DATABASE_URL to use an existing server instead (a fresh database per test file).
# Override the binaries' folder with CALSYNC_PG_BIN.
set -euo pipefail

PG_BIN="${CALSYNC_PG_BIN:-/usr/lib/postgresql/15/bin}"

die() { echo "postgres.sh: $*" >&2; exit 1; }

installed() { [ -x "$PG_BIN/initdb" ] && [ -x "$PG_BIN/pg_ctl" ] && id -u postgres >/dev/null 2>&1; }

install() {
  if installed; then
    echo "postgres.sh: $PG_BIN/initdb is installed ($("$PG_BIN/postgres" --version)); nothing to do"
    return 0
  fi
  [ "$(id -u)" -eq 0 ] || die "postgres is not installed and this is not root: run 'sudo apt-get install postgresql-15'"
  echo "postgres.sh: apt-get update && apt-get install -y --no-install-recommends postgresql-15"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql-15 >/dev/null
  # The package creates and may start a default cluster where an init system runs; the tests never use it.
  if command -v pg_lsclusters >/dev/null 2>&1 && pg_lsclusters -h 2>/dev/null | grep -q online; then
    echo "postgres.sh: stopping the packaged cluster(s) (the tests run their own)"
    pg_lsclusters -h | awk '$4 == "online" { print $1, $2 }' | while read -r version cluster; do
      pg_ctlcluster "$version" "$cluster" stop || true
    done
  fi
  installed || die "apt-get finished but $PG_BIN/initdb is missing"
  echo "postgres.sh: installed $("$PG_BIN/postgres" --version)"
}

case "${1:-}" in
  install) install ;;
  check) installed || die "postgres is not installed: apt-get install postgresql-15 (or $0 install)" ;;
  *) die "usage: $0 install|check" ;;
esac
