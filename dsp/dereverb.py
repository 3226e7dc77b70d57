"""Dereverberation: weighted prediction error (WPE) and late-reverberation suppression.

Reverberation is the room's memory: each STFT frame of a reverberant recording is largely
predictable from the frames before it, while the direct sound is not. WPE (Nakatani et al.
2010) finds, per frequency bin, the prediction filter over ``WPE_TAPS`` past frames, starting
``WPE_DELAY`` frames back (so the direct sound and early reflections are kept), that minimises
the prediction error weighted by the inverse power of the desired signal, and subtracts the
prediction. What WPE's span leaves of the tail is then suppressed spectrally: the late
reverberation PSD is the smoothed output power ``T_l`` earlier attenuated by the room's
exponential decay ``exp(-2 * delta * T_l)``, ``delta = 3 ln 10 / T60`` (Lebart, Boucher & Denbigh
2001; Habets 2007), and each bin gets the gain ``max(1 - lambda_late / lambda, floor)``.

The room's reverberation time is estimated blindly from the recording: the log energy of the
frames (300 Hz-4 kHz) is fitted by straight lines over 120 and 240 ms windows; windows where it
falls steadily (a good linear fit, at least 8 dB of fall) are free decays after the source
stopped, and the median of their decay rates is the room's (after Lebart et al. 2001 and Ratnam
et al. 2003). Whether to act at all is decided by WPE itself: the share of the energy its filters
predict from the past is the reverberation's share, about 0.5 % in dry recordings and 7-23 % in
rooms of 0.3-1 s.

The work is in two passes, as in :mod:`dsp.silence`:

1. :class:`ReverbAnalyzer` streams the recording through the shared STFT of
   :mod:`dsp.spectral` (32 ms frames, 8 ms hop) and accumulates, per channel and bin, the
   ``taps x taps`` weighted correlation matrix and vector of WPE's normal equations (one
   iteration, the weights from the observed power, as the first iteration of Nakatani et al.),
   and one energy value per frame for the T60 estimate. :meth:`ReverbAnalyzer.finish` solves
   for the filters and estimates T60; when the filters would take less than ``MIN_SHARE`` of
   the energy there is no reverberation worth removing and the audio passes untouched.
2. :class:`ReverbSuppressor` applies the filters and the late suppression frame by frame with
   the past frames carried between blocks (causal over frames: the output does not depend on
   the block sizes) and measures the T60 of its own output for the report.

References
----------
.. [1] T. Nakatani, T. Yoshioka, K. Kinoshita, M. Miyoshi, B.-H. Juang, "Speech dereverberation
   based on variance-normalized delayed linear prediction," IEEE Trans. ASLP 18(7), 2010.
.. [2] K. Lebart, J. M. Boucher, P. N. Denbigh, "A new method based on spectral subtraction for
   speech dereverberation," Acta Acustica 87, 2001.
.. [3] E. A. P. Habets, "Single- and multi-microphone speech dereverberation using spectral
   enhancement," PhD thesis, TU Eindhoven, 2007, ch. 4 (late reverberant spectral variance).
.. [4] R. Ratnam, D. L. Jones, B. C. Wheeler, W. D. O'Brien, C. R. Lansing, A. S. Feng, "Blind
   estimation of reverberation time," JASA 114(5), 2003.
.. [5] L. Drude, J. Heymann, C. Boeddeker, R. Haeb-Umbach, "NARA-WPE: a Python package for
   weighted prediction error dereverberation in Numpy and Tensorflow for online and offline
   processing," ITG 2018 (the taps, delay and frame settings used here are its defaults).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import signal as sps

from dsp._typing import Audio, FloatArray
from dsp._validate import as_2d, check_block, check_channels, check_range, check_sr, valid_audio
from dsp.spectral import ComplexArray, StftStream, frame_settings
from dsp.stream import run_processor

__all__ = ["ReverbAnalyzer", "ReverbEstimate", "ReverbSuppressor", "estimate_t60", "remove_reverb"]

#: STFT frame (s) and frames per hop: 32 ms, hop 8 ms (NARA-WPE's 512/128 at 16 kHz).
FRAME_S = 0.032
OVERLAP = 4
#: WPE prediction taps and delay in frames (NARA-WPE defaults; Nakatani et al. 2010 use 2-3
#: frames of delay so the direct sound and early reflections, up to about 30 ms, are kept).
WPE_TAPS = 10
WPE_DELAY = 3
#: Floor of the WPE weights (the desired signal's power), relative to the bin's mean power so
#: far: silent frames would otherwise get unbounded weight.
WEIGHT_FLOOR = 1e-3
#: Early/late boundary of the late-reverberation model, s (Habets 2007: 50 ms; the benchmark's
#: reference keeps the direct path and 50 ms of early reflections).
LATE_START_S = 0.05
#: Smoothing of the output power for the late-reverberation PSD, s (a one-pole average).
PSD_SMOOTH_S = 0.02
#: Lowest gain of the late suppression, dB (Habets 2007 uses -10 to -20 dB against musical noise).
GAIN_FLOOR_DB = -12.0
#: Weight of the late PSD in the gain (1: the model as it is). 0.8 on bench/dereverb.py: STOI
#: 0.975 instead of 0.973 at RT60 0.3 s (the blind T60 runs long in small rooms) for PESQ-WB
#: 3.15 instead of 3.22; unchanged at 1.0 s.
LATE_WEIGHT = 0.8
#: Least share of the energy the WPE filters must predict from the past (delayed by 24 ms) to be
#: applied: on the dry real recordings of bench/dereverb.py it is 0.2-0.8 %, in simulated rooms of
#: RT60 0.3-1.0 s 7-23 %. Under it the recording passes untouched (WPE would only thin the
#: harmonics of sustained vowels).
MIN_SHARE = 0.03
#: Shortest recording (s) whose reverberation is measured: ten taps a bin fitted over few frames
#: explain part of any voice by chance. Windows of the eight dry real speech recordings of the
#: realdev set (whole: -0.3 to 1.4 %) read up to 61 % cut to 0.3-0.5 s, where remove_reverb
#: changed dry clips with no decay measured (an audit); the largest share over windows every 0.7 s
#: falls with the length: 17.3 % at 1.5 s, 12.0 % at 2 s, 8.2 % at 3 s, 7.0 % at 4 s (the same
#: talker each time; the other seven stay under 4.0 % from 2 s). Under 2 s the measurement is left
#: undone and said so; 2-4 s clips of some talkers can still read over MIN_SHARE.
MIN_ANALYSIS_S = 2.0
#: A DC offset is perfectly predicted from the past: a dry voice with an offset of 0.01 read a
#: 15.5 % share and 0.2 a 97.5 % share (an outside audit), and was processed. Both passes take it
#: out first with a DC blocker (one pole and a zero at DC, J. O. Smith, "Introduction to Digital
#: Filters", 2007, "DC Blocker") whose corner is DC_BLOCK_HZ, and the share is measured from
#: SHARE_LOW_HZ up (subsonic rumble is as predictable; speech has next to no energy under 40 Hz).
#: Measured on three realdev voices: the share with an offset of 0.2 went from 0.81-0.90 to
#: under 0.01 (0.003-0.007 without one).
DC_BLOCK_HZ = 10.0
SHARE_LOW_HZ = 40.0


class _DcBlock:
    """``y[n] = x[n] - x[n-1] + r y[n-1]`` per channel, state carried across blocks.

    The input is taken to have held its first value before it began: an offset present from the
    first sample is not a step (whose transient, under the WPE weighting, took a reverberant
    voice's share from 4.3 to 1.4 %).
    """

    def __init__(self, sr: int, channels: int) -> None:
        self._r = math.exp(-2 * math.pi * DC_BLOCK_HZ / sr)
        self._zi: FloatArray | None = None

    def process(self, x: FloatArray) -> FloatArray:
        if not x.shape[-1]:
            return np.asarray(x, np.float32)
        if self._zi is None:
            self._zi = -np.asarray(x[:, :1], np.float64)
        y, self._zi = sps.lfilter([1.0, -1.0], [1.0, -self._r], x, axis=-1, zi=self._zi)
        return np.asarray(y, np.float32)


#: T60 estimate: windows (s) of the line fits (short ones see fast rooms before the decay
#: reaches the noise floor, long ones slow rooms over 8 dB of fall), least fall (dB) and fit
#: quality of a free decay, the quantile of the decay slopes taken, and the band (Hz) whose
#: energy is followed (speech energy, above room modes). Calibrated on bench/dereverb.py's rooms
#: (RT60 0.3/0.5/0.7/1.0 s measured as 0.41/0.59/0.74/0.95 s, median of 8 recordings).
DECAY_WINDOWS_S = (0.12, 0.24)
DECAY_MIN_FALL_DB = 8.0
DECAY_MIN_R2 = 0.9
DECAY_QUANTILE = 0.5
DECAY_BAND_HZ = (300.0, 4000.0)
#: Most STFT frames one step of either pass works on at once. The WPE statistics hold, per
#: frame, ``WPE_TAPS`` past spectra of every bin and channel (complex128: 2 x 769 x 10 x 16 B =
#: 246 kB a frame for 48 kHz stereo), so a whole block at once grew with the block (1 GB for a 5 s
#: block of 48 kHz stereo); 16 frames (128 ms) keep each array under 4 MB at that rate whatever
#: the block. Measured, not tuned: the analysis of 30 s of 48 kHz stereo in 1 s blocks took 3.3 s
#: of CPU in 16-frame batches, 3.4 s in 32, 4.4 s in 64 and unbatched (cache-sized work is faster).
BATCH_FRAMES = 16
#: Fewest free decays for an estimate.
MIN_DECAYS = 5
#: Range the estimate is clamped to, s.
T60_RANGE_S = (0.05, 3.0)


def estimate_t60(frame_energy_db: FloatArray, hop_s: float) -> tuple[float, int]:
    """Blind reverberation time from a series of frame energies.

    Parameters
    ----------
    frame_energy_db : ndarray, shape (frames,)
        Energy of consecutive frames in dB (any reference).
    hop_s : float
        Time between frames in seconds, > 0.

    Returns
    -------
    t60_s, decays : tuple of (float, int)
        The estimate in seconds (``nan`` with fewer than ``MIN_DECAYS`` free decays) and how many
        free decays it rests on.

    References
    ----------
    .. [1] R. Ratnam et al., "Blind estimation of reverberation time," JASA 114(5), 2003.
    .. [2] K. Lebart, J. M. Boucher, P. N. Denbigh, Acta Acustica 87, 2001 (decay regions).

    Examples
    --------
    >>> hop = 0.008
    >>> decay = np.concatenate([np.zeros(20), -60 / 0.5 * hop * np.arange(40)])  # T60 0.5 s
    >>> t60, n = estimate_t60(np.tile(decay, 8), hop)
    >>> round(t60, 2), n > 0
    (0.5, True)
    """
    e = np.asarray(frame_energy_db, np.float64)
    found: list[float] = []
    for window_s in DECAY_WINDOWS_S:
        found += _decay_slopes(e, hop_s, window_s)
    if len(found) < MIN_DECAYS:
        return math.nan, len(found)
    t60 = -60.0 / float(np.quantile(found, DECAY_QUANTILE))
    lo, hi = T60_RANGE_S
    return float(np.clip(t60, lo, hi)), len(found)


#: Line fits of the T60 estimate made at once (windows): their work arrays hold ``window`` values
#: per fit (30 at 8 ms hops and 240 ms), so a whole recording's at once grew with its duration
#: (about 240 MB an hour); 8192 fits keep them under 2 MB. The fits are the same.
FIT_BATCH = 8192


def _decay_slopes(e: FloatArray, hop_s: float, window_s: float) -> list[float]:
    """Slopes (dB/s) of the free decays seen by straight-line fits over ``window_s``."""
    w = max(3, round(window_s / hop_s))
    if e.size < w + 1:
        return []
    t = (np.arange(w) - (w - 1) / 2) * hop_s
    n = e.size - w + 1
    slope = np.empty(n)
    r2 = np.empty(n)
    for a in range(0, n, FIT_BATCH):
        win = np.lib.stride_tricks.sliding_window_view(e[a : a + FIT_BATCH + w - 1], w)
        mean = win.mean(axis=1)
        slope[a : a + win.shape[0]] = s = (win @ t) / float(t @ t)
        fit = mean[:, None] + s[:, None] * t[None, :]
        ss_res = np.sum((win - fit) ** 2, axis=1)
        ss_tot = np.sum((win - mean[:, None]) ** 2, axis=1) + 1e-12
        r2[a : a + win.shape[0]] = 1 - ss_res / ss_tot
    fall = -slope * (t[-1] - t[0])
    idx = np.flatnonzero((slope < 0) & (r2 >= DECAY_MIN_R2) & (fall >= DECAY_MIN_FALL_DB))
    if idx.size == 0:
        return []
    # one decay per run of overlapping windows: the steepest window of each run
    runs = np.split(idx, np.flatnonzero(np.diff(idx) > 1) + 1)
    return [float(slope[r].min()) for r in runs]


@dataclass(frozen=True)
class ReverbEstimate:
    """What the analysis found.

    Attributes
    ----------
    applied : bool
        True when the reverberation is removed.
    sr : int
        Sample rate in Hz.
    t60_s : float
        Blind reverberation time in seconds (``nan`` when it could not be measured).
    decays : int
        Free decays the estimate rests on.
    filters : ndarray, shape (channels, bins, taps), complex
        WPE prediction filters (empty when not applied).
    share : float
        Share of the energy (0-1) the WPE filters predict from the past: the reverberation.
    reason : str
        Why nothing is done (empty when ``applied``).
    """

    applied: bool
    sr: int
    t60_s: float
    decays: int
    filters: ComplexArray = field(default_factory=lambda: np.zeros((0, 0, 0), np.complex64), compare=False)
    share: float = 0.0
    reason: str = ""

    def report(self) -> dict[str, Any]:
        """JSON-ready measurement."""
        return {
            "t60_before_s": round(self.t60_s, 2) if math.isfinite(self.t60_s) else None,
            "decays_measured": self.decays,
            "reverb_share": round(self.share, 3),
            "min_share": MIN_SHARE,
        }


class _Frames:
    """The shared STFT framing of both passes (same frames, same window)."""

    def __init__(self, sr: int) -> None:
        self.n_fft, self.hop = frame_settings(sr, frame_s=FRAME_S, overlap=OVERLAP)
        freqs = np.arange(self.n_fft // 2 + 1) * sr / self.n_fft
        self.band = (freqs >= DECAY_BAND_HZ[0]) & (freqs < min(DECAY_BAND_HZ[1], 0.45 * sr))
        self.share_bins = freqs >= SHARE_LOW_HZ
        self.hop_s = self.hop / sr


def _stack(hist: ComplexArray, spec: ComplexArray) -> ComplexArray:
    """``(channels, frames, bins, taps)``: for each frame, the ``taps`` frames from ``delay`` back."""
    ext = np.concatenate([hist, spec], axis=1)
    n = spec.shape[1]
    first = hist.shape[1] - WPE_DELAY  # index in ext of frame (t - delay) for t = 0
    taps = [ext[:, first - k : first - k + n] for k in range(WPE_TAPS)]
    return np.stack(taps, axis=-1)


class ReverbAnalyzer:
    """Pass one: WPE statistics and the blind T60 of a stream.

    Parameters
    ----------
    sr : int
        Sample rate in Hz, in [8000, 192000].
    channels : int
        Channel count, >= 1 (one filter per channel; the T60 from their mean energy).

    Raises
    ------
    InvalidParameterError
        If a parameter is out of range.

    References
    ----------
    .. [1] T. Nakatani et al., IEEE Trans. ASLP 18(7), 2010.

    Examples
    --------
    >>> a = ReverbAnalyzer(16000, 1)
    >>> a.process(np.zeros((1, 16000), np.float32))
    >>> a.finish().applied
    False
    """

    def __init__(self, sr: int, channels: int) -> None:
        self.sr = check_sr(sr)
        self.channels = check_channels(channels)
        self._f = _Frames(self.sr)
        bins = self._f.n_fft // 2 + 1
        self._stream = StftStream(self.channels, self._f.n_fft, self._f.hop, self._listen)
        self._dc = _DcBlock(self.sr, self.channels)
        self._hist = np.zeros((self.channels, WPE_DELAY + WPE_TAPS - 1, bins), np.complex64)
        self._r = np.zeros((self.channels, bins, WPE_TAPS, WPE_TAPS), np.complex128)
        self._p = np.zeros((self.channels, bins, WPE_TAPS), np.complex128)
        self._ru = np.zeros((self.channels, bins, WPE_TAPS, WPE_TAPS), np.complex128)
        self._pu = np.zeros((self.channels, bins, WPE_TAPS), np.complex128)
        self._power_sum = np.zeros((self.channels, bins))
        self._energy: list[FloatArray] = []
        self._frames = 0
        self._estimate: ReverbEstimate | None = None

    def _listen(self, spec: ComplexArray) -> ComplexArray:
        for i in range(0, spec.shape[1], BATCH_FRAMES):  # memory bounded whatever the block
            self._accumulate(spec[:, i : i + BATCH_FRAMES])
        return spec

    def _accumulate(self, spec: ComplexArray) -> None:
        """Add ``(channels, frames, bins)`` spectra to the WPE normal equations and the energy track."""
        power = np.abs(spec.astype(np.complex128)) ** 2
        # the floor follows the bin's mean power up to each frame (not to the batch: block sizes
        # must not change the result)
        count = self._frames + np.arange(1, spec.shape[1] + 1)
        running = (self._power_sum[:, None, :] + np.cumsum(power, axis=1)) / count[None, :, None]
        weight = 1.0 / np.maximum(power, WEIGHT_FLOOR * running + 1e-30)  # (channels, frames, bins)
        self._frames += spec.shape[1]
        self._power_sum += power.sum(axis=1)
        stacked = _stack(self._hist, spec).astype(np.complex128)  # (c, f, b, k)
        ws = np.moveaxis(stacked * weight[..., None], 1, 2)  # (c, b, f, k)
        self._r += np.swapaxes(ws, -1, -2) @ np.moveaxis(stacked, 1, 2).conj()
        self._p += (np.swapaxes(ws, -1, -2) @ np.moveaxis(spec, 1, 2).conj()[..., None].astype(np.complex128))[..., 0]
        su = np.moveaxis(stacked, 1, 2)  # unweighted: how much energy the filter would take
        self._ru += np.swapaxes(su, -1, -2) @ su.conj()
        self._pu += (np.swapaxes(su, -1, -2) @ np.moveaxis(spec, 1, 2).conj()[..., None].astype(np.complex128))[..., 0]
        self._hist = np.concatenate([self._hist, spec], axis=1)[:, -self._hist.shape[1] :]
        e = power[:, :, self._f.band].sum(axis=2).mean(axis=0)
        self._energy.append((10 * np.log10(e + 1e-20)).astype(np.float32))

    def process(self, block: Audio) -> None:
        """Read a ``(channels, m)`` block (nothing is returned: this pass only listens)."""
        x = check_block(block, self.channels)
        if self._estimate is not None:
            raise RuntimeError("the analysis is finished")
        self._stream.process(self._dc.process(x))

    def finish(self) -> ReverbEstimate:
        """The filters and the T60, once the whole stream was read."""
        if self._estimate is None:
            self._stream.flush()
            self._estimate = self._decide()
        return self._estimate

    def _decide(self) -> ReverbEstimate:
        energy = np.concatenate(self._energy) if self._energy else np.zeros(0, np.float32)
        if not energy.size or float(energy.max()) < -150.0:
            return ReverbEstimate(False, self.sr, math.nan, 0, reason="the audio is silent: nothing to measure")
        # frames far under the loudest are noise floor, not decays: clip them to it
        top = float(np.quantile(energy, 0.99))
        t60, decays = estimate_t60(np.maximum(energy, top - 60.0), self._f.hop_s)
        seconds = energy.size * self._f.hop_s
        if seconds < MIN_ANALYSIS_S:
            return ReverbEstimate(
                False,
                self.sr,
                t60,
                decays,
                reason=f"the audio is too short to measure reverberation in it ({seconds:.2f} s; at least "
                f"{MIN_ANALYSIS_S:g} s: in less, the prediction explains part of a dry voice by chance)",
            )
        eye = np.eye(WPE_TAPS)
        scale = np.trace(self._r, axis1=-2, axis2=-1).real / WPE_TAPS
        reg = 1e-6 * scale[..., None, None] * eye + 1e-30 * eye
        g = np.linalg.solve(self._r + reg, self._p[..., None])[..., 0]
        # the share of the energy the filters would take away (unweighted normal equations)
        taken = 2 * np.einsum("cbk,cbk->cb", g.conj(), self._pu).real
        taken -= np.einsum("cbk,cbkl,cbl->cb", g.conj(), self._ru, g).real
        keep = self._f.share_bins
        share = float(np.sum(taken[:, keep]) / max(float(np.sum(self._power_sum[:, keep])), 1e-30))
        if share < MIN_SHARE:
            return ReverbEstimate(
                False,
                self.sr,
                t60,
                decays,
                share=share,
                reason=f"no reverberation to remove: the delayed prediction explains {_share_text(share)}, "
                f"under the {100 * MIN_SHARE:g} % it takes",
            )
        return ReverbEstimate(True, self.sr, t60, decays, g.astype(np.complex64), share=share)

    def report(self) -> dict[str, Any]:
        """What was measured (the analysis must be finished)."""
        return {"step": "remove_reverb_analysis", **self.finish().report()}


class ReverbSuppressor:
    """Pass two: WPE filtering and late-reverberation suppression, streaming.

    Parameters
    ----------
    sr : int
        Sample rate in Hz, in [8000, 192000]; must match the estimate's.
    channels : int
        Channel count, >= 1.
    estimate : ReverbEstimate
        The analysis of the same stream; when not applied the audio passes unchanged.
    late_weight : float
        Over-subtraction of the late-reverberation PSD, in [0, 3] (0: WPE alone).

    Raises
    ------
    InvalidParameterError
        If a parameter is out of range.
    ValueError
        If the estimate is for another sample rate or channel count.

    References
    ----------
    .. [1] E. A. P. Habets, PhD thesis, TU Eindhoven, 2007, ch. 4.

    Examples
    --------
    >>> est = ReverbEstimate(False, 16000, float("nan"), 0, reason="silent")
    >>> s = ReverbSuppressor(16000, 1, est)
    >>> s.process(np.ones((1, 100), np.float32)).shape
    (1, 100)
    """

    def __init__(self, sr: int, channels: int, estimate: ReverbEstimate, *, late_weight: float = LATE_WEIGHT) -> None:
        self.sr = check_sr(sr)
        self.channels = check_channels(channels)
        if estimate.sr != self.sr:
            raise ValueError(f"the reverberation estimate is for {estimate.sr} Hz, the stream is {self.sr} Hz")
        if estimate.applied and estimate.filters.shape[0] != self.channels:
            raise ValueError(f"the estimate has {estimate.filters.shape[0]} channel(s), the stream {self.channels}")
        self.late_weight = check_range("late_weight", late_weight, 0.0, 3.0)
        self.estimate = estimate
        self._f = _Frames(self.sr)
        bins = self._f.n_fft // 2 + 1
        self._stream = StftStream(self.channels, self._f.n_fft, self._f.hop, self._apply)
        self._dc = _DcBlock(self.sr, self.channels)  # as the analysis heard it (and no DC out)
        self._hist = np.zeros((self.channels, WPE_DELAY + WPE_TAPS - 1, bins), np.complex64)
        self._alpha = math.exp(-self._f.hop_s / PSD_SMOOTH_S)
        self._late = max(1, round(LATE_START_S / self._f.hop_s))
        # without a measured T60 there is no decay model: WPE alone
        t60 = estimate.t60_s if math.isfinite(estimate.t60_s) else 0.0
        self._decay = math.exp(-2 * 3 * math.log(10) / t60 * self._late * self._f.hop_s) if t60 > 0 else 0.0
        self._psd_zi = np.zeros((self.channels, 1, bins))
        self._psd_hist = np.zeros((self.channels, self._late, bins))
        self._floor = 10 ** (GAIN_FLOOR_DB / 20)
        self._energy: list[FloatArray] = []
        self._gain_sum = 0.0
        self._gain_n = 0

    def _apply(self, spec: ComplexArray) -> ComplexArray:
        if spec.shape[1] <= BATCH_FRAMES:
            return self._suppress(spec)
        # frame by frame with the state carried: batches give the same output, in bounded memory
        parts = [self._suppress(spec[:, i : i + BATCH_FRAMES]) for i in range(0, spec.shape[1], BATCH_FRAMES)]
        out: ComplexArray = np.concatenate(parts, axis=1)
        return out

    def _suppress(self, spec: ComplexArray) -> ComplexArray:
        g = self.estimate.filters  # (c, b, k)
        stacked = _stack(self._hist, spec)
        self._hist = np.concatenate([self._hist, spec], axis=1)[:, -self._hist.shape[1] :]
        x = spec - np.sum(g.conj()[:, None] * stacked, axis=-1)
        power = np.abs(x.astype(np.complex128)) ** 2
        if self.late_weight > 0:
            psd, self._psd_zi = sps.lfilter([1 - self._alpha], [1, -self._alpha], power, axis=1, zi=self._psd_zi * 1.0)
            ext = np.concatenate([self._psd_hist, psd], axis=1)
            late = self._decay * ext[:, : psd.shape[1]]
            self._psd_hist = ext[:, -self._late :]
            gain = np.maximum(1 - self.late_weight * late / np.maximum(psd, 1e-20), self._floor)
            x = x * gain.astype(np.float32)
            self._gain_sum += float(np.sum(gain))
            self._gain_n += gain.size
        out_power = np.abs(x.astype(np.complex128)) ** 2
        e = out_power[:, :, self._f.band].sum(axis=2).mean(axis=0)
        self._energy.append((10 * np.log10(e + 1e-20)).astype(np.float32))
        out: ComplexArray = x.astype(np.complex64)
        return out

    def process(self, block: Audio) -> Audio:
        """Take a ``(channels, m)`` block, return the ``(channels, k)`` samples now final."""
        x = check_block(block, self.channels)
        if not self.estimate.applied:
            return x.copy()
        return self._stream.process(self._dc.process(x))

    def flush(self) -> Audio:
        """Return every sample still held back; the processor is finished afterwards."""
        if not self.estimate.applied:
            return np.zeros((self.channels, 0), np.float32)
        return self._stream.flush()

    def report(self) -> dict[str, Any]:
        """Whether reverberation was removed, T60 before and (measured on the output) after."""
        est = self.estimate
        out: dict[str, Any] = {"step": "remove_reverb", "applied": est.applied, **est.report()}
        if not est.applied:
            out["not_applied"] = est.reason
            return out
        energy = np.concatenate(self._energy) if self._energy else np.zeros(0)
        after = math.nan
        if energy.size:
            top = float(np.quantile(energy, 0.99))
            after, _ = estimate_t60(np.maximum(energy, top - 60.0), self._f.hop_s)
        out.update(
            t60_after_s=round(after, 2) if math.isfinite(after) else None,
            wpe_taps=WPE_TAPS,
            wpe_delay_ms=round(1000 * WPE_DELAY * self._f.hop_s, 1),
            late_start_ms=round(1000 * self._late * self._f.hop_s, 1),
            mean_late_gain_db=round(20 * math.log10(max(self._gain_sum / max(self._gain_n, 1), 1e-6)), 2)
            if self._gain_n
            else 0.0,
        )
        return out


def remove_reverb(audio: Audio, sr: int, *, late_weight: float = LATE_WEIGHT) -> Audio:
    """Dereverberate a recording (WPE, then late-reverberation suppression), both passes in memory.

    Parameters
    ----------
    audio : ndarray, shape (n,) or (channels, n), float32
        Finite samples, nominal range [-1, 1].
    sr : int
        Sample rate in Hz, in [8000, 192000].
    late_weight : float
        Over-subtraction of the late-reverberation PSD, in [0, 3] (0: WPE alone).

    Returns
    -------
    ndarray, float32
        Same shape as ``audio``; unchanged (a copy) when no reverberation is measured.

    Raises
    ------
    InvalidAudioError
        If ``audio`` is empty, not finite or badly shaped.
    InvalidParameterError
        If a parameter is out of range.

    References
    ----------
    .. [1] T. Nakatani et al., IEEE Trans. ASLP 18(7), 2010. .. [2] E. A. P. Habets, 2007.

    Examples
    --------
    >>> remove_reverb(np.zeros(16000, np.float32), 16000).shape
    (16000,)
    """
    audio = valid_audio(audio)
    x = as_2d(audio)
    a = ReverbAnalyzer(sr, x.shape[0])
    a.process(x)
    return run_processor(ReverbSuppressor(sr, x.shape[0], a.finish(), late_weight=late_weight), audio)


def _share_text(share: float) -> str:
    """The share of the energy the prediction explains, in words that never read as the bar itself.

    A share of 2.996 % printed to one decimal read "3.0 %, under 3 %".
    """
    if share <= 0:
        return "none of the energy"
    pct = min(100 * share, 100 * MIN_SHARE - 0.01)
    return f"{pct:.2f} % of the energy"
