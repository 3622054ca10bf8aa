"""Served app for tests/test_middleware_misc.py: LoggingMiddleware, CSRFMiddleware,
StaticFilesMiddleware.

LOG_FILE: where the access log goes. STATIC_DIR: the static folder.
A log handler that blocks while /log-gate is closed shows that logging never
stalls the serving thread.
"""

import logging
import os
import threading

from hyperdjango import HyperApp
from hyperdjango.middleware import csrf_exempt
from hyperdjango.standalone_middleware import (
    CSRFMiddleware,
    LoggingMiddleware,
    RateLimitMiddleware,
)
from hyperdjango.staticfiles import StaticFilesMiddleware

gate = threading.Event()
gate.set()


class GatedFileHandler(logging.FileHandler):
    def emit(self, record: logging.LogRecord) -> None:
        gate.wait(30)
        super().emit(record)
        self.flush()


access = logging.getLogger("hyperdjango.access")
access.setLevel(logging.INFO)
access.propagate = False
access.addHandler(GatedFileHandler(os.environ["LOG_FILE"]))

app = HyperApp("middleware-misc", max_body_size=64 * 1024)
app.use(LoggingMiddleware(format=os.environ.get("LOG_FORMAT", "common")))
app.use(StaticFilesMiddleware(os.environ["STATIC_DIR"]))
app.use(CSRFMiddleware(secret="test-secret"))
# A key function: limits per API key instead of per address (runs in Python).
app.use(
    RateLimitMiddleware(rate="1000/day", key=lambda request: request.headers.get("x-api-key", "-"))
)


@app.get("/")
async def index(request):
    return {"token": request.csrf_token}


@app.post("/submit")
async def submit(request):
    name = request.form.get("name") if "form" in request.headers.get("content-type", "") else None
    return {"ok": True, "name": name}


@app.put("/things/{id:int}")
async def put_thing(request, id):
    return {"id": id}


@app.post("/webhook")
@csrf_exempt
async def webhook(request):
    return {"hooked": True}


@app.get("/log-gate/{state}")
async def log_gate(request, state):
    if state == "close":
        gate.clear()
    else:
        gate.set()
    return {"gate": state}


if __name__ == "__main__":
    app.run(
        host=os.environ.get("HOST", "127.0.0.1"),
        port=int(os.environ.get("PORT", "8000")),
        prod=os.environ.get("PROD") == "1",
    )
