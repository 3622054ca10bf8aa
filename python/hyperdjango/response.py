"""Responses a handler can return: ``Response.json/html/text`` or ``Response(...)``.

Handlers may also return plain values (dict, list, str, bytes, tuples); the
native core turns those into responses without building a ``Response``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from . import _hyperdjango_native as _native
from .datastructures import Headers

__all__ = ["Response"]

HeadersLike = Mapping[str, str] | Iterable[tuple[str, str]] | None


class Response:
    """An HTTP response: ``body`` (bytes), ``status_code`` and mutable ``headers``.

    >>> response = Response.json({"ok": True}, status=201)
    >>> response.headers["X-Custom"] = "value"
    """

    __slots__ = ("body", "status_code", "headers")

    def __init__(
        self,
        content: bytes | str = b"",
        status: int = 200,
        headers: HeadersLike = None,
        media_type: str | None = None,
    ) -> None:
        if isinstance(content, str):
            content = content.encode()
        elif not isinstance(content, (bytes, bytearray, memoryview)):
            raise TypeError(f"Response content must be bytes or str, not {type(content).__name__}")
        if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
            raise ValueError(f"Response status must be an int from 100 to 599, not {status!r}")
        self.body: bytes = bytes(content)
        self.status_code: int = status
        self.headers: Headers = Headers(headers)
        if media_type is not None and "content-type" not in self.headers:
            self.headers["content-type"] = media_type

    @property
    def status(self) -> int:
        """Alias of ``status_code``."""
        return self.status_code

    @classmethod
    def json(cls, data: Any, status: int = 200, headers: HeadersLike = None) -> Response:
        """``data`` serialised as JSON (natively), ``application/json``."""
        return cls(_native.json_dumps(data), status, headers, "application/json")

    @classmethod
    def html(cls, content: str, status: int = 200, headers: HeadersLike = None) -> Response:
        """An HTML page, ``text/html; charset=utf-8``."""
        return cls(content, status, headers, "text/html; charset=utf-8")

    @classmethod
    def text(cls, content: str, status: int = 200, headers: HeadersLike = None) -> Response:
        """Plain text, ``text/plain; charset=utf-8``."""
        return cls(content, status, headers, "text/plain; charset=utf-8")

    def __repr__(self) -> str:
        return f"<Response {self.status_code} {len(self.body)} bytes>"
