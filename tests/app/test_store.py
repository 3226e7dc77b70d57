"""The job stores (SQLite, PostgreSQL): idempotency, priority order, attempt fencing, leases,
crash recovery, webhook claims. Every test runs against both."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.errors import InsufficientCreditsError
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


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.needs_postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqliteJobStore]:
    if request.param == "sqlite":
        s = SqliteJobStore(tmp_path / "jobs.sqlite3")
    else:
        from app.jobs.pgstore import PostgresJobStore

        url, schema = request.getfixturevalue("pg_schema")
        s = PostgresJobStore(url, schema=schema)
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
    first = store.claim("j", JobState.in_progress, 60.0)
    assert first is not None
    assert first.attempt == 1
    assert store.claim("j", JobState.in_progress, 60.0) is None  # already taken
    assert store.requeue_active() == ["j"]
    second = store.claim("j", JobState.in_progress, 60.0)
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
    running = store.claim("j", JobState.in_progress, 60.0)
    assert running is not None
    store.update("j", state=JobState.cancelled)  # the client cancels (an unfenced write)
    assert store.update("j", attempt=running.attempt, state=JobState.succeeded) is None
    job = store.get("j")
    assert job is not None
    assert job.state is JobState.cancelled


def test_store_expired_lease_lets_another_attempt_take_the_job(store: SqliteJobStore) -> None:
    store.create(make_job("j"))
    first = store.claim("j", JobState.in_progress, 60.0)
    assert first is not None
    assert first.claimed_until is not None
    assert store.claim("j", JobState.in_progress, 60.0) is None  # the lease holds
    assert store.lease_expired(time.time()) == []
    assert store.lease_expired(first.claimed_until + 1) == [store.get("j")]
    # the worker dies: its lease runs out (shortened here instead of waiting a minute)
    store.update("j", claimed_until=time.time() - 1)
    second = store.claim("j", JobState.in_progress, 60.0)
    assert second is not None
    assert second.attempt == 2
    assert not store.renew("j", first.attempt, 60.0)  # the dead attempt is fenced off
    assert store.update("j", attempt=first.attempt, progress=10.0) is None
    assert store.renew("j", second.attempt, 120.0)
    renewed = store.get("j")
    assert renewed is not None
    assert renewed.claimed_until is not None
    assert renewed.claimed_until > second.claimed_until  # type: ignore[operator]
    store.update("j", attempt=second.attempt, state=JobState.succeeded)
    assert store.claim("j", JobState.in_progress, 60.0) is None  # finished jobs are never claimed
    assert not store.renew("j", second.attempt, 60.0)


def test_store_webhook_delivery_reopened_and_released(store: SqliteJobStore) -> None:
    # a repeat of a request whose webhook failed sends it again; an embedded server starting again
    # takes over the deliveries its previous run left marked as being sent (they waited 7.5 min)
    store.create(make_job("f"))
    assert store.claim_webhook("f", 60.0)
    assert not store.reopen_webhook("f")  # still being sent: nothing to reopen
    store.finish_webhook("f", delivered=False, attempts=6)
    assert not store.claim_webhook("f", 60.0)
    assert store.reopen_webhook("f")
    assert store.claim_webhook("f", 60.0)
    store.finish_webhook("f", delivered=True, attempts=1)
    assert not store.reopen_webhook("f")  # delivered: stays so
    store.create(make_job("s"))
    assert store.claim_webhook("s", 450.0)
    assert not store.claim_webhook("s", 450.0)
    assert store.release_webhooks() == 1
    assert store.claim_webhook("s", 450.0)


def test_store_webhook_delivery_is_claimed_once(store: SqliteJobStore) -> None:
    store.create(make_job("j"))
    assert store.claim_webhook("j", 60.0)
    assert not store.claim_webhook("j", 60.0)  # another server saw the same event
    store.finish_webhook("j", delivered=True, attempts=1)
    assert not store.claim_webhook("j", 0.0)  # delivered: never again
    store.create(make_job("k"))
    assert store.claim_webhook("k", -1.0)  # its sender died: the lease is already past
    assert store.claim_webhook("k", 60.0)  # so another server takes the delivery over
    assert not store.claim_webhook("k", 60.0)
    store.delete("k")
    assert store.claim_webhook("k", 60.0)  # the row went with the job


def test_store_webhook_claim_is_renewed_given_back_and_found_dropped(store: SqliteJobStore) -> None:
    """A delivery's claim is held like a job's lease: renewed while it is sent, given back when its
    server stops, and listed once it ran out (its server died), for another server to take over.
    Its token names it: the server whose claim was taken over renews and gives back nothing (it
    renewed the new holder's claim and sent beside it: a review)."""
    now = time.time()
    tokens = {}
    for job_id in ("b", "c"):
        store.create(make_job(job_id))
        tokens[job_id] = store.claim_webhook(job_id, 60.0)
        assert tokens[job_id] is not None
    assert store.dropped_webhooks(now) == []  # all held
    store.create(make_job("a"))
    gone = store.claim_webhook("a", -120.0)  # (a claim run out: its server stopped renewing)
    assert gone is not None
    assert store.dropped_webhooks(now) == ["a"]
    taken = store.claim_webhook("a", 60.0)  # another server takes it over
    assert taken is not None
    assert store.renew_webhook("a", gone, 60.0) is None  # the first server's token is spent
    assert store.release_webhook_claims({"a": gone}) == 0
    renewed = store.renew_webhook("a", taken, 60.0)
    assert renewed is not None
    assert renewed != taken
    assert store.renew_webhook("a", taken, 60.0) is None  # each renewal names the claim anew
    assert store.dropped_webhooks(now) == []
    assert store.release_webhook_claims({"b": tokens["b"], "nope": 1.0}) == 1
    assert store.release_webhook_claims({}) == 0
    assert store.dropped_webhooks(now) == ["b"]
    assert store.claim_webhook("b", 60.0) is not None  # taken over at once
    assert store.claim_webhook("c", 60.0) is None  # not given back: still held
    store.finish_webhook("c", delivered=True, attempts=1)
    assert store.renew_webhook("c", tokens["c"], 60.0) is None  # delivered: nothing to hold
    assert store.release_webhook_claims({"c": tokens["c"]}) == 0


def test_store_ping(store: SqliteJobStore) -> None:
    store.ping()
    store.close()
    with pytest.raises(Exception, match="closed"):  # sqlite3 and this store both say so
        store.ping()


def test_store_charges_a_job_once(store: SqliteJobStore) -> None:
    store.add_key("h", "acct", credits_minutes=10)
    store.create(make_job("j", owner="acct"))
    running = store.claim("j", JobState.in_progress, 60.0)
    assert running is not None
    store.update("j", attempt=running.attempt, progress=50.0, charge_minutes=3)
    store.update("j", charge_minutes=3)  # a replay charges nothing more
    account = store.account("acct")
    assert account is not None
    assert account["credits_minutes"] == 4 + 3  # 10 - 3, once
    assert [row["minutes"] for row in store.ledger("acct")] == [10, -3]


def test_store_refuses_a_charge_the_account_cannot_pay(store: SqliteJobStore) -> None:
    """The balance never goes below zero: a success that costs more than is left is not recorded."""
    store.add_key("h", "acct", credits_minutes=2)
    store.create(make_job("j", owner="acct"))
    running = store.claim("j", JobState.in_progress, 60.0)
    assert running is not None
    with pytest.raises(InsufficientCreditsError, match="2 credit minute"):
        store.update("j", attempt=running.attempt, state=JobState.succeeded, charge_minutes=3)
    job = store.get("j")
    assert job is not None
    assert job.state is JobState.in_progress  # the success was rolled back with the charge
    account = store.account("acct")
    assert account is not None
    assert account["credits_minutes"] == 2
    assert [row["kind"] for row in store.ledger("acct")] == ["grant"]
    # what it can pay goes through, to zero
    done = store.update("j", attempt=running.attempt, state=JobState.succeeded, charge_minutes=2)
    assert done is not None
    assert done.state is JobState.succeeded
    account = store.account("acct")
    assert account is not None
    assert account["credits_minutes"] == 0


@pytest.mark.needs_postgres
def test_postgres_claims_race_without_double_runs(pg_schema: tuple[str, str]) -> None:
    import threading

    from app.jobs.pgstore import PostgresJobStore

    url, schema = pg_schema
    stores = [PostgresJobStore(url, schema=schema, migrate=i == 0) for i in range(4)]  # four "workers"
    ids = [f"job{i}" for i in range(30)]
    for job_id in ids:
        stores[0].create(make_job(job_id))
    won: list[list[str]] = [[] for _ in stores]
    start = threading.Barrier(len(stores))

    def worker(n: int) -> None:
        start.wait()
        for job_id in ids:
            if stores[n].claim(job_id, JobState.in_progress, 60.0) is not None:
                won[n].append(job_id)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(len(stores))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    claimed = sorted(j for w in won for j in w)
    assert claimed == sorted(ids)  # every job exactly once
    assert all(stores[0].get(j).attempt == 1 for j in ids)  # type: ignore[union-attr]
    for s in stores:
        s.close()


@pytest.mark.needs_postgres
def test_postgres_replicas_migrate_once_together(pg_schema: tuple[str, str]) -> None:
    import threading

    import pg8000.dbapi

    from app.jobs.pgstore import PostgresJobStore

    url, schema = pg_schema
    errors: list[BaseException] = []

    def start() -> None:
        try:
            PostgresJobStore(url, schema=schema).close()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    conn = pg8000.dbapi.connect(user="postgres", host="127.0.0.1", database="test")
    try:
        cur = conn.cursor()
        cur.execute(f'SELECT version_num FROM "{schema}".alembic_version')
        versions = [r[0] for r in cur.fetchall()]
        cur.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema=%s AND table_name='jobs'", (schema,)
        )
        columns = {r[0] for r in cur.fetchall()}
    finally:
        conn.close()
    assert versions == ["0002"]
    assert "claimed_until" in columns


@pytest.mark.needs_postgres
def test_postgres_a_pooled_connection_broken_while_idle_is_replaced(pg_schema: tuple[str, str]) -> None:
    # a database restart or a network blip broke the pooled connection unseen; a worker's next job
    # then failed before its claim and its queue message was spent
    from app.jobs import pgstore

    url, schema = pg_schema
    store = pgstore.PostgresJobStore(url, schema=schema)
    store.create(make_job("j"))
    assert len(store._pool) == 1
    conn, _ = store._pool[0]
    conn.close()  # what a server that went away leaves in the pool
    store._pool[0] = (conn, time.monotonic() - pgstore._IDLE_CHECK_S - 1)  # idle long enough to be checked
    job = store.get("j")
    assert job is not None
    assert job.id == "j"
    store.close()


@pytest.mark.parametrize(("fields", "admitted"), [({"credits_minutes": 3}, 3), ({"max_concurrent": 1}, 1)])
def test_store_admits_parallel_jobs_of_a_key_one_after_the_other(
    store: SqliteJobStore, fields: dict[str, int], admitted: int
) -> None:
    """Ten submits of one key at once: the rule is judged in the inserting transaction with the
    account held, so a key with 3 minutes gets 3 jobs and a concurrency of 1 gets 1 (all ten used
    to pass a check made before the insert)."""
    from concurrent.futures import ThreadPoolExecutor

    from app.errors import ConcurrencyLimitError
    from app.jobs.service import _admit

    store.add_key("h", "acct", **fields)

    def admit(account: dict | None, open_jobs: int) -> None:
        time.sleep(0.02)  # a window for another submit to slip through, were the account not held
        _admit(account, open_jobs, needed=1)

    def submit(i: int) -> bool:
        try:
            return store.create(make_job(f"j{i}", owner="acct"), admit=admit)[1]
        except (InsufficientCreditsError, ConcurrencyLimitError):
            return False

    with ThreadPoolExecutor(10) as pool:
        created = list(pool.map(submit, range(10)))
    assert sum(created) == admitted
    assert store.open_jobs("acct") == admitted


@pytest.mark.needs_postgres
def test_postgres_same_request_id_on_two_servers_at_once_returns_one_job(pg_schema: tuple[str, str]) -> None:
    # Both servers looked the request_id up, found nothing and inserted: the second insert hit the
    # unique index and the request was answered 500. The second now gets the first's job.
    import threading

    from app.jobs.pgstore import PostgresJobStore

    url, schema = pg_schema
    first, second = PostgresJobStore(url, schema=schema), PostgresJobStore(url, schema=schema, migrate=False)
    looked_up, inserted = threading.Event(), threading.Event()
    out: dict[str, tuple[Job, bool]] = {}

    def admit(account: object, open_jobs: int) -> None:  # runs after the look-up, before the insert
        looked_up.set()
        assert inserted.wait(10)

    racer = threading.Thread(target=lambda: out.update(b=second.create(make_job("b", request_id="r1"), admit=admit)))
    racer.start()
    assert looked_up.wait(10)
    out["a"] = first.create(make_job("a", request_id="r1"))
    inserted.set()
    racer.join(10)
    assert out["a"][0].id == "a"
    assert out["a"][1] is True
    assert out["b"][0].id == "a"
    assert out["b"][1] is False
    assert [j.id for j in (first.get("a"), first.get("b")) if j is not None] == ["a"]
    first.close()
    second.close()


def test_store_release_gives_a_run_back_uncounted(store: SqliteJobStore) -> None:
    store.create(make_job("a"))
    claimed = store.claim("a", JobState.in_progress, 60.0)
    assert claimed is not None
    assert claimed.attempt == 1
    assert not store.release("a", attempt=2)  # another run's: left alone
    assert store.release("a", attempt=1)
    back = store.get("a")
    assert back is not None
    assert (back.state, back.attempt, back.claimed_until) == (JobState.queued, 0, None)
    assert not store.release("a", attempt=0)  # queued: nothing to give back


@pytest.mark.needs_postgres
def test_postgres_store_holds_at_most_its_connections_and_answers_503_past_the_servers_limit(
    pg_schema: tuple[str, str],
) -> None:
    """Each store call opened a connection of its own when none was idle: a burst of 50 requests
    took 20-40 per replica, past the role's limit, and PostgreSQL's "too many connections" reached
    clients as "500 internal server error" (a cluster audit). Calls beyond the process's
    connections wait for one; a database that takes no connection is a 503 ``database.unavailable``."""
    import uuid
    from concurrent.futures import ThreadPoolExecutor

    import pg8000.dbapi

    from app.errors import DatabaseUnavailableError
    from app.http import default_status
    from app.jobs.pgstore import PostgresJobStore

    url, schema = pg_schema
    store = PostgresJobStore(url, schema=schema, max_connections=3)
    store.create(make_job("j"))
    admin = pg8000.dbapi.connect(user="postgres", host="127.0.0.1", port=5432, database="test")
    admin.autocommit = True
    role = f"hush_lim_{uuid.uuid4().hex[:8]}"
    try:
        peak = 0
        lock = threading.Lock()

        def call(_: int) -> None:
            nonlocal peak
            assert store.get("j") is not None
            with lock:  # one admin session, used by one thread at a time
                cur = admin.cursor()
                cur.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name=%s", (f"hush:{schema}",))
                peak = max(peak, int(cur.fetchone()[0]))

        with ThreadPoolExecutor(40) as pool:
            list(pool.map(call, range(400)))
        assert 1 <= peak <= 3, peak

        cur = admin.cursor()
        cur.execute(f"CREATE ROLE {role} LOGIN CONNECTION LIMIT 0")  # a role with no connection left
        limited = PostgresJobStore(
            url.replace("postgres@", f"{role}@", 1), schema=schema, migrate=False, max_connections=3
        )
        with pytest.raises(DatabaseUnavailableError) as err:
            limited.get("j")
        assert "too many connections" in err.value.message, err.value.message
        assert default_status(err.value) == 503
        assert err.value.retry_after_s > 0
        limited.close()
    finally:
        store.close()
        cur = admin.cursor()
        cur.execute(f"DROP ROLE IF EXISTS {role}")
        admin.close()
