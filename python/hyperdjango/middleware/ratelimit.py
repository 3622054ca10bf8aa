"""``RateLimitMiddleware``: N requests per window per client, in memory or in Redis."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from .. import _hyperdjango_native as _native
from ..response import Response
from .chain import CallNext
from .native import NativeMiddleware
from .redis_store import RedisError, RedisStore

__all__ = ["RateLimitMiddleware"]

logger = logging.getLogger("hyperdjango.ratelimit")


def _limited(limit: int, reset: int) -> Response:
    response = Response.json({"detail": "Too Many Requests"}, status=429)
    response.headers["Retry-After"] = str(reset)
    _rate_headers(response, limit, 0, reset)
    return response


def _rate_headers(response: Response, limit: int, remaining: int, reset: int) -> None:
    response.headers["RateLimit-Limit"] = str(limit)
    response.headers["RateLimit-Remaining"] = str(remaining)
    response.headers["RateLimit-Reset"] = str(reset)


class RateLimitMiddleware(NativeMiddleware):
    """At most ``rate`` requests per client: ``"N/second"``, ``"N/minute"``,
    ``"N/hour"`` or ``"N/day"`` (fixed windows aligned to the clock).

    >>> app.use(RateLimitMiddleware(rate="100/minute"))

    Clients are told apart by ``request.client_ip`` (the forwarded address
    behind a trusted proxy, the peer otherwise, so rotating
    ``X-Forwarded-For`` gains an untrusted client nothing), or by ``key(request)``
    when given. Over the limit: 429 with ``Retry-After`` and ``RateLimit-Limit``,
    ``RateLimit-Remaining``, ``RateLimit-Reset``; the handler does not run.
    Allowed answers carry the ``RateLimit-*`` headers too.

    ``backend="memory"`` (default) counts in this process, natively, in a
    fixed-size table (bounded memory whatever the number of clients; two
    clients hashed to one slot share a count, which can only make the limit
    stricter). ``backend="redis://host:6379/0"`` shares the limit between
    processes and machines: one atomic round trip per request. If Redis cannot
    be reached within ``redis_timeout`` seconds the request is let through
    (``fail_open=True``, default) or answered 503 (``fail_open=False``), a
    warning goes to the ``hyperdjango.ratelimit`` log (at most once every 10 s),
    and Redis is not tried again for a second: a dead Redis never hangs requests.
    """

    def __init__(
        self,
        rate: str = "100/minute",
        *,
        key: Callable[[Any], str] | None = None,
        backend: str = "memory",
        redis_timeout: float = 0.25,
        fail_open: bool = True,
        prefix: str = "hyperdjango:ratelimit:",
    ) -> None:
        if not isinstance(rate, str):
            raise ValueError(f"rate must be a str like '100/minute', not {rate!r}")
        self.limit, self.window = _native.MiddlewareStage.parse_rate(rate)
        if key is not None and not callable(key):
            raise TypeError(f"key must be a function of the request, not {key!r}")
        if not isinstance(backend, str):
            raise ValueError(f"backend must be 'memory' or a redis:// URL, not {backend!r}")
        self.key = key
        self.fail_open = fail_open
        self.prefix = prefix
        self._store: RedisStore | None = None
        self._last_warning = 0.0
        self._memory = _native.MiddlewareStage.rate_limit(rate)
        if backend == "memory":
            if key is None:
                self._native_stage = self._memory
        else:
            self._store = RedisStore(backend, timeout=redis_timeout)

    async def __call__(self, request: Any, call_next: CallNext) -> Response:
        if self._native_stage is not None:
            return await super().__call__(request, call_next)
        client = self.key(request) if self.key is not None else request.client_ip
        if self._store is None:
            allowed, limit, remaining, reset = self._memory.hit(str(client))
        else:
            now = time.time()
            window = int(now // self.window)
            reset = max(1, int((window + 1) * self.window - now))
            limit = self.limit
            try:
                count = await self._store.hit(f"{self.prefix}{client}:{window}", self.window)
            except RedisError as error:
                self._warn(error)
                if not self.fail_open:
                    return Response.json({"detail": "Rate limit store unavailable"}, status=503)
                return await call_next(request)
            allowed = count <= limit
            remaining = max(0, limit - count)
        if not allowed:
            return _limited(limit, reset)
        response = await call_next(request)
        _rate_headers(response, limit, remaining, reset)
        return response

    def _warn(self, error: Exception) -> None:
        now = time.monotonic()
        if now - self._last_warning >= 10:
            self._last_warning = now
            action = "letting requests through" if self.fail_open else "answering 503"
            logger.warning("rate limit store unavailable (%s); %s", error, action)
