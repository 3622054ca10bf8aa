"""The project's ASGI_APPLICATION (as Channels projects have it): HTTP to Django's
ASGI handler, WebSockets to mysite/websockets.py; runziserver hands it its
WebSocket upgrades. (mysite/asgi.py stays Django's plain handler: the benchmarks
serve it with uvicorn, and a peer must not pay for this dispatch.)"""

from mysite.asgi import application as django_application
from mysite.websockets import websocket_application


async def application(scope, receive, send):
    if scope["type"] == "websocket":
        return await websocket_application(scope, receive, send)
    return await django_application(scope, receive, send)
