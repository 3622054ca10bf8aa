"""The supervisor of ``--workers N``: binds the port once, runs N workers on it.

Design (docs/workers.md): the supervisor binds **one** listening socket and
every worker inherits it, so all workers accept from one kernel queue. A
worker that stops accepting (it drains, it crashed) leaves the connections
waiting in that queue to the others: a rolling reload drops nothing. (With
``SO_REUSEPORT`` each worker would own a queue, and closing it resets the
connections waiting there.)

The supervisor serves nothing itself. Signals:

- SIGTERM / SIGINT: every worker drains (SIGTERM), then the supervisor exits 0;
  a second SIGINT kills the workers at once.
- SIGHUP: zero-downtime reload. A new generation of workers starts (importing
  the code afresh) and only once all of them are ready do the old ones get
  SIGTERM and drain. If a new worker fails to start, the old ones stay.
- SIGTTIN / SIGTTOU: one worker more / less (gunicorn's convention).
- A worker that exits on its own is replaced, after a back-off that doubles
  with each quick failure (0.1 s up to 10 s), and logged.
"""

from __future__ import annotations

import logging
import os
import selectors
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..lifecycle import ListenError, PidFile
from . import worker as worker_env
from .sockets import REUSE_PORT_ENV, bind_listener, reuse_port_listener

__all__ = ["Supervisor", "bind_listener"]

logger = logging.getLogger("hyperdjango.workers")

#: How long a new worker may take to import the app and run its startup hooks.
READY_TIMEOUT = 60.0
#: A worker that ran at least this long before exiting resets the back-off.
STABLE_AFTER = 10.0
BACKOFF_FIRST = 0.1
BACKOFF_MAX = 10.0
HANDLED_SIGNALS = (
    signal.SIGTERM,
    signal.SIGINT,
    signal.SIGHUP,
    signal.SIGTTIN,
    signal.SIGTTOU,
    signal.SIGCHLD,
)


@dataclass
class Worker:
    process: subprocess.Popen[bytes]
    number: int
    generation: int
    started: float = field(default_factory=time.monotonic)
    ready_fd: int = -1  # read end of its readiness pipe, until it reported
    ready: bool = False
    retiring: bool = False

    @property
    def pid(self) -> int:
        return self.process.pid


class Supervisor:
    """Runs ``workers`` copies of ``command`` on one inherited listening socket."""

    def __init__(
        self,
        *,
        workers: int,
        listener: socket.socket,
        command: list[str] | None = None,
        shutdown_timeout: float = 30.0,
        on_ready: Callable[[Supervisor], None] | None = None,
        reuse_port: bool = False,
    ) -> None:
        self.count = workers
        self.listener = listener
        self.reuse_port = reuse_port
        self.command = command or [sys.executable, *sys.orig_argv[1:]]
        self.shutdown_timeout = shutdown_timeout
        self.on_ready = on_ready
        self.workers: list[Worker] = []
        self.generation = 0
        self.reloading = False
        self.stopping = False
        self.failures = 0
        self.restart_at = 0.0
        self.next_number = 1
        self.pending_signals: list[int] = []
        self.selector = selectors.DefaultSelector()
        self.wakeup_read, self.wakeup_write = socket.socketpair()

    # -- the loop ----------------------------------------------------------------

    def run(self) -> int:
        """Start the workers and supervise them until SIGTERM/SIGINT; the exit code."""
        previous = self._install_signals()
        try:
            for _ in range(self.count):
                self._spawn()
            if not self._wait_until_ready(self.generation):
                logger.error("a worker failed to start; stopping (its output is above)")
                self._stop_all()
                return 1
            if self.on_ready is not None:
                self.on_ready(self)
            while not self.stopping:
                self._step()
            self._stop_all()
            return 0
        finally:
            for number, handler in previous.items():
                signal.signal(number, handler)
            signal.set_wakeup_fd(-1)
            self.selector.close()
            self.wakeup_read.close()
            self.wakeup_write.close()

    def pids(self) -> list[int]:
        """The workers alive now (serving, starting or draining)."""
        return [worker.pid for worker in self.workers]

    def _install_signals(self) -> dict[int, Any]:
        self.wakeup_write.setblocking(False)
        self.wakeup_read.setblocking(False)
        signal.set_wakeup_fd(self.wakeup_write.fileno(), warn_on_full_buffer=False)
        self.selector.register(self.wakeup_read, selectors.EVENT_READ)
        previous: dict[int, Any] = {}
        for number in HANDLED_SIGNALS:
            previous[number] = signal.signal(number, self._on_signal)
        return previous

    def _on_signal(self, number: int, _frame: object) -> None:
        self.pending_signals.append(number)

    def _step(self, timeout: float = 1.0) -> None:
        now = time.monotonic()
        if self.restart_at > now:
            timeout = min(timeout, self.restart_at - now)
        for key, _ in self.selector.select(timeout):
            if key.fileobj is self.wakeup_read:
                try:
                    while self.wakeup_read.recv(512):
                        pass
                except BlockingIOError:
                    pass
            else:
                self._read_ready(key.data)
        signals, self.pending_signals = self.pending_signals, []
        for number in signals:
            self._handle_signal(number)
        self._reap()
        self._reconcile()

    def _handle_signal(self, number: int) -> None:
        if number in (signal.SIGTERM, signal.SIGINT):
            logger.info("%s: stopping %d workers", signal.Signals(number).name, len(self.workers))
            self.stopping = True
        elif number == signal.SIGHUP and not self.reloading:
            logger.info("SIGHUP: starting %d new workers (reload)", self.count)
            self.generation += 1
            self.reloading = True
        elif number == signal.SIGTTIN:
            self.count += 1
            logger.info("SIGTTIN: %d workers", self.count)
        elif number == signal.SIGTTOU and self.count > 1:
            self.count -= 1
            logger.info("SIGTTOU: %d workers", self.count)

    # -- workers -------------------------------------------------------------------

    def _spawn(self) -> Worker:
        # Benchmark mode: the worker owns its SO_REUSEPORT socket (closed here once passed).
        own = reuse_port_listener(self.listener) if self.reuse_port else None
        listener = own or self.listener
        ready_read, ready_write = os.pipe()
        environment = {
            **os.environ,
            worker_env.LISTEN_FD: str(listener.fileno()),
            worker_env.READY_FD: str(ready_write),
            worker_env.NUMBER: str(self.next_number),
            worker_env.SUPERVISOR: str(os.getpid()),
        }
        try:
            # Its own process group: a terminal's Ctrl+C reaches the supervisor
            # only, which drains the workers once (a second SIGINT would kill them).
            process = subprocess.Popen(
                self.command,
                env=environment,
                pass_fds=(listener.fileno(), ready_write),
                process_group=0,
            )
        finally:
            os.close(ready_write)
            if own is not None:
                own.close()
        worker = Worker(process, self.next_number, self.generation, ready_fd=ready_read)
        self.next_number += 1
        self.workers.append(worker)
        self.selector.register(ready_read, selectors.EVENT_READ, worker)
        return worker

    def _read_ready(self, worker: Worker) -> None:
        try:
            data = os.read(worker.ready_fd, 64)
        except OSError:
            data = b""
        self._close_ready_pipe(worker)
        if data.startswith(b"ready"):
            worker.ready = True
            logger.info("worker %d (pid %d) ready", worker.number, worker.pid)

    def _close_ready_pipe(self, worker: Worker) -> None:
        if worker.ready_fd >= 0:
            self.selector.unregister(worker.ready_fd)
            os.close(worker.ready_fd)
            worker.ready_fd = -1

    def _wait_until_ready(self, generation: int) -> bool:
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline and not self.stopping:
            members = [worker for worker in self.workers if worker.generation == generation]
            if any(worker.process.poll() is not None for worker in members):
                return False
            if members and all(worker.ready for worker in members):
                return True
            self._wait_step()
        return False

    def _wait_step(self) -> None:
        for key, _ in self.selector.select(0.1):
            if key.fileobj is not self.wakeup_read:
                self._read_ready(key.data)
        if signal.SIGINT in self.pending_signals or signal.SIGTERM in self.pending_signals:
            self.stopping = True

    def _reap(self) -> None:
        for worker in list(self.workers):
            code = worker.process.poll()
            if code is None:
                continue
            self.workers.remove(worker)
            self._close_ready_pipe(worker)
            if worker.retiring or self.stopping:
                logger.info("worker %d (pid %d) stopped", worker.number, worker.pid)
                continue
            if self.reloading and worker.generation == self.generation and not worker.ready:
                self._abort_reload(worker, code)
                continue
            lived = time.monotonic() - worker.started
            if lived >= STABLE_AFTER:
                self.failures = 0
            delay = min(BACKOFF_FIRST * 2**self.failures, BACKOFF_MAX)
            self.failures += 1
            self.restart_at = time.monotonic() + delay
            logger.warning(
                "worker %d (pid %d) exited (%s) after %.1f s; replacing it in %.1f s",
                worker.number,
                worker.pid,
                describe_exit(code),
                lived,
                delay,
            )

    def _abort_reload(self, failed: Worker, code: int) -> None:
        logger.error(
            "reload failed: new worker %d (pid %d) exited (%s) before it was ready; "
            "the old workers keep serving",
            failed.number,
            failed.pid,
            describe_exit(code),
        )
        for worker in self.workers:
            if worker.generation == self.generation:
                self._retire(worker)
        self.generation -= 1
        self.reloading = False
        # The aborted generation's numbers are higher: keep the old ones current.
        for worker in self.workers:
            if not worker.retiring:
                worker.generation = self.generation

    def _retire(self, worker: Worker) -> None:
        if not worker.retiring:
            worker.retiring = True
            try:
                worker.process.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass

    def _reconcile(self) -> None:
        if self.stopping:
            return
        current = [w for w in self.workers if w.generation == self.generation and not w.retiring]
        if len(current) < self.count and time.monotonic() >= self.restart_at:
            self._spawn()
        elif len(current) > self.count:
            self._retire(max(current, key=lambda worker: worker.started))
        if self.reloading and len(current) >= self.count and all(w.ready for w in current):
            # Every new worker accepts now: the old ones stop accepting and drain.
            for worker in self.workers:
                if worker.generation < self.generation:
                    self._retire(worker)
            self.reloading = False
            logger.info("reload complete: workers %s", [w.pid for w in current])

    def _stop_all(self) -> None:
        for worker in self.workers:
            self._retire(worker)
        deadline = time.monotonic() + self.shutdown_timeout + 5.0
        self.pending_signals.clear()
        while self.workers and time.monotonic() < deadline:
            time.sleep(0.05)
            if signal.SIGINT in self.pending_signals:
                logger.warning("second SIGINT: killing the workers")
                break  # a second Ctrl+C: out now
            self.workers = [w for w in self.workers if w.process.poll() is None]
        for worker in self.workers:
            worker.process.kill()
            worker.process.wait()
        self.workers = []


def describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


def supervise(
    *,
    name: str,
    host: str,
    port: int,
    prod: bool,
    workers: int,
    shutdown_timeout: float = 30.0,
    pid_file: str | os.PathLike[str] | None = None,
    backlog: int = 1024,
    on_ready: Callable[[str, int], None] | None = None,
) -> int:
    """Bind ``host:port`` and run ``workers`` workers on it until SIGTERM/SIGINT.

    What ``HyperApp.run(workers=N)`` and ``serve_wsgi(workers=N)`` do in the
    process the user started: that process becomes the supervisor (its PID is
    the one in the PID file). ``on_ready(host, port)`` runs once every worker
    is ready (``runziserver`` prints Django's banner there).
    """
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    reuse_port = os.environ.get(REUSE_PORT_ENV) == "1"
    try:
        listener = bind_listener(host, port, backlog, reuse_port=reuse_port)
    except OSError as error:
        raise ListenError(
            error.errno, f"cannot listen on {host}:{port}: {error.strerror or error}"
        ) from None
    pid = PidFile(pid_file)

    def ready(supervisor: Supervisor) -> None:
        bound_host, bound_port = listener.getsockname()[:2]
        shown = f"[{bound_host}]" if ":" in bound_host else bound_host
        pid.write()
        mode = "production" if prod else "debug"
        print(
            f"hyperdjango: serving {name!r} on http://{shown}:{bound_port} ({mode} mode, "
            f"{supervisor.count} workers {supervisor.pids()}, supervisor pid {os.getpid()}; "
            "Ctrl+C to stop)",
            flush=True,
        )
        if on_ready is not None:
            on_ready(bound_host, bound_port)

    try:
        return Supervisor(
            workers=workers,
            listener=listener,
            shutdown_timeout=shutdown_timeout,
            on_ready=ready,
            reuse_port=reuse_port,
        ).run()
    finally:
        listener.close()
        pid.remove()
        print("hyperdjango: stopped", file=sys.stderr, flush=True)
