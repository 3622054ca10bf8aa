"""Fixtures that start real hyperdjango servers on free ports.

Each served app is a script under tests/apps/ that reads HOST, PORT and PROD
from the environment and calls ``app.run``; the fixture parses the startup line
for the real address, and stops the process with SIGTERM afterwards.

The ``client`` fixture runs each test that uses it twice: against the served
app over TCP, and against the same app imported here and answered in-process
by ``hyperdjango.testing.TestClient`` (the same native connection loop).
"""

from __future__ import annotations

import importlib.util
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from hyperdjango import HyperApp
from hyperdjango.testing import TestClient

APPS = Path(__file__).parent / "apps"
ROOT = Path(__file__).parent.parent
STARTUP_LINE = re.compile(r"serving .* on (http://(\[[^\]]+\]|[^:/\s]+):(\d+))")


@dataclass
class RunningServer:
    process: subprocess.Popen[str]
    url: str
    host: str
    port: int
    output: list[str] = field(default_factory=list)

    def client(self, **kwargs: object) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=10, **kwargs)  # type: ignore[arg-type]

    def connect(self, timeout: float = 5.0) -> socket.socket:
        """A raw TCP connection to the server."""
        host = self.host.strip("[]")
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        sock.connect((host, self.port))
        return sock

    def wait_for_output(self, text: str, timeout: float = 10.0, what: str | None = None) -> None:
        """Wait until the server has printed ``text`` (a log line from a handler)."""
        wait_for(lambda: text in "".join(self.output), timeout, what or repr(text))

    def stop(self, timeout: float = 15.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


def start_server(
    script: str | Path, *, env: dict[str, str] | None = None, timeout: float = 30.0
) -> RunningServer:
    """Start ``script`` (path relative to tests/apps or absolute) and wait for its startup line."""
    path = Path(script)
    if not path.is_absolute():
        path = APPS / path
    environment = {**os.environ, "HOST": "127.0.0.1", "PORT": "0", "PYTHONUNBUFFERED": "1"}
    environment["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(ROOT), environment.get("PYTHONPATH")])
    )
    environment.update(env or {})
    process = subprocess.Popen(
        [sys.executable, str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=environment,
        cwd=str(ROOT),
    )
    output: list[str] = []
    deadline = time.monotonic() + timeout
    assert process.stdout is not None
    while True:
        line = process.stdout.readline()
        if not line:
            process.wait(5)
            raise RuntimeError(f"{path.name} exited before serving:\n{''.join(output)}")
        output.append(line)
        match = STARTUP_LINE.search(line)
        if match:
            break
        if time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"{path.name} did not start in {timeout}s:\n{''.join(output)}")

    def pump() -> None:
        assert process.stdout is not None
        for rest in process.stdout:
            output.append(rest)

    threading.Thread(target=pump, daemon=True).start()
    return RunningServer(process, match.group(1), match.group(2), int(match.group(3)), output)


@pytest.fixture(scope="session")
def server() -> Iterator[RunningServer]:
    """tests/apps/basic.py in debug mode."""
    running = start_server("basic.py")
    yield running
    running.stop()


@pytest.fixture(scope="session")
def prod_server() -> Iterator[RunningServer]:
    """tests/apps/basic.py with prod=True."""
    running = start_server("basic.py", env={"PROD": "1"})
    yield running
    running.stop()


def load_app(script: str) -> HyperApp:
    """Import tests/apps/``script`` into this process and return its ``app``."""
    path = APPS / script
    spec = importlib.util.spec_from_file_location(f"tests_apps_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.app


@pytest.fixture(scope="session")
def in_process() -> Iterator[TestClient]:
    """tests/apps/basic.py answered in-process by TestClient (debug mode)."""
    with TestClient(load_app("basic.py"), timeout=10) as test_client:
        yield test_client


@pytest.fixture(scope="session")
def in_process_prod() -> Iterator[TestClient]:
    """tests/apps/basic.py answered in-process by TestClient with prod=True."""
    with TestClient(load_app("basic.py"), prod=True, timeout=10) as test_client:
        yield test_client


@pytest.fixture(params=["served", "in_process"])
def client(request: pytest.FixtureRequest) -> Iterator[httpx.Client]:
    """An httpx client for tests/apps/basic.py: served over TCP, then in-process."""
    if request.param == "served":
        server: RunningServer = request.getfixturevalue("server")
        with server.client() as http:
            yield http
    else:
        test_client: TestClient = request.getfixturevalue("in_process")
        test_client.cookies.clear()
        yield test_client


def recv_all(sock: socket.socket, timeout: float = 5.0) -> bytes:
    """Read until the peer closes (or ``timeout`` passes without data)."""
    sock.settimeout(timeout)
    chunks = []
    while True:
        try:
            chunk = sock.recv(65536)
        except (TimeoutError, ConnectionResetError):
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


@dataclass
class RawResponse:
    status: int
    reason: str
    version: str
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        values = [value for key, value in self.headers if key.lower() == name.lower()]
        return values[0] if values else None

    def header_list(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key.lower() == name.lower()]


class RawReader:
    """Reads HTTP/1.1 responses off a raw socket, one at a time (for pipelining tests)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = b""

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("connection closed")
        self.buffer += chunk

    def _line(self) -> bytes:
        while b"\r\n" not in self.buffer:
            self._fill()
        line, self.buffer = self.buffer.split(b"\r\n", 1)
        return line

    def _exactly(self, count: int) -> bytes:
        while len(self.buffer) < count:
            self._fill()
        data, self.buffer = self.buffer[:count], self.buffer[count:]
        return data

    def read(self, head_only: bool = False) -> RawResponse:
        status_line = self._line().decode("latin-1")
        version, status, reason = (status_line.split(" ", 2) + [""])[:3]
        headers: list[tuple[str, str]] = []
        while True:
            line = self._line()
            if not line:
                break
            name, _, value = line.decode("latin-1").partition(":")
            headers.append((name.strip(), value.strip()))
        response = RawResponse(int(status), reason, version, headers, b"")
        if head_only or response.status in (204, 304) or 100 <= response.status < 200:
            return response
        length = response.header("content-length")
        if length is not None:
            response.body = self._exactly(int(length))
        elif (response.header("transfer-encoding") or "").lower() == "chunked":
            body = b""
            while True:
                size = int(self._line().split(b";")[0], 16)
                if size == 0:
                    while self._line():
                        pass
                    break
                body += self._exactly(size)
                self._exactly(2)
            response.body = body
        return response


def wait_for(condition: Callable[[], Any], timeout: float = 30.0, what: str = "condition") -> Any:
    """Poll ``condition`` until it returns something true (returned), or fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")
