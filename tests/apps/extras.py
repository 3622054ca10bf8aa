"""Cookies, redirects, Set-Cookie and proxy headers (parts of the request/response surface)."""

import os

from hyperdjango import HyperApp
from hyperdjango.response import Response

trusted = os.environ.get("TRUSTED")
app = HyperApp("extras", trusted_proxies=trusted.split(",") if trusted else None)


@app.get("/cookies")
async def cookies(request):
    return request.cookies


@app.get("/redirect")
async def redirect(request):
    return Response.redirect(request.query["to"], status=int(request.query.get("status", "302")))


@app.get("/set-cookies")
async def set_cookies(request):
    response = Response.json({"ok": True})
    response.set_cookie("session", "a b;c", httponly=True, secure=True, max_age=3600)
    response.set_cookie("theme", "dark", samesite="strict", path="/app")
    response.delete_cookie("old")
    return response


@app.get("/bad-cookie")
async def bad_cookie(request):
    response = Response.json({})
    response.set_cookie("bad name", "x")
    return response


@app.get("/client")
async def client(request):
    return {
        "client_ip": request.client_ip,
        "is_secure": request.is_secure,
        "peer": request.client[0],
    }


if __name__ == "__main__":
    app.run(host=os.environ.get("HOST", "127.0.0.1"), port=int(os.environ.get("PORT", "0")))
