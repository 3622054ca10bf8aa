#!/usr/bin/env bash
# Multi-process benchmark: the Quick Start's GET / with --workers 2 against --workers 1 and
# against Granian and uvicorn with 2 workers each, in one run (interleaved rounds).
# Nothing is pinned: two workers need both cores, and wrk shares them (reported, not asserted).
#   BENCH_DURATION=8   seconds of each measured run
#   BENCH_ROUNDS=2     rounds; the best round of each server counts
#   BENCH_WORKER_SERVERS="hyperdjango-w1 hyperdjango-w2 granian-w2 uvicorn-w2"
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python}
DURATION=${BENCH_DURATION:-8}
ROUNDS=${BENCH_ROUNDS:-2}
SERVERS=${BENCH_WORKER_SERVERS:-"hyperdjango-w1 hyperdjango-w2 granian-w2 uvicorn-w2"}
CONNECTIONS=128
WORK=$(mktemp -d)
mkdir -p bench/results

if ! "$PYTHON" -c "import uvicorn, uvloop, httptools, granian" 2>/dev/null; then
    echo "installing uvicorn[standard], granian..." >&2
    "$PYTHON" -m pip install -q "uvicorn[standard]" granian
fi
BIN=$(dirname "$(command -v "$PYTHON")")

# shellcheck source=bench/common.sh
source bench/common.sh

start_server() {  # name port
    local name=$1 port=$2
    case $name in
        hyperdjango-w1) WORKERS=1 exec "$PYTHON" bench/apps/hyperdjango_app.py "$port" ;;
        hyperdjango-w2) WORKERS=2 exec "$PYTHON" bench/apps/hyperdjango_app.py "$port" ;;
        granian-w2)
            cd bench/apps && exec "$BIN/granian" --interface asgi --workers 2 --runtime-threads 1 \
                --loop uvloop --no-access-log --log-level warning --port "$port" asgi_raw:app ;;
        uvicorn-w2)
            exec "$BIN/uvicorn" --app-dir bench/apps asgi_raw:app --port "$port" --workers 2 \
                --loop uvloop --http httptools --no-access-log --log-level warning ;;
        *) echo "unknown server $name" >&2; return 1 ;;
    esac
}


for round in $(seq "$ROUNDS"); do
for name in $SERVERS; do
    port=$(free_port)
    echo "== round $round: $name on :$port" >&2
    start_server "$name" "$port" >"$WORK/$name.log" 2>&1 &
    SERVER_PID=$!
    if ! wait_ready "$port"; then
        echo "$name did not start; its output:" >&2; cat "$WORK/$name.log" >&2; exit 1
    fi
    sleep 1  # every worker up
    wrk -t2 -c"$CONNECTIONS" -d2s "http://127.0.0.1:$port/" >/dev/null 2>&1
    wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" --latency "http://127.0.0.1:$port/" >"$WORK/$name.$round.wrk" 2>&1
    cat "$WORK/$name.$round.wrk" >&2
    cleanup
done
done

"$PYTHON" bench/workers_report.py "$WORK" "$ROUNDS" $SERVERS | tee bench/results/workers.md
