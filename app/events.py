"""The EventBus seam and its in-process implementation.

Publishers call :meth:`publish` from any thread (the queue's forwarder thread relays events
from worker processes); subscribers are asyncio tasks (websockets, SSE, sync requests waiting
for their job). One bus fans every event out, so N watchers cost N queue puts per change and
no database reads per tick.
"""

from __future__ import annotations

import asyncio
import threading
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Protocol

__all__ = ["ALL_JOBS", "Event", "EventBus", "InProcessEventBus"]


class Event(Protocol):
    """Anything published on the bus: it names the job it is about (``ALL_JOBS`` for broadcasts)."""

    @property
    def job_id(self) -> str: ...


#: Subscribe to this key to receive every event (and the queue-moved broadcasts).
ALL_JOBS = "*"


class EventBus(Protocol):
    """Fan-out of job events."""

    def publish(self, event: Event) -> None:
        """Deliver ``event`` to the job's subscribers and to ``ALL_JOBS`` subscribers (thread-safe)."""
        ...

    def subscribe(self, job_id: str) -> AbstractAsyncContextManager[asyncio.Queue[Any]]:
        """Async context manager yielding a queue of events for ``job_id`` (or ``ALL_JOBS``)."""
        ...


class InProcessEventBus:
    """Event fan-out inside one server process."""

    def __init__(self, maxsize: int = 1000) -> None:
        self._subs: dict[str, set[tuple[asyncio.AbstractEventLoop, asyncio.Queue[Any]]]] = defaultdict(set)
        self._lock = threading.Lock()
        self._maxsize = maxsize

    def publish(self, event: Event) -> None:
        with self._lock:
            if event.job_id == ALL_JOBS:  # a broadcast reaches every subscriber
                targets = [t for subs in self._subs.values() for t in subs]
            else:
                targets = [*self._subs.get(event.job_id, ()), *self._subs.get(ALL_JOBS, ())]
        for loop, queue in targets:
            try:
                loop.call_soon_threadsafe(_put_latest, queue, event)
            except RuntimeError:  # the subscriber's loop is closed
                continue

    @asynccontextmanager
    async def subscribe(self, job_id: str) -> AsyncIterator[asyncio.Queue[Any]]:
        queue: asyncio.Queue[Any] = asyncio.Queue(self._maxsize)
        entry = (asyncio.get_running_loop(), queue)
        with self._lock:
            self._subs[job_id].add(entry)
        try:
            yield queue
        finally:
            with self._lock:
                self._subs[job_id].discard(entry)
                if not self._subs[job_id]:
                    del self._subs[job_id]


def _put_latest(queue: asyncio.Queue[Any], event: Any) -> None:
    """Put without blocking; a slow consumer loses the oldest events, never the newest."""
    while queue.full():
        queue.get_nowait()
    queue.put_nowait(event)
