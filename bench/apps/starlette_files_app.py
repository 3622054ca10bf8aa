"""Upload and static-file scenarios on Starlette (served by uvicorn)."""

import os

from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles


async def upload(request):
    form = await request.form()
    upload = form["file"]
    size = len(await upload.read())
    return JSONResponse({"size": size})


app = Starlette(
    routes=[
        Route("/upload", upload, methods=["POST"]),
        Mount("/static", StaticFiles(directory=os.environ["BENCH_STATIC"])),
    ]
)
