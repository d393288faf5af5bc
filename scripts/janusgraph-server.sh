#!/usr/bin/env bash
# Starts, stops and checks a local JanusGraph Server, without Docker: a second real graph
# engine beside the TinkerPop Gremlin Server (scripts/gremlin-server.sh), on its own port.
#
#   scripts/janusgraph-server.sh start    resolve the jars with Maven (first time only), start, wait until it answers
#   scripts/janusgraph-server.sh stop     stop the server this script started on the port
#   scripts/janusgraph-server.sh status   exit 0 if a server answers on the port
#   scripts/janusgraph-server.sh resolve  only fetch the jars
#
# Environment: JANUSGRAPH_PORT (default 8183, so it runs beside the Gremlin Server on 8182),
# JANUSGRAPH_BACKEND (`inmemory`, the default: the graph lives in the heap and is gone at stop;
# or `berkeleyje`: an embedded BerkeleyDB JE under .services/janusgraph/berkeleyje, kept across
# restarts, where JanusGraph allocates the vertex ids because it cannot store string ids on that
# backend), JANUSGRAPH_HEAP (default 2g), JANUSGRAPH_START_TIMEOUT (seconds, default 120),
# JANUSGRAPH_JAVA_OPTS (more JVM options; default `-DJANUSGRAPH_RELATION_DELIMITER=|`, see
# below). The server binds 127.0.0.1 only. State lives in .services/janusgraph.
#
# The relation delimiter: JanusGraph joins the parts of an edge id with `-` and therefore refuses
# a caller's string id that contains `-` ("Custom string id contains reserved string (-)"). The
# follows schema's vertex and edge ids, the tombstone ids and most test ids contain `-`, so the
# server is started with `|` as the delimiter instead, a character no id of this project
# contains. Setting JANUSGRAPH_JAVA_OPTS replaces the default: keep the option in it
# (JANUSGRAPH_JAVA_OPTS='-DJANUSGRAPH_RELATION_DELIMITER=| -Xss4m'), choose another character,
# or set it empty to run with JanusGraph's own `-` (ids with `-` are then refused).
#
# Versions: JanusGraph 1.1.0 (janusgraph-server, -inmemory, -berkeleyje) on TinkerPop 3.7.3,
# all from Maven Central as pinned in services/janusgraph/pom.xml (every version resolved as
# asked; none had to be moved to a neighbouring one).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SRC="$ROOT/services/janusgraph"
STATE="$ROOT/.services/janusgraph"
LIB="$STATE/lib"
PORT="${JANUSGRAPH_PORT:-8183}"
BACKEND="${JANUSGRAPH_BACKEND:-inmemory}"
HEAP="${JANUSGRAPH_HEAP:-2g}"
TIMEOUT="${JANUSGRAPH_START_TIMEOUT:-120}"
# Unset: the relation delimiter `|` (see above). Set, even empty: as given.
JAVA_OPTS="${JANUSGRAPH_JAVA_OPTS-"-DJANUSGRAPH_RELATION_DELIMITER=|"}"
RUN="$STATE/run-$PORT"
PIDFILE="$STATE/server-$PORT.pid"
LOG="$STATE/server-$PORT.log"

SERVICE=janusgraph-server
LOG_LINES=40
# shellcheck source=lib/services.sh
source "$ROOT/scripts/lib/services.sh"

answers() { answers_websocket "http://127.0.0.1:$PORT/gremlin"; }

resolve() { resolve_jars "JanusGraph Server jars" server; }

check_log() {
  # After a failed bind the JVM stays up without serving: detect it and kill it.
  if bind_failed; then
    fail_start "$1" "port $PORT is taken by another process"
  fi
  # A graph that cannot be opened (a bad property, a BerkeleyDB directory locked by another
  # JVM) is only a warning to the server: it would come up and answer, without `graph` or
  # `g`. That is a failed start here.
  if grep -q -E "could not be instantiated|unable to start" "$LOG"; then
    fail_start "$1" "the graph or the server failed to start"
  fi
}

# The root cause often sits above the last 40 lines, under a long stack trace.
log_causes() {
  if grep -q '^Caused by' "$LOG"; then
    say "root causes:"; grep '^Caused by' "$LOG" | tail -n 3 >&2
  fi
}

start() {
  case "$BACKEND" in
    inmemory|berkeleyje) ;;
    *) say "JANUSGRAPH_BACKEND must be inmemory or berkeleyje, not '$BACKEND'"; exit 2 ;;
  esac
  if already_running; then return 0; fi
  resolve
  # One run directory per port, so two servers (say one per backend) do not share a config.
  mkdir -p "$RUN/conf" "$RUN/scripts"
  # The server resolves the paths in its yaml against its working directory.
  sed -e "s/^port: .*/port: $PORT/" "$SRC/conf/janusgraph-server.yaml" > "$RUN/conf/janusgraph-server.yaml"
  if [[ "$BACKEND" == berkeleyje ]]; then
    # An absolute path, so the data stays in one place whichever port the server runs on.
    mkdir -p "$STATE/berkeleyje"
    sed -e "s|^storage.directory=.*|storage.directory=$STATE/berkeleyje|" \
      "$SRC/conf/janusgraph-berkeleyje.properties" > "$RUN/conf/janusgraph-graph.properties"
  else
    cp "$SRC/conf/janusgraph-inmemory.properties" "$RUN/conf/janusgraph-graph.properties"
  fi
  cp "$SRC/scripts/init.groovy" "$RUN/scripts/"
  say "starting on 127.0.0.1:$PORT with the $BACKEND backend (log: $LOG)"
  # Emptied here, not by the background redirection: the checks below must never read the
  # previous run's log.
  : > "$LOG"
  (
    cd "$RUN"
    # shellcheck disable=SC2086 # JAVA_OPTS holds several options
    exec java -Xms256m -Xmx"$HEAP" -XX:+UseG1GC $JAVA_OPTS \
      -Dorg.slf4j.simpleLogger.defaultLogLevel=info \
      -Dorg.slf4j.simpleLogger.showDateTime=true \
      -cp "$LIB/*" org.janusgraph.graphdb.server.JanusGraphServer conf/janusgraph-server.yaml
  ) >>"$LOG" 2>&1 < /dev/null &
  local pid=$!
  await_ready "$pid" "$TIMEOUT" "ready on ws://127.0.0.1:$PORT/gremlin (pid $pid, $BACKEND)" \
    "the server exited while starting"
}

# SIGTERM lets the server close the graph (BerkeleyDB flushes its log and releases the
# directory lock); a JVM still there after 20 s is killed.
stop() { stop_started 100; }

service_main resolve "$@"
