"""The spec's Quick Start GET / on hyperdjango, with a call counter for the honesty check."""

import os
import sys

from hyperdjango import HyperApp

app = HyperApp("bench")
calls = 0


@app.get("/")
async def index(request):
    global calls
    calls += 1
    return {"message": "Hello!"}


@app.get("/count")
async def count(request):
    return {"count": calls}


if __name__ == "__main__":
    app.run(
        host="127.0.0.1",
        port=int(sys.argv[1]) if len(sys.argv) > 1 else 8000,
        prod=True,
        workers=int(os.environ.get("WORKERS", "1")),  # bench/run_workers.sh
    )
