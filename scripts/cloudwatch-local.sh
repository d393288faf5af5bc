#!/usr/bin/env bash
# Starts, stops and checks a local implementation of the Amazon CloudWatch API (MiniStack, from
# PyPI, pinned), bound to 127.0.0.1, for the tests and for local runs that publish metrics.
#
#   scripts/cloudwatch-local.sh start|stop|status|install
#
# Why MiniStack: of the emulators measured here it is the one that answers the current
# aws-sdk-cloudwatch, which speaks Smithy RPC v2 CBOR. It needs `cbor2`, which it does not
# declare (without it, PutMetricData answers 200 and stores nothing), so both are pinned here.
# Environment: CLOUDWATCH_PORT (default 4566). State lives in .services/ministack.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE="$ROOT/.services/ministack"
VENV="$STATE/venv"
PORT="${CLOUDWATCH_PORT:-4566}"
PIDFILE="$STATE/ministack-$PORT.pid"
LOG="$STATE/ministack-$PORT.log"
MINISTACK_VERSION="1.5.33"
CBOR2_VERSION="6.3.0"

say() { echo "cloudwatch-local: $*" >&2; }

answers() { curl -sf -m 2 "http://127.0.0.1:$PORT/_ministack/health" >/dev/null 2>&1; }

install() {
  if [[ -x "$VENV/bin/ministack" && -f "$VENV/.complete-$MINISTACK_VERSION" ]]; then return 0; fi
  command -v python3 >/dev/null || { say "python3 is required"; exit 1; }
  say "installing ministack==$MINISTACK_VERSION and cbor2==$CBOR2_VERSION into $VENV"
  mkdir -p "$STATE"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check "ministack==$MINISTACK_VERSION" "cbor2==$CBOR2_VERSION" >&2
  touch "$VENV/.complete-$MINISTACK_VERSION"
}

start() {
  if answers; then say "already running on 127.0.0.1:$PORT"; return 0; fi
  install
  say "starting on 127.0.0.1:$PORT (log: $LOG)"
  BIND_HOST=127.0.0.1 GATEWAY_PORT="$PORT" SERVICES=cloudwatch LOG_LEVEL=WARNING \
    nohup "$VENV/bin/ministack" >"$LOG" 2>&1 < /dev/null &
  local pid=$!
  echo "$pid" > "$PIDFILE"
  for _ in $(seq 1 300); do
    if answers; then say "ready on http://127.0.0.1:$PORT (pid $pid)"; return 0; fi
    if ! kill -0 "$pid" 2>/dev/null; then
      say "it exited while starting; last lines of $LOG:"; tail -n 30 "$LOG" >&2; rm -f "$PIDFILE"; exit 1
    fi
    sleep 0.2
  done
  say "no answer on port $PORT after 60s; last lines of $LOG:"; tail -n 30 "$LOG" >&2
  kill "$pid" 2>/dev/null || true; rm -f "$PIDFILE"; exit 1
}

stop() {
  if [[ -f "$PIDFILE" ]]; then
    local pid; pid=$(cat "$PIDFILE")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 25); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$PIDFILE"; say "stopped (pid $pid)"
  else
    say "not started by this script on port $PORT"
  fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) if answers; then say "answering on 127.0.0.1:$PORT"; else say "not answering on 127.0.0.1:$PORT"; exit 1; fi ;;
  install) install ;;
  *) echo "usage: $0 start|stop|status|install" >&2; exit 2 ;;
esac
