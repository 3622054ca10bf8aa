"""The worker's side of ``--workers N``: how a worker process knows it is one.

The supervisor starts each worker as a copy of its own command line with the
listening socket inherited and a few environment variables set. ``serve``
asks :func:`current_worker`; a worker then serves the inherited socket instead
of binding, writes no PID file, and tells the supervisor when it is ready.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
from dataclasses import dataclass

__all__ = ["WorkerEnvironment", "current_worker"]

LISTEN_FD = "HYPERDJANGO_LISTEN_FD"
READY_FD = "HYPERDJANGO_READY_FD"
NUMBER = "HYPERDJANGO_WORKER"
SUPERVISOR = "HYPERDJANGO_SUPERVISOR"

_PR_SET_PDEATHSIG = 1


@dataclass
class WorkerEnvironment:
    """What the supervisor handed this worker."""

    listen_fd: int
    ready_fd: int
    number: int
    supervisor_pid: int

    def notify_ready(self) -> None:
        """Tell the supervisor this worker accepts connections (startup hooks done)."""
        if self.ready_fd < 0:
            return
        try:
            os.write(self.ready_fd, b"ready\n")
        except OSError:
            pass  # the supervisor is gone: the parent-death signal stops us
        finally:
            os.close(self.ready_fd)
            self.ready_fd = -1


_current: WorkerEnvironment | None = None


def current_worker() -> WorkerEnvironment | None:
    """This process's worker environment, or None when it is not a worker.

    Read once: the variables are removed from ``os.environ`` so that processes
    the application starts do not mistake themselves for workers.
    """
    global _current
    if _current is not None or LISTEN_FD not in os.environ:
        return _current
    try:
        environment = WorkerEnvironment(
            listen_fd=int(os.environ.pop(LISTEN_FD)),
            ready_fd=int(os.environ.pop(READY_FD, "-1")),
            number=int(os.environ.pop(NUMBER, "0")),
            supervisor_pid=int(os.environ.pop(SUPERVISOR, "0")),
        )
    except ValueError as error:
        raise RuntimeError(f"hyperdjango: bad worker environment: {error}") from None
    for descriptor in (environment.listen_fd, environment.ready_fd):
        if descriptor >= 0:
            os.set_inheritable(descriptor, False)
    _stop_with_supervisor(environment.supervisor_pid)
    _current = environment
    return environment


def _stop_with_supervisor(supervisor_pid: int) -> None:
    """Ask the kernel for SIGTERM (a graceful drain) if the supervisor dies, so
    that a killed supervisor leaves no orphaned workers behind."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
    except (OSError, AttributeError):
        return
    if supervisor_pid and os.getppid() != supervisor_pid:
        os.kill(os.getpid(), signal.SIGTERM)  # it died before we asked
