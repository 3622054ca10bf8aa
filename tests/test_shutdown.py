"""Stopping: `_server_shutdown()` and SIGTERM finish in-flight requests, then exit 0."""

import threading
import time

import pytest

from conftest import start_server
from hyperdjango._hyperdjango_native import _server_shutdown


def test_server_shutdown_outside_a_server_is_a_clear_error() -> None:
    with pytest.raises(RuntimeError, match="no hyperdjango server is running"):
        _server_shutdown()


@pytest.mark.parametrize("trigger", ["_server_shutdown", "SIGTERM"])
def test_in_flight_request_finishes_then_clean_exit(trigger: str) -> None:
    running = start_server("shutdown.py")
    results: dict[str, object] = {}

    def slow() -> None:
        with running.client() as http:
            response = http.get("/slow")
            results["slow"] = (response.status_code, response.json())

    thread = threading.Thread(target=slow)
    thread.start()
    time.sleep(0.3)
    if trigger == "SIGTERM":
        running.process.terminate()
    else:
        with running.client() as http:
            assert http.post("/shutdown").json() == {"stopping": True}
    thread.join(10)
    assert running.process.wait(15) == 0
    assert results["slow"] == (200, {"done": True})
    output = "".join(running.output)
    assert "on_startup ran" in output
    assert "on_shutdown ran" in output
