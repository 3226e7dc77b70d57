"""STFT helpers and the one streaming chunk+overlap STFT driver every spectral step reuses.

A spectral step supplies a *frame function*: it receives consecutive batches of analysis
spectra ``(channels, frames, bins)`` in stream order and returns the modified spectra.
:class:`StftStream` frames the incoming blocks, windows them, runs the real FFT on the whole
batch at once, calls the frame function, inverts and overlap-adds with the overlap carried to
the next block. It compensates its own latency, so the samples out line up with the samples in
and their total count is the same; as long as the frame function is causal over frames, the
output does not depend on the block sizes fed in.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import scipy.fft

from dsp._typing import Audio, FloatArray
from dsp._validate import as_2d, check_block, check_sr, valid_audio
from dsp.errors import InvalidParameterError

__all__ = [
    "ComplexArray",
    "FrameFunction",
    "StftStream",
    "frame_settings",
    "istft",
    "sqrt_hann",
    "stft",
]

#: complex64 spectra, shape ``(channels, frames, n_fft // 2 + 1)``.
ComplexArray = npt.NDArray[np.complex64]
#: A causal, stateful map from one batch of spectra to the same-shaped modified spectra.
FrameFunction = Callable[[ComplexArray], ComplexArray]


def frame_settings(sr: int, *, frame_s: float = 0.032, overlap: int = 2) -> tuple[int, int]:
    """Choose an FFT size and hop for a sample rate: about ``frame_s`` long, FFT-friendly.

    Parameters
    ----------
    sr : int
        Sample rate in Hz, in [8000, 192000].
    frame_s : float
        Target frame length in seconds, in (0, 1].
    overlap : int
        Frames per hop, ``n_fft // hop_length``; 2 (50 %) or 4 (75 %).

    Returns
    -------
    n_fft, hop_length : tuple of int
        ``n_fft`` is even, a multiple of ``overlap`` and a fast length for ``scipy.fft``.

    Raises
    ------
    InvalidParameterError
        If ``sr`` is outside the supported range or ``overlap`` is not 2 or 4.

    References
    ----------
    .. [1] J. B. Allen, "Short term spectral analysis, synthesis, and modification by
       discrete Fourier transform," IEEE Trans. ASSP 25(3), 1977.

    Examples
    --------
    >>> frame_settings(16000)
    (512, 256)
    >>> frame_settings(48000)
    (1536, 768)
    """
    sr = check_sr(sr)
    if overlap not in (2, 4):
        raise InvalidParameterError(f"overlap must be 2 or 4, got {overlap!r}")
    if not 0 < frame_s <= 1:
        raise InvalidParameterError(f"frame_s must be in (0, 1], got {frame_s!r}")
    n = round(frame_s * sr)
    while True:
        n = scipy.fft.next_fast_len(n, real=True)
        if n % (2 * overlap) == 0:
            return n, n // overlap
        n += 1


def sqrt_hann(n_fft: int, hop_length: int) -> FloatArray:
    """Square-root periodic Hann window, scaled so analysis x synthesis overlap-adds to one.

    Parameters
    ----------
    n_fft : int
        Window length in samples, a multiple of ``hop_length``.
    hop_length : int
        Hop in samples.

    Returns
    -------
    window : ndarray, shape (n_fft,), float32
        Used both for analysis and synthesis.

    Raises
    ------
    InvalidParameterError
        If ``n_fft`` is not a positive multiple of ``hop_length``.

    References
    ----------
    .. [1] D. Griffin, J. Lim, "Signal estimation from modified short-time Fourier
       transform," IEEE Trans. ASSP 32(2), 1984.

    Examples
    --------
    >>> w = sqrt_hann(8, 4)
    >>> bool(np.allclose(w[:4] ** 2 + w[4:] ** 2, 1.0))
    True
    """
    if hop_length < 1 or n_fft < hop_length or n_fft % hop_length:
        raise InvalidParameterError(f"n_fft ({n_fft}) must be a positive multiple of hop_length ({hop_length})")
    w = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)
    ola = w.reshape(-1, hop_length).sum(axis=0)
    out: FloatArray = np.sqrt(w / ola.mean()).astype(np.float32)
    return out


def stft(audio: Audio, n_fft: int, hop_length: int) -> ComplexArray:
    """Short-time Fourier transform with the square-root Hann window, whole signal at once.

    The signal is padded with ``n_fft - hop_length`` zeros in front and enough zeros at the
    end that every sample is covered by ``n_fft // hop_length`` frames; :func:`istft` undoes
    the padding. The framing is the one :class:`StftStream` uses.

    Parameters
    ----------
    audio : ndarray, shape (n,) or (channels, n), float32
        Finite samples, ``n >= 1``.
    n_fft : int
        Frame length in samples (even), a multiple of ``hop_length``.
    hop_length : int
        Hop in samples.

    Returns
    -------
    spec : ndarray, shape (channels, frames, n_fft // 2 + 1), complex64
        Always three-dimensional; mono input gives one channel.

    Raises
    ------
    InvalidAudioError
        If ``audio`` is empty, not finite or badly shaped.
    InvalidParameterError
        If the frame settings are inconsistent.

    References
    ----------
    .. [1] J. B. Allen, "Short term spectral analysis, synthesis, and modification by
       discrete Fourier transform," IEEE Trans. ASSP 25(3), 1977.

    Examples
    --------
    >>> x = np.ones(1000, np.float32)
    >>> stft(x, 512, 256).shape
    (1, 5, 257)
    """
    audio = valid_audio(audio)
    x = as_2d(audio)
    win = sqrt_hann(n_fft, hop_length)
    n = x.shape[-1]
    lead = n_fft - hop_length
    n_frames = -(-(n + lead) // hop_length)
    total = (n_frames - 1) * hop_length + n_fft
    padded = np.zeros((x.shape[0], total), np.float32)
    padded[:, lead : lead + n] = x
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft, axis=-1)[:, ::hop_length]
    spec: ComplexArray = scipy.fft.rfft(frames * win, axis=-1).astype(np.complex64, copy=False)
    return spec


def istft(spec: ComplexArray, n_fft: int, hop_length: int, length: int) -> Audio:
    """Inverse of :func:`stft`: inverse FFT, synthesis window, overlap-add, remove padding.

    Parameters
    ----------
    spec : ndarray, shape (channels, frames, n_fft // 2 + 1), complex
        Spectra laid out as :func:`stft` returns them.
    n_fft : int
        Frame length in samples.
    hop_length : int
        Hop in samples.
    length : int
        Samples per channel to return (the original ``n``).

    Returns
    -------
    audio : ndarray, shape (channels, length), float32
        The reconstructed signal.

    Raises
    ------
    InvalidParameterError
        If the frame settings are inconsistent or ``spec`` has the wrong number of bins.

    References
    ----------
    .. [1] D. Griffin, J. Lim, "Signal estimation from modified short-time Fourier
       transform," IEEE Trans. ASSP 32(2), 1984.

    Examples
    --------
    >>> x = np.random.default_rng(0).standard_normal(1000).astype(np.float32)
    >>> y = istft(stft(x, 512, 256), 512, 256, 1000)
    >>> bool(np.allclose(y[0], x, atol=1e-5))
    True
    """
    win = sqrt_hann(n_fft, hop_length)
    if spec.ndim != 3 or spec.shape[-1] != n_fft // 2 + 1:
        raise InvalidParameterError(f"spec must be (channels, frames, {n_fft // 2 + 1}), got {spec.shape}")
    frames = scipy.fft.irfft(spec, n_fft, axis=-1).astype(np.float32, copy=False) * win
    out = _overlap_add(frames, hop_length, np.zeros((spec.shape[0], n_fft - hop_length), np.float32))
    lead = n_fft - hop_length
    return np.ascontiguousarray(out[:, lead : lead + length])


def _overlap_add(frames: Audio, hop_length: int, carry: Audio) -> Audio:
    """Overlap-add ``(channels, F, n_fft)`` frames; ``carry`` is the tail of earlier frames.

    Returns ``(channels, F * hop_length + n_fft - hop_length)``: the first ``F * hop_length``
    samples are final, the rest is the new carry.
    """
    c, f, n_fft = frames.shape
    r = n_fft // hop_length
    out = np.zeros((c, f + r - 1, hop_length), np.float32)
    segs = frames.reshape(c, f, r, hop_length)
    for j in range(r):
        out[:, j : j + f] += segs[:, :, j]
    flat = out.reshape(c, -1)
    flat[:, : carry.shape[-1]] += carry
    return flat


class StftStream:
    """Streaming STFT -> frame function -> inverse STFT with carried overlap state.

    Feed ``(channels, m)`` blocks to :meth:`process` and call :meth:`flush` at the end; the
    concatenated outputs have exactly as many samples as went in, aligned with the input
    (latency compensated). Frames are processed in batches, one rfft/irfft call per block.

    Parameters
    ----------
    channels : int
        Channel count, >= 1.
    n_fft : int
        Frame length in samples (even), a multiple of ``hop_length``.
    hop_length : int
        Hop in samples.
    frame_fn : callable
        ``spec (channels, frames, bins) complex64 -> same shape``, called on consecutive
        batches in stream order. It must be causal over frames for block-size invariance.

    Raises
    ------
    InvalidParameterError
        If the frame settings or channel count are invalid.

    References
    ----------
    .. [1] J. B. Allen, "Short term spectral analysis, synthesis, and modification by
       discrete Fourier transform," IEEE Trans. ASSP 25(3), 1977.

    Examples
    --------
    >>> s = StftStream(1, 512, 256, lambda spec: spec)
    >>> x = np.random.default_rng(0).standard_normal((1, 3000)).astype(np.float32)
    >>> y = np.concatenate([s.process(x[:, :1000]), s.process(x[:, 1000:]), s.flush()], axis=-1)
    >>> y.shape, bool(np.allclose(y, x, atol=1e-5))
    ((1, 3000), True)
    """

    def __init__(self, channels: int, n_fft: int, hop_length: int, frame_fn: FrameFunction) -> None:
        if channels < 1:
            raise InvalidParameterError(f"channels must be >= 1, got {channels!r}")
        self.channels = int(channels)
        self.n_fft = int(n_fft)
        self.hop_length = int(hop_length)
        self.window = sqrt_hann(self.n_fft, self.hop_length)
        self.frame_fn = frame_fn
        lead = self.n_fft - self.hop_length
        self._buf = np.zeros((self.channels, lead), np.float32)
        self._carry = np.zeros((self.channels, lead), np.float32)
        self._skip = lead
        self._n_in = 0
        self._n_out = 0

    def _run(self, x: Audio) -> Audio:
        buf = np.concatenate([self._buf, x], axis=-1) if x.shape[-1] else self._buf
        n_frames = (buf.shape[-1] - self.n_fft) // self.hop_length + 1
        if n_frames <= 0:
            self._buf = buf
            return np.zeros((self.channels, 0), np.float32)
        frames = np.lib.stride_tricks.sliding_window_view(buf, self.n_fft, axis=-1)[:, :: self.hop_length]
        frames = frames[:, :n_frames] * self.window
        spec = scipy.fft.rfft(frames, axis=-1)
        spec = self.frame_fn(spec.astype(np.complex64, copy=False))
        y = scipy.fft.irfft(spec, self.n_fft, axis=-1).astype(np.float32, copy=False)
        y *= self.window
        flat = _overlap_add(y, self.hop_length, self._carry)
        done = n_frames * self.hop_length
        self._carry = flat[:, done:].copy()
        self._buf = buf[:, done:].copy()
        out = flat[:, :done]
        if self._skip:
            k = min(self._skip, out.shape[-1])
            out = out[:, k:]
            self._skip -= k
        return out

    def process(self, block: Audio) -> Audio:
        """Take a ``(channels, m)`` block, return the ``(channels, k)`` samples now final."""
        x = check_block(block, self.channels)
        self._n_in += x.shape[-1]
        out = self._run(x)
        self._n_out += out.shape[-1]
        return np.ascontiguousarray(out)

    def flush(self) -> Audio:
        """Return the remaining samples; total output length equals total input length."""
        need = self._n_in - self._n_out
        pad = np.zeros((self.channels, self.n_fft), np.float32)
        parts = []
        got = 0
        while got < need:
            out = self._run(pad)
            parts.append(out)
            got += out.shape[-1]
        tail = np.concatenate(parts, axis=-1)[:, :need] if parts else np.zeros((self.channels, 0), np.float32)
        self._n_out += tail.shape[-1]
        return np.ascontiguousarray(tail)
