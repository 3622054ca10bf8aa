"""Files served natively: Response.file and Response.attachment from FILES_DIR."""

import os

from hyperdjango import HyperApp
from hyperdjango.response import Response

app = HyperApp("files")
FILES = os.environ["FILES_DIR"]


@app.get("/file/{name}")
async def serve(request, name):
    return Response.file(os.path.join(FILES, name))


@app.get("/download/{name}")
def download(request, name):
    return Response.attachment(os.path.join(FILES, name), filename=request.query.get("as"))


if __name__ == "__main__":
    app.run(host=os.environ.get("HOST", "127.0.0.1"), port=int(os.environ.get("PORT", "0")))
