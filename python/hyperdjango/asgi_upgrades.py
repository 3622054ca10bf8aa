"""WebSocket upgrades on the WSGI bridge, served by an ASGI application.

``runziserver`` hands every WebSocket upgrade to the project's
``ASGI_APPLICATION`` (the setting Channels and daphne use), and
``serve_wsgi(..., asgi_application=app)`` / ``hyper run --wsgi ... --asgi ...``
to any ASGI app, as an ASGI ``websocket`` scope. The native server does the
protocol exactly as for ``@app.websocket`` routes (src/server/upgrade.rs,
src/websocket: handshake checks, framing, unmasking, ping/pong, the close
handshake, permessage-deflate): a hub with one catch-all route takes every
upgrade and hands each connection here, to an asyncio loop on a thread of its
own, where the application runs.

- ``websocket.accept`` answers 101 (with the application's ``subprotocol``);
  a ``websocket.close`` before it answers 403, and so does the application
  returning without accepting; an exception before accepting answers 500
  (logged). After accepting, returning closes with 1000, raising with 1011.
- ``websocket.send`` carries ``text`` or ``bytes`` (waiting while the client
  does not read); ``websocket.receive`` and ``websocket.disconnect`` (with the
  client's ``code`` and ``reason``) come the other way.
- The scope's ``client`` and ``scheme`` (``ws``/``wss``) believe
  ``X-Forwarded-For``/``-Proto`` from the server's trusted proxies, like the
  WSGI environ; ``root_path`` is the WSGI ``SCRIPT_NAME``.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import threading
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from . import _hyperdjango_native as _native
from .eventloop import new_event_loop

__all__ = ["UpgradeBridge"]

logger = logging.getLogger("hyperdjango.asgi")

ASGIApplication = Callable[[Any, Any, Any], Awaitable[None]]
_OPEN, _MESSAGE, _CLOSED, _WRITABLE = 0, 1, 2, 3
_QUEUED, _FULL = 0, 1
MAX_MESSAGE = 16 * 1024 * 1024
MAX_QUEUE = 1024 * 1024


class UpgradeBridge:
    """The hub that takes every upgrade, and the loop thread that serves them."""

    def __init__(
        self,
        application: ASGIApplication,
        *,
        trusted_proxies: Iterable[str] = (),
        root_path: str = "",
    ) -> None:
        if not callable(application):
            raise TypeError(
                f"the ASGI application must be callable, not {type(application).__name__}"
            )
        self.application = application
        self.root_path = root_path
        self.server_address: tuple[str, int] | None = None
        table = _native.RouteTable()
        table.add(["GET"], "/", 0)
        table.add(["GET"], "/{path:path}", 0)
        # (subprotocols, origins, max message, ping interval, ping timeout,
        # compression, close timeout, queued bytes before send() waits, params):
        # the application picks the subprotocol and checks origins itself.
        spec: tuple[Any, ...] = ([], [], MAX_MESSAGE, None, 20.0, True, 5.0, MAX_QUEUE, [])
        self.hub = _native.WebSocketHub(table, [spec], trusted_proxies=list(trusted_proxies))
        self.connections: dict[int, _Connection] = {}
        self.loop = new_event_loop()
        self.thread = threading.Thread(target=self._run, name="hyperdjango-websockets", daemon=True)

    def start(self, server_address: tuple[str, int]) -> None:
        self.server_address = server_address
        self.thread.start()

    def stop(self) -> None:
        """The server is stopping (its sockets close with 1001): end the applications."""
        if self.thread.is_alive():
            self.loop.call_soon_threadsafe(self._stop)
            self.thread.join(5.0)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.add_reader(self.hub.fileno(), self._on_ready)
        try:
            self.loop.run_forever()
        finally:
            self.loop.remove_reader(self.hub.fileno())
            self.loop.close()

    def _stop(self) -> None:
        tasks = [connection.task for connection in self.connections.values()]
        for task in tasks:
            if task is not None:
                task.cancel()

        async def finish() -> None:
            await asyncio.gather(*(task for task in tasks if task), return_exceptions=True)
            self.loop.stop()

        self.loop.create_task(finish())

    def _on_ready(self) -> None:
        connections = self.connections
        for event in self.hub.drain():
            kind = event[0]
            if kind == _OPEN:
                self._open(event[1], event[3])
                continue
            connection = connections.get(event[1])
            if connection is None:
                continue
            if kind == _MESSAGE:
                connection.deliver(event[2])
            elif kind == _CLOSED:
                del connections[event[1]]
                connection.closed(event[2], event[3])
            elif kind == _WRITABLE:
                connection.writable()

    def _open(self, channel: Any, request: Any) -> None:
        connection = _Connection(channel, self.loop)
        self.connections[channel.id] = connection
        scope = self.scope(channel, request)
        connection.task = self.loop.create_task(
            connection.serve(self.application, scope), context=contextvars.copy_context()
        )

    def scope(self, channel: Any, request: Any) -> dict[str, Any]:
        """The ASGI ``websocket`` scope of an upgrade request (a native ``Request``)."""
        host, port = self.server_address or ("127.0.0.1", 0)
        return {
            "type": "websocket",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "scheme": "wss" if request.is_secure else "ws",
            "path": request.path,
            "raw_path": request.raw_path.encode("latin-1"),
            "query_string": request.query_string.encode("latin-1"),
            "root_path": self.root_path,
            "headers": [
                (name.encode("latin-1"), value.encode("latin-1"))
                for name, value in request.headers.raw
            ],
            "client": (request.client_ip, request.client[1]),
            "server": (host, port),
            "subprotocols": list(channel.offered_protocols),
            "state": {},
            "extensions": {},
        }


class _Connection:
    """One upgraded connection: the ASGI ``receive``/``send`` over a native channel."""

    __slots__ = ("channel", "loop", "task", "inbox", "waiter", "writers", "accepted", "done")

    def __init__(self, channel: Any, loop: asyncio.AbstractEventLoop) -> None:
        self.channel = channel
        self.loop = loop
        self.task: asyncio.Task[None] | None = None
        self.inbox: list[dict[str, Any]] = [{"type": "websocket.connect"}]
        self.waiter: asyncio.Future[None] | None = None
        self.writers: list[asyncio.Future[None]] = []
        self.accepted = False
        self.done = False  # a close was sent, or the connection ended

    # -- native events -------------------------------------------------------------

    def deliver(self, data: str | bytes) -> None:
        key = "text" if isinstance(data, str) else "bytes"
        self._push({"type": "websocket.receive", key: data})

    def closed(self, code: int, reason: str) -> None:
        self.done = True
        self._push({"type": "websocket.disconnect", "code": code, "reason": reason})
        self.writable()

    def writable(self) -> None:
        writers, self.writers = self.writers, []
        for writer in writers:
            if not writer.done():
                writer.set_result(None)

    def _push(self, message: dict[str, Any]) -> None:
        self.inbox.append(message)
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # -- the application's side --------------------------------------------------

    async def receive(self) -> dict[str, Any]:
        while not self.inbox:
            self.waiter = self.loop.create_future()
            try:
                await self.waiter
            finally:
                self.waiter = None
        message = self.inbox.pop(0)
        if message["type"] == "websocket.receive":
            self.channel.consumed()  # lets the native side read on
        return message

    async def send(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "websocket.accept":
            if self.accepted:
                raise RuntimeError("'websocket.accept' sent twice")
            if self.done:
                return  # closed or gone already: nothing to accept
            subprotocol = message.get("subprotocol")
            if subprotocol is not None and subprotocol not in self.channel.offered_protocols:
                raise ValueError(
                    f"subprotocol {subprotocol!r} was not offered by the client "
                    f"(offered: {self.channel.offered_protocols})"
                )
            self.accepted = True
            self.channel.accept(subprotocol)
        elif kind == "websocket.send":
            if not self.accepted:
                raise RuntimeError("'websocket.send' before 'websocket.accept'")
            data = message.get("text")
            if data is None:
                data = message.get("bytes")
            if data is None:
                raise ValueError("'websocket.send' needs 'text' or 'bytes'")
            while not self.done:
                status = self.channel.send(data)
                if status == _QUEUED:
                    return
                if status != _FULL:
                    break
                writable = self.loop.create_future()
                self.writers.append(writable)
                await writable
            # The client is gone: ASGI apps learn it from websocket.disconnect.
        elif kind == "websocket.close":
            if self.done:
                return
            self.done = True
            if not self.accepted:
                self.channel.reject(403)
            else:
                # Channels sends "code": None for a plain close.
                self.channel.close(int(message.get("code") or 1000), message.get("reason") or "")
        else:
            raise ValueError(f"unsupported ASGI message type {kind!r} on a WebSocket")

    async def serve(self, application: ASGIApplication, scope: dict[str, Any]) -> None:
        code = 1000
        try:
            await application(scope, self.receive, self.send)
        except asyncio.CancelledError:
            code = 1001
            raise
        except Exception:
            code = 1011
            logger.exception("Exception in the ASGI application for WebSocket %s", scope["path"])
        finally:
            if not self.done:
                self.done = True
                if not self.accepted:
                    # Returned without deciding: refused, as daphne does; a failure is a 500.
                    self.channel.reject(500 if code == 1011 else 403)
                else:
                    self.channel.close(code, "")
