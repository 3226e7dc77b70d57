"""``run_job(job_id)``: the one task every queue backend runs.

It re-reads the job and claims it with a lease: a queued job, or an active one whose lease ran
out (its worker died and the task was redelivered, or the reaper re-enqueued it). A job another
live worker holds, or a finished one, is left alone, so a duplicate delivery is harmless. While
it runs, a thread renews the lease. It fetches the input through the SSRF-safe fetcher, decodes
it block by block, streams it through the step chain, encodes (remuxing the video stream when
there is one), stores the result and records a per-step report. Every write is fenced by the claimed ``attempt``.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import logging
import re
import shutil
import tempfile
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlsplit

from app import media
from app.errors import (
    AppError,
    DatabaseUnavailableError,
    FetchError,
    InputError,
    InputFetchRetryError,
    InputTooLargeError,
    InsufficientCreditsError,
    InvalidParameterError,
    JobTimeoutError,
    NotFoundError,
    ProcessingError,
    RetryableError,
    StorageFullError,
    StorageUnavailableError,
    UnsupportedMediaError,
    URLRefusedError,
    disk_full,
    storage_full,
)
from app.jobs import pipeline
from app.jobs.models import InputRef, Job, JobEvent, JobState, billable_minutes, describe_job
from app.jobs.steps import check_steps
from app.jobs.store import JobStore
from app.settings import Settings
from app.storage import MIN_FREE_BYTES, BlobStore
from dsp.errors import DspError

__all__ = ["JobRecorder", "RunContext", "finish_error", "run_job"]

log = logging.getLogger("hush.runner")
T = TypeVar("T")


class _Cancelled(Exception):
    pass


@dataclass
class JobRecorder:
    """What ending a job needs: settings, the store, and where to publish events."""

    settings: Settings
    store: JobStore
    publish: Callable[[JobEvent], None]


@dataclass
class RunContext(JobRecorder):
    """What a runner needs: a :class:`JobRecorder`, the blobs, and the queue's ``enqueue``
    (a retry goes back through the queue, whichever it is)."""

    blobs: BlobStore
    enqueue: Callable[[str, int], None]


class _LeaseKeeper:
    """Renews the running attempt's lease every third of ``lease_s`` until stopped."""

    def __init__(self, ctx: RunContext, job: Job) -> None:
        self.ctx, self.job = ctx, job
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"lease-{job.id[:8]}", daemon=True)

    def _loop(self) -> None:
        lease = self.ctx.settings.lease_s
        while not self._stop.wait(lease / 3.0):
            try:
                if not self.ctx.store.renew(self.job.id, self.job.attempt, lease):
                    return  # finished, cancelled or superseded: the run's own writes notice
            except Exception:  # a store hiccup: the next renewal (well inside the lease) retries
                log.warning("job %s: lease renewal failed", self.job.id, exc_info=True)

    def __enter__(self) -> _LeaseKeeper:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


class _Progress:
    """Writes progress when it rose 1 % and ``progress_interval_s`` passed; checks for cancellation."""

    def __init__(self, ctx: RunContext, job: Job, deadline: float) -> None:
        self.ctx, self.job, self.deadline = ctx, job, deadline
        self.last_pct = -1.0
        self.last_t = 0.0

    def __call__(self, pct: float, *, force: bool = False) -> None:
        now = time.monotonic()
        if now > self.deadline:
            raise JobTimeoutError(
                f"processing took longer than {self.ctx.settings.job_timeout_s:.0f} s",
                hint="send a shorter file or raise HUSH_JOB_TIMEOUT_S",
            )
        pct = float(min(max(pct, 0.0), 99.0))
        if not force and (pct - self.last_pct < 1.0 or now - self.last_t < self.ctx.settings.progress_interval_s):
            return
        self.last_pct, self.last_t = pct, now
        fields: dict[str, Any] = {"progress": round(pct, 1)}
        if "pace_from" not in self.job.result_meta:
            # the first write, after the first block: the job's pace is timed from here, so the
            # download, the probe and the steps' set-up are no part of it
            fields["result_meta"] = {**self.job.result_meta, "pace_from": [time.time(), round(pct, 1)]}
        job = self.ctx.store.update(self.job.id, attempt=self.job.attempt, **fields)
        if job is None:  # superseded by a newer attempt, or deleted
            raise _Cancelled
        if job.state is JobState.cancelled:
            raise _Cancelled
        self.job = job
        self.ctx.publish(JobEvent(job_id=job.id, job=job))

    def stage(self, name: str) -> None:
        """A pass over the audio starts: ``result_meta["stage"]`` names its steps (the native job's
        ``stage``), written and published at once."""
        meta = {**self.job.result_meta, "stage": name}
        job = self.ctx.store.update(self.job.id, attempt=self.job.attempt, result_meta=meta)
        if job is None or job.state is JobState.cancelled:
            raise _Cancelled
        self.job = job
        self.ctx.publish(JobEvent(job_id=job.id, job=job))


def _set_state(ctx: RunContext, job: Job, **fields: Any) -> Job:
    updated = ctx.store.update(job.id, attempt=job.attempt, **fields)
    if updated is None:
        raise _Cancelled
    ctx.publish(JobEvent(job_id=job.id, job=updated))
    return updated


def run_job(job_id: str, ctx: RunContext) -> None:
    """Run job ``job_id`` to a terminal state (or back to the queue on a retryable error)."""
    job = ctx.store.get(job_id)
    if job is None or job.terminal:
        return
    first_state = JobState.downloading if job.spec.input.url else JobState.in_progress
    claimed = ctx.store.claim(job_id, first_state, ctx.settings.lease_s)
    if claimed is None:  # queued no more, or another live worker holds its lease
        return
    if job.state is not JobState.queued:
        log.warning("job %s: attempt %d's lease ran out; attempt %d takes over", job_id, job.attempt, claimed.attempt)
    job = claimed
    log.info("job %s attempt %d started (%s)", job.id, job.attempt, describe_job(job))
    ctx.publish(JobEvent(job_id=job.id, job=job))
    ctx.publish(JobEvent(kind="queue", job_id="*"))
    if job.attempt > ctx.settings.max_attempts:
        runs = job.attempt - 1
        finish_error(
            ctx,
            job,
            ProcessingError(
                f"the worker running this job stopped (crashed, killed or restarted) during each of its {runs} runs; "
                f"it is not run again (HUSH_MAX_ATTEMPTS is {ctx.settings.max_attempts})"
            ),
            JobState.failed,
        )
        return
    try:
        with _LeaseKeeper(ctx, job):
            _run(ctx, job)
    except _Cancelled:
        now = ctx.store.get(job.id)
        cancelled = now is not None and now.state is JobState.cancelled
        if cancelled:  # a result this run stored before it noticed is nobody's: not kept until the retention
            ctx.blobs.delete_prefix(f"results/{job.id}")
        why = "the job was cancelled" if cancelled else "another attempt runs it"
        log.info("job %s attempt %d stopped: %s", job.id, job.attempt, why)
    except JobTimeoutError as exc:
        finish_error(ctx, job, exc, JobState.timed_out)
    except DatabaseUnavailableError as exc:
        # "try again shortly": the job store did not answer a write of this run (PostgreSQL
        # restarting, every connection busy). It failed the job for good at its first attempt (a
        # review); it goes back to the queue, or, if the store still does not answer, its lease
        # runs out and the reaper of a live server re-queues it
        log.warning("job %s attempt %d: the job store did not answer: %s", job.id, job.attempt, exc.message)
        try:
            if job.attempt >= ctx.settings.max_attempts:
                exc.message = f"{exc.message} (the last of {job.attempt} attempts)"
                finish_error(ctx, job, exc, JobState.failed)
            else:
                _requeue_later(ctx, job, RetryableError(exc.message))
        except (DatabaseUnavailableError, _Cancelled):
            log.warning("job %s: left to its lease, which the reaper takes back to the queue", job.id)
    except RetryableError as exc:
        log.warning("job %s attempt %d: retryable error: %s", job.id, job.attempt, exc.message)
        if job.attempt >= ctx.settings.max_attempts:
            exc.message = f"{exc.message} (the last of {job.attempt} attempts)"
            finish_error(ctx, job, exc, JobState.failed)
        else:
            _requeue_later(ctx, job, exc)
    except AppError as exc:
        finish_error(ctx, job, exc, JobState.failed)
    except DspError as exc:  # the engine refused a value the submit checks let through
        finish_error(ctx, job, InvalidParameterError(str(exc)), JobState.failed)
    except Exception as exc:
        full = storage_full(exc, job=True)
        if full is not None:
            log.error("job %s attempt %d: disk full: %s", job.id, job.attempt, exc)
            finish_error(ctx, job, full, JobState.failed)
            return
        error_id = uuid.uuid4().hex[:12]
        log.error("job %s failed (error_id %s): %s", job.id, error_id, "".join(traceback.format_exception(exc)))
        err = ProcessingError(f"internal error while processing the audio (error id {error_id})")
        finish_error(ctx, job, err, JobState.failed)


_CHANGED = (
    "the downloaded input {what}: it may have changed in the bucket since its file_info was "
    "computed, or the link points at another file. Recompute file_info or fix the link."
)


def _check_integrity(path: Path, ref: InputRef) -> None:
    """Refuse a downloaded input whose size or MD5 differs from what the client declared."""
    if ref.expected_size is not None:
        size = path.stat().st_size
        if size != ref.expected_size:
            raise InputError(_CHANGED.format(what=f"is {size} bytes, not the declared {ref.expected_size}"))
    if ref.expected_md5 is not None:
        digest = hashlib.md5(usedforsecurity=False)
        with path.open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
        if digest.hexdigest() != ref.expected_md5.lower():
            raise InputError(
                _CHANGED.format(what=f"has MD5 {digest.hexdigest()}, not the declared {ref.expected_md5.lower()}")
            )


def _check_credits(ctx: RunContext, job: Job, duration_s: float | None) -> None:
    """Fail a job its key cannot pay for as soon as its length is known, before it is processed.

    A job whose input is a URL is accepted holding one minute, its length unknown until it has
    been fetched and probed. The charge on success checks the balance again, atomically (two
    jobs of one key may pass this check together), so the balance never goes below zero.
    """
    if not job.owner or duration_s is None:
        return
    account = ctx.store.account(job.owner)
    if account is None or account["credits_minutes"] is None:
        return
    needed, left = billable_minutes(duration_s), int(account["credits_minutes"])
    if left < needed:
        raise InsufficientCreditsError(
            f"the audio is {duration_s:.1f} s long, {needed} credit minute(s); this key has {left} left",
            hint="ask the operator for more credits (hush keys credit)",
        )


#: Attempts at PUTting a result to the job's ``put_url`` when the receiver fails transiently (a
#: 5xx, 408, 425 or 429, a network error or a timeout), ``settings.retry_backoff_s`` apart and
#: doubling. One 500 used to fail the finished job and throw its result away (an outside audit).
PUT_ATTEMPTS = 4


class _PutFailed(FetchError):
    """The result's PUT failed for good: the last FetchError, with how many attempts were made."""

    def __init__(self, last: FetchError, attempts: int) -> None:
        tries = f"after {attempts} attempts" if attempts > 1 else "at the first attempt; an answer not to try again"
        super().__init__(f"{last.message} ({tries})", hint=last.hint, transient=False, status=last.status)
        self.attempts = attempts


#: The job's ``stage`` while its result is PUT to its ``put_url`` (and between attempts).
PUT_STAGE = "uploading the result to put_url"


def put_content_type(url: str, default: str) -> str:
    """The Content-Type a result is PUT with: the one a presigned link states in its query
    (``content-type=video%2Fmp4``: a signature over the header's value, which S3 checks; the
    Audo document's S3 example), else ``default`` (the result's own)."""
    for name, value in parse_qsl(urlsplit(url).query, keep_blank_values=True):
        if name.lower() == "content-type" and _MEDIA_TYPE.fullmatch(value.strip()):
            return value.strip()
    return default


#: A media type as a header carries it (RFC 9110 sec. 8.3.1: type "/" subtype, then parameters),
#: in printable ASCII: anything else in a link's query is not sent (a CR or a non-ASCII letter
#: failed the job's PUT, the first as a transient error tried four times: a review).
_MEDIA_TYPE = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+/[!#$%&'*+.^_`|~0-9A-Za-z-]+(;[ -~]*)?")


def _put_result(ctx: RunContext, job: Job, url: str, path: Path, content_type: str) -> tuple[int, int]:
    """PUT the result at ``path`` to ``url``; ``(status, attempts)``. Raises _PutFailed, or
    _Cancelled when ``job`` is cancelled during a wait between two attempts (the result went to
    the caller's bucket after the job said cancelled: an audit; before the first, the stage
    written just before it checks)."""
    from app import fetch

    for attempt in range(1, PUT_ATTEMPTS + 1):
        try:
            return fetch.put_file(url, path, content_type, ctx.settings), attempt
        except FetchError as exc:
            if isinstance(exc, URLRefusedError):
                raise  # (no request was sent: the URL is not one this server calls)
            if attempt == PUT_ATTEMPTS or not exc.transient:
                raise _PutFailed(exc, attempt) from exc
            log.warning("PUT of the result failed (attempt %d of %d): %s", attempt, PUT_ATTEMPTS, exc.message)
            _pause_unless_cancelled(ctx, job, _backoff_s(ctx.settings, attempt))
    raise AssertionError("unreachable")  # pragma: no cover


#: Longest a job waits, trying again, for the blob store to answer (to read its uploaded input,
#: to take its result): an S3 restarting (15-20 s for SeaweedFS) failed a job that had finished
#: its processing, which then ran again from the start; and jobs that started meanwhile used their
#: three attempts within 3 s and failed for good (a cluster audit).
STORAGE_WAIT_S = 60.0


def _when_storage_answers(ctx: RunContext, job: Job, what: str, call: Callable[[], T]) -> T:
    """``call()``, tried again while the blob store does not answer, for up to
    ``STORAGE_WAIT_S`` (``settings.retry_backoff_s`` apart and doubling); ``what`` names it in
    the log. A cancel of ``job`` (or a newer attempt) ends the wait within half a second."""
    deadline = time.monotonic() + STORAGE_WAIT_S
    for attempt in itertools.count(1):
        try:
            return call()
        except StorageUnavailableError as exc:
            pause = _backoff_s(ctx.settings, attempt)
            if time.monotonic() + pause > deadline:
                raise
            log.warning("%s failed (attempt %d): %s; trying again in %.1f s", what, attempt, exc, pause)
            _pause_unless_cancelled(ctx, job, pause)
    raise AssertionError("unreachable")  # pragma: no cover


def _pause_unless_cancelled(ctx: RunContext, job: Job, seconds: float) -> None:
    """Sleep ``seconds``, reading the job every half second: a job cancelled meanwhile (or taken
    by a newer attempt) raises _Cancelled at once. (A job cancelled while its worker waited for S3
    held the worker's slot for the whole wait: a review.)"""
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        time.sleep(min(left, 0.5))
        _unless_cancelled(ctx, job)


def _unless_cancelled(ctx: RunContext, job: Job) -> None:
    """Raise _Cancelled when ``job`` was cancelled (or taken by a newer attempt): one store read."""
    now = ctx.store.get(job.id)
    if now is None or now.state is JobState.cancelled or now.attempt != job.attempt:
        raise _Cancelled


def _cancel_check(ctx: RunContext, job: Job, every_s: float = 0.5) -> Callable[[int, int | None], None]:
    """A download's ``on_progress``: reads the job at most every ``every_s`` and raises _Cancelled
    once it is cancelled. (A cancel while the input downloaded left the worker on it until the
    whole file had arrived, and the jobs queued behind waited: an audit.)"""
    last = time.monotonic()

    def check(_received: int, _total: int | None) -> None:
        nonlocal last
        if time.monotonic() - last >= every_s:
            last = time.monotonic()
            _unless_cancelled(ctx, job)

    return check


def _store_result(ctx: RunContext, job: Job, key: str, path: Path) -> int:
    """``ctx.blobs.put_file(key, path)`` when the store answers (:func:`_when_storage_answers`); its size."""
    return _when_storage_answers(ctx, job, "storing the result", lambda: ctx.blobs.put_file(key, path))


def _backoff_s(settings: Settings, attempt: int) -> float:
    """The pause after failed attempt number ``attempt`` (:meth:`Settings.retry_pause_s`)."""
    return settings.retry_pause_s(attempt)


def _requeue_later(ctx: RunContext, job: Job, exc: RetryableError) -> None:
    """Back to the queue after a pause that doubles each attempt (``settings.retry_backoff_s``, by
    default 1 s, 2 s, 4 s ... at most 30 s).

    The pause is taken here, in the worker, so the job is not picked up again at once; it is
    short next to the job timeout, and the job shows ``queued`` with the reason in its log.
    """
    time.sleep(_backoff_s(ctx.settings, job.attempt))
    updated = ctx.store.update(job.id, attempt=job.attempt, state=JobState.queued, progress=0.0, claimed_until=None)
    if updated is not None:
        ctx.store.log(job.id, "retry", {"reason": exc.message, "attempt": job.attempt})
        ctx.enqueue(job.id, job.priority)
        ctx.publish(JobEvent(job_id=job.id, job=updated))


def finish_error(ctx: JobRecorder, job: Job, exc: AppError, state: JobState) -> None:
    """End ``job``'s current attempt in ``state`` with ``exc``'s code and reason (fenced by attempt)."""
    reason = exc.message + (f" ({exc.hint})" if exc.hint else "")
    now = time.time()
    updated = ctx.store.update(
        job.id,
        attempt=job.attempt,
        state=state,
        error_code=exc.code,
        error_reason=reason,
        finished_at=now,
        expires_at=now + ctx.settings.retention_hours * 3600,
    )
    if updated is not None:
        ctx.store.log(job.id, "error", {"code": exc.code, "reason": reason, "attempt": job.attempt})
        ctx.publish(JobEvent(job_id=job.id, job=updated))
        # the outcome in the log too, as the client reads it; a full disk is the operator's to fix
        level = logging.ERROR if isinstance(exc, StorageFullError) else logging.INFO
        log.log(level, "job %s %s (%s, attempt %d): %s", job.id, state.value, exc.code, job.attempt, reason)


@contextlib.contextmanager
def _space_checked(path: Path) -> Iterator[None]:
    """A failure while the disk under ``path`` has (almost) no space left is StorageFullError.

    libsndfile reports a write into a full disk as "System error." with no errno, and the job
    failed as an internal error instead of ``storage.full``. Checked before the job's scratch
    folder is removed, which frees the space again."""
    try:
        yield
    except (AppError, DspError, _Cancelled):
        raise
    except Exception as exc:
        if storage_full(exc) is None and shutil.disk_usage(path).free < MIN_FREE_BYTES:
            raise disk_full(job=True) from exc
        raise


def _run(ctx: RunContext, job: Job) -> None:
    settings = ctx.settings
    spec = job.spec
    deadline = time.monotonic() + settings.job_timeout_s
    tmp_root = settings.data_dir / "tmp"
    tmp_root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=tmp_root) as tmp_name, _space_checked(tmp_root):
        tmp = Path(tmp_name)
        if spec.input.url:
            from app import fetch

            src = tmp / "input"
            expected = spec.input.expected_size
            # with a declared size, nothing past it is read: one byte more already disagrees
            limit = settings.max_input_bytes if expected is None else min(settings.max_input_bytes, expected + 1)
            try:
                fetch.download_to_file(
                    spec.input.url, src, settings, max_bytes=limit, on_progress=_cancel_check(ctx, job)
                )
            except FetchError as exc:
                if exc.transient:
                    raise InputFetchRetryError(f"fetching the input failed: {exc.message}", hint=exc.hint) from exc
                raise
            except InputTooLargeError:
                if expected is None or expected + 1 > settings.max_input_bytes:
                    raise
                raise InputError(_CHANGED.format(what=f"is larger than the declared {expected} bytes")) from None
            _check_integrity(src, spec.input)
            job = _set_state(ctx, job, state=JobState.in_progress, progress=0.0)
        elif spec.input.blob_key:
            try:
                blob_key = spec.input.blob_key
                src = _when_storage_answers(
                    ctx, job, "reading the input", lambda: ctx.blobs.readable_path(blob_key, tmp)
                )
            except NotFoundError:
                # (it said "no stored file 'uploads/<id>' (results are deleted after the retention
                # period)": an internal key, and the wrong reason for an upload its owner deleted)
                file_id = spec.input.blob_key.rpartition("/")[2]
                raise NotFoundError(
                    f"the uploaded file {file_id} was deleted, or expired, before this job started",
                    hint="upload it again and send the job again",
                ) from None
        else:
            raise InputError("the job has no input")
        progress = _Progress(ctx, job, deadline)
        if spec.input.containers is not None:
            sniffed = media.sniff_file(src)
            if sniffed not in spec.input.containers:
                raise UnsupportedMediaError(
                    f"the input is {sniffed or 'not a known audio format'}; this API takes "
                    f"{' or '.join(c.upper() for c in spec.input.containers)}"
                )
        info = media.probe(
            src,
            pcm_sample_rate=spec.input.pcm_sample_rate,
            pcm_channels=spec.input.pcm_channels,
            max_duration_s=settings.max_duration_s,
        )
        check_steps(spec.steps)
        _check_credits(ctx, job, info.duration_s)
        result_meta: dict[str, Any] = {
            "input": {
                "container": info.container,
                "codec": info.codec,
                "sample_rate": info.sr,
                "channels": info.channels,
                "duration_s": info.duration_s,
                "has_video": info.has_video,
            }
        }
        # what the wait estimates read while it runs: its length (its pace: ``_Progress``)
        job = _set_state(ctx, job, result_meta=result_meta)
        progress.job = job
        result = pipeline.process_file(
            src,
            info,
            spec.steps,
            spec.output,
            tmp,
            progress=progress,
            block_seconds=settings.block_seconds,
            on_stage=progress.stage,
        )
        reports, data, out_path, out_container = result.reports, result.data, result.path, result.container
        result_meta["steps"] = reports
        result_meta.update(data)
        # the input's length as decoded: a cut-off file holds less than its header declares
        measured = data.get("input_duration_s", data.get("duration_s"))
        if measured is not None and info.duration_s is not None and abs(measured - info.duration_s) > 0.01:
            result_meta["input"].update(duration_s=measured, declared_duration_s=info.duration_s)
        fields: dict[str, Any] = {}
        if out_path is not None:
            key = f"results/{job.id}/{job.meta.get('result_name') or 'hush_' + job.id}{media.EXTENSIONS[out_container]}"
            size = _store_result(ctx, job, key, out_path)
            fields["result_key"] = key
            result_meta.update(
                container=out_container,
                mime=media.mime_type(out_container, video=media.needs_remux(info, out_container)),
                size_bytes=size,
                sample_rate=media.encoded_rate(out_container, info.sr),
                channels=info.channels,
                duration_s=data.get("duration_s", info.duration_s),
            )
            if spec.output.put_url:
                progress.stage(PUT_STAGE)  # (it read "preparing" through the retries: an audit)
                try:
                    status, tries = _put_result(
                        ctx,
                        job,
                        spec.output.put_url,
                        _when_storage_answers(
                            ctx, job, "reading the result back", lambda: ctx.blobs.readable_path(key, tmp)
                        ),
                        put_content_type(spec.output.put_url, result_meta["mime"]),
                    )
                except _PutFailed as exc:
                    # the failed job says what the put_url answered and how often it was tried
                    # (it said neither, and read as tried once: an audit)
                    result_meta.update(put_status=exc.status, put_attempts=exc.attempts)
                    _set_state(ctx, job, result_meta=result_meta)
                    raise
                result_meta["put_status"] = status
                result_meta["put_attempts"] = tries
        now = time.time()
        # the input's length is what is billed (a time edit may have shortened the output)
        duration = result_meta.get("input_duration_s") or result_meta.get("duration_s") or info.duration_s or 0.0
        # billable minutes: the duration rounded up to the next started minute (61 s -> 2)
        result_meta["billable_minutes"] = billable_minutes(duration)
        try:
            _set_state(
                ctx,
                job,
                state=JobState.succeeded,
                progress=100.0,
                finished_at=now,
                expires_at=now + settings.retention_hours * 3600,
                result_meta=result_meta,
                charge_minutes=result_meta["billable_minutes"],
                **fields,
            )
            log.info("job %s succeeded in %.1f s (%.1f s of audio)", job.id, now - (job.started_at or now), duration)
        except InsufficientCreditsError:
            # another job of the key spent the minutes meanwhile: no success, no charge, no result
            if "result_key" in fields:
                ctx.blobs.delete_prefix(f"results/{job.id}/")
            raise
