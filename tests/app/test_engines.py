"""The optional neural engines (hush[neural]): lengths, alignment, block invariance, effect."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from app.errors import EngineUnavailableError, InvalidParameterError
from app.jobs.engines import check_engine, engine_available
from tests.signals import make_speech_like, make_white, mix_at_snr

needs = {
    e: pytest.mark.skipif(not engine_available(e), reason=f"engine {e} not installed (pip install 'hush[neural]')")
    for e in ("rnnoise", "deepfilternet3", "silero")
}


def _run(proc, x, bs):
    outs = [proc.process(x[:, i : i + bs].astype(np.float32)) for i in range(0, x.shape[1], bs)]
    return np.concatenate([*outs, proc.flush()], axis=1)


@pytest.mark.parametrize("engine", [pytest.param(e, marks=needs[e]) for e in ("rnnoise", "deepfilternet3")])
@pytest.mark.parametrize("sr", [8000, 16000, 44100, 48000])
@pytest.mark.parametrize("channels", [1, 2])
def test_neural_denoise_length_alignment_and_block_invariance(engine, sr, channels, rng):
    from app.jobs.engines import NeuralDenoiser

    clean, _ = make_speech_like(rng, sr, 2.0)
    noisy = mix_at_snr(clean, make_white(rng, clean.size), 5.0)
    x = np.stack([noisy] * channels)
    y = _run(NeuralDenoiser(sr, channels, engine=engine), x, 4096)
    y2 = _run(NeuralDenoiser(sr, channels, engine=engine), x, 1000)
    assert y.shape == x.shape
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, y2, atol=1e-5)
    # aligned: the cross-correlation with the clean speech peaks at lag 0 (± 1 ms)
    c = np.correlate(y[0], clean, "full")
    assert abs(int(np.argmax(c)) - (clean.size - 1)) <= sr // 1000 + 1
    # noise reduced: less energy where there is no speech
    quiet = slice(sr // 10, sr * 4 // 10)  # inside the 0.5 s lead silence
    assert np.mean(y[0][quiet] ** 2) < 0.5 * np.mean(noisy[quiet] ** 2)


@needs["silero"]
def test_silero_finds_speech_not_noise(rng):
    from app.jobs.engines import SileroSpeechDetector

    sr = 16000
    speech, _ = make_speech_like(rng, sr, 3.0)
    det = SileroSpeechDetector(sr, 1)
    det.process(speech[None, :].astype(np.float32))
    noise = SileroSpeechDetector(sr, 1)
    noise.process(make_white(rng, 3 * sr)[None, :].astype(np.float32))
    assert noise.finish() == []
    assert det.finish(), "no speech found in speech-like audio"
    assert det.report()["engine"] == "silero"
    # times in whole milliseconds, as the DSP detector gives them (no 2.6900000000000004)
    for value in [t for seg in det.finish() for t in seg] + [det.report()["speech_s"]]:
        assert value == round(value, 3)


@pytest.mark.parametrize(
    ("step", "engine", "error"),
    [
        ("denoise", "nope", InvalidParameterError),
        ("vad", "rnnoise", InvalidParameterError),
        ("denoise", 3, InvalidParameterError),
    ],
)
def test_check_engine_rejects_unknown(step, engine, error):
    with pytest.raises(error, match="unknown engine"):
        check_engine(step, engine)


def test_check_engine_unavailable_is_clear(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    with pytest.raises(EngineUnavailableError, match="not available in this build"):
        check_engine("denoise", "deepfilternet3")


@pytest.mark.parametrize("engine", [pytest.param(e, marks=needs[e]) for e in ("rnnoise", "deepfilternet3")])
def test_neural_denoise_reports_and_handles_empty_and_silent_streams(engine):
    from app.jobs.engines import NeuralDenoiser

    empty = NeuralDenoiser(22050, 2, engine=engine)
    assert empty.flush().shape == (2, 0)
    d = NeuralDenoiser(22050, 1, engine=engine)
    y = _run(d, np.zeros((1, 22050)), 5000)
    assert y.shape == (1, 22050)
    assert np.abs(y).max() < 1e-3
    rep = d.report()
    assert rep["engine"] == engine
    assert rep["model_rate_hz"] == 48_000
    assert engine.replace("deepfilternet3", "DeepFilterNet3").lower() in rep["model"].lower()


@needs["deepfilternet3"]
@pytest.mark.parametrize("seconds", [1.2, 4.0])  # shorter and longer than the level rider's 2 s lookahead
def test_deepfilternet3_treats_quiet_speech_as_loud_speech(seconds, rng):
    # the model alone returned silence for speech at -55 dBFS RMS; the rider brings it to the model's level
    from app.jobs.engines import NeuralDenoiser

    sr = 16000
    clean, _ = make_speech_like(rng, sr, seconds)
    unit = clean / np.sqrt(np.mean(clean**2))
    out = {}
    for db in (-30.0, -55.0):
        y = _run(NeuralDenoiser(sr, 1, engine="deepfilternet3"), unit[None, :] * 10 ** (db / 20), 4096)[0]
        assert y.size == unit.size
        out[db] = y.astype(np.float64) / 10 ** (db / 20)  # back to the unit level
    err = out[-55.0] - out[-30.0]
    assert np.sum(out[-55.0] ** 2) > 0.5 * np.sum(out[-30.0] ** 2)
    assert 10 * np.log10(np.sum(out[-30.0] ** 2) / np.sum(err**2)) > 15.0


@needs["silero"]
def test_silero_hears_a_polarity_inverted_channel(rng):
    from app.jobs.engines import SileroSpeechDetector

    sr = 16000
    clean, _ = make_speech_like(rng, sr, 4.0)
    x = mix_at_snr(clean, make_white(rng, clean.size), 15.0)
    found = {}
    for name, audio in (("mono", x[None, :]), ("inverted", np.stack([x, -x]))):
        det = SileroSpeechDetector(sr, audio.shape[0])
        for i in range(0, audio.shape[1], 4000):
            det.process(audio[:, i : i + 4000].astype(np.float32))
        found[name] = det.finish()
    assert found["mono"]
    assert found["inverted"] == found["mono"]
    assert all(0.0 <= a < b <= clean.size / sr for a, b in found["mono"])


def test_a_server_whose_default_engine_is_not_installed_refuses_to_start(monkeypatch, tmp_path, capsys):
    # every vendor dialect runs on the default engines: such a server would answer everything 501
    from app import cli
    from app.jobs import engines
    from app.settings import get_settings

    monkeypatch.setitem(engines._NEEDS, "rnnoise", ("hush_no_such_package",))
    monkeypatch.setenv("HUSH_DENOISE_ENGINE", "rnnoise")
    monkeypatch.setenv("HUSH_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    try:
        assert cli.main(["serve", "--port", "9"]) == 2
    finally:
        get_settings.cache_clear()
    err = capsys.readouterr().err
    assert "HUSH_DENOISE_ENGINE=rnnoise" in err
    assert "pip install --no-deps pyrnnoise==0.4.5" in err
    with pytest.raises(EngineUnavailableError, match=r"pyrnnoise==0\.4\.5"):
        check_engine("denoise", "rnnoise")  # a job naming it gets the same install line


def test_steps_say_which_engines_this_build_has(monkeypatch, tmp_path):
    # the playground offers what /api/v1/steps lists as available
    import asyncio

    import httpx

    from app.jobs import engines
    from app.main import create_app
    from app.settings import Settings

    monkeypatch.setitem(engines._NEEDS, "rnnoise", ("hush_no_such_package",))
    app = create_app(Settings(data_dir=tmp_path, api_keys=("k" * 24,)), workers=False)

    async def steps():
        transport = httpx.ASGITransport(app=app)
        async with app.router.lifespan_context(app), httpx.AsyncClient(transport=transport, base_url="http://h") as c:
            return (await c.get("/api/v1/steps", headers={"Authorization": "Bearer " + "k" * 24})).json()

    by_name = {s["name"]: s for s in asyncio.run(steps())}
    denoise = {e["name"]: e for e in by_name["denoise"]["engines"]}
    assert denoise["dsp"] == {"name": "dsp", "available": True}
    assert denoise["rnnoise"] == {
        "name": "rnnoise",
        "available": False,
        "install": "pip install --no-deps pyrnnoise==0.4.5",
    }
    assert [e["name"] for e in by_name["vad"]["engines"]] == ["dsp", "silero"]
    assert "engines" not in by_name["loudness"]


@pytest.mark.parametrize("engine", ["rnnoise", "deepfilternet3"])
def test_neural_amount_has_the_dsp_engines_range(engine):
    # amount 0 ran as a no-op reported as a normal run; the DSP engine refuses it
    from app.jobs.engines import NeuralDenoiser

    with pytest.raises(ValueError, match=r"amount must be in \[1\.0, 100\.0\]"):
        NeuralDenoiser(16000, 1, engine=engine, amount=0.0)
    assert NeuralDenoiser(16000, 1, engine=engine, amount=1.0).amount == 1.0
