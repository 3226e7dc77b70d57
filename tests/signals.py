"""Synthetic test signals: seeded, deterministic, float32, with known ground truth.

Every factory takes an explicit ``numpy.random.Generator`` (or a seed) so tests never share
hidden random state.
"""

from __future__ import annotations

import numpy as np
from scipy import signal as sps

F32 = np.float32


def make_speech_like(
    rng: np.random.Generator,
    sr: int,
    duration_s: float,
    *,
    syllable_s: tuple[float, float] = (0.12, 0.3),
    pause_every_s: float = 1.5,
    pause_s: float = 0.6,
    level_dbfs: float = -20.0,
    lead_silence_s: float = 0.5,
) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """Voiced, formant-filtered 'syllables' in words separated by pauses.

    Returns ``(audio (n,), speech_intervals_s)``; audio is exactly zero outside the intervals.
    """
    n = round(duration_s * sr)
    out = np.zeros(n, np.float64)
    intervals: list[tuple[float, float]] = []
    t = lead_silence_s
    while t < duration_s - 0.3:
        word_end = min(t + rng.uniform(0.6, pause_every_s), duration_s - 0.2)
        start = t
        while t < word_end:
            syl = rng.uniform(*syllable_s)
            i0, i1 = int(t * sr), min(int((t + syl) * sr), n)
            m = i1 - i0
            if m <= 8:
                break
            f0 = rng.uniform(100, 220) * (1 + 0.1 * np.linspace(-1, 1, m))
            phase = 2 * np.pi * np.cumsum(f0) / sr
            voiced = np.zeros(m)
            for h in range(1, int(min(3800, sr / 2 - 200) // 250) + 1):
                voiced += np.sin(h * phase) / h
            voiced += 0.05 * rng.standard_normal(m)
            # two formants
            for fc in (rng.uniform(400, 900), rng.uniform(1100, 2400)):
                if fc < sr / 2 - 100:
                    b, a = sps.iirpeak(fc, 4.0, fs=sr)
                    voiced += 0.6 * sps.lfilter(b, a, voiced)
            env = np.sin(np.pi * np.linspace(0, 1, m)) ** 0.6
            out[i0:i1] += voiced * env
            t += syl
        intervals.append((start, min(t, duration_s)))
        t += pause_s * rng.uniform(0.8, 1.2)
    rms = np.sqrt(np.mean(out[out != 0] ** 2)) if np.any(out) else 1.0
    out *= 10 ** (level_dbfs / 20) / rms
    return out.astype(F32), intervals


def make_tune(rng: np.random.Generator, sr: int, duration_s: float, *, level_dbfs: float = -20.0) -> np.ndarray:
    """A plucked melody: harmonic notes of a major scale (A3 up), 0.2-0.4 s each, decaying, some apart.

    Its notes come and go at the syllable rate with pauses between phrases, so the speech detector
    and the music map take it for speech (as they do staccato strings or a solo trumpet); their
    pitch holds within a note and steps between notes, never glides. ``(n,)`` float32, RMS
    ``level_dbfs`` over the notes.
    """
    n = round(duration_s * sr)
    out = np.zeros(n, np.float64)
    scale = 220.0 * 2 ** (np.array([0, 2, 4, 5, 7, 9, 11, 12]) / 12)
    t = 0.2
    while t < duration_s - 0.5:
        f0, length = rng.choice(scale), rng.choice([0.2, 0.25, 0.4])
        i0, m = round(t * sr), round(length * sr)
        tt = np.arange(min(m, n - i0)) / sr
        out[i0 : i0 + tt.size] += sum(np.sin(2 * np.pi * h * f0 * tt) / h for h in range(1, 10)) * np.exp(-tt / 0.12)
        t += length + rng.choice([0.0, 0.05, 0.3])
    out *= 10 ** (level_dbfs / 20) / np.sqrt(np.mean(out[out != 0] ** 2))
    return out.astype(F32)


def make_white(rng: np.random.Generator, n: int, level_dbfs: float = -30.0) -> np.ndarray:
    """White Gaussian noise at an RMS level in dBFS."""
    return (rng.standard_normal(n) * 10 ** (level_dbfs / 20)).astype(F32)


def make_pink(rng: np.random.Generator, n: int, level_dbfs: float = -30.0) -> np.ndarray:
    """1/f noise (spectral shaping of white noise) at an RMS level in dBFS."""
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.arange(spec.size, dtype=np.float64)
    f[0] = 1.0
    x = np.fft.irfft(spec / np.sqrt(f), n)
    x *= 10 ** (level_dbfs / 20) / np.sqrt(np.mean(x**2))
    return x.astype(F32)


def make_hum(sr: int, n: int, *, mains_hz: float = 50.0, level_dbfs: float = -30.0, harmonics: int = 5) -> np.ndarray:
    """Mains hum: a fundamental and decaying harmonics, RMS level in dBFS."""
    t = np.arange(n) / sr
    x = sum(np.sin(2 * np.pi * mains_hz * k * t + k) / k for k in range(1, harmonics + 1))
    x = np.asarray(x)
    x *= 10 ** (level_dbfs / 20) / np.sqrt(np.mean(x**2))
    return x.astype(F32)


def make_tone(sr: int, duration_s: float, freq_hz: float = 440.0, level_dbfs: float = -12.0) -> np.ndarray:
    """A sine tone at an RMS level in dBFS."""
    t = np.arange(round(duration_s * sr)) / sr
    return (np.sqrt(2) * 10 ** (level_dbfs / 20) * np.sin(2 * np.pi * freq_hz * t)).astype(F32)


def mix_at_snr(clean: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """Scale ``noise`` so that the mixture has ``snr_db`` (speech active power vs noise)."""
    p_s = float(np.mean(clean[clean != 0] ** 2)) if np.any(clean) else 0.0
    p_n = float(np.mean(noise**2))
    g = np.sqrt(p_s / (p_n * 10 ** (snr_db / 10))) if p_n > 0 else 0.0
    return (clean + g * noise).astype(F32)


def snr_db(reference: np.ndarray, estimate: np.ndarray) -> float:
    """Plain SNR of ``estimate`` against ``reference`` in dB."""
    err = estimate.astype(np.float64) - reference
    return float(10 * np.log10(np.sum(reference.astype(np.float64) ** 2) / max(np.sum(err**2), 1e-20)))


def si_sdr_db(reference: np.ndarray, estimate: np.ndarray) -> float:
    """Scale-invariant SDR in dB (Le Roux et al., 2019)."""
    r = reference.astype(np.float64)
    e = estimate.astype(np.float64)
    alpha = np.dot(e, r) / max(np.dot(r, r), 1e-20)
    target = alpha * r
    return float(10 * np.log10(np.sum(target**2) / max(np.sum((e - target) ** 2), 1e-20)))


def with_wav_data_size(wav: bytes, size: int) -> bytes:
    """``wav`` with its ``data`` chunk's size field set to ``size`` (what a recorder that crashed leaves:
    0 or 0xFFFFFFFF, or a size larger than the bytes present)."""
    data = bytearray(wav)
    at = data.find(b"data", 12)
    assert at > 0, "no data chunk"
    data[at + 4 : at + 8] = int(size).to_bytes(4, "little")
    return bytes(data)
