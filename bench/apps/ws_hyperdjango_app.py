"""WebSocket benchmark app: echo, a subscriber route and an HTTP publish endpoint."""

import sys

from hyperdjango import HyperApp

app = HyperApp("ws-bench")


@app.websocket("/echo")
async def echo(ws):
    async for message in ws:
        await ws.send(message)


@app.websocket("/sub")
async def subscriber(ws):
    ws.subscribe("news")
    await ws.send("joined")
    async for _ in ws:
        pass


@app.post("/publish")
async def publish(request):
    return {"delivered_to": app.publish("news", request.body.decode())}


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8000
    # 10,000 subscribers plus the publisher: above the default limit of 10,000.
    app.run(host="127.0.0.1", port=port, prod=True, max_connections=20_000)
