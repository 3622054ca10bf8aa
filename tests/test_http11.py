"""Issue point 8: HTTP/1.1 semantics over raw sockets."""

import email.utils
import time

import httpx

from conftest import RawReader, RunningServer, recv_all


def test_keep_alive_is_the_default(server: RunningServer) -> None:
    with server.connect() as sock:
        reader = RawReader(sock)
        for _ in range(3):
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            response = reader.read()
            assert response.status == 200
            assert response.header("connection") == "keep-alive"
            assert response.body == b'{"message":"Hello!"}'


def test_connection_close_is_honoured(server: RunningServer) -> None:
    with server.connect() as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = recv_all(sock)  # returns because the server closed
    assert data.startswith(b"HTTP/1.1 200 ")
    assert b"connection: close" in data.lower()


def test_http_10_closes_by_default(server: RunningServer) -> None:
    with server.connect() as sock:
        sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
        data = recv_all(sock)
    assert data.startswith(b"HTTP/1.0 200 ")
    assert data.endswith(b'{"message":"Hello!"}')


def test_http_10_keep_alive_on_request(server: RunningServer) -> None:
    with server.connect() as sock:
        reader = RawReader(sock)
        for _ in range(2):
            sock.sendall(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            response = reader.read()
            assert response.status == 200
            assert response.header("connection") == "keep-alive"


def test_pipelined_requests_answer_in_order(server: RunningServer) -> None:
    requests = (
        b"".join(b"GET /users/%d HTTP/1.1\r\nHost: x\r\n\r\n" % number for number in range(10))
        + b"GET /async/sleep HTTP/1.1\r\nHost: x\r\n\r\nGET /users/99 HTTP/1.1\r\nHost: x\r\n\r\n"
    )
    with server.connect() as sock:
        sock.sendall(requests)
        reader = RawReader(sock)
        bodies = [reader.read().body for _ in range(12)]
    expected = [b'{"id":%d,"type":"int"}' % number for number in range(10)]
    expected += [b'{"slept":0.05}', b'{"id":99,"type":"int"}']
    assert bodies == expected


def test_chunked_request_body(server: RunningServer) -> None:
    with server.connect() as sock:
        sock.sendall(
            b"POST /echo/bytes HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"5\r\nhello\r\n1;ext=1\r\n \r\n5\r\nworld\r\n0\r\n\r\n"
        )
        response = RawReader(sock).read()
    assert response.status == 200
    assert response.body == b"hello world"


def test_expect_100_continue(server: RunningServer) -> None:
    with server.connect() as sock:
        sock.sendall(
            b"POST /echo/bytes HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n"
        )
        reader = RawReader(sock)
        interim = reader.read()
        assert interim.status == 100
        sock.sendall(b"ping")
        final = reader.read()
    assert final.status == 200
    assert final.body == b"ping"


def test_head_has_get_headers_and_no_body(server: RunningServer) -> None:
    with server.connect() as sock:
        sock.sendall(b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n")
        reader = RawReader(sock)
        head = reader.read(head_only=True)
        get = reader.read()  # would be garbled if HEAD had sent a body
    assert head.status == 200
    assert head.header("content-type") == "application/json"
    assert head.header("content-length") == str(len(get.body))
    assert get.body == b'{"message":"Hello!"}'


def test_date_and_content_length_on_every_response(client: httpx.Client) -> None:
    for path in ["/", "/nope", "/return/str", "/raise/error", "/async/sleep"]:
        response = client.get(path)
        assert "content-length" in response.headers, path
        assert int(response.headers["content-length"]) == len(response.content)
        parsed = email.utils.parsedate_to_datetime(response.headers["date"])
        assert abs(parsed.timestamp() - time.time()) < 60


def test_absolute_form_target_is_served_by_its_path(server: RunningServer) -> None:
    with server.connect() as sock:
        sock.sendall(b"GET http://x/users/7?a=1 HTTP/1.1\r\nHost: x\r\n\r\n")
        response = RawReader(sock).read()
    assert response.status == 200
    assert response.body == b'{"id":7,"type":"int"}'


def test_small_unneeded_body_is_skipped_and_the_connection_kept(server: RunningServer) -> None:
    # The 404 is answered before the body is read; the server then reads past
    # it, so the next request on the same connection parses cleanly.
    with server.connect() as sock:
        sock.sendall(
            b"POST /no/such/path HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello world"
            b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
        )
        reader = RawReader(sock)
        missing = reader.read()
        hello = reader.read()
    assert missing.status == 404
    assert missing.header("connection") == "keep-alive"
    assert hello.status == 200 and hello.body == b'{"message":"Hello!"}'


def test_pipelined_native_and_application_answers_arrive_together(server: RunningServer) -> None:
    requests = b"".join(
        b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path
        for path in [b"/", b"/nope", b"/users/1", b"/nope", b"/"]
    )
    with server.connect() as sock:
        sock.sendall(requests)
        reader = RawReader(sock)
        statuses = [reader.read().status for _ in range(5)]
    assert statuses == [200, 404, 200, 404, 200]
