"""Long-pause shortening (dsp.silence) on generated speech with pauses of known lengths."""

from __future__ import annotations

import numpy as np
import pytest

from dsp.errors import InvalidParameterError
from dsp.silence import SilenceCuts, SilenceShortener, apply_cuts, plan_cuts, shorten_silences
from tests.signals import make_speech_like, make_white

SR = 16000
GAPS_S = (0.4, 1.5, 3.0, 0.8, 2.0)


def talk_with_pauses(rng: np.random.Generator) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Speech bursts separated by pauses of ``GAPS_S`` (a -60 dBFS floor), and the speech spans."""
    parts, spans, pos = [], [], 0
    for gap in (*GAPS_S, None):
        # one word of 0.6-1.1 s, cut at its last sample: a burst that is speech end to end
        speech, words = make_speech_like(rng, SR, 1.4, lead_silence_s=0.0, pause_every_s=1.1)
        speech = speech[: int(words[-1][1] * SR)]
        parts.append(speech)
        spans += [(pos + int(a * SR), pos + int(b * SR)) for a, b in words]
        pos += speech.size
        if gap is not None:
            parts.append(np.zeros(int(gap * SR)))
            pos += int(gap * SR)
    x = np.concatenate(parts)
    return (x + make_white(rng, x.size, -60.0)).astype(np.float32), spans


def test_long_pauses_are_shortened_and_speech_is_kept(rng: np.random.Generator) -> None:
    x, spans = talk_with_pauses(rng)
    s = SilenceShortener(SR, 1)
    s.process(x[None, :])
    cuts = s.finish()
    assert len(cuts.cuts) == sum(g > 1.0 for g in GAPS_S)  # every pause over 1 s, and only those
    speech = np.zeros(x.size, bool)
    for a, b in spans:
        speech[a:b] = True
    cut = np.zeros(x.size, bool)
    for a, b in cuts.cuts:
        cut[a:b] = True
    assert np.count_nonzero(speech & ~cut) / np.count_nonzero(speech) >= 0.999
    y = apply_cuts(x, cuts)
    assert y.size == x.size - cuts.removed
    # each shortened pause now lasts about keep_pause_s (the detector's edges are not sample-exact)
    for (a, b), gap in zip(cuts.cuts, (g for g in GAPS_S if g > 1.0), strict=True):
        left = gap - (b - a) / SR
        assert 0.35 <= left <= 0.75, (gap, left)


def test_joins_make_no_step_larger_than_the_signal_has(rng: np.random.Generator) -> None:
    x, _ = talk_with_pauses(rng)
    y = shorten_silences(x, SR)
    own_step = float(np.max(np.abs(np.diff(x))))
    assert float(np.max(np.abs(np.diff(y)))) <= own_step


def test_no_speech_no_cut() -> None:
    x = np.zeros(10 * SR, np.float32)  # a recording with no speech at all is not one long pause
    out = shorten_silences(x, SR)
    np.testing.assert_array_equal(out, x)
    s = SilenceShortener(SR, 1)
    s.process(x[None, :])
    # the report does not say "applied", nor that there was no long pause (the whole file is one)
    assert s.report()["not_applied"].startswith("no speech found"), s.report()


def test_plan_does_not_depend_on_block_sizes(rng: np.random.Generator) -> None:
    x, _ = talk_with_pauses(rng)
    plans = []
    for size in (x.size, 4096, 1000):
        s = SilenceShortener(SR, 1)
        for i in range(0, x.size, size):
            s.process(x[None, i : i + size])
        plans.append(s.finish().cuts)
    assert plans[0] == plans[1] == plans[2]


def test_report_lists_each_cut(rng: np.random.Generator) -> None:
    x, _ = talk_with_pauses(rng)
    s = SilenceShortener(SR, 1)
    s.process(x[None, :])
    report = s.report()
    assert report["step"] == "long_silences"
    assert report["pauses_shortened"] == len(report["cuts"]) == 3
    assert "not_applied" not in report
    assert report["removed_s"] == pytest.approx(sum(b - a for a, b in report["cuts"]), abs=0.01)


def test_plan_cuts_edges() -> None:
    # leading and trailing pauses keep keep_pause_s next to the speech
    plan = plan_cuts([(3.0, 4.0)], 8.0, 8000)
    assert plan.cuts == ((0, int(2.5 * 8000)), (int(4.5 * 8000), 8 * 8000))
    assert plan_cuts([(0.0, 1.0), (1.9, 3.0)], 3.0, 8000).cuts == ()  # 0.9 s: not long


def test_stereo_cuts_both_channels_alike(rng: np.random.Generator) -> None:
    x, _ = talk_with_pauses(rng)
    y = shorten_silences(np.stack([x, 0.5 * x]), SR)
    np.testing.assert_allclose(y[1], 0.5 * y[0], atol=1e-6)


@pytest.mark.parametrize(
    "kwargs", [{"max_pause_s": 0.1}, {"max_pause_s": 61}, {"keep_pause_s": 0.01}, {"max_pause_s": 1, "keep_pause_s": 2}]
)
def test_bad_parameters_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(InvalidParameterError):
        SilenceShortener(SR, 1, **kwargs)


def test_apply_cuts_counts_exactly() -> None:
    x = np.ones((2, 24000), np.float32)
    y = apply_cuts(x, SilenceCuts(((1000, 5000), (9000, 20000)), 8000, 24000))
    assert y.shape == (2, 24000 - 4000 - 11000)


def test_a_filler_taken_out_of_the_speech_joins_the_pauses_around_it() -> None:
    """Words, 1.2 s, a short voiced sound the speech detector calls speech, 1.2 s, words: alone,
    each pause is shortened to 0.5 s around the sound; once another edit takes the sound out
    (``exclude_speech``), the whole stretch is one pause, shortened to 0.5 s as a whole."""
    from tests.dsp.test_fillers import words

    rng = np.random.default_rng(4)
    sr = 16000
    gap = np.zeros(round(1.2 * sr))
    w1, mid, w2 = words(rng, sr), words(rng, sr, n_syllables=2), words(rng, sr)
    x = np.concatenate([np.zeros(sr // 4), w1, gap, mid, gap, w2, np.zeros(sr // 4)])
    x = (x + 1e-4 * rng.standard_normal(x.size)).astype(np.float32)
    a = sr // 4 + w1.size + gap.size
    span = (a / sr, (a + mid.size) / sr)
    s = SilenceShortener(sr, 1)
    s.process(x[None])
    assert len(s.finish().cuts) == 2  # one on each side of the sound
    s.exclude_speech([span])
    (cut,) = s.finish().cuts
    assert cut[0] < a
    assert cut[1] > a + mid.size
    left = (2 * gap.size + mid.size - (cut[1] - cut[0])) / sr
    assert left == pytest.approx(0.5, abs=0.1)
    rep = s.report()
    assert rep["fillers_joined"] == 1
    assert rep["pauses_shortened"] == 1
