"""Click and keyboard-transient suppression: short spectra clamped to their neighbourhood in time.

A click (keystroke, mouth click, crackle) is a few milliseconds of broadband energy far above
what the same frequencies carry just before and just after it, while speech onsets stay loud
afterwards. On a fine STFT (4 ms frames, 2 ms hop) each bin's power is compared with its mean
over two context windows, one ending ``gap`` before the frame and one starting ``gap`` after it;
where it exceeds the louder of the two by more than ``threshold_db``, the bin's magnitude is
scaled down to ``threshold_db`` above that level (phase kept). A click is broadband, so a frame is
touched only when at least 30 % of its bins rise like that; narrowband rises (a harmonic gliding
into a bin, a formant moving, a glottal pulse in creaky voice) leave the frame untouched. Where
70 % or more of the bins rise and the median bin stands 20 dB or more above its context, the
frame is a transient and nothing else (a speech onset is never that far above what follows
it), and every bin above the level around it is brought down to that level, not to
``threshold_db`` above it. Everything else passes unchanged. The right context needs a fixed
lookahead of about 18 ms, which is compensated: the output lines up with the input, has the
same length, and does not depend on the block sizes fed in.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import ndimage

from dsp._typing import Audio
from dsp._validate import as_2d, check_block, check_channels, check_range, check_sr, valid_audio
from dsp.spectral import ComplexArray, StftStream, frame_settings
from dsp.stream import run_processor

__all__ = ["ClickSuppressor", "suppress_clicks"]

_FRAME_S = 0.004  # analysis frame; clicks in speech recordings last about 0.1-30 ms
_GAP_S = 0.012  # context windows start this far from the frame (click + frame length)
_CONTEXT_S = 0.008  # length of each context window
_FREQ_TAPS = np.array([0.25, 0.5, 0.25], np.float32)
_MIN_BAND_SHARE = 0.3  # share of a frame's bins that must rise for the frame to count as a click
_FULL_BAND_SHARE = 0.7  # from this share on, and with the median bin ...
_FULL_BAND_RISE_DB = 20.0  # ... this far above its context, a frame goes down to its context level


class ClickSuppressor:
    """Streaming click suppressor (:class:`dsp.stream.BlockProcessor`), linked across channels.

    Parameters
    ----------
    sr : int
        Sample rate in Hz, in [8000, 192000].
    channels : int
        Channel count, >= 1. The decision uses the mean power of all channels and every
        channel gets the same gains.
    threshold_db : float
        How far, in dB in [0, 40], a bin may rise above the louder of its two temporal
        neighbourhoods before it is clamped; lower catches more, higher touches less.

    Raises
    ------
    InvalidParameterError
        If a parameter is out of range.

    References
    ----------
    .. [1] D. Fitzgerald, "Harmonic/percussive separation using median filtering," Proc.
       DAFx 2010 (transients as outliers along time in each frequency bin).
    .. [2] S. J. Godsill, P. J. W. Rayner, "Digital Audio Restoration," Springer, 1998, ch. 5.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = (0.01 * rng.standard_normal((1, 16000))).astype(np.float32)
    >>> x[0, 8000:8040] += 0.5 * rng.standard_normal(40).astype(np.float32)
    >>> cs = ClickSuppressor(16000, 1)
    >>> y = np.concatenate([cs.process(x[:, :5000]), cs.process(x[:, 5000:]), cs.flush()], axis=-1)
    >>> y.shape
    (1, 16000)
    >>> bool(np.abs(y[0, 8000:8040]).max() < 0.2 * np.abs(x[0, 8000:8040]).max())
    True
    """

    def __init__(self, sr: int, channels: int, *, threshold_db: float = 7.0) -> None:
        self.sr = check_sr(sr)
        self.channels = check_channels(channels)
        self.threshold_db = check_range("threshold_db", threshold_db, 0.0, 40.0)
        self._kappa = np.float32(10 ** (self.threshold_db / 10))
        self.n_fft, self.hop_length = frame_settings(self.sr, frame_s=_FRAME_S)
        self._gap = max(round(_GAP_S * self.sr / self.hop_length), 1)
        self._ctx = max(round(_CONTEXT_S * self.sr / self.hop_length), 1)
        self._delay = self._gap + self._ctx - 1  # frames of lookahead
        n_bins = self.n_fft // 2 + 1
        self._hist_p = np.zeros((2 * self._delay, n_bins), np.float32)
        # which frames of that history hold input (the zeros before the stream and after its end do
        # not): a frame with no input on either side has nothing to be judged against
        self._hist_v = np.zeros(2 * self._delay, np.float32)
        self._hist_spec = np.zeros((self.channels, self._delay, n_bins), np.complex64)
        self._stft = StftStream(self.channels, self.n_fft, self.hop_length, self._frames)
        self._eps = np.float32(1e-12 * float(np.sum(self._stft.window.astype(np.float64) ** 2)))
        self._skip = self._delay * self.hop_length
        self._n_in = 0
        self._n_out = 0
        self._n_frames = 0
        self._n_clamped = 0

    def _frames(self, spec: ComplexArray) -> ComplexArray:
        """Gains for the frames ``delay`` behind the newest; causal with a fixed delay."""
        n_t = spec.shape[1]
        power = spec.real**2 + spec.imag**2
        p = power[0] if self.channels == 1 else power.mean(axis=0)
        p = ndimage.correlate1d(p, _FREQ_TAPS, axis=-1, mode="nearest")
        p_all = np.concatenate([self._hist_p, p], axis=0)
        # frame t covers input samples [t * hop + hop - n_fft, t * hop + hop) (StftStream)
        starts = (np.arange(self._n_frames, self._n_frames + n_t) + 1) * self.hop_length - self.n_fft
        v_all = np.concatenate([self._hist_v, (starts < self._n_in).astype(np.float32)])
        self._hist_v = v_all[-2 * self._delay :].copy()
        spec_all = np.concatenate([self._hist_spec, spec], axis=1)
        self._hist_p = p_all[-2 * self._delay :].copy()
        self._hist_spec = spec_all[:, -self._delay :].copy()
        d, g, w = self._delay, self._gap, self._ctx
        # sums over w consecutive frames, from the first frame of the left context on
        lo = d - g - w + 1
        n_s = 2 * g + w - 1 + n_t
        win = p_all[lo : lo + n_s].copy()
        known = v_all[lo : lo + n_s].copy()
        for j in range(1, w):
            win += p_all[lo + j : lo + j + n_s]
            known += v_all[lo + j : lo + j + n_s]
        # power gain min(1, (kappa * ref + eps) / (centre + eps)), then its square root; in
        # frames that are nothing but a transient, (ref + eps) / (centre + eps)
        ref = np.maximum(win[:n_t], win[2 * g + w - 1 :])
        ref *= np.float32(1 / w)
        centre = p_all[d : d + n_t] + self._eps
        gain = ref * self._kappa
        gain += self._eps
        gain /= centre
        share = np.mean(gain < 1.0, axis=-1)
        rows = np.flatnonzero(share >= _FULL_BAND_SHARE)  # few: the median only where it can matter
        if rows.size:
            to_ctx = (ref[rows] + self._eps) / centre[rows]
            full = np.median(to_ctx, axis=-1) <= np.float32(10 ** (-_FULL_BAND_RISE_DB / 10))
            gain[rows[full]] = to_ctx[full]
        np.minimum(gain, np.float32(1.0), out=gain)
        gain[share < _MIN_BAND_SHARE] = 1.0  # narrowband rise: not a click
        gain[(known[:n_t] == 0) & (known[2 * g + w - 1 :] == 0)] = 1.0  # no input either side (a clip of ~12 ms)
        self._n_frames += n_t
        self._n_clamped += int(np.count_nonzero(gain.min(axis=-1) < 0.25))
        np.sqrt(gain, out=gain)
        out: ComplexArray = spec_all[:, :n_t] * gain
        return out

    def process(self, block: Audio) -> Audio:
        """Take a ``(channels, m)`` block, return the ``(channels, k)`` samples now final."""
        x = check_block(block, self.channels)
        self._n_in += x.shape[-1]
        y = self._stft.process(x)
        if self._skip:
            k = min(self._skip, y.shape[-1])
            y = y[:, k:]
            self._skip -= k
        self._n_out += y.shape[-1]
        return np.ascontiguousarray(y)

    def flush(self) -> Audio:
        """Return every sample still held back; the processor is finished afterwards."""
        need = self._n_in - self._n_out
        pad = np.zeros((self.channels, self._delay * self.hop_length), np.float32)
        y = np.concatenate([self._stft.process(pad), self._stft.flush()], axis=-1)
        if self._skip:
            y = y[:, self._skip :]
            self._skip = 0
        y = y[:, :need]
        self._n_out += y.shape[-1]
        return np.ascontiguousarray(y)

    def report(self) -> dict[str, Any]:
        """Step name, threshold, and how many 2 ms frames were clamped by more than 6 dB."""
        return {
            "step": "declick",
            "threshold_db": self.threshold_db,
            "frames": self._n_frames,
            "clamped_frames": self._n_clamped,
        }


def suppress_clicks(audio: Audio, sr: int, *, threshold_db: float = 7.0) -> Audio:
    """Suppress clicks and keyboard transients: whole-signal form of :class:`ClickSuppressor`.

    Parameters
    ----------
    audio : ndarray, shape (n,) or (channels, n), float32
        Finite samples, ``n >= 1``.
    sr : int
        Sample rate in Hz, in [8000, 192000].
    threshold_db : float
        Rise in dB, in [0, 40], above the temporal neighbourhood that counts as a click.

    Returns
    -------
    ndarray, float32
        Same shape and length as ``audio``, aligned with it.

    Raises
    ------
    InvalidAudioError
        If ``audio`` is empty, not finite or badly shaped.
    InvalidParameterError
        If ``sr`` or ``threshold_db`` is out of range.

    References
    ----------
    .. [1] D. Fitzgerald, "Harmonic/percussive separation using median filtering," Proc.
       DAFx 2010.

    Examples
    --------
    >>> x = np.zeros(4000, np.float32)
    >>> x[2000] = 1.0
    >>> y = suppress_clicks(x, 16000)
    >>> y.shape, bool(np.abs(y).max() < 0.1)
    ((4000,), True)
    """
    audio = valid_audio(audio)
    proc = ClickSuppressor(sr, as_2d(audio).shape[0], threshold_db=threshold_db)
    return run_processor(proc, audio)
