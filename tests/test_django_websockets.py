"""WebSocket upgrades under ``manage.py runziserver``: the native server does the
protocol and hands each connection to the project's ``ASGI_APPLICATION``
(tests/django_project/mysite/websockets.py: a raw ASGI app, and a Channels
``WebsocketConsumer``) as an ASGI ``websocket`` scope."""

from __future__ import annotations

import json
import signal
import socket
import sys
import time
from collections.abc import Iterator

import httpx
import pytest
from servers import free_port, start_command
from test_django_bridge import PROJECT, manage
from test_websocket import RawWebSocket
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from conftest import RawReader, RunningServer

KEY = "dGhlIHNhbXBsZSBub25jZQ=="


@pytest.fixture(scope="module")
def django_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("django-ws")
    env = {"DJANGO_DB": str(folder / "db.sqlite3"), "SIGNAL_DIR": str(folder)}
    manage(env, "migrate", "--noinput", "-v", "0")
    return env


def runziserver(env: dict[str, str]) -> RunningServer:
    port = free_port()
    command = [
        sys.executable,
        "manage.py",
        "runziserver",
        f"127.0.0.1:{port}",
        "--noreload",
        "--threads",
        "2",
    ]
    return start_command(command, port, env=env, cwd=PROJECT)


@pytest.fixture(scope="module")
def server(django_env: dict[str, str]) -> Iterator[RunningServer]:
    running = runziserver(django_env)
    yield running
    running.stop()


def url(server: RunningServer, path: str) -> str:
    return f"ws://127.0.0.1:{server.port}{path}"


def test_the_upgrade_arrives_as_an_asgi_websocket_scope(server: RunningServer) -> None:
    headers = {"X-Token": "secret", "Cookie": "a=1"}
    with connect(
        url(server, "/ws/ech%6F?x=1&y=%20"),
        subprotocols=["chat.v1", "chat.v2"],
        additional_headers=headers,
    ) as ws:
        assert ws.subprotocol == "chat.v1"  # the application's choice
        scope = json.loads(ws.recv(timeout=10))
    assert scope["type"] == "websocket"
    assert scope["path"] == "/ws/echo"
    assert scope["raw_path"] == "/ws/ech%6F"
    assert scope["query_string"] == "x=1&y=%20"
    assert scope["root_path"] == ""
    assert scope["scheme"] == "ws"
    assert scope["subprotocols"] == ["chat.v1", "chat.v2"]
    assert scope["client"][0] == "127.0.0.1" and scope["client"][1] > 0
    assert scope["server"] == ["127.0.0.1", server.port]
    names = [name for name, _ in scope["headers"]]
    assert names == [name.lower() for name in names]
    assert ["x-token", "secret"] in scope["headers"]
    assert ["cookie", "a=1"] in scope["headers"]
    assert ["upgrade", "websocket"] in scope["headers"]
    assert "WebSockets to the ASGI application" in "".join(server.output)


def test_client_and_scheme_believe_trusted_proxies(server: RunningServer) -> None:
    forwarded = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"}
    with connect(url(server, "/ws/echo"), additional_headers=forwarded) as ws:
        scope = json.loads(ws.recv(timeout=10))
    assert scope["client"][0] == "203.0.113.9"  # the peer, loopback, is a trusted proxy
    assert scope["scheme"] == "wss"


def test_text_and_bytes_flow_both_ways_and_the_app_closes(server: RunningServer) -> None:
    with connect(url(server, "/ws/echo"), max_size=None) as ws:
        ws.recv(timeout=10)  # the scope
        ws.send("hello")
        assert ws.recv(timeout=10) == "hello"
        ws.send(b"\x00\xffbinary")
        assert ws.recv(timeout=10) == b"\x00\xffbinary"
        big = "é" * 200_000
        ws.send(big)
        assert ws.recv(timeout=10) == big
        ws.send("close")
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=10)
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (4001, "bye")


def test_the_clients_close_reaches_the_app_as_websocket_disconnect(server: RunningServer) -> None:
    with connect(url(server, "/ws/echo")) as ws:
        ws.recv(timeout=10)
        ws.close(code=4002, reason="see you")
    deadline = time.monotonic() + 10
    while True:
        with connect(url(server, "/ws/last")) as ws:
            last = json.loads(ws.recv(timeout=10))
        if last or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert last == {"code": 4002, "reason": "see you"}


@pytest.mark.parametrize("path", ["/ws/refuse", "/ws/nowhere"])
def test_a_close_before_accept_is_403(server: RunningServer, path: str) -> None:
    with pytest.raises(InvalidStatus) as refused:
        with connect(url(server, path), open_timeout=10):
            pass
    assert refused.value.response.status_code == 403
    # HTTP is served alongside, by the WSGI application.
    assert httpx.get(server.url + "/admin/login/").status_code == 200


def test_an_app_that_fails_or_never_decides(server: RunningServer) -> None:
    statuses = {}
    for path in ("/ws/crash", "/ws/silent"):
        with pytest.raises(InvalidStatus) as refused:
            with connect(url(server, path), open_timeout=10):
                pass
        statuses[path] = refused.value.response.status_code
    assert statuses == {"/ws/crash": 500, "/ws/silent": 403}
    with connect(url(server, "/ws/crash-later")) as ws:
        assert ws.recv(timeout=10) == "accepted"
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1011
    server.wait_for_output("crash after accepting, on purpose", what="the exception's log line")
    assert "crash before accepting, on purpose" in "".join(server.output)


def test_send_waits_while_the_client_does_not_read(server: RunningServer) -> None:
    raw = RawWebSocket(server, "/ws/flood")
    raw.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    try:
        deadline = time.monotonic() + 20
        while True:  # reading nothing: the app's send() must stall, not buffer 128 MB
            with connect(url(server, "/ws/flood-result")) as probe:
                result = json.loads(probe.recv(timeout=10))
            if result or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert raw.read_frame() == (0x2, b"x" * 65536)  # what was queued still arrives
    finally:
        raw.close()
    assert 0 < result["sent"] < 200, result


def test_bad_handshakes_get_the_native_refusals(server: RunningServer) -> None:
    # The same native handshake checks as for @app.websocket routes (upgrade.rs).
    for version, status in ((b"8", 426), (b"13\r\nContent-Length: 3", 400)):
        with server.connect() as sock:
            sock.sendall(
                b"GET /ws/echo HTTP/1.1\r\nHost: test\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\nSec-WebSocket-Key: " + KEY.encode() + b"\r\n"
                b"Sec-WebSocket-Version: " + version + b"\r\n\r\nabc"
            )
            assert RawReader(sock).read().status == status


def test_a_channels_websocket_consumer(server: RunningServer) -> None:
    pytest.importorskip("channels")  # requirements/asgi-websockets.txt installs it
    with connect(url(server, "/ws/channels/")) as ws:
        ws.send("shout")
        assert ws.recv(timeout=10) == "SHOUT"
        ws.send(b"abc")
        assert ws.recv(timeout=10) == b"cba"
        ws.send("bye")
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1000


def test_sigterm_closes_open_websockets_with_1001_and_exits_0(
    django_env: dict[str, str],
) -> None:
    running = runziserver(django_env)
    try:
        with connect(url(running, "/ws/echo")) as ws:
            ws.recv(timeout=10)
            running.process.send_signal(signal.SIGTERM)
            with pytest.raises(ConnectionClosed) as closed:
                ws.recv(timeout=15)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
        assert running.process.wait(timeout=30) == 0
    finally:
        running.stop()


def test_without_asgi_application_an_upgrade_is_a_plain_wsgi_request(
    django_env: dict[str, str],
) -> None:
    running = runziserver({**django_env, "DJANGO_NO_ASGI": "1"})
    try:
        with running.connect() as sock:
            sock.sendall(
                b"GET /ws/echo HTTP/1.1\r\nHost: test\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\nSec-WebSocket-Key: " + KEY.encode() + b"\r\n"
                b"Sec-WebSocket-Version: 13\r\n\r\n"
            )
            response = RawReader(sock).read()
        assert response.status == 404  # Django's answer for a URL it has no view for
        assert "WebSockets to the ASGI application" not in "".join(running.output)
    finally:
        running.stop()
