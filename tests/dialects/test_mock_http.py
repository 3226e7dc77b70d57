"""Mock mode for the two APIs without an SDK (Wondershare click removal, AudioCleaner), driven over
plain HTTP as their docs describe, against a real ``hush serve --mock``: every documented status
and code on demand, the journal, reset, seeded ids and instant jobs."""

from __future__ import annotations

import base64
import hashlib
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.app._http_fixtures import LoopbackServer, Reply, serve_http
from tests.dialects._mock import HOLD_S, MockHush, journal, samples, start, wav_bytes

WAV = wav_bytes()
BATCH = "/v3/pic/ecr/batch"
CREATE = "/audio/api/v1/api-keys/enhance/task/create"
GET = "/audio/api/v1/api-keys/enhance/task/get"
#: The documented answer time of a mock job (issue 16), measured at the client.


def basic(appkey: str, secret: str = "s") -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{appkey}:{secret}".encode()).decode()}


@pytest.fixture(scope="module")
def origin() -> Iterator[LoopbackServer]:
    """The customer's bucket."""
    with serve_http({"/bucket/in.wav": Reply(body=WAV)}) as server:
        yield server


@pytest.fixture(scope="module")
def mock(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MockHush]:
    server = start(tmp_path_factory.mktemp("mock-http"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def client(mock: MockHush) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=mock.url, timeout=30) as c:
        assert c.post("/_mock/reset").json() == {"status": "reset"}
        yield c


def batch_body(link: str, **override: Any) -> dict[str, Any]:
    body = {
        "file_link": link,
        "file_ext": "wav",
        "file_info": {
            "file_size": len(WAV),
            "file_md5": hashlib.md5(WAV, usedforsecurity=False).hexdigest(),
            "file_time": 1,
            "file_ext": "wav",
        },
        "detection_mult": 8,
        "click_len": 10,
        "priority": 1,
    }
    return {**body, **override}


def ws_submit(client: httpx.Client, link: str, headers: dict[str, str]) -> str:
    r = client.post(BATCH, json=batch_body(link), headers=headers)
    assert r.status_code == 200, r.text
    assert r.json()["code"] == 0
    return str(r.json()["data"]["task_id"])


def ws_result(client: httpx.Client, task: str, headers: dict[str, str]) -> dict[str, str]:
    r = client.get(f"/v3/pic/ecr/result/{task}", headers=headers)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["code"] == 0
    assert out["msg"] == ""
    assert set(out["data"]) == {"status", "wait_time", "voice_result", "reason"}
    return dict(out["data"])


# ------------------------------------------------------------------------------------ Wondershare


def test_mock_lists_the_new_scenarios(client: httpx.Client) -> None:
    scenarios = client.get("/_mock/scenarios").json()
    assert {s["name"] for s in scenarios["wondershare"]} == {
        "401",
        "429",
        "500",
        "waiting",
        "in_progress",
        "failed",
        "closed",
        "timed_out",
        "md5_mismatch",
        "size_mismatch",
    }
    assert {s["name"] for s in scenarios["audiocleaner"]} == {
        "100100",
        "101002",
        "101003",
        "101004",
        "101005",
        "101006",
        "101008",
        "waiting",
        "failed",
    }


def test_mock_wondershare_without_scenario_completes_at_once_and_passes_the_input_through(
    client: httpx.Client, origin: LoopbackServer
) -> None:
    auth = basic("any-app")
    task = ws_submit(client, origin.url("/bucket/in.wav"), auth)
    data = ws_result(client, task, auth)  # the first poll: the task already ended
    assert data["status"] == "3", data
    assert data["wait_time"] == "0"
    got = httpx.get(data["voice_result"], timeout=30)
    assert got.status_code == 200
    assert (samples(got.content) == samples(WAV)).all()  # passed through, sample for sample


@pytest.mark.parametrize(
    ("scenario", "status", "words"),
    [
        ("failed", "4", "could not be processed"),
        ("closed", "5", "closed"),
        ("timed_out", "6", "too long"),
        ("md5_mismatch", "4", "MD5"),
        ("size_mismatch", "4", f"is {len(WAV) + 1} bytes, not the declared {len(WAV)}"),
    ],
)
@pytest.mark.parametrize("chosen_by", ["key", "prefer", "marker"])
def test_mock_wondershare_ending_statuses(
    client: httpx.Client, origin: LoopbackServer, scenario: str, status: str, words: str, chosen_by: str
) -> None:
    link = origin.url("/bucket/in.wav")
    headers = basic("app")
    if chosen_by == "key":
        headers = basic(f"mock-{scenario}")
    elif chosen_by == "prefer":
        headers = {**headers, "Prefer": f"scenario={scenario}"}
    else:
        link += f"?hush-mock={scenario}"
    task = ws_submit(client, link, headers)
    poll_headers = basic("app") if chosen_by != "key" else headers  # the poll carries no scenario itself
    data = ws_result(client, task, poll_headers)
    assert data["status"] == status, data
    assert words in data["reason"]
    assert "(mock scenario)" in data["reason"]
    assert data["voice_result"] == ""
    assert data["wait_time"] == "0"
    if scenario == "md5_mismatch":
        assert f"not the declared {hashlib.md5(WAV, usedforsecurity=False).hexdigest()}" in data["reason"]
    entries = journal(client)
    assert [e["scenario"] for e in entries] == [scenario, scenario]
    assert [e["scenario_from"] for e in entries] == ["request", "request" if chosen_by == "key" else "job"]


def test_mock_wondershare_a_link_naming_another_task_does_not_take_its_scenario(
    client: httpx.Client, origin: LoopbackServer
) -> None:
    closed = ws_submit(client, origin.url("/bucket/in.wav"), basic("mock-closed"))
    assert ws_result(client, closed, basic("app"))["status"] == "5"  # the poll takes the task's scenario
    task = ws_submit(client, origin.url(f"/bucket/in.wav?previous={closed}"), basic("app"))
    assert ws_result(client, task, basic("app"))["status"] == "3"
    assert [e["scenario_from"] for e in journal(client)] == ["request", "job", None, None]


def test_mock_wondershare_waiting_counts_down_an_honest_wait_time(client: httpx.Client, origin: LoopbackServer) -> None:
    """Status "1" then "2", each for the mock's hold, then "3". Every ``wait_time`` is honest: a client
    coming back after it finds the task done (never sooner), and it is never a second later than needed."""
    auth = basic("mock-waiting")
    submitted = time.monotonic()  # (the phases run from the task's creation, not from the first poll)
    task = ws_submit(client, origin.url("/bucket/in.wav"), auth)
    polls: list[tuple[float, dict[str, str]]] = []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        sent = time.monotonic()
        data = ws_result(client, task, auth)
        polls.append((sent, data))
        if data["status"] == "3":
            break
        time.sleep(0.1)
    statuses = [d["status"] for _, d in polls]
    assert statuses[0] == "1", statuses
    assert "2" in statuses, statuses
    assert statuses[-1] == "3", statuses
    assert statuses == sorted(statuses)
    last_pending, done_seen = polls[-2][0], polls[-1][0]  # the task ended between these two polls
    for sent, data in polls[:-1]:
        promise = sent + int(data["wait_time"])
        assert promise >= last_pending, (data, "came back as told, the task would not be done")
        assert promise <= done_seen + 1.0 + 0.2, (data, "more than a whole second later than needed")
    assert polls[-1][1]["wait_time"] == "0"
    # both phases lasted the mock's hold (measured from before the submit: a first poll that came
    # late on a loaded machine left less than two holds between it and the end)
    assert done_seen - submitted >= 2 * HOLD_S - 0.05


def test_mock_wondershare_in_progress_and_advance(client: httpx.Client, origin: LoopbackServer) -> None:
    headers = {**basic("app"), "Prefer": "scenario=in_progress, hold=30"}
    task = ws_submit(client, origin.url("/bucket/in.wav"), headers)
    data = ws_result(client, task, basic("app"))
    assert data["status"] == "2"
    assert data["wait_time"] == "30"
    r = client.post(f"/_mock/jobs/{task}/advance")
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "succeeded"
    assert ws_result(client, task, basic("app"))["status"] == "3"  # no sleep: advanced


@pytest.mark.parametrize(("scenario", "status"), [("401", 401), ("429", 429), ("500", 500)])
def test_mock_wondershare_errors_in_the_envelope(client: httpx.Client, scenario: str, status: int) -> None:
    r = client.post(BATCH, json={}, headers=basic(f"mock-{scenario}"))
    assert r.status_code == status
    assert r.json()["code"] == status
    assert r.json()["data"] == {}
    assert r.json()["msg"]
    if status == 429:
        assert r.headers["Retry-After"] == "7"
    r = client.get("/v3/pic/ecr/result/whatever", headers=basic(f"mock-{scenario}"))
    assert r.status_code == status


# ------------------------------------------------------------------------------------ AudioCleaner


def ac_create(client: httpx.Client, link: str, headers: dict[str, str]) -> httpx.Response:
    return client.post(CREATE, json={"inputurl": link, "enhance_type": {"remove_noise": True}}, headers=headers)


def ac_get(client: httpx.Client, job_id: str, headers: dict[str, str]) -> dict[str, Any]:
    r = client.post(GET, json={"job_id": job_id}, headers=headers)
    assert r.status_code == 200, r.text
    assert r.json()["code"] == 100000
    return dict(r.json()["data"])


@pytest.mark.parametrize(
    ("code", "status", "retry_after"),
    [
        (100100, 402, None),
        (101002, 401, None),
        (101003, 429, "7"),
        (101004, 429, "5"),
        (101005, 403, None),
        (101006, 403, None),
    ],
)
def test_mock_audiocleaner_account_codes(
    client: httpx.Client, origin: LoopbackServer, code: int, status: int, retry_after: str | None
) -> None:
    for headers in ({"api-key": f"mock-{code}"}, {"api-key": "k", "Prefer": f"code={code}"}):
        r = ac_create(client, origin.url("/bucket/in.wav"), headers)
        assert r.status_code == status, r.text
        assert r.json()["code"] == code
        assert r.json()["data"] == {}
        assert r.headers.get("Retry-After") == retry_after
    r = ac_create(client, origin.url(f"/bucket/in.wav?hush-mock={code}"), {"api-key": "k"})
    assert r.json()["code"] == code
    assert [(e["scenario"], e["status"]) for e in journal(client)] == [(str(code), status)] * 3


def test_mock_audiocleaner_101008_on_task_get(client: httpx.Client, origin: LoopbackServer) -> None:
    headers = {"api-key": "mock-101008"}
    r = ac_create(client, origin.url("/bucket/in.wav"), headers)
    assert r.json()["code"] == 100000  # the task is created ...
    r = client.post(GET, json={"job_id": r.json()["data"]["job_id"]}, headers=headers)
    assert r.status_code == 404  # ... and then does not exist
    assert r.json()["code"] == 101008


def test_mock_audiocleaner_waiting_counts_tasks_position_down(client: httpx.Client, origin: LoopbackServer) -> None:
    r = ac_create(client, origin.url("/bucket/in.wav?hush-mock=waiting"), {"api-key": "k"})
    job_id = r.json()["data"]["job_id"]
    polls = [ac_get(client, job_id, {"api-key": "k"}) for _ in range(4)]
    assert [(p["status"], p.get("tasks_position")) for p in polls] == [
        ("waiting", 3),
        ("waiting", 2),
        ("waiting", 1),
        ("success", None),
    ]
    assert polls[0]["report"] == {"remove_noise": {"status": "pending"}}
    # the result is the input, passed through, and the report says the flag was not applied and why
    assert polls[3]["report"]["remove_noise"]["status"] == "not_applied"
    assert "mock mode passes the input through" in polls[3]["report"]["remove_noise"]["reason"]
    got = httpx.get(polls[3]["output"], timeout=30)
    assert (samples(got.content) == samples(WAV)).all()
    assert [(e["path"].rsplit("/", 1)[-1], e["answered_by"]) for e in journal(client)] == [
        ("create", "route"),
        ("get", "scenario"),
        ("get", "scenario"),
        ("get", "scenario"),
        ("get", "route"),
        (f"{job_id}.wav", "route"),  # the download
    ]


def test_mock_audiocleaner_failed(client: httpx.Client, origin: LoopbackServer) -> None:
    r = ac_create(client, origin.url("/bucket/in.wav"), {"api-key": "mock-failed"})
    data = ac_get(client, r.json()["data"]["job_id"], {"api-key": "k"})
    assert data["status"] == "failed"
    assert data["reason"] == "the audio could not be processed (mock scenario)"
    assert data["output"] == ""


def test_mock_audiocleaner_real_dsp_when_asked(client: httpx.Client, origin: LoopbackServer) -> None:
    r = ac_create(client, origin.url("/bucket/in.wav"), {"api-key": "k", "Prefer": "dsp=real"})
    job_id = r.json()["data"]["job_id"]
    assert client.post(f"/_mock/jobs/{job_id}/advance").json()["state"] == "succeeded"
    data = ac_get(client, job_id, {"api-key": "k"})
    assert data["report"]["remove_noise"]["status"] == "applied"
    got = httpx.get(data["output"], timeout=30)
    assert not (samples(got.content) == samples(WAV)).all()  # denoised for real


def test_mock_latency_then_advance(client: httpx.Client, origin: LoopbackServer) -> None:
    r = ac_create(client, origin.url("/bucket/in.wav"), {"api-key": "k", "Prefer": "latency=60000"})
    job_id = r.json()["data"]["job_id"]
    assert ac_get(client, job_id, {"api-key": "k"})["status"] == "waiting"  # a minute of latency ahead
    started = time.perf_counter()
    assert client.post(f"/_mock/jobs/{job_id}/advance").json()["state"] == "succeeded"
    assert time.perf_counter() - started < 5
    assert ac_get(client, job_id, {"api-key": "k"})["status"] == "success"


def test_mock_advance_every_job(client: httpx.Client, origin: LoopbackServer) -> None:
    link = origin.url("/bucket/in.wav")
    slow = ac_create(client, link, {"api-key": "k", "Prefer": "latency=60000"}).json()["data"]["job_id"]
    phased = ws_submit(client, link, {**basic("app"), "Prefer": "scenario=waiting, hold=60"})
    assert ws_result(client, phased, basic("app"))["status"] == "1"
    r = client.post("/_mock/advance")
    assert r.status_code == 200, r.text
    assert r.json() == {"jobs": {slow: "succeeded", phased: "succeeded"}}
    assert ac_get(client, slow, {"api-key": "k"})["status"] == "success"
    assert ws_result(client, phased, basic("app"))["status"] == "3"


def test_mock_bad_prefer_value_is_refused_in_the_envelope(client: httpx.Client, origin: LoopbackServer) -> None:
    r = ac_create(client, origin.url("/bucket/in.wav"), {"api-key": "k", "Prefer": "latency=soon"})
    assert r.status_code == 400
    assert r.json()["code"] == 100001
    assert "latency" not in r.json()["message"] or "soon" in r.json()["message"]


# ------------------------------------------------------------------------------------ journal, reset, ids


def test_mock_journal_reset_and_seeded_ids(client: httpx.Client, origin: LoopbackServer) -> None:
    link = origin.url("/bucket/in.wav")
    first = [ws_submit(client, link, basic("app")) for _ in range(2)]
    ac = ac_create(client, link, {"api-key": "k"}).json()["data"]["job_id"]
    entries = journal(client)
    assert [(e["method"], e["path"], e["status"]) for e in entries] == [
        ("POST", BATCH, 200),
        ("POST", BATCH, 200),
        ("POST", CREATE, 200),
    ]
    assert entries[0]["jobs"] == [first[0]]
    assert entries[2]["jobs"] == [ac]
    assert entries[0]["headers"]["authorization"].startswith("Basic ")
    assert '"file_link"' in entries[0]["body"]
    assert [e["seq"] for e in entries] == [1, 2, 3]
    jobs = client.get("/_mock/jobs").json()
    assert [j["job_id"] for j in jobs] == [*first, ac]

    assert client.post("/_mock/reset").json() == {"status": "reset"}
    assert journal(client) == []
    assert client.get("/_mock/jobs").json() == []
    r = client.get(f"/v3/pic/ecr/result/{first[0]}", headers=basic("app"))
    assert r.status_code == 404  # the jobs are gone
    # seeded (HUSH_MOCK_SEED): the same requests after a reset get the same ids
    again = [ws_submit(client, link, basic("app")) for _ in range(2)]
    assert again == first


def test_mock_unknown_scenario_is_refused_in_the_dialects_envelope(client: httpx.Client) -> None:
    r = client.post(BATCH, json={}, headers=basic("mock-nope"))
    assert r.status_code == 400
    assert "no mock scenario 'nope' for wondershare" in r.json()["msg"]
    assert "md5_mismatch" in r.json()["msg"]
    r = client.post(GET, json={"job_id": "x"}, headers={"api-key": "mock-nope"})
    assert r.status_code == 400
    assert r.json()["code"] == 100001


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_mock_keeps_its_jobs_in_a_scratch_directory_deleted_at_exit(tmp_path: Path, stop: signal.Signals) -> None:
    server = start(tmp_path)
    try:
        found = re.search(r"mock mode keeps its jobs in (\S+) ", server.log.read_text())
        assert found is not None, server.log.read_text()
        scratch = Path(found.group(1))
        assert (scratch / "jobs.sqlite3").is_file()
        assert not (tmp_path / "jobs.sqlite3").exists()
        assert server.proc is not None
        server.proc.send_signal(stop)
        server.proc.wait(15)
    finally:
        server.stop()
    assert not scratch.exists()


# ------------------------------------------------------------------------------------ speed


def test_mock_jobs_are_final_at_their_first_read(client: httpx.Client, origin: LoopbackServer) -> None:
    """Create a job and read it once: already final, in each dialect's words; a scenario's error
    answers at once. How fast is measured, against mock mode's 50 ms, by ``bench/mock_latency.py``
    (a test suite's timings are its machine's load)."""
    link = origin.url("/bucket/in.wav")
    for _ in range(3):
        task = ws_submit(client, link, basic("app"))
        assert ws_result(client, task, basic("app"))["status"] == "3"
        job_id = ac_create(client, link, {"api-key": "k"}).json()["data"]["job_id"]
        assert ac_get(client, job_id, {"api-key": "k"})["status"] == "success"
        assert client.post(BATCH, json={}, headers=basic("mock-429")).status_code == 429
