"""Issue 9, served: open redirects, include prefixes with parameters, client
input that used to give a 500, `;` in queries, unsafe redirect targets,
disconnects during streams, and the content type of every error body.

Each test speaks to tests/apps/hostile.py through raw sockets (exact bytes,
malformed input) or httpx.
"""

from __future__ import annotations

import json
import os
import socket
import struct
import time
import urllib.parse
from collections.abc import Iterator

import httpx
import pytest

from conftest import RawReader, RunningServer, start_server


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    save_dir = tmp_path_factory.mktemp("hostile-saves")
    running = start_server("hostile.py", env={"SAVE_DIR": str(save_dir)})
    running.save_dir = str(save_dir)  # type: ignore[attr-defined]
    yield running
    running.stop()


def raw_request(server: RunningServer, request: bytes):
    with server.connect(timeout=10) as sock:
        sock.sendall(request)
        return RawReader(sock).read()


def get(server: RunningServer, target: str, headers: str = ""):
    request = f"GET {target} HTTP/1.1\r\nHost: example.test\r\n{headers}Connection: close\r\n\r\n"
    return raw_request(server, request.encode("latin-1"))


def browser_target(location: str, base: str = "http://example.test/dir/page") -> str:
    """Where a browser goes for ``location``: it drops tabs and newlines and
    reads ``\\`` as ``/`` in http(s) URLs (WHATWG URL), then resolves."""
    cleaned = "".join(c for c in location if c not in "\t\r\n").strip("".join(map(chr, range(33))))
    return urllib.parse.urljoin(base, cleaned.replace("\\", "/"))


# -- 1. the trailing-slash redirect never leaves the site --------------------------

OPEN_REDIRECT_PATHS = [
    "/\\evil.com/",
    "/\\\\evil.com/",
    "/%5Cevil.com/",
    "/%5C%5Cevil.com/",
    "/%2Fevil.com/",
    "/%2F%2Fevil.com/",
    "/%09/evil.com/",
    "/%0D%0A/evil.com/",
    "/\\%09evil.com/",
    "/.%2F%2Fevil.com/",
    "/evil.com%5C/",
    "/%E2%80%AE\\evil.com/",
]


@pytest.mark.parametrize("path", OPEN_REDIRECT_PATHS)
def test_trailing_slash_redirect_stays_on_site(hostile: RunningServer, path: str) -> None:
    response = get(hostile, path)
    assert response.status < 500
    location = response.header("location")
    if response.status == 308:
        assert location is not None
        # A valid URI (no raw backslash, space, control or non-ASCII byte) ...
        assert all(33 <= ord(c) < 127 and c != "\\" for c in location), location
        # ... that a browser resolves on this same host.
        target = urllib.parse.urlsplit(browser_target(location))
        assert target.netloc == "example.test", (path, location)
        assert response.header("content-type") == "application/json"


def test_backslash_redirect_is_escaped(hostile: RunningServer) -> None:
    response = get(hostile, '/\\evil.com/?next=a%20b&c="x"')
    assert response.status == 308
    assert response.header("location") == "/%5Cevil.com?next=a%20b&c=%22x%22"
    # Following it lands on the same route with the same value.
    with hostile.client() as client:
        assert client.get("/%5Cevil.com").json() == {"page": "\\evil.com"}


def test_router_resolve_reports_the_safe_location() -> None:
    from hyperdjango.router import Router

    router = Router()
    router.get("/{page}", lambda request, page: page)
    router.get("//{page}", lambda request, page: page)
    assert router.resolve("GET", "/\\evil.com/") == ("redirect", "/%5Cevil.com")
    kind, location = router.resolve("GET", "//evil.com/")
    assert kind == "redirect" and not location.startswith("//"), location
    assert urllib.parse.urlsplit(browser_target(location)).netloc == "example.test"


def test_ordinary_redirect_unchanged(hostile: RunningServer) -> None:
    with hostile.client() as client:
        response = client.get("/caf%C3%A9/?q=1")
    assert response.status_code == 308
    assert response.headers["location"] == "/caf%C3%A9?q=1"


# -- 2. include prefixes with parameters: served, typed, reversed --------------------


def test_include_prefix_parameters_are_served_typed_and_reversed(
    hostile: RunningServer,
) -> None:
    with hostile.client() as client:
        response = client.get("/r/acct/5/posts/7")
        assert response.status_code == 200
        assert response.json() == {
            "uid": 5,
            "pid": 7,
            "types": ["int", "int"],
            "self": "/r/acct/5/posts/7",
        }
        assert client.get("/r/acct/x/posts/7").status_code == 404
        assert client.get("/r/acct/5/files/a/b%20c.txt").json() == {
            "uid": 5,
            "rest": "a/b c.txt",
        }


def test_include_prefix_refusals_are_clear() -> None:
    from hyperdjango.router import NoReverseMatch, Router

    inner = Router()
    inner.get("/posts/{pid:int}", lambda request, uid, pid: None, name="post")
    outer = Router()
    outer.include("/acct/{uid:int}", inner, namespace="acct")
    assert outer.reverse("acct:post", uid=5, pid=7) == "/acct/5/posts/7"
    with pytest.raises(NoReverseMatch, match="missing uid"):
        outer.reverse("acct:post", pid=7)
    assert outer.match("GET", "/acct/5/posts/7")[1] == {"uid": 5, "pid": 7}
    clash = Router()
    with pytest.raises(ValueError, match="pid.*appears twice"):
        clash.include("/p/{pid}", inner)
    with pytest.raises(ValueError, match=r"include prefix .*path.* would swallow"):
        Router().include("/p/{rest:path}", inner)
    with pytest.raises(ValueError, match="unknown converter"):
        Router().include("/p/{x:float}", inner)
    # Nested includes keep every level's parameters.
    top = Router()
    top.include("/org/{org:slug}", outer, namespace="org")
    assert top.reverse("org:acct:post", org="acme", uid=1, pid=2) == "/org/acme/acct/1/posts/2"
    assert top.match("GET", "/org/acme/acct/1/posts/2")[1] == {"org": "acme", "uid": 1, "pid": 2}


# -- 3. client input that used to be a 500 -------------------------------------------


def test_int_parameter_beyond_pythons_digit_limit_is_no_match(hostile: RunningServer) -> None:
    with hostile.client() as client:
        assert client.get("/ints/" + "9" * 5000).status_code == 404
        assert client.get("/ints/" + "9" * 5000).json() == {"detail": "Not Found"}
        ok = client.get("/ints/" + "7" * 4300)
        assert ok.status_code == 200 and ok.json()["digits"] == 4300
        # No match for int, so the next route (str) takes it, as in Django.
        assert client.get("/either/" + "1" * 5000).json() == {"converter": "str", "length": 5000}
        assert client.get("/either/12").json() == {"converter": "int"}
        assert client.get("/ints/1").status_code == 200


def multipart(parts: list[bytes], boundary: str = "XyZ") -> bytes:
    body = b"".join(b"--" + boundary.encode() + b"\r\n" + part + b"\r\n" for part in parts)
    return body + b"--" + boundary.encode() + b"--\r\n"


def post_multipart(server: RunningServer, body: bytes, boundary: str = "XyZ") -> httpx.Response:
    with server.client() as client:
        return client.post(
            "/touch/upload",
            content=body,
            headers={"content-type": f"multipart/form-data; boundary={boundary}"},
        )


@pytest.mark.parametrize(
    "header",
    [
        b'Content-Disposition: form-data; name="f"; filename="a\x00b.txt"',
        b'Content-Disposition: form-data; name="f"; filename="a\nb.txt"',
        b'Content-Disposition: form-data; name="f"\nX-Evil: 1',
        b'Content-Disposition: form-data; name="f"\rX-Evil: 1',
        b'Content-Disposition: form-data; name="f\x00"',
        b"Content-Disposition: form-data; name=\"f\"; filename*=UTF-8''a%00b.txt",
        b"Content-Disposition: form-data; name=\"f\"; filename*=UTF-8''a%0D%0Ab.txt",
        b'Content-Disposition: form-data; name="f"; filename="a.txt"\r\nContent-Type: text/\x01plain',
    ],
)
def test_control_characters_in_part_headers_are_400(hostile: RunningServer, header: bytes) -> None:
    response = post_multipart(hostile, multipart([header + b"\r\n\r\ndata"]))
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/json"
    assert "control character" in response.json()["detail"]


def test_over_long_upload_name_is_shortened_by_bytes_keeping_the_extension(
    hostile: RunningServer,
) -> None:
    for name in ("é" * 200 + ".tar.gz", "a" * 400 + ".txt", "x." + "e" * 300, "🙂" * 100):
        header = f'Content-Disposition: form-data; name="f"; filename="{name}"'.encode()
        response = post_multipart(hostile, multipart([header + b"\r\n\r\nhello"]))
        assert response.status_code == 200, response.text
        field, saved = response.json()["form"][0]
        assert field == "f" and saved["filename"] == name
        stored = saved["saved"]
        assert len(stored.encode()) <= 255
        assert os.path.exists(os.path.join(hostile.save_dir, stored))  # type: ignore[attr-defined]
        extension = os.path.splitext(name)[1]
        if len(extension.encode()) < 100:
            assert stored.endswith(extension), stored
        assert name.startswith(stored[: len(stored) - len(extension)][:10])


# -- 4. only & separates query and form fields ---------------------------------------


def test_semicolon_is_not_a_separator(hostile: RunningServer) -> None:
    with hostile.client() as client:
        query = client.get("/touch/q?a=1;b=2&c=3").json()["query"]
        assert query == [["a", "1;b=2"], ["c", "3"]]
        form = client.post(
            "/touch/f",
            content=b"a=1;b=2&c=3",
            headers={"content-type": "application/x-www-form-urlencoded"},
        ).json()["form"]
        assert form == [["a", "1;b=2"], ["c", "3"]]


def test_urlencoded_form_field_count_is_limited_like_multipart_parts(
    hostile: RunningServer,
) -> None:
    form = {"content-type": "application/x-www-form-urlencoded"}
    with hostile.client() as client:
        many = client.post("/touch/f", content=b"&".join([b"a=1"] * 1001), headers=form)
        assert many.status_code == 413
        assert many.json() == {"detail": "Too many form fields (limit is 1000)"}
        fine = client.post("/touch/f", content=b"&".join([b"a=1"] * 1000), headers=form)
        assert fine.status_code == 200 and len(fine.json()["form"]) == 1000


# -- 5. Response.redirect: valid URIs, unsafe schemes refused -------------------------


@pytest.mark.parametrize(
    ("target", "location"),
    [
        ("/café?x=é", "/caf%C3%A9?x=%C3%A9"),
        ("/a b", "/a%20b"),
        ("/already%20encoded/caf%C3%A9", "/already%20encoded/caf%C3%A9"),
        ("/100%", "/100%25"),
        ("/back\\slash", "/back%5Cslash"),
        ("https://example.com/ü?q=1#frag", "https://example.com/%C3%BC?q=1#frag"),
        ("/a\tb", "/a%09b"),
    ],
)
def test_redirect_location_is_a_valid_uri(
    hostile: RunningServer, target: str, location: str
) -> None:
    response = get(hostile, "/go?to=" + urllib.parse.quote(target, safe=""))
    assert response.status == 302
    assert response.header("location") == location


@pytest.mark.parametrize(
    "target",
    [
        "javascript:alert(1)",
        "JavaScript:alert(1)",
        " javascript:alert(1)",
        "java\tscript:alert(1)",
        "\x01javascript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "vbscript:msgbox(1)",
        "file:///etc/passwd",
    ],
)
def test_unsafe_redirect_schemes_are_refused(hostile: RunningServer, target: str) -> None:
    response = get(hostile, "/go?to=" + urllib.parse.quote(target, safe=""))
    assert response.status == 400
    assert response.header("location") is None
    assert response.header("content-type") == "application/json"
    assert "unsafe redirect" in json.loads(response.body)["detail"]


def test_redirect_and_header_refusals_raise_clear_exceptions() -> None:
    from hyperdjango import DisallowedRedirect
    from hyperdjango.response import Response

    with pytest.raises(DisallowedRedirect, match="scheme 'javascript'"):
        Response.redirect("javascript:alert(1)")
    with pytest.raises(ValueError, match="CR, LF or NUL"):
        Response.redirect("/a\r\nSet-Cookie: x=1")
    with pytest.raises(ValueError, match="CR, LF or NUL"):
        Response(b"", headers={"X-Test": "a\r\nSet-Cookie: x=1"})
    response = Response(b"")
    with pytest.raises(ValueError, match="CR, LF or NUL"):
        response.headers["X-Test"] = "a\nb"
    with pytest.raises(ValueError, match="invalid header name"):
        response.headers["X Test: y\r\nZ"] = "1"
    with pytest.raises(ValueError, match="invalid header name"):
        response.headers.add("Bad:Name", "1")
    assert Response.redirect("https://example.com/x").headers["location"] == "https://example.com/x"
    assert Response.redirect("//cdn.example.com/x").headers["location"] == "//cdn.example.com/x"


def test_header_injection_from_a_returned_tuple_is_refused_not_sent(
    hostile: RunningServer,
) -> None:
    response = get(hostile, "/inject?v=x")
    assert response.status == 500
    assert response.header("set-cookie") is None and response.header("x-echo") is None
    assert "must not contain CR, LF or NUL" in json.loads(response.body)["exception"]
    with hostile.client() as client:  # and the server goes on serving
        assert client.get("/ints/3").status_code == 200


# -- 6. a client that leaves a stream is noticed at once -------------------------------


def wait_for_finally(server: RunningServer, name: str, timeout: float = 15.0) -> float:
    deadline = time.monotonic() + timeout
    with server.client() as client:
        while time.monotonic() < deadline:
            stamp = client.get(f"/finished/{name}").json()["finished_at"]
            if stamp is not None:
                return stamp
            time.sleep(0.05)
    raise AssertionError(f"the generator of {name} was never closed")


@pytest.mark.parametrize(
    ("endpoint", "abrupt"),
    [
        ("slow-sse", False),
        ("slow-sse", True),
        ("slow-stream", False),
        ("slow-sync-stream", True),
    ],
)
def test_disconnect_closes_the_generator_promptly(
    hostile: RunningServer, endpoint: str, abrupt: bool
) -> None:
    name = f"{endpoint}-{'rst' if abrupt else 'fin'}"
    sock = hostile.connect(timeout=10)
    sock.sendall(f"GET /{endpoint}/{name} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    received = b""
    while b"\r\n\r\n" not in received or len(received.split(b"\r\n\r\n", 1)[1]) == 0:
        received += sock.recv(4096)
    assert received.startswith(b"HTTP/1.1 200")
    if abrupt:  # RST instead of FIN
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()
    closed_at = time.monotonic()
    finished_at = wait_for_finally(hostile, name)
    # The generator sleeps 6 s between chunks: finishing well before that
    # shows the disconnect itself was noticed, not the next chunk's write.
    print(f"{name}: finally ran {finished_at - closed_at:.3f} s after the disconnect")
    assert finished_at - closed_at < 2.0, finished_at - closed_at


def test_pipelined_bytes_during_a_stream_are_not_taken_for_a_hang_up(
    hostile: RunningServer,
) -> None:
    """Bytes arriving while a stream waits are kept, not taken for a hang-up (that
    they are then served in order is checked by src/server/connection_tests.rs)."""
    with hostile.connect(timeout=10) as sock:
        sock.sendall(b"GET /slow-stream/piped HTTP/1.1\r\nHost: x\r\n\r\n")
        reader = RawReader(sock)
        while b"tick" not in reader.buffer:
            reader._fill()
        sock.sendall(b"GET /ints/5 HTTP/1.1\r\nHost: x\r\n\r\n")
        time.sleep(0.5)
        with hostile.client() as client:
            assert client.get("/finished/piped").json()["finished_at"] is None


# -- 7. every error body carries its own content type -----------------------------------


def test_range_not_satisfiable_is_labelled_json(hostile: RunningServer) -> None:
    for target in ("/file", "/attachment"):
        response = get(hostile, target, "Range: bytes=1000-2000\r\n")
        assert response.status == 416
        assert response.header("content-type") == "application/json"
        assert response.header("content-disposition") is None
        assert response.header("content-range") == "bytes */100"
        assert json.loads(response.body) == {"detail": "Range Not Satisfiable"}
    partial = get(hostile, "/file", "Range: bytes=0-3\r\n")
    assert partial.status == 206 and partial.body == b"0123"
    assert partial.header("content-type") == "application/octet-stream"


NATIVE_ERRORS = [
    (b"GET /nowhere/at/all HTTP/1.1\r\nHost: x\r\n\r\n", 404),
    (b"DELETE /file HTTP/1.1\r\nHost: x\r\n\r\n", 405),
    (b"POST /touch/x HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\n", 413),
    (b"GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 70000 + b"\r\n\r\n", 431),
    (b"GET /x HTTP/9.9\r\nHost: x\r\n\r\n", 505),
    (b"GET /ok/ HTTP/1.1\r\nHost: x\r\n\r\n", 308),
    (b"POST /touch/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400),
    (b"GET /file HTTP/1.1\r\nHost: x\r\nRange: bytes=500-\r\n\r\n", 416),
    (b"GET /touch/x HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\r\n", 400),
]


@pytest.mark.parametrize(("request_bytes", "status"), NATIVE_ERRORS)
def test_every_error_body_is_labelled(
    hostile: RunningServer, request_bytes: bytes, status: int
) -> None:
    with hostile.connect(timeout=10) as sock:
        sock.sendall(request_bytes)
        response = RawReader(sock).read()
    if status == 505 and response.status == 400:
        status = 400  # an unknown version may be refused as malformed
    assert response.status == status
    if response.body:
        content_type = response.header("content-type")
        assert content_type == "application/json", (status, content_type)
        assert "detail" in json.loads(response.body)


# -- the same guarantees under ASGI (in-process, asgiref) ------------------------------


def test_asgi_adapter_redirects_safely_and_refuses_huge_ints() -> None:
    import asyncio

    from asgiref.testing import ApplicationCommunicator

    from hyperdjango import HyperApp

    app = HyperApp("asgi-hostile")

    @app.get("/{page}")
    async def page(request, page):
        return {"page": page}

    @app.get("/n/{number:int}")
    async def number(request, number):
        return {"digits": len(str(number))}

    async def call(raw_path: bytes, query: bytes = b"") -> tuple[int, dict[bytes, bytes]]:
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": urllib.parse.unquote(raw_path.decode()),
            "raw_path": raw_path,
            "query_string": query,
            "headers": [(b"host", b"testserver")],
            "client": ("192.0.2.10", 5000),
            "server": ("testserver", 80),
        }
        communicator = ApplicationCommunicator(app, scope)
        await communicator.send_input({"type": "http.request", "body": b""})
        start = await communicator.receive_output(10)
        await communicator.wait(10)
        return start["status"], dict(start["headers"])

    async def checks() -> None:
        status, headers = await call(b"/\\evil.com/", b'x="a b"')
        assert status == 308
        assert headers[b"location"] == b"/%5Cevil.com?x=%22a%20b%22"
        assert (await call(b"/n/" + b"9" * 5000))[0] == 404
        assert (await call(b"/n/" + b"9" * 4300))[0] == 200

    asyncio.run(checks())
