#!/usr/bin/env bash
# WebSocket benchmark, one run, ratios not absolutes (the machine is shared and noisy):
#   1. echo round trips/s: 64 clients, small text messages, against hyperdjango, uvicorn +
#      websockets and Granian (ASGI), and socketify (uWebSockets) if it installs;
#   2. fan-out: one app.publish() to 10,000 subscribers, time until all received it;
#   3. RSS of the server holding 10,000 idle WebSocket connections.
# Server on core 1, the native load client (bench/ws_load.rs) on core 0.
#   BENCH_DURATION=10   seconds per echo measurement
#   WS_ROUNDS=1         echo rounds, the servers alternated within each (report: medians)
#   WS_SERVERS="hyperdjango uvicorn granian socketify"
#   WS_IDLE=10000       connections for fan-out and idle RSS
#   WS_LOAD_PROFILE=release   cargo profile of the load client (quick builds faster)
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python}
DURATION=${BENCH_DURATION:-10}
ROUNDS=${WS_ROUNDS:-1}
SERVERS=${WS_SERVERS:-"hyperdjango uvicorn granian socketify"}
IDLE=${WS_IDLE:-10000}
RESULTS=bench/results
WORK=$(mktemp -d)
mkdir -p "$RESULTS"
BIN=$(dirname "$(command -v "$PYTHON")")
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

"$PYTHON" -c "import uvicorn, websockets, granian" 2>/dev/null || "$PYTHON" -m pip install -q "uvicorn[standard]" websockets granian
SOCKETIFY=1
"$PYTHON" -c "import socketify" 2>/dev/null || timeout 120 "$PYTHON" -m pip install -q socketify >/dev/null 2>&1 || SOCKETIFY=0
[ "$SOCKETIFY" = 1 ] && ! "$PYTHON" -c "import socketify" 2>/dev/null && SOCKETIFY=0
PROFILE=${WS_LOAD_PROFILE:-release}
cargo build --profile "$PROFILE" --quiet --no-default-features --example ws_load
LOAD=target/$PROFILE/examples/ws_load

# shellcheck source=bench/common.sh
source bench/common.sh

start_server() {  # name port
    local name=$1 port=$2
    case $name in
        hyperdjango) exec taskset -c 1 "$PYTHON" bench/apps/ws_hyperdjango_app.py "$port" ;;
        uvicorn) exec taskset -c 1 "$BIN/uvicorn" --app-dir bench/apps ws_asgi_echo:app --port "$port" \
                --loop uvloop --http httptools --ws websockets --no-access-log --log-level warning ;;
        granian) cd bench/apps && exec taskset -c 1 "$BIN/granian" --interface asgi --workers 1 \
                --runtime-threads 1 --loop uvloop --no-access-log --log-level warning --port "$port" ws_asgi_echo:app ;;
        socketify) exec taskset -c 1 "$PYTHON" bench/apps/ws_socketify_echo.py "$port" ;;
    esac
}

wait_port() {
    for _ in $(seq 200); do
        (echo > "/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.05
    done
    echo "server on port $1 did not start" >&2
    return 1
}

rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }

: > "$WORK/echo.jsonl"
# CPU time (ticks) of a process and its children (Granian runs a worker process):
# the server's CPU per round trip is a steadier figure than round trips/s on a
# shared machine.
cpu_ticks() {
    local total=0 pid
    for pid in $1 $(pgrep -P "$1" || true); do
        total=$((total + $(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null || echo 0)))
    done
    echo "$total"
}
for round in $(seq "$ROUNDS"); do
    for server in $SERVERS; do
        if [ "$server" = socketify ] && [ "$SOCKETIFY" = 0 ]; then
            [ "$round" = 1 ] && echo "socketify: not installable here (needs libuv1), skipped" >&2
            continue
        fi
        port=$(free_port)
        (start_server "$server" "$port") > "$WORK/$server.log" 2>&1 &
        SERVER_PID=$!
        wait_port "$port"
        taskset -c 0 "$LOAD" echo "127.0.0.1:$port" /echo 64 2 > /dev/null  # warm-up
        before=$(cpu_ticks "$SERVER_PID")
        result=$(taskset -c 0 "$LOAD" echo "127.0.0.1:$port" /echo 64 "$DURATION")
        after=$(cpu_ticks "$SERVER_PID")
        echo "$round $server $((after - before)) $result" | tee -a "$WORK/echo.jsonl"
        cleanup
    done
done

port=$(free_port)
(start_server hyperdjango "$port") > "$WORK/hyperdjango-idle.log" 2>&1 &
SERVER_PID=$!
wait_port "$port"
server_pid=$(pgrep -P "$SERVER_PID" -f ws_hyperdjango_app.py || echo "$SERVER_PID")
before=$(rss_kb "$server_pid")
taskset -c 0 "$LOAD" idle "127.0.0.1:$port" /sub "$IDLE" 6 > "$WORK/idle.json" &
LOAD_PID=$!
sleep 1
for _ in $(seq 120); do
    grep -q '"open":true' "$WORK/idle.json" 2>/dev/null && break
    sleep 0.5
done
sleep 1
after=$(rss_kb "$server_pid")
wait "$LOAD_PID" || true
fanout=$(taskset -c 0 "$LOAD" fanout "127.0.0.1:$port" /sub "$IDLE" /publish 5)
echo "fanout $fanout"
cleanup

"$PYTHON" - "$WORK/echo.jsonl" "$before" "$after" "$IDLE" "$fanout" "$RESULTS" <<'PY'
import json, os, statistics, sys, time
lines, before, after, idle, fanout, results = sys.argv[1:]
ticks_per_second = int(os.sysconf("SC_CLK_TCK"))
rounds = {}  # server -> [(round trips/s, server CPU us per round trip)]
for line in open(lines):
    _, name, ticks, data = line.split(" ", 3)
    measured = json.loads(data)
    cpu_us = int(ticks) / ticks_per_second * 1e6 / max(measured["round_trips"], 1)
    rounds.setdefault(name, []).append((measured["per_second"], cpu_us))
echo = {name: statistics.median(rate for rate, _ in runs) for name, runs in rounds.items()}
cpu = {name: statistics.median(us for _, us in runs) for name, runs in rounds.items()}
ours = echo.get("hyperdjango", 0)
fan = json.loads(fanout)
report = {
    "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    "echo_round_trips_per_second": echo,
    "ratios": {name: round(ours / value, 2) for name, value in echo.items() if value and name != "hyperdjango"},
    "server_cpu_us_per_round_trip": {name: round(value, 2) for name, value in cpu.items()},
    "rounds": {name: [{"per_second": rate, "server_cpu_us": round(us, 2)} for rate, us in runs]
               for name, runs in rounds.items()},
    "fanout_ms": {"subscribers": int(idle), "best": fan["best_ms"], "median": fan["median_ms"]},
    "idle_rss_mb": {"connections": int(idle), "before": round(int(before) / 1024, 1),
                    "after": round(int(after) / 1024, 1),
                    "added_kb_per_connection": round((int(after) - int(before)) / int(idle), 2)},
}
json.dump(report, open(f"{results}/websocket.json", "w"), indent=2)
rows = ["| server | echo round trips/s | hyperdjango ÷ | server CPU µs per round trip | ÷ hyperdjango's |",
        "|---|---:|---:|---:|---:|"]
for name, value in sorted(echo.items(), key=lambda item: -item[1]):
    ratio = "—" if name == "hyperdjango" else f"{ours / value:.2f}×"
    cost = "—" if name == "hyperdjango" else f"{cpu[name] / cpu['hyperdjango']:.2f}×"
    rows.append(f"| {name} | {value:,.0f} | {ratio} | {cpu[name]:.2f} | {cost} |")
if len(rounds.get("hyperdjango", [])) > 1:
    rows.append("")
    for index, (rate, us) in enumerate(rounds["hyperdjango"]):
        peers = ", ".join(f"{name} {ours_rate / runs[index][0]:.2f}× ({runs[index][0]:,.0f})"
                          for name, runs in rounds.items() if name != "hyperdjango"
                          for ours_rate in [rate] if index < len(runs))
        rows.append(f"Round {index + 1}: hyperdjango {rate:,.0f}/s; {peers}")
text = "\n".join(rows) + (
    f"\n\nFan-out of one message to {idle} subscribers: best {fan['best_ms']:.1f} ms, "
    f"median {fan['median_ms']:.1f} ms.\n"
    f"RSS with {idle} idle WebSocket connections: {report['idle_rss_mb']['after']} MB "
    f"(idle server {report['idle_rss_mb']['before']} MB).\n"
)
open(f"{results}/websocket.md", "w").write(f"WebSocket benchmark, {report['date']}\n\n" + text)
print(text)
PY
