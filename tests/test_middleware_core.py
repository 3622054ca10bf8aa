"""app.use and call_next, served: order, every kind of answer, errors, which requests pass."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator

import httpx
import pytest

from conftest import RawReader, RunningServer, start_server
from hyperdjango import HyperApp


@pytest.fixture(scope="module")
def mw_server() -> Iterator[RunningServer]:
    running = start_server("middleware_core.py")
    yield running
    running.stop()


@pytest.fixture(scope="module")
def mw_prod_server() -> Iterator[RunningServer]:
    running = start_server("middleware_core.py", env={"PROD": "1"})
    yield running
    running.stop()


@pytest.fixture
def http(mw_server: RunningServer) -> Iterator[httpx.Client]:
    with mw_server.client() as client:
        yield client


# -- registration -----------------------------------------------------------------


def test_plain_def_middleware_is_refused() -> None:
    app = HyperApp("x")

    def plain(request, call_next):
        return call_next(request)

    with pytest.raises(TypeError, match="not async"):
        app.use(plain)
    with pytest.raises(TypeError, match="async"):
        app.use(42)

    class SyncCall:
        def __call__(self, request, call_next):
            return call_next(request)

    with pytest.raises(TypeError, match="not async"):
        app.use(SyncCall())
    assert app.middleware == []


def test_async_function_and_object_are_accepted() -> None:
    app = HyperApp("x")

    async def first(request, call_next):
        return await call_next(request)

    class Second:
        async def __call__(self, request, call_next):
            return await call_next(request)

    second = Second()
    assert app.use(first) is first
    app.use(second)
    assert app.middleware == [first, second]


def test_use_after_start_is_a_clear_error(http: httpx.Client) -> None:
    response = http.get("/use-now")
    assert response.status_code == 200
    assert "after the server has started" in response.json()["error"]


# -- order, state, attributes, contextvars ----------------------------------------------


def test_registration_order_is_outermost_first(http: httpx.Client) -> None:
    response = http.get("/")
    assert response.status_code == 200
    assert response.json() == {"message": "Hello!"}
    assert response.headers["x-trail"] == "outer,inner,inner-after,outer-after"


def test_state_attributes_and_context_reach_the_handler(http: httpx.Client) -> None:
    response = http.get("/whoami", headers={"X-User": "alice"})
    assert response.json() == {"user": "alice", "attribute": "alice", "trail": ["outer", "inner"]}
    # The next request has its own context: nothing leaks from alice's.
    assert http.get("/whoami").json()["user"] == "anonymous"


def test_context_survives_a_suspending_handler_and_sync_handlers(http: httpx.Client) -> None:
    assert http.get("/slow-handler", headers={"X-User": "bob"}).json() == {
        "user": "bob",
        "attribute": "bob",
    }
    response = http.get("/sync", headers={"X-User": "carol"})
    assert response.json() == {"sync": True, "user": "carol"}
    assert response.headers["x-chain"] == "yes"


def test_path_params_are_converted_before_the_chain(http: httpx.Client) -> None:
    response = http.get("/items/42/blue")
    assert response.json() == {"id": 42, "slug": "blue"}
    assert response.headers["x-param-types"] == repr({"id": "int", "slug": "str"})


def test_body_read_in_middleware_is_still_there_for_the_handler(http: httpx.Client) -> None:
    body = json.dumps({"name": "x" * 100}).encode()
    response = http.post("/echo", content=body, headers={"Content-Type": "application/json"})
    assert response.json() == {"echo": {"name": "x" * 100}}
    assert int(response.headers["x-body-length"]) == len(body)
    form = http.post("/form", data={"name": "zoe"})
    assert form.json() == {"name": "zoe"}


# -- call_next always gives a Response ----------------------------------------------


@pytest.mark.parametrize(
    ("path", "status", "content_type", "cls"),
    [
        ("/dict", 200, "application/json", "Response"),
        ("/list", 200, "application/json", "Response"),
        ("/str", 200, "text/plain; charset=utf-8", "Response"),
        ("/bytes", 200, "application/octet-stream", "Response"),
        ("/tuple2", 201, "application/json", "Response"),
        ("/tuple3", 203, "text/x-custom", "Response"),
        ("/response", 200, "text/html; charset=utf-8", "Response"),
        ("/response-tuple", 206, "text/plain; charset=utf-8", "Response"),
        ("/stream", 200, "text/plain", "StreamResponse"),
        ("/sse", 200, "text/event-stream; charset=utf-8", "StreamResponse"),
        ("/file", 200, "text/plain; charset=utf-8", "FileResponse"),
    ],
)
def test_call_next_returns_a_response_for_every_result(
    http: httpx.Client, path: str, status: int, content_type: str, cls: str
) -> None:
    response = http.get(path)
    assert response.status_code == status
    assert response.headers["x-seen-class"] == cls
    assert response.headers["x-seen-status"] == str(status)
    assert response.headers["x-seen-type"] == content_type
    assert response.headers["content-type"] == content_type


def test_bodies_survive_the_chain(http: httpx.Client) -> None:
    assert http.get("/list").json() == [1, 2, 3]
    assert http.get("/bytes").content == b"\x00\x01raw"
    assert http.get("/tuple3").headers["x-handler"] == "set"
    assert http.get("/response-tuple").headers["x-extra"] == "1"
    assert http.get("/stream").text == "chunk0;chunk1;chunk2;"
    assert "event: greeting\ndata: hello" in http.get("/sse").text
    assert http.get("/file").text == "file body\n"


def test_in_place_header_changes_reach_the_wire(http: httpx.Client) -> None:
    response = http.get("/raw-mutate")
    assert response.headers["content-type"] == "text/x-mutated"
    assert response.headers["x-appended"] == "1"
    assert response.json() == {"mutated": True}


def test_status_code_is_mutable(http: httpx.Client) -> None:
    response = http.get("/teapot")
    assert response.status_code == 418
    assert response.text == "short and stout"


def test_two_set_cookie_headers_survive(http: httpx.Client) -> None:
    response = http.get("/cookies")
    cookies = response.headers.get_list("set-cookie")
    assert len(cookies) == 2
    assert cookies[0].startswith("first=1")
    assert cookies[1] == "second=2; Path=/"


# -- short-circuit, replace, raise ------------------------------------------------


def test_short_circuit_never_runs_the_handler(http: httpx.Client) -> None:
    before = http.get("/runs").json()["count"]
    response = http.get("/blocked")
    assert response.status_code == 403
    assert response.json() == {"blocked": True}
    assert http.get("/runs").json()["count"] == before


def test_middleware_may_replace_the_response(http: httpx.Client) -> None:
    response = http.get("/replace")
    assert response.status_code == 202
    assert response.text == "replaced"
    assert response.headers["x-chain"] == "yes"


def test_exception_in_outer_middleware_is_a_debug_page_then_serving_goes_on(
    http: httpx.Client,
) -> None:
    response = http.get("/mw-raise")
    assert response.status_code == 500
    assert "middleware exploded" in response.text
    assert http.get("/").status_code == 200


def test_exception_in_inner_middleware_reaches_outer_as_a_500(http: httpx.Client) -> None:
    response = http.get("/inner-raise")
    assert response.status_code == 500
    assert response.headers["x-seen-status"] == "500"
    assert "inner middleware exploded" in response.text


def test_handler_errors_reach_middleware_as_responses(http: httpx.Client) -> None:
    crashed = http.get("/handler-raise")
    assert crashed.status_code == 500
    assert crashed.headers["x-seen-status"] == "500"
    missing = http.get("/handler-http-error")
    assert missing.status_code == 404
    assert missing.json() == {"detail": "no such thing"}
    assert missing.headers["x-chain"] == "yes"


def test_http_exception_in_middleware_is_its_status(http: httpx.Client) -> None:
    response = http.get("/mw-http-error")
    assert response.status_code == 429
    assert response.json() == {"detail": "slow down"}
    assert response.headers["retry-after"] == "7"


def test_middleware_returning_none_is_a_clear_500(
    http: httpx.Client, mw_server: RunningServer
) -> None:
    response = http.get("/mw-returns-none")
    assert response.status_code == 500
    assert "not a Response" in response.text
    assert http.get("/").status_code == 200


def test_production_hides_middleware_errors(mw_prod_server: RunningServer) -> None:
    with mw_prod_server.client() as client:
        response = client.get("/mw-raise")
        assert response.status_code == 500
        assert response.json() == {"detail": "Internal Server Error"}
        assert client.get("/").json() == {"message": "Hello!"}


# -- which requests pass through ------------------------------------------------------


def test_router_answers_pass_through_middleware(http: httpx.Client) -> None:
    missing = http.get("/no/such/path")
    assert missing.status_code == 404
    assert missing.json() == {"detail": "Not Found"}
    assert missing.headers["x-chain"] == "yes"

    wrong_method = http.delete("/")
    assert wrong_method.status_code == 405
    assert {"GET", "HEAD"} <= {m.strip() for m in wrong_method.headers["allow"].split(",")}
    assert wrong_method.headers["x-chain"] == "yes"

    options = http.options("/")
    assert options.status_code == 204
    assert "GET" in options.headers["allow"]
    assert options.headers["x-chain"] == "yes"

    redirect = http.get("/with/slash?x=1")
    assert redirect.status_code == 308
    assert redirect.headers["location"] == "/with/slash/?x=1"
    assert redirect.headers["x-chain"] == "yes"


def test_post_to_a_missing_path_passes_through_with_its_body(http: httpx.Client) -> None:
    response = http.post("/nowhere", content=b'{"a": 1}')
    assert response.status_code == 404
    assert response.headers["x-body-length"] == "8"
    assert http.get("/").status_code == 200


def test_included_router_routes_are_covered(http: httpx.Client) -> None:
    response = http.get("/blog/")
    assert response.json() == {"posts": []}
    assert response.headers["x-chain"] == "yes"


def test_protocol_refusals_stay_native(mw_server: RunningServer) -> None:
    with mw_server.connect() as sock:
        sock.sendall(b"GET / HTTP/2.0\r\nHost: x\r\n\r\n")
        reply = RawReader(sock).read()
    assert reply.status == 505
    assert reply.header("x-chain") is None
    with mw_server.connect() as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 70000 + b"\r\n\r\n")
        reply = RawReader(sock).read()
    assert reply.status == 431
    assert reply.header("x-chain") is None
    with mw_server.connect() as sock:
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 999999\r\n\r\n")
        reply = RawReader(sock).read()
    assert reply.status == 413
    assert reply.header("x-chain") is None
    with httpx.Client(base_url=mw_server.url, timeout=10) as client:
        assert client.get("/").status_code == 200


def test_a_waiting_middleware_does_not_hold_up_others(mw_server: RunningServer) -> None:
    slow_result: dict[str, object] = {}

    def slow() -> None:
        with httpx.Client(base_url=mw_server.url, timeout=30) as client:
            slow_result["response"] = client.get("/slow-mw").json()

    thread = threading.Thread(target=slow)
    thread.start()
    with httpx.Client(base_url=mw_server.url, timeout=30) as client:
        # Served while the slow one's middleware sleeps 1.5 s.
        for _ in range(5):
            assert client.get("/").status_code == 200
        still_waiting = thread.is_alive()
    thread.join(30)
    assert still_waiting
    assert slow_result["response"] == {"slow": True}


def test_pipelined_requests_through_middleware(mw_server: RunningServer) -> None:
    with mw_server.connect() as sock:
        sock.sendall(
            b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
            b"GET /missing HTTP/1.1\r\nHost: x\r\n\r\n"
            b"GET /items/7/a HTTP/1.1\r\nHost: x\r\n\r\n"
        )
        reader = RawReader(sock)
        first, second, third = reader.read(), reader.read(), reader.read()
    assert (first.status, second.status, third.status) == (200, 404, 200)
    assert all(r.header("x-chain") == "yes" for r in (first, second, third))
    assert json.loads(third.body) == {"id": 7, "slug": "a"}
