#!/usr/bin/env bash
# Starts, stops and checks a local JanusGraph Server, without Docker: a second real graph
# engine beside the TinkerPop Gremlin Server (scripts/gremlin-server.sh), on its own port.
#
#   scripts/janusgraph-server.sh start    resolve the jars with Maven (first time, again after the pom
#                                         changes), start, wait until it answers
#   scripts/janusgraph-server.sh stop     stop the server this script started on the port
#   scripts/janusgraph-server.sh status   exit 0 if a server answers on the port
#   scripts/janusgraph-server.sh resolve  only fetch the jars
#
# Environment: JANUSGRAPH_PORT (default 8183, so it runs beside the Gremlin Server on 8182),
# JANUSGRAPH_BACKEND (`inmemory`, the default: the graph lives in the heap and is gone at stop;
# or `berkeleyje`: an embedded BerkeleyDB JE under .services/janusgraph/berkeleyje, kept across
# restarts, where JanusGraph allocates the vertex ids because it cannot store string ids on that
# backend; or `cql`: Apache Cassandra, the node scripts/cassandra.sh runs, which must answer
# first on 127.0.0.1:CASSANDRA_PORT (default 9042), the graph kept in the keyspace
# JANUSGRAPH_KEYSPACE (default `janusgraph`) across restarts, with string vertex ids as on the
# in-memory graph: JanusGraph accepts them on CQL), JANUSGRAPH_HEAP (default 2g),
# JANUSGRAPH_START_TIMEOUT (seconds, default 120), JANUSGRAPH_JAVA_OPTS (more JVM options;
# default `-DJANUSGRAPH_RELATION_DELIMITER=|`, see below). The server binds 127.0.0.1 only.
# State lives in .services/janusgraph (Cassandra's in .services/cassandra).
#
# The relation delimiter: JanusGraph joins the parts of an edge id with `-` and therefore refuses
# a caller's string id that contains `-` ("Custom string id contains reserved string (-)"). The
# follows schema's vertex and edge ids, the tombstone ids and most test ids contain `-`, so the
# server is started with `|` as the delimiter instead, a character no id of this project
# contains. Setting JANUSGRAPH_JAVA_OPTS replaces the default: keep the option in it
# (JANUSGRAPH_JAVA_OPTS='-DJANUSGRAPH_RELATION_DELIMITER=| -Xss4m'), choose another character,
# or set it empty to run with JanusGraph's own `-` (ids with `-` are then refused).
#
# Versions: JanusGraph 1.1.0 (janusgraph-server, -inmemory, -berkeleyje, -cql with DataStax's
# java-driver-core 4.17.0) on TinkerPop 3.7.3, all from Maven Central as pinned in
# services/janusgraph/pom.xml (every version resolved as asked; none had to be moved to a
# neighbouring one). Adding -cql only added jars: no jar the other backends use changed version.
#
# The jars are fetched once per content of the pom: a marker named by the pom's hash records
# which pom the lib directory was filled from, so a directory filled before a backend was added
# gains that backend's jars (Maven copies only what is missing) at the next start.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SRC="$ROOT/services/janusgraph"
STATE="$ROOT/.services/janusgraph"
LIB="$STATE/lib"
PORT="${JANUSGRAPH_PORT:-8183}"
BACKEND="${JANUSGRAPH_BACKEND:-inmemory}"
CASSANDRA_PORT="${CASSANDRA_PORT:-9042}"
KEYSPACE="${JANUSGRAPH_KEYSPACE:-janusgraph}"
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

resolve() {
  local marker; marker="$LIB/.complete-$(sha256sum "$SRC/pom.xml" | cut -c1-16)"
  # A directory filled from another pom (or before the markers had the hash) is topped up.
  [[ -f "$marker" ]] || rm -f "$LIB/.complete"
  resolve_jars "JanusGraph Server jars" server
  touch "$marker"
}

# True when something accepts TCP connections on 127.0.0.1:CASSANDRA_PORT.
cassandra_listens() { timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$CASSANDRA_PORT" 2>/dev/null; }

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

start() {
  case "$BACKEND" in
    inmemory|berkeleyje|cql) ;;
    *) say "JANUSGRAPH_BACKEND must be inmemory, berkeleyje or cql, not '$BACKEND'"; exit 2 ;;
  esac
  [[ "$KEYSPACE" =~ ^[A-Za-z][A-Za-z0-9_]{0,47}$ ]] \
    || { say "JANUSGRAPH_KEYSPACE must be a Cassandra keyspace name (a letter, then letters, digits, _), not '$KEYSPACE'"; exit 2; }
  if already_running; then return 0; fi
  # Without Cassandra the graph would not open, after the driver's own retries; say why now.
  if [[ "$BACKEND" == cql ]] && ! cassandra_listens; then
    say "nothing answers on 127.0.0.1:$CASSANDRA_PORT for the cql backend; start Cassandra first (CASSANDRA_PORT=$CASSANDRA_PORT scripts/cassandra.sh start)"
    exit 1
  fi
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
  elif [[ "$BACKEND" == cql ]]; then
    sed -e "s/^storage.port=.*/storage.port=$CASSANDRA_PORT/" \
      -e "s/^storage.cql.keyspace=.*/storage.cql.keyspace=$KEYSPACE/" \
      "$SRC/conf/janusgraph-cql.properties" > "$RUN/conf/janusgraph-graph.properties"
  else
    cp "$SRC/conf/janusgraph-inmemory.properties" "$RUN/conf/janusgraph-graph.properties"
  fi
  cp "$SRC/scripts/init.groovy" "$RUN/scripts/"
  local where=""
  [[ "$BACKEND" == cql ]] && where=" (Cassandra 127.0.0.1:$CASSANDRA_PORT, keyspace $KEYSPACE)"
  say "starting on 127.0.0.1:$PORT with the $BACKEND backend$where (log: $LOG)"
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
