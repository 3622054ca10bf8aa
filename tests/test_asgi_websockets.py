"""The WebSocket behavioural suite, run against the native server and against
uvicorn, hypercorn, daphne and Granian serving the same HyperApp over ASGI
(tests/apps/websockets_app.py): the ``ws`` API must behave the same. Plus
asgiref's ``WebsocketCommunicator`` driving the app in-process."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
from collections.abc import Iterator

import httpx
import pytest
from servers import asgi_command, free_port, start_command
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from conftest import RunningServer, start_server

TARGET = "tests.apps.websockets_app:app"
SERVERS = ["native", "uvicorn", "hypercorn", "daphne", "granian"]


@pytest.fixture(scope="module", params=SERVERS)
def served(request: pytest.FixtureRequest) -> Iterator[tuple[str, RunningServer]]:
    kind = request.param
    if kind == "native":
        running = start_server("websockets_app.py")
    else:
        port = free_port()
        running = start_command(asgi_command(kind, TARGET, port), port)
    yield kind, running
    running.stop()


@pytest.fixture
def server(served: tuple[str, RunningServer]) -> RunningServer:
    return served[1]


def url(server: RunningServer, path: str) -> str:
    return f"ws://{server.host}:{server.port}{path}"


def refused_status(server: RunningServer, path: str, **options: object) -> int:
    with pytest.raises(InvalidStatus) as error:
        with connect(url(server, path), open_timeout=10, **options):  # type: ignore[arg-type]
            pass
    return error.value.response.status_code


def closed_code(ws: object) -> tuple[int, str]:
    with pytest.raises(ConnectionClosed) as closed:
        ws.recv(timeout=10)  # type: ignore[attr-defined]
    assert closed.value.rcvd is not None, "no close frame was received"
    return closed.value.rcvd.code, closed.value.rcvd.reason


def test_echo_text_binary_and_iteration(server: RunningServer) -> None:
    with connect(url(server, "/echo")) as ws:
        ws.send("hello")
        assert ws.recv(timeout=10) == "hello"
        ws.send(b"\x00\x01binary")
        assert ws.recv(timeout=10) == b"\x00\x01binary"
        big = "é" * 100_000
        ws.send(big)
        assert ws.recv(timeout=10) == big


def test_typed_path_params_and_the_upgrade_request(server: RunningServer) -> None:
    headers = {"X-Token": "secret", "Cookie": "session=abc"}
    with connect(url(server, "/room/lobby/42?q=search"), additional_headers=headers) as ws:
        data = json.loads(ws.recv(timeout=10))
    assert data == {
        "name": "lobby",
        "number": 42,
        "number_type": "int",
        "query": "search",
        "header": "secret",
        "cookie": "abc",
        "client_ip": "127.0.0.1",
    }


def test_included_router_routes_and_a_path_shared_with_http(server: RunningServer) -> None:
    with connect(url(server, "/api/feed/7")) as ws:
        assert ws.recv(timeout=10) == "feed 7"
    assert httpx.get(server.url + "/both").json() == {"via": "http"}
    with connect(url(server, "/both")) as ws:
        assert ws.recv(timeout=10) == "via websocket"


@pytest.mark.parametrize("path", ["/nowhere", "/room/lobby/not-a-number", "/api/feed/x"])
def test_unknown_path_is_refused_before_accepting(
    served: tuple[str, RunningServer], path: str
) -> None:
    kind, server = served
    # Natively a 404; under ASGI a close before accepting, which servers answer with 403.
    assert refused_status(server, path) == (404 if kind == "native" else 403)
    with connect(url(server, "/echo")) as ws:  # and everyone else is still served
        ws.send("still here")
        assert ws.recv(timeout=10) == "still here"


def test_subprotocol_negotiation_in_the_routes_order(server: RunningServer) -> None:
    with connect(url(server, "/protocols"), subprotocols=["v1.chat", "v2.chat"]) as ws:
        assert ws.subprotocol == "v2.chat"
        assert ws.recv(timeout=10) == "v2.chat"
    with connect(url(server, "/protocols"), subprotocols=["v1.chat"]) as ws:
        assert ws.subprotocol == "v1.chat"
        assert ws.recv(timeout=10) == "v1.chat"
    with connect(url(server, "/protocols")) as ws:
        assert ws.subprotocol is None
        assert ws.recv(timeout=10) == "None"


def test_explicit_accept_with_a_subprotocol_and_close_before_accept_is_403(
    server: RunningServer,
) -> None:
    with connect(url(server, "/explicit?proto=custom"), subprotocols=["custom"]) as ws:
        assert ws.subprotocol == "custom"
        assert ws.recv(timeout=10) == "accepted"
    assert refused_status(server, "/explicit?deny=1") == 403


def test_origin_allow_list_refuses_the_handshake(served: tuple[str, RunningServer]) -> None:
    kind, server = served
    with connect(url(server, "/origins"), origin="https://good.example") as ws:
        assert ws.recv(timeout=10) == "welcome"
    with pytest.raises(InvalidStatus) as error:
        with connect(url(server, "/origins"), origin="https://evil.example", open_timeout=10):
            pass
    assert error.value.response.status_code == 403
    if kind in ("native", "uvicorn", "hypercorn"):
        # uvicorn and hypercorn offer websocket.http.response: the app's own 403 answer.
        assert json.loads(error.value.response.body) == {"detail": "Origin not allowed"}
    assert refused_status(server, "/origins") == 403  # no Origin at all


def test_receive_timeout_keeps_the_connection_and_disconnect_carries_the_code(
    served: tuple[str, RunningServer],
) -> None:
    kind, server = served
    with connect(url(server, "/timeout")) as ws:
        assert ws.recv(timeout=10) == "timed out"
        ws.send("ping?")
        assert ws.recv(timeout=10) == "still usable: ping?"
        ws.close(code=4001, reason="client done")
    deadline = time.monotonic() + 10
    while not (last := httpx.get(server.url + "/last-disconnect").json()["last"]):
        assert time.monotonic() < deadline, "the handler never saw the disconnect"
        time.sleep(0.05)
    if kind == "hypercorn":
        # hypercorn reports every client close as 1006 in websocket.disconnect.
        assert last == [1006, ""]
        return
    assert last[0] == 4001
    # The reason travels where the server puts it in websocket.disconnect (ASGI 2.3+).
    assert last[1] in (("client done",) if kind in ("native", "uvicorn") else ("client done", ""))


def test_json_helpers(server: RunningServer) -> None:
    with connect(url(server, "/json")) as ws:
        ws.send(json.dumps({"a": [1, 2]}))
        assert json.loads(ws.recv(timeout=10)) == {"got": {"a": [1, 2]}}


def test_handler_return_closes_1000(server: RunningServer) -> None:
    with connect(url(server, "/returns")) as ws:
        assert ws.recv(timeout=10) == "bye"
        assert closed_code(ws)[0] == 1000


def test_handler_exception_closes_1011_logged_and_serving_goes_on(server: RunningServer) -> None:
    # (daphne refuses to send 1011 itself; the adapter then raises, and daphne closes with 1011.)
    with connect(url(server, "/raises")) as ws:
        assert ws.recv(timeout=10) == "about to fail"
        assert closed_code(ws)[0] == 1011
    server.wait_for_output("handler failure on purpose", what="the exception's log line")
    with connect(url(server, "/echo")) as ws:
        ws.send("after")
        assert ws.recv(timeout=10) == "after"


def test_close_with_code_and_reason(served: tuple[str, RunningServer]) -> None:
    kind, server = served
    with connect(url(server, "/close-custom")) as ws:
        # daphne sends close frames without their reason.
        assert closed_code(ws) == (4000, "" if kind == "daphne" else "custom reason")


def test_too_big_a_message_closes_1009(served: tuple[str, RunningServer]) -> None:
    kind, server = served
    with connect(url(server, "/echo/limited")) as ws:
        ws.send("x" * 1000)
        assert ws.recv(timeout=10) == "x" * 1000
        ws.send("x" * 1001)
        # daphne only sends 1000 and 3000-4999 itself: it closes with 1011 instead.
        assert closed_code(ws)[0] == (1011 if kind == "daphne" else 1009)


def test_concurrent_sends_never_interleave(server: RunningServer) -> None:
    with connect(url(server, "/concurrent"), max_size=None) as ws:
        received = []
        while (message := ws.recv(timeout=30)) != "done":
            received.append(message)
    assert len(received) == 80
    for message in received:
        body = message.rstrip("0123456789")
        assert len(body) == 50_000 and body == body[0] * 50_000, message[:20]
    for tag in "abcd":
        assert [int(m[50_000:]) for m in received if m[0] == tag] == list(range(20))


def test_publish_fans_out_to_subscribers_only(server: RunningServer) -> None:
    with contextlib.ExitStack() as stack:
        members = [stack.enter_context(connect(url(server, "/chat/red"))) for _ in range(3)]
        other = stack.enter_context(connect(url(server, "/chat/blue")))
        for ws in [*members, other]:
            assert ws.recv(timeout=10) == "joined"
        response = httpx.post(server.url + "/announce/red", content=b"from http")
        assert response.json() == {"delivered_to": 3}
        for ws in members:
            assert ws.recv(timeout=10) == "from http"
        members[0].send("from a socket")
        for ws in members:
            assert ws.recv(timeout=10) == "from a socket"
        members[1].send("leave")
        assert members[1].recv(timeout=10) == "left"
        delivered = httpx.post(server.url + "/announce/red", content=b"x").json()
        assert delivered == {"delivered_to": 2}
        with pytest.raises(TimeoutError):
            other.recv(timeout=0.3)
        # From a def handler's thread: binary, handed over to the loop.
        delivered = httpx.post(server.url + "/announce-sync/blue", content=b"\x00bin").json()
        assert delivered == {"delivered_to": 1}
        assert other.recv(timeout=10) == b"\x00bin"
    # Closed connections leave their topics.
    deadline = time.monotonic() + 10
    while httpx.post(server.url + "/announce/red", content=b"x").json()["delivered_to"]:
        assert time.monotonic() < deadline, "closed connections stayed subscribed"
        time.sleep(0.05)


# -- in-process, with asgiref's communicator ------------------------------------------


def websocket_scope(path: str, **extra: object) -> dict[str, object]:
    raw, _, query = path.encode().partition(b"?")
    return {
        "type": "websocket",
        "path": raw.decode(),
        "raw_path": raw,
        "query_string": query,
        "headers": [(b"host", b"test")],
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 80),
        "scheme": "ws",
        **extra,
    }


def test_communicator_drives_the_same_ws_api_in_process() -> None:
    from asgiref.testing import ApplicationCommunicator

    from tests.apps.websockets_app import app

    async def scenario() -> list[dict[str, object]]:
        seen = []
        echo = ApplicationCommunicator(app, websocket_scope("/echo"))
        await echo.send_input({"type": "websocket.connect"})
        seen.append(await echo.receive_output(5))
        await echo.send_input({"type": "websocket.receive", "text": "hi"})
        seen.append(await echo.receive_output(5))
        await echo.send_input({"type": "websocket.receive", "bytes": b"\x00"})
        seen.append(await echo.receive_output(5))
        await echo.send_input({"type": "websocket.disconnect", "code": 1000})
        await echo.wait(5)

        room = ApplicationCommunicator(app, websocket_scope("/room/hall/7?q=x"))
        await room.send_input({"type": "websocket.connect"})
        seen.append(await room.receive_output(5))
        seen.append(await room.receive_output(5))
        seen.append(await room.receive_output(5))

        chosen = ApplicationCommunicator(
            app, websocket_scope("/protocols", subprotocols=["v1.chat", "v2.chat"])
        )
        await chosen.send_input({"type": "websocket.connect"})
        seen.append(await chosen.receive_output(5))

        denied = ApplicationCommunicator(
            app,
            websocket_scope("/explicit?deny=1", extensions={"websocket.http.response": {}}),
        )
        await denied.send_input({"type": "websocket.connect"})
        seen.append(await denied.receive_output(5))
        seen.append(await denied.receive_output(5))

        unknown = ApplicationCommunicator(app, websocket_scope("/nowhere"))
        await unknown.send_input({"type": "websocket.connect"})
        seen.append(await unknown.receive_output(5))
        return seen

    seen = asyncio.run(scenario())
    assert seen[0] == {"type": "websocket.accept"}
    assert seen[1] == {"type": "websocket.send", "text": "hi"}
    assert seen[2] == {"type": "websocket.send", "bytes": b"\x00"}
    assert seen[3] == {"type": "websocket.accept"}
    assert json.loads(seen[4]["text"])["number"] == 7  # type: ignore[arg-type]
    assert seen[5] == {"type": "websocket.close", "code": 1000, "reason": ""}
    assert seen[6] == {"type": "websocket.accept", "subprotocol": "v2.chat"}
    assert seen[7]["type"] == "websocket.http.response.start" and seen[7]["status"] == 403
    assert seen[8]["type"] == "websocket.http.response.body"
    assert seen[9] == {"type": "websocket.close", "code": 1008}


def test_channels_websocket_communicator_in_process() -> None:
    testing = pytest.importorskip("channels.testing")  # requirements/asgi-websockets.txt
    from tests.apps.websockets_app import app

    async def scenario() -> list[object]:
        seen: list[object] = []
        echo = testing.WebsocketCommunicator(app, "/echo")
        seen.append(await echo.connect(timeout=5))
        await echo.send_to(text_data="hello")
        seen.append(await echo.receive_from(timeout=5))
        await echo.send_json_to({"a": 1})
        seen.append(await echo.receive_json_from(timeout=5))
        await echo.disconnect()

        chosen = testing.WebsocketCommunicator(app, "/protocols", subprotocols=["v1.chat"])
        seen.append(await chosen.connect(timeout=5))
        seen.append(await chosen.receive_from(timeout=5))
        await chosen.disconnect()

        custom = testing.WebsocketCommunicator(app, "/close-custom")
        seen.append(await custom.connect(timeout=5))
        seen.append(await custom.receive_output(timeout=5))

        missing = testing.WebsocketCommunicator(app, "/nowhere")
        seen.append(await missing.connect(timeout=5))
        denied = testing.WebsocketCommunicator(app, "/explicit?deny=1")
        seen.append(await denied.connect(timeout=5))
        return seen

    assert asyncio.run(scenario()) == [
        (True, None),
        "hello",
        {"a": 1},
        (True, "v1.chat"),
        "v1.chat",
        (True, None),
        {"type": "websocket.close", "code": 4000, "reason": "custom reason"},
        (False, 1008),
        (False, 1008),
    ]


def test_send_waits_while_the_client_does_not_read(served: tuple[str, RunningServer]) -> None:
    from test_websocket import RawWebSocket

    kind, server = served
    if kind == "daphne":
        pytest.skip("daphne buffers outgoing messages without limit (docs/asgi.md)")
    raw = RawWebSocket(server, "/flood")
    raw.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    try:
        deadline = time.monotonic() + 20
        while (sent := httpx.get(server.url + "/flood-result").json()["sent"]) is None:
            assert time.monotonic() < deadline, "send() never waited"
            time.sleep(0.2)
    finally:
        raw.close()
    assert sent < 200, sent
