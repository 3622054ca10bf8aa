"""Graceful shutdown, served: SIGTERM, SIGINT and `_server_shutdown()`.

The app is tests/apps/lifecycle.py; its hooks and generator `finally` blocks
print marker lines, so the order of events is read from the output. Requests
are known to be in flight when /debug/performance counts them (it counts
itself too).
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from conftest import ROOT, RawReader, RawResponse, RunningServer, start_server
from hyperdjango._hyperdjango_native import _server_shutdown


def launch(timeout: float = 10.0, **env: str) -> RunningServer:
    return start_server("lifecycle.py", env={"SHUTDOWN_TIMEOUT": str(timeout), **env})


def send(running: RunningServer, path: str, method: str = "GET") -> socket.socket:
    sock = running.connect(timeout=30)
    sock.sendall(f"{method} {path} HTTP/1.1\r\nHost: test\r\nContent-Length: 0\r\n\r\n".encode())
    return sock


def in_flight(running: RunningServer) -> int:
    """Requests between head and last answer byte (``open_requests``), not counting this one."""
    sock = send(running, "/debug/performance")
    response = RawReader(sock).read()
    sock.close()
    return int(response.body.split(b'"open_requests":')[1].split(b",")[0]) - 1


def wait_until(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.02)


def output_has(running: RunningServer, text: str) -> Callable[[], bool]:
    return lambda: any(text in line for line in running.output)


def read_all(sockets: list[socket.socket]) -> list[RawResponse]:
    """Reads one response from each socket, concurrently."""
    responses: list[RawResponse | BaseException | None] = [None] * len(sockets)

    def read(index: int) -> None:
        try:
            responses[index] = RawReader(sockets[index]).read()
        except BaseException as error:  # noqa: BLE001 - reported below
            responses[index] = error

    threads = [threading.Thread(target=read, args=(i,)) for i in range(len(sockets))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    for response in responses:
        assert isinstance(response, RawResponse), f"no answer: {response!r}"
    return responses  # type: ignore[return-value]


def refused(running: RunningServer) -> bool:
    try:
        running.connect(timeout=2).close()
    except ConnectionRefusedError:
        return True
    except ConnectionResetError:
        # A probe that reached the accept queue just as the listener closed is reset,
        # not refused: the listener is going, but ask again until it is gone.
        return False
    return False


@pytest.fixture
def running() -> Iterator[RunningServer]:
    server = launch()
    yield server
    server.stop()


def test_server_shutdown_outside_a_server_is_a_clear_error() -> None:
    with pytest.raises(RuntimeError, match="no hyperdjango server is running"):
        _server_shutdown()


@pytest.mark.parametrize(
    "signal_number", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"]
)
def test_fifty_in_flight_requests_all_answered_and_new_connections_refused(
    signal_number: signal.Signals,
) -> None:
    running = launch()
    sockets = [send(running, "/slow/30") for _ in range(50)]
    wait_until(lambda: in_flight(running) == 50)
    running.process.send_signal(signal_number)
    wait_until(output_has(running, f"{signal_number.name} received"))
    # The listener closes at once, while the 3 s requests are still in flight.
    wait_until(lambda: refused(running), timeout=2)
    responses = read_all(sockets)
    assert [response.status for response in responses] == [200] * 50
    assert all(response.header("connection") == "close" for response in responses)
    assert running.process.wait(30) == 0
    output = "".join(running.output)
    assert output.count("hook: shutdown 1 (async)") == 1
    assert output.count("hook: shutdown 2 (sync)") == 1


def test_idle_keep_alive_connection_is_closed_at_once(running: RunningServer) -> None:
    idle = send(running, "/")
    assert RawReader(idle).read().header("connection") != "close"  # kept alive, now idle
    busy = send(running, "/slow/15")  # keeps the server draining meanwhile
    wait_until(lambda: in_flight(running) == 1)
    started = time.monotonic()
    running.process.send_signal(signal.SIGTERM)
    idle.settimeout(5)
    assert idle.recv(1) == b""  # closed by the server
    assert time.monotonic() - started < 1.0
    assert RawReader(busy).read().status == 200
    assert running.process.wait(30) == 0


def test_hooks_run_once_in_order_after_the_drain(running: RunningServer) -> None:
    busy = send(running, "/stream/10")
    wait_until(lambda: in_flight(running) == 1)
    running.process.send_signal(signal.SIGTERM)
    response = RawReader(busy).read()
    assert response.body == b"".join(f"part {n}\n".encode() for n in range(10))
    assert running.process.wait(30) == 0
    lines = [line.strip() for line in running.output]
    drained = lines.index("stream finally ran (10)")
    hooks = [line for line in lines if line.startswith("hook: shutdown")]
    assert hooks == ["hook: shutdown 1 (async)", "hook: shutdown 2 (sync)"]
    assert drained < lines.index("hook: shutdown 1 (async)")
    assert lines[-1] == "hyperdjango: stopped"


def test_a_stream_in_flight_streams_to_its_end() -> None:
    running = launch()
    busy = send(running, "/stream/20")
    reader = RawReader(busy)
    head = reader.read(head_only=True)
    assert head.header("transfer-encoding") == "chunked"
    running.process.send_signal(signal.SIGTERM)
    wait_until(output_has(running, "SIGTERM received"))
    body = b""
    while True:  # the chunked body, to its terminating zero-size chunk
        size = int(reader._line(), 16)
        if size == 0:
            assert reader._line() == b""
            break
        body += reader._exactly(size)
        assert reader._exactly(2) == b"\r\n"
    assert body == b"".join(f"part {n}\n".encode() for n in range(20))
    assert running.process.wait(30) == 0


def test_the_drain_deadline_cuts_cleanly_and_nothing_holds_the_process() -> None:
    running = launch(timeout=1)
    sse = send(running, "/sse-forever")
    reader = RawReader(sse)
    assert reader.read(head_only=True).status == 200
    slow_async = send(running, "/slow/600")  # a minute: far past the deadline
    slow_sync = send(running, "/slow-sync/600")
    wait_until(lambda: in_flight(running) == 3)
    started = time.monotonic()
    running.process.send_signal(signal.SIGTERM)
    assert running.process.wait(30) == 0
    assert time.monotonic() - started < 20  # not the handlers' minute
    # The endless SSE stream ended with its terminating chunk ...
    rest = b""
    sse.settimeout(5)
    while chunk := sse.recv(65536):
        rest += chunk
    assert (reader.buffer + rest).endswith(b"\r\n0\r\n\r\n")
    # ... its generator's finally ran, and the cut handlers' clients got 503.
    assert output_has(running, "sse finally ran")()
    assert RawReader(slow_async).read().status == 503
    assert RawReader(slow_sync).read().status == 503
    output = "".join(running.output)
    assert output.index("sse finally ran") < output.index("hook: shutdown 1 (async)")


def test_server_shutdown_from_a_handler_answers_that_request(running: RunningServer) -> None:
    busy = send(running, "/slow/10")
    wait_until(lambda: in_flight(running) == 1)
    response = RawReader(send(running, "/shutdown", "POST")).read()
    assert response.status == 200
    assert response.body == b'{"stopping":true}'
    assert response.header("connection") == "close"
    assert RawReader(busy).read().status == 200
    assert running.process.wait(30) == 0
    assert "".join(running.output).count("hook: shutdown 2 (sync)") == 1


def test_signals_are_handled_while_the_python_thread_is_busy(running: RunningServer) -> None:
    blocked = send(running, "/blocking/20")  # an async handler that blocks the thread 2 s
    wait_until(lambda: in_flight(running) == 1)
    running.process.send_signal(signal.SIGTERM)
    # The native side stops accepting without waiting for Python.
    wait_until(lambda: refused(running), timeout=1.5)
    response = RawReader(blocked).read()
    assert (response.status, response.header("connection")) == (200, "close")
    assert running.process.wait(30) == 0


def test_second_sigterm_keeps_draining(running: RunningServer) -> None:
    busy = send(running, "/slow/20")
    wait_until(lambda: in_flight(running) == 1)
    running.process.send_signal(signal.SIGTERM)
    wait_until(output_has(running, "SIGTERM received"))
    running.process.send_signal(signal.SIGTERM)
    assert RawReader(busy).read().status == 200
    assert running.process.wait(30) == 0
    assert output_has(running, "still draining")()


def test_second_sigint_stops_at_once(tmp_path: Path) -> None:
    pid_file = tmp_path / "server.pid"
    running = launch(timeout=60, PID_FILE=str(pid_file))
    assert pid_file.read_text().strip() == str(running.process.pid)
    busy = send(running, "/slow/600")
    wait_until(lambda: in_flight(running) == 1)
    running.process.send_signal(signal.SIGINT)
    wait_until(output_has(running, "SIGINT received"))
    running.process.send_signal(signal.SIGINT)
    assert running.process.wait(20) == 130
    busy.settimeout(5)
    assert busy.recv(1) == b""  # cut, not answered
    assert not pid_file.exists()
    assert not output_has(running, "hook: shutdown")()


def test_pid_file_lives_while_serving(tmp_path: Path) -> None:
    pid_file = tmp_path / "server.pid"
    running = launch(PID_FILE=str(pid_file))
    assert pid_file.read_text() == f"{running.process.pid}\n"
    running.process.send_signal(signal.SIGTERM)
    assert running.process.wait(30) == 0
    assert not pid_file.exists()


def test_run_on_a_busy_port_is_one_line_and_no_stopped() -> None:
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    port = holder.getsockname()[1]
    with holder:
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "hyperdjango.cli",
                "run",
                "--app",
                "lifecycle:app",
                "--port",
                str(port),
            ],
            cwd=ROOT / "tests" / "apps",
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"hyper: cannot listen on 127.0.0.1:{port}: "
        "the port is already in use (is another server running on it?)"
    )
    assert "stopped" not in result.stdout + result.stderr
    assert "hook: startup" not in result.stdout  # nothing ran for a server that never served


@pytest.mark.parametrize("trigger", ["_server_shutdown", "SIGTERM"])
def test_in_flight_request_finishes_then_clean_exit(trigger: str) -> None:
    running = start_server("shutdown.py")
    busy = send(running, "/slow")
    running.wait_for_output("slow started", what="the slow request to reach its handler")
    if trigger == "SIGTERM":
        running.process.terminate()
    else:
        stop = RawReader(send(running, "/shutdown", "POST")).read()
        assert stop.body == b'{"stopping":true}'
    assert RawReader(busy).read().body == b'{"done":true}'
    assert running.process.wait(15) == 0
    output = "".join(running.output)
    assert "on_startup ran" in output
    assert "on_shutdown ran" in output
