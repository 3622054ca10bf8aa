"""The native WebSocket hub's events, dispatched to the ``WebSocket`` objects.

One eventfd wake-up of the loop drains every event that is ready (opens,
messages, closes, room to write) as tuples, in one native call.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .websocket import WebSocket, WebSocketRoute, serve

if TYPE_CHECKING:
    from .router import Router

_OPEN, _MESSAGE, _CLOSED, _WRITABLE = 0, 1, 2, 3


class _Bridge:
    """Runs WebSocket handlers on the server loop and feeds them the native events."""

    def __init__(
        self, hub: Any, routes: Sequence[WebSocketRoute], loop: asyncio.AbstractEventLoop
    ) -> None:
        self.hub = hub
        self.routes = routes
        self.loop = loop
        self.sockets: dict[int, WebSocket] = {}
        self.tasks: set[asyncio.Task[None]] = set()

    def on_ready(self) -> None:
        sockets = self.sockets
        for event in self.hub.drain():
            kind = event[0]
            if kind == _MESSAGE:
                socket = sockets.get(event[1])
                if socket is None:
                    continue
                # socket._on_message inlined: this runs once per message.
                waiter = socket._waiter
                if waiter is not None and not waiter.done():
                    socket._waiter = None
                    socket._holding = True
                    waiter.set_result(event[2])
                else:
                    socket._inbox.append(event[2])
            elif kind == _OPEN:
                self._open(*event[1:])
            elif kind == _CLOSED:
                socket = sockets.pop(event[1], None)
                if socket is not None:
                    socket._on_closed(event[2], event[3])
            elif kind == _WRITABLE:
                socket = sockets.get(event[1])
                if socket is not None:
                    socket._on_writable()

    def _open(
        self, channel: Any, route_id: int, request: Any, kwargs: dict[str, Any] | None
    ) -> None:
        route = self.routes[route_id]
        socket = WebSocket(channel, request, self.loop)
        self.sockets[channel.id] = socket
        coroutine = serve(route, socket, kwargs or {})
        task = self.loop.create_task(coroutine, context=contextvars.copy_context())
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def close_all(self) -> None:
        """Server stopping: the native side closes sockets with 1001; end the handlers."""
        for task in list(self.tasks):
            task.cancel()


def routes_spec(router: Router) -> list[tuple[Any, ...]]:
    return [route.native_spec() for route in router.websocket_routes]
