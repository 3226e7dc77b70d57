"""Properties of the speech compressor and the de-esser (dsp.dynamics)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import signal as sps

from dsp.dynamics import Compressor, CompressorAnalyzer, DeEsser, compress, deess, gain_computer_db
from dsp.errors import InvalidAudioError, InvalidParameterError
from dsp.stream import BlockProcessor, run_blocks, run_processor

RATES = (8000, 11025, 16000, 22050, 32000, 44100, 48000)


def db(x: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(np.asarray(x, np.float64) ** 2) + 1e-30))


def stepped_sine(sr: int, levels_db: list[float], step_s: float = 0.4, f: float = 1000.0) -> np.ndarray:
    """A sine whose RMS level (dBFS) steps through ``levels_db``."""
    n = int(step_s * sr)
    t = np.arange(n * len(levels_db)) / sr
    amp = np.repeat([np.sqrt(2) * 10 ** (lv / 20) for lv in levels_db], n)
    return (amp * np.sin(2 * np.pi * f * t)).astype(np.float32)


def vowel(sr: int, seconds: float, f0: float = 150.0, amp: float = 0.3) -> np.ndarray:
    """Harmonics of ``f0`` up to 3 kHz falling 6 dB per octave: a vowel-like tone."""
    t = np.arange(int(sr * seconds)) / sr
    x = sum(np.sin(2 * np.pi * k * f0 * t + k) / k for k in range(1, int(3000 / f0) + 1))
    x *= np.minimum(1.0, t / 0.02)  # a 20 ms onset, not a click
    return (amp * x / np.max(np.abs(x))).astype(np.float32)


def sibilant(sr: int, seconds: float, rng: np.random.Generator, amp: float = 0.2) -> np.ndarray:
    """Noise band-passed to 4.5-7 kHz (2-3.5 kHz below 12 kHz): an /s/-like burst."""
    band = [4500, min(7000, 0.45 * sr)] if sr >= 12000 else [2000, 3500]
    sos = sps.butter(4, band, "bandpass", fs=sr, output="sos")
    x = sps.sosfilt(sos, rng.standard_normal(int(sr * seconds)))
    return (amp * x / np.sqrt(np.mean(x**2))).astype(np.float32)


# ---------------------------------------------------------------------------- compressor


@pytest.mark.parametrize("knee", [0.0, 10.0])
@pytest.mark.parametrize("ratio", [2.0, 3.0])
def test_static_curve_matches_threshold_ratio_and_knee(ratio: float, knee: float) -> None:
    sr, thr = 16000, -30.0
    levels = [-50.0, -40.0, -35.0, -32.0, -30.0, -28.0, -25.0, -20.0, -10.0, -5.0]
    x = stepped_sine(sr, levels)
    y = compress(x, sr, threshold_db=thr, ratio=ratio, knee_db=knee, attack_ms=2, release_ms=2, rms_ms=5)
    n = int(0.4 * sr)
    for i, lv in enumerate(levels):
        seg = slice(i * n + n // 2, (i + 1) * n)  # steady state: the last half of each step
        got = db(y[seg]) - db(x[seg])
        want = float(gain_computer_db(np.array(lv), thr, ratio, knee))
        assert got == pytest.approx(want, abs=0.15), (lv, got, want)
    # the curve itself: slope 1 below, 1/ratio above, continuous through the knee
    assert float(gain_computer_db(np.array(-60.0), thr, ratio, knee)) == 0.0
    assert float(gain_computer_db(np.array(0.0), thr, ratio, knee)) == pytest.approx(-30 * (1 - 1 / ratio))


def test_makeup_gain_is_added_everywhere() -> None:
    sr = 16000
    x = stepped_sine(sr, [-40.0])
    y = compress(x, sr, threshold_db=-20.0, makeup_db=6.0)
    assert db(y[sr // 10 :]) - db(x[sr // 10 :]) == pytest.approx(6.0, abs=0.01)


def _gain_db_curve(attack_ms: float, release_ms: float, sr: int) -> tuple[np.ndarray, int, int]:
    """Gain (dB) of a peak compressor over a DC step -40 → -10 → -40 dBFS (threshold -30, 4:1)."""
    n1, n2 = sr // 2, sr
    x = np.concatenate([np.full(n1, 0.01), np.full(n2 - n1, 10 ** (-10 / 20)), np.full(sr // 2, 0.01)])
    c = Compressor(sr, 1, threshold_db=-30.0, ratio=4.0, knee_db=0.0, attack_ms=attack_ms, release_ms=release_ms)
    c.detector = "peak"
    y = run_processor(c, x.astype(np.float32)[np.newaxis])[0]
    return 20 * np.log10(y / x), n1, n2


@pytest.mark.parametrize("sr", [16000, 48000])
def test_attack_and_release_time_constants(sr: int) -> None:
    g, up, down = _gain_db_curve(10.0, 100.0, sr)
    full = -20.0 * (1 - 1 / 4)  # 15 dB of reduction at -10 dBFS
    assert g[up - 1] == pytest.approx(0.0, abs=1e-4)
    assert g[down - 1] == pytest.approx(full, abs=0.01)
    # time constant: 1 - 1/e of the step is reached after attack_ms (release_ms), to one 0.5 ms frame
    t_att = (np.argmax(g[up:] <= full * (1 - np.exp(-1))) + 1) / sr * 1000
    t_rel = (np.argmax(g[down:] >= full * np.exp(-1)) + 1) / sr * 1000
    assert t_att == pytest.approx(10.0, abs=0.6)
    assert t_rel == pytest.approx(100.0, abs=0.6)


def test_channels_are_linked() -> None:
    sr = 16000
    loud = stepped_sine(sr, [-40.0, -5.0, -40.0])
    quiet = 0.01 * vowel(sr, loud.size / sr)
    x = np.stack([loud, quiet])
    y = run_processor(Compressor(sr, 2, threshold_db=-20.0), x)
    g = y / np.where(np.abs(x) > 1e-6, x, 1.0)
    mask = (np.abs(x[0]) > 1e-3) & (np.abs(x[1]) > 1e-4)
    np.testing.assert_allclose(g[0][mask], g[1][mask], rtol=1e-4)
    assert float(np.min(g[1][mask])) < 0.5  # the quiet channel followed the loud one's reduction


def test_analyzer_sets_the_threshold_relative_to_loudness(rng: np.random.Generator) -> None:
    sr = 16000
    x = (stepped_sine(sr, [-30.0, -12.0, -30.0, -18.0]) + 1e-3 * rng.standard_normal(4 * int(0.4 * sr))).astype(
        np.float32
    )
    outs = []
    for gain in (1.0, 0.05):  # the same programme 26 dB quieter
        a = CompressorAnalyzer(sr, 1, threshold_lu=-6.0)
        a.process(gain * x[np.newaxis])
        c = a.finish()
        outs.append(run_processor(c, gain * x[np.newaxis])[0] / gain)
        assert c.report()["threshold_dbfs"] == pytest.approx(c.report()["input_loudness_lufs"] - 6.0, abs=0.01)
        assert c.report()["max_gain_reduction_db"] > 2.0
    np.testing.assert_allclose(outs[0], outs[1], atol=2e-4)


def test_analyzer_on_silence_leaves_the_audio_and_says_why() -> None:
    a = CompressorAnalyzer(16000, 2)
    a.process(np.zeros((2, 16000), np.float32))
    c = a.finish()
    assert c.report()["applied"] is False
    assert "silent" in c.report()["not_applied"]
    x = np.full((2, 800), 0.5, np.float32)
    np.testing.assert_array_equal(run_processor(c, x), x)


# ---------------------------------------------------------------------------- de-esser


@pytest.mark.parametrize("sr", [16000, 22050, 44100, 48000])
def test_deesser_cuts_a_sibilant_burst_and_leaves_a_vowel(sr: int, rng: np.random.Generator) -> None:
    v = vowel(sr, 1.0)
    s = sibilant(sr, 0.3, rng)
    x = np.concatenate([v, s, v])
    d = DeEsser(sr, 1)
    y = run_processor(d, x)
    # the vowel is untouched (bit for bit once the release has ended; here: before the burst)
    np.testing.assert_allclose(y[: v.size], x[: v.size], atol=1e-7)
    burst = slice(v.size + int(0.05 * sr), v.size + s.size)
    cut = db(x[burst]) - db(y[burst])
    assert 3.0 <= cut <= 6.5, cut
    assert d.report()["max_reduction_applied_db"] == pytest.approx(6.0, abs=0.5)
    # after the release (40 ms) the next vowel is back to unity
    tail = slice(v.size + s.size + int(0.3 * sr), x.size)
    np.testing.assert_allclose(y[tail], x[tail], atol=1e-6)


def test_deesser_attenuates_only_the_band(rng: np.random.Generator) -> None:
    sr = 48000
    v = vowel(sr, 0.5, amp=0.05)
    s = sibilant(sr, 0.5, rng)
    x = v + s  # a sibilant over a quiet voiced sound: only the high band may change
    y = deess(x, sr)
    lp = sps.butter(6, 2500, "lowpass", fs=sr, output="sos")
    seg = slice(sr // 10, None)
    assert abs(db(sps.sosfilt(lp, y)[seg]) - db(sps.sosfilt(lp, x)[seg])) < 0.5
    hp = sps.butter(6, [4800, 6800], "bandpass", fs=sr, output="sos")
    assert db(sps.sosfilt(hp, x)[seg]) - db(sps.sosfilt(hp, y)[seg]) > 3.0


def test_deesser_at_8khz_passes_through_and_says_why(rng: np.random.Generator) -> None:
    d = DeEsser(8000, 1)
    assert not d.active
    x = rng.uniform(-0.5, 0.5, (1, 8000)).astype(np.float32)
    np.testing.assert_array_equal(run_processor(d, x), x)
    report = d.report()
    assert report["applied"] is False
    assert "Nyquist" in report["not_applied"]
    assert "band_hz" not in report  # it read [4000, 3600]: the band clipped to Nyquist, upside down


def test_deesser_band_follows_the_rate() -> None:
    assert DeEsser(16000, 1).band_hz == (4000.0, 7200.0)
    assert DeEsser(48000, 1).band_hz == (4000.0, 10000.0)
    assert DeEsser(11025, 1).active is False  # 4.0-4.96 kHz: less than a third of an octave
    assert DeEsser(12000, 1).active is True


# ---------------------------------------------------------------------------- both


def _make(kind: str, sr: int, channels: int) -> BlockProcessor:
    return Compressor(sr, channels, threshold_db=-30.0) if kind == "compress" else DeEsser(sr, channels)


@pytest.mark.parametrize("kind", ["compress", "deess"])
@pytest.mark.parametrize("sr", RATES)
def test_silence_in_silence_out_at_every_rate(kind: str, sr: int) -> None:
    x = np.zeros((2, sr // 3), np.float32)
    y = run_processor(_make(kind, sr, 2), x)
    assert y.shape == x.shape
    np.testing.assert_array_equal(y, x)


@pytest.mark.parametrize("kind", ["compress", "deess"])
@pytest.mark.parametrize("sr", RATES)
def test_chunk_size_invariant_at_every_rate(kind: str, sr: int, rng: np.random.Generator) -> None:
    n = int(0.7 * sr)
    x = np.stack([vowel(sr, 0.7), 0.5 * vowel(sr, 0.7, f0=210.0)])
    x[:, n // 3 : n // 2] += 3 * sibilant(sr, 0.7, rng)[: n // 2 - n // 3]
    whole = run_processor(_make(kind, sr, 2), x, block_size=x.shape[-1])
    assert whole.shape == x.shape
    assert np.all(np.isfinite(whole))
    if kind == "compress":
        assert np.max(np.abs(whole - x)) > 1e-3  # it did something
    for sizes in ([1, 7, 64, 333], [4096], [977, 13]):
        p = _make(kind, sr, 2)
        cuts, i, k = [], 0, 0
        while i < n:
            cuts.append(x[:, i : i + sizes[k % len(sizes)]])
            i += sizes[k % len(sizes)]
            k += 1
        parts = [p.process(np.zeros((2, 0), np.float32)), *[p.process(c) for c in cuts], p.flush()]
        np.testing.assert_array_equal(np.concatenate(parts, axis=-1), whole)
        assert isinstance(p, BlockProcessor)


@pytest.mark.parametrize("fn", [compress, deess])
def test_bad_input_raises(fn: object) -> None:
    f = fn  # type: ignore[assignment]
    with pytest.raises(InvalidAudioError):
        f(np.zeros(0, np.float32), 16000)  # type: ignore[operator]
    with pytest.raises(InvalidAudioError):
        f(np.array([0.0, np.nan], np.float32), 16000)  # type: ignore[operator]
    with pytest.raises(InvalidParameterError):
        f(np.zeros(16, np.float32), 4000)  # type: ignore[operator]


@pytest.mark.parametrize("kind", ["compress", "deess"])
def test_nan_block_raises_while_streaming(kind: str) -> None:
    p = _make(kind, 16000, 1)
    with pytest.raises(InvalidAudioError):
        p.process(np.array([[0.1, np.inf]], np.float32))
    with pytest.raises(InvalidParameterError):
        p.process(np.zeros((2, 10), np.float32))  # wrong channel count


@pytest.mark.parametrize(
    "kwargs",
    [
        {"ratio": 0.5},
        {"ratio": 30.0},
        {"knee_db": -1.0},
        {"attack_ms": 0.0},
        {"release_ms": 1e5},
        {"threshold_db": 3.0},
        {"makeup_db": 40.0},
        {"detector": "loud"},
    ],
)
def test_compressor_refuses_out_of_range(kwargs: dict[str, object]) -> None:
    with pytest.raises(InvalidParameterError):
        Compressor(16000, 1, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "kwargs", [{"threshold_db": 5.0}, {"max_reduction_db": 30.0}, {"low_hz": 9000.0, "high_hz": 5000.0}]
)
def test_deesser_refuses_out_of_range(kwargs: dict[str, float]) -> None:
    with pytest.raises(InvalidParameterError):
        DeEsser(16000, 1, **kwargs)


def test_streams_through_run_blocks(rng: np.random.Generator) -> None:
    sr = 16000
    x = np.stack([vowel(sr, 0.5)])
    blocks = (x[:, i : i + 100] for i in range(0, x.shape[-1], 100))
    out = np.concatenate(list(run_blocks(Compressor(sr, 1), blocks)), -1)
    assert out.shape == x.shape
