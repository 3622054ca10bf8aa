"""Connection limits and load shedding (tests/apps/limits.py).

Overload is made with a handler that holds the Python thread for 50 ms, so the
server's capacity is 20 requests a second whatever the machine's load; the
assertions allow wide margins for a shared machine.
"""

from __future__ import annotations

import asyncio
import resource
import socket
import statistics
import time

import pytest
from test_deadlines import limits_server

from conftest import RawReader, wait_for

HANDLER_SECONDS = 0.05


def test_beyond_max_connections_a_connection_waits_and_is_served_once_one_frees() -> None:
    running = limits_server(max_connections=2, keep_alive_timeout=60)
    held: list[socket.socket] = []
    try:
        for _ in range(2):
            sock = running.connect(timeout=15)
            sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
            assert RawReader(sock).read().status == 200
            held.append(sock)
        waiting = running.connect(timeout=15)  # completes: the kernel's backlog holds it
        waiting.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        waiting.settimeout(1.0)
        try:
            early = waiting.recv(100)
        except TimeoutError:
            early = None
        assert early is None, "served beyond max_connections"
        held.pop().close()
        waiting.settimeout(15)
        response = RawReader(waiting).read()  # neither refused nor reset
        assert response.status == 200 and response.body == b'{"message":"Hello!"}'
        waiting.close()
    finally:
        for sock in held:
            sock.close()
        assert running.stop() == 0


async def _client(
    port: int, path: str, rounds: int, results: list[tuple[int, float, str | None]]
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for _ in range(rounds):
            started = time.monotonic()
            writer.write(f"GET {path} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            status = int(lines[0].split()[1])
            headers = dict(line.lower().split(": ", 1) for line in lines[1:] if line)
            await reader.readexactly(int(headers["content-length"]))
            results.append((status, time.monotonic() - started, headers.get("retry-after")))
            if status == 503:
                await asyncio.sleep(0.2)
    finally:
        writer.close()


def _load(
    port: int, path: str, connections: int, rounds: int
) -> list[tuple[int, float, str | None]]:
    results: list[tuple[int, float, str | None]] = []

    async def main() -> None:
        await asyncio.wait_for(
            asyncio.gather(*(_client(port, path, rounds, results) for _ in range(connections))),
            timeout=120,
        )

    asyncio.run(main())
    return results


def percentiles(latencies: list[float]) -> str:
    ordered = sorted(latencies)

    def at(fraction: float) -> float:
        return ordered[round((len(ordered) - 1) * fraction)] * 1000

    return f"p50 {at(0.5):.1f} ms, p99 {at(0.99):.1f} ms, max {ordered[-1] * 1000:.1f} ms"


def test_overload_is_shed_with_quick_503s_and_the_server_recovers(
    capsys: pytest.CaptureFixture[str],
) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 4096)), hard))
    max_queue = 16
    running = limits_server(max_queue=max_queue, keep_alive_timeout=60)
    try:
        results = _load(running.port, "/block", connections=500, rounds=2)
        assert len(results) == 1000
        accepted = [latency for status, latency, _ in results if status == 200]
        shed = [(latency, retry) for status, latency, retry in results if status == 503]
        assert {status for status, _, _ in results} == {200, 503}
        assert all(retry == "1" for _, retry in shed)
        # Recorded, not a goal (bench/run_overload.sh measures that): a Python client with 500
        # connections on a shared machine adds its own delays to every figure.
        with capsys.disabled():
            print(
                f"\n  overload: {len(shed)} x 503 in {percentiles([lat for lat, _ in shed])}; "
                f"{len(accepted)} x 200 in {percentiles(accepted)}"
            )
        # 503s are answered natively, without waiting for Python (a median 50 ms handler
        # would exceed; generous so that a loaded machine cannot make it flake).
        assert statistics.median(latency for latency, _ in shed) < 0.05 * 4
        # Documented bound (docs/overload.md): fewer than max_queue ahead of it, and its answer
        # leaves with the rest of its batch (at most max_queue handlers).
        bound = 2 * max_queue * HANDLER_SECONDS
        assert max(accepted) < bound + 2.0, (max(accepted), bound)
        # Recovered: everything is answered again, with nothing refused.
        with running.client() as http:
            wait_for(
                lambda: http.get("/debug/performance").json()["queue_depth"] == 0,
                what="the queue to drain",
            )
            for _ in range(20):
                assert http.get("/").status_code == 200
            assert http.get("/block").status_code == 200
            stats = http.get("/debug/performance").json()
        assert stats["queue_depth"] == 0
        assert stats["shed_total"] == len(shed)
    finally:
        assert running.stop() == 0


def test_no_shedding_below_capacity() -> None:
    """With the default limits, 200 clients at once are below capacity: handlers
    that await (50 ms) do not hold the Python thread, and quick ones are served
    as fast as they come; nothing is refused."""
    running = limits_server(keep_alive_timeout=60)
    try:
        results = _load(running.port, "/wait", connections=200, rounds=3)
        results += _load(running.port, "/", connections=200, rounds=5)
        assert [status for status, _, _ in results] == [200] * 1600
    finally:
        assert running.stop() == 0


def test_sync_handlers_waiting_for_a_pool_thread_count_as_queued() -> None:
    """A def handler waits for a pool thread, not for the Python thread: that
    wait counts too, so a saturated pool sheds instead of queueing without end."""
    running = limits_server(max_queue=8, max_queue_wait=0.5, keep_alive_timeout=60)
    try:
        results = _load(running.port, "/sync/block?seconds=0.2", connections=200, rounds=2)
        statuses = [status for status, _, _ in results]
        assert statuses.count(200) >= 8 and statuses.count(503) > 0
        # Fewer than max_queue wait for the 40 pool threads: two handler-times at most.
        accepted = [latency for status, latency, _ in results if status == 200]
        assert max(accepted) < 2 * 0.2 + 2.0
    finally:
        assert running.stop() == 0
