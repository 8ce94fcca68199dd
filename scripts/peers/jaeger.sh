#!/usr/bin/env bash
# Builds the Jaeger v2 binary (module github.com/jaegertracing/jaeger, package cmd/jaeger) from the Go
# module proxy and caches it under $CALSYNC_PEERS_DIR/jaeger (default ~/.cache/calsync-jobs/peers/jaeger).
#
#   scripts/peers/jaeger.sh install   build once; a second run finds the binary and returns at once
#   scripts/peers/jaeger.sh path      print the binary's path
#
# Jaeger's own go.mod has a `replace`, so `go install ...@version` refuses it: the binary is built in a
# scratch module that takes it as a tool dependency. Builds from modules have no UI assets (the UI says
# so); the HTTP query API (/api/services, /api/traces) works. Cold build: several minutes on 2 cores.
set -euo pipefail

JAEGER_VERSION=v1.76.0
MODULE=github.com/jaegertracing/jaeger
REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PEERS_DIR=${CALSYNC_PEERS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/calsync-jobs/peers}
DIR=$PEERS_DIR/jaeger
BIN=$DIR/jaeger
STAMP=$DIR/jaeger.version

installed() { [[ -x $BIN && -f $STAMP && $(cat "$STAMP") == "$JAEGER_VERSION" ]]; }

install() {
  installed && return 0
  command -v go >/dev/null 2>&1 || {
    echo "go is not installed: install Go 1.25+ (e.g. apt-get install golang-go, or the official tarball) to build Jaeger" >&2
    exit 127
  }
  mkdir -p "$DIR"
  # One build at a time: test files that start Jaeger in parallel wait here for the first one.
  exec 9>"$DIR/.lock"
  flock 9
  installed && return 0
  WORK=$(mktemp -d "$DIR/build.XXXXXX")
  trap 'rm -rf "$WORK"' EXIT
  echo "building Jaeger $JAEGER_VERSION into $BIN (cold build takes minutes)" >&2
  (
    cd "$WORK"
    go mod init calsync-peers/jaeger >/dev/null 2>&1
    go get -tool "$MODULE/cmd/jaeger@$JAEGER_VERSION"
    CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$WORK/jaeger" "$MODULE/cmd/jaeger"
  )
  mv -f "$WORK/jaeger" "$BIN"
  echo "$JAEGER_VERSION" >"$STAMP"
}

case ${1:-} in
  install) install ;;
  path) echo "$BIN" ;;
  *)
    echo "usage: $0 install|path" >&2
    exit 2
    ;;
esac
