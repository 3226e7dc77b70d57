"""The step registry: step names a JobSpec may use, mapped onto DSP processors.

Four kinds of step:

* ``transform`` — a :class:`dsp.stream.BlockProcessor` that changes the audio (denoise);
* ``two_pass`` — measures everything that reaches it first (an analyzer built by ``build``),
  then transforms it with the processor ``then`` builds from that analysis and the same build
  parameters (echo removal, auto EQ); the pipeline writes what reaches the step to a float WAV
  while the analyzer listens and reads it back through the processor, so it may sit anywhere in
  the chain;
* ``analysis`` — reads the audio and produces data, not audio (voice activity detection);
* ``finalize`` — needs the whole processed signal measured first, then applies a gain
  (loudness normalisation); the runner makes two passes, and it must be the last transform;
* ``plan`` — decides other steps (``autoid``): the pipeline runs its analyzer over the input in
  a pre-pass and replaces it by the steps it decided, merged into the chain (see
  :func:`app.jobs.pipeline.expand_plan`); it may sit anywhere in the chain.

Music awareness is a job-level switch: a ``keep_music`` step in a job makes the pipeline run the
music detector (:class:`dsp.music.MusicDetector`, which carries the speech detector, so the input
is decoded once for both) before the chain, and hands its :class:`dsp.music.MusicMap` to every
step whose ``uses_music`` says it takes it: the noise reducer passes music-only stretches through
untouched and is gentler under speech over music, the pause cutter never cuts into music, the
background remover leaves music alone. ``keep_music`` itself reports what was found and spared.

The voice steps ``autoid`` adds on its own (denoise, remove_reverb; see
:func:`app.jobs.pipeline.expand_plan`) carry ``spare_music``: they take the map the analysis
found and pass its music-only stretches through untouched (speech over music is processed in
full, as without a map); the ``autoeq`` step always finds music itself
(:class:`dsp.eq.EqAnalyzer` with ``spare_music``), measures the speech outside it, passes it
through, and does nothing to a recording that is music only.

A step whose engine is not built yet is reported unavailable *when the job is submitted*, so a
client never gets a job that pretends to work.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from app.errors import EngineUnavailableError, InvalidParameterError
from app.jobs.models import Step
from dsp.errors import DspError
from dsp.errors import InvalidParameterError as DspParameterError

__all__ = ["STEPS", "Analyzer", "StepDef", "check_steps", "get_step"]


class Analyzer(Protocol):
    """A streaming analysis step (same block protocol, returns data at the end)."""

    def process(self, block: Any) -> None: ...
    def finish(self) -> Any: ...
    def report(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class StepDef:
    """How to build one step for a stream of ``sr`` Hz and ``channels`` channels."""

    name: str
    kind: Literal["transform", "two_pass", "analysis", "finalize", "plan"]
    module: str
    """The dsp module that implements it; the step is unavailable while it is missing."""
    attr: str
    """The class in ``module`` the step builds; unavailable while it is missing."""
    build: Callable[[int, int, dict[str, Any]], Any]
    params: tuple[str, ...] = ()
    description: str = ""
    uses_speech: Callable[[dict[str, Any]], bool] | None = None
    """Whether the step, with these params, takes the recording's speech segments (a ``speech``
    build parameter); the pipeline then finds them in a pass of the speech detector first."""
    uses_music: Callable[[dict[str, Any]], bool] | None = None
    """Whether the step, with these params plus ``keep_music`` (True when the job has a
    ``keep_music`` step), takes the recording's music map: the pipeline then runs the music
    detector first and passes ``music`` (a :class:`dsp.music.MusicMap`), ``keep_music`` and
    ``music_users`` (the names of the steps that take the map) as build parameters."""
    then: Callable[[Any, int, int, dict[str, Any]], Any] | None = None
    """``two_pass`` only: the BlockProcessor for ``(finished analyzer, sr, channels, build params)``."""

    @property
    def shipped(self) -> bool:
        """Its module is in this build: found, not imported (the DSP modules load NumPy and SciPy)."""
        return importlib.util.find_spec(self.module) is not None

    @property
    def available(self) -> bool:
        return self.shipped and hasattr(importlib.import_module(self.module), self.attr)


def _engine(step: str, p: dict[str, Any]) -> str:
    from app.jobs.engines import check_engine
    from app.settings import get_settings

    default = get_settings().denoise_engine if step == "denoise" else get_settings().vad_engine
    return check_engine(step, p.get("engine", default))


def _denoise(sr: int, channels: int, p: dict[str, Any]) -> Any:
    engine = _engine("denoise", p)
    mode = _channel_mode(p)  # the neural engines always take each channel alone
    if engine != "dsp":
        from app.jobs.engines import NeuralDenoiser

        inner: Any = NeuralDenoiser(
            sr, channels, engine=engine, amount=float(p.get("amount", 100.0)), speech=p.get("speech")
        )
    else:
        from dsp.denoise import NoiseReducer

        amount, speech = float(p.get("amount", 100.0)), p.get("speech")
        if mode == "each" and channels > 1:
            from dsp.stream import PerChannel

            inner = PerChannel([NoiseReducer(sr, 1, amount=amount, speech=speech) for _ in range(channels)])
        else:
            inner = NoiseReducer(sr, channels, amount=amount, speech=speech)
    return _keep_music(inner, sr, channels, p)


def _channel_mode(p: dict[str, Any]) -> str:
    """The denoise step's ``channels``: ``linked`` (one gain for all, the default) or ``each``."""
    mode = p.get("channels", "linked")
    if mode not in ("linked", "each"):
        raise ValueError(f"channels must be 'linked' or 'each', got {mode!r}")
    return str(mode)


def _keep_music(inner: Any, sr: int, channels: int, p: dict[str, Any]) -> Any:
    """``inner`` bypassed on music when the job keeps music (:class:`dsp.music.MusicBypass`), or
    on music-only stretches when the step spares music on its own (``spare_music``)."""
    if p.get("music") is None:
        return inner
    if p.get("keep_music"):
        from dsp.music import MusicBypass

        return MusicBypass(inner, sr, channels, p["music"])
    return _spare_music(inner, sr, channels, p["music"] if p.get("spare_music") else None)


def _spare_music(inner: Any, sr: int, channels: int, music: Any) -> Any:
    """``inner`` passing the music-only stretches of ``music`` through untouched (speech over
    music processed in full); ``inner`` itself without music-only stretches."""
    if music is None or not music.music:
        return inner
    from dsp.music import MusicBypass

    return MusicBypass(inner, sr, channels, music, bed_wet=1.0, report_key="music_spared")


def _vad(sr: int, channels: int, p: dict[str, Any]) -> Any:
    if _engine("vad", p) == "silero":
        from app.jobs.engines import SileroSpeechDetector

        return SileroSpeechDetector(sr, channels, min_non_speech_s=float(p.get("min_non_speech_s", 0.0)))
    from dsp.vad import SpeechDetector

    return SpeechDetector(sr, channels, min_non_speech_s=float(p.get("min_non_speech_s", 0.0)))


#: Step parameters the DSP constructors call by another name: (step, DSP keyword) -> the step's
#: parameter, so that an error names the field the client sent.
_PARAM_NAMES = {("declick", "click_len_ms"): "click_len"}


def _declick(sr: int, channels: int, p: dict[str, Any]) -> Any:
    from dsp.declick import ClickRepairer

    return ClickRepairer(
        sr,
        channels,
        detection_mult=float(p.get("detection_mult", 8.0)),
        click_len_ms=float(p.get("click_len", 10)),
    )


def _long_silences(sr: int, channels: int, p: dict[str, Any]) -> Any:
    from dsp.silence import SilenceShortener

    job_map = p.get("music") if p.get("keep_music") else None
    shortener = SilenceShortener(
        sr,
        channels,
        max_pause_s=float(p.get("max_pause_s", 1.0)),
        keep_pause_s=float(p.get("keep_pause_s", 0.5)),
        # music is no pause: without the job's map (keep_music), the step finds music itself
        spare_music=job_map is None,
    )
    if job_map is None:
        return shortener
    from dsp.music import MusicSafeShortener

    return MusicSafeShortener(shortener, job_map)


def _fillers(sr: int, channels: int, p: dict[str, Any]) -> Any:
    from dsp.fillers import MIN_CONFIDENCE, FillerDetector

    return FillerDetector(sr, channels, min_confidence=float(p.get("min_confidence", MIN_CONFIDENCE)))


def _remove_echo(sr: int, channels: int, p: dict[str, Any]) -> Any:
    from dsp.echo import MAX_DELAY_MS, MIN_DELAY_MS, EchoAnalyzer

    return EchoAnalyzer(
        sr,
        channels,
        min_delay_ms=float(p.get("min_delay_ms", MIN_DELAY_MS)),
        max_delay_ms=float(p.get("max_delay_ms", MAX_DELAY_MS)),
    )


def _echo_remover(analyzer: Any, sr: int, channels: int, p: dict[str, Any]) -> Any:
    from dsp.echo import EchoRemover

    return EchoRemover(sr, channels, analyzer.finish())


def _remove_reverb(sr: int, channels: int, p: dict[str, Any]) -> Any:
    from dsp.dereverb import ReverbAnalyzer

    return ReverbAnalyzer(sr, channels)


def _reverb_suppressor(analyzer: Any, sr: int, channels: int, p: dict[str, Any]) -> Any:
    from dsp.dereverb import ReverbSuppressor

    inner = ReverbSuppressor(sr, channels, analyzer.finish())
    return _spare_music(inner, sr, channels, p.get("music") if p.get("spare_music") else None)


def _autoeq(sr: int, channels: int, p: dict[str, Any]) -> Any:
    from dsp.eq import MAX_GAIN_DB, EqAnalyzer

    return EqAnalyzer(sr, channels, max_gain_db=float(p.get("max_gain_db", MAX_GAIN_DB)), spare_music=True)


def _equalizer(analyzer: Any, sr: int, channels: int, p: dict[str, Any]) -> Any:
    from dsp.eq import Equalizer

    curve = analyzer.finish()
    return _spare_music(Equalizer(sr, channels, curve), sr, channels, analyzer.music if curve.applied else None)


class _KeepMusic:
    """The ``keep_music`` step: reports the music map the pipeline found and the steps it spared."""

    def __init__(self, music: Any, users: Sequence[str]) -> None:
        self.music, self.users = music, [u for u in users if u != "keep_music"]

    def process(self, block: Any) -> None:
        return None  # the music pass already read the stream

    def finish(self) -> Any:
        return self.music

    def report(self) -> dict[str, Any]:
        out: dict[str, Any] = {"step": "keep_music"}
        if self.music is None:
            return {**out, "not_applied": "the music detector did not run"}
        out.update(self.music.report(), protects=self.users)
        out["bypassed_s"] = round(self.music.music_s, 2)
        if not self.users:
            out["not_applied"] = (
                "no step of this job changes music: keep_music spares music in denoise (remove_noise), "
                "remove_background and long_silences"
            )
        elif not self.music.music and not self.music.bed:
            out["not_applied"] = "no music was found in the recording"
        return out


def _keep_music_step(sr: int, channels: int, p: dict[str, Any]) -> Any:
    return _KeepMusic(p.get("music"), p.get("music_users", ()))


class _Denoised:
    """Pass-through for remove_background when the job's own denoise step reduces the noise."""

    def __init__(self, channels: int) -> None:
        self.channels = channels

    def process(self, block: Any) -> Any:
        return block

    def flush(self) -> Any:
        import numpy as np

        return np.zeros((self.channels, 0), np.float32)

    def report(self) -> dict[str, Any]:
        return {"step": "denoise", "applied": False, "reason": "the job's denoise step reduces the noise"}


def _remove_background(sr: int, channels: int, p: dict[str, Any]) -> Any:
    from dsp.denoise import NoiseReducer
    from dsp.music import BACKGROUND_DEPTH_DB, BackgroundRemover

    # a job that also denoises (remove_noise with remove_background_audio) denoises once
    inner: Any = (
        _Denoised(channels)
        if "denoise" in p.get("job_steps", ())
        else NoiseReducer(sr, channels, amount=100.0, speech=p.get("speech"))
    )
    return BackgroundRemover(
        inner,
        sr,
        channels,
        p.get("music"),
        keep_music=bool(p.get("keep_music")),
        depth_db=float(p.get("depth_db", BACKGROUND_DEPTH_DB)),
    )


def _loudness(sr: int, channels: int, p: dict[str, Any]) -> Any:
    from dsp.loudness import LoudnessMeter, check_targets

    check_targets(**p)  # applied at the end (GainStage.for_target); checked now, so that a bad one fails at submit
    return LoudnessMeter(sr, channels)


def _dehum(sr: int, channels: int, p: dict[str, Any]) -> Any:
    from dsp.hum import DETECT_S, HumRemover

    hum_hz = p.get("hum_hz")
    # (harmonics go with a given hum_hz: 1, 2 and 3 unless listed; the engine refuses a list
    # without hum_hz instead of ignoring it)
    harmonics = p.get("harmonics")
    if harmonics is None:
        harmonics = (1, 2, 3) if hum_hz is not None else ()
    return HumRemover(
        sr,
        channels,
        detect_s=float(p.get("detect_s", DETECT_S)),
        hum_hz=None if hum_hz is None else float(hum_hz),
        harmonics=tuple(int(k) for k in harmonics),
    )


def _autoid(sr: int, channels: int, p: dict[str, Any]) -> Any:
    from dsp.analyze import TARGET_LUFS, RecordingAnalyzer

    return RecordingAnalyzer(sr, channels, target_lufs=float(p.get("target_lufs", TARGET_LUFS)))


def _compress(sr: int, channels: int, p: dict[str, Any]) -> Any:
    from dsp.dynamics import CompressorAnalyzer

    names = ("threshold_lu", "ratio", "knee_db", "attack_ms", "release_ms", "makeup_db")
    return CompressorAnalyzer(sr, channels, **{k: float(p[k]) for k in names if k in p})


def _compressor(analyzer: Any, sr: int, channels: int, p: dict[str, Any]) -> Any:
    return analyzer.finish()


def _deess(sr: int, channels: int, p: dict[str, Any]) -> Any:
    from dsp.dynamics import DeEsser

    names = ("threshold_db", "max_reduction_db")
    return DeEsser(sr, channels, **{k: float(p[k]) for k in names if k in p})


STEPS: dict[str, StepDef] = {
    s.name: s
    for s in (
        StepDef(
            "denoise",
            "transform",
            "dsp.denoise",
            "NoiseReducer",
            _denoise,
            ("amount", "engine", "channels"),
            "reduce background noise and gate what lies away from speech (engine dsp | rnnoise | deepfilternet3; "
            "channels linked | each)",
            uses_speech=lambda p: _engine("denoise", p) == "dsp",  # the neural models find speech themselves
            uses_music=lambda p: bool(p.get("keep_music") or p.get("spare_music")),
        ),
        StepDef(
            "vad",
            "analysis",
            "dsp.vad",
            "SpeechDetector",
            _vad,
            ("min_non_speech_s", "engine"),
            "find speech segments (engine dsp | silero)",
        ),
        StepDef(
            "declick",
            "transform",
            "dsp.declick",
            "ClickRepairer",
            _declick,
            ("detection_mult", "click_len"),
            "repair clicks and crackle (detection_mult 6-10, 6 most sensitive; click_len 5-30 ms)",
        ),
        StepDef(
            "remove_echo",
            "two_pass",
            "dsp.echo",
            "EchoAnalyzer",
            _remove_echo,
            ("min_delay_ms", "max_delay_ms"),
            "find one discrete echo (delay between min_delay_ms and max_delay_ms, 50-300 ms by default) by "
            "its cepstral peak and remove it with an inverse comb; without one the audio is left untouched",
            then=_echo_remover,
        ),
        StepDef(
            "remove_reverb",
            "two_pass",
            "dsp.dereverb",
            "ReverbAnalyzer",
            _remove_reverb,
            (),
            "remove room reverberation: WPE (Nakatani et al. 2010) and late-reverberation suppression with a "
            "blind T60; dry recordings are left untouched",
            uses_music=lambda p: bool(p.get("spare_music")),
            then=_reverb_suppressor,
        ),
        StepDef(
            "autoeq",
            "two_pass",
            "dsp.eq",
            "EqAnalyzer",
            _autoeq,
            ("max_gain_db",),
            "match the speech's long-term spectrum to the Byrne et al. 1994 LTASS (third-octave, "
            "max_gain_db 6, smoothed) after a 70 Hz high-pass; music-only stretches are measured out and "
            "passed through, and a recording that is music only is left untouched",
            then=_equalizer,
        ),
        StepDef(
            "long_silences",
            "finalize",
            "dsp.silence",
            "SilenceShortener",
            _long_silences,
            ("max_pause_s", "keep_pause_s"),
            "shorten pauses longer than max_pause_s (1 s) to keep_pause_s (0.5 s); changes the duration",
            uses_music=lambda p: bool(p.get("keep_music")),
        ),
        StepDef(
            "loudness",
            "finalize",
            "dsp.loudness",
            "LoudnessMeter",
            _loudness,
            ("target_lufs", "max_peak_dbfs"),
            "normalise integrated loudness (ITU-R BS.1770)",
        ),
        StepDef(
            "fillers",
            "finalize",
            "dsp.fillers",
            "FillerDetector",
            _fillers,
            ("min_confidence",),
            "cut filled pauses (um, uh, er, mm: a sustained vowel or nasal with flat F0 and a steady "
            "spectrum between pauses, Goto et al. 1999) with crossfades; min_confidence 0-1 (0.35); changes "
            "the duration",
        ),
        StepDef(
            "dehum",
            "transform",
            "dsp.hum",
            "HumRemover",
            _dehum,
            ("detect_s", "hum_hz", "harmonics"),
            "notch mains hum (50/60 Hz and harmonics) where it is: detected in windows of detect_s (4 s) "
            "every quarter of that, so hum that starts or stops midway is followed (the report lists where); "
            "or the given hum_hz and harmonics, notched throughout; hum-free audio is left untouched",
        ),
        StepDef(
            "autoid",
            "plan",
            "dsp.analyze",
            "RecordingAnalyzer",
            _autoid,
            ("target_lufs",),
            "analyse the recording (SNR, hum, T60, echo, clipping, speech share, loudness, spectral tilt) "
            "and run the steps it needs; steps named explicitly always run",
        ),
        StepDef(
            "keep_music",
            "analysis",
            "dsp.music",
            "MusicDetector",
            _keep_music_step,
            (),
            "find music (Scheirer & Slaney 1997 features) and make the job's denoise, remove_background and "
            "long_silences steps leave music-only stretches untouched and go gentler on speech over music",
            uses_music=lambda p: True,
        ),
        StepDef(
            "remove_background",
            "transform",
            "dsp.music",
            "BackgroundRemover",
            _remove_background,
            ("depth_db",),
            "remove background audio (music, other voices, noise): the denoiser at full strength under speech "
            "and depth_db (25, 0-60) of suppression between speech; spares music when the job keeps music",
            uses_speech=lambda p: True,
            uses_music=lambda p: True,
        ),
        StepDef(
            "compress",
            "two_pass",
            "dsp.dynamics",
            "Compressor",
            _compress,
            ("threshold_lu", "ratio", "knee_db", "attack_ms", "release_ms", "makeup_db"),
            "gentle speech compression (Giannoulis et al. 2012 soft knee, ratio 2.5, knee 6 dB, attack 10 ms, "
            "release 120 ms) with the threshold threshold_lu (+3) above the measured loudness",
            then=_compressor,
        ),
        StepDef(
            "deess",
            "transform",
            "dsp.dynamics",
            "DeEsser",
            _deess,
            ("threshold_db", "max_reduction_db"),
            "split-band de-esser: turn the 4-10 kHz band down (at most max_reduction_db, 6) where it "
            "dominates the spectrum; nothing to do below about 11 kHz sample rate",
        ),
    )
}


#: Most steps one job may chain (each is a full pass over the audio).
MAX_STEPS = 16
#: Longest list a step parameter takes (``dehum`` harmonics are 1-100).
MAX_LIST_ITEMS = 100


def get_step(name: str) -> StepDef:
    """The registered step ``name``; raises InvalidParameterError for unknown names."""
    try:
        return STEPS[name]
    except KeyError:
        raise InvalidParameterError(
            f"processing step {name!r} does not exist; the steps are: {', '.join(sorted(STEPS))}"
        ) from None


def _wrong_type(d: Any, step: Step, text: str) -> str:
    """Name the parameter a ``float()``/``int()`` refused (Python's own words named none): the one
    whose removal lets the step build."""
    for name, value in step.params.items():
        rest = {k: v for k, v in step.params.items() if k != name}
        try:
            d.build(16_000, 1, rest)
        except (DspError, ValueError, TypeError):
            continue
        if "float" in text or "int()" in text or "real number" in text:
            return f"{name} takes a number, not {json.dumps(value)[:80]}"
        return text if name in text else f"{name}: {text}"
    return text


@dataclass(frozen=True)
class ParamSpec:
    """What a step parameter takes, as ``GET /api/v1/steps`` publishes it (the engines' own range
    checks stay the source of truth: ``tests/app/test_steps_params.py`` holds this table to them)."""

    type: Literal["number", "integer", "word", "list"]
    default: Any
    minimum: float | None = None
    maximum: float | None = None
    unit: str = ""
    choices: tuple[str, ...] = ()
    nullable: bool = False
    """``null`` is taken and means "find it in the audio"."""
    note: str = ""
    """A bound that depends on another parameter."""

    def public(self) -> dict[str, Any]:
        """JSON-ready, without the fields that do not apply."""
        out: dict[str, Any] = {"type": self.type, "default": self.default}
        for key in ("minimum", "maximum", "unit", "choices", "nullable", "note"):
            value = getattr(self, key)
            # (a bound of 0 is a bound: ``0.0 in (False,)`` is true, and loudness had no maximum)
            if value is not None and value is not False and value not in ("", ()):
                out[key] = list(value) if isinstance(value, tuple) else value
        return out


#: Every parameter a client may set, by step and name: its type, default and range. Defaults are
#: the builders' (``p.get(name, default)`` above and the DSP constants they read).
PARAM_SPECS: dict[str, dict[str, ParamSpec]] = {
    "denoise": {
        "amount": ParamSpec("number", 100.0, 1.0, 100.0, "percent"),
        "engine": ParamSpec("word", "dsp", choices=("dsp", "rnnoise", "deepfilternet3")),
        "channels": ParamSpec("word", "linked", choices=("linked", "each")),
    },
    "vad": {
        "min_non_speech_s": ParamSpec("number", 0.0, 0.0, 60.0, "s"),
        "engine": ParamSpec("word", "dsp", choices=("dsp", "silero")),
    },
    "declick": {
        "detection_mult": ParamSpec("number", 8.0, 6.0, 10.0),
        "click_len": ParamSpec("number", 10.0, 5.0, 30.0, "ms"),
    },
    "remove_echo": {
        "min_delay_ms": ParamSpec("number", 50.0, 20.0, 990.0, "ms", note="at most max_delay_ms - 10"),
        "max_delay_ms": ParamSpec("number", 300.0, 30.0, 1000.0, "ms", note="at least min_delay_ms + 10"),
    },
    "autoeq": {"max_gain_db": ParamSpec("number", 6.0, 0.0, 12.0, "dB")},
    "long_silences": {
        "max_pause_s": ParamSpec("number", 1.0, 0.2, 60.0, "s", note="at least keep_pause_s"),
        "keep_pause_s": ParamSpec("number", 0.5, 0.05, 60.0, "s", note="at most max_pause_s"),
    },
    "loudness": {
        "target_lufs": ParamSpec("number", -16.0, -70.0, 0.0, "LUFS"),
        "max_peak_dbfs": ParamSpec("number", -1.0, -20.0, 0.0, "dBTP"),
    },
    "fillers": {"min_confidence": ParamSpec("number", 0.35, 0.0, 1.0)},
    "dehum": {
        "detect_s": ParamSpec("number", 4.0, 0.25, 30.0, "s"),
        "hum_hz": ParamSpec("number", None, 40.0, 70.0, "Hz", nullable=True),
        # (null by default: a client that sends every advertised default must not be refused for a
        # list that goes only with hum_hz)
        "harmonics": ParamSpec(
            "list", None, nullable=True, note="each 1-100, only with hum_hz; null: 1, 2, 3 with hum_hz, else detected"
        ),
    },
    "autoid": {"target_lufs": ParamSpec("number", -16.0, -40.0, -5.0, "LUFS")},
    "remove_background": {"depth_db": ParamSpec("number", 25.0, 0.0, 60.0, "dB")},
    "compress": {
        "threshold_lu": ParamSpec("number", 3.0, -20.0, 20.0, "LU"),
        "ratio": ParamSpec("number", 2.5, 1.0, 20.0),
        "knee_db": ParamSpec("number", 6.0, 0.0, 24.0, "dB"),
        "attack_ms": ParamSpec("number", 10.0, 1.0, 500.0, "ms"),
        "release_ms": ParamSpec("number", 120.0, 1.0, 5000.0, "ms"),
        "makeup_db": ParamSpec("number", 0.0, -24.0, 24.0, "dB"),
    },
    "deess": {
        "threshold_db": ParamSpec("number", -10.0, -30.0, 0.0, "dB"),
        "max_reduction_db": ParamSpec("number", 6.0, 0.0, 24.0, "dB"),
    },
}


def _is_number(v: Any) -> bool:
    """A JSON number a float holds (an integer of 400 digits overflowed in the engine: a 500)."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return False
    try:
        return math.isfinite(float(v))
    except OverflowError:
        return False


def _check_types(step: Step) -> None:
    """Refuse a value of the wrong JSON type by name (its :data:`PARAM_SPECS` type), before any
    engine reads it: ``true`` read as 1 by ``float()`` (a compressor at ratio 1 ran and said
    nothing), ``"80"`` taken for 80, and ``null`` or a number where a list goes answered in
    Python's words. A word is left to the step's builder, which names the words it takes."""
    specs = PARAM_SPECS.get(step.name, {})
    for name, value in step.params.items():
        spec = specs.get(name)
        if spec is None or spec.type == "word":
            continue
        if spec.type == "list":
            ok = (value is None and spec.nullable) or (
                isinstance(value, list)
                and len(value) <= MAX_LIST_ITEMS
                and all(_is_number(v) and float(v).is_integer() for v in value)
            )
            want = f"a list of at most {MAX_LIST_ITEMS} whole numbers, e.g. [1, 2, 3]"
        else:
            ok = (value is None and spec.nullable) or _is_number(value)
            want = "a number" + (" or null" if spec.nullable else "")
        if not ok:
            raise InvalidParameterError(f"step {step.name!r}: {name} takes {want}, not {json.dumps(value)[:80]}")


def check_steps(steps: Sequence[Step]) -> None:
    """Refuse unknown or unbuilt steps, unknown or out-of-range parameters, and a misplaced finalize step.

    Parameter values are checked by building each step's processor once (the DSP constructors
    are the one source of truth for ranges), so a bad value is a client error at submit, not a
    failed job.
    """
    if len(steps) > MAX_STEPS:
        raise InvalidParameterError(f"a job may chain at most {MAX_STEPS} steps, this one has {len(steps)}")
    for i, step in enumerate(steps):
        d = get_step(step.name)
        if not d.available:
            raise EngineUnavailableError(
                f"processing step {step.name!r} ({d.description}) is not available in this build of Hush"
            )
        unknown = set(step.params) - set(d.params)
        if unknown:
            raise InvalidParameterError(
                f"step {step.name!r} has no parameter(s) {sorted(unknown)}; it takes {list(d.params)}"
            )
        _check_types(step)
        try:
            d.build(16_000, 1, dict(step.params))
        except (DspError, ValueError, TypeError, OverflowError) as exc:
            text = str(exc)
            if isinstance(exc, DspParameterError) and exc.param is not None:
                text = exc.named(_PARAM_NAMES.get((step.name, exc.param), exc.param))
            elif not isinstance(exc, DspError):
                text = _wrong_type(d, step, text)
            # the DSP error stays the cause: `hush` names the parameter as its option
            raise InvalidParameterError(f"step {step.name!r}: {text}") from exc
        if d.kind == "plan" and any(STEPS[s.name].kind == "plan" for s in steps[i + 1 :]):
            raise InvalidParameterError(f"step {step.name!r} may appear once")
        later = [s.name for s in steps[i + 1 :] if STEPS[s.name].kind in ("transform", "two_pass")]
        if d.kind == "finalize" and later:
            # (the order to send, not only the rule: a client had to guess which step to move)
            after = [s.name for s in steps[i + 1 :] if STEPS[s.name].kind not in ("transform", "two_pass")]
            fixed = [*(s.name for s in steps[:i]), *later, step.name, *after]
            raise InvalidParameterError(
                f"step {step.name!r} works on the finished audio, so it must come after every step that "
                f"changes the audio, and {', '.join(map(repr, later))} {'comes' if len(later) == 1 else 'come'} "
                f"after it: send the steps in the order {fixed}"
            )
