"""HyperApp(static=...) serving STATIC_DIR natively."""

import os

from hyperdjango import HyperApp

app = HyperApp("site", static=os.environ["STATIC_DIR"])


@app.get("/")
async def index(request):
    return {"page": "index"}


if __name__ == "__main__":
    app.run(
        host=os.environ.get("HOST", "127.0.0.1"),
        port=int(os.environ.get("PORT", "0")),
        prod=os.environ.get("PROD") == "1",
    )
