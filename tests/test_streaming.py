"""Response.stream and Response.sse: chunked bodies, SSE framing, backpressure, disconnects."""

import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from conftest import RunningServer, start_server


@pytest.fixture(scope="module")
def streams() -> Iterator[RunningServer]:
    running = start_server("streams.py")
    yield running
    running.stop()


def state(server: RunningServer) -> dict:
    with server.client() as http:
        return http.get("/state").json()


def test_stream_is_chunked(streams: RunningServer) -> None:
    with streams.client() as http:
        response = http.get("/stream")
    assert response.status_code == 200
    assert response.headers["transfer-encoding"] == "chunked"
    assert "content-length" not in response.headers
    assert response.text == "abc"


def test_sse_framing(streams: RunningServer) -> None:
    with streams.client() as http:
        response = http.get("/sse")
    assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert response.headers["cache-control"] == "no-cache"
    assert (
        response.text
        == "event: tick\nid: 1\nretry: 500\ndata: line1\ndata: line2\n\ndata: plain\n\n"
    )


def test_sse_keepalive_comments(streams: RunningServer) -> None:
    with streams.client() as http:
        text = http.get("/sse-keepalive").text
    assert text.count(": keep-alive\n\n") >= 2
    assert text.endswith("data: late\n\n")


def test_disconnect_closes_the_generator(streams: RunningServer) -> None:
    with httpx.Client(base_url=streams.url, timeout=10) as http:
        with http.stream("GET", "/sse-forever") as response:
            lines = response.iter_lines()
            assert next(lines) == "data: 1"
    deadline = time.monotonic() + 5
    while not state(streams)["sse_closed"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert state(streams)["sse_closed"], (
        "the generator's finally block did not run after the client left"
    )


def test_slow_client_gets_backpressure_not_buffering(streams: RunningServer) -> None:
    sock = streams.connect()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.sendall(b"GET /firehose HTTP/1.1\r\nHost: x\r\n\r\n")
    sock.recv(1024)  # the head arrived; now read nothing
    time.sleep(1.0)
    produced = state(streams)["firehose_bytes"]
    time.sleep(0.5)
    produced_later = state(streams)["firehose_bytes"]
    sock.close()
    # Socket buffers hold a few MB at most; without backpressure a generator this
    # fast would produce gigabytes in 1.5 s.
    assert produced < 64 * 1024 * 1024, f"{produced} bytes produced for a client that reads nothing"
    assert produced_later - produced < 1024 * 1024, (
        "the producer kept running while the client was stalled"
    )
    deadline = time.monotonic() + 5
    while not state(streams)["firehose_closed"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert state(streams)["firehose_closed"]


def test_failing_generator_cuts_the_connection(streams: RunningServer) -> None:
    with httpx.Client(base_url=streams.url, timeout=10) as http, pytest.raises(httpx.HTTPError):
        http.get("/stream-error").read()
    with streams.client() as http:
        assert http.get("/stream").text == "abc"
