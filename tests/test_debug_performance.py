"""``/debug/performance``: answered natively, with per-route latency keyed by pattern."""

from __future__ import annotations

import os
import threading
import time
from typing import Any

from test_deadlines import limits_server

from conftest import wait_for


def test_routes_are_keyed_by_pattern_with_counts_and_percentiles() -> None:
    running = limits_server()
    try:
        with running.client() as http:
            for item in (1, 2, 3):
                assert http.get(f"/items/{item}").status_code == 200
            assert http.get("/").status_code == 200
            assert http.get("/nope").status_code == 404  # answered natively: no route
            stats = http.get("/debug/performance").json()
        assert stats["requests_total"] >= 5
        assert stats["workers"] == [running.process.pid]
        assert stats["queue_depth"] == 0 and stats["in_flight"] == 0
        routes = stats["routes"]
        assert "/items/1" not in routes
        assert routes["/items/{id:int}"]["count"] == 3
        assert routes["/"]["count"] == 1
        assert routes["/block"]["count"] == 0
        for route in ("/items/{id:int}", "/"):
            assert 0 < routes[route]["p50_ms"] <= routes[route]["p99_ms"] < 10_000
    finally:
        assert running.stop() == 0


def test_answered_while_python_is_busy_and_waiting_requests_are_not_in_flight() -> None:
    running = limits_server()
    try:
        results: list[int] = []

        def blocked() -> None:
            with running.client() as http:
                results.append(http.get("/block?seconds=2").status_code)

        def stats() -> dict[str, Any]:
            with running.client() as http:
                result: dict[str, Any] = http.get("/debug/performance").json()
                return result

        first = threading.Thread(target=blocked)
        first.start()
        wait_for(lambda: stats()["in_flight"] == 1, what="the first /block to hold Python")
        second = threading.Thread(target=blocked)
        second.start()  # ... so the second waits for it
        wait_for(lambda: stats()["queue_depth"] == 1, what="the second /block to queue")
        with running.client() as http:
            started = time.monotonic()
            stats = http.get("/debug/performance").json()
            elapsed = time.monotonic() - started
        assert elapsed < 1.0, "waited for the busy Python thread"
        assert stats["in_flight"] == 1
        assert stats["queue_depth"] == 1
        first.join(15)
        second.join(15)
        assert results == [200, 200]
        assert os.getpid() not in stats["workers"]
    finally:
        assert running.stop() == 0
