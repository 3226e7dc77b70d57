"""Worker liveness in a cluster: heartbeats in Redis, ``/readyz``'s count, and the note of a job
that waits while no ``hush worker`` runs, with real Redis, PostgreSQL, SeaweedFS, ``hush serve``
and ``hush worker`` processes."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import numpy as np
import pytest

from tests._hush import HushProcess, WorkerProcess
from tests._services import REDIS_URL, S3Server, new_pg_schema, reachable
from tests.app._http_fixtures import LoopbackServer, Reply, serve_http
from tests.app.test_server import KEY, H, submit, upload, wait_state, wav_bytes
from tests.dialects._server import free_port
from tests.signals import make_white

T = TypeVar("T")

#: The heartbeat TTL of these tests' servers and workers: a killed worker drops out within it.
TTL_S = 2.0
NOTE = "waiting: no worker is running (start `hush worker`)"
APP_KEY, APP_SECRET = "app-1", "secret-1"
BASIC = {"Authorization": "Basic " + base64.b64encode(f"{APP_KEY}:{APP_SECRET}".encode()).decode()}


def until(read: Callable[[], T], done: Callable[[T], bool], timeout_s: float, what: str) -> tuple[T, float]:
    """Poll ``read`` until ``done``; returns the last value and the seconds it took."""
    start = time.monotonic()
    while True:
        value = read()
        if done(value):
            return value, time.monotonic() - start
        if time.monotonic() - start > timeout_s:
            raise AssertionError(f"{what} not within {timeout_s:g} s; last: {value}")
        time.sleep(0.05)


# ---------------------------------------------------------------- the heartbeat itself, on real Redis
@pytest.mark.needs_redis
def test_heartbeat_counts_a_worker_until_it_stops_or_expires(redis_url: str) -> None:
    from app.jobs.heartbeat import HEARTBEATS, Heartbeat, connect, live_workers

    client = connect(redis_url)
    assert live_workers(client) == []
    beat = Heartbeat(redis_url, ttl_s=0.6, concurrency=3)
    beat.start()
    try:
        found, _ = until(lambda: live_workers(client), bool, 5, "the first heartbeat")
        assert [(w.id, w.pid, w.concurrency) for w in found] == [(beat.id, os.getpid(), 3)]
        time.sleep(1.5)  # well past the TTL: the thread keeps it fresh
        assert [w.id for w in live_workers(client)] == [beat.id]
    finally:
        beat.stop()
    assert live_workers(client) == []  # a worker that stops is counted out at once
    assert client.scard(HEARTBEATS) == 0

    dead = Heartbeat(redis_url, ttl_s=0.6, concurrency=1)
    dead.beat()  # one beat and nothing after it: a worker killed with kill -9
    assert [w.id for w in live_workers(client)] == [dead.id]
    time.sleep(0.8)
    assert live_workers(client) == []  # its key expired
    assert client.scard(HEARTBEATS) == 0  # and the reader dropped its id from the set
    for hb in (beat, dead):
        hb.close()
    client.close()


# ---------------------------------------------------------------- API servers with and without workers
@dataclass
class Apis:
    """Two API servers on one cluster with no worker of their own: the default one, and one that
    requires a worker to be ready."""

    default: HushProcess
    strict: HushProcess
    env: dict[str, str]
    root: Path
    origin: LoopbackServer


WAV = wav_bytes(make_white(np.random.default_rng(7), 8000, -30.0), 8000)


@pytest.fixture(scope="module")
def apis(tmp_path_factory: pytest.TempPathFactory, s3_server: S3Server) -> Iterator[Apis]:
    import redis

    if not reachable("127.0.0.1", 6379):
        pytest.fail("Redis is not running on 127.0.0.1:6379 (.ci/run starts it; or deselect -m needs_redis)")
    root = tmp_path_factory.mktemp("liveness")
    flush = redis.Redis.from_url(REDIS_URL)
    flush.flushdb()
    with contextlib.ExitStack() as stack:
        url, schema = stack.enter_context(new_pg_schema())
        origin = stack.enter_context(serve_http({"/bucket/in.wav": Reply(body=WAV)}))
        settings = {
            "backend": "cluster",
            "database_url": url,
            "database_schema": schema,
            "redis_url": REDIS_URL,
            "api_keys": f"{KEY},{APP_KEY}:{APP_SECRET}",
            "url_allowlist": "127.0.0.1",
            "worker_heartbeat_ttl_s": str(TTL_S),
            "sync_timeout_s": "3",
            **s3_server.settings(f"hush-{schema.replace('_', '-')}"),
        }
        env = {**os.environ, **{f"HUSH_{k.upper()}": v for k, v in settings.items()}, "HUSH_WORKERS": "1"}
        default = stack.enter_context(HushProcess(root / "api", workers=1, **settings))
        strict = HushProcess(root / "strict", workers=1, ready_requires_worker="true", **settings)
        stack.callback(strict.stop)
        strict.start(ready=(200, 503))
        yield Apis(default=default, strict=strict, env=env, root=root, origin=origin)
    flush.flushdb()
    flush.close()


def _ready(api: HushProcess) -> tuple[int, dict[str, Any]]:
    r = httpx.get(f"{api.url}/readyz", timeout=10)
    return r.status_code, r.json()


def _alive(api: HushProcess) -> int:
    workers = _ready(api)[1]["workers"]
    assert workers is not None
    return int(workers["alive"])


def _events(c: httpx.Client, job_id: str) -> Iterator[dict[str, Any]]:
    """The job's server-sent events, as JobPublic dicts, until the stream ends."""
    with c.stream("GET", f"/api/v1/jobs/{job_id}/events", headers=H, timeout=120) as r:
        assert r.status_code == 200
        for line in r.iter_lines():
            if line.startswith("data: "):
                yield json.loads(line[6:])


@pytest.mark.needs_postgres
@pytest.mark.needs_redis
@pytest.mark.needs_s3
def test_with_no_worker_readyz_says_0_and_waiting_jobs_say_why(apis: Apis) -> None:
    until(lambda: _alive(apis.default), lambda n: n == 0, TTL_S + 5, "no worker left from another test")
    status, body = _ready(apis.default)
    assert status == 200  # still in the load balancer: jobs are accepted and queue
    assert body["status"] == "degraded"
    assert body["workers"] == {"alive": 0, "slots": 0}
    assert body["checks"]["store"] == "ok"
    assert body["checks"]["workers"].startswith("none alive: no `hush worker` has sent a heartbeat in the last 2 s")
    status, body = _ready(apis.strict)
    assert (status, body["status"]) == (503, "unavailable")  # HUSH_READY_REQUIRES_WORKER

    link = apis.origin.url("/bucket/in.wav")
    with httpx.Client(base_url=apis.default.url, timeout=30) as c:
        # native: the answer to the submit and every poll say why the job does not start
        job = submit(c, upload(c, WAV), steps=[{"name": "loudness"}])
        assert (job["state"], job["message"]) == ("queued", NOTE)
        assert c.get(f"/api/v1/jobs/{job['id']}", headers=H).json()["message"] == NOTE
        stream = _events(c, job["id"])
        first = next(stream)
        assert (first["state"], first["message"]) == ("queued", NOTE)

        # Wondershare: the reason says it, and wait_time is a time to ask again, not an estimate
        info = {
            "file_size": len(WAV),
            "file_md5": hashlib.md5(WAV, usedforsecurity=False).hexdigest(),
            "file_time": 1,
            "file_ext": "wav",
        }
        batch = {"file_link": link, "file_ext": "wav", "file_info": info, "priority": 1}
        r = c.post("/v3/pic/ecr/batch", json=batch, headers=BASIC)
        assert r.json()["code"] == 0, r.text
        task = r.json()["data"]["task_id"]
        data = c.get(f"/v3/pic/ecr/result/{task}", headers=BASIC).json()["data"]
        assert data == {"status": "1", "wait_time": "30", "voice_result": "", "reason": NOTE}

        # AudioCleaner: the message of a waiting task
        r = c.post(
            "/audio/api/v1/api-keys/enhance/task/create",
            json={"inputurl": link, "enhance_type": {"normalize": True}},
            headers={"api-key": KEY},
        )
        cleaner = r.json()["data"]["job_id"]
        got = c.post("/audio/api/v1/api-keys/enhance/task/get", json={"job_id": cleaner}, headers={"api-key": KEY})
        assert (got.json()["data"]["status"], got.json()["message"]) == ("waiting", NOTE)

        # Audo: the reason of a queued status
        file_id = c.post("/v1/upload", files={"file": ("a.wav", WAV)}, headers=H).json()["fileId"]
        audo = c.post("/v1/remove-noise", json={"input": file_id}, headers=H).json()["jobId"]
        queued = c.get(f"/v1/remove-noise/{audo}/status", headers=H).json()
        assert (queued["state"], queued["reason"]) == ("queued", NOTE)
        assert queued["jobsAhead"] >= 0

        # DeepAffects sync: the request that timed out in the queue says why
        sync = c.post(
            "/audio/generic/api/v1/sync/denoise",
            params={"apikey": KEY},
            json={"content": base64.b64encode(WAV).decode(), "encoding": "Wave", "sampleRate": 8000},
        )
        assert sync.status_code == 504, sync.text
        assert sync.json()["message"] == "the synchronous request did not finish within 3 s: " + NOTE.removeprefix(
            "waiting: "
        )

        # a worker starts: counted within a few seconds, and the jobs run
        worker = WorkerProcess(apis.root / "w-late", apis.env, name="late")
        try:
            worker.start()
            _, took = until(lambda: _alive(apis.default), lambda n: n == 1, 10, "the new worker counted")
            print(f"a started worker was counted {took:.2f} s after it said ready")
            status, body = _ready(apis.default)
            assert (status, body["status"], body["workers"]) == (200, "ok", {"alive": 1, "slots": 1})
            until(lambda: _ready(apis.strict)[0], lambda s: s == 200, 10, "the strict server ready")
            rest = list(stream)  # the stream goes on to the end; once the job runs, without the note
            assert rest[-1]["state"] == "succeeded"
            assert all(e["message"] is None for e in rest if e["state"] != "queued")
            done = wait_state(c, job["id"], {"succeeded", "failed"})
            assert (done["state"], done["message"]) == ("succeeded", None)
            data, _ = until(
                lambda: c.get(f"/v3/pic/ecr/result/{task}", headers=BASIC).json()["data"],
                lambda d: d["status"] not in ("1", "2"),
                60,
                "the Wondershare task done",
            )
            assert data["status"] == "3", data
            assert data["reason"] == ""
            out, _ = until(
                lambda: c.post(
                    "/audio/api/v1/api-keys/enhance/task/get", json={"job_id": cleaner}, headers={"api-key": KEY}
                ).json(),
                lambda o: o["data"]["status"] != "waiting",
                60,
                "the AudioCleaner task done",
            )
            assert (out["data"]["status"], out["message"]) == ("success", "Request Success")
            state, _ = until(
                lambda: c.get(f"/v1/remove-noise/{audo}/status", headers=H).json(),
                lambda s: s["state"] in ("succeeded", "failed"),
                60,
                "the Audo job done",
            )
            assert state["state"] == "succeeded"
        finally:
            worker.stop()


@pytest.mark.needs_postgres
@pytest.mark.needs_redis
@pytest.mark.needs_s3
def test_a_worker_drops_out_when_killed_after_the_ttl_and_when_stopped_at_once(apis: Apis) -> None:
    killed = WorkerProcess(apis.root / "w-killed", apis.env, name="killed")
    try:
        killed.start()
        until(lambda: _alive(apis.default), lambda n: n >= 1, 10, "the worker counted")
        time.sleep(TTL_S)  # alive past its TTL: its heartbeat is refreshed
        assert _alive(apis.default) == 1
        killed.kill9()
        _, took = until(lambda: _alive(apis.default), lambda n: n == 0, TTL_S + 5, "the killed worker gone")
        print(f"kill -9: the worker dropped out of the count {took:.2f} s later (TTL {TTL_S:g} s)")
    finally:
        killed.stop()

    # a worker with a long TTL that stops cleanly deletes its heartbeat: gone long before its TTL
    stopped = WorkerProcess(apis.root / "w-stopped", {**apis.env, "HUSH_WORKER_HEARTBEAT_TTL_S": "60"}, name="stopped")
    try:
        stopped.start()
        until(lambda: _alive(apis.default), lambda n: n == 1, 10, "the worker counted")
        assert stopped.proc is not None
        stopped.stop()
        _, took = until(lambda: _alive(apis.default), lambda n: n == 0, 10, "the stopped worker gone")
        print(f"SIGTERM: the worker dropped out of the count {took:.2f} s after it exited (TTL 60 s)")
    finally:
        stopped.stop()
    status, body = _ready(apis.default)
    assert (status, body["status"]) == (200, "degraded")


@pytest.mark.needs_redis
def test_worker_check_is_healthy_only_while_a_worker_of_this_host_beats(redis_url: str) -> None:
    """``hush worker --check`` (the compose file's health check of a worker container)."""
    import subprocess
    import sys

    from app.jobs.heartbeat import Heartbeat

    env = {**os.environ, "HUSH_BACKEND": "cluster", "HUSH_REDIS_URL": redis_url, "HUSH_API_KEYS": KEY}

    def check() -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "app.cli", "worker", "--check"]
        return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)

    none = check()
    assert none.returncode == 1, none.stderr
    assert "no `hush worker` on" in none.stderr
    beat = Heartbeat(redis_url, ttl_s=30, concurrency=2)
    beat.beat()
    try:
        alive = check()
        assert alive.returncode == 0, alive.stderr
        assert beat.id in alive.stdout
    finally:
        beat.stop()
        beat.close()
    assert check().returncode == 1


@pytest.mark.needs_redis
def test_a_worker_whose_job_store_does_not_answer_refuses_to_start(redis_url: str, tmp_path: Path) -> None:
    # it started, heartbeat and passed --check, then took jobs it could not claim: they waited forever
    import subprocess
    import sys

    env = {
        **os.environ,
        "HUSH_BACKEND": "cluster",
        "HUSH_REDIS_URL": redis_url,
        "HUSH_DATABASE_URL": f"postgresql://postgres@127.0.0.1:{free_port()}/nowhere",  # nothing listens
        "HUSH_DATA_DIR": str(tmp_path),
    }
    cmd = [sys.executable, "-m", "app.cli", "worker", "--concurrency", "1"]
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 3
    assert "the job store does not answer" in r.stderr
    assert "HUSH_DATABASE_URL" in r.stderr
    assert "Traceback" not in r.stderr
