"""Dynamics for speech: a gentle feed-forward compressor and a split-band de-esser.

Both run at a control rate: the signal is cut into frames of ``hop`` samples (0.5 ms, aligned to
the start of the stream), one detector value and one gain are computed per frame, and the gain
is interpolated linearly from the previous frame's value to this frame's across the frame's
samples. The recursion over frames (the attack/release smoother) is the only part numpy cannot
vectorise; at 2000 frames per second a Python loop costs well under 1 % of real time. A frame's
gain is known only when the frame is complete, so ``process`` returns the samples of complete
frames and holds back at most ``hop - 1`` samples; ``flush`` processes the last, partial frame.
Frames are aligned to the stream, not to the blocks, and every recursion carries its state, so
the output does not depend on the block sizes. Channels are linked: one detector over all
channels and one gain for all of them (a stereo image does not wander).

* :class:`Compressor` — Giannoulis, Massberg & Reiss (2012): a soft-knee static gain computer
  on the detector level in dB, then the "smooth branching" attack/release smoother applied to
  the gain reduction in the log domain (detector after the gain computer, one of the designs
  they analyse), then make-up gain.
  :class:`CompressorAnalyzer` is the first pass of the ``compress`` job step: it measures the
  programme's integrated loudness (ITU-R BS.1770-4) so the threshold can be set relative to the
  speech level, whatever the recording level.
* :class:`DeEsser` — a split-band de-esser (Zölzer, DAFX, 2nd ed., ch. 4; Reiss & McPherson
  2014, ch. 6): the sibilance band (4–10 kHz, capped below the Nyquist frequency) is isolated by
  a linear-phase FIR band-pass, its share of the full-band power is the detector, and only that
  band is attenuated (``y = x_d - (1 - g) * band``, ``x_d`` the input delayed by the filter's
  1.6 ms group delay, which the processor compensates), so vowels and everything outside the
  band pass unchanged. At sample rates whose Nyquist frequency leaves less than a third of an octave of
  the band (below about 11.1 kHz, e.g. 8 kHz telephone audio) there is no sibilance band to
  treat: the de-esser passes the audio through bit for bit and its report says why.

References
----------
.. [1] D. Giannoulis, M. Massberg and J. D. Reiss, "Digital Dynamic Range Compressor Design —
   A Tutorial and Analysis," J. Audio Eng. Soc. 60(6), 399–408, 2012.
.. [2] U. Zölzer (ed.), DAFX: Digital Audio Effects, 2nd ed., Wiley, 2011, ch. 4 "Nonlinear
   processing" (dynamics processing, the de-esser as a compressor with a filtered side chain).
.. [3] J. D. Reiss and A. McPherson, Audio Effects: Theory, Implementation and Application,
   CRC Press, 2014, ch. 6 "Dynamics processing".
.. [4] ITU-R BS.1770-4, "Algorithms to measure audio programme loudness and true-peak audio
   level", 2015.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from scipy import signal as sps

from dsp._typing import Audio, FloatArray
from dsp._validate import as_2d, check_block, check_channels, check_range, check_sr, valid_audio
from dsp.errors import InvalidParameterError
from dsp.loudness import LoudnessMeter
from dsp.stream import run_processor

__all__ = [
    "CONTROL_HZ",
    "Compressor",
    "CompressorAnalyzer",
    "DeEsser",
    "compress",
    "deess",
    "gain_computer_db",
]

#: Control rate in Hz (one detector value and one gain per 0.5 ms frame): the smoother's time
#: constants must be long against its update period, and 0.5 ms puts at least two updates inside
#: the shortest attack allowed here (1 ms); tests/dsp/test_dynamics.py measures 10 ms and 100 ms
#: time constants to within 0.6 ms at 16 and 48 kHz.
CONTROL_HZ = 2000.0
#: Length of the de-esser's FIR band-pass: a Hamming-windowed design has a transition band of
#: about 3.3 fs / N (Oppenheim & Schafer, Discrete-Time Signal Processing, 3rd ed., Table 7.2);
#: 1 kHz at the band edges keeps the /s/ band whole while the delay stays short (1.7 ms).
_FIR_TRANSITION_FACTOR = 3.3
_FIR_TRANSITION_HZ = 1000.0
#: A de-esser cut or a gain reduction below this (dB) is taken as none: a released cut ends exactly,
#: and a step that never went past it reports not_applied (0.01 dB is far below the ~0.5 dB
#: just-noticeable level difference).
_NEGLIGIBLE_DB = 0.01
#: Level given to digital silence, in dB (keeps the logarithm finite; far below any threshold).
_SILENCE_DB = -200.0

# Compressor defaults (the ``compress`` step's gentle speech setting).
#: Ratio: the middle of the gentle 2–3:1 range the "Enhancement engines" issue asks for.
RATIO = 2.5
#: Soft-knee width in dB (Giannoulis et al. 2012 knee ``W``): +-3 dB about the threshold, so the
#: onset is gradual yet the full ratio holds 3 dB above it; checked by ``bench/studio.py`` (the
#: compressor moves DNSMOS OVRL by -0.02 on DEV, -0.03 on CHECK).
KNEE_DB = 6.0
#: Attack time constant in ms (time for the gain reduction to travel 1 - 1/e of a step, the
#: one-pole definition of Giannoulis et al. 2012): about one pitch period of a low voice, so syllable onsets
#: are caught without the gain following the waveform.
ATTACK_MS = 10.0
#: Release time constant in ms: a syllable (~100–200 ms) — the gain recovers between syllables,
#: so pauses and the breath noise in them are not pumped up.
RELEASE_MS = 120.0
#: RMS detector averaging time in ms (Zölzer 2011, ch. 4, one-pole RMS measurement): one
#: period of a 100 Hz voice, so the detector follows syllable level, not individual cycles.
RMS_MS = 10.0
#: Threshold of the ``compress`` step relative to the programme's integrated loudness (LU):
#: measured on the DEV items by ``bench/studio.py``, +3 LU takes the loudest syllables down by
#: 3.4–7.8 dB at 2.5:1 while the mean reduction stays 0.5–0.8 dB (gentle: the level between
#: syllables, and the noise floor with it, is not pulled up).
THRESHOLD_LU = 3.0

# De-esser defaults.
#: Sibilance band in Hz: the energy of /s/ and /ʃ/ lies mainly between 4 and 10 kHz (Reiss &
#: McPherson 2014, ch. 6, de-essing; Zölzer 2011, ch. 4).
SIBILANCE_LOW_HZ = 4000.0
SIBILANCE_HIGH_HZ = 10000.0
#: Highest upper band edge, as a fraction of the sample rate: 0.05 sr below Nyquist, so the FIR's
#: transition (+-0.5 kHz around the edge) fits under the Nyquist frequency at every rate >= 10 kHz.
_MAX_EDGE_OF_SR = 0.45
#: Narrowest usable band (ratio of its edges): one third of an octave.
_MIN_BAND_RATIO = 2.0 ** (1.0 / 3.0)
#: De-esser threshold: the band's share of the full-band power, in dB, above which the band is
#: turned down. In 10 ms frames of the clean DEV recordings the median (voiced) frame lies at
#: -21 to -27 dB and the top decile (sibilants) above -7 dB (``bench/studio.py --shares``); -10 dB
#: sits between them and selects 14–27 % of the active frames.
DEESS_THRESHOLD_DB = -10.0
#: Slope above the threshold: the band's share rises by only 1/ratio dB per dB (a 3:1 compressor
#: on the share): a sibilant whose band holds most of the power (share -1 dB, the top percentile
#: measured by ``bench/studio.py --shares``) is cut by 6 dB, one at -7 dB by 2 dB.
DEESS_RATIO = 3.0
#: Largest cut of the band in dB: de-essing is a few dB, never removal of the consonant.
DEESS_MAX_REDUCTION_DB = 6.0
#: Band levels below this (dBFS) are never treated: hiss in pauses is not sibilance.
DEESS_FLOOR_DBFS = -60.0
#: De-esser attack and release (ms): a sibilant lasts 50–150 ms; the cut must be in place within
#: its first milliseconds and gone before the next vowel.
DEESS_ATTACK_MS = 2.0
DEESS_RELEASE_MS = 40.0
#: Detector averaging (ms) of the band and full-band powers of the de-esser: 20 periods at 4 kHz,
#: so the band power is a power, not a waveform, yet short against a sibilant (50–150 ms).
DEESS_RMS_MS = 5.0


def gain_computer_db(level_db: FloatArray, threshold_db: float, ratio: float, knee_db: float) -> FloatArray:
    """Static soft-knee compression curve (Giannoulis et al. 2012, eq. 4).

    Parameters
    ----------
    level_db : ndarray, any shape
        Detector level in dB.
    threshold_db : float
        Threshold ``T`` in dB.
    ratio : float
        Ratio ``R`` >= 1.
    knee_db : float
        Knee width ``W`` in dB, >= 0 (0: hard knee).

    Returns
    -------
    ndarray, same shape as ``level_db``
        The gain in dB (<= 0): output level minus input level.

    Examples
    --------
    >>> [round(float(g), 2) for g in gain_computer_db(np.array([-30.0, -20.0, 0.0]), -20.0, 2.0, 0.0)]
    [0.0, 0.0, -10.0]
    """
    x = np.asarray(level_db, np.float64)
    over = x - threshold_db
    gain = np.where(2 * over > knee_db, (1.0 / ratio - 1.0) * over, 0.0)
    if knee_db > 0:
        inside = np.abs(2 * over) <= knee_db
        gain = np.where(inside, (1.0 / ratio - 1.0) * (over + knee_db / 2) ** 2 / (2 * knee_db), gain)
    return gain


def _coeff(time_ms: float, rate_hz: float) -> float:
    """One-pole coefficient ``exp(-1 / (tau * rate))`` (Giannoulis et al. 2012, time constants)."""
    return math.exp(-1.0 / (time_ms * 1e-3 * rate_hz))


def _smooth_branching(target: FloatArray, state: float, a_att: float, a_rel: float) -> tuple[FloatArray, float]:
    """Smooth branching peak detector over a reduction in dB (Giannoulis et al. 2012, level detection).

    ``target`` >= 0 is the reduction the static curve asks for; the attack coefficient applies
    while it rises above the smoothed value, the release coefficient while it falls.
    """
    out = np.empty(target.shape, np.float64)
    y = state
    for i, x in enumerate(target.tolist()):
        a = a_att if x > y else a_rel
        y = a * y + (1.0 - a) * x
        out[i] = y
    return out, y


def _one_pole(x: FloatArray, state: float, a: float) -> tuple[FloatArray, float]:
    """``y[k] = a * y[k-1] + (1 - a) * x[k]`` with carried state (``scipy.signal.lfilter``)."""
    if not x.size:
        return x.astype(np.float64), state
    y, zf = sps.lfilter([1.0 - a], [1.0, -a], x, zi=[a * state])
    return y, float(zf[0]) / a if a > 0 else float(y[-1])


class _ControlRate:
    """Frame buffering and per-sample gain interpolation shared by the two processors."""

    def __init__(self, sr: int, channels: int) -> None:
        self.sr = check_sr(sr)
        self.channels = check_channels(channels)
        self.hop = max(1, round(self.sr / CONTROL_HZ))
        self.rate_hz = self.sr / self.hop
        self._buf = np.zeros((self.channels, 0), np.float32)
        self._g_prev = 1.0
        self._n_in = 0
        self._done = False

    def _frames(self, x: FloatArray) -> npt.NDArray[np.intp]:
        """Start index of each (possibly partial, last) frame of ``x``."""
        return np.arange(0, x.shape[-1], self.hop)

    def _gains(self, x: FloatArray, starts: npt.NDArray[np.intp]) -> FloatArray:  # pragma: no cover - abstract
        raise NotImplementedError

    def _apply(self, x: FloatArray, gain: FloatArray) -> FloatArray:
        return x * gain

    def _run(self, x: FloatArray) -> Audio:
        if not x.shape[-1]:
            return np.zeros((self.channels, 0), np.float32)
        x64 = x.astype(np.float64)
        starts = self._frames(x64)
        g = self._gains(x64, starts)  # one linear gain per frame
        pos = np.arange(x.shape[-1])
        j = pos // self.hop
        frac = (pos % self.hop + 1) / self.hop
        g_start = np.concatenate([[self._g_prev], g[:-1]])
        gain = g_start[j] + (g[j] - g_start[j]) * frac
        self._g_prev = float(g[-1])
        return self._apply(x64, gain).astype(np.float32)

    def process(self, block: Audio) -> Audio:
        """Take a ``(channels, m)`` float32 block; return the samples of the frames it completes.

        Raises
        ------
        InvalidAudioError
            If the block holds NaN or infinite samples.
        InvalidParameterError
            If the block is not shaped ``(channels, m)``.
        """
        if self._done:
            raise RuntimeError("the processor is flushed")
        x = check_block(block, self.channels)
        self._n_in += x.shape[-1]
        buf = np.concatenate([self._buf, x], axis=-1) if self._buf.shape[-1] else x
        k = (buf.shape[-1] // self.hop) * self.hop
        self._buf = buf[:, k:].copy()
        return self._run(buf[:, :k])

    def flush(self) -> Audio:
        """Process the held-back partial frame and return it; the processor is finished."""
        if self._done:
            return np.zeros((self.channels, 0), np.float32)
        self._done = True
        out = self._run(self._buf)
        self._buf = np.zeros((self.channels, 0), np.float32)
        return out


class Compressor(_ControlRate):
    """Streaming feed-forward compressor: soft knee, attack/release, make-up gain, linked channels.

    Detector (RMS: one-pole average of the frame mean square, or peak: the frame's largest
    absolute sample; the largest over channels either way) → level in dBFS → static curve
    (:func:`gain_computer_db`) → smooth branching attack/release on the gain reduction in dB →
    make-up gain → one gain for all channels, interpolated per sample. Implements
    :class:`dsp.stream.BlockProcessor`; output length equals input length, no added latency.

    Parameters
    ----------
    sr : int
        Sample rate in Hz, in [8000, 192000].
    channels : int
        Channel count, >= 1.
    threshold_db : float
        Threshold in dBFS, in [-90, 0].
    ratio : float
        Compression ratio, in [1, 20] (1: no compression). Speech default 2.5 (``RATIO``).
    knee_db : float
        Soft-knee width in dB, in [0, 24] (0: hard knee).
    attack_ms, release_ms : float
        Time constants of the gain smoother in ms (time to 1 - 1/e of a step), attack in
        [1, 500], release in [1, 5000].
    makeup_db : float
        Fixed gain after compression in dB, in [-24, 24]. An automatic choice (Giannoulis et
        al. 2012, make-up gain) is the reduction at 0 dBFS (``-gain_computer_db(0, ...)``); in the ``compress`` job
        step the loudness step after it sets the level, so the step leaves it at 0.
    detector : {"rms", "peak"}
        Level detector.
    rms_ms : float
        Averaging time of the RMS detector in ms, in [1, 300].

    Raises
    ------
    InvalidParameterError
        If a parameter is out of range.

    References
    ----------
    .. [1] D. Giannoulis, M. Massberg and J. D. Reiss, "Digital Dynamic Range Compressor
       Design — A Tutorial and Analysis," J. Audio Eng. Soc. 60(6), 2012.
    .. [2] U. Zölzer (ed.), DAFX, 2nd ed., Wiley, 2011, ch. 4 (RMS detector).

    Examples
    --------
    >>> sr = 16000
    >>> t = np.arange(sr) / sr
    >>> loud = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[np.newaxis]  # -9 dBFS RMS
    >>> c = Compressor(sr, 1, threshold_db=-20.0, ratio=2.0, knee_db=0.0)
    >>> y = np.concatenate([c.process(loud), c.flush()], axis=-1)
    >>> round(c.report()["max_gain_reduction_db"], 1)  # (-9 + 20) * (1 - 1/2)
    5.5
    """

    def __init__(
        self,
        sr: int,
        channels: int,
        *,
        threshold_db: float = -20.0,
        ratio: float = RATIO,
        knee_db: float = KNEE_DB,
        attack_ms: float = ATTACK_MS,
        release_ms: float = RELEASE_MS,
        makeup_db: float = 0.0,
        detector: Literal["rms", "peak"] = "rms",
        rms_ms: float = RMS_MS,
    ) -> None:
        super().__init__(sr, channels)
        self.threshold_db = check_range("threshold_db", threshold_db, -90.0, 0.0)
        self.ratio = check_range("ratio", ratio, 1.0, 20.0)
        self.knee_db = check_range("knee_db", knee_db, 0.0, 24.0)
        self.attack_ms = check_range("attack_ms", attack_ms, 1.0, 500.0)
        self.release_ms = check_range("release_ms", release_ms, 1.0, 5000.0)
        self.makeup_db = check_range("makeup_db", makeup_db, -24.0, 24.0)
        if detector not in ("rms", "peak"):
            raise InvalidParameterError(f"detector must be 'rms' or 'peak', got {detector!r}")
        self.detector = detector
        self.rms_ms = check_range("rms_ms", rms_ms, 1.0, 300.0)
        self._a_att = _coeff(self.attack_ms, self.rate_hz)
        self._a_rel = _coeff(self.release_ms, self.rate_hz)
        self._a_rms = _coeff(self.rms_ms, self.rate_hz)
        self._ms = 0.0  # RMS detector state (mean square)
        self._gr = 0.0  # smoothed gain reduction in dB (>= 0)
        self._g_prev = 10 ** (self.makeup_db / 20)
        self._frames_n = 0
        self._frames_over = 0  # frames with more than 1 dB of reduction
        self._gr_max = 0.0
        self._gr_sum = 0.0
        #: Integrated loudness (LUFS) the threshold was set from, when a first pass measured it.
        self.loudness_lufs: float | None = None
        #: Why the compressor leaves the audio alone, when it does (a silent programme).
        self.not_applied: str | None = None

    def _gains(self, x: FloatArray, starts: npt.NDArray[np.intp]) -> FloatArray:
        if self.detector == "peak":
            peak = np.max(np.maximum.reduceat(np.abs(x), starts, axis=-1), axis=0)
            level = 20 * np.log10(np.maximum(peak, 1e-10))
        else:
            lengths = np.diff(np.append(starts, x.shape[-1]))
            ms = np.max(np.add.reduceat(x * x, starts, axis=-1), axis=0) / lengths
            ms, self._ms = _one_pole(ms, self._ms, self._a_rms)
            level = 10 * np.log10(np.maximum(ms, 1e-20))
        level = np.maximum(level, _SILENCE_DB)
        target = -gain_computer_db(level, self.threshold_db, self.ratio, self.knee_db)
        gr, self._gr = _smooth_branching(target, self._gr, self._a_att, self._a_rel)
        self._frames_n += gr.size
        self._frames_over += int(np.count_nonzero(gr > 1.0))
        self._gr_max = max(self._gr_max, float(np.max(gr)))
        self._gr_sum += float(np.sum(gr))
        return np.asarray(10 ** ((self.makeup_db - gr) / 20))

    def report(self) -> dict[str, Any]:
        """Settings and the measured gain reduction (dB) over the stream so far."""
        n = max(self._frames_n, 1)
        return {
            "step": "compress",
            "threshold_dbfs": round(self.threshold_db, 2),
            "ratio": self.ratio,
            "knee_db": self.knee_db,
            "attack_ms": self.attack_ms,
            "release_ms": self.release_ms,
            "makeup_db": self.makeup_db,
            "detector": self.detector,
            "max_gain_reduction_db": round(self._gr_max, 2),
            "mean_gain_reduction_db": round(self._gr_sum / n, 2),
            "share_reduced_over_1db": round(self._frames_over / n, 4),
            **({"input_loudness_lufs": round(self.loudness_lufs, 2)} if self.loudness_lufs is not None else {}),
            **({"applied": False, "not_applied": self.not_applied} if self.not_applied else self._idle()),
        }

    def _idle(self) -> dict[str, Any]:
        """``not_applied`` when the stream never crossed the threshold and no makeup gain was asked."""
        if self._frames_n and self._gr_max < _NEGLIGIBLE_DB and self.makeup_db == 0:
            return {
                "applied": False,
                "not_applied": f"nothing rose over the threshold ({self.threshold_db:.1f} dBFS): no gain was reduced",
            }
        return {}


class CompressorAnalyzer:
    """Pass one of the ``compress`` step: measure loudness, then build the :class:`Compressor`.

    The threshold is ``integrated loudness + threshold_lu`` (BS.1770-4 gated loudness of the
    whole programme), so the same setting treats a quiet and a loud recording alike.

    Parameters
    ----------
    sr : int
        Sample rate in Hz, in [8000, 192000].
    channels : int
        Channel count, >= 1.
    threshold_lu : float
        Threshold relative to the integrated loudness, in LU, in [-20, 20].
    ratio, knee_db, attack_ms, release_ms, makeup_db :
        As for :class:`Compressor`.

    Raises
    ------
    InvalidParameterError
        If a parameter is out of range.

    Examples
    --------
    >>> a = CompressorAnalyzer(16000, 1)
    >>> a.process(np.zeros((1, 16000), np.float32))
    >>> a.finish().report()["not_applied"]
    'the recording is silent (no programme above the BS.1770 -70 LUFS gate)'
    """

    def __init__(
        self,
        sr: int,
        channels: int,
        *,
        threshold_lu: float = THRESHOLD_LU,
        ratio: float = RATIO,
        knee_db: float = KNEE_DB,
        attack_ms: float = ATTACK_MS,
        release_ms: float = RELEASE_MS,
        makeup_db: float = 0.0,
    ) -> None:
        self.threshold_lu = check_range("threshold_lu", threshold_lu, -20.0, 20.0)
        self._settings = {
            "ratio": ratio,
            "knee_db": knee_db,
            "attack_ms": attack_ms,
            "release_ms": release_ms,
            "makeup_db": makeup_db,
        }
        Compressor(sr, channels, **self._settings)  # type: ignore[arg-type]  # checks every setting now
        self.sr, self.channels = check_sr(sr), check_channels(channels)
        self._meter = LoudnessMeter(self.sr, self.channels)

    def process(self, block: Audio) -> None:
        """Read a ``(channels, m)`` block (nothing is returned: this pass only listens)."""
        self._meter.process(check_block(block, self.channels))

    def finish(self) -> Compressor:
        """The compressor for this programme (a pass-through one for silence, which says so)."""
        lufs = self._meter.finish().integrated_lufs
        if not math.isfinite(lufs):
            comp = Compressor(self.sr, self.channels, threshold_db=0.0, ratio=1.0, knee_db=0.0)
            comp.not_applied = "the recording is silent (no programme above the BS.1770 -70 LUFS gate)"
            return comp
        threshold = min(0.0, max(-90.0, lufs + self.threshold_lu))
        st = self._settings
        comp = Compressor(
            self.sr,
            self.channels,
            threshold_db=threshold,
            ratio=st["ratio"],
            knee_db=st["knee_db"],
            attack_ms=st["attack_ms"],
            release_ms=st["release_ms"],
            makeup_db=st["makeup_db"],
        )
        comp.loudness_lufs = lufs
        return comp

    def report(self) -> dict[str, Any]:
        """What the meter saw so far."""
        return self._meter.report()


class DeEsser(_ControlRate):
    """Streaming split-band de-esser: only the sibilance band is turned down, and only in sibilants.

    The band (``low_hz`` to ``min(high_hz, 0.45 sr)``) is isolated by a linear-phase FIR
    band-pass (Hamming window, 1 kHz transitions, state carried) in phase with the input delayed
    by its group delay ``delay`` (about 1.6 ms); its power and the full-band power are averaged over
    ``DEESS_RMS_MS`` (linked: summed over channels); where the band's share of the power exceeds
    ``threshold_db`` and the band is above ``DEESS_FLOOR_DBFS``, the band is cut by
    ``(share - threshold) * (1 - 1/ratio)`` dB, at most ``max_reduction_db``, with attack and
    release smoothing. The output is ``x_d - (1 - g) * band``: where ``g = 1`` it is the input
    exactly. Implements :class:`dsp.stream.BlockProcessor`: the delay is compensated (the first
    ``delay`` output samples are dropped, ``flush`` pushes the last ones out), so the output is
    aligned with the input and as long.

    Parameters
    ----------
    sr : int
        Sample rate in Hz, in [8000, 192000]. Below about 11.1 kHz the band is narrower than a
        third of an octave and the de-esser passes the audio through unchanged (``active`` is
        False, the report says why).
    channels : int
        Channel count, >= 1.
    threshold_db : float
        Band share of the full-band power in dB above which the band is cut, in [-30, 0].
    ratio : float
        Slope of the cut above the threshold, in [1, 20].
    max_reduction_db : float
        Largest cut in dB, in [0, 24].
    low_hz, high_hz : float
        Sibilance band edges in Hz, ``1000 <= low_hz < high_hz <= 20000``.
    attack_ms, release_ms : float
        Time constants of the cut in ms, attack in [0.5, 100], release in [1, 1000].

    Raises
    ------
    InvalidParameterError
        If a parameter is out of range.

    References
    ----------
    .. [1] U. Zölzer (ed.), DAFX, 2nd ed., Wiley, 2011, ch. 4 (de-esser: dynamics processing with
       a filtered side chain).
    .. [2] J. D. Reiss and A. McPherson, Audio Effects: Theory, Implementation and Application,
       CRC Press, 2014, ch. 6 (split-band de-essing).

    Examples
    --------
    >>> DeEsser(8000, 1).active
    False
    >>> DeEsser(16000, 1).band_hz
    (4000.0, 7200.0)
    """

    def __init__(
        self,
        sr: int,
        channels: int,
        *,
        threshold_db: float = DEESS_THRESHOLD_DB,
        ratio: float = DEESS_RATIO,
        max_reduction_db: float = DEESS_MAX_REDUCTION_DB,
        low_hz: float = SIBILANCE_LOW_HZ,
        high_hz: float = SIBILANCE_HIGH_HZ,
        attack_ms: float = DEESS_ATTACK_MS,
        release_ms: float = DEESS_RELEASE_MS,
    ) -> None:
        super().__init__(sr, channels)
        self.threshold_db = check_range("threshold_db", threshold_db, -30.0, 0.0)
        self.ratio = check_range("ratio", ratio, 1.0, 20.0)
        self.max_reduction_db = check_range("max_reduction_db", max_reduction_db, 0.0, 24.0)
        low = check_range("low_hz", low_hz, 1000.0, 20000.0)
        high = check_range("high_hz", high_hz, 1000.0, 20000.0)
        if high <= low:
            raise InvalidParameterError(f"high_hz must be above low_hz, got {low_hz!r} and {high_hz!r}")
        self.attack_ms = check_range("attack_ms", attack_ms, 0.5, 100.0)
        self.release_ms = check_range("release_ms", release_ms, 1.0, 1000.0)
        high = min(high, _MAX_EDGE_OF_SR * self.sr)
        self.band_hz = (low, high)
        self.active = high / low >= _MIN_BAND_RATIO
        # linear-phase FIR band-pass (Hamming window, odd length): its band is in phase with the
        # input delayed by ``delay`` samples, so ``x_d - (1 - g) * band`` cuts the band by ``g``
        taps = round(_FIR_TRANSITION_FACTOR * self.sr / _FIR_TRANSITION_HZ) | 1
        self._fir = sps.firwin(taps, [low, high], pass_zero=False, fs=self.sr) if self.active else np.ones(1)
        self.delay = (taps - 1) // 2 if self.active else 0
        self._zi = np.zeros((self.channels, taps - 1))
        self._delay_line = np.zeros((self.channels, self.delay))
        self._xd: FloatArray = np.zeros((self.channels, 0))
        self._to_skip = self.delay
        self._n_out = 0
        self._a_att = _coeff(self.attack_ms, self.rate_hz)
        self._a_rel = _coeff(self.release_ms, self.rate_hz)
        self._a_rms = _coeff(DEESS_RMS_MS, self.rate_hz)
        self._pb = 0.0
        self._pf = 0.0
        self._cut = 0.0
        self._band: FloatArray = np.zeros((self.channels, 0))
        self._frames_n = 0
        self._frames_cut = 0
        self._cut_max = 0.0

    def process(self, block: Audio) -> Audio:
        """Take a ``(channels, m)`` float32 block; return the samples of the frames it completes."""
        if not self.active:
            if self._done:
                raise RuntimeError("the processor is flushed")
            x = check_block(block, self.channels)
            self._n_in += x.shape[-1]
            return x
        return self._emit(super().process(block))

    def _emit(self, y: Audio) -> Audio:
        """Drop the FIR's ``delay`` leading samples of the output stream (latency compensation)."""
        skip = min(self._to_skip, y.shape[-1])
        self._to_skip -= skip
        y = y[:, skip:]
        self._n_out += y.shape[-1]
        return y

    def _gains(self, x: FloatArray, starts: npt.NDArray[np.intp]) -> FloatArray:
        band, self._zi = sps.lfilter(self._fir, [1.0], x, axis=-1, zi=self._zi)
        xd = np.concatenate([self._delay_line, x], axis=-1)
        self._delay_line = xd[:, x.shape[-1] :]
        x = self._xd = xd[:, : x.shape[-1]]
        self._band = band
        lengths = np.diff(np.append(starts, x.shape[-1]))
        pb = np.sum(np.add.reduceat(band * band, starts, axis=-1), axis=0) / lengths
        pf = np.sum(np.add.reduceat(x * x, starts, axis=-1), axis=0) / lengths
        pb, self._pb = _one_pole(pb, self._pb, self._a_rms)
        pf, self._pf = _one_pole(pf, self._pf, self._a_rms)
        share_db = 10 * np.log10((pb + 1e-20) / (pf + 1e-20))
        band_db = 10 * np.log10(np.maximum(pb / self.channels, 1e-20))
        target = np.clip((share_db - self.threshold_db) * (1 - 1 / self.ratio), 0.0, self.max_reduction_db)
        target = np.where(band_db > DEESS_FLOOR_DBFS, target, 0.0)
        cut, self._cut = _smooth_branching(target, self._cut, self._a_att, self._a_rel)
        cut = np.where(cut < _NEGLIGIBLE_DB, 0.0, cut)  # a released cut ends exactly
        self._frames_n += cut.size
        self._frames_cut += int(np.count_nonzero(cut > 1.0))
        self._cut_max = max(self._cut_max, float(np.max(cut)))
        return np.asarray(10 ** (-cut / 20))

    def _apply(self, x: FloatArray, gain: FloatArray) -> FloatArray:
        return self._xd - (1.0 - gain) * self._band

    def flush(self) -> Audio:
        """Return the held-back samples; the processor is finished."""
        if not self.active or self._done:
            self._done = True
            return np.zeros((self.channels, 0), np.float32)
        n_in = self._n_in
        tail = self._emit(super().process(np.zeros((self.channels, self.delay), np.float32)))
        last = self._emit(super().flush())
        out = np.concatenate([tail, last], axis=-1)
        return out[:, : out.shape[-1] - (self._n_out - n_in)]

    def report(self) -> dict[str, Any]:
        """Settings, the band used and the measured cuts."""
        out: dict[str, Any] = {
            "step": "deess",
            # the band worked on (left out when it lies above the Nyquist frequency: clipped to it, its
            # top fell under its bottom)
            **({"band_hz": [round(self.band_hz[0], 1), round(self.band_hz[1], 1)]} if self.active else {}),
            "threshold_db": self.threshold_db,
            "ratio": self.ratio,
            "max_reduction_db": self.max_reduction_db,
        }
        if not self.active:
            out.update(
                applied=False,
                not_applied=f"at {self.sr} Hz the sibilance band {SIBILANCE_LOW_HZ:.0f}-{SIBILANCE_HIGH_HZ:.0f} Hz "
                "lies (almost) entirely above the Nyquist frequency: there is no sibilance to treat",
            )
            return out
        n = max(self._frames_n, 1)
        out.update(max_reduction_applied_db=round(self._cut_max, 2), share_cut_over_1db=round(self._frames_cut / n, 4))
        if self._frames_n and self._cut_max < _NEGLIGIBLE_DB:
            out.update(applied=False, not_applied="no sibilance rose over the threshold: nothing was cut")
        return out


def compress(audio: Audio, sr: int, **kwargs: Any) -> Audio:
    """Compress a whole signal with :class:`Compressor` (same shape and dtype out).

    Parameters
    ----------
    audio : ndarray, shape (n,) or (channels, n), float32
        The signal.
    sr : int
        Sample rate in Hz.
    **kwargs
        :class:`Compressor` settings.

    Raises
    ------
    InvalidAudioError
        If ``audio`` is empty, not finite or badly shaped.
    """
    audio = valid_audio(audio)
    return run_processor(Compressor(sr, as_2d(audio).shape[0], **kwargs), audio)


def deess(audio: Audio, sr: int, **kwargs: Any) -> Audio:
    """De-ess a whole signal with :class:`DeEsser` (same shape and dtype out).

    Parameters
    ----------
    audio : ndarray, shape (n,) or (channels, n), float32
        The signal.
    sr : int
        Sample rate in Hz.
    **kwargs
        :class:`DeEsser` settings.

    Raises
    ------
    InvalidAudioError
        If ``audio`` is empty, not finite or badly shaped.
    """
    audio = valid_audio(audio)
    return run_processor(DeEsser(sr, as_2d(audio).shape[0], **kwargs), audio)
