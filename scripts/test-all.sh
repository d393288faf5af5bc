#!/usr/bin/env bash
# Command 2 of the README: runs every test of the workspace with every service the tests need.
#
# It installs what a fresh machine lacks (the Gremlin Server's jars through Maven, the CloudWatch
# emulator through pip, the Lambda runtime interface emulator through Go), starts the services
# bound to 127.0.0.1, runs `cargo test --workspace`, and stops what it started. A service that
# does not come up fails the run loudly: no test is skipped for want of a service.
#
# TLS: a second Gremlin Server serves wss:// on 127.0.0.1:${GREMLIN_TLS_PORT:-8192}, with a private
# CA and a certificate made afresh for the run by the JDK's keytool (scripts/gremlin-server.sh,
# GREMLIN_TLS=1), named to the tests by GREMLIN_TLS_URL and GREMLIN_TLS_CA_FILE. The tests of
# tls_connections and the Lambda handler's tunnel test (lambda_handler) use it, and the sink's
# contract tests (gremlin_sink_modes, gremlin_server_foundation) run a second time over it, with
# GREMLIN_URL set to it. The binaries' IAM test through a balancer (tls_connections) checks
# signatures in front of the plain server (GREMLIN_URL), which must be ws:// for that.
#
# JanusGraph: see below, before the package check.
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
    case "$svc" in
      "") ;;
      gremlin-server-tls) GREMLIN_PORT="$TLS_PORT" scripts/gremlin-server.sh stop || true ;;
      janusgraph-tests) JANUSGRAPH_PORT="$JANUS_PORT" scripts/janusgraph-server.sh stop || true ;;
      *) "scripts/$svc.sh" stop || true ;;
    esac
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

TLS_PORT="${GREMLIN_TLS_PORT:-8192}"
# The Gremlin Server over TLS, unless GREMLIN_TLS_URL names one (with GREMLIN_TLS_CA_FILE).
if [[ -z "${GREMLIN_TLS_URL:-}" ]]; then
  tls_started=$SECONDS
  if GREMLIN_TLS=1 GREMLIN_PORT="$TLS_PORT" scripts/gremlin-server.sh status >/dev/null 2>&1; then
    echo "test-all: the TLS Gremlin Server already runs on port $TLS_PORT, reusing it" >&2
  else
    GREMLIN_TLS=1 GREMLIN_PORT="$TLS_PORT" GREMLIN_HEAP="${GREMLIN_TLS_HEAP:-1g}" scripts/gremlin-server.sh start \
      || fail "the TLS Gremlin Server did not start on port $TLS_PORT (see .services/gremlin-server/server-$TLS_PORT.log)"
    STARTED+=(gremlin-server-tls)
  fi
  export GREMLIN_TLS_URL="wss://localhost:$TLS_PORT/gremlin"
  export GREMLIN_TLS_CA_FILE="$ROOT/.services/gremlin-server/tls-$TLS_PORT/ca.pem"
  [[ -s "$GREMLIN_TLS_CA_FILE" ]] || fail "the TLS Gremlin Server runs but its CA file $GREMLIN_TLS_CA_FILE is missing"
  echo "test-all: TLS Gremlin Server ready in $((SECONDS - tls_started)) s" >&2
fi
[[ -n "${GREMLIN_TLS_CA_FILE:-}" ]] || fail "GREMLIN_TLS_URL is set without GREMLIN_TLS_CA_FILE (the PEM file of its CA)"

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

# The sink's contract tests again, over wss:// with the run's private CA given as a file
# (`--workspace`, so that the build of the run above serves as it is).
if [[ $# -eq 0 ]]; then
  echo "test-all: running the sink's contract tests over $GREMLIN_TLS_URL" >&2
  wss_started=$SECONDS
  GREMLIN_URL="$GREMLIN_TLS_URL" GREMLIN_CA_FILE="$GREMLIN_TLS_CA_FILE" \
    cargo test --workspace --no-fail-fast --test gremlin_sink_modes --test gremlin_server_foundation \
    || status=$?
  echo "test-all: the contract tests over wss:// took $((SECONDS - wss_started)) s" >&2
fi

# The second graph engine: JanusGraph Server (in memory, string vertex ids, `|` as its relation
# delimiter so that ids may hold `-`) on 127.0.0.1:${JANUSGRAPH_TEST_PORT:-8193}, unless
# JANUSGRAPH_URL names one. The sink finds at connect that edge ids live in a property there.
# Run on it: the sink's identity tests, its contract tests in the modes it allows there
# (conditional and merge; plain mode is refused with property ids), and the change-stream tests.
# Left out on JanusGraph, as docs/janusgraph.md says: the graph-wide uniqueness of an edge id
# (an id is unique per from-vertex there). The change-stream model tests run there in full, from
# two writer processes too (the sink's locked claims, see neptune-batch's gremlin_sink/claims.rs).
JANUS_PORT="${JANUSGRAPH_TEST_PORT:-8193}"
if [[ $# -eq 0 ]]; then
  janus_started=$SECONDS
  if [[ -z "${JANUSGRAPH_URL:-}" ]]; then
    if JANUSGRAPH_PORT="$JANUS_PORT" scripts/janusgraph-server.sh status >/dev/null 2>&1; then
      echo "test-all: JanusGraph already runs on port $JANUS_PORT, reusing it" >&2
    else
      JANUSGRAPH_PORT="$JANUS_PORT" JANUSGRAPH_JAVA_OPTS="-DJANUSGRAPH_RELATION_DELIMITER=|" \
        scripts/janusgraph-server.sh start \
        || fail "JanusGraph did not start on port $JANUS_PORT (see .services/janusgraph/server-$JANUS_PORT.log)"
      STARTED+=(janusgraph-tests)
    fi
    JANUSGRAPH_URL="ws://127.0.0.1:$JANUS_PORT/gremlin"
  fi
  echo "test-all: running the sink's tests against JanusGraph at $JANUSGRAPH_URL" >&2
  GREMLIN_URL="$JANUSGRAPH_URL" cargo test --workspace --no-fail-fast \
    --test gremlin_sink_identity --test gremlin_sink_modes --test mutations_gremlin -- \
    --skip an_id_taken_by_another_edge_or_vertex_is_a_conflict_and_changes_nothing \
    || status=$?
  echo "test-all: JanusGraph (start and tests) took $((SECONDS - janus_started)) s" >&2
fi

# PACKAGE_CHECK=1: also the tests of the packaged crates, against the same services.
if [[ "${PACKAGE_CHECK:-0}" == 1 ]]; then
  echo "test-all: running scripts/package-check.sh" >&2
  scripts/package-check.sh || status=$?
fi
exit "$status"
