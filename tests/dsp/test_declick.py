"""Properties of the click repairer (dsp.declick)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from scipy import signal as sps

from dsp import declick
from dsp.declick import ClickRepairer, repair_clicks
from dsp.errors import InvalidAudioError, InvalidParameterError
from dsp.stream import BlockProcessor, run_blocks
from tests.signals import make_speech_like, si_sdr_db


def tonal(sr: int, seconds: float, rng: np.random.Generator) -> np.ndarray:
    """Three partials and a -60 dBFS floor: predictable, like music."""
    t = np.arange(int(sr * seconds)) / sr
    x = sum(0.08 / (k + 1) * np.sin(2 * np.pi * f * t + k) for k, f in enumerate((220.0, 330.0, 550.0)))
    return (x + 1e-3 * rng.standard_normal(t.size)).astype(np.float32)


def with_spikes(x: np.ndarray, sr: int, rng: np.random.Generator, n: int = 12) -> tuple[np.ndarray, list[int]]:
    """Add ``n`` 1-4 sample spikes of 0.2-0.4 at least 50 ms apart; returns the signal and onsets."""
    y = x.copy()
    onsets = sorted(
        int(v) for v in rng.choice(np.arange(int(0.1 * sr), x.size - int(0.1 * sr), int(0.05 * sr)), n, replace=False)
    )
    for i in onsets:
        m = int(rng.integers(1, 5))
        y[i : i + m] += np.float32(rng.choice([-1, 1]) * rng.uniform(0.2, 0.4))
    return y, onsets


def glottal_voice(rng: np.random.Generator, sr: int, seconds: float) -> np.ndarray:
    """A rough real voice without clicks: what a naive click detector mistakes for clicks.

    Voiced stretches of 0.15-0.4 s, each opened by a plosive release (1 ms of noise, then 30 ms
    of fading aspiration). The glottal source is one sharp closure pulse per period with 3 %
    jitter of the period and 2.5 dB shimmer of the amplitude (a rough but healthy voice; Titze,
    *Principles of Voice Production*, ch. 8), f0 drifting within 70-250 Hz. The source goes through
    an all-pole (minimum-phase) tract of four formants and a first-order tilt, as in a Klatt
    cascade synthesiser, over a -70 dBFS noise floor.
    """
    n = int(sr * seconds)
    src = np.zeros(n)
    t = int(0.1 * sr)
    while t < n - int(0.3 * sr):
        m, k = int(0.001 * sr), int(0.03 * sr)
        src[t : t + m] += 0.1 * rng.standard_normal(m)
        src[t + m : t + m + k] += 0.02 * rng.standard_normal(k) * np.linspace(1, 0, k)
        t += m + k
        end = t + int(rng.uniform(0.15, 0.4) * sr)
        f0, amp = rng.uniform(90, 180), 1.0
        while t < min(end, n - 3):
            src[t] -= amp
            src[t + 1 : t + 3] += 0.25 * amp
            f0 = float(np.clip(f0 * (1 + 0.01 * rng.standard_normal()), 70, 250))
            t += max(2, round(sr / f0 * (1 + 0.03 * rng.standard_normal())))
            amp = float(np.clip(amp * 10 ** (2.5 * rng.standard_normal() / 20), 0.4, 1.6))
        t += int(rng.uniform(0.1, 0.3) * sr)
    y = src
    for fc, bw in ((700, 90), (1200, 110), (2600, 160), (3500, 250)):
        if fc < 0.45 * sr:
            r = np.exp(-np.pi * bw / sr)
            y = sps.lfilter([1 - r], [1, -2 * r * np.cos(2 * np.pi * fc / sr), r * r], y)
    y = sps.lfilter([1], [1, -0.9], y)
    y *= 0.3 / np.max(np.abs(y))
    return (y + 10 ** (-70 / 20) * rng.standard_normal(n)).astype(np.float32)


def run(proc: ClickRepairer, x: np.ndarray, block: int) -> np.ndarray:
    x2 = x[None, :] if x.ndim == 1 else x
    out = np.concatenate(list(run_blocks(proc, (x2[:, i : i + block] for i in range(0, x2.shape[-1], block)))), -1)
    return out[0] if x.ndim == 1 else out


def test_is_a_block_processor() -> None:
    assert isinstance(ClickRepairer(16000, 1), BlockProcessor)


@pytest.mark.parametrize("sr", [8000, 16000, 22050, 44100, 48000, 96000, 192000])
def test_known_clicks_are_found_and_repaired_at_every_rate(sr: int, rng: np.random.Generator) -> None:
    clean = tonal(sr, 1.5, rng)
    noisy, onsets = with_spikes(clean, sr, rng)
    proc = ClickRepairer(sr, 1, keep_events=True)
    out = run(proc, noisy, 4096)
    assert out.shape == clean.shape
    found = [round(e.onset_s * sr) for e in proc.events]
    tol = int(0.002 * sr)
    hits = sum(any(abs(f - o) <= tol for f in found) for o in onsets)
    assert hits >= len(onsets) - 1, (hits, onsets, found)
    assert len(found) <= len(onsets) + 1
    assert si_sdr_db(clean, out) - si_sdr_db(clean, noisy) >= 10.0
    rep = proc.report()
    assert rep["clicks_found"] == len(found)
    assert "not_applied" not in rep
    assert rep["interpolated"] + rep["attenuated"] == rep["clicks_found"]
    assert 0 < rep["longest_ms"] <= 10.0
    assert rep["clicks_per_minute"] == pytest.approx(len(found) / (1.5 / 60), rel=0.01)


def test_a_keyboard_burst_is_attenuated(rng: np.random.Generator) -> None:
    sr = 16000
    clean = tonal(sr, 1.0, rng)
    noisy = clean.copy()
    i, m = sr // 2, int(0.012 * sr)
    burst = rng.standard_normal(m) * np.exp(-np.arange(m) / (m / 4))
    burst[0] = 4.0
    noisy[i : i + m] += (0.1 * burst).astype(np.float32)
    proc = ClickRepairer(sr, 1, keep_events=True)
    out = run(proc, noisy, 3000)
    # attenuated from its onset; a second pass may interpolate what is left of its tail
    assert proc.events[0].method == "attenuated"
    tol = 0.002
    assert all(i / sr - tol <= e.onset_s and e.onset_s + e.length_s <= (i + m) / sr + tol for e in proc.events)
    seg = slice(i, i + m)
    assert np.sum((out[seg] - clean[seg]) ** 2) < 0.25 * np.sum((noisy[seg] - clean[seg]) ** 2)


def test_output_does_not_depend_on_block_sizes(rng: np.random.Generator) -> None:
    sr = 16000
    noisy, _ = with_spikes(tonal(sr, 2.0, rng), sr, rng)
    ref = run(ClickRepairer(sr, 1), noisy, noisy.size)
    for block in (1, 37, 1000, 4001):
        np.testing.assert_array_equal(run(ClickRepairer(sr, 1), noisy, block), ref)


def test_silence_in_silence_out() -> None:
    x = np.zeros((2, 20000), np.float32)
    proc = ClickRepairer(16000, 2)
    np.testing.assert_array_equal(run(proc, x, 3000), x)
    assert proc.report()["clicks_found"] == 0
    assert proc.report()["not_applied"] == "no clicks found: the audio is unchanged"


def test_channels_are_linked(rng: np.random.Generator) -> None:
    sr = 16000
    left = tonal(sr, 1.0, rng)
    right = np.roll(left, 17)
    x = np.stack([left, right])
    x[0, sr // 2] += 0.4  # a click in one channel is repaired in both, each from its own context
    out = repair_clicks(x, sr)
    assert abs(out[0, sr // 2] - left[sr // 2]) < 0.05
    assert si_sdr_db(right, out[1]) > 40.0


def stereo_voice(rng: np.random.Generator, sr: int) -> np.ndarray:
    """A glottal voice picked up by a spaced pair: the right channel 3 dB lower and 0.5 ms later, ``(2, n)``."""
    v = glottal_voice(rng, sr, 2.0)
    d = round(0.0005 * sr)
    return np.stack([v, 0.708 * np.concatenate([np.zeros(d, np.float32), v[:-d]])]).astype(np.float32)


@pytest.mark.parametrize("sr", [16000, 44100])
def test_antiphase_clicks_are_found_and_repaired_like_in_phase_ones(sr: int, rng: np.random.Generator) -> None:
    # a vertical groove defect reaches L and R in antiphase: the channels' mean does not hold it
    clean = stereo_voice(rng, sr)
    at = [round(t * sr) for t in (0.3, 0.7, 1.1, 1.5)]
    outs = {}
    for sign in (1.0, -1.0):
        x = clean.copy()
        x[0, at] += 0.3
        x[1, at] += np.float32(sign * 0.3)
        proc = ClickRepairer(sr, 2, keep_events=True)
        outs[sign] = run(proc, x, 4096)
        tol = 0.002  # each click inside one event (+-2 ms, as the click corpus's metric), and nothing else found
        assert all(any(e.onset_s - tol <= i / sr <= e.onset_s + e.length_s + tol for e in proc.events) for i in at)
        assert len(proc.events) == len(at)
        for ch in (0, 1):  # (at 16 kHz some are clamped as short bursts, in phase and in antiphase alike)
            assert si_sdr_db(clean[ch], outs[sign][ch]) > si_sdr_db(clean[ch], x[ch]) + 1.5


def test_a_spaced_pair_without_clicks_passes_untouched(rng: np.random.Generator) -> None:
    # the side of a spaced pair is a comb-filtered copy of the voice: its pulses are the mid's too
    x = stereo_voice(rng, 44100)
    proc = ClickRepairer(44100, 2)
    np.testing.assert_array_equal(run(proc, x, 4096), x)
    assert proc.report()["clicks_found"] == 0


def test_the_side_pass_is_chunk_invariant(rng: np.random.Generator) -> None:
    sr = 16000
    x = stereo_voice(rng, sr)
    for i in (4000, 9000, 21000):
        x[:, i] += np.array([0.25, -0.25], np.float32)
    ref = run(ClickRepairer(sr, 2), x, x.shape[1])
    for block in (1, 999, 4001):
        np.testing.assert_array_equal(run(ClickRepairer(sr, 2), x, block), ref)


def spikes_and_bursts(rng: np.random.Generator, sr: int) -> np.ndarray:
    """4 s of speech-like sound with spikes from barely above it to far above it, and bursts of 4-25 ms."""
    clean, _ = make_speech_like(rng, sr, 4.0)
    noisy = clean.copy()
    for k, i in enumerate(range(int(0.1 * sr), noisy.size - 2000, 1500)):
        if k % 2:
            noisy[i] += np.float32(0.01 * 1.12**k)
        else:
            m = int(rng.uniform(0.004, 0.025) * sr)
            burst = 0.05 * rng.standard_normal(m) * np.exp(-np.arange(m) / (m / 3))
            noisy[i : i + m] += burst.astype(np.float32)
    return noisy


def clicks_found_by_mult(noisy: np.ndarray, sr: int) -> list[int]:
    found = []
    for mult in (6.0, 7.0, 8.0, 9.0, 10.0):
        p = ClickRepairer(sr, 1, detection_mult=mult)
        run(p, noisy, 8192)
        found.append(p.report()["clicks_found"])
    return found


def test_parameters_act_monotonically(rng: np.random.Generator) -> None:
    sr = 16000
    noisy = spikes_and_bursts(rng, sr)
    found = clicks_found_by_mult(noisy, sr)
    assert found == sorted(found, reverse=True), found
    assert found[0] > found[-1], found
    by_len = []
    for ms in (5.0, 10.0, 20.0, 30.0):
        p = ClickRepairer(sr, 1, click_len_ms=ms)
        run(p, noisy, 8192)
        by_len.append(p.report()["longest_ms"])
    assert by_len == sorted(by_len), by_len


@pytest.mark.parametrize("seed", [7, 9, 21])
def test_an_event_spared_at_a_low_threshold_is_searched_at_the_stricter_ones(seed: int) -> None:
    # on these signals a lower detection_mult merged a spike's exceedances with its surroundings
    # into one event longer than click_len (seeds 9, 21) or one not isolated from its neighbours
    # (seed 7), which was spared where a larger detection_mult repaired the spike alone
    sr = 16000
    found = clicks_found_by_mult(spikes_and_bursts(np.random.default_rng(seed), sr), sr)
    assert found == sorted(found, reverse=True), found


def buzz_voice(sr: int, seconds: float, f0: float, loud_at: float | None = None, gain: float = 1.0) -> np.ndarray:
    """A sustained vowel: a glottal impulse train (pitch wobbling 5 % at 3 Hz) through three formants.

    The pulse nearest ``loud_at`` (seconds) is ``gain`` times the others (a vowel's strong first pulses).
    """
    exc = np.zeros(int(sr * seconds))
    t = 0.0
    while t < seconds:
        exc[int(t * sr)] = gain if loud_at is not None and abs(t - loud_at) < 0.5 / f0 else 1.0
        t += 1 / (f0 * (1 + 0.05 * np.sin(2 * np.pi * 3 * t)))
    y = exc
    for f, bw in ((700.0, 80.0), (1200.0, 90.0), (2600.0, 120.0)):
        r = np.exp(-np.pi * bw / sr)
        y = sps.lfilter([1 - r], [1, -2 * r * np.cos(2 * np.pi * f / sr), r * r], y)
    return 0.1 * y / np.std(y)


def pop_pairs(clean: np.ndarray, sr: int, rng: np.random.Generator) -> np.ndarray:
    """Every 0.1 s two 1-3 ms pops (smooth asymmetric bipolar bumps), 3-15 ms apart, 2-10 times the local RMS."""
    x = clean.copy()
    for q in range(int(0.15 * sr), int(clean.size - 0.15 * sr), int(0.1 * sr)):
        loc = float(np.std(clean[q - 200 : q + 200])) + 1e-3
        for at in (q, q + int(rng.uniform(0.003, 0.015) * sr)):
            m = int(rng.uniform(0.001, 0.003) * sr)
            u = np.linspace(0, 1, m)
            w = np.sin(np.pi * u) ** 2 * np.sin(2 * np.pi * u * rng.uniform(0.5, 1.5))
            w += 0.5 * np.sin(np.pi * u) * rng.choice([-1, 1])
            x[at : at + m] += rng.uniform(2, 10) * loc * w / np.max(np.abs(w))
    return x.astype(np.float32)


@pytest.mark.parametrize("seed", [108, 119, 124])
def test_pops_that_mask_each_other_are_repaired(seed: int) -> None:
    # on these signals pops a few ms apart were spared at the coarse scales, where neither stood
    # alone: 28-30 % of the clicks' error energy was left. Each is now repaired when its
    # interpolation leaves at most 3 % of its residual energy (the full rate's bar for a click
    # beside another): 14-18 % left
    sr = 48000
    rng = np.random.default_rng(seed)
    clean = buzz_voice(sr, 2.0, rng.uniform(90, 250))
    clicked = pop_pairs(clean, sr, rng)
    out = run(ClickRepairer(sr, 1), clicked, 8192)
    left = float(np.sum((out - clean) ** 2) / np.sum((clicked - clean) ** 2))
    assert left < 0.22, left


@pytest.mark.parametrize("seed", [7, 23])
def test_a_larger_click_len_does_not_spare_a_burst_a_smaller_one_repairs(seed: int) -> None:
    # on these signals a 29 ms burst was repaired at click_len 20 and spared at 30: the burst
    # onset test looked for a rising level three click_len past the onset, where speech resumed
    sr = 16000
    noisy = spikes_and_bursts(np.random.default_rng(seed), sr)
    longest = []
    for ms in (10.0, 20.0, 30.0):
        p = ClickRepairer(sr, 1, click_len_ms=ms)
        run(p, noisy, 8192)
        longest.append(p.report()["longest_ms"])
    assert longest == sorted(longest), longest
    assert longest[-1] > 25.0, longest


def test_clean_speech_is_left_alone(rng: np.random.Generator) -> None:
    sr = 16000
    clean, _ = make_speech_like(rng, sr, 6.0)
    proc = ClickRepairer(sr, 1)
    out = run(proc, clean, 8192)
    assert si_sdr_db(clean, out) >= 45.0
    assert proc.report()["clicks_per_minute"] <= 30.0


@pytest.mark.parametrize("sr", [16000, 22050, 44100, 48000])
def test_a_rough_voice_without_clicks_passes_untouched(sr: int, rng: np.random.Generator) -> None:
    # glottal pulses with jitter and shimmer and plosive releases are sound, not clicks: the
    # backward residual does not spike at a minimum-phase excitation
    voice = glottal_voice(rng, sr, 6.0)
    proc = ClickRepairer(sr, 1)
    out = run(proc, voice, 4096)
    assert proc.report()["clicks_found"] == 0, proc.report()
    np.testing.assert_array_equal(out, voice)


def synth_wave(kind: str, f0: float, sr: int, seconds: float = 2.0) -> np.ndarray:
    """A synthesiser's waveform without aliasing: its harmonics up to 0.9 of Nyquist, peak 0.5."""
    t = np.arange(int(seconds * sr)) / sr
    k = np.arange(1, int(0.45 * sr / f0) + 1)[:, None]
    if kind == "pulse":  # 10 % duty: a narrow pulse every period
        x = (np.sin(np.pi * k * 0.1) / k * np.cos(2 * np.pi * k * f0 * t)).sum(axis=0)
    elif kind == "saw":
        x = ((-1.0) ** (k + 1) / k * np.sin(2 * np.pi * k * f0 * t)).sum(axis=0)
    else:  # triangle: odd harmonics falling as 1/k^2
        odd = k % 2 == 1
        x = (odd * (-1.0) ** ((k - 1) // 2) / k**2 * np.sin(2 * np.pi * k * f0 * t)).sum(axis=0)
    return (0.5 * x / np.abs(x).max()).astype(np.float32)


@pytest.mark.parametrize(("kind", "f0", "sr"), [("pulse", 100, 44100), ("pulse", 220, 48000), ("saw", 220, 44100),
                                                  ("tri", 220, 44100), ("pulse", 100, 48000)])  # fmt: skip
@pytest.mark.parametrize("mult", [8.0, 10.0])
def test_a_synthesisers_periodic_waveform_passes_untouched(kind: str, f0: float, sr: int, mult: float) -> None:
    # each period's edge or pulse breaks a short AR model's prediction like a click; it repeats
    # exactly a period away, which a click does not (before: 250-1300 "clicks" in 2 s, a 10 % pulse
    # at -15 dB SI-SDR, and more of them at detection_mult 10 than at 8)
    wave = synth_wave(kind, f0, sr)
    proc = ClickRepairer(sr, 1, detection_mult=mult)
    out = run(proc, wave, 4096)
    assert proc.report()["clicks_found"] == 0, proc.report()
    np.testing.assert_array_equal(out, wave)


@pytest.mark.parametrize(("kind", "f0", "sr"), [("pulse", 100, 44100), ("pulse", 220, 48000), ("tri", 220, 44100)])
def test_clicks_on_a_periodic_waveform_are_found_and_only_they(kind: str, f0: float, sr: int) -> None:
    # a repair next to a pulse must not make the pulses around it look foreign (a cascade: 28 events
    # for 10 clicks on the 220 Hz pulse before the period was read between lags)
    wave = synth_wave(kind, f0, sr, 4.0)
    noisy = wave.copy()
    at = np.arange(int(0.3 * sr), wave.size - int(0.3 * sr), int(0.37 * sr))
    noisy[at] += np.float32(0.3) * np.where(np.arange(at.size) % 2, -1, 1).astype(np.float32)
    proc = ClickRepairer(sr, 1, keep_events=True)
    run(proc, noisy, 4096)
    spans = [(round(e.onset_s * sr), round((e.onset_s + e.length_s) * sr)) for e in proc.events]
    assert len(spans) == at.size, spans
    tol = 0.002 * sr
    assert all(any(s - tol <= a <= e + tol for s, e in spans) for a in at), spans  # each click is in an event


def test_a_rough_voice_at_8k_stays_within_the_speech_target(rng: np.random.Generator) -> None:
    # at 8 kHz a 1 ms plosive release is 8 samples, as short as a click; the rest passes
    sr = 8000
    voice = glottal_voice(rng, sr, 6.0)
    proc = ClickRepairer(sr, 1)
    out = run(proc, voice, 4096)
    assert proc.report()["clicks_per_minute"] <= 30.0, proc.report()
    assert si_sdr_db(voice, out) >= 45.0


@pytest.mark.parametrize("sr", [16000, 48000])
def test_clicks_on_a_rough_voice_are_found_without_false_ones(sr: int, rng: np.random.Generator) -> None:
    voice = glottal_voice(rng, sr, 6.0)
    noisy = voice.copy()
    onsets = rng.choice(np.arange(int(0.2 * sr), voice.size - int(0.2 * sr), int(0.05 * sr)), 20, replace=False)
    for i in onsets:
        noisy[i : i + 2] += np.float32(rng.choice([-1, 1]) * 0.2)
    proc = ClickRepairer(sr, 1, keep_events=True)
    out = run(proc, noisy, 4096)
    # an event and a click match when their spans come within 2 ms (as bench/declick.py scores)
    found = [(round(e.onset_s * sr), round((e.onset_s + e.length_s) * sr)) for e in proc.events]
    tol = int(0.002 * sr)

    def near(ev: tuple[int, int], o: int) -> bool:
        return ev[0] - tol <= o + 2 and o <= ev[1] + tol

    assert sum(any(near(ev, o) for ev in found) for o in onsets) >= 16, (sorted(onsets), found)
    assert sum(not any(near(ev, o) for o in onsets) for ev in found) == 0, (sorted(onsets), found)
    # a click within a pitch pulse of a glottal peak merges with it and is attenuated, not
    # interpolated: the gain is smaller than on a tone
    assert si_sdr_db(voice, out) - si_sdr_db(voice, noisy) >= 5.0


@pytest.mark.parametrize("sr", [16000, 48000])
def test_a_recording_cut_mid_voice_keeps_its_end(sr: int, rng: np.random.Generator) -> None:
    # the end of a stream is a step to nothing: the last 20 ms are never judged as a click
    voice = glottal_voice(rng, sr, 3.0)
    cut = voice[: int(np.argmax(np.abs(voice))) + int(0.004 * sr)]
    proc = ClickRepairer(sr, 1, keep_events=True)
    out = run(proc, cut, 3000)
    assert all(e.onset_s + e.length_s <= (cut.size / sr) - 0.02 for e in proc.events), proc.events
    np.testing.assert_array_equal(out[-int(0.02 * sr) :], cut[-int(0.02 * sr) :])


def test_bad_input_and_parameters_raise() -> None:
    with pytest.raises(InvalidAudioError):
        repair_clicks(np.zeros(0, np.float32), 16000)
    with pytest.raises(InvalidAudioError):
        repair_clicks(np.array([0.0, np.nan], np.float32), 16000)
    for kwargs in ({"detection_mult": 5.9}, {"detection_mult": 10.1}, {"click_len_ms": 4.0}, {"click_len_ms": 31.0}):
        with pytest.raises(InvalidParameterError):
            ClickRepairer(16000, 1, **kwargs)  # type: ignore[arg-type]
    with pytest.raises(InvalidParameterError):
        ClickRepairer(7999, 1)
    with pytest.raises(InvalidParameterError):
        ClickRepairer(192001, 1)
    with pytest.raises(InvalidParameterError):
        ClickRepairer(16000, 1).process(np.zeros((2, 10), np.float32))


def test_python_m_dsp_declick(tmp_path: Path, rng: np.random.Generator) -> None:
    sr = 16000
    noisy, _ = with_spikes(tonal(sr, 1.0, rng), sr, rng, n=8)
    src, dst = tmp_path / "in.wav", tmp_path / "out.wav"
    sf.write(src, noisy, sr, subtype="FLOAT")
    r = subprocess.run(
        [sys.executable, "-m", "dsp", "declick", str(src), str(dst), "--report"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    assert rep["step"] == "declick"
    assert rep["clicks_found"] >= 6
    out, _ = sf.read(dst, dtype="float32")
    assert out.shape == noisy.shape


@pytest.mark.parametrize("sr", [16000, 48000])
def test_clicks_in_close_pairs_are_all_repaired(sr: int, rng: np.random.Generator) -> None:
    # dense crackle: two spikes of like size 5-10 ms apart stand within each other's isolation
    # window; the interpolation re-check still tells them from sound, so both are repaired
    # (the isolation guard alone spared all 20)
    clean = tonal(sr, 2.0, rng)
    noisy = clean.copy()
    onsets = []
    for k in range(10):
        i = int((0.15 + 0.17 * k) * sr)
        j = i + int(rng.uniform(0.005, 0.01) * sr)
        for o in (i, j):
            noisy[o : o + 2] += np.float32(rng.choice([-1, 1]) * rng.uniform(0.25, 0.35))
            onsets.append(o)
    proc = ClickRepairer(sr, 1, keep_events=True)
    out = run(proc, noisy, 5000)
    found = [(round(e.onset_s * sr), round((e.onset_s + e.length_s) * sr)) for e in proc.events]
    tol = int(0.002 * sr)
    hits = sum(any(a - tol <= o <= b + tol for a, b in found) for o in onsets)
    assert hits >= len(onsets) - 3, (hits, len(onsets))
    assert len(found) <= len(onsets) + 1
    assert si_sdr_db(clean, out) - si_sdr_db(clean, noisy) >= 8.0


@pytest.mark.parametrize("sr", [16000, 48000])
def test_smooth_pops_are_found_at_the_pop_scale(
    sr: int, rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 2 ms raised-sine bumps with a bipolar swing (the click corpus's pops) on white noise: the
    # full-rate residual barely sees them (the gain without the coarse scales is 0 dB), the
    # 2 and 4 kHz scales find some at 16 kHz and most at 48 kHz
    n = 4 * sr
    base = (0.02 * rng.standard_normal(n)).astype(np.float32)
    noisy = base.copy()
    L = round(0.002 * sr)
    t = np.linspace(0, 1, L)
    pop = np.sin(np.pi * t) ** 2 * np.sin(2 * np.pi * t) + 0.5 * np.sin(np.pi * t)
    pop = (0.15 * pop / np.max(np.abs(pop))).astype(np.float32)
    onsets = np.arange(int(0.3 * sr), n - int(0.3 * sr), int(0.25 * sr))
    for i in onsets:
        noisy[i : i + L] += pop

    def gain() -> float:
        proc = ClickRepairer(sr, 1)
        return si_sdr_db(base, run(proc, noisy, 4096)) - si_sdr_db(base, noisy)

    with_pop_scale = gain()
    monkeypatch.setattr(declick, "_SCALES", ())  # no coarse scale
    monkeypatch.setattr(declick, "_POP_TONAL_ORDER", 0)  # nor the tonal pop scale
    assert with_pop_scale >= gain() + 1.0


def chords(sr: int, seconds: float, rng: np.random.Generator) -> np.ndarray:
    """A chord every 0.5 s: bass, root, third and fifth, eight partials each, decaying, with vibrato."""
    n = int(sr * seconds)
    x = np.zeros(n)
    beat = int(0.5 * sr)
    for s0 in range(0, n, beat):
        tt = np.arange(min(beat, n - s0)) / sr
        env = np.minimum(1.0, tt / 0.02) * np.exp(-tt / 0.6)
        root = 48 + int(rng.integers(0, 7))
        for note in (root - 12, root + 12, root + 16, root + 19):
            f = 440.0 * 2 ** ((note - 69) / 12)
            phase = 2 * np.pi * np.cumsum(f * (1 + 0.003 * np.sin(2 * np.pi * 5.5 * tt))) / sr
            for h in range(1, 9):
                if h * f < 0.45 * sr:
                    x[s0 : s0 + tt.size] += np.sin(h * phase) / h**1.3 * env
    return (0.1 * x / np.sqrt(np.mean(x**2))).astype(np.float32)


def _popped_chords(widths_ms: tuple[float, float], corpus_shape: bool) -> list[tuple[np.ndarray, np.ndarray]]:
    """Three 4 s chord passages at 48 kHz, each with 17 pops ``widths_ms`` long, 0-12 dB over twice
    the chords' RMS: ``(clean, popped)`` pairs. ``corpus_shape`` draws the click corpus's pop (a
    bipolar cycle of 0.5-1.5 periods and a signed hump), else one fixed shape."""
    sr = 48000
    cases = []
    for seed in range(3):
        rng = np.random.default_rng(seed)
        base = chords(sr, 4.0, rng)
        noisy = base.copy()
        for i in np.arange(int(0.3 * sr), base.size - int(0.3 * sr), int(0.2 * sr)) + rng.integers(0, sr // 10, 17):
            L = round(rng.uniform(*widths_ms) * 1e-3 * sr)
            t = np.linspace(0, 1, L)
            if corpus_shape:
                pop = np.sin(np.pi * t) ** 2 * np.sin(2 * np.pi * t * rng.uniform(0.5, 1.5))
                pop += 0.5 * np.sin(np.pi * t) * rng.choice([-1, 1])
            else:
                pop = np.sin(np.pi * t) ** 2 * np.sin(2 * np.pi * t) + 0.5 * np.sin(np.pi * t)
            noisy[i : i + L] += (0.2 * 10 ** (rng.uniform(0, 12) / 20) * pop / np.max(np.abs(pop))).astype(np.float32)
        cases.append((base, noisy))
    return cases


def _gain_and_false_events(cases: list[tuple[np.ndarray, np.ndarray]], sr: int = 48000) -> tuple[float, int]:
    """Mean ΔSI-SDR of the repair over ``cases``, and the events it finds on the clean passages."""
    gain, false = 0.0, 0
    for base, noisy in cases:
        gain += si_sdr_db(base, run(ClickRepairer(sr, 1), noisy, 4096)) - si_sdr_db(base, noisy)
        clean = ClickRepairer(sr, 1, keep_events=True)
        run(clean, base, 4096)
        false += len(clean.events)
    return gain / len(cases), false


def test_pops_under_chords_are_found_by_the_tonal_pop_scale(monkeypatch: pytest.MonkeyPatch) -> None:
    # 0.5-3 ms pops 0-12 dB over twice the RMS of changing chords at 48 kHz: the order-6 model at 2 kHz
    # leaves most partials in its residual; the order-32 pass whitens them and finds more of the pops
    cases = _popped_chords((0.5, 3.0), corpus_shape=False)
    with_tonal, false_with = _gain_and_false_events(cases)
    monkeypatch.setattr(declick, "_POP_TONAL_ORDER", 0)  # the tonal pop scale off
    without, false_without = _gain_and_false_events(cases)
    assert with_tonal >= without + 0.5, (with_tonal, without)
    assert false_with <= false_without


def test_strong_long_pops_under_chords_pass_the_tonal_re_check(monkeypatch: pytest.MonkeyPatch) -> None:
    # 2-3 ms pops (the corpus's shape) over changing chords at 48 kHz: the tonal pop scale finds them,
    # but its order-32 re-check window holds enough of the chords' own error that a clear pop left
    # 2-30 % of it, over the 2 % bar; a strong, isolated candidate is held to 30 %
    cases = _popped_chords((2.0, 3.0), corpus_shape=True)
    strong, false_strong = _gain_and_false_events(cases)
    monkeypatch.setattr(declick, "_POP_STRONG", 1e9)  # no candidate is strong: the 2 % bar for all
    weak, false_weak = _gain_and_false_events(cases)
    assert strong >= weak + 0.5, (strong, weak)
    assert false_strong <= false_weak


@pytest.mark.parametrize("sr", [16000, 48000])
def test_a_keyboard_burst_without_a_leading_spike_is_found_by_the_burst_search(
    sr: int, rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 15 ms of decaying broadband noise over a tone, no single sample standing out: the impulsive
    # detector sees a family of peaks (not isolated), the windowed residual a sustained burst
    clean = tonal(sr, 1.0, rng)
    noisy = clean.copy()
    i, m = sr // 2, int(0.015 * sr)
    burst = rng.standard_normal(m) * np.exp(-np.arange(m) / (m / 3))
    noisy[i : i + m] += (0.05 * burst).astype(np.float32)
    seg = slice(i, i + m)

    def residual_energy() -> tuple[float, list[declick.ClickEvent]]:
        proc = ClickRepairer(sr, 1, keep_events=True)
        out = run(proc, noisy, 3000)
        return float(np.sum((out[seg] - clean[seg]) ** 2)), proc.events

    left, events = residual_energy()
    assert any(e.method == "attenuated" and abs(e.onset_s - i / sr) <= 0.003 for e in events), events
    assert left < 0.5 * float(np.sum((noisy[seg] - clean[seg]) ** 2))
    if sr == 16000:  # at 48 kHz the impulsive detector already catches this one
        monkeypatch.setattr(declick, "_BURST_RATIO", 1e6)  # no burst search
        assert residual_energy()[0] > 1.5 * left


@pytest.mark.parametrize("sr", [16000, 48000])
def test_a_note_cut_to_silence_is_left_alone(sr: int, monkeypatch: pytest.MonkeyPatch) -> None:
    # a 330 Hz note stopped mid-cycle (a step from about -0.1 to 0), 5 ms of silence, then the
    # next note fading in: the step breaks the prediction like a click, but nothing is to repair
    t = np.arange(sr) / sr
    x = np.zeros(sr)
    cut = int(0.5 * sr) + round(0.75 * sr / 330)  # three quarters of a period: the note at its trough
    x[:cut] = 0.1 * np.sin(2 * np.pi * 330 * t[:cut])
    start = cut + int(0.005 * sr)
    ramp = np.minimum(1.0, (t[start:] - t[start]) / 0.02)
    x[start:] = 0.1 * ramp * np.sin(2 * np.pi * 440 * (t[start:] - t[start]))
    x = x.astype(np.float32)

    def events() -> list[declick.ClickEvent]:
        proc = ClickRepairer(sr, 1, keep_events=True)
        out = run(proc, x, 4096)
        if not proc.events:
            assert np.array_equal(out, x)
        return proc.events

    assert events() == []
    monkeypatch.setattr(declick, "_SILENCE_DROP", 0.0)  # the guard off: the step is taken for a click
    assert any(abs(e.onset_s - cut / sr) <= 0.002 for e in events())


@pytest.mark.parametrize("sr", [16000, 48000])
def test_a_lone_click_before_a_note_is_repaired(
    sr: int, rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a spike 3 ms before each note of a quiet-then-loud tone: the onset guard alone spares it (the
    # next 10 ms are far louder than the 10 ms before), but it stands alone and interpolating it
    # removes its residual, so it is repaired; a note onset without a click is left alone
    n = 3 * sr
    t = np.arange(n) / sr
    quiet = 0.003 * np.sin(2 * np.pi * 220 * t) + 1e-4 * rng.standard_normal(n)
    clean = quiet.copy()
    onsets = []
    for k in range(5):
        i = int((0.3 + 0.5 * k) * sr)
        m = int(0.2 * sr)
        env = np.minimum(np.minimum(1.0, np.arange(m) / (0.002 * sr)), np.arange(m)[::-1] / (0.03 * sr))
        clean[i : i + m] += 0.2 * env * np.sin(2 * np.pi * 330 * t[:m] + k)
        onsets.append(i - int(0.003 * sr))
    clean = clean.astype(np.float32)
    noisy = clean.copy()
    for o in onsets[:4]:  # the last note has no click
        noisy[o : o + 2] += np.float32(0.3)

    def repaired() -> tuple[float, int]:
        proc = ClickRepairer(sr, 1, keep_events=True)
        out = run(proc, noisy, 4096)
        return si_sdr_db(clean, out) - si_sdr_db(clean, noisy), len(proc.events)

    gain, events = repaired()
    assert events == 4, (events, gain)
    assert gain >= 10.0, gain
    monkeypatch.setattr(declick, "_ONSET_ALONE", 1000.0)  # the onset guard never yields
    gain_off, events_off = repaired()
    assert events_off < 4, events_off
    assert gain >= gain_off + 3.0, (gain, gain_off)


@pytest.mark.parametrize("sr", [16000, 48000])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_key_struck_just_before_a_note_is_clamped(sr: int, seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    # a 12 ms keyboard click (a sharp strike, then band-passed noise dying away) ending just before
    # each note of a quiet-then-loud tone: the burst onset test alone spares it (30 ms on, the note
    # is far louder than the 10 ms before the key), but its strike stands 25 dB over the level before
    # it, so it is clamped; the note whose onset has no key is left alone
    rng = np.random.default_rng(seed)
    n = 3 * sr
    t = np.arange(n) / sr
    clean = 0.003 * np.sin(2 * np.pi * 220 * t) + 1e-4 * rng.standard_normal(n)
    keys, m = [], int(0.012 * sr)
    for k in range(5):
        i = int((0.3 + 0.5 * k) * sr)
        L = int(0.2 * sr)
        env = np.minimum(np.minimum(1.0, np.arange(L) / (0.002 * sr)), np.arange(L)[::-1] / (0.03 * sr))
        clean[i : i + L] += 0.2 * env * np.sin(2 * np.pi * 330 * t[:L] + k)
        keys.append(i - m)
    clean = clean.astype(np.float32)
    noisy = clean.copy()
    sos = sps.butter(2, [1000, 4000], btype="band", fs=sr, output="sos")
    for o in keys[:4]:  # the last note has no key
        burst = sps.sosfilt(sos, rng.standard_normal(m)) * np.exp(-np.arange(m) / (0.25 * m))
        burst[: max(1, int(2e-4 * sr))] += 3 * np.std(burst)
        noisy[o : o + m] += (0.1 * burst / np.max(np.abs(burst))).astype(np.float32)
    spans = np.zeros(n, bool)
    for o in keys[:4]:
        spans[o : o + m] = True

    def repaired() -> tuple[int, float]:
        proc = ClickRepairer(sr, 1, keep_events=True)
        out = run(proc, noisy, 4096)
        hits = sum(any(abs(e.onset_s * sr - o) <= 0.002 * sr for e in proc.events) for o in keys[:4])
        assert not any(abs(e.onset_s * sr - keys[4] - m) <= 0.02 * sr for e in proc.events), proc.events
        return hits, float(np.sum((out[spans] - clean[spans]) ** 2))

    hits, left = repaired()
    assert hits == 4, hits
    assert left < 0.5 * float(np.sum((noisy[spans] - clean[spans]) ** 2)), left
    monkeypatch.setattr(declick, "_STRUCK_DB", 1000.0)  # no strike ever stands out: the onset test spares all
    hits_off, left_off = repaired()
    assert hits_off < 4, hits_off
    assert left < 0.5 * left_off, (left, left_off)


@pytest.mark.parametrize("band", [(800, 2500), (1500, 5000)])
def test_a_loud_key_struck_as_a_word_starts_is_clamped(band: tuple[int, int]) -> None:
    # a 15 ms keyboard click whose strike carries most of its first 5 ms (0.3 peak, dying away fast)
    # struck 2 ms before a word over a quiet floor: the burst test took the strike for a lone click
    # (one sample held over half of the windows' energy), and the impulsive passes spare it as an
    # onset (the word follows), so the key was left whole; the part after the strike is a burst
    sr = 16000
    rng = np.random.default_rng(3)
    n = 3 * sr
    clean = 5e-4 * rng.standard_normal(n)
    m = int(0.015 * sr)
    onsets = [int((0.3 + 0.5 * k) * sr) for k in range(5)]
    for o in onsets:  # a word: 200 ms of a 150 Hz voice, 3 ms attack
        i, w = o + int(0.002 * sr), int(0.2 * sr)
        tt = np.arange(w) / sr
        env = np.minimum(1.0, tt / 0.003) * np.minimum(1.0, (w - np.arange(w)) / (0.02 * sr))
        clean[i : i + w] += 0.05 * env * sum(np.sin(2 * np.pi * 150 * h * tt + h) / h for h in range(1, 12))
    clean = clean.astype(np.float32)
    noisy = clean.copy()
    sos = sps.butter(2, list(band), btype="band", fs=sr, output="sos")
    spans = np.zeros(n, bool)
    for o in onsets:
        burst = sps.sosfilt(sos, rng.standard_normal(m)) * np.exp(-np.arange(m) / (0.15 * m))
        burst[: max(1, int(2e-4 * sr))] += 3 * np.std(burst)
        noisy[o : o + m] += (0.3 * burst / np.max(np.abs(burst))).astype(np.float32)
        spans[o : o + m] = True
    proc = ClickRepairer(sr, 1, keep_events=True)
    out = run(proc, noisy, 4096)
    hits = sum(any(abs(e.onset_s * sr - o) <= 0.002 * sr for e in proc.events) for o in onsets)
    assert hits >= 3, proc.events  # the code before found 1 and 0 of 5
    left = float(np.sum((out[spans] - clean[spans]) ** 2))
    assert left < 0.5 * float(np.sum((noisy[spans] - clean[spans]) ** 2)), left
    # the words themselves are left alone
    assert all(any(abs(e.onset_s * sr - o) <= 0.003 * sr for o in onsets) for e in proc.events), proc.events


def test_a_strike_is_judged_against_the_level_before_it(rng: np.random.Generator) -> None:
    # 25 dB over the residual's RMS in the 10 ms before: a strike; out of digital silence there is
    # no level to stand over, and at 8 kHz a plosive release is as short as a strike: no strike
    def residual(sr: int, before: float, peak: float) -> tuple[np.ndarray, int]:
        a0 = sr // 10
        res = before * rng.standard_normal(sr // 5)
        res[a0 + 1] = peak
        return res, a0

    for sr in (16000, 48000):
        proc = ClickRepairer(sr, 1)
        assert proc._struck(*residual(sr, 1e-4, 10 ** (30 / 20) * 1e-4))
        assert not proc._struck(*residual(sr, 1e-4, 10 ** (20 / 20) * 1e-4))
        assert not proc._struck(*residual(sr, 0.0, 0.1))
    assert not ClickRepairer(8000, 1)._struck(*residual(8000, 1e-4, 0.1))


@pytest.mark.parametrize(("p", "m"), [(6, 1), (12, 5), (20, 48), (40, 144), (40, 30)])
def test_lsar_is_the_least_squares_interpolation(p: int, m: int, rng: np.random.Generator) -> None:
    # the banded normal equations give the same values as the least-squares solution over the
    # explicit prediction-error matrix (Godsill & Rayner 1998, eq. 5.15)
    x = sps.lfilter([1.0], [1.0, -1.5, 0.7], rng.standard_normal(4000))
    a0, a1 = 2000, 2000 + m
    a = declick._ar_fit(np.concatenate([x[a0 - 960 : a0], x[a1 : a1 + 960]]), p)
    seg = x[a0 - p : a1 + p]
    n = seg.size
    coef = np.concatenate([-a[::-1], [1.0]])
    big = np.zeros((n - p, n))
    for r in range(n - p):
        big[r, r : r + p + 1] = coef
    unk = np.arange(p, p + m)
    known = np.setdiff1d(np.arange(n), unk)
    ref, *_ = np.linalg.lstsq(big[:, unk], -big[:, known] @ seg[known], rcond=None)
    np.testing.assert_allclose(declick._lsar(x, a0, a1, a), ref, rtol=1e-9, atol=1e-12)
    assert declick._lsar(x, a0, a0, a).size == 0


@pytest.mark.parametrize("q", [1, 2, 5, 11, 80, 81, 240])
def test_row_median_equals_numpy_median(q: int, rng: np.random.Generator) -> None:
    # the residual's 5 ms medians take one selection instead of np.median: the same values, bit for bit
    x = np.abs(rng.standard_normal((37, q)))
    assert np.array_equal(declick._row_median(x), np.median(x, axis=1))
    view = np.lib.stride_tricks.sliding_window_view(rng.standard_normal(q + 40), q)  # strided rows
    assert np.array_equal(declick._row_median(view), np.median(view, axis=1))


def found_near(
    x: np.ndarray, sr: int, onsets: list[int], clean: np.ndarray, tol_s: float, block: int
) -> tuple[int, int, float]:
    """Repair ``x`` streamed in ``block``-sample blocks: (onsets with an event within ``tol_s``, events, SI-SDR)."""
    proc = ClickRepairer(sr, 1, keep_events=True)
    out = run(proc, x, block)
    hits = sum(any(abs(e.onset_s * sr - i) <= tol_s * sr for e in proc.events) for i in onsets)
    return hits, len(proc.events), si_sdr_db(clean, out)


def test_soft_band_passed_bursts_in_a_chord_are_found_by_the_cross_model_search(
    rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    # five soft 20 ms band-passed bursts (1.2-3.6 kHz, decaying, no leading spike) over a 16 kHz
    # harmonic tone: each trains the order-40 model of its own frame, which then predicts most of
    # it, so the own-model burst test stays under its bar; the neighbouring frames' models do not
    sr = 16000
    n = 3 * sr
    t = np.arange(n) / sr
    clean = sum(0.05 / k * np.sin(2 * np.pi * 220 * k * t + rng.uniform(0, 6)) for k in range(1, 12))
    clean = (clean * (1 + 0.3 * np.sin(2 * np.pi * 3 * t)) + 1e-4 * rng.standard_normal(n)).astype(np.float32)
    noisy = clean.copy()
    m = int(0.02 * sr)
    sos = sps.butter(2, [1200, 3600], btype="band", fs=sr, output="sos")
    onsets = [int((0.4 + 0.5 * k) * sr) for k in range(5)]
    for i in onsets:
        burst = sps.sosfilt(sos, rng.standard_normal(m)) * np.exp(-np.arange(m) / (0.25 * m))
        noisy[i : i + m] += (0.05 * burst / np.max(np.abs(burst))).astype(np.float32)

    def found(x: np.ndarray) -> tuple[int, int, float]:
        return found_near(x, sr, onsets, clean, 0.004, 4096)

    hits, events, sdr = found(noisy)
    assert hits >= 3, (hits, events)
    assert events == hits, (hits, events)
    assert found(clean)[1] == 0
    monkeypatch.setattr(declick, "_CROSS_SHIFT", 0)  # the own-model burst search alone
    hits_off, _, sdr_off = found(noisy)
    assert hits_off <= 1, hits_off
    assert sdr >= sdr_off + 1.0, (sdr, sdr_off)


def test_smooth_bumps_in_a_chord_are_found_by_the_matched_filters(
    rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    # twenty 0.4 ms Hann bumps, their peak under half the chord's RMS, on a 48 kHz chord of four
    # eight-partial notes: the order-40 model predicts each bump sample by sample, so the residual
    # samples stay under the threshold, but the bump's whitened shape as a whole does not
    sr = 48000
    n = 3 * sr
    t = np.arange(n) / sr
    chord = sum(
        np.sin(2 * np.pi * h * f0 * t + rng.uniform(0, 6.3)) / h**1.3
        for f0 in (196.0, 246.9, 293.7, 98.0)
        for h in range(1, 9)
    )
    clean = (0.1 * chord / np.sqrt(np.mean(chord**2)) + 1e-4 * rng.standard_normal(n)).astype(np.float32)
    noisy = clean.copy()
    size = 20
    onsets = [int(0.2 * sr) + k * int(0.131 * sr) for k in range(20)]
    for i in onsets:
        noisy[i : i + size] += (0.04 * np.hanning(size + 2)[1:-1]).astype(np.float32)

    def found(x: np.ndarray) -> tuple[int, int, float]:
        return found_near(x, sr, onsets, clean, 0.002, 8192)

    hits, events, sdr = found(noisy)
    assert events == hits, (hits, events)
    assert found(clean)[1] == 0
    monkeypatch.setattr(declick, "_BUMP_WIDTHS_S", ())  # no matched filters
    hits_off, _, sdr_off = found(noisy)
    assert hits >= hits_off + 3, (hits, hits_off)
    assert sdr > sdr_off + 0.5, (sdr, sdr_off)


def steady_chord(sr: int, seconds: float, rng: np.random.Generator) -> np.ndarray:
    """A held chord of four eight-partial notes at -20 dBFS RMS over a -80 dBFS floor: 32 partials."""
    t = np.arange(int(sr * seconds)) / sr
    chord = sum(
        np.sin(2 * np.pi * h * f0 * t + rng.uniform(0, 6.3)) / h**1.3
        for f0 in (196.0, 246.9, 293.7, 98.0)
        for h in range(1, 9)
    )
    return (0.1 * chord / np.sqrt(np.mean(chord**2)) + 1e-4 * rng.standard_normal(t.size)).astype(np.float32)


def weak_bumps(clean: np.ndarray, sr: int, count: int = 20) -> tuple[np.ndarray, list[int]]:
    """``count`` 0.45 ms Hann bumps of peak 0.015 (16 dB under the chord's RMS), 131 ms apart, from 0.2 s."""
    noisy = clean.copy()
    size = round(0.00045 * sr)
    onsets = [int(0.2 * sr) + k * int(0.131 * sr) for k in range(count)]
    for i in onsets:
        noisy[i : i + size] += (0.015 * np.hanning(size + 2)[1:-1]).astype(np.float32)
    return noisy, onsets


def test_weak_bumps_under_a_chord_are_found_by_the_refined_search(
    rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the order-40 model leaves partials of the chord in the residual and learns part of each bump:
    # the bump outputs read under the bar. The longer model fitted around each bump (not over it)
    # whitens the chord, and its matched filter passes the bar; interpolated with that model the
    # bumps leave less error than they had (with the order-40 model 3.9-5.5 times more, four seeds)
    sr = 48000
    clean = steady_chord(sr, 3.0, rng)
    noisy, onsets = weak_bumps(clean, sr)
    proc = ClickRepairer(sr, 1, keep_events=True)
    out = run(proc, noisy, 8192)
    hits = sum(any(abs(e.onset_s * sr - i) <= 0.002 * sr for e in proc.events) for i in onsets)
    assert hits >= 10, hits
    assert len(proc.events) == hits, (len(proc.events), hits)
    left = float(np.sum((out.astype(np.float64) - clean) ** 2) / np.sum((noisy.astype(np.float64) - clean) ** 2))
    assert left < 1.0, left
    assert found_near(clean, sr, [], clean, 0.002, 8192)[1] == 0  # the chord alone draws no event
    monkeypatch.setattr(declick, "_REFINED_ORDER_MULT", 0)  # no refined search
    assert found_near(noisy, sr, onsets, clean, 0.002, 8192)[0] <= 2


def test_the_refined_search_does_not_depend_on_block_sizes(rng: np.random.Generator) -> None:
    sr = 48000
    noisy, _ = weak_bumps(steady_chord(sr, 1.5, rng), sr, 9)
    ref = run(ClickRepairer(sr, 1), noisy, noisy.size)
    assert np.any(ref != noisy)
    for block in (37, 1000, 24001):
        np.testing.assert_array_equal(run(ClickRepairer(sr, 1), noisy, block), ref)


def test_the_refined_search_screen_keeps_the_same_candidates(
    rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the refined search takes each group's output at its peak first and judges in full only the
    # groups that pass the bar there: the events and the output are those of judging every group
    sr = 48000
    steady, _ = weak_bumps(steady_chord(sr, 2.0, rng), sr, 12)
    moving, _ = weak_bumps(vibrato_chords(sr, 2.0, rng), sr, 12)
    for sig in (steady, moving):
        screened = ClickRepairer(sr, 1, keep_events=True)
        out = run(screened, sig, 4096)
        monkeypatch.setattr(declick, "_REFINED_SCREEN", False)
        full = ClickRepairer(sr, 1, keep_events=True)
        np.testing.assert_array_equal(run(full, sig, 4096), out)
        assert [e.onset_s for e in full.events] == [e.onset_s for e in screened.events]
        monkeypatch.setattr(declick, "_REFINED_SCREEN", True)
        assert screened.events


def vibrato_chords(sr: int, seconds: float, rng: np.random.Generator) -> np.ndarray:
    """Chords of 2-4 eight-partial notes and a bass, changing every 0.4-0.9 s, at -20 dBFS RMS.

    Each note has a 0.3 % vibrato at 5.5 Hz and decays from a 20 ms attack (a keyboard or a
    plucked string): more partials than an order-40 model has poles, and none of them steady.
    """
    n = int(seconds * sr)
    x = np.zeros(n)
    root = int(rng.integers(45, 57))
    major = np.array([0, 2, 4, 5, 7, 9, 11])
    s0 = 0
    while s0 < n:
        m = min(int(rng.uniform(0.4, 0.9) * sr), n - s0)
        tt = np.arange(m) / sr
        env = np.minimum(1.0, tt / 0.02) * np.exp(-tt / rng.uniform(0.4, 1.2))
        deg = rng.choice(7, size=int(rng.integers(2, 5)), replace=False)
        notes = [root + 12 + major[d] + 12 * int(rng.integers(0, 2)) for d in deg] + [root - 12 + major[deg[0]]]
        for note in notes:
            f = 440.0 * 2 ** ((note - 69) / 12)
            ph = 2 * np.pi * np.cumsum(f * (1 + 0.003 * np.sin(2 * np.pi * 5.5 * tt))) / sr
            for h in range(1, 9):
                if h * f < 0.45 * sr:
                    x[s0 : s0 + m] += env * np.sin(h * ph) / h**1.3
        s0 += m
    x *= 0.1 / np.sqrt(np.mean(x**2))
    return (x + 10 ** (-65 / 20) * rng.standard_normal(n)).astype(np.float32)


@pytest.mark.parametrize(("sr", "max_left"), [(16000, 0.32), (48000, 0.53)])
def test_clicks_among_vibrato_chords_are_found_by_the_tonal_pass(
    sr: int, max_left: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 0.3 ms spikes, their peak three times the music's RMS, every 83 ms through chords the
    # base-order model cannot whiten: the partials it leaves in the residual lift the scale over
    # many of them. Measured over eight seeds: the error energy left (0.24 at 16 kHz and 0.48 at
    # 48 kHz; without the pass 0.38 and 0.58) and no more events on the same music without clicks
    def pooled() -> tuple[float, int]:
        left, total, false_events = 0.0, 0.0, 0
        for seed in range(8):
            rng = np.random.default_rng(seed)
            clean = vibrato_chords(sr, 3.0, rng)
            noisy = clean.copy()
            size = max(1, round(0.0003 * sr))
            for i in range(int(0.3 * sr), int(2.7 * sr), int(0.083 * sr)):
                noisy[i : i + size] += np.float32(rng.choice([-1, 1]) * 0.3) * np.hanning(size + 2)[1:-1].astype(
                    np.float32
                )
            out = repair_clicks(noisy, sr)
            left += float(np.sum((out.astype(np.float64) - clean) ** 2))
            total += float(np.sum((noisy.astype(np.float64) - clean) ** 2))
            proc = ClickRepairer(sr, 1, keep_events=True)
            run(proc, clean, 65536)
            false_events += len(proc.events)
        return left / total, false_events

    share, false_events = pooled()
    assert share <= max_left, share
    monkeypatch.setattr(declick, "_TONAL_ORDER_MULT", 1)  # no frame is tonal: the base passes alone
    monkeypatch.setattr(declick, "_REFINED_ORDER_MULT", 0)  # without the refined bumps, which find many of these too
    share_off, false_off = pooled()
    assert share_off > max_left, share_off
    assert false_events <= false_off, (false_events, false_off)


@pytest.mark.parametrize("p", [12, 80])  # direct and by FFT (over _DIRECT_TAPS)
def test_ar_filter_on_some_frames_equals_the_full_filter(p: int, rng: np.random.Generator) -> None:
    # the tonal pass filters only the frames it judges: theirs must be the full filter's values
    f = 160
    x = rng.standard_normal(7 * f + 37)
    a = 0.1 * rng.standard_normal((8, p))
    rows = np.array([0, 2, 3, 4, 7])
    full = declick._ar_filter(x, a, a, f)
    part = declick._ar_filter(x, a, a, f, rows)
    inside = np.zeros(8 * f, bool)
    for r in rows:
        inside[r * f : (r + 1) * f] = True
    inside = inside[: x.size]
    for got, want in zip(part, full, strict=True):
        np.testing.assert_allclose(got[inside], want[inside], rtol=1e-10, atol=1e-10)
        assert not np.any(got[~inside])
    # and the full filter is the frame-by-frame FIR filter: e[t] = x[t] - sum_k a[k] x[t - 1 - k]
    for t in (p + 1, 3 * f + 5, x.size - 1):
        k = t // f
        want_t = x[t] - float(np.dot(a[k], x[t - 1 - np.arange(p)]))
        assert full[0][t] == pytest.approx(want_t, abs=1e-10)


@pytest.mark.parametrize("seed", range(5))
def test_group_spans_match_a_loop_over_the_groups(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n, gap = 400, 3
    fwd, bwd = rng.random(n) < 0.05, rng.random(n) < 0.05
    over = np.flatnonzero(fwd | bwd)
    g0, g1, c0, c1 = declick._group_spans(over, gap, fwd, bwd)
    want = []  # the groups one by one, as the detector read them before
    start = int(over[0])
    for i, j in zip(over, [*over[1:], n + gap + 1], strict=True):
        if j - i > gap:
            f_idx, b_idx = np.flatnonzero(fwd[start : i + 1]), np.flatnonzero(bwd[start : i + 1])
            want.append(
                (
                    start,
                    int(i) + 1,
                    start + int(f_idx[0]) if f_idx.size else -1,
                    start + int(b_idx[-1]) + 1 if b_idx.size else -1,
                )
            )
            start = int(j)
    assert list(zip(g0.tolist(), g1.tolist(), c0.tolist(), c1.tolist(), strict=True)) == want
    assert (c0 < 0).any()  # groups with one side only are in the draw
    assert (c1 < 0).any()


@pytest.mark.parametrize("f0", [100.0, 140.0])
def test_a_glottal_pulse_louder_than_its_neighbours_is_not_clamped(f0: float) -> None:
    # the peak-based pitch guard misses a pulse three times its neighbours; the burst it seems to be
    # repeats one period and two periods away, so it is voice (the code before clamped it)
    sr = 16000
    x = buzz_voice(sr, 1.0, f0, loud_at=0.5, gain=3.0).astype(np.float32)
    proc = ClickRepairer(sr, 1, keep_events=True)
    out = run(proc, x, 4096)
    assert [e for e in proc.events if abs(e.onset_s - 0.5) < 0.02] == []
    assert si_sdr_db(out, x) > 60.0


@pytest.mark.parametrize("seed", [0, 1])
def test_a_key_struck_on_a_vowel_is_still_clamped(seed: int) -> None:
    sr = 16000
    rng = np.random.default_rng(seed)
    clean = buzz_voice(sr, 1.0, 100.0).astype(np.float32)
    m = int(0.012 * sr)
    i = int(0.3 * sr) + int(rng.integers(0, sr // 100))
    burst = rng.standard_normal(m) * np.exp(-np.arange(m) / (m / 4))
    burst[0] = 4.0
    noisy = clean.copy()
    noisy[i : i + m] += (float(np.std(clean)) * burst).astype(np.float32)
    proc = ClickRepairer(sr, 1, keep_events=True)
    out = run(proc, noisy, 4096)
    assert any(e.method == "attenuated" and abs(e.onset_s - i / sr) < 0.002 for e in proc.events)
    seg = slice(i, i + m)
    assert np.sum((out[seg] - clean[seg]) ** 2) < 0.75 * np.sum((noisy[seg] - clean[seg]) ** 2)


def test_repeats_asks_for_a_train_not_one_like_neighbour() -> None:
    sr = 16000
    proc = ClickRepairer(sr, 1)
    voice = np.diff(buzz_voice(sr, 0.5, 120.0), prepend=0.0)
    a0 = int(0.25 * sr)
    assert proc._repeats(voice, a0, a0 + 40)
    # two like-shaped pops 12 ms apart: the first repeats once, not twice
    t = np.linspace(0, 1, 40)
    pop = np.sin(np.pi * t) ** 2 * np.sin(2 * np.pi * t)
    x = np.zeros(int(0.2 * sr))
    x[1600:1640] += pop
    x[1792:1832] += 0.8 * pop
    hp = np.diff(x, prepend=0.0) + 1e-4 * np.random.default_rng(0).standard_normal(x.size)
    assert not proc._repeats(hp, 1792, 1832)
    assert not proc._repeats(np.zeros(4000), 2000, 2040)  # silence repeats nothing


def test_repeats_once_tells_a_pulse_of_the_voice_from_a_click_among_them() -> None:
    sr = 16000
    proc = ClickRepairer(sr, 1)
    voice = buzz_voice(sr, 0.5, 120.0)
    pulse = int(0.25 * sr)
    assert proc._repeats_once(np.diff(voice, prepend=0.0), pulse, pulse + 12)
    clicked = voice.copy()
    clicked[pulse + 60] += 20 * float(np.std(voice))  # a click between two pulses, with the repair pad
    assert not proc._repeats_once(np.diff(clicked, prepend=0.0), pulse + 60 - proc._pad, pulse + 61 + proc._pad)
    assert proc._repeats_once(np.zeros(4000), 2000, 2010)  # a silent span: nothing to repair
    # a span running past the end (an event at the end of a window, with its pad) is clipped
    noise = np.random.default_rng(0).standard_normal(4000)
    assert isinstance(proc._repeats_once(noise, 3995, 4003), bool)
    assert isinstance(proc._repeats(noise, 3990, 4010), bool)


def test_the_pitch_guard_asks_whether_the_waveform_repeats(
    rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    # every candidate made to look pitch-synchronous; the re-check of a tone under noise leaves
    # over the 1 % that would repair it anyway: the waveform check decides
    sr = 16000
    clean = tonal(sr, 1.0, rng) + (0.01 * rng.standard_normal(sr)).astype(np.float32)
    noisy, onsets = with_spikes(clean, sr, rng, n=6)
    monkeypatch.setattr(ClickRepairer, "_pitch_synchronous", lambda self, mag, peak_i, d=1: True)

    def pitch_verdicts() -> int:
        proc = ClickRepairer(sr, 1)
        proc._trace = []
        run(proc, noisy, 4096)
        return sum(v == "pitch" for _, _, v in proc._trace)

    monkeypatch.setattr(ClickRepairer, "_repeats_once", lambda self, hp, a0, a1: True)
    assert pitch_verdicts() >= len(onsets)
    monkeypatch.setattr(ClickRepairer, "_repeats_once", lambda self, hp, a0, a1: False)
    assert pitch_verdicts() == 0


def test_the_median_of_five_neighbours_equals_numpys(rng: np.random.Generator) -> None:
    # random values, and small integers for ties
    for padded in (rng.standard_normal(301), rng.integers(0, 3, 301).astype(np.float64)):
        want = np.median(np.lib.stride_tricks.sliding_window_view(padded, 5), axis=1)
        assert np.array_equal(declick._median5(padded), want)
