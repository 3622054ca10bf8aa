"""The ASGI adapter in-process, driven by asgiref's ApplicationCommunicator: the
protocol details a served test cannot see (lifespan messages, path-send,
unknown scope types, a body over the limit arriving in pieces)."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import pytest
from asgiref.testing import ApplicationCommunicator

from hyperdjango import HyperApp
from hyperdjango.response import Response


def make_app(**options: Any) -> HyperApp:
    app = HyperApp("inprocess", max_body_size=100, **options)
    calls: list[str] = []
    app.calls = calls  # type: ignore[attr-defined]

    @app.on_startup
    async def startup() -> None:
        calls.append("startup")

    @app.on_shutdown
    def shutdown() -> None:
        calls.append("shutdown")

    @app.get("/")
    async def index(request: Any) -> dict[str, Any]:
        return {"ok": True, "secure": request.is_secure, "ip": request.client_ip}

    @app.post("/size")
    async def size(request: Any) -> dict[str, int]:
        return {"size": len(request.body)}

    @app.get("/file")
    async def file(request: Any) -> Response:
        return Response.file(__file__)

    @app.get("/framed")
    async def framed(request: Any) -> Response:
        return Response.text("framed", headers={"X-Frame-Options": "SAMEORIGIN"})

    @app.get("/boom")
    async def boom(request: Any) -> None:
        raise RuntimeError("secret detail")

    return app


def scope(path: str = "/", method: str = "GET", **extra: Any) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [(b"host", b"testserver")],
        "client": ("192.0.2.10", 5000),
        "server": ("testserver", 80),
        **extra,
    }


async def call(app: Any, request_scope: dict[str, Any], *bodies: bytes) -> list[dict[str, Any]]:
    communicator = ApplicationCommunicator(app, request_scope)
    pieces = list(bodies) or [b""]
    for index, piece in enumerate(pieces):
        await communicator.send_input(
            {"type": "http.request", "body": piece, "more_body": index < len(pieces) - 1}
        )
    messages = [await communicator.receive_output(10)]
    while messages[-1]["type"] == "http.response.start" or messages[-1].get("more_body"):
        messages.append(await communicator.receive_output(10))
    await communicator.wait(10)
    return messages


def body_of(messages: list[dict[str, Any]]) -> bytes:
    return b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


def test_http_request_in_process_runs_startup_first() -> None:
    app = make_app()
    messages = run(call(app, scope(scheme="https")))
    assert messages[0]["status"] == 200
    # The scope's client and scheme, as the ASGI server saw them (not a trusted proxy).
    assert body_of(messages) == b'{"ok":true,"secure":true,"ip":"192.0.2.10"}'
    assert app.calls == ["startup"]  # type: ignore[attr-defined]


def test_lifespan_startup_and_shutdown() -> None:
    app = make_app()

    async def scenario() -> list[str]:
        communicator = ApplicationCommunicator(app, {"type": "lifespan"})
        await communicator.send_input({"type": "lifespan.startup"})
        started = await communicator.receive_output(10)
        await communicator.send_input({"type": "lifespan.shutdown"})
        stopped = await communicator.receive_output(10)
        await communicator.wait(10)
        return [started["type"], stopped["type"]]

    assert run(scenario()) == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert app.calls == ["startup", "shutdown"]  # type: ignore[attr-defined]


def test_failing_startup_hook_reports_lifespan_startup_failed() -> None:
    app = HyperApp("failing")

    @app.on_startup
    def broken() -> None:
        raise ConnectionError("database unreachable")

    async def scenario() -> dict[str, Any]:
        communicator = ApplicationCommunicator(app, {"type": "lifespan"})
        await communicator.send_input({"type": "lifespan.startup"})
        message = await communicator.receive_output(10)
        await communicator.wait(10)
        return message

    message = run(scenario())
    assert message == {
        "type": "lifespan.startup.failed",
        "message": "ConnectionError: database unreachable",
    }


def test_unknown_scope_type_raises() -> None:
    app = make_app()
    with pytest.raises(ValueError, match="cannot serve ASGI scope type 'telepathy'"):
        run(app({"type": "telepathy"}, None, None))


def test_body_over_the_limit_in_pieces_is_413() -> None:
    app = make_app()
    assert body_of(run(call(app, scope("/size", "POST"), b"a" * 60, b"b" * 30))) == b'{"size":90}'
    messages = run(call(app, scope("/size", "POST"), b"a" * 60, b"b" * 60))
    assert messages[0]["status"] == 413
    declared = scope("/size", "POST", headers=[(b"content-length", b"500")])
    assert run(call(app, declared))[0]["status"] == 413


def test_file_uses_path_send_when_offered() -> None:
    app = make_app()
    messages = run(call(app, scope("/file", extensions={"http.response.pathsend": {}})))
    assert messages[0]["status"] == 200
    assert messages[1] == {"type": "http.response.pathsend", "path": os.path.abspath(__file__)}
    # A range is not a whole file: sent as body chunks instead.
    ranged = scope(
        "/file",
        extensions={"http.response.pathsend": {}},
        headers=[(b"host", b"x"), (b"range", b"bytes=0-9")],
    )
    messages = run(call(app, ranged))
    assert messages[0]["status"] == 206
    with open(__file__, "rb") as source:
        assert body_of(messages) == source.read(10)


def test_production_adapter_hides_the_traceback() -> None:
    messages = run(call(make_app().asgi(prod=True), scope("/boom")))
    assert messages[0]["status"] == 500
    assert body_of(messages) == b'{"detail":"Internal Server Error"}'
    assert (b"x-frame-options", b"DENY") in messages[0]["headers"]


PROD_HEADERS = [
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"strict-origin-when-cross-origin"),
]
HSTS = (b"strict-transport-security", b"max-age=31536000; includeSubDomains")


def security_headers(messages: list[dict[str, Any]]) -> list[tuple[bytes, bytes]]:
    names = {name for name, _ in PROD_HEADERS} | {HSTS[0]}
    return sorted(pair for pair in messages[0]["headers"] if pair[0] in names)


@pytest.mark.parametrize("path", ["/", "/boom", "/nope", "/file"])
def test_production_sends_no_hsts_over_plain_http(path: str) -> None:
    messages = run(call(make_app().asgi(prod=True), scope(path)))
    assert security_headers(messages) == sorted(PROD_HEADERS)


@pytest.mark.parametrize("path", ["/", "/boom", "/nope", "/file"])
def test_production_sends_hsts_when_the_scheme_is_https(path: str) -> None:
    messages = run(call(make_app().asgi(prod=True), scope(path, scheme="https")))
    assert security_headers(messages) == sorted([*PROD_HEADERS, HSTS])


def test_production_hsts_needs_a_trusted_proxy_for_x_forwarded_proto() -> None:
    headers = [(b"host", b"testserver"), (b"x-forwarded-proto", b"https")]
    trusted = make_app(trusted_proxies=["192.0.2.0/24"]).asgi(prod=True)
    messages = run(call(trusted, scope("/", headers=headers)))
    assert security_headers(messages) == sorted([*PROD_HEADERS, HSTS])
    assert b'"secure":true' in body_of(messages)  # the same verdict as request.is_secure
    untrusted = make_app(trusted_proxies=["198.51.100.1"]).asgi(prod=True)
    messages = run(call(untrusted, scope("/", headers=headers)))
    assert security_headers(messages) == sorted(PROD_HEADERS)
    assert b'"secure":false' in body_of(messages)


def test_production_keeps_the_handler_x_frame_options() -> None:
    messages = run(call(make_app().asgi(prod=True), scope("/framed", scheme="https")))
    frame = [value for name, value in messages[0]["headers"] if name == b"x-frame-options"]
    assert frame == [b"SAMEORIGIN"]
    assert HSTS in messages[0]["headers"]


def test_debug_mode_adds_no_security_headers() -> None:
    messages = run(call(make_app().asgi(), scope("/", scheme="https")))
    assert security_headers(messages) == []


def test_unknown_websocket_path_is_closed_before_accepting() -> None:
    app = make_app()

    async def scenario() -> dict[str, Any]:
        communicator = ApplicationCommunicator(
            app, {"type": "websocket", "path": "/nowhere", "raw_path": b"/nowhere", "headers": []}
        )
        await communicator.send_input({"type": "websocket.connect"})
        message = await communicator.receive_output(10)
        await communicator.wait(10)
        return message

    assert run(scenario())["type"] == "websocket.close"
