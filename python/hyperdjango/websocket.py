"""WebSockets: the ``ws`` object handlers receive, and its bridge to the native side.

The native server does the protocol (handshake, framing, unmasking, ping/pong,
close handshake, permessage-deflate, publish/subscribe fan-out); Python sees
whole messages. Events cross in batches: one eventfd wake-up of the loop
delivers every message, open and close that is ready (``_websocket_bridge``).

>>> @app.websocket("/ws/room/{name}")
... async def room(ws, name):
...     ws.subscribe(name)
...     async for message in ws:
...         app.publish(name, f"{ws.request.client_ip}: {message}")
"""

from __future__ import annotations

import asyncio
import collections
import collections.abc
import json
import logging
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["WebSocket", "WebSocketDisconnect", "WebSocketRoute"]

error_logger = logging.getLogger("hyperdjango.error")

_QUEUED, _FULL = 0, 1
DEFAULT_MAX_MESSAGE_SIZE = 16 * 1024 * 1024
_Future = asyncio.Future  # per message: the constructor, not loop.create_future()


class _Finished(asyncio.Future[None]):
    """What ``ws.send`` returns when the message is already queued: a
    finished future, awaited without suspending. It also passes for a
    coroutine, so ``asyncio.create_task(ws.send(...))`` keeps working."""

    def send(self, value: None) -> None:
        raise StopIteration

    def throw(self, typ: Any, value: Any = None, traceback: Any = None) -> None:
        raise typ if value is None else value

    def close(self) -> None:
        pass


collections.abc.Coroutine.register(_Finished)
_finished_by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Finished] = (
    weakref.WeakKeyDictionary()
)


def _finished(loop: asyncio.AbstractEventLoop) -> _Finished:
    """The loop's one finished ``_Finished`` (reused by every send)."""
    finished = _finished_by_loop.get(loop)
    if finished is None:
        finished = _finished_by_loop[loop] = _Finished(loop=loop)
        finished.set_result(None)
    return finished


class WebSocketDisconnect(Exception):
    """The connection is closed: ``code`` and ``reason`` of its close frame.

    1005 means the client's close frame had no code, 1006 that the connection
    dropped without a close frame.
    """

    def __init__(self, code: int = 1000, reason: str = "") -> None:
        super().__init__(code, reason)
        self.code = code
        self.reason = reason

    def __str__(self) -> str:
        return f"WebSocket closed with code {self.code}" + (
            f": {self.reason}" if self.reason else ""
        )


@dataclass(frozen=True)
class WebSocketRoute:
    """One registered WebSocket route (see ``HyperApp.websocket``)."""

    pattern: str
    handler: Callable[..., Any]
    name: str | None = None
    subprotocols: tuple[str, ...] = ()
    origins: tuple[str, ...] = ()
    max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE
    ping_interval: float | None = None
    ping_timeout: float = 20.0
    compression: bool = True
    params: tuple[tuple[str, str], ...] = ()

    def native_spec(self) -> tuple[Any, ...]:
        return (
            list(self.subprotocols),
            list(self.origins),
            self.max_message_size,
            self.ping_interval,
            self.ping_timeout,
            self.compression,
            5.0,  # close timeout: how long to wait for the client's close frame
            1024 * 1024,  # outbox bytes before send() waits
            list(self.params),
        )


class WebSocket:
    """One WebSocket connection, as a handler sees it.

    The handshake is completed by ``await ws.accept()``, or implicitly by the
    first ``send``/``receive``/iteration/``subscribe``; before that,
    ``ws.request`` (headers, query, cookies, ``client_ip``) can be checked and
    ``await ws.close()`` refuses the connection with HTTP 403.
    """

    __slots__ = (
        "request",
        "_channel",
        "_loop",
        "_accepted",
        "_subprotocol",
        "_inbox",
        "_waiter",
        "_iterating",
        "_sent",
        "_writers",
        "_closed",
        "_close_code",
        "_close_reason",
        "_local_close",
        "_holding",
    )

    def __init__(self, channel: Any, request: Any, loop: asyncio.AbstractEventLoop) -> None:
        self.request = request
        self._channel = channel
        self._loop = loop
        self._accepted = False
        self._subprotocol: str | None = None
        self._inbox: collections.deque[str | bytes] = collections.deque()
        self._waiter: asyncio.Future[Any] | None = None
        self._iterating = False  # the waiter is an `async for` step (ends it on close)
        self._sent = _finished(loop)
        self._writers: list[asyncio.Future[None]] = []
        self._closed = False
        self._close_code = 1006
        self._close_reason = ""
        self._local_close = False
        # The last message returned is being handled: it counts as unread
        # (for backpressure, and so a protocol failure's close frame waits
        # for the answer to it) until the handler asks for the next one.
        self._holding = False

    # -- handshake -------------------------------------------------------------

    @property
    def subprotocol(self) -> str | None:
        """The negotiated subprotocol (None if none)."""
        return self._subprotocol if self._accepted else self._channel.subprotocol

    async def accept(self, subprotocol: str | None = None) -> None:
        """Complete the handshake, optionally choosing ``subprotocol`` (one the client offered)."""
        if self._accepted:
            return
        if subprotocol is not None and subprotocol not in self._channel.offered_protocols:
            raise ValueError(
                f"subprotocol {subprotocol!r} was not offered by the client "
                f"(offered: {self._channel.offered_protocols})"
            )
        self._accept(subprotocol)

    def _accept(self, subprotocol: str | None = None) -> None:
        if self._accepted:
            return
        if self._local_close:
            raise RuntimeError("the WebSocket handshake was refused with ws.close()")
        chosen = subprotocol if subprotocol is not None else self._channel.subprotocol
        self._channel.accept(chosen)
        self._accepted = True
        self._subprotocol = chosen

    # -- receiving -------------------------------------------------------------

    async def receive(self, timeout: float | None = None) -> str | bytes:
        """The next message: ``str`` for text, ``bytes`` for binary.

        Raises ``asyncio.TimeoutError`` after ``timeout`` seconds (the
        connection stays usable) and ``WebSocketDisconnect`` once it is closed.
        """
        waiter = self._next(False)
        if waiter.done():
            return waiter.result()
        try:
            if timeout is None:
                return await waiter
            return await asyncio.wait_for(waiter, timeout)
        finally:
            if self._waiter is waiter:
                self._waiter = None

    def _next(self, iterating: bool = True) -> asyncio.Future[Any]:
        """The next message as a future, already done when one is waiting.

        The per-message path: ``async for`` awaits this future directly (no
        coroutine per message), and ``_on_message`` resolves it.
        """
        if not self._accepted:
            self._accept()
        if self._holding:
            self._holding = False
            self._channel.consumed()
        if self._inbox:
            self._holding = True
            ready: asyncio.Future[Any] = _Future(loop=self._loop)
            ready.set_result(self._inbox.popleft())
            return ready
        if self._closed:
            if iterating:
                raise StopAsyncIteration
            raise WebSocketDisconnect(self._close_code, self._close_reason)
        if self._waiter is not None and not self._waiter.done():
            raise RuntimeError("another task is already waiting in ws.receive()")
        waiter = self._waiter = _Future(loop=self._loop)
        self._iterating = iterating
        return waiter

    async def receive_text(self, timeout: float | None = None) -> str:
        message = await self.receive(timeout)
        if not isinstance(message, str):
            raise TypeError("expected a text message, received a binary one")
        return message

    async def receive_bytes(self, timeout: float | None = None) -> bytes:
        message = await self.receive(timeout)
        if not isinstance(message, bytes):
            raise TypeError("expected a binary message, received a text one")
        return message

    async def receive_json(self, timeout: float | None = None) -> Any:
        """The next message, decoded as JSON (text or UTF-8 bytes)."""
        return json.loads(await self.receive(timeout))

    def __aiter__(self) -> WebSocket:
        return self

    __anext__ = _next  # `async for` steps await the future itself

    # -- sending ---------------------------------------------------------------

    def send(self, message: str | bytes) -> Awaitable[None]:
        """Send ``message`` (text for ``str``, binary for ``bytes``); await the result.

        Waits while the client does not read (the connection's queue is full).
        Each message is queued whole, so concurrent sends never interleave.
        When the queue has room the message is queued at once and the
        awaitable returned is already finished (no coroutine per message).
        """
        if self._accepted and not self._closed and not self._local_close:
            if self._channel.send(message) == _QUEUED:
                return self._sent
        return self._send_waiting(message)

    async def _send_waiting(self, message: str | bytes) -> None:
        self._accept()
        while True:
            if self._closed or self._local_close:
                raise WebSocketDisconnect(self._close_code, self._close_reason)
            status = self._channel.send(message)
            if status == _QUEUED:
                return
            if status != _FULL:
                self._closed = True
                raise WebSocketDisconnect(self._close_code, self._close_reason)
            writable = self._loop.create_future()
            self._writers.append(writable)
            await writable

    async def send_text(self, message: str) -> None:
        await self.send(str(message))

    async def send_bytes(self, message: bytes) -> None:
        await self.send(bytes(message))

    async def send_json(self, data: Any) -> None:
        """Send ``data`` as a JSON text message."""
        await self.send(json.dumps(data, separators=(",", ":"), ensure_ascii=False))

    # -- closing and topics ----------------------------------------------------

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close with ``code`` and ``reason``; before ``accept`` this refuses the handshake (403)."""
        if self._local_close or self._closed:
            return
        if not self._accepted:
            self._local_close = True
            self._channel.reject(403)
            self._on_closed(code, reason)
            return
        self._channel.close(code, reason)  # raises ValueError for a bad code or reason
        self._local_close = True
        self._close_code, self._close_reason = code, reason

    def subscribe(self, topic: str) -> None:
        """Receive every ``app.publish(topic, ...)`` from now on (fanned out
        natively; under ASGI, by this process's adapter)."""
        self._accept()
        self._channel.subscribe(_topic(topic))

    def unsubscribe(self, topic: str) -> None:
        self._channel.unsubscribe(_topic(topic))

    @property
    def closed(self) -> bool:
        return self._closed or self._local_close

    # -- events from the bridge ------------------------------------------------

    def _on_message(self, message: str | bytes) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            # Handed to the handler now (the await returns it as is).
            self._waiter = None
            self._holding = True
            waiter.set_result(message)
        else:
            self._inbox.append(message)

    def _on_closed(self, code: int, reason: str) -> None:
        self._closed = True
        if not self._local_close:
            self._close_code, self._close_reason = code, reason
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            self._waiter = None
            if self._iterating:
                waiter.set_exception(StopAsyncIteration())
            else:
                waiter.set_exception(WebSocketDisconnect(self._close_code, self._close_reason))
        self._on_writable()

    def _on_writable(self) -> None:
        writers, self._writers = self._writers, []
        for writer in writers:
            if not writer.done():
                writer.set_result(None)

    async def _finish(self, code: int) -> None:
        if self._holding:
            self._holding = False
            self._channel.consumed()
        if not self._accepted and not self._local_close:
            self._accept()
        if not self._local_close and not self._closed:
            self._channel.close(code, "")
            self._local_close = True

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open" if self._accepted else "connecting"
        return f"<WebSocket {self.request.path} {state}>"


async def serve(route: WebSocketRoute, socket: WebSocket, kwargs: dict[str, Any]) -> None:
    """Run ``route``'s handler on ``socket`` (natively or under ASGI): returning
    closes with 1000, raising with 1011 (logged), cancellation with 1001."""
    code = 1000
    try:
        await route.handler(socket, **kwargs)
    except WebSocketDisconnect:
        pass  # the client left; nothing to close
    except asyncio.CancelledError:
        code = 1001
        raise
    except Exception:
        code = 1011
        error_logger.exception("Exception in WebSocket handler for %s", socket.request.path)
    finally:
        await socket._finish(code)


def _topic(topic: str) -> str:
    if not isinstance(topic, str) or not topic:
        raise ValueError(f"a topic must be a non-empty str, not {topic!r}")
    return topic
