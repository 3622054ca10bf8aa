# RateLimitMiddleware's Redis backend is tested against a real redis-server the tests start
# themselves (tests/test_middleware_redis.py).
need_debian_packages redis-server
