"""Dereverberation (dsp.dereverb) on generated speech in synthetic rooms of known decay."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import signal as sps

from dsp.dereverb import ReverbAnalyzer, ReverbEstimate, ReverbSuppressor, estimate_t60, remove_reverb
from dsp.errors import InvalidAudioError, InvalidParameterError
from dsp.stream import BlockProcessor, run_blocks
from tests.signals import make_speech_like

RATES = (8000, 16000, 22050, 44100, 48000)


def room(rng: np.random.Generator, sr: int, t60_s: float) -> np.ndarray:
    """A synthetic impulse response: the direct path, then exponentially decaying noise (Polack's model)."""
    n = int(1.2 * t60_s * sr)
    t = np.arange(n) / sr
    h = rng.standard_normal(n) * np.exp(-3 * math.log(10) * t / t60_s)
    h[: int(0.003 * sr)] = 0.0  # the first reflection 3 ms after the direct sound
    h *= 1.0 / np.sqrt(np.sum(h**2))  # reverberant energy equal to the direct sound's (DRR 0 dB)
    h[0] = 1.0
    return h


def reverberant(rng: np.random.Generator, sr: int, t60_s: float = 0.6) -> tuple[np.ndarray, np.ndarray, list]:
    x, words = make_speech_like(rng, sr, 10.0)
    y = sps.fftconvolve(x, room(rng, sr, t60_s))[: x.size].astype(np.float32)
    return x, y, words


def tail_energy_db(a: np.ndarray, sr: int, words: list[tuple[float, float]]) -> float:
    """Energy in the pauses from 50 ms after each word to the next: reverberation only."""
    mask = np.zeros(a.size, bool)
    for (_, end), (start, _) in itertools.pairwise(words):
        mask[int((end + 0.05) * sr) : int(start * sr)] = True
    return float(10 * np.log10(np.sum(a[mask].astype(np.float64) ** 2) + 1e-20))


def speech_energy_db(a: np.ndarray, sr: int, words: list[tuple[float, float]]) -> float:
    mask = np.zeros(a.size, bool)
    for s, e in words:
        mask[int(s * sr) : int(e * sr)] = True
    return float(10 * np.log10(np.sum(a[mask].astype(np.float64) ** 2)))


@pytest.mark.parametrize("sr", RATES)
def test_reverb_tail_is_shorter_at_every_rate(rng: np.random.Generator, sr: int) -> None:
    _, y, words = reverberant(rng, sr)
    a = ReverbAnalyzer(sr, 1)
    a.process(y[None, :])
    est = a.finish()
    assert est.applied, est.reason
    assert est.share > 0.03
    s = ReverbSuppressor(sr, 1, est)
    out = np.concatenate([s.process(y[None, :]), s.flush()], axis=-1)[0]
    assert out.shape == y.shape
    assert out.dtype == np.float32
    # the tails in the pauses go down by 4 dB or more, the words by under 3 dB
    assert tail_energy_db(out, sr, words) <= tail_energy_db(y, sr, words) - 4.0
    assert speech_energy_db(out, sr, words) >= speech_energy_db(y, sr, words) - 3.0
    rep = s.report()
    assert rep["applied"] is True
    assert rep["t60_after_s"] < rep["t60_before_s"]


def test_t60_is_measured_blind(rng: np.random.Generator) -> None:
    sr = 16000
    for t60 in (0.4, 0.8):
        _, y, _ = reverberant(rng, sr, t60)
        a = ReverbAnalyzer(sr, 1)
        a.process(y[None, :])
        assert a.finish().t60_s == pytest.approx(t60, rel=0.4)


def test_estimate_t60_needs_decays() -> None:
    assert math.isnan(estimate_t60(np.zeros(1000), 0.008)[0])
    assert math.isnan(estimate_t60(np.zeros(5), 0.008)[0])


def test_estimate_t60_of_an_hour_in_bounded_memory() -> None:
    import tracemalloc

    hop = 0.008
    decay = np.concatenate([np.zeros(20), -60 / 0.5 * hop * np.arange(40)])  # T60 0.5 s
    hour = np.tile(decay, round(3600 / hop / decay.size))  # 450 000 frames
    tracemalloc.start()
    try:
        t60, n = estimate_t60(hour, hop)
        peak_mb = tracemalloc.get_traced_memory()[1] / 1e6
    finally:
        tracemalloc.stop()
    assert t60 == pytest.approx(0.5, abs=0.01)
    assert n > 1000
    # the line fits of every frame at once held 30 values each, three times over: 0.3 GB an hour
    assert peak_mb < 30.0, peak_mb


def test_dry_speech_is_left_untouched(rng: np.random.Generator) -> None:
    for sr in (16000, 48000):
        x, _ = make_speech_like(rng, sr, 8.0)
        a = ReverbAnalyzer(sr, 1)
        a.process(x[None, :])
        est = a.finish()
        assert not est.applied
        assert est.share < 0.03
        assert "no reverberation" in est.reason
        np.testing.assert_array_equal(remove_reverb(x, sr), x)


def test_a_dry_clip_too_short_to_measure_is_left_untouched_and_says_so() -> None:
    # cut to 0.3-1 s, dry speech read a share of 10-50 % (ten taps a bin fitted over a few dozen
    # frames explain part of anything) and was processed, with no decay measured (an audit)
    x, _ = make_speech_like(np.random.default_rng(1), 16000, 4.0)
    for start, seconds in ((0.5, 0.3), (0.5, 0.5), (1.5, 0.5), (0.5, 1.0)):
        clip = x[int(start * 16000) : int((start + seconds) * 16000)]
        a = ReverbAnalyzer(16000, 1)
        a.process(clip[None, :])
        est = a.finish()
        assert not est.applied, (start, seconds, est.share)
        assert "too short to measure reverberation" in est.reason
        np.testing.assert_array_equal(remove_reverb(clip, 16000), clip)


@pytest.mark.parametrize("offset", [0.01, 0.2])
def test_a_dc_offset_is_not_taken_for_reverberation(rng: np.random.Generator, offset: float) -> None:
    # a constant is perfectly predicted from the past: with it, a dry voice read 15-98 % "reverb"
    sr = 16000
    x, _ = make_speech_like(rng, sr, 8.0)
    x = (0.7 * x / np.abs(x).max() + offset).astype(np.float32)
    a = ReverbAnalyzer(sr, 1)
    a.process(x[None, :])
    est = a.finish()
    assert not est.applied
    assert est.share < 0.03
    np.testing.assert_array_equal(remove_reverb(x, sr), x)


def test_reverberant_speech_with_an_offset_comes_out_without_it(rng: np.random.Generator) -> None:
    sr = 16000
    _, y, _ = reverberant(rng, sr, t60_s=1.0)
    y = (0.5 * y / np.abs(y).max() + 0.1).astype(np.float32)
    a = ReverbAnalyzer(sr, 1)
    a.process(y[None, :])
    assert a.finish().applied
    out = remove_reverb(y, sr)
    assert abs(float(np.mean(y))) > 0.09
    assert abs(float(np.mean(out[sr:]))) < 0.005


def test_silence_in_silence_out() -> None:
    x = np.zeros((2, 2 * 16000), np.float32)
    a = ReverbAnalyzer(16000, 2)
    a.process(x)
    assert "silent" in a.finish().reason
    np.testing.assert_array_equal(remove_reverb(x, 16000), x)


def test_output_does_not_depend_on_block_sizes(rng: np.random.Generator) -> None:
    sr = 16000
    _, y, _ = reverberant(rng, sr, t60_s=1.0)
    y = y[: 5 * sr]

    def run(block: int) -> tuple[ReverbEstimate, np.ndarray]:
        a = ReverbAnalyzer(sr, 1)
        for i in range(0, y.size, block):
            a.process(y[None, i : i + block])
        est = a.finish()
        s = ReverbSuppressor(sr, 1, est)
        out = np.concatenate(list(run_blocks(s, (y[None, i : i + block] for i in range(0, y.size, block)))), -1)
        return est, out

    ref_est, ref = run(y.size)
    assert ref_est.applied
    for block in (37, 1000, 4001):
        est, out = run(block)
        assert est.t60_s == pytest.approx(ref_est.t60_s, rel=1e-4)
        np.testing.assert_allclose(est.filters, ref_est.filters, rtol=1e-3, atol=1e-5)
        np.testing.assert_allclose(out, ref, atol=1e-5)


def test_stereo_is_processed_per_channel(rng: np.random.Generator) -> None:
    sr = 16000
    _, y, words = reverberant(rng, sr)
    out = remove_reverb(np.stack([y, 0.5 * y]), sr)
    assert out.shape == (2, y.size)
    np.testing.assert_allclose(out[1], 0.5 * out[0], atol=2e-6)
    assert tail_energy_db(out[0], sr, words) <= tail_energy_db(y, sr, words) - 4.0


def test_is_a_block_processor_and_passes_through_when_not_applied() -> None:
    est = ReverbEstimate(False, 16000, math.nan, 0, reason="dry")
    s = ReverbSuppressor(16000, 1, est)
    assert isinstance(s, BlockProcessor)
    x = np.ones((1, 100), np.float32)
    np.testing.assert_array_equal(s.process(x), x)
    assert s.flush().shape == (1, 0)
    rep = s.report()
    assert rep == {**rep, "step": "remove_reverb", "applied": False, "not_applied": "dry"}


@pytest.mark.parametrize(
    ("sr", "channels", "late_weight"),
    [(4000, 1, 0.8), (16000, 0, 0.8), (16000, 1, -0.1), (16000, 1, 3.5), (16000, 1, "1")],
)
def test_bad_parameters_are_refused(sr: int, channels: int, late_weight: float) -> None:
    est = ReverbEstimate(False, 16000, math.nan, 0)
    with pytest.raises(InvalidParameterError):
        ReverbSuppressor(sr, channels, est, late_weight=late_weight)
    if late_weight == 0.8:
        with pytest.raises(InvalidParameterError):
            ReverbAnalyzer(sr, channels)


def test_bad_audio_and_mismatched_estimate_are_refused(rng: np.random.Generator) -> None:
    with pytest.raises(InvalidAudioError):
        remove_reverb(np.array([np.nan, 1.0], np.float32), 16000)
    with pytest.raises(InvalidParameterError):
        ReverbAnalyzer(16000, 1).process(np.zeros((2, 10), np.float32))
    with pytest.raises(ValueError, match="16000 Hz"):
        ReverbSuppressor(48000, 1, ReverbEstimate(False, 16000, math.nan, 0))
    _, y, _ = reverberant(rng, 16000)
    a = ReverbAnalyzer(16000, 1)
    a.process(y[None, :])
    with pytest.raises(ValueError, match="channel"):
        ReverbSuppressor(16000, 2, a.finish())
    with pytest.raises(RuntimeError):
        a.process(y[None, :10])


def test_the_dry_reason_never_reads_as_the_bar_itself() -> None:
    """A share just under the bar printed to one decimal read "explains 3.0 % of the energy, under 3 %"."""
    from dsp.dereverb import MIN_SHARE, _share_text

    assert _share_text(MIN_SHARE - 1e-5) == f"{100 * MIN_SHARE - 0.01:.2f} % of the energy"
    assert _share_text(0.012345) == "1.23 % of the energy"
    assert _share_text(-0.003) == "none of the energy"
