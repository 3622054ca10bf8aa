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

import contextlib
import logging
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from . import _hyperdjango_native as _native

__all__ = ["FileWrapper", "serve_wsgi", "load_wsgi_application"]

logger = logging.getLogger("hyperdjango.wsgi")

WSGIApplication = Callable[..., Iterable[bytes]]
DRAIN_TIMEOUT = 30.0
DEFAULT_MAX_BODY_SIZE = 1024 * 1024 * 1024  # spooled to disk, so generous like gunicorn


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


class _StartResponse:
    """``start_response`` for one request (with ``exc_info`` and ``write()``)."""

    __slots__ = ("status", "headers", "sent", "written")

    def __init__(self) -> None:
        self.status: int | None = None
        self.headers: list[tuple[str, str]] = []
        self.sent = False
        self.written: list[bytes] = []

    def __call__(
        self, status: str, headers: list[tuple[str, str]], exc_info: Any = None
    ) -> Callable[[bytes], None]:
        if exc_info:
            try:
                if self.sent:
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None
        elif self.status is not None:
            raise RuntimeError("start_response was already called (pass exc_info to replace it)")
        code = status.split(" ", 1)[0]
        if not (len(code) == 3 and code.isdigit()):
            raise ValueError(f"WSGI status must look like '200 OK', not {status!r}")
        self.status = int(code)
        self.headers = list(headers)
        return self.write

    def write(self, data: bytes) -> None:
        if self.status is None:
            raise RuntimeError("write() called before start_response")
        self.written.append(bytes(data))


class WSGIRunner:
    """Runs the application for each request a pool thread takes."""

    def __init__(self, application: WSGIApplication, server: Any, prod: bool) -> None:
        self.application = application
        self.server = server
        self.prod = prod

    def serve_forever(self, stop: threading.Event) -> None:
        server = self.server
        while not stop.is_set():
            taken = server.next(0.25)
            if taken is not None:
                self.handle(*taken)

    def handle(self, environ: dict[str, Any], exchange: Any) -> None:
        start = _StartResponse()
        result: Any = None
        try:
            result = self.application(environ, start)
            if type(result) is list and start.status is not None and not start.written:
                # The common case (a raw app's [body]): one native call.
                start.sent = True
                body = result[0] if len(result) == 1 else b"".join(result)
                exchange.respond(start.status, start.headers, body)
                return
            self.send(environ, exchange, start, result)
        except Exception as error:  # noqa: BLE001 - the application failed: 500
            self.fail(environ, exchange, start, error)
        finally:
            close = None if type(result) is list else getattr(result, "close", None)
            if close is not None:
                try:
                    close()
                except Exception:  # noqa: BLE001
                    logger.exception("close() of the WSGI response failed")

    def send(
        self, environ: dict[str, Any], exchange: Any, start: _StartResponse, result: Any
    ) -> None:
        if isinstance(result, FileWrapper) and not start.written:
            native = result.native_file()
            if native is not None:
                status, headers = self.head(start)
                length = _content_length(headers)
                exchange.send_file(status, headers, native[0], native[1], length)
                return
        if isinstance(result, (list, tuple)) or getattr(result, "streaming", None) is False:
            # A complete body (a list, or Django's HttpResponse): one write.
            body = b"".join([*start.written, *result])
            status, headers = self.head(start)
            exchange.respond(status, headers, body)
            return
        iterator = iter(result)
        first = next(iterator, None)  # start_response may be called on the first step
        status, headers = self.head(start)
        length = _content_length(headers)
        if first is None:
            exchange.respond(status, headers, b"".join(start.written))
            return
        sender = exchange.start_stream(status, headers) if length is None else None
        if sender is None:  # a declared length: gather it (the framing it promises)
            exchange.respond(status, headers, b"".join([*start.written, first, *iterator]))
            return
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

    def head(self, start: _StartResponse) -> tuple[int, list[tuple[str, str]]]:
        if start.status is None:
            raise RuntimeError("the WSGI application returned without calling start_response")
        start.sent = True
        return start.status, start.headers

    def fail(
        self, environ: dict[str, Any], exchange: Any, start: _StartResponse, error: Exception
    ) -> None:
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
    drain_timeout: float = DRAIN_TIMEOUT,
    pid_file: str | None = None,
) -> None:
    """Serve ``application`` until SIGTERM/SIGINT; in-flight requests drain first
    (up to ``drain_timeout`` seconds)."""
    from .app import _check_proxies

    if not callable(application):
        raise TypeError(f"WSGI application must be callable, not {type(application).__name__}")
    if not isinstance(threads, int) or isinstance(threads, bool) or threads < 1:
        raise ValueError(f"threads must be a positive int, not {threads!r}")
    server = _native.WsgiServer(
        base_environ(threads),
        host=host,
        port=port,
        prod=prod,
        max_body_size=max_body_size,
        trusted_proxies=_check_proxies(trusted_proxies),
        script_name=script_name,
    )
    runner = WSGIRunner(application, server, prod)
    bound_host, bound_port = server.start()
    stop = threading.Event()
    pool = [
        threading.Thread(
            target=runner.serve_forever, args=(stop,), name=f"hyperdjango-wsgi-{index}", daemon=True
        )
        for index in range(threads)
    ]
    for thread in pool:
        thread.start()
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for number in (signal.SIGINT, signal.SIGTERM):
            previous[number] = signal.signal(number, lambda *_: server.request_shutdown())
    display = (
        f"http://[{bound_host}]:{bound_port}"
        if ":" in bound_host
        else f"http://{bound_host}:{bound_port}"
    )
    mode = "production" if prod else "debug"
    print(
        f"hyperdjango: serving {name!r} on {display} ({mode} mode, WSGI, {threads} threads; "
        "Ctrl+C to stop)",
        flush=True,
    )
    if on_ready is not None:
        on_ready(bound_host, bound_port)
    if pid_file is not None:
        with open(pid_file, "w") as file:
            file.write(f"{os.getpid()}\n")
    try:
        while not server.shutdown_requested:
            time.sleep(0.1)
        server.begin_shutdown()
        deadline = time.monotonic() + drain_timeout
        while server.in_flight() and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        stop.set()
        for thread in pool:
            thread.join(1.0)
        server.finish_shutdown(0.5)
        for number, handler in previous.items():
            signal.signal(number, handler)
        if pid_file is not None:
            with contextlib.suppress(OSError):
                os.remove(pid_file)
        print("hyperdjango: stopped", file=sys.stderr, flush=True)


def load_wsgi_application(reference: str) -> WSGIApplication:
    """Import ``"package.module:attribute"`` (``:application`` by default)."""
    import importlib

    module_name, _, attribute = reference.partition(":")
    if not module_name or not all(
        part.isidentifier() for part in [*module_name.split("."), *filter(None, [attribute])]
    ):
        raise ValueError(f"--wsgi must look like module:application, not {reference!r}")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    module = importlib.import_module(module_name)
    application = getattr(module, attribute or "application", None)
    if not callable(application):
        raise ValueError(f"{reference!r} is not a WSGI application (found {application!r})")
    return application
