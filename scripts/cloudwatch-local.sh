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

SERVICE=cloudwatch-local
# shellcheck source=lib/services.sh
source "$ROOT/scripts/lib/services.sh"

answers() { answers_http "http://127.0.0.1:$PORT/_ministack/health"; }

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
  if already_running; then return 0; fi
  install
  say "starting on 127.0.0.1:$PORT (log: $LOG)"
  BIND_HOST=127.0.0.1 GATEWAY_PORT="$PORT" SERVICES=cloudwatch LOG_LEVEL=WARNING \
    nohup "$VENV/bin/ministack" >"$LOG" 2>&1 < /dev/null &
  local pid=$!
  await_ready "$pid" 60 "ready on http://127.0.0.1:$PORT (pid $pid)" "it exited while starting"
}

# A pid file is a server this script started: it is reported stopped even if it had exited.
stop() { stop_started 25 --report-gone; }

service_main install "$@"
