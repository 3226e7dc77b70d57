"""Discrete echo removal (dsp.echo) on generated speech with echoes of known delay and gain."""

from __future__ import annotations

import numpy as np
import pytest

from dsp.echo import EchoAnalyzer, EchoEstimate, EchoRemover, detect_echo, remove_echo
from dsp.errors import InvalidAudioError, InvalidParameterError
from dsp.stream import BlockProcessor, run_blocks
from tests.signals import make_speech_like, make_white

RATES = (8000, 16000, 22050, 44100, 48000)


def speech(rng: np.random.Generator, sr: int, seconds: float = 6.0) -> np.ndarray:
    x, _ = make_speech_like(rng, sr, seconds)
    return (x + make_white(rng, x.size, -65.0)).astype(np.float32)


def with_echo(x: np.ndarray, d: int, g: float) -> np.ndarray:
    y = x.astype(np.float64).copy()
    y[..., d:] += g * x[..., :-d]
    return y.astype(np.float32)


def analyse(x: np.ndarray, sr: int, block: int) -> EchoEstimate:
    x2 = np.atleast_2d(x)
    a = EchoAnalyzer(sr, x2.shape[0])
    for i in range(0, x2.shape[-1], block):
        a.process(x2[:, i : i + block])
    return a.finish()


def remove(x: np.ndarray, sr: int, est: EchoEstimate, block: int) -> np.ndarray:
    x2 = np.atleast_2d(x)
    r = EchoRemover(sr, x2.shape[0], est)
    out = np.concatenate(list(run_blocks(r, (x2[:, i : i + block] for i in range(0, x2.shape[-1], block)))), -1)
    return out if x.ndim == 2 else out[0]


def echo_left_db(out: np.ndarray, x: np.ndarray, y: np.ndarray) -> float:
    """How far the echo went down: energy of ``y - x`` over that of ``out - x``, in dB."""
    before = np.sum((y.astype(np.float64) - x) ** 2)
    return float(10 * np.log10(before / max(float(np.sum((out.astype(np.float64) - x) ** 2)), 1e-30)))


@pytest.mark.parametrize("sr", RATES)
@pytest.mark.parametrize(("delay_ms", "gain"), [(50.0, 0.3), (180.0, 0.5), (300.0, 0.7)])
def test_echo_peak_found_and_removed_at_every_rate(
    rng: np.random.Generator, sr: int, delay_ms: float, gain: float
) -> None:
    x = speech(rng, sr)
    d = round(delay_ms * sr / 1000)
    y = with_echo(x, d, gain)
    est = detect_echo(y, sr)
    assert est.found, est.reason
    assert abs(est.delay_samples - d) <= 1
    assert est.gain == pytest.approx(gain, abs=0.03)
    out = remove_echo(y, sr)
    assert out.shape == y.shape
    assert out.dtype == np.float32
    assert echo_left_db(out, x, y) >= 15.0
    # and the echo's cepstral peak is gone from the output
    after = detect_echo(out, sr)
    assert not after.found
    assert after.score < est.score / 4


def test_echo_free_speech_is_left_untouched(rng: np.random.Generator) -> None:
    for sr in (16000, 48000):
        x = speech(rng, sr)
        est = detect_echo(x, sr)
        assert not est.found
        assert "no discrete echo" in est.reason
        np.testing.assert_array_equal(remove_echo(x, sr), x)


def test_white_noise_has_no_echo(rng: np.random.Generator) -> None:
    x = make_white(rng, 5 * 16000, -20.0)
    assert not detect_echo(x, 16000).found


def test_silence_in_silence_out() -> None:
    x = np.zeros((2, 3 * 16000), np.float32)
    est = detect_echo(x, 16000)
    assert not est.found
    assert "silent" in est.reason
    np.testing.assert_array_equal(remove_echo(x, 16000), x)


def test_too_short_to_measure(rng: np.random.Generator) -> None:
    x = make_white(rng, 4000, -20.0)  # 0.25 s: under two of the longest delays
    est = detect_echo(x, 16000)
    assert not est.found
    assert "too short" in est.reason


def test_output_does_not_depend_on_block_sizes(rng: np.random.Generator) -> None:
    sr = 16000
    x = speech(rng, sr, 4.0)
    y = with_echo(x, 2000, 0.5)
    ref_est = analyse(y, sr, y.size)
    ref = remove(y, sr, ref_est, y.size)
    assert ref_est.found
    for block in (37, 1000, 4001):
        assert analyse(y, sr, block) == ref_est
        np.testing.assert_array_equal(remove(y, sr, ref_est, block), ref)


def test_stereo_channels_get_the_same_comb(rng: np.random.Generator) -> None:
    sr = 16000
    x = speech(rng, sr)
    y = with_echo(np.stack([x, 0.5 * x]), 1600, 0.4)
    out = remove_echo(y, sr)
    assert out.shape == y.shape
    np.testing.assert_allclose(out[1], 0.5 * out[0], atol=1e-6)
    assert echo_left_db(out[0], x, y[0]) >= 15.0


def test_is_a_block_processor_with_no_latency(rng: np.random.Generator) -> None:
    est = EchoEstimate(True, 800, 0.5, 16000, 40.0, 800, 3)
    r = EchoRemover(16000, 1, est)
    assert isinstance(r, BlockProcessor)
    x = make_white(rng, 5000)[None, :]
    assert r.process(x).shape == x.shape
    assert r.flush().shape == (1, 0)


def test_reports_what_was_measured(rng: np.random.Generator) -> None:
    sr = 16000
    x = speech(rng, sr)
    y = with_echo(x, 1920, 0.5)
    a = EchoAnalyzer(sr, 1)
    a.process(y[None, :])
    r = EchoRemover(sr, 1, a.finish())
    r.process(y[None, :])
    rep = r.report()
    assert rep["step"] == "remove_echo"
    assert rep["applied"] is True
    assert rep["delay_ms"] == pytest.approx(120.0, abs=0.1)
    assert rep["gain"] == pytest.approx(0.5, abs=0.03)
    assert rep["echo_level_db"] == pytest.approx(-6.0, abs=0.6)
    assert rep["energy_change_db"] < 0
    assert a.report()["step"] == "remove_echo_analysis"
    free = EchoRemover(sr, 1, detect_echo(x, sr)).report()
    assert free["applied"] is False
    assert "no discrete echo" in free["not_applied"]
    assert free["delay_ms"] is None


def test_finished_analysis_takes_no_more_audio() -> None:
    a = EchoAnalyzer(16000, 1)
    a.process(np.zeros((1, 100), np.float32))
    a.finish()
    with pytest.raises(RuntimeError):
        a.process(np.zeros((1, 100), np.float32))


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"sr": 4000}, InvalidParameterError),
        ({"channels": 0}, InvalidParameterError),
        ({"min_delay_ms": 10.0}, InvalidParameterError),
        ({"max_delay_ms": 2000.0}, InvalidParameterError),
        ({"min_delay_ms": 200.0, "max_delay_ms": 205.0}, InvalidParameterError),
        ({"min_delay_ms": "50"}, InvalidParameterError),
        ({}, None),
    ],
)
def test_bad_parameters_are_refused(kwargs: dict[str, object], error: type[Exception] | None) -> None:
    args: dict[str, object] = {"sr": 16000, "channels": 1, **kwargs}
    sr, channels = args.pop("sr"), args.pop("channels")
    if error is None:
        EchoAnalyzer(sr, channels, **args)  # type: ignore[arg-type]
        return
    with pytest.raises(error):
        EchoAnalyzer(sr, channels, **args)  # type: ignore[arg-type]


def test_bad_audio_and_mismatched_estimate_are_refused() -> None:
    with pytest.raises(InvalidAudioError):
        remove_echo(np.array([np.nan, 0.0], np.float32), 16000)
    with pytest.raises(InvalidAudioError):
        detect_echo(np.zeros(0, np.float32), 16000)
    with pytest.raises(InvalidParameterError):
        EchoAnalyzer(16000, 2).process(np.zeros((1, 100), np.float32))
    with pytest.raises(ValueError, match="16000 Hz"):
        EchoRemover(48000, 1, EchoEstimate(True, 800, 0.5, 16000, 40.0, 800, 3))
