"""Click repair: autoregressive detection, least-squares AR interpolation, burst attenuation.

The classic restoration method of Vaseghi & Rayner [1]_ and Godsill & Rayner [2]_ (ch. 5):

1. **Model.** Audio is locally an autoregressive (AR) process: each sample is predicted from
   the ``p`` before it. The AR coefficients are fitted (Yule-Walker, Levinson recursion) on a
   high-passed copy of a window around the current stretch; high-passing (2nd-order
   Butterworth at 2 kHz) keeps the voiced-speech excitation, whose energy is low-frequency, from
   looking like clicks, while a click's broadband energy stays.
2. **Detect.** The prediction error ``e = h * x`` (``h = [1, -a_1 .. -a_p]``) is small where the
   model holds and spikes at a click. Filtering it with the time-reversed ``h`` (the matched
   filter of [1]_) concentrates a click's error at the click itself. Samples where that
   statistic exceeds ``detection_mult`` times its local robust scale (1.4826 × the median
   absolute value, a standard deviation for Gaussian errors, over the analysis window) are
   flagged; flags closer than 1 ms are one event. Channels are linked: the statistic is the
   mean over channels of each channel's normalised value, and an event is repaired in every
   channel.
3. **Repair.** An event of at most ``click_len_ms`` is replaced by the least-squares AR
   interpolation (LSAR, [2]_ eq. 5.17) of its samples given the signal on both sides, with the
   AR model refitted on that known context; the system is banded (bandwidth ``p``) and solved in
   O(m p²). A longer event is a burst (a keystroke, a knock), which interpolation over tens of
   milliseconds would turn into a dropout: its short-time spectrum is instead clamped, bin by
   bin, to the louder of the spectra just before and just after it (the neighbourhood clamp of
   :mod:`dsp.clicks`), so the speech under it stays.

The stream is cut into fixed analysis stretches counted from its first sample, each analysed
with ``hist`` samples of already-repaired past and a lookahead long enough for the longest event
plus its context, so the output does not depend on how the input is split into blocks; the
lookahead is compensated (output aligned with input, same length).

References
----------
.. [1] S. V. Vaseghi, P. J. W. Rayner, "Detection and suppression of impulsive noise in speech
   communication systems," IEE Proc. I, 137(1), 1990, pp. 38-46.
.. [2] S. J. Godsill, P. J. W. Rayner, "Digital Audio Restoration," Springer, 1998, ch. 5.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import linalg, signal

from dsp._typing import Audio, FloatArray
from dsp._validate import as_2d, check_block, check_channels, check_range, check_sr, valid_audio
from dsp.stream import run_processor

__all__ = ["ClickDetections", "ClickRepairer", "detect_clicks", "repair_clicks"]

#: Analysis stretch, in seconds: the unit the stream is cut into (short enough for the AR model
#: to hold, long enough for a robust scale).
_STRETCH_S = 0.064
#: Past context analysed with each stretch, in seconds: the AR model is fitted on it. It is
#: already repaired, so the clicks being looked for cannot bias the fit (a click inside the fit
#: window is partly "explained" by the model and its error shrinks).
_HIST_S = 0.032
#: The repaired core of an event: where the statistic reaches this share of its peak (-10 dB).
_CORE_SHARE = 0.316
#: Flags closer than this are one event, in seconds (a pop's zero crossings, a crackle pair).
_MERGE_S = 0.001
#: Samples of margin repaired on each side of an event, in seconds.
_PAD_S = 0.00025
#: Known context on each side of an event for the LSAR refit and solve, in seconds.
_CONTEXT_S = 0.008
#: High-pass corner of the detection copy, in Hz (above most voiced excitation energy).
_HP_HZ = 2000.0
#: Added to the zero-lag autocorrelation before solving for the AR model (a -40 dB white-noise
#: floor): keeps the fit well-conditioned on tonal input, where an exact fit makes LSAR ring.
_WHITE_NOISE_CORRECTION = 1e-4
#: 1.4826 × MAD is the standard deviation of Gaussian data (Huber, Robust Statistics, 1981).
_MAD_TO_SIGMA = 1.4826
#: Longest event accepted as one event at all (longer: not a click), in seconds: twice the
#: longest keystroke burst (30 ms) the bursts are sized by.
_MAX_EVENT_S = 0.06
#: A click stands out of its surroundings: its peak must exceed the largest value of the
#: statistic from ``_RING_GAP_S`` to ``_RING_S`` on either side by this factor. Voiced speech
#: (glottal pulses every 2.5-12.5 ms for 80-400 Hz) and onsets have neighbours as large.
_RING_S = 0.015
_RING_GAP_S = 0.001
#: An event longer than this (s) is burst-like; it must peak at ``_BURST_PEAK_MULT`` times
#: ``detection_mult`` or more, since plosive and fricative onsets in speech are long too.
_SHORT_S = 0.005
_BURST_PEAK_MULT = 4.0


def _ar_order(sr: int) -> int:
    """AR order: about one coefficient per 1.2 kHz of bandwidth, from 12 to 40.

    Godsill & Rayner (ch. 5) use orders of 20-40 at 44.1 kHz.
    """
    return int(np.clip(round(sr / 1200), 12, 40))


def _autocorr(x: FloatArray, p: int) -> FloatArray:
    """Lags 0..p of the autocorrelation of ``x`` Hann-windowed (biased estimate)."""
    w = x * np.hanning(x.size)
    return np.array([w[: w.size - k] @ w[k:] for k in range(p + 1)])


def _ar_fit(x: FloatArray, p: int) -> FloatArray:
    """Prediction-error filter ``h = [1, -a_1, ..., -a_p]`` by Yule-Walker on ``x`` (Hann-windowed)."""
    return _levinson(_autocorr(x, p), p)


def _ar_fit_pieces(pieces: list[FloatArray], p: int) -> FloatArray:
    """Yule-Walker on several known stretches at once (their autocorrelations summed)."""
    r = np.zeros(p + 1)
    for piece in pieces:
        if piece.size > p:
            r += _autocorr(piece, p)
    return _levinson(r, p)


def _levinson(r: FloatArray, p: int) -> FloatArray:
    if r[0] <= 0:
        h = np.zeros(p + 1)
        h[0] = 1.0
        return h
    r = r.astype(np.float64).copy()
    r[0] *= 1.0 + _WHITE_NOISE_CORRECTION  # a stable, well-conditioned fit on near-singular (tonal) input
    a = linalg.solve_toeplitz(r[:p], r[1 : p + 1])
    return np.concatenate([[1.0], -a])


def _lsar(x: FloatArray, u0: int, u1: int, h: FloatArray) -> FloatArray:
    """Least-squares AR interpolation of ``x[u0:u1]`` (Godsill & Rayner eq. 5.17).

    ``x`` holds at least ``p`` known samples before ``u0`` and after ``u1``. Minimises the
    prediction-error energy over the unknown samples: ``(A_u^T A_u) x_u = -A_u^T A_k x_k``, where
    ``A_u^T A_u`` is the banded Toeplitz matrix of the autocorrelation of ``h``.
    """
    p = h.size - 1
    m = u1 - u0
    x0 = x.astype(np.float64).copy()
    x0[u0:u1] = 0.0
    e0 = signal.lfilter(h, [1.0], x0)
    # rhs_j = sum_k h_k e0[j + k] for the unknown j
    seg = e0[u0 : u1 + p]
    rhs = -np.correlate(seg, h, mode="valid")[:m]
    rh = np.correlate(h, h, mode="full")[p:]  # autocorrelation of h, lags 0..p
    band = min(p, m - 1)
    ab = np.zeros((band + 1, m))
    for d in range(band + 1):
        ab[band - d, d:] = rh[d]
    try:
        xu = linalg.solveh_banded(ab, rhs, check_finite=False)
    except linalg.LinAlgError:  # not positive definite (h degenerate): leave the samples
        return x[u0:u1].astype(np.float64)
    return np.asarray(xu, dtype=np.float64)


def _reflect(x: FloatArray, n: int) -> FloatArray:
    """``n`` samples after ``x`` (``(channels, m)``): ``2 x[-1] - x[-1 - k]``, repeated as needed."""
    if x.shape[-1] < 2:
        return np.repeat(x[:, -1:] if x.shape[-1] else np.zeros((x.shape[0], 1)), n, axis=-1)
    out: list[FloatArray] = []
    last = x
    while sum(o.shape[-1] for o in out) < n:
        k = min(last.shape[-1] - 1, n)
        piece = 2 * last[:, -1:] - last[:, -2 : -2 - k : -1]
        out.append(piece)
        last = np.concatenate([last, piece], axis=-1)
    return np.concatenate(out, axis=-1)[:, :n]


def _clamp_burst(x: FloatArray, a: int, b: int, sr: int) -> FloatArray:
    """``x[a:b]`` with each short-time spectrum bin limited to the louder of its neighbourhoods.

    ``x`` is one channel holding context before ``a`` and after ``b``. 4 ms Hann frames, hop
    1 ms; frames covering the burst are clamped to the per-bin maximum of the mean power of
    the frames wholly before and wholly after it (Fitzgerald's transient-as-outlier view, as in
    :mod:`dsp.clicks`); the rest is resynthesised by weighted overlap-add.
    """
    n_fft = max(16, round(0.004 * sr))
    hop = max(1, n_fft // 4)
    win = np.hanning(n_fft + 2)[1:-1]
    starts = np.arange(0, x.size - n_fft + 1, hop)
    frames = np.stack([x[s : s + n_fft] * win for s in starts])
    spec = np.fft.rfft(frames, axis=-1)
    power = np.abs(spec) ** 2
    before = starts + n_fft <= a
    after = starts >= b
    inside = ~(before | after)
    if not before.any() or not after.any() or not inside.any():
        return x[a:b].copy()
    ref = np.maximum(power[before].mean(axis=0), power[after].mean(axis=0))
    gain = np.minimum(1.0, np.sqrt((ref + 1e-20) / (power[inside] + 1e-20)))
    spec[inside] *= gain
    y = np.fft.irfft(spec, n=n_fft, axis=-1) * win
    out = np.zeros(x.size)
    norm = np.zeros(x.size)
    for i, s in enumerate(starts):
        out[s : s + n_fft] += y[i]
        norm[s : s + n_fft] += win**2
    keep = norm > 1e-3
    result = x.astype(np.float64).copy()
    result[keep] = out[keep] / norm[keep]
    return result[a:b]


@dataclass(frozen=True)
class ClickDetections:
    """Clicks found in a stream: each onset and length in seconds, and how it was repaired.

    ``interpolated[i]`` is True where event ``i`` was rebuilt by LSAR interpolation, False where
    it was a burst longer than ``click_len_ms`` and was attenuated.
    """

    onsets_s: tuple[float, ...]
    lengths_s: tuple[float, ...]
    interpolated: tuple[bool, ...]


class ClickRepairer:
    """Streaming click repairer (:class:`dsp.stream.BlockProcessor`), linked across channels.

    Parameters
    ----------
    sr : int
        Sample rate in Hz, in [8000, 192000].
    channels : int
        Channel count, >= 1.
    detection_mult : float
        Threshold, in [6, 10], as a multiple of the local robust scale (1.4826 × MAD) of the
        matched-filtered AR prediction error. 6 is the most sensitive; higher finds fewer clicks.
    click_len_ms : float
        Longest event, in ms in [5, 30], repaired by interpolation; longer events (bursts such
        as keystrokes, up to 200 ms) are attenuated to their neighbourhood's spectrum instead.

    Raises
    ------
    InvalidParameterError
        If a parameter is out of range.

    References
    ----------
    .. [1] S. V. Vaseghi, P. J. W. Rayner, "Detection and suppression of impulsive noise in
       speech communication systems," IEE Proc. I, 137(1), 1990.
    .. [2] S. J. Godsill, P. J. W. Rayner, "Digital Audio Restoration," Springer, 1998, ch. 5.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> t = np.arange(16000) / 16000
    >>> x = (0.3 * np.sin(2 * np.pi * 440 * t) + 1e-3 * rng.standard_normal(16000)).astype(np.float32)
    >>> x[8000] += 0.8
    >>> rep = ClickRepairer(16000, 1)
    >>> y = np.concatenate([rep.process(x[None, :7000]), rep.process(x[None, 7000:]), rep.flush()], axis=-1)
    >>> y.shape, bool(abs(y[0, 8000] - 0.3 * np.sin(2 * np.pi * 440 * 0.5)) < 0.05)
    ((1, 16000), True)
    >>> [abs(t - 0.5) < 0.002 for t in rep.detections().onsets_s]  # found within 2 ms
    [True]
    """

    def __init__(self, sr: int, channels: int, *, detection_mult: float = 8.0, click_len_ms: float = 10.0) -> None:
        self.sr = check_sr(sr)
        self.channels = check_channels(channels)
        self.detection_mult = check_range("detection_mult", detection_mult, 6.0, 10.0)
        self.click_len_ms = check_range("click_len_ms", click_len_ms, 5.0, 30.0)
        self.p = _ar_order(self.sr)
        self._stretch = round(_STRETCH_S * self.sr)
        self._hist_len = max(round(_HIST_S * self.sr), 2 * self.p)
        self._ctx = max(round(_CONTEXT_S * self.sr), 2 * self.p)
        self._max_event = round(_MAX_EVENT_S * self.sr)
        self._ring = round(_RING_S * self.sr)
        self._ring_gap = max(round(_RING_GAP_S * self.sr), self.p)
        #: how far a click's peak must stand above its surroundings (monotonic in detection_mult)
        self._stand_out = 1.0 + (self.detection_mult - 6.0) / 4.0
        #: events longer than this (samples) must also peak above ``_burst_peak``
        self._short = round(_SHORT_S * self.sr)
        self._burst_peak = _BURST_PEAK_MULT * self.detection_mult
        self._ahead = self._max_event + max(self._ctx, self._ring) + self.p
        self._merge = max(1, round(_MERGE_S * self.sr))
        self._pad = max(1, round(_PAD_S * self.sr))
        self._max_interp = round(self.click_len_ms * 1e-3 * self.sr)
        self._sos = signal.butter(2, _HP_HZ / (self.sr / 2), btype="highpass", output="sos")
        self._hist = np.zeros((self.channels, self._hist_len))  # repaired past (float64)
        self._buf = np.zeros((self.channels, 0))  # input not yet output
        self._pos = 0  # stream index of _buf[:, 0]
        self._n_in = 0
        self._n_out = 0
        self._skip_until = 0  # samples before this stream index were already repaired
        self._trace: list[tuple[int, int, float, float]] | None = None  # candidates, for tuning
        self._onsets: list[int] = []
        self._lengths: list[int] = []
        self._interp: list[bool] = []

    # ------------------------------------------------------------------ streaming
    def process(self, block: Audio) -> Audio:
        """Take a ``(channels, m)`` block, return the ``(channels, k)`` samples now final."""
        x = check_block(block, self.channels)
        self._n_in += x.shape[-1]
        self._buf = np.concatenate([self._buf, x.astype(np.float64)], axis=-1)
        outs = []
        while self._buf.shape[-1] >= self._stretch + self._ahead:
            outs.append(self._step())
        return self._emit(outs)

    def flush(self) -> Audio:
        """Return every sample still held back; the processor is finished afterwards."""
        need = self._n_in - self._n_out
        held = self._buf.shape[-1]
        self._buf = np.concatenate([self._buf, self._continuation(self._ahead)], axis=-1)
        outs = []
        while held > 0:
            outs.append(self._step())
            held -= self._stretch
        y = np.concatenate(outs, axis=-1) if outs else np.zeros((self.channels, 0))
        self._n_out = self._n_in
        return np.ascontiguousarray(y[:, : max(0, need)].astype(np.float32))

    def _emit(self, outs: list[FloatArray]) -> Audio:
        if not outs:
            return np.zeros((self.channels, 0), np.float32)
        y = np.concatenate(outs, axis=-1).astype(np.float32)
        self._n_out += y.shape[-1]
        return np.ascontiguousarray(y)

    def _continuation(self, n: int) -> FloatArray:
        """``n`` samples after the end of the stream, so it does not stop dead.

        The last samples are point-reflected about the last one (value and slope carry on); a
        dead stop would be a step the detector takes for a click.
        """
        tail = np.concatenate([self._hist, self._buf], axis=-1)
        return _reflect(tail, n)

    def _step(self) -> FloatArray:
        """Analyse and repair one stretch; return it (final) and slide the window on."""
        s, h_len = self._stretch, self._hist_len
        if self._pos == 0:  # before the first sample: the reflection backwards, not silence
            self._hist = np.ascontiguousarray(_reflect(self._buf[:, ::-1], h_len)[:, ::-1], dtype=np.float64)
        win = np.concatenate([self._hist, self._buf], axis=-1)  # [hist | stretch | ahead]
        for a, b in self._detect(win):
            start = self._pos + a - h_len
            if start < self._skip_until:
                continue
            self._repair(win, a, b)
            self._onsets.append(start + self._pad)  # the event itself, without the repair margin
            self._lengths.append(b - a - 2 * self._pad)
            self._interp.append(b - a - 2 * self._pad <= self._max_interp)
            self._skip_until = self._pos + b - h_len
        out = win[:, h_len : h_len + s].copy()
        self._hist = np.ascontiguousarray(win[:, s : h_len + s])
        self._buf = np.ascontiguousarray(win[:, h_len + s :])
        self._pos += s
        return out

    # ------------------------------------------------------------------ detection
    def _statistic(self, win: FloatArray) -> FloatArray:
        """Normalised matched-filter statistic per sample of ``win`` (mean over channels)."""
        s, h_len = self._stretch, self._hist_len
        hp = signal.sosfilt(self._sos, win, axis=-1)
        settle = min(h_len // 4, 4 * self.p)  # the filter's start-up transient is not fitted
        stat = np.zeros(win.shape[-1])
        for c in range(self.channels):
            past = hp[c, settle:h_len]
            here = hp[c, h_len : h_len + s]
            # the repaired past is the clean model; at the very start there is no past yet
            fit = past if float(past @ past) > 1e-6 * float(here @ here) else hp[c, : h_len + s]
            h = _ar_fit(fit, self.p)
            e = signal.lfilter(h, [1.0], hp[c])
            d = np.abs(np.correlate(e, h, mode="full")[self.p :])  # time-reversed h: matched filter
            # floor: a residual 100 dB under full scale is silence, not a scale to measure against
            floor = 1e-5 * float(np.sum(h * h))
            scale = max(_MAD_TO_SIGMA * float(np.median(d[: h_len + s + self._ctx])), floor)
            stat += d / scale
        stat /= self.channels
        return stat

    def _detect(self, win: FloatArray) -> list[tuple[int, int]]:
        """Events ``(a, b)`` (indices into ``win``) that start inside the current stretch."""
        s, h_len = self._stretch, self._hist_len
        stat = self._statistic(win)
        flags = np.flatnonzero(stat > self.detection_mult)
        if flags.size == 0:
            return []
        events = []
        breaks = np.flatnonzero(np.diff(flags) > self._merge)
        starts = np.concatenate([[flags[0]], flags[breaks + 1]])
        ends = np.concatenate([flags[breaks], [flags[-1]]]) + 1
        gap, ring = self._ring_gap, self._ring
        for a0, b0 in zip(starts, ends, strict=True):
            if not h_len <= a0 < h_len + s:
                continue
            if b0 - a0 > self._max_event:
                continue  # a sustained change (onset, new note), not a click
            peak = float(stat[a0:b0].max())
            left = stat[max(0, a0 - ring) : max(0, a0 - gap)]
            right = stat[b0 + gap : b0 + ring]
            around = max(float(left.max(initial=0.0)), float(right.max(initial=0.0)))
            if self._trace is not None:
                self._trace.append((self._pos + int(a0) - h_len, int(b0 - a0), peak, around))
            if peak < self._stand_out * around:
                continue  # as loud as its neighbourhood: pitch pulses, an onset, a drum
            if b0 - a0 > self._short and peak < self._burst_peak:
                continue  # a long, moderate event: a plosive or fricative onset more than a burst
            # the matched filter spreads an event by up to p samples each side: keep its core,
            # where the statistic is within 10 dB of the peak
            core = a0 + np.flatnonzero(stat[a0:b0] >= _CORE_SHARE * peak)
            a0, b0 = int(core[0]), int(core[-1]) + 1
            a = max(a0 - self._pad, self._ctx)
            b = min(b0 + self._pad, win.shape[-1] - self._ctx)
            if b > a:
                events.append((a, b))
        return events

    # ------------------------------------------------------------------ repair
    def _repair(self, win: FloatArray, a: int, b: int) -> None:
        """Repair ``win[:, a:b]`` in place (LSAR for short events, spectral clamp for bursts)."""
        interp = b - a - 2 * self._pad <= self._max_interp
        ctx = self._ctx
        for c in range(self.channels):
            seg = win[c, a - ctx : b + ctx]
            if interp:
                h = _ar_fit_pieces([seg[:ctx], seg[-ctx:]], self.p)
                win[c, a:b] = _lsar(seg, ctx, ctx + (b - a), h)
            else:
                win[c, a:b] = _clamp_burst(seg, ctx, ctx + (b - a), self.sr)

    # ------------------------------------------------------------------ results
    def detections(self) -> ClickDetections:
        """Every event repaired so far: onsets and lengths in seconds, how each was repaired."""
        return ClickDetections(
            onsets_s=tuple(round(o / self.sr, 6) for o in self._onsets),
            lengths_s=tuple(round(n / self.sr, 6) for n in self._lengths),
            interpolated=tuple(self._interp),
        )

    def report(self) -> dict[str, Any]:
        """Step name, parameters, clicks found / interpolated / attenuated, longest, rate per minute."""
        minutes = max(self._n_in / self.sr / 60.0, 1e-9)
        n = len(self._onsets)
        n_interp = sum(self._interp)
        return {
            "step": "declick",
            "detection_mult": self.detection_mult,
            "click_len_ms": self.click_len_ms,
            "clicks_found": n,
            "interpolated": n_interp,
            "attenuated": n - n_interp,
            "longest_ms": round(max(self._lengths, default=0) / self.sr * 1000, 2),
            "clicks_per_minute": round(n / minutes, 1),
        }


def repair_clicks(audio: Audio, sr: int, *, detection_mult: float = 8.0, click_len_ms: float = 10.0) -> Audio:
    """Repair clicks: whole-signal form of :class:`ClickRepairer`.

    Parameters
    ----------
    audio : ndarray, shape (n,) or (channels, n), float32
        Finite samples, ``n >= 1``.
    sr : int
        Sample rate in Hz, in [8000, 192000].
    detection_mult : float
        Detection threshold in [6, 10] (multiple of the local robust scale; 6 = most sensitive).
    click_len_ms : float
        Longest event in ms, in [5, 30], rebuilt by interpolation; longer ones are attenuated.

    Returns
    -------
    ndarray, float32
        Same shape and length as ``audio``, aligned with it.

    Raises
    ------
    InvalidAudioError
        If ``audio`` is empty, not finite or badly shaped.
    InvalidParameterError
        If a parameter is out of range.

    References
    ----------
    .. [1] S. J. Godsill, P. J. W. Rayner, "Digital Audio Restoration," Springer, 1998, ch. 5.

    Examples
    --------
    >>> x = (0.2 * np.sin(np.arange(8000) / 7)).astype(np.float32)
    >>> x[4000] = 0.9
    >>> y = repair_clicks(x, 8000)
    >>> y.shape, bool(abs(y[4000] - 0.2 * np.sin(4000 / 7)) < 0.05)
    ((8000,), True)
    """
    audio = valid_audio(audio)
    proc = ClickRepairer(sr, as_2d(audio).shape[0], detection_mult=detection_mult, click_len_ms=click_len_ms)
    return run_processor(proc, audio)


def detect_clicks(audio: Audio, sr: int, *, detection_mult: float = 8.0, click_len_ms: float = 10.0) -> ClickDetections:
    """Find (and repair, discarding the audio) every click; the events with onsets in seconds.

    Parameters
    ----------
    audio : ndarray, shape (n,) or (channels, n), float32
        Finite samples, ``n >= 1``.
    sr : int
        Sample rate in Hz, in [8000, 192000].
    detection_mult : float
        Detection threshold in [6, 10].
    click_len_ms : float
        Longest interpolated event in ms, in [5, 30].

    Returns
    -------
    ClickDetections
        Onsets and lengths in seconds, and whether each event was interpolated.

    Raises
    ------
    InvalidAudioError
        If ``audio`` is empty, not finite or badly shaped.
    InvalidParameterError
        If a parameter is out of range.

    References
    ----------
    .. [1] S. V. Vaseghi, P. J. W. Rayner, IEE Proc. I, 137(1), 1990.

    Examples
    --------
    >>> x = np.zeros(8000, np.float32)
    >>> x[2000] = 0.5
    >>> [round(t, 2) for t in detect_clicks(x, 8000).onsets_s]
    [0.25]
    """
    audio = valid_audio(audio)
    proc = ClickRepairer(sr, as_2d(audio).shape[0], detection_mult=detection_mult, click_len_ms=click_len_ms)
    run_processor(proc, audio)
    return proc.detections()
