"""A served app for ``--workers N`` (tests/test_workers.py).

``VERSION`` is read at import, so a reload (SIGHUP) that imports the code
afresh is visible: the test rewrites the file VERSION_FILE names.
"""

import os
from pathlib import Path

from hyperdjango import HyperApp

VERSION = (
    Path(os.environ["VERSION_FILE"]).read_text().strip() if "VERSION_FILE" in os.environ else "1"
)

app = HyperApp("workers")


@app.get("/")
async def index(request):
    return {"pid": os.getpid(), "version": VERSION}


@app.get("/slow")
async def slow(request):
    import asyncio

    started = request.query.get("started")
    if started:  # a test waits for this file: the request is in the handler
        with open(started, "w") as marker:
            marker.write("started")
    await asyncio.sleep(float(request.query.get("seconds", "1")))
    return {"pid": os.getpid(), "slow": True}


if __name__ == "__main__":
    app.run(
        host="127.0.0.1",
        port=int(os.environ.get("PORT", "0")),
        workers=int(os.environ.get("WORKERS", "2")),
        keep_alive_timeout=float(os.environ.get("KEEP_ALIVE_TIMEOUT", "5")),
    )
