"""One HyperApp served natively (run as a script) and by ASGI servers
(``tests.apps.asgi_app:app``): tests/test_asgi_servers.py checks both behave alike.

STARTUP_FAIL=1 makes the startup hook raise; MARKER names a file the startup
and shutdown hooks append to, so tests can see how often they ran.
"""

import asyncio
import os
import tempfile
import threading
import time
from pathlib import Path

from hyperdjango import HyperApp
from hyperdjango.exceptions import HTTPException
from hyperdjango.response import Response

HERE = Path(__file__).parent
FILES = Path(tempfile.gettempdir()) / "hyperdjango-asgi-test"
FILES.mkdir(exist_ok=True)
BLOB = FILES / "blob.bin"
if not BLOB.exists() or BLOB.stat().st_size != 300_000:
    BLOB.write_bytes(bytes(range(256)) * 1171 + bytes(range(224)))

app = HyperApp("asgi-test", max_body_size=64 * 1024, trusted_proxies=["127.0.0.1/32"])
state = {"startups": 0, "stream_closed": False}


def _mark(text: str) -> None:
    marker = os.environ.get("MARKER")
    if marker:
        with open(marker, "a") as file:
            file.write(text + "\n")


if os.environ.get("MIDDLEWARE") == "1":

    @app.use
    async def tag(request, call_next):
        request.state.tagged = "yes"
        response = await call_next(request)
        response.headers["x-middleware"] = "outer"
        return response

    @app.use
    async def refuse(request, call_next):
        if request.headers.get("x-refuse"):
            return Response.json({"refused": True}, status=403)
        return await call_next(request)


@app.get("/state")
async def state_view(request):
    return {"tagged": getattr(request.state, "tagged", None)}


@app.on_startup
async def startup():
    if os.environ.get("STARTUP_FAIL"):
        raise RuntimeError("database unreachable")
    state["startups"] += 1
    _mark("startup")


@app.on_shutdown
def shutdown():
    _mark("shutdown")


@app.get("/")
async def index(request):
    return {"message": "Hello!"}


@app.get("/startups")
async def startups(request):
    return {"startups": state["startups"]}


@app.get("/users/{id:int}")
async def get_user(request, id):
    return {"id": id, "type": type(id).__name__}


@app.route("/items/{name}", methods=["GET", "PUT"])
async def item(request, name):
    return {"name": name, "method": request.method}


@app.get("/files/{rest:path}")
async def file_path(request, rest):
    return {"rest": rest}


@app.get("/slash/")
async def slash(request):
    return "slash"


@app.post("/echo")
async def echo(request):
    return {
        "json": request.json,
        "query": dict(request.query),
        "tags": request.query.getlist("tag"),
        "content_type": request.headers.get("content-type"),
    }


@app.post("/form")
async def form(request):
    data = request.form
    result = {key: value for key, value in data.items() if isinstance(value, str)}
    upload = data.get("upload")
    if upload is not None and not isinstance(upload, str):
        result["upload"] = {
            "filename": upload.filename,
            "size": upload.size,
            "content_type": upload.content_type,
            "head": upload.read()[:8].decode("latin-1"),
        }
    return result


@app.post("/size")
async def size(request):
    return {"size": len(request.body)}


@app.get("/meta")
async def meta(request):
    return {
        "client_ip": request.client_ip,
        "is_secure": request.is_secure,
        "cookies": request.cookies,
        "path": request.path,
        "raw_path": request.raw_path,
        "query_string": request.query_string,
        "accept": request.headers.get("accept"),
    }


@app.get("/html")
async def html(request):
    return Response.html("<h1>hi</h1>")


@app.get("/text")
async def text(request):
    return Response.text("plain")


@app.get("/created")
async def created(request):
    return {"ok": True}, 201, {"x-extra": "1"}


@app.get("/redirect")
async def redirect(request):
    return Response.redirect("/target", 303)


@app.get("/cookies")
async def cookies(request):
    response = Response.json({"ok": True})
    response.set_cookie("first", "1")
    response.set_cookie("second", "two words", httponly=True)
    return response


@app.get("/blob")
async def blob(request):
    return Response.file(BLOB)


@app.get("/missing-file")
async def missing_file(request):
    return Response.file(FILES / "does-not-exist")


@app.get("/stream")
async def stream(request):
    async def parts():
        try:
            for part in ("a", b"b", "c"):
                await asyncio.sleep(0.01)
                yield part
        finally:
            state["stream_closed"] = True

    return Response.stream(parts(), media_type="text/plain")


@app.get("/sync-stream")
def sync_stream(request):
    return Response.stream(iter(["x", "y"]), media_type="text/plain")


@app.get("/sse")
async def sse(request):
    async def events():
        yield {"event": "tick", "data": "line1\nline2", "id": 1}
        yield "plain"

    return Response.sse(events())


@app.get("/sync")
def sync_handler(request):
    return {"thread": threading.current_thread().name}


@app.get("/slow-sync")
def slow_sync(request):
    time.sleep(1.0)
    return {"slow": True}


@app.get("/framed")
async def framed(request):
    # A handler's own X-Frame-Options: production mode keeps it (never a second one).
    return Response.text("framed", headers={"X-Frame-Options": "SAMEORIGIN"})


@app.get("/boom")
async def boom(request):
    raise ValueError("kaboom")


@app.get("/teapot")
async def teapot(request):
    raise HTTPException(418, "I'm a teapot", headers={"x-tea": "earl grey"})


@app.get("/bad-result")
async def bad_result(request):
    return object()


if __name__ == "__main__":
    app.run(
        host=os.environ.get("HOST", "127.0.0.1"),
        port=int(os.environ.get("PORT", "0")),
        prod=os.environ.get("PROD") == "1",
    )
