"""hyperdjango for bench/run_middleware.sh. STACK picks the middleware:

none        the Quick Start alone
builtins    Security + CORS + Timing + RateLimit (high) + Compression(min_size=1024)
noop1/noop5 one / five custom no-op async middleware
gzip        CompressionMiddleware only (GET /json20k is a ~20 KB JSON answer)
"""

import os
import sys

sys.path.insert(0, os.path.dirname(__file__))

from payload import PAYLOAD  # noqa: E402

from hyperdjango import HyperApp  # noqa: E402
from hyperdjango.standalone_middleware import (  # noqa: E402
    CompressionMiddleware,
    CORSMiddleware,
    RateLimitMiddleware,
    SecurityMiddleware,
    TimingMiddleware,
)

app = HyperApp("bench-middleware")
stack = os.environ.get("STACK", "none")
if stack == "builtins":
    app.use(SecurityMiddleware(hsts=True, frame_deny=True))
    app.use(
        CORSMiddleware(
            origins=["https://mysite.com"],
            methods=["GET", "POST", "PUT", "DELETE"],
            headers=["Authorization", "Content-Type"],
            max_age=3600,
        )
    )
    app.use(TimingMiddleware())
    app.use(RateLimitMiddleware(rate="100000000/minute"))
    app.use(CompressionMiddleware(min_size=1024))
elif stack.startswith("noop"):
    for _ in range(int(stack[4:])):

        async def noop(request, call_next):
            return await call_next(request)

        app.use(noop)
elif stack == "gzip":
    app.use(CompressionMiddleware(min_size=1024))


@app.get("/")
async def index(request):
    return {"message": "Hello!"}


@app.get("/json20k")
async def json20k(request):
    return PAYLOAD


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=int(sys.argv[1]) if len(sys.argv) > 1 else 8000)
