"""Mock mode as a developer runs it for a long test session, against a real ``hush serve --mock``:
its limits answer as the real server's do, it holds no upload whole in memory, its reset and its
jobs stay apart from a real server's in the same ``HUSH_DATA_DIR``, a restart keeps each job's
scenario, every answer says it came from a mock, and the journal says what it dropped."""

from __future__ import annotations

import base64
import hashlib
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests._hush import HushProcess, free_port
from tests.app._http_fixtures import Reply, serve_http
from tests.dialects._mock import MockHush, start, wav_bytes

WAV = wav_bytes(seconds=1.0)


class MockAt(MockHush):
    """``hush serve --mock`` with ``HUSH_DATA_DIR`` set, as a developer with it exported runs it."""

    def __init__(self, data_dir: Path, **env: Any) -> None:
        HushProcess.__init__(self, data_dir, **env)


def _upload(client: httpx.Client, body: bytes, key: str = "k") -> httpx.Response:
    return client.post("/v1/upload", headers={"x-api-key": key}, files={"file": ("in.wav", body, "audio/wav")})


def test_a_body_over_the_limit_is_refused_413_in_the_dialects_format(tmp_path: Path) -> None:
    big = wav_bytes(seconds=40.0)  # 1.28 MB, over a 1 MiB limit
    server = start(tmp_path, max_input_mb=1, max_json_mb=1)
    try:
        with httpx.Client(base_url=server.url, timeout=30) as c:
            r = _upload(c, big)
            assert r.status_code == 413, r.text
            assert "HUSH_MAX_INPUT_MB" in r.text
            body = {"content": base64.b64encode(big).decode(), "sampleRate": 16000, "encoding": "LINEAR16"}
            r = c.post("/audio/generic/api/v1/sync/denoise", params={"apikey": "k"}, json=body)
            assert r.status_code == 413, r.text
            assert r.json()["code"] == 413
            # the server is still up and a small upload passes
            assert _upload(c, WAV).status_code == 200
    finally:
        server.stop()


def test_an_upload_is_not_held_whole_in_memory(tmp_path: Path) -> None:
    """A 300 MiB upload: the mock's resident memory grows by far less than the body (it was read
    whole to look for a scenario marker, 3.5 times the body at its peak)."""
    import struct

    n = 300 * 1024 * 1024
    path = tmp_path / "big.wav"
    with path.open("wb") as f:
        f.write(
            b"RIFF" + struct.pack("<I", 36 + n) + b"WAVEfmt " + struct.pack("<IHHIIHH", 16, 1, 2, 48000, 192000, 4, 16)
        )
        f.write(b"data" + struct.pack("<I", n))
        f.truncate(44 + n)
    server = start(tmp_path)
    try:
        assert server.proc is not None
        pid = server.proc.pid
        sampler = subprocess.Popen(  # peak resident memory of the server, sampled while it reads
            [sys.executable, "-c", _RSS_SAMPLER, str(pid), str(tmp_path / "rss.txt")], start_new_session=True
        )
        try:
            time.sleep(0.3)
            with httpx.Client(base_url=server.url, timeout=120) as c, path.open("rb") as body:
                r = c.post("/v1/upload", headers={"x-api-key": "k"}, files={"file": ("big.wav", body, "audio/wav")})
            assert r.status_code == 200, r.text
        finally:
            sampler.terminate()
            sampler.wait(10)
        peaks = [int(v) for v in (tmp_path / "rss.txt").read_text().split()]
        assert len(peaks) >= 2
        grew_mib = (max(peaks) - peaks[0]) / 1024
        assert grew_mib < 100, f"the mock's memory grew by {grew_mib:.0f} MiB for a 300 MiB upload"
    finally:
        server.stop()


_RSS_SAMPLER = """
import sys, time
pid, out = sys.argv[1], sys.argv[2]
with open(out, "w") as f:
    while True:
        try:
            rss = [l for l in open(f"/proc/{pid}/status") if l.startswith("VmRSS:")][0].split()[1]
        except OSError:
            break
        f.write(rss + "\\n"); f.flush(); time.sleep(0.05)
"""


def _real(data: Path) -> HushProcess:
    return HushProcess(data, port=free_port()).start()


def _until_final(c: httpx.Client, job_id: str) -> str:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        state = c.get(f"/api/v1/jobs/{job_id}").json()["state"]
        if state in ("succeeded", "failed"):
            return str(state)
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not end")


def test_reset_and_jobs_stay_apart_from_a_real_servers_in_the_same_data_dir(tmp_path: Path) -> None:
    steps = [{"name": "denoise"}]
    real = _real(tmp_path)
    try:
        with httpx.Client(base_url=real.url, timeout=30) as c:
            fid = c.post("/api/v1/files", files={"file": ("n.wav", WAV)}).json()["file_id"]
            job = c.post("/api/v1/jobs", json={"input": {"file_id": fid}, "steps": steps}).json()["id"]
            assert _until_final(c, job) == "succeeded"
    finally:
        real.stop()
    mock = MockAt(tmp_path, mock_seed=7).start()
    try:
        assert "a real server's jobs" in mock.log.read_text()
        with httpx.Client(base_url=mock.url, timeout=30) as c:
            assert c.get(f"/api/v1/jobs/{job}").status_code == 404  # not the mock's job
            assert _upload(c, WAV).status_code == 200
            assert c.post("/_mock/reset").json() == {"status": "reset"}
    finally:
        mock.stop()
    assert (tmp_path / "mock" / "jobs.sqlite3").is_file()
    real = _real(tmp_path)
    try:
        with httpx.Client(base_url=real.url, timeout=30) as c:
            assert c.get(f"/api/v1/jobs/{job}").json()["state"] == "succeeded"  # kept through the reset
            assert c.get(f"/api/v1/jobs/{job}/result").status_code == 200
            again = c.post("/api/v1/jobs", json={"input": {"file_id": fid}, "steps": steps})
            assert again.status_code == 202, again.text  # the upload too
    finally:
        real.stop()


def test_a_restart_keeps_each_jobs_scenario(tmp_path: Path) -> None:
    with serve_http({"/in.wav": Reply(body=WAV)}) as origin:
        link = origin.url("/in.wav")
        mock = MockAt(tmp_path, mock_hold_s=0.2).start()
        try:
            with httpx.Client(base_url=mock.url, timeout=30) as c:
                fid = _upload(c, WAV).json()["fileId"]
                r = c.post(
                    "/v1/remove-noise",
                    headers={"x-api-key": "mock-failed", "Prefer": "latency=1500"},
                    json={"input": fid},
                )
                audo_job = r.json()["jobId"]
                r = c.post(
                    "/audio/api/v1/api-keys/enhance/task/create",
                    headers={"api-key": "mock-101008"},
                    json={"inputurl": link, "enhance_type": {"remove_noise": True}},
                )
                ac_job = r.json()["data"]["job_id"]
        finally:
            mock.stop()
        mock = MockAt(tmp_path, mock_hold_s=0.2, port=mock.port).start()
        try:
            with httpx.Client(base_url=mock.url, timeout=30) as c:
                deadline = time.monotonic() + 20
                state = ""
                while time.monotonic() < deadline:
                    state = c.get(f"/v1/remove-noise/{audo_job}/status").json()["state"]
                    if state in ("failed", "succeeded"):
                        break
                    time.sleep(0.1)
                assert state == "failed"
                r = c.post("/audio/api/v1/api-keys/enhance/task/get", headers={"api-key": "k"}, json={"job_id": ac_job})
                assert r.json()["code"] == 101008, r.text
                assert r.status_code == 404
        finally:
            mock.stop()


def test_every_answer_and_a_passed_through_result_say_they_come_from_a_mock(tmp_path: Path) -> None:
    with serve_http({"/in.wav": Reply(body=WAV)}) as origin:
        server = start(tmp_path)
        try:
            with httpx.Client(base_url=server.url, timeout=30) as c:
                body = {
                    "file_link": origin.url("/in.wav"),
                    "file_ext": "wav",
                    "file_info": {
                        "file_size": len(WAV),
                        "file_md5": hashlib.md5(WAV).hexdigest(),
                        "file_time": 1,
                        "file_ext": "wav",
                    },
                    "priority": 1,
                }
                auth = ("app", "secret")
                task = c.post("/v3/pic/ecr/batch", json=body, auth=auth).json()["data"]["task_id"]
                r = c.get(f"/v3/pic/ecr/result/{task}", auth=auth)
                data = r.json()["data"]
                assert r.headers["x-hush-mode"] == "mock"
                assert data["status"] == "3"
                assert "mock mode passed the input through unprocessed (declick skipped" in data["reason"]
                d = c.get(data["voice_result"])
                assert d.status_code == 200
                assert d.headers["x-hush-mode"] == "mock"
                r = c.post(
                    "/audio/generic/api/v1/sync/denoise",
                    params={"apikey": "k"},
                    json={"content": base64.b64encode(WAV).decode(), "sampleRate": 16000, "encoding": "LINEAR16"},
                )
                assert r.status_code == 200
                assert r.headers["x-hush-mode"] == "mock"
        finally:
            server.stop()


def test_the_journal_is_bounded_and_says_how_many_it_dropped(tmp_path: Path) -> None:
    from app.api.mock import MockJournal

    j = MockJournal(limit=5, body_budget=1000)
    for i in range(8):
        j.add({"body": "x" * 10, "n": i})
    assert [e["n"] for e in j.entries()] == [3, 4, 5, 6, 7]
    assert j.dropped == 3
    assert [e["seq"] for e in j.entries()] == [4, 5, 6, 7, 8]
    j.add({"body": "y" * 995, "n": 8})  # over the body budget: the oldest go first
    assert [e["n"] for e in j.entries()] == [8]
    assert j.dropped == 8
    j.clear()
    assert j.entries() == []
    assert j.dropped == 0

    server = start(tmp_path)
    try:
        with httpx.Client(base_url=server.url, timeout=30) as c:
            c.post("/_mock/reset")
            c.get("/readyz")
            r = c.get("/_mock/requests")
            assert r.status_code == 200
            assert r.headers["x-hush-journal-dropped"] == "0"
            assert [e["path"] for e in r.json()] == ["/readyz"]
    finally:
        server.stop()


@pytest.mark.parametrize("host", ["[::1]", "::1"])
def test_mock_serves_on_a_bracketed_ipv6_loopback(tmp_path: Path, host: str) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "--mock", "--host", host, "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**_env(tmp_path)},
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        ok = False
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                ok = httpx.get(f"http://[::1]:{port}/readyz", timeout=1).status_code == 200
            except httpx.HTTPError:
                ok = False
            if ok:
                break
            time.sleep(0.2)
        assert ok, proc.stdout.read().decode() if proc.poll() is not None and proc.stdout else "not ready"
    finally:
        proc.terminate()
        out = proc.communicate(timeout=15)[0].decode()
    assert "[[" not in out


def test_mock_refuses_the_cluster_backend(tmp_path: Path) -> None:
    r = subprocess.run(
        [sys.executable, "-m", "app.cli", "serve", "--mock", "--port", str(free_port())],
        capture_output=True,
        text=True,
        env={**_env(tmp_path), "HUSH_BACKEND": "cluster"},
        timeout=60,
    )
    assert r.returncode == 2
    assert "mock mode runs embedded" in r.stderr


def _env(tmp_path: Path) -> dict[str, str]:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("HUSH_")}
    env["HUSH_DATA_DIR"] = str(tmp_path / "data")
    return env
