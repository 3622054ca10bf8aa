"""10,000 idle keep-alive connections cost at most 80 MB RSS for the whole server."""

from __future__ import annotations

import re
import resource
import socket
import time
from pathlib import Path

import pytest
from test_deadlines import limits_server

CONNECTIONS = 10_000
REQUEST = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n"


def rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"VmRSS:\s+(\d+) kB", status)
    assert match, status
    return int(match.group(1)) / 1024


def test_ten_thousand_idle_keep_alive_connections_fit_in_80_mb() -> None:
    wanted = CONNECTIONS + 1024
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < wanted:
        pytest.skip(f"needs {wanted} descriptors, the hard limit is {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, wanted), hard))
    # The server inherits the raised limit; keep-alive long enough to measure.
    running = limits_server(keep_alive_timeout=300, max_connections=CONNECTIONS + 100)
    connections: list[socket.socket] = []
    try:
        for start in range(0, CONNECTIONS, 500):
            batch = [running.connect(timeout=30) for _ in range(500)]
            for sock in batch:
                sock.sendall(REQUEST)
            for sock in batch:
                answer = sock.recv(4096)
                assert answer.startswith(b"HTTP/1.1 200 OK"), (start, answer)
            connections += batch
        time.sleep(1.0)
        with running.client() as http:
            stats = http.get("/debug/performance").json()
        assert stats["connections"] >= CONNECTIONS
        used = rss_mb(running.process.pid)
        print(f"RSS with {CONNECTIONS} idle keep-alive connections: {used:.1f} MB")
        assert used <= 80, f"{used:.1f} MB"
    finally:
        for sock in connections:
            sock.close()
        assert running.stop() == 0
