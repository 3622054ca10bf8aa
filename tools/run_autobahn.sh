#!/usr/bin/env bash
# Serves tests/apps/websockets_app.py on a free port and runs the Autobahn|Testsuite fuzzing
# client (tools/autobahn.sh) against its /echo route, strictly: every case must be OK or
# INFORMATIONAL in behaviour and close behaviour.
#   CASES='["*"]' (default: the full suite, cases 1-13 with permessage-deflate, ~15 minutes)
#   exit 3 when no python2.7 is available (the suite is Python 2 software)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
export CASES=${CASES:-'["*"]'} EXCLUDE=${EXCLUDE:-'[]'} STRICT=1
LOG=$(mktemp)
PORT=$("$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
HOST=127.0.0.1 PORT=$PORT PYTHONPATH=. "$PYTHON" tests/apps/websockets_app.py > "$LOG" 2>&1 &
SERVER=$!
trap 'kill -TERM $SERVER 2>/dev/null; wait $SERVER 2>/dev/null; rm -f "$LOG"' EXIT
for _ in $(seq 200); do
    grep -q "serving" "$LOG" && break
    sleep 0.05
done
bash tools/autobahn.sh "ws://127.0.0.1:$PORT/echo" "${1:-$(mktemp -d /tmp/autobahn.XXXXXX)}"
