"""Speech/music discrimination (dsp.music) and what uses its map: the bypass, the gate, the cut guard."""

from __future__ import annotations

import numpy as np
import pytest

from dsp.denoise import NoiseReducer
from dsp.errors import InvalidAudioError, InvalidParameterError
from dsp.music import (
    BACKGROUND_DEPTH_DB,
    BED_WET,
    GLIDE_SPEECH_MAX,
    PROTECT_PAD_S,
    BackgroundRemover,
    MusicBypass,
    MusicDetector,
    MusicMap,
    MusicSafeShortener,
    detect_music,
    protect_cuts,
)
from dsp.silence import SilenceCuts, SilenceShortener
from dsp.stream import run_processor
from tests.signals import make_speech_like, make_tune, make_white, mix_at_snr

SR = 16000
RATES = (8000, 16000, 22050, 44100, 48000)


def chords(sr: int, duration_s: float, level: float = 0.02) -> np.ndarray:
    """Four-note chords of harmonic tones, a new chord every 0.75 s (a music bed)."""
    t = np.arange(int(duration_s * sr)) / sr
    root = 110.0 * 2 ** (np.floor(t / 0.75) % 4 * 5 / 12)
    return level * sum(
        np.sin(2 * np.pi * h * r * np.cumsum(root) / sr) / h for r in (1, 1.25, 1.5, 2) for h in range(1, 9)
    )


def podcast(sr: int, seed: int = 1) -> tuple[np.ndarray, list[tuple[float, float]], tuple[float, float]]:
    """Music 0-8 s, speech 8.5-20.5 s, a 1 s pause, music 21.5-29.5 s; the music spans and the speech span."""
    rng = np.random.default_rng(seed)
    speech, _ = make_speech_like(rng, sr, 12.0, lead_silence_s=0.5)
    x = np.concatenate([chords(sr, 8.0), np.zeros(sr // 2), speech, np.zeros(sr), chords(sr, 8.0)])
    x = x + make_white(rng, x.size, -65.0)
    return x.astype(np.float32), [(0.0, 8.0), (21.5, 29.5)], (8.5, 20.5)


def overlap_s(a: tuple[tuple[float, float], ...] | list[tuple[float, float]], b: list[tuple[float, float]]) -> float:
    return float(sum(max(0.0, min(e, v) - max(s, u)) for s, e in a for u, v in b))


# ---------------------------------------------------------------------------- the detector


@pytest.mark.parametrize("sr", RATES)
def test_music_found_and_speech_not_at_every_rate(sr: int) -> None:
    x, music, speech = podcast(sr)
    found = detect_music(x, sr)
    assert overlap_s(found.music, music) >= 0.95 * 16.0  # both music stretches, nearly whole
    assert overlap_s(found.music, [speech]) <= 0.5  # at most a smoothing edge into the speech
    assert found.bed == ()
    assert found.duration_s == pytest.approx(x.size / sr)
    assert overlap_s(found.speech, [speech]) > 6.0  # the speech detector's segments ride along


def test_same_answer_at_every_rate() -> None:
    maps = [detect_music(podcast(sr)[0], sr) for sr in RATES]
    for m in maps[1:]:
        assert len(m.music) == len(maps[0].music)
        for (a, b), (c, d) in zip(m.music, maps[0].music, strict=True):
            assert abs(a - c) < 0.25
            assert abs(b - d) < 0.25


def test_block_size_does_not_change_the_map() -> None:
    x, _, _ = podcast(SR)
    maps = []
    for block in (x.size, 4096, 1000, 160):
        det = MusicDetector(SR, 1)
        for i in range(0, x.size, block):
            det.process(x[np.newaxis, i : i + block])
        maps.append(det.finish())
    assert all(m == maps[0] for m in maps[1:])


def test_silence_and_steady_noise_are_neither_music_nor_bed() -> None:
    rng = np.random.default_rng(2)
    for x in (np.zeros(5 * SR, np.float32), make_white(rng, 10 * SR, -30.0).astype(np.float32)):
        found = detect_music(x, SR)
        assert found.music == ()
        assert found.bed == ()
        assert found.music_share == 0.0


def test_stereo_and_report() -> None:
    x, _, _ = podcast(SR)
    det = MusicDetector(SR, 2)
    det.process(np.stack([x, 0.5 * x]))
    rep = det.report()
    assert rep["music_s"] > 15.0
    assert 0.5 < rep["music_share"] < 0.6
    assert rep["frames"]["music"] > 1500
    assert det.finish() is det.finish()


def test_bad_input_is_refused() -> None:
    with pytest.raises(InvalidParameterError):
        MusicDetector(4000, 1)
    with pytest.raises(InvalidParameterError):
        MusicDetector(SR, 0)
    det = MusicDetector(SR, 1)
    with pytest.raises(InvalidParameterError):
        det.process(np.zeros((2, 100), np.float32))
    with pytest.raises(InvalidAudioError):  # as every streaming processor says it
        det.process(np.full((1, 100), np.nan, np.float32))
    det.finish()
    with pytest.raises(InvalidParameterError):
        det.process(np.zeros((1, 100), np.float32))
    with pytest.raises(InvalidAudioError):
        detect_music(np.zeros(100, np.int16), SR)  # type: ignore[arg-type]
    with pytest.raises(InvalidParameterError):
        MusicBypass(NoiseReducer(SR, 1), SR, 1, MusicMap((), (), (), 1.0), bed_wet=1.5)
    with pytest.raises(InvalidParameterError):
        BackgroundRemover(NoiseReducer(SR, 1), SR, 1, None, depth_db=-1.0)


def test_empty_stream() -> None:
    det = MusicDetector(SR, 1)
    found = det.finish()
    assert found == MusicMap((), (), (), 0.0, foreground=())
    assert detect_music(np.zeros(10, np.float32), SR).music == ()


def test_music_fading_to_digital_silence_is_found() -> None:
    # a fade to exact zeros left the running mean power a hair under zero: its NaN level made
    # the reference percentile NaN and no window active (a real orchestral clip ends this way)
    c = chords(SR, 8.0, level=0.2)
    t = np.arange(c.size) / SR
    c = c * np.minimum(1.0, np.exp(-(t - 7.5) / (0.5 / 12)))  # the last 0.5 s fade about 50 dB
    found = detect_music(np.concatenate([c, np.zeros(3 * SR)]).astype(np.float32), SR)
    assert overlap_s(found.music, [(0.0, 7.5)]) > 7.0


def test_music_only_rests_on_a_pitch_that_never_glides() -> None:
    rng = np.random.default_rng(8)
    voice, _ = make_speech_like(rng, SR, 12.0)
    noise = make_white(rng, 12 * SR, -60.0)
    tune = mix_at_snr(make_tune(rng, SR, 12.0), make_white(rng, 12 * SR), 20.0)
    # the plucked tune in noise passes for speech with the speech detector and the map, as
    # staccato strings do
    found = detect_music(tune, SR)
    assert found.music_only
    assert found.glide_share < GLIDE_SPEECH_MAX
    assert sum(e - s for s, e in found.speech) > 8.0
    assert found.music == ()
    assert found.music_only == detect_music(chords(SR, 12.0) + noise, SR).music_only
    # speech over a loud chord bed, which the map takes for music throughout, is not music only
    bed = detect_music(voice + chords(SR, 12.0, level=0.02) + noise, SR)
    assert bed.music_s > 10.0
    assert not bed.music_only
    assert bed.glide_share > 5 * GLIDE_SPEECH_MAX
    assert not detect_music(voice + noise, SR).music_only
    # without voiced sound there is nothing to judge: silence and steady noise are not music only
    for x in (np.zeros(5 * SR, np.float32), make_white(rng, 10 * SR, -30.0)):
        assert not detect_music(x, SR).music_only
    assert "music only" in found.why_music_only()
    assert found.report()["music_only"] is True


# ---------------------------------------------------------------------------- the bypass


def test_music_passes_the_noise_reducer_untouched_and_speech_is_processed() -> None:
    x, _music, _speech = podcast(SR)
    x = x + make_white(np.random.default_rng(9), x.size, -45.0).astype(np.float32)
    found = detect_music(x, SR)
    plain = run_processor(NoiseReducer(SR, 1), x[np.newaxis], block_size=7000)[0]
    kept = run_processor(MusicBypass(NoiseReducer(SR, 1), SR, 1, found), x[np.newaxis], block_size=7000)[0]
    assert kept.shape == x.shape
    inside = slice(int(1.0 * SR), int(7.0 * SR))  # well inside the first music stretch
    assert np.array_equal(kept[inside], x[inside])  # bit for bit: the music is not touched
    assert not np.allclose(plain[inside], x[inside], atol=1e-3)  # the plain reducer changes it
    words = slice(int(10.0 * SR), int(19.0 * SR))
    assert np.array_equal(kept[words], plain[words])  # speech without music: the full reduction


def test_speech_over_a_bed_gets_half_the_reduction() -> None:
    rng = np.random.default_rng(4)
    x = (make_white(rng, 6 * SR, -30.0)).astype(np.float32)
    m = MusicMap(music=(), bed=((2.0, 4.0),), speech=((2.0, 4.0),), duration_s=6.0)
    wet = run_processor(NoiseReducer(SR, 1), x[np.newaxis], block_size=4096)[0]
    out = run_processor(MusicBypass(NoiseReducer(SR, 1), SR, 1, m), x[np.newaxis], block_size=4096)[0]
    mid = slice(int(2.6 * SR), int(3.4 * SR))
    np.testing.assert_allclose(out[mid], BED_WET * wet[mid] + (1 - BED_WET) * x[mid], atol=1e-6)
    assert np.std(out[mid]) < 0.9 * np.std(x[mid])  # still processed
    assert np.std(out[mid]) > 1.5 * np.std(wet[mid])  # but gentler
    far = slice(int(5.0 * SR), int(6.0 * SR))
    np.testing.assert_allclose(out[far], wet[far], atol=1e-7)


@pytest.mark.parametrize("sr", RATES)
def test_silence_in_silence_out(sr: int) -> None:
    x = np.zeros((1, 3 * sr), np.float32)
    found = detect_music(x, sr)
    for p in (
        MusicBypass(NoiseReducer(sr, 1), sr, 1, found),
        BackgroundRemover(NoiseReducer(sr, 1), sr, 1, found),
        BackgroundRemover(NoiseReducer(sr, 1), sr, 1, found, keep_music=True),
    ):
        y = run_processor(p, x, block_size=5000)
        assert y.shape == x.shape
        assert not np.any(y)


def test_bypass_is_chunk_invariant() -> None:
    x, _, _ = podcast(SR)
    found = detect_music(x, SR)
    outs = [
        run_processor(MusicBypass(NoiseReducer(SR, 1), SR, 1, found), x[np.newaxis], block_size=b)
        for b in (x.size, 4096, 999)
    ]
    for y in outs[1:]:  # the reducer's FFT batches differ by rounding only
        np.testing.assert_allclose(y, outs[0], atol=1e-6)


# ---------------------------------------------------------------------------- the background gate


def test_a_clip_too_short_to_hold_a_pause_is_not_gated_as_background() -> None:
    # a 0.05 s clip: no speech found in it, and all of it taken away by the gate (43 dB)
    rng = np.random.default_rng(6)
    x = (0.1 * rng.standard_normal(int(0.05 * SR))).astype(np.float32)
    found = detect_music(x, SR)
    p = BackgroundRemover(NoiseReducer(SR, 1, amount=1.0), SR, 1, found)
    y = run_processor(p, x[np.newaxis], block_size=256)[0]
    assert 20 * np.log10(np.abs(y).max() / np.abs(x).max()) > -3.0
    gate = p.report()["gate"]
    assert gate["applied"] is False
    assert "too short" in gate["reason"]


def test_background_between_speech_goes_down_by_the_depth() -> None:
    rng = np.random.default_rng(5)
    speech, _words = make_speech_like(rng, SR, 12.0, lead_silence_s=2.0, pause_every_s=1.5, pause_s=2.5)
    bed = chords(SR, 12.0) * (np.std(speech[speech != 0]) / np.std(chords(SR, 12.0))) * 10 ** (-15 / 20)
    x = (speech + bed).astype(np.float32)
    found = detect_music(x, SR)
    p = BackgroundRemover(NoiseReducer(SR, 1), SR, 1, found)
    y = run_processor(p, x[np.newaxis], block_size=4096)[0]
    lead = slice(int(0.2 * SR), int(1.5 * SR))  # bed alone before the first word
    removed = 10 * np.log10(np.sum(x[lead].astype(np.float64) ** 2) / np.sum(y[lead].astype(np.float64) ** 2))
    assert removed >= 20.0
    rep = p.report()
    assert rep["step"] == "remove_background"
    assert rep["depth_db"] == BACKGROUND_DEPTH_DB
    assert rep["gate"]["applied"] is True
    assert rep["gate"]["removed_db"] >= 20.0
    assert rep["denoise"]["step"] == "denoise"
    # with keep_music, a music-only stretch is left alone by the gate and the reducer
    m = MusicMap(
        music=((0.0, 1.5),), bed=(), speech=found.speech, duration_s=found.duration_s, foreground=found.foreground
    )
    kept = run_processor(
        BackgroundRemover(NoiseReducer(SR, 1), SR, 1, m, keep_music=True), x[np.newaxis], block_size=4096
    )[0]
    np.testing.assert_array_equal(kept[:SR], x[:SR])


# ---------------------------------------------------------------------------- the cut guard


def test_protect_cuts_trims_every_cut_off_music() -> None:
    cuts = SilenceCuts(cuts=((16000, 48000), (80000, 96000), (120000, 121000)), sr=SR, n=200000)
    kept = protect_cuts(cuts, ((2.0, 5.5),))
    assert kept.cuts == ((16000, 32000), (88000, 96000), (120000, 121000))
    assert protect_cuts(cuts, ()).cuts == cuts.cuts


def test_pauses_in_music_are_never_cut_but_speech_pauses_are() -> None:
    rng = np.random.default_rng(6)
    music = chords(SR, 8.0)
    music[int(3.0 * SR) : int(4.5 * SR)] = 0.0  # a 1.5 s rest: silence inside the music
    speech_a, _ = make_speech_like(rng, SR, 5.0, lead_silence_s=0.0)
    speech_b, _ = make_speech_like(rng, SR, 5.0, lead_silence_s=0.0)
    x = np.concatenate([music, np.zeros(SR // 2), speech_a, np.zeros(3 * SR), speech_b])
    x = (x + make_white(rng, x.size, -65.0)).astype(np.float32)
    found = detect_music(x, SR)
    assert overlap_s(found.music, [(0.0, 8.0)]) > 7.0
    plain = SilenceShortener(SR, 1)
    guarded = MusicSafeShortener(SilenceShortener(SR, 1), found)
    for i in range(0, x.size, 5000):
        plain.process(x[np.newaxis, i : i + 5000])
        guarded.process(x[np.newaxis, i : i + 5000])
    in_music = [(0.0, 8.0 + PROTECT_PAD_S)]
    plain_cuts = [(a / SR, b / SR) for a, b in plain.finish().cuts]
    cuts = [(a / SR, b / SR) for a, b in guarded.finish().cuts]
    assert overlap_s(plain_cuts, in_music) > 0.5  # the plain cutter takes the rest for a pause
    assert overlap_s(cuts, in_music) == 0.0
    assert overlap_s(cuts, [(13.5, 16.5)]) > 1.5  # the speech pause is still shortened
    rep = guarded.report()
    assert rep["pauses_shortened"] == len(cuts)
    assert rep["keep_music"]["cut_s_spared"] > 0.5


def test_the_shortener_spares_music_it_finds_itself() -> None:
    """Without a job's music map (no keep_music), ``spare_music`` runs the music detector in the
    same pass: a music intro is no pause (an audit found 5.2 s cut out of one), the speech's
    pauses are still shortened, and the report says what the music spared."""
    rng = np.random.default_rng(9)
    music = chords(SR, 8.0)
    speech_a, _ = make_speech_like(rng, SR, 5.0, lead_silence_s=0.0)
    speech_b, _ = make_speech_like(rng, SR, 5.0, lead_silence_s=0.0)
    x = np.concatenate([music, np.zeros(SR // 2), speech_a, np.zeros(3 * SR), speech_b])
    x = (x + make_white(rng, x.size, -65.0)).astype(np.float32)
    plain = SilenceShortener(SR, 1)
    sparing = SilenceShortener(SR, 1, spare_music=True)
    for i in range(0, x.size, 5000):
        plain.process(x[np.newaxis, i : i + 5000])
        sparing.process(x[np.newaxis, i : i + 5000])
    in_music = [(0.0, 8.0 + PROTECT_PAD_S)]
    assert overlap_s([(a / SR, b / SR) for a, b in plain.finish().cuts], in_music) > 0.5
    cuts = [(a / SR, b / SR) for a, b in sparing.finish().cuts]
    assert overlap_s(cuts, in_music) == 0.0
    assert overlap_s(cuts, [(13.5, 16.5)]) > 1.5  # the speech pause is still shortened
    rep = sparing.report()
    assert rep["pauses_shortened"] == len(cuts)
    assert rep["music_segments"] >= 1
    assert rep["music_cut_s_spared"] > 0.5
    # what is protected is music and speech over music, each counted (the report said "0 music
    # segments" beside 20.9 s protected, all of it speech taken for speech over a bed)
    assert rep["music_protected_s"] >= rep["speech_over_music_s"] >= 0.0
    assert rep["speech_over_music_segments"] == 0 or rep["speech_over_music_s"] > 0.0
    assert "music_segments" not in plain.report()


def test_digital_silence_in_an_edit_does_not_lower_the_pause_floor() -> None:
    # 3 s of inserted zeros put the pause floor at the bottom, and every gap between the words of
    # real read speech rose over it as a "music bed" (18.9 s of 20 s; report audit)
    from dsp.music import ABS_FLOOR_DBFS, _pause_floor

    rng = np.random.default_rng(21)
    talk = rng.uniform(-58.0, -20.0, 2000)  # a voice over a -58 dBFS room
    with_edit = np.r_[talk[:1000], np.full(400, -200.0), talk[1000:]]  # 17 % digital silence
    assert _pause_floor(with_edit) == pytest.approx(_pause_floor(talk), abs=0.5)
    assert _pause_floor(with_edit) > -56.0
    assert _pause_floor(np.full(100, -200.0)) == ABS_FLOOR_DBFS
