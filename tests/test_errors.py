"""Issue point 7: errors, debug pages, production mode; the server keeps serving."""

import httpx
import pytest

from conftest import RunningServer, recv_all, start_server


def test_unknown_path_is_404_json(client: httpx.Client) -> None:
    response = client.get("/no/such/path")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"detail": "Not Found"}


def test_wrong_method_is_405_with_allow(client: httpx.Client) -> None:
    response = client.delete("/")
    assert response.status_code == 405
    assert response.json() == {"detail": "Method Not Allowed"}
    allowed = {method.strip() for method in response.headers["allow"].split(",")}
    assert {"GET", "HEAD"} <= allowed
    assert "DELETE" not in allowed


def test_options_answers_204_with_allow(client: httpx.Client) -> None:
    response = client.options("/items")
    assert response.status_code == 204
    assert {"GET", "POST"} <= {method.strip() for method in response.headers["allow"].split(",")}


def test_declared_oversized_body_is_413_before_reading(server: RunningServer) -> None:
    # 64 KiB limit in tests/apps/basic.py. Claim 10 MB but send nothing: the
    # answer must come anyway, so the server did not wait to read the body.
    with server.connect() as sock:
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000\r\n\r\n")
        reply = recv_all(sock, timeout=5)
    assert reply.startswith(b"HTTP/1.1 413 ")
    assert b"connection: close" in reply.lower()
    assert b"Request body too large" in reply


def test_expect_continue_oversized_gets_413_not_100(server: RunningServer) -> None:
    with server.connect() as sock:
        sock.sendall(
            b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000\r\nExpect: 100-continue\r\n\r\n"
        )
        reply = recv_all(sock, timeout=5)
    assert reply.startswith(b"HTTP/1.1 413 ")
    assert b"100 Continue" not in reply


def test_chunked_body_cut_off_at_the_limit(server: RunningServer) -> None:
    chunk = b"x" * 16384
    with server.connect() as sock:
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        try:
            for _ in range(8):  # 128 KiB in total, limit is 64 KiB
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            sock.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may close as soon as it answered
        reply = recv_all(sock, timeout=5)
    assert reply.startswith(b"HTTP/1.1 413 ")


def test_body_at_the_limit_is_accepted(client: httpx.Client) -> None:
    payload = b"y" * (64 * 1024)
    assert client.post("/echo/bytes", content=payload).content == payload


def test_malformed_request_is_400_and_closed(server: RunningServer) -> None:
    with server.connect() as sock:
        sock.sendall(b"GARBAGE\r\n\r\n")
        reply = recv_all(sock, timeout=5)
    assert reply.startswith(b"HTTP/1.1 400 ")


def test_handler_exception_debug_page_html(client: httpx.Client) -> None:
    response = client.get("/raise/error", headers={"Accept": "text/html"})
    assert response.status_code == 500
    assert response.headers["content-type"].startswith("text/html")
    assert "ValueError: boom" in response.text
    assert "Traceback" in response.text
    assert "raise_error" in response.text  # the handler's frame


def test_handler_exception_debug_json(client: httpx.Client) -> None:
    response = client.get("/raise/error")
    assert response.status_code == 500
    body = response.json()
    assert body["detail"] == "Internal Server Error"
    assert body["exception"] == "ValueError: boom"
    assert any("raise ValueError" in line for line in body["traceback"])


def test_sync_handler_exception(client: httpx.Client) -> None:
    response = client.get("/sync/error")
    assert response.status_code == 500
    assert response.json()["exception"] == "RuntimeError: sync boom"


def test_server_keeps_serving_after_errors(server: RunningServer, client: httpx.Client) -> None:
    for path in ["/raise/error", "/sync/error", "/return/unserialisable", "/nope"]:
        client.get(path)
    with server.connect() as sock:
        sock.sendall(b"\x00\x01\x02 nonsense\r\n\r\n")
        recv_all(sock, timeout=2)
    assert client.get("/").json() == {"message": "Hello!"}


def test_debug_performance_page_in_debug_mode(client: httpx.Client) -> None:
    response = client.get("/debug/performance")
    assert response.status_code == 200
    stats = response.json()
    assert stats["requests_total"] >= 1
    assert "in_flight" in stats


# -- production mode ------------------------------------------------------------

SECURITY_HEADERS = {
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "strict-origin-when-cross-origin",
}


@pytest.mark.parametrize(
    "path", ["/", "/nope", "/raise/error", "/return/text", "/debug/performance"]
)
def test_prod_security_headers_on_every_response(prod_server: RunningServer, path: str) -> None:
    with prod_server.client() as http:
        response = http.get(path)
        # HSTS only over HTTPS (RFC 6797 §7.2): here, a trusted proxy (loopback) says so.
        secure = http.get(path, headers={"X-Forwarded-Proto": "https"})
    for name, value in SECURITY_HEADERS.items():
        assert response.headers.get(name) == value, (path, name)
        assert secure.headers.get(name) == value, (path, name)
    assert "strict-transport-security" not in response.headers
    assert secure.headers["strict-transport-security"] == "max-age=31536000; includeSubDomains"


def test_prod_hides_tracebacks(prod_server: RunningServer) -> None:
    with prod_server.client() as http:
        response = http.get("/raise/error", headers={"Accept": "text/html"})
    assert response.status_code == 500
    assert response.content == b'{"detail":"Internal Server Error"}'


def test_prod_405_has_security_headers_and_allow(prod_server: RunningServer) -> None:
    with prod_server.client() as http:
        response = http.post("/")
    assert response.status_code == 405
    assert "GET" in response.headers["allow"]
    assert response.headers["x-frame-options"] == "DENY"


def test_prod_disables_debug_endpoints(prod_server: RunningServer) -> None:
    with prod_server.client() as http:
        assert http.get("/debug/performance").status_code == 404
        assert http.get("/debug/anything").status_code == 404


def test_ipv6_host() -> None:
    running = start_server("basic.py", env={"HOST": "::1"})
    try:
        assert running.url.startswith("http://[::1]:")
        with running.client() as http:
            assert http.get("/").json() == {"message": "Hello!"}
    finally:
        running.stop()


def test_max_body_size_is_configurable() -> None:
    running = start_server("basic.py", env={"MAX_BODY_SIZE": "10"})
    try:
        with running.client() as http:
            assert http.post("/echo/bytes", content=b"x" * 10).content == b"x" * 10
            assert http.post("/echo/bytes", content=b"x" * 11).status_code == 413
    finally:
        running.stop()
