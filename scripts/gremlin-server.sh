#!/usr/bin/env bash
# Starts, stops and checks a local Apache TinkerPop Gremlin Server (TinkerGraph), without Docker.
#
#   scripts/gremlin-server.sh start    resolve the jars with Maven (first time only), start, wait until it answers
#   scripts/gremlin-server.sh stop     stop the server this script started
#   scripts/gremlin-server.sh status   exit 0 if a server answers on the port
#   scripts/gremlin-server.sh resolve  only fetch the jars
#
# Environment: GREMLIN_PORT (default 8182), GREMLIN_HEAP (default 2g), GREMLIN_START_TIMEOUT
# (seconds, default 90), GREMLIN_JAVA_OPTS (more JVM options, e.g. -Xlog:gc for a collector
# log). The server binds 127.0.0.1 only. State lives in .services/gremlin-server.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SRC="$ROOT/services/gremlin-server"
STATE="$ROOT/.services/gremlin-server"
LIB="$STATE/lib"
PORT="${GREMLIN_PORT:-8182}"
HEAP="${GREMLIN_HEAP:-2g}"
TIMEOUT="${GREMLIN_START_TIMEOUT:-90}"
PIDFILE="$STATE/server-$PORT.pid"
LOG="$STATE/server-$PORT.log"

SERVICE=gremlin-server
# shellcheck source=lib/services.sh
source "$ROOT/scripts/lib/services.sh"

answers() { answers_websocket "http://127.0.0.1:$PORT/gremlin"; }

resolve() { resolve_jars "Gremlin Server jars" server; }

# After a failed bind the JVM stays up without serving: detect it and kill it.
check_log() {
  if bind_failed; then
    say "port $PORT is taken by another process; stopping the half-started JVM"
    terminate "$1" 5; rm -f "$PIDFILE"; exit 1
  fi
}

start() {
  if already_running; then return 0; fi
  resolve
  mkdir -p "$STATE/run/conf" "$STATE/run/scripts"
  # The server resolves paths in its yaml against its working directory.
  sed -e "s/^port: .*/port: $PORT/" "$SRC/conf/gremlin-server.yaml" > "$STATE/run/conf/gremlin-server-$PORT.yaml"
  cp "$SRC/conf/tinkergraph.properties" "$STATE/run/conf/"
  cp "$SRC/scripts/init.groovy" "$STATE/run/scripts/"
  say "starting on 127.0.0.1:$PORT (log: $LOG)"
  (
    cd "$STATE/run"
    # shellcheck disable=SC2086 # GREMLIN_JAVA_OPTS holds several options
    exec java -Xms256m -Xmx"$HEAP" -XX:+UseG1GC ${GREMLIN_JAVA_OPTS:-} \
      -Dorg.slf4j.simpleLogger.defaultLogLevel=info \
      -Dorg.slf4j.simpleLogger.showDateTime=true \
      -cp "$LIB/*" org.apache.tinkerpop.gremlin.server.GremlinServer "conf/gremlin-server-$PORT.yaml"
  ) >"$LOG" 2>&1 < /dev/null &
  local pid=$!
  await_ready "$pid" "$TIMEOUT" "ready on ws://127.0.0.1:$PORT/gremlin (pid $pid)" \
    "the server exited while starting"
}

stop() { stop_started 50; }

service_main resolve "$@"
