"""What a SIGHUP reload does to connections waiting in an accept queue (bench/run_reuseport.sh).

A ``--workers 2 --max-connections 1`` server gets 20 connections that send nothing: each
worker accepts one, the other 18 wait in the kernel's accept queue(s). SIGHUP: new workers
start, the old ones retire and close their listener. Then every waiting connection sends a
``Connection: close`` request: counted as answered (200) or lost (reset/closed unanswered).
Usage: reuseport_queue_probe.py shared|reuseport
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

APPS = Path(__file__).parent / "apps"


def main() -> None:
    mode = sys.argv[1]
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    environment = {**os.environ, "HYPERDJANGO_REUSEPORT": "1" if mode == "reuseport" else "0"}
    command = [sys.executable, "-m", "hyperdjango.cli", "run", "--app", "hyperdjango_app:app"]
    command += ["--port", str(port), "--prod", "--workers", "2", "--max-connections", "1"]
    server = subprocess.Popen(
        command, cwd=APPS, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    assert server.stdout is not None
    for line in server.stdout:
        if b"supervisor pid" in line:
            break
    os.set_blocking(server.stdout.fileno(), False)
    waiting = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(20)]
    time.sleep(0.5)
    server.send_signal(signal.SIGHUP)
    time.sleep(3)  # new workers ready, old ones retired (their accepted idle connection: 1 s)
    answered = lost = 0
    for sock in waiting:
        try:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: probe\r\nConnection: close\r\n\r\n")
            answer = sock.recv(64)
            if answer.startswith(b"HTTP/1.1 200"):
                answered += 1
            else:
                lost += 1
        except OSError:
            lost += 1
        finally:
            sock.close()
    server.send_signal(signal.SIGTERM)
    server.wait(30)
    print(f"{mode}: 20 connections waiting across a reload: {answered} answered, {lost} lost")


if __name__ == "__main__":
    main()
