"""``CSRFMiddleware``: Django-compatible names, tokens signed with a secret.

A token is ``<nonce>.<HMAC-SHA256(secret, nonce)>`` (hex). It lives in the
``csrftoken`` cookie (``Path=/``, readable by JavaScript, ``SameSite=Lax``),
set on safe requests that lack a valid one. An unsafe request (POST, PUT,
PATCH, DELETE, ...) must send the same token in ``X-CSRFToken`` or the form
field ``csrfmiddlewaretoken``, and the cookie's signature must verify: a token
made with another secret, or made up, is refused even when cookie and field
agree (Django only checks that they agree). A cross-origin ``Origin`` or
``Referer`` is refused. Every comparison is constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable, Iterable
from typing import Any, TypeVar
from urllib.parse import urlsplit

from ..response import Response
from .chain import CallNext

__all__ = ["CSRFMiddleware", "csrf_exempt"]

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
F = TypeVar("F", bound=Callable[..., Any])


def csrf_exempt(handler: F) -> F:
    """Decorator: this handler's unsafe requests skip the CSRF check (webhooks).

    >>> @app.post("/webhooks/stripe")
    ... @csrf_exempt
    ... async def stripe(request): ...
    """
    handler.csrf_exempt = True  # type: ignore[attr-defined]
    return handler


def _forbidden(reason: str) -> Response:
    return Response.json({"detail": f"CSRF check failed: {reason}"}, status=403)


class CSRFMiddleware:
    """Cross-site request forgery protection.

    >>> app.use(CSRFMiddleware(secret="your-secret"))

    Handlers (and templates) find the current token in ``request.csrf_token``.
    ``trusted_origins`` lists other origins allowed to post
    (``"https://admin.example.com"``). Refusals are 403 with a ``detail`` that
    says why (cookie missing, token missing, token incorrect, bad origin).
    """

    def __init__(
        self,
        secret: str | bytes,
        *,
        cookie_name: str = "csrftoken",
        header_name: str = "X-CSRFToken",
        field_name: str = "csrfmiddlewaretoken",
        trusted_origins: Iterable[str] = (),
        cookie_secure: bool = False,
        cookie_samesite: str = "Lax",
        cookie_max_age: int = 31_449_600,
    ) -> None:
        if isinstance(secret, str):
            secret = secret.encode()
        if not isinstance(secret, bytes) or not secret:
            raise ValueError("CSRFMiddleware needs a non-empty secret (a long random string)")
        if isinstance(trusted_origins, str):
            raise TypeError("trusted_origins must be a list of origins, not a str")
        self._key = secret
        self.cookie_name = cookie_name
        self.header_name = header_name
        self.field_name = field_name
        self.trusted_origins = {origin.rstrip("/").lower() for origin in trusted_origins}
        self.cookie_secure = cookie_secure
        self.cookie_samesite = cookie_samesite
        self.cookie_max_age = cookie_max_age

    # -- tokens -----------------------------------------------------------------

    def _signature(self, nonce: str) -> str:
        return hmac.new(self._key, nonce.encode(), hashlib.sha256).hexdigest()

    def new_token(self) -> str:
        nonce = secrets.token_hex(16)
        return f"{nonce}.{self._signature(nonce)}"

    def is_valid(self, token: str | None) -> bool:
        """Whether ``token`` was made with this secret."""
        if not token or len(token) != 97 or token[32] != ".":
            return False
        nonce, signature = token[:32], token[33:]
        return hmac.compare_digest(signature.encode(), self._signature(nonce).encode())

    # -- the middleware ---------------------------------------------------------------

    async def __call__(self, request: Any, call_next: CallNext) -> Response:
        cookie = request.cookies.get(self.cookie_name)
        valid_cookie = self.is_valid(cookie)
        token = cookie if valid_cookie else self.new_token()
        request.csrf_token = token
        if request.method not in SAFE_METHODS and not self._exempt(request):
            refusal = self._check(request, cookie, valid_cookie)
            if refusal is not None:
                return _forbidden(refusal)
        response = await call_next(request)
        if not valid_cookie and request.method in SAFE_METHODS:
            response.set_cookie(
                self.cookie_name,
                token,
                max_age=self.cookie_max_age,
                path="/",
                secure=self.cookie_secure,
                httponly=False,
                samesite=self.cookie_samesite,
            )
            response.headers.add("Vary", "Cookie")
        return response

    def _exempt(self, request: Any) -> bool:
        target = request._handler
        return target is not None and getattr(target[0], "csrf_exempt", False) is True

    def _check(self, request: Any, cookie: str | None, valid_cookie: bool) -> str | None:
        origin_problem = self._check_origin(request)
        if origin_problem is not None:
            return origin_problem
        if not cookie:
            return "CSRF cookie not set"
        if not valid_cookie:
            return "CSRF cookie is not a token this site issued"
        submitted = request.headers.get(self.header_name)
        if submitted is None:
            media = request.headers.get("content-type", "").split(";")[0].strip().lower()
            if media in ("application/x-www-form-urlencoded", "multipart/form-data"):
                field = request.form.get(self.field_name)
                submitted = field if isinstance(field, str) else None
        if not submitted:
            return f"CSRF token missing (send it in {self.header_name} or {self.field_name})"
        if not hmac.compare_digest(submitted.encode(), cookie.encode()):
            return "CSRF token incorrect"
        return None

    def _own_origin(self, request: Any) -> str:
        scheme = "https" if request.is_secure else "http"
        return f"{scheme}://{request.headers.get('host', '')}".lower()

    def _check_origin(self, request: Any) -> str | None:
        origin = request.headers.get("origin")
        if origin is not None:
            normalized = origin.rstrip("/").lower()
            if normalized != self._own_origin(request) and normalized not in self.trusted_origins:
                return f"origin {origin!r} does not match this site or a trusted origin"
            return None
        referer = request.headers.get("referer")
        if referer is not None:
            try:
                parts = urlsplit(referer)
            except ValueError:  # "http://[::1", NFKC-unsafe hosts: a client's bytes, not a 500
                return "Referer is malformed"
            if not parts.scheme or not parts.netloc:
                return "Referer is malformed"
            referer_origin = f"{parts.scheme}://{parts.netloc}".lower()
            if (
                referer_origin != self._own_origin(request)
                and referer_origin not in self.trusted_origins
            ):
                return f"Referer {referer!r} is not this site or a trusted origin"
        return None
