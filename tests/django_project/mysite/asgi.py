"""The project's ASGI_APPLICATION: HTTP to Django's ASGI handler (uvicorn in the
benchmarks), WebSockets to mysite/websockets.py (runziserver hands it its upgrades)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")
django_application = get_asgi_application()

from mysite.websockets import websocket_application  # noqa: E402 - needs the settings


async def application(scope, receive, send):
    if scope["type"] == "websocket":
        return await websocket_application(scope, receive, send)
    return await django_application(scope, receive, send)
