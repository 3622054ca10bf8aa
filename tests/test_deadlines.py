"""Deadlines: slowloris heads, idle keep-alive, stalled bodies (tests/apps/limits.py).

Every deadline is shortened for the test; the assertions check what happens
at a deadline and that nothing is cut before it, with wide margins for a
loaded machine.
"""

from __future__ import annotations

import resource
import selectors
import socket
import statistics
import time

import pytest

from conftest import RawReader, RunningServer, recv_all, start_server
from hyperdjango import HyperApp
from hyperdjango.limits import ServerLimits


def limits_server(**limits: object) -> RunningServer:
    return start_server(
        "limits.py", env={name.upper(): str(value) for name, value in limits.items()}
    )


def raise_descriptor_limit(wanted: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < wanted:
        pytest.skip(f"needs {wanted} descriptors, the hard limit is {hard}")
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def test_slowloris_tricklers_get_408_at_the_deadline_and_others_are_served() -> None:
    """1,000 connections trickle one head byte a second; a normal client is still
    answered at once, and every trickler gets 408 and a close at header_read_timeout."""
    raise_descriptor_limit(1000 + 512)
    deadline = 3.0
    running = limits_server(header_read_timeout=deadline, keep_alive_timeout=30)
    tricklers: list[socket.socket] = []
    try:
        connected = time.monotonic()
        for _ in range(1000):
            tricklers.append(running.connect(timeout=10))
        trickle = b"GET / HTTP/1.1\r\nX-Slow: " + b"x" * 64
        latencies = []
        answered: dict[socket.socket, tuple[bytes, float]] = {}
        selector = selectors.DefaultSelector()
        for sock in tricklers:
            sock.setblocking(False)
            selector.register(sock, selectors.EVENT_READ)
        position = 0
        with running.client() as http:
            while len(answered) < len(tricklers) and time.monotonic() - connected < deadline + 20:
                for sock in tricklers:
                    if sock not in answered:
                        try:
                            sock.send(trickle[position : position + 1])
                        except OSError:
                            pass  # closed after its 408: read below
                position += 1
                started = time.monotonic()
                assert http.get("/").json() == {"message": "Hello!"}
                latencies.append(time.monotonic() - started)
                until = time.monotonic() + 1.0
                while time.monotonic() < until:
                    for key, _ in selector.select(timeout=max(0.0, until - time.monotonic())):
                        sock = key.fileobj
                        try:
                            data = sock.recv(4096)
                        except (BlockingIOError, ConnectionResetError):
                            data = b""
                        previous, _ = answered.get(sock, (b"", 0.0))
                        answered[sock] = (previous + data, time.monotonic() - connected)
                        if not data:
                            selector.unregister(sock)
        assert len(answered) == len(tricklers)
        statuses = {data.split(b"\r\n", 1)[0] for data, _ in answered.values()}
        assert statuses == {b"HTTP/1.1 408 Request Timeout"}, statuses
        first_answer = min(elapsed for _, elapsed in answered.values())
        assert first_answer >= deadline - 0.5, "cut before the header deadline"
        # The normal client never waited behind the tricklers.
        assert statistics.median(latencies) < 0.1, latencies
    finally:
        for sock in tricklers:
            sock.close()
        assert running.stop() == 0


def test_idle_keep_alive_closes_silently_independent_of_the_header_deadline() -> None:
    running = limits_server(keep_alive_timeout=0.5, header_read_timeout=60)
    try:
        sock = running.connect(timeout=15)
        sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        reader = RawReader(sock)
        assert reader.read().status == 200
        started = time.monotonic()
        rest = recv_all(sock, timeout=15)
        waited = time.monotonic() - started
        assert rest == b"" and reader.buffer == b"", "idle close must be silent"
        assert 0.3 < waited < 15, waited  # at keep_alive_timeout, long before header_read_timeout
    finally:
        assert running.stop() == 0


def test_a_head_in_progress_is_held_to_the_header_deadline_not_keep_alive() -> None:
    running = limits_server(keep_alive_timeout=60, header_read_timeout=1)
    try:
        sock = running.connect(timeout=15)
        sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        reader = RawReader(sock)
        assert reader.read().status == 200
        started = time.monotonic()
        sock.sendall(b"GET / HTTP/1.1\r\n")
        for _ in range(40):  # a byte every 0.1 s: never idle, never finished
            try:
                sock.sendall(b"X")
            except OSError:
                break
            time.sleep(0.1)
        assert reader.read().status == 408
        assert 0.7 < time.monotonic() - started < 30
    finally:
        assert running.stop() == 0


def test_a_stalled_body_gets_408_and_the_handler_never_runs() -> None:
    running = limits_server(body_read_timeout=0.5)
    try:
        sock = running.connect(timeout=15)
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nhalf!")
        answer = recv_all(sock, timeout=15)
        assert answer.startswith(b"HTTP/1.1 408 "), answer
        with running.client() as http:
            assert http.get("/handled").json() == {"count": 0}
    finally:
        assert running.stop() == 0


def test_a_slow_body_that_progresses_is_not_cut() -> None:
    running = limits_server(body_read_timeout=0.5)
    try:
        sock = running.connect(timeout=15)
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\n")
        for byte in b"0123456789":  # 2 s in all, four times the deadline
            time.sleep(0.2)
            sock.sendall(bytes([byte]))
        response = RawReader(sock).read()
        assert response.status == 200 and response.body == b'{"received":10}'
    finally:
        assert running.stop() == 0


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("header_read_timeout", 0),
        ("keep_alive_timeout", -1),
        ("body_read_timeout", "30"),
        ("send_timeout", float("nan")),
        ("max_connections", 0),
        ("max_queue", 1.5),
        ("max_queue_wait", True),
    ],
)
def test_bad_limits_are_a_clear_error(option: str, value: object) -> None:
    with pytest.raises(ValueError, match=option):
        HyperApp("bad").run(port=0, **{option: value})


def test_documented_defaults() -> None:
    defaults = ServerLimits()
    assert defaults.header_read_timeout == 10.0
    assert defaults.keep_alive_timeout == 5.0
    assert defaults.body_read_timeout == 30.0
    assert defaults.send_timeout == 30.0
    assert defaults.max_connections == 10_000
    assert defaults.max_queue == 1024
    assert defaults.max_queue_wait == 5.0
