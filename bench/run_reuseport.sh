#!/usr/bin/env bash
# `--workers 2`: one inherited listening socket (the default) against one SO_REUSEPORT socket
# per worker (HYPERDJANGO_REUSEPORT=1, benchmark only), on the Quick Start's GET /:
#  1. throughput, alternated rounds: keep-alive connections, and a new connection per request
#     (`Connection: close`, where the accept path matters);
#  2. what a SIGHUP reload does to clients: 3 reloads during a wrk run, for both connection
#     kinds; every socket error and non-2xx answer counts.
# Nothing is pinned: two workers need both cores, and wrk shares them (reported, not asserted).
#   BENCH_DURATION=5   seconds of each measured throughput run
#   BENCH_ROUNDS=3     alternated rounds
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python}
DURATION=${BENCH_DURATION:-5}
ROUNDS=${BENCH_ROUNDS:-3}
CONNECTIONS=64
WORK=$(mktemp -d)
mkdir -p bench/results

# shellcheck source=bench/common.sh
source bench/common.sh

start_server() {  # mode port
    if [ "$1" = reuseport ]; then
        HYPERDJANGO_REUSEPORT=1 WORKERS=2 "$PYTHON" bench/apps/hyperdjango_app.py "$2" \
            >"$WORK/$1.log" 2>&1 &
    else
        WORKERS=2 "$PYTHON" bench/apps/hyperdjango_app.py "$2" >"$WORK/$1.log" 2>&1 &
    fi
    SERVER_PID=$!
    for _ in $(seq 300); do
        grep -q "supervisor pid" "$WORK/$1.log" 2>/dev/null && return 0
        sleep 0.1
    done
    echo "$1 did not start:" >&2; cat "$WORK/$1.log" >&2; return 1
}

for round in $(seq "$ROUNDS"); do
for mode in shared reuseport; do
    port=$(free_port)
    echo "== round $round: $mode on :$port" >&2
    start_server "$mode" "$port"
    wrk -t2 -c"$CONNECTIONS" -d1s "http://127.0.0.1:$port/" >/dev/null 2>&1
    wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" --latency "http://127.0.0.1:$port/" \
        >"$WORK/$mode.keepalive.$round.wrk" 2>&1
    wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" --latency -H "Connection: close" \
        "http://127.0.0.1:$port/" >"$WORK/$mode.close.$round.wrk" 2>&1
    grep "Requests/sec" "$WORK/$mode.keepalive.$round.wrk" "$WORK/$mode.close.$round.wrk" >&2
    cleanup
done
done

for kind in close keepalive; do
for mode in shared reuseport; do
    port=$(free_port)
    echo "== reloads: $mode, $kind" >&2
    start_server "$mode" "$port"
    header=()
    [ "$kind" = close ] && header=(-H "Connection: close")
    wrk -t2 -c"$CONNECTIONS" -d10s "${header[@]}" "http://127.0.0.1:$port/" \
        >"$WORK/$mode.reload.$kind.wrk" 2>&1 &
    LOAD_PID=$!
    sleep 1.5
    for _ in 1 2 3; do kill -HUP "$SERVER_PID"; sleep 2.7; done
    wait "$LOAD_PID"
    grep -c "reload complete" "$WORK/$mode.log" >"$WORK/$mode.reload.$kind.count" || true
    cat "$WORK/$mode.reload.$kind.wrk" >&2
    cleanup
done
done

"$PYTHON" bench/reuseport_report.py "$WORK" "$ROUNDS" | tee bench/results/reuseport.md
