"""Hush's signal-processing engine: pure functions over float32 numpy arrays.

Audio is ``(n,)`` or ``(channels, n)`` float32 at the caller's sample rate. Every step also has a
streaming :class:`~dsp.stream.BlockProcessor` (or detector) for inputs of any length.
"""

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
