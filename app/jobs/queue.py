"""The JobQueue seam and its embedded implementation: a pool of worker processes.

Messages carry a job id only. The dispatcher thread asks the store for the next queued jobs
(highest priority first, then oldest) whenever a worker is free, so priority applies to every
job still waiting, and hands the id to a worker process that calls :func:`run_job`. Worker
processes send job events back through a multiprocessing queue; a forwarder thread relays them
onto the server's event bus. A worker that dies takes only its current attempt with it: the job
goes back to the queue and runs again.
"""

from __future__ import annotations

import functools
import logging
import multiprocessing as mp
import os
import queue as queue_mod
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Protocol

from app.events import EventBus
from app.jobs.models import ACTIVE_STATES, JobEvent, JobState
from app.jobs.store import JobStore
from app.settings import Settings

__all__ = ["InProcessQueue", "JobQueue"]

log = logging.getLogger("hush.queue")


class JobQueue(Protocol):
    """Runs ``run_job(job_id)`` somewhere, highest priority first."""

    def start(self) -> None: ...
    def stop(self) -> None: ...
    def enqueue(self, job_id: str, priority: int) -> None:
        """Make ``job_id`` (already committed as queued) eligible to run."""
        ...


# --------------------------------------------------------------------------- worker process side
_worker_ctx: Any = None


def _watch_parent(parent_pid: int) -> None:
    while True:
        if os.getppid() != parent_pid:
            os._exit(3)  # the server died: stop rather than run on as an orphan
        time.sleep(0.5)


def _worker_init(settings: Settings, events: Any, parent_pid: int) -> None:
    global _worker_ctx
    from app.jobs.runner import RunContext
    from app.jobs.store import SqliteJobStore
    from app.storage import LocalBlobStore

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    threading.Thread(target=_watch_parent, args=(parent_pid,), daemon=True).start()

    def publish(event: JobEvent) -> None:
        events.put(event.model_dump_json())

    _worker_ctx = RunContext(
        settings=settings,
        store=SqliteJobStore(settings.db_path),
        blobs=LocalBlobStore(settings.blob_dir),
        publish=publish,
    )


def _warm() -> None:
    """Import the heavy modules now, so the first job does not pay for them."""
    import importlib.util

    import app.jobs.runner
    import app.media  # noqa: F401

    for name in ("dsp.denoise", "dsp.vad", "dsp.loudness"):
        if importlib.util.find_spec(name) is not None:
            importlib.import_module(name)


def _worker_run(job_id: str) -> None:
    from app.jobs.runner import run_job

    run_job(job_id, _worker_ctx)


# --------------------------------------------------------------------------- server side
class InProcessQueue:
    """A pool of ``settings.workers`` processes fed from the job store."""

    def __init__(self, settings: Settings, store: JobStore, bus: EventBus) -> None:
        self.settings = settings
        self.store = store
        self.bus = bus
        self.size = settings.workers
        self._cond = threading.Condition()
        self._inflight: set[str] = set()
        self._stopping = False
        self._pool: ProcessPoolExecutor | None = None
        self._mp = mp.get_context("spawn")
        self._events: Any = None
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        self._events = self._mp.Queue()
        self._pool = self._new_pool()
        for _ in range(self.size):  # start every worker now and load its modules
            self._pool.submit(_warm)
        self._stopping = False
        for target, name in ((self._dispatch_loop, "hush-dispatch"), (self._forward_loop, "hush-events")):
            t = threading.Thread(target=target, name=name, daemon=True)
            t.start()
            self._threads.append(t)

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=self.size,
            mp_context=self._mp,
            initializer=_worker_init,
            initargs=(self.settings, self._events, os.getpid()),
        )

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._pool is not None:
            procs = list((getattr(self._pool, "_processes", None) or {}).values())
            self._pool.shutdown(wait=False, cancel_futures=True)
            for proc in procs:  # a running job is abandoned; it re-runs at the next start
                proc.terminate()
        if self._events is not None:
            self._events.put(None)
        for t in self._threads:
            t.join(timeout=5)
        self._threads.clear()

    def enqueue(self, job_id: str, priority: int) -> None:
        with self._cond:
            self._cond.notify_all()

    def drain(self, timeout_s: float = 60.0) -> None:
        """Block until no job is queued or running (tests use this like a burst worker)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._cond:
                busy = bool(self._inflight)
            if not busy and not self.store.next_queued():
                return
            time.sleep(0.05)
        raise TimeoutError(f"queue not drained within {timeout_s} s")

    @property
    def busy_workers(self) -> int:
        with self._cond:
            return len(self._inflight)

    def _dispatch_loop(self) -> None:
        while True:
            with self._cond:
                while not self._stopping and len(self._inflight) >= self.size:
                    self._cond.wait(1.0)
                if self._stopping:
                    return
                free = self.size - len(self._inflight)
                exclude = list(self._inflight)
            try:
                ids = self.store.next_queued(exclude=exclude, limit=free)
            except Exception:  # the store is briefly locked or closing: try again shortly
                log.exception("dispatcher could not read the queue")
                ids = []
            if not ids:
                with self._cond:
                    if not self._stopping:
                        self._cond.wait(1.0)
                continue
            for job_id in ids:
                self._submit(job_id)

    def _submit(self, job_id: str) -> None:
        assert self._pool is not None
        with self._cond:
            self._inflight.add(job_id)
        try:
            fut = self._pool.submit(_worker_run, job_id)
        except (BrokenProcessPool, RuntimeError):
            with self._cond:
                self._inflight.discard(job_id)
                if self._stopping:
                    return
            self._pool = self._new_pool()
            return
        fut.add_done_callback(functools.partial(self._done, job_id))

    def _done(self, job_id: str, fut: Future[None]) -> None:
        exc = None if fut.cancelled() else fut.exception()
        if exc is not None:
            log.error("worker failed on job %s: %r", job_id, exc)
            job = self.store.get(job_id)
            if job is not None and job.state in ACTIVE_STATES:
                # the worker died mid-job; the runner is idempotent, so run it again
                updated = self.store.update(job_id, attempt=job.attempt, state=JobState.queued, progress=0.0)
                if updated is not None:
                    self.bus.publish(JobEvent(job_id=job_id, job=updated))
            if isinstance(exc, BrokenProcessPool) and not self._stopping:
                old = self._pool
                self._pool = self._new_pool()
                if old is not None:
                    old.shutdown(wait=False, cancel_futures=True)
        with self._cond:
            self._inflight.discard(job_id)
            self._cond.notify_all()

    def _forward_loop(self) -> None:
        while True:
            try:
                raw = self._events.get(timeout=1.0)
            except queue_mod.Empty:
                if self._stopping:
                    return
                continue
            except (EOFError, OSError):
                return
            if raw is None:
                return
            self.bus.publish(JobEvent.model_validate_json(raw))
