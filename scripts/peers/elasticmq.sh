#!/usr/bin/env bash
# ElasticMQ (an SQS-compatible server) run natively from Maven Central, no Docker.
#
#   elasticmq.sh install                       resolve the server jars once (cached; later runs do nothing)
#   elasticmq.sh start --port P [--conf FILE]  run it in the foreground on 127.0.0.1:P (exec: the PID is java's)
#
# Jars go to $CALSYNC_PEERS_DIR/elasticmq/lib (default ~/.cache/calsync-jobs/peers/elasticmq/lib).
# Needs java (17+) and mvn: apt-get install openjdk-17-jre-headless maven
set -euo pipefail

ELASTICMQ_VERSION="${ELASTICMQ_VERSION:-1.7.1}"
DEPENDENCY_PLUGIN="org.apache.maven.plugins:maven-dependency-plugin:3.8.1"
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PEERS_DIR="${CALSYNC_PEERS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/calsync-jobs/peers}"
HOME_DIR="$PEERS_DIR/elasticmq"
LIB_DIR="$HOME_DIR/lib"
STAMP="$HOME_DIR/.installed-$ELASTICMQ_VERSION"

die() { echo "elasticmq.sh: $*" >&2; exit 1; }
need() { command -v "$1" >/dev/null 2>&1 || die "$1 is not installed: $2"; }

install() {
  [ -f "$STAMP" ] && [ -d "$LIB_DIR" ] && return 0
  need mvn "apt-get install maven"
  mkdir -p "$HOME_DIR"
  cat > "$HOME_DIR/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>calsync-jobs.peers</groupId>
  <artifactId>elasticmq-runtime</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.elasticmq</groupId>
      <artifactId>elasticmq-server_2.13</artifactId>
      <version>$ELASTICMQ_VERSION</version>
    </dependency>
  </dependencies>
</project>
POM
  rm -rf "$LIB_DIR.tmp"
  mvn -B -q -f "$HOME_DIR/pom.xml" "$DEPENDENCY_PLUGIN:copy-dependencies" \
    -DincludeScope=runtime -DoutputDirectory="$LIB_DIR.tmp" >&2 \
    || die "mvn could not resolve org.elasticmq:elasticmq-server_2.13:$ELASTICMQ_VERSION"
  rm -rf "$LIB_DIR" && mv "$LIB_DIR.tmp" "$LIB_DIR"
  rm -f "$HOME_DIR"/.installed-* && touch "$STAMP"
}

write_conf() { # $1 = port, $2 = file
  cat > "$2" <<CONF
include classpath("application.conf")

node-address {
  protocol = http
  host = "127.0.0.1"
  port = $1
  context-path = ""
}
generate-node-address = false

rest-sqs {
  enabled = true
  bind-port = $1
  bind-hostname = "127.0.0.1"
  sqs-limits = strict
}

rest-stats {
  enabled = false
  bind-port = 0
  bind-hostname = "127.0.0.1"
}

aws {
  region = us-east-1
  accountId = 000000000000
}

queues {
  calsync-jobs {
    defaultVisibilityTimeout = 30 seconds
    deadLettersQueue {
      name = "calsync-jobs-dlq"
      maxReceiveCount = 5
    }
  }
  calsync-jobs-dlq {}
}
CONF
}

start() {
  local port="" conf=""
  while [ $# -gt 0 ]; do
    case "$1" in
      --port) port="${2:-}"; shift 2 ;;
      --conf) conf="${2:-}"; shift 2 ;;
      *) die "unknown option $1 (start --port P [--conf FILE])" ;;
    esac
  done
  [[ "$port" =~ ^[0-9]+$ ]] || die "start needs --port P"
  need java "apt-get install openjdk-17-jre-headless"
  install
  if [ -z "$conf" ]; then
    mkdir -p "$HOME_DIR/run"
    find "$HOME_DIR/run" -name '*.conf' -mmin +60 -delete 2>/dev/null || true
    conf="$HOME_DIR/run/elasticmq-$port.conf"
    write_conf "$port" "$conf"
  fi
  exec java -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xms64m \
    -Dconfig.file="$conf" -cp "$LIB_DIR/*" org.elasticmq.server.Main
}

case "${1:-}" in
  install) install ;;
  start) shift; start "$@" ;;
  *) die "usage: elasticmq.sh install | start --port P [--conf FILE]" ;;
esac
