"""What the playground and the first minutes rely on, over HTTP: peaks, the input, static files,
offline docs, security schemes; and the CLI's listing, progress and serve message."""

from __future__ import annotations

import contextlib
import io
import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import soundfile as sf

from app.api.playground import compute_peaks
from app.cli import _Bar
from app.jobs.steps import STEPS
from app.settings import Settings
from tests._hush import HushProcess
from tests._services import BACKENDS, cluster_backend, settings_env
from tests.signals import make_white

KEY = "pg-key-1"
H = {"x-api-key": KEY}


@pytest.fixture(scope="module", params=BACKENDS)
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[HushProcess]:
    """Embedded, and again on the cluster (the playground reads inputs and results from S3 there)."""
    data = tmp_path_factory.mktemp("hush")
    with contextlib.ExitStack() as stack:
        proc = HushProcess(data, workers=1, api_keys=KEY, url_allowlist="127.0.0.1")
        if request.param == "cluster":
            settings = Settings(data_dir=data, workers=1, api_keys=(KEY,), url_allowlist=("127.0.0.1",))
            proc.env.update(
                settings_env(stack.enter_context(cluster_backend(settings, request.getfixturevalue("s3_server"))))
            )
        stack.enter_context(proc)
        yield proc


@pytest.fixture
def client(server: HushProcess) -> httpx.Client:
    with httpx.Client(base_url=server.url, timeout=30) as c:
        yield c


def finished_job(client: httpx.Client, data: bytes, steps: list[dict[str, Any]]) -> dict[str, Any]:
    r = client.post("/api/v1/files", files={"file": ("in.wav", data)}, headers=H)
    assert r.status_code == 201, r.text
    r = client.post("/api/v1/jobs", json={"input": {"file_id": r.json()["file_id"]}, "steps": steps}, headers=H)
    assert r.status_code == 202, r.text
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        job = client.get(f"/api/v1/jobs/{r.json()['id']}", headers=H).json()
        if job["state"] in ("succeeded", "failed"):
            assert job["state"] == "succeeded", job
            return dict(job)
        time.sleep(0.05)
    raise AssertionError("job did not finish")


def test_compute_peaks_brackets_the_signal(tmp_path: Path, rng: np.random.Generator) -> None:
    sr = 8000
    audio = make_white(rng, sr * 3, -40.0)
    audio[sr : sr + 100] = 0.9  # one loud burst in the second second
    path = tmp_path / "a.wav"
    sf.write(path, audio, sr, subtype="FLOAT")
    out = compute_peaks(path, 30)
    assert out["points"] == 30
    assert out["duration_s"] == pytest.approx(3.0)
    peaks = np.array(out["peaks"])
    assert peaks.shape == (60,)
    assert np.all(peaks[0::2] >= peaks[1::2])  # (max, min) pairs
    assert peaks[0::2].max() == pytest.approx(0.9, abs=1e-3)
    assert int(np.argmax(peaks[0::2])) == 10  # the burst lands at 1 s of 3 s
    assert compute_peaks(path, 100_000)["points"] == 300  # never finer than the 10 ms buckets


def test_peaks_and_input_of_a_long_job(client: httpx.Client, tmp_path: Path, rng: np.random.Generator) -> None:
    sr = 8000
    path = tmp_path / "long.wav"
    with sf.SoundFile(str(path), "w", samplerate=sr, channels=2, subtype="PCM_16") as f:
        for _ in range(11):  # 11 minutes, longer than the page decodes itself
            f.write(np.stack([make_white(rng, sr * 60, -30.0)] * 2, axis=1))
    job = finished_job(client, path.read_bytes(), [])
    for source in ("input", "result"):
        r = client.get(f"/api/v1/jobs/{job['id']}/peaks", params={"source": source, "points": 500}, headers=H)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["points"] == 500
        assert body["duration_s"] == pytest.approx(660.0)
        assert body["channels"] == 2
        assert max(body["peaks"]) < 0.2
    r = client.get(f"/api/v1/jobs/{job['id']}/input", headers=H)
    assert r.status_code == 200
    assert r.headers["content-type"] == "audio/wav"
    assert r.content == path.read_bytes()


def test_the_input_of_a_job_whose_upload_was_deleted_says_so(client: httpx.Client, rng: np.random.Generator) -> None:
    # it said the input "has expired", minutes after its upload, when its owner had deleted it (audit)
    buf = io.BytesIO()
    sf.write(buf, make_white(rng, 8000, -30.0), 8000, format="WAV", subtype="PCM_16")
    r = client.post("/api/v1/files", files={"file": ("in.wav", buf.getvalue())}, headers=H)
    fid = r.json()["file_id"]
    r = client.post("/api/v1/jobs", json={"input": {"file_id": fid}, "steps": []}, headers=H)
    job_id = r.json()["id"]
    deadline = time.monotonic() + 60
    while client.get(f"/api/v1/jobs/{job_id}", headers=H).json()["state"] != "succeeded":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert client.delete(f"/api/v1/files/{fid}", headers=H).status_code in (200, 204)
    r = client.get(f"/api/v1/jobs/{job_id}/input", headers=H)
    assert r.status_code == 404
    assert "it was deleted" in r.json()["title"]


def test_peaks_of_a_headerless_pcm_input(client: httpx.Client) -> None:
    """Raw PCM16 says no rate of its own: the peaks read it at the rate the job was given (they
    answered 415, the input "not a recognized format", found by a contract tester)."""
    pcm = (np.sin(np.arange(16000) / 16000 * 2 * np.pi * 220) * 8000).astype("<i2").tobytes()
    r = client.post("/api/v1/files", files={"file": ("raw.pcm", pcm)}, data={"pcm_sample_rate": "16000"}, headers=H)
    assert r.status_code == 201, r.text
    body = {"input": {"file_id": r.json()["file_id"], "pcm_sample_rate": 16000}, "steps": [{"name": "vad"}]}
    r = client.post("/api/v1/jobs", json=body, headers=H)
    assert r.status_code == 202, r.text
    r = client.get(f"/api/v1/jobs/{r.json()['id']}/peaks", params={"source": "input", "points": 100}, headers=H)
    assert r.status_code == 200, r.text
    peaks = r.json()["peaks"]
    assert max(peaks) == pytest.approx(8000 / 32768, abs=0.01)


@pytest.mark.parametrize(
    ("path", "params", "status", "says"),
    [
        ("/api/v1/jobs/nope/peaks", {}, 404, "no job"),
        ("/api/v1/jobs/nope/input", {}, 404, "no job"),
        ("/api/v1/jobs/JOB/peaks", {"points": 3}, 400, "points"),
        ("/api/v1/jobs/JOB/peaks", {"source": "both"}, 400, "source"),
    ],
)
def test_peaks_refuse_clearly(
    client: httpx.Client, rng: np.random.Generator, path: str, params: dict[str, Any], status: int, says: str
) -> None:
    buf = io.BytesIO()
    sf.write(buf, make_white(rng, 8000, -30.0), 8000, format="WAV")
    job = finished_job(client, buf.getvalue(), []) if "JOB" in path else {"id": ""}
    r = client.get(path.replace("JOB", job["id"]), params=params, headers=H)
    assert r.status_code == status, r.text
    assert says in r.json()["title"]
    assert client.get(path.replace("JOB", job["id"] or "nope")).status_code == 401  # the key is required


def test_input_of_a_url_job_is_not_kept(client: httpx.Client) -> None:
    r = client.post("/api/v1/jobs", json={"input": {"url": "http://127.0.0.1:9/a.wav"}}, headers=H)
    assert r.status_code == 202, r.text
    r = client.get(f"/api/v1/jobs/{r.json()['id']}/input", headers=H)
    assert r.status_code == 409
    assert "keeps only uploaded inputs" in r.json()["title"]


def test_steps_publish_the_upload_limit(tmp_path: Path) -> None:
    """The playground refuses a file over HUSH_MAX_INPUT_MB before sending it: the steps list, which
    it reads first, says the limit (nothing did; a 413 came only after the whole body)."""
    import warnings

    from starlette.exceptions import StarletteDeprecationWarning

    from app.main import create_app

    with warnings.catch_warnings():  # the test client's own notice about its HTTP library
        warnings.filterwarnings("ignore", "Using `httpx` with `starlette.testclient`", StarletteDeprecationWarning)
        from fastapi.testclient import TestClient

    app = create_app(Settings(data_dir=tmp_path, api_keys=(KEY,), max_input_mb=1.5), workers=False)
    with TestClient(app, base_url="http://127.0.0.1") as c:
        r = c.get("/api/v1/steps", headers=H)
        assert r.status_code == 200
        assert r.headers["hush-max-input-bytes"] == str(int(1.5 * 1024 * 1024))
        doc = c.get("/openapi.json").json()["paths"]["/api/v1/steps"]["get"]["responses"]["200"]
        assert "Hush-Max-Input-Bytes" in doc["headers"]


def test_a_running_jobs_events_name_the_pass_it_runs(client: httpx.Client, rng: np.random.Generator) -> None:
    """While a job ran, its progress never said which step was running (audit): ``stage`` names
    the steps of the pass over the audio, in the job's JSON and its events, and is null once it ends."""
    buf = io.BytesIO()
    sf.write(buf, make_white(rng, 8000 * 120, -30.0), 8000, format="WAV", subtype="PCM_16")
    r = client.post("/api/v1/files", files={"file": ("in.wav", buf.getvalue())}, headers=H)
    assert r.status_code == 201, r.text
    steps = [{"name": "denoise"}, {"name": "dehum"}, {"name": "loudness"}]
    r = client.post("/api/v1/jobs", json={"input": {"file_id": r.json()["file_id"]}, "steps": steps}, headers=H)
    assert r.status_code == 202, r.text
    seen: list[dict[str, Any]] = []
    with client.stream("GET", f"/api/v1/jobs/{r.json()['id']}/events", headers=H, timeout=60) as events:
        for line in events.iter_lines():
            if line.startswith("data:"):
                seen.append(json.loads(line[5:]))
    stages = [(e["state"], e["stage"]) for e in seen]
    # the speech detector's pass (denoise's speech gate), the steps' pass (loudness measures in
    # it), then loudness's own pass
    named = list(dict.fromkeys(stage for state, stage in stages if stage is not None))
    # ("preparing" may pass between two events unseen; the result is measured after loudness's pass)
    assert [n for n in named if n != "preparing"] == [
        "speech detection",
        "denoise, dehum, loudness",
        "loudness",
        "loudness check",
    ], stages
    assert "preparing" not in named or named[0] == "preparing", stages
    # never null while running: the first moment of in_progress said nothing (audit)
    assert all((state == "in_progress") == (stage is not None) for state, stage in stages), stages
    last = seen[-1]
    assert last["state"] == "succeeded"
    assert last["stage"] is None
    assert "stage" not in last["result"]
    assert all("stage" not in e["result"] for e in seen)
    # nor the time and per cent the remaining-time estimate starts from (it read as an undocumented
    # pair of numbers in every running job, and in a cancelled job's JSON and webhook: audit)
    assert all("pace_from" not in e["result"] for e in seen)


def test_playground_page_and_static_files(client: httpx.Client) -> None:
    for path in ("/", "/playground"):
        r = client.get(path)
        assert r.status_code == 200
        assert "Hush playground" in r.text
        assert not re.search(r'(src|href)="(https?:)?//', r.text)  # every asset is local
    assert client.get("/static/playground.js").headers["content-type"].startswith("text/javascript")
    assert client.get("/static/vendor/wavesurfer.esm.js").status_code == 200
    assert client.get("/static/nothing.js").status_code == 404
    assert client.get("/static/..%2F..%2Fmain.py").status_code == 404


def test_docs_are_offline_and_declare_every_key_style(client: httpx.Client) -> None:
    for path, asset in (
        ("/docs", "/static/vendor/swagger-ui-bundle.js"),
        ("/redoc", "/static/vendor/redoc.standalone.js"),
    ):
        html = client.get(path).text
        assert asset in html
        assert "cdn" not in html
        assert "fonts.googleapis" not in html
    schema = client.get("/openapi.json").json()
    schemes = schema["components"]["securitySchemes"]
    assert schemes["bearer"] == {"type": "http", "scheme": "bearer", "description": schemes["bearer"]["description"]}
    assert (schemes["xApiKey"]["in"], schemes["xApiKey"]["name"]) == ("header", "x-api-key")
    assert (schemes["apikeyQuery"]["in"], schemes["apikeyQuery"]["name"]) == ("query", "apikey")
    assert (schemes["apiKeyHeader"]["in"], schemes["apiKeyHeader"]["name"]) == ("header", "api-key")
    assert schemes["basic"]["scheme"] == "basic"
    paths = schema["paths"]
    # every error status a native route really answers is documented, with the problem body
    create = paths["/api/v1/jobs"]["post"]["responses"]
    assert {"400", "401", "404", "429", "501"} <= set(create)
    assert "422" not in create
    # the native error body is RFC 9457 problem JSON, and the document says so (not application/json)
    assert create["401"]["content"]["application/problem+json"]["schema"]["$ref"].endswith("/Problem")
    assert {"404", "409"} <= set(paths["/api/v1/jobs/{job_id}/result"]["get"]["responses"])
    assert {"400", "413", "415"} <= set(paths["/api/v1/files"]["post"]["responses"])
    assert paths["/api/v1/jobs"]["post"]["security"] == [{"bearer": []}, {"xApiKey": []}]
    deepaffects = next(p for p in paths if p.startswith("/audio/generic/api/v1"))
    assert next(iter(paths[deepaffects].values()))["security"] == [{"apikeyQuery": []}]
    audo = next(p for p in paths if p.startswith("/v1/"))
    assert next(iter(paths[audo].values()))["security"] == [{"xApiKey": []}]


def test_cli_lists_only_what_this_build_has() -> None:
    r = subprocess.run([sys.executable, "-m", "app.cli", "--help"], capture_output=True, text=True, check=True)
    listing = r.stdout.split("positional arguments:")[1].split("options:")[0]
    commands = [line.split()[0] for line in listing.splitlines() if line.startswith("    ") and line.strip()]
    assert "worker" in commands  # the cluster's Celery worker (it says what it needs when not configured)
    from app.jobs.steps import STEPS

    assert ("declick" in commands) is STEPS["declick"].available
    assert {"serve", "denoise", "vad", "enhance"} <= set(commands)


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_cli_progress_counts_whole_percents(monkeypatch: pytest.MonkeyPatch) -> None:
    err = _Tty()
    monkeypatch.setattr(sys, "stderr", err)
    bar = _Bar(60.0)
    for pct in (0.4, 12.7, 12.9, 55.5, 99.99):
        bar(pct)
        assert bar._bar.n == int(pct)
    bar.close()
    text = err.getvalue()
    assert "100 %" in text
    assert "." not in text.split("|")[0].split(":")[-1]  # no fractional percent is shown


def test_cli_serve_says_where_and_what_to_open(server: HushProcess) -> None:
    log = server.log.read_text()
    assert f"serving on 127.0.0.1:{server.port}" in log
    assert f"Open http://127.0.0.1:{server.port}/ for the playground" in log
    # each SDK's own base URL (the Audo SDK given the bare address got a 404; README audit)
    assert f"the Audo SDK http://127.0.0.1:{server.port}/v1" in log


def _page_params() -> dict[str, dict[str, Any]]:
    """The playground's PARAMS table (label, range, value per parameter), read from its source."""
    source = (Path(__file__).parents[2] / "app/api/static/playground.js").read_text()
    table = source[source.index("const PARAMS = {") : source.index("\n};", source.index("const PARAMS = {"))]
    out: dict[str, dict[str, Any]] = {}
    for name, body in re.findall(r"^\s+(\w+): \{(.*)\},$", table, flags=re.M):
        fields = dict(re.findall(r'(\w+): ("[^"]*"|-?[\d.]+)', body))
        out[name] = {k: json.loads(v) for k, v in fields.items()}
    return out


def test_the_playground_labels_every_parameter_and_takes_its_ranges_from_the_server() -> None:
    """Every parameter has a label on the page; its default and range are not the page's own (they
    drifted from the server's: denoise at 80 against the server's 100, autoid's target_lufs given
    loudness's range): the page reads them from ``GET /api/v1/steps`` (tests/browser checks it)."""
    page = _page_params()
    numbers = {p for s in STEPS.values() for p in s.params if p not in ("engine", "channels")}
    assert numbers <= set(page), f"parameters the page shows unlabelled: {sorted(numbers - set(page))}"
    for name, meta in page.items():
        assert any(name in s.params for s in STEPS.values()), f"the page labels {name!r}, which no step takes"
        assert meta["label"]
        assert not {"min", "max", "value"} & set(meta), f"{name}: the page's own default or range {meta}"
