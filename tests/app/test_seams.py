"""The seams a second backend slots into: leases and redelivery in ``run_job``, re-queueing only
through ``JobQueue.enqueue``, the reaper, streaming blobs, migrations, the backend factory."""

from __future__ import annotations

import asyncio
import io
import multiprocessing
import sqlite3
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
from pydantic import SecretStr

from app.errors import NotFoundError
from app.events import InProcessEventBus
from app.jobs.backends import build_backends, build_blobs, build_store
from app.jobs.models import InputRef, Job, JobEvent, JobSpec, JobState, Step
from app.jobs.queue import _READY, InProcessQueue, WorkerCount, _Worker
from app.jobs.runner import RunContext, run_job
from app.jobs.service import JobService
from app.jobs.store import SqliteJobStore
from app.settings import Settings
from app.storage import BlobStore, LocalBlobStore
from tests._hush import free_port
from tests.signals import make_white


@dataclass
class RecordingQueue:
    """A JobQueue that records what was enqueued (the reaper's and the runner's only way back)."""

    enqueued: list[tuple[str, int]] = field(default_factory=list)
    running: bool = True
    exclusive: bool = False
    alive: int = 1

    def start(self) -> None: ...
    def stop(self) -> None: ...
    def enqueue(self, job_id: str, priority: int) -> None:
        self.enqueued.append((job_id, priority))

    def workers(self) -> WorkerCount:
        return WorkerCount(alive=self.alive, slots=self.alive)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, lease_s=30.0, max_attempts=3, url_allowlist=("127.0.0.1",))


@pytest.fixture
def ctx(settings: Settings) -> Iterator[tuple[RunContext, list[JobEvent], RecordingQueue]]:
    events: list[JobEvent] = []
    queue = RecordingQueue()
    store = SqliteJobStore(settings.db_path)
    c = RunContext(
        settings=settings,
        store=store,
        publish=events.append,
        blobs=LocalBlobStore(settings.blob_dir),
        enqueue=queue.enqueue,
    )
    yield c, events, queue
    store.close()


def upload(c: RunContext, rng: np.random.Generator, name: str = "in") -> str:
    buf = io.BytesIO()
    sf.write(buf, make_white(rng, 8000, -30.0), 8000, format="WAV", subtype="PCM_16")
    buf.seek(0)
    key = f"uploads/{name}"
    c.blobs.write(key, buf)
    return key


def new_job(c: RunContext, job_id: str, *, key: str | None = None, url: str | None = None, priority: int = 0) -> Job:
    spec = JobSpec(input=InputRef(blob_key=key, url=url), steps=(Step(name="loudness"),))
    job, created = c.store.create(Job(id=job_id, dialect="native", spec=spec, priority=priority))
    assert created
    return job


def test_run_job_takes_over_a_redelivered_job_whose_lease_ran_out(ctx, rng) -> None:
    c, events, _ = ctx
    new_job(c, "j", key=upload(c, rng))
    dead = c.store.claim("j", JobState.in_progress, c.settings.lease_s)  # a worker took it, then died
    assert dead is not None
    run_job("j", c)  # redelivered while the dead worker's lease still holds: left alone
    held = c.store.get("j")
    assert held is not None
    assert (held.state, held.attempt) == (JobState.in_progress, 1)
    c.store.update("j", claimed_until=time.time() - 1)  # the lease runs out
    run_job("j", c)
    done = c.store.get("j")
    assert done is not None
    assert done.state is JobState.succeeded, done.error_reason
    assert done.attempt == 2
    assert c.blobs.exists(done.result_key or "")
    assert events[-1].job is not None
    assert events[-1].job.state is JobState.succeeded
    run_job("j", c)  # a late duplicate of a finished job changes nothing
    again = c.store.get("j")
    assert again is not None
    assert again.attempt == 2


def test_a_finished_job_waits_for_a_blob_store_that_comes_back(settings, rng) -> None:
    # an S3 restarting as the job finished (15-20 s) failed the attempt, and the job ran again
    # from the start, or failed when out of attempts
    from app.errors import StorageUnavailableError

    class Restarting(LocalBlobStore):
        refusals = 2

        def put_file(self, key: str, src: Path) -> int:
            if key.startswith("results/") and self.refusals:
                self.refusals -= 1
                raise StorageUnavailableError("the blob store (S3) did not answer while storing")
            return super().put_file(key, src)

    settings = settings.model_copy(update={"retry_backoff_s": 0.05})
    store = SqliteJobStore(settings.db_path)
    blobs = Restarting(settings.blob_dir)
    c = RunContext(settings=settings, store=store, publish=lambda e: None, blobs=blobs, enqueue=lambda *a: None)
    new_job(c, "j", key=upload(c, rng))
    run_job("j", c)
    done = store.get("j")
    assert done is not None
    assert done.state is JobState.succeeded, done.error_reason
    assert done.attempt == 1  # the processing was not run again
    assert blobs.refusals == 0
    assert blobs.exists(done.result_key or "")
    store.close()


def test_a_job_starting_while_the_blob_store_is_down_waits_for_it(settings, rng) -> None:
    """Jobs that started while an S3 restarted failed their input read, were queued again after 1
    s, then 2 s, and failed for good "(the last of 3 attempts)" 3 s after they first ran; none ran
    once the store was back (a cluster audit: all six jobs of a 30 s SeaweedFS restart lost)."""
    from app.errors import StorageUnavailableError

    class Restarting(LocalBlobStore):
        refusals = 4  # more than the job's attempts: each read would have cost one

        def readable_path(self, key: str, scratch: Path) -> Path:
            if key.startswith("uploads/") and self.refusals:
                self.refusals -= 1
                raise StorageUnavailableError("the blob store (S3) did not answer while reading a file")
            return super().readable_path(key, scratch)

    settings = settings.model_copy(update={"retry_backoff_s": 0.05, "max_attempts": 3})
    store = SqliteJobStore(settings.db_path)
    blobs = Restarting(settings.blob_dir)
    requeued: list[str] = []
    c = RunContext(
        settings=settings, store=store, publish=lambda e: None, blobs=blobs, enqueue=lambda *a: requeued.append(a[0])
    )
    new_job(c, "j", key=upload(c, rng))
    run_job("j", c)
    done = store.get("j")
    assert done is not None
    assert done.state is JobState.succeeded, done.error_reason
    assert done.attempt == 1  # waited in its first attempt
    assert requeued == []
    assert blobs.refusals == 0
    store.close()


def test_a_job_store_that_refuses_one_write_sends_the_job_back_to_the_queue(settings, rng) -> None:
    """``database.unavailable`` ("try again shortly": PostgreSQL restarting, every connection of
    the process busy) on one progress write failed the job for good at its first attempt (a review)."""
    from app.errors import DatabaseUnavailableError

    class Blip(SqliteJobStore):
        refusals = 1

        def update(self, job_id: str, **fields: object) -> Job | None:  # type: ignore[override]
            if "progress" in fields and "state" not in fields and self.refusals:
                self.refusals -= 1
                raise DatabaseUnavailableError("the job store's PostgreSQL took no connection")
            return super().update(job_id, **fields)  # type: ignore[arg-type]

    settings = settings.model_copy(update={"retry_backoff_s": 0.05})
    store = Blip(settings.db_path)
    requeued: list[str] = []
    c = RunContext(
        settings=settings,
        store=store,
        publish=lambda e: None,
        blobs=LocalBlobStore(settings.blob_dir),
        enqueue=lambda *a: requeued.append(a[0]),
    )
    new_job(c, "j", key=upload(c, rng))
    run_job("j", c)
    job = store.get("j")
    assert job is not None
    assert store.refusals == 0
    assert job.state is JobState.queued, (job.state, job.error_reason)
    assert requeued == ["j"]
    run_job("j", c)  # the store answers again: the second attempt finishes
    done = store.get("j")
    assert done is not None
    assert done.state is JobState.succeeded, done.error_reason
    store.close()


def test_a_job_cancelled_while_its_worker_waits_for_the_blob_store_stops_at_once(settings, rng) -> None:
    """The worker slept out the whole storage wait (1+2+4+8+16 s) before it noticed a cancel (a review)."""
    from app.errors import StorageUnavailableError

    class Down(LocalBlobStore):
        def readable_path(self, key: str, scratch: Path) -> Path:
            if key.startswith("uploads/"):
                raise StorageUnavailableError("the blob store (S3) did not answer while reading a file")
            return super().readable_path(key, scratch)

    settings = settings.model_copy(update={"retry_backoff_s": 1.0})
    store = SqliteJobStore(settings.db_path)
    c = RunContext(
        settings=settings, store=store, publish=lambda e: None, blobs=Down(settings.blob_dir), enqueue=lambda *a: None
    )
    new_job(c, "j", key=upload(c, rng))
    worker = threading.Thread(target=run_job, args=("j", c))
    t0 = time.monotonic()
    worker.start()
    time.sleep(0.5)
    store.update("j", state=JobState.cancelled, error_code="cancelled", error_reason="cancelled by the client")
    worker.join(60)
    assert not worker.is_alive()
    assert time.monotonic() - t0 < 5.0
    job = store.get("j")
    assert job is not None
    assert job.state is JobState.cancelled
    store.close()


@pytest.mark.parametrize(("free", "code"), [(0, "storage.full"), (10 << 30, "processing.failed")])
def test_a_write_into_a_full_disk_fails_the_job_as_storage_full(ctx, rng, monkeypatch, free, code) -> None:
    # libsndfile says "System error." with no errno when the disk is full: the job failed as an
    # internal error ("internal error while processing the audio")
    import shutil as sh

    from app.jobs import pipeline, runner

    c, _, _ = ctx
    new_job(c, "j", key=upload(c, rng))

    def failing_write(*args: object, **kwargs: object) -> None:
        raise RuntimeError("Error : System error.")

    monkeypatch.setattr(pipeline, "process_file", failing_write)
    monkeypatch.setattr(runner.shutil, "disk_usage", lambda path: sh._ntuple_diskusage(100 << 30, 100 << 30, free))
    run_job("j", c)
    done = c.store.get("j")
    assert done is not None
    assert done.state is JobState.failed
    assert done.error_code == code
    if code == "storage.full":  # a failed job is not "nothing was lost": it must be sent again (audit)
        assert done.error_reason is not None
        assert "nothing was lost" not in done.error_reason
        assert "submit the job again" in done.error_reason


def test_a_job_whose_worker_died_in_every_run_says_so(ctx, rng) -> None:
    # it said "gave up after 3 attempts", next to attempts: 4, and nothing of why
    c, _, _ = ctx
    new_job(c, "j", key=upload(c, rng))
    for _ in range(c.settings.max_attempts):  # each run's worker dies; its lease runs out
        assert c.store.claim("j", JobState.in_progress, c.settings.lease_s) is not None
        c.store.update("j", claimed_until=time.time() - 1)
    run_job("j", c)
    done = c.store.get("j")
    assert done is not None
    assert done.state is JobState.failed
    assert done.error_code == "processing.failed"
    assert done.error_reason is not None
    assert "stopped (crashed, killed or restarted) during each of its 3 runs" in done.error_reason
    assert "HUSH_MAX_ATTEMPTS is 3" in done.error_reason


def test_run_job_renews_its_lease_while_it_runs(settings, rng) -> None:
    settings = settings.model_copy(update={"lease_s": 1.5})
    store = SqliteJobStore(settings.db_path)
    seen: list[float] = []

    def publish(ev: JobEvent) -> None:
        if ev.job is not None and ev.job.state is JobState.in_progress:
            time.sleep(1.2)  # a slow step: the renewal thread must keep the lease alive meanwhile
            fresh = store.get(ev.job.id)
            assert fresh is not None
            assert fresh.claimed_until is not None
            seen.append(fresh.claimed_until - time.time())

    c = RunContext(
        settings=settings, store=store, publish=publish, blobs=LocalBlobStore(settings.blob_dir), enqueue=print
    )
    new_job(c, "j", key=upload(c, rng))
    run_job("j", c)
    job = store.get("j")
    assert job is not None
    assert job.state is JobState.succeeded
    assert job.attempt == 1
    assert len(seen) * 1.2 > 2 * settings.lease_s  # it ran for more than two leases ...
    assert min(seen) > 0  # ... and never let its lease run out
    store.close()


def test_the_pool_sends_no_job_to_a_worker_still_starting(ctx) -> None:
    """A job sent to a worker whose imports are not done was timed from before it could begin: on a
    loaded machine, with a short ``job_timeout_s``, it was killed with each new worker and never ran.
    The pool gives a worker jobs only once it says it is ready (a real store and a real pipe)."""
    c, _, _ = ctx
    new_job(c, "j")
    pool = InProcessQueue(c.settings, c.store, InProcessEventBus())

    class Alive:
        def is_alive(self) -> bool:
            return True

    parent, child = multiprocessing.Pipe()
    w = _Worker(proc=Alive(), conn=parent)
    pool._workers = [w]
    pool._assign()
    assert w.job_id is None
    assert not child.poll(0.2)  # still starting: nothing was sent
    child.send(_READY)
    assert parent.poll(5)
    pool._collect(w, {parent})
    assert w.ready
    pool._assign()
    assert w.job_id == "j"
    assert child.recv() == "j"
    assert time.monotonic() - w.started < 5.0  # its run is timed from now
    parent.close()
    child.close()


def test_the_pool_stops_when_a_dead_worker_kept_the_event_queues_lock(ctx) -> None:
    """A worker that dies (SIGSEGV) while writing a progress event keeps the event queue's write
    lock for good: the stop then waited on the queue's feeder thread forever (an outside audit saw
    the server hang for over a minute on SIGTERM). The lock is held here the way the dead worker
    held it: taken and never given back."""
    c, _, _ = ctx
    pool = InProcessQueue(c.settings.model_copy(update={"workers": 1}), c.store, InProcessEventBus())
    pool.start()
    lock = pool._events._wlock
    assert lock.acquire(timeout=5)
    stopper = threading.Thread(target=pool.stop, daemon=True)
    t0 = time.monotonic()
    stopper.start()
    stopper.join(timeout=30)
    try:
        assert not stopper.is_alive(), "the pool's stop hung on the queue"
        assert time.monotonic() - t0 < 20
    finally:
        lock.release()


def test_a_retry_goes_back_through_the_queue(ctx) -> None:
    c, _, queue = ctx
    closed = f"http://127.0.0.1:{free_port()}/in.wav"  # nothing listens: a transient fetch error
    new_job(c, "j", url=closed, priority=7)
    run_job("j", c)
    job = c.store.get("j")
    assert job is not None
    assert job.state is JobState.queued
    assert job.claimed_until is None
    assert queue.enqueued == [("j", 7)]  # not only written back to the store
    assert [entry["kind"] for entry in c.store.logs("j")] == ["retry"]


def test_a_webhook_claim_is_held_while_its_delivery_waits_and_given_back_at_stop(settings) -> None:
    """Held by renewal, a delivery's claim outlasts waits longer than the lease (a receiver's
    ``Retry-After`` of up to 300 s: another server sent the same webhook beside the first, a
    security review) without being sized for the worst case (32 min: a killed replica's webhook
    waited that long, a cluster audit); a server that stops gives its claims back at once."""
    import anyio

    settings = settings.model_copy(update={"lease_s": 1.0})
    store = SqliteJobStore(settings.db_path)
    service = JobService(settings, store, LocalBlobStore(settings.blob_dir), RecordingQueue(), InProcessEventBus())
    spec = JobSpec(input=InputRef(blob_key="uploads/x"), webhook_url="http://127.0.0.1:9/hook")
    store.create(Job(id="j", dialect="native", spec=spec))
    store.update("j", state=JobState.succeeded)
    job = store.get("j")
    assert job is not None
    sending = asyncio.Event()

    async def render(job: Job, _: JobService) -> dict[str, str]:
        return {"id": job.id}

    async def slow_sender(*_: object, **__: object) -> None:
        sending.set()
        await asyncio.sleep(60)  # a receiver that asked for a long wait

    async def scenario() -> tuple[list[str], list[str], list[str]]:
        service.register_webhook("native", render)
        service.webhook_sender = slow_sender
        service._spawn(service._deliver_webhook(job))
        await asyncio.wait_for(sending.wait(), 5)
        await asyncio.sleep(2.5 * settings.lease_s)
        held = await anyio.to_thread.run_sync(store.dropped_webhooks, time.time())
        rival = await anyio.to_thread.run_sync(store.claim_webhook, "j", settings.lease_s) is not None
        await service.stop()
        given_back = await anyio.to_thread.run_sync(store.dropped_webhooks, time.time())
        return held, ["claimed"] if rival else [], given_back

    held, rival, given_back = asyncio.run(scenario())
    assert held == []  # renewed past its lease while the delivery waited
    assert rival == []  # so no other server could take it
    assert given_back == ["j"]  # stopped: free for another server at once
    assert store.claim_webhook("j", settings.lease_s) is not None
    store.close()


def test_a_server_whose_webhook_claim_was_taken_over_stops_sending_it(settings) -> None:
    """Server A's renewals failed for longer than the lease (the store did not answer), B took the
    delivery over, then A's renewals worked again: with no owner on the claim A renewed B's claim
    and both sent the next attempt (a review). A now finds its claim gone and stops."""
    settings = settings.model_copy(update={"lease_s": 1.0})
    store_a, store_b = SqliteJobStore(settings.db_path), SqliteJobStore(settings.db_path)
    a, b = (
        JobService(settings, st, LocalBlobStore(settings.blob_dir), RecordingQueue(), InProcessEventBus())
        for st in (store_a, store_b)
    )
    spec = JobSpec(input=InputRef(blob_key="uploads/x"), webhook_url="http://127.0.0.1:9/hook")
    store_a.create(Job(id="j", dialect="native", spec=spec))
    store_a.update("j", state=JobState.succeeded)
    job = store_a.get("j")
    assert job is not None
    sent: list[str] = []

    async def render(job: Job, _: JobService) -> dict[str, str]:
        return {"id": job.id}

    def sender(name: str) -> Any:
        async def send(*_: object, **__: object) -> None:
            sent.append(f"{name} 1")
            await asyncio.sleep(3.0)  # a receiver's Retry-After
            sent.append(f"{name} 2")

        return send

    renew, down_until = store_a.renew_webhook, [0.0]

    def flaky(*args: Any) -> Any:
        if time.monotonic() < down_until[0]:
            raise RuntimeError("the job store did not answer")
        return renew(*args)

    store_a.renew_webhook = flaky  # type: ignore[method-assign]

    async def scenario() -> int:
        for service, name in ((a, "A"), (b, "B")):
            service.register_webhook("native", render)
            service.webhook_sender = sender(name)
        down_until[0] = time.monotonic() + 1.6  # A's renewals fail for 1.6 leases
        first = asyncio.ensure_future(a._deliver_webhook(job))
        await asyncio.sleep(1.3)
        taken = await b.resume_dropped_webhooks()  # B's watch: A's claim ran out
        await asyncio.sleep(3.5)
        first.cancel()
        await a.stop()
        await b.stop()
        return taken

    assert asyncio.run(scenario()) == 1
    assert sent.count("A 2") + sent.count("B 2") == 1, sent  # the next attempt sent once, by B
    assert "B 2" in sent
    store_a.close()
    store_b.close()


def test_reaper_re_enqueues_jobs_whose_lease_ran_out(settings, rng) -> None:
    store = SqliteJobStore(settings.db_path)
    queue = RecordingQueue()
    service = JobService(settings, store, LocalBlobStore(settings.blob_dir), queue, InProcessEventBus())
    for job_id, prio in (("dead", 9), ("alive", 0)):
        store.create(
            Job(id=job_id, dialect="native", spec=JobSpec(input=InputRef(blob_key="uploads/x")), priority=prio)
        )
        assert store.claim(job_id, JobState.in_progress, settings.lease_s) is not None
    store.update("dead", claimed_until=time.time() - 1)

    async def reap_twice() -> tuple[list[str], list[str]]:
        return await service.reap_once(), await service.reap_once()

    first, second = asyncio.run(reap_twice())
    assert (first, second) == (["dead"], [])  # once: the second pass finds it queued
    assert queue.enqueued == [("dead", 9)]
    dead, alive = store.get("dead"), store.get("alive")
    assert dead is not None
    assert alive is not None
    assert dead.state is JobState.queued
    assert alive.state is JobState.in_progress
    store.close()


def test_a_job_the_queue_cannot_take_is_not_left_behind(settings) -> None:
    """The broker is down at submit: the caller gets a 503-class error and no job row stays
    queued forever (nothing would run it; a retry with the same request_id submits afresh)."""
    from app.errors import QueueUnavailableError

    class DownQueue(RecordingQueue):
        def enqueue(self, job_id: str, priority: int) -> None:
            raise ConnectionError("Error 111 connecting to 127.0.0.1:6390. Connection refused.")

    store = SqliteJobStore(settings.db_path)
    service = JobService(settings, store, LocalBlobStore(settings.blob_dir), DownQueue(), InProcessEventBus())
    spec = JobSpec(input=InputRef(blob_key="uploads/x"))
    with pytest.raises(QueueUnavailableError) as err:
        asyncio.run(service.submit(dialect="native", spec=spec, request_id="r-1"))
    assert "send it again" in err.value.message
    assert store.open_jobs("") == 0  # no job of this (anonymous) owner is waiting
    service.queue = RecordingQueue()
    job = asyncio.run(service.submit(dialect="native", spec=spec, request_id="r-1"))  # the retry
    assert service.queue.enqueued == [(job.id, 0)]
    store.close()


def test_the_event_watcher_subscribes_again_when_the_bus_was_down(settings) -> None:
    """Redis not up as the server starts: the watcher that measures rates and starts webhooks
    tries again, instead of dying and leaving the webhooks to the janitor's 5-minute pass."""
    import contextlib

    class LateBus(InProcessEventBus):
        def __init__(self) -> None:
            super().__init__()
            self.refused = 0

        def subscribe(self, job_id: str):  # type: ignore[no-untyped-def,override]
            if self.refused < 1:
                self.refused += 1
                raise ConnectionError("no subscription to the Redis event channel within 10 s")
            return super().subscribe(job_id)

    store = SqliteJobStore(settings.db_path)
    bus = LateBus()
    service = JobService(settings, store, LocalBlobStore(settings.blob_dir), RecordingQueue(), bus)
    done = Job(
        id="j",
        dialect="native",
        spec=JobSpec(input=InputRef(blob_key="uploads/x"), steps=(Step(name="declick"),)),
        state=JobState.succeeded,
        result_meta={"input": {"duration_s": 60.0}},
        started_at=1000.0,
        finished_at=1003.5,
    )

    async def scenario() -> None:
        watcher = asyncio.create_task(service._notifier())
        deadline = time.monotonic() + 10
        while not service._rates and time.monotonic() < deadline:
            bus.publish(JobEvent(job_id="j", job=done))  # heard once the watcher is back
            await asyncio.sleep(0.2)
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher

    asyncio.run(scenario())
    assert bus.refused == 1
    assert service._rates == {"declick": pytest.approx(3.0 / 60.0)}
    store.close()


def test_wait_estimates_learn_each_kind_of_job_apart(settings) -> None:
    """A slow kind of job (a chain of heavy steps) does not inflate a fast kind's wait."""
    store = SqliteJobStore(settings.db_path)
    service = JobService(settings, store, LocalBlobStore(settings.blob_dir), RecordingQueue(), InProcessEventBus())

    def job(job_id: str, steps: tuple[str, ...], run_s: float | None = None) -> Job:
        done = {"started_at": 1000.0, "finished_at": 1000.0 + run_s} if run_s is not None else {}
        return Job(
            id=job_id,
            dialect="native",
            spec=JobSpec(input=InputRef(blob_key="uploads/x"), steps=tuple(Step(name=n) for n in steps)),
            state=JobState.succeeded if run_s is not None else JobState.queued,
            result_meta={"input": {"duration_s": 60.0}},
            **done,
        )

    slow, fast = ("dereverb", "denoise", "autoeq"), ("declick",)
    for i in range(3):
        service._measure_rate(job(f"s{i}", slow, run_s=30.5))  # 0.5 s per audio second
    service._measure_rate(job("f0", fast, run_s=1.7))  # 0.02 s per audio second
    store.create(job("next-fast", fast))
    store.create(job("next-slow", slow))
    fast_wait = asyncio.run(service.estimate_wait_s(store.get("next-fast")))  # type: ignore[arg-type]
    slow_wait = asyncio.run(service.estimate_wait_s(store.get("next-slow")))  # type: ignore[arg-type]
    assert fast_wait < 5.0  # 0.5 s overhead + 60 s x 0.02 (+ the slow job queued ahead of it, or not)
    assert slow_wait > 25.0
    other = job("never-seen", ("normalize",))  # a kind with no history: the overall rate
    store.create(other)
    assert asyncio.run(service.estimate_wait_s(other)) > fast_wait
    store.close()


def test_a_job_too_short_to_time_gives_no_rate(settings) -> None:
    """A job of a few seconds of audio says nothing of the rate: run under twice the assumed
    overhead it would read as nearly 0 s per audio second (every later estimate a fraction of the
    real wait), run slowly on a busy machine as many times the real rate. Its kind stays
    unmeasured until a job of ``MIN_RATE_AUDIO_S`` or more has finished."""
    store = SqliteJobStore(settings.db_path)
    service = JobService(settings, store, LocalBlobStore(settings.blob_dir), RecordingQueue(), InProcessEventBus())

    def job(job_id: str, run_s: float, duration_s: float) -> Job:
        return Job(
            id=job_id,
            dialect="wondershare",
            spec=JobSpec(input=InputRef(blob_key="uploads/x"), steps=(Step(name="declick"),)),
            state=JobState.succeeded,
            result_meta={"input": {"duration_s": duration_s}},
            started_at=1000.0,
            finished_at=1000.0 + run_s,
        )

    short = job("short", run_s=0.3, duration_s=4.0)
    service._measure_rate(short)
    # the same file on a busy machine: over twice the assumed overhead, still mostly fixed cost
    service._measure_rate(job("busy", run_s=1.5, duration_s=4.0))
    assert service._rates == {}
    assert not service.rate_measured(short)
    service._measure_rate(job("long", run_s=12.5, duration_s=1500.0))
    assert service._rates == {"declick": pytest.approx(12.0 / 1500.0)}
    assert service.rate_measured(short)
    store.close()


def _declick(job_id: str, state: JobState, declared_s: float | None = None, **fields: object) -> Job:
    return Job(
        id=job_id,
        dialect="wondershare",
        spec=JobSpec(
            input=InputRef(url="http://127.0.0.1/x.wav", declared_duration_s=declared_s), steps=(Step(name="declick"),)
        ),
        state=state,
        **fields,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize("exclusive", [True, False])
def test_a_job_queued_behind_running_ones_waits_for_them_to_end(settings, exclusive: bool) -> None:
    """A 2 s task behind a running 1500 s one (one job slot) waits for the long one's rest, not
    just its own run; with a second slot free it starts at once. Embedded (the pool's size) and
    cluster (the workers' slots) alike."""
    store = SqliteJobStore(settings.db_path)
    queue = RecordingQueue(exclusive=exclusive, alive=1)
    one_slot = settings.model_copy(update={"workers": 1})
    service = JobService(one_slot, store, LocalBlobStore(settings.blob_dir), queue, InProcessEventBus())
    service._rates["declick"] = 0.008  # run seconds per audio second, measured
    now = time.time()
    store.create(
        _declick(
            "long",
            JobState.in_progress,
            declared_s=1500.0,
            started_at=now - 2.0,
            result_meta={"input": {"duration_s": 1500.0}, "pace_from": [now - 1.0, 1.0]},
        )
    )
    short, _ = store.create(_declick("short", JobState.queued))
    wait = asyncio.run(service.estimate_wait_s(short, duration_s=2.0))
    # the long one: 0.5 + 0.008 x 1500 = 12.5 s, 2 s of it gone; then the short one's 0.5 + 0.016
    assert 10.0 < wait < 11.5, wait
    # still downloading, its length not probed yet: the length its client declared
    store.update("long", state=JobState.downloading, started_at=time.time() - 0.5, result_meta={})
    assert 11.5 < asyncio.run(service.estimate_wait_s(short, duration_s=2.0)) < 13.0
    store.update("long", spec=_declick("long", JobState.downloading).spec)  # declared nothing: a minute
    assert asyncio.run(service.estimate_wait_s(short, duration_s=2.0)) < 1.0
    queue.alive, service._workers_at = 2, None
    service.settings = settings.model_copy(update={"workers": 2})
    assert asyncio.run(service.estimate_wait_s(short, duration_s=2.0)) < 1.0  # a slot is free
    store.close()


def test_a_priority_9_job_behind_running_ones_is_estimated_before_the_earlier_ones(settings) -> None:
    """Two slots busy; three priority-0 jobs queued, then a priority-9 one: it goes first, so it is
    told the first slot's end plus its own run, and each later job one run more."""
    store = SqliteJobStore(settings.db_path)
    queue = RecordingQueue(exclusive=False, alive=1)
    service = JobService(settings, store, LocalBlobStore(settings.blob_dir), queue, InProcessEventBus())
    queue.workers = lambda: WorkerCount(alive=1, slots=2)  # type: ignore[method-assign]
    service._rates["declick"] = 0.008
    now = time.time()
    for name, gone in (("a", 2.0), ("b", 6.0)):  # 12.5 s each: 10.5 s and 6.5 s left
        store.create(_declick(name, JobState.in_progress, declared_s=1500.0, started_at=now - gone))
    low = [store.create(_declick(f"low{i}", JobState.queued, declared_s=60.0))[0] for i in range(3)]
    high, _ = store.create(_declick("high", JobState.queued, declared_s=60.0).model_copy(update={"priority": 9}))
    waits = [asyncio.run(service.estimate_wait_s(j)) for j in (high, *low)]
    run = 0.5 + 0.008 * 60  # 0.98 s each
    # each starts on the slot free first: the one free in 6.5 s ends them all before 10.5 s
    assert waits == pytest.approx([6.5 + k * run for k in (1, 2, 3, 4)], abs=0.1)
    store.close()


def test_a_running_job_is_timed_by_its_own_pace_from_its_first_progress(settings) -> None:
    """A rate five times too slow (the default before any click repair finished) is corrected as
    soon as the job has reported progress twice, timed from its first report: the download before
    it (2 s here) and the set-up are no part of its pace. A pace that says later than a measured
    rate weighs in by the share it was timed over, wholly from 5 %."""
    store = SqliteJobStore(settings.db_path)
    service = JobService(settings, store, LocalBlobStore(settings.blob_dir), RecordingQueue(), InProcessEventBus())
    now = time.time()

    def running(progress: float, timed_s: float, first: float = 0.3, began: float | None = None) -> Job:
        meta = {"input": {"duration_s": 1500.0}, "pace_from": [now - timed_s if began is None else began, first]}
        return _declick(
            "j", JobState.in_progress, progress=progress, started_at=now - 3.0, updated_at=now, result_meta=meta
        )

    def wait(job: Job) -> float:
        return asyncio.run(service.estimate_wait_s(job))

    # the default rate says 0.5 + 0.05 x 1500 = 75.5 s, 3 s gone; its pace: 1 s for 10 %, 9 s left
    assert wait(running(10.3, 1.0)) == pytest.approx(8.97, abs=0.05)
    assert wait(running(1.3, 0.1)) == pytest.approx(9.87, abs=0.05)  # sooner: taken at once
    assert wait(running(0.3, 0.0)) == pytest.approx(72.5, abs=0.05)  # one report: no pace yet
    # a pace timed by an earlier attempt (before this one was claimed) says nothing of this one
    assert wait(running(10.3, 1.0, began=now - 10.0)) == pytest.approx(72.5, abs=0.05)
    service._rates["declick"] = 0.008  # measured: 0.5 + 12 s, 3 s gone, 9.5 s left
    # the pace says later (0.3 s for 1 %: 29.6 s left): a fifth of the trust at 1 %, all of it at 5 %
    assert wait(running(1.3, 0.3)) == pytest.approx(0.2 * 29.61 + 0.8 * 9.5, abs=0.05)
    assert wait(running(5.3, 1.5)) == pytest.approx(28.41, abs=0.05)
    store.close()


def test_run_job_says_how_long_its_input_is_and_when_it_first_reported_progress(ctx, rng) -> None:
    """The wait estimates read a running job's length before it ends, and time its pace from its
    first progress report: both are in its row while it runs."""
    c, events, _ = ctx
    new_job(c, "j", key=upload(c, rng))
    run_job("j", c)
    running = [e.job for e in events if e.job is not None and e.job.state is JobState.in_progress]
    assert running[-1].result_meta["input"]["duration_s"] == pytest.approx(1.0)  # upload(): 8000 samples at 8 kHz
    timed = [j for j in running if j.progress > 0]
    assert timed, [j.result_meta for j in running]
    first = timed[0]
    assert first.started_at is not None
    began, pct = first.result_meta["pace_from"]
    assert first.started_at <= began <= first.updated_at
    assert pct == first.progress


def test_readiness_uses_the_store_and_the_queue(settings) -> None:
    store = SqliteJobStore(settings.db_path)
    queue = RecordingQueue()
    service = JobService(settings, store, LocalBlobStore(settings.blob_dir), queue, InProcessEventBus())
    assert asyncio.run(service.readiness()) == {
        "status": "ok",
        "checks": {"store": "ok", "blobs": "ok", "workers": "ok"},
        "workers": {"alive": 1, "slots": 1},
    }
    # the blob store gone (a cluster's S3 down): every upload and download fails, so not ready
    settings.blob_dir.rename(settings.blob_dir.with_name("gone"))
    ready = asyncio.run(service.readiness())
    assert ready["status"] == "unavailable"
    assert ready["checks"]["blobs"].startswith("error: the blob folder")
    settings.blob_dir.with_name("gone").rename(settings.blob_dir)
    # a full disk: every upload is answered 507 meanwhile
    import shutil

    from app import storage

    real = shutil.disk_usage
    storage.shutil.disk_usage = lambda path: shutil._ntuple_diskusage(1 << 30, 1 << 30, 4096)  # type: ignore[attr-defined]
    try:
        ready = asyncio.run(service.readiness())
    finally:
        storage.shutil.disk_usage = real
    assert ready["status"] == "unavailable"
    assert "is full (4096 bytes free)" in ready["checks"]["blobs"]
    queue.running = False
    store.close()
    ready = asyncio.run(service.readiness())
    assert ready["status"] == "unavailable"
    assert ready["checks"]["workers"] == "not running"
    assert ready["checks"]["store"].startswith("error")
    assert ready["workers"] is None


@pytest.mark.parametrize("requires_worker", [False, True])
def test_readiness_says_when_no_worker_of_a_cluster_is_alive(tmp_path: Path, requires_worker: bool) -> None:
    """Workers in other processes (a cluster), none alive: ``degraded`` (still ready, jobs queue),
    or ``unavailable`` when the operator asked readiness to require a worker."""
    settings = Settings(data_dir=tmp_path, ready_requires_worker=requires_worker, worker_heartbeat_ttl_s=0.5)
    store = SqliteJobStore(settings.db_path)
    queue = RecordingQueue(exclusive=False, alive=0)
    service = JobService(settings, store, LocalBlobStore(settings.blob_dir), queue, InProcessEventBus())
    ready = asyncio.run(service.readiness())
    assert ready["status"] == ("unavailable" if requires_worker else "degraded")
    assert ready["checks"]["store"] == "ok"
    assert ready["checks"]["workers"].startswith("none alive: no `hush worker` has sent a heartbeat in the last 0.5 s")
    assert ready["workers"] == {"alive": 0, "slots": 0}
    queue.alive = 3
    time.sleep(0.2)  # the count is cached for a quarter of the TTL
    assert asyncio.run(service.readiness())["status"] == "ok"
    store.close()


def test_a_job_queued_with_no_worker_says_so_and_has_no_wait_estimate(settings) -> None:
    """A cluster with no worker alive: the queued job's note says why it waits, its estimate is
    infinite; once a worker is alive, both are back to normal. The embedded pool never says so."""
    import math

    from app.jobs.service import WAITING_FOR_A_WORKER

    store = SqliteJobStore(settings.db_path)
    queue = RecordingQueue(exclusive=False, alive=0)
    service = JobService(settings, store, LocalBlobStore(settings.blob_dir), queue, InProcessEventBus())
    job = asyncio.run(service.submit(dialect="native", spec=JobSpec(input=InputRef(blob_key="uploads/x"))))
    assert asyncio.run(service.waiting_note(job)) == WAITING_FOR_A_WORKER
    assert asyncio.run(service.estimate_wait_s(job)) == math.inf
    service._workers_at = None  # forget the cached count
    queue.alive = 2
    assert asyncio.run(service.waiting_note(job)) is None
    assert math.isfinite(asyncio.run(service.estimate_wait_s(job)))
    service._workers_at, queue.alive, queue.exclusive = None, 0, True  # embedded: its own pool
    assert asyncio.run(service.waiting_note(job)) is None
    assert math.isfinite(asyncio.run(service.estimate_wait_s(job)))
    running = store.update(job.id, state=JobState.in_progress)
    queue.exclusive, service._workers_at = False, None
    assert running is not None
    assert asyncio.run(service.waiting_note(running)) is None  # only a queued job waits for a worker
    store.close()


def test_readiness_names_the_broker_that_does_not_answer(tmp_path: Path) -> None:
    """A cluster server pointed at a Redis nobody listens on says which, without its password."""
    from app.jobs.celery_queue import CeleryQueue

    settings = Settings(data_dir=tmp_path, redis_url="redis://:s3cret@127.0.0.1:1/5")
    store = SqliteJobStore(settings.db_path)
    queue = CeleryQueue(settings)
    queue.start()
    service = JobService(settings, store, LocalBlobStore(settings.blob_dir), queue, InProcessEventBus())
    began = time.monotonic()
    ready = asyncio.run(service.readiness())
    # a refused connection is known at once: a probe (about a second) reads the 503 and its reason
    assert time.monotonic() - began < 1.0
    assert ready["status"] == "unavailable"
    assert ready["checks"]["workers"] == "not running: the broker at redis://127.0.0.1:1/5 does not answer"
    assert "s3cret" not in str(ready)
    queue.stop()
    store.close()


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.needs_s3)])
def blobs(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    if request.param == "local":
        return LocalBlobStore(tmp_path / "blobs")
    fields = request.getfixturevalue("s3_bucket")
    return build_blobs(Settings(data_dir=tmp_path, blob_store="s3", s3_prefix="pre/fix", **fields), create_bucket=True)


def test_blob_store_streams(blobs: BlobStore, tmp_path: Path) -> None:
    payload = bytes(range(256)) * 50_000  # 12.8 MB: several chunks, and a multipart upload to S3
    assert blobs.write("results/j/out.wav", io.BytesIO(payload)) == len(payload)
    src = tmp_path / "small.bin"
    src.write_bytes(b"upload")
    assert blobs.put_file("uploads/u", src) == 6
    assert not src.exists()  # moved in
    assert blobs.size("results/j/out.wav") == len(payload)
    with blobs.open("results/j/out.wav") as f:
        assert f.read() == payload
    # from an offset (a Range download): S3 sends only the rest, the prefix is not read and dropped
    with blobs.open("results/j/out.wav", len(payload) - 1000) as f:
        assert f.read() == payload[-1000:]
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    assert blobs.readable_path("results/j/out.wav", scratch).read_bytes() == payload
    assert blobs.exists("uploads/u")
    blobs.delete_prefix("results/j")
    blobs.delete_prefix("uploads/u")
    for key in ("results/j/out.wav", "uploads/u"):
        assert not blobs.exists(key)
        with pytest.raises(NotFoundError):
            blobs.open(key)
        with pytest.raises(NotFoundError):
            blobs.size(key)
    with pytest.raises(NotFoundError):
        blobs.write("../escape", io.BytesIO(b"x"))


def test_local_blobs_have_no_link_and_leave_no_parts(tmp_path: Path) -> None:
    blobs = LocalBlobStore(tmp_path / "blobs")
    blobs.write("results/j/out.wav", io.BytesIO(b"abc"))
    assert blobs.url_for("results/j/out.wav", expires_s=60) is None  # the API streams it instead
    assert not list((tmp_path / "blobs" / "results" / "j").glob(".*.part"))


@pytest.mark.needs_s3
def test_s3_presigned_link_and_credentials(tmp_path: Path, s3_bucket: dict[str, str]) -> None:
    import httpx
    from botocore.exceptions import ClientError

    settings = Settings(data_dir=tmp_path, blob_store="s3", **s3_bucket)
    blobs = build_blobs(settings, create_bucket=True)
    blobs.write("results/j/clean wav.wav", io.BytesIO(b"RIFF-result"))
    url = blobs.url_for("results/j/clean wav.wav", expires_s=60, filename="clean wav.wav", media_type="audio/wav")
    assert url is not None
    got = httpx.get(url, timeout=10)
    assert got.status_code == 200
    assert got.content == b"RIFF-result"
    assert got.headers["content-type"] == "audio/wav"
    assert "clean%20wav.wav" in got.headers["content-disposition"]
    assert httpx.get(url.replace("X-Amz-Signature=", "X-Amz-Signature=0"), timeout=10).status_code == 403
    wrong = settings.model_copy(update={"s3_secret_key": SecretStr("not-the-secret")})
    with pytest.raises(ClientError, match=r"SignatureDoesNotMatch|AccessDenied|InvalidAccessKeyId"):
        build_blobs(wrong).open("results/j/clean wav.wav")


#: The schema an embedded server created before migrations existed (commit a7fcbb8).
_OLD_SCHEMA = """
CREATE TABLE jobs (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, dialect TEXT NOT NULL,
    owner TEXT NOT NULL DEFAULT '', request_id TEXT, spec TEXT NOT NULL, state TEXT NOT NULL,
    progress REAL NOT NULL DEFAULT 0, priority INTEGER NOT NULL DEFAULT 0, created_at REAL NOT NULL,
    updated_at REAL NOT NULL, started_at REAL, finished_at REAL, expires_at REAL,
    attempt INTEGER NOT NULL DEFAULT 0, error_code TEXT, error_reason TEXT, result_key TEXT,
    result_meta TEXT NOT NULL DEFAULT '{}', meta TEXT NOT NULL DEFAULT '{}');
CREATE TABLE files (id TEXT PRIMARY KEY, owner TEXT NOT NULL DEFAULT '', blob_key TEXT NOT NULL, filename TEXT,
    info TEXT NOT NULL DEFAULT '{}', created_at REAL NOT NULL, expires_at REAL);
CREATE TABLE job_log (id INTEGER PRIMARY KEY AUTOINCREMENT, job_id TEXT NOT NULL, at REAL NOT NULL,
    kind TEXT NOT NULL, data TEXT NOT NULL);
CREATE TABLE api_keys (key_hash TEXT PRIMARY KEY, owner TEXT NOT NULL UNIQUE, label TEXT NOT NULL DEFAULT '',
    state TEXT NOT NULL DEFAULT 'active', credits_minutes INTEGER, rpm INTEGER, max_concurrent INTEGER,
    created_at REAL NOT NULL);
CREATE TABLE credit_ledger (id INTEGER PRIMARY KEY AUTOINCREMENT, owner TEXT NOT NULL, job_id TEXT,
    kind TEXT NOT NULL, minutes INTEGER NOT NULL, at REAL NOT NULL, note TEXT NOT NULL DEFAULT '');
"""


def test_a_database_from_before_migrations_is_upgraded_in_place(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite3"
    with sqlite3.connect(path) as old:
        old.executescript(_OLD_SCHEMA)
        old.execute(
            "INSERT INTO jobs (id, dialect, spec, state, created_at, updated_at) VALUES ('kept', 'native', ?, "
            "'in_progress', 1, 1)",
            (JobSpec(input=InputRef(blob_key="uploads/x")).model_dump_json(),),
        )
    old.close()
    store = SqliteJobStore(path)
    kept = store.get("kept")
    assert kept is not None
    assert kept.claimed_until is None
    assert [j.id for j in store.lease_expired(time.time())] == ["kept"]  # no lease: its worker is gone
    assert store.claim_webhook("kept", 60.0)
    store.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchone() == ("0002",)
    conn.close()
    SqliteJobStore(path).close()  # a second start finds nothing to do


def test_backends_come_from_one_factory(tmp_path: Path) -> None:
    backends = build_backends(Settings(data_dir=tmp_path))
    assert isinstance(backends.store, SqliteJobStore)
    assert isinstance(backends.blobs, LocalBlobStore)
    assert backends.queue.exclusive
    backends.close()
    cluster = Settings(data_dir=tmp_path, backend="cluster", blob_store="local")
    assert (cluster.store_kind, cluster.blob_kind, cluster.queue_kind, cluster.bus_kind) == (
        "postgres",
        "local",  # one seam chosen on its own
        "celery",
        "redis",
    )


@pytest.mark.needs_postgres
def test_factory_builds_the_postgres_store(tmp_path: Path, pg_schema: tuple[str, str]) -> None:
    from app.jobs.pgstore import PostgresJobStore

    url, schema = pg_schema
    store = build_store(Settings(data_dir=tmp_path, job_store="postgres", database_url=url, database_schema=schema))
    assert isinstance(store, PostgresJobStore)
    store.ping()
    store.close()
    with pytest.raises(Exception):  # noqa: B017, PT011 - the driver's own refusal
        build_store(Settings(data_dir=tmp_path, job_store="postgres", database_url="postgresql://127.0.0.1:1/x"))


@pytest.mark.parametrize(
    ("module", "fields"),
    [
        ("pg8000", {"job_store": "postgres"}),
        ("boto3", {"blob_store": "s3"}),
        ("redis", {"event_bus": "redis"}),
    ],
)
def test_a_cluster_seam_without_its_package_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, module: str, fields: dict[str, str]
) -> None:
    from app.errors import EngineUnavailableError

    monkeypatch.setitem(sys.modules, module, None)  # as if it were not installed
    with pytest.raises(EngineUnavailableError, match=module) as refused:
        build_backends(Settings(data_dir=tmp_path, **fields))
    assert ".[cluster]" in (refused.value.hint or "")


def test_a_queued_job_whose_message_was_lost_is_sent_again(settings) -> None:
    # a Redis restarted without persistence lost the messages of queued jobs: they waited forever
    from app.jobs.service import STALE_QUEUED_S

    store = SqliteJobStore(settings.db_path)
    queue = RecordingQueue()
    service = JobService(settings, store, LocalBlobStore(settings.blob_dir), queue, InProcessEventBus())
    now = time.time()
    for job_id, age in (("lost", STALE_QUEUED_S + 5), ("fresh", 5.0)):
        store.create(
            Job(
                id=job_id,
                dialect="native",
                spec=JobSpec(input=InputRef(blob_key="uploads/x")),
                priority=3,
                created_at=now - age,
            )
        )
    queue.alive = 2  # two free slots
    assert asyncio.run(service.redeliver_once(now)) == ["lost"]
    assert queue.enqueued == [("lost", 3)]
    queue.enqueued.clear()
    queue.alive = 0  # no worker: nothing can be told lost
    service._workers_at = None
    assert asyncio.run(service.redeliver_once(now)) == []
    queue.alive = 1  # one slot, held by a running job: the queue is only waiting
    service._workers_at = None
    store.create(Job(id="busy", dialect="native", spec=JobSpec(input=InputRef(blob_key="uploads/x"))))
    assert store.claim("busy", JobState.in_progress, settings.lease_s) is not None
    assert asyncio.run(service.redeliver_once(now)) == []
    assert queue.enqueued == []
    store.close()


def test_an_s3_store_that_does_not_answer_is_a_retry_not_an_internal_error(tmp_path: Path) -> None:
    # an S3 outage failed running jobs for good with "internal error", and uploads answered a bare 500
    from app.errors import RetryableError, StorageUnavailableError
    from app.http import default_status
    from app.storage_s3 import S3BlobStore

    blobs = S3BlobStore(
        bucket="hush", endpoint_url=f"http://127.0.0.1:{free_port()}", access_key="k", secret_key="s"
    )  # nothing listens there
    src = tmp_path / "x.bin"
    src.write_bytes(b"x" * 10)
    for call in (lambda: blobs.put_file("uploads/x", src), lambda: blobs.size("uploads/x")):
        with pytest.raises(StorageUnavailableError) as caught:
            call()
        assert isinstance(caught.value, RetryableError)  # the runner runs the job again later
        assert default_status(caught.value) == 503
        assert "did not answer" in caught.value.message
    assert src.exists()  # nothing was stored, nothing was lost


def test_a_cancel_never_overwrites_a_success_that_lands_after_it_read_the_job(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cancel read the job, then wrote ``cancelled`` unfenced: a worker's success and charge in
    between ended ``cancelled`` yet charged, with a result, and a sync client told "cancelled, not
    charged: send it again" paid twice (a review)."""
    store = SqliteJobStore(settings.db_path)
    store.add_key("h", "owner1", credits_minutes=10)
    service = JobService(settings, store, LocalBlobStore(settings.blob_dir), RecordingQueue(), InProcessEventBus())
    store.create(Job(id="j1", dialect="native", owner="owner1", spec=JobSpec(input=InputRef(blob_key="uploads/x"))))
    claimed = store.claim("j1", JobState.in_progress, 60)
    assert claimed is not None
    real_get = store.get

    def get_then_the_worker_succeeds(job_id: str) -> Job | None:
        job = real_get(job_id)
        monkeypatch.setattr(store, "get", real_get)
        done = store.update(
            "j1", attempt=claimed.attempt, state=JobState.succeeded, result_key="results/j1/o.wav", charge_minutes=3
        )
        assert done is not None
        return job

    monkeypatch.setattr(store, "get", get_then_the_worker_succeeds)
    answered = asyncio.run(service.cancel("j1"))
    assert answered.state is JobState.succeeded
    final = real_get("j1")
    assert final is not None
    assert (final.state, final.result_key) == (JobState.succeeded, "results/j1/o.wav")
    account = store.account("owner1")
    assert account is not None
    assert account["credits_minutes"] == 7  # charged once, for the result it keeps
    store.close()


def test_a_delete_the_s3_store_refuses_is_not_taken_for_done(settings: Settings) -> None:
    """S3 answers a refused delete (AccessDenied, an object lock) with 200 and a list of errors:
    ``DELETE /api/v1/files/{id}`` answered 204 and dropped the file's row, and the object stayed for
    ever, as no janitor pass could find it again (a review)."""
    from botocore.stub import Stubber

    from app.errors import StorageUnavailableError
    from app.jobs.models import StoredFile
    from app.storage_s3 import S3BlobStore

    blobs = S3BlobStore(bucket="b", endpoint_url="http://127.0.0.1:1", access_key="k", secret_key="s")
    store = SqliteJobStore(settings.db_path)
    service = JobService(settings, store, blobs, RecordingQueue(), InProcessEventBus())
    store.add_file(StoredFile(id="f1", owner="o", blob_key="uploads/f1", created_at=time.time()))
    denied = {"Errors": [{"Key": "uploads/f1", "Code": "AccessDenied", "Message": "Access Denied"}]}
    with Stubber(blobs._client) as s3:
        s3.add_response(
            "list_objects_v2", {"KeyCount": 0, "IsTruncated": False}, {"Bucket": "b", "Prefix": "uploads/f1/"}
        )
        s3.add_response(
            "delete_objects", denied, {"Bucket": "b", "Delete": {"Objects": [{"Key": "uploads/f1"}], "Quiet": True}}
        )
        with pytest.raises(StorageUnavailableError, match="refused to delete 1 object"):
            asyncio.run(service.delete_file("f1", owner="o"))
    assert store.get_file("f1") is not None  # kept: the retention deletes it again later
    store.close()


def test_deleting_a_result_or_an_upload_removes_the_bytes_and_only_for_their_owner(settings: Settings) -> None:
    """The routes' test passed with the blob deletions taken out: what must go is the audio (a review)."""
    from app.errors import NotFoundError
    from app.jobs.models import StoredFile

    store = SqliteJobStore(settings.db_path)
    blobs = LocalBlobStore(settings.blob_dir)
    service = JobService(settings, store, blobs, RecordingQueue(), InProcessEventBus())
    for key in ("uploads/f1", "results/j1/out.wav"):
        src = settings.data_dir / "x.wav"
        src.write_bytes(b"RIFF" + bytes(100))
        blobs.put_file(key, src)  # (moved into the store)
    store.add_file(StoredFile(id="f1", owner="alice", blob_key="uploads/f1"))
    spec = JobSpec(input=InputRef(blob_key="uploads/f1"))
    store.create(Job(id="j1", dialect="native", owner="alice", spec=spec))
    store.update("j1", state=JobState.succeeded, result_key="results/j1/out.wav")
    for other in (lambda: service.delete_results("j1", owner="bob"), lambda: service.delete_file("f1", owner="bob")):
        with pytest.raises(NotFoundError):
            asyncio.run(other())
    assert blobs.exists("results/j1/out.wav")
    assert blobs.exists("uploads/f1")
    job = asyncio.run(service.delete_results("j1", owner="alice"))
    assert (job.result_key, job.result_meta["result_deleted"]) == (None, True)
    assert not blobs.exists("results/j1/out.wav")
    assert blobs.exists("uploads/f1")  # the input is deleted on its own
    asyncio.run(service.delete_file("f1", owner="alice"))
    assert not blobs.exists("uploads/f1")
    assert store.get_file("f1") is None
    store.close()


def test_a_job_whose_upload_was_deleted_says_so(ctx: tuple[RunContext, list[JobEvent], RecordingQueue]) -> None:
    """It failed with "no stored file 'uploads/<id>' (results are deleted after the retention
    period)": an internal key, and the wrong reason for an upload its owner deleted (a review)."""
    c, _, _ = ctx
    c.store.create(Job(id="j", dialect="native", spec=JobSpec(input=InputRef(blob_key="uploads/f9"))))
    run_job("j", c)
    job = c.store.get("j")
    assert job is not None
    assert job.state is JobState.failed
    assert job.error_reason is not None
    assert job.error_reason.startswith("the uploaded file f9 was deleted, or expired, before this job started")
    assert "uploads/" not in job.error_reason


def test_a_result_stored_by_a_run_cancelled_meanwhile_is_deleted(
    ctx: tuple[RunContext, list[JobEvent], RecordingQueue], rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run that stored its result just as its job was cancelled left those bytes until the
    retention, a result nobody can fetch (a review)."""
    c, _, _ = ctx
    new_job(c, "j", key=upload(c, rng))
    put = c.blobs.put_file
    stored: list[str] = []

    def put_then_cancel(key: str, path: Path) -> int:
        size = put(key, path)
        stored.append(key)
        c.store.update("j", unfinished=True, state=JobState.cancelled)  # the client's cancel lands now
        return size

    monkeypatch.setattr(c.blobs, "put_file", put_then_cancel)
    run_job("j", c)
    job = c.store.get("j")
    assert job is not None
    assert job.state is JobState.cancelled
    assert stored
    assert stored[0].startswith("results/j/")
    assert not c.blobs.exists(stored[0])
