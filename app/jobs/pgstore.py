"""The cluster's job store: PostgreSQL through pg8000 (pure Python, BSD-3).

It is :class:`~app.jobs.store.SqliteJobStore`'s SQL on a PostgreSQL connection pool: the same
statements (``?`` placeholders become the driver's ``%s``), the same attempt fencing, and the
few places the dialects differ overridden here. A claim locks its row with
``SELECT ... FOR UPDATE SKIP LOCKED``, so workers racing for jobs never wait on one another;
``next_queued`` lists the highest priority first, then the oldest. ``synchronous_commit`` is
left at the server's default (on): a job whose id was returned survives a crash of the server.

The schema comes from the same Alembic migrations as SQLite's, applied by the first server to
start (an advisory lock makes replicas starting together wait for it) or by ``hush migrate``.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import unquote, urlsplit

from app.errors import DatabaseUnavailableError
from app.jobs import migrations
from app.jobs.models import Job, JobState
from app.jobs.store import _ACTIVE, SqliteJobStore

__all__ = ["PostgresJobStore", "sqlalchemy_url"]

#: A pooled connection idle longer than this (seconds) is checked before use: a database restarted,
#: failed over or a network blip breaks it unseen, and a worker's first job after it failed before
#: its claim (an outside audit, simulated with a TCP proxy). Busy connections skip the round trip.
_IDLE_CHECK_S = 10.0

#: Longest a store call waits for one of the process's connections to come free before it is
#: answered 503 (``database.unavailable``).
_SLOT_WAIT_S = 30.0


def sqlalchemy_url(url: str) -> str:
    """``postgresql://...`` as SQLAlchemy names it with this driver (for the migrations)."""
    scheme, rest = url.split("://", 1)
    return f"postgresql+pg8000://{rest}" if scheme in ("postgres", "postgresql") else url


class _Cursor:
    """Rows as dicts (the SQLite store reads ``row["column"]``), ``rowcount`` as usual."""

    def __init__(self, cur: Any) -> None:
        self._cur = cur
        self.rowcount: int = cur.rowcount

    def _names(self) -> list[str]:
        return [d[0] for d in self._cur.description]

    def fetchone(self) -> dict[str, Any] | None:
        row = self._cur.fetchone() if self._cur.description else None
        return None if row is None else dict(zip(self._names(), row, strict=True))

    def fetchall(self) -> list[dict[str, Any]]:
        if not self._cur.description:
            return []
        names = self._names()
        return [dict(zip(names, row, strict=True)) for row in self._cur.fetchall()]

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.fetchall())


class _Conn:
    """``execute(sql_with_?, params)`` on a pg8000 connection."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> _Cursor:
        cur = self.conn.cursor()
        cur.execute(sql.replace("?", "%s"), tuple(params))
        return _Cursor(cur)


class PostgresJobStore(SqliteJobStore):
    """JobStore on PostgreSQL: a small pool of connections shared by the process's threads."""

    _LOCK_ROW = " FOR UPDATE"  # parallel submits of one key wait for each other (see create)

    _INSERT_CHARGE = (
        "INSERT INTO credit_ledger (owner, job_id, kind, minutes, at) VALUES (?, ?, 'charge', ?, ?) "
        "ON CONFLICT DO NOTHING"
    )
    _FINISHED_WITH_WEBHOOK = (
        "SELECT * FROM jobs WHERE finished_at IS NOT NULL AND (spec::json->>'webhook_url') IS NOT NULL"
    )

    def __init__(
        self,
        url: str,
        *,
        schema: str | None = None,
        migrate: bool = True,
        pool_size: int = 8,
        max_connections: int = 10,
    ) -> None:
        import pg8000.dbapi

        parts = urlsplit(url)
        if parts.scheme not in ("postgres", "postgresql"):
            raise ValueError(f"not a PostgreSQL URL: {parts.scheme}://...")
        self._connect_args: dict[str, Any] = {
            "user": unquote(parts.username or "postgres"),
            "password": unquote(parts.password) if parts.password else None,
            "host": parts.hostname or "127.0.0.1",
            "port": parts.port or 5432,
            "database": (parts.path or "/").lstrip("/") or "postgres",
            "application_name": f"hush:{schema}"[:63] if schema else "hush",
        }
        self._driver = pg8000.dbapi
        self._schema = schema
        self._pool: list[tuple[Any, float]] = []  # (connection, when it was put back: monotonic s)
        self._pool_size = min(pool_size, max_connections)
        # every store call opened a connection of its own when the pool had none idle: a burst of
        # 50 requests took 20-40 per replica, past a role's or server's limit, and was answered
        # "500 internal server error" (a cluster audit); calls beyond this wait for a free one
        self._max_connections = max_connections
        self._slots = threading.BoundedSemaphore(max_connections)
        self._pool_lock = threading.Lock()
        self._closed = False
        if migrate:
            migrations.upgrade(sqlalchemy_url(url), schema=schema)

    # ------------------------------------------------------------------ connections
    def _open(self) -> Any:
        try:
            conn = self._driver.connect(**self._connect_args, timeout=30)
        except Exception as exc:  # refused, unreachable, out of connections, bad credentials
            where = f"{self._connect_args['host']}:{self._connect_args['port']}"
            raise DatabaseUnavailableError(
                f"the job store's PostgreSQL at {where} took no connection: {exc}",
                hint="try again shortly; operators: check HUSH_DATABASE_URL, and that the server's max_connections "
                "covers HUSH_DATABASE_MAX_CONNECTIONS for every replica and worker",
            ) from exc
        if self._schema:
            cur = conn.cursor()
            cur.execute(f'SET search_path TO "{self._schema}"')
            conn.commit()
        return conn

    @staticmethod
    def _answers(conn: Any) -> bool:
        """Whether a pooled connection still works (``SELECT 1``); a broken one is closed."""
        try:
            cur = conn.cursor()
            cur.execute("SELECT 1")
            cur.fetchall()
            conn.rollback()
            return True
        except Exception:  # the driver's network or interface errors: it is gone
            with contextlib.suppress(Exception):
                conn.close()
            return False

    @contextmanager
    def _pooled(self) -> Iterator[Any]:
        if self._closed:
            raise RuntimeError("the job store is closed")
        if not self._slots.acquire(timeout=_SLOT_WAIT_S):
            raise DatabaseUnavailableError(
                f"all {self._max_connections} of this server's connections to the job store stayed busy for "
                f"{_SLOT_WAIT_S:g} s",
                hint="try again shortly; operators: raise HUSH_DATABASE_MAX_CONNECTIONS or add replicas",
            )
        try:
            with self._connection() as conn:
                yield conn
        finally:
            self._slots.release()

    @contextmanager
    def _connection(self) -> Iterator[Any]:
        with self._pool_lock:
            conn, idle_since = self._pool.pop() if self._pool else (None, 0.0)
        if conn is not None and time.monotonic() - idle_since > _IDLE_CHECK_S and not self._answers(conn):
            conn = None  # the server restarted, failed over or dropped it while it sat in the pool
        if conn is None:
            conn = self._open()
        ok = False
        try:
            yield conn
            ok = True
        finally:
            if ok and not self._closed:
                with self._pool_lock:
                    if len(self._pool) < self._pool_size:
                        self._pool.append((conn, time.monotonic()))
                        conn = None
            if conn is not None:  # broken, or the pool is full: drop it
                with contextlib.suppress(Exception):  # already broken: nothing to tell
                    conn.close()

    @contextmanager
    def _tx(self) -> Iterator[Any]:
        with self._pooled() as conn:
            try:
                yield _Conn(conn)
            except BaseException:
                conn.rollback()
                raise
            conn.commit()

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        with self._tx() as c:
            rows: list[Any] = c.execute(sql, params).fetchall()
        return rows

    def close(self) -> None:
        self._closed = True
        with self._pool_lock:
            pool, self._pool = self._pool, []
        for conn, _ in pool:
            with contextlib.suppress(Exception):  # closing anyway
                conn.close()

    # ------------------------------------------------------------------ what differs from SQLite
    def claim(self, job_id: str, state: JobState, lease_s: float) -> Job | None:
        now = time.time()
        with self._tx() as c:
            row = c.execute(
                "UPDATE jobs SET state=?, attempt=attempt+1, started_at=?, updated_at=?, progress=0, claimed_until=? "
                "WHERE id=(SELECT id FROM jobs WHERE id=? AND (state=? OR (state IN (?, ?) AND "
                "(claimed_until IS NULL OR claimed_until<?))) FOR UPDATE SKIP LOCKED) RETURNING *",
                (state.value, now, now, now + lease_s, job_id, JobState.queued.value, *_ACTIVE, now),
            ).fetchone()
        return None if row is None else self._row_to_job(row)

    def ping(self) -> None:
        self._query("SELECT 1")
