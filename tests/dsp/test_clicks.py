"""Properties of the click suppressor (dsp.clicks)."""

from __future__ import annotations

import numpy as np
import pytest

from dsp.clicks import ClickSuppressor, suppress_clicks
from dsp.errors import InvalidAudioError, InvalidParameterError
from dsp.stream import BlockProcessor, run_blocks
from tests.signals import make_speech_like, make_white, si_sdr_db

SR = 16000


def add_clicks(rng: np.random.Generator, x: np.ndarray, sr: int, per_s: float = 6.0) -> np.ndarray:
    """Keyboard-like clicks: 3-8 ms decaying noise bursts well above the speech level."""
    y = x.astype(np.float64).copy()
    peak = float(np.max(np.abs(x)))
    for t in rng.uniform(0.0, x.size / sr - 0.01, int(per_s * x.size / sr)):
        n = int(rng.uniform(0.003, 0.008) * sr)
        i = int(t * sr)
        y[i : i + n] += 2 * peak * rng.standard_normal(n) * np.exp(-np.arange(n) / (n / 4))
    return y.astype(np.float32)


@pytest.fixture
def speech(rng: np.random.Generator) -> np.ndarray:
    return make_speech_like(rng, SR, 4.0, lead_silence_s=0.3)[0]


def test_clicks_are_removed(rng: np.random.Generator, speech: np.ndarray) -> None:
    noisy = add_clicks(rng, speech, SR)
    out = suppress_clicks(noisy, SR)
    assert si_sdr_db(speech, out) - si_sdr_db(speech, noisy) >= 8.0


@pytest.mark.parametrize(("rise_db", "left_db"), [(30.0, (-3.0, 4.5)), (12.0, (5.5, 10.5))])
def test_a_pure_transient_goes_down_to_its_surroundings(
    rng: np.random.Generator, rise_db: float, left_db: tuple[float, float]
) -> None:
    """A 4 ms white burst on a steady floor: 30 dB up, it is brought down to the floor; 12 dB up
    (partly speech-like), only its excess over the 7 dB threshold is taken off."""
    floor = make_white(rng, SR, -40.0)
    burst = np.zeros(SR, np.float32)
    i0, m = SR // 2, SR // 250
    burst[i0 : i0 + m] = make_white(rng, m, -40.0 + rise_db)
    out = suppress_clicks(floor + burst, SR)
    seg = slice(i0, i0 + m)
    left = 10 * np.log10(np.mean(out[seg] ** 2) / np.mean(floor[seg] ** 2))
    assert left_db[0] < left < left_db[1], left


def test_clean_speech_and_stationary_noise_pass(rng: np.random.Generator, speech: np.ndarray) -> None:
    assert si_sdr_db(speech, suppress_clicks(speech, SR)) >= 25.0
    noise = make_white(rng, 2 * SR)
    assert si_sdr_db(noise, suppress_clicks(noise, SR)) >= 25.0


def test_shape_length_dtype_and_silence(rng: np.random.Generator) -> None:
    x = make_white(rng, 12345)
    assert suppress_clicks(x, SR).shape == (12345,)
    y = suppress_clicks(np.stack([x, x[::-1]]).astype(np.float64), 48000)
    assert y.shape == (2, 12345)
    assert y.dtype == np.float32
    assert np.all(suppress_clicks(np.zeros(5000, np.float32), SR) == 0)
    assert suppress_clicks(np.ones(7, np.float32), SR).shape == (7,)


@pytest.mark.parametrize("block_sizes", [(1000,), (4096, 333), (17, 5000, 256, 90000)])
def test_chunk_size_invariance(rng: np.random.Generator, speech: np.ndarray, block_sizes: tuple[int, ...]) -> None:
    noisy = np.stack([add_clicks(rng, speech, SR), speech])
    reference = suppress_clicks(noisy, SR)
    blocks, i, k = [], 0, 0
    while i < noisy.shape[1]:
        n = block_sizes[k % len(block_sizes)]
        blocks.append(noisy[:, i : i + n])
        i += n
        k += 1
    proc = ClickSuppressor(SR, 2)
    assert isinstance(proc, BlockProcessor)
    out = np.concatenate(list(run_blocks(proc, blocks)), axis=-1)
    np.testing.assert_allclose(out, reference, atol=1e-6)
    assert proc.report()["clamped_frames"] > 0


def test_stereo_is_linked(rng: np.random.Generator, speech: np.ndarray) -> None:
    noisy = add_clicks(rng, speech, SR)
    out = suppress_clicks(np.stack([noisy, 0.5 * noisy]), SR)
    np.testing.assert_allclose(out[1], 0.5 * out[0], atol=1e-6)


def test_invalid_input() -> None:
    with pytest.raises(InvalidParameterError):
        ClickSuppressor(SR, 0)
    with pytest.raises(InvalidParameterError):
        ClickSuppressor(SR, 1, threshold_db=-1.0)
    with pytest.raises(InvalidParameterError):
        ClickSuppressor(SR, 2).process(np.zeros((1, 100), np.float32))
    with pytest.raises(InvalidAudioError):
        suppress_clicks(np.array([np.nan], np.float32), SR)


def test_a_clip_too_short_for_any_context_passes(rng: np.random.Generator) -> None:
    # with the stream's edges on both sides no frame has context to be judged by: it passes
    clip = make_white(rng, SR // 100, -20.0)  # 10 ms
    out = suppress_clicks(clip, SR)
    assert si_sdr_db(clip, out) > 40.0
    # a click in digital silence is still a click (its context is input: zeros)
    x = np.zeros(SR, np.float32)
    x[SR // 2 : SR // 2 + 20] = 0.5
    assert np.abs(suppress_clicks(x, SR)).max() < 0.05
