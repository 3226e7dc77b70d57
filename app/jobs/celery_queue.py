"""The cluster's job queue: Celery on the Redis broker.

A message is a job id and nothing else; the job itself is in the store, and ``run_job`` claims
it there with a lease. Delivery settings follow from that:

- ``task_acks_late`` and ``task_reject_on_worker_lost``: a message is acknowledged after the run,
  so a worker killed mid-job does not lose it; ``worker_prefetch_multiplier=1``: a busy worker
  holds no second message another worker could run now.
- Priorities 0–9 map onto the Redis transport's priority steps, which run step 0 first, as
  ``9 - priority``. Synchronous requests (internal priority 10) go to a queue of their own that
  workers always read first (``queue_order_strategy="priority"``).
- A worker killed hard (``kill -9``) leaves its message unacknowledged until the broker's
  visibility timeout (an hour). Nobody waits for that: the job's lease runs out after
  ``HUSH_LEASE_S``, and the reaper of any API server re-enqueues it. When the old message does
  come back, ``run_job`` finds the job finished and does nothing.
- Each worker announces itself with a heartbeat key in the broker's Redis
  (:mod:`app.jobs.heartbeat`); :meth:`CeleryQueue.workers` counts the live ones for ``/readyz``,
  the wait estimates and the note of a job queued while no worker runs.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any
from urllib.parse import urlsplit

from app.jobs.models import SYNC_PRIORITY, JobEvent
from app.jobs.queue import WorkerCount
from app.settings import Settings

__all__ = ["QUEUE", "SYNC_QUEUE", "CeleryQueue", "make_celery", "run_worker"]

log = logging.getLogger("hush.celery")

#: Queue of the asynchronous jobs.
QUEUE = "hush"
#: Queue of the synchronous requests' jobs, read first by every worker.
SYNC_QUEUE = "hush-sync"
#: Name of the one task.
TASK = "hush.run_job"
#: Seconds before the broker hands an unacknowledged message to another worker. The reaper
#: re-enqueues a dead worker's job long before this; it only bounds how late a duplicate comes.
VISIBILITY_TIMEOUT_S = 3600


def redis_priority(priority: int) -> int:
    """The Redis transport's priority step for a Hush priority 0–9 (its step 0 runs first)."""
    return 9 - max(0, min(priority, 9))


def make_celery(settings: Settings) -> Any:
    """The Celery app on ``settings.redis_url``, with the one task registered."""
    from celery import Celery

    app = Celery("hush", broker=settings.redis_url, set_as_current=False)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        task_default_queue=QUEUE,
        broker_connection_retry_on_startup=True,
        broker_transport_options={
            "priority_steps": list(range(10)),
            "sep": ":",
            "queue_order_strategy": "priority",
            "visibility_timeout": VISIBILITY_TIMEOUT_S,
        },
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        task_send_sent_event=False,
        worker_enable_remote_control=False,
    )

    @app.task(name=TASK, acks_late=True, reject_on_worker_lost=True)  # type: ignore[untyped-decorator]
    def run(job_id: str) -> None:
        from app.jobs.runner import run_job

        run_job(job_id, _context(settings))

    return app


_ctx: Any = None


def _context(settings: Settings) -> Any:
    """This worker process's RunContext, built at its first job (after the fork)."""
    global _ctx
    if _ctx is None:
        from app.jobs.backends import build_bus, build_run_context

        bus = build_bus(settings)
        queue = CeleryQueue(settings)

        def publish(event: JobEvent) -> None:
            bus.publish(event)

        _ctx = build_run_context(settings, publish=publish, enqueue=queue.enqueue)
    return _ctx


class CeleryQueue:
    """JobQueue that sends job ids to Celery workers (``hush worker``) through Redis."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.app = make_celery(settings)
        self._started = False
        self._redis: Any = None
        self._redis_lock = threading.Lock()
        # where the broker is, for messages: scheme, host, port and database, never a password
        url = urlsplit(settings.redis_url)
        self.broker = f"{url.scheme}://{url.hostname}:{url.port or 6379}{url.path}"

    def start(self) -> None:
        self._started = True

    def begin_stop(self) -> None:
        pass  # the workers are other processes, which go on without this server

    def stop(self) -> None:
        self._started = False
        self.app.close()
        with self._redis_lock:
            client, self._redis = self._redis, None
        if client is not None:
            client.close()

    @property
    def running(self) -> bool:
        """Started, and the broker answers (one attempt of at most 2 s: ``/readyz`` asks this, and a
        probe waits about a second; a retry after kombu's 2 s pause made a refused broker 2 s slow)."""
        if not self._started:
            return False
        try:
            with self.app.connection_for_write() as conn:
                conn.ensure_connection(max_retries=0, timeout=2)
        except Exception:
            return False
        return True

    @property
    def exclusive(self) -> bool:
        return False  # workers on other machines may hold leases: only the reaper re-queues

    def workers(self) -> WorkerCount:
        """The ``hush worker`` processes whose heartbeat has not expired, and their job slots."""
        from app.jobs.heartbeat import connect, live_workers

        with self._redis_lock:
            if self._redis is None:
                self._redis = connect(self.settings.redis_url)
            client = self._redis
        found = live_workers(client)
        return WorkerCount(alive=len(found), slots=sum(w.concurrency for w in found))

    def enqueue(self, job_id: str, priority: int) -> None:
        if priority >= SYNC_PRIORITY:
            self.app.send_task(TASK, args=[job_id], queue=SYNC_QUEUE)
        else:
            self.app.send_task(TASK, args=[job_id], queue=QUEUE, priority=redis_priority(priority))


def _sweeper(settings: Settings, period_s: float = 300.0) -> None:
    from app.jobs.service import sweep_leftovers

    log = logging.getLogger("hush.worker")
    while True:
        try:
            sweep_leftovers(settings)
        except Exception:
            log.exception("sweeping the work folders failed")
        time.sleep(period_s)


def run_worker(settings: Settings, *, concurrency: int, loglevel: str = "INFO") -> None:
    """Run a Celery worker in this process (``hush worker``): ``concurrency`` forked job processes.

    Its heartbeat (:mod:`app.jobs.heartbeat`) is written once Celery consumes and deleted as the
    worker begins to shut down, so the API servers count it only while it can take a job."""
    from celery.signals import worker_ready, worker_shutting_down

    from app.jobs.heartbeat import Heartbeat
    from app.logs import configure
    from app.settings import single_threaded_children

    configure(loglevel)
    single_threaded_children()  # one BLAS thread per job process, as in the embedded pool
    # the runs write their work folders here, on the worker's machine: the API servers' janitor
    # never sees them, so the worker sweeps what its killed runs left, now and every 5 minutes
    threading.Thread(target=_sweeper, args=(settings,), name="hush-sweeper", daemon=True).start()
    app = make_celery(settings)
    heartbeat = Heartbeat(settings.redis_url, ttl_s=settings.worker_heartbeat_ttl_s, concurrency=concurrency)

    def ready(**_: Any) -> None:
        heartbeat.start()

    def shutting_down(**_: Any) -> None:
        heartbeat.stop()

    worker_ready.connect(ready, weak=False)
    worker_shutting_down.connect(shutting_down, weak=False)
    try:
        app.worker_main(
            [
                "worker",
                f"--loglevel={loglevel}",
                f"--queues={SYNC_QUEUE},{QUEUE}",
                f"--concurrency={concurrency}",
                "--pool=prefork",
                "--prefetch-multiplier=1",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "-O",
                "fair",
            ]
        )
    finally:
        heartbeat.stop()
        heartbeat.close()
        worker_ready.disconnect(ready)
        worker_shutting_down.disconnect(shutting_down)
