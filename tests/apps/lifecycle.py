"""An app for the graceful-shutdown tests: slow handlers, long streams, hooks.

Every hook and every generator `finally` prints a marker line, so the tests
can tell from the output what ran, and in which order. SHUTDOWN_TIMEOUT sets
the drain deadline (seconds).
"""

import asyncio
import os
import time

from hyperdjango import HyperApp
from hyperdjango._hyperdjango_native import _server_shutdown
from hyperdjango.response import Response

app = HyperApp("lifecycle")


@app.get("/")
async def index(request):
    return {"ok": True}


@app.get("/slow/{seconds:int}")
async def slow(request, seconds):
    await asyncio.sleep(seconds / 10)
    return {"slept": seconds / 10}


@app.get("/slow-sync/{seconds:int}")
def slow_sync(request, seconds):
    time.sleep(seconds / 10)
    return {"slept": seconds / 10}


@app.get("/blocking/{seconds:int}")
async def blocking(request, seconds):
    # Holds the Python thread itself: signals must still be seen natively.
    time.sleep(seconds / 10)
    return {"blocked": seconds / 10}


@app.get("/stream/{count:int}")
async def stream(request, count):
    async def parts():
        try:
            for number in range(count):
                await asyncio.sleep(0.1)
                yield f"part {number}\n"
        finally:
            print(f"stream finally ran ({count})", flush=True)

    return Response.stream(parts(), media_type="text/plain")


@app.get("/sse-forever")
async def sse_forever(request):
    async def events():
        number = 0
        try:
            while True:
                number += 1
                yield {"data": str(number)}
                await asyncio.sleep(0.1)
        finally:
            print("sse finally ran", flush=True)

    return Response.sse(events())


@app.post("/shutdown")
async def shutdown(request):
    _server_shutdown()
    return {"stopping": True}


@app.on_startup
def started():
    print("hook: startup", flush=True)


@app.on_shutdown
async def first():
    await asyncio.sleep(0.05)
    print("hook: shutdown 1 (async)", flush=True)


@app.on_shutdown
def second():
    print("hook: shutdown 2 (sync)", flush=True)


if __name__ == "__main__":
    app.run(
        host=os.environ.get("HOST", "127.0.0.1"),
        port=int(os.environ.get("PORT", "0")),
        shutdown_timeout=float(os.environ.get("SHUTDOWN_TIMEOUT", "30")),
        pid_file=os.environ.get("PID_FILE") or None,
    )
