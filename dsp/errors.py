"""Errors raised by the DSP package.

Tree::

    DspError                      root; carries a stable ``code``
    ├── InvalidAudioError         "audio.invalid": wrong dtype/shape, NaN or inf, empty
    └── InvalidParameterError     "audio.parameter": a parameter outside its documented range

Both derive from :class:`ValueError` as well, so plain ``except ValueError`` callers keep working.
"""

from __future__ import annotations

__all__ = ["DspError", "InvalidAudioError", "InvalidParameterError"]


class DspError(Exception):
    """Root of every error the DSP package raises."""

    code = "dsp.error"


class InvalidAudioError(DspError, ValueError):
    """The audio array is not usable: wrong dtype or shape, empty, or not finite."""

    code = "audio.invalid"


class InvalidParameterError(DspError, ValueError):
    """A parameter is outside its documented range."""

    code = "audio.parameter"
