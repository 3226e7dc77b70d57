"""Fixtures shared by every test package."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest


@pytest.fixture
def rng() -> np.random.Generator:
    """A freshly seeded generator: every test sees the same 'random' numbers."""
    return np.random.default_rng(20261122)


# ---------------------------------------------------------------- cluster services on this machine
#: PostgreSQL as .ci/run starts it (trust auth, database ``test``); each test gets its own schema.
POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
#: Redis as .ci/run starts it; the tests use their own database number, flushed around each test.
REDIS_URL = "redis://127.0.0.1:6379/13"


def _reachable(host: str, port: int) -> bool:
    import socket

    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


@pytest.fixture
def pg_schema() -> Iterator[tuple[str, str]]:
    """``(database_url, schema)``: a fresh schema in the test database, dropped afterwards."""
    import uuid

    import pg8000.dbapi

    if not _reachable("127.0.0.1", 5432):
        pytest.fail("PostgreSQL is not running on 127.0.0.1:5432 (.ci/run starts it; or deselect -m needs_postgres)")
    schema = f"hush_test_{uuid.uuid4().hex[:12]}"
    yield POSTGRES_URL, schema
    conn = pg8000.dbapi.connect(user="postgres", host="127.0.0.1", port=5432, database="test")
    try:
        cur = conn.cursor()
        cur.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        conn.commit()
    finally:
        conn.close()


@pytest.fixture
def redis_url() -> Iterator[str]:
    """A Redis database of its own (number 13), empty before and after the test."""
    import redis

    if not _reachable("127.0.0.1", 6379):
        pytest.fail("Redis is not running on 127.0.0.1:6379 (.ci/run starts it; or deselect -m needs_redis)")
    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    yield REDIS_URL
    client.flushdb()
    client.close()
