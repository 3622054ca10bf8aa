"""Middleware: ``app.use(mw)`` and the built-ins.

The public import path of the built-ins is ``hyperdjango.standalone_middleware``
(the spec's); this package holds them, one module each, and the chain itself.
CORS, Security, Timing, Compression and the in-memory RateLimit do their
per-request work natively (``native.py``); Logging and CSRF are Python.
"""

from __future__ import annotations

from .chain import CallNext, Middleware, check_middleware, compile_chain
from .compression import CompressionMiddleware
from .cors import CORSMiddleware
from .csrf import CSRFMiddleware, csrf_exempt
from .logging import LoggingMiddleware
from .native import NativeMiddleware, native_stages
from .ratelimit import RateLimitMiddleware
from .security import SecurityMiddleware
from .timing import TimingMiddleware

__all__ = [
    "CORSMiddleware",
    "SecurityMiddleware",
    "TimingMiddleware",
    "LoggingMiddleware",
    "RateLimitMiddleware",
    "CompressionMiddleware",
    "CSRFMiddleware",
    "csrf_exempt",
    "NativeMiddleware",
    "CallNext",
    "Middleware",
    "check_middleware",
    "compile_chain",
    "native_stages",
]
