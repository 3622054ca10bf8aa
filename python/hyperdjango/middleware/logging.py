"""``LoggingMiddleware``: one access-log line per request, written off the serving thread."""

from __future__ import annotations

import atexit
import json
import logging
import queue
import threading
import time
from typing import Any

from ..response import Response
from .chain import CallNext

__all__ = ["LoggingMiddleware"]

FORMATS = ("common", "combined", "json")

access_logger = logging.getLogger("hyperdjango.access")


class _Writer:
    """One daemon thread formats and emits every access-log record, so a slow
    log handler (a full disk, a remote syslog) never stalls request serving."""

    def __init__(self) -> None:
        self.queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.thread: threading.Thread | None = None
        self.lock = threading.Lock()

    def put(self, item: tuple[Any, ...]) -> None:
        if self.thread is None:
            with self.lock:
                if self.thread is None:
                    self.thread = threading.Thread(
                        target=self.run, name="hyperdjango-access-log", daemon=True
                    )
                    self.thread.start()
                    atexit.register(self.flush)
        self.queue.put(item)

    def run(self) -> None:
        while True:
            item = self.queue.get()
            if item is None:
                return
            middleware, fields = item
            try:
                middleware.emit(fields)
            except Exception:  # noqa: BLE001 - a broken handler must not kill the writer
                logging.getLogger("hyperdjango.error").exception("access log handler failed")

    def flush(self) -> None:
        """At exit: write what is queued (bounded wait)."""
        if self.thread is not None and self.thread.is_alive():
            self.queue.put(None)
            self.thread.join(2)


_writer = _Writer()


class LoggingMiddleware:
    """Log one line per request to the ``hyperdjango.access`` logger (INFO).

    >>> app.use(LoggingMiddleware())                  # common
    >>> app.use(LoggingMiddleware(format="combined"))
    >>> app.use(LoggingMiddleware(format="json"))

    - ``common``: ``127.0.0.1 - - [28/Nov/2026:07:40:00 +0000] "GET /a?b=1 HTTP/1.1" 200 17 0.412ms``
      (the Common Log Format, then the duration in milliseconds)
    - ``combined``: common plus ``"referer" "user-agent"`` before the duration
    - ``json``: one object: ``time``, ``client``, ``method``, ``target``,
      ``protocol``, ``status``, ``bytes``, ``duration_ms``, ``referer``,
      ``user_agent``

    The client is ``request.client_ip``; bytes is the body's size, ``-`` for a
    stream or a file. Lines are handed to a background thread that formats and
    writes them, so the serving thread never waits on a log handler.
    """

    def __init__(self, format: str = "common", logger: str = "hyperdjango.access") -> None:  # noqa: A002
        if format not in FORMATS:
            raise ValueError(f"LoggingMiddleware format must be one of {FORMATS}, not {format!r}")
        self.format = format
        self.logger = logging.getLogger(logger)

    async def __call__(self, request: Any, call_next: CallNext) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        duration = time.perf_counter() - started
        if self.logger.isEnabledFor(logging.INFO):
            body = response.body
            size = (
                "-"
                if hasattr(response, "stream_source") or hasattr(response, "file_path")
                else len(body)
            )
            query = request.query_string
            headers = request.headers
            _writer.put(
                (
                    self,
                    (
                        time.time(),
                        request.client_ip,
                        request.method,
                        request.raw_path + ("?" + query if query else ""),
                        request.http_version,
                        response.status_code,
                        size,
                        duration,
                        headers.get("referer"),
                        headers.get("user-agent"),
                    ),
                )
            )
        return response

    def emit(self, fields: tuple[Any, ...]) -> None:
        """Format and log one request (on the writer thread)."""
        when, client, method, target, protocol, status, size, duration, referer, agent = fields
        milliseconds = duration * 1000
        if self.format == "json":
            line = json.dumps(
                {
                    "time": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(when)),
                    "client": client,
                    "method": method,
                    "target": target,
                    "protocol": protocol,
                    "status": status,
                    "bytes": None if size == "-" else size,
                    "duration_ms": round(milliseconds, 3),
                    "referer": referer,
                    "user_agent": agent,
                }
            )
        else:
            stamp = time.strftime("%d/%b/%Y:%H:%M:%S %z", time.localtime(when))
            line = f'{client} - - [{stamp}] "{method} {_quote(target)} {protocol}" {status} {size}'
            if self.format == "combined":
                line += f' "{_quote(referer or "-")}" "{_quote(agent or "-")}"'
            line += f" {milliseconds:.3f}ms"
        self.logger.info(line)


def _quote(text: str) -> str:
    # A client controls these: no quote or control character may forge a field or a line.
    return "".join(
        f"\\x{ord(c):02x}" if c in '"\\' or ord(c) < 32 or ord(c) == 127 else c for c in text
    )
