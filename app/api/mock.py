"""Mock mode (``hush serve --mock`` or ``HUSH_MOCK=1``): vendor behaviour on demand, for the tests of
a client built against one of the vendors.

Each dialect declares its scenarios (``Dialect.mock_scenarios``); this module selects them, runs
the jobs and records what clients sent. A request picks a scenario of the dialect whose path it
calls, without a change to the client's code, by any of:

* its API key: ``mock-<scenario>`` (in whatever place the dialect reads keys from; for HTTP Basic
  the ``appkey`` of ``appkey:appsecret``);
* a header ``Prefer: scenario=<scenario>`` (``Prefer: code=429`` is the same as ``scenario=429``);
* the marker ``hush-mock=<scenario>`` anywhere in the query or body, e.g. in the input URL.

A job remembers the scenario of the request that created it, so later requests about it (a
status poll that carries no key, marker or header) get the same scenario. A scenario answers the
request itself (errors, scripted countdowns of a job's first polls) or lets the real route answer;
a scenario with a job effect changes the real job (it ends failed, closed or timed out with a
reason; its DeepAffects webhook is delayed, duplicated, sent out of order or badly signed), so
every answer about that job agrees.

**Instant jobs.** Jobs run in threads of the server process (no worker pool), at once or after
``HUSH_MOCK_LATENCY_MS`` (``Prefer: latency=<ms>``). The input is passed through: decoded and
encoded into the requested container with no processing step (analysis steps such as VAD still
run, their answer is the point); each skipped step is reported ``not_applied`` with the reason.
``HUSH_MOCK_DSP=1`` (``Prefer: dsp=real``) runs the real DSP instead. A request that creates an
instant job is answered once the job has ended, so the client's first poll sees the end.

**Ids.** With ``HUSH_MOCK_SEED`` job, upload and request ids are drawn from that seed: the same
requests give the same ids, again after every reset.

**Control routes** (``/_mock``, never journalled): ``GET /_mock/scenarios`` lists what each
dialect offers; ``GET /_mock/requests`` lists every request in order; ``GET /_mock/webhooks``
every webhook POST sent; ``GET /_mock/jobs`` the jobs created; ``POST /_mock/jobs/{id}/advance``
(a job id or a DeepAffects ``request_id``) skips the job's latency, countdowns, phases and webhook
delay and answers once the job has ended and its webhook was sent (``POST /_mock/advance`` does it
for every job); ``POST /_mock/reset`` forgets the journal, the counters, every job, upload and
result, and restarts the id sequence.

Unless ``HUSH_DATA_DIR`` is set, ``hush serve --mock`` keeps its jobs in a fresh in-memory folder
deleted at exit (see :mod:`app.cli`), and its job store commits without waiting for the disk.

The key check is off in mock mode, so the server refuses to listen beyond loopback.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import collections
import contextvars
import dataclasses
import json
import logging
import math
import random
import re
import threading
import time
import urllib.parse
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from pydantic import SecretStr

from app import webhooks
from app.errors import AppError, InvalidParameterError
from app.events import EventBus
from app.http import Dialect, MockJob, MockJobEffect, MockScenario, MockState, default_status
from app.jobs.models import Job, JobEvent, JobState
from app.jobs.queue import WorkerCount
from app.jobs.runner import RunContext, finish_error, run_job
from app.jobs.service import JobService
from app.jobs.steps import STEPS
from app.jobs.store import JobStore
from app.settings import Settings
from app.storage import BlobStore

__all__ = ["MockJournal", "MockQueue", "MockRuntime", "install_mock", "prefer_params", "selected_scenario"]

#: The largest request body mock mode reads to find a scenario marker in it (the vendors' JSON
#: bodies with an input or webhook URL are a few hundred bytes; an upload is not read).
SCAN_BODY_BYTES = 65_536

log = logging.getLogger("hush")

_MARKER = re.compile(rb"hush-mock[=:]([A-Za-z0-9_.-]+)")
_PREFER_PARAM = re.compile(r"([A-Za-z_-]+)\s*=\s*\"?([A-Za-z0-9_.-]+)\"?")
_UUID = rb"(?<![0-9a-f-])(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{32})(?![0-9a-f-])"
#: (a job id is a UUID, or the same 32 hex digits without dashes: AudioCleaner's form)
#: Where a request names a job: in its path, or in the body field a status request carries (an
#: input link may hold another job's id, and a new job must not take that job's scenario).
_JOB_IN_PATH = re.compile(_UUID)
_JOB_IN_BODY = re.compile(rb'"(?:job_id|jobId|task_id)"\s*:\s*"(' + _UUID + rb')"')
_KEY_PREFIX = "mock-"
#: Longest a request that created an instant job waits for it to end before answering anyway.
_INSTANT_WAIT_S = 10.0
#: What a passed-through step's report says.
PASSTHROUGH_REASON = (
    "mock mode passes the input through without processing; ask for the real DSP with "
    "Prefer: dsp=real or HUSH_MOCK_DSP=1"
)


class MockJournal:
    """The requests the mock server saw, in order: the last ``limit``, whose JSON bodies hold at
    most ``body_budget`` bytes in all (older entries are dropped first, and counted)."""

    def __init__(self, limit: int = 10_000, body_budget: int = 32 * 1024 * 1024) -> None:
        self._entries: collections.deque[dict[str, Any]] = collections.deque()
        self._lock = threading.Lock()
        self._limit = limit
        self._budget = body_budget
        self._body_total = 0
        self._seq = 0
        self.dropped = 0
        """Entries dropped since the last reset to keep within the bounds."""

    def add(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self._seq += 1
            entry["seq"] = self._seq
            self._entries.append(entry)
            self._body_total += len(entry.get("body") or "")
            while len(self._entries) > self._limit or (self._body_total > self._budget and len(self._entries) > 1):
                old = self._entries.popleft()
                self._body_total -= len(old.get("body") or "")
                self.dropped += 1

    def entries(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._body_total = 0
            self._seq = 0
            self.dropped = 0


def _keys_of(request: Request) -> list[str]:
    auth = request.headers.get("authorization", "")
    scheme, _, value = auth.partition(" ")
    bearer = value.strip() if scheme.lower() == "bearer" else ""
    basic = ""
    if scheme.lower() == "basic":
        try:
            basic = base64.b64decode(value.strip(), validate=True).decode("utf-8", "replace").partition(":")[0]
        except (binascii.Error, ValueError):
            basic = ""
    return [
        v
        for v in (
            request.query_params.get("apikey"),
            request.query_params.get("api_key"),
            request.headers.get("x-api-key"),
            request.headers.get("api-key"),
            bearer,
            basic,
        )
        if v
    ]


def prefer_params(header: str) -> dict[str, str]:
    """The ``name=value`` preferences of a ``Prefer`` header (RFC 7240 style), lower-case names."""
    return {m.group(1).lower(): m.group(2) for m in _PREFER_PARAM.finditer(header)}


def selected_scenario(request: Request, body: bytes) -> str | None:
    """The scenario name a request asks for, by key, ``Prefer`` header or marker; None when none."""
    for key in _keys_of(request):
        if key.startswith(_KEY_PREFIX):
            return key[len(_KEY_PREFIX) :]
    prefer = prefer_params(request.headers.get("prefer", ""))
    if "scenario" in prefer or "code" in prefer:
        return prefer.get("scenario") or prefer["code"]
    # the query as sent and percent-decoded: a marker in a query value (a webhook URL) arrives encoded
    query = request.url.query.encode()
    marker = _MARKER.search(query + b" " + urllib.parse.unquote_to_bytes(query) + b" " + body)
    if marker:
        return marker.group(1).decode()
    return None


@dataclass
class _RequestMock:
    """What the request being answered asked of mock mode (read where its jobs are enqueued)."""

    dialect: str | None
    scenario: str | None
    latency_s: float
    dsp: bool
    hold_s: float
    jobs: list[str] = field(default_factory=list)


_CURRENT: contextvars.ContextVar[_RequestMock | None] = contextvars.ContextVar("hush_mock_request", default=None)


def _number(text: str | None, default: float) -> float:
    if text is None:
        return default
    try:
        value = float(text)
    except ValueError:
        raise InvalidParameterError(f"the Prefer value {text!r} is not a number") from None
    if not math.isfinite(value) or value < 0:
        raise InvalidParameterError(f"the Prefer value {text!r} must be a number of at least 0")
    return value


class _PassThroughStore:
    """The job store as the runner of a passed-through job sees it: the job without its
    processing steps (analysis steps stay), and a result report naming each skipped step."""

    def __init__(self, store: JobStore, skipped: dict[str, tuple[str, ...]]) -> None:
        self._store = store
        self._skipped = skipped

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def _strip(self, job: Job | None) -> Job | None:
        if job is None:
            return None
        kept = tuple(s for s in job.spec.steps if s.name in STEPS and STEPS[s.name].kind == "analysis")
        self._skipped[job.id] = tuple(s.name for s in job.spec.steps if s not in kept)
        return job.model_copy(update={"spec": job.spec.model_copy(update={"steps": kept})})

    def get(self, job_id: str) -> Job | None:
        return self._strip(self._store.get(job_id))

    def claim(self, job_id: str, state: JobState, lease_s: float) -> Job | None:
        return self._strip(self._store.claim(job_id, state, lease_s))

    def update(self, job_id: str, **fields: Any) -> Job | None:
        meta = fields.get("result_meta")
        if meta is not None:
            skipped = self._skipped.get(job_id, ())
            reports = [r for r in meta.get("steps", []) if r.get("step") != "none"]
            reports[:0] = [{"step": name, "applied": False, "not_applied": PASSTHROUGH_REASON} for name in skipped]
            fields["result_meta"] = {
                **meta,
                "steps": reports,
                "mock": {"passthrough": True, "skipped_steps": list(skipped)},
            }
        return self._store.update(job_id, **fields)


class MockQueue:
    """The job queue of mock mode: runs each job in a thread of the server, after its latency.

    A job of a scenario with an ending (failed, closed, timed out) ends that way without running;
    any other job runs through :func:`app.jobs.runner.run_job`, with its input passed through
    unless the real DSP was asked for.
    """

    def __init__(self, runtime: MockRuntime, settings: Settings, store: JobStore, blobs: BlobStore, bus: EventBus):
        self.runtime = runtime
        self.settings = settings
        self.store = store
        self.blobs = blobs
        self.bus = bus
        self._pool: ThreadPoolExecutor | None = None
        self._go: dict[str, threading.Event] = {}
        self._skipped: dict[str, tuple[str, ...]] = {}
        self._specs: dict[str, Any] = {}
        self._lock = threading.Lock()

    def start(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=max(4, self.settings.workers), thread_name_prefix="hush-mock")
        for job_id in self.store.next_queued(limit=100_000):  # left queued by a previous run
            self.enqueue(job_id, 0)

    def begin_stop(self) -> None:
        pass  # a mock job is over in moments: stop() waits for those still running

    def stop(self) -> None:
        pool, self._pool = self._pool, None
        for ev in list(self._go.values()):
            ev.set()
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)

    @property
    def running(self) -> bool:
        return self._pool is not None

    @property
    def exclusive(self) -> bool:
        return True  # threads of this server: a job left active by a previous run is an orphan

    def workers(self) -> WorkerCount:
        """The pool's threads (none before start)."""
        n = max(4, self.settings.workers) if self._pool is not None else 0
        return WorkerCount(alive=n, slots=n)

    def enqueue(self, job_id: str, priority: int) -> None:
        current = _CURRENT.get()
        record = self.runtime.record_job(job_id, current)
        if current is not None:
            current.jobs.append(job_id)
        if record.latency_s > 0 and not self.runtime.state.is_advanced(job_id):
            go = threading.Event()
            with self._lock:
                self._go[job_id] = go

            def later() -> None:
                # what is left of it: a job taken back after a restart has waited part of it already
                go.wait(max(0.0, record.latency_s - (time.monotonic() - record.created)))
                with self._lock:
                    self._go.pop(job_id, None)
                self._submit(job_id)

            threading.Thread(target=later, name=f"hush-mock-latency-{job_id[:8]}", daemon=True).start()
        else:
            self._submit(job_id)

    def advance(self, job_id: str) -> None:
        """Run the job now if it still waits out its latency."""
        with self._lock:
            go = self._go.get(job_id)
        if go is not None:
            go.set()

    def release_all(self) -> None:
        with self._lock:
            waiting = list(self._go.values())
        for go in waiting:
            go.set()

    def _submit(self, job_id: str) -> None:
        pool = self._pool
        if pool is not None:
            pool.submit(self._run, job_id)

    def _publish(self, event: JobEvent) -> None:
        # the runner of a passed-through job holds a copy without steps: publish the real spec
        spec = self._specs.get(event.job_id)
        if spec is not None and event.job is not None:
            event = event.model_copy(update={"job": event.job.model_copy(update={"spec": spec})})
        self.bus.publish(event)

    def _run(self, job_id: str) -> None:
        record = self.runtime.state.jobs.get(job_id)
        effect = self.runtime.effect(record)
        try:
            if effect is not None and effect.end is not None:
                self._end(job_id, effect)
                return
            if record is not None and record.dsp:
                run_job(job_id, RunContext(self.settings, self.store, self.bus.publish, self.blobs, self.enqueue))
                return
            job = self.store.get(job_id)
            if job is None:
                return
            self._specs[job_id] = job.spec
            store = _PassThroughStore(self.store, self._skipped)
            run_job(job_id, RunContext(self.settings, store, self._publish, self.blobs, self.enqueue))
        finally:
            self._specs.pop(job_id, None)
            self._skipped.pop(job_id, None)

    def _end(self, job_id: str, effect: MockJobEffect) -> None:
        job = self.store.get(job_id)
        if job is None or job.state is not JobState.queued:
            return
        claimed = self.store.claim(job_id, JobState.in_progress, self.settings.lease_s)
        if claimed is None:
            return
        self.bus.publish(JobEvent(job_id=job_id, job=claimed))
        self.bus.publish(JobEvent(kind="queue", job_id="*"))
        assert effect.end is not None
        reason = effect.reason(claimed) if effect.reason else f"the job ended {effect.end.value} (mock scenario)"
        ctx = RunContext(self.settings, self.store, self.bus.publish, self.blobs, self.enqueue)
        finish_error(ctx, claimed, effect.error(reason), effect.end)


class MockRuntime:
    """Mock mode's state: journal, scenarios, jobs, ids, webhook chaos. One per app."""

    def __init__(self, settings: Settings, dialects: list[Dialect]) -> None:
        self.settings = settings
        self.journal = MockJournal()
        self.state = MockState()
        self.state.hold_s = settings.mock_hold_s
        self.scenarios: dict[str, dict[str, MockScenario]] = {
            d.name: {s.name: s for s in d.mock_scenarios} for d in dialects
        }
        self.webhooks: list[dict[str, Any]] = []
        self.service: JobService | None = None
        self.queue: MockQueue | None = None
        self._rng = random.Random(settings.mock_seed) if settings.mock_seed is not None else None  # noqa: S311 - repeatable test ids on purpose
        self._rng_lock = threading.Lock()
        self._go: dict[str, asyncio.Event] = {}
        self._sent: dict[str, asyncio.Event] = {}
        self._held: dict[tuple[str, str], tuple[str, asyncio.Event]] = {}
        self._generation = 0
        self._deliveries: set[anyio.CancelScope] = set()
        self._records_lock = threading.Lock()

    # ------------------------------------------------------------------ wiring
    def make_queue(self, store: JobStore, blobs: BlobStore, bus: EventBus) -> MockQueue:
        """The queue the app's job service uses in mock mode."""
        self.queue = MockQueue(self, self.settings, store, blobs, bus)
        return self.queue

    def attach(self, service: JobService) -> None:
        """Give ``service`` the mock's ids and webhook sender; take back the jobs of a previous run."""
        self.service = service
        service.new_id = self.new_id
        service.webhook_sender = self.send_webhook
        self._load_records()

    @property
    def _records_path(self) -> Path:
        """Where each job's scenario and options are kept, so a restart keeps them too."""
        return self.settings.data_dir / "mock-jobs.jsonl"

    def _load_records(self) -> None:
        try:
            lines = self._records_path.read_text(encoding="utf-8").splitlines()
        except OSError:
            return
        now_wall, now = time.time(), time.monotonic()
        for line in lines:
            try:
                d = json.loads(line)
                wall = float(d.pop("wall"))
                record = MockJob(**d, created=now - max(0.0, now_wall - wall))
            except (ValueError, KeyError, TypeError):
                continue  # a line cut short by a crash
            self.state.jobs[record.job_id] = record

    def _save_record(self, record: MockJob) -> None:
        # the creation as wall-clock time: the monotonic clock starts again with the process
        line = {**dataclasses.asdict(record), "wall": time.time() - (time.monotonic() - record.created)}
        del line["created"]
        try:
            with self._records_lock, self._records_path.open("a", encoding="utf-8") as f:
                f.write(json.dumps(line) + "\n")
        except OSError:
            log.warning("mock mode could not keep job %s's scenario for a restart", record.job_id)

    # ------------------------------------------------------------------ ids and jobs
    def new_id(self) -> str:
        """A uuid4: from the seed when there is one (skipping ids the store already holds)."""
        if self._rng is None:
            return str(uuid.uuid4())
        store = self.service.store if self.service is not None else None
        while True:
            with self._rng_lock:
                candidate = str(uuid.UUID(int=self._rng.getrandbits(128), version=4))
            if store is None or (store.get(candidate) is None and store.get_file(candidate) is None):
                return candidate

    def record_job(self, job_id: str, current: _RequestMock | None) -> MockJob:
        """Remember a job being enqueued, with the scenario and options of the request creating it."""
        known = self.state.jobs.get(job_id)
        if known is not None:
            return known
        job = self.service.store.get(job_id) if self.service is not None else None
        dialect = job.dialect if job is not None else (current.dialect if current else "") or ""
        record = MockJob(
            job_id=job_id,
            dialect=dialect,
            scenario=current.scenario if current is not None and current.dialect == dialect else None,
            latency_s=current.latency_s if current is not None else self.settings.mock_latency_ms / 1000.0,
            dsp=current.dsp if current is not None else self.settings.mock_dsp,
            hold_s=current.hold_s if current is not None else self.settings.mock_hold_s,
            request_id=str(job.meta.get("request_id") or "") or None if job is not None else None,
        )
        self.state.jobs[job_id] = record
        self._save_record(record)
        return record

    def effect(self, record: MockJob | None) -> MockJobEffect | None:
        """The job effect of the scenario ``record`` was created under, if any."""
        if record is None or record.scenario is None:
            return None
        scenario = self.scenarios.get(record.dialect, {}).get(record.scenario)
        return scenario.job if scenario is not None else None

    def find_jobs(self, job_or_request_id: str) -> list[str]:
        """The job ids of a job id, or of every job under a DeepAffects ``request_id``, mock mode
        saw, newest last (the vendor's samples send one fixed ``request_id``)."""
        if job_or_request_id in self.state.jobs:
            return [job_or_request_id]
        return [r.job_id for r in self.state.jobs.values() if r.request_id == job_or_request_id]

    def advance(self, job_id: str) -> None:
        """Skip the job's latency, scripted countdowns and phases, and webhook delay or hold."""
        self.state.advanced.add(job_id)
        if self.queue is not None:
            self.queue.advance(job_id)
        go = self._go.get(job_id)
        if go is not None:
            go.set()
        for _key, (held, event) in list(self._held.items()):
            if held == job_id:
                event.set()

    async def wait_webhook(self, job_id: str, timeout_s: float) -> None:
        """Wait until the webhook of ``job_id`` was sent (or given up)."""
        with anyio.move_on_after(timeout_s):
            await self._sent.setdefault(job_id, asyncio.Event()).wait()

    async def reset(self) -> None:
        """Forget the journal, counters, jobs, uploads and results; restart the id sequence."""
        self._generation += 1
        for scope in list(self._deliveries):
            scope.cancel()
        for event in [*self._go.values(), *(e for _, e in self._held.values())]:
            event.set()
        if self.queue is not None:
            self.queue.release_all()
        service = self.service
        if service is not None:
            store, blobs = service.store, service.blobs

            def wipe() -> None:
                with self._records_lock:
                    self._records_path.unlink(missing_ok=True)
                ids = set(self.state.jobs) | {j.id for j in store.expired(math.inf)}
                for job_id in ids:
                    store.delete(job_id)
                    blobs.delete_prefix(f"results/{job_id}")
                for f in store.expired_files(math.inf):
                    blobs.delete_prefix(f.blob_key)
                    store.delete_file(f.id)

            await anyio.to_thread.run_sync(wipe)
        self.journal.clear()
        self.state.reset()
        self.webhooks.clear()
        self._go.clear()
        self._sent.clear()
        self._held.clear()
        if self.settings.mock_seed is not None:
            with self._rng_lock:
                self._rng = random.Random(self.settings.mock_seed)  # noqa: S311 - repeatable test ids on purpose

    # ------------------------------------------------------------------ webhooks
    async def _pause(self, job_id: str, seconds: float) -> None:
        if seconds <= 0 or self.state.is_advanced(job_id):
            return
        with anyio.move_on_after(seconds):
            await self._go.setdefault(job_id, asyncio.Event()).wait()

    async def send_webhook(
        self,
        url: str,
        payload: dict[str, Any],
        settings: Settings,
        *,
        job_id: str,
        on_attempt: Callable[[webhooks.WebhookAttempt], Awaitable[None] | None] | None = None,
    ) -> webhooks.WebhookResult:
        """Deliver a webhook as the job's scenario says: on time, or delayed, twice, late, badly signed."""
        record = self.state.jobs.get(job_id)
        effect = self.effect(record)
        kind = effect.webhook if effect is not None else None
        generation = self._generation

        async def post(how: str, with_settings: Settings = settings) -> webhooks.WebhookResult:
            dropped = webhooks.WebhookResult(False, (), None, "dropped by POST /_mock/reset", None)
            if generation != self._generation:  # reset since: dropped
                return dropped
            # a reset stops the retries too (a later test, with the same seeded job ids, must not see
            # them), and an advanced job's retries do not wait out their backoff
            with anyio.CancelScope() as scope:
                self._deliveries.add(scope)
                try:
                    result = await webhooks.deliver(
                        url,
                        payload,
                        with_settings,
                        job_id=job_id,
                        on_attempt=on_attempt,
                        wait=lambda s: self._pause(job_id, s),
                    )
                finally:
                    self._deliveries.discard(scope)
            if scope.cancelled_caught or generation != self._generation:
                return dropped
            self.webhooks.append(
                {
                    "seq": len(self.webhooks) + 1,
                    "time": time.time(),
                    "job_id": job_id,
                    "request_id": payload.get("request_id"),
                    "url": url,
                    "chaos": how,
                    "attempts": len(result.attempts),
                    "status": result.status,
                    "error": result.error,
                }
            )
            return result

        try:
            if kind is None or record is None:
                return await post("none")
            if kind == "delayed":
                await self._pause(job_id, record.hold_s)
                return await post("delayed")
            if kind == "duplicated":
                await post("duplicated")
                return await post("duplicated")
            if kind == "bad_signature":
                secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else ""
                wrong = settings.model_copy(update={"webhook_secret": SecretStr("not-" + (secret or "the-secret"))})
                return await post("bad_signature", wrong)
            if kind == "out_of_order":
                return await self._out_of_order(record, post)
            raise ValueError(f"unknown webhook chaos {kind!r}")
        finally:
            if generation == self._generation:  # a reset since holds another job under this id
                self._sent.setdefault(job_id, asyncio.Event()).set()

    async def _out_of_order(
        self, record: MockJob, post: Callable[[str], Awaitable[webhooks.WebhookResult]]
    ) -> webhooks.WebhookResult:
        """Hold a job's webhook until the next job of the scenario has sent its own, then send it."""
        key = (record.dialect, record.scenario or "")
        held = self._held.pop(key, None)
        if held is not None:  # an earlier job waits: this one goes first, then the earlier one
            result = await post("out_of_order")
            held[1].set()
            return result
        event = asyncio.Event()
        self._held[key] = (record.job_id, event)
        if not self.state.is_advanced(record.job_id):
            with anyio.move_on_after(record.hold_s):
                await event.wait()
        if self._held.get(key, (None,))[0] == record.job_id:
            del self._held[key]  # nothing came after it in time: sent late, alone
        return await post("out_of_order")


def install_mock(app: FastAPI, dialects: list[Dialect], settings: Settings) -> MockRuntime:
    """Add the journal, the scenario selection and the ``/_mock`` routes to ``app``.

    The app's lifespan takes the job queue from ``runtime.make_queue`` and calls
    ``runtime.attach(service)`` (see :func:`app.main.create_app`).
    """
    runtime = MockRuntime(settings, dialects)
    journal, state = runtime.journal, runtime.state
    app.state.mock = runtime
    app.state.mock_journal = journal
    app.state.mock_state = state

    def dialect_for(path: str) -> Dialect | None:
        for d in dialects:
            if any(path.startswith(p) for p in d.prefixes):
                return d
        return None

    def job_scenario(dialect: Dialect, request: Request, body: bytes) -> str | None:
        """The scenario of a known job the request names (in its path or body)."""
        found = [m.group() for m in _JOB_IN_PATH.finditer(request.url.path.encode())]
        found += [m.group(1) for m in _JOB_IN_BODY.finditer(body[:4096])]
        for job_id in found:
            record = state.jobs.get(job_id.decode())
            if record is not None and record.dialect == dialect.name:
                return record.scenario
        return None

    def answer_error(dialect: Dialect | None, request: Request, exc: AppError) -> Response:
        """``exc`` in the dialect's envelope and status (the native problem form outside one)."""
        status = dialect.status_for(exc) if dialect and dialect.status_for else default_status(exc)
        if dialect is not None:
            return dialect.render_error(request, exc, status, exc.message)
        return JSONResponse({"title": exc.message, "status": status, "code": exc.code}, status_code=status)

    def refuse(dialect: Dialect | None, request: Request, exc: InvalidParameterError) -> Response:
        message = f"{exc.message} ({exc.hint})" if exc.hint else exc.message
        if dialect is not None:  # the dialect's status for a bad request (Audo: 422, which its SDK does not
            # read as InsufficientCredits, as it reads any 400)
            return dialect.render_error(request, exc, dialect.status_for(exc) if dialect.status_for else 400, message)
        return JSONResponse({"title": message, "status": 400, "code": exc.code}, status_code=400)

    @app.middleware("http")
    async def mock_scenarios(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        if request.url.path.startswith("/_mock"):
            return await call_next(request)
        began = time.perf_counter()
        dialect = dialect_for(request.url.path)
        try:
            body, body_bytes = await _scanned_body(request)
        except AppError as exc:  # a body over its route's limit: the dialect's own answer (413)
            return answer_error(dialect, request, exc)
        name = selected_scenario(request, body)
        chosen_by = "request" if name is not None else None
        if name is None and dialect is not None:
            name = job_scenario(dialect, request, body)
            chosen_by = "job" if name is not None else None
        entry: dict[str, Any] = {
            "time": time.time(),
            "method": request.method,
            "path": request.url.path,
            "query": dict(request.query_params),
            "headers": {k: v for k, v in request.headers.items() if k not in ("host", "content-length")},
            "body_bytes": body_bytes,
            "dialect": dialect.name if dialect else None,
            "scenario": name,
            "scenario_from": chosen_by,
        }
        if request.headers.get("content-type", "").startswith("application/json") and len(body) <= 65536:
            entry["body"] = body.decode(errors="replace")
        response: Response | None = None
        prefer = prefer_params(request.headers.get("prefer", ""))
        try:
            current = _RequestMock(
                dialect=dialect.name if dialect else None,
                scenario=name,
                latency_s=_number(prefer.get("latency"), runtime.settings.mock_latency_ms) / 1000.0,
                dsp=prefer["dsp"].lower() in ("real", "on", "1", "true")
                if "dsp" in prefer
                else runtime.settings.mock_dsp,
                hold_s=_number(prefer.get("hold"), runtime.settings.mock_hold_s),
            )
        except InvalidParameterError as exc:
            response = refuse(dialect, request, exc)
            current = None
        if response is None and name is not None:
            scenarios = runtime.scenarios.get(dialect.name, {}) if dialect else {}
            chosen: MockScenario | None = scenarios.get(name)
            if chosen is None:
                api = dialect.name if dialect else "the native API"
                response = refuse(
                    dialect,
                    request,
                    InvalidParameterError(
                        f"no mock scenario {name!r} for {api}",
                        hint=f"it has: {', '.join(scenarios) or 'none'} (GET /_mock/scenarios lists them all)",
                    ),
                )
            else:
                try:
                    response = await chosen.respond(request, state)
                except AppError as exc:  # e.g. the job the scenario scripts does not exist
                    response = answer_error(dialect, request, exc)
        if response is None:
            token = _CURRENT.set(current)
            try:
                response = await call_next(request)
            finally:
                _CURRENT.reset(token)
            assert current is not None
            instant = [j for j in current.jobs if current.latency_s == 0 and not current.dsp]
            if instant and runtime.service is not None:
                service = runtime.service
                with anyio.move_on_after(_INSTANT_WAIT_S):
                    for job_id in instant:
                        await service.wait(job_id, _INSTANT_WAIT_S)
                response = await _ended_native_job(request, response, service, instant)
            entry["jobs"] = list(current.jobs)
        entry["status"] = response.status_code
        entry["duration_ms"] = round((time.perf_counter() - began) * 1000.0, 2)
        entry["answered_by"] = "scenario" if _is_mock(response) else "route"
        journal.add(entry)
        # every answer says it came from a mock: a passed-through result is the input, not a repair
        response.headers["x-hush-mode"] = "mock"
        return response

    async def _ended_native_job(request: Request, response: Response, service: JobService, ids: list[str]) -> Response:
        """The native create's answer, which shows the job as submitted, as the job is now that it
        has ended (it said "queued", progress 0, no result, while the first poll saw it succeeded)."""
        if request.method != "POST" or request.url.path.rstrip("/") != "/api/v1/jobs" or response.status_code != 202:
            return response
        from app.api.routes import to_public

        async for _ in response.body_iterator:  # type: ignore[attr-defined]  # (read to its end, then dropped)
            pass
        job = await service.get(ids[-1])
        headers = {k: v for k, v in response.headers.items() if k.lower() not in ("content-length", "content-type")}
        return JSONResponse(to_public(job).model_dump(mode="json"), status_code=202, headers=headers)

    @app.get("/_mock/requests", tags=["mock"], response_model=list[dict[str, Any]])
    async def mock_requests() -> Response:
        """The requests since the last reset, oldest first (``/_mock`` calls are not recorded).

        The journal keeps the last 10,000, with at most 32 MiB of JSON bodies; the header
        ``X-Hush-Journal-Dropped`` says how many older ones were dropped since the reset (each
        entry's ``seq`` numbers it among all of them).
        """
        entries = journal.entries()
        return JSONResponse(entries, headers={"x-hush-journal-dropped": str(journal.dropped)})

    @app.get("/_mock/webhooks", tags=["mock"])
    async def mock_webhooks() -> list[dict[str, Any]]:
        """Every webhook POST sent since the last reset, in order, with its chaos kind."""
        return list(runtime.webhooks)

    @app.get("/_mock/jobs", tags=["mock"])
    async def mock_jobs() -> list[dict[str, Any]]:
        """The jobs created since the last reset: id, dialect, scenario, options and state."""
        service: JobService = app.state.service
        out = []
        for record in list(state.jobs.values()):
            job = await anyio.to_thread.run_sync(service.store.get, record.job_id)
            out.append(
                {
                    "job_id": record.job_id,
                    "dialect": record.dialect,
                    "scenario": record.scenario,
                    "request_id": record.request_id,
                    "latency_ms": record.latency_s * 1000.0,
                    "dsp": record.dsp,
                    "hold_s": record.hold_s,
                    "advanced": state.is_advanced(record.job_id),
                    "state": job.state.value if job is not None else None,
                }
            )
        return out

    @app.post("/_mock/reset", tags=["mock"])
    async def mock_reset() -> dict[str, str]:
        """Forget the journal, every scenario counter, job, upload and result; restart the ids."""
        await runtime.reset()
        return {"status": "reset"}

    @app.post("/_mock/jobs/{job_id}/advance", tags=["mock"])
    async def mock_advance(job_id: str, request: Request) -> dict[str, Any]:
        """Skip the job's latency, countdowns, phases and webhook delay; answer once it has ended.

        ``job_id`` may also be a DeepAffects ``request_id``: every job under it is advanced (only
        the newest was, and the others waited out their hold), the answer naming the newest and
        listing each in ``jobs``. When the job has a webhook, the answer comes once it was sent,
        so a test moves on without polling or sleeping.
        """
        service: JobService = request.app.state.service
        timeout = request.app.state.settings.sync_timeout_s
        found = runtime.find_jobs(job_id)
        if not found:
            await service.get(job_id)  # a job mock mode did not see (404 when there is none)
            found = [job_id]
        counters = [k for k in state.counters if any(k.endswith(f".{one}") for one in found)]
        ended = await advance_and_wait(service, found, timeout)
        newest = ended[found[-1]]
        hook = None
        if newest.spec.webhook_url and newest.terminal:
            hook = [w for w in runtime.webhooks if w["job_id"] == newest.id]
        states = {one: job.state.value for one, job in ended.items()}
        return {"job_id": newest.id, "state": newest.state.value, "skipped": counters, "webhooks": hook, "jobs": states}

    @app.post("/_mock/advance", tags=["mock"])
    async def mock_advance_all(request: Request) -> dict[str, Any]:
        """Advance every job mock mode created (see ``/_mock/jobs/{id}/advance``); answer with their states."""
        service: JobService = request.app.state.service
        ended = await advance_and_wait(service, list(state.jobs), request.app.state.settings.sync_timeout_s)
        return {"jobs": {one: job.state.value for one, job in ended.items()}}

    async def advance_and_wait(service: JobService, ids: list[str], wait_s: float) -> dict[str, Job]:
        """Advance the jobs ``ids``; each as it is once it has ended and its webhook was sent (each
        waited for up to ``wait_s``)."""
        for job_id in ids:
            runtime.advance(job_id)
        ended: dict[str, Job] = {}
        for job_id in ids:
            job = await service.wait(job_id, wait_s)
            if job.terminal and job.spec.webhook_url:
                await runtime.wait_webhook(job_id, wait_s)
            ended[job_id] = job
        return ended

    @app.get("/_mock/scenarios", tags=["mock"])
    async def mock_list() -> dict[str, list[dict[str, Any]]]:
        """The scenarios each dialect of this build declares."""
        return {
            d.name: [
                {
                    "name": s.name,
                    "description": s.description,
                    "job_effect": (
                        (s.job.end.value if s.job.end else None)
                        or (f"webhook_{s.job.webhook}" if s.job.webhook else None)
                    )
                    if s.job
                    else None,
                }
                for s in d.mock_scenarios
            ]
            for d in dialects
        }

    return runtime


async def _scanned_body(request: Request) -> tuple[bytes, int | None]:
    """The body to look for a scenario marker in, and the body's size when known.

    Only a body that declares a ``Content-Length`` of at most :data:`SCAN_BODY_BYTES` and is not
    multipart is read here (an upload streams on to its route untouched, under the route's own size
    limit, so the mock holds no more of it in memory than the server does).
    """
    length = request.headers.get("content-length", "")
    size = int(length) if length.isdigit() else None
    multipart = request.headers.get("content-type", "").lower().startswith("multipart/")
    if size is None or size > SCAN_BODY_BYTES or multipart:
        return b"", size
    body = await request.body()
    return body, len(body)


def _is_mock(response: Response) -> bool:
    return response.headers.get("x-hush-mock") is not None
