"""The Quick Start's GET / on Starlette (served by uvicorn)."""

from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route


async def index(request):
    return JSONResponse({"message": "Hello!"})


app = Starlette(routes=[Route("/", index)])
