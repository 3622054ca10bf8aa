"""Start third-party servers (uvicorn, hypercorn, daphne, Granian, gunicorn, Django's
manage.py) on a free port for served tests, and wait until they accept connections."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from conftest import ROOT, RunningServer

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def asgi_command(server: str, target: str, port: int) -> list[str]:
    """The command line serving ASGI app ``target`` (module:attribute) with ``server``."""
    python = sys.executable
    if server == "uvicorn":
        return [python, "-m", "uvicorn", target, "--host", "127.0.0.1", "--port", str(port),
                "--log-level", "warning", "--lifespan", "on"]  # fmt: skip
    if server == "hypercorn":
        return [python, "-m", "hypercorn", target, "--bind", f"127.0.0.1:{port}"]
    if server == "daphne":
        return [python, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), target]
    if server == "granian":
        return [str(BIN / "granian"), "--interface", "asgi", "--host", "127.0.0.1",
                "--port", str(port), "--workers", "1", target]  # fmt: skip
    raise ValueError(f"unknown ASGI server {server!r}")


def start_command(
    command: list[str],
    port: int,
    *,
    env: dict[str, str] | None = None,
    cwd: Path = ROOT,
    timeout: float = 60.0,
) -> RunningServer:
    """Run ``command`` and wait until 127.0.0.1:``port`` accepts connections."""
    environment = {**os.environ, "PYTHONUNBUFFERED": "1"}
    environment["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(ROOT), str(ROOT / "tests"), environment.get("PYTHONPATH")])
    )
    environment.update(env or {})
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=environment,
        cwd=str(cwd),
        start_new_session=True,
    )
    output: list[str] = []

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            output.append(line)

    threading.Thread(target=pump, daemon=True).start()
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            time.sleep(0.2)
            raise RuntimeError(f"{command[:3]} exited ({process.returncode}):\n{''.join(output)}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            pass
        if time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"{command[:3]} did not listen in {timeout}s:\n{''.join(output)}")
        time.sleep(0.1)
    return RunningServer(process, f"http://127.0.0.1:{port}", "127.0.0.1", port, output)
