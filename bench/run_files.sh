#!/usr/bin/env bash
# File scenarios: a 1 MB multipart upload and a 64 KB static file, on hyperdjango,
# uvicorn + Starlette and nginx (the native ceiling), same method as bench/run.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python}
DURATION=${BENCH_DURATION:-10}
CONNECTIONS=${BENCH_FILE_CONNECTIONS:-16}
WORK=$(mktemp -d)
chmod 755 "$WORK"  # nginx workers (nobody) must read the static files
BIN=$(dirname "$(command -v "$PYTHON")")
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
"$PYTHON" -c "import multipart" 2>/dev/null || "$PYTHON" -m pip install -q python-multipart

export BENCH_STATIC="$WORK/static"
mkdir -p "$BENCH_STATIC/css"
head -c 65536 /dev/urandom > "$BENCH_STATIC/css/app.css"
chmod -R a+rX "$BENCH_STATIC"
BOUNDARY=benchboundary7MA4YWxkTrZu0gW
{
    printf -- '--%s\r\nContent-Disposition: form-data; name="file"; filename="photo.jpg"\r\nContent-Type: image/jpeg\r\n\r\n' "$BOUNDARY"
    head -c 1048576 /dev/urandom
    printf -- '\r\n--%s--\r\n' "$BOUNDARY"
} > "$WORK/upload.body"
cat > "$WORK/upload.lua" <<LUA
local file = io.open("$WORK/upload.body", "rb")
wrk.method = "POST"
wrk.body = file:read("*a")
file:close()
wrk.headers["Content-Type"] = "multipart/form-data; boundary=$BOUNDARY"
LUA

# shellcheck source=bench/common.sh
source bench/common.sh

start_server() {  # name port (background subshell, replaced by exec)
    case $1 in
        hyperdjango) exec taskset -c 1 "$PYTHON" bench/apps/hyperdjango_files_app.py "$2" ;;
        uvicorn-starlette)
            exec taskset -c 1 "$BIN/uvicorn" --app-dir bench/apps starlette_files_app:app --port "$2" --loop uvloop \
                --http httptools --no-access-log --log-level warning ;;
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
    client_max_body_size 4m;
    client_body_buffer_size 2m;
    server {
        listen 127.0.0.1:$2;
        location /static/ { alias $BENCH_STATIC/; }
        location = /upload { default_type application/json; return 200 '{"size":1048576}'; }
    }
}
CONF
            exec taskset -c 1 "$NGINX" -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" -e "$WORK/nginx/logs/error.log" ;;
    esac
}

for name in hyperdjango uvicorn-starlette nginx; do
    port=$(free_port)
    echo "== $name on :$port" >&2
    start_server "$name" "$port" >"$WORK/$name.log" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 200); do curl -fsS "http://127.0.0.1:$port/static/css/app.css" -o /dev/null 2>&1 && break; sleep 0.1; done
    for scenario in static upload; do
        if [ "$scenario" = static ]; then
            args=("http://127.0.0.1:$port/static/css/app.css")
        else
            args=(-s "$WORK/upload.lua" "http://127.0.0.1:$port/upload")
        fi
        taskset -c 0 wrk -t1 -c"$CONNECTIONS" -d2s "${args[@]}" >/dev/null 2>&1
        taskset -c 0 wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency "${args[@]}" >"$WORK/$scenario.$name.1.wrk" 2>&1
        cat "$WORK/$scenario.$name.1.wrk" >&2
    done
    cleanup
done

for scenario in static upload; do
    mkdir -p "$WORK/$scenario"
    for name in hyperdjango uvicorn-starlette nginx; do cp "$WORK/$scenario.$name.1.wrk" "$WORK/$scenario/$name.1.wrk"; done
    echo "### $scenario"
    BENCH_RESULT_NAME="files-$scenario" "$PYTHON" bench/report.py "$WORK/$scenario" "$DURATION" "$CONNECTIONS" 1 \
        hyperdjango uvicorn-starlette nginx
done
