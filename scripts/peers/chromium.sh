#!/usr/bin/env bash
# Chromium for the console's browser tests (test/e2e/console.browser.test.ts), from Debian's package;
# playwright-core drives it and downloads no browser of its own.
#
#   chromium.sh install   apt-get install chromium when /usr/bin/chromium is missing (says what it does)
#   chromium.sh check     exit 0 when it is installed, else print what to run and exit 1
#
# Override the binary with CALSYNC_CHROMIUM (test/support/browser.ts reads it too).
set -euo pipefail

BIN="${CALSYNC_CHROMIUM:-/usr/bin/chromium}"

die() { echo "chromium.sh: $*" >&2; exit 1; }

installed() { [ -x "$BIN" ]; }

install() {
  if installed; then
    echo "chromium.sh: $BIN is installed ($("$BIN" --version 2>/dev/null || echo '?')); nothing to do"
    return 0
  fi
  [ "$(id -u)" -eq 0 ] || die "chromium is not installed and this is not root: run 'sudo apt-get install chromium'"
  command -v apt-get >/dev/null 2>&1 || die "chromium is not installed and apt-get is not available: install Chromium and set CALSYNC_CHROMIUM to its binary"
  echo "chromium.sh: apt-get update && apt-get install -y --no-install-recommends chromium"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
  installed || die "apt-get finished but $BIN is missing"
  echo "chromium.sh: installed $("$BIN" --version)"
}

case "${1:-}" in
  install) install ;;
  check) installed || die "chromium is not installed: apt-get install chromium (or $0 install)" ;;
  *) die "usage: $0 install|check" ;;
esac
