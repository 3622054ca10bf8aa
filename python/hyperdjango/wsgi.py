"""Serve any WSGI application (Django, Flask, ...) on the native server.

The native side parses each request, builds its PEP 3333 environ and reads the
body (bodies over 1 MB are spooled to a temporary file, never held whole).
A pool of ``threads`` Python threads takes requests straight from the native
queue and runs the application, so a slow view only holds its own thread.
Responses go back natively: a body gathered from a list (or a Django
``HttpResponse``) is sent whole, any other iterable is streamed chunk by chunk
as it yields (``StreamingHttpResponse``), and a ``wsgi.file_wrapper`` around a
real file is sent from disk by the I/O threads (``FileResponse``).

>>> from hyperdjango.wsgi import serve_wsgi
>>> serve_wsgi(application, host="127.0.0.1", port=8000, threads=16)
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from . import _hyperdjango_native as _native
from .lifecycle import DEFAULT_SHUTDOWN_TIMEOUT, ListenError, PidFile, check_shutdown_timeout
from .limits import ServerLimits
from .workers import current_worker

__all__ = ["FileWrapper", "serve_wsgi", "load_wsgi_application"]

logger = logging.getLogger("hyperdjango.wsgi")

WSGIApplication = Callable[..., Iterable[bytes]]
DEFAULT_MAX_BODY_SIZE = 1024 * 1024 * 1024  # spooled to disk, so generous like gunicorn
SHED_BODY = b"Service Unavailable"


class FileWrapper:
    """``wsgi.file_wrapper``: a file the server may send natively from disk."""

    def __init__(self, filelike: Any, block_size: int = 64 * 1024) -> None:
        self.filelike = filelike
        self.block_size = block_size
        if hasattr(filelike, "close"):
            self.close = filelike.close

    def __iter__(self) -> Iterator[bytes]:
        while True:
            data = self.filelike.read(self.block_size)
            if not data:
                return
            yield data

    def native_file(self) -> tuple[int, int] | None:
        """``(fd, offset)`` when the file is a real file on disk, else None."""
        try:
            fd = self.filelike.fileno()
            offset = self.filelike.tell()
            os.fstat(fd)
        except (AttributeError, OSError, ValueError):
            return None
        return fd, offset


class WSGIRunner:
    """Runs the application for each request a pool thread takes."""

    def __init__(self, application: WSGIApplication, server: Any, prod: bool) -> None:
        self.application = application
        self.server = server
        self.prod = prod
        # Exchanges whose view is running: answered 503 if still running at the drain deadline.
        self.running: set[Any] = set()

    def cut_at_deadline(self) -> None:
        """Answer 503 for every view still running (its thread is a daemon: abandoned)."""
        cut = 0
        for exchange in list(self.running):
            try:
                exchange.respond(503, [("content-type", "text/plain; charset=utf-8")], SHED_BODY)
                cut += 1
            except RuntimeError:
                pass  # answered meanwhile (or streaming: the native side ended its body)
        if cut:
            logger.warning("drain deadline passed; cut %d unfinished view(s) with 503", cut)

    def serve_forever(self, stop: threading.Event) -> None:
        # The native loop calls the application with a native start_response
        # and answers a list body itself; finish() and fail() get the rest.
        serve = self.server.serve
        while not stop.is_set():
            serve(self.application, self, self.running, 0.25)

    def finish(self, environ: dict[str, Any], exchange: Any, start: Any, result: Any) -> None:
        """Answers any result but a list body (which the native loop sends), then closes it."""
        try:
            self.send(environ, exchange, start, result)
        except Exception as error:  # noqa: BLE001 - the application failed: 500
            self.fail(environ, exchange, start, error)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                try:
                    close()
                except Exception:  # noqa: BLE001
                    logger.exception("close() of the WSGI response failed")

    def send(self, environ: dict[str, Any], exchange: Any, start: Any, result: Any) -> None:
        if isinstance(result, FileWrapper) and not start.written:
            native = result.native_file()
            if native is not None:
                status, headers = self.head(start)
                length = _content_length(headers)
                exchange.send_file(status, headers, native[0], native[1], length)
                start.sent = True
                return
        if isinstance(result, (list, tuple)) or getattr(result, "streaming", None) is False:
            # A complete body (a list, or Django's HttpResponse): one write.
            body = b"".join([*start.written, *result])
            status, headers = self.head(start)
            exchange.respond(status, headers, body)
            start.sent = True
            return
        iterator = iter(result)
        first = next(iterator, None)  # start_response may be called on the first step
        status, headers = self.head(start)
        length = _content_length(headers)
        if first is None:
            exchange.respond(status, headers, b"".join(start.written))
            start.sent = True
            return
        if length is not None:  # a declared length: gather it (the framing it promises)
            body = b"".join([*start.written, first, *iterator])
            status, headers = self.head(start)  # exc_info may have replaced it meanwhile
            exchange.respond(status, headers, body)
            start.sent = True
            return
        sender = exchange.start_stream(status, headers)
        start.sent = True  # the head is out: a later failure can only cut the connection
        try:
            for chunk in (*start.written, first):
                _push(sender, chunk)
            for chunk in iterator:
                _push(sender, chunk)
        except ConnectionResetError:
            return  # the client went away; close() still runs
        except BaseException:
            sender.abort()
            raise
        finally:
            sender.close()

    def head(self, start: Any) -> tuple[int, list[tuple[str, str]]]:
        if start.status is None:
            raise RuntimeError("the WSGI application returned without calling start_response")
        return start.status, start.headers

    def fail(self, environ: dict[str, Any], exchange: Any, start: Any, error: Exception) -> None:
        print(
            "".join(traceback.format_exception(type(error), error, error.__traceback__)),
            file=environ.get("wsgi.errors", sys.stderr),
        )
        if start.sent:
            return  # the head is out: the connection is cut (the exchange is dropped)
        if self.prod:
            body = b"Internal Server Error"
        else:
            body = "".join(
                traceback.format_exception(type(error), error, error.__traceback__)
            ).encode()
        try:
            exchange.respond(500, [("content-type", "text/plain; charset=utf-8")], body)
        except RuntimeError:
            pass  # already answered


def _content_length(headers: list[tuple[str, str]]) -> int | None:
    for name, value in headers:
        if name.lower() == "content-length" and value.strip().isdigit():
            return int(value)
    return None


def _push(sender: Any, chunk: bytes) -> None:
    if not chunk:
        return
    delay = 0.0005
    while not sender.try_send(chunk):  # the client reads slower than the view writes
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


def base_environ(threads: int, workers: int = 1) -> dict[str, Any]:
    return {
        "wsgi.version": (1, 0),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": threads > 1,
        "wsgi.multiprocess": workers > 1,
        "wsgi.run_once": False,
        "wsgi.file_wrapper": FileWrapper,
        "wsgi.input_terminated": True,
        "SERVER_SOFTWARE": f"hyperdjango/{_native.__version__}",
    }


def serve_wsgi(
    application: WSGIApplication,
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    threads: int = 16,
    prod: bool = False,
    max_body_size: int = DEFAULT_MAX_BODY_SIZE,
    trusted_proxies: Iterable[str] | None = None,
    script_name: str = "",
    name: str = "wsgi",
    on_ready: Callable[[str, int], None] | None = None,
    shutdown_timeout: float = DEFAULT_SHUTDOWN_TIMEOUT,
    pid_file: str | os.PathLike[str] | None = None,
    limits: ServerLimits | None = None,
    workers: int = 1,
    asgi_application: Callable[..., Any] | None = None,
) -> None:
    """Serve ``application`` until SIGTERM/SIGINT, with ``HyperApp.run``'s lifecycle.

    Shutdown (docs/lifecycle.md): SIGTERM or Ctrl+C stop accepting at once
    (caught natively, even while every view thread is busy), requests in
    flight get up to ``shutdown_timeout`` seconds, then those still running
    are answered 503 and the function returns; a second Ctrl+C exits at once
    with status 130. ``limits`` holds the deadlines and load limits
    (``hyperdjango.limits.ServerLimits``). ``workers=N`` (N >= 2) makes this
    process a supervisor over N worker processes on the port, each a fresh
    run of this process's command line (docs/workers.md); it raises
    ``SystemExit(1)`` if a worker fails to start.

    ``asgi_application``: an ASGI app that takes the WebSocket upgrades (as an
    ASGI ``websocket`` scope, see ``hyperdjango.asgi_upgrades``); without one
    an upgrade request is an ordinary request to ``application``.
    """
    from .app import _check_proxies

    if not callable(application):
        raise TypeError(f"WSGI application must be callable, not {type(application).__name__}")
    if not isinstance(threads, int) or isinstance(threads, bool) or threads < 1:
        raise ValueError(f"threads must be a positive int, not {threads!r}")
    if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
        raise ValueError(f"workers must be a positive int, not {workers!r}")
    shutdown_timeout = check_shutdown_timeout(shutdown_timeout)
    worker = current_worker()
    if workers > 1 and worker is None:
        from .workers.supervisor import supervise

        code = supervise(
            name=name,
            host=host,
            port=port,
            prod=bool(prod),
            workers=workers,
            shutdown_timeout=shutdown_timeout,
            pid_file=pid_file,
            on_ready=on_ready,
        )
        if code:
            raise SystemExit(code)
        return
    proxies = _check_proxies(trusted_proxies)
    upgrades = None
    if asgi_application is not None:
        from .asgi_upgrades import UpgradeBridge

        upgrades = UpgradeBridge(asgi_application, trusted_proxies=proxies, root_path=script_name)
    server = _native.WsgiServer(
        base_environ(threads, workers),
        host=host,
        port=port,
        prod=prod,
        max_body_size=max_body_size,
        trusted_proxies=proxies,
        script_name=script_name,
        limits=(limits or ServerLimits()).native(),
        listen_fd=None if worker is None else worker.listen_fd,
        supervised=worker is not None,
        shutdown_timeout=shutdown_timeout,
        pid_file=None if pid_file is None or worker is not None else os.fspath(pid_file),
        websockets=None if upgrades is None else upgrades.hub,
    )
    runner = WSGIRunner(application, server, prod)
    main_thread = threading.current_thread() is threading.main_thread()
    try:
        # SIGTERM/SIGINT are caught natively from here on, as for HyperApp.run.
        bound_host, bound_port = server.start(handle_signals=main_thread)
    except OSError as error:
        raise ListenError(error.errno, error.strerror or str(error)) from None
    if upgrades is not None:
        upgrades.start((bound_host, bound_port))
    stop = threading.Event()
    pool = [
        threading.Thread(
            target=runner.serve_forever, args=(stop,), name=f"hyperdjango-wsgi-{index}", daemon=True
        )
        for index in range(threads)
    ]
    for thread in pool:
        thread.start()
    display = (
        f"http://[{bound_host}]:{bound_port}"
        if ":" in bound_host
        else f"http://{bound_host}:{bound_port}"
    )
    pid = PidFile(None if worker is not None else pid_file)
    try:
        pid.write()
        if worker is not None:
            worker.notify_ready()
            print(
                f"hyperdjango: worker {worker.number} (pid {os.getpid()}) ready on {display}",
                flush=True,
            )
        else:
            mode = "production" if prod else "debug"
            print(
                f"hyperdjango: serving {name!r} on {display} ({mode} mode, WSGI, {threads} "
                "threads"
                + ("" if upgrades is None else ", WebSockets to the ASGI application")
                + "; Ctrl+C to stop)",
                flush=True,
            )
            if on_ready is not None:
                on_ready(bound_host, bound_port)
        while not server.shutdown_requested:
            time.sleep(0.1)
        server.begin_shutdown()
        # In flight, streams, and connections accepted just before the stop.
        while server.open_work() and not server.deadline_passed():
            time.sleep(0.02)
        runner.cut_at_deadline()
    finally:
        stop.set()
        joined_by = time.monotonic() + 1.0  # a view cut at the deadline is abandoned
        for thread in pool:
            thread.join(max(0.0, joined_by - time.monotonic()))
        server.finish_shutdown(0.5)
        if upgrades is not None:
            upgrades.stop()
        pid.remove()
        if worker is None:
            print("hyperdjango: stopped", file=sys.stderr, flush=True)


def load_wsgi_application(
    reference: str, *, option: str = "--wsgi", kind: str = "WSGI"
) -> WSGIApplication:
    """Import ``"package.module:attribute"`` (``:application`` by default);
    ``option`` and ``kind`` name it in errors (``--asgi``/``ASGI`` for an ASGI app)."""
    import importlib

    module_name, _, attribute = reference.partition(":")
    if not module_name or not all(
        part.isidentifier() for part in [*module_name.split("."), *filter(None, [attribute])]
    ):
        raise ValueError(f"{option} must look like module:application, not {reference!r}")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    module = importlib.import_module(module_name)
    application = getattr(module, attribute or "application", None)
    if not callable(application):
        article = "an" if kind[0] in "AEIOU" else "a"
        raise ValueError(
            f"{reference!r} is not {article} {kind} application (found {application!r})"
        )
    return application
