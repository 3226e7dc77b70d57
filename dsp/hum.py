"""Mains-hum detection and removal: 50/60 Hz and harmonics, detected from the signal, not assumed.

Detection (:func:`detect_hum`) reads a long, finely resolved spectrum of a stretch of audio;
the mains frequency (near 50 or 60 Hz) is accepted only when several harmonics stand clearly
above their spectral neighbourhood, agree on one fundamental within the grid's tolerance and
keep their level through the stretch.

Removal (:class:`HumRemover`) tracks the recording instead of deciding once: windows of
``detect_s`` seconds (4 by default), one every quarter of that, are analysed in turn, and the
harmonics of the hum found get narrow IIR notches wherever it is found. Hum that starts late (a
fridge, a dimmer, a cable plugged in) is notched from where it starts, hum that stops is no
longer notched once it has stopped, and an opening that misleads one window does not decide the
rest. The decisions have hysteresis: hum is switched on by the strict detection in one window
confirmed by the next, and stays on while its own harmonics still stand half as far (in dB) out
of their neighbourhood and do not vanish; its fundamental is followed as it wanders. A change
of notch set is crossfaded over 0.1 s between two notch cascades that both run with carried
state, the new one settled on the audio before the change (at the start of the file: primed on
the hum extrapolated before it), so a switch makes no click. It streams with a lookahead of
``detect_s`` to ``1.25 * detect_s`` and memory flat in the duration.

The tracking is kept cheap (bench/README.md, "Results: a cheap tracking hum remover"): the
analysis runs on the channels' mean brought down to about 4 kHz, each quarter window's power
spectrum is made once and shared by the four windows that hold it, a window without hum held or
awaiting confirmation gets the full detection only when a screen on those quarter spectra says
hum could be there, and a hum held is checked in full every fourth window (in between: only
whether its lines vanish in a quarter). Where the notch set does not change, one cascade runs
on the audio as the fixed notches did.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.fft
from scipy import signal

from dsp._typing import Audio, FloatArray
from dsp._validate import as_2d, check_block, check_channels, check_range, check_sr, valid_audio
from dsp.errors import InvalidParameterError
from dsp.stream import run_processor

__all__ = ["DETECT_S", "HumEstimate", "HumRemover", "detect_hum", "remove_hum"]

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
#: Length (s) of :class:`HumRemover`'s analysis windows by default. On the 40 hum items of the
#: synthetic DEV corpus of bench/denoise.py the remover alone left the clean speech at 17.2 dB
#: SI-SDR (mean) with 2 s windows, 17.6 with 3 s, 18.2 with 4 s and 17.8 with 6 s (deciding once
#: on the opening: 17.0). Run over every realdev recording it notches no music or noise (the
#: detection over 2 s windows every 0.5 s called two Brahms windows hum), and the JFK broadcast's
#: own 60 Hz hum from 2 s on.
DETECT_S = 4.0
#: Hysteresis of :class:`HumRemover`: hum already notched stays notched while at least two of its
#: harmonics (its one, if it has one) still stand this far (dB) above their neighbourhood within
#: the agreement tolerance of their frequency, and do not vanish in a quarter of the window. Half the
#: 12 dB that switches hum on: a bin of noise stands 6 dB over its neighbourhood's median with
#: probability exp(-ln 2 * 10 ** 0.6) = 6 % (exponentially distributed power), two at once 0.4 %.
_HOLD_DB = 6.0
#: :class:`HumRemover` re-reads the fundamental of the hum it holds in every window and re-tunes
#: the notches when it has moved further than this (Hz): a 2 Hz notch passes a line 0.01 Hz off
#: its centre at -40 dB (``20 log10(2 * 0.01 / 2)``). Mains frequency wanders (the synthetic hum
#: of bench/denoise.py by +-0.05 Hz over 5-20 s; the remover alone on its 40 hum items: 17.8 dB
#: SI-SDR with the fundamental fixed where the hum was found, 18.2 re-tuned), while the reading
#: of a steady hum under speech stays within it (one notch set for 20 s in tests/dsp/test_hum.py).
_RETUNE_HZ = 0.01
#: The analysis windows of :class:`HumRemover` start every ``detect_s / _HOPS``: a quarter, the
#: length of a steadiness segment, so a hum's start or end lies at most one segment inside the
#: first window that wholly holds it, and a notch set applies in steps of this length.
_HOPS = 4
#: Crossfade (s) between two notch sets: 5 periods of 50 Hz. Its raised-cosine ramp spreads each
#: switched hum line by about 1 / 0.1 s = 10 Hz either side, under the 50 Hz between harmonics:
#: a smooth change of level, not a broadband click.
_FADE_S = 0.1
#: A notch set switched on mid-stream is first run over the audio before the switch for as long
#: as its ringing takes to fall 60 dB (6.9 nepers): a notch of -3 dB width B decays as
#: exp(-pi B t) (the pole radius of an iirnotch), so 6.9 / (pi B) s, 1.1 s at 2 Hz.
_SETTLE_NEPERS = 6.9
#: Seconds of audio the notch priming fits the hum's sinusoids on (the first half second).
_FIT_S = 0.5
#: Seconds of extrapolated hum run through a notch set to prime it.
_PRIME_S = 1.0
#: :class:`HumRemover` analyses the channels' mean at about this rate (Hz): the detection reads
#: harmonics up to 24 x 60 = 1440 Hz (and 25 Hz around them), and a 4 s window zero-padded to
#: 8 s is then a 32000-point FFT (64000 at 8 kHz, 384000 at the 48 kHz input rate). The mean is
#: first averaged over runs of ``q1 = sr // 8000`` samples (to 8-16 kHz: a box filter, whose
#: images fold onto the band below 1.5 kHz from ``sr / q1 - 1.5 kHz`` up, 10.7 dB down or more,
#: where speech is weak), then low-passed by an elliptic filter at that rate (order 6, 0.1 dB
#: ripple to 1.5 kHz, 70 dB down from ``_ANALYSIS_HZ - 1.5 kHz``, what folds below 1.5 kHz) and
#: every ``q2``-th sample kept (``q2 = (sr / q1) // _ANALYSIS_HZ``). Filtering at the input rate
#: (a Chebyshev II of order 10 before a decimation to 8 kHz) cost more than the rest of the
#: remover together: 4 ms per 30 s at 16 kHz, 16 ms at 48 kHz.
_ANALYSIS_HZ = 4000
#: :class:`HumRemover` runs the full detection on a window only when the hum could be there: no hum
#: held or waiting for confirmation, the window's four parts' power spectra (1 Hz bins, made once
#: per part, as the steadiness tests need them anyway) are averaged, and the detection is skipped
#: unless, for 50 or 60 Hz, two of the first six harmonics stand ``_SCREEN_DB`` above their
#: neighbourhood (the detection needs two at 12 dB in the 8 s spectrum) or one of the first three
#: stands ``_SCREEN_STRONG_DB`` out (the detection: 30 dB). A line's height over the noise is
#: about 6 dB less in 1 Hz bins than in the 4 s window's (1.71 Hz and 0.43 Hz noise bandwidth of
#: the Blackman-Harris window), and the four parts' mean holds the neighbourhood's median steadier;
#: the margins are set in bench/README.md ("Results: a cheap tracking hum remover").
_SCREEN_DB = 5.0
_SCREEN_STRONG_DB = 15.0
#: ... and only lines that keep their level (the peak bin or a neighbour) in every part within
#: ``_STEADY_DB`` plus this (dB) of their median part, the detection's steadiness with a margin.
_SCREEN_STEADY_DB = 2.0
#: The analysis signal of a quarter is low-passed from this long (s) before it, from rest: the
#: elliptic filter's ringing (its slowest pole decays 60 dB in about 11 ms at 8 kHz) is gone.
_PRE_S = 0.25
#: A hum held gets the full hysteresis check (the window's fine spectrum: its harmonics still
#: standing 6 dB out, its fundamental read again) in every ``_FULL_EVERY``-th window; in the others
#: it is held unless its lines vanish in a quarter (:func:`_gone`, on the quarters' spectra, which
#: catches hum that stops). On the synthetic DEV corpus (bench/denoise.py --limit 42) checking
#: every 4th window instead of every other left the hum rows as they were (one item 0.01 dB
#: lower) and the remover alone went from about 1100x to 1300x real time at 16 kHz with hum.
_FULL_EVERY = 4
#: Report at most this many notched stretches (the rest are counted): bounded report memory.
_MAX_SEGMENTS = 1000


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
    if x.size < sr // 4:
        return None
    x = x - x.mean()
    spec, df = _spectrum(x, sr)
    return _find_hum(
        spec,
        df,
        _Parts(x, sr),
        sr,
        max_harmonic=int(max_harmonic),
        max_freq_hz=max_freq_hz,
        threshold_db=threshold_db,
        strong_db=strong_db,
    )


@functools.lru_cache(maxsize=8)
def _blackman_harris(n: int) -> npt.NDArray[np.float64]:
    """The ``n``-point Blackman-Harris window (periodic, as :func:`scipy.signal.get_window`), read-only."""
    win = np.asarray(signal.get_window("blackmanharris", n), np.float64)
    win.flags.writeable = False
    return win


def _spectrum(x: npt.NDArray[np.float64], sr: float) -> tuple[npt.NDArray[np.float64], float]:
    """Power spectrum of ``x`` (Blackman-Harris window, zero-padded to >= 8 s: <= 0.125 Hz bins), bin width."""
    n = x.size
    nfft = scipy.fft.next_fast_len(max(n, int(8 * sr)), real=True)
    return _power(scipy.fft.rfft(x * _blackman_harris(n), nfft)), sr / nfft


def _power(f: npt.NDArray[np.complex128]) -> npt.NDArray[np.float64]:
    """``abs(f) ** 2`` without the square root."""
    return np.asarray(f.real * f.real + f.imag * f.imag)


def _median(a: npt.NDArray[np.float64]) -> float:
    """``np.median`` of a 1-D array, the same value, without its overhead (it is called per harmonic)."""
    m = a.size // 2
    if a.size % 2:
        return float(np.partition(a, m)[m])
    part = np.partition(a, (m - 1, m))
    return float((part[m - 1] + part[m]) / 2)


def _prominences(
    spec: npt.NDArray[np.float64], df: float, freqs: list[float], spans: list[float]
) -> list[tuple[int, float]]:
    """The strongest bin within ``spans`` (Hz) of each of ``freqs`` (Hz), and its height (dB) over its neighbourhood.

    The neighbourhood is ``f`` +-25 Hz leaving out 3 Hz either side of the peak (its own main
    lobe); the height is over its median. All harmonics at once, as the detection examines many
    in every window: each neighbourhood is a row of one array, padded with +inf, sorted, and its
    median read at the middle of its own length. A peak with no neighbourhood left comes back as
    ``(-1, nan)``.
    """
    if not freqs:
        return []
    guard = int(np.ceil(3.0 / df))
    fk, span = np.asarray(freqs, np.float64), np.asarray(spans, np.float64)
    lo = ((fk - span) / df).astype(np.int64)  # (int() of positive numbers: truncation)
    width = np.ceil((fk + span) / df).astype(np.int64) - lo + 1
    j = np.arange(int(width.max()))
    search = np.where(j < width[:, None], spec[np.clip(lo[:, None] + j, 0, spec.size - 1)], -np.inf)
    peaks = lo + np.argmax(search, axis=1)  # (the first of equal maxima, as np.argmax of the slice)
    start1 = np.maximum(((fk - 25) / df).astype(np.int64), 1)
    n_hi = np.minimum(((fk + 25) / df).astype(np.int64), spec.size)
    len1 = np.maximum(peaks - guard - start1, 0)
    start2 = peaks + guard
    len2 = np.maximum(n_hi - start2, 0)
    lengths = len1 + len2
    j = np.arange(max(int(lengths.max()), 1))
    idx = np.where(j < len1[:, None], start1[:, None] + j, start2[:, None] + j - len1[:, None])
    neigh = np.where(j < lengths[:, None], spec[np.clip(idx, 0, spec.size - 1)], np.inf)
    neigh.sort(axis=1)
    rows = np.arange(fk.size)
    mid = (neigh[rows, np.maximum(lengths - 1, 0) // 2] + neigh[rows, np.minimum(lengths // 2, j.size - 1)]) / 2
    prom = 10 * np.log10(spec[peaks] / np.maximum(mid, 1e-30) + 1e-30)
    return [
        (peak, db) if n else (-1, math.nan)
        for peak, n, db in zip(peaks.tolist(), lengths.tolist(), prom.tolist(), strict=True)
    ]


def _find_hum(
    spec: npt.NDArray[np.float64],
    df: float,
    parts: _Parts,
    sr: float,
    *,
    max_harmonic: int,
    max_freq_hz: float,
    threshold_db: float,
    strong_db: float,
) -> HumEstimate | None:
    """:func:`detect_hum` on the :func:`_spectrum` of audio (mono, mean removed) and its :class:`_Parts`."""
    floor = float(np.max(spec)) * 10 ** (-_DYN_RANGE_DB / 10)
    best: HumEstimate | None = None
    best_score = 0.0
    examined = [
        (mains, k)
        for mains in _MAINS_HZ
        for k in range(1, max_harmonic + 1)
        if k * mains <= min(max_freq_hz, sr / 2 - 50)
    ]
    peaks = _prominences(spec, df, [k * mains for mains, k in examined], [0.6 * k for _, k in examined])
    for mains in _MAINS_HZ:
        harmonics: list[int] = []
        proms: list[float] = []
        f0s: list[float] = []
        weights: list[float] = []
        for (m, k), (peak, prom) in zip(examined, peaks, strict=True):
            if m != mains:
                continue
            if peak >= 0 and prom >= threshold_db and spec[peak] > floor:
                harmonics.append(k)
                proms.append(prom)
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
            if not _steady(parts, f0, kept_ks):
                continue
            best = HumEstimate(round(f0, 3), tuple(kept_ks), tuple(round(proms[i], 1) for i in keep))
            best_score = score
    return best


def _standing(spec: npt.NDArray[np.float64], df: float, est: HumEstimate) -> list[int]:
    """The harmonics of ``est`` that still stand out: the hysteresis of :class:`HumRemover`.

    Each is sought within ``_F0_TOL_HZ`` per harmonic number (plus a bin) of ``k * f0``, and
    counts when it stands ``_HOLD_DB`` above its neighbourhood and above the dynamic-range floor.
    """
    floor = float(np.max(spec)) * 10 ** (-_DYN_RANGE_DB / 10)
    ks = list(est.harmonics)
    found = _prominences(spec, df, [k * est.f0_hz for k in ks], [_F0_TOL_HZ * k + df for k in ks])
    return [
        k for k, (peak, prom) in zip(ks, found, strict=True) if peak >= 0 and prom >= _HOLD_DB and spec[peak] > floor
    ]


def _refined(spec: npt.NDArray[np.float64], df: float, est: HumEstimate) -> HumEstimate:
    """``est`` with its fundamental read between the bins: each harmonic's peak interpolated.

    :func:`detect_hum` reads each harmonic's frequency to the bin (0.125 Hz at most, so the
    fundamental to about 0.06 Hz / k); a 2 Hz notch passes a line 0.01 Hz off centre at -40 dB
    only (``20 log10(2 * 0.01 / 2)``). A parabola through the log power of the peak bin and its
    neighbours places the peak to a small fraction of a bin (Smith and Serra, "PARSHL", 1987).
    The fundamental is read from the strongest harmonic alone: averaging in the weaker ones let
    voice partials beside them pull it off by thousandths of a hertz (on the test signals of
    tests/dsp/test_hum.py, a 50.00 Hz hum notched by 50 dB instead of 68).
    """
    f0s, weights = [], []
    for k in est.harmonics:
        fk = k * est.f0_hz
        tol = _F0_TOL_HZ * k + df
        lo, hi = max(int((fk - tol) / df), 1), min(int(np.ceil((fk + tol) / df)), spec.size - 2)
        p = lo + int(np.argmax(spec[lo : hi + 1]))
        a, b, c = np.log(spec[p - 1 : p + 2] + 1e-300)
        den = a - 2 * b + c
        shift = 0.5 * (a - c) / den if den < 0 else 0.0
        f0s.append((p + float(np.clip(shift, -0.5, 0.5))) * df / k)
        weights.append(float(spec[p]))
    f0 = f0s[int(np.argmax(weights))]
    if abs(f0 - est.f0_hz) > _F0_TOL_HZ:  # (not the same peaks: keep the detection's reading)
        return est
    return HumEstimate(round(f0, 4), est.harmonics, est.prominence_db)


class _Parts:
    """The power spectra of the ``_STEADY_SEGMENTS`` parts of ``x`` (<= 1 Hz bins), made once, when first asked for.

    Parts shorter than 0.125 s cannot resolve the harmonics: then there are none (``spectra`` is None).
    :meth:`given` wraps spectra made beforehand (:class:`HumRemover` makes each part's once, for
    the four windows that hold it).
    """

    def __init__(self, x: npt.NDArray[np.float64], sr: float) -> None:
        self.x = x
        self.sr = sr
        self._spectra: list[npt.NDArray[np.float64]] | None = None
        self._df = 0.0

    @classmethod
    def given(cls, spectra: list[npt.NDArray[np.float64]], df: float) -> _Parts:
        parts = cls(np.zeros(0), 0.0)
        parts._spectra, parts._df = spectra, df
        return parts

    @property
    def spectra(self) -> tuple[list[npt.NDArray[np.float64]], float] | None:
        if self._df:
            assert self._spectra is not None
            return self._spectra, self._df
        seg = self.x.size // _STEADY_SEGMENTS
        if seg < self.sr // 8:
            return None
        nfft = _part_nfft(seg, self.sr)
        if self._spectra is None:
            frames = self.x[: seg * _STEADY_SEGMENTS].reshape(_STEADY_SEGMENTS, seg) * _blackman_harris(seg)
            self._spectra = list(_power(scipy.fft.rfft(frames, nfft, axis=-1)))
        return self._spectra, self.sr / nfft


def _part_nfft(seg: int, sr: float) -> int:
    """FFT length for a steadiness part of ``seg`` samples at ``sr`` Hz: zero-padded to >= 1 s (<= 1 Hz bins)."""
    return int(scipy.fft.next_fast_len(max(seg, math.ceil(sr)), real=True))


def _gone(parts: _Parts, f0: float, harmonics: list[int]) -> bool:
    """Whether the tones at ``k * f0`` vanish in a part of the audio while standing out in the others.

    The audio is cut into ``_STEADY_SEGMENTS`` parts (:class:`_Parts`); in each, the tones'
    power (every harmonic's strongest bin within 1 Hz of ``k * f0``, summed) is divided by their
    neighbourhoods' (the median of +-25 Hz, leaving out +-3 Hz, summed). Gone: in some part that
    ratio is under ``_HOLD_DB`` (about what noise alone reads, 3 dB) and ``_STEADY_DB`` under the
    parts' median. Unlike :func:`_steady`, voice partials passing through a tone's bins (which
    raise its power in some parts) do not make it look gone; hum that stops inside does.
    """
    found = parts.spectra
    if found is None or not harmonics:
        return False
    spectra, df = found
    spec = np.stack(spectra)  # (parts, bins)
    fk = np.asarray(harmonics, np.float64) * f0
    lo = np.maximum((fk - 1.0) / df, 0).astype(np.int64)
    hi = np.ceil((fk + 1.0) / df).astype(np.int64)
    j = np.arange(int((hi - lo).max()) + 1)
    near = np.minimum(lo[:, None] + j, spec.shape[1] - 1)
    line = np.where(j <= (hi - lo)[:, None], spec[:, near], 0.0).max(axis=2).sum(axis=1)  # (parts,)
    guard, centre = int(np.ceil(3.0 / df)), np.round(fk / df).astype(np.int64)
    n_lo = np.maximum(((fk - 25) / df).astype(np.int64), 1)
    n_hi = np.minimum(((fk + 25) / df).astype(np.int64), spec.shape[1])
    len1, start2 = np.maximum(centre - guard - n_lo, 0), centre + guard
    lengths = len1 + np.maximum(n_hi - start2, 0)
    j = np.arange(int(lengths.max()))
    idx = np.minimum(
        np.where(j < len1[:, None], n_lo[:, None] + j, start2[:, None] + j - len1[:, None]), spec.shape[1] - 1
    )
    hood = np.where(j < lengths[:, None], spec[:, idx], np.inf)  # (parts, harmonics, bins), padded
    hood.sort(axis=2)
    k = np.arange(fk.size)
    neigh = ((hood[:, k, (lengths - 1) // 2] + hood[:, k, lengths // 2]) / 2).sum(axis=1)
    ratios = 10 * np.log10(line / np.maximum(neigh, 1e-30) + 1e-30)
    low = float(ratios.min())
    return bool(low < _HOLD_DB and low < float(np.median(ratios)) - _STEADY_DB)


def _steady(parts: _Parts, f0: float, harmonics: list[int]) -> bool:
    """Whether the tones at ``k * f0`` keep their level through the audio (mains hum does).

    The audio is cut into ``_STEADY_SEGMENTS`` parts (:class:`_Parts`); in each, the power of
    every harmonic is read at its strongest bin within 1 Hz of ``k * f0`` and summed. A part more
    than ``_STEADY_DB`` below the median of the parts means the tone stops (a note, a gated test
    tone): not hum. Parts shorter than 0.125 s cannot resolve the harmonics, and the answer is
    then yes.
    """
    found = parts.spectra
    if found is None:
        return True
    spectra, df = found
    levels = []
    for spec in spectra:
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


def _same(a: HumEstimate | None, b: HumEstimate | None) -> bool:
    """Whether two detections are one hum: fundamentals within the harmonics' agreement tolerance."""
    return a is not None and b is not None and abs(a.f0_hz - b.f0_hz) <= _F0_TOL_HZ


def _key(est: HumEstimate | None) -> tuple[float, tuple[int, ...]] | None:
    """What a notch set is made of: the fundamental and the harmonics."""
    return None if est is None else (est.f0_hz, est.harmonics)


class _Notches:
    """One notch cascade (a section per harmonic of ``est``) with its carried state.

    ``zi`` is the :func:`scipy.signal.sosfilt` state, shape ``(sections, channels, 2)``.
    """

    def __init__(self, est: HumEstimate, sos: FloatArray, zi: FloatArray) -> None:
        self.est = est
        self.sos = sos
        self.zi = zi

    def run(self, x: Audio) -> Audio:
        """Filter ``(channels, m)`` samples on from the carried state."""
        if not x.shape[-1]:  # (sosfilt cannot take an empty block)
            return x.astype(np.float32, copy=True)
        y, self.zi = signal.sosfilt(self.sos, x.astype(np.float64), axis=-1, zi=self.zi)
        return np.asarray(y, np.float32)


class _Stretch:
    """Samples notched with one harmonic set: from ``start`` to ``stop``, and the fundamentals used."""

    def __init__(self, start: int, est: HumEstimate) -> None:
        self.start = self.stop = start
        self.harmonics = est.harmonics
        self.last = est
        self.n = 0
        self._f0_sum = 0.0
        self.lo_hz = self.hi_hz = est.f0_hz

    def add(self, a: int, b: int, f0_hz: float) -> None:
        self.stop = b
        self.n += b - a
        self._f0_sum += f0_hz * (b - a)
        self.lo_hz, self.hi_hz = min(self.lo_hz, f0_hz), max(self.hi_hz, f0_hz)
        self.last = HumEstimate(f0_hz, self.harmonics, self.last.prominence_db)

    @property
    def mean_hz(self) -> float:
        return self._f0_sum / max(self.n, 1)


class HumRemover:
    """Streaming mains-hum remover that tracks where the hum is: analysis windows, notches, crossfades.

    Implements :class:`dsp.stream.BlockProcessor`. Windows of ``detect_s`` seconds, starting
    every ``detect_s / 4``, are analysed in turn over the channels' mean (one decision, one notch
    set for all channels; brought down to about 4 kHz, ``_ANALYSIS_HZ``, as the detection reads
    below 1.5 kHz), and the audio is cut into
    cells of ``detect_s / 4`` that each get the notch set of the latest window overlapping them
    that holds hum (none: the cell passes through unchanged, bit for bit).

    Hum is switched on by the detection (:func:`detect_hum`'s rules: harmonics 12 dB out of
    their neighbourhood agreeing on a fundamental within 0.4 % of 50 or 60 Hz, steady through
    the window) in one window, confirmed by the next: found there again (a fundamental within
    0.12 Hz), or holding there as below (not a hum that first window let go of: that one only if
    found again). Both windows then hold it as the first found it: its harmonics, and its
    fundamental read between the bins from the strongest one (a recording short enough for one
    window is decided on that window alone). A window holds the hum the window before held while
    at least two of its harmonics (its one, if it has only one) still stand 6 dB out of their
    neighbourhood, or the detection finds the same fundamental, and they do not vanish in a
    quarter of the window while standing out in the others (hysteresis: 12 dB to switch on, 6 dB
    to stay on; hum that stops inside a window is let go there). While the hum held holds, the
    detection is not run; its fundamental is read again (from its strongest harmonic) and the
    notches re-tuned when it has moved more than 0.01 Hz (mains frequency wanders; 0.01 Hz off,
    a 2 Hz notch is -40 dB). In three windows out of four (``_FULL_EVERY``) a hum held is only
    checked for vanishing in a quarter (on the quarters' spectra, 1 Hz bins): if it does not, the
    window holds it as it is, without the fine spectrum. A window with no hum held and none awaiting
    confirmation runs the detection only when a screen on its quarters' mean spectrum passes: for
    50 or 60 Hz, two of the first six harmonics ``_SCREEN_DB`` out, or one of the first three
    ``_SCREEN_STRONG_DB`` out, and steady through the quarters (``windows_screened_out`` counts
    the windows it spared). An even window first screens the three quarters it shares with the
    next one (a hum either window could take is steady in them): if they do not pass, neither
    window is screened on its own. The opening window is screened too (:attr:`estimate` is then
    None, as the detection would have found).

    So hum is notched from the quarter it starts in (the next one, if it starts in the last
    tenth of it) to the end of the quarter it stops in (a faint hum may be held a window
    longer). When the hum held no longer holds (it stopped, or its fundamental moved further
    than the search allows), a detection of another fundamental, confirmed by the next window,
    replaces the notch set. Where the set changes, the output crossfades over 0.1 s (raised
    cosine, at the start of the cell) from the old cascade, or the input, to the new one. Every
    cascade runs with carried state, and a new one is first run over up to
    ``6.9 / (pi * bandwidth_hz)`` s of the audio before the change (its ringing falls 60 dB in
    that time), primed on the hum fitted over its first 0.5 s and extrapolated 1 s back (at the
    start of the file: no settling transient). The output is the same whatever the block sizes; a sample
    comes out ``detect_s`` to ``1.25 * detect_s`` seconds of input after it went in (or at
    :meth:`flush`), and the memory (a window, a cell and the settling history) is flat in the
    duration.

    Parameters
    ----------
    sr : int
        Sample rate in Hz, in [8000, 192000].
    channels : int
        Channel count, >= 1.
    detect_s : float
        Length of each analysis window in seconds, in [0.25, 30] (:data:`DETECT_S`, 4 s, by
        default); windows start every quarter of it.
    bandwidth_hz : float
        -3 dB width of each notch in Hz, in [0.2, 20].
    strong_db : float
        :func:`detect_hum`'s ``strong_db`` (one harmonic this prominent makes hum), in [12, 60].
    hum_hz, harmonics : float and sequence of int, optional
        A hum found beforehand (by an analysis of the whole recording): notched throughout,
        without a detection of its own. ``hum_hz`` within 40-70 Hz, harmonics from 1 to 100
        (only with ``hum_hz``: without it the detection finds the harmonics, and a list is refused).

    Attributes
    ----------
    estimate : HumEstimate or None
        What the detection found in the opening window (the first ``detect_s`` seconds, its
        fundamental read to the bin as :func:`detect_hum` does), or the given hum; None before
        that window is in, or when the screen spared it the detection (no hum could be there).
        Where hum was notched, with which fundamental and harmonics, is in :meth:`report`.
    windows_screened_out : int
        Windows decided without the detection, their screen saying no hum could be there.

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
    >>> t = np.arange(10 * sr) / sr
    >>> hum = 0.1 * sum(np.sin(2 * np.pi * 50 * k * t) / k for k in (1, 2, 3)) * (t >= 4)
    >>> x = hum.astype(np.float32)  # silence, then hum from 4 s on
    >>> h = HumRemover(sr, 1)
    >>> y = np.concatenate([h.process(x[None, :5000]), h.process(x[None, 5000:]), h.flush()], axis=-1)
    >>> y.shape, [(s["start_s"], s["end_s"], s["hum_hz"], s["harmonics"]) for s in h.report()["hum_segments"]]
    ((1, 80000), [(4.0, 10.0, 50.0, [1, 2, 3])])
    >>> bool(np.std(y[0, 5 * sr :]) < 0.01 * np.std(x[5 * sr :]))
    True
    """

    def __init__(
        self,
        sr: int,
        channels: int,
        *,
        detect_s: float = DETECT_S,
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
        # each harmonic once, in order (a list of 120,000 ones notched the same line 120,000
        # times, in gigabytes of filter state)
        ks = tuple(sorted({int(check_range("harmonics", k, 1, 100)) for k in harmonics}))
        if ks and hum_hz is None:
            # (the detection finds which harmonics a hum has; a list it would ignore must not be
            # taken as if it had been applied)
            raise InvalidParameterError(
                "harmonics applies only with hum_hz (without it the detection finds the hum's "
                "harmonics itself): give hum_hz as well, or leave harmonics out"
            )
        if hum_hz is not None:
            f0 = check_range("hum_hz", hum_hz, 40.0, 70.0)
            ks = tuple(k for k in ks if k * f0 < self.sr / 2 - 50) or (1,)
            self._given = HumEstimate(float(f0), ks, tuple(0.0 for _ in ks))
        # the analysis rate: sr / (q1 * q2), about _ANALYSIS_HZ (box filter by q1, elliptic low-pass, every q2-th)
        self._q1 = max(self.sr // (2 * _ANALYSIS_HZ), 1)
        self._q2 = max(int(self.sr / self._q1 // _ANALYSIS_HZ), 1)
        self._q = self._q1 * self._q2
        self._sr_a = self.sr / self._q
        self._lowpass = signal.ellip(6, 0.1, 70, 1500.0, fs=self.sr / self._q1, output="sos")
        # samples per cell and window step, a multiple of q
        self._hop = self._q * max(round(self.detect_s * self.sr / (_HOPS * self._q)), 1)  # (a quarter: _HOPS = 4)
        self._win = _HOPS * self._hop  # samples per analysis window
        self._fade = min(round(_FADE_S * self.sr), self._hop)
        n = np.arange(self._fade)
        self._ramp = 0.5 - 0.5 * np.cos(np.pi * (n + 0.5) / self._fade)  # new set's share, 0 -> 1
        self._settle = math.ceil(_SETTLE_NEPERS / (np.pi * self.bandwidth_hz) * self.sr)
        # input: the blocks (absolute start index, samples) from the oldest still needed on
        self._blocks: list[tuple[int, Audio]] = []
        self._n_in = 0
        # the screen's signal (the channels' mean, box-summed by q): its pieces (absolute start index, samples)
        self._spieces: list[tuple[int, npt.NDArray[np.float64]]] = []
        self._n_s = 0
        self._box_rest = np.zeros((self.channels, 0), np.float32)  # the input not yet summed (fewer than q samples)
        # the analysis signal is made per quarter from the input, the low-pass run from _pre samples before
        self._pre = min(self._q * round(_PRE_S * self.sr / self._q), self._hop)
        self._clean: dict[int, npt.NDArray[np.float64]] = {}  # part index -> its analysis samples
        # power spectra of the analysis signal's parts (a window step each), by part index
        self._part_n = self._win // (_STEADY_SEGMENTS * self._q)
        self._part_nfft = _part_nfft(self._part_n, self._sr_a)
        self._part_specs: dict[int, npt.NDArray[np.float64]] = {}
        self._screen_specs: dict[int, npt.NDArray[np.float64]] = {}
        # the screen's tables: per low harmonic, the bins searched and its neighbourhood's bins
        df_p = self._sr_a / self._part_nfft
        screened = [
            (mains, k) for mains in _MAINS_HZ for k in range(1, _LOW_HARMONICS + 1) if k * mains + 25 < self._sr_a / 2
        ]
        self._screen_ks = np.asarray([k for _, k in screened])
        self._screen_masks = [np.asarray([m == mains for m, _ in screened]) for mains in _MAINS_HZ]
        self._screen_rows = np.arange(len(screened))
        span = max(int(np.ceil((0.6 * _LOW_HARMONICS + df_p) / df_p)), 1)
        guard = int(np.ceil((0.6 * _LOW_HARMONICS + 3.0) / df_p)) + span
        reach = int(25.0 / df_p)
        centre = np.asarray([round(m * k / df_p) for m, k in screened], np.int64)
        widths = np.asarray([int(np.ceil((0.6 * k + df_p) / df_p)) for _, k in screened], np.int64)
        j = np.arange(-span, span + 1)
        self._screen_search = centre[:, None] + np.clip(j, -widths[:, None], widths[:, None])
        hood = np.concatenate([np.arange(-reach, -guard), np.arange(guard + 1, reach + 1)])
        self._screen_hood = centre[:, None] + hood
        self._screen_bins = np.concatenate([self._screen_search, self._screen_hood], axis=1)
        self.windows_screened_out = 0  # windows whose full detection the screen spared
        self._paired_out = -2  # the screen of window i - 1 and i's shared quarters said no (i - 1 and i)
        self._done = False
        # decisions: window index -> the hum it holds (the end window, if any, comes last)
        self._held: dict[int, HumEstimate | None] = {}
        self._n_windows = 0  # windows decided
        self._end: tuple[int, int] | None = None  # the end window's span, at flush
        self._cur: HumEstimate | None = None  # the hum held by the last window decided
        self._cand: HumEstimate | None = None  # a new hum the last window found, to be confirmed
        self._cand_dropped = False  # whether that window let go of the same hum
        self.estimate: HumEstimate | None = None
        # output: the next cell, the notch set applied to the last one and its cascade
        self._cell = 0
        self._set: HumEstimate | None = None
        self._notches: _Notches | None = None
        self._segments: list[_Stretch] = []  # the notched stretches, in order
        self._segments_dropped = 0
        self._sets: dict[tuple[int, tuple[int, ...]], _Stretch] = {}  # per mains and harmonic set, all stretches

    # ------------------------------------------------------------------ input
    def _take(self, a: int, b: int) -> Audio:
        """Input samples ``[a, b)`` (absolute indices), shape ``(channels, b - a)``: a view if one block holds them."""
        pieces = []
        for start, blk in self._blocks:
            end = start + blk.shape[-1]
            if end <= a:
                continue
            if start >= b:
                break
            pieces.append(blk[:, max(a - start, 0) : b - start])
        if len(pieces) == 1:
            return pieces[0]
        return np.concatenate(pieces, axis=-1) if pieces else np.zeros((self.channels, 0), np.float32)

    def _box(self, x: Audio, q: int) -> npt.NDArray[np.float64]:
        """The channels' mean over consecutive runs of ``q`` samples (a rest shorter than ``q`` is dropped).

        Summed in float32 (its rounding lies some 140 dB under the signal, the detection reads 70 dB
        of range), in a fixed order whatever the blocks: strided adds, several times faster than
        a mean over the channels then a sum over a short axis.
        """
        n = x.shape[-1] // q * q
        m = x[0, :n].copy() if x.shape[0] > 1 or q == 1 else x[0, :n]
        for c in range(1, x.shape[0]):
            m += x[c, :n]
        acc = m[0:n:q].copy() if q > 1 else m
        for j in range(1, q):
            acc += m[j:n:q]
        return np.asarray(acc.astype(np.float64) * (1.0 / (q * x.shape[0])))

    def _feed(self, x: Audio) -> None:
        """Add a block to the screen's signal: the channels' mean, averaged over runs of q samples."""
        if self._box_rest.shape[-1]:
            x = np.concatenate([self._box_rest, x], axis=-1)
        n = x.shape[-1] // self._q * self._q
        self._box_rest = x[:, n:].copy()
        if n:
            self._spieces.append((self._n_s, self._box(x[:, :n], self._q)))
            self._n_s += n // self._q

    def _lowband(self, s: int, e: int) -> npt.NDArray[np.float64]:
        """The analysis signal from input sample ``s`` (a multiple of q) to ``e``: q1-means, low-passed, every q2-th.

        The low-pass starts at rest at ``s``; its ringing has died out ``_PRE_S`` later.
        """
        m = self._box(self._take(s, e), self._q1)
        if not m.size:
            return m
        return np.asarray(signal.sosfilt(self._lowpass, m)[:: self._q2])

    def _analysed(self, a: int, b: int) -> npt.NDArray[np.float64]:
        """The analysis signal of input samples ``[a, b)``, mean removed (the samples at multiples of q)."""
        ia = -(-a // self._q)
        s = max(ia * self._q - self._pre, 0)
        x = self._lowband(s, b)[ia - s // self._q :]
        x = x[: -(-b // self._q) - ia]
        return x - x.mean() if x.size else x

    def _part(self, p: int) -> npt.NDArray[np.float64]:
        """The analysis samples of quarter ``p`` (input ``[p * hop, (p + 1) * hop)``), made once."""
        if p not in self._clean:
            a = p * self._hop
            s = max(a - self._pre, 0)
            self._clean[p] = self._lowband(s, a + self._hop)[(a - s) // self._q :]
        return self._clean[p]

    def _window(self, i: int) -> npt.NDArray[np.float64]:
        """The analysis signal of window ``i`` (on the step grid), mean removed."""
        x = np.concatenate([self._part(p) for p in range(i, i + _STEADY_SEGMENTS)])
        return np.asarray(x - x.mean())

    def _spectra_of(
        self, specs: dict[int, npt.NDArray[np.float64]], i: int, clean: bool, count: int = _STEADY_SEGMENTS
    ) -> list[npt.NDArray[np.float64]]:
        out = []
        for p in range(i, i + count):
            if p not in specs:
                if clean:
                    seg = self._part(p)
                    seg = (seg - seg.mean()) * _blackman_harris(self._part_n)
                else:  # (the screen reads from 25 Hz up: the mean's leakage, 92 dB down from 4 Hz on, is left)
                    ia = p * self._part_n
                    ib = ia + self._part_n
                    pieces = [v[max(ia - j, 0) : ib - j] for j, v in self._spieces if j < ib and j + v.size > ia]
                    seg = (pieces[0] if len(pieces) == 1 else np.concatenate(pieces)) * _blackman_harris(self._part_n)
                specs[p] = _power(scipy.fft.rfft(seg, self._part_nfft))
            out.append(specs[p])
        return out

    def _part_spectra(self, i: int) -> list[npt.NDArray[np.float64]]:
        """The power spectra of window ``i``'s quarters (parts ``i`` to ``i + 3``) of the analysis signal, made once."""
        return self._spectra_of(self._part_specs, i, True)

    def _screen_spectra(self, i: int) -> list[npt.NDArray[np.float64]]:
        """The same of the screen's signal (q-means: no low-pass, cheap, for the screen only)."""
        return self._spectra_of(self._screen_specs, i, False)

    def _screen(self, spectra: list[npt.NDArray[np.float64]]) -> bool:
        """Whether the full detection could find hum in the window of these parts (the class notes)."""
        mean = spectra[0] + spectra[1]
        for spec in spectra[2:]:
            mean += spec
        read = mean[self._screen_bins]  # (lines, searched bins then neighbourhood)
        w = self._screen_search.shape[1]
        peaks = self._screen_search[self._screen_rows, np.argmax(read[:, :w], axis=1)]
        n = self._screen_hood.shape[1]
        hood = np.partition(read[:, w:], ((n - 1) // 2, n // 2), axis=1)
        ratio = 2 * mean[peaks] / np.maximum(hood[:, (n - 1) // 2] + hood[:, n // 2], 1e-300)  # (over the median)
        lines = ratio >= 10 ** (_SCREEN_DB / 10)
        strong = (ratio >= 10 ** (_SCREEN_STRONG_DB / 10)) & (self._screen_ks <= 3)
        if not any(np.count_nonzero(lines & m) >= 2 or np.any(strong & m) for m in self._screen_masks):
            return False  # (most windows: no need to look at the lines' levels part by part)
        # each line's level in each part (its peak bin or a neighbour), steady as the detection wants
        parts = np.stack(spectra)
        level = np.sort(parts[:, peaks[:, None] + np.arange(-1, 2)].max(axis=2), axis=0)  # (parts, lines)
        k = len(spectra)
        median = (level[(k - 1) // 2] + level[k // 2]) / 2
        steady = level[0] >= median * 10 ** (-(_STEADY_DB + _SCREEN_STEADY_DB) / 10)
        return any(np.count_nonzero(lines & steady & m) >= 2 or np.any(strong & steady & m) for m in self._screen_masks)

    # ------------------------------------------------------------------ decisions
    def _decide(self, a: int, b: int) -> None:
        """Decide the next window, input samples ``[a, b)``: the state machine of the class notes."""
        i = self._n_windows
        self._n_windows += 1
        if self._given is not None:
            self.estimate = self._cur = self._held[i] = self._given
            return
        # a window on the step grid has its parts' spectra made once (else: the end window, made here)
        on_grid = a == i * self._hop and b - a == self._win and self._part_n >= self._sr_a // 8
        quiet = on_grid and self._cur is None and self._cand is None
        # (an even window first screens the three quarters it shares with the next: hum either could take
        # is steady in them; if not there, neither window gets a screen of its own)
        shared = (
            self._spectra_of(self._screen_specs, i + 1, False, _STEADY_SEGMENTS - 1) if quiet and i % 2 == 0 else []
        )
        if shared and not self._screen(shared):
            self._paired_out = i + 1
        if quiet and (i in (self._paired_out, self._paired_out - 1) or not self._screen(self._screen_spectra(i))):
            self.windows_screened_out += 1
            self._cand_dropped = False
            self._cur = self._held[i] = None
            return
        if on_grid and i % _FULL_EVERY and self._cur is not None and self._cand is None:
            # three windows in four, a hum held stays held unless its lines vanish in a quarter of the window
            held = self._cur
            if not _gone(
                _Parts.given(self._part_spectra(i), self._sr_a / self._part_nfft), held.f0_hz, list(held.harmonics)
            ):
                self._cand_dropped = False
                self._held[i] = held
                return
        x = self._window(i) if on_grid else self._analysed(a, b)
        if x.size < self._sr_a // 4:  # (detect_hum's shortest input)
            self._held[i] = None
            return
        spec, df = _spectrum(x, self._sr_a)
        # (shared by the detection's and the hysteresis's level tests)
        parts = _Parts.given(self._part_spectra(i), self._sr_a / self._part_nfft) if on_grid else _Parts(x, self._sr_a)

        def detect() -> HumEstimate | None:
            est = _find_hum(
                spec,
                df,
                parts,
                self._sr_a,
                max_harmonic=24,
                max_freq_hz=2000.0,
                threshold_db=12.0,
                strong_db=self.strong_db,
            )
            if i == 0:
                self.estimate = est
            return None if est is None else _refined(spec, df, est)

        # the detection runs unless a hum is held and holds (which is most of a humming file)
        cur = dropped = self._cur
        found = detect() if cur is None or i == 0 else None
        searched = cur is None or i == 0
        if cur is not None:
            standing = _standing(spec, df, cur)
            holds = len(standing) >= min(2, len(cur.harmonics))
            if not holds and not searched:
                found, searched = detect(), True
            if not (holds or _same(found, cur)) or _gone(parts, cur.f0_hz, standing or list(cur.harmonics)):
                cur = None
                if not searched:
                    found = detect()
            else:
                moved = _refined(spec, df, cur)  # (the same harmonics, the fundamental read again)
                if abs(moved.f0_hz - cur.f0_hz) > _RETUNE_HZ:
                    cur = moved
        new = found if found is not None and not _same(found, cur) else None
        cand = self._cand  # found by the window before, to be confirmed by this one
        if cand is not None and cur is None:
            standing = _standing(spec, df, cand)
            if _same(new, cand) or (
                not self._cand_dropped  # (a hum just let go is taken back only on a detection)
                and len(standing) >= min(2, len(cand.harmonics))
                and not _gone(parts, cand.f0_hz, standing)  # (nor one that starts inside this window)
            ):
                cur = self._held[i - 1] = cand  # confirmed: held by both windows, as the first found it
                new = None
        self._cand = new
        self._cand_dropped = new is not None and cur is None and _same(new, dropped)
        self._cur = self._held[i] = cur

    def _cell_set(self, c: int) -> HumEstimate | None:
        """The notch set of cell ``c``: the latest window overlapping it that holds hum."""
        last = min(c, self._n_windows - 1 - (self._end is not None))
        ends = [self._n_windows - 1] if self._end is not None and c * self._hop + self._win > self._n_in else []
        for i in ends + list(range(last, max(c - _HOPS, -1), -1)):
            if self._held.get(i) is not None:
                return self._held[i]
        return None

    # ------------------------------------------------------------------ output
    def _primed(self, est: HumEstimate, a: int) -> _Notches:
        """A cascade for ``est`` whose state is that after the input up to sample ``a``.

        It is run from ``a - settle`` (or the start), primed there on the hum's sinusoids fitted
        over the next ``_FIT_S`` seconds and extrapolated ``_PRIME_S`` seconds back.
        """
        sos = _notch_sos(est, self.sr, self.bandwidth_hz)
        s = max(a - self._settle, 0)
        fit_n = min(int(_FIT_S * self.sr), self._win, self._n_in - s)
        fit = self._take(s, s + fit_n)
        pre_n = int(_PRIME_S * self.sr)
        t_fit = np.arange(fit_n) / self.sr
        t_pre = np.arange(-pre_n, 0) / self.sr
        freqs = np.asarray(est.harmonics, np.float64) * est.f0_hz
        basis = np.concatenate(
            [np.cos(2 * np.pi * np.outer(t_fit, freqs)), np.sin(2 * np.pi * np.outer(t_fit, freqs))], 1
        )
        basis_pre = np.concatenate(
            [np.cos(2 * np.pi * np.outer(t_pre, freqs)), np.sin(2 * np.pi * np.outer(t_pre, freqs))], 1
        )
        zi = np.zeros((sos.shape[0], self.channels, 2))
        for c in range(self.channels):
            coef, *_ = np.linalg.lstsq(basis, fit[c].astype(np.float64), rcond=None)
            _, zc = signal.sosfilt(sos, basis_pre @ coef, zi=np.zeros((sos.shape[0], 2)))
            zi[:, c] = zc
        notches = _Notches(est, sos, zi)
        if a > s:
            notches.run(self._take(s, a))
        return notches

    def _emit(self, c: int, stop: int) -> Audio:
        """Cell ``c`` (input samples ``[c * hop, stop)``) through its notch set, crossfaded at a change."""
        a = c * self._hop
        x = self._take(a, stop)
        est = self._cell_set(c)
        if _key(est) == _key(self._set):
            y = self._notches.run(x) if self._notches is not None else x  # (a view: _ready's concatenation copies)
        else:
            new = self._primed(est, a) if est is not None else None
            y = new.run(x) if new is not None else x.copy()
            f = min(self._fade, x.shape[-1]) if a else 0  # (nothing came out before the first cell)
            old = self._notches.run(x[:, :f]) if self._notches is not None else x[:, :f]
            g = self._ramp[:f]
            y[:, :f] = (old * (1 - g) + y[:, :f] * g).astype(np.float32)
            self._set, self._notches = est, new
        if est is not None:
            key = (50 if est.f0_hz < 55 else 60, est.harmonics)
            if key not in self._sets and len(self._sets) < _MAX_SEGMENTS:
                self._sets[key] = _Stretch(a, est)
            if key in self._sets:
                self._sets[key].add(a, stop, est.f0_hz)
            last = self._segments[-1] if self._segments else None
            if last is not None and last.stop == a and last.harmonics == est.harmonics and _same(last.last, est):
                last.add(a, stop, est.f0_hz)  # (the same hum, perhaps re-tuned)
            elif len(self._segments) < _MAX_SEGMENTS:
                self._segments.append(_Stretch(a, est))
                self._segments[-1].add(a, stop, est.f0_hz)
            else:
                self._segments_dropped += 1
        return y

    def _ready(self, final: bool) -> Audio:
        """Emit every cell whose windows are all decided, then drop the input no longer needed."""
        out = []
        while True:
            a = self._cell * self._hop
            if final:
                if a >= self._n_in:
                    break
            elif self._cell + 2 > self._n_windows:  # (the window after the cell's last may confirm it)
                break
            out.append(self._emit(self._cell, min(a + self._hop, self._n_in)))
            self._cell += 1
        # (the next cell's settling history, the analysis of the quarter before the next window)
        keep = max(min(self._cell * self._hop - self._settle, (self._n_windows - 1) * self._hop - self._pre), 0)
        while self._blocks and self._blocks[0][0] + self._blocks[0][1].shape[-1] <= keep:
            del self._blocks[0]
        if len(self._blocks) > 32:  # (many small blocks: one, so that _take stays short)
            self._blocks = [(self._blocks[0][0], np.concatenate([blk for _, blk in self._blocks], axis=-1))]
        keep = self._n_windows * self._part_n
        while self._spieces and self._spieces[0][0] + self._spieces[0][1].size <= keep:
            del self._spieces[0]
        if len(self._spieces) > 32:
            self._spieces = [(self._spieces[0][0], np.concatenate([v for _, v in self._spieces]))]
        for i in [i for i in self._held if i < self._cell - _HOPS]:
            del self._held[i]
        for cache in (self._part_specs, self._screen_specs, self._clean):
            for p in [p for p in cache if p < self._n_windows]:
                del cache[p]
        return np.concatenate(out, axis=-1) if out else np.zeros((self.channels, 0), np.float32)

    # ------------------------------------------------------------------ BlockProcessor
    def process(self, block: Audio) -> Audio:
        """Take a ``(channels, m)`` block, return the ``(channels, k)`` samples now final."""
        x = check_block(block, self.channels)
        if x.shape[-1]:
            self._blocks.append((self._n_in, x.copy()))
            if self._given is None:
                self._feed(x)
            self._n_in += x.shape[-1]
        while self._n_windows * self._hop + self._win <= self._n_in:
            a = self._n_windows * self._hop
            self._decide(a, a + self._win)
        return self._ready(final=False)

    def flush(self) -> Audio:
        """Return every sample still held back (the last windows decided on what there is)."""
        if self._done:
            return np.zeros((self.channels, 0), np.float32)
        self._done = True
        n = self._n_in
        covered = (self._n_windows - 1) * self._hop + self._win if self._n_windows else 0
        if n > covered:  # the tail no window reaches: one more window, ending with the input
            self._end = (max(n - self._win, 0), n)
            self._decide(*self._end)
        if self._n_windows == 1 and self._cand is not None:  # one window is all there is
            self._cur = self._held[0] = self._cand
        return self._ready(final=True)

    def report(self) -> dict[str, Any]:
        """Where hum was notched, and the hum notched longest.

        ``hum_segments`` lists the notched stretches in order: ``start_s`` and ``end_s`` (s),
        ``hum_hz`` (the fundamental notched, its mean over the stretch; ``hum_hz_range`` its
        lowest and highest, as the notches followed it) and ``harmonics``. ``hum_hz`` and
        ``hum_harmonics`` are those of the harmonic set notched longest (``None`` and ``[]`` if
        none), ``notched_s`` the seconds notched. Past 1000 stretches the rest are only counted
        (``hum_segments_omitted``). ``applied`` is False, with a ``reason``, when nothing was
        notched: the audio then passed unchanged.
        """
        longest = max(self._sets.values(), key=lambda st: st.n) if self._sets else None
        notched = sum(st.n for st in self._sets.values())
        out: dict[str, Any] = {
            "step": "dehum",
            "applied": notched > 0,
            "hum_hz": None if longest is None else round(longest.mean_hz, 2),
            "hum_harmonics": [] if longest is None else list(longest.harmonics),
            "notched_s": round(notched / self.sr, 3),
            "hum_segments": [
                {
                    "start_s": round(st.start / self.sr, 3),
                    "end_s": round(st.stop / self.sr, 3),
                    "hum_hz": round(st.mean_hz, 2),
                    "hum_hz_range": [round(st.lo_hz, 2), round(st.hi_hz, 2)],
                    "harmonics": list(st.harmonics),
                }
                for st in self._segments
            ],
        }
        if self._segments_dropped:
            out["hum_segments_omitted"] = self._segments_dropped
        if not notched:
            # (``reason`` kept for earlier clients; ``not_applied`` is what every step says)
            out["reason"] = out["not_applied"] = "no mains hum was found: the audio passed unchanged"
        return out


def remove_hum(audio: Audio, sr: int, *, detect_s: float = DETECT_S, bandwidth_hz: float = 2.0) -> Audio:
    """Detect mains hum and notch it out where it is (:class:`HumRemover`); hum-free audio is returned unchanged.

    Parameters
    ----------
    audio : ndarray, shape (n,) or (channels, n), float32
        Finite samples, ``n >= 1``.
    sr : int
        Sample rate in Hz, in [8000, 192000].
    detect_s : float
        Length of the analysis windows in seconds (one every quarter of it), in [0.25, 30].
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
