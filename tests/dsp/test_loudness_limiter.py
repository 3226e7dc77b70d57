"""The true-peak limiter and loudness normalisation, checked against pyloudnorm (BS.1770)."""

from __future__ import annotations

import io
import itertools

import numpy as np
import pyloudnorm
import pytest
import soundfile as sf
from scipy import signal as sps
from scipy.signal import resample_poly

from dsp.loudness import TruePeakLimiter, TruePeakMeter
from dsp.stream import run_blocks
from tests.signals import make_speech_like


def true_peak_db(x: np.ndarray) -> float:
    """4x oversampled peak (an independent interpolator: scipy's polyphase resampler)."""
    return float(20 * np.log10(np.max(np.abs(resample_poly(x, 4, 1, axis=-1)))))


@pytest.mark.parametrize("sr", [16000, 44100, 48000])
def test_limiter_keeps_the_true_peak_under_the_ceiling(rng: np.random.Generator, sr: int) -> None:
    x = 4.0 * make_speech_like(rng, sr, 3.0, level_dbfs=-12.0)[0]  # peaks far over full scale
    lim = TruePeakLimiter(sr, 1, ceiling_dbtp=-1.0)
    y = np.concatenate(list(run_blocks(lim, [x[None, :5000], x[None, 5000:]])), axis=-1)[0]
    assert y.size == x.size
    assert true_peak_db(y) <= -1.0 + 0.1
    assert lim.report()["max_reduction_db"] > 6


def test_limiter_leaves_quiet_audio_alone(rng: np.random.Generator) -> None:
    x = make_speech_like(rng, 16000, 2.0, level_dbfs=-30.0)[0]
    lim = TruePeakLimiter(16000, 1)
    y = np.concatenate(list(run_blocks(lim, [x[None, :]])), axis=-1)[0]
    np.testing.assert_allclose(y, x, atol=1e-7)
    assert lim.report()["limited_s"] == 0


@pytest.mark.parametrize("blocks", [[48000], [1, 4000, 43999], [333] * 144 + [48000 - 333 * 144]])
def test_limiter_does_not_depend_on_block_sizes(rng: np.random.Generator, blocks: list[int]) -> None:
    x = 3.0 * make_speech_like(rng, 16000, 3.0, level_dbfs=-12.0)[0]
    ref = np.concatenate(list(run_blocks(TruePeakLimiter(16000, 1), [x[None, :]])), axis=-1)
    edges = np.cumsum([0, *blocks])
    parts = run_blocks(TruePeakLimiter(16000, 1), (x[None, a:b] for a, b in itertools.pairwise(edges)))
    np.testing.assert_allclose(np.concatenate(list(parts), axis=-1), ref, atol=1e-6)


def test_normalize_job_meets_minus_16_lufs_and_minus_1_dbtp(tmp_path: object, rng: np.random.Generator) -> None:
    from pathlib import Path

    from app import media
    from app.jobs.models import OutputSpec, Step
    from app.jobs.pipeline import process_file

    assert isinstance(tmp_path, Path)
    sr = 48000
    x = make_speech_like(rng, sr, 8.0, level_dbfs=-32.0)[0]
    x[sr * 2 : sr * 2 + 40] += 0.15  # a sharp transient: the gain alone would push it over the ceiling
    src = tmp_path / "in.wav"
    sf.write(src, x, sr, subtype="FLOAT")
    info = media.probe(src)
    result = process_file(
        src, info, [Step(name="loudness", params={"target_lufs": -16.0, "max_peak_dbfs": -1.0})], OutputSpec(), tmp_path
    )
    assert result.path is not None
    y, _ = sf.read(io.BytesIO(result.path.read_bytes()), dtype="float64")
    assert pyloudnorm.Meter(sr).integrated_loudness(y) == pytest.approx(-16.0, abs=0.5)
    assert true_peak_db(y) <= -1.0 + 0.1
    (report,) = result.reports
    assert report["limiter"]["max_reduction_db"] > 0


def test_gain_stage_on_silence_reports_not_applied() -> None:
    """A silent recording gets no gain, and its report says so in the key every report uses."""
    from dsp.loudness import GainStage, measure_loudness

    stage = GainStage.for_target(measure_loudness(np.zeros(48000, np.float32), 48000))
    rep = stage.report()
    assert rep["applied"] is False
    assert rep["not_applied"] == "the audio is digitally silent: no gain applied"
    tone = (0.1 * np.sin(2 * np.pi * 440 * np.arange(48000) / 48000)).astype(np.float32)
    assert "not_applied" not in GainStage.for_target(measure_loudness(tone, 48000)).report()


@pytest.mark.parametrize("peak_dbfs", [-40.0, -55.0, -62.0])
def test_quiet_speech_is_normalised_to_what_a_standard_meter_reads(peak_dbfs: float) -> None:
    """Raised, a quiet recording's blocks under -70 LUFS count: the gain is chosen with the gate
    where it will be (speech peaking at -55 dBFS came out at -21 LUFS, at -62 dBFS was "silent")."""
    from dsp.loudness import GainStage, measure_loudness

    sr = 16000
    x, _ = make_speech_like(np.random.default_rng(30), sr, 8.0)
    x = (x / np.abs(x).max() * 10 ** (peak_dbfs / 20)).astype(np.float32)
    stage = GainStage.for_target(measure_loudness(x, sr), target_lufs=-23.0, limiter_headroom_db=12.0)
    assert stage.applied
    y = x.astype(np.float64) * 10 ** (stage.gain_db / 20)
    assert pyloudnorm.Meter(sr).integrated_loudness(y) == pytest.approx(-23.0, abs=0.2)


@pytest.mark.parametrize("target", [-69.0, -70.0])
def test_a_target_at_the_bottom_of_the_range_turns_the_recording_down_to_it(target: float) -> None:
    """Near -70 LUFS the gate rises with every dB taken off and has no fixed point: at -70 the
    report said +11.6 dB and peak-limited for speech turned down 46 dB (a playground audit)."""
    from dsp.loudness import GainStage, measure_loudness

    sr = 16000
    x, _ = make_speech_like(np.random.default_rng(31), sr, 8.0, level_dbfs=-24.0)
    x = x.astype(np.float32)
    stage = GainStage.for_target(measure_loudness(x, sr), target_lufs=target)
    assert stage.applied
    assert not stage.limited_by_peak
    assert -60.0 < stage.gain_db < -30.0
    y = x.astype(np.float64) * 10 ** (stage.gain_db / 20)
    assert pyloudnorm.Meter(sr).integrated_loudness(y) == pytest.approx(target, abs=0.3)


def meter_true_peak_db(x: np.ndarray, sr: int) -> float:
    """True peak read as ffmpeg's ebur128 meter reads it: oversampled to 192 kHz (at least 4x)
    through a long windowed sinc whose passband reaches 0.97 of Nyquist (its resampler's default)."""
    up = max(4, -(-192000 // sr))
    h = sps.firwin(2 * 64 * up + 1, 0.97 / up, window=("kaiser", 9.0))  # resample_poly applies the gain up
    return float(20 * np.log10(np.max(np.abs(resample_poly(x, up, 1, window=h)))))


@pytest.mark.parametrize("sr", [8000, 16000, 22050, 48000])
def test_limiter_ceiling_holds_on_a_meter_with_a_finer_interpolator(sr: int) -> None:
    """Speech with a broadband noise floor 34 dB under its peaks, 6 dB over full scale. At 4x with
    a 48-tap filter the limiter read its peaks low: a 192 kHz meter showed -0.76 to -0.87 dBTP."""
    rng = np.random.default_rng(3)
    talk = make_speech_like(rng, sr, 4.0, level_dbfs=-20.0)[0]
    x = talk + 0.02 * rng.standard_normal(talk.size) * np.abs(talk).max()
    x = (x / np.abs(x).max() * 2.0).astype(np.float32)
    lim = TruePeakLimiter(sr, 1, ceiling_dbtp=-1.0)
    y = np.concatenate(list(run_blocks(lim, [x[None, :sr], x[None, sr:]])), axis=-1)[0]
    assert meter_true_peak_db(y, sr) <= -1.0


@pytest.mark.parametrize("sr", [8000, 44100, 48000])
def test_true_peak_meter_reads_between_samples_and_ignores_chunking(sr: int) -> None:
    # a quarter-rate sine sampled 45 degrees off its crests: samples at 0.707, crests at 1.0 (3 dB)
    n = np.arange(sr)
    fade = np.minimum(1.0, np.minimum(n, n[::-1]) / 400)  # no edge to ring at
    x = (0.5 * fade * np.sin(2 * np.pi * n / 4 + np.pi / 4)).astype(np.float32)
    assert 20 * np.log10(np.abs(x).max()) == pytest.approx(-9.03, abs=0.01)
    readings = []
    for block in (sr, 1000, 37):
        meter = TruePeakMeter(sr, 1)
        for i in range(0, sr, block):
            meter.process(x[i : i + block])
        readings.append(meter.finish())
    assert readings[0] == pytest.approx(-6.02, abs=0.1)
    assert readings[1] == readings[0]
    assert readings[2] == readings[0]
    silent = TruePeakMeter(sr, 2)
    silent.process(np.zeros((2, 100), np.float32))
    assert silent.finish() == -np.inf
