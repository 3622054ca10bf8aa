"""Every value a client controls ends in a 4xx or a sane answer, never a 500.

A corpus of hostile values is thrown, over raw sockets, at everything a
client controls: path parameters of every converter, static file paths, the query, header
values, cookies, X-Forwarded-*, Host, bodies (urlencoded, multipart with
hostile names, JSON, text in odd charsets), Range and conditional headers,
methods; once on the plain app and once with every built-in middleware (so
Origin, Referer, the CSRF cookie and header, Accept-Encoding, CORS preflights
reach what reads them). tests/apps/hostile.py reads every accessor. Each
answer must be below 500 with a labelled JSON body when it is an error, the
server must keep serving, and it must log no traceback at all.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterator

import pytest

from conftest import RawReader, RawResponse, RunningServer, start_server

VALUES = [
    "",
    "\x00",
    "%00",
    "%",
    "%%",
    "%zz",
    "%4",
    "%ff%fe",
    "%C0%AF",
    "%ED%A0%80",
    "\\",
    "..",
    "../../etc/passwd",
    "..%2F..%2Fetc%2Fpasswd",
    "é",
    "🙂",
    "\u202eevil",
    "a" * 4000,
    "9" * 5000,
    "-1",
    "1e999",
    "NaN",
    "{{7*7}}",
    "<script>alert(1)</script>",
    "' OR 1=1 --",
    "%0D%0ASet-Cookie:x=1",
    "+",
    ";",
    "&",
    "=",
    "?",
    "#",
    "%2F",
    "%5C",
    "\t",
    " ",
    "\r\n",
    "\x7f",
    "\xff",
]


@pytest.fixture(scope="module", params=["plain", "every-built-in-middleware"])
def hostile(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    save_dir = tmp_path_factory.mktemp("corpus-saves")
    env = {"SAVE_DIR": str(save_dir)}
    if request.param != "plain":
        env["HOSTILE_MIDDLEWARE"] = "1"
    running = start_server("hostile.py", env=env)
    yield running
    running.stop()
    log = "".join(running.output)
    assert "Traceback" not in log, log[-4000:]


def encoded(value: str) -> str:
    """``value`` for a request target: escapes already in it are sent as
    they are (so broken ones reach the decoders), everything else encoded."""
    return urllib.parse.quote(value, safe="%")


def send(server: RunningServer, request: bytes) -> RawResponse:
    with server.connect(timeout=20) as sock:
        sock.sendall(request)
        return RawReader(sock).read()


def check(response: RawResponse, what: object) -> None:
    assert response.status < 500, (what, response.status, response.body[:300])
    if response.status >= 400 and response.body:
        assert response.header("content-type") == "application/json", what
        assert "detail" in json.loads(response.body), what


def request(
    method: str, target: str, headers: list[tuple[str, bytes]] = (), body: bytes = b""
) -> bytes:  # type: ignore[assignment]
    head = f"{method} {target} HTTP/1.1\r\nHost: example.test\r\nConnection: close\r\n".encode()
    for name, value in headers:
        head += name.encode() + b": " + value + b"\r\n"
    if body or method in ("POST", "PUT"):
        head += f"Content-Length: {len(body)}\r\n".encode()
    return head + b"\r\n" + body


def still_serving(server: RunningServer) -> None:
    response = send(server, request("GET", "/ints/1"))
    assert response.status == 200 and json.loads(response.body) == {"number": "1", "digits": 1}


def test_path_parameters_of_every_converter(hostile: RunningServer) -> None:
    uuid = "0b5e7c2e-3c4d-4e5f-8a6b-7c8d9e0f1a2b"
    for value in VALUES:
        segment = encoded(value) or "x"
        for target in (
            f"/touch/{segment}",
            f"/ints/{segment}",
            f"/either/{segment}",
            f"/{segment}",
            f"/{segment}/",
            f"/typed/{segment}/{uuid}/{segment}",
            f"/typed/ok/{segment}/rest",
            f"/typed/ok/{uuid}/{segment}/{segment}",
            f"/r/acct/{segment}/posts/{segment}",
            f"/r/acct/1/files/{segment}",
            f"/static/{segment}",
            f"/static/css/{segment}",
            f"/static/{segment}/site.css",
            f"/assets/{segment}",
            f"/assets/css/{segment}",
        ):
            check(send(hostile, request("GET", target)), target)
    still_serving(hostile)


def test_query_strings(hostile: RunningServer) -> None:
    for value in VALUES:
        text = encoded(value)
        for query in (f"{text}={text}", f"{text}", f"a={text}&{text}=b&&;{text}", f"{text}&" * 50):
            target = f"/touch/q?{query}"
            check(send(hostile, request("GET", target)), target)
        check(send(hostile, request("GET", f"/go?to={text}")), ("go", value))
    still_serving(hostile)


HEADER_VALUES = [
    value.encode("utf-8", "surrogatepass") for value in VALUES if "\r" not in value
] + [
    b"\x80\x81\xfe\xff",
    b"\xc3\x28",
    b"a" * 8000,
    b'"quoted"',
    b"=;=;=",
    b"http://[::1",
    b"https://[/x",
    b"http://a\xff.example/",
]


def test_header_cookie_and_forwarded_values(hostile: RunningServer) -> None:
    for value in HEADER_VALUES:
        for name in (
            "X-Test",
            "Cookie",
            "X-Forwarded-For",
            "X-Forwarded-Proto",
            "Content-Type",
            "Accept",
            "Accept-Encoding",
            "Authorization",
            "Origin",
            "Referer",
            "X-CSRFToken",
            "Access-Control-Request-Method",
            "Access-Control-Request-Headers",
            "User-Agent",
        ):
            check(send(hostile, request("GET", "/touch/h", [(name, value)])), (name, value))
        cookie = b"a=" + value + b"; " + value + b"=b; " + value
        check(send(hostile, request("GET", "/touch/c", [("Cookie", cookie)])), cookie)
        for name in ("Origin", "Referer", "X-CSRFToken", "Cookie"):
            # Unsafe methods, where CSRF reads them, and a CORS preflight.
            check(send(hostile, request("POST", "/touch/p", [(name, value)], b"x")), (name, value))
        preflight = [("Origin", value), ("Access-Control-Request-Method", value)]
        check(send(hostile, request("OPTIONS", "/touch/o", preflight)), ("preflight", value))
        forwarded = b", ".join([value, b"1.2.3.4", value, b"::1", b"[::1]:80", b"unknown"])
        check(
            send(hostile, request("GET", "/touch/f", [("X-Forwarded-For", forwarded)])), forwarded
        )
    for host in (b"", b"evil.com:99999", b"[::1", b"a" * 2000, b"\xff"):
        raw = b"GET /touch/h HTTP/1.1\r\nHost: " + host + b"\r\nConnection: close\r\n\r\n"
        check(send(hostile, raw), host)
    still_serving(hostile)


def test_urlencoded_json_and_text_bodies(hostile: RunningServer) -> None:
    for value in VALUES:
        data = encoded(value).encode()
        for body in (data + b"=" + data, data, b"a=" + data + b"&" + data + b"&&"):
            form = [("Content-Type", b"application/x-www-form-urlencoded")]
            check(send(hostile, request("POST", "/touch/b", form, body)), body)
        raw = value.encode("utf-8", "surrogatepass")
        check(
            send(hostile, request("POST", "/touch/t", [("Content-Type", b"text/plain")], raw)),
            raw,
        )
    json_bodies = [
        b"",
        b"{",
        b"[" * 100_000,
        b"[" * 100_000 + b"]" * 100_000,
        b"9" * 5000,
        b'{"a": NaN, "b": Infinity}',
        b"\xef\xbb\xbf{}",
        '{"a": 1}'.encode("utf-16"),
        b'"\\ud800"',
        b"\xff\xfe",
        b'{"a": 1}{"b": 2}',
        b"null",
    ]
    for body in json_bodies:
        headers = [("Content-Type", b"application/json")]
        check(send(hostile, request("POST", "/touch/j", headers, body)), body[:40])
    charsets = [b"utf-16", b"rot13", b"hex", b"nope", b"", b'"utf-8', b"\x00", b"x" * 500, b"idna"]
    for charset in charsets:
        headers = [("Content-Type", b"text/plain; charset=" + charset)]
        for body in (b"\xff\xfe\xfd", b"plain", b"\x00"):
            check(send(hostile, request("POST", "/touch/t", headers, body)), (charset, body))
    still_serving(hostile)


def test_multipart_bodies(hostile: RunningServer) -> None:
    names = VALUES + ["a" * 300 + ".txt", "C:\\Windows\\x.ini", "\\\\server\\share\\x", "con"]
    for value in names:
        raw = value.encode("utf-8", "surrogatepass")
        for disposition in (
            b'form-data; name="f"; filename="' + raw + b'"',
            b'form-data; name="' + raw + b'"; filename="x.txt"',
            b'form-data; name="' + raw + b'"',
            b"form-data; name=\"f\"; filename*=UTF-8''" + encoded(value).encode(),
        ):
            body = (
                b"--B\r\nContent-Disposition: "
                + disposition
                + b"\r\nContent-Type: text/plain\r\n\r\nhello\r\n--B--\r\n"
            )
            headers = [("Content-Type", b"multipart/form-data; boundary=B")]
            check(send(hostile, request("POST", "/touch/m", headers, body)), disposition)
    for content_type in (
        b"multipart/form-data",
        b"multipart/form-data; boundary=",
        b"multipart/form-data; boundary=" + b"x" * 200,
        b'multipart/form-data; boundary="unclosed',
        b"multipart/form-data; boundary=\xff",
    ):
        body = b'--x\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n--x--\r\n'
        check(
            send(hostile, request("POST", "/touch/m", [("Content-Type", content_type)], body)),
            content_type,
        )
    still_serving(hostile)


def test_range_and_conditional_headers(hostile: RunningServer) -> None:
    values = [
        b"bytes=",
        b"bytes=-",
        b"bytes=0-0,1-1",
        b"bytes=99999999999999999999999-",
        b"bytes=-99999999999999999999",
        b"bytes=5-1",
        b"bytes=-0",
        b"bytes=100-",
        b"items=0-1",
        b"bytes=0-\xff",
        b"bytes = 1 - 2",
        b"*",
        b"W/",
        b'"x", W/"y", *',
        b"Thu, 01 Jan 1970 00:00:00 GMT",
        b"Fri, 31 Dec 99999 23:59:59 GMT",
        b"\xff\xfe",
    ]
    for target in ("/file", "/attachment", "/static/css/site.css", "/assets/css/site.css"):
        for value in values:
            for name in (
                "Range",
                "If-Range",
                "If-None-Match",
                "If-Modified-Since",
                "Accept-Encoding",
            ):
                headers = (
                    [(name, value)]
                    if name != "If-Range"
                    else [("Range", b"bytes=0-1"), (name, value)]
                )
                check(send(hostile, request("GET", target, headers)), (name, value))
    still_serving(hostile)


def test_odd_methods_and_framing(hostile: RunningServer) -> None:
    for method in ("FOO", "get", "G\x00T", "CONNECT", "TRACE", "OPTIONS", "PATCH", "M" * 100):
        check(send(hostile, request(method, "/touch/x")), method)
    for raw in (
        b"POST /touch/x HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
        b"POST /touch/x HTTP/1.1\r\nHost: x\r\nContent-Length: 1e3\r\n\r\n",
        b"POST /touch/x HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n",
        b"POST /touch/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
        b"POST /touch/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffffff\r\n",
        b"GET /touch/x?\x00 HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET touch/x HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET * HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET http://evil.com/touch/x HTTP/1.1\r\nHost: x\r\n\r\n",
    ):
        check(send(hostile, raw), raw)
    still_serving(hostile)
