# Shared by the bench/run*.sh scripts (sourced): stopping the server under test,
# picking free ports, waiting until a server answers. Expects PYTHON and WORK to be set.

SERVER_PID=""

# Stops the server under test: SIGTERM, then SIGKILL after 5 s.
cleanup() {
    if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    SERVER_PID=""
}
trap 'cleanup; rm -rf "$WORK"' EXIT INT TERM

free_port() { "$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Waits up to 30 s until the server on port $1 answers GET ${2:-/}; fails otherwise.
wait_ready() {  # port [path]
    for _ in $(seq 300); do
        curl -fsS "http://127.0.0.1:$1${2:-/}" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    return 1
}
