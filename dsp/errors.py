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
    """A parameter is outside its documented range.

    ``param`` is the keyword argument at fault when one is (the message then starts with it), so
    that a caller can name the parameter as its own users spell it: see :meth:`named`.
    """

    code = "audio.parameter"

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param

    def named(self, name: str) -> str:
        """The message with the parameter called ``name`` (a command-line option, an API field).

        Examples
        --------
        >>> InvalidParameterError("click_len_ms must be in [5.0, 30.0], got 40.0", param="click_len_ms").named(
        ...     "--click-len"
        ... )
        '--click-len must be in [5.0, 30.0], got 40.0'
        """
        text = str(self)
        if self.param is None or not text.startswith(self.param):
            return text
        return name + text[len(self.param) :]
