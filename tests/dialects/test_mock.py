"""Mock mode through the vendors' own SDKs (DeepAffects, Audo) against a real ``hush serve --mock``:
every scenario chosen by key, ``Prefer`` or URL marker, webhook chaos, the journal, reset,
advance, and jobs done at the first answer."""

from __future__ import annotations

import base64
import json
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests

from app.webhooks import verify_signature
from tests.app._http_fixtures import LoopbackServer, RecordedRequest, Reply, serve_http
from tests.dialects._mock import HOLD_S, SECRET, SR, MockHush, journal, samples, start, wav_bytes

deepaffects = pytest.importorskip("deepaffects")
with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from audoai.common import MalformedFile, NoiseRemovalFailed, Unauthorized
    from audoai.noise_removal import NoiseRemovalClient

pytestmark = [
    pytest.mark.sdk,
    # Audio.to_file and WavAudioResult.save leave files to the garbage collector (vendor code)
    pytest.mark.filterwarnings("ignore:unclosed file:ResourceWarning"),
]
WAV = wav_bytes()
SYNC = "/audio/generic/api/v1/sync/denoise"
ASYNC = "/audio/generic/api/v1/async/denoise"


@pytest.fixture(scope="module")
def mock(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MockHush]:
    server = start(tmp_path_factory.mktemp("mock-sdk"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def client(mock: MockHush) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=mock.url, timeout=30) as c:
        assert c.post("/_mock/reset").json() == {"status": "reset"}
        yield c


@pytest.fixture(scope="module")
def origin() -> Iterator[LoopbackServer]:
    with serve_http({"/bucket/in.wav": Reply(body=WAV)}) as server:
        yield server


@pytest.fixture
def hooks() -> Iterator[LoopbackServer]:
    with serve_http({"POST /hook": Reply(status=200, body=b"ok")}) as server:
        yield server


@pytest.fixture(scope="module")
def wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("in") / "in.wav"
    path.write_bytes(WAV)
    return path


def denoise_api(mock: MockHush, key: str, prefer: str | None = None) -> Any:
    """The SDK's DenoiseApi on the mock; ``prefer`` is sent as a ``Prefer`` header on every call."""
    deepaffects.configuration.api_key["apikey"] = key
    api_client = deepaffects.ApiClient(host=mock.url, header_name="Prefer" if prefer else None, header_value=prefer)
    return deepaffects.DenoiseApi(api_client)


def body() -> Any:
    return deepaffects.Audio(encoding="Wave", sample_rate=SR, content=base64.b64encode(WAV).decode())


def hook_bodies(hooks: LoopbackServer) -> list[dict[str, Any]]:
    return [json.loads(r.body) for r in hooks.requests]


def advance(client: httpx.Client, job_or_request_id: str) -> dict[str, Any]:
    r = client.post(f"/_mock/jobs/{job_or_request_id}/advance")
    assert r.status_code == 200, r.text
    return dict(r.json())


def signed_ok(req: RecordedRequest) -> bool:
    return verify_signature(SECRET, req.headers["X-Hush-Timestamp"], req.body, req.headers["X-Hush-Signature"])


def test_mock_lists_each_dialects_scenarios(client: httpx.Client) -> None:
    scenarios = client.get("/_mock/scenarios").json()
    assert {s["name"] for s in scenarios["deepaffects"]} == {
        "400",
        "401",
        "500",
        "failed",
        "webhook_delayed",
        "webhook_duplicated",
        "webhook_out_of_order",
        "webhook_bad_signature",
    }
    assert {s["name"] for s in scenarios["audo"]} == {
        "401",
        "422",
        "429",
        "429_once",
        "failed",
        "queued",
        "downloading",
        "in_progress",
    }
    assert all(s["description"] for d in scenarios.values() for s in d)
    effects = {s["name"]: s["job_effect"] for s in scenarios["deepaffects"]}
    assert effects["failed"] == "failed"
    assert effects["webhook_delayed"] == "webhook_delayed"
    assert effects["401"] is None


# ------------------------------------------------------------------------------------ DeepAffects


def test_mock_deepaffects_sdk_401_by_magic_key(mock: MockHush, client: httpx.Client) -> None:
    from deepaffects.rest import ApiException  # type: ignore[import-untyped]

    started = time.perf_counter()
    with pytest.raises(ApiException) as info:
        denoise_api(mock, "mock-401").sync_denoise_audio(body())
    assert time.perf_counter() - started < 0.5  # the SDK's own overhead included
    assert info.value.status == 401
    assert info.value.headers["X-Hush-Mock"] == "401"
    entries = journal(client)
    assert [(r["method"], r["path"], r["scenario"], r["status"], r["answered_by"]) for r in entries] == [
        ("POST", SYNC, "401", 401, "scenario")
    ]
    assert entries[0]["query"]["apikey"] == "mock-401"


def test_mock_deepaffects_sdk_passes_the_input_through_with_any_key(mock: MockHush, client: httpx.Client) -> None:
    out = denoise_api(mock, "any-key").sync_denoise_audio(body())
    assert (samples(base64.b64decode(out.content)) == samples(WAV)).all()
    assert out.encoding == "Wave"
    assert journal(client)[0]["answered_by"] == "route"


@pytest.mark.parametrize("code", [400, 500])
def test_mock_deepaffects_sdk_errors_by_prefer_header(mock: MockHush, client: httpx.Client, code: int) -> None:
    from deepaffects.rest import ApiException

    with pytest.raises(ApiException) as info:
        denoise_api(mock, "k", prefer=f"code={code}").sync_denoise_audio(body())
    assert info.value.status == code
    answer = json.loads(info.value.body)
    assert answer["code"] == code  # the DeepAffects envelope
    assert ("error_id" in answer) is (code == 500)
    assert journal(client)[0]["headers"]["prefer"] == f"code={code}"


def test_mock_deepaffects_sdk_failed_sync_and_failure_webhook(
    mock: MockHush, client: httpx.Client, hooks: LoopbackServer
) -> None:
    from deepaffects.rest import ApiException

    api = denoise_api(mock, "mock-failed")
    with pytest.raises(ApiException) as info:
        api.sync_denoise_audio(body())
    assert info.value.status == 500
    assert "could not be processed (mock scenario)" in json.loads(info.value.body)["message"]

    answer = api.async_denoise_audio(body(), hooks.url("/hook"), request_id="fail-1")
    assert answer.request_id == "fail-1"
    hook = advance(client, "fail-1")["webhooks"]  # by request_id: answers once the webhook was sent
    assert [h["status"] for h in hook] == [200]
    (sent,) = hook_bodies(hooks)
    assert sent["request_id"] == "fail-1"
    assert sent["error"]["code"] == 500
    assert sent["error"]["type"] == "processing.failed"
    assert "could not be processed" in sent["error"]["message"]


def test_mock_deepaffects_sdk_marker_in_its_encoded_webhook_url_picks_the_scenario(
    mock: MockHush, client: httpx.Client, hooks: LoopbackServer
) -> None:
    # the SDK percent-encodes the webhook URL in the query: the marker inside still counts
    answer = denoise_api(mock, "k").async_denoise_audio(body(), hooks.url("/hook?hush-mock=failed"), request_id="enc-1")
    assert answer.request_id == "enc-1"
    advance(client, "enc-1")
    (sent,) = hook_bodies(hooks)
    assert sent["error"]["type"] == "processing.failed"
    (row,) = [r for r in journal(client) if "async" in r["path"]]
    assert row["scenario"] == "failed"


def test_mock_deepaffects_webhook_on_time_is_signed(
    mock: MockHush, client: httpx.Client, hooks: LoopbackServer
) -> None:
    denoise_api(mock, "k").async_denoise_audio(body(), hooks.url("/hook"), request_id="plain-1")
    advance(client, "plain-1")
    (req,) = hooks.requests
    assert signed_ok(req)
    result = deepaffects.Audio.from_json(req.body.decode())
    assert (samples(base64.b64decode(result.content)) == samples(WAV)).all()
    assert [w["chaos"] for w in client.get("/_mock/webhooks").json()] == ["none"]


def test_mock_deepaffects_webhook_delayed(mock: MockHush, client: httpx.Client, hooks: LoopbackServer) -> None:
    api = denoise_api(mock, "mock-webhook_delayed")
    api.async_denoise_audio(body(), hooks.url("/hook"), request_id="late-1")
    answered = time.monotonic()  # the job has ended when the request is answered (instant mode)
    deadline = answered + 10
    while not hooks.requests and time.monotonic() < deadline:
        time.sleep(0.02)
    (req,) = hooks.requests
    assert req.received_at - answered >= HOLD_S - 0.05  # held for the mock's hold
    assert json.loads(req.body)["request_id"] == "late-1"
    assert signed_ok(req)
    # advance skips the delay: with a hold of a minute, the webhook comes at once
    denoise_api(mock, "mock-webhook_delayed", prefer="hold=60").async_denoise_audio(
        body(), hooks.url("/hook"), request_id="late-2"
    )
    started = time.monotonic()
    advance(client, "late-2")
    assert time.monotonic() - started < 10
    assert [b["request_id"] for b in hook_bodies(hooks)] == ["late-1", "late-2"]


def test_mock_advance_by_request_id_advances_every_job_under_it(
    mock: MockHush, client: httpx.Client, hooks: LoopbackServer
) -> None:
    """Advancing by a ``request_id`` advanced only the newest job under it; with the vendor's
    samples' one fixed id, the others waited out their hold (audit)."""
    api = denoise_api(mock, "mock-webhook_delayed", prefer="hold=60")
    for rate in (SR, SR // 2):  # the same id twice, another request each time: two jobs
        audio = deepaffects.Audio(encoding="Wave", sample_rate=rate, content=base64.b64encode(WAV).decode())
        api.async_denoise_audio(audio, hooks.url("/hook"), request_id="shared-1")
    started = time.monotonic()
    answer = advance(client, "shared-1")
    assert time.monotonic() - started < 10
    assert len(answer["jobs"]) == 2, answer
    assert set(answer["jobs"].values()) == {"succeeded"}
    assert answer["job_id"] == list(answer["jobs"])[-1]
    assert [b["request_id"] for b in hook_bodies(hooks)] == ["shared-1", "shared-1"]


def test_mock_deepaffects_webhook_duplicated(mock: MockHush, client: httpx.Client, hooks: LoopbackServer) -> None:
    denoise_api(mock, "mock-webhook_duplicated").async_denoise_audio(body(), hooks.url("/hook"), request_id="twice-1")
    hook = advance(client, "twice-1")["webhooks"]
    assert [h["chaos"] for h in hook] == ["duplicated", "duplicated"]
    first, second = hooks.requests
    assert first.body == second.body
    assert signed_ok(first)
    assert signed_ok(second)


def test_mock_deepaffects_webhook_out_of_order(mock: MockHush, client: httpx.Client, hooks: LoopbackServer) -> None:
    # a hold long enough that the first webhook surely waits for the second, however busy the machine
    api = denoise_api(mock, "mock-webhook_out_of_order", prefer="hold=30")
    api.async_denoise_audio(body(), hooks.url("/hook"), request_id="first")
    api.async_denoise_audio(body(), hooks.url("/hook"), request_id="second")
    started = time.monotonic()
    advance(client, "second")  # sent at once, and it releases the first one
    advance(client, "first")
    assert time.monotonic() - started < 10  # nobody waited out the hold
    assert [b["request_id"] for b in hook_bodies(hooks)] == ["second", "first"]
    jobs = {j["request_id"]: j["state"] for j in client.get("/_mock/jobs").json()}
    assert jobs == {"first": "succeeded", "second": "succeeded"}  # both finished in order; only the webhooks swap


def test_mock_deepaffects_webhook_bad_signature(mock: MockHush, client: httpx.Client, hooks: LoopbackServer) -> None:
    denoise_api(mock, "mock-webhook_bad_signature").async_denoise_audio(
        body(), hooks.url("/hook"), request_id="forged-1"
    )
    advance(client, "forged-1")
    (req,) = hooks.requests
    assert req.headers["X-Hush-Signature"].startswith("sha256=")
    assert not signed_ok(req)  # well formed, but not signed with the server's secret
    assert json.loads(req.body)["request_id"] == "forged-1"


def test_mock_deepaffects_seeded_request_ids_repeat_after_reset(mock: MockHush, client: httpx.Client) -> None:
    hook = "http://127.0.0.1:9/hook"  # never answered; delivery fails, as it may
    ids = [denoise_api(mock, "k").async_denoise_audio(body(), hook).request_id for _ in range(2)]
    client.post("/_mock/reset")
    again = [denoise_api(mock, "k").async_denoise_audio(body(), hook).request_id for _ in range(2)]
    assert ids == again
    assert len(set(ids)) == 2


# ------------------------------------------------------------------------------------ Audo


def test_mock_audo_sdk_401_422_and_429(mock: MockHush, client: httpx.Client, wav: Path) -> None:
    with pytest.raises(Unauthorized):
        NoiseRemovalClient("mock-401", base_url=mock.url + "/v1").upload(str(wav))
    with pytest.raises(MalformedFile, match="not audio or video"):
        NoiseRemovalClient("mock-422", base_url=mock.url + "/v1").upload(str(wav))
    # the SDK answers a 429 by sleeping Retry-After and trying again, forever: one plain request
    r = client.post("/v1/remove-noise", json={"input": "x"}, headers={"x-api-key": "mock-429"})
    assert r.status_code == 429
    assert r.headers["Retry-After"] == "7"
    assert "too many requests" in r.json()["detail"]
    assert [e["scenario"] for e in journal(client)] == ["401", "422", "429"]


def test_mock_audo_sdk_backs_off_429_once_and_goes_on(mock: MockHush, client: httpx.Client, wav: Path) -> None:
    """The ``429`` scenario answers every request so, and the SDK, which retries a 429 without a
    limit, never returned: an SDK-based test of the 429 path could not end (audit)."""
    client.post("/_mock/reset")
    sdk = NoiseRemovalClient("mock-429_once", base_url=mock.url + "/v1")
    started = time.monotonic()
    result = sdk.process(str(wav), on_update=lambda update: None)
    assert time.monotonic() - started >= 1.0  # it waited the Retry-After once
    assert result.url.endswith(".wav")
    answers = [(e["method"], e["path"], e["status"]) for e in journal(client)]
    creations = [status for method, path, status in answers if (method, path) == ("POST", "/v1/remove-noise")]
    assert creations == [429, 200], answers
    assert [status for *_, status in answers].count(429) == 1, answers


def test_mock_audo_sdk_failed_with_reason(mock: MockHush, client: httpx.Client, wav: Path) -> None:
    sdk = NoiseRemovalClient("mock-failed", base_url=mock.url + "/v1")
    job_id = sdk.create_job(sdk.upload(str(wav)))  # both answered by the real routes
    assert sdk.get_status(job_id) == {"state": "failed", "reason": "the audio could not be processed (mock scenario)"}
    with pytest.raises(NoiseRemovalFailed, match="could not be processed"):
        sdk.wait_for_job_id(job_id, on_update=lambda update: None)  # the websocket agrees
    assert [e["answered_by"] for e in journal(client)] == ["route", "route", "route"]


def test_mock_audo_sdk_process_passes_the_input_through(mock: MockHush, wav: Path, tmp_path: Path) -> None:
    sdk = NoiseRemovalClient("any-key", base_url=mock.url + "/v1")
    result = sdk.process(str(wav), on_update=lambda update: None)
    out = tmp_path / "out.wav"
    result.save(str(out))
    assert (samples(out.read_bytes()) == samples(WAV)).all()


@pytest.mark.parametrize(
    ("scenario", "frames"),
    [
        ("queued", [{"state": "queued", "jobsAhead": n} for n in (3, 2, 1)]),
        ("downloading", [{"state": "downloading"}, {"state": "queued", "jobsAhead": 0}]),
        ("in_progress", [{"state": "in_progress", "percent": p} for p in (25, 50, 75)]),
    ],
)
def test_mock_audo_sdk_countdowns_then_real_state(
    mock: MockHush, client: httpx.Client, wav: Path, scenario: str, frames: list[dict[str, Any]]
) -> None:
    sdk = NoiseRemovalClient(f"mock-{scenario}", base_url=mock.url + "/v1")
    job_id = sdk.create_job(sdk.upload(str(wav)))
    assert [sdk.get_status(job_id) for _ in frames] == frames
    final = sdk.get_status(job_id)  # no wait: the instant job ended long ago
    assert final["state"] == "succeeded"
    assert final["downloadPath"]
    client.post("/_mock/reset")  # reset forgets the job itself
    with pytest.raises(requests.HTTPError, match="404"):
        sdk.get_status(job_id)


def test_mock_audo_scenario_by_marker_in_the_input_url_follows_the_job(
    mock: MockHush, client: httpx.Client, origin: LoopbackServer
) -> None:
    sdk = NoiseRemovalClient("plain-key", base_url=mock.url + "/v1")
    job_id = sdk.create_job(origin.url("/bucket/in.wav?hush-mock=queued"))
    # the polls carry no marker, key or header: the job remembers its scenario
    assert [sdk.get_status(job_id) for _ in range(3)] == [{"state": "queued", "jobsAhead": n} for n in (3, 2, 1)]
    assert sdk.get_status(job_id)["state"] == "succeeded"
    assert [e["scenario_from"] for e in journal(client)] == ["request", "job", "job", "job", "job"]
    # an error scenario by marker answers the create itself
    r = client.post("/v1/remove-noise", json={"input": origin.url("/bucket/in.wav?hush-mock=429")})
    assert r.status_code == 429


def test_mock_audo_sdk_failed_by_marker_through_process(mock: MockHush, origin: LoopbackServer) -> None:
    sdk = NoiseRemovalClient("plain-key", base_url=mock.url + "/v1")
    with pytest.raises(NoiseRemovalFailed, match="mock scenario"):
        sdk.process(origin.url("/bucket/in.wav?hush-mock=failed"), on_update=lambda update: None)


def test_mock_unknown_scenario_is_refused_clearly(client: httpx.Client) -> None:
    # 422, the Audo dialect's status for a bad request: its SDK reads any 400 as InsufficientCredits
    r = client.get("/v1/remove-noise/x/status", headers={"x-api-key": "mock-nope"})
    assert r.status_code == 422
    assert "no mock scenario 'nope' for audo" in r.json()["detail"]
    assert "429" in r.json()["detail"]
    r = client.get("/api/v1/steps", headers={"Prefer": "scenario=nope"})
    assert r.status_code == 400
    assert "the native API" in r.json()["title"]


def test_mock_advance_skips_the_queue_countdown(mock: MockHush, client: httpx.Client, wav: Path) -> None:
    sdk = NoiseRemovalClient("mock-queued", base_url=mock.url + "/v1")
    job_id = sdk.create_job(sdk.upload(str(wav)))
    assert sdk.get_status(job_id) == {"state": "queued", "jobsAhead": 3}
    answer = advance(client, job_id)
    assert answer["state"] == "succeeded"
    assert answer["skipped"] == [f"audo.queued.{job_id}"]
    status = sdk.get_status(job_id)  # no sleep: the countdown is skipped
    assert status["state"] == "succeeded"
    assert status["downloadPath"]
    assert client.post("/_mock/jobs/nope/advance").status_code == 404


def test_mock_sdk_jobs_are_done_at_the_first_answer(mock: MockHush, wav: Path) -> None:
    """Through the SDKs: a sync denoise answers with the audio, an Audo job reads succeeded at its
    first status (nothing to poll for). How fast they answer is measured, against mock mode's 50 ms,
    by ``bench/mock_latency.py``, not here: a test suite's timings are its machine's load."""
    api = denoise_api(mock, "k")
    audo = NoiseRemovalClient("k", base_url=mock.url + "/v1")
    file_id = audo.upload(str(wav))
    for _ in range(3):
        out = api.sync_denoise_audio(body())
        assert (samples(base64.b64decode(out.content)) == samples(WAV)).all()
        assert audo.get_status(audo.create_job(file_id))["state"] == "succeeded"


def test_mock_advance_skips_the_webhook_backoff_and_reset_stops_the_retries(tmp_path: Path) -> None:
    """A receiver that answers 500 is retried with the server's backoff (here 2 s, doubling):
    ``advance`` does not wait it out, and a reset stops the retries of the jobs it forgets (with a
    seed, the next test's first job has the same id)."""
    server = start(tmp_path / "mock", webhook_backoff_s=2.0, webhook_max_attempts=4)
    try:
        with serve_http({"POST /a": Reply(status=500), "POST /b": Reply(status=500)}) as hooks:
            client = httpx.Client(base_url=server.url, timeout=30)
            api = denoise_api(server, "k")
            api.async_denoise_audio(body(), hooks.url("/a"), request_id="retried")
            started = time.monotonic()
            (row,) = advance(client, "retried")["webhooks"]
            assert time.monotonic() - started < 5.0  # the backoff alone is 2 + 4 + 8 s
            assert row["attempts"] == 4
            assert row["status"] == 500
            assert sum(r.path == "/a" for r in hooks.requests) == 4

            api.async_denoise_audio(body(), hooks.url("/b"), request_id="forgotten")
            deadline = time.monotonic() + 10
            while not any(r.path == "/b" for r in hooks.requests) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert client.post("/_mock/reset").json() == {"status": "reset"}
            time.sleep(2.5)  # past the first retry's time
            assert sum(r.path == "/b" for r in hooks.requests) == 1
            assert client.get("/_mock/webhooks").json() == []
            client.close()
    finally:
        server.stop()


# ------------------------------------------------------------------------------------ native API


def test_mock_native_create_answers_the_ended_job(client: httpx.Client) -> None:
    # the create is answered once the instant job has ended, but its body showed the job as
    # submitted ("queued", progress 0, no result) while the first poll saw it succeeded (audit)
    file_id = client.post("/api/v1/files", files={"file": ("in.wav", WAV)}).json()["file_id"]
    r = client.post("/api/v1/jobs", json={"input": {"file_id": file_id}, "steps": [{"name": "denoise"}]})
    assert r.status_code == 202, r.text
    assert r.headers["x-hush-mode"] == "mock"
    created = r.json()
    assert (created["state"], created["progress"]) == ("succeeded", 100.0)
    assert created["result_url"] == f"/api/v1/jobs/{created['id']}/result"
    assert created["result"]["steps"][0]["not_applied"]
    polled = client.get(f"/api/v1/jobs/{created['id']}").json()
    assert polled == created
