"""Responses a handler can return: ``Response.json/html/text`` or ``Response(...)``.

Handlers may also return plain values (dict, list, str, bytes, tuples); the
native core turns those into responses without building a ``Response``.
"""

from __future__ import annotations

import datetime
import email.utils
import mimetypes
import os
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote

from . import _hyperdjango_native as _native
from .datastructures import Headers
from .exceptions import DisallowedRedirect

__all__ = ["Response", "FileResponse", "StreamResponse"]

HeadersLike = Mapping[str, str] | Iterable[tuple[str, str]] | None

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
# As Django's HttpResponseRedirect: anything else (javascript:, data:,
# vbscript:, file:, ...) is refused.
ALLOWED_REDIRECT_SCHEMES = frozenset({"http", "https", "ftp"})
# A scheme as a browser finds it (WHATWG URL): after leading/trailing C0
# controls and spaces are stripped and tabs/newlines removed anywhere.
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*):")
# RFC 6265 cookie-name: an HTTP token.
_COOKIE_NAME = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
# Characters a cookie value may carry unencoded (RFC 6265 cookie-octet, minus "%").
_COOKIE_SAFE = "!#$&'()*+-./:<=>?@[]^_`{|}~"
_SAMESITE = {"strict": "Strict", "lax": "Lax", "none": "None"}


class Response:
    """An HTTP response: ``body`` (bytes), ``status_code`` and mutable ``headers``.

    >>> response = Response.json({"ok": True}, status=201)
    >>> response.headers["X-Custom"] = "value"
    """

    # `_native`: the answer this response was made from by the native side
    # (the middleware chain), reused as it is when nothing was changed.
    __slots__ = ("body", "status_code", "headers", "_native")

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
        self._native: Any = None
        self.status_code: int = status
        self.headers: Headers = Headers(headers)
        if media_type is not None and "content-type" not in self.headers:
            self.headers["content-type"] = media_type

    @classmethod
    def _from_parts(cls, body: bytes, status: int, pairs: list[tuple[str, str]]) -> Response:
        """A response from parts the native core already validated (no checks)."""
        response = cls.__new__(cls)
        response._native = None
        response.body = body
        response.status_code = status
        headers = Headers.__new__(Headers)
        headers._pairs = pairs
        response.headers = headers
        return response

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

    @classmethod
    def file(
        cls,
        path: str | os.PathLike[str],
        status: int = 200,
        headers: HeadersLike = None,
        media_type: str | None = None,
    ) -> FileResponse:
        """The file at ``path``, streamed natively from disk.

        The content type is guessed from the name unless given; ``ETag`` and
        ``Last-Modified`` are set, ``If-None-Match``/``If-Modified-Since`` give 304,
        a single ``Range`` gives 206 (416 if outside the file). A missing file is a 404.
        """
        return FileResponse(path, status=status, headers=headers, media_type=media_type)

    @classmethod
    def attachment(
        cls,
        path: str | os.PathLike[str],
        filename: str | None = None,
        headers: HeadersLike = None,
        media_type: str | None = None,
    ) -> FileResponse:
        """Like ``file``, offered as a download named ``filename`` (default: the file's name).

        Non-ASCII names are sent per RFC 6266/5987 (``filename*=UTF-8''...``)
        with an ASCII fallback.
        """
        response = FileResponse(path, headers=headers, media_type=media_type)
        name = filename if filename is not None else os.path.basename(os.fspath(path))
        response.headers["content-disposition"] = content_disposition(name)
        return response

    @classmethod
    def stream(
        cls,
        source: Any,
        status: int = 200,
        headers: HeadersLike = None,
        media_type: str = "application/octet-stream",
    ) -> StreamResponse:
        """A body produced chunk by chunk by ``source`` (an async generator of
        ``str``/``bytes``; a plain iterable works too), sent chunked."""
        return StreamResponse(source, status, headers, media_type)

    @classmethod
    def sse(
        cls, events: Any, headers: HeadersLike = None, keepalive: float = 15.0
    ) -> StreamResponse:
        """Server-Sent Events from ``events`` (an async generator of dicts with
        ``event``/``data``/``id``/``retry``, or strings), with a keep-alive
        comment after ``keepalive`` idle seconds."""
        from .streaming import sse_stream

        if keepalive <= 0:
            raise ValueError(f"keepalive must be positive seconds, not {keepalive!r}")
        response = StreamResponse(
            sse_stream(events, keepalive), 200, headers, "text/event-stream; charset=utf-8"
        )
        response.headers["cache-control"] = "no-cache"
        response.headers["x-accel-buffering"] = "no"  # nginx: do not buffer the stream
        return response

    @classmethod
    def redirect(cls, url: str, status: int = 302, headers: HeadersLike = None) -> Response:
        """A redirect to ``url`` (301, 302, 303, 307 or 308; 302 by default).

        ``url`` is percent-encoded into a valid URI (``"/café?q=a b"`` is sent
        as ``/caf%C3%A9?q=a%20b``; escapes already there are kept). A scheme
        other than http, https or ftp (``javascript:``, ``data:``, ...) raises
        ``DisallowedRedirect`` (a ``ValueError``; in a handler, a 400 answer),
        as does an empty URL or one with CR, LF or NUL.
        """
        if status not in REDIRECT_STATUSES:
            raise ValueError(
                f"redirect status must be one of {sorted(REDIRECT_STATUSES)}, not {status!r}"
            )
        if not isinstance(url, str):
            raise TypeError(f"redirect URL must be a str, not {type(url).__name__}")
        # Refusals a client's ``?next=`` could cause are DisallowedRedirect:
        # a ValueError for the developer, a 400 (not a 500) for the client.
        if not url:
            raise DisallowedRedirect("redirect URL must be a non-empty str")
        if any(character in url for character in "\r\n\0"):
            raise DisallowedRedirect(f"redirect URL must not contain CR, LF or NUL: {url!r}")
        scheme = _redirect_scheme(url)
        if scheme is not None and scheme not in ALLOWED_REDIRECT_SCHEMES:
            raise DisallowedRedirect(
                f"unsafe redirect to a URL with scheme {scheme!r}: "
                f"only {', '.join(sorted(ALLOWED_REDIRECT_SCHEMES))} or a relative URL"
            )
        response = cls(b"", status, headers)
        response.headers["location"] = _native.encode_uri(url)
        return response

    def set_cookie(
        self,
        name: str,
        value: str = "",
        *,
        max_age: int | None = None,
        expires: datetime.datetime | int | float | str | None = None,
        path: str | None = "/",
        domain: str | None = None,
        secure: bool = False,
        httponly: bool = False,
        samesite: str | None = "lax",
    ) -> None:
        """Add a ``Set-Cookie`` header (several cookies give several headers).

        ``value`` is percent-encoded where RFC 6265 requires; ``expires`` takes a
        datetime, a Unix timestamp or a preformatted HTTP date; ``samesite`` is
        ``"strict"``, ``"lax"`` (default), ``"none"`` (requires ``secure=True``) or None.
        """
        if not isinstance(name, str) or not _COOKIE_NAME.match(name):
            raise ValueError(
                f"invalid cookie name {name!r}: use letters, digits and !#$%&'*+-.^_`|~"
            )
        if not isinstance(value, str):
            raise TypeError(f"cookie {name!r} value must be a str, not {type(value).__name__}")
        parts = [f"{name}={quote(value, safe=_COOKIE_SAFE)}"]
        if max_age is not None:
            if isinstance(max_age, bool) or not isinstance(max_age, int):
                raise TypeError(
                    f"cookie {name!r} max_age must be an int (seconds), not {max_age!r}"
                )
            parts.append(f"Max-Age={max_age}")
        if expires is not None:
            parts.append(f"Expires={_http_date(expires)}")
        for attribute, text in (("Path", path), ("Domain", domain)):
            if text is not None:
                if any(character in text for character in ";\r\n\0"):
                    raise ValueError(
                        f"cookie {name!r} {attribute.lower()} must not contain ';', CR, LF or NUL"
                    )
                parts.append(f"{attribute}={text}")
        if secure:
            parts.append("Secure")
        if httponly:
            parts.append("HttpOnly")
        if samesite is not None:
            same_site = _SAMESITE.get(str(samesite).lower())
            if same_site is None:
                raise ValueError(
                    f"samesite must be 'strict', 'lax', 'none' or None, not {samesite!r}"
                )
            if same_site == "None" and not secure:
                raise ValueError(
                    "samesite='none' requires secure=True (browsers reject it otherwise)"
                )
            parts.append(f"SameSite={same_site}")
        self.headers.add("set-cookie", "; ".join(parts))

    def delete_cookie(
        self,
        name: str,
        *,
        path: str | None = "/",
        domain: str | None = None,
        secure: bool = False,
        httponly: bool = False,
        samesite: str | None = "lax",
    ) -> None:
        """Tell the client to drop cookie ``name`` (same ``path``/``domain`` as when it was set)."""
        self.set_cookie(
            name,
            "",
            max_age=0,
            expires=0,
            path=path,
            domain=domain,
            secure=secure,
            httponly=httponly,
            samesite=samesite,
        )

    def __repr__(self) -> str:
        return f"<Response {self.status_code} {len(self.body)} bytes>"


class StreamResponse(Response):
    """A body streamed from a generator (see ``Response.stream`` and ``Response.sse``)."""

    __slots__ = ("stream_source", "_encoder")

    def __init__(
        self,
        source: Any,
        status: int = 200,
        headers: HeadersLike = None,
        media_type: str = "application/octet-stream",
    ) -> None:
        if not (hasattr(source, "__aiter__") or hasattr(source, "__iter__")) or isinstance(
            source, (str, bytes)
        ):
            raise TypeError(
                f"a stream needs an async generator or iterable of chunks, not {type(source).__name__}"
            )
        super().__init__(b"", status, headers, media_type)
        self.stream_source = source
        self._encoder: Any = None  # set by CompressionMiddleware run from Python

    def _start(self, sender: Any) -> None:
        """Called natively once the headers are on their way."""
        from .streaming import start

        start(self.stream_source, sender)

    def __repr__(self) -> str:
        return f"<StreamResponse {self.status_code}>"


class FileResponse(Response):
    """A file served natively from disk (see ``Response.file``)."""

    __slots__ = ("file_path",)

    def __init__(
        self,
        path: str | os.PathLike[str],
        status: int = 200,
        headers: HeadersLike = None,
        media_type: str | None = None,
    ) -> None:
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"file path must be a str or os.PathLike, not {type(path).__name__}")
        file_path = os.fspath(path)
        if "\0" in file_path:
            raise ValueError("file path must not contain NUL")
        if media_type is None:
            guessed, _ = mimetypes.guess_type(file_path)
            media_type = guessed or "application/octet-stream"
            if media_type.startswith("text/") or media_type in (
                "application/javascript",
                "application/json",
            ):
                media_type += "; charset=utf-8"
        super().__init__(b"", status, headers, media_type)
        self.file_path = file_path

    def __repr__(self) -> str:
        return f"<FileResponse {self.status_code} {self.file_path!r}>"


def content_disposition(filename: str, kind: str = "attachment") -> str:
    """``attachment; filename="..."; filename*=UTF-8''...`` (RFC 6266 / 5987)."""
    if not isinstance(filename, str) or not filename:
        raise ValueError(f"download filename must be a non-empty str, not {filename!r}")
    cleaned = "".join(" " if character in "\r\n\0" else character for character in filename)
    fallback = "".join(
        character if 32 <= ord(character) < 127 and character not in '"\\' else "_"
        for character in cleaned
    )
    value = f'{kind}; filename="{fallback}"'
    if fallback != cleaned:
        value += f"; filename*=UTF-8''{quote(cleaned, safe='')}"
    return value


def _redirect_scheme(url: str) -> str | None:
    """The scheme a browser would see in ``url`` (lower case), or None."""
    seen = "".join(character for character in url if character not in "\t\n\r")
    seen = seen.strip("".join(map(chr, range(33))))
    match = _SCHEME.match(seen)
    return match.group(1).lower() if match else None


def _http_date(value: datetime.datetime | int | float | str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, datetime.datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=datetime.UTC)
        return email.utils.format_datetime(moment.astimezone(datetime.UTC), usegmt=True)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return email.utils.formatdate(value, usegmt=True)
    raise TypeError(
        f"expires must be a datetime, a Unix timestamp or an HTTP date str, not {value!r}"
    )
