"""Streamed responses and SSE: backpressure, disconnect cleanup, keep-alives."""

import asyncio
import os

from hyperdjango import HyperApp
from hyperdjango.response import Response

app = HyperApp("streams")
state = {"firehose_bytes": 0, "firehose_closed": False, "sse_closed": False}


@app.get("/stream")
async def stream(request):
    async def parts():
        for part in ("a", b"b", "c"):
            await asyncio.sleep(0.01)
            yield part

    return Response.stream(parts(), media_type="text/plain")


@app.get("/sse")
async def sse(request):
    async def events():
        yield {"event": "tick", "data": "line1\nline2", "id": 1, "retry": 500}
        yield "plain"

    return Response.sse(events())


@app.get("/sse-forever")
async def sse_forever(request):
    async def events():
        number = 0
        try:
            while True:
                number += 1
                yield {"data": str(number)}
                await asyncio.sleep(0.02)
        finally:
            state["sse_closed"] = True

    return Response.sse(events())


@app.get("/sse-keepalive")
async def sse_keepalive(request):
    async def events():
        await asyncio.sleep(0.3)
        yield "late"

    return Response.sse(events(), keepalive=0.05)


@app.get("/firehose")
async def firehose(request):
    chunk = b"x" * 65536

    async def flood():
        try:
            while True:
                state["firehose_bytes"] += len(chunk)
                yield chunk
        finally:
            state["firehose_closed"] = True

    return Response.stream(flood())


@app.get("/stream-error")
async def stream_error(request):
    async def broken():
        yield "start"
        await asyncio.sleep(0.01)
        raise RuntimeError("generator failed")

    return Response.stream(broken())


@app.get("/state")
async def get_state(request):
    return state


if __name__ == "__main__":
    app.run(host=os.environ.get("HOST", "127.0.0.1"), port=int(os.environ.get("PORT", "0")))
