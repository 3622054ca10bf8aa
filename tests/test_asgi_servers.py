"""One behavioural suite, run against the native server and against uvicorn,
hypercorn, daphne and Granian serving the same HyperApp over ASGI
(tests/apps/asgi_app.py): the answers must be the same."""

from __future__ import annotations

import hashlib
import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from servers import asgi_command, free_port, start_command

from conftest import RunningServer, start_server

TARGET = "tests.apps.asgi_app:app"
SERVERS = ["native", "uvicorn", "hypercorn", "daphne", "granian"]


def serve(kind: str, env: dict[str, str] | None = None) -> RunningServer:
    if kind == "native":
        return start_server("asgi_app.py", env=env)
    port = free_port()
    return start_command(asgi_command(kind, TARGET, port), port, env=env)


@pytest.fixture(scope="module", params=SERVERS)
def served(request: pytest.FixtureRequest) -> Iterator[RunningServer]:
    running = serve(request.param)
    yield running
    running.stop()


@pytest.fixture
def http(served: RunningServer) -> Iterator[httpx.Client]:
    with served.client() as client:
        yield client


def test_json_index(http: httpx.Client) -> None:
    response = http.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"message": "Hello!"}


def test_startup_hooks_ran_once_before_the_first_request(http: httpx.Client) -> None:
    # daphne sends no lifespan events: the adapter runs the hooks itself.
    assert http.get("/startups").json() == {"startups": 1}
    assert http.get("/startups").json() == {"startups": 1}


def test_typed_parameters_and_404(http: httpx.Client) -> None:
    assert http.get("/users/42").json() == {"id": 42, "type": "int"}
    missing = http.get("/users/abc")
    assert missing.status_code == 404
    assert missing.json() == {"detail": "Not Found"}
    assert http.get("/files/a/b/c.txt").json() == {"rest": "a/b/c.txt"}


def test_encoded_slash_stays_inside_a_segment(http: httpx.Client) -> None:
    # Routing on raw_path: %2F is part of the segment, not a separator.
    response = http.get("/items/a%2Fb")
    assert response.status_code == 200
    assert response.json() == {"name": "a/b", "method": "GET"}


def test_method_not_allowed_with_allow(http: httpx.Client) -> None:
    response = http.post("/items/x")
    assert response.status_code == 405
    assert set(response.headers["allow"].replace(" ", "").split(",")) >= {"GET", "PUT"}
    options = http.options("/items/x")
    assert options.status_code == 204
    assert "PUT" in options.headers["allow"]


def test_trailing_slash_redirect_keeps_the_query(http: httpx.Client) -> None:
    response = http.get("/slash?a=1")
    assert response.status_code == 308
    assert response.headers["location"] == "/slash/?a=1"


def test_json_body_and_query(http: httpx.Client) -> None:
    response = http.post("/echo?x=1&tag=a&tag=b", json={"name": "ada"})
    assert response.json() == {
        "json": {"name": "ada"},
        "query": {"x": "1", "tag": "a"},
        "tags": ["a", "b"],
        "content_type": "application/json",
    }


def test_malformed_json_is_400(http: httpx.Client) -> None:
    response = http.post("/echo", content=b"{nope", headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert "Malformed JSON" in response.json()["detail"]


def test_urlencoded_and_multipart_forms(http: httpx.Client) -> None:
    assert http.post("/form", data={"a": "1", "b": "é"}).json() == {"a": "1", "b": "é"}
    payload = os.urandom(20_000)
    response = http.post(
        "/form",
        data={"title": "x"},
        files={"upload": ("data.bin", payload, "application/x-test")},
    )
    assert response.json() == {
        "title": "x",
        "upload": {
            "filename": "data.bin",
            "size": len(payload),
            "content_type": "application/x-test",
            "head": payload[:8].decode("latin-1"),
        },
    }


def test_cookies_client_ip_and_scheme(http: httpx.Client) -> None:
    meta = http.get("/meta?q=%20x", headers={"cookie": "a=1; b=two", "accept": "text/x"}).json()
    assert meta["cookies"] == {"a": "1", "b": "two"}
    assert meta["client_ip"] == "127.0.0.1"
    assert meta["is_secure"] is False
    assert meta["query_string"] == "q=%20x"
    assert meta["accept"] == "text/x"
    forwarded = http.get(
        "/meta", headers={"x-forwarded-for": "203.0.113.7", "x-forwarded-proto": "https"}
    ).json()
    assert forwarded["client_ip"] == "203.0.113.7"
    assert forwarded["is_secure"] is True


def test_response_kinds(http: httpx.Client) -> None:
    html = http.get("/html")
    assert html.headers["content-type"] == "text/html; charset=utf-8"
    assert html.text == "<h1>hi</h1>"
    text = http.get("/text")
    assert (text.headers["content-type"], text.text) == ("text/plain; charset=utf-8", "plain")
    created = http.get("/created")
    assert (created.status_code, created.headers["x-extra"]) == (201, "1")
    redirect = http.get("/redirect")
    assert (redirect.status_code, redirect.headers["location"]) == (303, "/target")


def test_every_set_cookie_is_kept(http: httpx.Client) -> None:
    response = http.get("/cookies")
    cookies = response.headers.get_list("set-cookie")
    assert len(cookies) == 2
    assert cookies[0].startswith("first=1")
    assert cookies[1].startswith("second=two%20words") and "HttpOnly" in cookies[1]


def test_file_with_range_conditional_and_head(http: httpx.Client) -> None:
    whole = http.get("/blob")
    assert whole.status_code == 200
    assert len(whole.content) == 300_000
    assert (
        hashlib.sha256(whole.content).hexdigest()
        == hashlib.sha256(Path(_blob()).read_bytes()).hexdigest()
    )
    assert whole.headers["content-length"] == "300000"
    part = http.get("/blob", headers={"range": "bytes=1000-1999"})
    assert part.status_code == 206
    assert part.headers["content-range"] == "bytes 1000-1999/300000"
    assert part.content == whole.content[1000:2000]
    assert http.get("/blob", headers={"range": "bytes=400000-"}).status_code == 416
    assert http.get("/blob", headers={"if-none-match": whole.headers["etag"]}).status_code == 304
    head = http.head("/blob")
    assert head.status_code == 200
    assert head.headers["content-length"] == "300000"
    assert head.content == b""
    assert http.get("/missing-file").status_code == 404


def _blob() -> str:
    import tempfile

    return os.path.join(tempfile.gettempdir(), "hyperdjango-asgi-test", "blob.bin")


def test_stream_and_sse(http: httpx.Client) -> None:
    with http.stream("GET", "/stream") as response:
        assert response.headers.get("content-length") is None
        assert b"".join(response.iter_bytes()) == b"abc"
    assert http.get("/sync-stream").text == "xy"
    sse = http.get("/sse")
    assert sse.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert sse.text == "event: tick\nid: 1\ndata: line1\ndata: line2\n\ndata: plain\n\n"


def test_def_handlers_run_off_the_event_loop(http: httpx.Client, served: RunningServer) -> None:
    assert http.get("/sync").json()["thread"].startswith("hyperdjango-sync")
    # Two slow def handlers at once, each sleeping 1 s: if they ran on the event
    # loop, the async handler asked for meanwhile would wait for both.
    answers: list[httpx.Response] = []

    def slow() -> None:
        with served.client() as client:
            answers.append(client.get("/slow-sync"))

    threads = [threading.Thread(target=slow) for _ in range(2)]
    for thread in threads:
        thread.start()
    assert http.get("/").status_code == 200
    for thread in threads:
        thread.join(30)
    assert [answer.json() for answer in answers] == [{"slow": True}] * 2


def test_errors_in_debug_mode(http: httpx.Client) -> None:
    boom = http.get("/boom")
    assert boom.status_code == 500
    assert boom.json()["exception"] == "ValueError: kaboom"
    page = http.get("/boom", headers={"accept": "text/html"})
    assert "ValueError: kaboom" in page.text
    teapot = http.get("/teapot")
    assert (teapot.status_code, teapot.json(), teapot.headers["x-tea"]) == (
        418,
        {"detail": "I'm a teapot"},
        "earl grey",
    )
    assert http.get("/bad-result").status_code == 500


def test_max_body_size_from_declared_length_and_while_streaming(http: httpx.Client) -> None:
    assert http.post("/size", content=b"x" * 1000).json() == {"size": 1000}
    declared = http.post("/size", content=b"x" * 70_000)
    assert declared.status_code == 413
    assert declared.json() == {"detail": "Request body too large (limit is 65536 bytes)"}

    def chunks() -> Iterator[bytes]:
        for _ in range(20):
            yield b"y" * 8192

    try:
        streamed = http.post("/size", content=chunks())
    except httpx.HTTPError:
        return  # the server may cut the upload after answering; the 413 was sent first
    assert streamed.status_code == 413


@pytest.mark.parametrize("kind", ["native", "uvicorn"])
def test_production_mode_hides_the_traceback(kind: str) -> None:
    env = {"PROD": "1"} if kind == "native" else {"HYPERDJANGO_PROD": "1"}
    running = serve(kind, env)
    try:
        with running.client() as client:
            boom = client.get("/boom")
            assert boom.status_code == 500
            assert boom.json() == {"detail": "Internal Server Error"}
            assert boom.headers["x-frame-options"] == "DENY"
            assert client.get("/debug/performance").status_code == 404
    finally:
        running.stop()


SECURITY_NAMES = {
    "strict-transport-security",
    "x-frame-options",
    "x-content-type-options",
    "referrer-policy",
    "content-security-policy",
}


def security_headers(response: httpx.Response) -> list[tuple[str, str]]:
    return sorted((n, v) for n, v in response.headers.multi_items() if n in SECURITY_NAMES)


@pytest.mark.parametrize("kind", ["uvicorn", "hypercorn"])
def test_production_security_headers_are_the_native_servers(kind: str) -> None:
    """One policy: HSTS only on secure requests (a trusted proxy's
    X-Forwarded-Proto here), the same headers as the native server's."""
    native = serve("native", {"PROD": "1"})
    try:
        adapted = serve(kind, {"HYPERDJANGO_PROD": "1"})
        try:
            with native.client() as expected, adapted.client() as actual:
                for path in ["/", "/users/abc", "/boom", "/framed", "/stream", "/blob"]:
                    for proto in [None, "https"]:
                        headers = {"X-Forwarded-Proto": proto} if proto else {}
                        want = security_headers(expected.get(path, headers=headers))
                        got = security_headers(actual.get(path, headers=headers))
                        assert got == want, (path, proto)
                        names = [name for name, _ in got]
                        assert ("strict-transport-security" in names) == (proto == "https")
                        assert names.count("x-frame-options") == 1
                framed = actual.get("/framed", headers={"X-Forwarded-Proto": "https"})
                assert framed.headers["x-frame-options"] == "SAMEORIGIN"
        finally:
            adapted.stop()
    finally:
        native.stop()


@pytest.mark.parametrize("kind", ["uvicorn", "hypercorn", "granian"])
def test_lifespan_runs_startup_and_shutdown_hooks(kind: str, tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    running = serve(kind, {"MARKER": str(marker)})
    with running.client() as client:
        assert client.get("/startups").json() == {"startups": 1}
    running.process.send_signal(signal.SIGTERM)
    running.process.wait(30)
    assert marker.read_text().splitlines() == ["startup", "shutdown"]


@pytest.mark.parametrize("kind", ["uvicorn", "hypercorn"])
def test_failing_startup_hook_is_reported(kind: str) -> None:
    with pytest.raises(RuntimeError) as failure:
        running = serve(kind, {"STARTUP_FAIL": "1"})
        running.stop()
    assert "database unreachable" in str(failure.value)


@pytest.mark.parametrize("kind", ["native", "uvicorn", "daphne"])
def test_middleware_wraps_handlers_and_router_answers(kind: str) -> None:
    running = serve(kind, {"MIDDLEWARE": "1"})
    try:
        with running.client() as client:
            tagged = client.get("/state")
            assert tagged.json() == {"tagged": "yes"}
            assert tagged.headers["x-middleware"] == "outer"
            missing = client.get("/nowhere")
            assert (missing.status_code, missing.headers["x-middleware"]) == (404, "outer")
            refused = client.get("/", headers={"x-refuse": "1"})
            assert (refused.status_code, refused.json()) == (403, {"refused": True})
            assert refused.headers["x-middleware"] == "outer"
            assert client.get("/sync").json()["thread"].startswith("hyperdjango-sync")
            with client.stream("GET", "/stream") as streamed:
                assert streamed.headers["x-middleware"] == "outer"
                assert b"".join(streamed.iter_bytes()) == b"abc"
            assert client.get("/boom").status_code == 500
    finally:
        running.stop()


@pytest.mark.parametrize("kind", ["uvicorn", "hypercorn", "daphne"])
def test_unknown_websocket_path_is_refused_before_accepting(kind: str) -> None:
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    running = serve(kind)
    try:
        with pytest.raises(InvalidStatus) as refused:
            with connect(f"ws://127.0.0.1:{running.port}/nowhere", open_timeout=10):
                pass
        assert refused.value.response.status_code == 403
        with running.client() as client:  # and HTTP is still served
            assert client.get("/").status_code == 200
    finally:
        running.stop()
