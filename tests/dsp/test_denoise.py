"""Properties of the noise reducer (dsp.denoise) and the hum remover (dsp.hum)."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable

import numpy as np
import pytest
from scipy import signal as sps

from dsp.denoise import _FREQ_TAPS, NoiseReducer, _smooth_freq, reduce_noise
from dsp.errors import InvalidAudioError, InvalidParameterError
from dsp.hum import detect_hum, remove_hum
from dsp.stream import BlockProcessor, run_blocks, run_processor
from dsp.vad import SpeechDetector
from tests.signals import make_hum, make_pink, make_speech_like, make_white, mix_at_snr, si_sdr_db, snr_db

SR = 16000


def make_babble(rng: np.random.Generator, sr: int, duration_s: float, talkers: int = 5) -> np.ndarray:
    """Several independent speech-like talkers summed, with no pauses in the sum."""
    n = round(duration_s * sr)
    x = sum(make_speech_like(rng, sr, duration_s, lead_silence_s=0.0, pause_s=0.1)[0] for _ in range(talkers))
    return np.asarray(x, np.float32)[:n]


def make_bursts(rng: np.random.Generator, sr: int, duration_s: float) -> np.ndarray:
    """Nonstationary noise: a white floor whose level steps by +-8 dB every 1.5 s, plus a band burst."""
    n = round(duration_s * sr)
    x = make_white(rng, n, -30.0).astype(np.float64)
    seg = int(1.5 * sr)
    for i in range(0, n, seg):
        x[i : i + seg] *= 10 ** (rng.choice([-8.0, 0.0, 8.0]) / 20)
    sos = sps.butter(4, [800, 2000], btype="bandpass", fs=sr, output="sos")
    burst = sps.sosfilt(sos, rng.standard_normal(n)) * 0.05
    env = np.exp(-0.5 * ((np.arange(n) / sr - duration_s * 0.6) / 0.4) ** 2)
    return (x + burst * env).astype(np.float32)


def make_flicker(rng: np.random.Generator, sr: int, duration_s: float, depth_db: float = 20.0) -> np.ndarray:
    """Noise whose spectrum moves every 32 ms: a random half of 16 bands drops by ``depth_db``.

    No single noise spectrum describes it frame by frame, which is what babble does to a
    noise tracker; white at the same level would be its stationary counterpart.
    """
    n = round(duration_s * sr)
    f, t, z = sps.stft(rng.standard_normal(n), fs=sr, nperseg=512)
    hold = max(round(0.032 / (t[1] - t[0])), 1)
    edges = np.linspace(0, f.size, 17).astype(int)
    for j in range(0, t.size, hold):
        for b in rng.choice(16, 8, replace=False):
            z[edges[b] : edges[b + 1], j : j + hold] *= 10 ** (-depth_db / 20)
    y = sps.istft(z, fs=sr, nperseg=512)[1][:n]
    return (y / np.sqrt(np.mean(y**2)) * 0.03).astype(np.float32)


NOISES: dict[str, Callable[[np.random.Generator, int, float], np.ndarray]] = {
    "white": lambda rng, sr, d: make_white(rng, int(d * sr)),
    "pink": lambda rng, sr, d: make_pink(rng, int(d * sr)),
    "hum": lambda rng, sr, d: make_hum(sr, int(d * sr), mains_hz=60.0),
    "babble": make_babble,
    "bursts": make_bursts,
    "flicker": make_flicker,
}


@pytest.fixture
def speech(rng: np.random.Generator) -> np.ndarray:
    """Six seconds of speech-like audio at 16 kHz with a 0.8 s lead-in of silence."""
    return make_speech_like(rng, SR, 6.0, lead_silence_s=0.8)[0]


@pytest.mark.parametrize(
    ("noise", "snr_in_db", "min_gain_db"),
    [
        ("white", 5.0, 6.0),
        ("pink", 5.0, 4.0),
        ("hum", 0.0, 15.0),
        ("babble", 5.0, -0.5),  # babble is speech: the requirement is to do no harm
        ("bursts", 5.0, 2.0),
        ("flicker", 5.0, 4.0),
    ],
)
def test_reduce_noise_improves_snr(
    rng: np.random.Generator, speech: np.ndarray, noise: str, snr_in_db: float, min_gain_db: float
) -> None:
    noisy = mix_at_snr(speech, NOISES[noise](rng, SR, speech.size / SR), snr_in_db)
    out = reduce_noise(noisy, SR)
    gain = snr_db(speech, out) - snr_db(speech, noisy)
    assert gain >= min_gain_db, f"{noise}: SNR gain {gain:.1f} dB < {min_gain_db} dB"
    assert np.all(np.isfinite(out))


def test_reduce_noise_preserves_shape_length_dtype(rng: np.random.Generator) -> None:
    x = make_white(rng, 12345)
    assert reduce_noise(x, SR).shape == (12345,)
    y = reduce_noise(np.stack([x, x[::-1]]).astype(np.float64), SR)
    assert y.shape == (2, 12345)
    assert y.dtype == np.float32


def test_reduce_noise_does_not_mutate_input(rng: np.random.Generator) -> None:
    x = make_white(rng, 8000)
    before = x.copy()
    reduce_noise(x, SR)
    np.testing.assert_array_equal(x, before)


def test_reduce_noise_silence_in_silence_out() -> None:
    out = reduce_noise(np.zeros(3 * SR, np.float32), SR)
    assert np.all(out == 0)
    nr = NoiseReducer(SR, 1)
    run_processor(nr, np.zeros((1, 3 * SR), np.float32), block_size=SR)
    assert "digitally silent" in nr.report()["not_applied"]
    # no figures of sound for silence (it read "noisy share 1" and a speech level of -119.9 dBFS)
    assert all(nr.report()[k] is None for k in ("noisy_share", "speech_level_dbfs", "mean_expansion_db"))
    nr = NoiseReducer(SR, 1)
    run_processor(nr, make_white(np.random.default_rng(1), 3 * SR, -40.0)[None, :], block_size=SR)
    assert "not_applied" not in nr.report()


def test_reduce_noise_clean_speech_passes(speech: np.ndarray) -> None:
    out = reduce_noise(speech, SR)
    assert si_sdr_db(speech, out) >= 25.0
    loud_in = 10 * np.log10(np.mean(speech**2))
    loud_out = 10 * np.log10(np.mean(out**2))
    assert abs(loud_out - loud_in) < 1.0


def test_reduce_noise_amount_is_monotonic(rng: np.random.Generator, speech: np.ndarray) -> None:
    noisy = mix_at_snr(speech, make_white(rng, speech.size), 5.0)
    lead = slice(0, int(0.7 * SR))  # noise only
    residual = [float(np.std(reduce_noise(noisy, SR, amount=a)[lead])) for a in (1, 25, 50, 75, 100)]
    assert all(a > b for a, b in itertools.pairwise(residual)), residual
    untouched = reduce_noise(noisy, SR, amount=1)
    assert si_sdr_db(noisy, untouched) > 20.0


def _split(x: np.ndarray, block_sizes: tuple[int, ...]) -> list[np.ndarray]:
    """``x`` (channels, n) cut into consecutive blocks whose sizes cycle through ``block_sizes``."""
    blocks, i, k = [], 0, 0
    while i < x.shape[-1]:
        blocks.append(x[:, i : i + block_sizes[k % len(block_sizes)]])
        i, k = i + blocks[-1].shape[-1], k + 1
    return blocks


@pytest.mark.parametrize("noise", ["pink", "flicker"])  # stationary / fluctuating (step 5 engaged)
@pytest.mark.parametrize(
    "block_sizes", [(100,), (1000,), (4096, 333), (65536,), (17, 5000, 256, 90000), (31999, 1), (1_000_000,)]
)
def test_noise_reducer_chunk_size_invariance(
    rng: np.random.Generator, speech: np.ndarray, block_sizes: tuple[int, ...], noise: str
) -> None:
    noisy = np.stack([mix_at_snr(speech, NOISES[noise](rng, SR, speech.size / SR), 5.0)] * 2)
    noisy[1] += make_hum(SR, speech.size, level_dbfs=-40)
    reference = reduce_noise(noisy, SR)  # the speech gate on, from the detector's segments
    det = SpeechDetector(SR, 2)
    det.process(noisy)
    proc = NoiseReducer(SR, 2, speech=det.keep_segments())
    out = np.concatenate(list(run_blocks(proc, _split(noisy, block_sizes))), axis=-1)
    assert out.shape == noisy.shape
    np.testing.assert_allclose(out, reference, atol=1e-6)


def test_clean_speech_keeps_its_first_second(rng: np.random.Generator) -> None:
    """A recording that opens on speech: the primed trackers know its levels from the first frame.

    Started cold, the trackers took the opening speech for noise and the first second came out
    at about 10 dB SI-SDR; primed on the opening two seconds it is kept like the rest.
    """
    clean = make_speech_like(rng, SR, 4.0, lead_silence_s=0.0)[0] + make_white(rng, 4 * SR, -60.0)
    out = reduce_noise(clean, SR)
    assert si_sdr_db(clean[:SR], out[:SR]) > 20.0
    assert si_sdr_db(clean, out) > 20.0


def test_noise_reducer_holds_back_the_primed_opening(rng: np.random.Generator, speech: np.ndarray) -> None:
    """Nothing comes out before the opening two seconds are in; then it streams, flush gives the rest."""
    noisy = mix_at_snr(speech, make_white(rng, speech.size), 5.0)[None, :]
    proc = NoiseReducer(SR, 1, declick=False, hum=False)
    assert proc.latency == 2 * SR
    first = proc.process(noisy[:, : 2 * SR - 1])
    assert first.shape == (1, 0)
    second = proc.process(noisy[:, 2 * SR - 1 : 2 * SR + SR])
    assert 2 * SR < second.shape[-1] <= 3 * SR  # all but the STFT's own frame is out
    rest = [proc.process(noisy[:, 3 * SR :]), proc.flush()]
    out = np.concatenate([first, second, *rest], axis=-1)
    np.testing.assert_allclose(out, reduce_noise(noisy, SR, declick=False, hum=False, speech=None), atol=1e-6)
    assert proc.report()["frames"] == pytest.approx(speech.size / 256, abs=3)


@pytest.mark.parametrize("block_sizes", [(100,), (777, 5), (1_000_000,)])
def test_short_recording_is_primed_on_what_there_is(rng: np.random.Generator, block_sizes: tuple[int, ...]) -> None:
    """Shorter than the primed opening: flush primes on all of it, whatever the block sizes."""
    noisy = mix_at_snr(make_speech_like(rng, SR, 1.0, lead_silence_s=0.2)[0], make_white(rng, SR), 5.0)[None, :]
    reference = reduce_noise(noisy, SR, speech=None)
    assert reference.shape == noisy.shape
    proc = NoiseReducer(SR, 1)
    out = np.concatenate(list(run_blocks(proc, _split(noisy, block_sizes))), axis=-1)
    np.testing.assert_allclose(out, reference, atol=1e-6)
    assert np.std(out[:, SR // 2 :]) < np.std(noisy)


def test_noise_reducer_is_a_block_processor() -> None:
    proc = NoiseReducer(SR, 1)
    assert isinstance(proc, BlockProcessor)
    assert proc.channels == 1
    assert proc.sr == SR


def test_reduce_noise_identical_channels_stay_identical(rng: np.random.Generator, speech: np.ndarray) -> None:
    mono = mix_at_snr(speech, make_white(rng, speech.size), 5.0)
    out = reduce_noise(np.stack([mono, mono, mono]), SR)
    np.testing.assert_array_equal(out[0], out[1])
    np.testing.assert_array_equal(out[0], out[2])


def test_reduce_noise_gain_is_linked_across_channels(rng: np.random.Generator, speech: np.ndarray) -> None:
    left = mix_at_snr(speech, make_white(rng, speech.size), 5.0)
    # the right channel is the left one scaled: a linked gain keeps the ratio everywhere
    out = reduce_noise(np.stack([left, 0.25 * left]), SR, hum=False)
    np.testing.assert_allclose(out[1], 0.25 * out[0], atol=1e-6)


@pytest.mark.parametrize("sr", [8000, 16000, 22050, 24000, 32000, 44100, 48000])
def test_reduce_noise_every_supported_rate(rng: np.random.Generator, sr: int) -> None:
    clean = make_speech_like(rng, sr, 3.0)[0]
    noisy = mix_at_snr(clean, make_white(rng, clean.size), 5.0)
    out = reduce_noise(noisy, sr)
    assert out.shape == noisy.shape
    assert snr_db(clean, out) - snr_db(clean, noisy) >= 5.0


def test_reduce_noise_report_is_json_ready(rng: np.random.Generator, speech: np.ndarray) -> None:
    noisy = speech + make_hum(SR, speech.size, mains_hz=50.0, level_dbfs=-35)
    proc = NoiseReducer(SR, 1, amount=80)
    list(run_blocks(proc, [noisy[None, :]]))
    rep = json.loads(json.dumps(proc.report()))
    assert rep["step"] == "denoise"
    assert rep["amount"] == 80
    assert rep["hum_hz"] == pytest.approx(50.0, abs=0.2)
    assert rep["noise_floor_dbfs"] < -30
    assert isinstance(rep["click_frames_clamped"], int)


def test_expander_lowers_the_residual_and_tracks_the_speech_level(rng: np.random.Generator, speech: np.ndarray) -> None:
    noisy = mix_at_snr(speech, make_white(rng, speech.size), 10.0)
    lead = slice(int(0.3 * SR), int(0.75 * SR))  # noise only, after the trackers have started
    plain = reduce_noise(noisy, SR, expand_db=0, speech=None)
    proc = NoiseReducer(SR, 1)
    expanded = np.concatenate(list(run_blocks(proc, [noisy[None, :]])), axis=-1)[0]
    drop_db = 20 * np.log10(np.std(expanded[lead]) / np.std(plain[lead]))
    assert drop_db < -3.0, drop_db
    # it trades some speech detail for the quieter residual: bounded, and still far above the input
    assert si_sdr_db(speech, expanded) > si_sdr_db(speech, plain) - 3.0
    assert si_sdr_db(speech, expanded) > si_sdr_db(speech, noisy) + 4.0
    rep = proc.report()
    assert -rep["expand_db"] <= rep["mean_expansion_db"] < 0 < rep["expand_db"] == 12.0
    # the tracked level is the 90th percentile of the frame level (16 ms hops)
    frames = noisy[: noisy.size // 256 * 256].reshape(-1, 256)
    p90 = float(np.percentile(10 * np.log10(np.mean(frames**2, axis=1)), 90))
    assert abs(rep["speech_level_dbfs"] - p90) < 3.0, (rep["speech_level_dbfs"], p90)


def test_expander_leaves_a_clean_recording_alone(rng: np.random.Generator, speech: np.ndarray) -> None:
    """Speech over a -70 dBFS floor: 50 dB between talk and pauses, nothing for the expander to do."""
    clean = speech + make_white(rng, speech.size, -70.0)
    proc = NoiseReducer(SR, 1)
    out = np.concatenate(list(run_blocks(proc, [clean[None, :]])), axis=-1)[0]
    assert si_sdr_db(reduce_noise(clean, SR, expand_db=0, speech=None), out) > 40.0
    rep = proc.report()
    assert rep["speech_level_dbfs"] - rep["pause_level_dbfs"] > 30.0


@pytest.mark.parametrize(
    ("noise", "snr_in_db"), [("white", 0.0), ("white", 10.0), ("pink", 5.0), ("flicker", 0.0), ("flicker", 10.0)]
)
def test_noise_fluctuation_is_read_from_the_noise(
    rng: np.random.Generator, speech: np.ndarray, noise: str, snr_in_db: float
) -> None:
    """Stationary noise reads as such whatever the speech does; noise whose spectrum moves does not."""
    noisy = mix_at_snr(speech, NOISES[noise](rng, SR, speech.size / SR), snr_in_db)
    proc = NoiseReducer(SR, 1)
    list(run_blocks(proc, [noisy[None, :]]))
    phi = proc.report()["noise_fluctuation"]
    if noise == "flicker":
        assert phi > 0.6, phi
    else:
        assert phi < 0.05, phi


def test_fluctuating_noise_gets_a_shallower_floor(rng: np.random.Generator) -> None:
    """OM-LSA alone (no expander) on noise alone: a third as deep a floor on flicker as on white.

    Noise alone has no range between speech and pauses, so both also get the very noisy
    floor (18 + 12 dB deep on white; a third of 18, plus 12, on flicker).
    """
    reports = {}
    for name in ("white", "flicker"):
        proc = NoiseReducer(SR, 1, expand_db=0)
        list(run_blocks(proc, [NOISES[name](rng, SR, 6.0)[None, :]]))
        reports[name] = proc.report()
        assert reports[name]["noisy_share"] == 1.0
    assert reports["white"]["noise_fluctuation"] == 0.0
    assert reports["white"]["mean_gain_db"] < -24.0
    assert reports["flicker"]["noise_fluctuation"] > 0.8
    assert -18.0 < reports["flicker"]["mean_gain_db"] < -6.0
    assert reports["flicker"]["mean_gain_db"] - reports["white"]["mean_gain_db"] > 10.0


@pytest.mark.parametrize(("snr_in_db", "lo", "hi"), [(-5.0, 0.9, 1.0), (5.0, 0.1, 0.7), (20.0, 0.0, 0.0)])
def test_very_noisy_share_follows_the_speech_to_pause_range(
    rng: np.random.Generator, speech: np.ndarray, snr_in_db: float, lo: float, hi: float
) -> None:
    """Speech a few dB over white noise reads as very noisy (range under 4 dB), 20 dB SNR not at all."""
    proc = NoiseReducer(SR, 1)
    list(run_blocks(proc, [mix_at_snr(speech, make_white(rng, speech.size), snr_in_db)[None, :]]))
    rep = proc.report()
    assert lo <= rep["noisy_share"] <= hi, (rep["noisy_share"], rep["speech_level_dbfs"] - rep["pause_level_dbfs"])


def test_very_noisy_floor_scales_with_amount(rng: np.random.Generator) -> None:
    """The extra 12 dB of floor on very noisy audio is bounded by amount, like the rest of the floor."""
    noise = make_white(rng, 6 * SR)[None, :]
    gains = {}
    for amount in (100, 50):
        proc = NoiseReducer(SR, 1, expand_db=0, amount=amount)
        list(run_blocks(proc, [noise]))
        gains[amount] = proc.report()["mean_gain_db"]
    assert gains[100] < -(18 + 12) * 0.8
    assert -(18 + 12) * 0.5 - 1.0 < gains[50] < -(18 + 12) * 0.5 * 0.8


def make_keyboard(rng: np.random.Generator, sr: int, n: int, peak: float) -> np.ndarray:
    """Keyboard-like clicks, 3-8 ms decaying noise bursts at 6 per second, ``peak`` loud."""
    y = np.zeros(n)
    for i in rng.integers(0, n - sr // 100, 6 * n // sr):
        m = int(rng.uniform(0.003, 0.008) * sr)
        y[i : i + m] += peak * rng.standard_normal(m) * np.exp(-np.arange(m) / (m / 4))
    return y.astype(np.float32)


def test_reduce_noise_removes_clicks(rng: np.random.Generator, speech: np.ndarray) -> None:
    noisy = speech + make_keyboard(rng, SR, speech.size, 2 * float(np.max(np.abs(speech))))
    gain = si_sdr_db(speech, reduce_noise(noisy, SR)) - si_sdr_db(speech, noisy)
    assert gain >= 8.0
    without = si_sdr_db(speech, reduce_noise(noisy, SR, declick=False)) - si_sdr_db(speech, noisy)
    assert gain > without + 3.0


def test_reduce_noise_follows_rising_noise(rng: np.random.Generator, speech: np.ndarray) -> None:
    """Noise that jumps up by 10 dB mid-file is mostly tracked within a second."""
    n = speech.size
    noise = make_white(rng, n, -45.0)
    noise[n // 2 :] *= 10 ** (10 / 20)
    out = reduce_noise(noise, SR)
    settle = slice(n // 2 + SR // 2, n // 2 + SR)  # 0.5-1 s after the jump
    residual_db = 20 * np.log10(np.std(out[settle]) / np.std(noise[settle]))
    assert residual_db < -5.0  # a minimum tracker alone still passes it through (about -2 dB)


def test_detect_hum_finds_mains_and_ignores_speech(rng: np.random.Generator, speech: np.ndarray) -> None:
    est = detect_hum(speech + make_hum(SR, speech.size, mains_hz=60.0, level_dbfs=-40), SR)
    assert est is not None
    assert est.f0_hz == pytest.approx(60.0, abs=0.1)
    assert detect_hum(speech, SR) is None
    assert detect_hum(make_white(rng, 3 * SR), SR) is None


def _held_note(f0: float, partials: tuple[int, ...], seconds: float = 3.0) -> np.ndarray:
    """A held note with decaying partials over a faint floor (a bowed or blown instrument)."""
    t = np.arange(int(seconds * SR)) / SR
    x = sum(0.1 / p * np.sin(2 * np.pi * f0 * p * t + p) for p in partials)
    floor = np.random.default_rng(5).standard_normal(t.size) * 1e-4
    return np.asarray(x + floor, np.float32)


@pytest.mark.parametrize(
    ("f0", "partials", "why"),
    [
        (98.76, (1, 2, 3, 4, 5, 6), "G2 at A = 444 Hz: 1.2 % under 100 Hz, outside the grid's tolerance"),
        (349.23, (1, 2, 3), "F4 at A = 440 Hz: 7 x 49.89 Hz, a series on every 7th mains harmonic"),
        (149.9, (1, 2, 3, 4), "a note 3 x 49.97 Hz: harmonics 3, 6, 9, 12, all multiples of 3"),
    ],
)
def test_detect_hum_does_not_take_a_held_note_for_hum(f0: float, partials: tuple[int, ...], why: str) -> None:
    assert detect_hum(_held_note(f0, partials), SR) is None, why


@pytest.mark.parametrize(
    ("mains", "harmonics"),
    [(50.18, (1, 2, 3, 4, 5)), (59.8, (1, 3, 5, 7)), (60.0, (2, 4, 6, 8)), (49.9, (1, 2))],
)
def test_detect_hum_takes_mains_within_the_grid_tolerance(
    mains: float, harmonics: tuple[int, ...], rng: np.random.Generator
) -> None:
    """0.4 % off nominal (a grid's largest steady deviation), odd-only hum, rectifier buzz (even
    harmonics only), and a loud fundamental with one harmonic (30 dB over its neighbourhood)."""
    t = np.arange(3 * SR) / SR
    hum = sum(np.sin(2 * np.pi * mains * k * t + k) / k for k in harmonics)
    hum = 10 ** (-30 / 20) * hum / np.sqrt(np.mean(hum**2))
    est = detect_hum((make_white(rng, t.size, -60.0) + hum).astype(np.float32), SR)
    assert est is not None
    assert est.f0_hz == pytest.approx(mains, abs=0.05)
    assert set(harmonics) <= set(est.harmonics)


def test_detect_hum_wants_a_tone_that_lasts(rng: np.random.Generator) -> None:
    """A 150 Hz tone (mains harmonic 3) switched on and off is a note or a test tone, not hum."""
    t = np.arange(3 * SR) / SR
    tone = 0.05 * np.sin(2 * np.pi * 150 * t)
    floor = make_white(rng, t.size, -40.0)
    steady = detect_hum((tone + floor).astype(np.float32), SR)
    assert steady is not None
    assert steady.harmonics == (3,)
    gated = (tone * (np.sin(2 * np.pi * 0.7 * t) > 0) + floor).astype(np.float32)
    assert detect_hum(gated, SR) is None
    # hum that wobbles by 5 % and sits under loud speech still counts
    hum = make_hum(SR, t.size, mains_hz=50.0, level_dbfs=-45) * (1 + 0.05 * np.sin(2 * np.pi * 0.3 * t))
    talk = make_speech_like(rng, SR, 3.0, lead_silence_s=0.0)[0]
    wobbly = detect_hum((talk + hum).astype(np.float32), SR)
    assert wobbly is not None
    assert wobbly.f0_hz == pytest.approx(50.0, abs=0.1)


def test_remove_hum_leaves_hum_free_audio_untouched(speech: np.ndarray) -> None:
    np.testing.assert_array_equal(remove_hum(speech, SR), speech)


@pytest.mark.parametrize(
    ("audio", "kwargs", "error"),
    [
        (np.zeros(1600, np.float32), {}, None),
        (np.zeros((2, 1600), np.float64), {"amount": 1}, None),
        (np.array([0.0, np.nan, 0.0], np.float32), {}, InvalidAudioError),
        (np.array([0.0, np.inf, 0.0], np.float32), {}, InvalidAudioError),
        (np.zeros(0, np.float32), {}, InvalidAudioError),
        (np.zeros((1, 2, 100), np.float32), {}, InvalidAudioError),
        (np.zeros(100, np.int16), {}, InvalidAudioError),
        ([0.0, 0.1], {}, InvalidAudioError),
        (np.zeros(1600, np.float32), {"amount": 0.5}, InvalidParameterError),
        (np.zeros(1600, np.float32), {"amount": 101}, InvalidParameterError),
        (np.zeros(1600, np.float32), {"amount": float("nan")}, InvalidParameterError),
        (np.zeros(1600, np.float32), {"sr": 4000}, InvalidParameterError),
        (np.zeros(1600, np.float32), {"sr": 16000.0}, InvalidParameterError),
        (np.zeros(1600, np.float32), {"max_reduction_db": 0}, InvalidParameterError),
        (np.zeros(1600, np.float32), {"expand_db": -1}, InvalidParameterError),
        (np.zeros(1600, np.float32), {"expand_db": 31}, InvalidParameterError),
        (np.zeros(1600, np.float32), {"expand_db": 0}, None),
    ],
)
def test_reduce_noise_validates_input(audio: object, kwargs: dict[str, object], error: type[Exception] | None) -> None:
    sr = kwargs.pop("sr", SR)
    if error is None:
        out = reduce_noise(audio, sr, **kwargs)  # type: ignore[arg-type]
        assert out.shape == np.shape(audio)
    else:
        with pytest.raises(error):
            reduce_noise(audio, sr, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("channels", [0, -1, True])
def test_noise_reducer_rejects_bad_channels(channels: int) -> None:
    with pytest.raises(InvalidParameterError):
        NoiseReducer(SR, channels)


def _bursts(rng: np.random.Generator, n: int) -> np.ndarray:
    """Clattering: 30 ms decaying noise bursts every 150-400 ms, like dishes (no pitch, no speech)."""
    out = np.zeros(n)
    i = int(0.05 * SR)
    while i < n - int(0.03 * SR):
        m = int(0.03 * SR)
        out[i : i + m] += 0.3 * rng.standard_normal(m) * np.exp(-np.arange(m) / (0.006 * SR))
        i += int(rng.uniform(0.15, 0.4) * SR)
    return out


def test_speech_gate_removes_non_speech_events_and_keeps_speech(rng: np.random.Generator) -> None:
    """Clatter with no speech goes down by the gate depth; the speech and its edges are untouched."""
    speech = make_speech_like(rng, SR, 7.0, lead_silence_s=2.0)[0]
    clatter = 0.1 * _bursts(rng, speech.size) + make_white(rng, speech.size, -60.0)
    noisy = (speech + np.where(np.arange(speech.size) < int(1.6 * SR), clatter, 0.0)).astype(np.float32)
    gated = reduce_noise(noisy, SR)
    plain = reduce_noise(noisy, SR, speech=None)
    lead = slice(int(0.2 * SR), int(1.0 * SR))  # clatter alone, a second before the speech starts
    removed_gate = 20 * np.log10(np.std(noisy[lead]) / np.std(gated[lead]))
    removed_plain = 20 * np.log10(np.std(noisy[lead]) / np.std(plain[lead]))
    assert removed_gate > 25.0, removed_gate  # at least most of the 30 dB gate
    assert removed_gate > removed_plain + 10.0, (removed_gate, removed_plain)
    talk = slice(int(2.0 * SR), speech.size)
    # speech is no worse for the gate (its noise estimate is anchored where there is no speech)
    assert si_sdr_db(speech[talk], gated[talk]) > si_sdr_db(speech[talk], plain[talk]) - 0.5


def test_speech_gate_scales_with_amount_and_reports(rng: np.random.Generator, speech: np.ndarray) -> None:
    noisy = (speech + 0.1 * _bursts(rng, speech.size)).astype(np.float32)
    segs = [(0.8, 6.0)]
    lead = slice(int(0.1 * SR), int(0.5 * SR))
    out = {}
    for amount in (20, 100):
        proc = NoiseReducer(SR, 1, amount=amount, speech=segs)
        out[amount] = np.concatenate(list(run_blocks(proc, [noisy[None, :]])), axis=-1)[0]
        rep = json.loads(json.dumps(proc.report()))["speech_gate"]
        assert rep["applied"] is True
        assert rep["depth_db"] == pytest.approx(30.0 * amount / 100)
        assert rep["speech_segments"] == 1
        assert 0.05 < rep["gated_share"] < 0.15  # 0.8 s minus pad and ramp, of 6 s
    assert np.std(out[100][lead]) < 0.5 * np.std(out[20][lead])
    off = NoiseReducer(SR, 1)
    list(run_blocks(off, [noisy[None, :]]))
    assert off.report()["speech_gate"] == {"applied": False, "reason": "no speech segments were given"}


def _melody(rng: np.random.Generator, level: float = 0.05) -> np.ndarray:
    """Ten harmonic notes of 0.4 s (11 partials, legato, decaying) over a -70 dBFS floor."""
    notes = (220.0, 246.9, 261.6, 293.7, 329.6, 293.7, 261.6, 246.9, 220.0, 196.0)
    t = np.arange(int(0.4 * SR)) / SR
    parts = [sum(np.sin(2 * np.pi * h * f0 * t) / h for h in range(1, 12)) * np.exp(-t / 0.8) for f0 in notes]
    return (level * np.concatenate(parts) + make_white(rng, len(notes) * t.size, -70.0)).astype(np.float32)


def test_speech_gate_leaves_music_alone(rng: np.random.Generator) -> None:
    """A melody with no speech (harmonic notes of 0.4 s, legato) is kept out of the gate."""
    music = _melody(rng)
    det = SpeechDetector(SR, 1)
    det.process(music[None, :])
    assert det.finish() == []  # not speech ...
    assert det.keep_segments()  # ... but kept
    gated = reduce_noise(music, SR)
    assert si_sdr_db(reduce_noise(music, SR, speech=None), gated) > 30.0


def test_music_share_reads_held_notes(rng: np.random.Generator, speech: np.ndarray) -> None:
    """Held partials read as music; gliding speech harmonics, noise and speech in noise do not."""
    cases = {
        "melody": _melody(rng),
        "speech": speech,
        "white": make_white(rng, 6 * SR),
        "speech in white": mix_at_snr(speech, make_white(rng, speech.size), 5.0),
        "flicker": NOISES["flicker"](rng, SR, 6.0),
    }
    share = {}
    for name, x in cases.items():
        proc = NoiseReducer(SR, 1)
        list(run_blocks(proc, [np.asarray(x, np.float32)[None, :]]))
        share[name] = proc.report()["music_share"]
    assert share["melody"] > 0.8, share
    assert max(v for k, v in share.items() if k != "melody") == 0.0, share


@pytest.mark.parametrize("block_sizes", [(100,), (4096, 333), (17, 5000, 256, 90000), (1_000_000,)])
def test_music_share_is_chunk_size_invariant(rng: np.random.Generator, block_sizes: tuple[int, ...]) -> None:
    """The held-peak runs and their average are carried: music comes out the same whatever the blocks."""
    music = _melody(rng) + make_pink(rng, 10 * int(0.4 * SR), -50.0).astype(np.float32)
    ref_proc = NoiseReducer(SR, 1)
    reference = np.concatenate(list(run_blocks(ref_proc, [music[None, :]])), axis=-1)
    assert ref_proc.report()["music_share"] > 0.5
    out = np.concatenate(list(run_blocks(NoiseReducer(SR, 1), _split(music[None, :], block_sizes))), axis=-1)
    np.testing.assert_allclose(out, reference, atol=1e-6)


def test_a_steady_whine_is_not_music(rng: np.random.Generator) -> None:
    """Tones that never change (a fan's whine) are not notes: past their first seconds they go
    as deep as any stationary noise."""
    t = np.arange(8 * SR) / SR
    whine = 0.01 * np.sin(2 * np.pi * 2000 * t) + 0.007 * np.sin(2 * np.pi * 3100 * t)
    x = (whine + make_white(rng, t.size, -40.0)).astype(np.float32)
    proc = NoiseReducer(SR, 1)
    out = np.concatenate(list(run_blocks(proc, [x[None, :]])), axis=-1)[0]
    assert proc.report()["music_share"] < 0.3
    tail = slice(3 * SR, None)
    assert 20 * np.log10(np.std(x[tail]) / np.std(out[tail])) > 25.0


@pytest.mark.parametrize("amount", [50.0, 100.0])
def test_music_keeps_a_shallow_floor(rng: np.random.Generator, amount: float) -> None:
    """Music over a faint floor loses at most the music floor (6 dB times amount / 100) on average,
    and keeps its waveform; the expander and the very noisy path stay out."""
    music = _melody(rng)
    proc = NoiseReducer(SR, 1, amount=amount)
    out = np.concatenate(list(run_blocks(proc, [music[None, :]])), axis=-1)[0]
    rep = proc.report()
    assert rep["music_share"] > 0.8
    assert rep["mean_gain_db"] > -6.0 * amount / 100 - 0.5, rep["mean_gain_db"]
    assert rep["noisy_share"] == 0.0
    assert rep["mean_expansion_db"] == 0.0
    assert si_sdr_db(music[SR:], out[SR:]) > 22.0


@pytest.mark.parametrize("speech", [[(1.0, 0.5)], [(2.0, 3.0), (0.0, 1.0)], [(0.0, float("nan"))], ["ab"]])
def test_speech_gate_refuses_bad_segments(speech: object) -> None:
    with pytest.raises(InvalidParameterError):
        NoiseReducer(SR, 1, speech=speech)  # type: ignore[arg-type]


def test_noise_estimate_recovers_when_the_recording_opens_with_speech(rng: np.random.Generator) -> None:
    """Speech from the first sample over a -70 dBFS floor: the warm-up catches speech, and the
    averaged noise must come back down to the floor in the pauses instead of holding that value."""
    talk = make_speech_like(rng, SR, 8.0, lead_silence_s=0.0, pause_s=0.4)[0]
    x = (talk + make_white(rng, talk.size, -70.0)).astype(np.float32)
    proc = NoiseReducer(SR, 1)
    y = np.concatenate(list(run_blocks(proc, [x[None, :]])), axis=-1)[0]
    rep = proc.report()
    # (the average held the warm-up's value, at the speech level, before the minimum bounded it:
    # 0.4 dB under the speech and 11.8 dB SI-SDR)
    assert rep["noise_estimate_mean_dbfs"] < rep["speech_level_dbfs"] - 8.0, rep
    assert si_sdr_db(x[SR:], y[SR:]) > 15.0


def test_noise_estimate_finds_the_floor_in_short_pauses(rng: np.random.Generator) -> None:
    """Speech from the first sample with pauses of 0.2 s only: the 0.9-smoothed minimum never
    reaches the floor in them, the lightly smoothed one does, and the average must follow it."""
    talk = make_speech_like(rng, SR, 8.0, lead_silence_s=0.0, pause_s=0.2)[0]
    x = (talk + make_white(rng, talk.size, -70.0)).astype(np.float32)
    proc = NoiseReducer(SR, 1, expand_db=0, hum=False, declick=False)
    y = np.concatenate(list(run_blocks(proc, [x[None, :]])), axis=-1)[0]
    rep = proc.report()
    # (with the 0.9-smoothed minimum alone: mean noise 8 dB under the speech, 15-17 dB SI-SDR)
    assert rep["noise_estimate_mean_dbfs"] < rep["speech_level_dbfs"] - 12.0, rep
    assert si_sdr_db(x[SR:], y[SR:]) > 21.0


def test_two_step_snr_clears_the_noise_after_each_word(
    rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The decision-directed a-priori SNR lags the speech by a frame, so the noise right after a
    word passes at the word's gain; the two-step refinement follows the current frame and must
    lower that residual without costing the speech."""
    import dsp.denoise as dn

    talk, spans = make_speech_like(rng, SR, 8.0, lead_silence_s=0.8, pause_s=0.4)
    x = mix_at_snr(talk, make_white(rng, talk.size), 5.0).astype(np.float32)

    def run() -> np.ndarray:
        proc = NoiseReducer(SR, 1, expand_db=0, hum=False, declick=False)
        return np.concatenate(list(run_blocks(proc, [x[None, :]])), axis=-1)[0]

    y = run()
    monkeypatch.setattr(dn, "_TSNR_CAP", 0.0)  # decision-directed only
    y_dd = run()
    tails = [(round(e * SR), round((e + 0.1) * SR)) for _, e in spans if e > 2.0 and e + 0.1 < 8.0]
    assert len(tails) >= 2

    def tail_db(z: np.ndarray) -> float:
        return float(10 * np.log10(sum(np.sum(z[a:b].astype(np.float64) ** 2) for a, b in tails)))

    # (measured: the tails 1.9 dB quieter, SI-SDR 0.2 dB higher)
    assert tail_db(y) < tail_db(y_dd) - 1.0
    assert si_sdr_db(talk[SR:], y[SR:]) > si_sdr_db(talk[SR:], y_dd[SR:]) - 0.5


def test_frequency_smoothing_matches_the_three_tap_correlation(rng: np.random.Generator) -> None:
    from scipy import ndimage

    for shape in ((7, 257), (5, 2, 1025), (1, 3)):
        x = rng.exponential(1e-3, shape).astype(np.float32)
        ref = ndimage.correlate1d(x, _FREQ_TAPS, axis=-1, mode="nearest")
        got = _smooth_freq(x)
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, ref, rtol=1e-6)


@pytest.mark.parametrize("seconds", [0.01, 0.2, 0.6])
def test_a_short_loud_clip_at_amount_1_is_almost_untouched(rng: np.random.Generator, seconds: float) -> None:
    # a 10 ms clip came back as digital silence (the click clamp had only the stream's zero padding
    # for context) and clips under 0.3 s lost 30 dB to the gate (too short to hold a pause)
    speech, _ = make_speech_like(rng, SR, 2.0, lead_silence_s=0.0)
    clip = speech[SR // 4 : SR // 4 + round(seconds * SR)]
    out = reduce_noise(clip, SR, amount=1)
    assert abs(10 * np.log10(np.mean(out.astype(np.float64) ** 2) / np.mean(clip.astype(np.float64) ** 2))) < 1.0


def test_a_gate_that_gated_nothing_says_so(rng: np.random.Generator) -> None:
    # speech throughout: the report said "applied" with a gated share of 0
    x = mix_at_snr(make_speech_like(rng, SR, 2.0, lead_silence_s=0.0)[0], make_white(rng, 2 * SR), 10.0)
    proc = NoiseReducer(SR, 1, speech=[(0.0, 2.0)])
    run_processor(proc, x[None, :])
    gate = proc.report()["speech_gate"]
    assert gate["applied"] is False
    assert "throughout" in gate["reason"]


def test_two_microphones_denoised_each_on_its_own(rng: np.random.Generator, speech: np.ndarray) -> None:
    # a clean voice on one channel, loud noise on the other: linked gains let the noise decide both
    from dsp.stream import PerChannel

    left = speech + make_white(rng, speech.size, -50.0)
    right = make_white(rng, speech.size, -20.0)
    x = np.stack([left, right])
    linked = run_processor(NoiseReducer(SR, 2), x)
    each = run_processor(PerChannel([NoiseReducer(SR, 1), NoiseReducer(SR, 1)]), x)
    assert each.shape == x.shape
    np.testing.assert_array_equal(each[0], run_processor(NoiseReducer(SR, 1), left[None, :])[0])
    assert si_sdr_db(speech, each[0]) > si_sdr_db(speech, linked[0]) + 6.0
    proc = PerChannel([NoiseReducer(SR, 1), NoiseReducer(SR, 1)])
    pieces = [proc.process(x[:, i : i + 5000]) for i in range(0, x.shape[1], 5000)]
    np.testing.assert_array_equal(np.concatenate([*pieces, proc.flush()], axis=-1), each)
    rep = proc.report()
    assert rep["channels_processed"] == "each channel separately"
    assert len(rep["per_channel"]) == 2


def test_a_recording_shorter_than_the_primed_opening_is_treated_gently() -> None:
    # A clip shorter than the opening the noise is learnt from may hold no pause (a voice
    # command): the trackers took the talker's own quiet bins for noise and a 0.3 s word lost
    # 4-7 dB. Every depth is scaled by the share of the opening the clip fills, and the report
    # says so; the same clip in blocks gives the same output.
    sr = 16_000
    rng = np.random.default_rng(1)
    x, _ = make_speech_like(rng, sr, 3.0, lead_silence_s=0.0, pause_every_s=3.0)
    clip = (x[: round(0.3 * sr)] + make_white(rng, round(0.3 * sr), -70.0)).astype(np.float32)
    nr = NoiseReducer(sr, 1)
    y = np.concatenate([nr.process(clip[None, :1000]), nr.process(clip[None, 1000:]), nr.flush()], axis=-1)[0]
    loss_db = 10 * np.log10(np.mean(clip.astype(np.float64) ** 2) / np.mean(y.astype(np.float64) ** 2))
    assert loss_db < 2.0
    assert "0.30 s" in nr.report()["short_input"]
    np.testing.assert_allclose(y, reduce_noise(clip, sr), atol=1e-6)
    whole = NoiseReducer(sr, 1)
    run_processor(whole, x[None])
    assert "short_input" not in whole.report()


@pytest.mark.parametrize("noise_dbfs", [-60.0, -40.0])
def test_reported_noise_floor_is_the_noise_between_words(rng: np.random.Generator, noise_dbfs: float) -> None:
    """The report's floor is the noise a user would measure in the pauses, not the estimate's mean
    over the speech too (which read 10 dB over -60 dBFS white noise under read speech)."""
    talk = make_speech_like(rng, SR, 10.0, pause_s=0.4)[0]
    x = (talk + make_white(rng, talk.size, noise_dbfs)).astype(np.float32)
    proc = NoiseReducer(SR, 1)
    list(run_blocks(proc, [x[None, :]]))
    rep = proc.report()
    assert rep["noise_floor_dbfs"] == pytest.approx(noise_dbfs, abs=2.0), rep
    assert rep["noise_estimate_mean_dbfs"] >= rep["noise_floor_dbfs"], rep


def test_digital_silence_reports_no_gain_and_no_gate() -> None:
    # the report said not_applied at the top and a gate applied with a -38 dB mean gain inside
    proc = NoiseReducer(SR, 1, speech=[])
    y = np.concatenate(list(run_blocks(proc, [np.zeros((1, 3 * SR), np.float32)])), axis=-1)
    rep = proc.report()
    assert rep["not_applied"]
    assert rep["speech_gate"]["applied"] is False
    assert rep["mean_gain_db"] is None
    assert not np.any(y)


def test_a_dc_offset_is_removed_not_taken_for_noise(rng: np.random.Generator) -> None:
    # a +0.3 offset under speech read as a -6.4 dBFS noise floor, the speech lost 1.5-2.4 dB, the
    # gate hardly acted and 0.01 of DC was left (odd-files audit)
    speech, _ = make_speech_like(rng, SR, 8.0)
    x = mix_at_snr(speech, make_white(rng, speech.size, -40.0), 20.0).astype(np.float32)
    outs, reps = [], []
    for v in (x, (x + 0.3).astype(np.float32)):
        proc = NoiseReducer(SR, 1)
        outs.append(np.concatenate(list(run_blocks(proc, [v[None, :]])), axis=-1)[0].astype(np.float64))
        reps.append(proc.report())
    clean, offset = outs
    assert reps[1]["dc_offset"] == pytest.approx(0.3, abs=0.001)
    assert reps[0]["dc_offset"] < 0.001
    assert reps[1]["noise_floor_dbfs"] == pytest.approx(reps[0]["noise_floor_dbfs"], abs=1.0)
    later = slice(2 * SR, None)  # (the offset fades out over the first two seconds)
    assert abs(np.mean(offset[later])) < 1e-3
    level = lambda v: 10 * np.log10(np.mean((v - v.mean()) ** 2))  # noqa: E731
    for a in range(2, 8):
        s = slice(a * SR, (a + 1) * SR)
        assert level(offset[s]) == pytest.approx(level(clean[s]), abs=0.3), a


def test_a_clip_under_a_second_says_it_is_too_short_to_gate() -> None:
    """A 20 ms burst was said to be "speech or music throughout" (a playground audit): under 1 s
    the speech map keeps it whole because it is too short to hold a pause, and the report says so."""
    from dsp.stream import run_blocks
    from dsp.vad import SpeechDetector

    sr = 16000
    x = (0.1 * np.random.default_rng(1).standard_normal((1, int(0.02 * sr)))).astype(np.float32)
    det = SpeechDetector(sr, 1)
    det.process(x)
    nr = NoiseReducer(sr, 1, speech=det.keep_segments())
    list(run_blocks(nr, [x]))
    gate = nr.report()["speech_gate"]
    assert gate["applied"] is False
    assert "shorter than 1 s" in gate["reason"]
