"""Integrated loudness (ITU-R BS.1770-4) and loudness normalisation.

Measurement streams: :class:`LoudnessMeter` keeps filter state and one mean-square value per
100 ms, so an hour of audio costs 36 000 floats. Normalisation is a single gain, limited so the
sample peak stays below ``max_peak_dbfs``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import signal as sps

from dsp._typing import Audio, FloatArray
from dsp._validate import as_2d, check_range, check_sr, valid_audio

__all__ = ["GainStage", "LoudnessMeasurement", "LoudnessMeter", "measure_loudness", "normalize_loudness"]

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
    """

    integrated_lufs: float
    peak_dbfs: float
    duration_s: float


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
        with np.errstate(divide="ignore"):
            lk = -0.691 + 10 * np.log10(np.maximum(blocks, 1e-30))
        gated = blocks[lk > _ABS_GATE_LUFS]
        integrated = -math.inf
        if gated.size:
            rel = -0.691 + 10 * math.log10(float(np.mean(gated))) + _REL_GATE_LU
            final = gated[-0.691 + 10 * np.log10(gated) > rel]
            if final.size:
                integrated = -0.691 + 10 * math.log10(float(np.mean(final)))
        peak_db = 20 * math.log10(self._peak) if self._peak > 0 else -math.inf
        return LoudnessMeasurement(integrated, peak_db, self._n / self.sr)

    def report(self) -> dict[str, Any]:
        """What the meter saw so far."""
        return {"step": "loudness_meter", "blocks_100ms": len(self._ms)}


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
        cls, measured: LoudnessMeasurement, *, target_lufs: float = -16.0, max_peak_dbfs: float = -1.0
    ) -> GainStage:
        """Choose the gain for ``target_lufs`` (−70…0 LUFS), capped by ``max_peak_dbfs`` (−20…0 dBFS)."""
        target = check_range("target_lufs", target_lufs, -70.0, 0.0)
        ceiling = check_range("max_peak_dbfs", max_peak_dbfs, -20.0, 0.0)
        if not math.isfinite(measured.integrated_lufs):
            return cls(0.0, False, measured, target, ceiling, False)
        gain = target - measured.integrated_lufs
        limited = math.isfinite(measured.peak_dbfs) and measured.peak_dbfs + gain > ceiling
        if limited:
            gain = ceiling - measured.peak_dbfs
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
            out["note"] = "the audio is silent: no gain applied"
        return out


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
