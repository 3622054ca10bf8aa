"""``SecurityMiddleware``: security headers on every answer (native).

Production mode (``app.run(prod=True)``) applies this middleware's defaults
through the same native code.
"""

from __future__ import annotations

from .. import _hyperdjango_native as _native
from .native import NativeMiddleware

__all__ = ["SecurityMiddleware"]


class SecurityMiddleware(NativeMiddleware):
    """Security headers, each added unless the handler set its own value.

    >>> app.use(SecurityMiddleware(hsts=True, frame_deny=True))

    - ``Strict-Transport-Security: max-age=31536000; includeSubDomains`` only on
      secure requests (``request.is_secure``: a trusted proxy reported HTTPS),
      never over plain HTTP (RFC 6797 §7.2). ``hsts_max_age`` must be at least
      180 days.
    - ``X-Frame-Options: DENY`` (``frame_deny``), ``X-Content-Type-Options:
      nosniff`` (``content_type_nosniff``), ``Referrer-Policy`` (``referrer_policy``,
      None to omit), ``Content-Security-Policy`` when ``csp`` is given.
    """

    def __init__(
        self,
        hsts: bool = True,
        frame_deny: bool = True,
        *,
        content_type_nosniff: bool = True,
        referrer_policy: str | None = "strict-origin-when-cross-origin",
        csp: str | None = None,
        hsts_max_age: int = 31_536_000,
        hsts_include_subdomains: bool = True,
        hsts_preload: bool = False,
    ) -> None:
        if not isinstance(hsts_max_age, int) or isinstance(hsts_max_age, bool) or hsts_max_age < 0:
            raise ValueError(f"hsts_max_age must be seconds, not {hsts_max_age!r}")
        for name, value in (("referrer_policy", referrer_policy), ("csp", csp)):
            if value is not None and not isinstance(value, str):
                raise TypeError(f"SecurityMiddleware {name} must be a str or None, not {value!r}")
        self._native_stage = _native.MiddlewareStage.security(
            bool(hsts),
            hsts_max_age,
            bool(hsts_include_subdomains),
            bool(hsts_preload),
            bool(frame_deny),
            bool(content_type_nosniff),
            referrer_policy,
            csp,
        )
