"""``CORSMiddleware``: cross-origin requests per the Fetch standard (native)."""

from __future__ import annotations

from collections.abc import Iterable

from .. import _hyperdjango_native as _native
from .native import NativeMiddleware

__all__ = ["CORSMiddleware"]


def _names(value: Iterable[str], what: str) -> list[str]:
    if isinstance(value, str):
        raise TypeError(f"CORSMiddleware {what} must be a list of str, not a str")
    items = list(value)
    for item in items:
        if not isinstance(item, str):
            raise TypeError(f"CORSMiddleware {what} must be str, not {item!r}")
    return items


class CORSMiddleware(NativeMiddleware):
    """Grant cross-origin access to ``origins``.

    >>> app.use(CORSMiddleware(
    ...     origins=["https://mysite.com"],
    ...     methods=["GET", "POST", "PUT", "DELETE"],
    ...     headers=["Authorization", "Content-Type"],
    ...     max_age=3600,
    ... ))

    A preflight (``OPTIONS`` with ``Origin`` and ``Access-Control-Request-Method``)
    is answered here on any path, without running a handler: 204 with the
    grant, or 400 naming what is not allowed (no grant). Other requests from an
    allowed origin get ``Access-Control-Allow-Origin`` echoing it, with
    ``Vary: Origin``. ``origins=["*"]`` allows any origin (answered ``*``) and
    cannot be combined with ``allow_credentials=True``; ``headers=["*"]``
    allows any request header. ``max_age`` (seconds) lets browsers cache the
    preflight; ``expose_headers`` lists response headers scripts may read.
    """

    def __init__(
        self,
        origins: Iterable[str],
        methods: Iterable[str] = ("GET", "HEAD", "POST"),
        headers: Iterable[str] = (),
        max_age: int | None = 600,
        allow_credentials: bool = False,
        expose_headers: Iterable[str] = (),
    ) -> None:
        if max_age is not None and (
            not isinstance(max_age, int) or isinstance(max_age, bool) or max_age < 0
        ):
            raise ValueError(f"CORSMiddleware max_age must be seconds >= 0, not {max_age!r}")
        self._native_stage = _native.MiddlewareStage.cors(
            _names(origins, "origins"),
            _names(methods, "methods"),
            _names(headers, "headers"),
            max_age,
            bool(allow_credentials),
            _names(expose_headers, "expose_headers"),
        )
