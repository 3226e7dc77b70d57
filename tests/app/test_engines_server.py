"""The neural engines through a real `hush serve`: per-job `engine`, the server default, bad engines."""

from __future__ import annotations

import io
from collections.abc import Iterator

import httpx
import numpy as np
import pytest
import soundfile as sf

from app.jobs.engines import engine_available
from tests._hush import HushProcess
from tests.app.test_server import KEY, H, submit, upload, wait_state, wav_bytes
from tests.signals import make_speech_like, make_white, mix_at_snr

pytestmark = pytest.mark.skipif(
    not all(engine_available(e) for e in ("rnnoise", "deepfilternet3", "silero")),
    reason="the neural engines are not installed (pip install 'hush[neural]')",
)


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    # the server default is rnnoise, so a job without `engine` (and every vendor dialect) uses it
    proc = HushProcess(tmp_path_factory.mktemp("hush"), workers=1, api_keys=KEY, denoise_engine="rnnoise")
    with proc, httpx.Client(base_url=proc.url, timeout=60) as c:
        yield c


@pytest.mark.parametrize(
    ("engine", "expected"), [("deepfilternet3", "deepfilternet3"), ("dsp", "dsp"), (None, "rnnoise")]
)
def test_engine_job_end_to_end(
    client: httpx.Client, rng: np.random.Generator, engine: str | None, expected: str | None
) -> None:
    sr = 44100
    clean, _ = make_speech_like(rng, sr, 2.0)
    noisy = mix_at_snr(clean, make_white(rng, clean.size), 5.0)
    stereo = np.stack([noisy, 0.5 * noisy])
    params = {} if engine is None else {"engine": engine}
    job = submit(client, upload(client, wav_bytes(stereo, sr)), steps=[{"name": "denoise", "params": params}])
    done = wait_state(client, job["id"], {"succeeded", "failed"}, timeout_s=120)
    assert done["state"] == "succeeded", done
    rep = done["result"]["steps"][0]
    assert rep.get("engine") == expected, rep
    out, out_sr = sf.read(io.BytesIO(client.get(done["result_url"], headers=H).content), always_2d=True)
    assert out_sr == sr
    assert out.shape == (stereo.shape[1], 2)
    lead = slice(sr // 10, sr * 4 // 10)  # the speech's lead silence: noise only
    assert np.mean(out[lead, 0] ** 2) < 0.5 * np.mean(noisy[lead] ** 2)


def test_silero_vad_job(client: httpx.Client, rng: np.random.Generator) -> None:
    speech, _ = make_speech_like(rng, 16000, 3.0)
    job = submit(
        client, upload(client, wav_bytes(speech, 16000)), steps=[{"name": "vad", "params": {"engine": "silero"}}]
    )
    done = wait_state(client, job["id"], {"succeeded", "failed"}, timeout_s=120)
    assert done["state"] == "succeeded", done
    rep = done["result"]["steps"][0]
    assert rep["engine"] == "silero", rep
    assert rep["segments"] >= 1, rep


@pytest.mark.parametrize(("step", "engine"), [("denoise", "nope"), ("vad", "deepfilternet3"), ("denoise", 7)])
def test_bad_engine_is_400(client: httpx.Client, rng: np.random.Generator, step: str, engine: object) -> None:
    file_id = upload(client, wav_bytes(make_white(rng, 8000), 8000))
    r = client.post(
        "/api/v1/jobs",
        json={"input": {"file_id": file_id}, "steps": [{"name": step, "params": {"engine": engine}}]},
        headers=H,
    )
    assert r.status_code == 400, r.text
    assert "unknown engine" in r.text
