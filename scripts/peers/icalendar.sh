#!/usr/bin/env bash
# Python's icalendar (an iCalendar parser independent of the project's ical.js, from PyPI) in a
# private venv: the calendar tests read what calsync-jobs writes with it.
#
#   icalendar.sh install   create the venv and pip-install the pinned icalendar (cached; later runs do nothing)
#   icalendar.sh python    print the path of the venv's python (after install)
#
# The venv goes to $CALSYNC_PEERS_DIR/icalendar (default ~/.cache/calsync-jobs/peers/icalendar). PYTHON picks
# the interpreter that builds the venv (default python3, 3.9+ with the venv module).
set -euo pipefail

ICALENDAR_VERSION="7.3.2"
peers_dir="${CALSYNC_PEERS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/calsync-jobs/peers}"
venv="$peers_dir/icalendar"
stamp="$venv/.installed-icalendar-$ICALENDAR_VERSION"
python="${PYTHON:-python3}"

log() { printf 'icalendar.sh: %s\n' "$*" >&2; }

install() {
  [[ -f "$stamp" && -x "$venv/bin/python" ]] && return 0
  mkdir -p "$peers_dir"
  # Two test runs may install at once: serialise on a lock file when flock exists.
  if command -v flock >/dev/null 2>&1 && [[ -z "${ICALENDAR_LOCKED:-}" ]]; then
    ICALENDAR_LOCKED=1 exec flock "$peers_dir/.icalendar.lock" bash "$0" install
  fi
  [[ -f "$stamp" && -x "$venv/bin/python" ]] && return 0
  command -v "$python" >/dev/null 2>&1 || { log "$python is not installed: apt-get install python3-venv"; exit 127; }
  log "installing icalendar $ICALENDAR_VERSION into $venv"
  rm -rf "$venv"
  "$python" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "icalendar==$ICALENDAR_VERSION"
  "$venv/bin/python" -c 'import icalendar; print("icalendar", icalendar.__version__)' >&2
  touch "$stamp"
}

case "${1:-}" in
  install) install ;;
  python) echo "$venv/bin/python" ;;
  *) echo "usage: $0 install|python" >&2; exit 2 ;;
esac
