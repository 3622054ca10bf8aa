"""``hyper run --wsgi module:application``: any WSGI app (here Flask) on the native server."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import APPS, ROOT, STARTUP_LINE, RunningServer

HYPER = [sys.executable, "-m", "hyperdjango.cli"]


def hyper_env() -> dict[str, str]:
    environment = {**os.environ, "PYTHONUNBUFFERED": "1"}
    environment["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(ROOT / "python"), environment.get("PYTHONPATH")])
    )
    return environment


@pytest.fixture(scope="module")
def flask_server() -> Iterator[RunningServer]:
    process = subprocess.Popen(
        # --asgi: the WebSocket upgrades go to an ASGI app (here a HyperApp's routes).
        [
            *HYPER,
            "run",
            "--wsgi",
            "flask_app:app",
            "--asgi",
            "websockets_app:app",
            "--port",
            "0",
            "--threads",
            "4",
        ],  # fmt: skip
        cwd=APPS,
        env=hyper_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    output: list[str] = []
    for line in process.stdout:
        output.append(line)
        match = STARTUP_LINE.search(line)
        if match:
            break
    else:
        raise RuntimeError("hyper run --wsgi did not start:\n" + "".join(output))
    running = RunningServer(process, match.group(1), match.group(2), int(match.group(3)), output)
    yield running
    assert running.stop() == 0


def test_flask_app_served(flask_server: RunningServer) -> None:
    with flask_server.client() as client:
        hello = client.get("/")
        assert hello.json() == {"message": "Hello from Flask", "server": hello.json()["server"]}
        assert hello.json()["server"].startswith("hyperdjango/")
        echoed = client.post(
            "/echo?q=1", data={"name": "ada"}, files={"file": ("a.bin", b"x" * 5000)}
        )
        assert echoed.json() == {"name": "ada", "upload": 5000, "query": "1"}
        assert client.get("/stream").text == "part 0\npart 1\npart 2\n"
        assert client.get("/missing").status_code == 404


def test_asgi_app_takes_the_websocket_upgrades(flask_server: RunningServer) -> None:
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    base = f"ws://{flask_server.host}:{flask_server.port}"
    with connect(base + "/echo") as ws:  # websockets_app's @app.websocket("/echo")
        ws.send("through the bridge")
        assert ws.recv(timeout=10) == "through the bridge"
    with connect(base + "/room/lobby/5?q=x") as ws:
        assert '"number":5' in ws.recv(timeout=10)
    with pytest.raises(InvalidStatus) as refused:  # closed before accepting: 403
        with connect(base + "/nowhere", open_timeout=10):
            pass
    assert refused.value.response.status_code == 403
    with flask_server.client() as client:  # HTTP is still Flask's
        assert client.get("/").json()["message"] == "Hello from Flask"


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--wsgi", "no_such_module:app"], "cannot import 'no_such_module:app'"),
        (["--wsgi", "not a reference"], "--wsgi must look like module:application"),
        (["--wsgi", "flask_app:nothing"], "is not a WSGI application"),
        (["--wsgi", "flask_app:app", "--app", "x:y"], "not both"),
        (["--wsgi", "flask_app:app", "--threads", "0"], "--threads must be at least 1"),
        (["--wsgi", "flask_app:app", "--asgi", "nowhere:app"], "cannot import 'nowhere:app'"),
        (["--wsgi", "flask_app:app", "--asgi", "flask_app:nothing"], "is not an ASGI application"),
        (["--app", "websockets_app:app", "--asgi", "x:y"], "--asgi takes the WebSocket upgrades"),
        ([], "--app is required"),
    ],
)
def test_cli_mistakes_are_one_line(arguments: list[str], message: str) -> None:
    done = subprocess.run(
        [*HYPER, "run", *arguments],
        cwd=APPS,
        env=hyper_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_port_in_use_is_one_line(tmp_path: Path) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = subprocess.run(
            [*HYPER, "run", "--wsgi", "flask_app:app", "--port", str(port)],
            cwd=APPS, env=hyper_env(), capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    assert done.returncode == 1
    assert "cannot listen" in done.stderr and "Traceback" not in done.stderr
