"""ASGI 3: a ``HyperApp`` served by uvicorn, hypercorn, daphne or Granian.

``await app(scope, receive, send)`` behaves like the native server: routing
on ``raw_path`` through the same native route table (typed parameters,
404/405 + ``Allow``, trailing-slash redirects), the same native ``Request``
(the scope is parsed by the native head parser), the same conversion of
handler results, ``max_body_size`` (413), ``def`` handlers on a thread pool,
the debug page or production 500, ``@app.websocket`` routes with the same
``ws`` API (asgi_websocket.py), and ``lifespan`` driving the startup and
shutdown hooks. Servers that send no lifespan events (daphne) get the startup
hooks run once before the first request.

>>> # asgi.py
>>> from myapp import app
>>> application = app            # debug mode; app.asgi(prod=True) for production
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import inspect
import logging
import os
import time
from collections.abc import AsyncIterable, Awaitable, Callable, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from . import _hyperdjango_native as _native
from .asgi_websocket import LocalHub, serve_websocket
from .exceptions import HTTPException
from .response import FileResponse, Response, StreamResponse

if TYPE_CHECKING:
    from .app import HyperApp

__all__ = ["ASGIAdapter"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

logger = logging.getLogger("hyperdjango")

FILE_CHUNK = 256 * 1024
JSON = [(b"content-type", b"application/json")]


def prod_from_environment() -> bool:
    """``HYPERDJANGO_PROD=1`` selects production mode for ``application = app``."""
    return os.environ.get("HYPERDJANGO_PROD", "").lower() in ("1", "true", "yes", "on")


class _Disconnected(Exception):
    """The client went away while its body was being read."""


class ASGIAdapter:
    """Serves one ``HyperApp`` over ASGI 3 (built by ``HyperApp.__call__``/``asgi``)."""

    def __init__(self, app: HyperApp, prod: bool) -> None:
        self.app = app
        self.prod = prod
        self.bridge = _native.AsgiBridge(app.trusted_proxies, app.static)
        self.executor = ThreadPoolExecutor(
            max_workers=app.sync_workers, thread_name_prefix="hyperdjango-sync"
        )
        self.targets = app.router._native_targets()
        self.hub = LocalHub()  # ws.subscribe / app.publish fan-out under ASGI
        if app.router.websocket_routes and app._websocket_hub is None:
            app._websocket_hub = self.hub
        self.chain: Any = None
        self.started = False
        self.startup_lock: asyncio.Lock | None = None
        self.created = time.monotonic()
        self.requests_total = 0
        self.in_flight = 0
        from ._serving import Dispatcher

        # The native server's error answers (HTTPException, debug page, prod 500).
        self.error_response = Dispatcher(None, None, prod).error_response  # type: ignore[arg-type]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self.ensure_started()
            self.requests_total += 1
            self.in_flight += 1
            try:
                if self.prod:
                    send = self.with_security_headers(scope, send)
                await self.http(scope, receive, send)
            finally:
                self.in_flight -= 1
        elif kind == "websocket":
            await self.ensure_started()
            await self.websocket(scope, receive, send)
        elif kind == "lifespan":
            await self.lifespan(receive, send)
        else:
            raise ValueError(
                f"hyperdjango cannot serve ASGI scope type {kind!r} "
                "(it understands 'http', 'websocket' and 'lifespan')"
            )

    def with_security_headers(self, scope: Scope, send: Send) -> Send:
        """Production mode: every answer gets the native server's security
        headers (one Rust policy, ``SecurityMiddleware()``'s defaults); HSTS only
        when the request is secure (TLS per the scope's scheme, or a trusted
        proxy's ``X-Forwarded-Proto: https``), never over plain HTTP."""
        client = scope.get("client")
        secure = self.bridge.is_secure(
            scope.get("scheme") == "https",
            (str(client[0]), int(client[1])) if client else None,
            [(bytes(name), bytes(value)) for name, value in scope.get("headers", ())],
        )
        add = self.bridge.add_production_headers

        async def send_secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                add(message["headers"], secure)
            await send(message)

        return send_secured

    # -- lifespan ---------------------------------------------------------------

    async def lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.ensure_started()
                except BaseException as error:  # noqa: BLE001 - reported to the server
                    logger.exception("startup hook failed")
                    await send(
                        {
                            "type": "lifespan.startup.failed",
                            "message": f"{type(error).__name__}: {error}",
                        }
                    )
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                try:
                    await _run_hooks(self.app.shutdown_hooks)
                except BaseException as error:  # noqa: BLE001 - reported to the server
                    logger.exception("shutdown hook failed")
                    await send(
                        {
                            "type": "lifespan.shutdown.failed",
                            "message": f"{type(error).__name__}: {error}",
                        }
                    )
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                finally:
                    self.executor.shutdown(wait=False)
                return

    async def ensure_started(self) -> None:
        """Run the startup hooks once (lifespan, or the first request without it)."""
        if self.started:
            return
        if self.startup_lock is None:
            self.startup_lock = asyncio.Lock()
        async with self.startup_lock:
            if not self.started:
                await _run_hooks(self.app.startup_hooks)
                self.started = True

    # -- websocket --------------------------------------------------------------

    async def websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        """``@app.websocket`` routes with the native ``ws`` API (see asgi_websocket.py)."""
        if self.app._websocket_hub is None:
            self.app._websocket_hub = self.hub  # app.publish, in this process
        await serve_websocket(self, scope, receive, send)

    # -- http -------------------------------------------------------------------

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        method: str = scope["method"]
        raw_path: bytes = scope.get("raw_path") or _quote_path(scope["path"])
        raw_path, _, _ = raw_path.partition(b"?")
        query: bytes = scope.get("query_string") or b""
        try:
            path = raw_path.decode("ascii")
        except UnicodeDecodeError:
            return await self.detail(send, 400, "Request target must be ASCII", method)
        if path == "/debug" or path.startswith("/debug/"):
            if self.prod or path != "/debug/performance":
                return await self.detail(send, 404, "Not Found", method)
            return await self.performance(send, method)
        if (
            path.startswith("/static/")
            and self.app.static is not None
            and not self.prod
            and method in ("GET", "HEAD")
        ):
            request = await self.request(scope, receive, send, method, raw_path, query, None, b"")
            if request is not None:
                answer = self.bridge.static_file(path[len("/static/") :], request)
                await self.send_unpacked(scope, send, method, answer, None)
            return

        resolution = self.app.router._table.resolve(method, path)
        outcome = resolution[0]
        if outcome != "found":
            answer = _router_answer(resolution, method, query)
            if not self.app.middleware:
                status, detail, extra = answer
                if detail is None:
                    return await self.send_whole(send, method, status, extra, b"")
                return await self.detail(send, status, detail, method, extra)
            # With middleware the router's answer goes through it, as natively.
            body = await self.read_body(scope, receive, send, method)
            if body is None:
                return
            endpoint: Any = _as_response(answer)
            request = await self.request(
                scope, receive, send, method, raw_path, query, None, body, endpoint
            )
            if request is not None:
                await self.through_middleware(scope, receive, send, method, request)
            return
        route_id: int = resolution[1]
        if route_id >= len(self.targets):  # routes added after the first request
            self.targets = self.app.router._native_targets()
        handler, is_async, params = self.targets[route_id]
        try:
            kwargs = {
                name: int(resolution[2][name]) if converter == "int" else resolution[2][name]
                for name, converter in params
            }
        except ValueError:  # an int Python will not convert: no match, as natively
            return await self.detail(send, 404, "Not Found", method)

        body = await self.read_body(scope, receive, send, method)
        if body is None:
            return
        endpoint = (handler, is_async) if self.app.middleware else None
        request = await self.request(
            scope, receive, send, method, raw_path, query, kwargs or None, body, endpoint
        )
        if request is None:
            return
        if self.app.middleware:
            return await self.through_middleware(scope, receive, send, method, request)
        try:
            if is_async:
                result = handler(request, **kwargs)
                if inspect.isawaitable(result):
                    result = await result
            else:
                context = contextvars.copy_context()
                call = functools.partial(context.run, handler, request, **kwargs)
                result = await asyncio.get_running_loop().run_in_executor(self.executor, call)
                if inspect.isawaitable(result):
                    with contextlib.suppress(Exception):
                        result.close()  # type: ignore[attr-defined]
                    raise TypeError(
                        f"{getattr(handler, '__qualname__', handler)!r} returned an awaitable but "
                        "is not an async def handler; declare it with async def"
                    )
        except Exception as error:  # noqa: BLE001 - every failure becomes an error answer
            result = self.error_response(request, error)
        await self.respond(scope, receive, send, method, request, result)

    async def through_middleware(
        self, scope: Scope, receive: Receive, send: Send, method: str, request: Any
    ) -> None:
        """Run the app's middleware chain (compiled once, on this loop) for ``request``."""
        if self.chain is None:
            from .middleware import compile_chain

            self.app._serving = True  # as natively: no app.use() once serving
            self.chain = compile_chain(
                list(self.app.middleware),
                asyncio.get_running_loop(),
                self.executor,
                self.error_response,
            )
        try:
            outermost, call_next = self.chain
            result = await outermost(request, call_next)
            if not isinstance(result, Response):
                raise TypeError(
                    f"middleware returned a {type(result).__name__}, not a Response: return the "
                    "response from `await call_next(request)` or a Response of your own"
                )
        except Exception as error:  # noqa: BLE001 - the outermost middleware failed
            result = self.error_response(request, error)
        await self.respond(scope, receive, send, method, request, result)

    async def read_body(
        self, scope: Scope, receive: Receive, send: Send, method: str
    ) -> bytes | None:
        """The whole body, or None after answering 413 (or when the client left)."""
        limit = self.app.max_body_size
        for name, value in scope.get("headers", ()):
            if name.lower() == b"content-length":
                if not value.strip().isdigit():
                    await self.detail(send, 400, "Invalid Content-Length", method)
                    return None
                if int(value) > limit:
                    await self.too_large(send, method, limit)
                    return None
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            if chunk:
                size += len(chunk)
                if size > limit:
                    await self.too_large(send, method, limit)
                    return None
                chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    async def too_large(self, send: Send, method: str, limit: int) -> None:
        detail = f"Request body too large (limit is {limit} bytes)"
        await self.detail(send, 413, detail, method, [(b"connection", b"close")])

    async def request(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        method: str,
        raw_path: bytes,
        query: bytes,
        kwargs: dict[str, Any] | None,
        body: bytes,
        endpoint: Any = None,
    ) -> Any:
        client = scope.get("client")
        server = scope.get("server")
        host = f"{server[0]}:{server[1]}" if server and server[1] else "localhost"
        try:
            return self.bridge.request(
                method,
                raw_path,
                query,
                [(bytes(name), bytes(value)) for name, value in scope.get("headers", ())],
                body,
                (str(client[0]), int(client[1])) if client else None,
                scope.get("scheme") in ("https", "wss"),
                scope.get("http_version") == "1.0",
                host,
                kwargs,
                endpoint,
            )
        except HTTPException as refusal:
            await self.detail(send, refusal.status_code, str(refusal.detail), method)
            return None

    # -- responses --------------------------------------------------------------

    async def respond(
        self, scope: Scope, receive: Receive, send: Send, method: str, request: Any, result: Any
    ) -> None:
        if isinstance(result, StreamResponse):
            try:
                status, headers = self.bridge.stream_head(result)
            except Exception as error:  # noqa: BLE001
                return await self.respond(
                    scope, receive, send, method, request, self.error_response(request, error)
                )
            source = result.stream_source
            if result._encoder is not None:  # CompressionMiddleware: compress chunk by chunk
                source = _encoded(source, result._encoder)
            return await self.stream(receive, send, method, status, headers, source)
        try:
            answer = self.bridge.response(result, request)
        except Exception as error:  # noqa: BLE001 - a bad result is the handler's error
            answer = self.bridge.response(self.error_response(request, error), request)
        path = result.file_path if isinstance(result, FileResponse) else None
        await self.send_unpacked(scope, send, method, answer, path)

    async def send_unpacked(
        self, scope: Scope, send: Send, method: str, answer: Any, path: str | None
    ) -> None:
        status, headers, body = answer
        if isinstance(body, bytes):
            if body and not any(name == b"content-length" for name, _ in headers):
                headers.append((b"content-length", str(len(body)).encode()))
            return await self.send_whole(send, method, status, headers, body)
        fd, length = body
        try:
            headers.append((b"content-length", str(length).encode()))
            await send({"type": "http.response.start", "status": status, "headers": headers})
            if method == "HEAD" or length == 0:
                return await send({"type": "http.response.body", "body": b""})
            pathsend = "http.response.pathsend" in (scope.get("extensions") or {})
            if pathsend and path is not None and status == 200 and os.fstat(fd).st_size == length:
                return await send({"type": "http.response.pathsend", "path": os.path.abspath(path)})
            loop = asyncio.get_running_loop()
            remaining = length
            while remaining > 0:
                chunk = await loop.run_in_executor(
                    self.executor, os.read, fd, min(FILE_CHUNK, remaining)
                )
                if not chunk:
                    raise OSError(f"file shrank while being sent ({remaining} bytes missing)")
                remaining -= len(chunk)
                await send(
                    {"type": "http.response.body", "body": chunk, "more_body": remaining > 0}
                )
        finally:
            os.close(fd)

    async def send_whole(
        self, send: Send, method: str, status: int, headers: list[Any], body: bytes
    ) -> None:
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if method == "HEAD" else body})

    async def stream(
        self,
        receive: Receive,
        send: Send,
        method: str,
        status: int,
        headers: list[Any],
        source: Any,
    ) -> None:
        """Send chunks as the generator yields them; stop it if the client leaves."""
        await send({"type": "http.response.start", "status": status, "headers": headers})
        if method == "HEAD":
            await send({"type": "http.response.body", "body": b""})
            await _close_source(source)
            return

        async def pump() -> None:
            async for chunk in _chunks(source):
                if isinstance(chunk, str):
                    chunk = chunk.encode()
                elif not isinstance(chunk, (bytes, bytearray)):
                    raise TypeError(
                        f"stream chunks must be bytes or str, not {type(chunk).__name__}"
                    )
                if chunk:
                    await send(
                        {"type": "http.response.body", "body": bytes(chunk), "more_body": True}
                    )
            await send({"type": "http.response.body", "body": b""})

        async def watch() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass

        producer = asyncio.ensure_future(pump())
        watcher = asyncio.ensure_future(watch())
        try:
            await asyncio.wait({producer, watcher}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            watcher.cancel()
            if not producer.done():
                producer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await producer
            await _close_source(source)
        if not producer.cancelled() and producer.exception() is not None:
            # Like natively: the response is cut, so the client sees it is incomplete.
            logger.error(
                "Exception in a streamed response; the connection is cut",
                exc_info=producer.exception(),
            )
            raise producer.exception()  # type: ignore[misc]

    async def detail(
        self,
        send: Send,
        status: int,
        detail: str,
        method: str,
        extra: list[tuple[bytes, bytes]] | None = None,
    ) -> None:
        """A native-style ``{"detail": ...}`` JSON answer."""
        body = _native.json_dumps({"detail": detail})
        headers = [*JSON, (b"content-length", str(len(body)).encode()), *(extra or [])]
        await self.send_whole(send, method, status, headers, body)

    async def performance(self, send: Send, method: str) -> None:
        body = _native.json_dumps(
            {
                "uptime_seconds": round(time.monotonic() - self.created, 3),
                "requests_total": self.requests_total,
                "in_flight": self.in_flight,
                "server": "asgi",
            }
        )
        await self.send_whole(send, method, 200, list(JSON), body)


def _router_answer(
    resolution: tuple[Any, ...], method: str, query: bytes
) -> tuple[int, str | None, list[tuple[bytes, bytes]]]:
    """The router's own answer as ``(status, detail or None for no body, headers)``."""
    outcome = resolution[0]
    if outcome == "method_not_allowed":
        allow = [(b"allow", resolution[1].encode())]
        if method == "OPTIONS":
            return 204, None, allow
        return 405, "Method Not Allowed", allow
    if outcome == "redirect":
        # The router's location is already safe (encoded, no leading //);
        # the query is echoed too, so it is encoded the same way.
        location = resolution[1] + ("?" + _quote_query(query) if query else "")
        return 308, "Permanent Redirect", [(b"location", location.encode())]
    return 404, "Not Found", []


def _as_response(answer: tuple[int, str | None, list[tuple[bytes, bytes]]]) -> Response:
    status, detail, extra = answer
    headers = [(name.decode(), value.decode("latin-1")) for name, value in extra]
    if detail is None:
        return Response(b"", status, headers)
    return Response.json({"detail": detail}, status, headers)


def _quote_query(query: bytes) -> str:
    from urllib.parse import quote

    return quote(query, safe="!$&'()*+,;=:@/?%")


def _quote_path(path: str) -> bytes:
    from urllib.parse import quote

    return quote(path, safe="/:@!$&'()*+,;=-._~").encode("ascii")


async def _chunks(source: Any) -> Any:
    if isinstance(source, AsyncIterable):
        async for chunk in source:
            yield chunk
    else:
        for chunk in source:
            yield chunk


async def _encoded(source: Any, encoder: Any) -> Any:
    """``source``'s chunks compressed by a native encoder, each flushed as it comes."""
    try:
        async for chunk in _chunks(source):
            data = encoder.compress(chunk.encode() if isinstance(chunk, str) else bytes(chunk))
            if data:
                yield data
        tail = encoder.finish()
        if tail:
            yield tail
    finally:
        await _close_source(source)


async def _close_source(source: Any) -> None:
    aclose = getattr(source, "aclose", None)
    if aclose is not None:
        with contextlib.suppress(RuntimeError):
            await aclose()
    else:
        close = getattr(source, "close", None)
        if close is not None:
            close()


async def _run_hooks(hooks: list[Callable[[], Any]]) -> None:
    for hook in hooks:
        result = hook()
        if inspect.isawaitable(result):
            await result
