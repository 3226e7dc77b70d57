"""Hush's signal-processing engine: pure functions over float32 numpy arrays.

Audio is ``(n,)`` or ``(channels, n)`` float32 at the caller's sample rate. Every step also has a
streaming :class:`~dsp.stream.BlockProcessor` (or detector) for inputs of any length.
"""

from dsp.clicks import ClickSuppressor, suppress_clicks
from dsp.declick import ClickEvent, ClickRepairer, repair_clicks
from dsp.denoise import NoiseReducer, reduce_noise
from dsp.errors import DspError, InvalidAudioError, InvalidParameterError
from dsp.hum import HumRemover, detect_hum, remove_hum
from dsp.loudness import GainStage, LoudnessMeasurement, LoudnessMeter, measure_loudness, normalize_loudness
from dsp.stream import BlockProcessor, run_blocks, run_processor
from dsp.vad import SpeechDetector, SpeechSegments, detect_speech

__all__ = [
    "BlockProcessor",
    "ClickEvent",
    "ClickRepairer",
    "ClickSuppressor",
    "DspError",
    "GainStage",
    "HumRemover",
    "InvalidAudioError",
    "InvalidParameterError",
    "LoudnessMeasurement",
    "LoudnessMeter",
    "NoiseReducer",
    "SpeechDetector",
    "SpeechSegments",
    "detect_hum",
    "detect_speech",
    "measure_loudness",
    "normalize_loudness",
    "reduce_noise",
    "remove_hum",
    "repair_clicks",
    "run_blocks",
    "run_processor",
    "suppress_clicks",
]
