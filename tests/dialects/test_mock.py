"""Mock mode through the vendors' own SDKs: scenarios chosen by key, ``Prefer`` or URL marker, the
request journal, reset, and answers well under 50 ms."""

from __future__ import annotations

import base64
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
import soundfile as sf

from app.settings import Settings
from tests.dialects._server import RunningServer, run_server
from tests.signals import make_white

deepaffects = pytest.importorskip("deepaffects")
with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from audoai.common import Unauthorized
    from audoai.noise_removal import NoiseRemovalClient

pytestmark = pytest.mark.sdk
SR = 16000


@pytest.fixture(scope="module")
def mock(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("mock"), workers=1, mock=True, api_keys=("real-key",))
    with run_server(settings) as s:
        yield s


@pytest.fixture
def client(mock: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=mock.base, timeout=30) as c:
        assert c.post("/_mock/reset").json() == {"status": "reset"}
        yield c


@pytest.fixture(scope="module")
def wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("in") / "in.wav"
    sf.write(path, make_white(np.random.default_rng(5), SR, -30.0), SR, subtype="PCM_16")
    return path


def test_mock_lists_each_dialects_scenarios(client: httpx.Client) -> None:
    scenarios = client.get("/_mock/scenarios").json()
    assert {s["name"] for s in scenarios["deepaffects"]} == {"400", "401", "500"}
    assert {s["name"] for s in scenarios["audo"]} == {"401", "422", "429", "failed", "queued"}
    assert all(s["description"] for d in scenarios.values() for s in d)


def test_mock_deepaffects_sdk_401_by_magic_key(mock: RunningServer, client: httpx.Client, wav: Path) -> None:
    from deepaffects.rest import ApiException  # type: ignore[import-untyped]

    old = deepaffects.configuration.api_key.get("apikey")
    deepaffects.configuration.api_key["apikey"] = "mock-401"
    try:
        api = deepaffects.DenoiseApi(deepaffects.ApiClient(host=mock.base))
        body = deepaffects.Audio(encoding="Wave", sample_rate=SR, content=base64.b64encode(wav.read_bytes()).decode())
        started = time.perf_counter()
        with pytest.raises(ApiException) as info:
            api.sync_denoise_audio(body)
        assert time.perf_counter() - started < 0.5  # the SDK's own overhead included
    finally:
        deepaffects.configuration.api_key["apikey"] = old
    assert info.value.status == 401
    assert info.value.headers["X-Hush-Mock"] == "401"
    journal = client.get("/_mock/requests").json()
    assert [(r["method"], r["path"], r["scenario"], r["status"], r["answered_by"]) for r in journal] == [
        ("POST", "/audio/generic/api/v1/sync/denoise", "401", 401, "scenario")
    ]
    assert journal[0]["query"]["apikey"] == "mock-401"


def test_mock_deepaffects_without_scenario_runs_for_real_and_any_key_works(
    mock: RunningServer, client: httpx.Client, wav: Path
) -> None:
    old = deepaffects.configuration.api_key.get("apikey")
    deepaffects.configuration.api_key["apikey"] = "any-key"  # mock mode checks no key
    try:
        api = deepaffects.DenoiseApi(deepaffects.ApiClient(host=mock.base))
        body = deepaffects.Audio(encoding="Wave", sample_rate=SR, content=base64.b64encode(wav.read_bytes()).decode())
        out = api.sync_denoise_audio(body)
    finally:
        deepaffects.configuration.api_key["apikey"] = old
    assert len(base64.b64decode(out.content)) > 44
    assert client.get("/_mock/requests").json()[0]["answered_by"] == "route"


@pytest.mark.parametrize("scenario", ["400", "500"])
def test_mock_deepaffects_errors_by_prefer_header(client: httpx.Client, scenario: str) -> None:
    started = time.perf_counter()
    r = client.post("/audio/generic/api/v1/sync/denoise", json={}, headers={"Prefer": f"code={scenario}"})
    assert time.perf_counter() - started < 0.05
    assert r.status_code == int(scenario)
    assert r.json()["code"] == int(scenario)  # the DeepAffects envelope
    assert ("error_id" in r.json()) is (scenario == "500")


def test_mock_audo_sdk_401_and_429(mock: RunningServer, client: httpx.Client, wav: Path) -> None:
    with pytest.raises(Unauthorized):
        NoiseRemovalClient("mock-401", base_url=mock.url("/v1")).upload(str(wav))
    r = client.post("/v1/remove-noise", json={"input": "x"}, headers={"x-api-key": "mock-429"})
    assert r.status_code == 429
    assert r.headers["Retry-After"] == "7"
    assert "too many requests" in r.json()["detail"]
    assert [e["scenario"] for e in client.get("/_mock/requests").json()] == ["401", "429"]


def test_mock_audo_sdk_failed_with_reason(mock: RunningServer, client: httpx.Client, wav: Path) -> None:
    sdk = NoiseRemovalClient("mock-failed", base_url=mock.url("/v1"))
    job_id = sdk.create_job(sdk.upload(str(wav)))  # both answered by the real routes
    status = sdk.get_status(job_id)
    assert status == {"state": "failed", "reason": "the audio could not be processed (mock scenario)"}
    journal = client.get("/_mock/requests").json()
    assert [e["answered_by"] for e in journal] == ["route", "route", "scenario"]


def test_mock_audo_sdk_queue_counts_down_then_real_state(mock: RunningServer, client: httpx.Client, wav: Path) -> None:
    sdk = NoiseRemovalClient("mock-queued", base_url=mock.url("/v1"))
    job_id = sdk.create_job(sdk.upload(str(wav)))
    seen = [sdk.get_status(job_id) for _ in range(3)]
    assert seen == [{"state": "queued", "jobsAhead": n} for n in (3, 2, 1)]
    deadline = time.monotonic() + 30
    while (state := sdk.get_status(job_id)["state"]) not in ("succeeded", "failed") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert state == "succeeded"
    # reset forgets the counters: the countdown starts again for the same job
    client.post("/_mock/reset")
    assert sdk.get_status(job_id) == {"state": "queued", "jobsAhead": 3}


def test_mock_scenario_by_marker_in_the_input_url(client: httpx.Client) -> None:
    r = client.post("/v1/remove-noise", json={"input": "https://example.invalid/a.wav?hush-mock=429"})
    assert r.status_code == 429
    assert client.get("/_mock/requests").json()[0]["scenario"] == "429"


def test_mock_unknown_scenario_is_refused_clearly(client: httpx.Client) -> None:
    r = client.get("/v1/remove-noise/x/status", headers={"x-api-key": "mock-nope"})
    assert r.status_code == 400
    assert "no mock scenario 'nope' for audo" in r.json()["detail"]
    assert "429" in r.json()["detail"]
    r = client.get("/api/v1/steps", headers={"Prefer": "scenario=nope"})
    assert r.status_code == 400
    assert "the native API" in r.json()["title"]


def test_mock_advance_skips_the_queue_countdown_and_waits_for_the_end(
    mock: RunningServer, client: httpx.Client, wav: Path
) -> None:
    sdk = NoiseRemovalClient("mock-queued", base_url=mock.url("/v1"))
    job_id = sdk.create_job(sdk.upload(str(wav)))
    assert sdk.get_status(job_id) == {"state": "queued", "jobsAhead": 3}
    r = client.post(f"/_mock/jobs/{job_id}/advance")
    assert r.status_code == 200, r.text
    assert r.json() == {"job_id": job_id, "state": "succeeded", "skipped": [f"audo.queued.{job_id}"]}
    status = sdk.get_status(job_id)  # no sleep: the countdown is over and the job has ended
    assert status["state"] == "succeeded"
    assert status["downloadPath"]
    assert client.post("/_mock/jobs/nope/advance").status_code == 404
