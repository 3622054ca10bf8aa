"""A raw RSGI app (Granian's native interface) answering GET / with the Quick Start's JSON."""

BODY = b'{"message":"Hello!"}'
HEADERS = [("content-type", "application/json")]


async def app(scope, protocol):
    protocol.response_bytes(200, HEADERS, BODY)
