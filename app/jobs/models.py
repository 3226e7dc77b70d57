"""Job data: the spec a dialect builds, and the job row the core keeps."""

from __future__ import annotations

import math
import time
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "ACTIVE_STATES",
    "TERMINAL_STATES",
    "InputRef",
    "Job",
    "JobEvent",
    "JobSpec",
    "JobState",
    "OutputSpec",
    "Step",
    "StoredFile",
    "billable_minutes",
]


def billable_minutes(duration_s: float) -> int:
    """What ``duration_s`` seconds of audio cost: started minutes, at least one (60 s -> 1, 61 s -> 2)."""
    return max(1, math.ceil(float(duration_s) / 60.0 - 1e-9))


#: Internal priority above the public 0–9 range, used by synchronous requests.
SYNC_PRIORITY = 10


class JobState(StrEnum):
    """Where a job is in its life."""

    queued = "queued"  #: waiting for a worker
    downloading = "downloading"  #: a worker is fetching the input URL
    in_progress = "in_progress"  #: a worker is processing the audio
    succeeded = "succeeded"  #: the result is stored
    failed = "failed"  #: ``error_code`` and ``error_reason`` say why
    cancelled = "cancelled"  #: cancelled by the client before it finished
    timed_out = "timed_out"  #: ran past ``HUSH_JOB_TIMEOUT_S``


TERMINAL_STATES = frozenset({JobState.succeeded, JobState.failed, JobState.cancelled, JobState.timed_out})
ACTIVE_STATES = frozenset({JobState.downloading, JobState.in_progress})


class Step(BaseModel):
    """One processing step: a name from the step registry and its parameters.

    Unknown fields are refused: ``{"name": "denoise", "amount": 10}`` (the parameter beside
    ``params``, not in it) used to run at amount 100 without a word."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    params: dict[str, Any] = Field(default_factory=dict)


class InputRef(BaseModel):
    """Where the input is: a stored blob (an upload) or a URL the worker fetches."""

    model_config = ConfigDict(frozen=True)

    blob_key: str | None = None
    url: str | None = None
    filename: str | None = None
    """Original name, for display only; the format is always sniffed from the bytes."""
    pcm_sample_rate: int | None = None
    """Rate of headerless PCM16 input (used only when the bytes are not a known container)."""
    pcm_channels: int = 1
    expected_size: int | None = None
    """When set, a downloaded input must be exactly this many bytes (else the job fails)."""
    expected_md5: str | None = None
    """When set, a downloaded input's MD5 (hex) must match (else the job fails)."""
    containers: tuple[str, ...] | None = None
    """When set, the input's sniffed container must be one of these (else the job fails)."""
    declared_duration_s: float | None = None
    """The audio length the client declared (never checked): what wait estimates assume until the
    input is probed."""


class OutputSpec(BaseModel):
    """What to produce."""

    model_config = ConfigDict(frozen=True)

    audio: bool = True
    """False for analysis-only jobs (voice activity detection)."""
    container: str | None = None
    """Output container ("wav", "mp3", "mp4" ...); None keeps the input's."""
    put_url: str | None = None
    """When set, the result is also PUT to this URL (presigned-upload style)."""
    offered: tuple[str, ...] | None = None
    """The output formats the client's API can ask for (None: any); errors suggest only these."""
    level_hint: str | None = None
    """How the client's API brings the level down, for the clipping warning (None: it has no way)."""


class JobSpec(BaseModel):
    """Everything a worker needs to run a job; built by a dialect's ``to_spec``."""

    model_config = ConfigDict(frozen=True)

    input: InputRef
    steps: tuple[Step, ...] = ()
    output: OutputSpec = OutputSpec()
    webhook_url: str | None = None


class Job(BaseModel):
    """A job row as the store keeps it."""

    id: str
    dialect: str
    owner: str = ""
    request_id: str | None = None
    spec: JobSpec
    state: JobState = JobState.queued
    progress: float = 0.0
    """Percent done, 0–100, rising while ``in_progress``."""
    priority: int = 0
    created_at: float = Field(default_factory=time.time)
    updated_at: float = Field(default_factory=time.time)
    started_at: float | None = None
    finished_at: float | None = None
    expires_at: float | None = None
    attempt: int = 0
    claimed_until: float | None = None
    """Unix time the current attempt's lease ends; its worker renews it while it runs."""
    error_code: str | None = None
    error_reason: str | None = None
    result_key: str | None = None
    result_meta: dict[str, Any] = Field(default_factory=dict)
    """duration_s, sample_rate, channels, container, size_bytes, and ``steps``: the per-step report."""
    meta: dict[str, Any] = Field(default_factory=dict)
    """Dialect-owned extras (echoed fields, names for download paths)."""

    @property
    def terminal(self) -> bool:
        """True once the job can no longer change state."""
        return self.state in TERMINAL_STATES


class StoredFile(BaseModel):
    """An uploaded input kept for later jobs (Audo's ``fileId``)."""

    id: str
    owner: str = ""
    blob_key: str
    filename: str | None = None
    info: dict[str, Any] = Field(default_factory=dict)
    created_at: float = Field(default_factory=time.time)
    expires_at: float | None = None


class JobEvent(BaseModel):
    """A change of a job, published on the event bus.

    ``kind`` is ``"update"`` (``job`` holds the new snapshot) or ``"queue"`` (the queue moved:
    queued jobs should recompute their position; ``job`` is None).
    """

    kind: Literal["update", "queue"] = "update"
    job_id: str
    job: Job | None = None


def describe_job(job: Job) -> str:
    """What a log line says of a job: its API, steps and the client's own request id (no key)."""
    steps = ",".join(s.name for s in job.spec.steps) or "none"
    rid = job.meta.get("request_id")
    return f"{job.dialect or 'native'} api, steps {steps}" + (f", request_id {rid}" if rid else "")
