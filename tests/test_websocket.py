"""WebSockets served for real: the `websockets` client library and raw frames.

tests/apps/websockets_app.py is the app. Raw-socket helpers below speak
RFC 6455 by hand for what a well-behaved client library would never send.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import socket
import struct
import time
from collections.abc import Iterator

import httpx
import pytest
import websockets
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory
from websockets.sync.client import connect

from conftest import RawReader, RunningServer, recv_all, start_server

KEY = base64.b64encode(os.urandom(16)).decode()


@pytest.fixture(scope="module", params=["uvloop", "asyncio"])
def ws_server(request: pytest.FixtureRequest) -> Iterator[RunningServer]:
    """The app on each event loop HYPERDJANGO_LOOP offers: every test runs on both."""
    running = start_server("websockets_app.py", env={"HYPERDJANGO_LOOP": request.param})
    running.loop = request.param  # type: ignore[attr-defined]
    yield running
    running.stop()


def test_served_on_the_chosen_event_loop(ws_server: RunningServer) -> None:
    chosen = ws_server.loop  # type: ignore[attr-defined]
    assert any(f"{chosen} loop;" in line for line in ws_server.output), ws_server.output
    module = httpx.get(f"{ws_server.url}/loop", timeout=10).json()["module"]
    assert module.split(".")[0] == chosen


def url(server: RunningServer, path: str) -> str:
    return f"ws://{server.host}:{server.port}{path}"


# -- raw protocol helpers --------------------------------------------------------


def upgrade_request(
    path: str, *, version: str = "HTTP/1.1", extra: str = "", key: str = KEY
) -> bytes:
    lines = [
        f"GET {path} {version}",
        "Host: test",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
    ]
    text = "\r\n".join(lines) + "\r\n" + extra + "\r\n"
    return text.encode()


def frame(
    opcode: int, payload: bytes = b"", *, fin: bool = True, rsv: int = 0, mask: bool = True
) -> bytes:
    first = (0x80 if fin else 0) | (rsv << 4) | opcode
    length = len(payload)
    if length < 126:
        head = struct.pack("!BB", first, (0x80 if mask else 0) | length)
    elif length < 65536:
        head = struct.pack("!BBH", first, (0x80 if mask else 0) | 126, length)
    else:
        head = struct.pack("!BBQ", first, (0x80 if mask else 0) | 127, length)
    if not mask:
        return head + payload
    key = os.urandom(4)
    masked = bytes(byte ^ key[index % 4] for index, byte in enumerate(payload))
    return head + key + masked


def close_frame(code: int, reason: bytes = b"") -> bytes:
    return frame(0x8, struct.pack("!H", code) + reason)


class RawWebSocket:
    """A hand-driven client connection after a successful handshake."""

    def __init__(self, server: RunningServer, path: str, first_frames: bytes = b"") -> None:
        self.sock = server.connect(timeout=10)
        self.sock.sendall(upgrade_request(path) + first_frames)
        self.reader = RawReader(self.sock)
        response = self.reader.read(head_only=True)
        assert response.status == 101, response

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def read_frame(self) -> tuple[int, bytes]:
        first, second = self.reader._exactly(2)
        assert second & 0x80 == 0, "server frames are never masked"
        length = second & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", self.reader._exactly(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", self.reader._exactly(8))
        return first & 0x0F, self.reader._exactly(length)

    def expect_close(self, code: int) -> None:
        """The next frame is a close with ``code``; then the server closes TCP."""
        opcode, payload = self.read_frame()
        assert opcode == 0x8, (opcode, payload)
        assert struct.unpack("!H", payload[:2])[0] == code, payload
        self.send(close_frame(code if code not in (1005, 1006) else 1000))
        # Exactly one close frame, then the end of the stream.
        rest = self.reader.buffer + recv_all(self.sock, timeout=5)
        assert rest == b"", rest

    def close(self) -> None:
        self.sock.close()


# -- the spec's API --------------------------------------------------------------


def test_echo_text_and_binary(ws_server: RunningServer) -> None:
    with connect(url(ws_server, "/echo")) as ws:
        ws.send("hello")
        assert ws.recv() == "hello"
        ws.send(b"\x00\x01binary")
        assert ws.recv() == b"\x00\x01binary"
        big = "é" * 300_000
        ws.send(big)
        assert ws.recv() == big


def test_send_awaitable_however_awaited_and_iteration_ends_cleanly(
    ws_server: RunningServer,
) -> None:
    with connect(url(ws_server, "/send-styles")) as ws:
        sent = [ws.recv(timeout=10) for _ in range(6)]
        assert sent == ["await", "task", "group", "gather-1", "gather-2", "wait_for"]
        for pair in (("a", "b"), ("c", "d")):
            ws.send(pair[0])
            ws.send(pair[1])
            assert ws.recv(timeout=10) == "+".join(pair)
    deadline = time.monotonic() + 10
    while not httpx.get(f"{ws_server.url}/send-styles-ended").json()["ended"]:
        assert time.monotonic() < deadline, "async for did not end when the client closed"
        time.sleep(0.05)


def test_typed_path_params_and_upgrade_request(ws_server: RunningServer) -> None:
    headers = {"X-Token": "secret", "Cookie": "session=abc"}
    with connect(url(ws_server, "/room/lobby/42?q=search"), additional_headers=headers) as ws:
        data = json.loads(ws.recv())
    assert data == {
        "name": "lobby",
        "number": 42,
        "number_type": "int",
        "query": "search",
        "header": "secret",
        "cookie": "abc",
        "client_ip": "127.0.0.1",
    }


def test_path_with_both_http_and_websocket_handlers(ws_server: RunningServer) -> None:
    assert httpx.get(ws_server.url + "/both").json() == {"via": "http"}
    with connect(url(ws_server, "/both")) as ws:
        assert ws.recv() == "via websocket"


def test_router_websocket_routes_are_included_with_prefix(ws_server: RunningServer) -> None:
    with connect(url(ws_server, "/api/feed/7")) as ws:
        assert ws.recv() == "feed 7"


def test_plain_get_to_websocket_only_route_is_426(ws_server: RunningServer) -> None:
    response = httpx.get(ws_server.url + "/echo")
    assert response.status_code == 426
    assert response.headers["upgrade"] == "websocket"
    assert response.headers["sec-websocket-version"] == "13"


@pytest.mark.parametrize("path", ["/nowhere", "/room/lobby/not-a-number", "/api/feed/x"])
def test_unknown_path_or_typed_mismatch_is_404_without_hanging(
    ws_server: RunningServer, path: str
) -> None:
    with pytest.raises(InvalidStatus) as error:
        with connect(url(ws_server, path), open_timeout=10):
            pass
    assert error.value.response.status_code == 404


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (upgrade_request("/echo", key="c2hvcnQ="), 400),
        (upgrade_request("/echo").replace(f"Sec-WebSocket-Key: {KEY}\r\n".encode(), b""), 400),
        (upgrade_request("/echo").replace(b"Version: 13", b"Version: 8"), 426),
        (upgrade_request("/echo", version="HTTP/1.0"), 400),
        (upgrade_request("/echo").replace(b"Connection: Upgrade", b"Connection: keep-alive"), 400),
    ],
)
def test_bad_handshakes_are_refused(
    ws_server: RunningServer, request_bytes: bytes, status: int
) -> None:
    with ws_server.connect() as sock:
        sock.sendall(request_bytes)
        response = RawReader(sock).read()
    assert response.status == status
    if status == 426:
        assert response.header("sec-websocket-version") == "13"
    # The server keeps serving everyone else.
    with connect(url(ws_server, "/echo")) as ws:
        ws.send("still here")
        assert ws.recv() == "still here"


def test_subprotocol_in_server_preference_order(ws_server: RunningServer) -> None:
    with connect(url(ws_server, "/protocols"), subprotocols=["v1.chat", "v2.chat"]) as ws:
        assert ws.subprotocol == "v2.chat"
        assert ws.recv() == "v2.chat"
    with connect(url(ws_server, "/protocols"), subprotocols=["v1.chat"]) as ws:
        assert ws.recv() == "v1.chat"
    with connect(url(ws_server, "/protocols")) as ws:
        assert ws.subprotocol is None
        assert ws.recv() == "None"


def test_explicit_accept_with_subprotocol_and_refusal(ws_server: RunningServer) -> None:
    with connect(url(ws_server, "/explicit?proto=custom"), subprotocols=["custom"]) as ws:
        assert ws.subprotocol == "custom"
        assert ws.recv() == "accepted"
    with pytest.raises(InvalidStatus) as error:
        with connect(url(ws_server, "/explicit?deny=1")):
            pass
    assert error.value.response.status_code == 403


def test_origin_allow_list(ws_server: RunningServer) -> None:
    with connect(url(ws_server, "/origins"), origin="https://good.example") as ws:
        assert ws.recv() == "welcome"
    for origin in ("https://evil.example", None):
        with pytest.raises(InvalidStatus) as error:
            with connect(url(ws_server, "/origins"), origin=origin):
                pass
        assert error.value.response.status_code == 403


def test_receive_timeout_keeps_the_connection_and_disconnect_carries_code(
    ws_server: RunningServer,
) -> None:
    with connect(url(ws_server, "/timeout")) as ws:
        assert ws.recv(timeout=10) == "timed out"
        ws.send("ping?")
        assert ws.recv(timeout=10) == "still usable: ping?"
        ws.close(code=4001, reason="client done")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        last = httpx.get(ws_server.url + "/last-disconnect").json()["last"]
        if last:
            break
        time.sleep(0.05)
    assert last == [4001, "client done"]


def test_json_helpers(ws_server: RunningServer) -> None:
    with connect(url(ws_server, "/json")) as ws:
        ws.send(json.dumps({"a": [1, 2]}))
        assert json.loads(ws.recv()) == {"got": {"a": [1, 2]}}


def test_handler_return_closes_1000(ws_server: RunningServer) -> None:
    with connect(url(ws_server, "/returns")) as ws:
        assert ws.recv() == "bye"
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1000


def test_handler_exception_closes_1011_logged_and_server_keeps_serving(
    ws_server: RunningServer,
) -> None:
    with connect(url(ws_server, "/raises")) as ws:
        assert ws.recv() == "about to fail"
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1011
    ws_server.wait_for_output("handler failure on purpose", 5, what="the exception's log line")
    with connect(url(ws_server, "/echo")) as ws:
        ws.send("after")
        assert ws.recv() == "after"


def test_close_with_code_and_reason(ws_server: RunningServer) -> None:
    with connect(url(ws_server, "/close-custom")) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=10)
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (4000, "custom reason")


def test_concurrent_sends_never_interleave(ws_server: RunningServer) -> None:
    with connect(url(ws_server, "/concurrent"), max_size=None) as ws:
        received = []
        while (message := ws.recv(timeout=30)) != "done":
            received.append(message)
    assert len(received) == 80
    for message in received:
        body = message.rstrip("0123456789")
        assert len(body) == 50_000 and body == body[0] * 50_000, message[:20]
    for tag in "abcd":
        indexes = [int(m[50_000:]) for m in received if m[0] == tag]
        assert indexes == list(range(20))


def test_send_waits_when_the_client_does_not_read(ws_server: RunningServer) -> None:
    raw = RawWebSocket(ws_server, "/flood")
    raw.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    time.sleep(4)  # read nothing: the server's send() must stall, not buffer 128 MB
    sent = httpx.get(ws_server.url + "/flood-result", timeout=10).json()["sent"]
    raw.close()
    assert sent is not None, "send() never waited"
    assert sent < 200, sent


# -- protocol, natively ------------------------------------------------------------


def test_frames_sent_with_the_handshake_are_not_lost(ws_server: RunningServer) -> None:
    raw = RawWebSocket(ws_server, "/echo", first_frames=frame(0x1, b"early") + frame(0x2, b"bird"))
    assert raw.read_frame() == (0x1, b"early")
    assert raw.read_frame() == (0x2, b"bird")
    raw.send(close_frame(1000))
    assert raw.read_frame()[0] == 0x8
    raw.close()


def test_ping_is_answered_with_pong_and_fragments_reassembled(ws_server: RunningServer) -> None:
    raw = RawWebSocket(ws_server, "/echo")
    raw.send(frame(0x9, b"are you there"))
    assert raw.read_frame() == (0xA, b"are you there")
    raw.send(frame(0x1, b"frag", fin=False))
    raw.send(frame(0x9, b"in between"))
    raw.send(frame(0x0, b"ment", fin=False))
    raw.send(frame(0x0, "ed é".encode()[:-1], fin=False))
    raw.send(frame(0x0, "é".encode()[-1:], fin=True))
    assert raw.read_frame() == (0xA, b"in between")
    assert raw.read_frame() == (0x1, "fragmented é".encode())
    raw.send(close_frame(1000, b"done"))
    opcode, payload = raw.read_frame()
    assert (opcode, payload[:2]) == (0x8, struct.pack("!H", 1000))
    assert recv_all(raw.sock, timeout=5) == b""
    raw.close()


def test_close_handshake_echoes_code_once_then_closes_tcp(ws_server: RunningServer) -> None:
    for code in (1000, 1001, 3000, 4999):
        raw = RawWebSocket(ws_server, "/echo")
        raw.send(close_frame(code, b"bye"))
        opcode, payload = raw.read_frame()
        assert opcode == 0x8 and struct.unpack("!H", payload[:2])[0] == code
        assert raw.reader.buffer + recv_all(raw.sock, timeout=5) == b""
        raw.close()
    raw = RawWebSocket(ws_server, "/echo")
    raw.send(frame(0x8))  # no status code: an empty close comes back
    assert raw.read_frame() == (0x8, b"")
    raw.close()


VIOLATIONS = [
    ("unmasked frame", "/echo", frame(0x1, b"hi", mask=False), 1002),
    ("rsv1 without extension", "/uncompressed", frame(0x1, b"hi", rsv=4), 1002),
    ("rsv2", "/echo", frame(0x1, b"hi", rsv=2), 1002),
    ("rsv3", "/echo", frame(0x2, b"hi", rsv=1), 1002),
    ("reserved data opcode", "/echo", frame(0x3), 1002),
    ("reserved control opcode", "/echo", frame(0xB), 1002),
    ("fragmented ping", "/echo", frame(0x9, b"x", fin=False), 1002),
    ("oversized ping", "/echo", frame(0x9, b"x" * 126), 1002),
    ("continuation without start", "/echo", frame(0x0, b"x"), 1002),
    (
        "new message inside a fragmented one",
        "/echo",
        frame(0x1, b"a", fin=False) + frame(0x1, b"b"),
        1002,
    ),
    ("close with one byte", "/echo", frame(0x8, b"\x03"), 1002),
    ("bad close code 1005", "/echo", close_frame(1005), 1002),
    ("bad close code 2000", "/echo", close_frame(2000), 1002),
    ("invalid UTF-8", "/echo", frame(0x1, b"\xce\xba\xff"), 1007),
    ("UTF-8 cut at the end", "/echo", frame(0x1, b"ok\xe2\x82"), 1007),
    ("invalid UTF-8 in a first fragment", "/echo", frame(0x1, b"\xed\xa0\x80", fin=False), 1007),
    ("invalid UTF-8 close reason", "/echo", close_frame(1000, b"\xc0"), 1007),
    ("message over the limit", "/echo/limited", frame(0x2, b"x" * 2000), 1009),
    (
        "fragmented message over the limit",
        "/echo/limited",
        frame(0x1, b"x" * 600, fin=False) + frame(0x0, b"x" * 600),
        1009,
    ),
]


@pytest.mark.parametrize(
    ("name", "path", "data", "code"), VIOLATIONS, ids=[v[0] for v in VIOLATIONS]
)
def test_protocol_violations_get_their_close_code(
    ws_server: RunningServer, name: str, path: str, data: bytes, code: int
) -> None:
    raw = RawWebSocket(ws_server, path)
    raw.send(data)
    raw.expect_close(code)
    raw.close()


def test_oversized_declared_length_fails_before_the_payload(ws_server: RunningServer) -> None:
    raw = RawWebSocket(ws_server, "/echo/limited")
    # Only the header of a 1 GiB frame: refused at once, nothing buffered.
    raw.send(struct.pack("!BBQ", 0x82, 0x80 | 127, 1 << 30) + b"mask")
    raw.expect_close(1009)
    raw.close()


def test_invalid_utf8_fails_fast_before_the_frame_ends(ws_server: RunningServer) -> None:
    raw = RawWebSocket(ws_server, "/echo")
    whole = frame(0x1, b"valid " + b"\xf4\x90\x80\x80" + b"x" * 100)
    raw.send(whole[: 6 + 8])  # header + mask + "valid " + 2 bad bytes; the rest never comes
    raw.expect_close(1007)
    raw.close()


def test_server_pings_and_reaps_a_dead_peer(ws_server: RunningServer) -> None:
    raw = RawWebSocket(ws_server, "/pinged")
    opcode, payload = raw.read_frame()
    assert opcode == 0x9
    # Never answer: closed with 1011 once the ping timeout passes.
    while opcode == 0x9:
        opcode, payload = raw.read_frame()
    assert opcode == 0x8 and struct.unpack("!H", payload[:2])[0] == 1011
    raw.close()
    # A client that answers (the library does) stays connected across pings.
    with connect(url(ws_server, "/pinged")) as ws:
        time.sleep(1.5)
        ws.send("alive")
        assert ws.recv(timeout=10) == "alive"


# -- permessage-deflate ------------------------------------------------------------


@pytest.mark.parametrize(
    "factory",
    [
        ClientPerMessageDeflateFactory(),
        ClientPerMessageDeflateFactory(
            server_no_context_takeover=True, client_no_context_takeover=True
        ),
        ClientPerMessageDeflateFactory(server_max_window_bits=9, client_max_window_bits=10),
        ClientPerMessageDeflateFactory(server_max_window_bits=8),
    ],
    ids=["defaults", "no-context-takeover", "window-bits", "window-bits-8"],
)
def test_permessage_deflate(
    ws_server: RunningServer, factory: ClientPerMessageDeflateFactory
) -> None:
    with connect(url(ws_server, "/echo"), extensions=[factory], compression=None) as ws:
        extensions = ws.response.headers["Sec-WebSocket-Extensions"]
        assert extensions.startswith("permessage-deflate")
        for index in range(5):
            message = json.dumps({"index": index, "text": "compressible " * 200})
            ws.send(message)
            assert ws.recv() == message
            ws.send(message.encode())
            assert ws.recv() == message.encode()


def test_compression_can_be_disabled_per_route(ws_server: RunningServer) -> None:
    with connect(url(ws_server, "/uncompressed")) as ws:
        assert "Sec-WebSocket-Extensions" not in ws.response.headers
        ws.send("plain")
        assert ws.recv() == "plain"


# -- publish / subscribe -----------------------------------------------------------


def test_publish_fans_out_to_subscribers_only(ws_server: RunningServer) -> None:
    with contextlib.ExitStack() as stack:
        members = [stack.enter_context(connect(url(ws_server, "/chat/red"))) for _ in range(3)]
        other = stack.enter_context(connect(url(ws_server, "/chat/blue")))
        for ws in [*members, other]:
            assert ws.recv() == "joined"
        response = httpx.post(ws_server.url + "/announce/red", content=b"from http")
        assert response.json() == {"delivered_to": 3}
        for ws in members:
            assert ws.recv(timeout=10) == "from http"
        members[0].send("from a socket")
        for ws in members:
            assert ws.recv(timeout=10) == "from a socket"
        members[1].send("leave")
        assert members[1].recv(timeout=10) == "left"
        assert httpx.post(ws_server.url + "/announce/red", content=b"x").json() == {
            "delivered_to": 2
        }
        with pytest.raises(TimeoutError):
            other.recv(timeout=0.3)
    # Closed connections leave their topics.
    deadline = time.monotonic() + 10
    while httpx.post(ws_server.url + "/announce/red", content=b"x").json()["delivered_to"]:
        assert time.monotonic() < deadline
        time.sleep(0.05)


# -- load --------------------------------------------------------------------------


def test_200_concurrent_clients_with_http_keep_alive_alongside(ws_server: RunningServer) -> None:
    async def client(index: int) -> int:
        async with websockets.connect(url(ws_server, "/echo"), open_timeout=60) as ws:
            for round_number in range(5):
                message = f"client {index} round {round_number}"
                await ws.send(message)
                assert await asyncio.wait_for(ws.recv(), 60) == message
        return index

    async def http_traffic() -> int:
        async with httpx.AsyncClient(base_url=ws_server.url, timeout=30) as http:
            for _ in range(100):
                assert (await http.get("/both")).json() == {"via": "http"}
        return 100

    async def main() -> list[int]:
        return await asyncio.gather(http_traffic(), *(client(index) for index in range(200)))

    results = asyncio.run(main())
    assert sorted(results[1:]) == list(range(200))


def test_graceful_shutdown_closes_sockets_with_1001() -> None:
    running = start_server("websockets_app.py")
    try:
        with connect(url(running, "/echo")) as ws:
            ws.send("before")
            assert ws.recv() == "before"
            running.process.terminate()
            with pytest.raises(ConnectionClosed) as closed:
                ws.recv(timeout=15)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
        assert running.process.wait(15) == 0
    finally:
        running.stop()


# -- production mode -------------------------------------------------------------

SECURITY_HEADERS = {
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "strict-origin-when-cross-origin",
}
HSTS = "max-age=31536000; includeSubDomains"


@pytest.fixture(scope="module")
def ws_prod_server() -> Iterator[RunningServer]:
    running = start_server("websockets_app.py", env={"PROD": "1"})
    yield running
    running.stop()


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (upgrade_request("/echo", key="c2hvcnQ="), 400),
        (upgrade_request("/echo").replace(b"Version: 13", b"Version: 8"), 426),
        (upgrade_request("/echo", version="HTTP/1.0"), 400),
        (upgrade_request("/origins", extra="Origin: https://evil.example\r\n"), 403),
        (upgrade_request("/explicit?deny=1"), 403),
        (upgrade_request("/nowhere"), 404),
        (b"GET /echo HTTP/1.1\r\nHost: test\r\n\r\n", 426),
    ],
)
def test_prod_handshake_refusals_carry_the_security_headers(
    ws_prod_server: RunningServer, request_bytes: bytes, status: int
) -> None:
    forwarded = request_bytes.replace(b"\r\n\r\n", b"\r\nX-Forwarded-Proto: https\r\n\r\n", 1)
    for raw, secure in ((request_bytes, False), (forwarded, True)):
        with ws_prod_server.connect() as sock:
            sock.sendall(raw)
            response = RawReader(sock).read()
        assert response.status == status
        for name, value in SECURITY_HEADERS.items():
            assert response.header(name) == value, (status, name)
        # HSTS only when a trusted proxy (loopback, by default) says https.
        assert response.header("strict-transport-security") == (HSTS if secure else None)
    with connect(url(ws_prod_server, "/echo")) as ws:
        ws.send("served")
        assert ws.recv() == "served"
