"""An app that can be stopped from a request, for the shutdown tests."""

import asyncio
import os

from hyperdjango import HyperApp
from hyperdjango._hyperdjango_native import _server_shutdown

app = HyperApp("shutdown")


@app.get("/slow")
async def slow(request):
    print("slow started", flush=True)  # the tests shut down once this is in flight
    await asyncio.sleep(1)
    return {"done": True}


@app.post("/shutdown")
def shutdown(request):
    _server_shutdown()
    return {"stopping": True}


@app.on_startup
async def started():
    print("on_startup ran", flush=True)


@app.on_shutdown
def stopped():
    print("on_shutdown ran", flush=True)


if __name__ == "__main__":
    app.run(host=os.environ.get("HOST", "127.0.0.1"), port=int(os.environ.get("PORT", "0")))
