"""Exceptions a handler may raise to answer with an HTTP error."""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus

__all__ = ["HTTPException", "DisallowedRedirect"]


class HTTPException(Exception):
    """Raise in a handler to answer ``status`` with ``{"detail": detail}``.

    >>> raise HTTPException(404, "No such user")

    ``detail`` defaults to the status's reason phrase; ``headers`` are added to
    the response (e.g. ``{"WWW-Authenticate": "Bearer"}`` with a 401).
    """

    def __init__(
        self,
        status_code: int,
        detail: object = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        if not isinstance(status_code, int) or not 400 <= status_code <= 599:
            raise ValueError(
                f"HTTPException status must be an int from 400 to 599, not {status_code!r}"
            )
        if detail is None:
            detail = (
                HTTPStatus(status_code).phrase
                if status_code in HTTPStatus._value2member_map_
                else "Error"
            )
        super().__init__(status_code, detail)
        self.status_code = status_code
        self.detail = detail
        self.headers = dict(headers) if headers else None

    def __str__(self) -> str:
        return f"{self.status_code}: {self.detail}"

    def __repr__(self) -> str:
        return f"HTTPException(status_code={self.status_code!r}, detail={self.detail!r})"


class DisallowedRedirect(HTTPException, ValueError):
    """``Response.redirect`` refused a target whose scheme is not http, https
    or ftp (``javascript:``, ``data:``, ``vbscript:``, ...), as Django does.

    It is a ``ValueError`` for the developer and, raised in a handler, a 400
    for the client: a redirect to a client-supplied ``?next=`` that names
    such a scheme is refused, never followed and never a 500.
    """

    def __init__(self, detail: str) -> None:
        super().__init__(400, detail)

    def __str__(self) -> str:
        return str(self.detail)
