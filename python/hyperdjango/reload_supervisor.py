"""``hyper run --reload``: restart the worker process on code changes, never closing the socket.

The supervising ``hyper`` process binds the listening socket and passes it to
a worker process (``hyper run ... --listen-fd N``) that serves the app on it. When a watched file changes, a new worker is
started on the same socket; once it serves, the old worker is sent SIGTERM
and drains its in-flight requests. The socket stays open throughout, so the
kernel queues new connections for whichever worker accepts next: none is
refused. A new worker that fails to start (a syntax error) is discarded and
the old one keeps serving.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from .cli.options import CommandError

__all__ = ["run_with_reload"]

_STARTUP_LINE = re.compile(r"hyperdjango: serving ")
#: How long a new worker may take to import the app and start serving.
_START_TIMEOUT = 60.0
_STOP_TIMEOUT = 40.0


def _say(message: str) -> None:
    print(f"hyper: {message}", file=sys.stderr, flush=True)


class _Worker:
    """One worker process; its output is forwarded line by line."""

    def __init__(self, app: str, listener: socket.socket, options: Sequence[str]) -> None:
        fd = listener.fileno()
        command = [sys.executable, "-m", "hyperdjango.cli", "run", "--app", app, *options]
        command += ["--listen-fd", str(fd)]
        environment = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            pass_fds=(fd,),
            env=environment,
        )
        self.serving = False
        self.settled = threading.Event()  # serving, or gone for good
        threading.Thread(target=self._forward, daemon=True).start()

    def _forward(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            sys.stdout.write(line)
            sys.stdout.flush()
            if not self.serving and _STARTUP_LINE.search(line):
                self.serving = True
                self.settled.set()
        self.settled.set()  # exited: nobody waits for a start that will not come

    def started(self) -> bool:
        """Whether the worker printed its startup line (waits for it)."""
        self.settled.wait(_START_TIMEOUT)
        return self.serving and self.process.poll() is None

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(_STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    try:
        listener = socket.create_server(
            (host.strip("[]"), port), family=family, backlog=1024, dualstack_ipv6=False
        )
    except OSError as error:
        raise CommandError(f"cannot listen on {host}:{port}: {error.strerror}") from None
    listener.set_inheritable(True)
    return listener


def run_with_reload(
    app: str,
    host: str,
    port: int,
    options: Sequence[str] = (),
    watch_dirs: Sequence[str | os.PathLike[str]] = (".",),
    extensions: Sequence[str] = (".py",),
) -> int:
    """Serve ``app`` (``"module:attribute"``) in a worker restarted on changes. Returns 0.

    ``options`` are more ``hyper run`` words for the worker (``--shutdown-timeout 5``).
    """
    import watchfiles

    listener = _bind(host, port)
    stop = threading.Event()

    def request_stop(signal_number: int, frame: object) -> None:
        stop.set()

    for signal_number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signal_number, request_stop)
    suffixes = tuple(extension.lower() for extension in extensions)
    folders = [Path(folder).resolve() for folder in watch_dirs]
    changes = watchfiles.watch(
        *folders,
        watch_filter=lambda _change, path: Path(path).suffix.lower() in suffixes,
        debounce=400,
        step=50,
        stop_event=stop,
        yield_on_timeout=True,
        rust_timeout=200,
        raise_interrupt=False,
    )
    next(changes)  # the watch is in place (first quiet timeout) before anything is served
    worker = _Worker(app, listener, options)
    if not worker.started():
        worker.stop()
        raise CommandError("the app did not start (see the error above)")
    _say(
        f"reloading on changes to {', '.join(suffixes)} files under {', '.join(map(str, folders))}"
    )
    for batch in changes:
        if not batch:
            continue
        names = ", ".join(sorted(os.path.relpath(path) for _, path in batch))
        _say(f"{names} changed; starting a new worker")
        fresh = _Worker(app, listener, options)
        if not fresh.started():
            fresh.stop()
            _say("the new worker did not start; the previous one keeps serving")
            continue
        worker, previous = fresh, worker
        threading.Thread(target=previous.stop, daemon=True).start()
    worker.stop()
    listener.close()
    return 0
