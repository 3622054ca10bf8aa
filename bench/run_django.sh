#!/usr/bin/env bash
# Django and raw WSGI on the native server against their usual servers, in one run.
# Server pinned to core 1, wrk to core 0; warm-up, then a measured run; ratios, not absolutes.
# Also the server's CPU time per request (utime + stime from /proc over the measured run): on a
# shared machine the pinned core is time-shared with other work, so req/s says how much CPU a
# server was given as much as how fast it is; CPU per request does not depend on that.
#   django-runziserver   manage.py runziserver --prod (Django JsonResponse hello, the test project)
#   django-gunicorn      gunicorn, sync worker           django-granian   Granian WSGI
#   django-uvicorn       uvicorn + Django's ASGI handler
#   wsgi-hyperdjango     a raw WSGI hello on hyperdjango.wsgi.serve_wsgi
#   wsgi-granian         the same app on Granian WSGI
#   BENCH_DURATION=10  BENCH_ROUNDS=2  BENCH_SERVERS="..." (subset)  BENCH_THREADS=4 (runziserver pool)
#   GRANIAN_BLOCKING=1: Granian's Python threads. Its default (up to 512 threads on one core)
#   thrashes the GIL (it warns so itself: raw WSGI 1.3k req/s vs 10k with 1), so it gets its best.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python}
DURATION=${BENCH_DURATION:-10}
ROUNDS=${BENCH_ROUNDS:-2}
THREADS=${BENCH_THREADS:-4}
GRANIAN_BLOCKING=${GRANIAN_BLOCKING:-1}
SERVERS=${BENCH_SERVERS:-"django-runziserver django-gunicorn django-granian django-uvicorn wsgi-hyperdjango wsgi-granian"}
CONNECTIONS=64
RESULTS=bench/results
WORK=$(mktemp -d)
mkdir -p "$RESULTS"
ROOT=$(pwd)
PROJECT=$ROOT/tests/django_project
BIN=$(dirname "$(command -v "$PYTHON")")
if ! "$PYTHON" -c "import django, gunicorn, granian, uvicorn" 2>/dev/null; then
    "$PYTHON" -m pip install -q -r requirements/bridge.txt
fi
command -v wrk >/dev/null || { apt-get update -qq >/dev/null; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }

# shellcheck source=bench/common.sh
source bench/common.sh

export DJANGO_SETTINGS_MODULE=mysite.settings DJANGO_DB="$WORK/db.sqlite3" PYTHONPATH="$ROOT/python:$PROJECT"
"$PYTHON" "$PROJECT/manage.py" migrate --noinput -v 0

start_server() {  # name port
    local name=$1 port=$2
    case $name in
        django-runziserver)
            cd "$PROJECT" && exec taskset -c 1 "$PYTHON" manage.py runziserver "127.0.0.1:$port" --prod \
                --threads "$THREADS" --skip-checks ;;
        django-gunicorn)
            cd "$PROJECT" && exec taskset -c 1 "$BIN/gunicorn" mysite.wsgi:application --bind "127.0.0.1:$port" \
                --workers 1 --worker-class sync --log-level warning ;;
        django-granian)
            cd "$PROJECT" && exec taskset -c 1 "$BIN/granian" --interface wsgi --workers 1 --runtime-threads 1 \
                --blocking-threads "$GRANIAN_BLOCKING" \
                --no-access-log --log-level warning --port "$port" mysite.wsgi:application ;;
        django-uvicorn)
            cd "$PROJECT" && exec taskset -c 1 "$BIN/uvicorn" mysite.asgi:application --port "$port" --loop uvloop \
                --http httptools --no-access-log --log-level warning --lifespan off ;;
        wsgi-hyperdjango)
            cd bench/apps && exec taskset -c 1 "$PYTHON" wsgi_raw.py "$port" "$THREADS" ;;
        wsgi-granian)
            cd bench/apps && exec taskset -c 1 "$BIN/granian" --interface wsgi --workers 1 --runtime-threads 1 \
                --blocking-threads "$GRANIAN_BLOCKING" \
                --no-access-log --log-level warning --port "$port" wsgi_raw:application ;;
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

path_of() { case $1 in django-*) echo /hello/ ;; *) echo / ;; esac; }


for round in $(seq "$ROUNDS"); do
for name in $SERVERS; do
    port=$(free_port)
    path=$(path_of "$name")
    echo "== round $round: $name on :$port" >&2
    start_server "$name" "$port" >"$WORK/$name.log" 2>&1 &
    SERVER_PID=$!
    if ! wait_ready "$port" "$path"; then
        echo "$name did not start; its output:" >&2; cat "$WORK/$name.log" >&2; exit 1
    fi
    taskset -c 0 wrk -t1 -c"$CONNECTIONS" -d3s "http://127.0.0.1:$port$path" >"$WORK/$name.$round.warmup" 2>&1
    before=$(cpu_ticks "$SERVER_PID")
    taskset -c 0 wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency "http://127.0.0.1:$port$path" >"$WORK/$name.$round.wrk" 2>&1
    echo $(( $(cpu_ticks "$SERVER_PID") - before )) >"$WORK/$name.$round.cpu"
    grep -E "Requests/sec|Non-2xx|Socket errors" "$WORK/$name.$round.wrk" >&2 || true
    cleanup
done
done

"$PYTHON" bench/report_django.py "$WORK" "$DURATION" "$CONNECTIONS" "$ROUNDS" "$THREADS" $SERVERS
