"""Deadlines and load limits of the native server (docs/deadlines.md, docs/overload.md).

Every value is a keyword of ``HyperApp.run`` and a flag of ``hyper run/start``;
the defaults below are what a server gets without them. The native core
enforces them all: a slow client or an overload never reaches Python.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

__all__ = ["ServerLimits"]


@dataclass(frozen=True)
class ServerLimits:
    """Per-connection deadlines (seconds) and per-worker load limits.

    ``header_read_timeout``: a whole request head must arrive within it (from
    its first byte; from accept for a connection's first request), else 408
    and close: slowloris clients cannot hold a connection with a trickle.

    ``keep_alive_timeout``: an idle keep-alive connection is closed silently
    after it. Independent of the header deadline, as in nginx.

    ``body_read_timeout``: a request body that stalls this long between two
    reads gets 408 and the handler never runs; a slow body that keeps
    arriving is not cut.

    ``send_timeout``: a client that takes nothing of an answer for this long
    is abandoned.

    ``max_connections``: open connections per worker. Beyond it the worker
    stops accepting and the kernel's listen backlog holds new connections
    until one closes: they wait, they are never refused or reset.

    ``max_queue``: requests handed to Python whose handler has not started.
    At this many, new requests get a native ``503`` with ``Retry-After: 1``.
    An accepted request has fewer than ``max_queue`` ahead of it, so it
    starts within ``max_queue`` handler-times (per Python thread; sync
    handlers: per pool thread).

    ``max_queue_wait``: new requests also get 503 while Python has started
    nothing for this long although requests wait, or while the request it
    started last had waited longer than this. With nothing waiting nothing
    is refused: no shedding below capacity.
    """

    header_read_timeout: float = 10.0
    keep_alive_timeout: float = 5.0
    body_read_timeout: float = 30.0
    send_timeout: float = 30.0
    max_connections: int = 10_000
    max_queue: int = 1024
    max_queue_wait: float = 5.0

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            if field.type == "int":
                if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                    raise ValueError(f"{field.name} must be a positive int, not {value!r}")
            elif (
                not isinstance(value, (int, float))
                or isinstance(value, bool)
                or not math.isfinite(value)
                or value <= 0
            ):
                raise ValueError(
                    f"{field.name} must be a positive number of seconds, not {value!r}"
                )

    @classmethod
    def names(cls) -> list[str]:
        """The keyword names, in declaration order."""
        return [field.name for field in fields(cls)]

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> ServerLimits:
        """Build from keywords; ``None`` values keep their default."""
        known = set(cls.names())
        unknown = sorted(set(options) - known)
        if unknown:
            raise TypeError(f"unknown server option(s): {', '.join(unknown)}")
        return cls(**{name: value for name, value in options.items() if value is not None})

    def native(self) -> dict[str, float | int]:
        """The mapping the native ``Server`` takes as ``limits``."""
        return asdict(self)
