"""``HyperApp``: register handlers, then ``app.run()`` serves them natively."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from .router import Handler, Router
from .websocket import DEFAULT_MAX_MESSAGE_SIZE

__all__ = ["HyperApp"]

H = TypeVar("H", bound=Handler)
Hook = Callable[[], Any]

DEFAULT_MAX_BODY_SIZE = 10 * 1024 * 1024


class HyperApp:
    """A web application.

    >>> app = HyperApp("myapp")
    >>> @app.get("/users/{id:int}")
    ... async def get_user(request, id):
    ...     return {"id": id}
    >>> app.run(port=8000)

    ``max_body_size`` (bytes, default 10 MB) caps request bodies: larger ones are
    refused with 413 before they are read. ``sync_workers`` is the size of the
    thread pool that runs plain ``def`` handlers, so a blocking handler never
    stalls the others.

    ``static`` names a folder served natively at ``/static/`` in debug mode
    (``static/css/site.css`` at ``/static/css/site.css``, with ETag, 304 and
    Range, safe against traversal and symlinks out of the folder). With
    ``prod=True`` it is not served: put the reverse proxy in front of it.

    ``trusted_proxies`` lists the addresses or CIDR networks of reverse proxies
    whose ``X-Forwarded-For`` / ``X-Forwarded-Proto`` are believed for
    ``request.client_ip`` and ``request.is_secure`` (default: loopback only, so
    a client cannot spoof its address by sending the headers itself).
    """

    def __init__(
        self,
        name: str = "hyperdjango",
        *,
        max_body_size: int = DEFAULT_MAX_BODY_SIZE,
        sync_workers: int = 40,
        static: str | os.PathLike[str] | None = None,
        trusted_proxies: Iterable[str] | None = None,
    ) -> None:
        if not isinstance(name, str) or not name:
            raise ValueError(f"app name must be a non-empty str, not {name!r}")
        if (
            not isinstance(max_body_size, int)
            or isinstance(max_body_size, bool)
            or max_body_size < 0
        ):
            raise ValueError(
                f"max_body_size must be a non-negative int (bytes), not {max_body_size!r}"
            )
        if not isinstance(sync_workers, int) or sync_workers < 1:
            raise ValueError(f"sync_workers must be a positive int, not {sync_workers!r}")
        if static is not None and not os.path.isdir(static):
            raise ValueError(
                f"static folder {os.fspath(static)!r} does not exist or is not a directory"
            )
        self.static = os.fspath(static) if static is not None else None
        self.trusted_proxies = _check_proxies(trusted_proxies)
        self.name = name
        self.max_body_size = max_body_size
        self.sync_workers = sync_workers
        self.router = Router()
        self.startup_hooks: list[Hook] = []
        self.shutdown_hooks: list[Hook] = []
        self.middleware: list[Any] = []
        self._serving = False
        self._websocket_hub: Any = None

    # -- registration ---------------------------------------------------------

    def route(
        self, path: str, methods: Iterable[str] | None = None, *, name: str | None = None
    ) -> Callable[[H], H]:
        """Decorator: serve the handler at ``path`` for ``methods`` (default GET)."""

        def register(handler: H) -> H:
            self.router.route(path, handler, methods, name)
            return handler

        return register

    def get(self, path: str, *, name: str | None = None) -> Callable[[H], H]:
        return self.route(path, ["GET"], name=name)

    def post(self, path: str, *, name: str | None = None) -> Callable[[H], H]:
        return self.route(path, ["POST"], name=name)

    def put(self, path: str, *, name: str | None = None) -> Callable[[H], H]:
        return self.route(path, ["PUT"], name=name)

    def patch(self, path: str, *, name: str | None = None) -> Callable[[H], H]:
        return self.route(path, ["PATCH"], name=name)

    def delete(self, path: str, *, name: str | None = None) -> Callable[[H], H]:
        return self.route(path, ["DELETE"], name=name)

    def websocket(
        self,
        path: str,
        *,
        name: str | None = None,
        subprotocols: Iterable[str] | None = None,
        origins: Iterable[str] | None = None,
        max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
        ping_interval: float | None = None,
        ping_timeout: float = 20.0,
        compression: bool = True,
    ) -> Callable[[H], H]:
        """Decorator: serve WebSocket connections at ``path`` with ``async def handler(ws, **params)``.

        - ``subprotocols``: supported ``Sec-WebSocket-Protocol`` values in order of
          preference; the first one the client offers is chosen (``ws.subprotocol``).
        - ``origins``: allowed ``Origin`` values (``"*"`` for any); others get 403
          at the handshake (protection against cross-site WebSocket hijacking).
        - ``max_message_size``: bytes (default 16 MiB); larger messages close the
          connection with 1009.
        - ``ping_interval`` / ``ping_timeout``: the server pings every interval and
          closes (1011) a client that does not answer within the timeout.
        - ``compression``: accept permessage-deflate when the client offers it.

        A plain GET to a WebSocket-only path gets 426 Upgrade Required; the same
        path may also have an HTTP handler. See docs/websockets.md.
        """

        # Without a handler, Router.websocket is itself the decorator.
        return self.router.websocket(
            path,
            name=name,
            subprotocols=subprotocols,
            origins=origins,
            max_message_size=max_message_size,
            ping_interval=ping_interval,
            ping_timeout=ping_timeout,
            compression=compression,
        )

    def publish(self, topic: str, message: str | bytes) -> int:
        """Send ``message`` to every WebSocket subscribed to ``topic`` (``ws.subscribe``).

        The frame is encoded once and fanned out natively; usable from HTTP
        handlers, WebSocket handlers and other tasks or threads. Returns the
        number of connections it was queued for. Under an ASGI server the
        fan-out is Python's, to this process's subscribers (docs/asgi.md).
        """
        hub = self._websocket_hub
        if hub is None:
            raise RuntimeError(
                "app.publish() needs the server running with at least one @app.websocket route"
            )
        return int(hub.publish(topic, message))

    def use(self, middleware: Any) -> Any:
        """Add ``middleware``: ``async def mw(request, call_next)`` or an object
        with that ``async __call__``. The first added runs outermost.

        >>> @app.use
        ... async def timing(request, call_next):
        ...     response = await call_next(request)
        ...     response.headers["X-Custom"] = "value"
        ...     return response

        A plain ``def`` raises ``TypeError``; so does adding middleware once
        the server has started (``RuntimeError``). See docs/middleware.md.
        """
        from .middleware import check_middleware

        if self._serving:
            raise RuntimeError(
                "app.use() after the server has started: register middleware before app.run()"
            )
        check_middleware(middleware)
        self.middleware.append(middleware)
        return middleware

    def on_startup(self, hook: Hook) -> Hook:
        """Decorator: run ``hook`` (sync or async) before the first request."""
        self.startup_hooks.append(hook)
        return hook

    def on_shutdown(self, hook: Hook) -> Hook:
        """Decorator: run ``hook`` (sync or async) after the last request drained."""
        self.shutdown_hooks.append(hook)
        return hook

    # -- serving --------------------------------------------------------------

    def run(
        self,
        host: str = "127.0.0.1",
        port: int = 8000,
        prod: bool = False,
        *,
        header_read_timeout: float | None = None,
        keep_alive_timeout: float | None = None,
        body_read_timeout: float | None = None,
        send_timeout: float | None = None,
        max_connections: int | None = None,
        max_queue: int | None = None,
        max_queue_wait: float | None = None,
        shutdown_timeout: float = 30.0,
        pid_file: str | os.PathLike[str] | None = None,
        listen_fd: int | None = None,
        workers: int = 1,
    ) -> None:
        """Serve until SIGINT/SIGTERM or ``_server_shutdown()``, then return.

        ``port=0`` picks a free port (the startup line shows it). ``prod=True``
        hides tracebacks, adds security headers and disables ``/debug/*``.

        Deadlines (seconds; default): ``header_read_timeout`` (10) for a whole
        request head, ``keep_alive_timeout`` (5) for an idle connection,
        ``body_read_timeout`` (30) for a stalled body, ``send_timeout`` (30)
        for a client that stops reading. Load limits (default):
        ``max_connections`` (10,000 per worker), ``max_queue`` (1024) and
        ``max_queue_wait`` (5 s) before new requests get 503. ``None`` keeps
        the default; see ``hyperdjango.limits.ServerLimits``.

        Shutdown is graceful: new connections are refused, idle keep-alive
        connections closed, and requests in flight (streams included) get up
        to ``shutdown_timeout`` seconds to finish; then ``on_shutdown`` hooks
        run. A second Ctrl+C stops at once. ``pid_file`` names a file that
        holds the process ID while serving (removed on exit). Raises
        ``hyperdjango.lifecycle.ListenError`` (an ``OSError``) when the address
        cannot be bound. ``listen_fd`` serves an inherited listening socket
        instead of binding (``hyper run --reload`` passes one to its workers).

        ``workers=N`` (N >= 2) makes this process a supervisor that serves
        nothing itself and runs N worker processes on the same port, each a
        fresh run of this process's command line; SIGHUP reloads them with
        zero downtime, SIGTTIN/SIGTTOU add/remove one (docs/workers.md).
        """
        if not isinstance(host, str) or not host:
            raise ValueError(f"host must be a non-empty str, not {host!r}")
        if not isinstance(port, int) or isinstance(port, bool) or not 0 <= port <= 65535:
            raise ValueError(f"port must be an int from 0 to 65535, not {port!r}")
        if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
            raise ValueError(f"workers must be a positive int, not {workers!r}")
        from ._serving import serve
        from .limits import ServerLimits
        from .workers import current_worker

        limits = ServerLimits.from_options(
            {
                "header_read_timeout": header_read_timeout,
                "keep_alive_timeout": keep_alive_timeout,
                "body_read_timeout": body_read_timeout,
                "send_timeout": send_timeout,
                "max_connections": max_connections,
                "max_queue": max_queue,
                "max_queue_wait": max_queue_wait,
            }
        )
        from .lifecycle import check_shutdown_timeout

        shutdown_timeout = check_shutdown_timeout(shutdown_timeout)
        if workers > 1 and current_worker() is None:
            from .workers.supervisor import supervise

            code = supervise(
                name=self.name,
                host=host,
                port=port,
                prod=bool(prod),
                workers=workers,
                shutdown_timeout=shutdown_timeout,
                pid_file=pid_file,
            )
            if code:
                raise SystemExit(code)
            return
        serve(
            self,
            host=host,
            port=port,
            prod=bool(prod),
            limits=limits,
            shutdown_timeout=shutdown_timeout,
            pid_file=None
            if pid_file is None or current_worker() is not None
            else os.fspath(pid_file),
            listen_fd=listen_fd,
        )

    # -- ASGI -------------------------------------------------------------------

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """ASGI 3: ``uvicorn asgi:app`` (or hypercorn, daphne, Granian) serves this app.

        Debug mode unless ``HYPERDJANGO_PROD=1``; ``app.asgi(prod=True)`` picks explicitly.
        See ``hyperdjango.asgi``.
        """
        adapter = self.__dict__.get("_asgi_adapter")
        if adapter is None:
            from .asgi import ASGIAdapter, prod_from_environment

            adapter = self._asgi_adapter = ASGIAdapter(self, prod_from_environment())
        await adapter(scope, receive, send)

    def asgi(self, prod: bool = False) -> Any:
        """An ASGI 3 application serving this app, in production mode if ``prod``."""
        from .asgi import ASGIAdapter

        return ASGIAdapter(self, bool(prod))

    def __repr__(self) -> str:
        return f"<HyperApp {self.name!r} with {len(self.router.routes)} routes>"


def _check_proxies(proxies: Iterable[str] | None) -> list[str]:
    if proxies is None:
        return ["127.0.0.0/8", "::1/128"]
    if isinstance(proxies, str):
        raise TypeError("trusted_proxies must be a list of addresses or networks, not a str")
    checked = []
    for proxy in proxies:
        try:
            checked.append(str(ipaddress.ip_network(proxy, strict=False)))
        except (TypeError, ValueError) as error:
            raise ValueError(
                f"trusted_proxies: {proxy!r} is not an IP address or CIDR network"
            ) from error
    return checked
