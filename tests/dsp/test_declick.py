"""Properties of the click repairer (dsp.declick) on generated audio with known clicks."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from dsp.declick import ClickRepairer, detect_clicks, repair_clicks
from dsp.errors import InvalidAudioError, InvalidParameterError
from dsp.stream import BlockProcessor, run_blocks
from tests.signals import make_speech_like, make_white, si_sdr_db


def _speech(rng: np.random.Generator, sr: int, seconds: float = 4.0) -> np.ndarray:
    return make_speech_like(rng, sr, seconds, lead_silence_s=0.3)[0].astype(np.float32)


def _with_spikes(rng: np.random.Generator, x: np.ndarray, sr: int, n: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """``x`` with ``n`` one-sample clicks of amplitude 0.5, at least 0.3 s apart."""
    pos = np.sort(rng.choice(np.arange(int(0.1 * sr), x.size - int(0.1 * sr), int(0.3 * sr)), n, replace=False))
    y = x.copy()
    y[pos] += (0.5 * rng.choice([-1.0, 1.0], n)).astype(np.float32)
    return y, pos


def _found(onsets_s: tuple[float, ...], pos: np.ndarray, sr: int) -> int:
    return sum(any(abs(o * sr - p) <= 0.002 * sr for o in onsets_s) for p in pos)


def test_declick_is_a_block_processor() -> None:
    assert isinstance(ClickRepairer(16000, 1), BlockProcessor)


@pytest.mark.parametrize("sr", [8000, 16000, 22050, 44100, 48000])
def test_declick_finds_and_repairs_known_clicks_at_every_rate(rng: np.random.Generator, sr: int) -> None:
    x = _speech(rng, sr)
    y, pos = _with_spikes(rng, x, sr)
    det = detect_clicks(y, sr)
    assert _found(det.onsets_s, pos, sr) >= 6  # at least 6 of 8 within ±2 ms
    assert len(det.onsets_s) <= 10  # and little else
    out = repair_clicks(y, sr)
    assert out.shape == y.shape
    assert out.dtype == np.float32
    assert si_sdr_db(x, out) - si_sdr_db(x, y) >= 3.0


def test_declick_leaves_clean_speech_untouched(rng: np.random.Generator) -> None:
    x = _speech(rng, 16000)
    assert detect_clicks(x, 16000).onsets_s == ()
    assert si_sdr_db(x, repair_clicks(x, 16000)) >= 60.0


def test_declick_silence_in_silence_out() -> None:
    x = np.zeros((2, 16000), np.float32)
    out = repair_clicks(x, 16000)
    assert out.shape == (2, 16000)
    assert not np.any(out)


@pytest.mark.parametrize("blocks", [[16000], [1, 999, 15000], [4096] * 4, [37] * 433])
def test_declick_output_does_not_depend_on_block_sizes(rng: np.random.Generator, blocks: list[int]) -> None:
    x = _speech(rng, 16000, 1.0)
    y, _ = _with_spikes(rng, x, 16000, n=3)
    ref = repair_clicks(y, 16000)
    proc = ClickRepairer(16000, 1)
    edges = np.cumsum([0, *blocks])
    parts = list(run_blocks(proc, (y[None, a:b] for a, b in itertools.pairwise(edges))))
    out = np.concatenate(parts, axis=-1)[0]
    assert out.shape == ref.shape
    np.testing.assert_array_equal(out, ref)


def test_declick_links_channels(rng: np.random.Generator) -> None:
    x = _speech(rng, 16000, 2.0)
    y, pos = _with_spikes(rng, x, 16000, n=4)
    stereo = np.stack([y, 0.5 * y])
    proc = ClickRepairer(16000, 2)
    out = np.concatenate(list(run_blocks(proc, [stereo])), axis=-1)
    assert _found(proc.detections().onsets_s, pos, 16000) >= 3
    # the same repair in both channels: the right stays half the left
    np.testing.assert_allclose(out[1], 0.5 * out[0], atol=1e-5)


def test_declick_detection_mult_is_monotonic(rng: np.random.Generator) -> None:
    x = _speech(rng, 16000)
    clicks = x.copy()
    pos = np.arange(int(0.4 * 16000), x.size - 1600, int(0.2 * 16000))
    clicks[pos] += np.float32(0.05) * rng.choice([-1.0, 1.0], pos.size).astype(np.float32)  # weak clicks
    counts = [len(detect_clicks(clicks, 16000, detection_mult=m).onsets_s) for m in (6.0, 7.0, 8.0, 9.0, 10.0)]
    assert counts == sorted(counts, reverse=True)
    assert counts[0] > counts[-1]


def test_declick_click_len_decides_interpolation_or_attenuation(rng: np.random.Generator) -> None:
    sr = 16000
    x = _speech(rng, sr)
    y = x.copy()
    n = int(0.012 * sr)  # 12 ms bursts: longer than click_len 5 ms, shorter than 30 ms
    for start in (int(0.8 * sr), int(2.1 * sr), int(3.3 * sr)):
        y[start : start + n] += (0.6 * rng.standard_normal(n) * np.exp(-np.arange(n) / (n / 3))).astype(np.float32)
    short = ClickRepairer(sr, 1, click_len_ms=5.0)
    long_ = ClickRepairer(sr, 1, click_len_ms=30.0)
    for proc in (short, long_):
        list(run_blocks(proc, [y[None, :]]))
    interpolated_short = sum(short.detections().interpolated)
    interpolated_long = sum(long_.detections().interpolated)
    assert len(short.detections().onsets_s) >= 2
    assert interpolated_long > interpolated_short
    assert short.report()["attenuated"] >= 1


def test_declick_report_counts_what_it_did(rng: np.random.Generator) -> None:
    x = _speech(rng, 16000)
    y, _ = _with_spikes(rng, x, 16000)
    proc = ClickRepairer(16000, 1)
    list(run_blocks(proc, [y[None, :]]))
    report = proc.report()
    assert report["step"] == "declick"
    assert report["clicks_found"] == len(proc.detections().onsets_s) >= 6
    assert report["interpolated"] + report["attenuated"] == report["clicks_found"]
    assert report["clicks_per_minute"] == pytest.approx(report["clicks_found"] / (y.size / 16000 / 60), rel=0.01)
    assert 0 < report["longest_ms"] <= 10


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"detection_mult": 5.9}, InvalidParameterError),
        ({"detection_mult": 10.1}, InvalidParameterError),
        ({"click_len_ms": 4}, InvalidParameterError),
        ({"click_len_ms": 31}, InvalidParameterError),
        ({"detection_mult": float("nan")}, InvalidParameterError),
        ({}, None),
    ],
)
def test_declick_parameter_ranges(kwargs: dict[str, float], error: type[Exception] | None) -> None:
    if error is None:
        assert ClickRepairer(16000, 1, **kwargs).detection_mult == 8.0
        return
    with pytest.raises(error):
        ClickRepairer(16000, 1, **kwargs)


@pytest.mark.parametrize(
    "audio",
    [np.zeros(0, np.float32), np.array([0.0, np.nan], np.float32), np.array([1.0, np.inf], np.float32)],
)
def test_declick_refuses_bad_audio(audio: np.ndarray) -> None:
    with pytest.raises(InvalidAudioError):
        repair_clicks(audio, 16000)


def test_declick_noise_floor_is_not_clicks(rng: np.random.Generator) -> None:
    x = make_white(rng, 16000 * 3, -40.0).astype(np.float32)
    assert len(detect_clicks(x, 16000).onsets_s) <= 1
