"""Served app for tests/test_middleware_redis.py: a rate limit shared through Redis."""

import logging
import os

from hyperdjango import HyperApp
from hyperdjango.standalone_middleware import RateLimitMiddleware

logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
app = HyperApp("middleware-redis")
app.use(
    RateLimitMiddleware(
        rate=os.environ.get("RATE", "5/day"),
        backend=os.environ["REDIS_URL"],
        prefix=os.environ.get("PREFIX", "test:"),
        fail_open=os.environ.get("FAIL_OPEN", "1") == "1",
    )
)


@app.get("/")
async def index(request):
    return {"message": "Hello!"}


if __name__ == "__main__":
    app.run(host=os.environ.get("HOST", "127.0.0.1"), port=int(os.environ.get("PORT", "8000")))
