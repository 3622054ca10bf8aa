"""Served app for tests/test_middleware_builtins.py.

POSITION=native: the built-ins are registered first, so the server runs them
natively. POSITION=python: a custom middleware comes first, so the same
built-ins run from Python. The tests check both give the same answers.
"""

import asyncio
import os
import tempfile

from hyperdjango import HyperApp
from hyperdjango.response import Response
from hyperdjango.standalone_middleware import (
    CompressionMiddleware,
    CORSMiddleware,
    RateLimitMiddleware,
    SecurityMiddleware,
    TimingMiddleware,
)

trusted = os.environ.get("TRUSTED")
app = HyperApp(
    "middleware-builtins",
    max_body_size=64 * 1024,
    trusted_proxies=None if trusted is None else [p for p in trusted.split(",") if p != "none"],
)
handler_runs = {"count": 0}
BIG_TEXT = "hello compression " * 200  # 3.6 KB
FILE = os.path.join(tempfile.mkdtemp(), "big.txt")
with open(FILE, "w") as file:
    file.write(BIG_TEXT)

if os.environ.get("POSITION") == "python":

    @app.use
    async def first(request, call_next):
        response = await call_next(request)
        response.headers["X-First"] = "yes"
        return response


app.use(
    CORSMiddleware(
        origins=["https://mysite.com", "http://localhost:3000"],
        methods=["GET", "POST", "PUT", "DELETE"],
        headers=["Authorization", "Content-Type"],
        max_age=3600,
        expose_headers=["X-Total"],
    )
)
app.use(SecurityMiddleware(hsts=True, frame_deny=True, csp="default-src 'self'"))
app.use(TimingMiddleware())
app.use(RateLimitMiddleware(rate=os.environ.get("RATE", "1000/minute")))
app.use(CompressionMiddleware(min_size=1024))


@app.get("/")
async def index(request):
    handler_runs["count"] += 1
    return {"message": "Hello!"}


@app.get("/runs")
async def runs(request):
    return {"count": handler_runs["count"]}


@app.post("/items")
async def create(request):
    handler_runs["count"] += 1
    return {"created": request.json}, 201


@app.get("/big")
async def big(request):
    return Response.text(BIG_TEXT)


@app.get("/big-json")
async def big_json(request):
    return {"items": [{"id": i, "name": f"item {i}"} for i in range(200)]}


@app.get("/png")
async def png(request):
    return Response(b"\x89PNG" + b"\x00" * 4000, media_type="image/png")


@app.get("/already-encoded")
async def already(request):
    return Response(
        b"x" * 4000, headers={"Content-Encoding": "identity-ish"}, media_type="text/plain"
    )


@app.get("/file")
async def a_file(request):
    return Response.file(FILE)


@app.get("/framed")
async def framed(request):
    return Response.text("framed", headers={"X-Frame-Options": "SAMEORIGIN"})


@app.get("/stream")
async def stream(request):
    async def chunks():
        for index in range(50):
            yield f"line {index} " + "x" * 100 + "\n"

    return Response.stream(chunks(), media_type="text/plain")


@app.get("/sse")
async def sse(request):
    async def events():
        yield {"event": "first", "data": "one"}
        await asyncio.sleep(float(request.query.get("gap", "0")))
        yield {"event": "second", "data": "two"}

    return Response.sse(events())


@app.get("/limited")
async def limited(request):
    handler_runs["count"] += 1
    return {"ok": True}


if __name__ == "__main__":
    app.run(
        host=os.environ.get("HOST", "127.0.0.1"),
        port=int(os.environ.get("PORT", "8000")),
        prod=os.environ.get("PROD") == "1",
    )
