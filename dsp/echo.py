"""Discrete echo removal: find one delayed copy of the signal and take it out with an inverse comb.

A single discrete echo (a slap-back from a wall, a doubled feed, a delayed monitor) turns the
signal ``x`` into ``y[n] = x[n] + g * x[n - D]``. Its spectrum is ``X(w) * (1 + g e^{-jwD})``, a
ripple whose logarithm is a cosine series in ``w D``: the real cepstrum of ``y`` is the cepstrum
of ``x`` plus a peak of height ``g`` at quefrency ``D`` (and ``-g^2/2`` at ``2D``) (Bogert, Healy
& Tukey 1963; Childers, Skinner & Kemerait 1977). Speech has its pitch and formant structure
below 20 ms of quefrency, so a peak between 50 and 300 ms is the echo.

The work is in two passes, as in :mod:`dsp.silence`:

1. :class:`EchoAnalyzer` listens to the whole stream. It averages the log power spectrum of long
   Hann frames (at least six times the longest delay searched, so the echo of most of a frame
   falls inside it) and accumulates the exact autocorrelation of the pre-emphasised mono mix up
   to ``ECHO_TERMS`` times the longest delay (overlap-save, any length of input in bounded
   memory). :meth:`EchoAnalyzer.finish` takes the largest cepstral peak in the delay range,
   compares it with the spread of the cepstrum there (a robust z-score) and, when it stands out,
   fits the gain (and the delay to the sample) by minimising the energy left after the inverse
   comb, computed from the autocorrelation (for an echo-free source that energy is smallest at
   the true gain: ``sigma^2 (1 + (g - g_hat)^2 / (1 - g_hat^2))``).
2. :class:`EchoRemover` runs the inverse comb ``x_hat[n] = y[n] - g * x_hat[n - D]`` (a
   stable IIR for ``g < 1``) with the last ``D`` output samples carried between blocks: no
   latency, same length, the same samples whatever the block sizes.

Without a discrete echo (the peak does not stand out, or the fitted gain is below
``MIN_GAIN``) the audio is passed through untouched and the report says so: diffuse
reverberation has no single delay and is the dereverberation step's job (``remove_reverb``), not this one's.
:func:`remove_echo` runs both passes over an in-memory array; :func:`detect_echo` only the first.

References
----------
.. [1] B. P. Bogert, M. J. R. Healy, J. W. Tukey, "The quefrency alanysis of time series for
   echoes: cepstrum, pseudo-autocovariance, cross-cepstrum and saphe cracking," Proc. Symp. on
   Time Series Analysis, Wiley, 1963, pp. 209-243.
.. [2] D. G. Childers, D. P. Skinner, R. C. Kemerait, "The cepstrum: a guide to processing,"
   Proc. IEEE 65(10), 1977, pp. 1428-1443 (echo detection and removal by comb filtering).
.. [3] A. V. Oppenheim, R. W. Schafer, "Discrete-Time Signal Processing," 3rd ed., Pearson,
   2010, sec. 13.6 (cepstrum of a signal with an echo) and 5.1 (inverse systems).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.fft as sfft

from dsp._typing import Audio, FloatArray
from dsp._validate import as_2d, check_block, check_channels, check_range, check_sr, valid_audio

__all__ = ["EchoAnalyzer", "EchoEstimate", "EchoRemover", "detect_echo", "remove_echo"]

#: Shortest and longest echo delay searched by default, in ms (issue 13: discrete echoes of
#: 50-300 ms; below 50 ms a reflection fuses with the sound as colouration, Haas 1951).
MIN_DELAY_MS = 50.0
MAX_DELAY_MS = 300.0
#: Limits for those parameters, in ms: 20 ms is above the longest pitch period of speech
#: (50 Hz), so the cepstral pitch peak never enters the range; 1 s bounds the analysis memory.
DELAY_LIMITS_MS = (20.0, 1000.0)
#: Analysis frame length as a multiple of the longest delay: the echo of all but 1/6 of a
#: frame lies inside it, so the cepstral peak keeps most of its height.
FRAME_MULT = 6
#: Robust z-score (peak over 1.4826 x median absolute deviation of the cepstrum in the delay
#: range) a peak needs to count as an echo. On the real recordings of bench/echo.py, echo-free
#: speech scores 4-9 (also under cafe noise at 15 dB SNR) and music up to 25 (rhythmic
#: repetition, which the gain fit then finds under MIN_GAIN), while a 0.3 echo scores 65 or more
#: on clean speech and 23-29 on the band-limited 1961 JFK recording under noise at 15 dB SNR.
MIN_SCORE = 20.0
#: Smallest fitted gain that is removed (-20 dB): weaker copies are inaudible under the direct
#: sound, and a comb for them would only risk colouring echo-free material.
MIN_GAIN = 0.1
#: Largest gain the fit may return: the inverse comb's poles sit at radius g^(1/D).
MAX_GAIN = 0.95
#: Terms of the inverse comb's impulse response kept in the energy fit (0.7^12 = 1.4 %).
ECHO_TERMS = 12
#: Speech pre-emphasis before the autocorrelation (first-order, 0.97: Rabiner & Schafer,
#: "Theory and Applications of Digital Speech Processing", 2011, sec. 6.5.3); it whitens the
#: low-frequency tilt of speech so its own correlation at 50-300 ms lags biases the fit less.
PRE_EMPHASIS = 0.97
#: Floor added to each frame's power spectrum, relative to its mean (-60 dB), so bins with no
#: energy (band-limited recordings) do not dominate the log spectrum.
LOG_FLOOR = 1e-6
#: Frames quieter than this (mean square, -80 dBFS) carry no usable spectrum and are skipped.
SILENT_MS = 1e-8


@dataclass(frozen=True)
class EchoEstimate:
    """What the analysis found.

    Attributes
    ----------
    found : bool
        True when a discrete echo stands out and will be removed.
    delay_samples : int
        Echo delay ``D`` in samples (0 when nothing was found).
    gain : float
        Echo gain ``g`` in [0, 0.95] relative to the direct sound (0 when nothing was found).
    sr : int
        Sample rate in Hz.
    score : float
        Robust z-score of the largest cepstral peak in the delay range (0 with no usable frame).
    peak_delay_samples : int
        Where that largest peak was, in samples, whether or not it counts as an echo.
    frames : int
        Analysis frames used (frames of digital silence are skipped).
    reason : str
        Why nothing is removed (empty when ``found``).
    """

    found: bool
    delay_samples: int
    gain: float
    sr: int
    score: float
    peak_delay_samples: int
    frames: int
    reason: str = ""

    @property
    def delay_ms(self) -> float:
        """Echo delay in ms."""
        return 1000.0 * self.delay_samples / self.sr

    @property
    def gain_db(self) -> float:
        """Echo level relative to the direct sound in dB (``-inf`` without an echo)."""
        return 20 * math.log10(self.gain) if self.gain > 0 else -math.inf

    def report(self) -> dict[str, Any]:
        """JSON-ready measurement for the job report."""
        out: dict[str, Any] = {
            "echo_found": self.found,
            "delay_ms": round(self.delay_ms, 2) if self.found else None,
            "gain": round(self.gain, 3) if self.found else None,
            "echo_level_db": round(self.gain_db, 1) if self.found else None,
            "peak_delay_ms": round(1000.0 * self.peak_delay_samples / self.sr, 2),
            "peak_score": round(self.score, 1),
            "min_score": MIN_SCORE,
        }
        return out


def _frame_length(max_delay: int) -> int:
    return int(sfft.next_fast_len(FRAME_MULT * max_delay, real=True))


class EchoAnalyzer:
    """Pass one: listen to a stream and find its discrete echo (delay and gain).

    Parameters
    ----------
    sr : int
        Sample rate in Hz, in [8000, 192000].
    channels : int
        Channel count, >= 1; the channels are mixed to mono for the analysis (one echo is
        assumed for all of them).
    min_delay_ms : float
        Shortest delay searched, in ms in [20, 1000].
    max_delay_ms : float
        Longest delay searched, in ms in [``min_delay_ms`` + 10, 1000].

    Raises
    ------
    InvalidParameterError
        If a parameter is out of range.

    Notes
    -----
    Memory is bounded by the delay range, not the duration: one frame of
    ``6 * max_delay`` samples, its averaged log spectrum, and ``12 * max_delay`` lags of
    autocorrelation with as many samples of history (about 3 MB at 48 kHz for 300 ms).

    References
    ----------
    .. [1] D. G. Childers, D. P. Skinner, R. C. Kemerait, "The cepstrum: a guide to
       processing," Proc. IEEE 65(10), 1977.

    Examples
    --------
    >>> a = EchoAnalyzer(16000, 1)
    >>> a.process(np.zeros((1, 16000), np.float32))
    >>> a.finish().found
    False
    """

    def __init__(
        self,
        sr: int,
        channels: int,
        *,
        min_delay_ms: float = MIN_DELAY_MS,
        max_delay_ms: float = MAX_DELAY_MS,
    ) -> None:
        self.sr = check_sr(sr)
        self.channels = check_channels(channels)
        lo, hi = DELAY_LIMITS_MS
        self.min_delay_ms = check_range("min_delay_ms", min_delay_ms, lo, hi - 10.0)
        self.max_delay_ms = check_range("max_delay_ms", max_delay_ms, self.min_delay_ms + 10.0, hi)
        self._dmin = max(1, round(self.min_delay_ms * 1e-3 * self.sr))
        self._dmax = round(self.max_delay_ms * 1e-3 * self.sr)
        # cepstrum frames
        self._n_frame = _frame_length(self._dmax)
        self._hop = self._n_frame // 2
        self._window = np.hanning(self._n_frame + 2)[1:-1]
        self._buf = np.zeros(0)
        self._log_sum = np.zeros(self._n_frame // 2 + 1)
        self._frames = 0
        # exact autocorrelation, overlap-save
        self._max_lag = ECHO_TERMS * self._dmax + 2
        self._acf = np.zeros(self._max_lag + 1)
        self._hist = np.zeros(self._max_lag)
        self._pending = np.zeros(0)
        self._block = max(self._max_lag, 4096)
        self._pre_last = 0.0
        self._n = 0
        self._estimate: EchoEstimate | None = None

    def process(self, block: Audio) -> None:
        """Read a ``(channels, m)`` block (nothing is returned: this pass only listens)."""
        x = check_block(block, self.channels)
        if self._estimate is not None:
            raise RuntimeError("the analysis is finished")
        if not x.shape[-1]:
            return
        mono = np.mean(x.astype(np.float64), axis=0)
        self._n += mono.size
        self._buf = np.concatenate([self._buf, mono])
        while self._buf.size >= self._n_frame:
            self._frame(self._buf[: self._n_frame])
            self._buf = self._buf[self._hop :]
        pre = np.empty_like(mono)
        pre[0] = mono[0] - PRE_EMPHASIS * self._pre_last
        pre[1:] = mono[1:] - PRE_EMPHASIS * mono[:-1]
        self._pre_last = float(mono[-1])
        self._pending = np.concatenate([self._pending, pre])
        while self._pending.size >= self._block:
            self._correlate(self._pending[: self._block])
            self._pending = self._pending[self._block :]

    def _frame(self, frame: FloatArray) -> None:
        if float(np.mean(frame * frame)) < SILENT_MS:
            return
        p = np.abs(sfft.rfft(frame * self._window)) ** 2
        self._log_sum += np.log(p + LOG_FLOOR * float(np.mean(p)))
        self._frames += 1

    def _correlate(self, seg: FloatArray) -> None:
        """Add ``sum_n seg[n] * x[n - lag]`` for every lag, the history supplying ``x`` before ``seg``."""
        ext = np.concatenate([self._hist, seg])
        size = sfft.next_fast_len(ext.size + seg.size, real=True)
        cross = sfft.irfft(sfft.rfft(ext, size) * np.conj(sfft.rfft(seg, size)), size)
        # cross[k] = sum_n ext[n + k] seg[n]; lag L pairs seg[n] with ext[n + max_lag - L]
        self._acf += cross[self._max_lag - np.arange(self._max_lag + 1)]
        self._hist = ext[-self._max_lag :]

    def finish(self) -> EchoEstimate:
        """The estimate, once the whole stream was read."""
        if self._estimate is not None:
            return self._estimate
        if self._pending.size:
            self._correlate(self._pending)
            self._pending = np.zeros(0)
        if self._buf.size and (self._frames == 0 or self._buf.size > self._hop):
            # the stream's last part: zero-padded, when not already inside the previous frame
            tail = np.zeros(self._n_frame)
            tail[: self._buf.size] = self._buf
            self._frame(tail)
        self._buf = np.zeros(0)
        self._estimate = self._decide()
        return self._estimate

    def _decide(self) -> EchoEstimate:
        if self._frames == 0:
            return EchoEstimate(False, 0, 0.0, self.sr, 0.0, 0, 0, "the audio is silent: nothing to measure")
        if self._n < 2 * self._dmax:
            return EchoEstimate(
                False, 0, 0.0, self.sr, 0.0, 0, self._frames, "the audio is too short to measure an echo in it"
            )
        cep = sfft.irfft(self._log_sum / self._frames, self._n_frame)
        # halve: log|1 + g e^{-jwD}|^2 puts 2g/2 = g at D once the power cepstrum is halved
        seg = 0.5 * cep[self._dmin : self._dmax + 1]
        k = int(np.argmax(seg))
        med = float(np.median(seg))
        spread = 1.4826 * float(np.median(np.abs(seg - med))) + 1e-12
        score = (float(seg[k]) - med) / spread
        peak = self._dmin + k
        if score < MIN_SCORE:
            return EchoEstimate(
                False,
                0,
                0.0,
                self.sr,
                score,
                peak,
                self._frames,
                f"no discrete echo: the largest cepstral peak between {self.min_delay_ms:g} and "
                f"{self.max_delay_ms:g} ms (at {1000.0 * peak / self.sr:.1f} ms) scores {score:.1f}, "
                f"under {MIN_SCORE:g}; diffuse reverberation is remove_reverb's",
            )
        delay, gain = self._fit(peak)
        if gain < MIN_GAIN:
            return EchoEstimate(
                False,
                0,
                0.0,
                self.sr,
                score,
                peak,
                self._frames,
                f"the copy at {1000.0 * delay / self.sr:.1f} ms has a gain of {gain:.2f}, under {MIN_GAIN:g} "
                "(-20 dB): left alone",
            )
        return EchoEstimate(True, delay, gain, self.sr, score, peak, self._frames)

    def _fit(self, peak: int) -> tuple[int, float]:
        """Delay (peak +- 2 samples) and gain minimising the inverse comb's output energy.

        The output of the comb truncated to ``ECHO_TERMS`` terms, ``sum_k (-g)^k y[n - kD]``, has
        over the stream's own span ``0 <= n < N`` the energy ``sum_kl (-g)^(k+l) S_kl`` with
        ``S_kl = sum_{n<N} y[n-kD] y[n-lD]``: the autocorrelation at ``|k-l| D`` less the
        products that would fall after the end, taken from the history of the last samples
        (a recording that stops mid-sentence would otherwise pull the gain down).
        """
        r = self._acf
        tail = self._hist  # the last max_lag samples of the pre-emphasised stream (zeros before it)
        gains = np.linspace(0.0, MAX_GAIN, 191)
        k = np.arange(ECHO_TERMS + 1)
        coef = (-gains)[:, None, None] ** (k[:, None] + k[None, :])[None, :, :]
        best = (math.inf, peak, 0.0)
        for d in range(max(1, peak - 2), peak + 3):
            if ECHO_TERMS * d > self._max_lag:
                continue
            s = np.empty((ECHO_TERMS + 1, ECHO_TERMS + 1))
            for a in range(ECHO_TERMS + 1):
                for b in range(a, ECHO_TERMS + 1):
                    # products y[m] y[m - (b-a)D] for the last aD samples m, which the span drops
                    m = a * d
                    lag = (b - a) * d
                    end = tail[tail.size - m :] if m else tail[:0]
                    start = tail[tail.size - m - lag : tail.size - lag] if m else tail[:0]
                    s[a, b] = s[b, a] = r[lag] - float(np.dot(end, start))
            energy = np.sum(coef * s[None, :, :], axis=(1, 2))
            i = int(np.argmin(energy))
            if energy[i] < best[0]:
                best = (float(energy[i]), d, float(gains[i]))
        return best[1], best[2]

    def report(self) -> dict[str, Any]:
        """What was measured (the analysis must be finished)."""
        return {"step": "remove_echo_analysis", **self.finish().report()}


class EchoRemover:
    """Pass two: the inverse comb ``x_hat[n] = y[n] - g * x_hat[n - D]``, streaming.

    Parameters
    ----------
    sr : int
        Sample rate in Hz, in [8000, 192000]; must match the estimate's.
    channels : int
        Channel count, >= 1 (each channel is filtered alike).
    estimate : EchoEstimate
        The analysis of the same stream; when nothing was found the audio passes unchanged.

    Raises
    ------
    InvalidParameterError
        If ``sr`` or ``channels`` is out of range.
    ValueError
        If the estimate was made at another sample rate.

    References
    ----------
    .. [1] A. V. Oppenheim, R. W. Schafer, "Discrete-Time Signal Processing," 3rd ed., 2010,
       sec. 5.1 (inverse systems) and 13.6.

    Examples
    --------
    >>> x = np.zeros((1, 4000), np.float32); x[0, 0] = 1.0
    >>> y = x.copy(); y[0, 800] = 0.5                  # the echo: delay 800, gain 0.5
    >>> est = EchoEstimate(True, 800, 0.5, 16000, 30.0, 800, 1)
    >>> r = EchoRemover(16000, 1, est)
    >>> out = np.concatenate([r.process(y[:, :1000]), r.process(y[:, 1000:]), r.flush()], axis=-1)
    >>> float(np.abs(out - x).max()) < 1e-7
    True
    """

    def __init__(self, sr: int, channels: int, estimate: EchoEstimate) -> None:
        self.sr = check_sr(sr)
        self.channels = check_channels(channels)
        if estimate.sr != self.sr:
            raise ValueError(f"the echo estimate is for {estimate.sr} Hz, the stream is {self.sr} Hz")
        self.estimate = estimate
        self._d = estimate.delay_samples if estimate.found else 0
        self._g = estimate.gain
        self._state = np.zeros((self.channels, self._d))  # the last D output samples
        self._n = 0
        self._in_energy = 0.0
        self._out_energy = 0.0

    def process(self, block: Audio) -> Audio:
        """Take a ``(channels, m)`` block, return the ``(channels, m)`` block without the echo."""
        x = check_block(block, self.channels)
        self._n += x.shape[-1]
        if not self._d or not x.shape[-1]:
            return x.copy()
        d, g = self._d, self._g
        xd = x.astype(np.float64)
        ext = np.concatenate([self._state, np.empty_like(xd)], axis=-1)
        for i in range(0, xd.shape[-1], d):  # each sample needs the output D earlier: D at a time
            j = min(i + d, xd.shape[-1])
            ext[:, d + i : d + j] = xd[:, i:j] - g * ext[:, i : i + j - i]
        y = ext[:, d:]
        self._state = ext[:, -d:]
        self._in_energy += float(np.sum(xd * xd))
        self._out_energy += float(np.sum(y * y))
        return y.astype(np.float32)

    def flush(self) -> Audio:
        """No latency, nothing held back: an empty block."""
        return np.zeros((self.channels, 0), np.float32)

    def report(self) -> dict[str, Any]:
        """Whether the echo was removed, its delay and gain, and the energy change."""
        est = self.estimate
        out: dict[str, Any] = {"step": "remove_echo", "applied": est.found, **est.report()}
        if est.found:
            change = 10 * math.log10(max(self._out_energy, 1e-30) / max(self._in_energy, 1e-30))
            out["energy_change_db"] = round(change, 2) if self._in_energy > 0 else 0.0
        else:
            out["not_applied"] = est.reason
        return out


def detect_echo(
    audio: Audio, sr: int, *, min_delay_ms: float = MIN_DELAY_MS, max_delay_ms: float = MAX_DELAY_MS
) -> EchoEstimate:
    """Find the discrete echo of a recording (pass one of :func:`remove_echo`).

    Parameters
    ----------
    audio : ndarray, shape (n,) or (channels, n), float32
        Finite samples, nominal range [-1, 1].
    sr : int
        Sample rate in Hz, in [8000, 192000].
    min_delay_ms, max_delay_ms : float
        Delay range searched, in ms within [20, 1000].

    Returns
    -------
    EchoEstimate
        Delay (samples) and gain of the echo, or ``found=False`` with the reason.

    Raises
    ------
    InvalidAudioError
        If ``audio`` is empty, not finite or badly shaped.
    InvalidParameterError
        If a parameter is out of range.

    References
    ----------
    .. [1] B. P. Bogert, M. J. R. Healy, J. W. Tukey, 1963 (the cepstrum for echo delays).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal(48000).astype(np.float32) * 0.1
    >>> y = x.copy(); y[1600:] += 0.5 * x[:-1600]      # 100 ms at 16 kHz, gain 0.5
    >>> est = detect_echo(y, 16000)
    >>> est.found, est.delay_samples, round(est.gain, 1)
    (True, 1600, 0.5)
    """
    x = as_2d(valid_audio(audio))
    a = EchoAnalyzer(sr, x.shape[0], min_delay_ms=min_delay_ms, max_delay_ms=max_delay_ms)
    a.process(x)
    return a.finish()


def remove_echo(
    audio: Audio, sr: int, *, min_delay_ms: float = MIN_DELAY_MS, max_delay_ms: float = MAX_DELAY_MS
) -> Audio:
    """Remove a discrete echo (delay ``min_delay_ms``-``max_delay_ms``) from a recording, both passes in memory.

    Parameters
    ----------
    audio : ndarray, shape (n,) or (channels, n), float32
        Finite samples, nominal range [-1, 1].
    sr : int
        Sample rate in Hz, in [8000, 192000].
    min_delay_ms, max_delay_ms : float
        Delay range searched, in ms within [20, 1000].

    Returns
    -------
    ndarray, float32
        Same shape as ``audio``; unchanged (a copy) when no discrete echo is found.

    Raises
    ------
    InvalidAudioError
        If ``audio`` is empty, not finite or badly shaped.
    InvalidParameterError
        If a parameter is out of range.

    References
    ----------
    .. [1] D. G. Childers, D. P. Skinner, R. C. Kemerait, "The cepstrum: a guide to
       processing," Proc. IEEE 65(10), 1977.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal(48000).astype(np.float32) * 0.1
    >>> y = x.copy(); y[1600:] += 0.5 * x[:-1600]
    >>> left = remove_echo(y, 16000) - x                 # what is left of the echo
    >>> bool(10 * np.log10(np.sum((y - x) ** 2) / np.sum(left**2)) > 15)
    True
    """
    audio = valid_audio(audio)
    x = as_2d(audio)
    est = detect_echo(x, sr, min_delay_ms=min_delay_ms, max_delay_ms=max_delay_ms)
    r = EchoRemover(sr, x.shape[0], est)
    out = r.process(x)
    return out[0] if audio.ndim == 1 else out
