"""Hush's signal-processing engine: pure functions over float32 numpy arrays.

Audio is ``(n,)`` or ``(channels, n)`` float32 at the caller's sample rate. Long inputs are
processed by the streaming :class:`~dsp.stream.BlockProcessor` of each step.
"""

from dsp.errors import DspError, InvalidAudioError, InvalidParameterError
from dsp.stream import BlockProcessor, run_blocks, run_processor

__all__ = [
    "BlockProcessor",
    "DspError",
    "InvalidAudioError",
    "InvalidParameterError",
    "run_blocks",
    "run_processor",
]
