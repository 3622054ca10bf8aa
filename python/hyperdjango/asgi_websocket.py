"""WebSockets under ASGI: ``@app.websocket`` routes served by uvicorn,
hypercorn, daphne or Granian through ASGI ``websocket`` events.

The handler gets the same ``WebSocket`` object as on the native server; only
the channel behind it differs. ``ASGIChannel`` takes the calls the native
channel takes (accept, reject, send, close, subscribe) and turns them into
ASGI messages, sent in order by one writer task; a reader task turns the
server's events into the socket's ``_on_message``/``_on_closed``.

The ASGI server does the protocol (framing, ping/pong, compression), so a
route's ``ping_interval``, ``ping_timeout`` and ``compression`` are its
business there; routing, typed parameters, ``origins``, ``subprotocols`` and
``max_message_size`` (1009) behave as natively. A refused handshake is a 403
answer where the server offers the ``websocket.http.response`` extension, a
close before accepting otherwise (which servers answer with 403 too).

``ws.subscribe`` / ``app.publish`` fan out in Python, per adapter: a publish
reaches the subscribers in this process only (the native server's fan-out
encodes each frame once for every subscriber; that is native-only).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import threading
from typing import TYPE_CHECKING, Any

from .exceptions import HTTPException
from .websocket import WebSocket, serve

if TYPE_CHECKING:
    from .asgi import ASGIAdapter, Receive, Send

__all__ = ["ASGIChannel", "LocalHub", "serve_websocket"]

_QUEUED, _FULL, _CLOSED = 0, 1, 2
MAX_QUEUE = 1024 * 1024  # bytes queued before send() waits, as natively
PUBLISH_SLACK = 4  # a subscriber this many queues behind is closed (1008), as natively
INBOX_LIMIT = 64  # unread messages before the reader stops taking more from the server
UNKNOWN_PATH = 1008


async def serve_websocket(adapter: ASGIAdapter, scope: Any, receive: Receive, send: Send) -> None:
    """One ASGI ``websocket`` scope: route it, run the handler, and return once closed."""
    message = await receive()
    if message["type"] != "websocket.connect":
        return
    app = adapter.app
    raw_path: bytes = scope.get("raw_path") or _quote_path(scope["path"])
    raw_path = raw_path.partition(b"?")[0]
    try:
        path = raw_path.decode("ascii")
    except UnicodeDecodeError:
        return await send({"type": "websocket.close", "code": UNKNOWN_PATH})
    resolution = app.router._ws_table.resolve("GET", path)
    if resolution[0] != "found":
        # Unknown path: closed before accepting (the server answers 403).
        return await send({"type": "websocket.close", "code": UNKNOWN_PATH})
    route = app.router.websocket_routes[resolution[1]]
    try:
        kwargs = {
            name: int(resolution[2][name]) if converter == "int" else resolution[2][name]
            for name, converter in route.params
        }
    except ValueError:  # an int Python will not convert: no match, as natively
        return await send({"type": "websocket.close", "code": UNKNOWN_PATH})

    headers = [(bytes(name), bytes(value)) for name, value in scope.get("headers", ())]
    offered = [str(protocol) for protocol in scope.get("subprotocols") or ()]
    channel = ASGIChannel(scope, send, offered, _choose(offered, route.subprotocols), adapter.hub)
    if not _origin_allowed(headers, route.origins):
        channel.reject(403, "Origin not allowed")
        return await channel.write()
    client = scope.get("client")
    server = scope.get("server")
    try:
        request = adapter.bridge.request(
            "GET",
            raw_path,
            scope.get("query_string") or b"",
            headers,
            b"",
            (str(client[0]), int(client[1])) if client else None,
            scope.get("scheme") in ("wss", "https"),
            False,
            f"{server[0]}:{server[1]}" if server and server[1] else "localhost",
            kwargs or None,
            None,
        )
    except HTTPException as refusal:
        channel.reject(refusal.status_code, str(refusal.detail))
        return await channel.write()

    loop = asyncio.get_running_loop()
    adapter.hub.bind(loop)
    socket = WebSocket(channel, request, loop)
    channel.socket = socket
    writer = loop.create_task(channel.write())
    reader = loop.create_task(channel.read(receive, route.max_message_size))
    try:
        await serve(route, socket, kwargs)
        if not channel.gone:
            await writer  # up to the close frame (or the refusal)
        if channel.refused_close is not None:
            raise channel.refused_close
    finally:
        reader.cancel()
        writer.cancel()
        adapter.hub.drop(channel)


class ASGIChannel:
    """The native ``WebSocketChannel``'s interface over one ASGI connection."""

    __slots__ = (
        "id",
        "offered_protocols",
        "subprotocol",
        "socket",
        "gone",
        "refused_close",
        "topics",
        "_send",
        "_outbox",
        "_queued",
        "_wake",
        "_readable",
        "_decided",
        "_closing",
        "_http_response",
        "_hub",
    )

    _ids = 0

    def __init__(
        self, scope: Any, send: Send, offered: list[str], subprotocol: str | None, hub: LocalHub
    ) -> None:
        ASGIChannel._ids += 1
        self.id = ASGIChannel._ids
        self.offered_protocols = offered
        self.subprotocol = subprotocol  # the route's pick among the offered
        self.socket: WebSocket | None = None
        self.gone = False  # the client left (or sending to it failed)
        # The server would not send our close frame (daphne takes only 1000 and
        # 3000-4999): raising it lets the server close its own way (1011).
        self.refused_close: Exception | None = None
        self.topics: set[str] = set()
        self._send = send
        self._outbox: collections.deque[tuple[dict[str, Any], int]] = collections.deque()
        self._queued = 0
        self._wake = asyncio.Event()
        self._readable = asyncio.Event()
        self._decided = False
        self._closing = False  # a close or refusal is queued: nothing may follow
        self._http_response = "websocket.http.response" in (scope.get("extensions") or {})
        self._hub = hub

    # -- what WebSocket calls ----------------------------------------------------

    def accept(self, subprotocol: str | None = None) -> bool:
        if self._decided:
            return False
        self._decided = True
        message: dict[str, Any] = {"type": "websocket.accept"}
        if subprotocol is not None:
            message["subprotocol"] = subprotocol
        self._push(message, 0)
        return True

    def reject(self, status: int, detail: str = "Forbidden") -> bool:
        if not 400 <= status <= 599:
            raise ValueError(f"a refused handshake needs a 4xx or 5xx status, not {status}")
        if self._decided:
            return False
        self._decided = self._closing = True
        if self._http_response:
            body = json.dumps({"detail": detail}).encode()
            headers = [
                (b"content-type", b"application/json"),
                (b"content-length", b"%d" % len(body)),
            ]
            self._push(
                {"type": "websocket.http.response.start", "status": status, "headers": headers}, 0
            )
            self._push({"type": "websocket.http.response.body", "body": body}, 0)
        else:
            self._push({"type": "websocket.close", "code": UNKNOWN_PATH}, 0)
        return True

    def send(self, message: str | bytes) -> int:
        if isinstance(message, str):
            event: dict[str, Any] = {"type": "websocket.send", "text": message}
        elif isinstance(message, (bytes, bytearray, memoryview)):
            event = {"type": "websocket.send", "bytes": bytes(message)}
        else:
            raise TypeError(
                f"WebSocket messages must be str or bytes, not {type(message).__name__}"
            )
        if self._closing or self.gone:
            return _CLOSED
        if self._queued >= MAX_QUEUE:
            return _FULL
        self._push(event, len(message))
        return _QUEUED

    def close(self, code: int, reason: str) -> bool:
        if not (code in (1000, 1001, 1002, 1003) or 1007 <= code <= 1014 or 3000 <= code <= 4999):
            raise ValueError(
                f"invalid WebSocket close code {code}: use 1000-1003, 1007-1014 or 3000-4999"
            )
        if len(reason.encode()) > 123:
            raise ValueError("a close reason must fit in 123 bytes of UTF-8")
        if self._closing or self.gone:
            return False
        self._closing = True
        self._push({"type": "websocket.close", "code": code, "reason": reason}, 0)
        return True

    def consumed(self) -> None:
        self._readable.set()

    def subscribe(self, topic: str) -> None:
        if not (self._closing or self.gone):
            self._hub.subscribe(self, topic)

    def unsubscribe(self, topic: str) -> None:
        self._hub.unsubscribe(self, topic)

    # -- the two tasks -----------------------------------------------------------

    def _push(self, message: dict[str, Any], size: int) -> None:
        self._outbox.append((message, size))
        self._queued += size
        self._wake.set()

    async def write(self) -> None:
        """Send the queued messages in order; ends after a close or refusal."""
        outbox = self._outbox
        while not self.gone:
            if not outbox:
                self._wake.clear()
                await self._wake.wait()
                continue
            message, size = outbox.popleft()
            try:
                await self._send(message)
            except Exception as error:  # noqa: BLE001 - the server's way of saying the client left
                if message["type"] == "websocket.close" and not self.gone:
                    self.refused_close = error
                self._lost(1006, "")
                return
            self._queued -= size
            if size and self.socket is not None and self._queued < MAX_QUEUE:
                self.socket._on_writable()
            if message["type"] in ("websocket.close", "websocket.http.response.body"):
                return

    async def read(self, receive: Receive, max_size: int) -> None:
        """Deliver the client's messages; pauses while the handler is far behind."""
        while True:
            socket = self.socket
            if socket is not None and len(socket._inbox) >= INBOX_LIMIT:
                self._readable.clear()
                await self._readable.wait()
                continue
            message = await receive()
            kind = message["type"]
            if kind == "websocket.receive":
                data = message.get("text")
                if data is None:
                    data = message.get("bytes") or b""
                size = len(data) if isinstance(data, bytes) else len(data.encode())
                if size > max_size:
                    self.close(1009, "message too big")
                elif socket is not None and not self._closing:
                    socket._on_message(data)
            elif kind == "websocket.disconnect":
                self._lost(int(message.get("code", 1005)), message.get("reason") or "")
                return

    def _lost(self, code: int, reason: str) -> None:
        if self.gone:
            return
        self.gone = True
        self._outbox.clear()
        self._queued = 0
        self._wake.set()
        self._hub.drop(self)
        if self.socket is not None:
            self.socket._on_closed(code, reason)

    def _publish(self, message: str | bytes) -> bool:
        """Queue a published message: never waits; a subscriber far behind is closed."""
        if self._closing or self.gone:
            return False
        if self._queued > MAX_QUEUE * PUBLISH_SLACK:
            self.close(1008, "subscriber too slow")
            return False
        key = "text" if isinstance(message, str) else "bytes"
        self._push({"type": "websocket.send", key: message}, len(message))
        return True


class LocalHub:
    """``app.publish`` under ASGI: the subscribers of one adapter (one process).

    Usable from the loop and from other threads (``def`` handlers run on a
    pool): those hand the fan-out to the loop and get the subscriber count.
    """

    def __init__(self) -> None:
        self.topics: dict[str, set[ASGIChannel]] = {}
        self.loop: asyncio.AbstractEventLoop | None = None
        self.thread: int | None = None

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        if self.loop is not loop:
            self.loop, self.thread = loop, threading.get_ident()

    def subscribe(self, channel: ASGIChannel, topic: str) -> None:
        self.topics.setdefault(topic, set()).add(channel)
        channel.topics.add(topic)

    def unsubscribe(self, channel: ASGIChannel, topic: str) -> None:
        subscribers = self.topics.get(topic)
        if subscribers is not None:
            subscribers.discard(channel)
            if not subscribers:
                del self.topics[topic]
        channel.topics.discard(topic)

    def drop(self, channel: ASGIChannel) -> None:
        for topic in list(channel.topics):
            self.unsubscribe(channel, topic)

    def publish(self, topic: str, message: str | bytes) -> int:
        if not isinstance(topic, str):
            raise TypeError(f"a topic must be a str, not {type(topic).__name__}")
        if not isinstance(message, (str, bytes, bytearray)):
            raise TypeError(
                f"WebSocket messages must be str or bytes, not {type(message).__name__}"
            )
        if isinstance(message, bytearray):
            message = bytes(message)
        if self.loop is None:
            return 0
        if threading.get_ident() == self.thread:
            return self._fan_out(topic, message)
        count = self.subscribers(topic)
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody listens
            self.loop.call_soon_threadsafe(self._fan_out, topic, message)
            return count
        return 0

    def subscribers(self, topic: str) -> int:
        return len(self.topics.get(topic, ()))

    def _fan_out(self, topic: str, message: str | bytes) -> int:
        return sum(channel._publish(message) for channel in list(self.topics.get(topic, ())))


def _choose(offered: list[str], supported: tuple[str, ...]) -> str | None:
    """The route's first supported subprotocol the client offered (as natively)."""
    return next((protocol for protocol in supported if protocol in offered), None)


def _origin_allowed(headers: list[tuple[bytes, bytes]], allowed: tuple[str, ...]) -> bool:
    """The ``origins`` allow-list, as natively: ``"*"`` allows any, and with a
    list a request without ``Origin`` is refused."""
    if not allowed or "*" in allowed:
        return True
    for name, value in headers:
        if name.lower() == b"origin":
            origin = value.strip().decode("latin-1").lower()
            return any(entry.lower() == origin for entry in allowed)
    return False


def _quote_path(path: str) -> bytes:
    from urllib.parse import quote

    return quote(path, safe="/:@!$&'()*+,;=-._~").encode("ascii")
