"""The main served test app: one route per behaviour the tests check."""

import asyncio
import contextvars
import os
import threading
import time

from hyperdjango import HyperApp
from hyperdjango.exceptions import HTTPException
from hyperdjango.response import Response

app = HyperApp("testapp", max_body_size=int(os.environ.get("MAX_BODY_SIZE", str(64 * 1024))))
request_id = contextvars.ContextVar("request_id", default=None)
calls = {"count": 0}


@app.get("/")
async def index(request):
    return {"message": "Hello!"}


@app.post("/users")
async def create_user(request):
    data = request.json
    return {"created": data["name"]}, 201


@app.get("/users/{id:int}")
async def get_user(request, id):
    return {"id": id, "type": type(id).__name__}


@app.put("/users/{id:int}")
async def update_user(request, id):
    return {"updated": id, "body": request.json}


@app.patch("/users/{id:int}")
async def patch_user(request, id):
    return {"patched": id}


@app.delete("/users/{id:int}")
async def delete_user(request, id):
    return b"", 204


@app.get("/users/by-name/{username:str}")
async def get_by_name(request, username):
    return {"username": username}


@app.get("/names/{name}")
async def default_converter(request, name):
    return {"name": name}


@app.get("/articles/{slug:slug}")
async def get_article(request, slug):
    return {"slug": slug}


@app.get("/items/{item_id:uuid}")
async def get_item(request, item_id):
    return {"item_id": item_id, "type": type(item_id).__name__}


@app.get("/files/{path:path}")
async def serve_file(request, path):
    return {"path": path}


@app.route("/items", methods=["GET", "POST"])
async def items(request):
    return {"method": request.method}


# -- sync handlers --------------------------------------------------------------


@app.get("/sync/sleep")
def sync_sleep(request):
    time.sleep(1)
    return {"slept": 1}


@app.get("/sync/info/{n:int}")
def sync_info(request, n):
    return {"n": n, "thread": threading.current_thread().name, "path": request.path}


@app.get("/sync/error")
def sync_error(request):
    raise RuntimeError("sync boom")


@app.get("/async/sleep")
async def async_sleep(request):
    await asyncio.sleep(0.05)
    return {"slept": 0.05}


@app.get("/async/sleep-error")
async def async_sleep_error(request):
    await asyncio.sleep(0.01)
    raise HTTPException(409, "conflict after await")


# -- return values --------------------------------------------------------------


@app.get("/return/str")
async def return_str(request):
    return "hello"


@app.get("/return/bytes")
async def return_bytes(request):
    return b"\x00\x01binary"


@app.get("/return/list")
async def return_list(request):
    return [1, "two", None, True, 2.5, {"nested": ["x"]}]


@app.get("/return/tuple2")
async def return_tuple2(request):
    return {"accepted": True}, 202


@app.get("/return/tuple3")
async def return_tuple3(request):
    return "made", 201, {"X-Thing": "yes", "Content-Type": "text/x-custom"}


@app.get("/return/response")
async def return_response(request):
    response = Response.json({"x": 1}, status=203)
    response.headers["X-Custom"] = "value"
    response.headers.add("Set-Cookie", "a=1")
    response.headers.add("Set-Cookie", "b=2")
    return response


@app.get("/return/html")
async def return_html(request):
    return Response.html("<h1>Hello</h1>")


@app.get("/return/text")
async def return_text(request):
    return Response.text("Not Found", status=404)


@app.get("/return/int")
async def return_int(request):
    return 42


@app.get("/return/none")
async def return_none(request):
    return None


@app.get("/return/unicode")
async def return_unicode(request):
    return {"text": 'héllo "quoted" \n ✓', "big": 2**70}


@app.get("/return/unserialisable")
async def return_unserialisable(request):
    return {"value": object()}


@app.get("/return/bad-header")
async def return_bad_header(request):
    return "x", 200, {"X-Injected": "a\r\nSet-Cookie: evil=1"}


@app.get("/return/bad-status")
async def return_bad_status(request):
    return "x", 1000


# -- errors ---------------------------------------------------------------------


@app.get("/raise/http")
async def raise_http(request):
    raise HTTPException(418, "I'm a teapot", headers={"X-Tea": "earl grey"})


@app.get("/raise/error")
async def raise_error(request):
    raise ValueError("boom")


# -- request --------------------------------------------------------------------


@app.route("/echo", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
async def echo(request):
    return {
        "method": request.method,
        "path": request.path,
        "query": dict(request.query),
        "tags": request.query.getlist("tag"),
        "content_type": request.headers.get("content-type"),
        "x_multi": request.headers.getlist("x-multi"),
        "length": len(request.bytes),
        "http_version": request.http_version,
    }


@app.post("/echo/json")
async def echo_json(request):
    return {"json": request.json}


@app.post("/echo/text")
async def echo_text(request):
    return {"text": request.text}


@app.post("/echo/bytes")
async def echo_bytes(request):
    return request.bytes


@app.get("/contextvar/{value}")
async def contextvar_isolation(request, value):
    before = request_id.get()
    request_id.set(value)
    await asyncio.sleep(0.01)
    return {"before": before, "after": request_id.get()}


@app.get("/count")
async def count(request):
    calls["count"] += 1
    return {"count": calls["count"]}


if __name__ == "__main__":
    app.run(
        host=os.environ.get("HOST", "127.0.0.1"),
        port=int(os.environ.get("PORT", "0")),
        prod=os.environ.get("PROD") == "1",
    )
