"""Input checks every public DSP function runs first."""

from __future__ import annotations

import numpy as np

from dsp._typing import Audio
from dsp.errors import InvalidAudioError, InvalidParameterError

__all__ = ["as_2d", "check_block", "check_channels", "check_range", "check_sr", "valid_audio"]

#: Most channels an array may have: more is taken for samples in rows, ``(n, channels)`` (a
#: seventh-order ambisonic recording has 64).
MAX_CHANNELS = 64
#: Sample rates the engine is designed and tested for, in Hz.
MIN_SR = 8000
MAX_SR = 192000


def valid_audio(audio: object, *, allow_empty: bool = False) -> Audio:
    """Check that ``audio`` is a finite float array shaped ``(n,)`` or ``(channels, n)``.

    Returns the array as float32 (a copy only when the dtype differs). Raises
    :class:`~dsp.errors.InvalidAudioError` otherwise.
    """
    if not isinstance(audio, np.ndarray):
        raise InvalidAudioError(f"audio must be a numpy array, got {type(audio).__name__}")
    if not np.issubdtype(audio.dtype, np.floating):
        raise InvalidAudioError(f"audio must be floating point, got dtype {audio.dtype}")
    if audio.ndim not in (1, 2):
        raise InvalidAudioError(f"audio must be shaped (n,) or (channels, n), got {audio.shape}")
    if audio.ndim == 2 and audio.shape[0] < 1:
        raise InvalidAudioError("audio has no channels")
    if audio.ndim == 2 and audio.shape[0] > MAX_CHANNELS:
        raise InvalidAudioError(
            f"audio shaped {audio.shape} would be {audio.shape[0]} channels (at most {MAX_CHANNELS}); audio is "
            "(channels, n): for samples in rows (n, channels), as soundfile reads them, pass audio.T"
        )
    if audio.shape[-1] == 0 and not allow_empty:
        raise InvalidAudioError("audio is empty (0 samples)")
    if not np.all(np.isfinite(audio)):
        raise InvalidAudioError("audio contains NaN or infinite samples")
    return audio.astype(np.float32, copy=False)


def as_2d(audio: Audio) -> Audio:
    """View ``(n,)`` as ``(1, n)``; ``(channels, n)`` is returned unchanged."""
    return audio[np.newaxis, :] if audio.ndim == 1 else audio


def check_sr(sr: int) -> int:
    """Check a sample rate in Hz is an integer in [8000, 192000]."""
    if isinstance(sr, bool) or not isinstance(sr, (int, np.integer)) or not MIN_SR <= sr <= MAX_SR:
        raise InvalidParameterError(f"sample rate must be an integer in [{MIN_SR}, {MAX_SR}] Hz, got {sr!r}")
    return int(sr)


def check_range(name: str, value: float, lo: float, hi: float) -> float:
    """Check ``lo <= value <= hi`` and return ``value`` as float."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InvalidParameterError(f"{name} must be a number in [{lo}, {hi}], got {value!r}", param=name)
    if not np.isfinite(value) or not lo <= value <= hi:
        raise InvalidParameterError(f"{name} must be in [{lo}, {hi}], got {value!r}", param=name)
    return float(value)


def check_channels(channels: int) -> int:
    """Check a channel count is an integer from 1 to ``MAX_CHANNELS``."""
    if isinstance(channels, bool) or not isinstance(channels, (int, np.integer)) or not 1 <= channels <= MAX_CHANNELS:
        raise InvalidParameterError(f"channels must be an integer from 1 to {MAX_CHANNELS}, got {channels!r}")
    return int(channels)


def check_block(block: Audio, channels: int) -> Audio:
    """A streaming processor's input block as float32, checked to be shaped ``(channels, m)`` and finite.

    Raises :class:`~dsp.errors.InvalidParameterError` for the shape and
    :class:`~dsp.errors.InvalidAudioError` for samples that are not floating point, and for NaN or
    infinite samples (which no processor can turn into sound: they would spread through every
    filter state after them).
    """
    raw = block if isinstance(block, np.ndarray) else np.asarray(block)
    if not np.issubdtype(raw.dtype, np.floating):  # int16 samples would pass unscaled, complex lose a part
        raise InvalidAudioError(f"block must be floating point samples in [-1, 1], got dtype {raw.dtype}")
    x = raw.astype(np.float32, copy=False)
    if x.ndim != 2 or x.shape[0] != channels:
        raise InvalidParameterError(f"block must be ({channels}, m), got {x.shape}")
    if not np.all(np.isfinite(x)):
        raise InvalidAudioError("audio contains NaN or infinite samples")
    return x
