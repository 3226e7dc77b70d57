"""The JobQueue seam and its embedded implementation: a pool of worker processes.

Messages carry a job id only. A supervisor thread asks the store for the next queued jobs
(highest priority first, then oldest) whenever a worker is idle, so priority applies to every
job still waiting, and hands the id to that worker over its own pipe; the worker calls
:func:`run_job`. Worker processes send job events back through a multiprocessing queue; a
forwarder thread relays them onto the server's event bus.

Each worker is its own process with its own pipe, so a worker that dies takes only its current
attempt with it: that one job goes back to the queue and runs again, the others run on. A run
that outlives the job timeout by ``HARD_TIMEOUT_GRACE_S`` (a decoder stuck in a library call
never reaches a progress check) has its worker killed and ends ``timed_out``.

The workers ignore SIGINT and SIGTERM, which Ctrl+C (or systemd, ``kill -- -PGID``) sends to the
whole process group: the server stops them itself, and gives their runs back uncounted.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing as mp
import multiprocessing.connection as mp_conn
import os
import queue as queue_mod
import signal
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

from app.errors import JobTimeoutError
from app.events import EventBus
from app.jobs.models import ACTIVE_STATES, JobEvent, JobState
from app.jobs.store import JobStore
from app.settings import Settings, single_threaded_children

__all__ = ["HARD_TIMEOUT_GRACE_S", "InProcessQueue", "JobQueue", "WorkerCount"]

log = logging.getLogger("hush.queue")

#: How long past ``job_timeout_s`` a run may go before its worker is killed (the runner's own
#: check, at every progress update, normally ends it first).
HARD_TIMEOUT_GRACE_S = 5.0

#: Prefix of a worker's message asking the server to enqueue a job (the rest is its id).
_ENQUEUE = "enqueue:"

#: Signals that stop the whole process group (Ctrl+C, systemd, ``kill -- -PGID``): a worker ignores
#: them, so that its run is not cut short (and counted as a crash) while the server is stopping.
_STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}


@dataclass(frozen=True)
class WorkerCount:
    """The workers that can take a job now, and how many jobs they run at once."""

    alive: int
    slots: int


class JobQueue(Protocol):
    """Runs ``run_job(job_id)`` somewhere, highest priority first."""

    def start(self) -> None: ...
    def stop(self) -> None: ...
    def begin_stop(self) -> None:
        """The server begins to stop (``stop`` follows once its requests are done): start no job."""
        ...

    def enqueue(self, job_id: str, priority: int) -> None:
        """Make ``job_id`` (already committed as queued) eligible to run."""
        ...

    def workers(self) -> WorkerCount:
        """The workers alive now (may block on a broker round trip: call it off the event loop;
        raises when the broker does not answer)."""
        ...

    @property
    def running(self) -> bool:
        """True while the queue can run jobs (readiness)."""
        ...

    @property
    def exclusive(self) -> bool:
        """True when every worker that can hold a job lives and dies with this queue object (the
        embedded pool): at start, jobs left active are then orphans, re-queued at once instead of
        waiting for their lease to run out."""
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
    from app.jobs.backends import build_run_context
    from app.logs import configure

    configure(settings.log_level)  # the server's --log-level, in the server's format
    threading.Thread(target=_watch_parent, args=(parent_pid,), daemon=True).start()

    def publish(event: JobEvent) -> None:
        events.put(event.model_dump_json())

    def enqueue(job_id: str, priority: int) -> None:
        events.put(_ENQUEUE + job_id)  # the server's forwarder hands it to InProcessQueue.enqueue

    _worker_ctx = build_run_context(settings, publish=publish, enqueue=enqueue)


def _warm() -> None:
    """Import the heavy modules now, so the first job does not pay for them."""
    import importlib

    import app.jobs.runner
    import app.media  # noqa: F401
    from app.jobs.steps import STEPS

    for name in sorted({step.module for step in STEPS.values() if step.shipped}):  # every engine a job may run
        importlib.import_module(name)


def _worker_main(settings: Settings, events: Any, parent_pid: int, conn: Any) -> None:
    """A worker process: run each job id the supervisor sends, answer with the same id."""
    from app.jobs.runner import run_job

    # a Ctrl+C printed a KeyboardInterrupt traceback here and ended the run as a crash: the server
    # stops its workers (blocked since the spawn, so that none came in before this line)
    for sig in _STOP_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)
    _worker_init(settings, events, parent_pid)
    _warm()
    conn.send(_READY)  # jobs are sent, and timed, from here on
    while True:
        try:
            job_id = conn.recv()
        except (EOFError, OSError):
            return
        if job_id is None:
            return
        try:
            run_job(job_id, _worker_ctx)
        except Exception:  # run_job records its own failures; this is a bug, logged, not fatal
            logging.getLogger("hush.worker").exception("run_job raised on job %s", job_id)
        conn.send(job_id)


# --------------------------------------------------------------------------- server side
#: What a worker sends once its imports are done. Until then it is given no job: a job sent to a
#: worker still starting (seconds on a loaded machine) would be timed from before it could begin,
#: and with a short ``job_timeout_s`` killed again with each new worker, never to run.
_READY = "\x00ready"


@dataclass
class _Worker:
    proc: Any
    conn: Any
    job_id: str | None = None
    started: float = 0.0
    born: float = field(default_factory=time.monotonic)
    ready: bool = False  #: its imports are done (it sent _READY)


class InProcessQueue:
    """A pool of ``settings.workers`` processes fed from the job store."""

    def __init__(self, settings: Settings, store: JobStore, bus: EventBus) -> None:
        self.settings = settings
        self.store = store
        self.bus = bus
        self.size = settings.workers
        self._lock = threading.Lock()
        self._workers: list[_Worker] = []
        self._stopping = False
        self._started = False
        self._mp = mp.get_context("spawn")
        self._events: Any = None
        self._wake_r: Any = None
        self._wake_w: Any = None
        self._threads: list[threading.Thread] = []

    # ---------------------------------------------------------------- lifecycle
    def start(self) -> None:
        single_threaded_children()  # the workers inherit it: one BLAS thread per worker process
        self._events = self._mp.Queue()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._stopping = False
        self._workers = [self._spawn() for _ in range(self.size)]  # start every worker now
        self._started = True
        for target, name in ((self._supervise, "hush-supervisor"), (self._forward_loop, "hush-events")):
            t = threading.Thread(target=target, name=name, daemon=True)
            t.start()
            self._threads.append(t)

    def _spawn(self) -> _Worker:
        parent, child = self._mp.Pipe()
        proc = self._mp.Process(
            target=_worker_main,
            args=(self.settings, self._events, os.getpid(), child),
            name="hush-worker",
            daemon=True,
        )
        old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)  # the child inherits it
        try:
            proc.start()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
        child.close()
        return _Worker(proc=proc, conn=parent)

    def begin_stop(self) -> None:
        """No job starts, or runs again after a crash, from now on; the runs go on until :meth:`stop`."""
        self._stopping = True
        self._wake()

    def stop(self) -> None:
        self.begin_stop()
        for t in self._threads:
            if t.name == "hush-supervisor":
                t.join(timeout=5)
        with self._lock:
            workers, self._workers = self._workers, []
        running = [w.job_id for w in workers if w.job_id is not None]
        for w in workers:  # a running job is stopped; it re-runs at the next start
            w.proc.kill()  # (a worker ignores SIGTERM)
        for w in workers:
            w.proc.join(timeout=5)
            w.conn.close()
        for job_id in running:  # ... and the stop does not count as one of its attempts
            self._release(job_id)
        if self._events is not None:
            self._events.put(None)
        for t in self._threads:
            t.join(timeout=5)
        self._threads.clear()
        if self._events is not None:
            # no wait for the queue's feeder thread: a worker that died (SIGSEGV) while writing to
            # the queue keeps its write lock for good, and the stop hung on it (an outside audit
            # saw "Waiting for application shutdown" for over a minute); the reader got None or
            # its 5 s above, and nothing else is waiting for what the feeder holds
            self._events.cancel_join_thread()
            self._events.close()
            self._events = None
        fds, (self._wake_r, self._wake_w) = (self._wake_r, self._wake_w), (None, None)
        for fd in fds:
            if fd is not None:
                os.close(fd)
        self._started = False

    @property
    def running(self) -> bool:
        return self._started and not self._stopping

    @property
    def exclusive(self) -> bool:
        return True

    def enqueue(self, job_id: str, priority: int) -> None:
        self._wake()

    def workers(self) -> WorkerCount:
        """The pool's processes that are alive (the supervisor replaces any that die)."""
        with self._lock:
            alive = sum(1 for w in self._workers if w.proc.is_alive()) if self.running else 0
        return WorkerCount(alive=alive, slots=alive)

    def _wake(self) -> None:
        if self._wake_w is not None:
            # Non-blocking: a full pipe already holds a wake-up, and a closed one means stopping.
            with contextlib.suppress(OSError):
                os.write(self._wake_w, b"!")

    def drain(self, timeout_s: float = 60.0) -> None:
        """Block until no job is queued or running (tests use this like a burst worker)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not self.busy_workers and not self.store.next_queued():
                return
            time.sleep(0.05)
        raise TimeoutError(f"queue not drained within {timeout_s} s")

    @property
    def busy_workers(self) -> int:
        with self._lock:
            return sum(1 for w in self._workers if w.job_id is not None)

    # ---------------------------------------------------------------- supervisor
    def _supervise(self) -> None:
        while not self._stopping:
            with self._lock:
                workers = list(self._workers)
            waitables = [
                self._wake_r,
                *(w.conn for w in workers if w.job_id or not w.ready),
                *(w.proc.sentinel for w in workers),
            ]
            ready = set(mp_conn.wait(waitables, timeout=1.0))
            if self._stopping:
                return
            if self._wake_r in ready:
                with contextlib.suppress(BlockingIOError):
                    while os.read(self._wake_r, 4096):
                        pass
            try:
                for w in workers:
                    self._collect(w, ready)
                self._replace_dead()
                self._enforce_timeout()
                self._assign()
            except Exception:  # the store is briefly locked or closing: try again shortly
                log.exception("queue supervisor pass failed")
                time.sleep(0.5)

    def _collect(self, w: _Worker, ready: set[Any]) -> None:
        if (w.job_id is None and w.ready) or w.conn not in ready:
            return
        try:
            done = w.conn.recv()
        except (EOFError, OSError):
            return  # the process died; _replace_dead handles it
        with self._lock:
            if done == _READY:
                w.ready = True
            elif done == w.job_id:
                w.job_id = None

    def _replace_dead(self) -> None:
        with self._lock:
            dead = [w for w in self._workers if not w.proc.is_alive()]
        for w in dead:
            if self._stopping:
                return
            log.error("worker pid %s exited with code %s", w.proc.pid, w.proc.exitcode)
            if w.job_id is not None:
                # after the same pause as a transient error's (a file that crashes its worker
                # took every worker down within 130 ms, its re-runs 10 ms apart)
                job = self.store.get(w.job_id)
                pause = self.settings.retry_pause_s(job.attempt if job is not None else 1)
                timer = threading.Timer(pause, self._requeue_crashed, args=(w.job_id,))
                timer.daemon = True
                timer.start()
            if time.monotonic() - w.born < 1.0:
                time.sleep(1.0)  # a worker that dies at start-up must not spin the supervisor
            fresh = self._spawn()
            with self._lock:
                self._workers[self._workers.index(w)] = fresh
            w.conn.close()

    def _release(self, job_id: str) -> None:
        """Queue a job this server's shutdown stopped, without counting the stopped run: three
        restarts during a long job used to fail it as three crashes."""
        job = self.store.get(job_id)
        if job is not None and job.state in ACTIVE_STATES and self.store.release(job_id, job.attempt):
            log.warning("job %s goes back to the queue as the server stops (its run is not counted)", job_id)

    def _requeue_crashed(self, job_id: str) -> None:
        """The worker died mid-job: the runner is idempotent, so that job (only) runs again."""
        if self._stopping:
            return  # (left active: the next start re-queues it)
        job = self.store.get(job_id)
        if job is not None and job.state in ACTIVE_STATES:
            updated = self.store.update(
                job_id, attempt=job.attempt, state=JobState.queued, progress=0.0, claimed_until=None
            )
            if updated is not None:
                log.warning("job %s goes back to the queue after its worker died (attempt %d)", job_id, job.attempt)
                self.enqueue(job_id, job.priority)
                self.bus.publish(JobEvent(job_id=job_id, job=updated))

    def _enforce_timeout(self) -> None:
        limit = self.settings.job_timeout_s + HARD_TIMEOUT_GRACE_S
        now = time.monotonic()
        with self._lock:
            hung = [w for w in self._workers if w.job_id is not None and now - w.started > limit]
        for w in hung:
            job_id = w.job_id
            assert job_id is not None
            log.error("job %s ran %.0f s, past the %.0f s timeout: killing its worker", job_id, now - w.started, limit)
            w.proc.kill()
            w.proc.join(timeout=5)
            with self._lock:
                w.job_id = None
            job = self.store.get(job_id)
            if job is not None and job.state in ACTIVE_STATES:
                from app.jobs.runner import JobRecorder, finish_error

                ctx = JobRecorder(settings=self.settings, store=self.store, publish=self.bus.publish)
                err = JobTimeoutError(
                    f"processing took longer than {self.settings.job_timeout_s:.0f} s and was stopped",
                    hint="send a shorter file or raise HUSH_JOB_TIMEOUT_S",
                )
                finish_error(ctx, job, err, JobState.timed_out)

    def _assign(self) -> None:
        with self._lock:
            idle = [w for w in self._workers if w.job_id is None and w.ready and w.proc.is_alive()]
            busy = [w.job_id for w in self._workers if w.job_id is not None]
        if not idle:
            return
        ids = self.store.next_queued(exclude=busy, limit=len(idle))
        for job_id, w in zip(ids, idle, strict=False):
            with self._lock:
                w.job_id, w.started = job_id, time.monotonic()
            try:
                w.conn.send(job_id)
            except (BrokenPipeError, OSError):
                with self._lock:
                    w.job_id = None  # the worker is gone; _replace_dead takes it on the next pass

    # ---------------------------------------------------------------- events
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
            if raw.startswith(_ENQUEUE):
                self.enqueue(raw[len(_ENQUEUE) :], 0)  # the pool reads priorities from the store
                continue
            self.bus.publish(JobEvent.model_validate_json(raw))
