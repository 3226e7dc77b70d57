"""Hush's signal-processing engine: pure functions over float32 numpy arrays.

Audio is ``(n,)`` or ``(channels, n)`` float32 at the caller's sample rate. Every step also has a
streaming :class:`~dsp.stream.BlockProcessor` (or detector) for inputs of any length.

The names below load their module on first use (PEP 562): importing ``dsp.errors``, or running a
command that never processes audio, does not load NumPy and SciPy.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dsp.clicks import ClickSuppressor, suppress_clicks
    from dsp.declick import ClickEvent, ClickRepairer, repair_clicks
    from dsp.denoise import NoiseReducer, reduce_noise
    from dsp.dereverb import ReverbAnalyzer, ReverbEstimate, ReverbSuppressor, estimate_t60, remove_reverb
    from dsp.echo import EchoAnalyzer, EchoEstimate, EchoRemover, detect_echo, remove_echo
    from dsp.eq import EqAnalyzer, EqCurve, Equalizer, auto_eq, measure_eq
    from dsp.errors import DspError, InvalidAudioError, InvalidParameterError
    from dsp.hum import HumRemover, detect_hum, remove_hum
    from dsp.loudness import GainStage, LoudnessMeasurement, LoudnessMeter, measure_loudness, normalize_loudness
    from dsp.stream import BlockProcessor, run_blocks, run_processor
    from dsp.vad import SpeechDetector, SpeechSegments, detect_speech

#: Each public name and the module that defines it.
_EXPORTS = {
    "BlockProcessor": "dsp.stream",
    "ClickEvent": "dsp.declick",
    "ClickRepairer": "dsp.declick",
    "ClickSuppressor": "dsp.clicks",
    "DspError": "dsp.errors",
    "EchoAnalyzer": "dsp.echo",
    "EchoEstimate": "dsp.echo",
    "EchoRemover": "dsp.echo",
    "EqAnalyzer": "dsp.eq",
    "EqCurve": "dsp.eq",
    "Equalizer": "dsp.eq",
    "GainStage": "dsp.loudness",
    "HumRemover": "dsp.hum",
    "InvalidAudioError": "dsp.errors",
    "InvalidParameterError": "dsp.errors",
    "LoudnessMeasurement": "dsp.loudness",
    "LoudnessMeter": "dsp.loudness",
    "NoiseReducer": "dsp.denoise",
    "ReverbAnalyzer": "dsp.dereverb",
    "ReverbEstimate": "dsp.dereverb",
    "ReverbSuppressor": "dsp.dereverb",
    "SpeechDetector": "dsp.vad",
    "SpeechSegments": "dsp.vad",
    "auto_eq": "dsp.eq",
    "detect_echo": "dsp.echo",
    "detect_hum": "dsp.hum",
    "detect_speech": "dsp.vad",
    "estimate_t60": "dsp.dereverb",
    "measure_eq": "dsp.eq",
    "measure_loudness": "dsp.loudness",
    "normalize_loudness": "dsp.loudness",
    "reduce_noise": "dsp.denoise",
    "remove_echo": "dsp.echo",
    "remove_hum": "dsp.hum",
    "remove_reverb": "dsp.dereverb",
    "repair_clicks": "dsp.declick",
    "run_blocks": "dsp.stream",
    "run_processor": "dsp.stream",
    "suppress_clicks": "dsp.clicks",
}

__all__ = [
    "BlockProcessor",
    "ClickEvent",
    "ClickRepairer",
    "ClickSuppressor",
    "DspError",
    "EchoAnalyzer",
    "EchoEstimate",
    "EchoRemover",
    "EqAnalyzer",
    "EqCurve",
    "Equalizer",
    "GainStage",
    "HumRemover",
    "InvalidAudioError",
    "InvalidParameterError",
    "LoudnessMeasurement",
    "LoudnessMeter",
    "NoiseReducer",
    "ReverbAnalyzer",
    "ReverbEstimate",
    "ReverbSuppressor",
    "SpeechDetector",
    "SpeechSegments",
    "auto_eq",
    "detect_echo",
    "detect_hum",
    "detect_speech",
    "estimate_t60",
    "measure_eq",
    "measure_loudness",
    "normalize_loudness",
    "reduce_noise",
    "remove_echo",
    "remove_hum",
    "remove_reverb",
    "repair_clicks",
    "run_blocks",
    "run_processor",
    "suppress_clicks",
]


def __getattr__(name: str) -> Any:
    """The public name ``name``, its module imported on first use."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'dsp' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
