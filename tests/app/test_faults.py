"""Fault tests on a real ``hush serve``: a worker killed or hung mid-job, an input that fails to
download and then works. Only the job that met the fault is touched; the server keeps serving."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from tests._hush import HushProcess, free_port
from tests.app._http_fixtures import Reply, replies_in_order, serve_http
from tests.app.test_server import KEY, H, submit, upload, wait_state, wav_bytes, write_long_wav
from tests.signals import make_white


def _workers(server_pid: int) -> list[int]:
    """PIDs of the server's worker processes (children running the spawn entry point)."""
    found = []
    for task in Path(f"/proc/{server_pid}/task").iterdir():
        for pid in (task / "children").read_text().split():
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            if b"spawn_main" in cmdline:
                found.append(int(pid))
    return found


def _wait_workers(server_pid: int, n: int) -> list[int]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        pids = _workers(server_pid)
        if len(pids) >= n:
            return pids
        time.sleep(0.1)
    raise AssertionError(f"expected {n} workers, found {_workers(server_pid)}")


@pytest.mark.slow
def test_worker_killed_mid_job_reruns_only_that_job(tmp_path: Path, rng: np.random.Generator) -> None:
    long_path = tmp_path / "long.wav"
    write_long_wav(long_path, 16000, 180.0, rng)
    with HushProcess(tmp_path / "data", workers=2, api_keys=KEY, block_seconds="0.5", retry_backoff_s="2") as proc:
        assert proc.proc is not None
        with httpx.Client(base_url=proc.url, timeout=30) as c:
            file_id = upload(c, long_path.read_bytes())
            jobs = [submit(c, file_id, steps=[{"name": "denoise"}]) for _ in range(2)]
            for job in jobs:
                wait_state(c, job["id"], {"in_progress"})
            victim = _wait_workers(proc.proc.pid, 2)[0]
            os.kill(victim, signal.SIGKILL)
            killed = time.monotonic()
            # the crashed job runs again after the retry pause, not at once (a file that crashes its
            # worker took every worker down within 130 ms, its re-runs 10 ms apart)
            requeued = None
            while requeued is None and time.monotonic() - killed < 60:
                for j in jobs:
                    now = c.get(f"/api/v1/jobs/{j['id']}", headers=H).json()
                    if now["state"] == "queued" or now["attempts"] == 2:
                        requeued = time.monotonic() - killed
                time.sleep(0.02)
            assert requeued is not None
            assert requeued >= 1.8, requeued
            done = [wait_state(c, j["id"], {"succeeded", "failed"}, timeout_s=180) for j in jobs]
            assert [d["state"] for d in done] == ["succeeded", "succeeded"], done
            assert sorted(d["attempts"] for d in done) == [1, 2]  # the other job never noticed
            assert victim not in _wait_workers(proc.proc.pid, 2)  # replaced: the pool is whole again


@pytest.mark.slow
def test_hung_worker_is_killed_at_the_timeout_and_the_job_times_out(tmp_path: Path, rng: np.random.Generator) -> None:
    long_path = tmp_path / "long.wav"
    write_long_wav(long_path, 16000, 120.0, rng)
    with HushProcess(tmp_path / "data", workers=1, api_keys=KEY, job_timeout_s=2) as proc:
        assert proc.proc is not None
        with httpx.Client(base_url=proc.url, timeout=30) as c:
            worker = _wait_workers(proc.proc.pid, 1)[0]
            job = submit(c, upload(c, long_path.read_bytes()), steps=[{"name": "denoise"}])
            wait_state(c, job["id"], {"in_progress"})
            os.kill(worker, signal.SIGSTOP)  # hung: it never reaches another progress check
            t0 = time.monotonic()
            done = wait_state(c, job["id"], {"timed_out", "failed", "succeeded"}, timeout_s=30)
            assert done["state"] == "timed_out", done
            assert "was stopped" in done["error"]["reason"]
            assert time.monotonic() - t0 < 2 + 5 + 5  # timeout + grace + the supervisor's tick, with room
            # the pool has a fresh worker and the next job runs
            short = submit(c, upload(c, wav_bytes(make_white(rng, 8000, -30.0), 8000)), steps=[])
            assert wait_state(c, short["id"], {"succeeded", "failed"})["state"] == "succeeded"


def test_input_that_fails_twice_then_downloads_completes(tmp_path: Path, rng: np.random.Generator) -> None:
    audio = wav_bytes(make_white(rng, 8000, -30.0), 8000)
    routes = {"/in.wav": replies_in_order(Reply(status=503), Reply(status=502), Reply(body=audio))}
    with (
        serve_http(routes) as origin,
        # the pauses between attempts (1 s, then 2 s, by default) shortened: the retries are what counts
        HushProcess(tmp_path, api_keys=KEY, url_allowlist="127.0.0.1", retry_backoff_s="0.05") as proc,
        httpx.Client(base_url=proc.url, timeout=30) as c,
    ):
        r = c.post("/api/v1/jobs", json={"input": {"url": origin.url("/in.wav")}, "steps": []}, headers=H)
        assert r.status_code == 202, r.text
        done = wait_state(c, r.json()["id"], {"succeeded", "failed"}, timeout_s=60)
    assert done["state"] == "succeeded", done
    assert done["attempts"] == 3
    assert len(origin.requests) == 3


def test_input_that_keeps_failing_ends_with_the_fetch_code_after_its_attempts(tmp_path: Path) -> None:
    # the job used to end with error code "retryable": a terminal state telling clients that
    # branch on the code to try again
    routes = {"/in.wav": Reply(status=503)}
    with (
        serve_http(routes) as origin,
        HushProcess(tmp_path, api_keys=KEY, url_allowlist="127.0.0.1", retry_backoff_s="0.05") as proc,
        httpx.Client(base_url=proc.url, timeout=30) as c,
    ):
        r = c.post("/api/v1/jobs", json={"input": {"url": origin.url("/in.wav")}, "steps": []}, headers=H)
        done = wait_state(c, r.json()["id"], {"succeeded", "failed"}, timeout_s=60)
    assert done["state"] == "failed"
    assert done["error"]["code"] == "fetch.failed"
    assert "503" in done["error"]["reason"]
    assert "the last of 3 attempts" in done["error"]["reason"]
    assert len(origin.requests) == 3


def test_input_that_answers_404_fails_at_once(tmp_path: Path) -> None:
    with (
        serve_http({}) as origin,
        HushProcess(tmp_path, api_keys=KEY, url_allowlist="127.0.0.1") as proc,
        httpx.Client(base_url=proc.url, timeout=30) as c,
    ):
        r = c.post("/api/v1/jobs", json={"input": {"url": origin.url("/gone.wav")}, "steps": []}, headers=H)
        done = wait_state(c, r.json()["id"], {"succeeded", "failed"}, timeout_s=30)
    assert done["state"] == "failed"
    assert done["attempts"] == 1  # a 404 will not change by asking again
    assert "404" in done["error"]["reason"]


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs: a real full disk, as the server's data directory."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)], capture_output=True, text=True, check=False
    )
    if made.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({made.stderr.strip()}); needs root")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_full_disk_gives_a_clear_507_and_the_server_keeps_serving(tiny_disk: Path, rng: np.random.Generator) -> None:
    audio = wav_bytes(make_white(rng, 8000 * 40, -30.0), 8000)  # 640 KB of valid audio
    with HushProcess(tiny_disk, api_keys=KEY) as proc, httpx.Client(base_url=proc.url, timeout=30) as c:
        statuses = []
        for _ in range(8):
            r = c.post("/api/v1/files", files={"file": ("in.wav", audio)}, headers=H)
            statuses.append(r.status_code)
            if r.status_code != 201:
                break
        assert statuses[0] == 201
        assert statuses[-1] == 507, statuses
        assert r.json()["code"] == "storage.full"
        assert "disk is full" in r.json()["title"]
        assert c.get("/healthz").status_code == 200
        assert not list((tiny_disk / "blobs").rglob("*.part"))  # nothing half-written is kept


def test_unexpected_error_answers_500_and_keeps_the_connection(tmp_path: Path) -> None:
    import socket
    import threading

    import uvicorn

    from app.main import create_app
    from app.settings import Settings

    app = create_app(Settings(data_dir=tmp_path), workers=False)

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("a bug")

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="critical"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            replies = []
            for path in ("/boom", "/healthz"):  # two requests on one keep-alive connection
                sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
                replies.append(_read_response(sock))
        assert replies[0][0] == 500
        assert b"error id" in replies[0][1]
        assert replies[1][0] == 200  # the connection survived the 500
    finally:
        server.should_exit = True
        thread.join(10)


def _read_response(sock: Any) -> tuple[int, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        assert chunk, "the server closed the connection"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")
    )
    while len(body) < length:
        chunk = sock.recv(4096)
        assert chunk, "the server closed the connection"
        body += chunk
    return int(head.split()[1]), body


def test_under_a_mebibyte_free_every_upload_is_507_with_an_error_id_in_each_envelope(
    tiny_disk: Path, rng: np.random.Generator
) -> None:
    """/readyz said unavailable under 1 MiB free, but an upload that still fitted was taken (201)
    and its job failed; the Audo, Wondershare and AudioCleaner bodies of a 507 carried no error id
    to quote, and the log had two lines for it."""
    audio = wav_bytes(make_white(rng, 8000 * 5, -30.0), 8000)  # 80 KB
    with HushProcess(tiny_disk, api_keys=f"{KEY},app:sec") as proc, httpx.Client(base_url=proc.url, timeout=30) as c:
        free = shutil.disk_usage(tiny_disk).free
        (tiny_disk / "filler").write_bytes(bytes(free - (512 << 10)))
        assert c.get("/readyz").status_code == 503
        r = c.post("/api/v1/files", files={"file": ("in.wav", audio)}, headers=H)
        assert r.status_code == 507, r.text
        assert r.json()["code"] == "storage.full"
        r = c.post("/v1/upload", files={"file": ("in.wav", audio)}, headers={"x-api-key": KEY})
        assert r.status_code == 507, r.text
        eid = re.search(r"error id ([0-9a-f]{12})", r.json()["detail"])
        assert eid is not None, r.json()
        (tiny_disk / "filler").unlink()
        assert c.get("/readyz").status_code == 200
    log = proc.log.read_text()
    assert log.count(eid.group(1)) == 1  # one line, with the id the client got
