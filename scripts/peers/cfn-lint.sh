#!/usr/bin/env bash
# cfn-lint (the AWS CloudFormation linter, from PyPI) in a private Python venv, cached under
# $CALSYNC_PEERS_DIR/cfn-lint (default ~/.cache/calsync-jobs/peers/cfn-lint).
#
#   scripts/peers/cfn-lint.sh install   create the venv and pip-install the pinned cfn-lint (cached)
#   scripts/peers/cfn-lint.sh bin       print the path of the cfn-lint executable (after install)
#   scripts/peers/cfn-lint.sh python    print the path of the venv's python (after install)
#   scripts/peers/cfn-lint.sh run ARGS  install if needed, then run cfn-lint ARGS
#   scripts/peers/cfn-lint.sh to-json F install if needed, then print template F as JSON, parsed by
#                                       cfn-lint's own decoder (short tags such as !Sub become Fn::Sub)
#
# Environment: CALSYNC_PEERS_DIR (cache root), PYTHON (interpreter that builds the venv, default python3).
set -euo pipefail

CFN_LINT_VERSION="1.58.0"

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
peers_dir="${CALSYNC_PEERS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/calsync-jobs/peers}"
venv="$peers_dir/cfn-lint"
stamp="$venv/.installed-cfn-lint-$CFN_LINT_VERSION"
python="${PYTHON:-python3}"

log() { printf 'cfn-lint.sh: %s\n' "$*" >&2; }

install() {
  if [[ -f "$stamp" && -x "$venv/bin/cfn-lint" ]]; then
    return 0
  fi
  mkdir -p "$peers_dir"
  # Two test runs may install at once: serialise on a lock file when flock exists.
  if command -v flock >/dev/null 2>&1 && [[ -z "${CFN_LINT_LOCKED:-}" ]]; then
    CFN_LINT_LOCKED=1 exec flock "$peers_dir/.cfn-lint.lock" bash "$0" install
  fi
  if [[ -f "$stamp" && -x "$venv/bin/cfn-lint" ]]; then
    return 0
  fi
  if ! command -v "$python" >/dev/null 2>&1; then
    log "$python is not installed: install Python 3.9+ with the venv module (apt-get install python3-venv)"
    exit 127
  fi
  log "installing cfn-lint $CFN_LINT_VERSION into $venv"
  rm -rf "$venv"
  "$python" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "cfn-lint==$CFN_LINT_VERSION"
  "$venv/bin/cfn-lint" --version >&2
  touch "$stamp"
}

case "${1:-}" in
  install) install ;;
  bin) echo "$venv/bin/cfn-lint" ;;
  python) echo "$venv/bin/python" ;;
  run) shift; install; exec "$venv/bin/cfn-lint" "$@" ;;
  to-json)
    [[ $# -eq 2 ]] || { echo "usage: $0 to-json TEMPLATE" >&2; exit 2; }
    install
    exec "$venv/bin/python" - "$2" <<'PY'
import json, sys
from cfnlint.decode import decode
template, matches = decode(sys.argv[1])
if matches or template is None:
    for match in matches:
        print(match, file=sys.stderr)
    sys.exit(1)
json.dump(template, sys.stdout, indent=2)
print()
PY
    ;;
  *)
    echo "usage: $0 install | bin | python | run [cfn-lint args] | to-json TEMPLATE" >&2
    exit 2
    ;;
esac
