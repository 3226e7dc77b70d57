"""Integrated loudness (ITU-R BS.1770-4) and loudness normalisation.

Measurement streams: :class:`LoudnessMeter` keeps filter state and one mean-square value per
100 ms, so an hour of audio costs 36 000 floats. Normalisation is a single gain followed by
:class:`TruePeakLimiter`, which keeps the true peak (4x oversampled, BS.1770-4 Annex 2) under
the ceiling; when that would take more than a few dB of limiting, the gain itself is held back.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import signal as sps

from dsp._typing import Audio, FloatArray
from dsp._validate import as_2d, check_range, check_sr, valid_audio

__all__ = [
    "GainStage",
    "LoudnessMeasurement",
    "LoudnessMeter",
    "TruePeakLimiter",
    "TruePeakMeter",
    "check_targets",
    "measure_loudness",
    "normalize_loudness",
]

#: The two gates of the integrated measure (ITU-R BS.1770-4, its gating of 400 ms blocks): blocks under
#: -70 LKFS are dropped, then those more than 10 LU under the loudness of the blocks left.
_ABS_GATE_LUFS = -70.0
_REL_GATE_LU = -10.0


def _k_weighting(sr: int) -> tuple[FloatArray, FloatArray]:
    """K-weighting as one 4th-order section: the BS.1770 high-shelf pre-filter then the RLB high-pass."""
    # Pre-filter (high shelf, about +4 dB above 2 kHz) and RLB high-pass, as analog prototypes
    # mapped with a prewarped bilinear transform; at 48 kHz these give the standard's coefficients.
    gain_db, f0, q = 3.999843853973347, 1681.974450955533, 0.7071752369554196
    k = math.tan(math.pi * f0 / sr)
    vh = 10 ** (gain_db / 20)
    vb = vh**0.4996667741545416
    a0 = 1 + k / q + k * k
    b_shelf = np.array([(vh + vb * k / q + k * k) / a0, 2 * (k * k - vh) / a0, (vh - vb * k / q + k * k) / a0])
    a_shelf = np.array([1.0, 2 * (k * k - 1) / a0, (1 - k / q + k * k) / a0])
    f1, q1 = 38.13547087602444, 0.5003270373238773
    k1 = math.tan(math.pi * f1 / sr)
    d1 = 1 + k1 / q1 + k1 * k1
    b_hp = np.array([1.0, -2.0, 1.0])
    a_hp = np.array([1.0, 2 * (k1 * k1 - 1) / d1, (1 - k1 / q1 + k1 * k1) / d1])
    b = np.convolve(b_shelf / a_shelf[0], b_hp / a_hp[0])
    den = np.convolve(a_shelf / a_shelf[0], a_hp / a_hp[0])
    return b, den


def _gated_loudness(blocks: FloatArray, abs_gate_lufs: float) -> float:
    """BS.1770-4 integrated loudness of gating ``blocks`` (mean squares) with the given absolute gate."""
    with np.errstate(divide="ignore"):
        lk = -0.691 + 10 * np.log10(np.maximum(blocks, 1e-30))
    gated = blocks[(lk > abs_gate_lufs) & (blocks > 0)]
    if not gated.size:
        return -math.inf
    rel = -0.691 + 10 * math.log10(float(np.mean(gated))) + _REL_GATE_LU
    final = gated[-0.691 + 10 * np.log10(gated) > rel]
    return -0.691 + 10 * math.log10(float(np.mean(final))) if final.size else -math.inf


@dataclass(frozen=True)
class LoudnessMeasurement:
    """Result of a loudness measurement.

    Attributes
    ----------
    integrated_lufs : float
        Gated integrated loudness in LUFS; ``-inf`` for silence.
    peak_dbfs : float
        Largest absolute sample value in dBFS (sample peak, not oversampled true peak).
    duration_s : float
        Measured duration in seconds.
    blocks : numpy.ndarray
        Mean square of every 400 ms gating block (K-weighted, summed over channels), for
        :meth:`integrated_at_gate`; empty when not kept.
    """

    integrated_lufs: float
    peak_dbfs: float
    duration_s: float
    blocks: FloatArray = field(default_factory=lambda: np.zeros(0), repr=False, compare=False)

    def integrated_at_gate(self, abs_gate_lufs: float) -> float:
        """The integrated loudness (LUFS) with the absolute gate at ``abs_gate_lufs``, not -70.

        The relative gate is BS.1770-4's; ``-inf`` when no block passes.

        A recording about to be raised by ``G`` dB is gated, once raised, at ``-70 - G`` of its
        level now: :meth:`GainStage.for_target` measures it so, so that a quiet recording
        normalised reads the target on a standard meter.
        """
        return _gated_loudness(self.blocks, abs_gate_lufs)


class LoudnessMeter:
    """Streaming BS.1770-4 integrated-loudness meter.

    Parameters
    ----------
    sr : int
        Sample rate in Hz, 8000–192000.
    channels : int
        Channel count, ≥ 1; every channel has weight 1 (no surround weighting).

    References
    ----------
    .. [1] ITU-R BS.1770-4, "Algorithms to measure audio programme loudness and true-peak
       audio level", 2015.

    Examples
    --------
    >>> import numpy as np
    >>> sr = 48000
    >>> tone = (0.1 * np.sin(2 * np.pi * 1000 * np.arange(sr * 2) / sr)).astype(np.float32)
    >>> meter = LoudnessMeter(sr, 1)
    >>> meter.process(tone[np.newaxis])
    >>> round(meter.finish().integrated_lufs, 1)
    -23.0
    """

    def __init__(self, sr: int, channels: int) -> None:
        self.sr = check_sr(sr)
        self.channels = int(check_range("channels", channels, 1, 64))
        self._b, self._a = _k_weighting(self.sr)
        self._zi = np.zeros((self.channels, len(self._a) - 1))
        self._step = max(1, round(self.sr * 0.1))
        self._acc = 0.0
        self._acc_n = 0
        self._ms: list[float] = []
        self._peak = 0.0
        self._n = 0

    def process(self, block: Audio) -> None:
        """Feed a ``(channels, m)`` float32 block."""
        x = as_2d(valid_audio(block, allow_empty=True)).astype(np.float64)
        if not x.shape[-1]:
            return
        self._n += x.shape[-1]
        self._peak = max(self._peak, float(np.max(np.abs(x))))
        y, self._zi = sps.lfilter(self._b, self._a, x, axis=-1, zi=self._zi)
        power = np.sum(y * y, axis=0)  # summed over channels, per sample
        i = 0
        while i < power.size:
            take = min(self._step - self._acc_n, power.size - i)
            self._acc += float(np.sum(power[i : i + take]))
            self._acc_n += take
            i += take
            if self._acc_n == self._step:
                self._ms.append(self._acc / self._step)
                self._acc, self._acc_n = 0.0, 0

    def finish(self) -> LoudnessMeasurement:
        """Gate the 400 ms blocks (75 % overlap) and return the measurement."""
        ms = np.asarray(self._ms, np.float64)
        if ms.size >= 4:
            blocks = np.convolve(ms, np.ones(4) / 4, mode="valid")
        elif self._n:
            blocks = np.array([(float(np.sum(ms)) * self._step + self._acc) / self._n])
        else:
            blocks = np.zeros(0)
        peak_db = 20 * math.log10(self._peak) if self._peak > 0 else -math.inf
        return LoudnessMeasurement(_gated_loudness(blocks, _ABS_GATE_LUFS), peak_db, self._n / self.sr, blocks)

    def report(self) -> dict[str, Any]:
        """What the meter saw so far."""
        return {"step": "loudness_meter", "blocks_100ms": len(self._ms)}


#: Passes of the fixed point in :func:`_gain_for`, and the change (dB) under which it stops.
_GATE_ITERATIONS = 20
_GATE_TOLERANCE_DB = 0.01
#: Half-width (dB) of the search around the ungated gain when the gate has no fixed point: the
#: gate moves the reading by at most a few dB (-24 LUFS speech: 2.3 dB at its worst).
_GAIN_SEARCH_DB = 10.0
#: How much less gain the chosen one must still read with (dB): clear of the edge where the last
#: blocks leave the gate, where meters on other block grids differ (pyloudnorm read -inf 0.25 dB
#: short of it on synthetic speech).
_GATE_MARGIN_DB = 0.25


def _gain_for(measured: LoudnessMeasurement, target: float) -> float | None:
    """The gain (dB) after which a standard meter reads ``target``; None for digital silence.

    The absolute gate (-70 LUFS) applies to the programme as delivered: raised by ``G`` dB, the
    blocks of a quiet recording now under -70 count once over it. So ``G`` solves
    ``G = target - L(gate = -70 - G)``, found by iterating from the standard measurement (or,
    when every block is under the gate, from the ungated mean). Without it, speech at -64 LUFS
    came out at -16.8 and speech peaking at -62 dBFS was called silent (an outside audit).
    """
    if not measured.blocks.size:  # a measurement without its blocks: the standard one alone
        return target - measured.integrated_lufs if math.isfinite(measured.integrated_lufs) else None
    start = measured.integrated_lufs
    if not math.isfinite(start):
        start = _gated_loudness(measured.blocks, -math.inf)
        if not math.isfinite(start):
            return None  # digital silence
    gain = target - start
    for _ in range(_GATE_ITERATIONS):
        level = measured.integrated_at_gate(_ABS_GATE_LUFS - gain)
        new = target - level
        if not math.isfinite(new):
            break
        if abs(new - gain) < _GATE_TOLERANCE_DB:
            if math.isfinite(measured.integrated_at_gate(_ABS_GATE_LUFS - new + _GATE_MARGIN_DB)):
                return new
            break  # a fixed point at the gate's edge (below)
        gain = new
    # No fixed point: near -70 LUFS the gate, raised with every dB taken off, shuts out the quiet
    # blocks and the reading climbs back (speech at -24 LUFS read -69.05 after -45.6 dB, and -inf
    # past -47.9 dB). Take the gain on a 0.01 dB grid whose reading comes closest to the target,
    # among those that still read with _GATE_MARGIN_DB less gain: at the edge where the last
    # blocks pass the gate, another meter's block grid reads silence (-inf).
    grid = target - start + np.arange(-_GAIN_SEARCH_DB, _GAIN_SEARCH_DB, _GATE_TOLERANCE_DB)
    readings = np.array([g + measured.integrated_at_gate(_ABS_GATE_LUFS - g) for g in grid])
    finite = np.isfinite(readings)
    k = round(_GATE_MARGIN_DB / _GATE_TOLERANCE_DB)
    safe = finite & np.concatenate([np.zeros(k, bool), finite[:-k]])
    usable = safe if safe.any() else finite
    miss = np.where(usable, np.abs(readings - target), np.inf)
    best = int(np.argmin(miss))
    return float(grid[best]) if math.isfinite(miss[best]) else target - start


@dataclass(frozen=True)
class GainStage:
    """A fixed gain chosen to bring a measurement to a loudness target.

    Attributes
    ----------
    gain_db : float
        Gain to apply, in dB (0 when nothing is applied).
    applied : bool
        False for silence (nothing to normalise).
    measured : LoudnessMeasurement
        What was measured before the gain.
    target_lufs : float
        The loudness target in LUFS.
    limited_by_peak : bool
        True when the gain was reduced to keep the sample peak under ``max_peak_dbfs``.
    """

    gain_db: float
    applied: bool
    measured: LoudnessMeasurement
    target_lufs: float
    max_peak_dbfs: float
    limited_by_peak: bool

    @classmethod
    def for_target(
        cls,
        measured: LoudnessMeasurement,
        *,
        target_lufs: float = -16.0,
        max_peak_dbfs: float = -1.0,
        limiter_headroom_db: float = 0.0,
    ) -> GainStage:
        """Choose the gain for ``target_lufs`` (−70…0 LUFS), capped by ``max_peak_dbfs`` (−20…0 dBFS).

        With a peak limiter after the gain, peaks may go up to ``limiter_headroom_db`` (0…12 dB)
        over the ceiling before the gain itself is held back: the limiter takes them down.
        """
        target, ceiling = check_targets(target_lufs=target_lufs, max_peak_dbfs=max_peak_dbfs)
        headroom = check_range("limiter_headroom_db", limiter_headroom_db, 0.0, 12.0)
        gain = _gain_for(measured, target)
        if gain is None:
            return cls(0.0, False, measured, target, ceiling, False)
        limited = math.isfinite(measured.peak_dbfs) and measured.peak_dbfs + gain > ceiling + headroom
        if limited:
            gain = ceiling + headroom - measured.peak_dbfs
        return cls(gain, True, measured, target, ceiling, limited)

    def report(self) -> dict[str, Any]:
        """JSON-ready description for the job's per-step report."""

        def num(v: float) -> float | None:
            return round(v, 2) if math.isfinite(v) else None

        out: dict[str, Any] = {
            "step": "loudness",
            "applied": self.applied,
            "measured_lufs": num(self.measured.integrated_lufs),
            "measured_peak_dbfs": num(self.measured.peak_dbfs),
            "target_lufs": self.target_lufs,
            "gain_db": round(self.gain_db, 2),
            "limited_by_peak": self.limited_by_peak,
        }
        if not self.applied:
            out["not_applied"] = "the audio is digitally silent: no gain applied"
        return out


def check_targets(*, target_lufs: float = -16.0, max_peak_dbfs: float = -1.0) -> tuple[float, float]:
    """The loudness targets checked, as floats: ``target_lufs`` in −70…0 LUFS, ``max_peak_dbfs`` in −20…0 dBFS.

    :meth:`GainStage.for_target` applies them once the whole recording is measured; a caller
    that takes them earlier (a job's step, at submit) checks them here with the same bounds.

    Raises
    ------
    InvalidParameterError
        If either is not a number in its range.
    """
    return (
        check_range("target_lufs", target_lufs, -70.0, 0.0),
        check_range("max_peak_dbfs", max_peak_dbfs, -20.0, 0.0),
    )


def measure_loudness(audio: Audio, sr: int) -> LoudnessMeasurement:
    """Measure integrated loudness and sample peak.

    Parameters
    ----------
    audio : ndarray, shape (n,) or (channels, n), float32
        Signal, nominal range [-1, 1].
    sr : int
        Sample rate in Hz.

    Returns
    -------
    LoudnessMeasurement
        Integrated loudness (LUFS), sample peak (dBFS) and duration (s).

    Raises
    ------
    InvalidAudioError
        If ``audio`` is empty, not finite or badly shaped.

    References
    ----------
    .. [1] ITU-R BS.1770-4, 2015.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.zeros(48000, np.float32)
    >>> measure_loudness(x, 48000).integrated_lufs
    -inf
    """
    x = as_2d(valid_audio(audio))
    meter = LoudnessMeter(sr, x.shape[0])
    meter.process(x)
    return meter.finish()


def normalize_loudness(audio: Audio, sr: int, *, target_lufs: float = -16.0, max_peak_dbfs: float = -1.0) -> Audio:
    """Scale ``audio`` to an integrated loudness target with one gain.

    Parameters
    ----------
    audio : ndarray, shape (n,) or (channels, n), float32
        Signal, nominal range [-1, 1].
    sr : int
        Sample rate in Hz.
    target_lufs : float in [-70, 0]
        Loudness target in LUFS (−16 suits speech for streaming; −23 is EBU R 128 broadcast).
    max_peak_dbfs : float in [-20, 0]
        The gain is reduced if the sample peak would exceed this level.

    Returns
    -------
    ndarray
        Same shape and dtype as ``audio``; silence is returned unchanged.

    Raises
    ------
    InvalidAudioError
        If ``audio`` is empty, not finite or badly shaped.
    InvalidParameterError
        If a target is out of range.

    References
    ----------
    .. [1] ITU-R BS.1770-4, 2015. .. [2] EBU R 128, "Loudness normalisation and permitted
       maximum level of audio signals", 2020.

    Examples
    --------
    >>> import numpy as np
    >>> sr = 48000
    >>> x = (0.01 * np.sin(2 * np.pi * 1000 * np.arange(sr * 3) / sr)).astype(np.float32)
    >>> y = normalize_loudness(x, sr, target_lufs=-23.0)
    >>> round(measure_loudness(y, sr).integrated_lufs, 1)
    -23.0
    """
    x = valid_audio(audio)
    stage = GainStage.for_target(measure_loudness(x, sr), target_lufs=target_lufs, max_peak_dbfs=max_peak_dbfs)
    return (x * np.float32(10 ** (stage.gain_db / 20))).astype(np.float32)


#: True-peak oversampling: to at least this rate, and at least 4x. ITU-R BS.1770-4 Annex 2 asks
#: for 4x at 48 kHz and notes that 4x can read low near Nyquist. At 4x with its 48-tap filter the
#: limiter (ceiling -1 dBTP) let real speech in noise through at -0.4 to -0.7 dBTP at 8-22 kHz as
#: ffmpeg's ebur128 meter (which oversamples to 192 kHz) reads it, and -0.9 at 48 kHz; at 384 kHz
#: with 24 taps per phase, -0.88 to -1.0 (read through ffmpeg's resampler at 192 kHz).
_TP_RATE = 384000
_TP_MIN_OVERSAMPLE = 4
#: Taps per phase of the interpolation filter (BS.1770-4's example has 12; 24 keep the passband
#: flat to 0.45 of the rate, where 12 lose up to 0.25 dB).
_TP_TAPS_PER_PHASE = 24
#: Input samples the interpolated values lag the input by: half the taps per phase (the filter's
#: group delay, (L * taps - 1) / (2 L) input samples, is just under that).
_TP_LAG = _TP_TAPS_PER_PHASE // 2
#: The limiter aims this far under its ceiling (dB): content in the top few percent of the band
#: rings between samples further than any finite interpolator shows, and meters differ there; on
#: the same material ffmpeg's meter read up to 0.12 dB over the ceiling without it, and at least
#: 0.08 dB under with it.
_TP_MARGIN_DB = 0.2


def _tp_oversample(sr: int) -> int:
    """The oversampling factor for ``sr``: up to 384 kHz, 4x at least."""
    return max(_TP_MIN_OVERSAMPLE, math.ceil(_TP_RATE / sr))


def _tp_filter(sr: int) -> FloatArray:
    """The polyphase interpolation FIR for ``sr`` (windowed sinc), one row of taps per phase."""
    up = _tp_oversample(sr)
    h = sps.firwin(up * _TP_TAPS_PER_PHASE, 1.0 / up, window=("kaiser", 8.0)) * up
    return np.asarray(h.reshape(_TP_TAPS_PER_PHASE, up).T, dtype=np.float64)


def _tp_interpolated(ext: FloatArray, phases: FloatArray) -> FloatArray:
    """Largest interpolated magnitude over channels and phases, per input index.

    ``ext`` is ``(channels, taps - 1 + m)``: the interpolator's history then ``m`` new samples;
    the result has ``m`` values (those stored at index ``n`` lie just under ``_TP_LAG`` samples
    earlier: see :meth:`TruePeakLimiter._feed`).
    """
    u = np.zeros(ext.shape[-1] - phases.shape[1] + 1)
    for phase in phases:
        y = np.stack([np.convolve(ext[c], phase, mode="valid") for c in range(ext.shape[0])])
        u = np.maximum(u, np.abs(y).max(axis=0))
    return u


class TruePeakMeter:
    """Streaming true-peak meter: the largest sample or interpolated magnitude, in dBTP.

    The interpolator is the limiter's (:class:`TruePeakLimiter`: ITU-R BS.1770-4 Annex 2,
    oversampled to 384 kHz and at least 4x), so the meter reads what the limiter holds under its
    ceiling; used on a decoded lossy encode, it reads the inter-sample peaks the encoder put back.

    Parameters
    ----------
    sr : int
        Sample rate in Hz, in [8000, 192000].
    channels : int
        Channel count, >= 1.

    References
    ----------
    .. [1] ITU-R BS.1770-4 (2015), Annex 2: "Guidelines for accurate measurement of true-peak level".

    Examples
    --------
    >>> t = np.arange(48000) / 48000
    >>> x = (0.5 * np.sin(2 * np.pi * 997 * t)).astype(np.float32)[None, :]
    >>> meter = TruePeakMeter(48000, 1)
    >>> meter.process(x[:, :10000]); meter.process(x[:, 10000:])
    >>> round(meter.finish(), 1)
    -6.0
    """

    def __init__(self, sr: int, channels: int) -> None:
        self.sr = check_sr(sr)
        self.channels = int(check_range("channels", channels, 1, 64))
        self._phases = _tp_filter(self.sr)
        self._hist = np.zeros((self.channels, self._phases.shape[1] - 1))
        self._peak = 0.0

    def process(self, block: Audio) -> None:
        """Take a ``(channels, m)`` block (a 1-D block is one channel)."""
        x = as_2d(valid_audio(block, allow_empty=True)).astype(np.float64)
        if x.shape[0] != self.channels:
            raise ValueError(f"block must have {self.channels} channels")
        if not x.shape[-1]:
            return
        ext = np.concatenate([self._hist, x], axis=-1)
        self._hist = ext[:, -(self._phases.shape[1] - 1) :]
        self._peak = max(self._peak, float(np.abs(x).max()), float(_tp_interpolated(ext, self._phases).max()))

    def finish(self) -> float:
        """The true peak in dBTP (-inf for digital silence); the stream is taken to end in silence."""
        self.process(np.zeros((self.channels, self._phases.shape[1]), np.float32))
        return 20 * math.log10(self._peak) if self._peak > 0 else -math.inf


class TruePeakLimiter:
    """Look-ahead limiter that keeps the true peak (oversampled to 384 kHz) under ``ceiling_dbtp``.

    The required gain at each sample is ``min(1, ceiling / true_peak)``, the true peak being the
    largest magnitude of the sample and of the interpolated values between it and its neighbours
    (ITU-R BS.1770-4 Annex 2, oversampled to 384 kHz and at least 4x); the gain aims
    ``_TP_MARGIN_DB`` under the ceiling. That gain is taken as the minimum over the next
    ``lookahead_ms`` (so the gain is down before a peak arrives), released with a one-pole
    ``release_ms`` and finally averaged over ``lookahead_ms``: the average at a peak only covers
    gains at or below the peak's own, so no peak passes, and the gain moves without steps (no
    clicks). Output is delayed by the look-ahead internally and compensated (aligned with the
    input, same length).

    Parameters
    ----------
    sr : int
        Sample rate in Hz, in [8000, 192000].
    channels : int
        Channel count, >= 1 (the gain is linked across channels).
    ceiling_dbtp : float
        Largest true peak, in dBTP in [-20, 0].
    lookahead_ms : float
        Attack look-ahead in ms, in [0.5, 20].
    release_ms : float
        Release time constant in ms, in [5, 2000].

    Raises
    ------
    InvalidParameterError
        If a parameter is out of range.

    References
    ----------
    .. [1] ITU-R BS.1770-4 (2015), Annex 2: "Guidelines for accurate measurement of true-peak level".
    .. [2] D. Giannoulis, M. Massberg, J. D. Reiss, "Digital dynamic range compressor design - a
       tutorial and analysis," JAES 60(6), 2012 (look-ahead, attack/release smoothing).

    Examples
    --------
    >>> t = np.arange(48000) / 48000
    >>> x = (1.5 * np.sin(2 * np.pi * 997 * t)).astype(np.float32)[None, :]
    >>> lim = TruePeakLimiter(48000, 1)
    >>> y = np.concatenate([lim.process(x[:, :10000]), lim.process(x[:, 10000:]), lim.flush()], axis=-1)
    >>> y.shape, bool(np.max(np.abs(y)) <= 10 ** (-1 / 20) + 1e-3)
    ((1, 48000), True)
    """

    def __init__(
        self,
        sr: int,
        channels: int,
        *,
        ceiling_dbtp: float = -1.0,
        lookahead_ms: float = 2.0,
        release_ms: float = 100.0,
    ) -> None:
        self.sr = check_sr(sr)
        self.channels = int(check_range("channels", channels, 1, 64))
        self.ceiling_dbtp = check_range("ceiling_dbtp", ceiling_dbtp, -20.0, 0.0)
        self._ceiling = 10 ** ((self.ceiling_dbtp - _TP_MARGIN_DB) / 20)
        self._w = max(1, round(check_range("lookahead_ms", lookahead_ms, 0.5, 20.0) * 1e-3 * self.sr))
        release = check_range("release_ms", release_ms, 5.0, 2000.0) * 1e-3 * self.sr
        self._alpha = math.exp(-1.0 / release)
        self._phases = _tp_filter(self.sr)
        self._taps = self._phases.shape[1]
        self._hist = np.zeros((self.channels, self._taps - 1))  # input history for the interpolator
        self._req: FloatArray = np.ones(0)  # required gains of samples not yet output
        self._u: FloatArray = np.zeros(0)  # interpolated magnitudes, by input index
        self._absx: FloatArray = np.zeros(0)  # sample magnitudes whose true peak is not final
        self._audio = np.zeros((self.channels, 0))  # audio waiting for its gain
        self._lp_zi = np.zeros(1)
        self._lp_started = False
        self._avg_hist = np.ones(self._w - 1)
        self._n_in = 0
        self._n_out = 0
        self._min_gain = 1.0
        self._limited = 0

    def _feed(self, x: FloatArray) -> None:
        """Interpolate ``x``; append the required gain of every sample whose true peak is known.

        The interpolator's values stored at input index ``n`` (one per phase) lie just under
        ``_TP_LAG`` samples earlier (its group delay is ``(L * taps - 1) / (2 L)`` input samples
        at ``L``x), so those at ``i + _TP_LAG - 1`` fall between samples ``i - 1`` and ``i`` and
        those at ``i + _TP_LAG`` between ``i`` and ``i + 1``: sample ``i``'s true peak is the
        largest of the three, final once those inputs have arrived.
        """
        ext = np.concatenate([self._hist, x], axis=-1)
        self._hist = ext[:, -(self._taps - 1) :]
        self._u = np.concatenate([self._u, _tp_interpolated(ext, self._phases)])
        self._absx = np.concatenate([self._absx, np.abs(x).max(axis=0)])
        k = self._absx.size - _TP_LAG
        if k > 0:
            lag = _TP_LAG
            tp = np.maximum(self._absx[:k], np.maximum(self._u[lag - 1 : lag - 1 + k], self._u[lag : lag + k]))
            self._req = np.concatenate([self._req, np.minimum(1.0, self._ceiling / np.maximum(tp, 1e-12))])
            self._absx = self._absx[k:]
            self._u = self._u[k:]

    def process(self, block: Audio) -> Audio:
        """Take a ``(channels, m)`` block, return the ``(channels, k)`` samples now final."""
        x = as_2d(valid_audio(block, allow_empty=True)).astype(np.float64)
        if x.shape[0] != self.channels:
            raise ValueError(f"block must have {self.channels} channels")
        self._n_in += x.shape[-1]
        if x.shape[-1]:
            self._feed(x)
            self._audio = np.concatenate([self._audio, x], axis=-1)
        return self._emit(final=False)

    def flush(self) -> Audio:
        """Return every sample still held back; the processor is finished afterwards."""
        self._feed(np.zeros((self.channels, _TP_LAG + self._taps)))  # the stream ends in silence
        self._req = np.concatenate([self._req, np.ones(self._w)])
        return self._emit(final=True)

    def _emit(self, *, final: bool) -> Audio:
        ready = min(self._audio.shape[-1], self._req.size - self._w + 1)
        if ready <= 0:
            return np.zeros((self.channels, 0), np.float32)
        window = self._req[: ready + self._w - 1]
        g_min = np.lib.stride_tricks.sliding_window_view(window, self._w).min(axis=-1).astype(np.float64)
        if not self._lp_started:
            self._lp_zi = np.array([g_min[0] * self._alpha])
            self._lp_started = True
        lp, self._lp_zi = sps.lfilter([1 - self._alpha], [1, -self._alpha], g_min, zi=self._lp_zi)
        held = np.minimum(g_min, lp)
        if self._n_out == 0:  # before the stream: as low as its first gain (covers its first peaks)
            self._avg_hist = np.full(self._w - 1, held[0])
        ext = np.concatenate([self._avg_hist, held])
        gain = np.convolve(ext, np.ones(self._w) / self._w, mode="valid")
        if self._w > 1:
            self._avg_hist = ext[-(self._w - 1) :]
        out = self._audio[:, :ready] * gain
        self._audio = self._audio[:, ready:]
        self._req = self._req[ready:]
        self._min_gain = min(self._min_gain, float(gain.min()))
        self._limited += int(np.count_nonzero(gain < 0.999))
        self._n_out += ready
        return np.ascontiguousarray(out.astype(np.float32))

    def report(self) -> dict[str, Any]:
        """Ceiling, deepest gain reduction in dB, and how much of the audio was limited."""
        return {
            "step": "true_peak_limiter",
            "ceiling_dbtp": self.ceiling_dbtp,
            "max_reduction_db": round(-20 * math.log10(max(self._min_gain, 1e-9)), 2) + 0.0,  # (no -0.0)
            "limited_s": round(self._limited / self.sr, 3),
        }
