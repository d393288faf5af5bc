#!/usr/bin/env bash
# Runs a fleet of Kinesis Client Library workers on this machine: each worker is one
# MultiLangDaemon JVM (software.amazon.kinesis:amazon-kinesis-client-multilang, resolved with
# Maven into .services/kcl/lib the first time) that holds shard leases in DynamoDB and starts one
# `kcl-record-processor` process per shard it holds.
#
#   scripts/kcl-fleet.sh resolve          fetch the daemon's jars (first time only)
#   scripts/kcl-fleet.sh start N          start workers 1..N (each waits for nothing: leases come later)
#   scripts/kcl-fleet.sh start-worker I   start worker I
#   scripts/kcl-fleet.sh stop [I]         SIGTERM (graceful: processors checkpoint), then SIGKILL after 30 s
#   scripts/kcl-fleet.sh kill I           SIGKILL worker I and its processors at once (a crash)
#   scripts/kcl-fleet.sh status           list the workers this script started and whether they run
#   scripts/kcl-fleet.sh pid I            print worker I's daemon pid
#
# Environment (defaults in brackets):
#   KCL_STREAM                   the stream (required for start)
#   KCL_APPLICATION              the application name = the lease table's name [stream2neptune]
#   KINESIS_ENDPOINT_URL         Kinesis API endpoint; empty or `aws` for AWS itself
#                                (`cargo run -p stream2neptune-examples --bin local-kinesis` serves one)
#   DYNAMODB_ENDPOINT_URL        DynamoDB API endpoint; empty or `aws` for AWS itself
#                                (`cargo run -p stream2neptune-examples --bin local-dynamodb` serves one)
#   AWS_REGION                   [us-east-1]
#   KCL_PROCESSOR                the processor binary [target/release/kcl-record-processor]
#   KCL_METRICS_LEVEL            KCL's own metrics, NONE | SUMMARY | DETAILED [NONE]
#   KCL_FAILOVER_MS              lease expiry [10000, KCL's default]
#   KCL_ASSIGNMENT_INTERVAL_MS   the leader's lease assignment period [2 x failover, KCL's default]
#   KCL_WORKER_METRICS_REPORT_MS each worker's load report period [30000]
#   KCL_PARENT_POLL_MS           children's poll for their parents' end [10000]
#   KCL_SHARD_SYNC_MS            the leader's shard sync period [60000]
#   KCL_MAX_RECORDS              records per GetRecords [10000]
#   KCL_IDLE_BETWEEN_READS_MS    pause between GetRecords of a shard [1500]
#   KCL_SHUTDOWN_GRACE_MS        graceful shutdown budget [30000]
#   KCL_HEAP                     each daemon's maximum heap [384m]
#   KCL_FLEET_DIR                pid files, properties and logs [.services/kcl/fleet]
# Everything else in the environment (GREMLIN_URL, the processor's KCL_PROCESSOR_* settings)
# reaches the processors, which the daemons start with their own environment.
# With local endpoints and no AWS credentials in the environment, dummy ones are set (the
# emulators accept any). All endpoints the fleet serves or uses are on 127.0.0.1.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SRC="$ROOT/services/kcl"
LIB="$ROOT/.services/kcl/lib"
FLEET="${KCL_FLEET_DIR:-$ROOT/.services/kcl/fleet}"

SERVICE=kcl-fleet
# shellcheck source=lib/services.sh
source "$ROOT/scripts/lib/services.sh"

resolve() { resolve_jars "the KCL MultiLangDaemon" daemon; }

local_endpoint() { [[ -n "${1:-}" && "$1" != "aws" ]]; }

properties() {
  local id=$1 failover="${KCL_FAILOVER_MS:-10000}"
  local kinesis_line="" dynamodb_line=""
  if local_endpoint "${KINESIS_ENDPOINT_URL:-}"; then kinesis_line="kinesisEndpoint = $KINESIS_ENDPOINT_URL"; fi
  if local_endpoint "${DYNAMODB_ENDPOINT_URL:-}"; then dynamodb_line="dynamoDBEndpoint = $DYNAMODB_ENDPOINT_URL"; fi
  sed -e "s|@KCL_STREAM@|${KCL_STREAM}|" \
      -e "s|@KCL_APPLICATION@|${KCL_APPLICATION:-stream2neptune}|" \
      -e "s|@KCL_WORKER_ID@|worker-$id|" \
      -e "s|@KCL_PROCESSOR@|${KCL_PROCESSOR:-$ROOT/target/release/kcl-record-processor}|" \
      -e "s|@AWS_REGION@|${AWS_REGION:-us-east-1}|" \
      -e "s|@KINESIS_ENDPOINT_LINE@|$kinesis_line|" \
      -e "s|@DYNAMODB_ENDPOINT_LINE@|$dynamodb_line|" \
      -e "s|@KCL_MAX_RECORDS@|${KCL_MAX_RECORDS:-10000}|" \
      -e "s|@KCL_IDLE_BETWEEN_READS_MS@|${KCL_IDLE_BETWEEN_READS_MS:-1500}|" \
      -e "s|@KCL_FAILOVER_MS@|$failover|" \
      -e "s|@KCL_ASSIGNMENT_INTERVAL_MS@|${KCL_ASSIGNMENT_INTERVAL_MS:-$((failover * 2))}|" \
      -e "s|@KCL_WORKER_METRICS_REPORT_MS@|${KCL_WORKER_METRICS_REPORT_MS:-30000}|" \
      -e "s|@KCL_PARENT_POLL_MS@|${KCL_PARENT_POLL_MS:-10000}|" \
      -e "s|@KCL_SHARD_SYNC_MS@|${KCL_SHARD_SYNC_MS:-60000}|" \
      -e "s|@KCL_METRICS_LEVEL@|${KCL_METRICS_LEVEL:-NONE}|" \
      -e "s|@KCL_SHUTDOWN_GRACE_MS@|${KCL_SHUTDOWN_GRACE_MS:-30000}|" \
      "$SRC/worker.properties.template"
}

start_worker() {
  local id=$1
  [[ -n "${KCL_STREAM:-}" ]] || { say "KCL_STREAM (the stream to read) is required"; exit 1; }
  resolve
  local processor="${KCL_PROCESSOR:-$ROOT/target/release/kcl-record-processor}"
  [[ -x "$processor" ]] || { say "no processor at $processor: build it with 'cargo build --release -p stream2neptune-examples --bin kcl-record-processor', or set KCL_PROCESSOR"; exit 1; }
  mkdir -p "$FLEET"
  local pidfile="$FLEET/worker-$id.pid" log="$FLEET/worker-$id.log" props="$FLEET/worker-$id.properties"
  if [[ -f "$pidfile" ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    say "worker $id already running (pid $(cat "$pidfile"))"; return 0
  fi
  properties "$id" > "$props"
  if local_endpoint "${KINESIS_ENDPOINT_URL:-}" || local_endpoint "${DYNAMODB_ENDPOINT_URL:-}"; then
    export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-local}" AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-local}"
  fi
  # A local Kinesis API is spoken to in JSON rather than the Java SDK's default CBOR: the
  # embedded emulator completes shard-end answers with the shard's children only in JSON.
  local sdk_opts=()
  if local_endpoint "${KINESIS_ENDPOINT_URL:-}"; then sdk_opts+=(-Daws.cborEnabled=false); fi
  # Its own process group (setsid), so that `kill` takes the daemon and its processors at once.
  KCL_WORKER_ID="worker-$id" setsid java -Xms64m -Xmx"${KCL_HEAP:-384m}" -XX:+UseSerialGC \
    -Daws.region="${AWS_REGION:-us-east-1}" "${sdk_opts[@]}" \
    -cp "$LIB/*" software.amazon.kinesis.multilang.MultiLangDaemon \
    --properties-file "$props" --log-configuration "$SRC/logback.xml" \
    >"$log" 2>&1 < /dev/null &
  echo $! > "$pidfile"
  say "worker $id started (pid $!, log $log)"
}

stop_worker() {
  local id=$1 pidfile="$FLEET/worker-$1.pid"
  [[ -f "$pidfile" ]] || { say "worker $id was not started by this script"; return 0; }
  local pid; pid=$(cat "$pidfile")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL -- "-$pid" 2>/dev/null || true
    say "worker $id stopped (pid $pid)"
  fi
  rm -f "$pidfile"
}

kill_worker() {
  local id=$1 pidfile="$FLEET/worker-$1.pid"
  [[ -f "$pidfile" ]] || { say "worker $id was not started by this script"; exit 1; }
  local pid; pid=$(cat "$pidfile")
  kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
  rm -f "$pidfile"
  say "worker $id killed with SIGKILL (process group $pid)"
}

workers() { ls "$FLEET"/worker-*.pid 2>/dev/null | sed -e 's/.*worker-//' -e 's/\.pid$//' | sort -n; }

case "${1:-}" in
  resolve) resolve ;;
  start)
    n="${2:?usage: $0 start N}"
    for i in $(seq 1 "$n"); do start_worker "$i"; done ;;
  start-worker) start_worker "${2:?usage: $0 start-worker I}" ;;
  stop)
    if [[ -n "${2:-}" ]]; then stop_worker "$2"; else for i in $(workers); do stop_worker "$i"; done; fi ;;
  kill) kill_worker "${2:?usage: $0 kill I}" ;;
  pid) cat "$FLEET/worker-${2:?usage: $0 pid I}.pid" ;;
  status)
    for i in $(workers); do
      pid=$(cat "$FLEET/worker-$i.pid")
      if kill -0 "$pid" 2>/dev/null; then say "worker $i running (pid $pid)"; else say "worker $i not running (pid $pid)"; fi
    done ;;
  *) echo "usage: $0 resolve|start N|start-worker I|stop [I]|kill I|status|pid I" >&2; exit 2 ;;
esac
