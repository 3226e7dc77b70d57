"""The SQLite job store: idempotency, priority order, attempt fencing, crash recovery."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.jobs.models import InputRef, Job, JobSpec, JobState
from app.jobs.store import SqliteJobStore


def make_job(job_id: str, *, priority: int = 0, request_id: str | None = None, owner: str = "o") -> Job:
    return Job(
        id=job_id,
        dialect="native",
        owner=owner,
        request_id=request_id,
        spec=JobSpec(input=InputRef(blob_key="uploads/x")),
        priority=priority,
    )


@pytest.fixture
def store(tmp_path: Path) -> SqliteJobStore:
    s = SqliteJobStore(tmp_path / "jobs.sqlite3")
    yield s
    s.close()


def test_store_request_id_returns_same_job(store: SqliteJobStore) -> None:
    first, created = store.create(make_job("a", request_id="r1"))
    twin, created_twin = store.create(make_job("b", request_id="r1"))
    other_owner, created_other = store.create(make_job("c", request_id="r1", owner="someone-else"))
    assert created
    assert not created_twin
    assert created_other
    assert twin.id == first.id == "a"
    assert other_owner.id == "c"


def test_store_next_queued_orders_by_priority_then_age(store: SqliteJobStore) -> None:
    for job_id, prio in (("low1", 0), ("high", 9), ("low2", 0), ("mid", 5)):
        store.create(make_job(job_id, priority=prio))
    assert store.next_queued(limit=10) == ["high", "mid", "low1", "low2"]
    assert store.next_queued(exclude=["high"], limit=1) == ["mid"]
    low2 = store.get("low2")
    assert low2 is not None
    assert store.jobs_ahead(low2) == 3


def test_store_claim_fences_older_attempts(store: SqliteJobStore) -> None:
    store.create(make_job("j"))
    first = store.claim("j", JobState.in_progress)
    assert first is not None
    assert first.attempt == 1
    assert store.claim("j", JobState.in_progress) is None  # already taken
    assert store.requeue_active() == ["j"]
    second = store.claim("j", JobState.in_progress)
    assert second is not None
    assert second.attempt == 2
    assert store.update("j", attempt=1, progress=50.0) is None  # the old run's write is dropped
    updated = store.update("j", attempt=2, progress=60.0)
    assert updated is not None
    assert updated.progress == 60.0


def test_store_expiry_and_logs(store: SqliteJobStore) -> None:
    store.create(make_job("old"))
    store.update("old", state=JobState.succeeded, expires_at=100.0)
    store.log("old", "webhook", {"attempt": 1, "status": 500})
    assert [j.id for j in store.expired(now=200.0)] == ["old"]
    assert store.logs("old")[0]["status"] == 500
    store.delete("old")
    assert store.get("old") is None
    assert store.logs("old") == []


def test_store_lists_finished_jobs_with_webhooks(store: SqliteJobStore) -> None:
    hooked = make_job("hooked").model_copy(
        update={"spec": JobSpec(input=InputRef(blob_key="uploads/x"), webhook_url="http://127.0.0.1:9/hook")}
    )
    store.create(hooked)
    store.create(make_job("plain"))
    assert store.finished_with_webhook() == []  # still queued
    for job_id in ("hooked", "plain"):
        store.update(job_id, state=JobState.succeeded, finished_at=1.0)
    assert [j.id for j in store.finished_with_webhook()] == ["hooked"]


def test_store_runner_write_does_not_undo_a_cancel(store: SqliteJobStore) -> None:
    store.create(make_job("j"))
    running = store.claim("j", JobState.in_progress)
    assert running is not None
    store.update("j", state=JobState.cancelled)  # the client cancels (an unfenced write)
    assert store.update("j", attempt=running.attempt, state=JobState.succeeded) is None
    job = store.get("j")
    assert job is not None
    assert job.state is JobState.cancelled
