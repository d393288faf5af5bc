#!/usr/bin/env bash
# Command 2 of the README: runs every test of the workspace with every service the tests need.
#
# It installs what a fresh machine lacks (the Gremlin Server's jars through Maven, the CloudWatch
# emulator through pip, the Lambda runtime interface emulator through Go), starts the services
# bound to 127.0.0.1, runs `cargo test --workspace`, and stops what it started. A service that
# does not come up fails the run loudly: no test is skipped for want of a service.
#
# Extra arguments go to `cargo test` (e.g. `scripts/test-all.sh -p neptune-batch`).
# PACKAGE_CHECK=1 also runs scripts/package-check.sh with the same services.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

fail() { echo "test-all: $*" >&2; exit 1; }
for tool in cargo java mvn python3 curl; do
  command -v "$tool" >/dev/null || fail "'$tool' is required and not installed"
done

STARTED=()
cleanup() {
  local status=$?
  for svc in "${STARTED[@]:-}"; do
    [[ -n "$svc" ]] && "scripts/$svc.sh" stop || true
  done
  exit "$status"
}
trap cleanup EXIT

start_service() {
  local svc=$1
  if "scripts/$svc.sh" status >/dev/null 2>&1; then
    echo "test-all: $svc already running, reusing it" >&2
    return 0
  fi
  "scripts/$svc.sh" start || fail "$svc did not start (see its log under .services/)"
  STARTED+=("$svc")
}

# Unless the environment points the tests at other endpoints, start the local services, and
# name them to the tests (the packaged crates' tests find them only that way).
if [[ -z "${GREMLIN_URL:-}" ]]; then
  start_service gremlin-server
  export GREMLIN_URL="ws://127.0.0.1:${GREMLIN_PORT:-8182}/gremlin"
fi
if [[ -z "${CLOUDWATCH_ENDPOINT_URL:-}" ]]; then
  start_service cloudwatch-local
  export CLOUDWATCH_ENDPOINT_URL="http://127.0.0.1:${CLOUDWATCH_PORT:-4566}"
fi
# The Lambda function's test starts the emulator itself, with the function built by cargo.
if [[ -z "${LAMBDA_RIE:-}" ]]; then
  scripts/lambda-rie.sh install || fail "the Lambda runtime interface emulator could not be built"
fi

echo "test-all: running cargo test --workspace $*" >&2
status=0
cargo test --workspace --no-fail-fast "$@" || status=$?

# PACKAGE_CHECK=1: also the tests of the packaged crates, against the same services.
if [[ "${PACKAGE_CHECK:-0}" == 1 ]]; then
  echo "test-all: running scripts/package-check.sh" >&2
  scripts/package-check.sh || status=$?
fi
exit "$status"
