"""The cluster backends under a real ``hush serve``: S3 downloads, Celery workers, Redis events."""

from __future__ import annotations

import io
from pathlib import Path

import httpx
import numpy as np
import pytest

from tests._hush import HushProcess
from tests._services import S3Server
from tests.app.test_server import KEY, H, submit, upload, wait_state, wav_bytes
from tests.signals import make_white


@pytest.mark.needs_s3
def test_result_download_redirects_to_a_presigned_s3_link(
    tmp_path: Path, s3_server: S3Server, rng: np.random.Generator
) -> None:
    env = {"blob_store": "s3", "s3_presign_downloads": "true", **s3_server.settings("hush-presign")}
    with HushProcess(tmp_path, workers=1, api_keys=KEY, **env) as proc, httpx.Client(base_url=proc.url) as c:
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
