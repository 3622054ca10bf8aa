"""RateLimitMiddleware(backend="redis://..."): a real redis-server, two server processes."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest

from conftest import RunningServer, start_server
from hyperdjango.standalone_middleware import RateLimitMiddleware

pytestmark = pytest.mark.skipif(
    shutil.which("redis-server") is None,
    reason="redis-server is not installed (.ci/setup.d/40-redis.sh installs it)",
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                if sock.recv(16).startswith(b"+PONG"):
                    break
        except OSError:
            pass
        if time.monotonic() > deadline:
            process.kill()
            raise RuntimeError("redis-server did not start")
        time.sleep(0.05)
    yield f"redis://127.0.0.1:{port}/0"
    process.terminate()
    process.wait(10)


def test_two_processes_share_one_limit(redis_url: str) -> None:
    env = {"REDIS_URL": redis_url, "RATE": "5/day", "PREFIX": f"test-{uuid.uuid4().hex}:"}
    first = start_server("middleware_redis.py", env=env)
    second = start_server("middleware_redis.py", env=env)
    try:
        with first.client() as a, second.client() as b:
            statuses = [client.get("/").status_code for client in (a, b, a, b, a)]
            assert statuses == [200] * 5
            remaining = a.get("/")
            assert remaining.status_code == 429
            assert remaining.headers["ratelimit-limit"] == "5"
            assert remaining.headers["ratelimit-remaining"] == "0"
            assert int(remaining.headers["retry-after"]) >= 1
            assert b.get("/").status_code == 429
    finally:
        first.stop()
        second.stop()


def test_allowed_answers_count_down(redis_url: str) -> None:
    env = {"REDIS_URL": redis_url, "RATE": "100/day", "PREFIX": f"test-{uuid.uuid4().hex}:"}
    server = start_server("middleware_redis.py", env=env)
    try:
        with server.client() as client:
            values = [int(client.get("/").headers["ratelimit-remaining"]) for _ in range(3)]
        assert values == [99, 98, 97]
    finally:
        server.stop()


def unreachable_url() -> str:
    return f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there


def wait_for_output(server: RunningServer, needle: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(needle in line for line in server.output):
            return
        time.sleep(0.05)
    raise AssertionError(f"{needle!r} not in server output: {server.output}")


def test_redis_down_fails_open_logs_and_never_hangs() -> None:
    server = start_server("middleware_redis.py", env={"REDIS_URL": unreachable_url()})
    try:
        with httpx.Client(base_url=server.url, timeout=10) as client:
            for _ in range(20):
                response = client.get("/")
                assert response.status_code == 200
                assert "ratelimit-limit" not in response.headers
        wait_for_output(server, "rate limit store unavailable")
        warnings = [line for line in server.output if "rate limit store unavailable" in line]
        assert len(warnings) == 1  # at most one warning per 10 s, not one per request
    finally:
        server.stop()


def test_redis_down_fail_closed_answers_503() -> None:
    server = start_server(
        "middleware_redis.py", env={"REDIS_URL": unreachable_url(), "FAIL_OPEN": "0"}
    )
    try:
        with httpx.Client(base_url=server.url, timeout=10) as client:
            response = client.get("/")
        assert response.status_code == 503
        assert response.json() == {"detail": "Rate limit store unavailable"}
    finally:
        server.stop()


def test_bad_backend_urls_are_refused() -> None:
    for bad in ["mysql://x", "redis://", "redis://host:notaport", "memcached"]:
        with pytest.raises(ValueError, match="backend"):
            RateLimitMiddleware(backend=bad)
