"""``--workers N``: a supervisor over N workers on one inherited listening socket
(tests/apps/workers.py). Each request uses a fresh connection, as a client loop
of ``curl`` calls would, so requests spread over the workers."""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from conftest import APPS, RawReader, RunningServer, start_server, wait_for
from hyperdjango import HyperApp


def get(running: RunningServer, path: str = "/", timeout: float = 10.0) -> dict:
    """One request on its own connection; raises on any failure."""
    with running.connect(timeout=timeout) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".encode())
        response = RawReader(sock).read()
    assert response.status == 200, response
    return json.loads(response.body)


def children(pid: int) -> list[int]:
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return sorted(int(child) for child in text.split())


def answered_by_every_worker(workers: list[int], answering_pid: Callable[[], int]) -> None:
    """Asks (``answering_pid`` makes one request) until every worker has answered. Which
    worker accepts a connection is the kernel's choice, and one still starting takes none:
    so within a deadline rather than a count."""
    seen: set[int] = set()
    deadline = time.monotonic() + 20
    while not seen >= set(workers) and time.monotonic() < deadline:
        seen.add(answering_pid())
        time.sleep(0.005)
    assert seen == set(workers), f"answered by {seen}, workers {workers}"


@pytest.fixture
def version_file(tmp_path: Path) -> Path:
    path = tmp_path / "version"
    path.write_text("1")
    return path


@pytest.fixture
def supervised(version_file: Path) -> Iterator[RunningServer]:
    running = start_server("workers.py", env={"WORKERS": "2", "VERSION_FILE": str(version_file)})
    yield running
    running.stop(timeout=30)


def test_both_workers_serve_and_sigterm_drains_them_all(
    supervised: RunningServer, tmp_path: Path
) -> None:
    supervisor = supervised.process.pid
    workers = children(supervisor)
    assert len(workers) == 2 and supervisor not in workers
    answered_by_every_worker(workers, lambda: get(supervised)["pid"])  # one port, both accept
    assert sorted(get(supervised, "/debug/performance")["workers"]) == workers
    # A request in flight when SIGTERM arrives is finished, then everything exits 0.
    results: list[dict] = []
    started = tmp_path / "slow.started"
    slow = threading.Thread(
        target=lambda: results.append(get(supervised, f"/slow?seconds=1&started={started}"))
    )
    slow.start()
    wait_for(started.exists, what="the slow request to reach a worker's handler")
    supervised.process.send_signal(signal.SIGTERM)
    slow.join(20)
    assert results and results[0]["slow"] is True
    assert supervised.process.wait(30) == 0
    for pid in workers:
        assert (
            not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text()
        )


def test_a_killed_worker_is_replaced_and_the_port_keeps_answering(
    supervised: RunningServer,
) -> None:
    supervisor = supervised.process.pid
    first, second = children(supervisor)
    os.kill(first, signal.SIGKILL)
    # The other worker (and the supervisor's socket) keep the port answering meanwhile.
    for _ in range(20):
        assert get(supervised)["pid"] != first
    replaced = wait_for(
        lambda: (pids := children(supervisor)) and len(pids) == 2 and first not in pids and pids,
        what="a replacement worker",
    )
    assert second in replaced
    output = "".join(supervised.output)
    assert f"(pid {first}) exited (killed by SIGKILL)" in output
    wait_for(
        lambda: any(get(supervised)["pid"] not in (first, second) for _ in range(50)),
        what="the replacement to serve",
    )


def test_sighup_reloads_new_code_with_zero_failed_requests(
    supervised: RunningServer, version_file: Path
) -> None:
    supervisor = supervised.process.pid
    old = children(supervisor)
    failures: list[BaseException] = []
    versions: list[str] = []
    stop = threading.Event()

    def client_loop() -> None:
        while not stop.is_set():
            try:
                versions.append(get(supervised)["version"])
            except BaseException as error:  # noqa: BLE001 - every failure counts
                failures.append(error)

    loop = threading.Thread(target=client_loop)
    loop.start()
    try:
        time.sleep(0.5)
        version_file.write_text("2")
        supervised.process.send_signal(signal.SIGHUP)
        wait_for(
            lambda: (pids := children(supervisor)) and not set(pids) & set(old) and len(pids) == 2,
            what="the old workers to be replaced",
        )
        count = len(versions)
        wait_for(lambda: len(versions) > count + 20, what="requests after the reload")
    finally:
        stop.set()
        loop.join(30)
    assert failures == [], failures[:3]
    assert versions[0] == "1" and versions[-1] == "2"
    assert "2" in versions and versions.index("2") > 0
    assert supervised.process.poll() is None


def test_sigttin_and_sigttou_add_and_remove_a_worker(supervised: RunningServer) -> None:
    supervisor = supervised.process.pid
    supervised.process.send_signal(signal.SIGTTIN)
    wait_for(lambda: len(children(supervisor)) == 3, what="a third worker")
    supervised.process.send_signal(signal.SIGTTOU)
    wait_for(lambda: len(children(supervisor)) == 2, what="back to two workers")
    for _ in range(5):
        get(supervised)


def test_a_worker_that_cannot_start_stops_the_supervisor_with_an_error(tmp_path: Path) -> None:
    app = tmp_path / "broken.py"
    app.write_text(
        "import os\n"
        "from hyperdjango import HyperApp\n"
        "if 'HYPERDJANGO_WORKER' in os.environ:\n"
        "    raise RuntimeError('cannot start in a worker')\n"
        "app = HyperApp('broken')\n"
        "app.run(port=0, workers=2)\n"
    )
    with pytest.raises(RuntimeError, match="exited before serving") as failure:
        start_server(app)
    assert "a worker failed to start" in str(failure.value)


@pytest.mark.parametrize("workers", [0, -1, 1.5, True, "2"])
def test_bad_workers_value_is_a_clear_error(workers: object) -> None:
    with pytest.raises(ValueError, match="workers must be a positive int"):
        HyperApp("bad").run(port=0, workers=workers)  # type: ignore[arg-type]


def test_one_worker_changes_nothing() -> None:
    running = start_server("workers.py", env={"WORKERS": "1"})
    try:
        assert get(running)["pid"] == running.process.pid
        assert Path(f"/proc/{running.process.pid}").exists()
        with socket.create_connection((running.host, running.port)):
            pass
    finally:
        assert running.stop() == 0


def test_hyper_start_status_stop_with_workers(tmp_path: Path) -> None:
    """`hyper start --workers 2`: the PID file names the supervisor, `hyper status`
    lists its two workers, `hyper stop` drains them all and the port closes."""
    from test_cli import free_port, hyper

    (tmp_path / "app.py").write_text((APPS / "workers.py").read_text())
    port = free_port()
    started = hyper(
        "start",
        "--app",
        "app:app",
        "--port",
        str(port),
        "--workers",
        "2",
        "--keep-alive-timeout",
        "2",
        cwd=tmp_path,
    )
    try:
        assert started.returncode == 0, started.stderr
        supervisor = int((tmp_path / f".hyper.{port}.pid").read_text())
        workers = children(supervisor)
        assert len(workers) == 2
        status = hyper("status", "--port", str(port), cwd=tmp_path)
        assert status.returncode == 0
        assert (
            f"2 workers (supervisor PID {supervisor}): {workers[0]} {workers[1]}" in status.stdout
        )
        stopped = hyper("stop", "--port", str(port), cwd=tmp_path)
        assert stopped.returncode == 0, stopped.stderr
        assert not (tmp_path / f".hyper.{port}.pid").exists()
    finally:
        for pid_file in tmp_path.glob(".hyper.*.pid"):
            os.kill(int(pid_file.read_text()), signal.SIGKILL)


def test_bad_cli_values_are_one_line_errors(tmp_path: Path) -> None:
    from test_cli import assert_one_line_error, hyper

    for flag, value in [("--workers", "0"), ("--max-queue", "x"), ("--header-read-timeout", "0")]:
        result = hyper("run", "--app", "app:app", flag, value, cwd=tmp_path)
        assert_one_line_error(result, flag)
