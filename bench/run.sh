#!/usr/bin/env bash
# End-to-end load benchmark: the Quick Start's GET / on hyperdjango and its peers, in one run.
# Server pinned to core 1, wrk to core 0; warm-up, then a measured run; ratios, not absolutes.
#   BENCH_DURATION=10      seconds of the measured run
#   BENCH_SERVERS="..."    subset of: hyperdjango uvicorn-raw uvicorn-starlette granian-rsgi granian-asgi nginx
#   BENCH_ROUNDS=2         every server is measured once per round (interleaved); the best round counts
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python}
DURATION=${BENCH_DURATION:-10}
ROUNDS=${BENCH_ROUNDS:-2}
SERVERS=${BENCH_SERVERS:-"hyperdjango uvicorn-raw uvicorn-starlette granian-rsgi granian-asgi nginx"}
CONNECTIONS=64
RESULTS=bench/results
WORK=$(mktemp -d)
mkdir -p "$RESULTS"

# -- install what the peers need (idempotent) ----------------------------------
if ! command -v wrk >/dev/null || ! command -v nginx >/dev/null && [ ! -x /usr/sbin/nginx ]; then
    echo "installing wrk and nginx from Debian..." >&2
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk nginx-light >/dev/null
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
if ! "$PYTHON" -c "import uvicorn, uvloop, httptools, starlette, granian" 2>/dev/null; then
    echo "installing uvicorn[standard], starlette, granian..." >&2
    "$PYTHON" -m pip install -q "uvicorn[standard]" starlette granian
fi
BIN=$(dirname "$(command -v "$PYTHON")")

# shellcheck source=bench/common.sh
source bench/common.sh

start_server() {  # name port; runs in a background subshell, which each branch replaces (exec)
    local name=$1 port=$2
    case $name in
        hyperdjango)
            exec taskset -c 1 "$PYTHON" bench/apps/hyperdjango_app.py "$port" ;;
        uvicorn-raw)
            exec taskset -c 1 "$BIN/uvicorn" --app-dir bench/apps asgi_raw:app --port "$port" --loop uvloop \
                --http httptools --no-access-log --log-level warning ;;
        uvicorn-starlette)
            exec taskset -c 1 "$BIN/uvicorn" --app-dir bench/apps starlette_app:app --port "$port" --loop uvloop \
                --http httptools --no-access-log --log-level warning ;;
        granian-rsgi)
            cd bench/apps && exec taskset -c 1 "$BIN/granian" --interface rsgi --workers 1 --runtime-threads 1 \
                --loop uvloop --no-access-log --log-level warning --port "$port" rsgi_raw:app ;;
        granian-asgi)
            cd bench/apps && exec taskset -c 1 "$BIN/granian" --interface asgi --workers 1 --runtime-threads 1 \
                --loop uvloop --no-access-log --log-level warning --port "$port" asgi_raw:app ;;
        nginx)
            mkdir -p "$WORK/nginx/logs"
            cat > "$WORK/nginx/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/logs/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    keepalive_requests 1000000;
    server {
        listen 127.0.0.1:$port;
        location = / { default_type application/json; return 200 '{"message":"Hello!"}'; }
    }
}
CONF
            exec taskset -c 1 "$NGINX" -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" -e "$WORK/nginx/logs/error.log" ;;
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
    taskset -c 0 wrk -t1 -c"$CONNECTIONS" -d3s "http://127.0.0.1:$port/" >"$WORK/$name.$round.warmup" 2>&1
    taskset -c 0 wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency "http://127.0.0.1:$port/" >"$WORK/$name.$round.wrk" 2>&1
    cat "$WORK/$name.$round.wrk" >&2
    if [ "$name" = hyperdjango ]; then
        curl -fsS "http://127.0.0.1:$port/count" >"$WORK/hyperdjango.$round.count"
    fi
    cleanup
done
done

"$PYTHON" bench/report.py "$WORK" "$DURATION" "$CONNECTIONS" "$ROUNDS" $SERVERS
