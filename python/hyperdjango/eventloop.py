"""The asyncio event loop the server's Python side runs on.

The native core does the I/O; the loop runs handlers, WebSocket sessions and
the tasks they start. uvloop's loop wakes a task for about half of what
asyncio's own loop costs, which is most of the Python time per WebSocket
message, so the server uses it when it is installed
(``pip install hyperdjango[uvloop]``), as uvicorn's ``--loop auto`` does.

``HYPERDJANGO_LOOP`` chooses:

- ``auto`` (the default): uvloop if it imports, else asyncio's own loop. On a
  free-threaded Python asyncio's loop is kept, since uvloop would turn the
  GIL back on.
- ``uvloop``: uvloop, and an error naming the problem if it is missing.
- ``asyncio``: asyncio's own loop.
"""

from __future__ import annotations

import asyncio
import os
import sys

__all__ = ["LOOP_VARIABLE", "LOOP_CHOICES", "loop_choice", "new_event_loop", "loop_name"]

LOOP_VARIABLE = "HYPERDJANGO_LOOP"
LOOP_CHOICES = ("auto", "uvloop", "asyncio")


def loop_choice() -> str:
    """The loop ``HYPERDJANGO_LOOP`` asks for; ValueError for an unknown value
    or for ``uvloop`` when uvloop is not installed."""
    wanted = os.environ.get(LOOP_VARIABLE, "auto").strip().lower() or "auto"
    if wanted not in LOOP_CHOICES:
        raise ValueError(
            f"{LOOP_VARIABLE} must be one of {', '.join(LOOP_CHOICES)}, "
            f"not {os.environ.get(LOOP_VARIABLE)!r}"
        )
    if wanted == "asyncio":
        return "asyncio"
    if wanted == "auto" and not _gil_enabled():
        return "asyncio"
    try:
        import uvloop  # noqa: F401
    except ImportError:
        if wanted == "uvloop":
            raise ValueError(
                f"{LOOP_VARIABLE}=uvloop but uvloop is not installed "
                "(pip install hyperdjango[uvloop])"
            ) from None
        return "asyncio"
    return "uvloop"


def new_event_loop() -> asyncio.AbstractEventLoop:
    """A new loop of the kind ``loop_choice()`` names."""
    if loop_choice() == "uvloop":
        import uvloop

        return uvloop.new_event_loop()
    return asyncio.new_event_loop()


def loop_name(loop: asyncio.AbstractEventLoop) -> str:
    """``"uvloop"`` or ``"asyncio"``: what the startup line reports."""
    return "uvloop" if type(loop).__module__.startswith("uvloop") else "asyncio"


def _gil_enabled() -> bool:
    check = getattr(sys, "_is_gil_enabled", None)
    return True if check is None else bool(check())
