"""Upload and static-file scenarios on hyperdjango (debug mode: static= is served only there)."""

import os
import sys

from hyperdjango import HyperApp

app = HyperApp("bench-files", static=os.environ["BENCH_STATIC"], max_body_size=4 * 1024 * 1024)


@app.post("/upload")
async def upload(request):
    return {"size": request.form["file"].size}


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=int(sys.argv[1]))
