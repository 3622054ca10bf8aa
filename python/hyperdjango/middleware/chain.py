"""The middleware chain: checked at ``app.use``, compiled once when the server starts.

A middleware is ``async def mw(request, call_next)`` (or an object whose
``async __call__`` has that signature). The first registered is the outermost.
The compiled chain is a plain function ``chain(request)`` that returns one
coroutine: the native server steps it eagerly, like a handler's coroutine, so
a chain that never really waits never becomes an asyncio Task.

Every ``call_next`` returns a ``Response``, whatever happened inside it: the
handler's result is converted (dict, str, tuples, ... as the server would),
and an exception raised inside (by the handler or an inner middleware) becomes
the same error response a handler's exception gets (``HTTPException`` -> its
status, anything else -> the debug page or a generic 500). This is Django's
model: each layer only ever sees responses.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from typing import Any

from .. import _hyperdjango_native as _native
from ..response import Response

__all__ = ["Middleware", "CallNext", "check_middleware", "compile_chain", "to_response"]

CallNext = Callable[[Any], Awaitable[Response]]
Middleware = Callable[[Any, CallNext], Awaitable[Response]]
ErrorResponse = Callable[[Any, BaseException], Response]


def _describe(middleware: object) -> str:
    name = getattr(middleware, "__qualname__", None) or type(middleware).__qualname__
    return f"middleware {name!r}"


def check_middleware(middleware: object) -> None:
    """Raise ``TypeError`` unless ``middleware`` is an async callable."""
    if not callable(middleware):
        raise TypeError(
            f"app.use() takes an async function or an object with an async __call__, "
            f"not {type(middleware).__name__}"
        )
    function: Any = middleware
    while isinstance(function, functools.partial):
        function = function.func
    if inspect.iscoroutinefunction(function):
        return
    if not inspect.isroutine(function) and inspect.iscoroutinefunction(
        getattr(function, "__call__", None)  # noqa: B004 - callable objects
    ):
        return
    raise TypeError(
        f"{_describe(middleware)} is not async: declare it `async def mw(request, call_next)` "
        "(or give the object an `async def __call__(self, request, call_next)`)"
    )


def to_response(result: Any, request: Any) -> Response:
    """What a handler returned, as a ``Response`` (the same conversion the server makes)."""
    if isinstance(result, Response):
        return result
    if type(result) is tuple and result and isinstance(result[0], Response):
        return _response_tuple(result)
    return _native.response_from_result(result, request)


def _response_tuple(result: tuple[Any, ...]) -> Response:
    if len(result) not in (2, 3):
        raise TypeError(
            "a handler may return (body, status) or (body, status, headers), "
            f"not a tuple of {len(result)} items"
        )
    response: Response = result[0]
    status = result[1]
    if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
        raise ValueError(f"invalid response status {status!r}: must be between 100 and 599")
    response.status_code = status
    if len(result) == 3:
        extra = result[2]
        pairs = extra.items() if hasattr(extra, "items") else extra
        replaced: set[str] = set()
        for name, value in pairs:
            # Like the server: a header given here replaces the body's own.
            if name.lower() not in replaced:
                replaced.add(name.lower())
                if name in response.headers:
                    del response.headers[name]
            response.headers.add(name, value)
    return response


def _endpoint(
    loop: asyncio.AbstractEventLoop, executor: Executor, error_response: ErrorResponse
) -> CallNext:
    """The innermost ``call_next``: the route's handler (or the router's own
    answer) as a ``Response``; its exceptions become error responses here, so
    this one coroutine is both the endpoint and its guard."""

    async def endpoint(request: Any) -> Response:
        target = request._handler
        if target is None:
            return request._router_response()
        handler, is_async = target
        try:
            if is_async:
                result = await handler(request, **request.path_params)
            else:
                # Plain `def` handlers run on the pool, in a copy of the request's context.
                context = contextvars.copy_context()
                call = functools.partial(context.run, handler, request, **request.path_params)
                result = await loop.run_in_executor(executor, call)
                if inspect.isawaitable(result):
                    raise TypeError(
                        f"{getattr(handler, '__qualname__', handler)!r} returned an awaitable "
                        "but is not an async def handler; declare it with async def"
                    )
            if isinstance(result, Response):
                return result
            return to_response(result, request)
        except Exception as exception:  # noqa: BLE001 - becomes the error response
            return error_response(request, exception)

    return endpoint


def _guard(inner: CallNext, name: str, error_response: ErrorResponse) -> CallNext:
    """``call_next`` as a middleware sees it: always a ``Response``, never an exception."""

    async def call_next(request: Any) -> Response:
        try:
            response = await inner(request)
        except Exception as exception:  # noqa: BLE001 - becomes the error response
            return error_response(request, exception)
        if isinstance(response, Response):
            return response
        return error_response(
            request,
            TypeError(
                f"{name} returned a {type(response).__name__}, not a Response: return the "
                "response from `await call_next(request)` or a Response of your own"
            ),
        )

    return call_next


def _bind(middleware: Middleware, call_next: CallNext) -> CallNext:
    # A plain function returning the middleware's coroutine: no extra frame.
    def layer(request: Any) -> Awaitable[Response]:
        return middleware(request, call_next)

    return layer


def compile_chain(
    middlewares: list[Middleware],
    loop: asyncio.AbstractEventLoop,
    executor: Executor,
    error_response: ErrorResponse,
) -> tuple[Middleware, CallNext]:
    """``(outermost, its call_next)``: the server calls ``outermost(request, call_next)``
    per request; ``middlewares[0]`` is outermost, the handler innermost."""
    call_next = _endpoint(loop, executor, error_response)
    for middleware in reversed(middlewares[1:]):
        call_next = _guard(_bind(middleware, call_next), _describe(middleware), error_response)
    return middlewares[0], call_next
