"""Voice activity detection: segments against the known truth of synthesized speech."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable

import numpy as np
import pytest

from dsp import vad
from dsp.errors import InvalidAudioError, InvalidParameterError
from dsp.vad import SpeechDetector, SpeechSegments, detect_speech
from tests.signals import make_hum, make_pink, make_speech_like, make_tone, make_white, mix_at_snr

RATES = [8000, 16000, 22050, 24000, 32000, 44100, 48000]
EDGE_TOL_S = 0.05


def make_noisy_speech(
    rng: np.random.Generator, sr: int, kind: str, snr_db: float, duration_s: float = 8.0
) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """Speech-like signal with known intervals, plus white, pink or no noise at ``snr_db``."""
    clean, truth = make_speech_like(rng, sr, duration_s)
    if kind == "clean":
        return clean, truth
    noise = make_white(rng, clean.size) if kind == "white" else make_pink(rng, clean.size)
    return mix_at_snr(clean, noise, snr_db), truth


def run_blocks(audio: np.ndarray, sr: int, block: int, **kw: float) -> list[tuple[float, float]]:
    x = audio[np.newaxis, :] if audio.ndim == 1 else audio
    det = SpeechDetector(sr, x.shape[0], **kw)
    for i in range(0, x.shape[1], block):
        det.process(x[:, i : i + block])
    return det.finish()


def assert_matches(
    segments: tuple[tuple[float, float], ...] | list[tuple[float, float]],
    truth: list[tuple[float, float]],
    tol_s: float = EDGE_TOL_S,
) -> None:
    assert len(segments) == len(truth), (segments, truth)
    for (s, e), (ts, te) in zip(segments, truth, strict=True):
        assert abs(s - ts) <= tol_s, (s, ts)
        assert abs(e - te) <= tol_s, (e, te)


@pytest.mark.parametrize(("kind", "snr_db"), [("clean", None), ("white", 10.0), ("pink", 10.0)])
def test_detect_speech_matches_truth(rng: np.random.Generator, kind: str, snr_db: float | None) -> None:
    audio, truth = make_noisy_speech(rng, 16000, kind, snr_db or 0.0)
    found = detect_speech(audio, 16000)
    assert isinstance(found, SpeechSegments)
    assert found.duration_s == pytest.approx(8.0)
    assert_matches(found.segments, truth)


@pytest.mark.parametrize("sr", RATES)
def test_detect_speech_every_rate(rng: np.random.Generator, sr: int) -> None:
    audio, truth = make_noisy_speech(rng, sr, "white", 15.0, duration_s=6.0)
    assert_matches(detect_speech(audio, sr).segments, truth)


def test_detect_speech_silence_gives_nothing() -> None:
    found = detect_speech(np.zeros(3 * 16000, np.float32), 16000)
    assert found.segments == ()
    assert found.speech_ratio == 0.0


@pytest.mark.parametrize("kind", ["white", "pink", "hum50", "hum60"])
@pytest.mark.parametrize("sr", [8000, 16000, 48000])
def test_detect_speech_steady_noise_is_not_speech(rng: np.random.Generator, kind: str, sr: int) -> None:
    n = 10 * sr
    if kind == "white":
        x = make_white(rng, n, -25.0)
    elif kind == "pink":
        x = make_pink(rng, n, -25.0)
    else:
        x = make_hum(sr, n, mains_hz=float(kind[3:]), level_dbfs=-25.0) + make_white(rng, n, -70.0)
    assert detect_speech(x, sr).speech_s <= 0.1


def test_detect_speech_does_not_mutate_input(rng: np.random.Generator) -> None:
    audio, _ = make_noisy_speech(rng, 16000, "white", 10.0, duration_s=4.0)
    before = audio.copy()
    detect_speech(audio, 16000)
    np.testing.assert_array_equal(audio, before)


def test_min_non_speech_merges_short_gaps(rng: np.random.Generator) -> None:
    audio, truth = make_noisy_speech(rng, 16000, "clean", 0.0)
    gaps = [b[0] - a[1] for a, b in itertools.pairwise(truth)]
    assert len(truth) >= 3
    assert max(gaps) < 1.0
    merged = detect_speech(audio, 16000, min_non_speech_s=1.0).segments
    assert len(merged) == 1
    assert merged[0][0] == pytest.approx(truth[0][0], abs=EDGE_TOL_S)
    assert merged[0][1] == pytest.approx(truth[-1][1], abs=EDGE_TOL_S)
    # a threshold below every gap changes nothing
    assert detect_speech(audio, 16000, min_non_speech_s=0.1).segments == detect_speech(audio, 16000).segments


@pytest.mark.parametrize("sr", [16000, 44100])
def test_detector_is_block_size_invariant(rng: np.random.Generator, sr: int) -> None:
    audio, _ = make_noisy_speech(rng, sr, "pink", 5.0, duration_s=6.0)
    ref = run_blocks(audio, sr, audio.size)
    assert ref
    for block in (441, 1000, 4096, 65536):
        assert run_blocks(audio, sr, block) == ref


def test_detector_stream_equals_detect_speech(rng: np.random.Generator) -> None:
    audio, _ = make_noisy_speech(rng, 16000, "white", 10.0, duration_s=5.0)
    assert tuple(run_blocks(audio, 16000, 3000)) == detect_speech(audio, 16000).segments


def test_detector_multichannel(rng: np.random.Generator) -> None:
    audio, truth = make_noisy_speech(rng, 16000, "white", 15.0)
    stereo = np.stack([audio, 0.5 * audio])
    assert_matches(detect_speech(stereo, 16000).segments, truth)
    # speech on one channel only, near-silence on the other
    one_sided = np.stack([audio, make_white(rng, audio.size, -80.0)])
    assert_matches(run_blocks(one_sided, 16000, 8192), truth)


def test_a_polarity_inverted_channel_is_heard(rng: np.random.Generator) -> None:
    # R = -L cancels in a mean mixdown; the channels' mean power spectrum is L's own
    audio, truth = make_noisy_speech(rng, 16000, "white", 15.0)
    inverted = detect_speech(np.stack([audio, -audio]), 16000).segments
    assert inverted == detect_speech(audio, 16000).segments
    assert_matches(inverted, truth)


def test_detector_report_is_json_ready(rng: np.random.Generator) -> None:
    audio, _ = make_noisy_speech(rng, 16000, "clean", 0.0, duration_s=4.0)
    det = SpeechDetector(16000, 1)
    det.process(audio[np.newaxis, :])
    segments = det.finish()
    rep = json.loads(json.dumps(det.report()))
    assert rep["step"] == "vad"
    assert rep["segments"] == len(segments)
    assert 0.0 < rep["speech_ratio"] < 1.0
    assert rep["voicing_threshold"] == det.voicing_threshold


def test_detector_short_and_empty_streams() -> None:
    det = SpeechDetector(16000, 2)
    det.process(np.zeros((2, 0), np.float32))
    assert det.finish() == []
    det = SpeechDetector(8000, 1)
    det.process(np.zeros((1, 10), np.float32))
    assert det.finish() == []


GOOD = np.zeros(8000, np.float32)


@pytest.mark.parametrize(
    ("audio", "sr", "kwargs", "expected"),
    [
        (GOOD, 8000, {}, ()),
        (np.zeros((2, 8000), np.float32), 8000, {"min_non_speech_s": 0.5}, ()),
        (np.full(8000, np.nan, np.float32), 8000, {}, InvalidAudioError),
        (np.full(8000, np.inf, np.float32), 8000, {}, InvalidAudioError),
        (np.zeros(0, np.float32), 8000, {}, InvalidAudioError),
        (np.zeros(8000, np.int16), 8000, {}, InvalidAudioError),
        (np.zeros((1, 2, 8000), np.float32), 8000, {}, InvalidAudioError),
        (GOOD, 7999, {}, InvalidParameterError),
        (GOOD, 16000.0, {}, InvalidParameterError),
        (GOOD, 8000, {"min_non_speech_s": -1.0}, InvalidParameterError),
        (GOOD, 8000, {"voicing_threshold": 2.0}, InvalidParameterError),
    ],
)
def test_detect_speech_inputs(audio: np.ndarray, sr: int, kwargs: dict[str, float], expected: object) -> None:
    if isinstance(expected, type) and issubclass(expected, Exception):
        with pytest.raises(expected):
            detect_speech(audio, sr, **kwargs)
    else:
        assert detect_speech(audio, sr, **kwargs).segments == expected


@pytest.mark.parametrize(
    ("channels", "block", "expected"),
    [
        (1, np.zeros((1, 100), np.float32), None),
        (2, np.zeros((1, 100), np.float32), InvalidAudioError),
        (1, np.zeros(100, np.float32), InvalidAudioError),
        (1, np.full((1, 100), np.nan, np.float32), InvalidAudioError),
        (0, np.zeros((1, 100), np.float32), InvalidParameterError),
    ],
)
def test_detector_rejects_bad_blocks(channels: int, block: np.ndarray, expected: type[Exception] | None) -> None:
    if expected is None:
        SpeechDetector(16000, channels).process(block)
        return
    with pytest.raises(expected):
        SpeechDetector(16000, channels).process(block)


def make_melody(rng: np.random.Generator, sr: int, duration_s: float, note_s: float = 0.4) -> np.ndarray:
    """Legato three-voice melody (an organ or a string section): harmonic notes that hold their
    pitch (5.5 Hz, 0.3 % vibrato) and step by scale degrees, no gaps and no attacks."""
    n = round(duration_s * sr)
    x = np.zeros(n)
    scale = (0, 2, 4, 5, 7, 9, 11, 12)
    i, degree = 0, 3
    while i < n:
        m = min(round(note_s * sr), n - i)
        t = np.arange(m) / sr
        degree = int(np.clip(degree + rng.choice([-2, -1, 1, 2]), 0, len(scale) - 1))
        for semitones in (scale[degree], scale[degree] - 12, scale[degree] - 8):
            f_hz = 220.0 * 2 ** (semitones / 12) * (1 + 0.003 * np.sin(2 * np.pi * 5.5 * t))
            phase = 2 * np.pi * np.cumsum(f_hz) / sr
            note = sum(np.sin(h * phase) / h**1.3 for h in range(1, 9))
            x[i : i + m] += note
        i += m
    return (0.05 * x / np.sqrt(np.mean(x**2))).astype(np.float32)


def test_slow_melody_with_note_steps_is_mostly_not_speech(rng: np.random.Generator) -> None:
    """Notes of 0.8 s that hold their pitch and step: at most a quarter of 8 s called speech
    (without the music rule, more than half was)."""
    sr = 16000
    music = make_melody(rng, sr, 8.0, note_s=0.8) + make_white(rng, 8 * sr, -70.0).astype(np.float32)
    assert detect_speech(music, sr).speech_s <= 2.0
    det = SpeechDetector(sr, 1)
    det.process(music[np.newaxis, :])
    assert det.keep_segments()  # still kept from the denoiser's gate as harmonic sound


def test_short_harmonic_stretches_are_not_kept_from_the_gate(rng: np.random.Generator) -> None:
    """keep_segments keeps harmonic stretches of HARMONIC_MIN_S or more (a musical passage) and
    drops shorter ones (a ringing pan, a cafe's clatter) unless they come within HARMONIC_NEAR_S of
    clearly voiced speech, which is kept whatever its length."""
    sr = 16000
    det = SpeechDetector(sr, 1)
    det.process(make_white(rng, 8 * sr, -45.0).astype(np.float32)[None, :])
    assert det.keep_segments() == []
    short, long_ = (1.0, 1.0 + vad.HARMONIC_MIN_S - 0.05), (3.0, 3.0 + vad.HARMONIC_MIN_S)
    talker = (long_[1] + vad.HARMONIC_NEAR_S + 0.5, long_[1] + vad.HARMONIC_NEAR_S + 0.9)
    near = (talker[1] + vad.HARMONIC_NEAR_S - 0.1, talker[1] + vad.HARMONIC_NEAR_S + 0.3)
    det._harmonic = [short, long_, near]
    det._clearly_voiced = [talker]
    assert det.keep_segments() == [long_, talker, near]  # a short stretch next to a talker is kept
    det._clearly_voiced = []
    assert det.keep_segments() == [long_]


@pytest.mark.parametrize("snr_db", [10.0, 5.0])
def test_speech_over_a_melody_stays_speech(rng: np.random.Generator, snr_db: float) -> None:
    clean, truth = make_speech_like(rng, 16000, 8.0)
    audio = mix_at_snr(clean, make_melody(rng, 16000, 8.0), snr_db).astype(np.float32)
    assert _frame_recall(audio, truth) >= 0.95


def _frame_recall(audio: np.ndarray, truth: list[tuple[float, float]]) -> float:
    """Share of the 10 ms frames of ``truth`` that ``detect_speech`` calls speech (8 s at 16 kHz)."""
    found = np.zeros(800, bool)
    ref = np.zeros(800, bool)
    for s, e in detect_speech(audio, 16000).segments:
        found[round(s * 100) : round(e * 100)] = True
    for s, e in truth:
        ref[round(s * 100) : round(e * 100)] = True
    return float((found & ref).sum() / ref.sum())


def test_speech_over_a_tone_bed_stays_speech(rng: np.random.Generator) -> None:
    clean, truth = make_speech_like(rng, 16000, 8.0)
    bed = make_tone(16000, 8.0, 220.0) + 0.5 * make_tone(16000, 8.0, 330.0)
    assert_matches(detect_speech(mix_at_snr(clean, bed, 5.0), 16000).segments, truth, tol_s=0.08)


def test_music_decision_is_block_size_invariant(rng: np.random.Generator) -> None:
    clean, _ = make_speech_like(rng, 16000, 6.0)
    audio = np.concatenate([make_melody(rng, 16000, 4.0), mix_at_snr(clean, make_melody(rng, 16000, 6.0), 5.0)])
    ref = run_blocks(audio, 16000, audio.size)
    assert ref
    for block in (160, 1000, 4097):
        assert run_blocks(audio, 16000, block) == ref


def two_words(
    rng: np.random.Generator, sr: int, gap_s: float, fill_dbfs: float | None
) -> tuple[np.ndarray, float, float]:
    """Two words of speech-like sound ``gap_s`` apart over noise at -75 dBFS; the gap holds
    nothing more (``fill_dbfs`` None: the noise floor) or white noise at ``fill_dbfs`` (above
    the floor, about 40 dB under the words). Returns the audio and the gap's start and end in s."""
    clean, truth = make_speech_like(rng, sr, 4.0)
    (s0, e0), (s1, e1) = truth[0], truth[1]
    w1, w2 = clean[round(s0 * sr) : round(e0 * sr)], clean[round(s1 * sr) : round(e1 * sr)]
    n_gap = round(gap_s * sr)
    gap = np.zeros(n_gap) if fill_dbfs is None else make_white(rng, n_gap, fill_dbfs)
    lead = np.zeros(sr // 2)
    x = np.concatenate([lead, w1, gap, w2, lead])
    x = (x + make_white(rng, x.size, -75.0)).astype(np.float32)
    return x, 0.5 + w1.size / sr, 0.5 + (w1.size + n_gap) / sr


@pytest.mark.parametrize("fill_dbfs", [None, -60.0])
def test_a_pause_at_the_floor_ends_the_segment(rng: np.random.Generator, fill_dbfs: float | None) -> None:
    """350 ms at the floor (or 35+ dB under the words) split two words even where bridge_s
    (0.6 s here) would bridge them (it did before the pause rule); 200 ms do not."""
    x, a, b = two_words(rng, 16000, 0.35, fill_dbfs)
    found = run_blocks(x, 16000, 1000, bridge_s=0.6)
    assert len(found) == 2, found
    assert a <= found[0][1] <= a + 0.05  # 30 ms hangover and the frame's own spread
    assert b - 0.05 <= found[1][0] <= b
    assert found == run_blocks(x, 16000, x.size, bridge_s=0.6)
    x, _, _ = two_words(rng, 16000, 0.2, fill_dbfs)
    assert len(detect_speech(x, 16000).segments) == 1


def make_flickering_melody(rng: np.random.Generator, sr: int, duration_s: float) -> np.ndarray:
    """Notes of 0.4 s that hold their pitch, their level flickering at 16 Hz (tremolo, faster
    than syllables: 0.9 deep)."""
    mel = make_melody(rng, sr, duration_s, note_s=0.4)
    t = np.arange(mel.size) / sr
    return (mel * (1 + 0.9 * np.sin(2 * np.pi * 16.0 * t)) / 1.9).astype(np.float32)


def _speech_s_in_three(
    make: Callable[[np.random.Generator, int, float], np.ndarray], rng: np.random.Generator
) -> float:
    """Seconds called speech in three 8 s signals from ``make`` (over a -70 dBFS hiss), checking
    on each that blocks of 4097 samples find the same segments as the whole signal at once."""
    sr = 16000
    total = 0.0
    for _ in range(3):
        x = make(rng, sr, 8.0) + make_white(rng, 8 * sr, -70.0).astype(np.float32)
        found = run_blocks(x, sr, 4097)
        assert found == run_blocks(x, sr, x.size)
        total += sum(e - s for s, e in found)
    return total


def test_flickering_melody_is_mostly_not_speech(rng: np.random.Generator) -> None:
    """Three 8 s flickering melodies: under 30 % called speech (before the fast-flux rule 45-80 %
    of each), the same in any block size."""
    assert _speech_s_in_three(make_flickering_melody, rng) <= 0.3 * 24.0


@pytest.mark.parametrize("snr_db", [10.0, 5.0])
def test_speech_over_a_flickering_melody_stays_speech(rng: np.random.Generator, snr_db: float) -> None:
    clean, truth = make_speech_like(rng, 16000, 8.0)
    audio = mix_at_snr(clean, make_flickering_melody(rng, 16000, 8.0), snr_db).astype(np.float32)
    assert _frame_recall(audio, truth) >= 0.95


def test_fast_flux_in_blocks_matches_the_whole_stream(monkeypatch: pytest.MonkeyPatch) -> None:
    # an hour's decision computes the flux in blocks with context on each side: the blocks must
    # give the whole-stream values (the context covers the filters' decay and the windows)
    rng = np.random.default_rng(7)
    n = 130_000
    t = np.arange(n) / 100.0
    level = (-30 + 6 * np.sin(2 * np.pi * 16 * t) * (np.sin(2 * np.pi * t / 40) > 0)).astype(np.float32)
    level += np.cumsum(rng.standard_normal(n)).astype(np.float32) * np.float32(0.05)
    det = SpeechDetector(16000, 1)
    whole = det._flux_span(level)
    monkeypatch.setattr(vad, "FLUX_BLOCK", 20_000)
    blocked = det._fast_flux(level)
    assert blocked.shape == whole.shape
    np.testing.assert_allclose(blocked, whole, rtol=1e-4, atol=1e-6)
    assert whole.max() > 1.0  # the tremolo stretches do flicker: the comparison is not of zeros


def test_spectral_modulation_is_the_part_the_bands_do_not_share() -> None:
    """A 4 Hz swell common to every band is level modulation with no spectral motion; bands
    that rise and fall in turn (a moving spectral shape) carry it all as spectral motion. Split
    over two calls, the filters' carried history gives the same numbers."""
    n_bands = vad.N_BANDS - vad.MOD_BAND_LO
    t = np.arange(200) / 100.0
    swell = np.repeat((6.0 * np.sin(2 * np.pi * 4.0 * t))[:, np.newaxis], n_bands, axis=1)
    sign = np.where(np.arange(n_bands) % 2 == 0, 1.0, -1.0)
    moving = swell * sign
    for levels, spectral_share in ((swell, 0.0), (moving, 1.0)):
        levels = (levels - 40.0).astype(np.float32)
        mod, spectral = SpeechDetector(16000, 1)._modulation(levels)
        assert mod.shape == spectral.shape == (200,)
        settled = slice(50, None)  # after the 250 ms high-pass has filled
        assert mod[settled].mean() > 1.0
        np.testing.assert_allclose(spectral[settled], spectral_share * mod[settled], rtol=1e-3, atol=1e-3)
        det = SpeechDetector(16000, 1)
        parts = [det._modulation(levels[:77]), det._modulation(levels[77:])]
        np.testing.assert_allclose(np.concatenate([p[0] for p in parts]), mod, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(np.concatenate([p[1] for p in parts]), spectral, rtol=1e-5, atol=1e-5)


def make_rattle(rng: np.random.Generator, sr: int, duration_s: float) -> np.ndarray:
    """Dense ringing clatter (cutlery in a drawer): 150 random strikes per second, each a 30 ms
    ringing note (440, 660 or 990 Hz, 6 ms decay) with noise; its level flickers far faster
    than syllables."""
    n = round(duration_s * sr)
    x = np.zeros(n)
    t = 0.0
    while True:
        t += rng.exponential(1 / 150.0)
        i = round(t * sr)
        if i >= n:
            break
        m = min(round(0.03 * sr), n - i)
        ring = np.sin(2 * np.pi * rng.choice([440.0, 660.0, 990.0]) * np.arange(m) / sr)
        x[i : i + m] += (
            rng.uniform(0.3, 1.0) * np.exp(-np.arange(m) / (0.006 * sr)) * (ring + 0.5 * rng.standard_normal(m))
        )
    return (0.05 * x / np.sqrt(np.mean(x**2))).astype(np.float32)


def test_rattle_is_mostly_not_speech(rng: np.random.Generator) -> None:
    """Three 8 s of rattle: under 20 % called speech (31 % before the flicker rule), the same in
    any block size."""
    assert _speech_s_in_three(make_rattle, rng) <= 0.2 * 24.0


def test_speech_over_rattle_stays_speech(rng: np.random.Generator) -> None:
    clean, truth = make_speech_like(rng, 16000, 8.0)
    audio = mix_at_snr(clean, make_rattle(rng, 16000, 8.0), 10.0).astype(np.float32)
    assert _frame_recall(audio, truth) >= 0.95


def test_a_clip_too_short_to_hold_a_pause_is_kept_whole(rng: np.random.Generator) -> None:
    clip = make_white(rng, 8000, -30.0)  # 0.5 s of noise: the gate cannot tell it from a word
    det = SpeechDetector(16000, 1)
    det.process(clip[None, :])
    assert det.keep_segments() == [(0.0, 0.5)]
    assert detect_speech(clip, 16000).segments == ()  # the VAD's own answer is unchanged


def test_the_gate_keeps_a_word_the_recording_ends_in(monkeypatch: pytest.MonkeyPatch) -> None:
    # A segment the end of the recording cuts short holds only the onset of its word; judged on
    # its share of clearly voiced frames, it was dropped and the denoiser's gate took 30 dB off
    # the last word of a clip. With the share pushed out of reach, only that segment still passes.
    monkeypatch.setattr(vad, "GATE_VOICED_SHARE", 1.01)
    rng = np.random.default_rng(3)
    sr = 16_000
    x, words = make_speech_like(rng, sr, 4.0, lead_silence_s=0.2)
    cut = words[-1][0] + 0.3
    y = (x[: round(cut * sr)] + make_white(rng, round(cut * sr), -60.0)).astype(np.float32)
    det = SpeechDetector(sr, 1)
    det.process(y[None])
    found = det.finish()
    kept = det.keep_segments()
    assert found[-1][1] == pytest.approx(cut, abs=0.01)
    assert any(a <= words[-1][0] + 0.05 and b >= cut - 0.01 for a, b in kept), kept
    first = found[0]
    assert not any(a <= first[0] and b >= first[1] for a, b in kept), kept  # mid-recording: judged as before
