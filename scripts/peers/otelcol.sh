#!/usr/bin/env bash
# Builds an OpenTelemetry Collector with the Collector Builder (ocb) from scripts/peers/otelcol-builder.yaml
# and caches it under $CALSYNC_PEERS_DIR/otelcol (default ~/.cache/calsync-jobs/peers/otelcol).
#
#   scripts/peers/otelcol.sh install   build once; a second run finds the binary and returns at once
#   scripts/peers/otelcol.sh path      print the binary's path
#
# The cache key is the builder version plus a hash of the manifest: edit the manifest and the next
# install rebuilds. Go's module and build caches ($GOPATH, $GOCACHE) keep their defaults.
set -euo pipefail

BUILDER_VERSION=v0.165.0
REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
MANIFEST=$REPO_ROOT/scripts/peers/otelcol-builder.yaml
PEERS_DIR=${CALSYNC_PEERS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/calsync-jobs/peers}
DIR=$PEERS_DIR/otelcol
BIN=$DIR/otelcol
STAMP=$DIR/otelcol.version

key() { echo "$BUILDER_VERSION $(sha256sum "$MANIFEST" | cut -d' ' -f1)"; }
installed() { [[ -x $BIN && -f $STAMP && $(cat "$STAMP") == "$(key)" ]]; }

install() {
  installed && return 0
  command -v go >/dev/null 2>&1 || {
    echo "go is not installed: install Go 1.25+ (e.g. apt-get install golang-go, or the official tarball) to build the OpenTelemetry Collector" >&2
    exit 127
  }
  mkdir -p "$DIR"
  # One build at a time: test files that need the Collector in parallel wait here for the first one.
  exec 9>"$DIR/.lock"
  flock 9
  installed && return 0
  if [[ ! -x $DIR/builder || $("$DIR/builder" version 2>/dev/null) != *"${BUILDER_VERSION#v}"* ]]; then
    echo "installing the Collector Builder $BUILDER_VERSION" >&2
    GOBIN=$DIR go install "go.opentelemetry.io/collector/cmd/builder@$BUILDER_VERSION"
  fi
  WORK=$(mktemp -d "$DIR/build.XXXXXX")
  trap 'rm -rf "$WORK"' EXIT
  echo "building the OpenTelemetry Collector into $BIN (cold build takes minutes)" >&2
  (cd "$WORK" && "$DIR/builder" --config="$MANIFEST")
  mv -f "$WORK/otelcol-build/otelcol" "$BIN"
  key >"$STAMP"
}

case ${1:-} in
  install) install ;;
  path) echo "$BIN" ;;
  *)
    echo "usage: $0 install|path" >&2
    exit 2
    ;;
esac
