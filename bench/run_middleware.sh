#!/usr/bin/env bash
# Middleware benchmark (issue 10), every ratio from this one run. Server pinned to core 1,
# wrk to core 0, as bench/run.sh. Three measurements:
#   1. the Quick Start's GET / with Security + CORS + Timing + RateLimit(high) +
#      Compression(min_size=1024) vs without, and vs uvicorn + Starlette with the same stack;
#   2. server CPU time per request (utime + stime of the server process from /proc over
#      the measured run, divided by the requests wrk completed) with 0, 1 and 5 no-op
#      custom async middleware;
#   3. a ~20 KB JSON answer gzip-compressed: hyperdjango CompressionMiddleware vs
#      uvicorn + Starlette GZipMiddleware vs nginx `gzip on` serving the same bytes.
#   BENCH_DURATION=8   seconds per measured run (after a 2 s warm-up)
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python}
DURATION=${BENCH_DURATION:-8}
CONNECTIONS=64
RESULTS=bench/results
WORK=$(mktemp -d)
mkdir -p "$RESULTS"

if ! command -v wrk >/dev/null || ! command -v nginx >/dev/null && [ ! -x /usr/sbin/nginx ]; then
    echo "installing wrk and nginx from Debian..." >&2
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk nginx-light >/dev/null
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
if ! "$PYTHON" -c "import uvicorn, uvloop, httptools, starlette" 2>/dev/null; then
    echo "installing uvicorn[standard], starlette..." >&2
    "$PYTHON" -m pip install -q "uvicorn[standard]" starlette
fi
BIN=$(dirname "$(command -v "$PYTHON")")

# shellcheck source=bench/common.sh
source bench/common.sh

start_server() {  # name port (exec: the background subshell becomes the server)
    local name=$1 port=$2
    case $name in
        hd-*)
            STACK=${name#hd-} exec taskset -c 1 "$PYTHON" bench/apps/middleware_app.py "$port" ;;
        st-*)
            STACK=${name#st-} exec taskset -c 1 "$BIN/uvicorn" --app-dir bench/apps \
                starlette_middleware_app:app --port "$port" --loop uvloop --http httptools \
                --no-access-log --log-level warning ;;
        nginx-gzip)
            mkdir -p "$WORK/nginx/logs"
            "$PYTHON" bench/apps/payload.py >"$WORK/nginx/json20k"
            # nginx's worker runs as an unprivileged user: let it read the file.
            chmod a+rx "$WORK" "$WORK/nginx" && chmod a+r "$WORK/nginx/json20k"
            cat >"$WORK/nginx/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/logs/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    keepalive_requests 1000000;
    gzip on;
    gzip_types application/json;
    gzip_min_length 1024;
    server {
        listen 127.0.0.1:$port;
        location = / { default_type application/json; return 200 '{"message":"Hello!"}'; }
        location = /json20k { default_type application/json; alias $WORK/nginx/json20k; }
    }
}
CONF
            exec taskset -c 1 "$NGINX" -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" -e "$WORK/nginx/logs/error.log" ;;
        *) echo "unknown server $name" >&2; return 1 ;;
    esac
}

cpu_ticks() {  # utime + stime of a process and its children so far, in clock ticks
    local total=0 pid
    for pid in $1 $(pgrep -P "$1" || true); do
        [ -r "/proc/$pid/stat" ] || continue
        total=$((total + $(awk '{print $14 + $15}' "/proc/$pid/stat")))
    done
    echo "$total"
}

measure() {  # label server path [extra wrk args...]
    local label=$1 name=$2 path=$3
    shift 3
    local port
    port=$(free_port)
    echo "== $label ($name $path)" >&2
    start_server "$name" "$port" >"$WORK/$label.log" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 200); do
        curl -fsS "http://127.0.0.1:$port$path" >/dev/null 2>&1 && break
        sleep 0.1
    done
    taskset -c 0 wrk -t1 -c"$CONNECTIONS" -d2s "$@" "http://127.0.0.1:$port$path" >/dev/null 2>&1
    local before after
    before=$(cpu_ticks "$SERVER_PID")
    taskset -c 0 wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency "$@" \
        "http://127.0.0.1:$port$path" >"$WORK/$label.wrk" 2>&1
    after=$(cpu_ticks "$SERVER_PID")
    echo $((after - before)) >"$WORK/$label.cpu"
    curl -sS -D - -o "$WORK/$label.body" "$@" "http://127.0.0.1:$port$path" \
        -H "Accept-Encoding: gzip" >"$WORK/$label.head" 2>/dev/null || true
    grep -E "Requests/sec|Non-2xx" "$WORK/$label.wrk" >&2 || true
    cleanup
}

ORIGIN=(-H "Origin: https://mysite.com")
GZIP=(-H "Accept-Encoding: gzip")

# 1. the Quick Start with the built-in stack
measure quickstart         hd-none      /  "${ORIGIN[@]}"
measure quickstart-stack   hd-builtins  /  "${ORIGIN[@]}"
measure starlette-stack    st-builtins  /  "${ORIGIN[@]}"
# 2. CPU per request, no-op custom middleware (the baseline is quickstart above)
measure noop1              hd-noop1     /
measure noop5              hd-noop5     /
# 3. 20 KB JSON, gzip
measure gzip-hyperdjango   hd-gzip      /json20k "${GZIP[@]}"
measure gzip-starlette     st-gzip      /json20k "${GZIP[@]}"
measure gzip-nginx         nginx-gzip   /json20k "${GZIP[@]}"

"$PYTHON" bench/middleware_report.py "$WORK" "$DURATION" "$CONNECTIONS" "$(getconf CLK_TCK)"
