#!/usr/bin/env bash
# Radicale (CalDAV server) for the calendar tests, from Debian's package; no Docker.
#
#   radicale.sh install   apt-get install radicale when /usr/bin/radicale is missing (says what it does)
#   radicale.sh check     exit 0 when it is installed, else print what to run and exit 1
#
# The tests start their own servers (test/support/radicale.ts: temporary folder, config, 127.0.0.1, free
# port) with /usr/bin/radicale -C CONFIG. Override the binary with CALSYNC_RADICALE_BIN.
set -euo pipefail

BIN="${CALSYNC_RADICALE_BIN:-/usr/bin/radicale}"

die() { echo "radicale.sh: $*" >&2; exit 1; }

installed() { [ -x "$BIN" ]; }

install() {
  if installed; then
    echo "radicale.sh: $BIN is installed ($("$BIN" --version 2>/dev/null || echo '?')); nothing to do"
    return 0
  fi
  [ "$(id -u)" -eq 0 ] || die "radicale is not installed and this is not root: run 'sudo apt-get install radicale'"
  echo "radicale.sh: apt-get update && apt-get install -y --no-install-recommends radicale"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends radicale >/dev/null
  # The package may start its own service where an init system runs; the tests never use it.
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet radicale 2>/dev/null; then
    echo "radicale.sh: stopping and disabling the packaged radicale service"
    systemctl disable --now radicale >/dev/null 2>&1 || true
  fi
  installed || die "apt-get finished but $BIN is missing"
  echo "radicale.sh: installed $("$BIN" --version)"
}

case "${1:-}" in
  install) install ;;
  check) installed || die "radicale is not installed: apt-get install radicale (or $0 install)" ;;
  *) die "usage: $0 install|check" ;;
esac
