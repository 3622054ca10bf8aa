"""The serving half of hot reload: which servers run in this process, and
what a debug-mode server does while a ``HotReloader`` runs.

``_serving.serve`` announces each server here (``serving``/``stopping``).
While a reloader runs, every debug-mode server has a route table built
from its app's routes plus ``GET /__hyper/reload`` (the SSE endpoint), with
handlers wrapped so HTML responses carry the refresh script; the table is
swapped into the running native server (``Server.replace_routes``) and
swapped back when the reloader stops. Servers never pay for any of this
while no reloader runs, and production servers never do.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .response import FileResponse, Response, StreamResponse

if TYPE_CHECKING:
    from .app import HyperApp
    from .hot_reload import HotReloader

logger = logging.getLogger("hyperdjango.reload")

RELOAD_PATH = "/__hyper/reload"
SCRIPT = (
    '<script>(function(){var s=new EventSource("' + RELOAD_PATH + '");'
    's.addEventListener("reload",function(){s.close();location.reload();});})();</script>'
).encode()
_BODY_END = re.compile(rb"</body\s*>", re.IGNORECASE)

_lock = threading.RLock()
_served: list[Served] = []
_reloaders: list[HotReloader] = []
_production_servers = 0


class Served:
    """One debug-mode server: its app, native server, loop and SSE listeners."""

    def __init__(self, app: HyperApp, server: Any, loop: asyncio.AbstractEventLoop) -> None:
        self.app = app
        self.server = server
        self.loop = loop
        self.listeners: set[asyncio.Queue[int | None]] = set()
        self.enhanced = False

    def install(self, enhanced: bool) -> None:
        """Swap in the app's current routes, with the reload endpoint and script if ``enhanced``."""
        specs = [
            (
                list(route.methods),
                route.pattern,
                _injecting(route.handler, route.is_async) if enhanced else route.handler,
                route.is_async,
                list(route.params),
            )
            for route in self.app.router.routes
        ]
        if enhanced:
            specs.append((["GET"], RELOAD_PATH, self.reload_events, True, []))
        self.server.replace_routes(specs)
        self.enhanced = enhanced
        if not enhanced:
            self.notify(None)

    def notify(self, reload_number: int | None) -> None:
        """Queue ``reload_number`` (None: end the stream) for every listener."""
        for queue in list(self.listeners):
            self.loop.call_soon_threadsafe(queue.put_nowait, reload_number)

    async def reload_events(self, request: Any) -> Response:
        queue: asyncio.Queue[int | None] = asyncio.Queue()
        self.listeners.add(queue)

        async def events() -> Any:
            try:
                yield {"retry": 500}  # no event: sends the headers now, and a reconnect delay
                while (number := await queue.get()) is not None:
                    yield {"event": "reload", "data": str(number)}
            finally:
                self.listeners.discard(queue)

        return Response.sse(events(), headers={"Cache-Control": "no-cache"})


def _injecting(handler: Callable[..., Any], is_async: bool) -> Callable[..., Any]:
    if is_async:

        async def injecting_async(request: Any, **params: Any) -> Any:
            return inject_script(await handler(request, **params))

        wrapper: Callable[..., Any] = injecting_async
    else:

        def injecting(request: Any, **params: Any) -> Any:
            return inject_script(handler(request, **params))

        wrapper = injecting
    return functools.wraps(handler)(wrapper)


def inject_script(result: Any) -> Any:
    """An HTML ``Response`` gets the refresh script before ``</body>`` (or at the
    end); the native serialiser sets Content-Length from the new body."""
    if (
        isinstance(result, Response)
        and not isinstance(result, StreamResponse | FileResponse)
        and result.headers.get("content-type", "").lower().startswith("text/html")
    ):
        ends = list(_BODY_END.finditer(result.body))
        at = ends[-1].start() if ends else len(result.body)
        result.body = result.body[:at] + SCRIPT + result.body[at:]
        if "content-length" in result.headers:
            del result.headers["content-length"]
    return result


# -- announcements from _serving and hot_reload ----------------------------------


class _Production:
    """The handle of a production server: counted, never enhanced."""

    stopped = False


def serving(app: HyperApp, server: Any, loop: asyncio.AbstractEventLoop, prod: bool) -> Any:
    """A server started (on ``loop``'s thread). Returns the handle for ``stopping``."""
    global _production_servers
    with _lock:
        if not prod:
            served = Served(app, server, loop)
            _served.append(served)
            if _reloaders:
                served.install(True)
            return served
        _production_servers += 1
        running = list(_reloaders)
    for reloader in running:
        logger.warning("hot reload is never active in production mode; stopping it")
        reloader.stop()
    return _Production()


def stopping(handle: Any) -> None:
    """The server given ``handle`` by ``serving`` begins to shut down (idempotent)."""
    global _production_servers
    with _lock:
        if isinstance(handle, _Production):
            if not handle.stopped:
                handle.stopped = True
                _production_servers -= 1
        elif handle in _served:
            _served.remove(handle)
            handle.notify(None)


def production_server_running() -> bool:
    return _production_servers > 0


def reloader_started(reloader: HotReloader) -> None:
    with _lock:
        _reloaders.append(reloader)
        for served in _served:
            if not served.enhanced:
                served.install(True)


def reloader_stopped(reloader: HotReloader) -> None:
    with _lock:
        if reloader in _reloaders:
            _reloaders.remove(reloader)
        if not _reloaders:
            for served in _served:
                served.install(False)


def served_apps() -> list[HyperApp]:
    with _lock:
        return [served.app for served in _served]


def run_reload(reloader: HotReloader, paths: set[Path]) -> None:
    """From the watcher thread: reload on a serving loop's thread (between
    request batches, so no handler sees half a route table), or right here."""
    with _lock:
        loop = _served[0].loop if _served else None
    if loop is None:
        reloader.reload(paths)
        return
    try:
        loop.call_soon_threadsafe(reloader.reload, paths)
    except RuntimeError:  # the loop closed meanwhile
        reloader.reload(paths)


def reloaded(reload_number: int) -> None:
    """Modules reloaded: rebuild every server's routes, then tell the browsers."""
    with _lock:
        for served in _served:
            try:
                served.install(True)
            except Exception:  # noqa: BLE001 - keep the other servers going
                logger.exception("hot reload: cannot rebuild the routes of %r", served.app)
                continue
            served.notify(reload_number)
