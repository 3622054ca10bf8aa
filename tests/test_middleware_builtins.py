"""The native built-ins, served: CORS, Security, Timing, RateLimit, Compression.

Every behaviour is checked twice: with the built-ins leading the chain (the
server runs them natively) and behind a custom middleware (they run from
Python). The answers must be the same.
"""

from __future__ import annotations

import gzip
import re
import zlib
from collections.abc import Iterator

import brotli
import httpx
import pytest

from conftest import RawReader, RunningServer, start_server
from hyperdjango.standalone_middleware import (
    CompressionMiddleware,
    CORSMiddleware,
    RateLimitMiddleware,
    SecurityMiddleware,
)

ORIGIN = "https://mysite.com"


@pytest.fixture(scope="module", params=["native", "python"])
def builtins(request: pytest.FixtureRequest) -> Iterator[RunningServer]:
    running = start_server("middleware_builtins.py", env={"POSITION": request.param})
    yield running
    running.stop()


@pytest.fixture
def http(builtins: RunningServer) -> Iterator[httpx.Client]:
    # No automatic decompression: the tests look at the bytes on the wire.
    with httpx.Client(
        base_url=builtins.url, timeout=10, headers={"Accept-Encoding": "identity"}
    ) as client:
        yield client


def raw_get(server: RunningServer, path: str, *headers: str) -> tuple[RawReader, object]:
    sock = server.connect(timeout=10)
    extra = "".join(f"{header}\r\n" for header in headers)
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n{extra}\r\n".encode())
    reader = RawReader(sock)
    return reader, sock


# -- construction -------------------------------------------------------------------


def test_constructor_errors_are_clear() -> None:
    with pytest.raises(ValueError, match="allow_credentials"):
        CORSMiddleware(origins=["*"], allow_credentials=True)
    with pytest.raises(ValueError, match="scheme and host"):
        CORSMiddleware(origins=["mysite.com"])
    with pytest.raises(ValueError, match="not an HTTP method"):
        CORSMiddleware(origins=[ORIGIN], methods=["GE T"])
    with pytest.raises(ValueError, match="180 days"):
        SecurityMiddleware(hsts_max_age=3600)
    for bad in ["100", "ten/minute", "5/fortnight", "0/second", ""]:
        with pytest.raises(ValueError, match="N/second"):
            RateLimitMiddleware(rate=bad)
    with pytest.raises(ValueError, match="min_size"):
        CompressionMiddleware(min_size=-1)
    with pytest.raises(ValueError, match="level"):
        CompressionMiddleware(level=12)


# -- CORS ------------------------------------------------------------------------


def test_cors_simple_request_from_an_allowed_origin(http: httpx.Client) -> None:
    response = http.get("/", headers={"Origin": ORIGIN})
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == ORIGIN
    assert response.headers["access-control-expose-headers"] == "X-Total"
    assert "Origin" in response.headers["vary"]
    assert "access-control-allow-credentials" not in response.headers


@pytest.mark.parametrize(
    "origin",
    [
        "https://evil.com",
        "null",
        "https://mysite.com.evil.com",
        "https://mysite.com/path",
        "garbage :// origin",
        "x" * 4000,
        "garbage \x01 origin",  # a control character: the request itself is refused (400)
    ],
)
def test_cors_other_origins_get_no_grant(
    builtins: RunningServer, http: httpx.Client, origin: str
) -> None:
    reader, sock = raw_get(builtins, "/", f"Origin: {origin}")
    with sock:  # type: ignore[attr-defined]
        response = reader.read()
    assert response.status == (400 if "\x01" in origin else 200)
    assert response.header("access-control-allow-origin") is None
    assert http.get("/").status_code == 200


def test_cors_preflight_on_any_path_never_runs_a_handler(http: httpx.Client) -> None:
    before = http.get("/runs").json()["count"]
    for path in ["/", "/items", "/no/route/here"]:
        response = http.options(
            path,
            headers={
                "Origin": ORIGIN,
                "Access-Control-Request-Method": "PUT",
                "Access-Control-Request-Headers": "Content-Type, authorization",
            },
        )
        assert response.status_code == 204, path
        assert response.headers["access-control-allow-origin"] == ORIGIN
        assert response.headers["access-control-allow-methods"] == "GET, POST, PUT, DELETE"
        assert response.headers["access-control-allow-headers"] == "authorization, content-type"
        assert response.headers["access-control-max-age"] == "3600"
        assert "Origin" in response.headers["vary"]
    assert http.get("/runs").json()["count"] == before


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({"Origin": "https://evil.com", "Access-Control-Request-Method": "GET"}, "origin"),
        ({"Origin": ORIGIN, "Access-Control-Request-Method": "PATCH"}, "method"),
        (
            {
                "Origin": ORIGIN,
                "Access-Control-Request-Method": "GET",
                "Access-Control-Request-Headers": "X-Secret",
            },
            "headers",
        ),
    ],
)
def test_cors_disallowed_preflights_get_no_grant(
    http: httpx.Client, headers: dict[str, str], reason: str
) -> None:
    response = http.options("/", headers=headers)
    assert response.status_code == 400
    assert reason in response.json()["detail"]
    assert "access-control-allow-origin" not in response.headers
    assert "access-control-allow-methods" not in response.headers


def test_plain_options_is_still_the_routers_answer(http: httpx.Client) -> None:
    response = http.options("/")
    assert response.status_code == 204
    assert "GET" in response.headers["allow"]


# -- Security ----------------------------------------------------------------------


def test_security_headers_on_every_answer_hsts_only_when_secure(http: httpx.Client) -> None:
    for response in (http.get("/"), http.get("/missing"), http.delete("/")):
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "strict-origin-when-cross-origin"
        assert response.headers["content-security-policy"] == "default-src 'self'"
        assert "strict-transport-security" not in response.headers
    assert http.delete("/").status_code == 405
    assert "GET" in http.delete("/").headers["allow"]
    secure = http.get("/missing", headers={"X-Forwarded-Proto": "https"})
    assert secure.status_code == 404
    hsts = secure.headers["strict-transport-security"]
    assert int(re.match(r"max-age=(\d+)", hsts).group(1)) >= 180 * 24 * 3600  # type: ignore[union-attr]
    assert "includeSubDomains" in hsts


def test_security_keeps_the_handlers_own_value(builtins: RunningServer) -> None:
    reader, sock = raw_get(builtins, "/framed")
    with sock:  # type: ignore[attr-defined]
        response = reader.read()
    assert response.header_list("x-frame-options") == ["SAMEORIGIN"]


# -- Timing ------------------------------------------------------------------------


def test_timing_header_is_milliseconds_with_unit(http: httpx.Client) -> None:
    for path in ["/", "/missing", "/big"]:
        value = http.get(path).headers["x-response-time"]
        assert re.fullmatch(r"\d+\.\d{3}ms", value), value


# -- RateLimit (high limit here; the low-limit app is below) -------------------------------


def test_rate_limit_headers_on_allowed_answers(http: httpx.Client) -> None:
    response = http.get("/")
    assert response.headers["ratelimit-limit"] == "1000"
    assert 0 <= int(response.headers["ratelimit-remaining"]) < 1000
    assert 1 <= int(response.headers["ratelimit-reset"]) <= 60


# -- Compression -------------------------------------------------------------------


def test_gzip_with_a_correct_length_and_vary(builtins: RunningServer) -> None:
    reader, sock = raw_get(builtins, "/big", "Accept-Encoding: gzip, deflate")
    with sock:  # type: ignore[attr-defined]
        response = reader.read()
    assert response.header("content-encoding") == "gzip"
    assert int(response.header("content-length") or 0) == len(response.body)
    assert gzip.decompress(response.body) == ("hello compression " * 200).encode()
    assert "Accept-Encoding" in response.header_list("vary")


def test_brotli_preferred_and_q_values_respected(builtins: RunningServer) -> None:
    expected = ("hello compression " * 200).encode()
    cases = {
        "gzip, br": "br",
        "br;q=0.5, gzip": "gzip",
        "br;q=0, gzip;q=0.1": "gzip",
        "gzip;q=0, br;q=0": None,
        "gzip;q=0": None,
        "identity": None,
        "*": "br",
        "BR": "br",
    }
    for accept, encoding in cases.items():
        reader, sock = raw_get(builtins, "/big", f"Accept-Encoding: {accept}")
        with sock:  # type: ignore[attr-defined]
            response = reader.read()
        assert response.header("content-encoding") == encoding, accept
        if encoding == "br":
            assert brotli.decompress(response.body) == expected
        elif encoding is None:
            assert response.body == expected


def test_compression_skips_small_encoded_incompressible_and_files(
    builtins: RunningServer,
) -> None:
    for path in ["/", "/png", "/already-encoded", "/file"]:
        reader, sock = raw_get(builtins, path, "Accept-Encoding: gzip, br")
        with sock:  # type: ignore[attr-defined]
            response = reader.read()
        assert response.header("content-encoding") in (None, "identity-ish"), path
        assert int(response.header("content-length") or 0) == len(response.body)


def test_huge_and_garbage_accept_encoding_are_harmless(
    builtins: RunningServer, http: httpx.Client
) -> None:
    huge = ",".join(["x-nothing"] * 1500) + ", gzip"  # 15 KB: read as absent
    for value in ["gzip;q=" + "9" * 5000, huge, ";;;q==,,,", "gzip;q=-1, br;q=2"]:
        reader, sock = raw_get(builtins, "/big", f"Accept-Encoding: {value}")
        with sock:  # type: ignore[attr-defined]
            response = reader.read()
        assert response.status == 200
        assert response.header("content-encoding") is None
    assert http.get("/").status_code == 200


def test_streams_are_compressed_chunk_by_chunk(builtins: RunningServer) -> None:
    reader, sock = raw_get(builtins, "/stream", "Accept-Encoding: gzip")
    with sock:  # type: ignore[attr-defined]
        response = reader.read()
    assert response.header("content-encoding") == "gzip"
    assert response.header("transfer-encoding") == "chunked"
    text = gzip.decompress(response.body).decode()
    assert text.count("\n") == 50 and text.startswith("line 0 ")


@pytest.mark.parametrize("encoding", ["gzip", "br"])
def test_sse_events_arrive_compressed_as_they_are_sent(
    builtins: RunningServer, encoding: str
) -> None:
    # The second event comes 3 s after the first: the first must be readable
    # (decompressed) before then, so each chunk was flushed on its own.
    sock = builtins.connect(timeout=10)
    with sock:
        sock.sendall(
            f"GET /sse?gap=3 HTTP/1.1\r\nHost: x\r\nAccept-Encoding: {encoding}\r\n\r\n".encode()
        )
        reader = RawReader(sock)
        head = reader.read(head_only=True)
        assert head.header("content-encoding") == encoding
        decoder = (
            zlib.decompressobj(16 + zlib.MAX_WBITS) if encoding == "gzip" else brotli.Decompressor()
        )
        decoded = b""
        while b"data: one" not in decoded:
            size = int(reader._line().split(b";")[0], 16)
            assert size > 0, "the stream ended before the first event"
            chunk = reader._exactly(size)
            reader._exactly(2)
            decoded += decoder.decompress(chunk) if encoding == "gzip" else decoder.process(chunk)
        assert b"event: first" in decoded
        assert b"second" not in decoded


# -- rate limiting with a low limit ------------------------------------------------------


@pytest.fixture(scope="module", params=["native", "python"])
def limited(request: pytest.FixtureRequest) -> Iterator[RunningServer]:
    running = start_server(
        "middleware_builtins.py",
        env={"POSITION": request.param, "RATE": "3/day", "TRUSTED": "none"},
    )
    yield running
    running.stop()


def test_over_the_limit_is_429_and_the_handler_does_not_run(limited: RunningServer) -> None:
    with httpx.Client(base_url=limited.url, timeout=10) as client:
        answers = [client.get("/limited") for _ in range(3)]
        assert [a.status_code for a in answers] == [200, 200, 200]
        assert [a.headers["ratelimit-remaining"] for a in answers] == ["2", "1", "0"]
        refused = client.get("/limited")
        assert refused.status_code == 429
        assert refused.json() == {"detail": "Too Many Requests"}
        assert 1 <= int(refused.headers["retry-after"]) <= 86400
        assert refused.headers["ratelimit-limit"] == "3"
        assert refused.headers["ratelimit-remaining"] == "0"
        assert refused.headers["retry-after"] == refused.headers["ratelimit-reset"]
        # Outer built-ins still apply to the 429 (CORS, Security, Timing run outside it).
        assert refused.headers["x-frame-options"] == "DENY"
        # An untrusted peer cannot dodge the limit by inventing X-Forwarded-For.
        for fake in ["1.2.3.4", "5.6.7.8", "9.9.9.9, 1.1.1.1"]:
            assert client.get("/limited", headers={"X-Forwarded-For": fake}).status_code == 429


def test_trusted_proxy_clients_are_limited_one_by_one(builtins: RunningServer) -> None:
    # Loopback is a trusted proxy by default: each forwarded client has its own count.
    with httpx.Client(base_url=builtins.url, timeout=10) as client:
        first = client.get("/", headers={"X-Forwarded-For": "203.0.113.7"})
        second = client.get("/", headers={"X-Forwarded-For": "203.0.113.8"})
    assert first.headers["ratelimit-remaining"] == "999"
    assert second.headers["ratelimit-remaining"] == "999"
