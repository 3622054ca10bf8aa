"""``CompressionMiddleware``: gzip or brotli by ``Accept-Encoding`` (native)."""

from __future__ import annotations

from .. import _hyperdjango_native as _native
from .native import NativeMiddleware

__all__ = ["CompressionMiddleware"]


class CompressionMiddleware(NativeMiddleware):
    """Compress responses the client accepts compressed.

    >>> app.use(CompressionMiddleware(min_size=1024))

    The encoding is chosen from ``Accept-Encoding`` with its q-values (``q=0``
    refuses one; brotli wins a tie; ``brotli=False`` offers gzip only).
    Skipped: bodies under ``min_size`` bytes, responses already encoded (or
    with ``Cache-Control: no-transform``, a range, 204/304), files
    (``Response.file``), and types not worth it (only text, JSON, JavaScript,
    XML and SVG are compressed). Compressed answers carry ``Vary:
    Accept-Encoding``, the right ``Content-Length`` and a weak ``ETag``.
    Streams and SSE are compressed chunk by chunk and flushed after each, so
    every event still arrives when it is sent. ``level`` is gzip's 1-9
    (4 by default: most of level 9's ratio for dynamic answers at a fraction
    of its CPU; brotli uses quality 4 for the same reason).
    """

    def __init__(self, min_size: int = 1024, *, level: int = 4, brotli: bool = True) -> None:
        if not isinstance(min_size, int) or isinstance(min_size, bool) or min_size < 0:
            raise ValueError(f"min_size must be a number of bytes >= 0, not {min_size!r}")
        if not isinstance(level, int) or isinstance(level, bool):
            raise ValueError(f"level must be an int from 1 to 9, not {level!r}")
        self.min_size = min_size
        self._native_stage = _native.MiddlewareStage.compression(min_size, level, bool(brotli))
