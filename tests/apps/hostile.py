"""A served app for hostile-input tests: open redirects, include prefixes with
parameters, client input that must never become a 500, redirect targets,
error content types and disconnects during streams.

Every handler touches what a client controls (path parameters of every
converter, query, headers, cookies, form, JSON, text, uploads) so the tests
can throw hostile values at them and require a 4xx or a sane answer.
"""

import asyncio
import os
import tempfile
import time

from hyperdjango import HyperApp
from hyperdjango.datastructures import UploadedFile
from hyperdjango.response import Response
from hyperdjango.router import Router

STATIC = tempfile.mkdtemp(prefix="hyperdjango-hostile-static-")
os.makedirs(os.path.join(STATIC, "css"))
with open(os.path.join(STATIC, "css", "site.css"), "w") as handle:
    handle.write("body{}")
app = HyperApp("hostile", max_body_size=2 * 1024 * 1024, static=STATIC)
if os.environ.get("HOSTILE_MIDDLEWARE"):
    # Every built-in, so the corpus reaches what they read (Origin, Referer,
    # Accept-Encoding, the CSRF cookie and header, ...) too.
    from hyperdjango.standalone_middleware import (
        CompressionMiddleware,
        CORSMiddleware,
        CSRFMiddleware,
        LoggingMiddleware,
        RateLimitMiddleware,
        SecurityMiddleware,
        TimingMiddleware,
    )
    from hyperdjango.staticfiles import StaticFilesMiddleware

    app.use(LoggingMiddleware())
    app.use(TimingMiddleware())
    app.use(SecurityMiddleware(csp="default-src 'self'"))
    app.use(CORSMiddleware(["https://ok.example"], allow_credentials=True, headers=["X-Test"]))
    app.use(RateLimitMiddleware("1000000/minute"))
    app.use(CompressionMiddleware(min_size=16))
    app.use(CSRFMiddleware("a long random secret for the hostile corpus"))
    app.use(StaticFilesMiddleware(STATIC, prefix="/assets/"))
SAVE_DIR = os.environ.get("SAVE_DIR") or tempfile.mkdtemp(prefix="hyperdjango-hostile-")
# Served files live apart from uploads, which a client names.
FILE = os.path.join(tempfile.mkdtemp(prefix="hyperdjango-hostile-files-"), "data.bin")
with open(FILE, "wb") as handle:
    handle.write(b"0123456789" * 10)
state: dict[str, float | None] = {}


# -- routing --------------------------------------------------------------------

accounts = Router()


async def account_post(request, uid, pid):
    return {
        "uid": uid,
        "pid": pid,
        "types": [type(uid).__name__, type(pid).__name__],
        "self": app.router.reverse("acct:post", uid=uid, pid=pid),
    }


async def account_file(request, uid, rest):
    return {"uid": uid, "rest": rest}


accounts.get("/posts/{pid:int}", account_post, name="post")
accounts.get("/files/{rest:path}", account_file, name="file")
app.router.include("/r/acct/{uid:int}", accounts, namespace="acct")


@app.get("/ints/{number:int}")
async def int_only(request, number):
    return {"number": str(number)[:20], "digits": len(str(number))}


@app.get("/either/{number:int}")
async def either_int(request, number):
    return {"converter": "int"}


@app.get("/either/{text}")
async def either_text(request, text):
    return {"converter": "str", "length": len(text)}


@app.get("/typed/{slug:slug}/{uid:uuid}/{rest:path}")
async def typed(request, slug, uid, rest):
    return {"slug": slug, "uid": uid, "rest": rest}


# -- request accessors -------------------------------------------------------------


def describe(value):
    if isinstance(value, UploadedFile):
        saved = value.save(SAVE_DIR)
        return {"filename": value.filename, "saved": os.path.basename(saved), "size": value.size}
    return value


@app.route("/touch/{text}", ["GET", "POST", "PUT"])
async def touch(request, text):
    """Reads every client-controlled accessor; 4xx come from the accessors themselves."""
    result = {
        "text": text,
        "path": request.path,
        "raw_path": request.raw_path,
        "query": request.query.multi_items(),
        "headers": len(request.headers.raw),
        "cookies": request.cookies,
        "client_ip": request.client_ip,
        "is_secure": request.is_secure,
    }
    content_type = request.headers.get("content-type", "")
    if "json" in content_type:
        result["json"] = request.json
    elif "form" in content_type:
        result["form"] = [(name, describe(value)) for name, value in request.form.multi_items()]
    elif request.method != "GET":
        result["text_body"] = len(request.text)
    return result


@app.get("/file")
async def file(request):
    return Response.file(FILE)


@app.get("/attachment")
async def attachment(request):
    return Response.attachment(FILE, filename="report é.bin")


@app.get("/go")
async def go(request):
    return Response.redirect(request.query["to"])


@app.get("/inject")
async def inject(request):
    # A header value carrying a client's text with CR/LF: refused, never sent.
    return "body", 200, {"X-Echo": request.query.get("v", "") + "\r\nSet-Cookie: evil=1"}


@app.get("/{page}")
async def page(request, page):
    return {"page": page}


# -- streams ------------------------------------------------------------------------


def recorder(name):
    def record():
        state[name] = time.monotonic()

    return record


@app.get("/slow-sse/{name}")
async def slow_sse(request, name):
    state[name] = None
    done = recorder(name)

    async def events():
        try:
            number = 0
            while True:
                number += 1
                yield {"data": str(number)}
                await asyncio.sleep(6)
        finally:
            done()

    return Response.sse(events(), keepalive=6)


@app.get("/slow-stream/{name}")
async def slow_stream(request, name):
    state[name] = None
    done = recorder(name)

    async def chunks():
        try:
            while True:
                yield b"tick\n"
                await asyncio.sleep(6)
        finally:
            done()

    return Response.stream(chunks(), media_type="text/plain")


@app.get("/slow-sync-stream/{name}")
def slow_sync_stream(request, name):
    state[name] = None
    done = recorder(name)

    async def chunks():
        try:
            yield b"first\n"
            while True:
                await asyncio.sleep(6)
                yield b"tick\n"
        finally:
            done()

    return Response.stream(chunks())


@app.get("/finished/{name}")
async def finished(request, name):
    stamp = state.get(name)
    return {"finished_at": stamp, "now": time.monotonic()}


if __name__ == "__main__":
    app.run(host=os.environ.get("HOST", "127.0.0.1"), port=int(os.environ.get("PORT", "0")))
