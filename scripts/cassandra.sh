#!/usr/bin/env bash
# Starts, stops and checks a local single-node Apache Cassandra, without Docker: the store under
# JanusGraph's `cql` backend (JANUSGRAPH_BACKEND=cql scripts/janusgraph-server.sh start).
#
#   scripts/cassandra.sh start    resolve the jars with Maven (first time only), start, wait until CQL answers
#   scripts/cassandra.sh stop     stop the node this script started on the port
#   scripts/cassandra.sh status   exit 0 if a CQL server answers on the port
#   scripts/cassandra.sh resolve  only fetch the jars
#
# Environment: CASSANDRA_PORT (the CQL native transport port, default 9042), CASSANDRA_STORAGE_PORT
# (the inter-node port, unused by a single node but bound all the same, default 7000),
# CASSANDRA_HEAP (default 1g, -Xms and -Xmx both, as Cassandra wants), CASSANDRA_START_TIMEOUT
# (seconds, default 120), CASSANDRA_JAVA_OPTS (more JVM options). The node binds 127.0.0.1 only
# (listen, rpc and native transport addresses), has no authentication and opens no JMX port
# (so no nodetool; it is stopped by pid, with SIGTERM, which lets it flush and close its files).
# State lives in .services/cassandra: the jars in lib, the node's data (data, commit log,
# hints, saved caches) in data-PORT, kept across restarts; delete that directory for an empty
# node.
#
# Versions: Apache Cassandra 4.1.10 (org.apache.cassandra:cassandra-all, the newest 4.1 release
# on Maven Central; it resolved as asked) with the runtime jars its pom names, pinned in
# services/cassandra/pom.xml, configured by services/cassandra/cassandra.yaml and
# services/cassandra/logback.xml.
#
# Java 17: Cassandra 4.1 supports Java 8 and 11 only (Java 17 came with 5.0, and with it
# conf/jvm17-server.options), but runs on 17 with these JVM options, the fewest with which it
# starts and serves JanusGraph here (each was added after the start failed without it):
#   --add-exports java.base/jdk.internal.ref    FileUtils cleans direct buffers through
#   --add-opens   java.base/sun.nio.ch           jdk.internal.ref.Cleaner and DirectBuffer, and
#                                                reads FileChannelImpl.fd ("Cassandra is unable to
#                                                access required classes")
#   --add-opens   java.base/java.io, java.nio, java.lang, java.util, java.util.concurrent,
#                 java.util.concurrent.atomic    jamm's MemoryMeter.measureDeep reflects into
#                                                the fields of the JDK objects it sizes (streaming
#                                                state, prepared statements, ByteBuffer.hb)
#   -javaagent:jamm-0.3.2.jar                    without the agent jamm falls back to Unsafe, which
#                                                on 17 refuses lambdas (hidden classes: "can't
#                                                get field offset on a hidden class"), and the
#                                                startup check fails
# and -Dcassandra-foreground=yes, without which the daemon closes its stdout, which is the log.
# -Dcassandra.skip_wait_for_gossip_to_settle=0: a single node has no peers to wait for, which
# saves seconds of each start.
# CASSANDRA_JAVA_OPTS adds to these.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SRC="$ROOT/services/cassandra"
STATE="$ROOT/.services/cassandra"
LIB="$STATE/lib"
PORT="${CASSANDRA_PORT:-9042}"
STORAGE_PORT="${CASSANDRA_STORAGE_PORT:-7000}"
HEAP="${CASSANDRA_HEAP:-1g}"
TIMEOUT="${CASSANDRA_START_TIMEOUT:-120}"
DATA="$STATE/data-$PORT"
PIDFILE="$STATE/cassandra-$PORT.pid"
LOG="$STATE/cassandra-$PORT.log"

SERVICE=cassandra
LOG_LINES=40
# shellcheck source=lib/services.sh
source "$ROOT/scripts/lib/services.sh"

# True when a CQL server answers on the port: a protocol v4 OPTIONS request (header: version 4,
# flags 0, stream 0, opcode 5, body length 0) must get a response frame (version byte 0x84)
# with opcode SUPPORTED (6). A TCP connect is not enough: the port opens before the node serves.
answers() {
  local reply
  reply=$(timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$PORT || exit 1
    printf '\\x04\\x00\\x00\\x00\\x05\\x00\\x00\\x00\\x00' >&3
    head -c 5 <&3 | od -An -tx1" 2>/dev/null || true)
  [[ "$(echo $reply)" == "84 00 00 00 06" ]]
}

resolve() { resolve_jars "Cassandra jars" node; }

check_log() {
  if bind_failed || grep -q -E "is in use by another process|Failed to bind port" "$LOG"; then
    fail_start "$1" "port $PORT or $STORAGE_PORT is taken by another process"
  fi
  # The daemon logs a failed start and exits, but its shutdown can take a while: end it here.
  if grep -q -E "Exception encountered during startup|Fatal configuration error" "$LOG"; then
    fail_start "$1" "the node failed to start"
  fi
}

start() {
  if already_running; then return 0; fi
  resolve
  local jamm
  jamm=$(find "$LIB" -maxdepth 1 -name 'jamm-*.jar' | head -n 1)
  [[ -n "$jamm" ]] || { say "no jamm jar in $LIB (delete $LIB and start again)"; exit 1; }
  # The triggers directory only silences a warning at the first schema change.
  mkdir -p "$DATA" "$STATE/triggers"
  say "starting on 127.0.0.1:$PORT (storage port $STORAGE_PORT, data: $DATA, log: $LOG)"
  # Emptied here, not by the background redirection: the checks below must never read the
  # previous run's log.
  : > "$LOG"
  (
    cd "$STATE"
    # shellcheck disable=SC2086 # CASSANDRA_JAVA_OPTS holds several options
    exec java -Xms"$HEAP" -Xmx"$HEAP" -XX:+UseG1GC -XX:+ExitOnOutOfMemoryError \
      --add-exports java.base/jdk.internal.ref=ALL-UNNAMED \
      --add-opens java.base/sun.nio.ch=ALL-UNNAMED \
      --add-opens java.base/java.io=ALL-UNNAMED \
      --add-opens java.base/java.nio=ALL-UNNAMED \
      --add-opens java.base/java.lang=ALL-UNNAMED \
      --add-opens java.base/java.util=ALL-UNNAMED \
      --add-opens java.base/java.util.concurrent=ALL-UNNAMED \
      --add-opens java.base/java.util.concurrent.atomic=ALL-UNNAMED \
      -javaagent:"$jamm" \
      ${CASSANDRA_JAVA_OPTS:-} \
      -Dcassandra-foreground=yes \
      -Dcassandra.config="file://$SRC/cassandra.yaml" \
      -Dlogback.configurationFile="$SRC/logback.xml" \
      -Dcassandra.storagedir="$DATA" \
      -Dcassandra.native_transport_port="$PORT" \
      -Dcassandra.storage_port="$STORAGE_PORT" \
      -Dcassandra.triggers_dir="$STATE/triggers" \
      -Dcassandra.skip_wait_for_gossip_to_settle=0 \
      -cp "$LIB/*" org.apache.cassandra.service.CassandraDaemon
  ) >>"$LOG" 2>&1 < /dev/null &
  local pid=$!
  await_ready "$pid" "$TIMEOUT" "ready on 127.0.0.1:$PORT (CQL, pid $pid)" \
    "the node exited while starting"
}

# SIGTERM runs the daemon's shutdown hook (it stops serving, flushes and closes the commit log);
# a JVM still there after 30 s is killed.
stop() { stop_started 150; }

service_main resolve "$@"
