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
#
# GREMLIN_TLS=1 serves wss:// instead, with a certificate from a private CA made afresh by each
# start with the JDK's keytool (the server needs a JDK anyway, so keytool is always there;
# openssl is not needed). The server's certificate names `localhost` and
# `neptune.cluster.example` (the name a tunnel or balancer test verifies while connecting to
# 127.0.0.1), not the address 127.0.0.1. The CA's certificate, the one file clients need, is
# .services/gremlin-server/tls-PORT/ca.pem; the keys stay in that directory (gitignored) and
# are replaced on the next start.
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

TLS="${GREMLIN_TLS:-0}"
TLS_DIR="$STATE/tls-$PORT"
if [[ "$TLS" == 1 ]]; then
  answers() { answers_websocket "https://localhost:$PORT/gremlin" --cacert "$TLS_DIR/ca.pem"; }
else
  answers() { answers_websocket "http://127.0.0.1:$PORT/gremlin"; }
fi

# A private CA and a server certificate it issued, in $TLS_DIR, with keytool: ca.p12 (the CA's
# key), ca.pem (its certificate, what clients trust), server.p12 (the server's key and chain).
make_certificates() {
  command -v keytool >/dev/null || { say "keytool (part of the JDK) is required for GREMLIN_TLS=1"; exit 1; }
  rm -rf "$TLS_DIR"; mkdir -p "$TLS_DIR"; chmod 700 "$TLS_DIR"
  local pass; pass=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
  echo "$pass" > "$TLS_DIR/password"; chmod 600 "$TLS_DIR/password"
  local kt=(keytool -noprompt -storetype PKCS12 -storepass "$pass" -keypass "$pass")
  "${kt[@]}" -genkeypair -keystore "$TLS_DIR/ca.p12" -alias ca -keyalg EC -groupname secp256r1 \
    -dname "CN=stream-2-neptune test CA $(date -u +%Y%m%dT%H%M%S)" -startdate -1d -validity 7 \
    -ext bc:c=ca:true,pathlen:0 -ext ku:c=keyCertSign,cRLSign 2>/dev/null
  "${kt[@]}" -exportcert -rfc -keystore "$TLS_DIR/ca.p12" -alias ca -file "$TLS_DIR/ca.pem" 2>/dev/null
  "${kt[@]}" -genkeypair -keystore "$TLS_DIR/server.p12" -alias server -keyalg EC -groupname secp256r1 \
    -dname "CN=localhost" -validity 7 2>/dev/null
  "${kt[@]}" -certreq -keystore "$TLS_DIR/server.p12" -alias server -file "$TLS_DIR/server.csr" 2>/dev/null
  "${kt[@]}" -gencert -keystore "$TLS_DIR/ca.p12" -alias ca -infile "$TLS_DIR/server.csr" \
    -outfile "$TLS_DIR/server.pem" -rfc -startdate -1d -validity 7 \
    -ext san=dns:localhost,dns:neptune.cluster.example -ext eku=serverAuth \
    -ext ku:c=digitalSignature 2>/dev/null
  "${kt[@]}" -importcert -keystore "$TLS_DIR/server.p12" -alias ca -file "$TLS_DIR/ca.pem" 2>/dev/null
  "${kt[@]}" -importcert -keystore "$TLS_DIR/server.p12" -alias server -file "$TLS_DIR/server.pem" 2>/dev/null
  rm -f "$TLS_DIR/server.csr"
  [[ -s "$TLS_DIR/ca.pem" && -s "$TLS_DIR/server.p12" ]] || { say "keytool did not make the certificates"; exit 1; }
  say "made a private CA and a certificate for localhost, neptune.cluster.example with keytool (CA: $TLS_DIR/ca.pem)"
}

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
  local ssl="  enabled: false}" scheme=ws
  if [[ "$TLS" == 1 ]]; then
    make_certificates
    ssl="  enabled: true, keyStore: $TLS_DIR/server.p12, keyStoreType: PKCS12, keyStorePassword: $(cat "$TLS_DIR/password")}"
    scheme=wss
  fi
  sed -e "s/^port: .*/port: $PORT/" -e "s|^  enabled: false}\$|$ssl|" \
    "$SRC/conf/gremlin-server.yaml" > "$STATE/run/conf/gremlin-server-$PORT.yaml"
  chmod 600 "$STATE/run/conf/gremlin-server-$PORT.yaml"
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
  local host=127.0.0.1
  [[ "$TLS" == 1 ]] && host=localhost
  await_ready "$pid" "$TIMEOUT" "ready on $scheme://$host:$PORT/gremlin (pid $pid)" \
    "the server exited while starting"
}

stop() { stop_started 50; }

service_main resolve "$@"
