"""JobService: the one API every dialect and the native routes use.

It validates a :class:`JobSpec`, commits the job row *before* returning its id, enqueues it,
answers status and queue position, waits for sync requests, streams updates to watchers,
delivers webhooks when jobs end, and expires old jobs and files.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import heapq
import logging
import math
import shutil
import tempfile
import time
import unicodedata
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, BinaryIO

import anyio

from app import media
from app.errors import (
    ConcurrencyLimitError,
    ConflictError,
    EmptyInputError,
    InputTooLargeError,
    InsufficientCreditsError,
    InvalidParameterError,
    NotFoundError,
    QueueUnavailableError,
    RateLimitedError,
    URLRefusedError,
    disk_full,
)
from app.events import ALL_JOBS, EventBus, put_latest
from app.jobs.models import (
    ACTIVE_STATES,
    TERMINAL_STATES,
    Job,
    JobEvent,
    JobSpec,
    JobState,
    StoredFile,
    billable_minutes,
    describe_job,
)
from app.jobs.queue import JobQueue, WorkerCount
from app.jobs.steps import check_steps
from app.jobs.store import Admit, JobStore, require
from app.settings import Settings
from app.storage import MIN_FREE_BYTES, BlobStore

__all__ = ["NO_WORKER", "WAITING_FOR_A_WORKER", "JobService", "WebhookRenderer", "WebhookSender"]

#: Run seconds per audio second assumed before any job finished (the DSP chain runs ~20x real time).
DEFAULT_RATE = 0.05
#: Fixed cost of a job besides its audio (claim, probe, encode, store), in seconds.
JOB_OVERHEAD_S = 0.5
#: Shortest input (s of audio) whose run teaches the rate. The fixed cost is not fixed: on a busy
#: machine it reaches a second or two, which over a few seconds of audio reads as a rate several
#: times the real one (a 4 s file that ran 1.5 s: 0.25 s per audio second, where long click
#: repairs run at 0.01-0.03; a 200 s task behind it was told 70 s). Over 30 s of audio a second
#: of extra fixed cost is at most 0.03 s per audio second.
MIN_RATE_AUDIO_S = 30.0
#: Share of a running job after which its own pace alone says when it ends (before it, the pace is
#: blended with the measured rate in proportion). Timed from its first progress report, the pace
#: over the first 5 % of a click repair gave 0.92-1.33x its whole run (``bench/job_cost.py``, three
#: tasks), while a rate measured on other audio was 2-4x off and the default 7x (bench/README.md).
PACE_TRUST_SHARE = 0.05
#: Queued jobs ahead placed one by one on the job slots; past these, the rest are spread evenly.
_MAX_PLACED = 4096
#: A cluster's job still queued this long (seconds since submit) while a worker slot is free has
#: lost its queue message and is sent again (:meth:`JobService.redeliver_once`): a worker with a
#: free slot takes a message within a second or two, so a minute is far past any honest wait.
STALE_QUEUED_S = 60.0

#: Why a job of a cluster does not start: its workers are other processes, and none is alive.
NO_WORKER = "no worker is running (start `hush worker`)"
#: The status note of a job queued while no worker is alive (:meth:`JobService.waiting_note`).
WAITING_FOR_A_WORKER = f"waiting: {NO_WORKER}"

#: Longest /readyz waits for the blob store (a hung S3 endpoint answers nothing: a probe must)
_READY_BLOB_S = 5.0
#: How often a stream over the ``max_watchers`` count reads its job from the store (one indexed
#: read a second per such stream; :meth:`JobService.watch` ``poll_when_full``).
POLL_WHEN_FULL_S = 1.0


log = logging.getLogger("hush.jobs")
#: Kinds of job (step lists) whose processing rate is kept apart; more fall back to the overall rate.
_MAX_KINDS = 64


def sweep_leftovers(settings: Settings, *, all_of_them: bool = False) -> None:
    """Delete what killed runs left behind in ``settings.data_dir``: work folders and half-written blobs.

    Nothing can still be writing a file older than the job timeout (a run that long is
    stopped), so that age is the bound. Servers run it with their janitor, and ``hush worker``
    on its own machine's data folder, where its runs write. ``all_of_them``: whatever the age,
    for the embedded server as it starts, when nothing of its own runs yet and every work folder
    is a previous run's (a clean stop terminates its workers mid-job, and a long job's scratch
    file, hundreds of MB, stayed an hour).
    """
    cutoff = math.inf if all_of_them else time.time() - settings.job_timeout_s - 60
    tmp = settings.data_dir / "tmp"
    if tmp.is_dir():
        for p in tmp.iterdir():
            if p.lstat().st_mtime < cutoff:
                shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
    blobs = settings.blob_dir
    if blobs.is_dir():
        for part in blobs.rglob(".*.part"):
            if part.lstat().st_mtime < cutoff:
                part.unlink(missing_ok=True)


def _job_kind(job: Job) -> str:
    """What a job does, for its processing rate: its step names in order ("" for none)."""
    return ",".join(s.name for s in job.spec.steps)


#: Builds a dialect's webhook body for a finished job.
WebhookRenderer = Callable[[Job, "JobService"], Awaitable[dict[str, Any]]]
#: Delivers a webhook: ``(url, payload, settings, *, job_id, on_attempt)``, as :func:`app.webhooks.deliver`.
WebhookSender = Callable[..., Awaitable[Any]]


class JobService:
    """Submit, inspect, watch and clean up jobs."""

    def __init__(self, settings: Settings, store: JobStore, blobs: BlobStore, queue: JobQueue, bus: EventBus) -> None:
        self.settings = settings
        self._watchers = 0
        self._pollers = 0  # streams over the live count that read the store (watch poll_when_full)
        self._streams: set[asyncio.Queue[Any]] = set()  # the event queues of the live watchers
        self._stopping = False
        self._stop_event: anyio.Event | None = None
        self._rate: float | None = None
        self._rates: dict[str, float] = {}  # the same, per kind of job (its steps)
        self.store = store
        self.blobs = blobs
        self.queue = queue
        self.bus = bus
        self._renderers: dict[str, WebhookRenderer] = {}
        # the last count of live workers, when it was taken (monotonic) and why it failed
        self._workers_seen: WorkerCount | None = None
        self._workers_at: float | None = None
        self._workers_error: str | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self.new_id: Callable[[], str] = lambda: str(uuid.uuid4())
        """Makes job, upload and request ids (mock mode draws them from a seed)."""
        self.webhook_sender: WebhookSender | None = None
        """Delivers webhooks instead of :func:`app.webhooks.deliver` (mock mode's webhook chaos)."""
        self._webhooks_held: dict[str, float] = {}  # the webhooks this server sends now: job id, claim token

    # ------------------------------------------------------------------ submit
    async def submit(
        self,
        *,
        dialect: str,
        spec: JobSpec,
        owner: str = "",
        request_id: str | None = None,
        priority: int = 0,
        meta: dict[str, Any] | None = None,
        rerun_failed: bool = False,
        compact_id: bool = False,
    ) -> Job:
        """Validate and commit a job, then enqueue it. A reused ``request_id`` returns the first job.

        ``compact_id`` gives the job its id as 32 hex digits (a UUID without its dashes), the form
        of the ids some vendors' documents show.

        With ``rerun_failed``, a reused ``request_id`` whose job failed or was cancelled submits a
        new job (without the key: the key stays with the first job).
        """
        if not 0 <= priority <= 10:
            raise InvalidParameterError(f"priority must be an integer from 0 to 9, got {priority}")
        if request_id is not None:
            check_request_id(request_id)
        await anyio.to_thread.run_sync(check_steps, spec.steps)  # imports and builds DSP steps: off the loop
        admit = await anyio.to_thread.run_sync(self._admission, spec) if owner else None
        if spec.input.blob_key is None and spec.input.url is None:
            raise InvalidParameterError("the job needs an input: an uploaded file or a URL")
        from app import fetch

        # (each named: one message served three fields, and a client could not tell which was refused)
        for what, url in (
            ("the input URL", spec.input.url),
            ("the webhook URL", spec.webhook_url),
            ("the URL to upload the result to", spec.output.put_url),
        ):
            if url:
                try:
                    await anyio.to_thread.run_sync(fetch.check_url, url, self.settings)
                except URLRefusedError as exc:
                    exc.message = f"{what}: {exc.message}"
                    exc.args = (exc.message,)
                    raise
        job = Job(
            id=self.new_id().replace("-", "") if compact_id else self.new_id(),
            dialect=dialect,
            owner=owner,
            request_id=request_id,
            spec=spec,
            priority=priority,
            meta=meta or {},
        )
        fresh = job
        job, created = await anyio.to_thread.run_sync(lambda: self.store.create(fresh, admit=admit))
        if not created and rerun_failed and job.state in (JobState.failed, JobState.cancelled):
            again = fresh.model_copy(update={"request_id": None})
            job, created = await anyio.to_thread.run_sync(lambda: self.store.create(again, admit=admit))
        elif not created and rerun_failed and job.state is JobState.succeeded:
            # the client repeats a request whose result it never received: a webhook that failed
            # every attempt is sent again (the repeat answered 200 and nothing came, for good)
            done = job
            reopened = False
            if done.spec.webhook_url:
                reopened = await anyio.to_thread.run_sync(self.store.reopen_webhook, done.id)
            if reopened:
                log.info("job %s: its request came again; its failed webhook is sent again", done.id)
                self._spawn(self._deliver_webhook(done))
        if created:
            try:
                await anyio.to_thread.run_sync(self.queue.enqueue, job.id, priority)  # a broker round trip, maybe
            except Exception as exc:
                # not queued, so nothing would ever run it: take the row back and say so (a retry,
                # with the same request_id too, then submits afresh)
                log.warning("could not enqueue job %s: %s", job.id, exc)
                await anyio.to_thread.run_sync(self.store.delete, job.id)
                raise QueueUnavailableError(
                    "the job queue cannot be reached right now, so the job was not accepted; send it again shortly",
                    hint="the cluster's broker (HUSH_REDIS_URL) is down or unreachable",
                ) from None
            self.bus.publish(JobEvent(job_id=job.id, job=job))
            self.bus.publish(JobEvent(kind="queue", job_id=ALL_JOBS))
            log.info("job %s created: %s", job.id, describe_job(job))
        return job

    # ------------------------------------------------------------------ read
    async def get(self, job_id: str, *, owner: str | None = None) -> Job:
        """The job, or NotFoundError (also when it belongs to another key, in the same words: a key
        cannot tell another key's job from one that does not exist)."""
        job = await anyio.to_thread.run_sync(self.store.get, job_id)
        if job is not None and owner is not None and job.owner and job.owner != owner:
            job = None
        if job is not None and job.expires_at is not None and job.expires_at <= time.time():
            # gone for the client from the moment it expires, not from the janitor's next pass
            raise NotFoundError(
                f"job {job_id!r} has expired: jobs and their results are kept HUSH_RETENTION_HOURS "
                f"({self.settings.retention_hours:g} h) after they end"
            )
        return require(job, job_id)

    async def jobs_ahead(self, job: Job) -> int:
        """How many queued jobs will start before ``job``."""
        if job.state is not JobState.queued:
            return 0
        return await anyio.to_thread.run_sync(self.store.jobs_ahead, job)

    def result_key(self, job: Job) -> str:
        """Blob key of the finished job's result; ConflictError when it has none."""
        if job.state is JobState.succeeded and job.result_meta.get("result_deleted"):
            raise NotFoundError(f"the result of job {job.id} was deleted at its owner's request")
        if job.state is not JobState.succeeded or not job.result_key:
            raise ConflictError(f"job {job.id} has no result (state {job.state.value})")
        return job.result_key

    @contextlib.asynccontextmanager
    async def blob_file(self, key: str) -> AsyncIterator[Path]:
        """A local file with the blob's bytes while the context lasts (to decode it here)."""
        scratch = self.settings.data_dir / "tmp"
        scratch.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=scratch) as tmp:
            yield await anyio.to_thread.run_sync(self.blobs.readable_path, key, Path(tmp))

    async def read_blob(self, key: str) -> bytes:
        """The whole blob (for answers that embed the result, such as base64 in JSON)."""

        def read() -> bytes:
            with self.blobs.open(key) as f:
                return f.read()

        return await anyio.to_thread.run_sync(read)

    async def readiness(self) -> dict[str, Any]:
        """What ``/readyz`` answers: ``status``, one line per check, and the workers alive.

        ``status`` is ``ok``; ``unavailable`` (answered with 503) when the job store, the blob
        store (within ``_READY_BLOB_S``) or the queue does not answer; ``degraded`` when the
        queue answers but no worker of a cluster is alive (jobs are accepted and wait).
        ``degraded`` is ``unavailable`` instead with
        ``HUSH_READY_REQUIRES_WORKER``. ``workers`` is ``{"alive", "slots"}`` (job slots), or
        None when it cannot be read. The embedded pool is this server's own: it is ``ok`` while
        it runs.
        """
        checks: dict[str, str] = {}
        failed = False
        try:
            await anyio.to_thread.run_sync(self.store.ping)
            checks["store"] = "ok"
        except Exception as exc:
            checks["store"] = f"error: {exc}"
            failed = True
        # uploads and results live in the blob store: a server whose S3 is down answers every upload
        # and download 503 and was still "ok"; an S3 that hangs must not hang the probe
        try:
            with anyio.fail_after(_READY_BLOB_S):
                await anyio.to_thread.run_sync(self.blobs.ping, abandon_on_cancel=True)
            checks["blobs"] = "ok"
        except TimeoutError:
            checks["blobs"] = f"error: the blob store did not answer within {_READY_BLOB_S:g} s"
            failed = True
        except Exception as exc:
            checks["blobs"] = f"error: {exc}"
            failed = True
        running = await anyio.to_thread.run_sync(lambda: self.queue.running)  # Celery asks its broker
        broker = getattr(self.queue, "broker", None)  # the cluster's: say which one does not answer
        count = await self.workers() if running else None
        degraded = False
        if not running:
            checks["workers"] = f"not running: the broker at {broker} does not answer" if broker else "not running"
            failed = True
        elif self.queue.exclusive:
            checks["workers"] = "ok"
        elif count is None:
            degraded = True
            checks["workers"] = f"unknown: the worker heartbeats cannot be read ({self._workers_error})"
        elif count.alive == 0:
            degraded = True
            checks["workers"] = (
                f"none alive: no `hush worker` has sent a heartbeat in the last "
                f"{self.settings.worker_heartbeat_ttl_s:g} s; jobs are accepted and wait in the queue until one starts"
            )
        else:
            checks["workers"] = "ok"
        if failed or (degraded and self.settings.ready_requires_worker):
            status = "unavailable"
        else:
            status = "degraded" if degraded else "ok"
        workers = {"alive": count.alive, "slots": count.slots} if count is not None else None
        return {"status": status, "checks": checks, "workers": workers}

    async def workers(self) -> WorkerCount | None:
        """The workers alive now, or None when the queue cannot tell (its broker does not answer).

        Read at most once a second (a status poll of every waiting job asks): a worker that
        starts is counted within that second and its first heartbeat.
        """
        now = time.monotonic()
        fresh_s = min(1.0, self.settings.worker_heartbeat_ttl_s / 4.0)
        if self._workers_at is not None and now - self._workers_at < fresh_s:
            return self._workers_seen
        try:
            count: WorkerCount | None = await anyio.to_thread.run_sync(self.queue.workers)
            self._workers_error = None
        except Exception as exc:
            log.debug("cannot count the workers: %s", exc)
            count, self._workers_error = None, str(exc) or type(exc).__name__
        self._workers_seen, self._workers_at = count, time.monotonic()
        return count

    async def no_worker_alive(self) -> bool:
        """True when the jobs run on workers of their own (a cluster) and none is alive now.

        Never for the embedded pool: its workers are this server's, replaced when they die."""
        if self.queue.exclusive:
            return False
        count = await self.workers()
        return count is not None and count.alive == 0

    async def waiting_note(self, job: Job) -> str | None:
        """What a queued job's status says besides its position: :data:`WAITING_FOR_A_WORKER`
        while no worker is alive to run it (:meth:`no_worker_alive`); None otherwise."""
        if job.state is not JobState.queued or not await self.no_worker_alive():
            return None
        return WAITING_FOR_A_WORKER

    # ------------------------------------------------------------------ change
    async def cancel(self, job_id: str, *, owner: str | None = None, reason: str = "cancelled by the client") -> Job:
        """Cancel a job that has not finished; a finished job is returned unchanged (also one that
        finished between this read and the write: a success, and its charge, is never overwritten).
        ``reason`` is the job's ``error_reason``."""
        job = await self.get(job_id, owner=owner)
        if job.terminal:
            return job
        now = time.time()
        updated = await anyio.to_thread.run_sync(
            lambda: self.store.update(
                job_id,
                unfinished=True,
                state=JobState.cancelled,
                finished_at=now,
                expires_at=now + self.settings.retention_hours * 3600,
                error_code="cancelled",
                error_reason=reason,
            )
        )
        if updated is None:  # it ended meanwhile
            return await self.get(job_id, owner=owner)
        job = updated
        self.bus.publish(JobEvent(job_id=job_id, job=job))
        self.bus.publish(JobEvent(kind="queue", job_id=ALL_JOBS))
        return job

    async def delete_results(self, job_id: str, *, owner: str | None = None) -> Job:
        """Delete a finished job's result files (the job row stays, without a result)."""
        job = await self.get(job_id, owner=owner)
        if not job.terminal:
            raise ConflictError(f"job {job_id} is still {job.state.value}; cancel it or wait for it to finish")
        await anyio.to_thread.run_sync(self.blobs.delete_prefix, f"results/{job_id}")
        meta = {**job.result_meta, "result_deleted": True} if job.result_key else job.result_meta
        updated = await anyio.to_thread.run_sync(lambda: self.store.update(job_id, result_key=None, result_meta=meta))
        return require(updated, job_id)

    async def delete_file(self, file_id: str, *, owner: str | None = None) -> None:
        """Delete an upload now, before its retention ends (a job still waiting for it fails)."""
        f = await self.get_file(file_id, owner=owner)
        await anyio.to_thread.run_sync(self.blobs.delete_prefix, f.blob_key)
        await anyio.to_thread.run_sync(self.store.delete_file, f.id)

    # ------------------------------------------------------------------ uploads
    async def store_upload(
        self, stream: BinaryIO, *, owner: str, filename: str | None, pcm_sample_rate: int | None = None
    ) -> StoredFile:
        """Copy an uploaded body to the blob store after checking size and that it is media.

        ``pcm_sample_rate`` lets headerless 16-bit PCM through the media check (see ``media.probe``).
        """
        tmp_dir = self.settings.data_dir / "tmp"
        tmp_dir.mkdir(parents=True, exist_ok=True)
        if await anyio.to_thread.run_sync(lambda: shutil.disk_usage(tmp_dir).free) < MIN_FREE_BYTES:
            # /readyz says unavailable meanwhile; an upload that still fitted was taken, and its job failed
            raise disk_full()
        file_id = self.new_id()
        tmp = tmp_dir / f"upload-{file_id}"
        limit = self.settings.max_input_bytes

        def copy() -> int:
            size = 0
            with tmp.open("wb") as out:
                while chunk := stream.read(1 << 20):
                    size += len(chunk)
                    if size > limit:
                        raise InputTooLargeError(
                            f"the file is larger than the {self.settings.max_input_mb:g} MiB limit",
                            hint="send a smaller file or raise HUSH_MAX_INPUT_MB",
                        )
                    out.write(chunk)
            return size

        try:
            size = await anyio.to_thread.run_sync(copy)
            if size == 0:
                raise EmptyInputError("the uploaded file is empty")
            info = await anyio.to_thread.run_sync(
                lambda: media.probe(tmp, pcm_sample_rate=pcm_sample_rate, max_duration_s=self.settings.max_duration_s)
            )
            key = f"uploads/{file_id}"
            await anyio.to_thread.run_sync(self.blobs.put_file, key, tmp)
        finally:
            tmp.unlink(missing_ok=True)
        now = time.time()
        stored = StoredFile(
            id=file_id,
            owner=owner,
            blob_key=key,
            filename=filename,
            info={
                "container": info.container,
                "sample_rate": info.sr,
                "channels": info.channels,
                "duration_s": info.duration_s,
                "has_video": info.has_video,
                "size_bytes": size,
            },
            created_at=now,
            expires_at=now + self.settings.retention_hours * 3600,
        )
        await anyio.to_thread.run_sync(self.store.add_file, stored)
        return stored

    async def get_file(self, file_id: str, *, owner: str | None = None) -> StoredFile:
        """An uploaded file, or NotFoundError."""
        f = await anyio.to_thread.run_sync(self.store.get_file, file_id)
        if f is None or (owner is not None and f.owner and f.owner != owner):
            raise NotFoundError(f"no uploaded file with id {file_id!r}", hint="upload it first; files expire")
        if f.expires_at is not None and f.expires_at <= time.time():
            raise NotFoundError(
                f"the uploaded file {file_id!r} has expired (uploads are kept HUSH_RETENTION_HOURS, "
                f"{self.settings.retention_hours:g} h)",
                hint="upload it again",
            )
        return f

    # ------------------------------------------------------------------ waiting and watching
    async def wait(self, job_id: str, timeout_s: float) -> Job:
        """Wait until the job is terminal; returns the latest snapshot when ``timeout_s`` passes."""
        async with self.bus.subscribe(job_id) as events:
            job = await self.get(job_id)
            with anyio.move_on_after(timeout_s):
                while not job.terminal:
                    ev = await events.get()
                    if ev.job is not None:
                        job = ev.job
            if not job.terminal:
                job = await self.get(job_id)
        return job

    async def watch(
        self, job_id: str, *, owner: str | None = None, poll_when_full: bool = False
    ) -> AsyncGenerator[tuple[Job, int], None]:
        """Yield ``(job, jobs_ahead)`` now and after every change, ending with the terminal state.

        Updates come from the event bus; the only store reads are the first snapshot and a
        queue-position count when the queue moves while this job waits. With
        ``max_watchers`` live streams open, RateLimitedError, unless ``poll_when_full``: then
        the job is read from the store every ``POLL_WHEN_FULL_S`` instead, outside the live
        count, up to ``max_watchers`` such streams more (for a client that has no other way to
        learn the outcome: the Audo SDK waits on its websocket alone, and read a refusal as the
        job failed).
        """
        if poll_when_full and self._watchers >= self.settings.max_watchers:
            self.check_watch_capacity(poll_when_full=True)
            self._pollers += 1
            try:
                async for item in self._watch(job_id, owner=owner, live=False):
                    yield item
            finally:
                self._pollers -= 1
            return
        self.check_watch_capacity()
        self._watchers += 1
        try:
            async for item in self._watch(job_id, owner=owner):
                yield item
        finally:
            self._watchers -= 1

    def check_watch_capacity(self, *, poll_when_full: bool = False) -> None:
        """Raise RateLimitedError when ``max_watchers`` live streams are already open (and, with
        ``poll_when_full``, as many streams that read the store instead)."""
        if self._watchers < self.settings.max_watchers:
            return
        if poll_when_full and self._pollers < self.settings.max_watchers:
            return
        raise RateLimitedError(
            f"this server already streams {self._watchers + self._pollers} live job updates (HUSH_MAX_WATCHERS); "
            "poll the job's status instead, or try again shortly",
            retry_after_s=5,
        )

    async def _watch(self, job_id: str, *, owner: str | None, live: bool = True) -> AsyncIterator[tuple[Job, int]]:
        # One subscription: the job's own events, plus the queue-moved broadcasts that reach every
        # subscriber. (Subscribing to ALL_JOBS too would cost each watcher every job's progress.)
        # ``live=False``: none, the job read from the store every POLL_WHEN_FULL_S.
        quiet_s = 5.0 if live else POLL_WHEN_FULL_S
        async with contextlib.AsyncExitStack() as stack:
            mine: asyncio.Queue[Any] | None = None
            if live:
                try:
                    mine = await stack.enter_async_context(self._subscribe_stream(job_id))
                except ConnectionError as exc:
                    # no live events (Redis unreachable): the stream reads the store every 5 s
                    # instead of ending, torn, after 10 s of nothing (an ASGI traceback; a cluster audit)
                    log.warning("job %s: no live events (%s); its stream reads the job store instead", job_id, exc)
            if mine is None:
                mine = asyncio.Queue()
                self._streams.add(mine)  # (so a stopping server still ends it)
                stack.callback(self._streams.discard, mine)
                if self._stopping:
                    put_latest(mine, None)
            job = await self.get(job_id, owner=owner)
            ahead = await self.jobs_ahead(job)
            note = await self.waiting_note(job)
            yield job, ahead
            while not job.terminal:
                try:
                    ev = await asyncio.wait_for(mine.get(), timeout=quiet_s)
                except TimeoutError:  # quiet for a while: re-read once in case an event was missed
                    fresh = await self.get(job_id)
                    changed = fresh.updated_at != job.updated_at
                    job = fresh
                    if not live and job.state is JobState.queued:  # (no queue events reach it)
                        new_ahead = await self.jobs_ahead(job)
                        changed = changed or new_ahead != ahead
                        ahead = new_ahead
                else:
                    if ev is None:  # the server is stopping: the stream ends now, not with the job
                        return
                    changed = False
                    if ev.kind == "queue":
                        if job.state is JobState.queued:  # a job entered or left the queue: recount
                            new_ahead = await self.jobs_ahead(job)
                            changed = new_ahead != ahead
                            ahead = new_ahead
                    elif ev.job is not None and (ev.job.updated_at >= job.updated_at or ev.job.terminal):
                        job = ev.job
                        changed = True
                # the workers come and go without a job event: a waiting job's note is read again
                # at each wake-up (the count is cached), and a change is news for the watcher
                new_note = await self.waiting_note(job)
                changed = changed or new_note != note
                note = new_note
                if changed:
                    if job.state is not JobState.queued:
                        ahead = 0
                    yield job, ahead

    @contextlib.asynccontextmanager
    async def _subscribe_stream(self, job_id: str) -> AsyncIterator[asyncio.Queue[Any]]:
        """The bus's events for ``job_id``, then ``None`` once the server begins to stop."""
        async with self.bus.subscribe(job_id) as events:
            self._streams.add(events)
            if self._stopping:
                put_latest(events, None)
            try:
                yield events
            finally:
                self._streams.discard(events)

    # ------------------------------------------------------------------ time estimates
    def _measure_rate(self, job: Job) -> None:
        """Fold a finished job's run time per second of audio into the running estimates.

        One estimate over every job, and one per kind of job (its steps, in order): a click
        repair runs some fifty times faster than a studio-sound chain, so a declick task's wait
        is read off declick tasks once one has finished.
        """
        duration = (job.result_meta.get("input") or {}).get("duration_s")
        if not duration or job.started_at is None or job.finished_at is None:
            return
        if float(duration) < MIN_RATE_AUDIO_S or job.finished_at - job.started_at < 2 * JOB_OVERHEAD_S:
            return  # mostly fixed cost (a short file): its rate would read far off, either way
        run_s = job.finished_at - job.started_at - JOB_OVERHEAD_S
        rate = run_s / float(duration)
        self._rate = rate if self._rate is None else 0.8 * self._rate + 0.2 * rate
        kind = _job_kind(job)
        if kind in self._rates or len(self._rates) < _MAX_KINDS:
            old = self._rates.get(kind)
            self._rates[kind] = rate if old is None else 0.8 * old + 0.2 * rate

    def _admission(self, spec: JobSpec) -> Admit:
        """The rule the store applies, in the transaction that inserts the job, to its key's account
        and open jobs (:meth:`JobStore.create`): refuse too many open jobs, or no minutes left.

        Each open job holds at least one minute (the smallest charge) until it ends, so a key
        cannot start more jobs than it can pay for; a job is charged, in whole started minutes of
        its audio, only when it succeeds. An upload's charge is known from its duration (read
        here, before the transaction).
        """
        needed = 1
        if spec.input.blob_key:  # an upload: its duration is known, so is the charge
            stored = self.store.get_file(spec.input.blob_key.rsplit("/", 1)[-1])
            duration = (stored.info.get("duration_s") if stored else None) or 0.0
            needed = billable_minutes(duration)

        return functools.partial(_admit, needed=needed)

    def rate_measured(self, job: Job) -> bool:
        """True once a job of ``job``'s kind (its steps) finished here and gave a rate: until then
        :meth:`estimate_wait_s` rests on other kinds' rate or ``DEFAULT_RATE``, either of which can
        be several times off (a click repair runs some fifty times faster than a studio-sound chain)."""
        return _job_kind(job) in self._rates

    def _rate_of(self, job: Job) -> float:
        """Run seconds per audio second for ``job``: its kind's, else all kinds', else the default."""
        return self._rates.get(_job_kind(job), self._rate if self._rate is not None else DEFAULT_RATE)

    def _run_s(self, job: Job, duration_s: float | None) -> float:
        """The job's whole run by the measured rate: the fixed cost and its audio length as
        probed, else as its client declared, else ``duration_s`` (the caller's), else a minute."""
        probed = (job.result_meta.get("input") or {}).get("duration_s")
        audio_s = float(probed or job.spec.input.declared_duration_s or duration_s or 60.0)
        return JOB_OVERHEAD_S + self._rate_of(job) * audio_s

    def remaining_s(self, job: Job, *, now: float | None = None, duration_s: float | None = None) -> float:
        """Seconds until the active ``job`` is likely finished (its own run only, no queue).

        Before it reports progress, the measured rate times its audio, less the time it has run.
        Once it reports progress twice, its own pace too: the time from its first progress write
        (after the first block: ``result_meta["pace_from"]``, wall time and per cent; the
        download, the probe and the steps' set-up are no part of it) to its last, per share done.
        A pace that says sooner than the rate is taken as it is (an estimate too short costs the
        client one more poll; one too long delays its result by the difference); a pace that
        says later is trusted in proportion to the share it was timed over, wholly from
        :data:`PACE_TRUST_SHARE` on. Either way a rate that is several times off (the default, or
        one measured on other audio) is corrected within the first blocks, not only near the end.
        ``duration_s`` is the audio length when the caller knows it before the job does.
        """
        now = time.time() if now is None else now
        own = self._run_s(job, duration_s)
        prior = max(own - (now - job.started_at), 0.0) if job.started_at is not None else own
        pace_from = job.result_meta.get("pace_from")
        if job.state is not JobState.in_progress or not isinstance(pace_from, list) or len(pace_from) != 2:
            return prior
        began, first = float(pace_from[0]), float(pace_from[1])
        if job.started_at is not None and began < job.started_at:
            return prior  # written by an earlier attempt: this one has not timed its pace yet
        done = min(job.progress, 100.0) - first  # per cent done since the first progress write
        timed = job.updated_at - began  # ... and the time it took, up to the last write
        if done <= 0 or timed <= 0:
            return prior
        paced = max(timed * (100.0 - min(job.progress, 100.0)) / done - (now - job.updated_at), 0.0)
        if paced <= prior:
            return paced  # sooner than the rate says: too short costs one poll, too long a late result
        share = done / 100.0
        trust = min(share / PACE_TRUST_SHARE, 1.0)
        return trust * paced + (1.0 - trust) * prior

    async def estimate_wait_s(self, job: Job, *, duration_s: float | None = None) -> float:
        """Seconds until ``job`` is likely finished, from its queue position and the measured rate.

        The rate (run seconds per audio second) is a running mean over the jobs of the same
        steps this process saw finish, else over all it saw finish, ``DEFAULT_RATE`` until there
        is one. A running job's estimate is :meth:`remaining_s`. A queued job starts when a job
        slot (of the workers alive; the pool's size, embedded) is free for it: the slots are
        taken first by the jobs running now, each free when its :meth:`remaining_s` has passed,
        then by the jobs queued ahead, in order, each counted as long as this one (their lengths
        are not read, to keep a poll to two indexed queries). While no worker of a cluster is
        alive, a queued job's wait is ``math.inf``: nothing will run it until one starts.
        ``duration_s`` is the audio length when the caller knows it before the job does.
        """
        if job.terminal:
            return 0.0
        now = time.time()
        if job.state in ACTIVE_STATES:
            return self.remaining_s(job, now=now, duration_s=duration_s)
        own = self._run_s(job, duration_s)
        slots = self.settings.workers
        if not self.queue.exclusive:
            count = await self.workers()
            if count is not None:
                if count.alive == 0:
                    return math.inf
                slots = count.slots
        ahead = await self.jobs_ahead(job)
        running = await anyio.to_thread.run_sync(self.store.active_jobs)
        # when each slot is free: the running jobs' ends, the idle slots now (a job still held by
        # a worker the count no longer sees keeps a slot of its own until the reaper frees it)
        free = [self.remaining_s(j, now=now) for j in running]
        free += [0.0] * max(max(slots, 1) - len(free), 0)
        heapq.heapify(free)
        placed = min(ahead, _MAX_PLACED)
        for _ in range(placed):
            heapq.heappush(free, heapq.heappop(free) + own)
        start = free[0] + (ahead - placed) * own / len(free)
        return start + own

    # ------------------------------------------------------------------ webhooks
    def register_webhook(self, dialect: str, renderer: WebhookRenderer) -> None:
        """Use ``renderer`` to build the webhook body for ``dialect``'s finished jobs."""
        self._renderers[dialect] = renderer

    async def _hold_webhook(self, job_id: str, token: float) -> None:
        """Renew ``job_id``'s delivery claim every third of ``HUSH_LEASE_S`` while this server sends
        it; return once the claim is lost (taken over, or run out while the store did not answer).

        The claim used to be taken once for the longest a delivery could take (32 min at the
        defaults): a replica killed or stopped mid-delivery left the webhook unsent that long (a
        cluster audit). Held like a running job's lease, it runs out within ``HUSH_LEASE_S`` of
        the server's death, and the waits between attempts (up to ``MAX_BACKOFF_S``) no longer
        decide its length. The token names this server's claim, so a server whose renewals failed
        for a lease does not renew another's claim and send beside it (a review)."""
        every = self.settings.lease_s / 3
        while True:
            await asyncio.sleep(every)
            try:
                renewed = await anyio.to_thread.run_sync(self.store.renew_webhook, job_id, token, self.settings.lease_s)
            except Exception:  # the store is back by the next renewal, or the claim runs out
                log.warning("could not renew the webhook claim of job %s", job_id, exc_info=True)
                if time.time() >= token:
                    return  # run out: another server may hold it now
                continue
            if renewed is None:
                return
            token = self._webhooks_held[job_id] = renewed  # (held until this task ends: see _deliver_webhook)

    async def _deliver_webhook(self, job: Job) -> None:
        renderer = self._renderers.get(job.dialect)
        if renderer is None or not job.spec.webhook_url or job.id in self._webhooks_held:
            return
        # one delivery per job, however many servers saw it finish: the one that claims its row
        token = await anyio.to_thread.run_sync(self.store.claim_webhook, job.id, self.settings.lease_s)
        if token is None:
            return
        self._webhooks_held[job.id] = token
        url = job.spec.webhook_url
        try:
            async with anyio.create_task_group() as tg:

                async def send() -> None:
                    await self._send_webhook(job, renderer, url)
                    tg.cancel_scope.cancel()

                async def hold() -> None:
                    await self._hold_webhook(job.id, token)
                    log.warning(
                        "job %s: its webhook claim was lost (taken over or run out); this server stops sending it",
                        job.id,
                    )
                    tg.cancel_scope.cancel()

                tg.start_soon(send)
                tg.start_soon(hold)
        finally:
            self._webhooks_held.pop(job.id, None)

    async def _send_webhook(self, job: Job, renderer: WebhookRenderer, url: str) -> None:
        """Render and send ``job``'s webhook (its delivery row is claimed), resuming a delivery a
        stopped server left half done; record the outcome."""
        from app import webhooks

        try:
            payload = await renderer(job, self)
        except Exception:
            log.exception("could not render the webhook for job %s", job.id)
            await anyio.to_thread.run_sync(lambda: self.store.finish_webhook(job.id, delivered=False, attempts=0))
            return

        progress = dict(job.meta)
        # a delivery a stopped server left half done goes on from its next attempt, when it is due
        # (it started again at attempt 1, at once: each restart gave a failing receiver a fresh
        # set of attempts, and ignored the Retry-After it had asked for)
        before = progress.get("webhook_progress") or {}
        done_before = min(int(before.get("attempts") or 0), self.settings.webhook_max_attempts - 1)
        resume: dict[str, Any] = {}
        if done_before and self.webhook_sender is None:
            due = float(before.get("next_at") or 0.0)
            resume = {"first_attempt": done_before + 1, "first_wait_s": max(due - time.time(), 0.0)}
            log.info("job %s: its webhook delivery goes on at attempt %d", job.id, done_before + 1)
        else:
            done_before = 0

        async def on_attempt(attempt: webhooks.WebhookAttempt) -> None:
            await anyio.to_thread.run_sync(self.store.log, job.id, "webhook", dataclasses.asdict(attempt))
            if attempt.next_delay_s is None:
                return  # the last attempt: the outcome below says it all
            # while it retries, the job says so (a key of its own: "webhook" means the delivery ended)
            progress["webhook_progress"] = {
                "delivered": None,
                "attempts": attempt.attempt,
                "status": attempt.status,
                "error": attempt.error,
                # when the next attempt is due (a server that stops before it resumes from here)
                "next_at": attempt.sent_at + attempt.elapsed_s + attempt.next_delay_s,
            }
            await anyio.to_thread.run_sync(lambda: self.store.update(job.id, meta=dict(progress)))

        send = self.webhook_sender or webhooks.deliver
        result = await send(url, payload, self.settings, job_id=job.id, on_attempt=on_attempt, **resume)
        attempts = done_before + len(result.attempts)
        meta = dict(job.meta)
        meta.pop("webhook_progress", None)
        meta["webhook"] = {
            "delivered": result.delivered,
            "attempts": attempts,
            "status": result.status,
            "error": result.error,
        }
        await anyio.to_thread.run_sync(lambda: self.store.update(job.id, meta=meta))
        await anyio.to_thread.run_sync(
            lambda: self.store.finish_webhook(job.id, delivered=result.delivered, attempts=attempts)
        )

    async def _notifier(self) -> None:
        """Watch every job's events: measure the processing rate, start the webhooks.

        If the bus cannot subscribe (Redis not up yet as the server starts) or drops, it tries
        again, backing off to 30 s, instead of leaving the webhooks to the janitor's 5 minutes.
        """
        delay, missed = 1.0, False
        while True:
            try:
                async with self.bus.subscribe(ALL_JOBS) as events:
                    if missed:  # jobs may have finished while nothing listened (start() did the first)
                        await self._resume_webhooks()
                    delay, missed = 1.0, False
                    while True:
                        self._notice(await events.get())
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("job events unavailable (%s); subscribing again in %.0f s", exc, delay)
                missed = True
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)

    def _notice(self, ev: JobEvent) -> None:
        job = ev.job
        if job is not None and job.state is JobState.succeeded:
            self._measure_rate(job)
        if job is None or job.state not in TERMINAL_STATES or not job.spec.webhook_url:
            return
        if job.meta.get("webhook", {}).get("delivered") is not None:
            return
        self._spawn(self._deliver_webhook(job))

    async def _resume_webhooks(self) -> None:
        """Deliver webhooks of jobs that finished while no server was running to send them."""

        def pending() -> list[Job]:
            return [j for j in self.store.finished_with_webhook() if "webhook" not in j.meta]

        for job in await anyio.to_thread.run_sync(pending):
            self._spawn(self._deliver_webhook(job))

    async def resume_dropped_webhooks(self, now: float | None = None) -> int:
        """Take over the deliveries whose claim ran out (the server sending them died) or was given
        back (it stopped); returns how many were started."""
        now = time.time() if now is None else now

        def dropped() -> list[Job]:
            jobs = (self.store.get(job_id) for job_id in self.store.dropped_webhooks(now))
            return [j for j in jobs if j is not None and j.state in TERMINAL_STATES and "webhook" not in j.meta]

        # (not one this server still sends: its claim ran out while the store did not answer)
        jobs = [j for j in await anyio.to_thread.run_sync(dropped) if j.id not in self._webhooks_held]
        for job in jobs:
            self._spawn(self._deliver_webhook(job))
        return len(jobs)

    async def _webhook_watch(self) -> None:
        """Every ``HUSH_LEASE_S``, resume the deliveries another server dropped (the janitor's
        5 minutes were the only other way for a cluster's replicas to learn of them)."""
        while True:
            await asyncio.sleep(self.settings.lease_s)
            try:
                n = await self.resume_dropped_webhooks()
                if n:
                    log.warning("resuming %d webhook delivery(ies) a stopped server left unfinished", n)
            except Exception:
                log.exception("webhook watch pass failed")

    # ------------------------------------------------------------------ housekeeping
    async def expire_once(self, now: float | None = None) -> int:
        """Delete jobs and uploads past their retention; returns how many jobs went."""
        now = time.time() if now is None else now
        jobs = await anyio.to_thread.run_sync(self.store.expired, now)
        for job in jobs:
            await anyio.to_thread.run_sync(self.blobs.delete_prefix, f"results/{job.id}")
            await anyio.to_thread.run_sync(self.store.delete, job.id)
        for f in await anyio.to_thread.run_sync(self.store.expired_files, now):
            await anyio.to_thread.run_sync(self.blobs.delete_prefix, f.blob_key)
            await anyio.to_thread.run_sync(self.store.delete_file, f.id)
        return len(jobs)

    def _sweep_leftovers(self) -> None:
        """Delete what killed runs left behind (:func:`sweep_leftovers`); the first pass runs as
        the server starts, then with every janitor pass."""
        sweep_leftovers(self.settings)

    async def _janitor(self) -> None:
        while True:
            try:
                n = await self.expire_once()
                if n:
                    log.info("expired %d jobs", n)
                await anyio.to_thread.run_sync(self._sweep_leftovers)
                await self._resume_webhooks()  # a delivery whose server died mid-way
            except Exception:
                log.exception("janitor pass failed")
            await asyncio.sleep(300)

    async def reap_once(self, now: float | None = None) -> list[str]:
        """Re-enqueue jobs whose lease ran out (their worker died); returns their ids.

        Fenced by attempt: when several servers reap at once, one write wins and one enqueue
        follows; a worker that was only slow finds its next write refused and stops."""
        now = time.time() if now is None else now
        reaped: list[str] = []
        for job in await anyio.to_thread.run_sync(self.store.lease_expired, now):
            requeue = functools.partial(
                self.store.update, job.id, attempt=job.attempt, state=JobState.queued, progress=0.0, claimed_until=None
            )
            updated = await anyio.to_thread.run_sync(requeue)
            if updated is None:
                continue
            log.warning("job %s: the lease of attempt %d ran out; back to the queue", job.id, job.attempt)
            # said before it is sent: a free worker may claim it at once, and its "in_progress" then
            # overtook "queued" (a watcher never saw the job go back to the queue)
            self.bus.publish(JobEvent(job_id=job.id, job=updated))
            await anyio.to_thread.run_sync(self.queue.enqueue, job.id, job.priority)
            reaped.append(job.id)
        if reaped:
            self.bus.publish(JobEvent(kind="queue", job_id=ALL_JOBS))
        return reaped

    async def redeliver_once(self, now: float | None = None) -> list[str]:
        """Send again the queued jobs that free worker slots have left waiting over ``STALE_QUEUED_S``.

        A job's queue message can be lost (a broker restarted without persistence, a worker that
        took it and failed before claiming it): the job would wait forever, holding its key's
        credit and concurrency. A job still queued that long while a worker slot is free is such
        a job. A second message is harmless: only one claim of a queued job succeeds. Only for
        workers of their own (a cluster); returns the ids sent again.
        """
        if self.queue.exclusive:
            return []
        now = time.time() if now is None else now
        count = await self.workers()
        if count is None or count.alive == 0:
            return []
        free = count.slots - len(await anyio.to_thread.run_sync(self.store.active_jobs))
        if free <= 0:
            return []
        sent: list[str] = []
        for job_id in await anyio.to_thread.run_sync(self.store.next_queued, (), free):
            job = await anyio.to_thread.run_sync(self.store.get, job_id)
            if job is None or job.state is not JobState.queued or now - job.created_at < STALE_QUEUED_S:
                continue
            log.warning(
                "job %s: queued %.0f s while a worker slot was free; its queue message was lost: sent again",
                job.id,
                now - job.created_at,
            )
            await anyio.to_thread.run_sync(self.queue.enqueue, job.id, job.priority)
            sent.append(job.id)
        return sent

    async def _liveness(self) -> None:
        """Tell the operator, in the log, when no worker of the cluster is alive, and when one is back."""
        last: int | None = None
        while True:
            count = await self.workers()
            if count is not None and (last is None or (count.alive == 0) != (last == 0)):
                if count.alive == 0:
                    log.warning(
                        "%s: no heartbeat in the last %g s; jobs are accepted but wait in the queue",
                        NO_WORKER,
                        self.settings.worker_heartbeat_ttl_s,
                    )
                elif last is not None:
                    log.info("%d worker(s) alive again, %d job slot(s)", count.alive, count.slots)
                last = count.alive
            await asyncio.sleep(max(self.settings.worker_heartbeat_ttl_s / 3.0, 0.5))

    async def _reaper(self) -> None:
        last_redelivery = time.monotonic()
        while True:
            await asyncio.sleep(self.settings.lease_s / 3.0)
            try:
                await self.reap_once()
                if time.monotonic() - last_redelivery >= STALE_QUEUED_S / 2:
                    last_redelivery = time.monotonic()
                    await self.redeliver_once()
            except Exception:
                log.exception("reaper pass failed")

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def start(self) -> None:
        """Recover jobs a previous run left active, start workers and background tasks."""
        if self.queue.exclusive:  # this server's own pool died with it: its active jobs are orphans
            recovered = await anyio.to_thread.run_sync(self.store.requeue_active)
            if recovered:
                log.warning("re-queued %d job(s) left running by a previous server: %s", len(recovered), recovered)
            # ... and so are the work folders of their runs
            await anyio.to_thread.run_sync(functools.partial(sweep_leftovers, self.settings, all_of_them=True))
            # ... and the webhooks it was sending, which waited out their claim unsent
            released = await anyio.to_thread.run_sync(self.store.release_webhooks)
            if released:
                log.warning("resuming %d webhook delivery(ies) a previous server left unfinished", released)
        self.queue.start()
        if not self.queue.exclusive:
            await self.reap_once()
            self._spawn(self._liveness())
        self._spawn(self._notifier())
        self._spawn(self._janitor())
        self._spawn(self._reaper())
        self._spawn(self._webhook_watch())
        await self._resume_webhooks()

    async def until_stopping(self) -> None:
        """Return once the server has begun to stop (:meth:`begin_stop`)."""
        if self._stopping:
            return
        if self._stop_event is None:  # (made in the event loop, where begin_stop sets it)
            self._stop_event = anyio.Event()
        await self._stop_event.wait()

    def begin_stop(self) -> None:
        """The server begins to stop (:meth:`stop` follows once its requests are done): the live
        job streams end now, and no job starts.

        A stream ends with its job: one open at Ctrl+C held the shutdown for its whole grace, and
        was then cancelled with a traceback.
        """
        self._stopping = True
        if self._stop_event is not None:
            self._stop_event.set()
        for events in self._streams:
            put_latest(events, None)
        self.queue.begin_stop()

    async def stop(self) -> None:
        """Stop background tasks and workers; give back the claims of the webhooks this server was
        sending, for another server to go on with at once (from their next attempt, when due)."""
        held = dict(self._webhooks_held)
        for task in list(self._tasks):
            task.cancel()
        if held:
            try:
                await anyio.to_thread.run_sync(self.store.release_webhook_claims, held)
            except Exception:  # their claims run out within HUSH_LEASE_S instead
                log.warning("could not give back %d webhook claim(s)", len(held), exc_info=True)
        await anyio.to_thread.run_sync(self.queue.stop)


def check_request_id(request_id: str) -> None:
    """Refuse a client's ``request_id`` holding a control or invisible character (a NUL or a line
    break was stored and echoed to the webhook, where a receiver that keys files or rows on it
    could break), naming where it is."""
    unseen = [i for i, c in enumerate(request_id) if unicodedata.category(c).startswith("C")]
    if unseen:
        raise InvalidParameterError(
            f"request_id holds a control character ({request_id[unseen[0]]!r} at position {unseen[0]}): "
            "use printable characters only, e.g. a UUID"
        )


def _admit(account: dict[str, Any] | None, open_jobs: int, *, needed: int) -> None:
    """Refuse a new job of a key with ``open_jobs`` open that needs ``needed`` minutes (see
    :meth:`JobService._admission`); a key with no account row (a bootstrap key) is not limited."""
    if account is None:
        return
    limit = account["max_concurrent"]
    if limit and open_jobs >= limit:
        raise ConcurrencyLimitError(
            f"this key already has {open_jobs} job(s) waiting or running, its limit is {limit}",
            retry_after_s=5,
        )
    credits = account["credits_minutes"]
    if credits is None:
        return
    if credits - open_jobs < needed:
        raise InsufficientCreditsError(
            f"this key has {credits} credit minute(s) left and {open_jobs} job(s) open; this job needs {needed}",
            hint="ask the operator for more credits (hush keys credit)",
        )
