"""LoggingMiddleware, CSRFMiddleware and StaticFilesMiddleware, served."""

from __future__ import annotations

import gzip
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from conftest import RawReader, RunningServer, start_server
from hyperdjango.standalone_middleware import CSRFMiddleware, LoggingMiddleware
from hyperdjango.staticfiles import StaticFilesMiddleware

CSS = b"body { color: red; }\n" * 20


@pytest.fixture(scope="module")
def static_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("static")
    (root / "css").mkdir()
    (root / "css" / "site.css").write_bytes(CSS)
    (root / "css" / "site.css.gz").write_bytes(gzip.compress(CSS))
    (root / "css" / "site.css.br").write_bytes(b"pretend-brotli")
    (root / "app.3f9a1c2b7d.js").write_text("console.log(1)")
    (root.parent / "secret.txt").write_text("secret")
    return root


@pytest.fixture(scope="module", params=["common", "combined", "json"])
def misc(
    request: pytest.FixtureRequest, static_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[RunningServer, Path]]:
    log_file = tmp_path_factory.mktemp("log") / "access.log"
    running = start_server(
        "middleware_misc.py",
        env={"LOG_FILE": str(log_file), "STATIC_DIR": str(static_dir), "LOG_FORMAT": request.param},
    )
    yield running, log_file
    running.stop()


@pytest.fixture
def server(misc: tuple[RunningServer, Path]) -> RunningServer:
    return misc[0]


@pytest.fixture
def http(server: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=10) as client:
        yield client


def wait_for_line(log_file: Path, needle: str, timeout: float = 10.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if log_file.exists():
            for line in log_file.read_text().splitlines():
                if needle in line:
                    return line
        time.sleep(0.05)
    raise AssertionError(f"no access log line with {needle!r}")


# -- LoggingMiddleware -------------------------------------------------------------------


def test_one_access_line_per_request(
    misc: tuple[RunningServer, Path], http: httpx.Client, request: pytest.FixtureRequest
) -> None:
    _, log_file = misc
    http.get("/?probe=first", headers={"User-Agent": "probe-agent/1.0", "Referer": "http://r/"})
    line = wait_for_line(log_file, "probe=first")
    log_format = request.node.callspec.params["misc"]
    if log_format == "json":
        entry = json.loads(line)
        assert entry["client"] == "127.0.0.1"
        assert entry["method"] == "GET"
        assert entry["target"] == "/?probe=first"
        assert entry["status"] == 200
        assert entry["bytes"] > 0
        assert entry["duration_ms"] >= 0
        assert entry["user_agent"] == "probe-agent/1.0"
        assert entry["referer"] == "http://r/"
    else:
        pattern = (
            r'^127\.0\.0\.1 - - \[[^\]]+\] "GET /\?probe=first HTTP/1\.1" 200 \d+'
            + (r' "http://r/" "probe-agent/1\.0"' if log_format == "combined" else "")
            + r" \d+\.\d{3}ms$"
        )
        assert re.match(pattern, line), line
    http.get("/no/such")
    assert " 404 " in wait_for_line(log_file, "/no/such") or '"status": 404' in wait_for_line(
        log_file, "/no/such"
    )


def test_client_controlled_fields_cannot_forge_lines(
    misc: tuple[RunningServer, Path], http: httpx.Client
) -> None:
    _, log_file = misc
    http.get("/?forge=1", headers={"User-Agent": 'evil" 200 0 "x'})
    line = wait_for_line(log_file, "forge=1")
    assert 'evil" 200' not in line


def test_a_stuck_log_handler_does_not_stall_serving(
    misc: tuple[RunningServer, Path], http: httpx.Client
) -> None:
    _, log_file = misc
    http.get("/log-gate/close")
    try:
        # The handler now blocks every write; requests must still be answered.
        for _ in range(5):
            assert http.get("/?while=blocked").status_code == 200
    finally:
        http.get("/log-gate/open")
    wait_for_line(log_file, "while=blocked")


def test_logging_format_is_checked() -> None:
    with pytest.raises(ValueError, match="format"):
        LoggingMiddleware(format="apache")


# -- CSRFMiddleware -----------------------------------------------------------------------


def token_from(http: httpx.Client) -> str:
    response = http.get("/")
    cookie = response.cookies.get("csrftoken") or http.cookies.get("csrftoken")
    assert cookie
    return cookie


def test_safe_request_sets_a_readable_cookie(http: httpx.Client) -> None:
    response = http.get("/")
    header = response.headers["set-cookie"]
    assert header.startswith("csrftoken=")
    assert "Path=/" in header
    assert "HttpOnly" not in header
    assert response.json()["token"] == response.cookies["csrftoken"]
    # A valid cookie is kept, not replaced.
    again = http.get("/")
    assert "set-cookie" not in again.headers
    assert again.json()["token"] == response.cookies["csrftoken"]


def test_unsafe_request_with_header_or_form_field_passes(http: httpx.Client) -> None:
    token = token_from(http)
    assert http.post("/submit", headers={"X-CSRFToken": token}).status_code == 200
    form = http.post("/submit", data={"csrfmiddlewaretoken": token, "name": "zoe"})
    assert form.status_code == 200
    assert form.json() == {"ok": True, "name": "zoe"}  # the handler still reads the form
    assert http.put("/things/3", headers={"X-CSRFToken": token}).json() == {"id": 3}


def test_unsafe_requests_without_a_good_token_are_refused(server: RunningServer) -> None:
    other = CSRFMiddleware(secret="another-secret").new_token()
    made_up = "a" * 32 + "." + "b" * 64
    cases = [
        ({}, {}, "cookie not set"),
        ({"csrftoken": "garbage"}, {"X-CSRFToken": "garbage"}, "not a token"),
        ({"csrftoken": other}, {"X-CSRFToken": other}, "not a token"),
        ({"csrftoken": made_up}, {"X-CSRFToken": made_up}, "not a token"),
    ]
    with httpx.Client(base_url=server.url, timeout=10) as fresh:
        good = token_from(fresh)
    cases += [
        ({"csrftoken": good}, {}, "token missing"),
        (
            {"csrftoken": good},
            {"X-CSRFToken": good[:-1] + ("1" if good[-1] == "0" else "0")},
            "incorrect",
        ),
        ({"csrftoken": good}, {"X-CSRFToken": good, "Origin": "https://evil.com"}, "origin"),
        ({"csrftoken": good}, {"X-CSRFToken": good, "Origin": "null"}, "origin"),
        ({"csrftoken": good}, {"X-CSRFToken": good, "Referer": "https://evil.com/x"}, "Referer"),
        ({"csrftoken": good}, {"X-CSRFToken": good, "Referer": "not a url"}, "Referer"),
    ]
    for cookies, headers, reason in cases:
        with httpx.Client(base_url=server.url, timeout=10, cookies=cookies) as client:
            response = client.post("/submit", headers=headers)
        assert response.status_code == 403, (cookies, headers)
        assert reason in response.json()["detail"], response.json()
    with httpx.Client(base_url=server.url, timeout=10, cookies={"csrftoken": good}) as client:
        own = client.post("/submit", headers={"X-CSRFToken": good, "Origin": server.url})
        assert own.status_code == 200


def test_exempt_handler_and_garbage_cookies(server: RunningServer, http: httpx.Client) -> None:
    assert http.post("/webhook", json={"event": "x"}).json() == {"hooked": True}
    with server.connect() as sock:
        sock.sendall(
            b'GET / HTTP/1.1\r\nHost: x\r\nCookie: ;;;=;; csrftoken=%%%; a"b=\\; =\r\n\r\n'
        )
        response = RawReader(sock).read()
    assert response.status == 200
    assert (response.header("set-cookie") or "").startswith("csrftoken=")
    assert http.get("/").status_code == 200


def test_empty_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="secret"):
        CSRFMiddleware(secret="")


# -- StaticFilesMiddleware ---------------------------------------------------------------


def test_static_file_with_etag_cache_control_and_304(http: httpx.Client) -> None:
    response = http.get("/static/css/site.css", headers={"Accept-Encoding": "identity"})
    assert response.status_code == 200
    assert response.content == CSS
    assert response.headers["content-type"] == "text/css; charset=utf-8"
    assert response.headers["cache-control"] == "public, max-age=3600"
    etag = response.headers["etag"]
    again = http.get(
        "/static/css/site.css", headers={"If-None-Match": etag, "Accept-Encoding": "identity"}
    )
    assert again.status_code == 304
    modified = http.get(
        "/static/css/site.css",
        headers={
            "If-Modified-Since": response.headers["last-modified"],
            "Accept-Encoding": "identity",
        },
    )
    assert modified.status_code == 304


def test_hashed_names_are_immutable(http: httpx.Client) -> None:
    response = http.get("/static/app.3f9a1c2b7d.js")
    assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert response.text == "console.log(1)"


def test_precompressed_siblings(server: RunningServer) -> None:
    for accept, encoding, body in [
        ("gzip", "gzip", CSS),
        ("br, gzip", "br", b"pretend-brotli"),
        ("gzip, br;q=0", "gzip", CSS),
        ("identity", None, CSS),
    ]:
        with server.connect() as sock:
            sock.sendall(
                f"GET /static/css/site.css HTTP/1.1\r\nHost: x\r\nAccept-Encoding: {accept}\r\n\r\n".encode()
            )
            response = RawReader(sock).read()
        assert response.header("content-encoding") == encoding, accept
        assert response.header("content-type") == "text/css; charset=utf-8"
        assert "Accept-Encoding" in (response.header("vary") or "")
        sent = gzip.decompress(response.body) if encoding == "gzip" else response.body
        assert sent == body


def test_static_misses_and_traversal_fall_through_to_404(server: RunningServer) -> None:
    for target in [
        "/static/missing.css",
        "/static/../secret.txt",
        "/static/%2e%2e/secret.txt",
        "/static/css/..%2f..%2fsecret.txt",
        "/static/css",
    ]:
        with server.connect() as sock:
            sock.sendall(f"GET {target} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            response = RawReader(sock).read()
        assert response.status in (400, 404), target
        assert b"secret" not in response.body


def test_static_folder_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="does not exist"):
        StaticFilesMiddleware(tmp_path / "nope")


def test_rate_limit_key_function(http: httpx.Client) -> None:
    first = [http.get("/", headers={"X-Api-Key": "k1"}) for _ in range(2)]
    other = http.get("/", headers={"X-Api-Key": "k2"})
    assert [r.headers["ratelimit-remaining"] for r in first] == ["999", "998"]
    assert other.headers["ratelimit-remaining"] == "999"
