"""Filled-pause removal (dsp.fillers) on generated words with a sustained "uh" between them."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal as sps

from dsp.errors import InvalidAudioError, InvalidParameterError
from dsp.fillers import FillerDetector, remove_fillers
from tests.signals import make_white

SR = 16000


def make_uh(sr: int, duration_s: float = 0.45, f0_hz: float = 115.0) -> np.ndarray:
    """A sustained central vowel: flat F0 (a 2 % fall), fixed formants 600 / 1250 / 2500 Hz."""
    m = round(duration_s * sr)
    f0 = f0_hz * np.linspace(1.0, 0.98, m)
    phase = 2 * np.pi * np.cumsum(f0) / sr
    x = np.zeros(m)
    for h in range(1, int(min(3800, sr / 2 - 200) // f0_hz) + 1):
        x += np.sin(h * phase) / h
    for fc in (600.0, 1250.0, 2500.0):
        if fc < sr / 2 - 100:
            b, a = sps.iirpeak(fc, 5.0, fs=sr)
            x += 0.6 * sps.lfilter(b, a, x)
    ramp = round(0.03 * sr)
    env = np.ones(m)
    env[:ramp] = np.linspace(0, 1, ramp)
    env[-ramp:] = np.linspace(1, 0, ramp)
    x *= env
    return x / np.sqrt(np.mean(x**2)) * 10 ** (-22 / 20)


def _syllable(rng: np.random.Generator, sr: int, dur_s: float) -> np.ndarray:
    """A voiced syllable as in speech: the pitch glides and the formants move (consonant to vowel)."""
    m = round(dur_s * sr)
    t = np.linspace(0.0, 1.0, m)
    f0 = rng.uniform(100, 200) * (1 + rng.uniform(-0.25, 0.25) * t)
    formants = [
        rng.uniform(250, 400) + (rng.uniform(550, 850) - 300) * np.sqrt(t),
        rng.uniform(900, 2200) + rng.uniform(-600, 600) * t,
    ]
    phase = 2 * np.pi * np.cumsum(f0) / sr
    x = np.zeros(m)
    for h in range(1, int(min(3800, sr / 2 - 200) // 100) + 1):
        fh = h * f0
        gain = sum(1.0 / (1.0 + ((fh - fc) / 90.0) ** 2) for fc in formants) + 0.02
        x += np.where(fh < min(3800, sr / 2 - 200), gain * np.sin(h * phase), 0.0)
    return x * np.sin(np.pi * t) ** 0.6


def words(rng: np.random.Generator, sr: int, n_syllables: int = 7) -> np.ndarray:
    """A phrase of syllables: mostly a fricative, then a voiced 70-140 ms nucleus; some stop closures.

    Vowels last about 100 ms at a normal speaking rate.
    """
    parts = []
    for _ in range(n_syllables):
        if rng.random() < 0.7:  # an unvoiced consonant first: high-passed noise (s, f, t, k)
            b, a = sps.butter(2, min(2500.0, sr / 2 - 500) / (sr / 2), "high")
            burst = sps.lfilter(b, a, rng.standard_normal(round(rng.uniform(0.05, 0.09) * sr)))
            parts.append(0.5 * burst * np.hanning(burst.size))
        parts.append(_syllable(rng, sr, rng.uniform(0.07, 0.14)))
        if rng.random() < 0.4:
            parts.append(np.zeros(round(rng.uniform(0.02, 0.06) * sr)))
    x = np.concatenate(parts)
    return x / np.sqrt(np.mean(x**2)) * 10 ** (-20 / 20)


def talk(rng: np.random.Generator, sr: int, with_uh: bool) -> tuple[np.ndarray, list[tuple[int, int]], tuple[int, int]]:
    """Words, a pause, an "uh" (or not), a pause, words; word spans and the filler span (samples)."""
    gap = np.zeros(round(0.35 * sr))
    w1, w2 = words(rng, sr), words(rng, sr)
    uh = make_uh(sr) if with_uh else np.zeros(0)
    lead = np.zeros(round(0.4 * sr))
    parts = [lead, w1, gap, uh, gap, w2, lead]
    x = np.concatenate(parts)
    a1 = lead.size
    a2 = a1 + w1.size + 2 * gap.size + uh.size
    spans = [(a1, a1 + w1.size), (a2, a2 + w2.size)]
    f = (a1 + w1.size + gap.size, a1 + w1.size + gap.size + uh.size)
    return (x + make_white(rng, x.size, -65.0)).astype(np.float32), spans, f


@pytest.mark.parametrize("sr", [8000, 16000, 22050, 44100, 48000])
def test_uh_between_words_is_cut_and_words_kept(sr: int) -> None:
    rng = np.random.default_rng(7)
    x, spans, (fa, fb) = talk(rng, sr, with_uh=True)
    y, rep = remove_fillers(x, sr)
    assert rep["fillers_cut"] == 1, rep
    assert "not_applied" not in rep
    cut = rep["cuts"][0]
    a, b = round(cut["start_s"] * sr), round(cut["end_s"] * sr)
    # the cut covers the filler and no word
    assert a <= fa + 0.05 * sr
    assert b >= fb - 0.05 * sr
    assert all(b <= s or a >= e for s, e in spans)
    assert 0.0 < cut["confidence"] <= 1.0
    gone = x.size - y.size
    assert abs(gone - (b - a)) <= sr // 1000 + 1  # the report's times are rounded to 1 ms
    # the words are intact: the first before the cut, the second shifted by the cut
    s0, e0 = spans[0]
    np.testing.assert_array_equal(y[s0:e0], x[s0:e0])
    s1, e1 = spans[1]
    np.testing.assert_array_equal(y[s1 - gone : e1 - gone], x[s1:e1])


@pytest.mark.parametrize("sr", [8000, 16000, 48000])
def test_filler_free_speech_is_unchanged(sr: int) -> None:
    for seed in range(4):
        x, _, _ = talk(np.random.default_rng(100 + seed), sr, with_uh=False)
        y, rep = remove_fillers(x, sr)
        assert rep["fillers_cut"] == 0, rep
        np.testing.assert_array_equal(y, x)


def test_silence_in_silence_out() -> None:
    x = np.zeros(3 * SR, np.float32)
    y, rep = remove_fillers(x, SR)
    np.testing.assert_array_equal(y, x)
    assert rep["cuts"] == []
    assert "no filled pause" in rep["not_applied"]
    y, rep = remove_fillers(make_white(np.random.default_rng(1), 3 * SR, -50.0).astype(np.float32), SR)
    assert rep["fillers_cut"] == 0


def test_block_size_does_not_change_the_plan() -> None:
    x, _, _ = talk(np.random.default_rng(3), SR, with_uh=True)
    plans = []
    for block in (137, 4096, x.size):
        d = FillerDetector(SR, 2)
        st = np.stack([x, 0.5 * x])
        for i in range(0, x.size, block):
            d.process(st[:, i : i + block])
        plans.append(d.finish().cuts)
    assert plans[0] == plans[1] == plans[2]
    assert len(plans[0]) == 1


def test_stereo_keeps_its_shape() -> None:
    x, _, _ = talk(np.random.default_rng(5), SR, with_uh=True)
    y, rep = remove_fillers(np.stack([x, x]), SR)
    assert rep["fillers_cut"] == 1
    assert y.shape == (2, x.size - round(rep["removed_s"] * SR))


def test_min_confidence_keeps_the_filler_in() -> None:
    x, _, _ = talk(np.random.default_rng(7), SR, with_uh=True)
    y, rep = remove_fillers(x, SR, min_confidence=1.0)
    assert rep["fillers_found"] == 1
    assert rep["fillers_cut"] == 0
    np.testing.assert_array_equal(y, x)


def test_bad_input_errors() -> None:
    with pytest.raises(InvalidAudioError):
        remove_fillers(np.array([np.nan, 0.0], np.float32), SR)
    with pytest.raises(InvalidAudioError):
        remove_fillers(np.zeros(0, np.float32), SR)
    with pytest.raises(InvalidParameterError):
        remove_fillers(np.zeros(SR, np.float32), 1000)
    with pytest.raises(InvalidParameterError):
        FillerDetector(SR, 1, min_confidence=1.5)
    d = FillerDetector(SR, 1)
    with pytest.raises(InvalidParameterError):
        d.process(np.zeros((2, 100), np.float32))


def test_no_tick_of_the_filler_is_left_in_digital_silence() -> None:
    """A noise-gated recording: the pauses are digital silence. The cut's crossfade began at the
    filler's onset and let its first 4.5 ms through, a faint tick at every join."""
    sr = 16000
    rng = np.random.default_rng(8)
    gap = np.zeros(round(0.35 * sr))
    lead = np.zeros(round(0.4 * sr))
    w1, w2 = words(rng, sr), words(rng, sr)
    x = np.concatenate([lead, w1, gap, make_uh(sr), gap, w2, lead]).astype(np.float32)
    y, rep = remove_fillers(x, sr)
    assert rep["fillers_cut"] == 1
    removed = x.size - y.size
    end_w1 = lead.size + w1.size
    start_w2 = end_w1 + 2 * gap.size + round(0.45 * sr)
    assert float(np.max(np.abs(y[end_w1 + 2 : start_w2 - removed - 2]))) < 1e-5
    np.testing.assert_array_equal(y[:end_w1], x[:end_w1])
