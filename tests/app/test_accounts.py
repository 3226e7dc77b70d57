"""Per-key accounts: ``hush keys``, credits charged once per succeeded job, limits, states."""

from __future__ import annotations

import base64
import io
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import soundfile as sf

from app.auth import new_key
from app.jobs.models import InputRef, Job, JobSpec
from app.jobs.store import SqliteJobStore
from app.settings import Settings
from tests._hush import HushProcess
from tests.app._http_fixtures import Reply, serve_http
from tests.signals import make_white

CREATE = "/audio/api/v1/api-keys/enhance/task/create"
GET = "/audio/api/v1/api-keys/enhance/task/get"


def _wav(seconds: float, sr: int = 8000) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, make_white(np.random.default_rng(1), int(seconds * sr), -30.0), sr, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def add_key(data_dir: Path, **fields: Any) -> tuple[str, str]:
    """A key in ``data_dir``'s job database, as ``hush keys add`` makes it: ``(key, id)``."""
    key, key_hash, owner = new_key()
    store = SqliteJobStore(data_dir / "jobs.sqlite3")
    try:
        store.add_key(key_hash, owner, **{"state": "active", **fields})
    finally:
        store.close()
    return key, owner


def ledger(data_dir: Path, owner: str) -> list[tuple[str, int, str | None]]:
    with sqlite3.connect(f"file:{data_dir / 'jobs.sqlite3'}?mode=ro", uri=True) as db:
        rows = db.execute("SELECT kind, minutes, job_id FROM credit_ledger WHERE owner=? ORDER BY id", (owner,))
        return [(str(k), int(m), j) for k, m, j in rows]


def balance(data_dir: Path, owner: str) -> int | None:
    with sqlite3.connect(f"file:{data_dir / 'jobs.sqlite3'}?mode=ro", uri=True) as db:
        (credits,) = db.execute("SELECT credits_minutes FROM api_keys WHERE owner=?", (owner,)).fetchone()
    return None if credits is None else int(credits)


def wait_native(c: httpx.Client, key: str, job_id: str, timeout_s: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        job = c.get(f"/api/v1/jobs/{job_id}", headers={"x-api-key": key}).json()
        if job["state"] in ("succeeded", "failed", "cancelled", "timed_out"):
            return dict(job)
        time.sleep(0.05)
    raise AssertionError("job did not finish")


def run_upload_job(c: httpx.Client, key: str, data: bytes) -> httpx.Response:
    h = {"x-api-key": key}
    up = c.post("/api/v1/files", files={"file": ("in.wav", data)}, headers=h)
    assert up.status_code == 201, up.text
    return c.post("/api/v1/jobs", json={"input": {"file_id": up.json()["file_id"]}, "steps": []}, headers=h)


def hush_keys(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HUSH_DATA_DIR": str(data_dir)}
    return subprocess.run(
        [sys.executable, "-m", "app.cli", "keys", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def test_hush_keys_cli_round_trip(tmp_path: Path) -> None:
    made = hush_keys(tmp_path, "add", "--label", "alice", "--credits", "5", "--concurrency", "2")
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip()
    assert key.startswith("hush_")
    assert len(key) > 30
    assert "not shown again" in made.stderr
    # it says which database it used (HUSH_DATA_DIR is relative to where it runs)
    assert f"keys in {(tmp_path / 'jobs.sqlite3').resolve()}" in made.stderr
    listed = hush_keys(tmp_path, "list")
    assert key not in listed.stdout  # stored hashed, never shown again
    assert "alice\tactive\t5\t-\t2" in listed.stdout
    assert (tmp_path / "jobs.sqlite3").read_bytes().find(key.encode()) == -1
    assert hush_keys(tmp_path, "credit", "alice", "3", "--note", "top-up").stdout.strip().endswith("8 credit minute(s)")
    assert hush_keys(tmp_path, "disable", "alice").returncode == 0
    assert "alice\tdisabled" in hush_keys(tmp_path, "list").stdout
    assert hush_keys(tmp_path, "enable", "alice").returncode == 0
    assert "alice\tactive" in hush_keys(tmp_path, "list").stdout
    assert hush_keys(tmp_path, "add", "--credits", "lots").returncode == 2
    twice = hush_keys(tmp_path, "add", "--label", "alice")  # a label finds one key: not given twice
    assert twice.returncode == 2
    assert "already key" in twice.stderr
    assert listed.stdout.count("\talice\t") == hush_keys(tmp_path, "list").stdout.count("\talice\t") == 1
    missing = hush_keys(tmp_path, "credit", "bob", "3")
    assert missing.returncode == 2
    assert "no key" in missing.stderr
    # taking more than is left takes what is left: the balance never goes below zero
    taken = hush_keys(tmp_path, "credit", "alice", "-100")
    assert taken.stdout.strip().endswith(": 0 credit minute(s)"), taken
    assert "taking 8, not 100" in taken.stderr
    # an unlimited key given a number gets a balance, says so, and `unlimited` gives it back
    assert hush_keys(tmp_path, "credit", "alice", "unlimited").stdout.strip().endswith("unlimited credit minutes")
    assert "alice\tactive\tunlimited" in hush_keys(tmp_path, "list").stdout
    limited = hush_keys(tmp_path, "credit", "alice", "10")
    assert "had unlimited credits" in limited.stderr
    assert limited.stdout.strip().endswith(": 10 credit minute(s)")
    assert hush_keys(tmp_path, "credit", "alice", "ten").returncode == 2
    huge = hush_keys(tmp_path, "credit", "alice", "9" * 30)  # was a raw OverflowError
    assert huge.returncode == 2
    assert "within 1000000000" in huge.stderr
    tab = hush_keys(tmp_path, "add", "--label", "a\tb")  # a tab broke list's columns
    assert tab.returncode == 2
    assert "control characters" in tab.stderr
    # a label may not be another key's id (that key would no longer be found by its id)
    owner = hush_keys(tmp_path, "list").stdout.splitlines()[1].split("\t")[0]
    clash = hush_keys(tmp_path, "add", "--label", owner)
    assert clash.returncode == 2
    assert "already key" in clash.stderr
    assert hush_keys(tmp_path, "remove", "alice").returncode == 0
    assert "alice" not in hush_keys(tmp_path, "list").stdout


def test_credits_are_charged_once_per_succeeded_job_in_started_minutes(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    key, owner = add_key(data, credits_minutes=20)
    with HushProcess(data, workers=1) as proc, httpx.Client(base_url=proc.url, timeout=60) as c:
        for seconds in (30, 61, 119, 121):  # 1 + 2 + 2 + 3 minutes
            r = run_upload_job(c, key, _wav(seconds))
            assert r.status_code == 202, r.text
            assert wait_native(c, key, r.json()["id"])["state"] == "succeeded"
    charges = [m for kind, m, _ in ledger(data, owner) if kind == "charge"]
    assert charges == [-1, -2, -2, -3]
    assert balance(data, owner) == 20 - 8


def test_audiocleaner_answers_account_states_with_its_codes(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    audio = _wav(65.0)
    spent, spent_id = add_key(data, credits_minutes=2)
    disabled, _ = add_key(data, state="disabled")
    inactive, _ = add_key(data, state="inactive")
    single, _ = add_key(data, max_concurrent=1)
    slow, _ = add_key(data, rpm=1)
    body = lambda url: {"inputurl": url, "enhance_type": {"remove_noise": True}}  # noqa: E731
    with (
        serve_http({"/in.wav": Reply(body=audio), "/bad.wav": Reply(body=b"not audio at all" * 20)}) as origin,
        HushProcess(data, workers=1, url_allowlist="127.0.0.1") as proc,
        httpx.Client(base_url=proc.url, timeout=60) as c,
    ):

        def post(path: str, key: str, payload: dict[str, Any]) -> httpx.Response:
            return c.post(path, json=payload, headers={"api-key": key})

        # a failed task charges nothing
        bad = post(CREATE, spent, body(origin.url("/bad.wav"))).json()["data"]["job_id"]
        # a 65 s task is charged 2 minutes on success, which spends the key
        good = post(CREATE, spent, body(origin.url("/in.wav"))).json()["data"]["job_id"]
        for job_id, status in ((bad, "failed"), (good, "success")):
            deadline = time.monotonic() + 60
            while (got := post(GET, spent, {"job_id": job_id}).json()["data"])["status"] == "waiting":
                assert time.monotonic() < deadline
                time.sleep(0.05)
            assert got["status"] == status
        assert got["credit_time"] == 2
        assert [(k, m) for k, m, _ in ledger(data, spent_id)] == [("grant", 2), ("charge", -2)]
        out = post(CREATE, spent, body(origin.url("/in.wav")))
        assert (out.status_code, out.json()["code"]) == (402, 100100)
        assert "credit" in out.json()["message"]
        assert post(CREATE, disabled, body(origin.url("/in.wav"))).json()["code"] == 101005
        assert post(CREATE, inactive, body(origin.url("/in.wav"))).json()["code"] == 101006
        first = post(CREATE, single, body(origin.url("/in.wav")))
        second = post(CREATE, single, body(origin.url("/in.wav")))
        assert first.json()["code"] == 100000
        assert (second.status_code, second.json()["code"]) == (429, 101004)
        assert int(second.headers["retry-after"]) >= 1
        post(GET, slow, {"job_id": "x"})
        limited = post(GET, slow, {"job_id": "x"})
        assert (limited.status_code, limited.json()["code"]) == (429, 101003)


def test_a_url_task_the_key_cannot_pay_fails_and_the_balance_never_goes_negative(tmp_path: Path) -> None:
    """A URL's length is known only once it is fetched: then a task that costs more than is left
    fails with a credit reason and charges nothing, also when two tasks race for the last minutes."""
    data = tmp_path / "data"
    data.mkdir()
    audio = _wav(65.0)  # 2 credit minutes
    one, one_id = add_key(data, credits_minutes=1)
    three, three_id = add_key(data, credits_minutes=3)
    body = lambda url: {"inputurl": url, "enhance_type": {"remove_noise": True}}  # noqa: E731
    with (
        serve_http({"/in.wav": Reply(body=audio)}) as origin,
        HushProcess(data, workers=2, url_allowlist="127.0.0.1") as proc,
        httpx.Client(base_url=proc.url, timeout=60) as c,
    ):

        def run(key: str, count: int) -> list[dict[str, Any]]:
            ids = []
            for _ in range(count):
                made = c.post(CREATE, json=body(origin.url("/in.wav")), headers={"api-key": key}).json()
                assert made["code"] == 100000, made
                ids.append(made["data"]["job_id"])
            ended = []
            for job_id in ids:
                deadline = time.monotonic() + 120
                while (got := c.post(GET, json={"job_id": job_id}, headers={"api-key": key}).json())["data"][
                    "status"
                ] == "waiting":
                    assert time.monotonic() < deadline
                    time.sleep(0.05)
                ended.append({**got["data"], "message": got["message"], "job_id": job_id})
            return ended

        (short,) = run(one, 1)  # 1 minute left, the task needs 2: accepted, then refused once measured
        assert short["status"] == "failed", short
        assert "credit" in short["reason"]
        assert "2" in short["reason"]
        assert short["message"] == short["reason"]
        assert balance(data, one_id) == 1
        assert [k for k, _, _ in ledger(data, one_id)] == ["grant"]
        # 3 minutes, two 2-minute tasks at once (two workers): one is paid, the other fails
        ends = run(three, 2)
        assert sorted(t["status"] for t in ends) == ["failed", "success"], ends
        unpaid = next(t for t in ends if t["status"] == "failed")
        assert "credit" in unpaid["reason"]
        assert not (data / "blobs" / "results" / unpaid["job_id"]).exists()  # no result kept for it
        assert balance(data, three_id) == 1
        assert [m for k, m, _ in ledger(data, three_id) if k == "charge"] == [-2]


def test_every_dialect_refuses_a_spent_key_in_its_own_style(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    key, _ = add_key(data, credits_minutes=0)
    disabled, _ = add_key(data, state="disabled")
    audio = _wav(5.0)
    with HushProcess(data, workers=1) as proc, httpx.Client(base_url=proc.url, timeout=60) as c:
        native = run_upload_job(c, key, audio)
        assert (native.status_code, native.json()["code"]) == (402, "credits.insufficient")
        file_id = c.post("/v1/upload", files={"file": ("a.wav", audio)}, headers={"x-api-key": key}).json()["fileId"]
        audo = c.post("/v1/remove-noise", json={"input": file_id}, headers={"x-api-key": key})
        assert audo.status_code == 400  # the Audo SDK raises InsufficientCredits on a 400 here
        assert "credit" in audo.json()["detail"]
        assert c.post("/v1/remove-noise", json={"input": file_id}, headers={"x-api-key": disabled}).status_code == 401

        da = c.post(
            "/audio/generic/api/v1/sync/denoise",
            params={"apikey": key},
            json={"content": base64.b64encode(audio).decode(), "sampleRate": 8000, "encoding": "wav"},
        )
        assert da.status_code == 402
        assert da.json()["code"] == 402
        basic = {"Authorization": "Basic " + base64.b64encode(f"any:{disabled}".encode()).decode()}
        ws = c.get("/v3/pic/ecr/result/x", headers=basic)
        assert (ws.status_code, ws.json()["code"]) == (403, 403)


@pytest.mark.slow
def test_a_job_killed_mid_way_and_rerun_after_restart_is_charged_once(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    key, owner = add_key(data, credits_minutes=100)
    audio = _wav(300.0, sr=16000)
    proc = HushProcess(data, workers=1, block_seconds="0.5").start()
    try:
        with httpx.Client(base_url=proc.url, timeout=30) as c:
            up = c.post("/api/v1/files", files={"file": ("a.wav", audio)}, headers={"x-api-key": key})
            job = c.post(
                "/api/v1/jobs",
                json={"input": {"file_id": up.json()["file_id"]}, "steps": [{"name": "denoise"}]},
                headers={"x-api-key": key},
            ).json()
            deadline = time.monotonic() + 60
            while c.get(f"/api/v1/jobs/{job['id']}", headers={"x-api-key": key}).json()["state"] != "in_progress":
                assert time.monotonic() < deadline
                time.sleep(0.02)
    finally:
        proc.kill9()
    with HushProcess(data, workers=1, port=proc.port) as again, httpx.Client(base_url=again.url, timeout=30) as c:
        done = wait_native(c, key, job["id"])
    assert done["state"] == "succeeded"
    assert done["attempts"] == 2
    assert [(k, m) for k, m, _ in ledger(data, owner)] == [("grant", 100), ("charge", -5)]
    assert balance(data, owner) == 95


def test_hush_keys_remove_of_a_key_with_jobs_open_asks_for_force(tmp_path: Path) -> None:
    # removed, its open jobs ran on uncharged and their results could no longer be fetched
    _, owner = add_key(tmp_path, credits_minutes=5)
    store = SqliteJobStore(tmp_path / "jobs.sqlite3")
    try:
        store.create(
            Job(id="open-1", dialect="native", owner=owner, spec=JobSpec(input=InputRef(url="http://x/a.wav")))
        )
    finally:
        store.close()
    refused = hush_keys(tmp_path, "remove", owner)
    assert refused.returncode == 2
    assert "1 job(s) waiting or running" in refused.stderr
    assert owner in hush_keys(tmp_path, "list").stdout
    assert hush_keys(tmp_path, "remove", owner, "--force").returncode == 0
    assert owner not in hush_keys(tmp_path, "list").stdout


def test_keys_in_the_database_let_the_server_listen_beyond_this_machine(tmp_path: Path) -> None:
    # the README's advice, keys kept in the job database, still left `hush serve --host 0.0.0.0`
    # refusing "without API keys" (README audit)
    from app.auth import check_bind
    from app.cli import _has_accounts
    from app.settings import Settings

    fresh = Settings(data_dir=tmp_path / "fresh")
    assert not _has_accounts(fresh)
    assert check_bind(fresh, "0.0.0.0", accounts=False) is not None
    assert "hush keys add" in (check_bind(fresh, "0.0.0.0") or "")
    assert hush_keys(tmp_path, "add", "--label", "alice").returncode == 0
    keyed = Settings(data_dir=tmp_path)
    assert _has_accounts(keyed)
    assert check_bind(keyed, "0.0.0.0", accounts=True) is None


def test_a_plain_bootstrap_key_signs_in_to_wondershare_with_any_appkey() -> None:
    """The README says HUSH_API_KEYS keys are valid for every dialect: a plain entry (no colon)
    was refused by every Basic form Wondershare's clients send (a doc-only client audit)."""
    from app.auth import KeyStore
    from app.errors import AuthError

    keys = KeyStore(Settings(api_keys=("plainkey", "myapp:mysecret")))

    def basic(pair: str) -> str:
        return "Basic " + base64.b64encode(pair.encode()).decode()

    as_plain = keys.check_basic(basic("anyapp:plainkey"))
    assert as_plain.owner == keys.check_key("plainkey").owner  # one account, whichever API it uses
    assert keys.check_basic(basic("myapp:mysecret")).key == "myapp"
    for wrong in ("anyapp:plainke", "plainkey:", "anyapp:mysecret", "anyapp:plainkey:x", "anyapp:plaînkey"):
        with pytest.raises(AuthError):
            keys.check_basic(basic(wrong))


def test_wondershare_wait_time_fits_the_keys_request_limit(tmp_path: Path) -> None:
    """A client that waits wait_time was told "1" and then refused for a minute by its key's limit
    of 3 a minute (a doc-only client audit): wait_time is at least 60 / limit seconds."""
    import hashlib

    data = tmp_path / "data"
    data.mkdir()
    audio = _wav(3.0)
    slow, _ = add_key(data, rpm=3)
    basic = {"Authorization": "Basic " + base64.b64encode(f"any:{slow}".encode()).decode()}
    with (
        # served slowly, so the task is still running when it is asked about
        serve_http({"/in.wav": Reply(body=audio, chunks=[audio[:100], audio[100:]], chunk_delay_s=3.0)}) as origin,
        HushProcess(data, workers=1, url_allowlist="127.0.0.1") as proc,
        httpx.Client(base_url=proc.url, timeout=60) as c,
    ):
        info = {
            "file_size": len(audio),
            "file_md5": hashlib.md5(audio, usedforsecurity=False).hexdigest(),
            "file_time": 3,
            "file_ext": "wav",
        }
        made = c.post(
            "/v3/pic/ecr/batch",
            json={"file_link": origin.url("/in.wav"), "file_info": info, "priority": 0, "file_ext": "wav"},
            headers=basic,
        )
        assert made.json()["code"] == 0, made.text
        got = c.get(f"/v3/pic/ecr/result/{made.json()['data']['task_id']}", headers=basic).json()["data"]
    assert got["status"] in ("1", "2"), got
    assert int(got["wait_time"]) >= 20, got
