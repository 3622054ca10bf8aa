"""``StaticFilesMiddleware``: a folder of static files, served natively.

Files go out through the native file path (``Response.file``): opened off the
Python thread, ``ETag``/``Last-Modified``, ``If-None-Match``/``If-Modified-Since``
(304) and ``Range``. Paths are resolved by the same native check as
``HyperApp(static=...)``: no ``..``, no NUL or backslash, no symlink out of
the folder.
"""

from __future__ import annotations

import mimetypes
import os
import re
from typing import Any

from . import _hyperdjango_native as _native
from .middleware.chain import CallNext
from .response import Response

__all__ = ["StaticFilesMiddleware"]

# `app.3f9a1c2b.js`, `style.d41d8cd98f00.css` (Django's manifest storage): content-hashed.
HASHED_NAME = re.compile(r"\.[0-9a-f]{8,}\.[A-Za-z0-9]+$")
SIBLINGS = {"br": ".br", "gzip": ".gz"}


class StaticFilesMiddleware:
    """Serve ``directory`` under ``prefix`` (``/static/`` by default).

    >>> app.use(StaticFilesMiddleware("static/"))

    - ``Cache-Control: public, max-age=<max_age>`` (1 hour by default); names
      with a content hash (``app.3f9a1c2b.js``) get
      ``public, max-age=31536000, immutable``.
    - A precompressed sibling (``app.js.br``, ``app.js.gz``) is sent when the
      client accepts that encoding (``Accept-Encoding`` q-values respected), with
      ``Content-Encoding`` and ``Vary: Accept-Encoding``.
    - Conditional requests and ranges as for every file (``ETag``, 304, 206).
    - A path that names no file falls through to the application (404 by default).
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        prefix: str = "/static/",
        *,
        max_age: int = 3600,
        immutable_max_age: int = 31_536_000,
    ) -> None:
        if not os.path.isdir(directory):
            raise ValueError(
                f"static folder {os.fspath(directory)!r} does not exist or is not a directory"
            )
        if not isinstance(prefix, str) or not prefix.startswith("/"):
            raise ValueError(f"prefix must be a path like '/static/', not {prefix!r}")
        for name, value in (("max_age", max_age), ("immutable_max_age", immutable_max_age)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"{name} must be seconds >= 0, not {value!r}")
        self.root = os.path.realpath(directory)
        self.prefix = prefix if prefix.endswith("/") else prefix + "/"
        self.cache_control = f"public, max-age={max_age}"
        self.immutable = f"public, max-age={immutable_max_age}, immutable"

    async def __call__(self, request: Any, call_next: CallNext) -> Response:
        path = request.raw_path
        if not path.startswith(self.prefix) or request.method not in ("GET", "HEAD"):
            return await call_next(request)
        found = _native.static_file_path(self.root, path[len(self.prefix) :])
        if found is None or not os.path.isfile(found):
            return await call_next(request)
        name = os.fspath(found)
        headers = {
            "Cache-Control": self.immutable if HASHED_NAME.search(name) else self.cache_control,
            "Vary": "Accept-Encoding",
        }
        served = name
        accept = request.headers.get("accept-encoding")
        if accept:
            encoding = _native.choose_encoding(accept, True)
            if encoding == "br" and not os.path.isfile(name + ".br"):
                encoding = _native.choose_encoding(accept, False)
            if encoding is not None and os.path.isfile(name + SIBLINGS[encoding]):
                served = name + SIBLINGS[encoding]
                headers["Content-Encoding"] = encoding
        media_type, _ = mimetypes.guess_type(name)
        media_type = media_type or "application/octet-stream"
        if media_type.startswith("text/") or media_type in (
            "application/javascript",
            "application/json",
        ):
            media_type += "; charset=utf-8"
        return Response.file(served, headers=headers, media_type=media_type)
