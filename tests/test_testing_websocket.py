"""TestClient.websocket_connect: WebSockets in-process through the native upgrade and framing."""

from __future__ import annotations

import pytest

from hyperdjango import HyperApp
from hyperdjango.testing import TestClient, WebSocketDenied
from hyperdjango.websocket import WebSocketDisconnect

app = HyperApp("ws-testclient")


@app.websocket("/ws/echo")
async def echo(ws):
    async for message in ws:
        if isinstance(message, bytes):
            await ws.send(message[::-1])
        else:
            await ws.send(f"Echo: {message}")


@app.websocket("/ws/json/{room}")
async def json_room(ws, room):
    data = await ws.receive_json()
    await ws.send_json({"room": room, "got": data, "cookie": ws.request.cookies.get("name")})
    await ws.close(4001, "done")


@app.websocket("/ws/private")
async def private(ws):
    await ws.close()  # before accept: the handshake is refused


@app.websocket("/ws/chat", subprotocols=["chat.v2", "chat.v1"])
async def chat(ws):
    await ws.accept()
    await ws.send(ws.subprotocol or "none")


@pytest.fixture
def client():
    with TestClient(app) as test_client:
        yield test_client


def test_text_and_bytes_round_trip(client: TestClient) -> None:
    with client.websocket_connect("/ws/echo") as ws:
        ws.send_text("hello")
        assert ws.receive_text() == "Echo: hello"
        ws.send_bytes(b"\x00\x01\x02")
        assert ws.receive_bytes() == b"\x02\x01\x00"
        big = "x" * 200_000
        ws.send_text(big)
        assert ws.receive_text() == "Echo: " + big


def test_json_path_params_cookies_and_server_close(client: TestClient) -> None:
    client.cookies.set("name", "ann")
    with client.websocket_connect("/ws/json/lobby") as ws:
        ws.send_json({"n": 1})
        assert ws.receive_json() == {"room": "lobby", "got": {"n": 1}, "cookie": "ann"}
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_text()
    assert (closed.value.code, closed.value.reason) == (4001, "done")


def test_refused_handshakes(client: TestClient) -> None:
    with pytest.raises(WebSocketDenied) as denied:
        client.websocket_connect("/ws/private")
    assert denied.value.status_code == 403
    with pytest.raises(WebSocketDenied) as unknown:
        client.websocket_connect("/ws/nowhere")
    assert unknown.value.status_code == 404


def test_subprotocol(client: TestClient) -> None:
    with client.websocket_connect("/ws/chat", subprotocols=["chat.v1", "chat.v2"]) as ws:
        assert ws.subprotocol == "chat.v2"
        assert ws.receive_text() == "chat.v2"
