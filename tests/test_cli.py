"""The `hyper` command, run as a user would, in a temporary directory.

start -> status -> restart -> stop against a real daemon; stale PID files (a
dead process, a PID that belongs to another program); a double start; bad
--app references, a port in use and bad port numbers, each one line on
stderr with a non-zero exit and no traceback.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from conftest import APPS, ROOT

HYPER = [sys.executable, "-m", "hyperdjango.cli"]


def hyper(*words: str, cwd: Path, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [*HYPER, *words], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=environment
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def assert_one_line_error(result: subprocess.CompletedProcess[str], *expected: str) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for text in expected:
        assert text in lines[0], lines[0]


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Path]:
    """A folder holding app.py (the lifecycle test app) and a non-app module."""
    shutil.copy(APPS / "lifecycle.py", tmp_path / "app.py")
    (tmp_path / "broken.py").write_text("import os\n\nraise ValueError('boom at import')\n")
    yield tmp_path
    for pid_file in tmp_path.glob(".hyper.*.pid"):  # never leave a daemon behind
        try:
            os.kill(int(pid_file.read_text()), signal.SIGKILL)
        except (ValueError, OSError):
            pass


def status_pid(result: subprocess.CompletedProcess[str]) -> int:
    match = re.search(r"PID (\d+)", result.stdout)
    assert match, result.stdout
    return int(match.group(1))


def test_full_cycle_start_status_restart_stop(project: Path) -> None:
    port = free_port()
    started = hyper("start", "--app", "app:app", "--port", str(port), cwd=project)
    assert started.returncode == 0, started.stderr
    pid_file = project / f".hyper.{port}.pid"
    log_file = project / f".hyper.{port}.log"
    pid = int(pid_file.read_text())
    assert f"PID {pid}" in started.stdout
    # It answers as soon as `start` returned.
    assert httpx.get(f"http://127.0.0.1:{port}/").json() == {"ok": True}

    status = hyper("status", "--port", str(port), cwd=project)
    assert status.returncode == 0
    assert status_pid(status) == pid
    assert f"port {port}" in status.stdout
    assert re.search(r"uptime \d+:\d\d:\d\d", status.stdout)

    restarted = hyper("restart", "--app", "app:app", "--port", str(port), cwd=project)
    assert restarted.returncode == 0, restarted.stderr
    new_pid = int(pid_file.read_text())
    assert new_pid != pid
    assert httpx.get(f"http://127.0.0.1:{port}/").json() == {"ok": True}

    stopped = hyper("stop", "--port", str(port), cwd=project)
    assert stopped.returncode == 0, stopped.stderr
    assert "stopped gracefully" in stopped.stdout
    assert not pid_file.exists()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/")

    after = hyper("status", "--port", str(port), cwd=project)
    assert after.returncode == 3
    assert "not running" in after.stdout
    # The daemon's stdout (startup line, hooks) and stderr (shutdown lines) both went to the log.
    log = log_file.read_text()
    assert log.count("serving 'lifecycle'") == 2
    assert log.count("hook: shutdown 2 (sync)") == 2
    assert "SIGTERM received" in log
    assert "hyperdjango: stopped" in log


def test_double_start_is_refused(project: Path) -> None:
    port = free_port()
    assert hyper("start", "--app", "app:app", "--port", str(port), cwd=project).returncode == 0
    pid = (project / f".hyper.{port}.pid").read_text()
    again = hyper("start", "--app", "app:app", "--port", str(port), cwd=project)
    assert_one_line_error(again, "already running", f"port {port}")
    assert (project / f".hyper.{port}.pid").read_text() == pid
    assert hyper("stop", "--port", str(port), cwd=project).returncode == 0


def test_stale_pid_files_count_as_not_running(project: Path) -> None:
    port = free_port()
    pid_file = project / f".hyper.{port}.pid"
    dead = subprocess.Popen(["true"])
    dead.wait()
    # A dead process, then a live PID that belongs to another program (this test).
    for stale_pid in (dead.pid, os.getpid()):
        pid_file.write_text(f"{stale_pid}\n")
        status = hyper("status", "--port", str(port), cwd=project)
        assert status.returncode == 3, status.stdout
        assert "not running" in status.stdout
    stopped = hyper("stop", "--port", str(port), cwd=project)  # must not signal this test
    assert stopped.returncode == 0
    assert "not running" in stopped.stdout
    assert not pid_file.exists()
    pid_file.write_text(f"{os.getpid()}\n")
    started = hyper("start", "--app", "app:app", "--port", str(port), cwd=project)
    assert started.returncode == 0, started.stderr
    assert int(pid_file.read_text()) != os.getpid()
    assert hyper("stop", "--port", str(port), cwd=project).returncode == 0


@pytest.mark.parametrize(
    ("reference", "message"),
    [
        ("missing:app", "no module named 'missing'"),
        ("app:nothing", "has no attribute 'nothing'"),
        ("app:os", "is a module, not a HyperApp"),
        ("app:index", "is a function, not a HyperApp"),
        ("broken:app", "ValueError: boom at import"),
        ("no-colon", "must look like module:attribute"),
    ],
)
@pytest.mark.parametrize("verb", ["start", "run", "routes"])
def test_bad_app_is_one_line(project: Path, verb: str, reference: str, message: str) -> None:
    port = free_port()
    port_words = [] if verb == "routes" else ["--port", str(port)]
    result = hyper(verb, "--app", reference, *port_words, cwd=project)
    assert_one_line_error(result, message)
    assert not (project / f".hyper.{port}.pid").exists()


def test_start_on_a_port_in_use_fails_with_the_reason(project: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = hyper("start", "--app", "app:app", "--port", str(port), cwd=project)
    assert_one_line_error(result, "did not start", f"127.0.0.1:{port}", "already in use")
    assert not (project / f".hyper.{port}.pid").exists()


@pytest.mark.parametrize("port", ["abc", "70000", "-1", "0"])
@pytest.mark.parametrize("verb", ["start", "stop", "status", "restart"])
def test_bad_port_is_one_line(project: Path, verb: str, port: str) -> None:
    app = ["--app", "app:app"] if verb in ("start", "restart") else []
    result = hyper(verb, *app, "--port", port, cwd=project)
    assert result.returncode == 2
    assert_one_line_error(result, "invalid port", repr(port))


def test_run_rejects_a_bad_port_in_one_line(project: Path) -> None:
    assert_one_line_error(
        hyper("run", "--app", "app:app", "--port", "65536", cwd=project), "invalid port"
    )


@pytest.mark.parametrize("verb", ["run", "start", "restart"])
def test_a_bad_event_loop_choice_is_one_line(project: Path, verb: str) -> None:
    environment = {**os.environ, "PYTHONPATH": str(ROOT), "HYPERDJANGO_LOOP": "tornado"}
    result = subprocess.run(
        [*HYPER, verb, "--app", "app:app", "--port", str(free_port())],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=90,
        env=environment,
    )
    assert_one_line_error(result, "HYPERDJANGO_LOOP must be one of auto, uvloop, asyncio")


@pytest.mark.parametrize(
    "verb",
    [
        [],
        ["run"],
        ["start"],
        ["stop"],
        ["restart"],
        ["status"],
        ["routes"],
        ["systemd"],
        ["systemd", "install"],
        ["systemd", "uninstall"],
    ],
)
def test_every_verb_has_help(project: Path, verb: list[str]) -> None:
    result = hyper(*verb, "--help", cwd=project)
    assert result.returncode == 0
    assert result.stdout.startswith("usage: hyper")


def test_stop_without_a_server_says_so(project: Path) -> None:
    result = hyper("stop", "--port", str(free_port()), cwd=project)
    assert result.returncode == 0
    assert "not running" in result.stdout


def test_stop_kills_a_server_that_ignores_sigterm(project: Path) -> None:
    port = free_port()
    pid_file = project / f".hyper.{port}.pid"
    # A stand-in for a wedged server: its command line names the PID file, as a daemon's does.
    stubborn = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN);"
            " print('ready', flush=True); time.sleep(60)",
            str(pid_file),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert stubborn.stdout is not None and stubborn.stdout.readline() == "ready\n"
    pid_file.write_text(f"{stubborn.pid}\n")
    started = time.monotonic()
    result = hyper("stop", "--port", str(port), "--timeout", "0.5", cwd=project)
    assert result.returncode == 0, result.stderr
    assert "killed" in result.stdout
    assert stubborn.wait(10) == -signal.SIGKILL
    assert time.monotonic() - started < 30
    assert not pid_file.exists()


def test_prod_flag_reaches_the_daemon(project: Path) -> None:
    port = free_port()
    assert (
        hyper("start", "--app", "app:app", "--port", str(port), "--prod", cwd=project).returncode
        == 0
    )
    try:
        response = httpx.get(f"http://127.0.0.1:{port}/debug/performance")
        assert response.status_code == 404  # /debug/* is hidden in production
        assert "production mode" in (project / f".hyper.{port}.log").read_text()
    finally:
        assert hyper("stop", "--port", str(port), cwd=project).returncode == 0


def test_routes_prints_the_table(project: Path) -> None:
    result = hyper("routes", "--app", "app:app", cwd=project)
    assert result.returncode == 0
    assert "/slow/{seconds:int}" in result.stdout
