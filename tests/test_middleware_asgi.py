"""Middleware under the ASGI adapter: the native built-ins run from Python there, compressed
streams included (in process, through asgiref's ApplicationCommunicator)."""

from __future__ import annotations

import asyncio
import gzip
from typing import Any

from asgiref.testing import ApplicationCommunicator

from hyperdjango import HyperApp
from hyperdjango.response import Response
from hyperdjango.standalone_middleware import CompressionMiddleware, SecurityMiddleware

TEXT = "compress me please " * 100


def make_app() -> HyperApp:
    app = HyperApp("asgi-middleware")
    app.use(SecurityMiddleware())
    app.use(CompressionMiddleware(min_size=100))

    @app.get("/text")
    async def text(request: Any) -> Response:
        return Response.text(TEXT)

    @app.get("/stream")
    async def stream(request: Any) -> Response:
        async def chunks() -> Any:
            for index in range(20):
                yield f"line {index} {TEXT[:50]}\n"

        return Response.stream(chunks(), media_type="text/plain")

    return app


async def call(app: Any, path: str) -> list[dict[str, Any]]:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [(b"host", b"testserver"), (b"accept-encoding", b"gzip")],
        "client": ("192.0.2.10", 5000),
        "server": ("testserver", 80),
    }
    communicator = ApplicationCommunicator(app, scope)
    await communicator.send_input({"type": "http.request", "body": b"", "more_body": False})
    messages = [await communicator.receive_output(10)]
    while messages[-1]["type"] == "http.response.start" or messages[-1].get("more_body"):
        messages.append(await communicator.receive_output(10))
    await communicator.wait(10)
    return messages


def headers_of(messages: list[dict[str, Any]]) -> dict[bytes, bytes]:
    return {name.lower(): value for name, value in messages[0]["headers"]}


def body_of(messages: list[dict[str, Any]]) -> bytes:
    return b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")


def test_whole_and_streamed_answers_are_compressed_under_asgi() -> None:
    app = make_app()
    whole = asyncio.run(call(app, "/text"))
    assert headers_of(whole)[b"content-encoding"] == b"gzip"
    assert headers_of(whole)[b"x-frame-options"] == b"DENY"
    assert gzip.decompress(body_of(whole)).decode() == TEXT
    streamed = asyncio.run(call(app, "/stream"))
    assert headers_of(streamed)[b"content-encoding"] == b"gzip"
    text = gzip.decompress(body_of(streamed)).decode()
    assert text.count("\n") == 20 and text.startswith("line 0 ")
