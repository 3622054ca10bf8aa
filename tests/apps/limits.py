"""A served app for deadlines, connection limits, load shedding and /debug/performance.

Every ``HyperApp.run`` deadline and limit keyword can be set from the
environment by its upper-case name (``HEADER_READ_TIMEOUT=0.5``), so each test
starts the server with exactly the limits it checks.
"""

import asyncio
import os
import time

from hyperdjango import HyperApp
from hyperdjango.limits import ServerLimits

app = HyperApp("limits")
handled = {"count": 0}


@app.get("/")
async def index(request):
    return {"message": "Hello!"}


@app.post("/echo")
async def echo(request):
    handled["count"] += 1
    return {"received": len(request.body)}


@app.get("/handled")
async def handled_count(request):
    return handled


@app.get("/block")
async def block(request):
    """50 ms of work that holds the Python thread (as CPU-bound work does)."""
    time.sleep(float(request.query.get("seconds", "0.05")))
    return {"blocked": True}


@app.get("/sync/block")
def sync_block(request):
    time.sleep(float(request.query.get("seconds", "0.05")))
    return {"blocked": True}


@app.get("/wait")
async def wait(request):
    await asyncio.sleep(float(request.query.get("seconds", "0.05")))
    return {"waited": True}


@app.get("/items/{id:int}")
async def item(request, id):
    return {"id": id}


def options() -> dict:
    chosen = {}
    for name in ServerLimits.names():
        value = os.environ.get(name.upper())
        if value is not None:
            chosen[name] = (
                int(value) if name.startswith("max_") and "." not in value else float(value)
            )
    return chosen


if __name__ == "__main__":
    app.run(
        host=os.environ.get("HOST", "127.0.0.1"), port=int(os.environ.get("PORT", "0")), **options()
    )
