"""The one settings class. Read it through :func:`get_settings` (cached) or ``SettingsDep``.

Every field is set by an environment variable with the ``HUSH_`` prefix (``HUSH_DATA_DIR``,
``HUSH_API_KEYS``, ...). Lists are comma separated.
"""

from __future__ import annotations

import ipaddress
import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from fastapi import Depends
from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

__all__ = [
    "Settings",
    "SettingsDep",
    "available_cpus",
    "get_settings",
    "is_loopback_host",
    "single_threaded_children",
]

CommaList = Annotated[tuple[str, ...], NoDecode]


def _split(value: object) -> object:
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return value


def available_cpus() -> int:
    """CPUs this process may use: its affinity mask, capped by a cgroup v2 CPU quota (containers).

    ``os.cpu_count()`` reports the host's cores even inside ``docker run --cpus 2``.
    """
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        cpus = os.cpu_count() or 1
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        if quota != "max":
            cpus = min(cpus, max(1, int(int(quota) // int(period))))
    except (OSError, ValueError):
        pass
    return max(1, cpus)


#: Math-library thread pools: one thread each. Hush runs one worker process per CPU already;
#: threaded BLAS inside each of them oversubscribes the cores (and OpenBLAS's spinning threads
#: then make small solves take milliseconds instead of microseconds).
SINGLE_THREAD_ENV = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def single_threaded_children() -> None:
    """Make processes started from now on run their math libraries single-threaded (unless set)."""
    for name in SINGLE_THREAD_ENV:
        os.environ.setdefault(name, "1")


def is_loopback_host(host: str) -> bool:
    """True when ``host`` names only this machine (``localhost``, 127.0.0.0/8, ``::1``)."""
    if host.strip("[]").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


#: a DNS host name (RFC 1123 labels), as an allow-list entry may name one
_HOST_NAME = re.compile(r"(?i)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*")


class Settings(BaseSettings):
    """Hush configuration; each field is the env var ``HUSH_<FIELD>``."""

    model_config = SettingsConfigDict(env_prefix="HUSH_", env_nested_delimiter="__", extra="ignore")

    env: Literal["dev", "prod"] = "dev"
    """``prod`` refuses unsafe defaults (an open server, an unsigned webhook secret of 'changeme')."""
    host: str = "127.0.0.1"
    """Address ``hush serve`` binds to unless ``--host`` is given."""
    port: int = Field(8000, ge=1, le=65535)
    """Port ``hush serve`` binds to unless ``--port`` is given."""
    denoise_engine: Literal["dsp", "rnnoise", "deepfilternet3"] = "dsp"
    """Engine of the ``denoise`` step when a job does not name one (the neural ones: see the README)."""
    vad_engine: Literal["dsp", "silero"] = "dsp"
    """Engine of the ``vad`` step when a job does not name one (``silero`` needs the neural extra and silero-vad)."""
    data_dir: Path = Path(".hush-data")
    """Where the SQLite job store and the local blob store live."""
    workers: int = Field(default_factory=available_cpus, ge=1, le=256)
    """Worker processes in the in-process pool (default: the CPUs this process may use, cgroup quota included)."""
    api_keys: CommaList = ()
    """Valid API keys for every dialect; an entry ``appkey:appsecret`` is also an HTTP Basic pair."""
    url_allowlist: CommaList = ()
    """Hosts or CIDRs the URL fetcher may reach even though they are private or loopback."""
    max_input_mb: float = Field(500, gt=0)
    """Largest input accepted, upload or download, in MiB."""
    max_json_mb: float = Field(100, gt=0)
    """Largest JSON request body, in MiB (DeepAffects sends audio inside JSON as base64: about
    75 MiB of audio at the default; larger files go by URL or multipart upload)."""
    public_url: str | None = None
    """Base URL clients reach this server at (``https://hush.example.com``), for absolute links in
    answers (Wondershare ``voice_result``); unset, the scheme, host and port of each request."""
    wondershare_max_mb: float = Field(50, gt=0)
    """Largest input of the Wondershare click-removal API, in MiB (its doc: 50 MB)."""
    max_duration_hours: float = Field(6, gt=0)
    """Longest audio accepted per file, in hours (checked against the header before decoding)."""
    retention_hours: float = Field(24, gt=0)
    """Jobs and their files are deleted this long after they finish."""
    webhook_secret: SecretStr | None = None
    """When set, every webhook carries ``X-Hush-Signature: sha256=<HMAC of timestamp.body>``."""
    webhook_max_attempts: int = Field(6, ge=1, le=20)
    """Delivery attempts per webhook (network errors and 5xx are retried)."""
    webhook_backoff_s: float = Field(1.0, ge=0)
    """First retry delay; doubles each attempt."""
    fetch_timeout_s: float = Field(60, gt=0)
    """Total time allowed for one URL fetch (input download, webhook POST, output PUT)."""
    fetch_max_redirects: int = Field(5, ge=0, le=20)
    """Redirect hops the fetcher follows; each hop is checked again."""
    job_timeout_s: float = Field(3600, gt=0)
    """A job running longer than this is stopped and reported ``timed_out``."""
    max_attempts: int = Field(3, ge=1, le=10)
    """Times a job is started (after crashes or retryable errors) before it is failed."""
    retry_backoff_s: float = Field(1.0, ge=0, le=30)
    """Pause before a job whose attempt hit a transient error runs again; doubles each attempt (at most 30 s)."""
    sync_timeout_s: float = Field(55, gt=0)
    """A synchronous request waits this long for its job (JS SDKs time out at 60 s)."""
    block_seconds: float = Field(5.0, gt=0.05, le=60)
    """Length of the blocks long inputs are decoded and processed in."""
    progress_interval_s: float = Field(0.2, ge=0, le=60)
    """Shortest time between two progress updates of a running job (each also needs a 1 % rise)."""
    max_watchers: int = Field(2000, ge=1)
    """Live job streams (websockets, server-sent events, waiting sync requests) open at once; more get 429."""
    rate_limit_per_minute: int = Field(0, ge=0)
    """Requests per minute per API key (0 = unlimited); over it, 429 with ``Retry-After``."""

    backend: Literal["embedded", "cluster"] = "embedded"
    """``embedded``: SQLite, local files, a worker-process pool, events inside the process (one
    machine, nothing to set up). ``cluster``: PostgreSQL, S3, Celery workers on Redis, Redis
    pub/sub. Each seam can be chosen on its own with the four settings below."""
    job_store: Literal["sqlite", "postgres"] | None = None
    """Where jobs live (default: ``sqlite`` embedded, ``postgres`` cluster)."""
    blob_store: Literal["local", "s3"] | None = None
    """Where inputs and results live (default: ``local`` embedded, ``s3`` cluster)."""
    job_queue: Literal["processes", "celery"] | None = None
    """Who runs jobs: this server's worker processes, or Celery workers (``hush worker``)."""
    event_bus: Literal["local", "redis"] | None = None
    """How job events reach watchers: inside this process, or Redis pub/sub (every replica)."""
    database_url: str = "postgresql://postgres@127.0.0.1:5432/hush"
    """PostgreSQL job store: ``postgresql://user:password@host:port/database``."""
    database_schema: str | None = None
    """PostgreSQL schema for Hush's tables (created if missing); unset, the user's search path."""
    database_max_connections: int = Field(10, ge=1, le=1000)
    """PostgreSQL job store: most connections one process (an API server, a worker) holds at once;
    store calls beyond them wait (up to 30 s, then 503 ``database.unavailable``). The database's
    ``max_connections`` must cover this times the processes (replicas, and each worker's pool)."""
    redis_url: str = "redis://127.0.0.1:6379/0"
    """Redis for the Celery broker and the event bus: ``redis://[:password@]host:port/db``."""
    s3_endpoint: str | None = None
    """S3 endpoint URL (``http://127.0.0.1:8333`` for SeaweedFS, MinIO ...); unset, AWS."""
    s3_bucket: str = "hush"
    """Bucket holding inputs and results (created at start when missing)."""
    s3_prefix: str = ""
    """Key prefix inside the bucket (``hush/`` shares a bucket with other data)."""
    s3_region: str = "us-east-1"
    """Region the S3 requests are signed for."""
    s3_access_key: SecretStr | None = None
    """S3 access key id; unset, boto3's usual sources (environment, instance role)."""
    s3_secret_key: SecretStr | None = None
    """S3 secret key."""
    s3_presign_downloads: bool = False
    """True: result downloads answer 307 to a presigned S3 URL instead of streaming through the API."""
    lease_s: float = Field(30.0, ge=1, le=3600)
    """A running job's lease: its worker renews it every third of this; a job whose lease ran out
    (its worker died) is taken back to the queue. A webhook delivery's claim is held the same way
    by the server sending it."""
    worker_heartbeat_ttl_s: float = Field(15.0, ge=0.5, le=3600)
    """Cluster: each ``hush worker`` rewrites its heartbeat key in Redis every third of this, and
    the key expires after it; a worker killed hard drops out of the API servers' count within it."""
    ready_requires_worker: bool = False
    """Cluster: ``/readyz`` answers 503 while no ``hush worker`` is alive. Off, it answers 200 and
    says ``degraded``: API servers stay in the load balancer while workers roll over, and jobs
    queue until one is back (see README, "Running as a cluster")."""

    log_level: Literal["critical", "error", "warning", "info", "debug"] = "info"
    """Level of the server's log and its worker processes' (``hush serve --log-level``)."""
    shutdown_grace_s: float = Field(5.0, ge=0, le=3600)
    """``hush serve``: on Ctrl+C or SIGTERM, how long requests in flight (an upload, a download, a
    synchronous request waiting for its job) may go on before they are closed; a job's event
    stream or websocket ends at once."""

    mock: bool = False
    """Mock mode (``hush serve --mock``): vendor scenarios on demand, a request journal, no key check."""
    mock_latency_ms: float = Field(0, ge=0, le=600_000)
    """Mock mode: how long a job waits before it runs (0: it runs at once); ``Prefer: latency=<ms>`` per request."""
    mock_dsp: bool = False
    """Mock mode: run the real DSP; off, the input is passed through (``Prefer: dsp=real`` per request)."""
    mock_seed: int | None = None
    """Mock mode: job, file and request ids drawn from this seed (the same sequence again after a reset)."""
    mock_hold_s: float = Field(2.0, ge=0, le=3600)
    """Mock mode: length of scripted phases (Wondershare waiting) and webhook delays; ``Prefer: hold=<s>``."""

    _split_lists = field_validator("api_keys", "url_allowlist", mode="before")(_split)

    @field_validator("url_allowlist", mode="after")
    @classmethod
    def _allowlist_entries(cls, entries: tuple[str, ...]) -> tuple[str, ...]:
        # an entry the fetcher cannot match (``127.0.0.1:8852``) used to be kept as a host name
        # no URL has, and the refusal then told the operator to add what they had added
        for raw in entries:
            entry = raw.strip().strip("[]")
            try:
                ipaddress.ip_network(entry, strict=False)
                continue
            except ValueError:
                pass
            if not _HOST_NAME.fullmatch(entry.rstrip(".")):
                raise ValueError(
                    f"HUSH_URL_ALLOWLIST entry {raw!r} is neither a host name, an IP address nor a CIDR such as "
                    "10.0.0.0/8 (an entry names no port or path: it opens the host on every port)"
                )
        return entries

    @field_validator("webhook_secret", "s3_access_key", "s3_secret_key", mode="before")
    @classmethod
    def _blank_secret_is_none(cls, value: object) -> object:
        # ``HUSH_WEBHOOK_SECRET=`` (compose's ``${VAR:-}``) means "no secret", never an empty HMAC key.
        if isinstance(value, str) and not value.strip():
            return None
        return value

    def retry_pause_s(self, attempt: int) -> float:
        """The pause after failed attempt number ``attempt`` (a crash or a transient error):
        ``retry_backoff_s``, doubling each attempt, at most 30 s."""
        return float(min(self.retry_backoff_s * 2 ** (attempt - 1), 30.0))

    @property
    def store_kind(self) -> str:
        """The job store in use: ``job_store``, else the backend's."""
        return self.job_store or ("postgres" if self.backend == "cluster" else "sqlite")

    @property
    def blob_kind(self) -> str:
        """The blob store in use: ``blob_store``, else the backend's."""
        return self.blob_store or ("s3" if self.backend == "cluster" else "local")

    @property
    def queue_kind(self) -> str:
        """The job queue in use: ``job_queue``, else the backend's."""
        return self.job_queue or ("celery" if self.backend == "cluster" else "processes")

    @property
    def bus_kind(self) -> str:
        """The event bus in use: ``event_bus``, else the backend's."""
        return self.event_bus or ("redis" if self.backend == "cluster" else "local")

    @property
    def db_path(self) -> Path:
        """SQLite job store file."""
        return self.data_dir / "jobs.sqlite3"

    @property
    def blob_dir(self) -> Path:
        """Root of the local blob store."""
        return self.data_dir / "blobs"

    @property
    def max_duration_s(self) -> float:
        """``max_duration_hours`` in seconds."""
        return self.max_duration_hours * 3600.0

    @property
    def max_input_bytes(self) -> int:
        """``max_input_mb`` in bytes."""
        return int(self.max_input_mb * 1024 * 1024)


def describe_invalid(exc: ValidationError) -> str:
    """One line per bad setting, named by its environment variable: ``HUSH_X='v': why``."""
    lines = []
    for err in exc.errors():
        name = "HUSH_" + str(err["loc"][0]).upper() if err.get("loc") else "a HUSH_ setting"
        got = err.get("input")
        shown = f"={got!r}" if isinstance(got, str | int | float) else ""
        lines.append(f"{name}{shown}: {err['msg']}")
    return "; ".join(lines)


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read from the environment once."""
    return Settings()


SettingsDep = Annotated[Settings, Depends(get_settings)]
