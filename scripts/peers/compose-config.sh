#!/usr/bin/env bash
# Builds scripts/peers/compose-config (a `docker compose config` stand-in on compose-go, the loader Docker
# Compose itself uses) and caches it under $CALSYNC_PEERS_DIR/compose-config. It needs no Docker engine
# and no compose plugin, which this machine and CI lack.
#
#   scripts/peers/compose-config.sh install          build once (cached by a hash of its sources)
#   scripts/peers/compose-config.sh path             print the binary's path
#   scripts/peers/compose-config.sh check [FILE...]  validate (default: <repo>/docker-compose.yml, all profiles)
set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SRC=$REPO_ROOT/scripts/peers/compose-config
PEERS_DIR=${CALSYNC_PEERS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/calsync-jobs/peers}
DIR=$PEERS_DIR/compose-config
BIN=$DIR/compose-config
STAMP=$DIR/compose-config.version

key() { cat "$SRC/go.mod" "$SRC/go.sum" "$SRC/main.go" | sha256sum | cut -d' ' -f1; }
installed() { [[ -x $BIN && -f $STAMP && $(cat "$STAMP") == "$(key)" ]]; }

install() {
  installed && return 0
  command -v go >/dev/null 2>&1 || {
    echo "go is not installed: install Go 1.24+ (e.g. apt-get install golang-go, or the official tarball) to build the compose checker" >&2
    exit 127
  }
  mkdir -p "$DIR"
  exec 9>"$DIR/.lock"
  flock 9
  installed && return 0
  (cd "$SRC" && CGO_ENABLED=0 go build -buildvcs=false -trimpath -o "$BIN.tmp" .)
  mv -f "$BIN.tmp" "$BIN"
  key >"$STAMP"
}

case ${1:-} in
  install) install ;;
  path) echo "$BIN" ;;
  check)
    install
    shift
    [[ $# -gt 0 ]] || set -- "$REPO_ROOT/docker-compose.yml"
    exec "$BIN" -profile '*' "$@"
    ;;
  *)
    echo "usage: $0 install|path|check [FILE...]" >&2
    exit 2
    ;;
esac
