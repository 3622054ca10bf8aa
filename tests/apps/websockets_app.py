"""Served WebSocket app for tests/test_websocket.py and the Autobahn run."""

from __future__ import annotations

import asyncio
import os

from hyperdjango import HyperApp
from hyperdjango.router import Router
from hyperdjango.websocket import WebSocketDisconnect

app = HyperApp("websockets")


@app.websocket("/echo")
async def echo(ws):
    async for message in ws:
        await ws.send(message)


@app.websocket("/echo/limited", max_message_size=1000)
async def limited(ws):
    async for message in ws:
        await ws.send(message)


@app.get("/loop")
async def loop_kind(request):
    """Which event loop serves this app (HYPERDJANGO_LOOP)."""
    return {"module": type(asyncio.get_running_loop()).__module__}


@app.get("/both")
async def both_http(request):
    return {"via": "http"}


@app.websocket("/both")
async def both_ws(ws):
    await ws.send("via websocket")
    await ws.close()


@app.websocket("/room/{name}/{number:int}")
async def room(ws, name, number):
    await ws.send_json(
        {
            "name": name,
            "number": number,
            "number_type": type(number).__name__,
            "query": ws.request.query.get("q"),
            "header": ws.request.headers.get("x-token"),
            "cookie": ws.request.cookies.get("session"),
            "client_ip": ws.request.client_ip,
        }
    )


@app.websocket("/protocols", subprotocols=["v2.chat", "v1.chat"])
async def protocols(ws):
    await ws.send(str(ws.subprotocol))


@app.websocket("/explicit")
async def explicit(ws):
    if ws.request.query.get("deny"):
        await ws.close()
        return
    await ws.accept(subprotocol=ws.request.query.get("proto"))
    await ws.send("accepted")


@app.websocket("/origins", origins=["https://good.example"])
async def origins(ws):
    await ws.send("welcome")


@app.websocket("/timeout")
async def timeout(ws):
    try:
        await ws.receive(timeout=0.2)
    except TimeoutError:
        await ws.send("timed out")
    message = await ws.receive()
    await ws.send(f"still usable: {message}")
    try:
        await ws.receive()
    except WebSocketDisconnect as disconnect:
        app.state_last_disconnect = (disconnect.code, disconnect.reason)


@app.get("/last-disconnect")
async def last_disconnect(request):
    return {"last": list(getattr(app, "state_last_disconnect", ()))}


@app.websocket("/json")
async def json_echo(ws):
    data = await ws.receive_json()
    await ws.send_json({"got": data})


@app.websocket("/returns")
async def returns(ws):
    await ws.send("bye")


@app.websocket("/raises")
async def raises(ws):
    await ws.send("about to fail")
    raise RuntimeError("handler failure on purpose")


@app.websocket("/close-custom")
async def close_custom(ws):
    await ws.accept()
    await ws.close(code=4000, reason="custom reason")


@app.websocket("/concurrent")
async def concurrent(ws):
    """Several tasks send big messages at once: frames must never interleave."""

    async def sender(tag: str) -> None:
        for index in range(20):
            await ws.send(tag * 50_000 + str(index))

    await asyncio.gather(*(sender(tag) for tag in "abcd"))
    await ws.send("done")


@app.websocket("/send-styles")
async def send_styles(ws):
    """ws.send's awaitable (usually already finished) works however it is awaited;
    receive() and `async for` take turns on the same connection."""
    await ws.send("await")
    await asyncio.create_task(ws.send("task"))
    async with asyncio.TaskGroup() as group:
        group.create_task(ws.send("group"))
    await asyncio.gather(ws.send("gather-1"), ws.send("gather-2"))
    await asyncio.wait_for(ws.send("wait_for"), 5)
    unsent = ws.send_json({"never": "awaited"})  # a coroutine: nothing is sent
    unsent.close()
    pending = await ws.receive(timeout=5)
    async for message in ws:
        if pending is None:
            pending = message
        else:
            await ws.send(f"{pending}+{message}")
            pending = None
    app.state_send_styles_ended = True


@app.get("/send-styles-ended")
async def send_styles_ended(request):
    return {"ended": getattr(app, "state_send_styles_ended", False)}


@app.websocket("/flood")
async def flood(ws):
    """Sends until the client stops reading; reports how far send() got."""
    sent = 0
    chunk = "x" * 65536
    try:
        while sent < 2000:
            await asyncio.wait_for(ws.send(chunk), 1.0)
            sent += 1
    except TimeoutError:
        app.state_flood = sent
    await ws.close()


@app.get("/flood-result")
async def flood_result(request):
    return {"sent": getattr(app, "state_flood", None)}


@app.websocket("/pinged", ping_interval=0.2, ping_timeout=0.5)
async def pinged(ws):
    async for message in ws:
        await ws.send(message)


@app.websocket("/chat/{room}")
async def chat(ws, room):
    ws.subscribe(room)
    await ws.send("joined")
    async for message in ws:
        if message == "leave":
            ws.unsubscribe(room)
            await ws.send("left")
        else:
            app.publish(room, message)


@app.post("/announce/{room}")
async def announce(request, room):
    count = app.publish(room, request.body.decode())
    return {"delivered_to": count}


@app.post("/announce-sync/{room}")
def announce_sync(request, room):
    """app.publish from a def handler (a pool thread), as from any other thread."""
    return {"delivered_to": app.publish(room, request.body)}


@app.websocket("/uncompressed", compression=False)
async def uncompressed(ws):
    async for message in ws:
        await ws.send(message)


api = Router()


@api.websocket("/feed/{id:int}", name="feed")
async def feed(ws, id):
    await ws.send(f"feed {id}")


app.router.include("/api", api, namespace="api")

if __name__ == "__main__":
    app.run(
        host=os.environ.get("HOST", "127.0.0.1"),
        port=int(os.environ.get("PORT", "0")),
        prod=os.environ.get("PROD") == "1",
    )
