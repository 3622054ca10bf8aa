"""``manage.py runziserver --workers N`` and ``hyper run --wsgi ... --workers N``: the
supervisor of ``hyperdjango.workers`` over WSGI workers (a real Django project and a raw WSGI
app), and the WSGI server's shutdown, which is ``HyperApp.run``'s (docs/lifecycle.md)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from servers import free_port, start_command
from test_django_bridge import PROJECT, django_env, runziserver  # noqa: F401 - the fixture
from test_workers import answered_by_every_worker, children

from conftest import APPS, ROOT, RunningServer, wait_for

HYPER = [sys.executable, "-m", "hyperdjango.cli"]


def pid_of(running: RunningServer, path: str = "/pid/") -> int:
    """One request on a fresh connection (so requests spread over the workers)."""
    with httpx.Client(base_url=running.url, timeout=20) as client:
        response = client.get(path, headers={"Connection": "close"})
    assert response.status_code == 200, response.text[:300]
    return int(response.json()["pid"])


def wait_for_workers(running: RunningServer, count: int = 2) -> list[int]:
    return wait_for(
        lambda: len(pids := children(running.process.pid)) == count and pids,
        what=f"{count} workers",
    )


def serves_from_every_worker(running: RunningServer, workers: list[int], path: str) -> None:
    answered_by_every_worker(workers, lambda: pid_of(running, path))


def exited(pid: int) -> bool:
    status = Path(f"/proc/{pid}/status")
    try:
        return "zombie" in status.read_text()
    except OSError:
        return True


def test_runziserver_workers_serve_are_replaced_and_drain(django_env: dict[str, str]) -> None:  # noqa: F811
    running = runziserver(django_env, "--workers", "2", "--threads", "2")
    try:
        supervisor = running.process.pid
        workers = wait_for_workers(running)
        assert supervisor not in workers
        serves_from_every_worker(running, workers, "/pid/")
        # kill -9 of a worker: replaced (logged), and the port keeps answering meanwhile.
        killed, survivor = workers
        os.kill(killed, signal.SIGKILL)
        for _ in range(20):
            assert pid_of(running) != killed
        replaced = wait_for(
            lambda: (p := children(supervisor)) and len(p) == 2 and killed not in p and p,
            what="a replacement worker",
        )
        assert survivor in replaced
        assert f"(pid {killed}) exited (killed by SIGKILL)" in "".join(running.output)
        serves_from_every_worker(running, replaced, "/pid/")
        # SIGTERM: a request in flight in a worker is answered, then everything exits 0.
        answers: list[httpx.Response] = []

        started = Path(django_env["SIGNAL_DIR"]) / "workers-drain.started"
        started.unlink(missing_ok=True)

        def slow() -> None:
            with running.client() as client:
                answers.append(client.get("/slow/?seconds=1.5&key=workers-drain", timeout=30))

        thread = threading.Thread(target=slow)
        thread.start()
        wait_for(started.exists, what="the slow request to reach a worker's view")
        running.process.send_signal(signal.SIGTERM)
        thread.join(30)
        assert running.process.wait(30) == 0
        assert [(answer.status_code, answer.text) for answer in answers] == [(200, "slow done")]
        assert all(exited(pid) for pid in replaced)
    finally:
        running.stop()


def test_runziserver_workers_reload_on_sighup(
    django_env: dict[str, str],  # noqa: F811
    tmp_path: Path,
) -> None:
    project = tmp_path / "project"
    shutil.copytree(PROJECT, project, ignore=shutil.ignore_patterns("__pycache__", "*.sqlite3"))
    running = runziserver(django_env, "--workers", "2", "--prod", cwd=project)
    failures: list[BaseException] = []
    versions: list[str] = []
    stop = threading.Event()

    def client_loop() -> None:
        while not stop.is_set():
            try:
                with httpx.Client(base_url=running.url, timeout=20) as client:
                    response = client.get("/version/", headers={"Connection": "close"})
                assert response.status_code == 200, response.status_code
                versions.append(response.text)
            except BaseException as error:  # noqa: BLE001 - every failure counts
                failures.append(error)

    try:
        old = wait_for_workers(running)
        loop = threading.Thread(target=client_loop)
        loop.start()
        try:
            wait_for(lambda: len(versions) > 5, what="requests before the reload")
            time.sleep(1.1)  # a new mtime second: the cached bytecode must not match
            (project / "shop" / "version.py").write_text('VERSION = "two"\n')
            running.process.send_signal(signal.SIGHUP)
            wait_for(
                lambda: (
                    (p := children(running.process.pid)) and not set(p) & set(old) and len(p) == 2
                ),
                timeout=60,
                what="the old workers to be replaced",
            )
            count = len(versions)
            wait_for(lambda: len(versions) > count + 10, what="requests after the reload")
        finally:
            stop.set()
            loop.join(30)
        assert failures == [], failures[:3]
        assert versions[0] == "one" and versions[-1] == "two"
    finally:
        assert running.stop(30) == 0


@pytest.mark.parametrize("value", ["0", "abc", "-2"])
def test_runziserver_bad_workers_is_one_line(django_env: dict[str, str], value: str) -> None:  # noqa: F811
    environment = {**os.environ, **django_env, "PYTHONPATH": str(ROOT / "python")}
    done = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "runziserver",
            f"127.0.0.1:{free_port()}",
            f"--workers={value}",
        ],
        cwd=PROJECT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert f"--workers must be a whole number of 1 or more, not {value!r}" in lines[0]


def hyper_wsgi(*flags: str) -> RunningServer:
    port = free_port()
    command = [*HYPER, "run", "--wsgi", "wsgi_app:application", "--port", str(port), *flags]
    return start_command(command, port, cwd=APPS, env={"PYTHONPATH": str(ROOT / "python")})


def test_hyper_run_wsgi_with_workers() -> None:
    running = hyper_wsgi("--workers", "2", "--threads", "2")
    try:
        workers = wait_for_workers(running)
        serves_from_every_worker(running, workers, "/pid")
        with running.client() as client:
            assert client.get("/pid").json()["multiprocess"] is True
        assert running.stop(30) == 0
        assert all(exited(pid) for pid in workers)
    finally:
        running.stop()


def test_wsgi_drain_deadline_and_second_sigint_as_hyperapp() -> None:
    """--shutdown-timeout bounds the drain: a view still running at the deadline is answered
    503 and the process exits 0; a second SIGINT while draining exits 130 at once."""
    running = hyper_wsgi("--shutdown-timeout", "1", "--threads", "2")
    answers: list[httpx.Response] = []

    def sleep(seconds: float) -> None:
        with running.client() as client:
            answers.append(client.get(f"/sleep?{seconds}", timeout=30))

    try:
        thread = threading.Thread(target=sleep, args=(20,))
        thread.start()
        view_is_running(running)
        started = time.monotonic()
        running.process.send_signal(signal.SIGTERM)
        assert running.process.wait(30) == 0
        thread.join(30)
        assert time.monotonic() - started < 15  # not the view's 20 s
        assert [answer.status_code for answer in answers] == [503]
        assert "SIGTERM received" in "".join(running.output)
    finally:
        running.stop()
    running = hyper_wsgi("--threads", "2")
    try:
        thread = threading.Thread(target=lambda: _ignore_errors(sleep, 20))
        thread.start()
        view_is_running(running)
        running.process.send_signal(signal.SIGINT)
        # The second comes once the first is handled (two pending SIGINTs would be one).
        running.wait_for_output("SIGINT received", what="the first SIGINT to be handled")
        running.process.send_signal(signal.SIGINT)
        assert running.process.wait(30) == 130
        thread.join(30)
    finally:
        running.stop()


def view_is_running(running: RunningServer) -> None:
    """Waits until a /sleep view is running (a fixed pause loses the race on a loaded machine:
    a signal before the request arrives leaves nothing to drain)."""
    with running.client() as client:
        wait_for(
            lambda: client.get("/sleeping").json()["count"] >= 1,
            timeout=20,
            what="the /sleep view to start",
        )


def _ignore_errors(function, *arguments) -> None:  # type: ignore[no-untyped-def]
    try:
        function(*arguments)
    except httpx.HTTPError:
        pass  # cut by the forced stop, as intended
