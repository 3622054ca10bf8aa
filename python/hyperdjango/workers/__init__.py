"""``--workers N``: a supervisor process over N worker processes on one port.

See docs/workers.md. ``run_supervised`` is what ``HyperApp.run(workers=N)``
calls in the process the user started; the workers it starts re-run the same
command and find themselves through ``current_worker()``.
"""

from __future__ import annotations

from .sockets import bind_listener
from .supervisor import Supervisor
from .worker import WorkerEnvironment, current_worker

__all__ = ["Supervisor", "WorkerEnvironment", "bind_listener", "current_worker"]
