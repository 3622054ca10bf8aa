"""Route registration: ``Router`` keeps the route list; the native table matches.

Every registration is checked by the native route table at once, so a
malformed pattern, an unknown converter or two routes that cannot be told
apart fail where they are declared, not at the first request.
"""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar
from urllib.parse import quote

from . import _hyperdjango_native as _native
from .websocket import DEFAULT_MAX_MESSAGE_SIZE, WebSocketRoute

__all__ = ["Router", "Route", "NoReverseMatch"]


class NoReverseMatch(LookupError):
    """``reverse()`` could not build a URL: unknown name, or missing, extra or mistyped parameters."""


Handler = Callable[..., Any]

_PARAMETER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(?::[a-z]+)?\}")

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
        raise TypeError(
            f"methods for {pattern!r} must be a list such as ['GET', 'POST'], not a str"
        )
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
        self._names: dict[str, Any] = {}
        # WebSocket routes have their own table: a path may serve both.
        self.websocket_routes: list[WebSocketRoute] = []
        self._ws_table = _native.RouteTable()

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
        return self._add(Route(path, handler, verbs, name, is_async_handler(handler), params))

    def websocket(
        self,
        path: str,
        handler: Handler | None = None,
        *,
        name: str | None = None,
        subprotocols: Iterable[str] | None = None,
        origins: Iterable[str] | None = None,
        max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
        ping_interval: float | None = None,
        ping_timeout: float = 20.0,
        compression: bool = True,
    ) -> Any:
        """Register ``async def handler(ws, **params)`` for WebSocket upgrades at ``path``.

        ``router.websocket(path, handler)`` returns the route; without a handler
        it is a decorator (``@router.websocket(path)``). See ``HyperApp.websocket``
        for the options.
        """
        if handler is None:

            def register(handler: Handler) -> Handler:
                self.websocket(
                    path,
                    handler,
                    name=name,
                    subprotocols=subprotocols,
                    origins=origins,
                    max_message_size=max_message_size,
                    ping_interval=ping_interval,
                    ping_timeout=ping_timeout,
                    compression=compression,
                )
                return handler

            return register
        if not isinstance(path, str) or not path.startswith("/"):
            raise ValueError(f"route path must be a str starting with '/', not {path!r}")
        if not callable(handler) or not is_async_handler(handler):
            raise TypeError(
                f"WebSocket handler for {path!r} must be an async def function taking (ws, ...)"
            )
        if name is not None and (not isinstance(name, str) or not name or ":" in name):
            raise ValueError(f"route name must be a non-empty str without ':', not {name!r}")
        if (
            not isinstance(max_message_size, int)
            or isinstance(max_message_size, bool)
            or max_message_size < 1
        ):
            raise ValueError(
                f"max_message_size must be a positive int (bytes), not {max_message_size!r}"
            )
        if ping_interval is not None and not _positive(ping_interval):
            raise ValueError(
                f"ping_interval must be a positive number of seconds or None, not {ping_interval!r}"
            )
        if not _positive(ping_timeout):
            raise ValueError(
                f"ping_timeout must be a positive number of seconds, not {ping_timeout!r}"
            )
        params = tuple(_native.RouteTable.parse_pattern(path))
        route = WebSocketRoute(
            path,
            handler,
            name,
            _strings(subprotocols, "subprotocols", path),
            _strings(origins, "origins", path),
            max_message_size,
            None if ping_interval is None else float(ping_interval),
            float(ping_timeout),
            bool(compression),
            params,
        )
        return self._add_websocket(route)

    def _add_websocket(self, route: WebSocketRoute) -> WebSocketRoute:
        if route.name is not None and route.name in self._names:
            other = self._names[route.name]
            raise ValueError(
                f"route name {route.name!r} is already used by {other.pattern!r}; "
                f"give {route.pattern!r} another name"
            )
        self._ws_table.add(["GET"], route.pattern, len(self.websocket_routes))
        self.websocket_routes.append(route)
        if route.name is not None:
            self._names[route.name] = route
        return route

    def _add(self, route: Route) -> Route:
        if route.name is not None and route.name in self._names:
            other = self._names[route.name]
            raise ValueError(
                f"route name {route.name!r} is already used by {other.pattern!r}; "
                f"give {route.pattern!r} another name"
            )
        # The parameters handed to the handler always come from the pattern
        # the table matches, never from elsewhere: the two cannot drift apart
        # (as they once did under include(), giving a handler wrong values).
        params = tuple(_native.RouteTable.parse_pattern(route.pattern))
        if route.params != params:
            route = replace(route, params=params)
        self._table.add(list(route.methods), route.pattern, len(self.routes))
        self.routes.append(route)
        if route.name is not None:
            self._names[route.name] = route
        return route

    def include(self, prefix: str, router: Router, namespace: str | None = None) -> None:
        """Mount ``router``'s routes under ``prefix``; names become ``namespace:name``.

        Routes are copied at the time of the call (as with Django's ``include``):
        add routes to ``router`` first, then include it. Including ``"/"`` of a
        router at ``"/blog"`` serves ``"/blog/"``. Routers nest: a router that
        includes others can itself be included, giving ``"outer:inner:name"``.

        The prefix may hold parameters (``"/users/{uid:int}"``): they are
        converted and passed to every included handler, and ``reverse()``
        needs them. A parameter name used by both the prefix and a route, or
        a ``{name:path}`` in the prefix, raises ``ValueError`` here.
        """
        if not isinstance(prefix, str) or not prefix.startswith("/"):
            raise ValueError(f"include prefix must be a str starting with '/', not {prefix!r}")
        if not isinstance(router, Router):
            raise TypeError(f"include() takes a Router, not {type(router).__name__}")
        if router is self:
            raise ValueError("a router cannot include itself")
        if namespace is not None and (
            not isinstance(namespace, str) or not namespace or ":" in namespace
        ):
            raise ValueError(f"namespace must be a non-empty str without ':', not {namespace!r}")
        base = prefix.rstrip("/")
        try:
            # The prefix is a pattern too: its parameters are matched, typed,
            # passed to the handler and filled by reverse(), as in Django.
            prefix_params = _native.RouteTable.parse_pattern(base or "/")
        except ValueError as error:
            raise ValueError(f"include prefix {prefix!r}: {error}") from None
        if any(converter == "path" for _, converter in prefix_params):
            raise ValueError(
                f"include prefix {prefix!r}: a {{name:path}} parameter would swallow the "
                "included routes; use str, int, slug or uuid in a prefix"
            )
        for route in router.routes:
            self._add(_prefixed(route, base, prefix, namespace))
        for ws_route in router.websocket_routes:
            self._add_websocket(_prefixed(ws_route, base, prefix, namespace))

    def reverse(self, name: str, /, **params: Any) -> str:
        """The path of the route called ``name`` (``"namespace:name"``), filled with ``params``.

        >>> app.router.reverse("blog:detail", id=42)
        '/blog/42'

        Values are URL-encoded and must fit their converter; an unknown name, a
        missing or extra parameter, or a value of the wrong type raises ``NoReverseMatch``.
        """
        route = self._names.get(name)
        if route is None:
            known = ", ".join(sorted(self._names)) or "none"
            raise NoReverseMatch(f"no route named {name!r} (known names: {known})")
        expected = dict(route.params)
        missing = [param for param in expected if param not in params]
        extra = [param for param in params if param not in expected]
        if missing or extra:
            problems = []
            if missing:
                problems.append(f"missing {', '.join(missing)}")
            if extra:
                problems.append(f"unexpected {', '.join(extra)}")
            raise NoReverseMatch(
                f"route {name!r} ({route.pattern}) cannot be reversed: {'; '.join(problems)}"
            )
        converters = dict(route.params)

        def fill(match: re.Match[str]) -> str:
            param = match.group(1)
            converter = converters[param]
            value = params[param]
            text = _render(value, converter)
            if text is None or not _native.RouteTable.converter_matches(converter, text):
                raise NoReverseMatch(
                    f"route {name!r} ({route.pattern}): {param}={value!r} does not match converter {converter!r}"
                )
            return quote(text, safe="/" if converter == "path" else "")

        return _PARAMETER.sub(fill, route.pattern)

    def match(self, method: str, path: str) -> tuple[Route, dict[str, Any]] | None:
        """The route serving ``method path`` and its converted parameters, or None."""
        result = self.resolve(method, path)
        if result[0] != "found":
            return None
        route = self.routes[result[1]]
        try:
            values = {
                param: int(result[2][param]) if converter == "int" else result[2][param]
                for param, converter in route.params
            }
        except ValueError:  # more digits than Python converts: no match, as in Django
            return None
        return route, values

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

    def table(self) -> list[tuple[str, str, str | None, str]]:
        """``(methods, pattern, name, handler)`` rows, for printing the route table."""
        rows = []
        for route in self.routes:
            handler = route.handler
            label = f"{getattr(handler, '__module__', '?')}.{getattr(handler, '__qualname__', repr(handler))}"
            rows.append((", ".join(route.methods), route.pattern, route.name, label))
        return rows

    def _native_targets(self) -> list[tuple[Handler, bool, list[tuple[str, str]]]]:
        return [(route.handler, route.is_async, list(route.params)) for route in self.routes]


def _positive(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0


def _strings(values: Iterable[str] | None, what: str, pattern: str) -> tuple[str, ...]:
    if values is None:
        return ()
    if isinstance(values, str) or not all(isinstance(value, str) and value for value in values):
        raise TypeError(f"{what} for {pattern!r} must be a list of non-empty str, not {values!r}")
    return tuple(values)


def _render(value: Any, converter: str) -> str | None:
    if converter == "int":
        if (
            isinstance(value, bool)
            or not isinstance(value, int)
            and not (isinstance(value, str) and value.isdigit())
        ):
            return None
        try:
            return str(value)
        except ValueError:  # beyond Python's int-to-str digit limit
            return None
    if isinstance(value, (str, int)) and not isinstance(value, bool):
        return str(value)
    if converter == "uuid" and type(value).__name__ == "UUID":
        return str(value)
    return None


R = TypeVar("R", Route, WebSocketRoute)


def _prefixed(route: R, base: str, prefix: str, namespace: str | None) -> R:
    """``route`` as ``include(prefix, ..., namespace=...)`` mounts it: the combined
    pattern, its parameters derived from that pattern, and the namespaced name."""
    name = route.name
    if name is not None and namespace is not None:
        name = f"{namespace}:{name}"
    pattern = base + route.pattern
    try:
        params = tuple(_native.RouteTable.parse_pattern(pattern))
    except ValueError as error:
        raise ValueError(f"include({prefix!r}) of route {route.pattern!r}: {error}") from None
    return replace(route, pattern=pattern, name=name, params=params)
