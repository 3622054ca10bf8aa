"""Issue point 1: the spec's Quick Start, served by examples/hello.py."""

from collections.abc import Iterator

import pytest

from conftest import ROOT, RunningServer, start_server


@pytest.fixture(scope="module")
def hello() -> Iterator[RunningServer]:
    running = start_server(ROOT / "examples" / "hello.py")
    yield running
    running.stop()


def test_index_returns_json_message(hello: RunningServer) -> None:
    with hello.client() as http:
        response = http.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"message": "Hello!"}


def test_create_user_returns_201(hello: RunningServer) -> None:
    with hello.client() as http:
        response = http.post("/users", json={"name": "Ada"})
    assert response.status_code == 201
    assert response.json() == {"created": "Ada"}


def test_startup_line_reports_the_real_port(hello: RunningServer) -> None:
    assert hello.port != 0
    assert f"http://127.0.0.1:{hello.port}" in hello.output[-1] or any(
        f"http://127.0.0.1:{hello.port}" in line for line in hello.output
    )


def test_sigterm_stops_the_server_cleanly(hello: RunningServer) -> None:
    # Runs last in this module (pytest keeps file order): a clean exit code.
    assert hello.stop() == 0
