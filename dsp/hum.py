"""Mains-hum detection and removal: 50/60 Hz and harmonics, detected from the signal, not assumed.

The first ``detect_s`` seconds are analysed with a long, finely resolved spectrum; the mains
frequency (near 50 or 60 Hz) is accepted only when several harmonics stand clearly above their
spectral neighbourhood, and each prominent harmonic gets a narrow IIR notch. The notch cascade
runs with carried state, primed on an extrapolation of the hum so that there is no settling
transient at the start of the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.fft
from scipy import signal

from dsp._typing import Audio, FloatArray
from dsp._validate import as_2d, check_channels, check_range, check_sr, valid_audio
from dsp.stream import run_processor

__all__ = ["HumEstimate", "HumRemover", "detect_hum", "remove_hum"]

_MAINS_HZ = (50.0, 60.0)
#: How far the mains frequency may sit from 50 or 60 Hz, as a share: 0.4 %, the largest steady-state
#: deviation a synchronous grid allows (ENTSO-E Operation Handbook, Policy 1: +-200 mHz at 50 Hz;
#: North American interconnections hold far tighter), plus a recorder clock's +-100 ppm. A
#: harmonic-rich note is often within about 1 % of a mains multiple (an orchestra's G2 at 98.8 Hz
#: is 1.2 % under 100 Hz); an analogue transfer played off speed moves its hum out of this too.
_MAINS_TOL = 0.004
#: Mains hum is strongest at its low harmonics: the fundamental (ground loops), the 2nd (rectifier
#: buzz), the 3rd (transformer saturation). Of the harmonics agreeing on a fundamental, at least
#: two must be among the first ``_LOW_HARMONICS`` (one alone only if it is among the first three
#: and stands ``strong_db`` out), and they may not all be multiples of one number from 3 up: such
#: a set is a note's own series (F4 at 349 Hz is 7 x 49.9 Hz, its partials 14 and 21 x), and
#: partials scattered high above one low harmonic line up with 50 or 60 Hz by chance (seen in
#: real orchestral, jazz and pop recordings: sets such as 3, 19, 24 and 2, 14, 22).
_LOW_HARMONICS = 6
_F0_TOL_HZ = 0.12  # harmonic peaks must agree on the fundamental within this (Hz)
_MIN_HARMONICS = 3  # consistent prominent harmonics needed to call it hum ...
_STRONG_DB = 30.0  # ... unless one of them stands this far above its neighbourhood
_DYN_RANGE_DB = 70.0  # harmonics this far below the strongest spectral peak are ignored
_STEADY_SEGMENTS = 4  # hum is there all the time: its level is checked in this many segments ...
_STEADY_DB = 10.0  # ... none of which may fall this far below their median (a gated tone does)


@dataclass(frozen=True)
class HumEstimate:
    """A detected mains hum: fundamental in Hz and the notched harmonics (1 = fundamental)."""

    f0_hz: float
    harmonics: tuple[int, ...]
    prominence_db: tuple[float, ...]


def detect_hum(
    audio: Audio,
    sr: int,
    *,
    max_harmonic: int = 24,
    max_freq_hz: float = 2000.0,
    threshold_db: float = 12.0,
    strong_db: float = _STRONG_DB,
) -> HumEstimate | None:
    """Find mains hum (near 50 or 60 Hz, with harmonics) in a stretch of audio.

    Parameters
    ----------
    audio : ndarray, shape (n,) or (channels, n), float32
        At least 0.25 s of audio; channels are averaged (one decision for all).
    sr : int
        Sample rate in Hz, in [8000, 192000].
    max_harmonic : int
        Highest harmonic number examined, in [1, 100].
    max_freq_hz : float
        Harmonics above this frequency (Hz) are not examined, in [60, 20000].
    threshold_db : float
        How far (dB) a harmonic must stand above the median of its +-25 Hz neighbourhood
        to count, in [3, 60].
    strong_db : float
        Prominence (dB) from which one harmonic alone makes hum (fewer than three agreeing), in
        [12, 60]; 30 by default.

    Returns
    -------
    HumEstimate or None
        ``None`` when no hum is found: fewer than three prominent harmonics agreeing on one
        fundamental within 0.4 % of 50 or 60 Hz, two of them among the first six and not all
        multiples of one number from 3 up (a note's own series), and none of the first three
        standing 30 dB out; tones that do not last through the whole stretch (their level in a
        quarter of it falls 10 dB below the others); or less than 0.25 s of audio.

    Raises
    ------
    InvalidAudioError
        If ``audio`` is empty, not finite or badly shaped.
    InvalidParameterError
        If a parameter is out of range.

    References
    ----------
    .. [1] A. Nehorai, "A minimal parameter adaptive notch filter with constrained poles
       and zeros," IEEE Trans. ASSP 33(4), 1985.

    Examples
    --------
    >>> sr = 16000
    >>> t = np.arange(2 * sr) / sr
    >>> hum = sum(np.sin(2 * np.pi * 60 * k * t) / k for k in (1, 2, 3)).astype(np.float32)
    >>> est = detect_hum(hum, sr)
    >>> round(est.f0_hz), est.harmonics
    (60, (1, 2, 3))
    >>> detect_hum(np.random.default_rng(0).standard_normal(sr).astype(np.float32), sr) is None
    True
    """
    audio = valid_audio(audio)
    sr = check_sr(sr)
    check_range("max_harmonic", max_harmonic, 1, 100)
    check_range("max_freq_hz", max_freq_hz, 60.0, 20000.0)
    check_range("threshold_db", threshold_db, 3.0, 60.0)
    check_range("strong_db", strong_db, 12.0, 60.0)
    x = as_2d(audio).astype(np.float64).mean(axis=0)
    n = x.size
    if n < sr // 4:
        return None
    x = x - x.mean()
    nfft = scipy.fft.next_fast_len(max(n, int(8 * sr)), real=True)  # <= 0.125 Hz bins
    spec = np.abs(scipy.fft.rfft(x * signal.get_window("blackmanharris", n), nfft)) ** 2
    floor = float(np.max(spec)) * 10 ** (-_DYN_RANGE_DB / 10)
    df = sr / nfft
    best: HumEstimate | None = None
    best_score = 0.0
    for mains in _MAINS_HZ:
        harmonics: list[int] = []
        proms: list[float] = []
        f0s: list[float] = []
        weights: list[float] = []
        for k in range(1, int(max_harmonic) + 1):
            fk = k * mains
            if fk > min(max_freq_hz, sr / 2 - 50):
                break
            lo, hi = int((fk - 0.6 * k) / df), int(np.ceil((fk + 0.6 * k) / df))
            peak = lo + int(np.argmax(spec[lo : hi + 1]))
            n_lo, n_hi = int((fk - 25) / df), int((fk + 25) / df)
            guard = int(np.ceil(3.0 / df))
            neigh = np.concatenate([spec[max(n_lo, 1) : peak - guard], spec[peak + guard : n_hi]])
            if neigh.size == 0:
                continue
            prom = 10 * np.log10(spec[peak] / max(float(np.median(neigh)), 1e-30) + 1e-30)
            if prom >= threshold_db and spec[peak] > floor:
                harmonics.append(k)
                proms.append(float(prom))
                f0s.append(peak * df / k)
                weights.append(float(spec[peak]))
        if not harmonics:
            continue
        # true hum harmonics agree on one fundamental; speech partials near k * 50/60 do not
        f0_ref = float(np.average(f0s, weights=weights))
        keep = [i for i, f in enumerate(f0s) if abs(f - f0_ref) <= _F0_TOL_HZ]
        if not keep:
            continue
        kept_ks = [harmonics[i] for i in keep]
        f0 = float(np.average([f0s[i] for i in keep], weights=[weights[i] for i in keep]))
        if abs(f0 - mains) > _MAINS_TOL * mains + df:  # (+ df: the peaks are read to the bin)
            continue  # the tones near the mains multiples agree on a frequency off the grid's
        score = float(sum(proms[i] for i in keep))
        strong = any(proms[i] >= strong_db and harmonics[i] <= 3 for i in keep) and (
            len(keep) == 1 or int(np.gcd.reduce(kept_ks)) <= 2
        )
        many = (
            len(keep) >= _MIN_HARMONICS
            and sum(k <= _LOW_HARMONICS for k in kept_ks) >= 2
            and int(np.gcd.reduce(kept_ks)) <= 2
        )
        if (many or strong) and score > best_score:
            if not _steady(x, sr, f0, kept_ks):
                continue
            best = HumEstimate(round(f0, 3), tuple(kept_ks), tuple(round(proms[i], 1) for i in keep))
            best_score = score
    return best


def _steady(x: npt.NDArray[np.float64], sr: int, f0: float, harmonics: list[int]) -> bool:
    """Whether the tones at ``k * f0`` keep their level through ``x`` (mains hum does).

    ``x`` is cut into ``_STEADY_SEGMENTS`` parts; in each, the power of every harmonic is read
    at its strongest bin within 1 Hz of ``k * f0`` and summed. A part more than ``_STEADY_DB``
    below the median of the parts means the tone stops (a note, a gated test tone): not hum.
    Parts shorter than 0.125 s cannot resolve the harmonics, and the answer is then yes.
    """
    seg = x.size // _STEADY_SEGMENTS
    if seg < sr // 8:
        return True
    nfft = scipy.fft.next_fast_len(max(seg, sr), real=True)  # <= 1 Hz bins
    df = sr / nfft
    win = signal.get_window("blackmanharris", seg)
    levels = []
    for j in range(_STEADY_SEGMENTS):
        spec = np.abs(scipy.fft.rfft(x[j * seg : (j + 1) * seg] * win, nfft)) ** 2
        total = 0.0
        for k in harmonics:
            lo, hi = int((k * f0 - 1.0) / df), int(np.ceil((k * f0 + 1.0) / df))
            total += float(np.max(spec[max(lo, 0) : hi + 1]))
        levels.append(total)
    return min(levels) >= float(np.median(levels)) * 10 ** (-_STEADY_DB / 10)


def _notch_sos(est: HumEstimate, sr: int, bandwidth_hz: float) -> FloatArray:
    sections = []
    for k in est.harmonics:
        fk = k * est.f0_hz
        b, a = signal.iirnotch(fk, fk / bandwidth_hz, fs=sr)
        sections.append(np.concatenate([b, a]))
    return np.asarray(sections, np.float64)


class HumRemover:
    """Streaming mains-hum remover: buffer ``detect_s`` seconds, detect, then notch.

    Implements :class:`dsp.stream.BlockProcessor`. When no hum is detected the audio passes
    through unchanged (bit for bit). One decision and one notch set for all channels.

    Parameters
    ----------
    sr : int
        Sample rate in Hz, in [8000, 192000].
    channels : int
        Channel count, >= 1.
    detect_s : float
        Seconds analysed before deciding, in [0.25, 30].
    bandwidth_hz : float
        -3 dB width of each notch in Hz, in [0.2, 20].
    strong_db : float
        :func:`detect_hum`'s ``strong_db`` (one harmonic this prominent makes hum), in [12, 60].
    hum_hz, harmonics : float and sequence of int, optional
        A hum found beforehand (by an analysis of the whole recording): notched without a
        detection of its own. ``hum_hz`` within 40-70 Hz, harmonics from 1 to 100.

    Raises
    ------
    InvalidParameterError
        If a parameter is out of range.

    References
    ----------
    .. [1] A. Nehorai, "A minimal parameter adaptive notch filter with constrained poles
       and zeros," IEEE Trans. ASSP 33(4), 1985.

    Examples
    --------
    >>> sr = 8000
    >>> t = np.arange(3 * sr) / sr
    >>> x = (0.1 * sum(np.sin(2 * np.pi * 50 * k * t) / k for k in (1, 2, 3))).astype(np.float32)
    >>> h = HumRemover(sr, 1)
    >>> y = np.concatenate([h.process(x[None, :5000]), h.process(x[None, 5000:]), h.flush()], axis=-1)
    >>> y.shape, h.report()["hum_hz"]
    ((1, 24000), 50.0)
    >>> bool(np.std(y[0, sr:]) < 0.01 * np.std(x[sr:]))
    True
    """

    def __init__(
        self,
        sr: int,
        channels: int,
        *,
        detect_s: float = 2.0,
        bandwidth_hz: float = 2.0,
        strong_db: float = _STRONG_DB,
        hum_hz: float | None = None,
        harmonics: tuple[int, ...] | list[int] = (),
    ) -> None:
        self.sr = check_sr(sr)
        self.channels = check_channels(channels)
        self.detect_s = check_range("detect_s", detect_s, 0.25, 30.0)
        self.bandwidth_hz = check_range("bandwidth_hz", bandwidth_hz, 0.2, 20.0)
        self.strong_db = check_range("strong_db", strong_db, 12.0, 60.0)
        self._given: HumEstimate | None = None
        if hum_hz is not None:
            f0 = check_range("hum_hz", hum_hz, 40.0, 70.0)
            ks = tuple(int(check_range("harmonics", k, 1, 100)) for k in harmonics)
            ks = tuple(k for k in ks if k * f0 < self.sr / 2 - 50) or (1,)
            self._given = HumEstimate(float(f0), ks, tuple(0.0 for _ in ks))
        self._pending: list[Audio] = []
        self._n_pending = 0
        self._decided = False
        self.estimate: HumEstimate | None = None
        self._sos: FloatArray | None = None
        self._zi: FloatArray | None = None

    def _decide(self) -> Audio:
        x = np.concatenate(self._pending, axis=-1) if self._pending else np.zeros((self.channels, 0), np.float32)
        self._pending = []
        self._decided = True
        if x.shape[-1] == 0:
            return x
        self.estimate = self._given or detect_hum(x, self.sr, strong_db=self.strong_db)
        if self.estimate is None:
            return x
        self._sos = _notch_sos(self.estimate, self.sr, self.bandwidth_hz)
        self._zi = self._primed_state(x)
        return self._filter(x)

    def _primed_state(self, x: Audio) -> FloatArray:
        """Filter state after running the notches over the hum extrapolated before t = 0."""
        assert self.estimate is not None
        assert self._sos is not None
        fit_n = min(x.shape[-1], int(0.5 * self.sr))
        pre_n = int(1.0 * self.sr)
        t_fit = np.arange(fit_n) / self.sr
        t_pre = np.arange(-pre_n, 0) / self.sr
        freqs = np.asarray(self.estimate.harmonics, np.float64) * self.estimate.f0_hz
        basis = np.concatenate(
            [np.cos(2 * np.pi * np.outer(t_fit, freqs)), np.sin(2 * np.pi * np.outer(t_fit, freqs))], 1
        )
        basis_pre = np.concatenate(
            [np.cos(2 * np.pi * np.outer(t_pre, freqs)), np.sin(2 * np.pi * np.outer(t_pre, freqs))], 1
        )
        zi = np.zeros((self._sos.shape[0], self.channels, 2))
        for c in range(self.channels):
            coef, *_ = np.linalg.lstsq(basis, x[c, :fit_n].astype(np.float64), rcond=None)
            _, zc = signal.sosfilt(self._sos, basis_pre @ coef, zi=np.zeros((self._sos.shape[0], 2)))
            zi[:, c] = zc
        return zi

    def _filter(self, x: Audio) -> Audio:
        assert self._sos is not None
        assert self._zi is not None
        y, self._zi = signal.sosfilt(self._sos, x.astype(np.float64), axis=-1, zi=self._zi)
        return np.asarray(y, np.float32)

    def process(self, block: Audio) -> Audio:
        """Take a ``(channels, m)`` block, return the ``(channels, k)`` samples now final."""
        x = as_2d(np.asarray(block, np.float32))
        if not self._decided:
            self._pending.append(x.copy())
            self._n_pending += x.shape[-1]
            if self._n_pending < self.detect_s * self.sr:
                return np.zeros((self.channels, 0), np.float32)
            return self._decide()
        if self._sos is None or not x.shape[-1]:  # (an empty block: sosfilt cannot take one)
            return x.copy()
        return self._filter(x)

    def flush(self) -> Audio:
        """Return every sample still held back."""
        if not self._decided:
            return self._decide()
        return np.zeros((self.channels, 0), np.float32)

    def report(self) -> dict[str, Any]:
        """The detected mains frequency (``hum_hz``, ``None`` if none) and notched harmonics."""
        est = self.estimate
        return {
            "step": "hum",
            "hum_hz": None if est is None else round(est.f0_hz, 2),
            "hum_harmonics": [] if est is None else list(est.harmonics),
        }


def remove_hum(audio: Audio, sr: int, *, detect_s: float = 2.0, bandwidth_hz: float = 2.0) -> Audio:
    """Detect mains hum and notch it out; audio without hum is returned unchanged.

    Parameters
    ----------
    audio : ndarray, shape (n,) or (channels, n), float32
        Finite samples, ``n >= 1``.
    sr : int
        Sample rate in Hz, in [8000, 192000].
    detect_s : float
        Seconds analysed before deciding, in [0.25, 30].
    bandwidth_hz : float
        -3 dB width of each notch in Hz, in [0.2, 20].

    Returns
    -------
    ndarray, float32
        Same shape as ``audio``.

    Raises
    ------
    InvalidAudioError
        If ``audio`` is empty, not finite or badly shaped.
    InvalidParameterError
        If a parameter is out of range.

    References
    ----------
    .. [1] A. Nehorai, "A minimal parameter adaptive notch filter with constrained poles
       and zeros," IEEE Trans. ASSP 33(4), 1985.

    Examples
    --------
    >>> sr = 16000
    >>> t = np.arange(2 * sr) / sr
    >>> x = (0.1 * sum(np.sin(2 * np.pi * 60 * k * t) for k in (1, 2, 3))).astype(np.float32)
    >>> bool(np.std(remove_hum(x, sr)[sr:]) < 0.01 * np.std(x))
    True
    """
    audio = valid_audio(audio)
    return run_processor(HumRemover(sr, as_2d(audio).shape[0], detect_s=detect_s, bandwidth_hz=bandwidth_hz), audio)
