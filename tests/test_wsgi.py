"""The WSGI bridge with a raw WSGI application (tests/apps/wsgi_app.py): PEP 3333
details a framework would hide (write(), exc_info, close(), wsgi.input, file_wrapper)."""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from conftest import APPS, RunningServer, recv_all, start_server


@pytest.fixture(scope="module")
def wsgi_server() -> Iterator[RunningServer]:
    running = start_server("wsgi_app.py")
    yield running
    running.stop()


@pytest.fixture
def http(wsgi_server: RunningServer) -> Iterator[httpx.Client]:
    with wsgi_server.client() as client:
        yield client


def test_hello(http: httpx.Client) -> None:
    response = http.get("/")
    assert (response.status_code, response.text) == (200, "Hello, world!")
    assert response.headers["content-length"] == "13"


def test_environ_is_pep_3333(http: httpx.Client, wsgi_server: RunningServer) -> None:
    response = http.post(
        "/environ?x=1&y=%20",
        content=b"payload",
        headers={"content-type": "text/plain", "x-twice": "a", "x_under": "dropped"},
    )
    environ = response.json()
    assert environ["REQUEST_METHOD"] == "POST"
    assert environ["PATH_INFO"] == "/environ"
    assert environ["SCRIPT_NAME"] == ""
    assert environ["QUERY_STRING"] == "x=1&y=%20"
    assert environ["CONTENT_TYPE"] == "text/plain"
    assert environ["CONTENT_LENGTH"] == "7"
    assert environ["body"] == "payload"
    assert environ["HTTP_X_TWICE"] == "a"
    assert "HTTP_X_UNDER" not in environ
    assert environ["SERVER_NAME"] == "127.0.0.1"
    assert environ["SERVER_PORT"] == str(wsgi_server.port)
    assert environ["REMOTE_ADDR"] == "127.0.0.1"
    assert environ["wsgi.url_scheme"] == "http"
    assert environ["wsgi.version"] == [1, 0]
    assert environ["wsgi.multithread"] is True
    assert environ["wsgi.run_once"] is False


def test_repeated_headers_joined_with_a_comma(http: httpx.Client) -> None:
    response = http.get("/environ", headers=[("x-many", "one"), ("x-many", "two")])
    assert response.json()["HTTP_X_MANY"] == "one,two"


def test_path_info_is_latin1_tunnelled_bytes(wsgi_server: RunningServer) -> None:
    with wsgi_server.connect() as sock:
        sock.sendall(
            b"GET /echo-path/caf%C3%A9/a%2Fb HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        raw = recv_all(sock)
    body = json.loads(raw.partition(b"\r\n\r\n")[2])
    # The UTF-8 bytes of "é" arrive as two latin-1 code points (PEP 3333), %2F decoded.
    assert body["path_info"] == "/echo-path/caf\u00c3\u00a9/a/b"
    assert body["path_info"].encode("latin-1").decode("utf-8") == "/echo-path/café/a/b"
    assert body["raw_uri"] == "/echo-path/caf%C3%A9/a%2Fb"


def test_wsgi_input_readline_and_iteration(http: httpx.Client) -> None:
    response = http.post("/lines", content=b"first line\nsecond\nthird\nfourth")
    assert response.json() == {
        "lines": ["first line\n", "sec"],
        "rest": ["ond\n", "third\n", "fourth"],
    }


def test_large_body_is_spooled_and_read_whole(http: httpx.Client) -> None:
    payload = os.urandom(3 * 1024 * 1024)
    assert http.post("/size", content=payload).json() == {"size": len(payload)}

    def chunks() -> Iterator[bytes]:
        for _ in range(30):
            yield b"z" * 100_000

    assert http.post("/size", content=chunks()).json() == {"size": 3_000_000}
    assert http.post("/size", content=b"x" * (5 * 1024 * 1024)).status_code == 413


def test_write_callable_and_close_always_called(http: httpx.Client) -> None:
    before = http.get("/closed").json()["count"]
    assert http.get("/write").text == "written then returned"
    failed = None
    try:
        failed = http.get("/fail-midway")
    except httpx.HTTPError:
        pass  # the head was out: the connection is cut so the client sees it incomplete
    if failed is not None:
        assert failed.content != b"abc"
    assert http.get("/cookies").status_code == 200
    assert http.get("/closed").json()["count"] == before + 3


def test_start_response_exc_info_replaces_the_head(http: httpx.Client) -> None:
    response = http.get("/exc-info")
    assert (response.status_code, response.headers["x-reason"], response.text) == (
        503,
        "exc",
        "replaced",
    )


def test_application_exception_is_500(http: httpx.Client) -> None:
    response = http.get("/raise")
    assert response.status_code == 500
    assert "KeyError" in response.text  # debug mode shows the traceback


def test_a_body_of_several_items_is_joined(http: httpx.Client) -> None:
    response = http.get("/joined")
    assert (response.text, response.headers["content-length"]) == ("one two three", "13")


@pytest.mark.parametrize(
    ("kind", "named"),
    [
        ("status-text", "WSGI status must look like '200 OK'"),
        ("status-type", "WSGI status must be a str"),
        ("twice", "start_response was already called"),
        ("header-value", "X-Bad"),
        ("header-shape", "a WSGI header must be a (name, value) pair of str"),
        ("body-str", "a WSGI body must be bytes, not str"),
        ("body-str-tuple", "TypeError"),
        ("iterator-fails-first", "before the first chunk"),
        ("no-start", "without calling start_response"),
    ],
)
def test_an_answer_breaking_pep_3333_is_a_500_naming_the_problem(
    http: httpx.Client, kind: str, named: str
) -> None:
    # Whether the native loop answers (a list) or the Python runner (the rest),
    # a broken answer is the application's error: a 500 with the traceback in
    # debug mode, and the server keeps serving.
    response = http.get(f"/bad/{kind}")
    assert response.status_code == 500, response.text
    assert named in response.text
    assert http.get("/").text == "Hello, world!"


def test_every_set_cookie_is_kept_and_head_has_no_body(
    http: httpx.Client, wsgi_server: RunningServer
) -> None:
    assert http.get("/cookies").headers.get_list("set-cookie") == ["a=1; Path=/", "b=2; Path=/"]
    with wsgi_server.connect() as sock:
        sock.sendall(b"HEAD / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        raw = recv_all(sock)
    head, _, body = raw.partition(b"\r\n\r\n")
    assert b"content-length: 13" in head.lower()
    assert body == b""


def test_file_wrapper_sent_natively(http: httpx.Client) -> None:
    response = http.get("/file")
    source = Path(APPS / "wsgi_app.py").read_bytes()
    assert hashlib.sha256(response.content).hexdigest() == hashlib.sha256(source).hexdigest()
    assert response.headers["content-type"] == "text/x-python"


def test_production_mode_hides_the_traceback() -> None:
    running = start_server("wsgi_app.py", env={"PROD": "1"})
    try:
        with running.client() as client:
            response = client.get("/raise")
            assert (response.status_code, response.text) == (500, "Internal Server Error")
    finally:
        assert running.stop() == 0


def test_still_serving_after_the_overload_window(http: httpx.Client) -> None:
    # The pool reports each request it starts to the overload check; if it did
    # not, every request after the first 5 s (max_wait) would be refused with 503.
    assert http.get("/").status_code == 200
    time.sleep(5.5)
    assert [http.get("/").status_code for _ in range(3)] == [200, 200, 200]
