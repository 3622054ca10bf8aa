"""The spec's Quick Start. `make run` serves it on http://127.0.0.1:8000.

HOST and PORT in the environment override the address (PORT=0 picks a free port).
"""

import os

from hyperdjango import HyperApp

app = HyperApp("myapp")


@app.get("/")
async def index(request):
    return {"message": "Hello!"}


@app.post("/users")
async def create_user(request):
    data = request.json
    return {"created": data["name"]}, 201


if __name__ == "__main__":
    app.run(host=os.environ.get("HOST", "127.0.0.1"), port=int(os.environ.get("PORT", "8000")))
