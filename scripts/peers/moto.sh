#!/usr/bin/env bash
# moto (an AWS mock whose server mode speaks SQS, from PyPI) in a private Python venv, no Docker.
#
#   moto.sh install          create the venv and pip-install moto[server]==5.2.5 (cached; later runs do nothing)
#   moto.sh bin              print the path of the moto_server executable (after install)
#   moto.sh start --port P   run moto_server in the foreground on 127.0.0.1:P (exec: the PID is moto_server's)
#
# The venv goes to $CALSYNC_PEERS_DIR/moto (default ~/.cache/calsync-jobs/peers/moto). PYTHON picks the interpreter that builds the venv
# (default python3, 3.9+ with the venv module: apt-get install python3-venv).
set -euo pipefail

MOTO_VERSION="${MOTO_VERSION:-5.2.5}"
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PEERS_DIR="${CALSYNC_PEERS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/calsync-jobs/peers}"
VENV="$PEERS_DIR/moto"
STAMP="$VENV/.installed-moto-$MOTO_VERSION"
PYTHON="${PYTHON:-python3}"

die() { echo "moto.sh: $*" >&2; exit 1; }

installed() { [ -f "$STAMP" ] && [ -x "$VENV/bin/moto_server" ]; }

install() {
  installed && return 0
  mkdir -p "$PEERS_DIR"
  # Two test runs may install at once: serialise on a lock file when flock exists (not exec: start
  # goes on after install).
  if command -v flock >/dev/null 2>&1 && [ -z "${MOTO_LOCKED:-}" ]; then
    MOTO_LOCKED=1 flock "$PEERS_DIR/.moto.lock" bash "$0" install
    return
  fi
  installed && return 0
  command -v "$PYTHON" >/dev/null 2>&1 \
    || die "$PYTHON is not installed: install Python 3.9+ with the venv module (apt-get install python3-venv)"
  echo "moto.sh: installing moto[server] $MOTO_VERSION into $VENV" >&2
  # A venv's scripts name its own path in their #! line, so it is built where it lives; the stamp,
  # written last, marks it complete (a half-built venv is rebuilt).
  rm -rf "$VENV"
  "$PYTHON" -m venv "$VENV" || die "$PYTHON -m venv failed (apt-get install python3-venv)"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION" >&2 \
    || { rm -rf "$VENV"; die "pip could not install moto[server]==$MOTO_VERSION"; }
  [ -x "$VENV/bin/moto_server" ] || { rm -rf "$VENV"; die "pip finished but $VENV/bin/moto_server is missing"; }
  touch "$STAMP"
  echo "moto.sh: installed moto $("$VENV/bin/python" -c 'import moto; print(moto.__version__)')" >&2
}

start() {
  local port=""
  while [ $# -gt 0 ]; do
    case "$1" in
      --port) port="${2:-}"; shift 2 ;;
      *) die "unknown option $1 (start --port P)" ;;
    esac
  done
  [[ "$port" =~ ^[0-9]+$ ]] || die "start needs --port P"
  install
  exec "$VENV/bin/moto_server" -H 127.0.0.1 -p "$port"
}

case "${1:-}" in
  install) install ;;
  bin) echo "$VENV/bin/moto_server" ;;
  start) shift; start "$@" ;;
  *) die "usage: moto.sh install | bin | start --port P" ;;
esac
