"""``hyper run --reload``: the worker restarts on a change, the socket never closes.

A client loop opens a new connection for every request while the app's
module is edited three times; every request must be answered (none refused,
reset or failed), and the answers must move to each new version.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from conftest import start_server

APP = """
from hyperdjango import HyperApp

app = HyperApp("reloading")


@app.get("/version")
async def version(request):
    return {{"version": {version}}}
"""

LAUNCHER = """
import os
import sys

os.chdir(os.path.dirname(os.path.abspath(__file__)))
from hyperdjango.cli import main

sys.exit(main(["run", "--app", "app:app", "--host", os.environ["HOST"],
               "--port", os.environ["PORT"], "--shutdown-timeout", "10", "--reload"]))
"""


def save(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text)
    os.replace(temporary, path)


def test_reload_restarts_the_worker_without_refusing_a_request(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(APP.format(version=1))
    (tmp_path / "launch.py").write_text(LAUNCHER)
    server = start_server(tmp_path / "launch.py")
    seen: list[int] = []
    failures: list[str] = []
    stop = threading.Event()

    def client_loop() -> None:
        while not stop.is_set():
            try:
                # a new connection each time: every request is a connect()
                response = httpx.get(
                    server.url + "/version", headers={"Connection": "close"}, timeout=30
                )
                seen.append(response.json()["version"])
            except Exception as error:  # noqa: BLE001 - every failure is counted
                failures.append(repr(error))

    loop = threading.Thread(target=client_loop)
    loop.start()
    try:
        for version in (2, 3, 4):
            save(tmp_path / "app.py", APP.format(version=version))
            deadline = time.monotonic() + 60
            while (not seen or seen[-1] != version) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert seen and seen[-1] == version, f"still {seen[-1:]} after the edit"
        # a syntax error: the old worker keeps serving
        save(tmp_path / "app.py", "def broken(:\n")
        server.wait_for_output("did not start", 30)
        count = len(seen)
        time.sleep(0.5)
        assert len(seen) > count and seen[-1] == 4
    finally:
        stop.set()
        loop.join(60)
        status = server.stop()
    assert failures == []
    print(f"{len(seen)} requests, none failed")
    assert seen[0] == 1 and len(seen) > 20
    assert status == 0, "".join(server.output)


def test_reload_with_prod_is_one_clear_line(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(APP.format(version=1))
    completed = subprocess.run(
        [sys.executable, "-m", "hyperdjango.cli", "run", "--app", "app:app", "--reload", "--prod"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)},
    )
    assert completed.returncode != 0
    assert "Traceback" not in completed.stderr
    assert completed.stderr.strip().count("\n") == 0
    assert "--reload" in completed.stderr
