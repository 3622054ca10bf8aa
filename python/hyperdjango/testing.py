"""``TestClient``: test an app in-process through the real native server.

>>> from hyperdjango.testing import TestClient
>>> with TestClient(app) as client:
...     assert client.get("/users/1").json() == {"id": 1}

Requests are written as HTTP/1.1 bytes (by h11, as httpx writes them to a
socket) into an in-memory connection that the native server serves exactly
as an accepted TCP connection: the same parser, limits, router, handlers,
Python dispatcher and serialiser, so the answer bytes are the ones a served
app sends (404/405/413/414/431 included). Nothing listens on a port.

The client is an ``httpx.Client``: ``params``, ``json``, ``data``, ``files``,
``headers``, cookies that persist, ``client.stream(...)``, redirects, hooks.
``client.send_raw(bytes)`` writes a raw (possibly malformed) request and
returns the server's raw answer. See docs/testing.md.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from types import TracebackType
from typing import Any

import h11
import httpx

from .app import HyperApp

__all__ = ["TestClient", "WebSocketDenied"]

#: Stands in for "no timeout" (httpx's ``None``): the native side wants a number.
_FOREVER = 365 * 24 * 3600.0


class WebSocketDenied(Exception):
    """``websocket_connect`` was refused: ``status_code`` and ``body`` of the answer."""

    def __init__(self, status_code: int, body: bytes) -> None:
        super().__init__(f"the WebSocket handshake was refused with {status_code}")
        self.status_code = status_code
        self.body = body


class _InMemoryServer:
    """The app served by the native server on a background thread, listening nowhere.

    The thread runs ``hyperdjango._serving.serve`` itself, so startup hooks,
    the dispatcher, graceful drain and shutdown hooks are the served ones.
    """

    def __init__(self, app: HyperApp, prod: bool) -> None:
        self.app = app
        self.prod = prod
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._native: Any = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    def start(self) -> None:
        """Run the startup hooks and start serving (once); raises what a hook raised."""
        with self._lock:
            if self._thread is None:
                self._ready.clear()
                self._error = None
                self._thread = threading.Thread(
                    target=self._serve, name="hyperdjango-testclient", daemon=True
                )
                self._thread.start()
            thread = self._thread
        self._ready.wait()
        if self._native is None:
            thread.join()
            with self._lock:
                self._thread = None
            error, self._error = self._error, None
            raise error if error is not None else RuntimeError("the app stopped before serving")

    def _serve(self) -> None:
        from ._serving import serve

        try:
            serve(self.app, "127.0.0.1", 0, self.prod, in_memory=self._serving)
        except BaseException as error:  # noqa: BLE001 - re-raised on the caller's thread
            self._error = error
        finally:
            self._ready.set()

    def _serving(self, native: Any) -> None:
        self._native = native
        self._ready.set()

    def connect(self) -> Any:
        """A new in-memory connection (starting the server on first use)."""
        if self._native is None:
            self.start()
        return self._native.connect()

    def stop(self) -> None:
        """Drain, run the shutdown hooks (once); raises what a hook raised."""
        with self._lock:
            thread, native = self._thread, self._native
            self._thread = self._native = None
        if thread is None:
            return
        if native is not None:
            native.request_shutdown()
        thread.join()
        error, self._error = self._error, None
        if error is not None:
            raise error


def _h11_error(error: Exception) -> httpx.TransportError:
    if isinstance(error, TimeoutError):
        return httpx.ReadTimeout(str(error))
    if isinstance(error, h11.RemoteProtocolError):
        return httpx.RemoteProtocolError(str(error))
    return httpx.ReadError(str(error))


class _Exchange:
    """One request/response on its own in-memory connection, parsed by h11."""

    def __init__(self, connection: Any, timeout: float) -> None:
        self.connection = connection
        self.timeout = timeout
        self.protocol = h11.Connection(h11.CLIENT)

    def send(self, request: httpx.Request) -> None:
        body = request.read()
        data = self.protocol.send(
            h11.Request(
                method=request.method,
                target=request.url.raw_path,
                headers=list(request.headers.raw),
            )
        )
        assert data is not None
        if body:
            data += self.protocol.send(h11.Data(data=body)) or b""
        data += self.protocol.send(h11.EndOfMessage()) or b""
        self.connection.send(data)

    def next_event(self) -> Any:
        while True:
            try:
                event = self.protocol.next_event()
                if event is not h11.NEED_DATA:
                    return event
                self.protocol.receive_data(self.connection.receive(65536, self.timeout))
            except (h11.RemoteProtocolError, TimeoutError, ConnectionError) as error:
                raise _h11_error(error) from error

    def response(self) -> httpx.Response:
        event = self.next_event()
        while isinstance(event, h11.InformationalResponse):
            event = self.next_event()
        if not isinstance(event, h11.Response):
            raise httpx.RemoteProtocolError(f"the server answered {event!r}, not a response")
        return httpx.Response(
            status_code=event.status_code,
            headers=event.headers.raw_items(),
            stream=_ResponseStream(self),
            extensions={
                "http_version": b"HTTP/" + event.http_version,
                "reason_phrase": event.reason,
            },
        )


class _ResponseStream(httpx.SyncByteStream):
    def __init__(self, exchange: _Exchange) -> None:
        self.exchange: _Exchange | None = exchange

    def __iter__(self) -> Iterator[bytes]:
        while self.exchange is not None:
            event = self.exchange.next_event()
            if isinstance(event, h11.Data):
                yield bytes(event.data)
            elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
                break
        self.close()

    def close(self) -> None:
        if self.exchange is not None:
            # The server sees the end of input and closes its side.
            self.exchange.connection.shutdown_write()
            self.exchange = None


class _InMemoryTransport(httpx.BaseTransport):
    def __init__(self, server: _InMemoryServer) -> None:
        self.server = server

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        timeout = request.extensions.get("timeout", {}).get("read") or _FOREVER
        exchange = _Exchange(self.server.connect(), timeout)
        exchange.send(request)
        return exchange.response()

    def close(self) -> None:
        self.server.stop()


class TestClient(httpx.Client):
    """An ``httpx.Client`` whose requests the native server answers in-process.

    ``TestClient(app, prod=False)``: ``prod`` is ``HyperApp.run``'s production
    mode. ``with TestClient(app) as client:`` runs the startup hooks on entry
    (raising what a failing hook raised) and drains and runs the shutdown
    hooks on exit, once each. Without ``with``, the server starts at the
    first request and stops at ``close()``. Other keyword arguments go to
    ``httpx.Client`` (``base_url`` defaults to ``http://testserver``,
    ``timeout`` to 30 s).
    """

    __test__ = False  # not a pytest test class, despite the name

    def __init__(self, app: HyperApp, prod: bool = False, **kwargs: Any) -> None:
        if not isinstance(app, HyperApp):
            raise TypeError(f"TestClient needs a HyperApp, not {type(app).__name__}")
        self.app = app
        self.prod = bool(prod)
        self._server = _InMemoryServer(app, self.prod)
        kwargs.setdefault("base_url", "http://testserver")
        kwargs.setdefault("timeout", 30.0)
        super().__init__(transport=_InMemoryTransport(self._server), **kwargs)

    def __enter__(self) -> TestClient:
        self._server.start()
        super().__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> None:
        super().__exit__(exc_type, exc_value, traceback)

    def send_raw(self, data: bytes, timeout: float = 30.0) -> bytes:
        """Write ``data`` as-is on a new connection, end the input, and return
        every byte the server sent until it closed the connection.

        For malformed or pipelined requests: ``client.send_raw(b"GET / HTTP/2.0\\r\\n\\r\\n")``
        starts with ``b"HTTP/1.1 505 "``. Raises ``TimeoutError`` if the server
        is still sending after ``timeout`` seconds.
        """
        if not isinstance(data, bytes | bytearray | memoryview):
            raise TypeError(f"send_raw needs bytes, not {type(data).__name__}")
        connection = self._server.connect()
        connection.send(bytes(data))
        connection.shutdown_write()
        chunks = []
        while chunk := connection.receive(65536, timeout):
            chunks.append(chunk)
        return b"".join(chunks)

    def websocket_connect(
        self,
        path: str,
        subprotocols: list[str] | None = None,
        headers: dict[str, str] | None = None,
        timeout: float = 30.0,
    ) -> Any:
        """Open a WebSocket to ``path`` (through the native upgrade and framing).

        Returns a session with Starlette's ``send_text``/``receive_text``,
        ``send_bytes``/``receive_bytes``, ``send_json``/``receive_json`` and
        ``close``; use it as a context manager. The client's cookies are sent.
        A refused handshake raises ``WebSocketDenied`` (its status code, e.g.
        403 or 404). Needs the ``websockets`` package (its sans-I/O client).
        """
        from ._testing_websocket import WebSocketTestSession

        request = self.build_request("GET", path, headers=headers)
        url = request.url.copy_with(scheme="wss" if request.url.scheme == "https" else "ws")
        extra = [
            (name, value)
            for name, value in request.headers.multi_items()
            if name.lower() not in {"host", "connection", "accept-encoding", "content-length"}
        ]
        return WebSocketTestSession(self._server.connect(), str(url), extra, subprotocols, timeout)
