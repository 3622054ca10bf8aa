"""WebSocket endpoints of the test project, as a raw ASGI app (no framework):

- ``/ws/echo``: accepts (with the first offered subprotocol), then sends the
  scope it got as JSON and echoes every text or binary message; ``"close"``
  closes with 4001 "bye"; the client's disconnect code is kept for ``/ws/last``.
- ``/ws/refuse``: closes before accepting (the client gets 403).
- ``/ws/last``: sends the code and reason of the last disconnect ``/ws/echo`` saw.
- ``/ws/crash``: raises before accepting (500); ``/ws/crash-later`` after (1011);
  ``/ws/silent`` returns without accepting (403).
- ``/ws/flood``: sends 64 KiB messages until one waits over a second (the
  client does not read); ``/ws/flood-result`` tells how many went out.
- ``/ws/channels/``: a Channels ``WebsocketConsumer`` (when channels is installed).
- anything else: closed before accepting.
"""

import asyncio
import json

last_disconnect = {}


async def echo(scope, receive, send):
    assert (await receive())["type"] == "websocket.connect"
    offered = scope.get("subprotocols") or []
    accept = {"type": "websocket.accept"}
    if offered:
        accept["subprotocol"] = offered[0]
    await send(accept)
    shown = {
        key: scope[key]
        for key in ("type", "path", "root_path", "scheme", "subprotocols", "client", "server")
    }
    shown["raw_path"] = scope["raw_path"].decode("latin-1")
    shown["query_string"] = scope["query_string"].decode("latin-1")
    shown["headers"] = [
        [name.decode("latin-1"), value.decode("latin-1")] for name, value in scope["headers"]
    ]
    await send({"type": "websocket.send", "text": json.dumps(shown)})
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            last_disconnect.update(code=message["code"], reason=message.get("reason", ""))
            return
        if message.get("text") == "close":
            await send({"type": "websocket.close", "code": 4001, "reason": "bye"})
            return
        if message.get("text") is not None:
            await send({"type": "websocket.send", "text": message["text"]})
        else:
            await send({"type": "websocket.send", "bytes": message["bytes"]})


async def refuse(scope, receive, send):
    await receive()
    await send({"type": "websocket.close", "code": 1008})


async def last(scope, receive, send):
    await receive()
    await send({"type": "websocket.accept"})
    await send({"type": "websocket.send", "text": json.dumps(last_disconnect)})
    await send({"type": "websocket.close", "code": 1000})


def _channels_consumer():
    try:
        from channels.generic.websocket import WebsocketConsumer
    except ImportError:
        return None

    class Shout(WebsocketConsumer):
        """Echoes text upper-cased, from a sync consumer (runs on a thread)."""

        def connect(self):
            self.accept()

        def receive(self, text_data=None, bytes_data=None):
            if text_data == "bye":
                self.close()  # a plain close: {"type": "websocket.close", "code": None}
            elif text_data is not None:
                self.send(text_data=text_data.upper())
            else:
                self.send(bytes_data=bytes_data[::-1])

    return Shout.as_asgi()


async def crash(scope, receive, send):
    await receive()
    raise RuntimeError("crash before accepting, on purpose")


async def crash_later(scope, receive, send):
    await receive()
    await send({"type": "websocket.accept"})
    await send({"type": "websocket.send", "text": "accepted"})
    raise RuntimeError("crash after accepting, on purpose")


flood = {}


async def flood_app(scope, receive, send):
    await receive()
    await send({"type": "websocket.accept"})
    sent, chunk = 0, b"x" * 65536
    try:
        while sent < 2000:
            await asyncio.wait_for(send({"type": "websocket.send", "bytes": chunk}), 1.0)
            sent += 1
    except TimeoutError:
        pass
    flood["sent"] = sent
    await send({"type": "websocket.close", "code": 1000})


async def flood_result(scope, receive, send):
    await receive()
    await send({"type": "websocket.accept"})
    await send({"type": "websocket.send", "text": json.dumps(flood)})
    await send({"type": "websocket.close", "code": 1000})


async def silent(scope, receive, send):
    await receive()


ROUTES = {
    "/ws/echo": echo,
    "/ws/refuse": refuse,
    "/ws/last": last,
    "/ws/crash": crash,
    "/ws/crash-later": crash_later,
    "/ws/silent": silent,
    "/ws/flood": flood_app,
    "/ws/flood-result": flood_result,
}
channels_consumer = _channels_consumer()
if channels_consumer is not None:
    ROUTES["/ws/channels/"] = channels_consumer


async def websocket_application(scope, receive, send):
    handler = ROUTES.get(scope["path"], refuse)
    await handler(scope, receive, send)
