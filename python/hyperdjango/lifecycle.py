"""Starting and stopping: hooks, the PID file, the graceful drain, the sync pool.

The shutdown itself is native (``src/server/shutdown.rs``): SIGTERM, SIGINT or
``_server_shutdown()`` make the server stop accepting, close idle keep-alive
connections and answer what is in flight with ``Connection: close`` at once,
whatever the Python thread is doing. This module is the Python half, run by
``_serving.serve`` once its loop notices:

1. ``drain``: keep serving until nothing is in flight (a streamed body counts
   until its last chunk) or the drain deadline (``shutdown_timeout``) passes;
2. at the deadline, cancel what is left: stream pumps (the generator's
   ``finally`` runs; the native side has already ended the chunked body
   cleanly) and suspended handlers (their clients get 503);
3. ``run_hooks``: the ``@app.on_shutdown`` hooks, sync or async, once, in
   registration order; then the PID file is removed.

Plain ``def`` handlers run on ``DaemonThreadPool``: a handler still running
at the deadline does not keep the process alive (``ThreadPoolExecutor``
threads are joined at interpreter exit).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import queue
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Executor, Future
from pathlib import Path
from typing import Any, TypeVar

from . import streaming

logger = logging.getLogger("hyperdjango.error")
T = TypeVar("T")

DEFAULT_SHUTDOWN_TIMEOUT = 30.0
#: After the deadline, how long cancelled tasks get to run their cleanup.
CANCEL_GRACE = 2.0
#: How often the drain checks whether everything has finished.
POLL_INTERVAL = 0.01


class ListenError(OSError):
    """The server could not listen (address in use, not permitted, unknown host)."""

    def __str__(self) -> str:
        return self.strerror or super().__str__()


def check_shutdown_timeout(value: object) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not 0 <= value < float("inf")
    ):
        raise ValueError(
            f"shutdown_timeout must be a non-negative number of seconds, not {value!r}"
        )
    return float(value)


def run_hooks(loop: asyncio.AbstractEventLoop, hooks: Iterable[Callable[[], Any]]) -> None:
    """Runs each hook once, in order; an async hook is awaited before the next starts."""
    for hook in hooks:
        result = hook()
        if inspect.isawaitable(result):
            loop.run_until_complete(result)


def drain(loop: asyncio.AbstractEventLoop, server: Any, dispatcher: Any) -> None:
    """Serves what is in flight until it is done or the drain deadline passes.

    ``server.drain()`` dispatches requests that arrived before the listener
    closed; suspended handlers (``dispatcher.tasks``) and stream pumps run on
    ``loop``; plain ``def`` handlers (``dispatcher.sync_requests``) on their pool.
    """
    # Open connections too: one accepted just before the stop may not have
    # sent its request yet (a worker retiring in a `--workers` reload).
    while (server.open_requests() or server.connections()) and not server.deadline_passed():
        server.drain()
        loop.run_until_complete(asyncio.sleep(POLL_INTERVAL))
    server.drain()
    leftovers = [
        task for task in (*dispatcher.tasks, *streaming.running_tasks()) if not task.done()
    ]
    running_sync = list(dispatcher.sync_requests)
    if not leftovers and not running_sync:
        return
    logger.warning(
        "hyperdjango: drain deadline passed; cutting %d unfinished handler(s) and stream(s)",
        len(leftovers) + len(running_sync),
    )
    for request in running_sync:
        # The handler keeps running on its daemon thread; its client gets 503 now.
        server.fail_with(request, asyncio.CancelledError("cut at the drain deadline"))
    for task in leftovers:
        task.cancel()
    if leftovers:
        loop.run_until_complete(asyncio.wait(leftovers, timeout=CANCEL_GRACE))


class PidFile:
    """``.hyper.<port>.pid`` and friends: written once serving, removed at exit."""

    def __init__(self, path: str | os.PathLike[str] | None) -> None:
        self.path = Path(path).absolute() if path is not None else None

    def write(self) -> None:
        if self.path is not None:
            self.path.write_text(f"{os.getpid()}\n")

    def remove(self) -> None:
        """Removes the file if it still names this process (a newer server may own it)."""
        if self.path is None:
            return
        try:
            if self.path.read_text().strip() == str(os.getpid()):
                self.path.unlink()
        except OSError:
            pass


class DaemonThreadPool(Executor):
    """A thread pool for plain ``def`` handlers whose threads never hold the process.

    Threads start on demand up to ``max_workers`` and are reused; they are
    daemon threads, so when ``run()`` returns a handler still running is
    abandoned with its request (which the drain deadline already cut).
    ``ThreadPoolExecutor`` would join them at interpreter exit instead. An
    ``Executor``, so ``loop.run_in_executor`` takes it too.
    """

    def __init__(self, max_workers: int, name: str) -> None:
        self._max_workers = max_workers
        self._name = name
        self._work: queue.SimpleQueue[_WorkItem | None] = queue.SimpleQueue()
        self._idle = threading.Semaphore(0)
        self._threads = 0
        self._lock = threading.Lock()
        self._closed = False

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        future: Future[T] = Future()
        with self._lock:
            if self._closed:
                raise RuntimeError("the server is shutting down: no new work")
            self._work.put((future, fn, args, kwargs))
            if self._idle.acquire(blocking=False):
                return future  # an idle thread will take it
            if self._threads < self._max_workers:
                self._threads += 1
                threading.Thread(
                    target=self._run, name=f"{self._name}_{self._threads}", daemon=True
                ).start()
        return future

    def _run(self) -> None:
        while True:
            item = self._work.get()
            if item is None:
                return
            future, function, args, kwargs = item
            del item
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(function(*args, **kwargs))
                except BaseException as error:  # noqa: BLE001 - handed to whoever waits
                    future.set_exception(error)
            del future, function, args, kwargs
            self._idle.release()

    def shutdown(self, wait: bool = False, *, cancel_futures: bool = False) -> None:
        """Tells idle threads to end; busy ones end after their task. Never waits."""
        with self._lock:
            self._closed = True
            for _ in range(self._threads):
                self._work.put(None)


_WorkItem = tuple[Future[Any], Callable[..., Any], tuple[Any, ...], dict[str, Any]]
