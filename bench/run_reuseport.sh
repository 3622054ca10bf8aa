#!/usr/bin/env bash
# `--workers 2`: one inherited listening socket (the default) against one SO_REUSEPORT socket
# per worker (HYPERDJANGO_REUSEPORT=1, benchmark only), on the Quick Start's GET /:
#  1. throughput, alternated rounds: keep-alive connections, and a new connection per request
#     (`Connection: close`, where the accept path matters);
#  2. what a SIGHUP reload does to clients: 3 reloads during a wrk run, for both connection
#     kinds; every socket error and non-2xx answer counts;
#  3. 20 connections waiting in the accept queue(s) across a reload (reuseport_queue_probe.py).
# Nothing is pinned: two workers need both cores, and wrk shares them (reported, not asserted).
#   BENCH_DURATION=5   seconds of each measured throughput run
#   BENCH_ROUNDS=3     alternated rounds
#   RELOAD_CONNECTIONS="64 512 512c32"   wrk connections during the reloads; 512c32: with
#       --max-connections 32 per worker, so that connections wait in the accept queue(s)
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python}
DURATION=${BENCH_DURATION:-5}
ROUNDS=${BENCH_ROUNDS:-3}
CONNECTIONS=64
RELOAD_CONNECTIONS=${RELOAD_CONNECTIONS:-"64 512 512c32"}
ulimit -n 65536 2>/dev/null || true
WORK=$(mktemp -d)
mkdir -p bench/results

# shellcheck source=bench/common.sh
source bench/common.sh

start_server() {  # mode port [max_connections]
    local reuse=0 limit=()
    [ "$1" = reuseport ] && reuse=1
    [ -n "${3:-}" ] && limit=(--max-connections "$3")
    (cd bench/apps && HYPERDJANGO_REUSEPORT=$reuse exec "$PYTHON" -m hyperdjango.cli run \
        --app hyperdjango_app:app --port "$2" --prod --workers 2 "${limit[@]}") \
        >"$WORK/$1.log" 2>&1 &
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

# "512c32": 512 connections, each worker limited to 32 (--max-connections): the rest wait in
# the accept queue(s), the case where closing a SO_REUSEPORT listener drops connections.
for connections in $RELOAD_CONNECTIONS; do
for kind in close keepalive; do
    [ "$connections" = 512c32 ] && [ "$kind" = keepalive ] && continue
for mode in shared reuseport; do
    port=$(free_port)
    echo "== reloads: $mode, $kind, $connections connections" >&2
    limit=""
    [ "$connections" = 512c32 ] && limit=32
    start_server "$mode" "$port" $limit
    header=()
    [ "$kind" = close ] && header=(-H "Connection: close")
    out="$WORK/$mode.reload.$kind.$connections"
    wrk -t2 -c"${connections%c32}" -d10s "${header[@]}" "http://127.0.0.1:$port/" >"$out.wrk" 2>&1 &
    LOAD_PID=$!
    sleep 1.5
    for _ in 1 2 3; do kill -HUP "$SERVER_PID"; sleep 2.7; done
    wait "$LOAD_PID"
    grep -c "reload complete" "$WORK/$mode.log" >"$out.count" || true
    cat "$out.wrk" >&2
    cleanup
done
done
done

# 3. Deterministic: connections waiting in the accept queue(s) across a reload.
for mode in shared reuseport; do
    "$PYTHON" bench/reuseport_queue_probe.py "$mode" >"$WORK/probe.$mode"
done

{
    "$PYTHON" bench/reuseport_report.py "$WORK" "$ROUNDS" $RELOAD_CONNECTIONS
    printf '\nConnections waiting in the accept queue across a reload (bench/reuseport_queue_probe.py):\n\n'
    sed 's/^/    /' "$WORK/probe.shared" "$WORK/probe.reuseport"
} | tee bench/results/reuseport.md
