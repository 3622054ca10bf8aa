"""Built-ins whose per-request work is native (``MiddlewareStage``, src/middleware/).

The server runs the application's leading built-ins itself, in Rust, around
the hand-over to Python (no Python call per request). A built-in registered
after a custom middleware runs the very same stage from ``__call__`` below,
so where it sits changes the cost, never the behaviour.
"""

from __future__ import annotations

from typing import Any

from .. import _hyperdjango_native as _native
from ..response import Response
from .chain import CallNext

__all__ = ["NativeMiddleware"]


class NativeMiddleware:
    """Base of the built-ins backed by a native stage."""

    _native_stage: Any = None

    async def __call__(self, request: Any, call_next: CallNext) -> Response:
        stage = self._native_stage
        state, answer = stage.before(request)
        if answer is not None:
            return answer
        response = await call_next(request)
        stage.after(state, response)
        return response

    @property
    def native_stage(self) -> Any:
        """The stage the server runs natively, or None when this one needs Python."""
        return self._native_stage


def native_stages(middlewares: list[Any]) -> tuple[list[Any], list[Any]]:
    """Split off the leading run of natively runnable built-ins."""
    stages: list[Any] = []
    for index, middleware in enumerate(middlewares):
        stage = getattr(middleware, "native_stage", None)
        if not isinstance(stage, _native.MiddlewareStage):
            return stages, middlewares[index:]
        stages.append(stage)
    return stages, []
