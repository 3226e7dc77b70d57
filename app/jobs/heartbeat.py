"""Worker heartbeats: how the API servers of a cluster know that ``hush worker`` processes are alive.

Each ``hush worker`` (the Celery main process) keeps one key in the broker's Redis database,
``hush:heartbeat:<id>``, with a time to live of ``HUSH_WORKER_HEARTBEAT_TTL_S``, rewritten by a
thread every third of it, and its id in the set ``hush:heartbeats``. The key holds JSON: host,
pid, ``concurrency`` (the jobs it runs at once) and when it started. It is written once Celery
says the worker is consuming (``worker_ready``) and deleted as soon as it begins to shut down
(``worker_shutting_down``: from then on it takes no new job); a worker killed hard, or a machine
that vanished, drops out when its key expires.

An API server reads them with one Lua script (:func:`live_workers`): the set's members whose key
still exists, dropping the others from the set. One round trip, the cost grows with the workers,
not with the database (no ``SCAN``), and Redis's own clock does the expiry, so the machines'
clocks need not agree.

Celery's own means were not used: ``inspect().ping()`` is a broadcast that waits out its whole
timeout and needs remote control, and worker heartbeats need the event stream; both are off
(``worker_enable_remote_control=False``, ``--without-heartbeat``), and would make every readiness
probe or status poll wait on the slowest worker.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

__all__ = ["HEARTBEATS", "HEARTBEAT_PREFIX", "Heartbeat", "LiveWorker", "connect", "live_workers"]

log = logging.getLogger("hush.heartbeat")

#: The set of worker ids that beat (or did: the reader drops ids whose key expired).
HEARTBEATS = "hush:heartbeats"
#: Prefix of one worker's heartbeat key; the rest is its id.
HEARTBEAT_PREFIX = "hush:heartbeat:"

#: The members of KEYS[1] whose key ARGV[1]..id exists, as their values; the others are removed.
_LIVE = """
local alive = {}
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local beat = redis.call('GET', ARGV[1] .. id)
  if beat then
    alive[#alive + 1] = beat
  else
    redis.call('SREM', KEYS[1], id)
  end
end
return alive
"""


@dataclass(frozen=True)
class LiveWorker:
    """One worker whose heartbeat has not expired."""

    id: str
    host: str
    pid: int
    concurrency: int
    started_at: float


def connect(redis_url: str) -> Any:
    """A Redis client for heartbeats, with short timeouts."""
    import redis

    # short timeouts: a readiness probe or a status poll must not hang on a broker that went away
    return redis.Redis.from_url(redis_url, socket_timeout=2, socket_connect_timeout=2)


def live_workers(client: Any) -> list[LiveWorker]:
    """The workers alive now (one Redis round trip); raises redis' errors when Redis does not answer."""
    found = []
    for raw in client.eval(_LIVE, 1, HEARTBEATS, HEARTBEAT_PREFIX):
        try:
            beat = json.loads(raw)
            found.append(
                LiveWorker(
                    id=str(beat["id"]),
                    host=str(beat["host"]),
                    pid=int(beat["pid"]),
                    concurrency=int(beat["concurrency"]),
                    started_at=float(beat["started_at"]),
                )
            )
        except (ValueError, KeyError, TypeError):
            log.warning("ignoring a malformed worker heartbeat: %r", raw[:200])
    return found


class Heartbeat:
    """This worker's heartbeat: :meth:`start` writes it and keeps it fresh, :meth:`stop` deletes it.

    ``ttl_s`` is how long the key lives without a refresh; it is rewritten every third of that,
    so one slow or lost write does not make a live worker look dead.
    """

    def __init__(self, redis_url: str, *, ttl_s: float, concurrency: int) -> None:
        self.ttl_s = ttl_s
        host = socket.gethostname()
        self.id = f"{host}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.key = HEARTBEAT_PREFIX + self.id
        self._value = json.dumps(
            {"id": self.id, "host": host, "pid": os.getpid(), "concurrency": concurrency, "started_at": time.time()}
        )
        self._redis = connect(redis_url)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def beat(self) -> None:
        """Write the key with its time to live, and the id into the set (one transaction)."""
        pipe = self._redis.pipeline(transaction=True)
        pipe.set(self.key, self._value, px=max(1, round(self.ttl_s * 1000)))
        pipe.sadd(HEARTBEATS, self.id)
        pipe.execute()

    def start(self) -> None:
        """Beat now and every third of the TTL in a daemon thread (a second call does nothing)."""
        with self._lock:
            if self._thread is not None:
                return
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="hush-heartbeat", daemon=True)
            self._thread.start()
        log.info("heartbeat %s every %.1f s (expires after %.1f s)", self.key, self.ttl_s / 3.0, self.ttl_s)

    def _run(self) -> None:
        failing = False
        while True:
            try:
                self.beat()
                if failing:
                    log.info("heartbeat written again")
                failing = False
            except Exception as exc:  # Redis away: say so once, keep trying
                if not failing:
                    log.warning("cannot write the heartbeat to Redis (%s); the API servers count this worker out", exc)
                failing = True
            if self._stop.wait(self.ttl_s / 3.0):
                return

    def stop(self) -> None:
        """Stop beating and delete the key and the id: the API servers count this worker out at once."""
        with self._lock:
            thread, self._thread = self._thread, None
        self._stop.set()
        if thread is not None:
            thread.join(timeout=5)
        try:
            pipe = self._redis.pipeline(transaction=True)
            pipe.delete(self.key)
            pipe.srem(HEARTBEATS, self.id)
            pipe.execute()
        except Exception as exc:  # its key expires by itself
            log.warning("could not delete the heartbeat %s (%s); it expires in %.1f s", self.key, exc, self.ttl_s)

    def close(self) -> None:
        """Release the Redis connections."""
        self._redis.close()
