"""The test sessions' claim on a Redis database of their own (tests/_services.py)."""

from __future__ import annotations

import os

import pytest

from tests._services import _take_over, reachable


def test_a_dead_sessions_database_is_taken_over_by_one_session_only() -> None:
    if not reachable("127.0.0.1", 6379):
        pytest.fail("Redis is not running on 127.0.0.1:6379 (.ci/run starts it)")
    import redis

    client = redis.Redis(host="127.0.0.1", port=6379, db=0)
    key = f"hush-tests:claim-selftest:{os.getpid()}"
    try:
        client.set(key, 999_999_999, ex=60)  # a holder that is gone
        dead = client.get(key)
        assert dead is not None
        # two sessions saw the same dead holder: the first takes the database, the second does not
        assert _take_over(client, key, dead, 101)
        assert not _take_over(client, key, dead, 102)
        assert client.get(key) == b"101"
    finally:
        client.delete(key)
