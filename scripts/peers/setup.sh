#!/usr/bin/env bash
# Installs every real peer the test suites start, once, cached under the user's cache folder
# (${CALSYNC_PEERS_DIR:-~/.cache/calsync-jobs/peers}): `npm test` runs this first, so a fresh clone
# needs only `npm ci && npm test`. Debian packages (Radicale, PostgreSQL, Chromium) need root for apt-get; as
# another user, or without the toolchains (java + mvn, go, python3), it stops with the exact command
# to run. A warm run takes well under a second. The two Go builds (Jaeger, the Collector; minutes
# when cold) run side by side.
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
export CALSYNC_PEERS_DIR="${CALSYNC_PEERS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/calsync-jobs/peers}"
mkdir -p "$CALSYNC_PEERS_DIR"
log="$CALSYNC_PEERS_DIR/setup.log"
: > "$log"

die() { echo "peers setup: $*" >&2; echo "peers setup: the log is $log" >&2; exit 1; }
need() { command -v "$1" >/dev/null 2>&1 || die "$1 is not installed: $2"; }

need java "apt-get install -y openjdk-17-jre-headless"
need mvn "apt-get install -y maven"
need go "install Go 1.25+ (apt-get install -y golang-go) and put go on PATH"
need python3 "apt-get install -y python3 python3-venv"

step() { # name, script: runs "script install", quietly unless it fails
  local name=$1 script=$2
  if ! bash "$here/$script" install >> "$log" 2>&1; then
    tail -20 "$log" >&2
    die "$name install failed (bash scripts/peers/$script install)"
  fi
}

step Radicale radicale.sh
step PostgreSQL postgres.sh
step ElasticMQ elasticmq.sh
step moto moto.sh
step cfn-lint cfn-lint.sh
step icalendar icalendar.sh
step Chromium chromium.sh
started=$(date +%s)
bash "$here/jaeger.sh" install > "$CALSYNC_PEERS_DIR/jaeger-build.log" 2>&1 & jaeger=$!
bash "$here/otelcol.sh" install > "$CALSYNC_PEERS_DIR/otelcol-build.log" 2>&1 & otelcol=$!
wait $jaeger || { tail -30 "$CALSYNC_PEERS_DIR/jaeger-build.log" >&2; die "Jaeger build failed (bash scripts/peers/jaeger.sh install)"; }
wait $otelcol || { tail -30 "$CALSYNC_PEERS_DIR/otelcol-build.log" >&2; die "Collector build failed (bash scripts/peers/otelcol.sh install)"; }
elapsed=$(( $(date +%s) - started ))
[ "$elapsed" -lt 5 ] || echo "peers setup: Jaeger and the Collector built in ${elapsed} s (cached in $CALSYNC_PEERS_DIR)"
echo "peers setup: ready in $CALSYNC_PEERS_DIR"
