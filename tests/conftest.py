"""Fixtures shared by every test package."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from tests._services import REDIS_URL, S3Server, new_pg_schema, reachable, run_seaweedfs


@pytest.fixture
def rng() -> np.random.Generator:
    """A freshly seeded generator: every test sees the same 'random' numbers."""
    return np.random.default_rng(20261122)


# ---------------------------------------------------------------- cluster services on this machine
@pytest.fixture
def pg_schema() -> Iterator[tuple[str, str]]:
    """A fresh PostgreSQL schema for one test."""
    with new_pg_schema() as found:
        yield found


@pytest.fixture
def redis_url() -> Iterator[str]:
    """A Redis database of its own (number 13), empty before and after the test."""
    import redis

    if not reachable("127.0.0.1", 6379):
        pytest.fail("Redis is not running on 127.0.0.1:6379 (.ci/run starts it; or deselect -m needs_redis)")
    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    yield REDIS_URL
    client.flushdb()
    client.close()


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """SeaweedFS started for this test session, with one identity (a wrong secret is refused)."""
    with run_seaweedfs(tmp_path_factory.mktemp("seaweedfs")) as server:
        yield server


@pytest.fixture
def s3_bucket(s3_server: S3Server) -> dict[str, str]:
    """Settings fields for a bucket of this test's own on the session's S3 server."""
    import uuid

    return s3_server.settings(f"hush-{uuid.uuid4().hex[:12]}")
