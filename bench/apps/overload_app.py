"""Issue 13's overload scenario: a handler that holds the Python thread for 50 ms
(as CPU-bound work does), so capacity is 20 requests a second (bench/run_overload.sh)."""

import os
import sys
import time

from hyperdjango import HyperApp

app = HyperApp("overload")


@app.get("/block")
async def block(request):
    time.sleep(0.05)
    return {"blocked": True}


@app.get("/")
async def index(request):
    return {"message": "Hello!"}


if __name__ == "__main__":
    limits = {}
    if os.environ.get("MAX_QUEUE"):
        limits["max_queue"] = int(os.environ["MAX_QUEUE"])
    app.run(
        host="127.0.0.1",
        port=int(sys.argv[1]) if len(sys.argv) > 1 else 8000,
        prod=True,
        keep_alive_timeout=60,
        **limits,
    )
