"""uvicorn + Starlette with the middleware stack equivalent to bench/apps/middleware_app.py.

STACK=builtins: security headers, CORS, timing, a rate limit (high) and GZip(minimum_size=1024),
as pure ASGI middleware where Starlette has none (the fastest way to write them).
STACK=gzip: GZipMiddleware only. STACK=none: no middleware.
"""

import os
import sys
import time

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.responses import JSONResponse
from starlette.routing import Route

sys.path.insert(0, os.path.dirname(__file__))

from payload import PAYLOAD  # noqa: E402

SECURITY = [
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"strict-origin-when-cross-origin"),
]


class Security:
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = list(message["headers"]) + SECURITY
            await send(message)

        await self.app(scope, receive, send_with_headers)


class Timing:
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        started = time.perf_counter()

        async def send_with_time(message):
            if message["type"] == "http.response.start":
                elapsed = (time.perf_counter() - started) * 1000
                message["headers"] = list(message.get("headers", [])) + [
                    (b"x-response-time", f"{elapsed:.3f}ms".encode())
                ]
            await send(message)

        await self.app(scope, receive, send_with_time)


class RateLimit:
    def __init__(self, app, limit=100_000_000, window=60):
        self.app = app
        self.limit = limit
        self.window = window
        self.counts = {}

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        now = time.time()
        window = int(now // self.window)
        key = (scope["client"][0] if scope.get("client") else "-", window)
        count = self.counts.get(key, 0) + 1
        self.counts[key] = count
        if count > self.limit:
            response = JSONResponse({"detail": "Too Many Requests"}, status_code=429)
            return await response(scope, receive, send)
        await self.app(scope, receive, send)


async def index(request):
    return JSONResponse({"message": "Hello!"})


async def json20k(request):
    # Serialised per request, as hyperdjango does (a pre-encoded body would flatter Starlette).
    return JSONResponse(PAYLOAD)


stack = os.environ.get("STACK", "none")
middleware = []
if stack == "builtins":
    middleware = [
        Middleware(Security),
        Middleware(
            CORSMiddleware,
            allow_origins=["https://mysite.com"],
            allow_methods=["GET", "POST", "PUT", "DELETE"],
            allow_headers=["Authorization", "Content-Type"],
            max_age=3600,
        ),
        Middleware(Timing),
        Middleware(RateLimit),
        Middleware(GZipMiddleware, minimum_size=1024),
    ]
elif stack == "gzip":
    middleware = [Middleware(GZipMiddleware, minimum_size=1024)]

app = Starlette(routes=[Route("/", index), Route("/json20k", json20k)], middleware=middleware)
