"""Issue point 8: a corpus of hostile or malformed requests over raw sockets.

Every case must get the listed 4xx/5xx answer and a closed connection, and the
server must go on serving everyone else.
"""

import pytest

from conftest import RunningServer, recv_all

GOOD = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"

CORPUS: list[tuple[str, bytes, int]] = [
    (
        "cl_and_te",
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        400,
    ),
    (
        "te_and_cl",
        b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n",
        400,
    ),
    (
        "duplicate_cl_same",
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
        400,
    ),
    (
        "duplicate_cl_different",
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
        400,
    ),
    ("cl_list", b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3, 3\r\n\r\nabc", 400),
    ("cl_negative", b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", 400),
    ("cl_plus", b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: +3\r\n\r\nabc", 400),
    ("cl_letters", b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", 400),
    (
        "cl_huge",
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n",
        400,
    ),
    (
        "chunk_size_not_hex",
        b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
        400,
    ),
    (
        "chunk_size_overflow",
        b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffffffff\r\nx\r\n0\r\n\r\n",
        400,
    ),
    (
        "chunk_missing_crlf",
        b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcXX0\r\n\r\n",
        400,
    ),
    ("te_unknown", b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 400),
    (
        "te_chunked_not_last",
        b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
        400,
    ),
    (
        "te_coding_before_chunked",
        b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
        501,
    ),
    (
        "te_repeated",
        b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        501,
    ),
    ("te_on_http10", b"POST /echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    ("obs_fold", b"GET / HTTP/1.1\r\nHost: x\r\nX-Folded: a\r\n b\r\n\r\n", 400),
    ("bare_cr_in_value", b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n", 400),
    ("nul_in_value", b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n", 400),
    ("bare_lf_splits_value", b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\nb\r\n\r\n", 400),
    ("nul_in_target", b"GET /a\x00b HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    ("space_before_colon", b"GET / HTTP/1.1\r\nHost : x\r\n\r\n", 400),
    ("bad_header_name", b"GET / HTTP/1.1\r\nHost: x\r\nX(A): y\r\n\r\n", 400),
    ("missing_host", b"GET / HTTP/1.1\r\n\r\n", 400),
    ("duplicate_host", b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
    ("bad_method", b"G@T / HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    ("garbage_request_line", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", 400),
    ("missing_version", b"GET /\r\nHost: x\r\n\r\n", 400),
    ("authority_form", b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", 400),
    ("relative_target", b"GET users HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    ("non_ascii_target", b"GET /caf\xc3\xa9 HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    ("http2_version", b"GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505),
    ("http_1_2", b"GET / HTTP/1.2\r\nHost: x\r\n\r\n", 400),
    (
        "chunk_size_bare_lf",
        b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n",
        400,
    ),
    (
        "chunk_extension_with_nul",
        b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;a\x00\r\nhello\r\n0\r\n\r\n",
        400,
    ),
    ("long_request_line", b"GET /" + b"a" * 10000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
    ("huge_header", b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"v" * 70000 + b"\r\n\r\n", 431),
    (
        "many_headers",
        b"GET / HTTP/1.1\r\nHost: x\r\n"
        + b"".join(b"X-%d: v\r\n" % n for n in range(200))
        + b"\r\n",
        431,
    ),
    (
        "headers_over_total_limit",
        b"GET / HTTP/1.1\r\nHost: x\r\n"
        + b"".join(b"X-%d: %s\r\n" % (n, b"v" * 1000) for n in range(40))
        + b"\r\n",
        431,
    ),
]


@pytest.mark.parametrize(("name", "payload", "status"), CORPUS, ids=[case[0] for case in CORPUS])
def test_hostile_request_is_refused_and_closed(
    server: RunningServer, name: str, payload: bytes, status: int
) -> None:
    with server.connect() as sock:
        try:
            sock.sendall(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass
        reply = recv_all(sock, timeout=5)
    status_line = reply.split(b"\r\n", 1)[0]
    assert status_line.startswith(b"HTTP/1.1 %d " % status), f"{name}: got {status_line!r}"
    # recv_all returned, so the server closed the connection (it would time out otherwise);
    # and no second response was smuggled out of the payload.
    assert reply.count(b"HTTP/1.1 ") == 1, f"{name}: {reply!r}"
    with server.connect() as sock:
        sock.sendall(GOOD)
        assert sock.recv(65536).startswith(b"HTTP/1.1 200 "), f"server stopped serving after {name}"


def test_smuggled_request_after_conflicting_framing_is_not_served(server: RunningServer) -> None:
    smuggle = (
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"0\r\n\r\nGET /count HTTP/1.1\r\nHost: x\r\n\r\n"
    )
    with server.connect() as sock:
        sock.sendall(smuggle)
        reply = recv_all(sock, timeout=5)
    assert reply.count(b"HTTP/1.1 ") == 1
    assert b'"count"' not in reply


def test_slow_header_client_does_not_block_others(server: RunningServer) -> None:
    with server.connect() as slow:
        slow.sendall(b"GET / HTTP/1.1\r\nHo")  # never finishes its head
        with server.connect() as sock:
            sock.sendall(GOOD)
            assert sock.recv(65536).startswith(b"HTTP/1.1 200 ")
