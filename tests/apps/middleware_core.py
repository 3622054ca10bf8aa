"""Served app for tests/test_middleware_core.py: custom middleware around every kind of answer."""

import asyncio
import contextvars
import os
import tempfile

from hyperdjango import HyperApp
from hyperdjango.exceptions import HTTPException
from hyperdjango.response import Response
from hyperdjango.router import Router

app = HyperApp("middleware-core", max_body_size=64 * 1024)
current_user = contextvars.ContextVar("current_user", default="nobody")
handler_runs = {"count": 0}

STATIC_FILE = os.path.join(tempfile.mkdtemp(), "hello.txt")
with open(STATIC_FILE, "w") as file:
    file.write("file body\n")


async def outer(request, call_next):
    """Registered first: outermost."""
    trail = request.state.trail = ["outer"]
    request.state.seen_type = None
    if request.path == "/blocked":
        return Response.json({"blocked": True}, status=403)
    if request.path == "/mw-raise":
        raise RuntimeError("middleware exploded")
    if request.path == "/mw-http-error":
        raise HTTPException(429, "slow down", {"Retry-After": "7"})
    if request.path == "/mw-returns-none":
        return None
    if request.path == "/slow-mw":
        await asyncio.sleep(1.5)
    current_user.set(request.headers.get("x-user", "anonymous"))
    request.user = request.headers.get("x-user", "anonymous")
    if request.method == "POST":
        request.state.body_length = len(request.body)
    request.state.param_type = {k: type(v).__name__ for k, v in request.path_params.items()}
    response = await call_next(request)
    trail.append("outer-after")
    response.headers["X-Trail"] = ",".join(trail)
    response.headers["X-Chain"] = "yes"
    response.headers["X-Seen-Class"] = type(response).__name__
    response.headers["X-Seen-Status"] = str(response.status_code)
    response.headers["X-Seen-Type"] = response.headers.get("CONTENT-TYPE", "-")
    response.headers["X-Param-Types"] = repr(request.state.param_type)
    if request.method == "POST":
        response.headers["X-Body-Length"] = str(request.state.body_length)
    if request.path == "/teapot":
        response.status_code = 418
    if request.path == "/cookies":
        response.headers.add("Set-Cookie", "second=2; Path=/")
    if request.path == "/raw-mutate":
        # In-place changes of the header list must reach the wire too.
        response.headers.raw[0] = ("content-type", "text/x-mutated")
        response.headers.raw.append(("x-appended", "1"))
    return response


class Inner:
    """Registered second, an object with an async __call__."""

    async def __call__(self, request, call_next):
        request.state.trail.append("inner")
        if request.path == "/replace":
            await call_next(request)
            return Response.text("replaced", status=202)
        if request.path == "/inner-raise":
            raise ValueError("inner middleware exploded")
        response = await call_next(request)
        request.state.trail.append("inner-after")
        return response


app.use(outer)
app.use(Inner())


@app.get("/")
async def index(request):
    handler_runs["count"] += 1
    return {"message": "Hello!"}


@app.get("/raw-mutate")
async def raw_mutate(request):
    return {"mutated": True}


@app.get("/untouched")
async def untouched(request):
    return {"untouched": True}


@app.get("/runs")
async def runs(request):
    return {"count": handler_runs["count"]}


@app.get("/blocked")
async def blocked(request):
    handler_runs["count"] += 1
    return {"ran": True}


@app.get("/replace")
async def replace(request):
    return {"original": True}


@app.get("/teapot")
async def teapot(request):
    return "short and stout"


@app.get("/dict")
async def as_dict(request):
    return {"kind": "dict"}


@app.get("/list")
async def as_list(request):
    return [1, 2, 3]


@app.get("/str")
async def as_str(request):
    return "text body"


@app.get("/bytes")
async def as_bytes(request):
    return b"\x00\x01raw"


@app.get("/tuple2")
async def as_tuple2(request):
    return {"created": True}, 201


@app.get("/tuple3")
async def as_tuple3(request):
    return "custom", 203, {"X-Handler": "set", "Content-Type": "text/x-custom"}


@app.get("/response")
async def as_response(request):
    return Response.html("<p>hi</p>", status=200, headers={"X-Handler": "set"})


@app.get("/response-tuple")
async def as_response_tuple(request):
    return Response.text("tupled"), 206, {"X-Extra": "1"}


@app.get("/stream")
async def as_stream(request):
    async def chunks():
        for index in range(3):
            yield f"chunk{index};"

    return Response.stream(chunks(), media_type="text/plain")


@app.get("/sse")
async def as_sse(request):
    async def events():
        yield {"event": "greeting", "data": "hello"}

    return Response.sse(events())


@app.get("/file")
async def as_file(request):
    return Response.file(STATIC_FILE)


@app.get("/cookies")
async def cookies(request):
    response = Response.json({"ok": True})
    response.set_cookie("first", "1")
    return response


@app.get("/handler-raise")
async def handler_raise(request):
    raise RuntimeError("handler exploded")


@app.get("/handler-http-error")
async def handler_http_error(request):
    raise HTTPException(404, "no such thing")


@app.get("/mw-raise")
async def mw_raise(request):
    return {"unreachable": True}


@app.get("/inner-raise")
async def inner_raise(request):
    return {"unreachable": True}


@app.get("/mw-http-error")
async def mw_http_error(request):
    return {"unreachable": True}


@app.get("/mw-returns-none")
async def mw_returns_none(request):
    return {"unreachable": True}


@app.get("/slow-mw")
async def slow_mw(request):
    return {"slow": True}


@app.get("/slow-handler")
async def slow_handler(request):
    await asyncio.sleep(0.05)
    return {"user": current_user.get(), "attribute": request.user}


@app.get("/whoami")
async def whoami(request):
    return {
        "user": current_user.get(),
        "attribute": request.user,
        "trail": request.state.trail,
    }


@app.get("/sync")
def sync_handler(request):
    return {"sync": True, "user": current_user.get()}


@app.get("/items/{id:int}/{slug}")
async def item(request, id, slug):
    return {"id": id, "slug": slug}


@app.post("/echo")
async def echo(request):
    return {"echo": request.json}


@app.post("/form")
async def form(request):
    return {"name": request.form.get("name")}


@app.get("/with/slash/")
async def with_slash(request):
    return {"slash": True}


@app.get("/use-now")
async def use_now(request):
    try:

        async def late(request, call_next):
            return await call_next(request)

        app.use(late)
    except RuntimeError as error:
        return {"error": str(error)}
    return {"error": None}


blog = Router()


async def post_list(request):
    return {"posts": []}


blog.get("/", post_list)
app.router.include("/blog", blog)

if __name__ == "__main__":
    app.run(
        host=os.environ.get("HOST", "127.0.0.1"),
        port=int(os.environ.get("PORT", "8000")),
        prod=os.environ.get("PROD") == "1",
    )
