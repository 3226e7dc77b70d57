"""keep_music and remove_background through the pipeline: the music pass, the map, the reports."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from app import media
from app.errors import InvalidParameterError
from app.jobs.models import OutputSpec, Step
from app.jobs.pipeline import PREPASS_SHARE, process_file
from app.jobs.steps import check_steps
from tests.dsp.test_music import chords
from tests.signals import make_speech_like, make_white

SR = 16000


def podcast_file(tmp_path: Path) -> tuple[Path, np.ndarray]:
    """Music 0-8 s (a 1.5 s rest at 3 s), speech 8.5-13.5 s, a 3 s pause, speech, music 22-30 s."""
    rng = np.random.default_rng(11)
    intro = chords(SR, 8.0)
    intro[int(3.0 * SR) : int(4.5 * SR)] = 0.0
    a, _ = make_speech_like(rng, SR, 5.0, lead_silence_s=0.0)
    b, _ = make_speech_like(rng, SR, 5.0, lead_silence_s=0.0)
    x = np.concatenate([intro, np.zeros(SR // 2), a, np.zeros(3 * SR), b, np.zeros(SR // 2), chords(SR, 8.0)])
    x = (x + make_white(rng, x.size, -60.0)).astype(np.float32)
    src = tmp_path / "podcast.wav"
    sf.write(src, x, SR, subtype="FLOAT")
    return src, x


def run(src: Path, tmp: Path, steps: list[Step], seen: list[float] | None = None) -> tuple[np.ndarray, dict[str, dict]]:
    res = process_file(
        src,
        media.probe(src),
        steps,
        OutputSpec(container="wav"),
        tmp,
        block_seconds=0.7,
        progress=(seen.append if seen is not None else lambda pct: None),
    )
    assert res.path is not None
    y, _ = sf.read(res.path, dtype="float32")
    return y, {r["step"]: r for r in res.reports}


def test_keep_music_spares_music_in_denoise_and_long_silences(tmp_path: Path) -> None:
    src, x = podcast_file(tmp_path)
    seen: list[float] = []
    steps = [Step(name="keep_music"), Step(name="denoise"), Step(name="long_silences")]
    y, rep = run(src, tmp_path, steps, seen)
    keep = rep["keep_music"]
    assert "not_applied" not in keep
    assert keep["protects"] == ["denoise", "long_silences"]
    assert keep["music_s"] > 14.0
    assert keep["bypassed_s"] == keep["music_s"]
    assert rep["denoise"]["keep_music"]["bypassed_s"] == keep["music_s"]
    cuts = rep["long_silences"]["cuts"]
    assert cuts, "the 3 s speech pause is still shortened"
    assert all(a >= 8.0 and b <= 22.0 for a, b in cuts)  # never in the music, nor its rest
    assert rep["long_silences"]["keep_music"]["cut_s_spared"] > 0.5  # the rest would have been cut
    # the intro comes out bit for bit (the cuts are all after it)
    np.testing.assert_array_equal(y[: 7 * SR], x[: 7 * SR])
    assert seen == sorted(seen)
    assert any(0 < p <= PREPASS_SHARE * 100 for p in seen)
    # without keep_music the denoiser changes the intro, but long_silences still finds the music
    # itself and never cuts into it (music is no pause)
    _y0, rep0 = run(src, tmp_path, [Step(name="denoise"), Step(name="long_silences")])
    assert rep0["long_silences"]["cuts"]
    assert all(a >= 8.0 and b <= 22.0 for a, b in rep0["long_silences"]["cuts"])
    assert rep0["long_silences"]["music_cut_s_spared"] > 0.5
    assert "keep_music" not in rep0["denoise"]


def test_a_recording_that_is_all_music_says_denoise_left_it_untouched(tmp_path: Path) -> None:
    # the denoise row said "applied", a mean gain of -5 dB and 452 frames of clicks clamped for a
    # music file that came back bit for bit (a playground audit): figures of audio the mix discarded
    rng = np.random.default_rng(12)
    x = (chords(SR, 12.0) + make_white(rng, 12 * SR, -60.0)).astype(np.float32)
    src = tmp_path / "tune.wav"
    sf.write(src, x, SR, subtype="FLOAT")
    y, rep = run(src, tmp_path, [Step(name="keep_music"), Step(name="denoise")])
    np.testing.assert_array_equal(y, x)
    denoise = rep["denoise"]
    assert denoise["applied"] is False
    assert "the whole recording is music" in denoise["not_applied"]
    assert "mean_gain_db" not in denoise
    assert denoise["keep_music"]["bypassed_s"] == pytest.approx(12.0, abs=0.01)


def test_keep_music_alone_says_it_had_nothing_to_spare(tmp_path: Path) -> None:
    src, x = podcast_file(tmp_path)
    y, rep = run(src, tmp_path, [Step(name="keep_music")])
    np.testing.assert_array_equal(y, x)
    assert "no step of this job changes music" in rep["keep_music"]["not_applied"]
    assert rep["keep_music"]["music_s"] > 14.0


def test_remove_background_gates_between_speech_and_keep_music_wins(tmp_path: Path) -> None:
    src, x = podcast_file(tmp_path)
    y, rep = run(src, tmp_path, [Step(name="remove_background")])
    gate = rep["remove_background"]["gate"]
    assert gate["applied"] is True
    assert gate["removed_db"] >= 20.0
    intro = slice(SR, 3 * SR)
    assert 20 * np.log10(np.std(x[intro]) / np.std(y[intro])) >= 20.0  # music between speech goes
    y2, rep2 = run(src, tmp_path, [Step(name="keep_music"), Step(name="remove_background")])
    np.testing.assert_array_equal(y2[intro], x[intro])  # ... unless the job keeps music
    assert rep2["remove_background"]["keep_music"]["bypassed_s"] > 14.0
    assert rep2["keep_music"]["protects"] == ["remove_background"]


def test_new_steps_are_checked_at_submit() -> None:
    check_steps([Step(name="keep_music"), Step(name="remove_background", params={"depth_db": 20})])
    with pytest.raises(InvalidParameterError):
        check_steps([Step(name="remove_background", params={"depth_db": 90})])
    with pytest.raises(InvalidParameterError):
        check_steps([Step(name="keep_music", params={"amount": 3})])


def test_fillers_and_long_silences_together_leave_one_pause_of_the_kept_length(tmp_path: Path) -> None:
    """Words, 1.3 s of pause, an "uh", 1.3 s, words: with both edits the whole stretch between the
    words is one pause, shortened to 0.5 s (apart, each cut its own part and 0.2-0.4 s was left),
    and the two reports add up to what was removed (they counted the overlap twice)."""
    from tests.dsp.test_fillers import make_uh, words

    rng = np.random.default_rng(21)
    gap = np.zeros(round(1.3 * SR))
    lead = np.zeros(round(0.4 * SR))
    w1, w2 = words(rng, SR), words(rng, SR)
    x = np.concatenate([lead, w1, gap, make_uh(SR), gap, w2, lead])
    x = (x + make_white(rng, x.size, -65.0)).astype(np.float32)
    src = tmp_path / "um.wav"
    sf.write(src, x, SR, subtype="FLOAT")
    between = 2 * gap.size + round(0.45 * SR)
    y, rep = run(src, tmp_path, [Step(name="fillers"), Step(name="long_silences")])
    removed = x.size - y.size
    # the pause left is the one a plain pause of the same length gets (0.5 s, and the speech
    # detector's edges around the words)
    plain = np.concatenate([lead, w1, np.zeros(between), w2, lead])
    plain = (plain + make_white(rng, plain.size, -65.0)).astype(np.float32)
    sf.write(tmp_path / "plain.wav", plain, SR, subtype="FLOAT")
    y0, _ = run(tmp_path / "plain.wav", tmp_path, [Step(name="long_silences")])
    left0 = (between - (plain.size - y0.size)) / SR
    assert left0 == pytest.approx(0.5, abs=0.1)
    assert (between - removed) / SR == pytest.approx(left0, abs=0.03)
    total = rep["fillers"]["removed_s"] + rep["long_silences"]["removed_s"]
    assert total == pytest.approx(removed / SR, abs=0.005)
    assert rep["fillers"]["fillers_cut"] == 1
    assert rep["fillers"]["cut_by_long_silences"] == 1
    # the words are intact: the first in place, the second moved by what was removed
    a1 = lead.size
    np.testing.assert_array_equal(y[a1 : a1 + w1.size], x[a1 : a1 + w1.size])
    a2 = a1 + w1.size + between
    np.testing.assert_array_equal(y[a2 - removed : a2 - removed + w2.size], x[a2 : a2 + w2.size])
