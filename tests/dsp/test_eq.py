"""Automatic speech EQ (dsp.eq) on generated speech coloured by known filters."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import signal as sps

from dsp.eq import (
    BYRNE_CENTRES_HZ,
    BYRNE_FEMALE_DB,
    BYRNE_MALE_DB,
    EqAnalyzer,
    EqCurve,
    Equalizer,
    auto_eq,
    band_levels_db,
    measure_eq,
)
from dsp.errors import InvalidAudioError, InvalidParameterError
from dsp.stream import BlockProcessor, run_blocks
from tests.signals import make_pink, make_speech_like, make_tune, make_white, mix_at_snr

RATES = (8000, 16000, 22050, 44100, 48000)


def speech(rng: np.random.Generator, sr: int, seconds: float = 8.0) -> np.ndarray:
    x, _ = make_speech_like(rng, sr, seconds)
    return (x + make_pink(rng, x.size, -45.0)).astype(np.float32)


def matched(x: np.ndarray, sr: int) -> np.ndarray:
    """``x`` equalised onto its target until it matches (the generated voice starts far off)."""
    for _ in range(3):
        x = auto_eq(x, sr, max_gain_db=12.0)
    return x


def peak(x: np.ndarray, sr: int, fc: float, gain_db: float, q: float = 1.0) -> np.ndarray:
    """An RBJ-cookbook peaking filter: a known colouring."""
    a = 10 ** (gain_db / 40)
    w = 2 * np.pi * fc / sr
    alpha = np.sin(w) / (2 * q)
    b = [1 + alpha * a, -2 * np.cos(w), 1 - alpha * a]
    den = [1 + alpha / a, -2 * np.cos(w), 1 - alpha / a]
    return sps.lfilter(b, den, x.astype(np.float64)).astype(np.float32)


def change_db(y: np.ndarray, x: np.ndarray, sr: int) -> np.ndarray:
    """Per-band level change from ``x`` to ``y``, a uniform gain removed."""
    d = band_levels_db(y, sr)[1] - band_levels_db(x, sr)[1]
    return np.asarray(d - d.mean())


def run(eq: Equalizer, x: np.ndarray, block: int) -> np.ndarray:
    x2 = np.atleast_2d(x)
    return np.concatenate(list(run_blocks(eq, (x2[:, i : i + block] for i in range(0, x2.shape[-1], block)))), -1)


@pytest.mark.parametrize("sr", RATES)
def test_coloured_speech_is_brought_back_to_the_target(rng: np.random.Generator, sr: int) -> None:
    m = matched(speech(rng, sr), sr)
    coloured = peak(peak(m, sr, 1000.0, -6.0), sr, 300.0, 5.0, 1.5)
    before = measure_eq(coloured, sr)
    assert before.applied
    out = auto_eq(coloured, sr)
    assert out.shape == coloured.shape
    assert out.dtype == np.float32
    after = measure_eq(out, sr)
    assert after.error_before_db <= 0.5 * before.error_before_db, (before.error_before_db, after.error_before_db)
    # the curve undoes the colouring where it was put: a boost near 1 kHz, a cut near 300 Hz
    curve = dict(zip(before.centres_hz, before.correction_db, strict=True))
    assert curve[1000.0] > 2.0
    assert curve[315.0] < -2.0


@pytest.mark.parametrize("sr", RATES)
def test_matching_speech_changes_by_less_than_one_db(rng: np.random.Generator, sr: int) -> None:
    m = matched(speech(rng, sr), sr)
    curve = measure_eq(m, sr)
    assert curve.applied
    assert max(abs(g) for g in curve.correction_db) < 1.0
    assert float(np.abs(change_db(auto_eq(m, sr), m, sr)).max()) < 1.0


def test_corrections_are_limited_to_six_db(rng: np.random.Generator) -> None:
    sr = 16000
    x = speech(rng, sr)
    harsh = peak(x, sr, 2000.0, 18.0, 0.7)
    curve = measure_eq(harsh, sr)
    assert min(curve.correction_db) == pytest.approx(-6.0)
    assert max(abs(g) for g in curve.correction_db) <= 6.0
    assert max(abs(g) for g in measure_eq(harsh, sr, max_gain_db=3.0).correction_db) <= 3.0


def test_rumble_below_the_voice_is_taken_out(rng: np.random.Generator) -> None:
    sr = 16000
    x = speech(rng, sr)
    t = np.arange(x.size) / sr
    rumble = (0.05 * np.sin(2 * np.pi * 30 * t)).astype(np.float32)
    out = auto_eq(x + rumble, sr)
    lo = sps.sosfilt(sps.butter(4, 45, "lowpass", fs=sr, output="sos"), out.astype(np.float64))
    assert 20 * np.log10(np.std(lo[sr:]) / np.std(rumble)) < -20  # 4th order at 70 Hz: -29 dB at 30 Hz


def test_silence_in_silence_out() -> None:
    x = np.zeros((2, 3 * 16000), np.float32)
    curve = measure_eq(x, 16000)
    assert not curve.applied
    assert curve.reason == "no speech found to measure"
    np.testing.assert_array_equal(auto_eq(x, 16000), x)


def test_noise_without_speech_is_left_untouched(rng: np.random.Generator) -> None:
    x = make_pink(rng, 4 * 16000, -30.0)
    np.testing.assert_array_equal(auto_eq(x, 16000), x)


def test_output_does_not_depend_on_block_sizes(rng: np.random.Generator) -> None:
    sr = 16000
    x = peak(speech(rng, sr, 5.0), sr, 1000.0, -6.0)
    ref_a = EqAnalyzer(sr, 1)
    ref_a.process(x[None, :])
    ref_curve = ref_a.finish()
    ref = run(Equalizer(sr, 1, ref_curve), x, x.size)
    assert ref.shape == (1, x.size)
    for block in (37, 1000, 4001):
        a = EqAnalyzer(sr, 1)
        for i in range(0, x.size, block):
            a.process(x[None, i : i + block])
        curve = a.finish()
        np.testing.assert_allclose(curve.correction_db, ref_curve.correction_db, atol=1e-4)
        np.testing.assert_allclose(run(Equalizer(sr, 1, ref_curve), x, block), ref, atol=2e-6)


def test_stereo_channels_get_the_same_curve(rng: np.random.Generator) -> None:
    sr = 16000
    x = speech(rng, sr)
    out = auto_eq(np.stack([x, 0.5 * x]), sr)
    assert out.shape == (2, x.size)
    np.testing.assert_allclose(out[1], 0.5 * out[0], atol=1e-6)


def test_is_a_block_processor_with_compensated_latency(rng: np.random.Generator) -> None:
    curve = EqCurve(True, 16000, (500.0, 1000.0, 2000.0), (0.0,) * 3, (0.0,) * 3, (0.0, 6.0, 0.0), "male", 5.0)
    eq = Equalizer(16000, 1, curve)
    assert isinstance(eq, BlockProcessor)
    x = np.zeros((1, 16000), np.float32)
    x[0, 8000] = 1.0
    y = run(eq, x, 3000)
    assert y.shape == x.shape
    assert int(np.argmax(np.abs(y[0]))) == 8000  # linear phase, delay compensated: the peak stays put
    short = Equalizer(16000, 1, curve)  # a stream shorter than the filter's delay still comes out whole
    assert run(short, x[:, :100], 100).shape == (1, 100)


def test_reports_the_curve(rng: np.random.Generator) -> None:
    sr = 16000
    x = peak(speech(rng, sr), sr, 1000.0, -6.0)
    a = EqAnalyzer(sr, 1)
    a.process(x[None, :])
    eq = Equalizer(sr, 1, a.finish())
    rep = eq.report()
    assert rep["step"] == "autoeq"
    assert rep["applied"] is True
    assert rep["highpass_hz"] == 70.0
    assert rep["target"].startswith("Byrne et al. 1994")
    assert [c for c, _ in rep["curve"]] == list(a.finish().centres_hz)
    assert rep["error_after_db"] < rep["error_before_db"]
    assert a.report()["step"] == "autoeq_analysis"
    silent = Equalizer(sr, 1, measure_eq(np.zeros(sr, np.float32), sr)).report()
    assert silent["applied"] is False
    assert silent["not_applied"] == "no speech found to measure"


def test_byrne_tables_are_the_published_ones() -> None:
    # Byrne et al. 1994, Table II, at 1 kHz and 4 kHz (a transcription check, both sexes)
    i1, i4 = list(BYRNE_CENTRES_HZ).index(1000), list(BYRNE_CENTRES_HZ).index(4000)
    assert (BYRNE_MALE_DB[i1], BYRNE_MALE_DB[i4]) == (53.1, 46.0)
    assert (BYRNE_FEMALE_DB[i1], BYRNE_FEMALE_DB[i4]) == (54.3, 45.3)
    assert BYRNE_CENTRES_HZ.size == BYRNE_MALE_DB.size == BYRNE_FEMALE_DB.size == 22


@pytest.mark.parametrize(
    ("sr", "channels", "max_gain_db"),
    [(4000, 1, 6.0), (16000, 0, 6.0), (16000, 1, -1.0), (16000, 1, 13.0), (16000, 1, "6")],
)
def test_bad_parameters_are_refused(sr: int, channels: int, max_gain_db: float) -> None:
    with pytest.raises(InvalidParameterError):
        EqAnalyzer(sr, channels, max_gain_db=max_gain_db)


def test_bad_audio_and_mismatched_curve_are_refused() -> None:
    with pytest.raises(InvalidAudioError):
        auto_eq(np.array([np.inf, 0.0], np.float32), 16000)
    with pytest.raises(InvalidAudioError):
        measure_eq(np.zeros((1, 0), np.float32), 16000)
    with pytest.raises(InvalidParameterError):
        EqAnalyzer(16000, 1).process(np.zeros((2, 10), np.float32))
    with pytest.raises(ValueError, match="16000 Hz"):
        Equalizer(48000, 1, EqCurve(False, 16000))
    a = EqAnalyzer(16000, 1)
    a.finish()
    with pytest.raises(RuntimeError):
        a.process(np.zeros((1, 10), np.float32))


def test_spare_music_measures_the_speech_outside_music_and_leaves_music_alone(rng: np.random.Generator) -> None:
    from tests.dsp.test_music import podcast

    sr = 16000
    # a plucked tune in noise passes for speech with the speech detector: plain, it gets the speech EQ
    tune = mix_at_snr(make_tune(rng, sr, 12.0), make_white(rng, 12 * sr), 20.0)[np.newaxis]
    plain = EqAnalyzer(sr, 1)
    plain.process(tune)
    assert plain.finish().applied
    assert plain.music is None
    spared = EqAnalyzer(sr, 1, spare_music=True)
    spared.process(tune)
    curve = spared.finish()
    assert not curve.applied
    assert curve.reason.startswith("the recording is music only")
    assert spared.music is not None
    assert spared.music.music_only
    eq = Equalizer(sr, 1, curve)
    np.testing.assert_array_equal(np.concatenate([eq.process(tune), eq.flush()], axis=-1), tune)
    assert eq.report()["not_applied"] == curve.reason
    # music around speech: the speech is measured and corrected, the music stretches measured out
    x, _, (a, b) = podcast(sr)
    spared = EqAnalyzer(sr, 1, spare_music=True)
    spared.process(x[np.newaxis])
    curve = spared.finish()
    assert curve.applied
    assert spared.music is not None
    assert spared.music.music_s > 15.0
    assert 0.5 * (b - a) < curve.speech_s <= b - a + 0.5


def test_the_report_states_the_bound_its_curve_keeps(rng: np.random.Generator) -> None:
    # the report said the module's 6 dB for an analyzer bounded at 2 (studio_sound's EQ)
    sr = 16000
    x = peak(speech(rng, sr), sr, 1000.0, -6.0)
    a = EqAnalyzer(sr, 1, max_gain_db=2.0)
    a.process(x[None, :])
    rep = Equalizer(sr, 1, a.finish()).report()
    assert rep["max_gain_db"] == 2.0
    assert max(abs(g) for _, g in rep["curve"]) <= 2.0


def test_a_boost_on_a_recording_near_full_scale_does_not_clip(rng: np.random.Generator) -> None:
    """A mastered voice peaking at -1 dBFS and a curve boosting where the voice is loud: the output
    stays under full scale (it clipped: thousands of samples pinned at the 16-bit limit), only the
    peaks are held down, and the report says by how much and for how long."""
    sr = 16000
    x = speech(rng, sr)
    x = (x * (10 ** (-1 / 20) / np.max(np.abs(x)))).astype(np.float32)
    bands = (250.0, 500.0, 1000.0, 2000.0)
    curve = EqCurve(True, sr, bands, (0.0,) * 4, (0.0,) * 4, (3.0, 6.0, 3.0, 0.0), "male", 8.0)
    eq = Equalizer(sr, 1, curve)
    y = run(eq, x, 4096)
    assert y.shape == x[None, :].shape
    assert float(np.max(np.abs(y))) <= 1.0
    rep = eq.report()
    assert rep["peak_limited_db"] > 0.5
    assert rep["peak_limited_s"] > 0
    # the same curve on the voice 20 dB lower: nothing to hold, the limiter leaves it alone
    quiet = Equalizer(sr, 1, curve)
    yq = run(quiet, x * 0.1, 4096)
    assert quiet.report()["peak_limited_db"] == 0.0
    assert quiet.report()["peak_limited_s"] == 0.0
    # the loud one is held at its peaks: it loses less level than turning the whole correction
    # down by the peaks' excess over full scale would
    unlimited = yq * 10
    excess_db = 20 * np.log10(float(np.max(np.abs(unlimited))))
    assert excess_db > 3
    rms = lambda a: float(np.sqrt(np.mean(np.square(a, dtype=np.float64))))  # noqa: E731
    assert 20 * np.log10(rms(y) / rms(unlimited)) > -excess_db + 1
