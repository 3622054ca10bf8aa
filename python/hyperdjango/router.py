"""Route registration: ``Router`` keeps the route list; the native table matches.

Every registration is checked by the native route table at once, so a
malformed pattern, an unknown converter or two routes that cannot be told
apart fail where they are declared, not at the first request.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from . import _hyperdjango_native as _native

__all__ = ["Router", "Route"]

Handler = Callable[..., Any]

HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


@dataclass(frozen=True)
class Route:
    """One registered route: a path pattern, its methods and handler."""

    pattern: str
    handler: Handler
    methods: tuple[str, ...]
    name: str | None = None
    is_async: bool = field(default=False, compare=False)
    params: tuple[tuple[str, str], ...] = field(default=(), compare=False)


def is_async_handler(handler: Handler) -> bool:
    """True for ``async def`` handlers (also behind ``functools.partial`` or ``__call__``)."""
    while isinstance(handler, functools.partial):
        handler = handler.func
    if inspect.iscoroutinefunction(handler):
        return True
    call = getattr(handler, "__call__", None)  # noqa: B004 - callable objects
    return not inspect.isroutine(handler) and inspect.iscoroutinefunction(call)


def _normalise_methods(methods: Iterable[str] | None, pattern: str) -> tuple[str, ...]:
    if methods is None:
        return ("GET",)
    if isinstance(methods, str):
        raise TypeError(f"methods for {pattern!r} must be a list such as ['GET', 'POST'], not a str")
    normalised: list[str] = []
    for method in methods:
        if not isinstance(method, str):
            raise TypeError(f"HTTP methods must be str, not {method!r}")
        upper = method.upper()
        if upper not in HTTP_METHODS:
            raise ValueError(
                f"unknown HTTP method {method!r} for {pattern!r}; use one of {sorted(HTTP_METHODS)}"
            )
        if upper not in normalised:
            normalised.append(upper)
    if not normalised:
        raise ValueError(f"route {pattern!r} needs at least one HTTP method")
    return tuple(normalised)


class Router:
    """An ordered set of routes.

    >>> blog = Router()
    >>> blog.get("/", list_posts, name="list")
    >>> blog.get("/{id:int}", post_detail, name="detail")
    """

    def __init__(self) -> None:
        self.routes: list[Route] = []
        self._table = _native.RouteTable()

    def route(
        self,
        path: str,
        handler: Handler,
        methods: Iterable[str] | None = None,
        name: str | None = None,
    ) -> Route:
        """Register ``handler`` for ``path`` and ``methods`` (default ``["GET"]``)."""
        if not isinstance(path, str) or not path.startswith("/"):
            raise ValueError(f"route path must be a str starting with '/', not {path!r}")
        if not callable(handler):
            raise TypeError(f"handler for {path!r} must be callable, not {type(handler).__name__}")
        if name is not None and (not isinstance(name, str) or not name or ":" in name):
            raise ValueError(f"route name must be a non-empty str without ':', not {name!r}")
        verbs = _normalise_methods(methods, path)
        params = tuple(_native.RouteTable.parse_pattern(path))
        self._table.add(list(verbs), path, len(self.routes))
        route = Route(path, handler, verbs, name, is_async_handler(handler), params)
        self.routes.append(route)
        return route

    def get(self, path: str, handler: Handler, *, name: str | None = None) -> Route:
        return self.route(path, handler, ["GET"], name)

    def post(self, path: str, handler: Handler, *, name: str | None = None) -> Route:
        return self.route(path, handler, ["POST"], name)

    def put(self, path: str, handler: Handler, *, name: str | None = None) -> Route:
        return self.route(path, handler, ["PUT"], name)

    def patch(self, path: str, handler: Handler, *, name: str | None = None) -> Route:
        return self.route(path, handler, ["PATCH"], name)

    def delete(self, path: str, handler: Handler, *, name: str | None = None) -> Route:
        return self.route(path, handler, ["DELETE"], name)

    def resolve(self, method: str, path: str) -> tuple[Any, ...]:
        """Match like the server does (see ``RouteTable.resolve`` for the result shapes)."""
        return self._table.resolve(method.upper(), path)

    def _native_targets(self) -> list[tuple[Handler, bool, list[tuple[str, str]]]]:
        return [(route.handler, route.is_async, list(route.params)) for route in self.routes]
