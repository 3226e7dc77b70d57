"""The JobStore seam and its embedded SQLite implementation.

SQLite in WAL mode is shared by the server process and its worker processes; every write is a
single short transaction. Writes a runner makes are fenced by ``attempt``: once a job has been
claimed again (after a crash), the older run's writes match no row and are dropped.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol, TypeAlias

from app.errors import InsufficientCreditsError, NotFoundError
from app.jobs import migrations
from app.jobs.models import ACTIVE_STATES, TERMINAL_STATES, Job, JobSpec, JobState, StoredFile

__all__ = ["JobStore", "SqliteJobStore"]

_JSON_FIELDS = ("spec", "result_meta", "meta")
_ACTIVE = tuple(s.value for s in sorted(ACTIVE_STATES))


#: Judges a new job of an owner: ``(account row or None, the owner's open jobs)``; raises to refuse.
Admit: TypeAlias = Callable[[dict[str, Any] | None, int], None]


class JobStore(Protocol):
    """Persistence for jobs and uploaded files."""

    def create(self, job: Job, *, admit: Admit | None = None) -> tuple[Job, bool]:
        """Insert ``job``; with a ``request_id`` already used by this owner, return that job. -> (job, created).

        ``admit(account, open_jobs)`` runs in the inserting transaction, with the owner's account
        row held until it commits, and raises to refuse the job: parallel submits of one key are
        judged one after the other (they all passed a check made before the insert)."""
        ...

    def get(self, job_id: str) -> Job | None: ...
    def update(
        self,
        job_id: str,
        *,
        attempt: int | None = None,
        charge_minutes: int | None = None,
        unfinished: bool = False,
        **fields: Any,
    ) -> Job | None:
        """Set fields; with ``attempt``, only while that attempt owns the job and it is still active
        (so a cancel, or a newer attempt after a crash, is never overwritten by an older run); with
        ``unfinished``, only while the job has not ended (a cancel never overwrites a success that
        landed after it read the job). With ``charge_minutes``, the owner's account is charged in
        the same transaction, once."""
        ...

    def claim(self, job_id: str, state: JobState, lease_s: float) -> Job | None:
        """Take the job for one run: move it to ``state``, bump its attempt, hold it ``lease_s`` seconds.

        A queued job can be claimed, and so can an active one whose lease ran out (its worker
        died: the redelivered task or another worker takes it over). None otherwise."""
        ...

    def renew(self, job_id: str, attempt: int, lease_s: float) -> bool:
        """Extend the lease of ``attempt``; False when that attempt no longer owns an active job."""
        ...

    def lease_expired(self, now: float) -> list[Job]:
        """Active jobs whose lease ran out before ``now`` (their worker is gone)."""
        ...

    def next_queued(self, exclude: Sequence[str] = (), limit: int = 1) -> list[str]: ...
    def jobs_ahead(self, job: Job) -> int: ...
    def active_jobs(self) -> list[Job]:
        """The jobs a worker holds now (downloading or in progress): as many as the job slots."""
        ...

    def requeue_active(self) -> list[str]:
        """Put every active job back to queued (only for a queue whose workers all died with it)."""
        ...

    def release(self, job_id: str, attempt: int) -> bool:
        """Give back run ``attempt`` of an active job, uncounted: queued again with the attempt
        before it (a server shutting down stopped the run; it was no crash). False when that
        attempt no longer holds the job."""
        ...

    def claim_webhook(self, job_id: str, lease_s: float) -> float | None:
        """The claim's token (when it runs out, a time.time()) for the one process that is to
        deliver ``job_id``'s webhook now; None for every other.

        A row per job: the first claim wins; a claim whose holder died (lease past) can be taken
        over; a delivered or failed row is never claimed again. The token names the claim: a
        renewal or give-back with another token (a claim taken over) changes nothing."""
        ...

    def renew_webhook(self, job_id: str, token: float, lease_s: float) -> float | None:
        """Extend the claim ``token`` by ``lease_s`` from now: the new token, or None once the claim
        is not that one any more (taken over after it ran out, or the delivery ended)."""
        ...

    def release_webhook_claims(self, claims: Mapping[str, float]) -> int:
        """Give back these claims (job id: token; a server stopping); returns how many."""
        ...

    def dropped_webhooks(self, now: float) -> list[str]:
        """Job ids of deliveries still being sent whose claim ran out before ``now``."""
        ...

    def finish_webhook(self, job_id: str, *, delivered: bool, attempts: int) -> None: ...
    def reopen_webhook(self, job_id: str) -> bool:
        """Make a failed delivery claimable again (a client repeated its request); True if it was failed."""
        ...

    def release_webhooks(self) -> int:
        """Make every delivery still marked as being sent claimable at once (the embedded server's
        start: none of its sends is live then); returns how many."""
        ...

    def ping(self) -> None:
        """Raise unless the store answers."""
        ...

    def expired(self, now: float) -> list[Job]: ...
    def finished_with_webhook(self) -> list[Job]:
        """Finished jobs that have a webhook URL, for resuming deliveries after a restart."""
        ...

    def delete(self, job_id: str) -> None: ...
    def add_file(self, f: StoredFile) -> None: ...
    def get_file(self, file_id: str) -> StoredFile | None: ...
    def expired_files(self, now: float) -> list[StoredFile]: ...
    def delete_file(self, file_id: str) -> None: ...
    def log(self, job_id: str, kind: str, data: dict[str, Any]) -> None: ...
    def logs(self, job_id: str) -> list[dict[str, Any]]: ...
    def key_by_hash(self, key_hash: str) -> dict[str, Any] | None: ...
    def account(self, owner: str) -> dict[str, Any] | None: ...
    def has_accounts(self) -> bool: ...
    # account administration (``hush keys``)
    def add_key(self, key_hash: str, owner: str, **fields: Any) -> None: ...
    def find_account(self, id_or_label: str) -> dict[str, Any] | None: ...
    def accounts(self) -> list[dict[str, Any]]: ...
    def set_account(self, owner: str, **fields: Any) -> bool: ...
    def grant(self, owner: str, minutes: int | None, note: str = "") -> int | None: ...
    def ledger(self, owner: str) -> list[dict[str, Any]]: ...
    def remove_account(self, owner: str) -> bool: ...
    def open_jobs(self, owner: str) -> int: ...
    def close(self) -> None: ...


_COLUMNS = [
    "id",
    "dialect",
    "owner",
    "request_id",
    "spec",
    "state",
    "progress",
    "priority",
    "created_at",
    "updated_at",
    "started_at",
    "finished_at",
    "expires_at",
    "attempt",
    "error_code",
    "error_reason",
    "result_key",
    "result_meta",
    "meta",
    "claimed_until",
]


class SqliteJobStore:
    """JobStore on one SQLite file (WAL), safe across threads and processes."""

    #: Appended to the account read of :meth:`create`: SQLite's ``BEGIN IMMEDIATE`` already holds
    #: the database's write lock for the transaction; PostgreSQL locks the row.
    _LOCK_ROW = ""

    def __init__(self, path: Path, *, migrate: bool = True, durable: bool = True) -> None:
        """Open (or create) the store at ``path``; ``migrate`` brings its schema to the newest revision.

        ``durable=False`` commits without waiting for the disk (mock mode, whose jobs are
        disposable and must answer in milliseconds); a power loss may then drop the last commits.
        """
        path.parent.mkdir(parents=True, exist_ok=True)
        self._path = path
        if migrate:  # the server and the CLI migrate; its worker processes open a migrated file
            migrations.upgrade(f"sqlite:///{path}")
        self._lock = threading.RLock()
        self._conn = sqlite3.connect(str(path), timeout=30, check_same_thread=False, isolation_level=None)
        self._conn.row_factory = sqlite3.Row
        self._conn.execute("PRAGMA journal_mode=WAL")
        # FULL: a job whose id was returned survives a power loss (NORMAL may drop the last commits).
        self._conn.execute("PRAGMA synchronous=FULL" if durable else "PRAGMA synchronous=OFF")
        self._conn.execute("PRAGMA busy_timeout=30000")

    @contextmanager
    def _tx(self) -> Iterator[Any]:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        with self._lock:
            return list(self._conn.execute(sql, params))

    @staticmethod
    def _row_to_job(row: Any) -> Job:
        data = {k: row[k] for k in _COLUMNS}
        data["spec"] = JobSpec.model_validate_json(row["spec"])
        data["result_meta"] = json.loads(row["result_meta"])
        data["meta"] = json.loads(row["meta"])
        return Job.model_validate(data)

    @staticmethod
    def _encode(field: str, value: Any) -> Any:
        if field == "spec" and isinstance(value, JobSpec):
            return value.model_dump_json()
        if field in _JSON_FIELDS:
            return json.dumps(value)
        if isinstance(value, JobState):
            return value.value
        return value

    def create(self, job: Job, *, admit: Admit | None = None) -> tuple[Job, bool]:
        values = [self._encode(k, getattr(job, k)) for k in _COLUMNS]

        def same_request(c: Any) -> Job | None:
            if job.request_id is None:
                return None
            row = c.execute(
                "SELECT * FROM jobs WHERE dialect=? AND owner=? AND request_id=?",
                (job.dialect, job.owner, job.request_id),
            ).fetchone()
            return None if row is None else self._row_to_job(row)

        with self._tx() as c:
            if (earlier := same_request(c)) is not None:
                return earlier, False
            if admit is not None and job.owner:
                lock = f"SELECT * FROM api_keys WHERE owner=?{self._LOCK_ROW}"  # noqa: S608 - a fixed suffix
                account = c.execute(lock, (job.owner,)).fetchone()
                states = [JobState.queued.value, *(s.value for s in ACTIVE_STATES)]
                n = c.execute(
                    "SELECT COUNT(*) AS n FROM jobs WHERE owner=? AND state IN (?, ?, ?)", (job.owner, *states)
                ).fetchone()
                admit(dict(account) if account is not None else None, int(n["n"]))
            # ON CONFLICT: the same request_id sent to two servers at once passes the look-up above
            # on both; PostgreSQL's unique index then makes the second insert wait for the first
            # and skip, instead of failing the request with a duplicate-key error (a 500)
            inserted = c.execute(
                f"INSERT INTO jobs ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))}) "  # noqa: S608 - fixed column names
                "ON CONFLICT DO NOTHING",
                values,
            )
            if inserted.rowcount == 0:
                if (earlier := same_request(c)) is not None:
                    return earlier, False
                raise RuntimeError(f"job {job.id} was not stored (its id is taken)")
        return job, True

    def get(self, job_id: str) -> Job | None:
        rows = self._query("SELECT * FROM jobs WHERE id=?", (job_id,))
        return self._row_to_job(rows[0]) if rows else None

    def update(
        self,
        job_id: str,
        *,
        attempt: int | None = None,
        charge_minutes: int | None = None,
        unfinished: bool = False,
        **fields: Any,
    ) -> Job | None:
        """Set fields (fenced by ``attempt``, or by ``unfinished``); with ``charge_minutes``, charge
        the job's owner in the same transaction (once per job: a retry or a replay charges nothing more)."""
        fields.setdefault("updated_at", time.time())
        sets = ", ".join(f"{k}=?" for k in fields)
        params: list[Any] = [self._encode(k, v) for k, v in fields.items()]
        where = "id=?"
        params.append(job_id)
        if attempt is not None:  # a runner's write: only while its attempt owns a still-active job
            where += " AND attempt=? AND state IN (?, ?)"
            params.extend([attempt, *(s.value for s in ACTIVE_STATES)])
        if unfinished:  # a cancel: only while the job has not ended
            marks = ", ".join("?" * len(TERMINAL_STATES))
            where += f" AND state NOT IN ({marks})"
            params.extend(s.value for s in TERMINAL_STATES)
        with self._tx() as c:
            cur = c.execute(f"UPDATE jobs SET {sets} WHERE {where}", params)  # noqa: S608 - keys are field names
            if cur.rowcount == 0:
                return None
            row = c.execute("SELECT * FROM jobs WHERE id=?", (job_id,)).fetchone()
            if charge_minutes is not None:
                self._charge(c, row["owner"], job_id, charge_minutes)
        return self._row_to_job(row)

    #: The charge row, inserted unless the job was charged already (the partial unique index).
    _INSERT_CHARGE = (
        "INSERT OR IGNORE INTO credit_ledger (owner, job_id, kind, minutes, at) VALUES (?, ?, 'charge', ?, ?)"
    )
    #: Finished jobs that name a webhook URL.
    _FINISHED_WITH_WEBHOOK = (
        "SELECT * FROM jobs WHERE finished_at IS NOT NULL AND json_extract(spec, '$.webhook_url') IS NOT NULL"
    )

    def _charge(self, c: Any, owner: str, job_id: str, minutes: int) -> None:
        """Take ``minutes`` from ``owner``'s account, once per job, never below zero.

        The balance is checked and lowered in one conditional UPDATE, so two jobs of one key
        finishing at once cannot both spend the same minutes; when the account cannot pay,
        :class:`InsufficientCreditsError` rolls the caller's whole transaction back (the job's
        success with it).
        """
        account = c.execute("SELECT credits_minutes FROM api_keys WHERE owner=?", (owner,)).fetchone()
        if account is None or account["credits_minutes"] is None:
            return  # no account, or unlimited: nothing to charge
        done = c.execute(self._INSERT_CHARGE, (owner, job_id, -minutes, time.time()))
        if not done.rowcount:
            return  # charged already (a retry or a replay)
        paid = c.execute(
            "UPDATE api_keys SET credits_minutes = credits_minutes - ? WHERE owner=? AND credits_minutes >= ?",
            (minutes, owner, minutes),
        )
        if not paid.rowcount:
            left = c.execute("SELECT credits_minutes FROM api_keys WHERE owner=?", (owner,)).fetchone()
            raise InsufficientCreditsError(
                f"this key has {left['credits_minutes']} credit minute(s) left; this job costs {minutes}",
                hint="ask the operator for more credits (hush keys credit)",
            )

    # ------------------------------------------------------------------ accounts
    def add_key(self, key_hash: str, owner: str, **fields: Any) -> None:
        """Create an account row for a hashed key (``label``, ``state``, ``credits_minutes`` ...)."""
        cols = ["key_hash", "owner", "created_at", *fields]
        marks = ",".join("?" * len(cols))
        with self._tx() as c:
            c.execute(
                f"INSERT INTO api_keys ({','.join(cols)}) VALUES ({marks})",  # noqa: S608 - column names only
                (key_hash, owner, time.time(), *fields.values()),
            )
            if fields.get("credits_minutes"):
                c.execute(
                    "INSERT INTO credit_ledger (owner, kind, minutes, at, note) VALUES (?, 'grant', ?, ?, 'initial')",
                    (owner, fields["credits_minutes"], time.time()),
                )

    def key_by_hash(self, key_hash: str) -> dict[str, Any] | None:
        rows = self._query("SELECT * FROM api_keys WHERE key_hash=?", (key_hash,))
        return dict(rows[0]) if rows else None

    def account(self, owner: str) -> dict[str, Any] | None:
        rows = self._query("SELECT * FROM api_keys WHERE owner=?", (owner,))
        return dict(rows[0]) if rows else None

    def find_account(self, id_or_label: str) -> dict[str, Any] | None:
        """The account with this id (owner) or, when unique, this label."""
        rows = self._query("SELECT * FROM api_keys WHERE owner=? OR label=?", (id_or_label, id_or_label))
        return dict(rows[0]) if len(rows) == 1 else None

    def has_accounts(self) -> bool:
        return bool(self._query("SELECT 1 FROM api_keys LIMIT 1"))

    def accounts(self) -> list[dict[str, Any]]:
        return [dict(r) for r in self._query("SELECT * FROM api_keys ORDER BY created_at")]

    def set_account(self, owner: str, **fields: Any) -> bool:
        sets = ", ".join(f"{k}=?" for k in fields)
        with self._tx() as c:
            cur = c.execute(f"UPDATE api_keys SET {sets} WHERE owner=?", (*fields.values(), owner))  # noqa: S608
            return bool(cur.rowcount > 0)

    def grant(self, owner: str, minutes: int | None, note: str = "") -> int | None:
        """Add (or, negative, take: never below zero) ``minutes`` of credit, or with None make the
        key unlimited; returns the new balance (None: unlimited)."""
        with self._tx() as c:
            row = c.execute("SELECT credits_minutes FROM api_keys WHERE owner=?", (owner,)).fetchone()
            if row is None:
                raise NotFoundError(f"no key with id {owner!r}")
            if minutes is None:
                c.execute("UPDATE api_keys SET credits_minutes=NULL WHERE owner=?", (owner,))
                c.execute(
                    "INSERT INTO credit_ledger (owner, kind, minutes, at, note) VALUES (?, 'grant', 0, ?, ?)",
                    (owner, time.time(), ("unlimited: " + note).strip(": ")),
                )
                return None
            minutes = max(minutes, -(row["credits_minutes"] or 0))
            balance = (row["credits_minutes"] or 0) + minutes
            c.execute("UPDATE api_keys SET credits_minutes=? WHERE owner=?", (balance, owner))
            c.execute(
                "INSERT INTO credit_ledger (owner, kind, minutes, at, note) VALUES (?, 'grant', ?, ?, ?)",
                (owner, minutes, time.time(), note),
            )
        return int(balance)

    def ledger(self, owner: str) -> list[dict[str, Any]]:
        return [dict(r) for r in self._query("SELECT * FROM credit_ledger WHERE owner=? ORDER BY id", (owner,))]

    def remove_account(self, owner: str) -> bool:
        with self._tx() as c:
            return bool(c.execute("DELETE FROM api_keys WHERE owner=?", (owner,)).rowcount > 0)

    def open_jobs(self, owner: str) -> int:
        """Jobs of ``owner`` waiting or running."""
        states = [JobState.queued.value, *(s.value for s in ACTIVE_STATES)]
        rows = self._query("SELECT COUNT(*) AS n FROM jobs WHERE owner=? AND state IN (?, ?, ?)", (owner, *states))
        return int(rows[0]["n"])

    def claim(self, job_id: str, state: JobState, lease_s: float) -> Job | None:
        now = time.time()
        with self._tx() as c:
            cur = c.execute(
                "UPDATE jobs SET state=?, attempt=attempt+1, started_at=?, updated_at=?, progress=0, claimed_until=? "
                "WHERE id=? AND (state=? OR (state IN (?, ?) AND (claimed_until IS NULL OR claimed_until<?)))",
                (state.value, now, now, now + lease_s, job_id, JobState.queued.value, *_ACTIVE, now),
            )
            if cur.rowcount == 0:
                return None
            row = c.execute("SELECT * FROM jobs WHERE id=?", (job_id,)).fetchone()
        return self._row_to_job(row)

    def renew(self, job_id: str, attempt: int, lease_s: float) -> bool:
        with self._tx() as c:
            cur = c.execute(
                "UPDATE jobs SET claimed_until=? WHERE id=? AND attempt=? AND state IN (?, ?)",
                (time.time() + lease_s, job_id, attempt, *_ACTIVE),
            )
            return bool(cur.rowcount > 0)

    def lease_expired(self, now: float) -> list[Job]:
        rows = self._query(
            "SELECT * FROM jobs WHERE state IN (?, ?) AND (claimed_until IS NULL OR claimed_until<?)", (*_ACTIVE, now)
        )
        return [self._row_to_job(r) for r in rows]

    def claim_webhook(self, job_id: str, lease_s: float) -> float | None:
        now = time.time()
        token = now + lease_s
        with self._tx() as c:
            cur = c.execute(
                "INSERT INTO webhook_deliveries (job_id, state, claimed_until, updated_at) VALUES (?, 'sending', ?, ?) "
                "ON CONFLICT(job_id) DO UPDATE SET claimed_until=excluded.claimed_until, "
                "updated_at=excluded.updated_at "
                "WHERE webhook_deliveries.state='sending' AND webhook_deliveries.claimed_until<?",
                (job_id, token, now, now),
            )
            return token if cur.rowcount > 0 else None

    def finish_webhook(self, job_id: str, *, delivered: bool, attempts: int) -> None:
        with self._tx() as c:
            c.execute(
                "UPDATE webhook_deliveries SET state=?, attempts=?, claimed_until=NULL, updated_at=? WHERE job_id=?",
                ("delivered" if delivered else "failed", attempts, time.time(), job_id),
            )

    def renew_webhook(self, job_id: str, token: float, lease_s: float) -> float | None:
        now = time.time()
        new = max(now + lease_s, token + 1e-3)  # (never the same value twice: it names the claim)
        with self._tx() as c:
            cur = c.execute(
                "UPDATE webhook_deliveries SET claimed_until=?, updated_at=? "
                "WHERE job_id=? AND state='sending' AND claimed_until=?",
                (new, now, job_id, token),
            )
            return new if cur.rowcount > 0 else None

    def release_webhook_claims(self, claims: Mapping[str, float]) -> int:
        released = 0
        with self._tx() as c:
            for job_id, token in claims.items():
                cur = c.execute(
                    "UPDATE webhook_deliveries SET claimed_until=0, updated_at=? "
                    "WHERE job_id=? AND state='sending' AND claimed_until=?",
                    (time.time(), job_id, token),
                )
                released += int(cur.rowcount or 0)
        return released

    def dropped_webhooks(self, now: float) -> list[str]:
        rows = self._query("SELECT job_id FROM webhook_deliveries WHERE state='sending' AND claimed_until<?", (now,))
        return [r["job_id"] for r in rows]

    def reopen_webhook(self, job_id: str) -> bool:
        with self._tx() as c:
            cur = c.execute(
                "UPDATE webhook_deliveries SET state='sending', claimed_until=0, updated_at=? "
                "WHERE job_id=? AND state='failed'",
                (time.time(), job_id),
            )
            return bool(cur.rowcount > 0)

    def release_webhooks(self) -> int:
        with self._tx() as c:
            cur = c.execute(
                "UPDATE webhook_deliveries SET claimed_until=0, updated_at=? WHERE state='sending'", (time.time(),)
            )
            return int(cur.rowcount or 0)

    def ping(self) -> None:
        self._query("SELECT 1")

    def next_queued(self, exclude: Sequence[str] = (), limit: int = 1) -> list[str]:
        marks = ",".join("?" * len(exclude))
        extra = f" AND id NOT IN ({marks})" if exclude else ""
        rows = self._query(
            f"SELECT id FROM jobs WHERE state=?{extra} ORDER BY priority DESC, seq ASC LIMIT ?",  # noqa: S608 - placeholders only
            (JobState.queued.value, *exclude, limit),
        )
        return [r["id"] for r in rows]

    def jobs_ahead(self, job: Job) -> int:
        rows = self._query(
            "SELECT COUNT(*) AS n FROM jobs WHERE state=? AND id<>? AND "
            "(priority>? OR (priority=? AND seq<(SELECT seq FROM jobs WHERE id=?)))",
            (JobState.queued.value, job.id, job.priority, job.priority, job.id),
        )
        return int(rows[0]["n"])

    def active_jobs(self) -> list[Job]:
        rows = self._query("SELECT * FROM jobs WHERE state IN (?, ?)", _ACTIVE)  # the jobs_lease index
        return [self._row_to_job(r) for r in rows]

    def requeue_active(self) -> list[str]:
        active = [s.value for s in ACTIVE_STATES]
        with self._tx() as c:
            ids = [r["id"] for r in c.execute("SELECT id FROM jobs WHERE state IN (?, ?)", active)]
            c.execute(
                "UPDATE jobs SET state=?, progress=0, updated_at=?, claimed_until=NULL WHERE state IN (?, ?)",
                (JobState.queued.value, time.time(), *active),
            )
        return ids

    def release(self, job_id: str, attempt: int) -> bool:
        active = [s.value for s in ACTIVE_STATES]
        with self._tx() as c:
            cur = c.execute(
                "UPDATE jobs SET state=?, attempt=attempt-1, progress=0, updated_at=?, claimed_until=NULL "
                "WHERE id=? AND attempt=? AND state IN (?, ?)",
                (JobState.queued.value, time.time(), job_id, attempt, *active),
            )
            return bool(cur.rowcount > 0)

    def expired(self, now: float) -> list[Job]:
        rows = self._query("SELECT * FROM jobs WHERE expires_at IS NOT NULL AND expires_at<?", (now,))
        return [self._row_to_job(r) for r in rows]

    def finished_with_webhook(self) -> list[Job]:
        rows = self._query(self._FINISHED_WITH_WEBHOOK)
        return [self._row_to_job(r) for r in rows]

    def delete(self, job_id: str) -> None:
        with self._tx() as c:
            c.execute("DELETE FROM jobs WHERE id=?", (job_id,))
            c.execute("DELETE FROM job_log WHERE job_id=?", (job_id,))
            c.execute("DELETE FROM webhook_deliveries WHERE job_id=?", (job_id,))

    def add_file(self, f: StoredFile) -> None:
        with self._tx() as c:
            c.execute(
                "INSERT INTO files (id, owner, blob_key, filename, info, created_at, expires_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (f.id, f.owner, f.blob_key, f.filename, json.dumps(f.info), f.created_at, f.expires_at),
            )

    @staticmethod
    def _row_to_file(row: Any) -> StoredFile:
        data = dict(row)
        data["info"] = json.loads(data["info"])
        return StoredFile.model_validate(data)

    def get_file(self, file_id: str) -> StoredFile | None:
        rows = self._query("SELECT * FROM files WHERE id=?", (file_id,))
        return self._row_to_file(rows[0]) if rows else None

    def expired_files(self, now: float) -> list[StoredFile]:
        rows = self._query("SELECT * FROM files WHERE expires_at IS NOT NULL AND expires_at<?", (now,))
        return [self._row_to_file(r) for r in rows]

    def delete_file(self, file_id: str) -> None:
        with self._tx() as c:
            c.execute("DELETE FROM files WHERE id=?", (file_id,))

    def log(self, job_id: str, kind: str, data: dict[str, Any]) -> None:
        with self._tx() as c:
            c.execute(
                "INSERT INTO job_log (job_id, at, kind, data) VALUES (?, ?, ?, ?)",
                (job_id, time.time(), kind, json.dumps(data)),
            )

    def logs(self, job_id: str) -> list[dict[str, Any]]:
        rows = self._query("SELECT at, kind, data FROM job_log WHERE job_id=? ORDER BY id", (job_id,))
        return [{"at": r["at"], "kind": r["kind"], **json.loads(r["data"])} for r in rows]

    def close(self) -> None:
        with self._lock:
            self._conn.close()


def require(job: Job | None, job_id: str) -> Job:
    """Return ``job`` or raise :class:`NotFoundError` naming ``job_id``."""
    if job is None:
        raise NotFoundError(f"no job with id {job_id!r}", hint="check the id; jobs expire after the retention period")
    return job
