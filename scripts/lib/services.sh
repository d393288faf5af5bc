# shellcheck shell=bash
# What the scripts that run a local service (gremlin-server.sh, janusgraph-server.sh,
# cloudwatch-local.sh) share: the readiness checks, the wait until a started server answers,
# stopping by pid file, and the command line; kcl-fleet.sh uses it to fetch its jars. Sourced
# by them, not run.
#
# The sourcing script sets SERVICE (the name its messages start with), PORT, PIDFILE and LOG,
# and may set LOG_LINES (how many of the log's last lines a failed start shows; 30 if unset).
# It defines `answers` (true when the service on $PORT serves), `start`, `stop` and the
# function of its fourth command, and may redefine the hooks `check_log` and `log_causes`.

say() { echo "$SERVICE: $*" >&2; }

# True when URL answers a WebSocket upgrade (more arguments go to curl, e.g. --cacert FILE for
# https://). A TCP connect is not enough: a dying JVM can hold the port without serving.
answers_websocket() {
  local code url=$1; shift
  code=$(curl -s -o /dev/null -m 2 -w '%{http_code}' "$@" \
    -H 'Connection: Upgrade' -H 'Upgrade: websocket' -H 'Sec-WebSocket-Version: 13' \
    -H 'Sec-WebSocket-Key: c3RyZWFtLTItbmVwdHVuZQ==' "$url" 2>/dev/null || true)
  [[ "$code" == "101" ]]
}

# True when a GET of URL succeeds.
answers_http() { curl -sf -m 2 "$1" >/dev/null 2>&1; }

# True, after saying so, when a server already answers on the port: nothing to start.
already_running() {
  answers || return 1
  say "already running on 127.0.0.1:$PORT"
}

# Fetches the runtime jars of $SRC/pom.xml into $LIB with Maven, the first time only. WHAT
# names them in the messages, and ROLE what runs them (`server`, `daemon`).
resolve_jars() {
  local what=$1 role=$2
  if [[ -f "$LIB/.complete" ]]; then return 0; fi
  command -v mvn >/dev/null || { say "Maven (mvn) is required to fetch the $role's jars"; exit 1; }
  command -v java >/dev/null || { say "Java 11+ is required to run the $role"; exit 1; }
  say "resolving $what with Maven into $LIB (first time only)"
  mkdir -p "$LIB"
  mvn -q -B -f "$SRC/pom.xml" dependency:copy-dependencies \
    -DoutputDirectory="$LIB" -DincludeScope=runtime -DoverWriteReleases=false >&2
  touch "$LIB/.complete"
}

# True when the log says the server could not bind its port. A JVM that failed to bind stays up
# without serving, so only its log tells.
bind_failed() { grep -q -E "Address already in use|BindException|Could not bind" "$LOG"; }

# Sends PID a SIGTERM, gives it TICKS × 0.2 s to exit, then a SIGKILL.
terminate() {
  local pid=$1 ticks=$2
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 "$ticks"); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  kill -9 "$pid" 2>/dev/null || true
}

# Hook, called with the server's pid on every round of `await_ready` before the readiness
# check: a server that can fail without exiting (it only logs it) needs its log read to end
# the start. Nothing by default.
check_log() { :; }

# Hook, called by `fail_start` after the log's last lines, for what else the log holds that
# explains the failure. By default a JVM's root causes, which often sit above the last lines,
# under a long stack trace: its last `Caused by` lines.
log_causes() {
  if grep -q '^Caused by' "$LOG"; then
    say "root causes:"; grep '^Caused by' "$LOG" | tail -n 3 >&2
  fi
}

# Ends a start that failed: says REASON with the log's last lines, stops the server PID, and
# exits 1.
fail_start() {
  local pid=$1; shift
  say "$*; last lines of $LOG:"; tail -n "${LOG_LINES:-30}" "$LOG" >&2
  log_causes
  terminate "$pid" 25
  rm -f "$PIDFILE"
  exit 1
}

# Records the started server PID in $PIDFILE and waits up to SECONDS for `answers`: says READY
# and returns once it does. Exits 1 if the process exits first (saying EXITED with the log's
# last lines), if `check_log` ends the start, or when the time is up.
await_ready() {
  local pid=$1 seconds=$2 ready=$3 exited=$4 waited=0
  echo "$pid" > "$PIDFILE"
  while (( waited < seconds * 5 )); do
    check_log "$pid"
    if answers; then say "$ready"; return 0; fi
    if ! kill -0 "$pid" 2>/dev/null; then
      say "$exited; last lines of $LOG:"; tail -n "${LOG_LINES:-30}" "$LOG" >&2
      rm -f "$PIDFILE"; exit 1
    fi
    sleep 0.2; waited=$((waited + 1))
  done
  fail_start "$pid" "no answer on port $PORT after ${seconds}s"
}

# Stops the server this script started on the port, named by $PIDFILE: a SIGTERM, TICKS × 0.2 s
# to exit, then a SIGKILL. With a second argument `--report-gone`, a server that had already
# exited is reported stopped too.
stop_started() {
  local ticks=$1 report_gone=${2:-}
  if [[ ! -f "$PIDFILE" ]]; then
    say "not started by this script on port $PORT"
    return 0
  fi
  local pid; pid=$(cat "$PIDFILE")
  if kill -0 "$pid" 2>/dev/null; then
    terminate "$pid" "$ticks"
    say "stopped (pid $pid)"
  elif [[ "$report_gone" == --report-gone ]]; then
    say "stopped (pid $pid)"
  fi
  rm -f "$PIDFILE"
}

# Runs the command line: start, stop, status, or EXTRA, the script's fourth command (the
# function of that name).
service_main() {
  local extra=$1; shift
  case "${1:-}" in
    start) start ;;
    stop) stop ;;
    status) if answers; then say "answering on 127.0.0.1:$PORT"; else say "not answering on 127.0.0.1:$PORT"; exit 1; fi ;;
    "$extra") "$extra" ;;
    *) echo "usage: $0 start|stop|status|$extra" >&2; exit 2 ;;
  esac
}
