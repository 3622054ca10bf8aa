"""Streamed responses and Server-Sent Events.

The native side holds at most a few chunks per stream (a bounded channel); the
pump below waits while that queue is full, so a slow client slows the
producer instead of filling memory.

When the client goes away the generator is closed, so its ``finally:`` blocks
run. The connection watches the socket while the stream waits for the
generator, so this happens as soon as the disconnect is seen, not when the
generator next produces: the native side rings the server loop, which calls
``close_abandoned()``; that cancels the pumps of closed streams (the
generator gets ``CancelledError`` where it awaits, or ``GeneratorExit`` at
its ``yield``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Iterable, Mapping
from typing import Any

logger = logging.getLogger("hyperdjango.error")

_loop: asyncio.AbstractEventLoop | None = None
# Running pumps and the sender each feeds (removed as a pump finishes).
_pumps: dict[asyncio.Task[None], Any] = {}


def bind_loop(loop: asyncio.AbstractEventLoop | None) -> None:
    """Called by the server: stream pumps run on its loop."""
    global _loop
    _loop = loop


def running_tasks() -> set[asyncio.Task[None]]:
    """The stream pumps still running (cancelled at the drain deadline)."""
    return set(_pumps)


def start(source: Any, sender: Any) -> None:
    """Start pumping ``source`` into ``sender`` on the server loop (any thread)."""
    if _loop is None:
        sender.abort()
        raise RuntimeError("streamed responses need the hyperdjango server running")

    def create() -> None:
        task = asyncio.ensure_future(_pump(source, sender))
        _pumps[task] = sender
        task.add_done_callback(_forget)

    _loop.call_soon_threadsafe(create)


def _forget(task: asyncio.Task[None]) -> None:
    _pumps.pop(task, None)


def close_abandoned() -> None:
    """Called on the server loop when a stream lost its client: cancel the
    pumps whose client is gone, which closes their generators."""
    for task, sender in list(_pumps.items()):
        if sender.closed:
            _pumps.pop(task, None)
            task.cancel()


async def _chunks(source: Any) -> AsyncGenerator[Any, None]:
    if isinstance(source, AsyncIterable):
        async for chunk in source:
            yield chunk
    else:
        for chunk in source:
            yield chunk


async def _pump(source: Any, sender: Any) -> None:
    chunks = _chunks(source)
    try:
        async for chunk in chunks:
            delay = 0.001
            while not sender.try_send(chunk):  # full: the client is slower than we are
                await asyncio.sleep(delay)
                delay = min(delay * 2, 0.05)
    except (ConnectionResetError, asyncio.CancelledError):
        pass  # the client went away; closing the generator below runs its finally blocks
    except Exception:
        logger.exception("Exception in a streamed response; the connection is cut")
        sender.abort()
    finally:
        # No longer cancellable by close_abandoned: the cleanup below must finish.
        _pumps.pop(asyncio.current_task(), None)  # type: ignore[arg-type]
        sender.close()
        await chunks.aclose()
        aclose = getattr(source, "aclose", None)
        if aclose is not None:
            with contextlib.suppress(RuntimeError):
                await aclose()


def format_event(event: Any) -> bytes:
    """One SSE event: a dict with ``event``, ``data``, ``id``, ``retry`` (or a plain string as data)."""
    if isinstance(event, (str, bytes)):
        event = {"data": event}
    if not isinstance(event, Mapping):
        raise TypeError(f"SSE events must be dicts or strings, not {type(event).__name__}")
    lines = []
    for field in ("event", "id"):
        if event.get(field) is not None:
            value = str(event[field])
            if "\n" in value or "\r" in value:
                raise ValueError(f"SSE {field} must be one line: {value!r}")
            lines.append(f"{field}: {value}")
    if event.get("retry") is not None:
        lines.append(f"retry: {int(event['retry'])}")
    data = event.get("data")
    if data is not None:
        text = data.decode() if isinstance(data, bytes) else str(data)
        lines.extend(
            f"data: {line}" for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        )
    return ("\n".join(lines) + "\n\n").encode()


async def sse_stream(
    events: AsyncIterable[Any] | Iterable[Any], keepalive: float
) -> AsyncIterator[bytes]:
    """Formats ``events``, sending a ``: keep-alive`` comment after ``keepalive`` idle seconds."""
    queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=1)
    finished = object()
    source = _chunks(events)

    async def produce() -> None:
        try:
            async for event in source:
                await queue.put(format_event(event))
        finally:
            await queue.put(finished)

    producer = asyncio.ensure_future(produce())
    try:
        while True:
            try:
                item = await asyncio.wait_for(queue.get(), keepalive)
            except TimeoutError:
                yield b": keep-alive\n\n"
                continue
            if item is finished:
                if (
                    producer.done()
                    and not producer.cancelled()
                    and producer.exception() is not None
                ):
                    raise producer.exception()  # type: ignore[misc]
                return
            yield item
    finally:
        producer.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await producer
        with contextlib.suppress(RuntimeError):
            await source.aclose()
        aclose = getattr(events, "aclose", None)
        if aclose is not None:
            with contextlib.suppress(RuntimeError):
                await aclose()
