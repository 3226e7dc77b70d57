"""The hum remover (dsp.hum): tracking where the hum is, streaming edge cases.

Detection rules (harmonic agreement, the grid's tolerance, held notes) are tested in test_denoise.py.
"""

from __future__ import annotations

import json
import tracemalloc

import numpy as np
import pytest
from scipy import signal as sps

from dsp.hum import HumRemover
from dsp.stream import run_blocks, run_processor
from tests.signals import make_hum, make_speech_like, make_white, si_sdr_db

SR = 16000


def _line_db(y: np.ndarray, f_hz: float, start_s: float, end_s: float, sr: int = SR) -> float:
    """Level (dB re full-scale amplitude) of the sinusoid at ``f_hz`` in ``y[start_s:end_s]``, by least squares."""
    seg = np.asarray(y[int(start_s * sr) : int(end_s * sr)], np.float64)
    t = np.arange(seg.size) / sr
    basis = np.stack([np.cos(2 * np.pi * f_hz * t), np.sin(2 * np.pi * f_hz * t)], 1)
    coef, *_ = np.linalg.lstsq(basis, seg, rcond=None)
    return float(20 * np.log10(np.hypot(*coef) + 1e-12))


def _gated_hum(n: int, on_s: float, off_s: float, *, mains_hz: float = 50.0, level_dbfs: float = -35.0) -> np.ndarray:
    """``make_hum`` switched on at ``on_s`` and off at ``off_s`` (seconds), silent elsewhere."""
    t = np.arange(n) / SR
    return (make_hum(SR, n, mains_hz=mains_hz, level_dbfs=level_dbfs) * ((t >= on_s) & (t < off_s))).astype(np.float32)


@pytest.fixture
def talk(rng: np.random.Generator) -> np.ndarray:
    """Sixteen seconds of speech-like audio over a faint white floor (-70 dBFS)."""
    return make_speech_like(rng, SR, 16.0, lead_silence_s=0.3)[0] + make_white(rng, 16 * SR, -70.0)


def test_hum_that_starts_late_is_removed_from_where_it_starts(talk: np.ndarray) -> None:
    """A cable plugged in at 8 s: its hum is notched from 8 s on, the speech before is left alone.

    Deciding on the opening alone, the remover found no hum and passed all of it through.
    """
    x = talk + _gated_hum(talk.size, 8.0, 99.0)
    h = HumRemover(SR, 1)
    y = run_processor(h, x)
    np.testing.assert_array_equal(y[: 8 * SR], x[: 8 * SR])  # untouched, bit for bit
    for k in (1, 2):
        before, after = _line_db(x, 50.0 * k, 8.5, 16.0), _line_db(y, 50.0 * k, 8.5, 16.0)
        assert after < before - 30.0, f"harmonic {k}: {before:.1f} -> {after:.1f} dB"
    segments = h.report()["hum_segments"]
    assert len(segments) == 1
    assert segments[0]["start_s"] == 8.0
    assert segments[0]["end_s"] == 16.0
    assert segments[0]["hum_hz"] == pytest.approx(50.0, abs=0.05)
    for k in segments[0]["harmonics"]:  # (those that stand out of the speech there: 1, 2 and 5)
        before, after = _line_db(x, 50.0 * k, 8.5, 16.0), _line_db(y, 50.0 * k, 8.5, 16.0)
        assert after < before - 30.0, f"harmonic {k}: {before:.1f} -> {after:.1f} dB"


def test_hum_that_stops_is_no_longer_notched(talk: np.ndarray) -> None:
    """Hum for the first 5 s only: notched there, and the output is the input again after it.

    Deciding on the opening alone, the remover notched the hum's frequencies to the end.
    """
    x = talk + _gated_hum(talk.size, 0.0, 5.0)
    h = HumRemover(SR, 1)
    y = run_processor(h, x)
    assert _line_db(y, 50.0, 0.5, 4.5) < _line_db(x, 50.0, 0.5, 4.5) - 30.0
    # the hum is let go in the quarter window (1 s) it stops in, then faded out over 0.1 s
    np.testing.assert_array_equal(y[int(5.1 * SR) :], x[int(5.1 * SR) :])
    assert si_sdr_db(x[5 * SR :], y[5 * SR :]) > 35.0
    assert [(s["start_s"], s["end_s"]) for s in h.report()["hum_segments"]] == [(0.0, 5.0)]


def test_a_loud_opening_does_not_decide_the_rest(rng: np.random.Generator, talk: np.ndarray) -> None:
    """Hum throughout, under a loud noise burst for the first 4 s (the opening window misses it)."""
    burst = np.concatenate([make_white(rng, 4 * SR, -15.0), np.zeros(talk.size - 4 * SR, np.float32)])
    x = talk + burst + make_hum(SR, talk.size, mains_hz=60.0, level_dbfs=-40.0)
    h = HumRemover(SR, 1)
    y = run_processor(h, x)
    assert h.estimate is None  # the opening window alone: no hum
    assert _line_db(y, 60.0, 6.0, 16.0) < _line_db(x, 60.0, 6.0, 16.0) - 30.0
    assert h.report()["hum_segments"][0]["start_s"] <= 4.0


@pytest.mark.parametrize(
    ("mains_hz", "first_window_harmonics"),
    [(50.0, (1, 2)), (50.03, (1,))],
)
def test_constant_hum_is_notched_throughout_as_one_stretch(
    rng: np.random.Generator, mains_hz: float, first_window_harmonics: tuple[int, ...]
) -> None:
    """Hum under speech from start to end: one decision for the whole file (no flapping), the
    harmonics the opening decision notched, and at least 55 dB off each.

    The opening decision (the first block of 65536 samples, about 4 s) found the same harmonics
    on these signals and took 84.5 and 70.9 dB off the hum at 50.000 Hz, which sits on a bin
    of its spectrum, but 30.5 dB off the hum at 50.03 Hz, read to the bin as 50.00 Hz; the
    fundamental is now read between the bins (about 68/61 and 71 dB off).
    """
    speech = make_speech_like(rng, SR, 20.0, lead_silence_s=0.5)[0]
    x = speech + make_hum(SR, speech.size, mains_hz=mains_hz, level_dbfs=-35.0)
    h = HumRemover(SR, 1)
    y = run_processor(h, x)
    rep = h.report()
    assert set(first_window_harmonics) <= set(rep["hum_harmonics"])
    for k in rep["hum_harmonics"]:
        drop = _line_db(x, mains_hz * k, 0.5, 20.0) - _line_db(y, mains_hz * k, 0.5, 20.0)
        assert drop > 55.0, f"harmonic {k}: {drop:.1f} dB"
    assert rep["hum_hz"] == pytest.approx(mains_hz, abs=0.005)
    assert [(s["start_s"], s["end_s"]) for s in rep["hum_segments"]] == [(0.0, 20.0)]


def _removed_hf(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """RMS per 10 ms of what the remover took out (``x - y``) above 3 kHz, where no notch is."""
    sos = sps.butter(8, 3000.0, btype="highpass", fs=SR, output="sos")
    d = sps.sosfilt(sos, np.asarray(x, np.float64) - y)
    f = SR // 100
    return np.sqrt(np.mean(d[: d.size // f * f].reshape(-1, f) ** 2, axis=1))


def test_switching_makes_no_click(rng: np.random.Generator) -> None:
    """Hum 50 Hz from 3 s, changing to 60 Hz at 9 s, gone at 15 s: each change of notch set is
    crossfaded between cascades that are already settled, so what is taken out never holds a
    broadband burst and the output has no step larger than the input's."""
    n = 20 * SR
    floor = make_white(rng, n, -60.0)
    x = floor + _gated_hum(n, 3.0, 9.0, level_dbfs=-20.0) + _gated_hum(n, 9.0, 15.0, mains_hz=60.0, level_dbfs=-20.0)
    h = HumRemover(SR, 1)
    y = run_processor(h, x)
    starts = [(s["start_s"], s["hum_hz"]) for s in h.report()["hum_segments"]]
    assert len(starts) == 2
    assert starts[0][1] == pytest.approx(50.0, abs=0.05)
    assert starts[1][1] == pytest.approx(60.0, abs=0.05)
    # the input's own steps at the hum's switches are sharp (it is gated): compare to the floor
    hf = _removed_hf(x, y)
    assert hf.max() < 1e-5, f"broadband burst in the removed part: {20 * np.log10(hf.max()):.1f} dBFS"
    assert np.max(np.abs(np.diff(y))) <= np.max(np.abs(np.diff(x))) * 1.01


@pytest.mark.parametrize(
    "block_sizes", [(100,), (1000,), (4096, 333), (65536,), (17, 5000, 256, 90000), (31999, 1), (1_000_000,)]
)
def test_hum_remover_chunk_size_invariance(talk: np.ndarray, block_sizes: tuple[int, ...]) -> None:
    """Hum from 3 s to 11 s on one channel of two: the same samples and report whatever the blocks."""
    x = np.stack([talk, talk[::-1] + _gated_hum(talk.size, 3.0, 11.0)])
    ref = HumRemover(SR, 2)
    reference = run_processor(ref, x)
    assert ref.report()["hum_segments"]
    blocks, i, k = [], 0, 0
    while i < x.shape[-1]:
        blocks.append(x[:, i : i + block_sizes[k % len(block_sizes)]])
        i, k = i + blocks[-1].shape[-1], k + 1
    h = HumRemover(SR, 2)
    out = np.concatenate(list(run_blocks(h, blocks)), axis=-1)
    np.testing.assert_array_equal(out, reference)
    assert h.report() == ref.report()


@pytest.mark.parametrize("block_sizes", [(1000,), (44101, 7), (1_000_000,)])
def test_chunk_size_invariance_at_44100_hz(rng: np.random.Generator, block_sizes: tuple[int, ...]) -> None:
    """The analysis decimated by 5 (to 8820 Hz): the same samples whatever the blocks, off-grid ends too."""
    sr = 44100
    n = round(9.3 * sr)
    t = np.arange(n) / sr
    hum = make_hum(sr, n, mains_hz=59.97, level_dbfs=-30.0) * ((t >= 2.5) & (t < 7.0))
    x = np.stack([make_white(rng, n, -60.0) + hum, make_white(rng, n, -60.0)]).astype(np.float32)
    ref = HumRemover(sr, 2)
    reference = run_processor(ref, x)
    (seg,) = ref.report()["hum_segments"]
    assert seg["hum_hz"] == pytest.approx(59.97, abs=0.01)
    blocks, i, k = [], 0, 0
    while i < n:
        blocks.append(x[:, i : i + block_sizes[k % len(block_sizes)]])
        i, k = i + blocks[-1].shape[-1], k + 1
    h = HumRemover(sr, 2)
    np.testing.assert_array_equal(np.concatenate(list(run_blocks(h, blocks)), axis=-1), reference)
    assert h.report() == ref.report()


@pytest.mark.parametrize("seconds", [0.1, 0.3, 2.0, 4.0, 4.5, 5.0, 6.3])
def test_short_and_odd_lengths_come_out_whole(seconds: float) -> None:
    """Shorter than a window (decided on all of it), or ending off the window grid."""
    n = round(seconds * SR)
    x = make_hum(SR, n, mains_hz=60.0, level_dbfs=-30.0) + make_white(np.random.default_rng(1), n, -70.0)
    h = HumRemover(SR, 1)
    y = run_processor(h, x, block_size=777)
    assert y.shape == x.shape
    if seconds >= 0.25:  # detect_hum's shortest input
        assert h.report()["hum_hz"] == pytest.approx(60.0, abs=0.1)
        assert _line_db(y, 60.0, seconds / 2, seconds) < _line_db(x, 60.0, seconds / 2, seconds) - 20.0
    else:
        np.testing.assert_array_equal(y, x)


def test_memory_is_flat_in_the_duration() -> None:
    """Peak memory while streaming 2 min of intermittent hum is that of 30 s (within 1 MB)."""
    sr = 8000

    def peak(seconds: int) -> int:
        rng = np.random.default_rng(2)
        h = HumRemover(sr, 1)
        t = np.arange(sr) / sr
        tracemalloc.start()
        for s in range(seconds):
            on = (s // 10) % 2  # 10 s of hum, 10 s without
            block = make_white(rng, sr, -60.0) + on * 0.01 * np.sin(2 * np.pi * 50 * t).astype(np.float32)
            h.process(block[np.newaxis])
        h.flush()
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert len(h.report()["hum_segments"]) == (seconds + 9) // 20
        return top

    assert peak(120) < peak(30) + 1_000_000


def test_report_says_where_hum_was_notched(talk: np.ndarray) -> None:
    x = talk + _gated_hum(talk.size, 4.0, 10.0, mains_hz=60.0)
    h = HumRemover(SR, 1)
    run_processor(h, x)
    rep = json.loads(json.dumps(h.report()))
    assert rep["step"] == "dehum"
    assert rep["applied"] is True
    assert rep["hum_hz"] == pytest.approx(60.0, abs=0.05)
    assert {1, 2} <= set(rep["hum_harmonics"])
    assert rep["notched_s"] == pytest.approx(6.0, abs=1.0)
    (seg,) = rep["hum_segments"]
    assert seg["start_s"] == pytest.approx(4.0, abs=1.0)
    assert seg["end_s"] == pytest.approx(10.0, abs=1.0)
    assert seg["harmonics"] == rep["hum_harmonics"]
    clean = HumRemover(SR, 1)
    run_processor(clean, talk)
    assert clean.report()["hum_segments"] == []
    assert clean.report()["hum_hz"] is None


def test_report_says_not_applied_when_no_hum_was_found(talk: np.ndarray) -> None:
    h = HumRemover(SR, 1)
    out = run_processor(h, talk)
    rep = h.report()
    assert rep["step"] == "dehum"
    assert rep["applied"] is False
    assert "no mains hum" in rep["reason"]
    assert rep["notched_s"] == 0.0
    np.testing.assert_array_equal(out.reshape(talk.shape), talk)  # and nothing changed


def test_empty_block_after_hum_was_found_passes() -> None:
    # the pipeline feeds a previous step's (possibly empty) flushed tail through the later steps
    sr = 16000
    t = np.arange(6 * sr) / sr
    hum = sum(0.05 * np.sin(2 * np.pi * 60 * k * t) / k for k in (1, 2, 3)).astype(np.float32)[np.newaxis]
    h = HumRemover(sr, 1)
    out = h.process(hum)
    assert h.estimate is not None
    assert h.estimate.f0_hz == pytest.approx(60.0, abs=0.01)
    empty = h.process(np.zeros((1, 0), np.float32))
    assert empty.shape == (1, 0)
    rest = h.flush()
    assert out.shape[-1] + rest.shape[-1] == hum.shape[-1]
    assert h.report()["hum_hz"] == 60.0


@pytest.mark.parametrize("floor_dbfs", [-70.0, None])  # a faint floor, digital silence
@pytest.mark.parametrize("onset_s", [4.0, 4.5, 4.9, 6.3])
def test_notching_starts_in_the_quarter_window_the_hum_starts_in(onset_s: float, floor_dbfs: float | None) -> None:
    """A window that only ends in hum does not switch it on for the seconds before: with 4 s
    windows, notching starts at the whole second the hum starts in (the next one if it starts in
    that second's last tenth, too little of the first quarter of a window for its level test)."""
    n = 12 * SR
    x = _gated_hum(n, onset_s, 99.0, level_dbfs=-25.0)
    if floor_dbfs is not None:
        x = x + make_white(np.random.default_rng(4), n, floor_dbfs)
    h = HumRemover(SR, 1)
    y = run_processor(h, x)
    start = float(np.floor(onset_s))
    (seg,) = h.report()["hum_segments"]
    assert start <= seg["start_s"] <= onset_s + 0.1
    np.testing.assert_array_equal(y[: int(start * SR)], x[: int(start * SR)])
    assert _line_db(y, 50.0, onset_s + 0.5, 12.0) < _line_db(x, 50.0, onset_s + 0.5, 12.0) - 30.0


def _blocks(x: np.ndarray, sizes: tuple[int, ...]) -> list[np.ndarray]:
    out, i, k = [], 0, 0
    while i < x.shape[-1]:
        out.append(x[:, i : i + sizes[k % len(sizes)]])
        i, k = i + out[-1].shape[-1], k + 1
    return out


@pytest.mark.parametrize(
    ("sr", "channels", "block_sizes"),
    [
        (48000, 2, (13, 4801)),  # analysis: 6-sample means, every 2nd after the low-pass
        (48000, 2, (1_000_000,)),
        (8000, 1, (1,)),  # no means, every 2nd
        (8000, 1, (3, 7919)),
        (22050, 1, (1000,)),  # analysis at 5512.5 Hz (2-sample means, every 2nd)
        (22050, 1, (99, 1, 30001)),
    ],
)
def test_chunk_size_invariance_at_other_rates(
    rng: np.random.Generator, sr: int, channels: int, block_sizes: tuple[int, ...]
) -> None:
    """Hum from 2.3 s to 7.7 s at 60.1 Hz: the same samples and report for tiny, odd and whole blocks."""
    n = round(9.1 * sr)
    t = np.arange(n) / sr
    hum = make_hum(sr, n, mains_hz=60.1, level_dbfs=-30.0) * ((t >= 2.3) & (t < 7.7))
    x = np.stack([make_white(rng, n, -60.0) + hum] + [make_white(rng, n, -60.0)] * (channels - 1)).astype(np.float32)
    ref = HumRemover(sr, channels)
    reference = run_processor(ref, x)
    (seg,) = ref.report()["hum_segments"]
    assert seg["hum_hz"] == pytest.approx(60.1, abs=0.01)
    assert 2.0 <= seg["start_s"] <= 3.0
    assert 7.0 <= seg["end_s"] <= 9.0
    h = HumRemover(sr, channels)
    np.testing.assert_array_equal(np.concatenate(list(run_blocks(h, _blocks(x, block_sizes))), axis=-1), reference)
    assert h.report() == ref.report()


def _screens_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(HumRemover, "_screen", lambda self, spectra: True)


@pytest.mark.parametrize("case", ["speech", "weak_hum", "late_hum", "note", "gated_tone"])
def test_the_screen_spares_work_not_hum(rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch, case: str) -> None:
    """The screen that skips the detection in windows where no hum can be changes no output sample.

    Hum-free speech, hum at -55 dBFS under it (about the faintest the detection takes there: from
    1 s on, its fundamental alone; a screen wanting 15 dB finds none of it, one wanting 8 dB only from 9 s), hum
    from 7.3 s, a held G2 (98.76 Hz, its partials near mains multiples), a gated 150 Hz tone
    (3 x 50 Hz, 30 dB out, not steady): each run with the screen and with every window detected.
    """
    n = 16 * SR
    t = np.arange(n) / SR
    speech = make_speech_like(rng, SR, 16.0, lead_silence_s=0.3)[0] + make_white(rng, n, -70.0)
    if case == "speech":
        x = speech
    elif case == "weak_hum":
        x = speech + make_hum(SR, n, mains_hz=49.95, level_dbfs=-55.0)
    elif case == "late_hum":
        x = speech + _gated_hum(n, 7.3, 99.0, level_dbfs=-40.0)
    elif case == "note":
        x = sum(0.1 / p * np.sin(2 * np.pi * 98.76 * p * t + p) for p in range(1, 7)) + make_white(rng, n, -80.0)
    else:
        x = 0.05 * np.sin(2 * np.pi * 150 * t) * (np.sin(2 * np.pi * 0.7 * t) > 0) + make_white(rng, n, -40.0)
    x = np.asarray(x, np.float32)
    screened = HumRemover(SR, 1)
    y = run_processor(screened, x, block_size=3001)
    if case in ("speech", "gated_tone"):
        assert screened.windows_screened_out >= 6  # (13 windows: the screen does spare work)
    if case in ("speech", "note", "gated_tone"):  # (the note's steady lines near 100 Hz pass the screen)
        assert screened.report()["hum_segments"] == []
    else:
        assert screened.report()["hum_segments"]
    _screens_nothing(monkeypatch)
    full = HumRemover(SR, 1)
    np.testing.assert_array_equal(run_processor(full, x, block_size=3001), y)
    assert full.windows_screened_out == 0
    assert full.report() == screened.report()
