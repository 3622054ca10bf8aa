"""hyperdjango.testing.TestClient: in-process answers are the served server's, byte for byte.

The parity tests send the same raw bytes to tests/apps/basic.py served over
TCP (in a subprocess) and to the same app imported here and answered by
TestClient.send_raw, and compare the answers whole (only the Date header's
value may differ). The corpus covers routing, request/response conversion,
errors, limits (413/414/431) and malformed requests (400/505).
"""

from __future__ import annotations

import asyncio
import re
import socket
import threading

import httpx
import pytest
from test_hostile_framing import CORPUS as HOSTILE_CORPUS

from conftest import RunningServer, recv_all
from hyperdjango import HyperApp
from hyperdjango.exceptions import HTTPException
from hyperdjango.response import Response
from hyperdjango.testing import TestClient

H = b"Host: x\r\n"

PARITY_CORPUS: list[tuple[str, bytes]] = [
    ("index", b"GET / HTTP/1.1\r\n" + H + b"\r\n"),
    ("head", b"HEAD / HTTP/1.1\r\n" + H + b"\r\n"),
    ("int_param", b"GET /users/42 HTTP/1.1\r\n" + H + b"\r\n"),
    ("big_int_param", b"GET /users/123456789012345678901234567890 HTTP/1.1\r\n" + H + b"\r\n"),
    ("int_param_mismatch_404", b"GET /users/abc HTTP/1.1\r\n" + H + b"\r\n"),
    ("uuid_param", b"GET /items/12345678-1234-5678-1234-567812345678 HTTP/1.1\r\n" + H + b"\r\n"),
    ("path_param", b"GET /files/a/b%20c.txt HTTP/1.1\r\n" + H + b"\r\n"),
    ("unknown_404", b"GET /no/such/path HTTP/1.1\r\n" + H + b"\r\n"),
    ("wrong_method_405", b"DELETE / HTTP/1.1\r\n" + H + b"\r\n"),
    ("options_204", b"OPTIONS /items HTTP/1.1\r\n" + H + b"\r\n"),
    ("slash_redirect", b"GET /items/?a=1 HTTP/1.1\r\n" + H + b"\r\n"),
    (
        "query_and_headers",
        b"GET /echo?tag=a&tag=b&x=%C3%A9 HTTP/1.1\r\n" + H + b"X-Multi: 1\r\nX-Multi: 2\r\n\r\n",
    ),
    (
        "json_body",
        b"POST /users HTTP/1.1\r\n"
        + H
        + b'Content-Type: application/json\r\nContent-Length: 15\r\n\r\n{"name": "ann"}',
    ),
    (
        "chunked_body",
        b"POST /echo/bytes HTTP/1.1\r\n"
        + H
        + b"Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n4;ext=1\r\ndefg\r\n0\r\nX-Trailer: t\r\n\r\n",
    ),
    (
        "expect_continue",
        b"POST /echo/text HTTP/1.1\r\n"
        + H
        + b"Expect: 100-continue\r\nContent-Length: 5\r\n\r\nhello",
    ),
    ("http_10", b"GET /users/1 HTTP/1.0\r\n\r\n"),
    ("connection_close", b"GET / HTTP/1.1\r\n" + H + b"Connection: close\r\n\r\n"),
    (
        "pipelined",
        b"".join(b"GET /users/%d HTTP/1.1\r\nHost: x\r\n\r\n" % n for n in range(5))
        + b"POST /echo/json HTTP/1.1\r\nHost: x\r\nContent-Length: 7\r\n\r\n[1,2,3]"
        + b"GET /sync/info/3 HTTP/1.1\r\nHost: x\r\n\r\n",
    ),
    ("declared_413", b"POST /echo HTTP/1.1\r\n" + H + b"Content-Length: 10000000\r\n\r\n"),
    (
        "chunked_413",
        b"POST /echo HTTP/1.1\r\n"
        + H
        + b"Transfer-Encoding: chunked\r\n\r\n"
        + (b"4000\r\n" + b"x" * 0x4000 + b"\r\n") * 8
        + b"0\r\n\r\n",
    ),
    ("tuple3", b"GET /return/tuple3 HTTP/1.1\r\n" + H + b"\r\n"),
    ("response_object", b"GET /return/response HTTP/1.1\r\n" + H + b"\r\n"),
    ("html", b"GET /return/html HTTP/1.1\r\n" + H + b"\r\n"),
    ("unicode_json", b"GET /return/unicode HTTP/1.1\r\n" + H + b"\r\n"),
    ("http_exception", b"GET /raise/http HTTP/1.1\r\n" + H + b"\r\n"),
    ("http_exception_after_await", b"GET /async/sleep-error HTTP/1.1\r\n" + H + b"\r\n"),
    ("bad_header_value", b"GET /return/bad-header HTTP/1.1\r\n" + H + b"\r\n"),
    ("sync_handler", b"GET /sync/info/7 HTTP/1.1\r\n" + H + b"\r\n"),
    *((f"hostile_{name}", payload) for name, payload, _ in HOSTILE_CORPUS),
]

# Only in production mode: in debug mode a 500 is a page naming the process's files.
PROD_CORPUS: list[tuple[str, bytes]] = [
    ("handler_error_500", b"GET /raise/error HTTP/1.1\r\n" + H + b"\r\n"),
    ("unserialisable_500", b"GET /return/unserialisable HTTP/1.1\r\n" + H + b"\r\n"),
    ("sync_error_500", b"GET /sync/error HTTP/1.1\r\n" + H + b"\r\n"),
    ("debug_hidden", b"GET /debug/performance HTTP/1.1\r\n" + H + b"\r\n"),
    ("index_security_headers", b"GET / HTTP/1.1\r\n" + H + b"\r\n"),
]

DATE = re.compile(rb"\r\ndate: [^\r]*\r\n", re.IGNORECASE)


def served_raw(server: RunningServer, payload: bytes) -> bytes:
    """What the served server answers to ``payload`` followed by the end of input."""
    with server.connect(timeout=10) as sock:
        try:
            sock.sendall(payload)
            sock.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused before reading it all: the answer is already on its way
        return recv_all(sock, timeout=10)


def same_bytes(served: bytes, in_process: bytes) -> None:
    assert served, "the served server answered nothing"
    assert DATE.sub(b"\r\ndate: -\r\n", in_process) == DATE.sub(b"\r\ndate: -\r\n", served)


@pytest.mark.parametrize(("name", "payload"), PARITY_CORPUS, ids=[c[0] for c in PARITY_CORPUS])
def test_raw_answers_match_the_served_server(
    server: RunningServer, in_process: TestClient, name: str, payload: bytes
) -> None:
    same_bytes(served_raw(server, payload), in_process.send_raw(payload))


@pytest.mark.parametrize(("name", "payload"), PROD_CORPUS, ids=[c[0] for c in PROD_CORPUS])
def test_raw_answers_match_the_served_server_in_production(
    prod_server: RunningServer, in_process_prod: TestClient, name: str, payload: bytes
) -> None:
    same_bytes(served_raw(prod_server, payload), in_process_prod.send_raw(payload))


def test_malformed_request_written_raw(in_process: TestClient) -> None:
    reply = in_process.send_raw(b"GARBAGE\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 400 ")
    assert b"connection: close" in reply
    assert in_process.send_raw(b"GET / HTTP/2.0\r\nHost: x\r\n\r\n").startswith(b"HTTP/1.1 505 ")
    # and the server goes on serving
    assert in_process.get("/").json() == {"message": "Hello!"}


def test_limits_through_httpx(in_process: TestClient) -> None:
    assert in_process.post("/echo", content=b"x" * (64 * 1024 + 1)).status_code == 413
    assert in_process.get("/" + "a" * 10000).status_code == 414
    assert in_process.get("/", headers={"X-Big": "v" * 70000}).status_code == 431


# -- an app defined in the test: the documented fixture pattern (docs/testing.md) --------

events: list[str] = []
app = HyperApp("testclient-demo", max_body_size=1024)


@app.on_startup
async def opened() -> None:
    events.append("startup")


@app.on_shutdown
def closed() -> None:
    events.append("shutdown")


@app.get("/login")
async def login(request):
    response = Response.json({"ok": True})
    response.headers.add("Set-Cookie", "session=abc; Path=/")
    return response


@app.get("/whoami")
async def whoami(request):
    return {"cookies": request.cookies, "agent": request.headers.get("user-agent")}


@app.post("/upload")
async def upload(request):
    form = request.form
    upload = form["document"]
    return {"title": form["title"], "name": upload.filename, "size": len(upload.file.read())}


@app.post("/form")
async def form(request):
    return {"form": dict(request.form), "query": dict(request.query)}


gate = threading.Event()


@app.get("/stream")
async def stream(request):
    async def chunks():
        yield "part 0\n"
        # The test opens the gate only after it read part 0: the body streams.
        opened = await asyncio.get_running_loop().run_in_executor(None, gate.wait, 10)
        yield "part 1\n" if opened else "gate never opened\n"
        yield "part 2\n"

    return Response.stream(chunks(), media_type="text/plain")


@app.get("/teapot")
async def teapot(request):
    raise HTTPException(418, "short and stout")


@pytest.fixture
def client_for_app():
    with TestClient(app) as test_client:
        yield test_client


def test_hooks_run_once_each() -> None:
    events.clear()
    with TestClient(app) as test_client:
        assert events == ["startup"]
        test_client.get("/whoami")
        test_client.get("/whoami")
        assert events == ["startup"]
    assert events == ["startup", "shutdown"]


def test_failing_startup_hook_raises_from_with() -> None:
    broken = HyperApp("broken")

    @broken.on_startup
    def fail() -> None:
        raise RuntimeError("database unreachable")

    with pytest.raises(RuntimeError, match="database unreachable"):
        with TestClient(broken):
            pytest.fail("the block must not run")


def test_cookies_persist(client_for_app: TestClient) -> None:
    assert client_for_app.get("/whoami").json()["cookies"] == {}
    assert client_for_app.get("/login").cookies["session"] == "abc"
    assert client_for_app.get("/whoami").json()["cookies"] == {"session": "abc"}


def test_params_data_files_headers(client_for_app: TestClient) -> None:
    answer = client_for_app.post(
        "/form", params={"page": "2"}, data={"name": "Ann", "city": "Zürich"}
    ).json()
    assert answer == {"form": {"name": "Ann", "city": "Zürich"}, "query": {"page": "2"}}
    answer = client_for_app.post(
        "/upload", data={"title": "cv"}, files={"document": ("cv.txt", b"x" * 100)}
    ).json()
    assert answer == {"title": "cv", "name": "cv.txt", "size": 100}
    assert client_for_app.get("/whoami", headers={"User-Agent": "probe"}).json()["agent"] == "probe"
    assert client_for_app.post("/upload", files={"document": b"x" * 5000}).status_code == 413


def test_stream(client_for_app: TestClient) -> None:
    gate.clear()
    with client_for_app.stream("GET", "/stream") as response:
        assert response.headers["transfer-encoding"] == "chunked"
        lines = response.iter_lines()
        assert next(lines) == "part 0"
        gate.set()
        assert list(lines) == ["part 1", "part 2"]


def test_errors_are_answers(client_for_app: TestClient) -> None:
    response = client_for_app.get("/teapot")
    assert response.status_code == 418
    assert response.json() == {"detail": "short and stout"}
    assert client_for_app.get("/nowhere").status_code == 404


def test_without_with_starts_on_first_request_and_stops_on_close() -> None:
    events.clear()
    test_client = TestClient(app)
    assert events == []
    assert test_client.get("/whoami").status_code == 200
    assert events == ["startup"]
    test_client.close()
    assert events == ["startup", "shutdown"]


def test_bad_arguments_are_clear() -> None:
    with pytest.raises(TypeError, match="needs a HyperApp"):
        TestClient(object())  # type: ignore[arg-type]
    with TestClient(app) as test_client, pytest.raises(TypeError, match="needs bytes"):
        test_client.send_raw("GET / HTTP/1.1\r\n\r\n")  # type: ignore[arg-type]


def test_read_timeout_is_httpx_timeout() -> None:
    slow = HyperApp("slow")

    @slow.get("/")
    async def sleepy(request):
        await asyncio.sleep(1)
        return "late"

    with TestClient(slow) as test_client, pytest.raises(httpx.ReadTimeout):
        test_client.get("/", timeout=0.2)
