"""``TimingMiddleware``: ``X-Response-Time`` (native)."""

from __future__ import annotations

from .. import _hyperdjango_native as _native
from .native import NativeMiddleware

__all__ = ["TimingMiddleware"]


class TimingMiddleware(NativeMiddleware):
    """Adds ``X-Response-Time``: milliseconds with three decimals and the unit,
    e.g. ``X-Response-Time: 0.412ms``, measured from when this middleware sees
    the request to when the response comes back through it (for a streamed
    response: until its headers are ready).
    """

    def __init__(self) -> None:
        self._native_stage = _native.MiddlewareStage.timing()
