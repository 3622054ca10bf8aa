"""A small asyncio Redis client for ``RateLimitMiddleware(backend="redis://...")``.

One connection per process, pipelined: concurrent requests write their
commands back to back and the replies are matched in order, so each request
costs one round trip (an ``EVAL`` of a two-command script) and nothing waits
for another request's reply to be read. Only what the rate limiter needs of
RESP is here: commands out, integers/strings/errors/arrays back.

Redis unreachable: connecting is bounded by ``timeout``, a failed server is
not retried for ``retry_after`` seconds (so a dead Redis costs nothing per
request but a check), and the caller decides what a failure means.
"""

from __future__ import annotations

import asyncio
import collections
import time
from typing import Any
from urllib.parse import unquote, urlsplit

__all__ = ["RedisError", "RedisStore", "parse_redis_url"]

# INCR the window's counter and give a new key its expiry: atomic in Redis.
COUNT_SCRIPT = (
    "local count = redis.call('INCR', KEYS[1]) "
    "if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end "
    "return count"
)


class RedisError(Exception):
    """Redis could not be reached or answered with an error."""


def parse_redis_url(url: str) -> tuple[str, int, str | None, int]:
    """``redis://[:password@]host[:port][/db]`` -> (host, port, password, db)."""
    parts = urlsplit(url)
    if parts.scheme != "redis" or not parts.hostname:
        raise ValueError(
            f"backend {url!r} must be 'memory' or a URL like 'redis://localhost:6379/0'"
        )
    try:
        port = parts.port or 6379
        database = int(parts.path.lstrip("/") or 0)
    except ValueError as error:
        raise ValueError(f"backend {url!r}: bad port or database number") from error
    password = unquote(parts.password) if parts.password else None
    return parts.hostname, port, password, database


def _encode(*arguments: str | int) -> bytes:
    out = [f"*{len(arguments)}\r\n".encode()]
    for argument in arguments:
        data = str(argument).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


async def _read_reply(reader: asyncio.StreamReader) -> Any:
    line = await reader.readline()
    if not line.endswith(b"\r\n"):
        raise RedisError("connection closed by Redis")
    kind, rest = line[:1], line[1:-2]
    if kind == b":":
        return int(rest)
    if kind == b"+":
        return rest.decode()
    if kind == b"-":
        return RedisError(rest.decode(errors="replace"))
    if kind == b"$":
        length = int(rest)
        if length < 0:
            return None
        data = await reader.readexactly(length + 2)
        return data[:-2]
    if kind == b"*":
        count = int(rest)
        return [await _read_reply(reader) for _ in range(max(count, 0))]
    raise RedisError(f"unexpected reply from Redis: {line[:40]!r}")


class RedisStore:
    """Counts hits per key and window in Redis."""

    def __init__(self, url: str, *, timeout: float = 0.25, retry_after: float = 1.0) -> None:
        self.host, self.port, self.password, self.database = parse_redis_url(url)
        self.timeout = timeout
        self.retry_after = retry_after
        self._writer: asyncio.StreamWriter | None = None
        self._waiting: collections.deque[asyncio.Future[Any]] = collections.deque()
        self._connecting: asyncio.Future[None] | None = None
        self._down_until = 0.0
        self._reader_task: asyncio.Task[None] | None = None

    async def _connect(self) -> None:
        if time.monotonic() < self._down_until:
            raise RedisError(f"Redis at {self.host}:{self.port} is down (retrying shortly)")
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(self.host, self.port), self.timeout
            )
        except (OSError, TimeoutError) as error:
            self._down_until = time.monotonic() + self.retry_after
            raise RedisError(
                f"cannot connect to Redis at {self.host}:{self.port}: {error}"
            ) from error
        self._writer = writer
        self._reader_task = asyncio.ensure_future(self._read_replies(reader))
        setup: list[tuple[str, str | int]] = []
        if self.password is not None:
            setup.append(("AUTH", self.password))
        if self.database:
            setup.append(("SELECT", self.database))
        for command in setup:
            reply = await self._call(*command)
            if isinstance(reply, RedisError):
                self._drop(reply)
                raise reply

    async def _read_replies(self, reader: asyncio.StreamReader) -> None:
        try:
            while True:
                reply = await _read_reply(reader)
                if self._waiting:
                    future = self._waiting.popleft()
                    if not future.done():
                        future.set_result(reply)
        except (OSError, asyncio.IncompleteReadError, RedisError, ValueError) as error:
            self._drop(RedisError(f"lost the connection to Redis: {error}"))

    def _drop(self, error: Exception) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.close()
        while self._waiting:
            future = self._waiting.popleft()
            if not future.done():
                future.set_exception(error)

    async def _call(self, *arguments: str | int) -> Any:
        assert self._writer is not None
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting.append(future)
        self._writer.write(_encode(*arguments))
        try:
            return await asyncio.wait_for(asyncio.shield(future), self.timeout)
        except TimeoutError as error:
            # A reply that late means Redis is stuck: start over.
            self._down_until = time.monotonic() + self.retry_after
            self._drop(RedisError("Redis did not answer in time"))
            raise RedisError(f"Redis at {self.host}:{self.port} did not answer in time") from error

    async def hit(self, key: str, window_seconds: int) -> int:
        """Count one hit on ``key`` (expiring with its window); the count so far."""
        if self._writer is None:
            if self._connecting is None:
                self._connecting = asyncio.ensure_future(self._connect())
            connecting = self._connecting
            try:
                await asyncio.shield(connecting)
            finally:
                if self._connecting is connecting and connecting.done():
                    self._connecting = None
        reply = await self._call("EVAL", COUNT_SCRIPT, 1, key, window_seconds)
        if isinstance(reply, RedisError):
            raise reply
        if not isinstance(reply, int):
            raise RedisError(f"unexpected reply from Redis: {reply!r}")
        return reply
