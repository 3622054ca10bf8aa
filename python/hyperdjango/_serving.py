"""The Python half of the native server: one asyncio loop on the main thread.

The native core routes and reads requests on its own (tokio) threads, then
rings an eventfd. The loop's reader callback (``Server.drain``) runs every
waiting handler in one go. What cannot finish there comes back here:
coroutines that really suspend become asyncio tasks, plain ``def`` handlers go
to a thread pool, and exceptions become error responses.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import logging
import os
import sys
import threading
import types
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any

from . import _hyperdjango_native as _native
from . import _reload_serving, streaming
from .debug import error_page
from .eventloop import loop_name, new_event_loop
from .exceptions import HTTPException
from .lifecycle import DaemonThreadPool, ListenError, PidFile, drain, run_hooks
from .limits import ServerLimits
from .response import Response
from .workers import current_worker

if TYPE_CHECKING:
    from .app import HyperApp

logger = logging.getLogger("hyperdjango")
error_logger = logging.getLogger("hyperdjango.error")


@types.coroutine
def _resume(coroutine: Any, pending: Any) -> Generator[Any, Any, Any]:
    """Continue a coroutine the native side already stepped once.

    It yielded ``pending`` (usually a future); re-yield it so the Task waits on
    it, then forward whatever the Task sends or throws.
    """
    while True:
        try:
            sent = yield pending
        except GeneratorExit:
            coroutine.close()
            raise
        except BaseException as exception:  # noqa: BLE001 - forwarded, not handled
            try:
                pending = coroutine.throw(exception)
            except StopIteration as stop:
                return stop.value
        else:
            try:
                pending = coroutine.send(sent)
            except StopIteration as stop:
                return stop.value


async def _continue(coroutine: Any, pending: Any) -> Any:
    return await _resume(coroutine, pending)


async def _await(awaitable: Any) -> Any:
    return await awaitable


class Dispatcher:
    """Callbacks the native server uses for work it does not finish itself."""

    def __init__(
        self, loop: asyncio.AbstractEventLoop, executor: DaemonThreadPool, prod: bool
    ) -> None:
        self.loop = loop
        self.executor = executor
        self.prod = prod
        self.server: Any = None  # the native Server, set once constructed
        self.tasks: set[asyncio.Task[Any]] = set()
        # Requests on the thread pool, answered 503 if still running at the drain deadline.
        self.sync_requests: set[Any] = set()

    def schedule(
        self, coroutine: Any, pending: Any, request: Any, context: contextvars.Context
    ) -> None:
        """A handler's coroutine suspended on ``pending``: finish it as a task."""
        if inspect.iscoroutine(coroutine):
            awaitable = _continue(coroutine, pending)
        else:
            awaitable = _await(coroutine)
        task = self.loop.create_task(awaitable, context=context)
        self.tasks.add(task)
        task.add_done_callback(functools.partial(self._task_done, request))

    def _task_done(self, request: Any, task: asyncio.Task[Any]) -> None:
        self.tasks.discard(task)
        if task.cancelled():
            self.server.fail_with(request, asyncio.CancelledError("handler task was cancelled"))
            return
        exception = task.exception()
        if exception is not None:
            self.server.fail_with(request, exception)
        else:
            self.server.complete(request, task.result())

    def run_sync(
        self,
        handler: Callable[..., Any],
        request: Any,
        kwargs: dict[str, Any] | None,
        context: contextvars.Context,
    ) -> None:
        """Run a plain ``def`` handler on the thread pool."""
        self.sync_requests.add(request)
        self.executor.submit(self._call_sync, handler, request, kwargs, context)

    def _call_sync(
        self,
        handler: Callable[..., Any],
        request: Any,
        kwargs: dict[str, Any] | None,
        context: contextvars.Context,
    ) -> None:
        self.server.started(request)  # no longer waiting: counts for load shedding
        try:
            if kwargs:
                result = context.run(handler, request, **kwargs)
            else:
                result = context.run(handler, request)
            if inspect.isawaitable(result):
                raise TypeError(
                    f"{getattr(handler, '__qualname__', handler)!r} returned an awaitable but is not "
                    "an async def handler; declare it with async def"
                )
        except BaseException as exception:  # noqa: BLE001 - every failure becomes a 500
            self.server.fail_with(request, exception)
        else:
            self.server.complete(request, result)
        finally:
            self.sync_requests.discard(request)

    def error_response(self, request: Any, exception: BaseException) -> Response:
        """The response for a handler that raised ``exception``."""
        if isinstance(exception, HTTPException):
            return Response.json(
                {"detail": exception.detail}, exception.status_code, exception.headers
            )
        if isinstance(exception, asyncio.CancelledError):
            # Cut at the drain deadline (or cancelled on purpose): not a bug to report.
            return Response.json({"detail": "Service Unavailable"}, status=503)
        error_logger.error(
            "Exception in handler for %s %s",
            request.method,
            request.path,
            exc_info=(type(exception), exception, exception.__traceback__),
        )
        if self.prod:
            return Response.json({"detail": "Internal Server Error"}, status=500)
        return error_page(request, exception)


def _display_address(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def serve(
    app: HyperApp,
    host: str,
    port: int,
    prod: bool,
    *,
    in_memory: Callable[[Any], None] | None = None,
    limits: ServerLimits | None = None,
    shutdown_timeout: float = 30.0,
    pid_file: str | None = None,
    listen_fd: int | None = None,
) -> None:
    """Run ``app`` until a shutdown is requested; see ``HyperApp.run``.

    With ``in_memory`` (``hyperdjango.testing``) nothing listens: the native
    server is started without a socket and handed to ``in_memory`` once the
    startup hooks ran; its ``connect()`` opens connections to it. No signals
    are caught, no PID file is written and nothing is printed then. With
    ``listen_fd`` the server accepts on that inherited listening socket
    instead of binding ``host:port`` (``hyper run --reload``).
    """
    limits = limits or ServerLimits()
    # One of the workers of `--workers N`: serve the supervisor's socket.
    worker = current_worker() if in_memory is None else None
    if in_memory is None:
        _allow_descriptors(limits.max_connections)
    if in_memory is None and not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    loop = new_event_loop()  # uvloop's when installed (hyperdjango/eventloop.py)
    asyncio.set_event_loop(loop)
    pool = DaemonThreadPool(app.sync_workers, "hyperdjango-sync")
    dispatcher = Dispatcher(loop, pool, prod)
    pid = PidFile(pid_file)
    app._serving = True
    chain = None
    stages: list[Any] = []
    if app.middleware:
        from .middleware import compile_chain, native_stages

        # The leading built-ins run natively around everything else.
        stages, rest = native_stages(list(app.middleware))
        if rest:
            chain = compile_chain(rest, loop, pool, dispatcher.error_response)
    hub = bridge = None
    if app.router.websocket_routes:
        from ._websocket_bridge import _Bridge, routes_spec

        hub = _native.WebSocketHub(
            app.router._ws_table, routes_spec(app.router), trusted_proxies=app.trusted_proxies
        )
        bridge = _Bridge(hub, app.router.websocket_routes, loop)
    server = _native.Server(
        app.router._table,
        app.router._native_targets(),
        dispatcher,
        host=host,
        port=port,
        prod=prod,
        max_body_size=app.max_body_size,
        trusted_proxies=app.trusted_proxies,
        static_root=app.static,
        middleware=chain,
        native_middleware=stages,
        limits=limits.native(),
        shutdown_timeout=shutdown_timeout,
        pid_file=None if pid.path is None else str(pid.path),
        listen_fd=listen_fd if worker is None else worker.listen_fd,
        supervised=worker is not None,
        websockets=hub,
    )
    dispatcher.server = server
    streaming.bind_loop(loop)
    reload_handle = None
    served = False
    try:
        if in_memory is None:
            try:
                # SIGTERM/SIGINT are caught natively from here on (main thread only:
                # a server run from another thread leaves the process's signals alone).
                bound_host, bound_port = server.start(
                    handle_signals=threading.current_thread() is threading.main_thread()
                )
            except OSError as error:
                raise ListenError(error.errno, error.strerror or str(error)) from None
        else:
            server.start_in_memory()
        run_hooks(loop, app.startup_hooks)
        pid.write()
        stopped = loop.create_future()

        def on_ready() -> None:
            if not server.drain() and not stopped.done():
                stopped.set_result(None)

        loop.add_reader(server.fileno(), on_ready)
        if hub is not None and bridge is not None:
            loop.add_reader(hub.fileno(), bridge.on_ready)
            app._websocket_hub = hub
        reload_handle = _reload_serving.serving(app, server, loop, prod)
        if worker is not None:
            worker.notify_ready()
            print(
                f"hyperdjango: worker {worker.number} (pid {os.getpid()}) ready on "
                f"{_display_address(bound_host, bound_port)}",
                flush=True,
            )
        elif in_memory is None:
            mode = "production" if prod else "debug"
            print(
                f"hyperdjango: serving {app.name!r} on {_display_address(bound_host, bound_port)} "
                f"({mode} mode, {len(app.router.routes)} routes, {loop_name(loop)} loop; "
                "Ctrl+C to stop)",
                flush=True,
            )
            served = True
        else:
            in_memory(server)
        loop.run_until_complete(stopped)
        _reload_serving.stopping(reload_handle)
        loop.remove_reader(server.fileno())
        drain(loop, server, dispatcher)
        if hub is not None and bridge is not None:
            # The native side closed every WebSocket with 1001; end the handlers.
            app._websocket_hub = None
            loop.remove_reader(hub.fileno())
            bridge.close_all()
            loop.run_until_complete(asyncio.sleep(0.05))
        run_hooks(loop, app.shutdown_hooks)
    finally:
        app._websocket_hub = None
        if reload_handle is not None:
            _reload_serving.stopping(reload_handle)
        server.finish_shutdown(0.5)
        pool.shutdown()
        pid.remove()
        streaming.bind_loop(None)
        loop.close()
        asyncio.set_event_loop(None)
        if served:
            print("hyperdjango: stopped", file=sys.stderr, flush=True)


def _allow_descriptors(connections: int) -> None:
    """Raise the soft descriptor limit towards the hard one, so that
    ``max_connections`` is not cut short by a default soft limit of 1024."""
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        wanted = connections + 256
        if soft != resource.RLIM_INFINITY and soft < wanted:
            target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ImportError, ValueError, OSError):
        pass  # keep the inherited limit: accepting then backs off when out of descriptors
