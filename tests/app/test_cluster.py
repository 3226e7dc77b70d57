"""The cluster backends under a real ``hush serve``: S3 downloads, Celery workers, Redis events."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from tests._hush import HushProcess, WorkerProcess
from tests._services import REDIS_URL, S3Server, new_pg_schema, reachable
from tests.app.test_server import KEY, H, submit, upload, wait_state, wav_bytes, write_long_wav
from tests.signals import make_white


@pytest.mark.needs_s3
def test_result_download_redirects_to_a_presigned_s3_link(
    tmp_path: Path, s3_server: S3Server, rng: np.random.Generator
) -> None:
    env = {"blob_store": "s3", "s3_presign_downloads": "true", **s3_server.settings("hush-presign")}
    # 30 s, not httpx's 5: the upload into a new S3 (SeaweedFS) bucket once took over 5 s on a
    # loaded two-core machine (a ReadTimeout in a full CI run)
    with (
        HushProcess(tmp_path, workers=1, api_keys=KEY, **env) as proc,
        httpx.Client(base_url=proc.url, timeout=30) as c,
    ):
        job = submit(c, upload(c, wav_bytes(make_white(rng, 8000, -30.0), 8000)), steps=[{"name": "loudness"}])
        done = wait_state(c, job["id"], {"succeeded", "failed"})
        assert done["state"] == "succeeded", done
        r = c.get(done["result_url"], headers=H)
        assert r.status_code == 307
        link = r.headers["location"]
        assert link.startswith(s3_server.endpoint + "/hush-presign/results/")
        assert "X-Amz-Signature=" in link
        got = httpx.get(link, timeout=10)  # the client fetches the bytes from S3, not from the API
        assert got.status_code == 200
        assert got.content[:4] == b"RIFF"
        assert got.headers["content-type"] == "audio/wav"
        assert not (tmp_path / "blobs" / "results").exists()  # nothing was kept on the API's disk


@pytest.mark.needs_s3
def test_retention_janitor_deletes_inputs_and_results_from_s3(tmp_path: Path, s3_bucket: dict[str, str]) -> None:
    import anyio

    from app.events import InProcessEventBus
    from app.jobs.backends import build_blobs
    from app.jobs.models import InputRef, Job, JobSpec, JobState, StoredFile
    from app.jobs.service import JobService
    from app.jobs.store import SqliteJobStore
    from app.settings import Settings
    from tests.app.test_seams import RecordingQueue

    settings = Settings(data_dir=tmp_path, blob_store="s3", **s3_bucket)
    store = SqliteJobStore(settings.db_path)
    blobs = build_blobs(settings, create_bucket=True)
    service = JobService(settings, store, blobs, RecordingQueue(), InProcessEventBus())
    blobs.write("uploads/f1", io.BytesIO(b"input"))
    blobs.write("results/j1/out.wav", io.BytesIO(b"result"))
    store.add_file(StoredFile(id="f1", blob_key="uploads/f1", expires_at=100.0))
    store.create(Job(id="j1", dialect="native", spec=JobSpec(input=InputRef(blob_key="uploads/f1"))))
    store.update("j1", state=JobState.succeeded, result_key="results/j1/out.wav", expires_at=100.0)
    assert anyio.run(service.expire_once, 50.0) == 0
    assert blobs.exists("uploads/f1")
    assert anyio.run(service.expire_once, 200.0) == 1
    assert not blobs.exists("uploads/f1")
    assert not blobs.exists("results/j1/out.wav")
    store.close()


# ---------------------------------------------------------------- the whole cluster
@dataclass
class Cluster:
    """Two API replicas and two Celery workers on PostgreSQL, Redis and SeaweedFS."""

    apis: list[HushProcess]
    workers: list[WorkerProcess]
    env: dict[str, str]


#: A running job renews its lease every third of this; a dead worker's job is re-queued after it.
LEASE_S = 5.0


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, s3_server: S3Server) -> Iterator[Cluster]:
    import redis

    if not reachable("127.0.0.1", 6379):
        pytest.fail("Redis is not running on 127.0.0.1:6379 (.ci/run starts it; or deselect -m needs_redis)")
    root = tmp_path_factory.mktemp("cluster")
    flush = redis.Redis.from_url(REDIS_URL)
    flush.flushdb()
    with contextlib.ExitStack() as stack:
        url, schema = stack.enter_context(new_pg_schema())
        settings = {
            "backend": "cluster",
            "database_url": url,
            "database_schema": schema,
            "redis_url": REDIS_URL,
            "lease_s": str(LEASE_S),
            "api_keys": KEY,
            "url_allowlist": "127.0.0.1",
            "webhook_backoff_s": "0.05",
            "block_seconds": "0.5",
            **s3_server.settings(f"hush-{schema.replace('_', '-')}"),
        }
        env = {**os.environ, **{f"HUSH_{k.upper()}": v for k, v in settings.items()}, "HUSH_WORKERS": "1"}
        apis = [stack.enter_context(HushProcess(root / f"api{i}", workers=1, **settings)) for i in range(2)]
        workers = []
        for i in range(2):
            w = WorkerProcess(root / f"worker{i}", env, name=str(i))
            stack.callback(w.stop)
            workers.append(w.start())
        found = Cluster(apis=apis, workers=workers, env=env)
        stack.callback(lambda: [api.stop() for api in found.apis])  # a replica a test restarted, too
        yield found
    flush.flushdb()
    flush.close()


def _client(api: HushProcess) -> httpx.Client:
    return httpx.Client(base_url=api.url, timeout=30)


@pytest.mark.needs_postgres
@pytest.mark.needs_redis
@pytest.mark.needs_s3
def test_cluster_round_trip_on_either_replica(cluster: Cluster, rng: np.random.Generator) -> None:
    a, b = cluster.apis
    with _client(a) as ca, _client(b) as cb:
        for api in (ca, cb):
            ready = api.get("/readyz")
            assert ready.status_code == 200, ready.text
        job = submit(ca, upload(ca, wav_bytes(make_white(rng, 8000, -30.0), 8000)), steps=[{"name": "loudness"}])
        again = cb.post(
            "/api/v1/jobs", json={"input": {"file_id": "nope"}, "request_id": "x"}, headers=H
        )  # an unknown file on the other replica: refused there too
        assert again.status_code == 404
        done = wait_state(cb, job["id"], {"succeeded", "failed"})  # submitted on A, read on B
        assert done["state"] == "succeeded", done
        r = cb.get(done["result_url"], headers=H)
        assert r.status_code == 200
        assert r.content[:4] == b"RIFF"


@pytest.mark.needs_postgres
@pytest.mark.needs_redis
@pytest.mark.needs_s3
def test_cluster_request_id_is_idempotent_across_replicas(cluster: Cluster, rng: np.random.Generator) -> None:
    a, b = cluster.apis
    with _client(a) as ca, _client(b) as cb:
        file_id = upload(ca, wav_bytes(make_white(rng, 8000, -30.0), 8000))
        first = submit(ca, file_id, steps=[], request_id="cluster-once")
        second = submit(cb, file_id, steps=[], request_id="cluster-once")
        assert first["id"] == second["id"]
        wait_state(ca, first["id"], {"succeeded"})


@pytest.mark.needs_postgres
@pytest.mark.needs_redis
@pytest.mark.needs_s3
def test_cluster_priority_9_overtakes_0_across_workers(
    cluster: Cluster, rng: np.random.Generator, tmp_path: Path
) -> None:
    a, _ = cluster.apis
    long_path = tmp_path / "long.wav"
    # ten minutes of audio keep a worker busy for seconds: 60 s took one second, and a loaded
    # machine let a blocker finish before the test had seen it start
    write_long_wav(long_path, 8000, 600.0, rng)
    with _client(a) as ca:
        blocker = upload(ca, long_path.read_bytes())
        short = upload(ca, wav_bytes(make_white(rng, 8000, -30.0), 8000))
        steps = [{"name": "denoise"}, {"name": "loudness"}]
        blockers = [submit(ca, blocker, steps=steps, priority=5) for _ in cluster.workers]  # both workers busy
        for job in blockers:
            wait_state(ca, job["id"], {"in_progress"})
        low = [submit(ca, short, steps=[], priority=0) for _ in range(3)]
        high = submit(ca, short, steps=[], priority=9)
        hi = wait_state(ca, high["id"], {"succeeded"}, timeout_s=120)
        los = [wait_state(ca, j["id"], {"succeeded"}, timeout_s=120) for j in low]
        # every low-priority job still queued when the high one arrived started after it
        waiting = [lo for lo in los if lo["started_at"] > hi["created_at"]]
        assert waiting, "the blockers finished before the priority-9 job was queued; nothing was compared"
        assert hi["started_at"] < min(lo["started_at"] for lo in waiting)
        for job in blockers:
            wait_state(ca, job["id"], {"succeeded"}, timeout_s=120)


@pytest.mark.needs_postgres
@pytest.mark.needs_redis
@pytest.mark.needs_s3
def test_cluster_survives_kill9_of_a_worker_mid_job(cluster: Cluster, rng: np.random.Generator, tmp_path: Path) -> None:
    import websocket

    a, b = cluster.apis
    long_path = tmp_path / "long.wav"
    write_long_wav(long_path, 8000, 600.0, rng)
    with _client(a) as ca, _client(b) as cb:
        job = submit(ca, upload(ca, long_path.read_bytes()), steps=[{"name": "denoise"}, {"name": "loudness"}])
        ws = websocket.create_connection(
            f"ws://127.0.0.1:{b.port}/api/v1/jobs/{job['id']}/ws", header=H, timeout=120
        )  # watched on the other replica, through Redis pub/sub
        # read as it comes: a client that does not read answers none of the server's pings, and the
        # server closes its socket once the job outlasts the ping timeout (a loaded machine)
        states: list[str] = []

        def watch() -> None:
            while True:
                state = json.loads(ws.recv())["state"]
                states.append(state)
                if state in ("succeeded", "failed"):
                    return

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        try:
            running = wait_state(ca, job["id"], {"in_progress"})
            deadline = time.monotonic() + 30
            while running["progress"] < 5 and time.monotonic() < deadline:
                time.sleep(0.1)
                running = ca.get(f"/api/v1/jobs/{job['id']}", headers=H).json()
            started = f"job {job['id']} attempt 1 started"
            victim = next(w for w in cluster.workers if started in w.log.read_text(errors="replace"))
            killed_at = time.monotonic()
            victim.kill9()
            done = wait_state(cb, job["id"], {"succeeded", "failed"}, timeout_s=120)
            took = time.monotonic() - killed_at
            assert done["state"] == "succeeded", done
            assert done["attempts"] == 2  # the other worker took it over
            # bound: the lease runs out (<= LEASE_S), the reaper's next pass (<= LEASE_S / 3), then a
            # full run on the surviving worker (~10 s here)
            print(f"kill -9 of a worker: the job finished on the other one {took:.1f} s later (attempt 2)")
            assert took < LEASE_S + LEASE_S / 3 + 60, took
            watcher.join(timeout=30)
            assert not watcher.is_alive(), states
            assert states[-1] == "succeeded"
            assert "queued" in states[1:]  # it saw the job go back to the queue, then finish
        finally:
            ws.close()
        victim.start()  # back to two workers for the next tests


@pytest.mark.needs_postgres
@pytest.mark.needs_redis
@pytest.mark.needs_s3
def test_cluster_sends_one_webhook_per_job_with_two_replicas(cluster: Cluster, rng: np.random.Generator) -> None:
    from tests.app._http_fixtures import Reply, serve_http

    a, b = cluster.apis
    with serve_http({"/hook": Reply(200)}) as hook, _client(a) as ca, _client(b) as cb:
        file_id = upload(ca, wav_bytes(make_white(rng, 8000, -30.0), 8000))
        jobs = [submit(c, file_id, steps=[], webhook_url=hook.url("/hook")) for c in (ca, cb, ca)]
        for job in jobs:
            wait_state(ca, job["id"], {"succeeded"})
        deadline = time.monotonic() + 15
        while len(hook.requests) < len(jobs) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(2.0)  # both replicas saw every job finish: give a duplicate time to arrive
        sent = sorted(r.headers["X-Hush-Job-Id"] for r in hook.requests)
        assert sent == sorted(j["id"] for j in jobs)  # each job once, from one replica


@pytest.mark.needs_postgres
@pytest.mark.needs_redis
@pytest.mark.needs_s3
def test_cluster_webhook_delivery_outlives_the_replica_sending_it(cluster: Cluster, rng: np.random.Generator) -> None:
    """A delivery's claim was taken once for the longest a delivery could take (32 min at the
    defaults): a replica killed mid-delivery left the webhook unsent that long, even after it came
    back (a cluster audit). The claim is now renewed while it is sent: a wait longer than the
    lease is no gap for the other replica to send a duplicate through, and a killed sender's claim
    runs out within the lease for a live replica to go on from its next attempt."""
    from tests.app._http_fixtures import Reply, replies_in_order, serve_http

    hook = replies_in_order(
        Reply(503, headers={"Retry-After": str(int(LEASE_S * 1.6))}),  # outlasts an unrenewed claim
        Reply(503, headers={"Retry-After": "2"}),
        Reply(200),
    )
    a, b = cluster.apis
    with serve_http({"POST /hook": hook}) as receiver, _client(a) as ca:
        file_id = upload(ca, wav_bytes(make_white(rng, 8000, -30.0), 8000))
        job = submit(ca, file_id, steps=[], webhook_url=receiver.url("/hook"))
        deadline = time.monotonic() + 60
        while len(receiver.requests) < 2:  # the first 503, its wait with both replicas up, the second
            assert time.monotonic() < deadline, receiver.requests
            time.sleep(0.05)
        while (ca.get(f"/api/v1/jobs/{job['id']}", headers=H).json().get("webhook") or {}).get("attempts") != 2:
            assert time.monotonic() < deadline, "the second attempt was not recorded"
            time.sleep(0.05)
        a.kill9()  # whichever replica holds the delivery, it is gone
        b.kill9()
        killed = time.monotonic()
        again = HushProcess(a.data_dir, workers=1, port=a.port)
        again.env = a.env
        cluster.apis[0] = again.start()
        deadline = time.monotonic() + 6 * LEASE_S
        with _client(again) as c:  # (a new connection: the old one died with its replica)
            while (hooked := c.get(f"/api/v1/jobs/{job['id']}", headers=H).json()["webhook"])["delivered"] is None:
                assert time.monotonic() < deadline, hooked
                time.sleep(0.1)
        took = time.monotonic() - killed
        restarted = HushProcess(b.data_dir, workers=1, port=b.port)
        restarted.env = b.env
        cluster.apis[1] = restarted.start()
        time.sleep(1.0)  # a duplicate from the second replica's start would arrive by now
    assert hooked == {"delivered": True, "attempts": 3, "status": 200, "error": None}, hooked
    assert len(receiver.requests) == 3  # no attempt sent twice: not in the long wait, not after the kill
    assert took < 6 * LEASE_S


@pytest.mark.needs_postgres
@pytest.mark.needs_redis
@pytest.mark.needs_s3
def test_cluster_live_streams_read_the_store_when_redis_is_unreachable(
    cluster: Cluster, rng: np.random.Generator, tmp_path: Path
) -> None:
    """On a replica that cannot reach Redis, a job's SSE stream and websocket sent nothing for 10 s
    and then broke mid-chunk (an unhandled ASGI exception), even for a finished job (a cluster
    audit). They now follow the job from the store: the snapshot at once, then its changes."""
    import websocket

    from tests._hush import free_port

    a, _ = cluster.apis
    long_path = tmp_path / "long.wav"
    write_long_wav(long_path, 8000, 240.0, rng)
    settings = {
        k.removeprefix("HUSH_").lower(): v
        for k, v in cluster.env.items()
        if k.startswith("HUSH_") and k not in ("HUSH_WORKERS", "HUSH_DATA_DIR")
    }
    settings["redis_url"] = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    cut_off = HushProcess(tmp_path / "no-redis", workers=1, **settings)
    with _client(a) as ca:
        job = submit(ca, upload(ca, long_path.read_bytes()), steps=[{"name": "denoise"}, {"name": "loudness"}])
        try:
            cut_off.start(probe="/healthz")  # (its /readyz waits on the broker it cannot reach)
            with _client(cut_off) as cc:
                t0 = time.monotonic()
                seen: list[tuple[float, dict[str, Any]]] = []
                with cc.stream("GET", f"/api/v1/jobs/{job['id']}/events", headers=H, timeout=120) as r:
                    assert r.status_code == 200
                    for line in r.iter_lines():
                        if line.startswith("data: "):
                            seen.append((time.monotonic() - t0, json.loads(line[6:])))
                assert seen, "no event"
                assert seen[0][0] < 5.0, seen[0]  # the snapshot at once, not after a 10 s wait
                assert seen[-1][1]["state"] == "succeeded", seen  # followed to its end, not torn
                ws = websocket.create_connection(
                    f"ws://127.0.0.1:{cut_off.port}/api/v1/jobs/{job['id']}/ws", header=H, timeout=10
                )
                try:
                    assert json.loads(ws.recv())["state"] == "succeeded"  # a finished job's state, then closed
                finally:
                    ws.close()
        finally:
            cut_off.stop()
        log = cut_off.log.read_text(errors="replace")
    assert "Exception in ASGI application" not in log, log[-3000:]
    assert "reads the job store instead" in log, log[-3000:]


@pytest.mark.needs_postgres
@pytest.mark.needs_redis
@pytest.mark.needs_s3
def test_cluster_survives_kill9_of_an_api_replica(cluster: Cluster, rng: np.random.Generator, tmp_path: Path) -> None:
    import websocket

    a, b = cluster.apis
    long_path = tmp_path / "long.wav"
    write_long_wav(long_path, 8000, 600.0, rng)
    with _client(a) as ca:
        job = submit(ca, upload(ca, long_path.read_bytes()), steps=[{"name": "denoise"}, {"name": "loudness"}])
        queued = [submit(ca, upload(ca, wav_bytes(make_white(rng, 8000, -30.0), 8000)), steps=[]) for _ in range(3)]
    ws = websocket.create_connection(f"ws://127.0.0.1:{a.port}/api/v1/jobs/{job['id']}/ws", header=H, timeout=30)
    try:
        assert json.loads(ws.recv())["state"] in ("queued", "in_progress")
        a.kill9()  # the replica the client talks to vanishes mid-job
        with pytest.raises((websocket.WebSocketConnectionClosedException, ConnectionError, OSError)):  # noqa: PT012
            while True:  # the updates already sent, then the dropped connection
                ws.recv()
    finally:
        ws.close()
    # the client reconnects to the other replica and sees the job through to its end
    ws = websocket.create_connection(f"ws://127.0.0.1:{b.port}/api/v1/jobs/{job['id']}/ws", header=H, timeout=120)
    try:
        while (state := json.loads(ws.recv())["state"]) not in ("succeeded", "failed"):
            pass
        assert state == "succeeded"
    finally:
        ws.close()
    with _client(b) as cb:
        for other in queued:  # no job lost: every job A accepted finishes
            assert wait_state(cb, other["id"], {"succeeded", "failed"})["state"] == "succeeded"
        assert cb.get(f"/api/v1/jobs/{job['id']}", headers=H).json()["attempts"] == 1  # workers never noticed
    again = HushProcess(a.data_dir, workers=1, port=a.port)
    again.env = a.env  # the same settings, on the same port
    cluster.apis[0] = again.start()


def test_cluster_worker_sweeps_what_its_killed_runs_left(cluster: Cluster, tmp_path: Path) -> None:
    """A worker's runs write their work folders on the worker's machine, where no API server's
    janitor looks: ``hush worker`` sweeps them itself (older than the job timeout), as it starts."""
    data = tmp_path / "worker-data"
    old = time.time() - 3600 * 24
    killed = data / "tmp" / "tmpkilled"
    killed.mkdir(parents=True)
    (killed / "stage0.wav").write_bytes(b"half")
    for p in (killed / "stage0.wav", killed):
        os.utime(p, (old, old))
    fresh = data / "tmp" / "tmplive"
    fresh.mkdir()
    w = WorkerProcess(data, {**cluster.env, "HUSH_DATA_DIR": str(data)}, name="sweeper")
    try:
        w.start()
        deadline = time.monotonic() + 10
        while killed.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not killed.exists()
        assert fresh.is_dir()  # may be a live run's
    finally:
        w.stop()


@pytest.mark.needs_redis
def test_redis_event_bus_reaches_other_processes(redis_url: str) -> None:
    import asyncio

    from app.events import ALL_JOBS, RedisEventBus
    from app.jobs.models import InputRef, Job, JobEvent, JobSpec

    server_bus = RedisEventBus(redis_url, JobEvent.model_validate_json)
    worker_bus = RedisEventBus(redis_url, JobEvent.model_validate_json)  # another process, in effect
    job = Job(id="j1", dialect="native", spec=JobSpec(input=InputRef(blob_key="uploads/x")))

    async def scenario() -> tuple[JobEvent, JobEvent, JobEvent]:
        async with server_bus.subscribe("j1") as mine, server_bus.subscribe(ALL_JOBS) as everything:
            worker_bus.publish(JobEvent(job_id="other", job=job.model_copy(update={"id": "other"})))
            worker_bus.publish(JobEvent(job_id="j1", job=job))
            got = await asyncio.wait_for(mine.get(), 5)  # only its own job's event
            first, second = await asyncio.wait_for(everything.get(), 5), await asyncio.wait_for(everything.get(), 5)
            return got, first, second

    got, first, second = asyncio.run(scenario())
    assert got.job_id == "j1"
    assert got.job is not None
    assert got.job.id == "j1"
    assert [first.job_id, second.job_id] == ["other", "j1"]
    server_bus.close()
    worker_bus.close()


@pytest.mark.needs_redis
def test_redis_event_bus_keeps_to_its_database(redis_url: str) -> None:
    """Pub/sub ignores the database number; two deployments on two databases of one Redis must
    not hear each other's events (a server sent another deployment's webhooks)."""
    import asyncio

    from app.events import ALL_JOBS, RedisEventBus
    from app.jobs.models import InputRef, Job, JobEvent, JobSpec

    base, db = redis_url.rsplit("/", 1)
    other_db = f"{base}/{(int(db) + 1) % 16}"  # the next database: another deployment
    mine = RedisEventBus(redis_url, JobEvent.model_validate_json)
    theirs = RedisEventBus(other_db, JobEvent.model_validate_json)
    job = Job(id="j1", dialect="native", spec=JobSpec(input=InputRef(blob_key="uploads/x")))

    async def scenario() -> list[str]:
        async with mine.subscribe(ALL_JOBS) as heard:
            theirs.publish(JobEvent(job_id="theirs", job=job.model_copy(update={"id": "theirs"})))
            mine.publish(JobEvent(job_id="mine", job=job.model_copy(update={"id": "mine"})))
            got = [(await asyncio.wait_for(heard.get(), 5)).job_id]
            with contextlib.suppress(TimeoutError):  # and nothing more within a second
                got.append((await asyncio.wait_for(heard.get(), 1)).job_id)
            return got

    assert asyncio.run(scenario()) == ["mine"]
    mine.close()
    theirs.close()


def test_celery_priorities_map_onto_redis_steps(tmp_path: Path) -> None:
    from app.errors import EngineUnavailableError
    from app.jobs.backends import build_queue
    from app.jobs.celery_queue import redis_priority
    from app.settings import Settings

    assert [redis_priority(p) for p in (0, 5, 9)] == [9, 4, 0]  # Redis runs step 0 first
    with pytest.raises(EngineUnavailableError, match="HUSH_EVENT_BUS=redis"):
        build_queue(Settings(data_dir=tmp_path, job_queue="celery"), None, None)  # type: ignore[arg-type]


def test_redis_event_bus_publish_is_best_effort(caplog: pytest.LogCaptureFixture) -> None:
    # a 6 s Redis outage failed every running job: its progress event raised into the job
    from app.events import RedisEventBus
    from app.jobs.models import InputRef, Job, JobEvent, JobSpec

    bus = RedisEventBus("redis://127.0.0.1:9/0", JobEvent.model_validate_json)  # nothing listens there
    job = Job(id="j1", dialect="native", spec=JobSpec(input=InputRef(blob_key="uploads/x")))
    with caplog.at_level(logging.WARNING, logger="hush.events"):
        bus.publish(JobEvent(job_id="j1", job=job))
        bus.publish(JobEvent(job_id="j1", job=job))
    warned = [r for r in caplog.records if "could not publish a job event" in r.getMessage()]
    assert len(warned) == 1  # said once, not at every progress step
