"""The EventBus seam, its in-process implementation and its Redis pub/sub implementation.

Publishers call :meth:`publish` from any thread (the queue's forwarder thread relays events
from worker processes); subscribers are asyncio tasks (websockets, SSE, sync requests waiting
for their job). One bus fans every event out, so N watchers cost N queue puts per change and
no database reads per tick.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Protocol

__all__ = ["ALL_JOBS", "Event", "EventBus", "InProcessEventBus", "RedisEventBus", "put_latest"]


class Event(Protocol):
    """Anything published on the bus: it names the job it is about (``ALL_JOBS`` for broadcasts)."""

    @property
    def job_id(self) -> str: ...


#: Subscribe to this key to receive every event (and the queue-moved broadcasts).
ALL_JOBS = "*"
#: A Redis that cannot take events is logged at most this often (seconds): progress comes every second.
_PUBLISH_WARNING_EVERY_S = 30.0
log = logging.getLogger("hush.events")


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
                loop.call_soon_threadsafe(put_latest, queue, event)
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


def put_latest(queue: asyncio.Queue[Any], event: Any) -> None:
    """Put without blocking; a slow consumer loses the oldest events, never the newest."""
    while queue.full():
        queue.get_nowait()
    queue.put_nowait(event)


class RedisEventBus:
    """Event fan-out across processes and machines through Redis pub/sub.

    Every event is published on one channel (one per Redis database); each server process holds
    one subscription to it (opened by the first local subscriber, confirmed before that
    subscriber reads any state, so a watcher that subscribes, then reads the store, misses no
    transition) and fans the events out to its local subscribers through an
    :class:`InProcessEventBus`. Worker processes only publish. ``decode`` turns a message back
    into an event (the bus does not know the type).

    Pub/sub keeps nothing: a server that is disconnected loses the events of that moment, and
    its watchers catch up by re-reading the store (they do after 5 quiet seconds).
    """

    def __init__(self, url: str, decode: Callable[[bytes], Event], *, channel: str | None = None) -> None:
        import redis

        self._redis = redis.Redis.from_url(url, health_check_interval=30)
        self._decode = decode
        # Redis pub/sub ignores the database number: deployments kept apart by it (db 5 and db 6
        # of one Redis) would hear each other's events, and send each other's webhooks, on one
        # channel. The channel names the database, so the isolation operators expect holds.
        db = int(self._redis.connection_pool.connection_kwargs.get("db", 0) or 0)
        self._channel = channel or f"hush:events:db{db}"
        self._local = InProcessEventBus()
        self._lock = threading.Lock()
        self._listener: threading.Thread | None = None
        self._ready = threading.Event()
        self._failed = threading.Event()  # the listener's last attempt at subscribing failed
        self._last_error = ""
        self._closing = False
        self._last_publish_warning = -float("inf")

    def publish(self, event: Event) -> None:
        """Best effort: live events are a convenience (watchers re-read the store), so a Redis that is
        down for a moment must not fail the job whose progress it carries; it is logged instead."""
        try:
            self._redis.publish(self._channel, event.model_dump_json())  # type: ignore[attr-defined]
        except Exception as exc:  # any broker error: the event is dropped, the work goes on
            now = time.monotonic()
            if now - self._last_publish_warning > _PUBLISH_WARNING_EVERY_S:
                self._last_publish_warning = now
                log.warning("could not publish a job event to Redis (%s); live progress pauses until it is back", exc)

    def _ensure_listening(self) -> None:
        with self._lock:
            if self._listener is None:
                self._listener = threading.Thread(target=self._listen, name="hush-redis-events", daemon=True)
                self._listener.start()
        # a Redis known to be down answers at once: every watcher waited the whole 10 s first
        deadline = time.monotonic() + 10
        while not self._ready.wait(0.05):
            if self._failed.is_set():
                raise ConnectionError(f"no subscription to the Redis event channel: {self._last_error}")
            if time.monotonic() > deadline:
                raise ConnectionError("no subscription to the Redis event channel within 10 s")

    def _listen(self) -> None:
        delay = 1.0  # between reconnection attempts, doubling to 30 s while Redis stays away
        while not self._closing:
            pubsub = self._redis.pubsub(ignore_subscribe_messages=False)
            try:
                pubsub.subscribe(self._channel)
                while not self._closing:
                    message = pubsub.get_message(timeout=1.0)
                    if message is None:
                        continue
                    if message["type"] == "subscribe":
                        self._failed.clear()
                        self._ready.set()
                        delay = 1.0
                    elif message["type"] == "message":
                        try:
                            event = self._decode(message["data"])
                        except Exception:
                            log.exception("undecodable event on %s", self._channel)
                            continue
                        self._local.publish(event)
            except Exception as exc:
                if self._closing:
                    return
                self._last_error = str(exc)
                self._failed.set()
                # one line per attempt, not a traceback a second: the cause is in the message
                log.warning("no Redis event subscription (%s); trying again in %.0f s", exc, delay)
                time.sleep(delay)
                delay = min(delay * 2, 30.0)
            finally:
                with contextlib.suppress(Exception):
                    pubsub.close()

    @asynccontextmanager
    async def subscribe(self, job_id: str) -> AsyncIterator[asyncio.Queue[Any]]:
        if not self._ready.is_set():
            await asyncio.to_thread(self._ensure_listening)
        async with self._local.subscribe(job_id) as queue:
            yield queue

    def close(self) -> None:
        self._closing = True
        if self._listener is not None:
            self._listener.join(timeout=5)
        self._redis.close()
