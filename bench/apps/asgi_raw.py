"""A raw ASGI app answering GET / with the Quick Start's JSON (for uvicorn and Granian)."""

BODY = b'{"message":"Hello!"}'
HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})
