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

say() { echo "gremlin-server: $*" >&2; }

answers() {
  # A TCP connect is not enough (a dying JVM can hold the port): the server must answer the
  # WebSocket upgrade on /gremlin.
  local code
  code=$(curl -s -o /dev/null -m 2 -w '%{http_code}' \
    -H 'Connection: Upgrade' -H 'Upgrade: websocket' -H 'Sec-WebSocket-Version: 13' \
    -H 'Sec-WebSocket-Key: c3RyZWFtLTItbmVwdHVuZQ==' "http://127.0.0.1:$PORT/gremlin" 2>/dev/null || true)
  [[ "$code" == "101" ]]
}

resolve() {
  if [[ -f "$LIB/.complete" ]]; then return 0; fi
  command -v mvn >/dev/null || { say "Maven (mvn) is required to fetch the server's jars"; exit 1; }
  command -v java >/dev/null || { say "Java 11+ is required to run the server"; exit 1; }
  say "resolving Gremlin Server jars with Maven into $LIB (first time only)"
  mkdir -p "$LIB"
  mvn -q -B -f "$SRC/pom.xml" dependency:copy-dependencies \
    -DoutputDirectory="$LIB" -DincludeScope=runtime -DoverWriteReleases=false >&2
  touch "$LIB/.complete"
}

start() {
  if answers; then say "already running on 127.0.0.1:$PORT"; return 0; fi
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
  echo "$pid" > "$PIDFILE"
  local waited=0
  while (( waited < TIMEOUT * 5 )); do
    if answers; then say "ready on ws://127.0.0.1:$PORT/gremlin (pid $pid)"; return 0; fi
    if ! kill -0 "$pid" 2>/dev/null; then
      say "the server exited while starting; last lines of $LOG:"; tail -n 30 "$LOG" >&2; exit 1
    fi
    # After a failed bind the JVM stays up without serving: detect it and kill it.
    if grep -q -E "Address already in use|BindException|Could not bind" "$LOG"; then
      say "port $PORT is taken by another process; stopping the half-started JVM"
      kill "$pid" 2>/dev/null || true; sleep 1; kill -9 "$pid" 2>/dev/null || true
      rm -f "$PIDFILE"; exit 1
    fi
    sleep 0.2; waited=$((waited + 1))
  done
  say "no answer on port $PORT after ${TIMEOUT}s; last lines of $LOG:"; tail -n 30 "$LOG" >&2
  kill "$pid" 2>/dev/null || true; sleep 1; kill -9 "$pid" 2>/dev/null || true
  rm -f "$PIDFILE"; exit 1
}

stop() {
  if [[ -f "$PIDFILE" ]]; then
    local pid; pid=$(cat "$PIDFILE")
    if kill -0 "$pid" 2>/dev/null; then
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
      kill -9 "$pid" 2>/dev/null || true
      say "stopped (pid $pid)"
    fi
    rm -f "$PIDFILE"
  else
    say "not started by this script on port $PORT"
  fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) if answers; then say "answering on 127.0.0.1:$PORT"; else say "not answering on 127.0.0.1:$PORT"; exit 1; fi ;;
  resolve) resolve ;;
  *) echo "usage: $0 start|stop|status|resolve" >&2; exit 2 ;;
esac
