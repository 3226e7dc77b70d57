"""The one factory of the job core's backends, chosen by settings.

``HUSH_BACKEND=embedded`` (the default) builds SQLite, a local blob folder, this process's
event fan-out and a pool of worker processes; ``cluster`` builds PostgreSQL, S3, Redis pub/sub
and Celery workers. ``HUSH_JOB_STORE``, ``HUSH_BLOB_STORE``, ``HUSH_JOB_QUEUE`` and
``HUSH_EVENT_BUS`` pick one seam at a time. Nothing else in the code names a backend: the
server, the workers, ``run_job`` and the dialects take what this module builds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from app.errors import EngineUnavailableError
from app.events import EventBus, InProcessEventBus, RedisEventBus
from app.jobs.models import JobEvent
from app.jobs.queue import JobQueue
from app.jobs.runner import RunContext
from app.jobs.store import JobStore, SqliteJobStore
from app.settings import Settings
from app.storage import BlobStore, LocalBlobStore

__all__ = ["Backends", "build_backends", "build_blobs", "build_bus", "build_run_context", "build_store"]


@dataclass
class Backends:
    """Everything a server process uses: the store, the blobs, the event bus and the queue."""

    store: JobStore
    blobs: BlobStore
    bus: EventBus
    queue: JobQueue

    def close(self) -> None:
        """Release connections (after the queue stopped)."""
        close = getattr(self.bus, "close", None)
        if close is not None:
            close()
        self.store.close()


def _not_built(what: str, kind: str) -> EngineUnavailableError:
    return EngineUnavailableError(f"the {kind!r} {what} is not available in this build of Hush")


def _missing(exc: ImportError, what: str) -> EngineUnavailableError:
    return EngineUnavailableError(
        f"the {what} needs the Python package {exc.name!r}, which is not installed",
        hint="install the cluster backends: pip install -e '.[cluster]' in the repository's virtualenv",
    )


def build_store(settings: Settings, *, migrate: bool = True) -> JobStore:
    """The job store; ``migrate`` brings its schema to the newest revision first (servers, CLI)."""
    kind = settings.store_kind
    if kind == "sqlite":
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        # mock mode's jobs are disposable and must answer in milliseconds: no waiting for the disk
        return SqliteJobStore(settings.db_path, migrate=migrate, durable=not settings.mock)
    if kind == "postgres":
        try:
            import pg8000  # noqa: F401

            from app.jobs.pgstore import PostgresJobStore
        except ImportError as exc:
            raise _missing(exc, "PostgreSQL job store") from exc
        return PostgresJobStore(
            settings.database_url,
            schema=settings.database_schema,
            migrate=migrate,
            max_connections=settings.database_max_connections,
        )
    raise _not_built("job store", kind)


def build_blobs(settings: Settings, *, create_bucket: bool = False) -> BlobStore:
    """The blob store (``create_bucket``: a server creates a missing S3 bucket at start)."""
    kind = settings.blob_kind
    if kind == "local":
        return LocalBlobStore(settings.blob_dir)
    if kind == "s3":
        try:
            import boto3  # noqa: F401

            from app.storage_s3 import S3BlobStore
        except ImportError as exc:
            raise _missing(exc, "S3 blob store") from exc

        return S3BlobStore(
            bucket=settings.s3_bucket,
            prefix=settings.s3_prefix,
            endpoint_url=settings.s3_endpoint,
            region=settings.s3_region,
            access_key=settings.s3_access_key.get_secret_value() if settings.s3_access_key else None,
            secret_key=settings.s3_secret_key.get_secret_value() if settings.s3_secret_key else None,
            create_bucket=create_bucket,
        )
    raise _not_built("blob store", kind)


def build_bus(settings: Settings) -> EventBus:
    """The event bus a server's watchers subscribe to."""
    kind = settings.bus_kind
    if kind == "local":
        return InProcessEventBus()
    if kind == "redis":
        try:
            import redis  # noqa: F401
        except ImportError as exc:
            raise _missing(exc, "Redis event bus") from exc
        return RedisEventBus(settings.redis_url, JobEvent.model_validate_json)
    raise _not_built("event bus", kind)


def build_queue(settings: Settings, store: JobStore, bus: EventBus) -> JobQueue:
    """The queue a server enqueues to (and, embedded, the worker pool it runs)."""
    kind = settings.queue_kind
    if kind == "processes":
        from app.jobs.queue import InProcessQueue

        return InProcessQueue(settings, store, bus)
    if kind == "celery":
        if settings.bus_kind == "local":
            raise EngineUnavailableError(
                "Celery workers run in other processes: their events reach the servers only through "
                "Redis (set HUSH_EVENT_BUS=redis, or HUSH_BACKEND=cluster)"
            )
        try:
            import celery  # noqa: F401

            from app.jobs.celery_queue import CeleryQueue
        except ImportError as exc:
            raise _missing(exc, "Celery job queue") from exc
        return CeleryQueue(settings)
    raise _not_built("job queue", kind)


def build_backends(
    settings: Settings, *, make_queue: Callable[[JobStore, BlobStore, EventBus], JobQueue] | None = None
) -> Backends:
    """All four seams for a server process (the job store migrated to the newest schema).

    ``make_queue`` replaces the queue the settings name (mock mode runs jobs in threads)."""
    store = build_store(settings)
    try:
        blobs = build_blobs(settings, create_bucket=True)
        bus = build_bus(settings)
        queue = make_queue(store, blobs, bus) if make_queue is not None else build_queue(settings, store, bus)
        return Backends(store=store, blobs=blobs, bus=bus, queue=queue)
    except BaseException:
        store.close()
        raise


def build_run_context(
    settings: Settings,
    *,
    publish: Callable[[JobEvent], None],
    enqueue: Callable[[str, int], None],
) -> RunContext:
    """What a worker process hands ``run_job``: store and blobs (not migrated: the server did that)."""
    return RunContext(
        settings=settings,
        store=build_store(settings, migrate=False),
        publish=publish,
        blobs=build_blobs(settings),
        enqueue=enqueue,
    )
