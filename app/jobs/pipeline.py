"""The streaming pipeline: decode → step chain → encode (→ remux video), block by block.

Shared by the job runner and the local CLI, so both produce the same audio. Memory is bounded
by the block length, never by the duration: transforms stream, a two-pass step (echo removal,
auto EQ) listens to a pass written to a float WAV on disk and processes it in the next pass, a
finalize step (loudness) makes a last pass over a float WAV, and video is remuxed from files.

A ``plan`` step (``autoid``) is expanded before anything else: its analyzer
(:class:`dsp.analyze.RecordingAnalyzer`) listens to one pass over the input, and the steps it
decided replace it (:func:`expand_plan`). The steps named explicitly always run with their own
parameters; the plan only adds the ones it decided that are not named, each at its place in the
canonical chain order (:data:`CHAIN`). The speech segments the analysis found are handed to the
noise reducer, and its music map to every step that takes one, so no second speech or music pass
is made. On a recording the analysis finds music only, nothing is added (each decision says so);
otherwise the voice steps it adds (:data:`SPARE_MUSIC`) pass the music-only stretches through.

Before the chain, one pass may find what the steps need to know about the whole recording: the
speech detector's segments (for a step whose ``uses_speech`` says so), and, in the same pass,
the music detector's map (:class:`dsp.music.MusicMap`) for a step whose ``uses_music`` says so;
a ``keep_music`` step in the job is what makes the denoiser and the pause cutter take the map (and
``spare_music``, which only ``autoid`` sets, the denoiser and dereverberation it adds). Neither
pass is made when the ``autoid`` analysis already found what it would.
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from app import media
from app.jobs.models import OutputSpec, Step
from app.jobs.steps import StepDef, get_step

__all__ = ["CHAIN", "PipelineResult", "expand_plan", "process_file"]

#: How far (dB) peaks may rise over the loudness step's ceiling before its gain is held back;
#: the true-peak limiter takes them down (a few dB of limiting on speech peaks is inaudible).
LIMITER_HEADROOM_DB = 6.0
#: How much lower (dB) the true-peak limiter aims when the output is lossy (MP3, OGG, M4A, WebM, a
#: video's audio): the encoder's own filtering puts inter-sample peaks back. An outside audit
#: measured Vorbis and Opus outputs of a -1.2 dBTP limiter at -0.6 and -0.7 dBTP (ffmpeg ebur128);
#: AES TD1004 (2015) asks for more headroom than -1 dBTP at lower bit rates.
LOSSY_PEAK_MARGIN_DB = 1.0
#: The margin alone was not enough: an outside audit read AAC outputs at up to -0.3 dBTP, and real
#: voices at 22-48 kHz came out of the -2.2 dBTP limiter at up to -0.1 (AAC, MP3) and +0.2 dBTP
#: (Vorbis) on ffmpeg's ebur128 meter. Nor is the overshoot a fixed amount: FFmpeg's AAC encoder at
#: 70 kb/s put a clean voice's peaks back 1.0 to 3.5 dB over the limiter's from one encode to the
#: next of nearly the same audio. So the encode is measured (decoded, :class:`dsp.loudness.
#: TruePeakMeter`), and where it reads over the ceiling by more than TRUE_PEAK_SLACK_DB the last pass
#: runs again with the limiter's ceiling lower by the excess plus TRUE_PEAK_RETRY_EXTRA_DB, at most
#: TRUE_PEAK_RETRIES times. Lowering the ceiling costs loudness only where the limiter acts (lowering
#: the whole gain instead cost that voice 2.9 LU, the ceiling 1.0 LU).
TRUE_PEAK_SLACK_DB = 0.05
TRUE_PEAK_RETRY_EXTRA_DB = 0.3
TRUE_PEAK_RETRIES = 2
#: The same measurement reads the encode's integrated loudness: a constant-bit-rate MP3 encode came
#: out 0.26 dB quieter than the audio it was given (an outside audit, ffmpeg ebur128, on speech and
#: music alike; ffmpeg's own CBR LAME encode does the same), so a -16 LUFS target read -16.3 to
#: -16.5. Where the encode misses the target by more than LOUDNESS_SLACK_LU, the first re-run also
#: moves the gain by the miss (the true-peak limiter still holds the ceiling, and the re-runs after
#: it only lower the ceiling: the ceiling is a limit, the loudness a target). 0.2 LU: twice the
#: +-0.1 LU a meter may read off by (EBU Tech 3341, sec. 2.9). A lossless result is measured and
#: corrected the same way: the limiter after the gain left WAV results 0.2-0.6 LU under the target
#: (an outside audit of the reports).
LOUDNESS_SLACK_LU = 0.2
#: Share of the finalize pass's progress given to writing the result when a loudness step then
#: measures it (the rest: the measuring). On a 2-hour 16 kHz WAV (an outside audit) the writing took
#: 60 s and the measuring 49 s, during which the bar stood still at 98.5 %.
_WRITE_SHARE = 55.0
LOSSLESS_CONTAINERS = ("wav", "flac", "pcm")
#: Share of the progress bar given to the speech detector's pass before a speech-aware step: it
#: decodes the input once more and runs at about 1000x real time, so a tenth is generous.
PREPASS_SHARE = 0.1
#: The stage of a second write of a ``loudness`` result, after its check found the level or the
#: peak off target: the progress has reached its end by then, and a quarter of a long job's run
#: went by at 98.5 % with nothing changing (an audit).
LOUDNESS_CORRECTION_STAGE = "loudness correction"
#: Finalize steps that plan cuts (a :class:`dsp.silence.SilenceCuts`) on the processed audio; the
#: last pass removes them all, so every report's times are those of the input.
TIME_EDITS = ("long_silences", "fillers")
#: Share of the progress bar given to the analysis pass of a ``plan`` step: it runs the echo,
#: reverb, EQ and speech analyzers at about 20x real time (a 16 kHz realdev recording on one
#: core), as slow as a pass of a typical chain, so a quarter.
PLAN_SHARE = 0.25
#: The order decided steps are merged in (the AudioCleaner chain: mouth sounds; hum notched first,
#: as the analysis measured everything else with it notched; echo and reverb before the noise
#: reducer, whose gain would smear them; EQ on the cleaned speech; the time edit
#: and the loudness gain last).
CHAIN = ("declick", "dehum", "remove_echo", "remove_reverb", "denoise", "autoeq", "long_silences", "loudness")
#: Decided steps that process the voice and leave the music-only stretches of the analysis's music
#: map alone (``spare_music``); the autoeq step always finds music itself. Echo removal, hum
#: notches and the loudness gain act on the whole recording, as before.
SPARE_MUSIC = ("denoise", "remove_reverb")
#: Share of the recording the music map spares from which such a step is not added at all.
ALL_MUSIC_SHARE = 0.95


def _listen(det: Any, src: Path, info: media.MediaInfo, block: int, progress: Callable[[float], None]) -> None:
    """Feed the decoded input to ``det`` (anything with ``process(block)``) in one pass."""
    total = max(1.0, (info.duration_s or 0.0) * info.sr)
    done = 0
    for b in media.decode_blocks(src, info, block):
        det.process(b)
        done += b.shape[-1]
        progress(min(100.0, 100.0 * done / total))


def _find_speech(
    src: Path, info: media.MediaInfo, block: int, progress: Callable[[float], None]
) -> list[tuple[float, float]]:
    """Where the input holds speech or music (one streaming pass of the speech detector over it)."""
    from dsp.vad import SpeechDetector

    det = SpeechDetector(info.sr, info.channels)
    _listen(det, src, info, block, progress)
    return det.keep_segments()


def _analyze(src: Path, info: media.MediaInfo, plan: Step, block: int, progress: Callable[[float], None]) -> Any:
    """One streaming pass of the plan step's analyzer over the input; the finished analyzer."""
    analyzer = get_step(plan.name).build(info.sr, info.channels, plan.params)
    _listen(analyzer, src, info, block, progress)
    analyzer.finish()
    return analyzer


def expand_plan(steps: Sequence[Step], analysis: Any, target_lufs: float) -> tuple[list[Step], dict[str, Any]]:
    """Replace the plan step of ``steps`` by the steps ``analysis`` decided; the plan's report.

    Parameters
    ----------
    steps : sequence of Step
        The job's chain, holding one ``plan`` step.
    analysis : dsp.analyze.Analysis
        The finished analysis of the input.
    target_lufs : float
        Loudness target of a decided loudness step.

    Returns
    -------
    steps : list of Step
        The explicit steps, unchanged and in their order, with each decided step not named among
        them inserted before the first explicit step that comes later in :data:`CHAIN` (a
        transform never after a finalize step).
    report : dict
        ``step`` "autoid", the measurements, and each decision with its ``action``: ``added``,
        ``explicit`` (named by the caller: it runs with the caller's parameters),
        ``not_applied`` (no engine in this build, or the recording is music only: the decision's
        ``not_applied`` says why) or ``none`` (off). On a recording that is music only, the
        report's own ``not_applied`` says so.
    """
    out = [s for s in steps if get_step(s.name).kind != "plan"]
    explicit = {s.name for s in out}
    music = getattr(analysis, "music", None)
    decisions = []
    for d in analysis.decisions:
        entry = d.report()
        if d.engine in explicit:  # it runs, with the caller's parameters, whatever autoid decided
            entry["action"] = "explicit"
            entry["ran_with"] = dict(next(s for s in out if s.name == d.engine).params)
            if not d.on:
                entry["note"] = "set by the caller: autoid alone would not have added it"
            else:  # (its strength said 100 beside a denoise row that ran at 80: a playground audit)
                entry["note"] = "set by the caller: it ran with the caller's parameters (ran_with), not autoid's"
        elif not d.on and d.not_applied:
            entry["action"] = "not_applied"
        elif not d.on:
            entry["action"] = "none"
        elif d.engine == "declip":
            entry["action"] = "not_applied"
            entry["note"] = "no declipping engine in this build: the clipping is reported, not repaired"
        elif d.engine in SPARE_MUSIC and music is not None and music.music_s >= ALL_MUSIC_SHARE * music.duration_s:
            # the step would pass (nearly) all of it through: not added, and said so (it said added
            # while a reverberant voice the music detector took for music was bypassed whole)
            entry["action"] = "not_applied"
            entry["music_spared_s"] = round(music.music_s, 2)
            entry["note"] = (
                f"the music detector found music in {music.music_s:.1f} of {music.duration_s:.1f} s, which "
                f"{d.engine} leaves untouched: nothing would be left to process (a voice in a reverberant "
                "room can read as music; set the flag explicitly to run it on everything)"
            )
        else:
            entry["action"] = "added"
            params: dict[str, Any] = {}
            if d.engine == "denoise" and d.strength is not None:
                params = {"amount": d.strength}
            elif d.engine == "loudness":
                params = {"target_lufs": target_lufs}
            # dehum gets no fixed frequency: it finds the hum again and follows it (notches fixed at
            # the analysis's whole-file estimate, 59.875 Hz, left a real voice's 60 Hz hum 16 dB down)
            if d.engine in SPARE_MUSIC and music is not None and music.music:
                params["spare_music"] = True
                entry["music_spared_s"] = round(music.music_s, 2)
            _insert(out, Step(name=d.engine, params=params))
        decisions.append(entry)
    report: dict[str, Any] = {
        "step": "autoid",
        "measurements": analysis.measurements(),
        "decisions": decisions,
        "chain": [s.name for s in out],
    }
    if music is not None and music.music_only:
        report["not_applied"] = (
            f"{music.why_music_only()}: autoid's repairs are for a voice recording, so none was made"
        )
    return out, report


def _insert(chain: list[Step], step: Step) -> None:
    """Put ``step`` at its :data:`CHAIN` place among the steps of ``chain`` (in place)."""
    rank = CHAIN.index(step.name)
    finalize = get_step(step.name).kind == "finalize"
    at = len(chain)
    for i, s in enumerate(chain):
        later = s.name in CHAIN and CHAIN.index(s.name) > rank
        if later or (not finalize and get_step(s.name).kind == "finalize"):
            at = i
            break
    chain.insert(at, step)


def _find_speech_and_music(
    src: Path, info: media.MediaInfo, block: int, progress: Callable[[float], None]
) -> tuple[list[tuple[float, float]], Any]:
    """What :func:`_find_speech` finds, and the music map, from one pass of the music detector
    (it carries the speech detector, so the input is decoded once for both)."""
    from dsp.music import MusicDetector

    det = MusicDetector(info.sr, info.channels)
    _listen(det, src, info, block, progress)
    music = det.finish()
    return det.speech_detector.keep_segments(), music


@dataclass
class PipelineResult:
    """What one run produced: the per-step reports, data (segments ...), the output file.

    ``data["warnings"]``, when present, lists what the user should know about the input or the
    output, one line each (an input that ends before its header says it does: the audio present
    was processed; an output format that cannot carry the input's rate: it was resampled).
    """

    reports: list[dict[str, Any]]
    data: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None
    container: str = ""


def _hum_removed_before(reports: list[dict[str, Any]]) -> None:
    """A ``dehum`` that found no hum after ``denoise`` notched it says so: "no mains hum was
    found" read as if the input had none, and a user thought the detection failed (an audit)."""
    removed: float | None = None
    for r in reports:
        if r.get("step") == "denoise" and r.get("hum_hz"):
            removed = float(r["hum_hz"])
        elif r.get("step") == "dehum" and removed is not None and not r.get("hum_hz") and r.get("not_applied"):
            why = (
                f"the mains hum ({removed:g} Hz) was already removed by denoise, which ran before dehum: "
                "none was left, and the audio passed unchanged"
            )
            r["reason"] = r["not_applied"] = why


def process_file(
    src: Path,
    info: media.MediaInfo,
    steps: Sequence[Step],
    output: OutputSpec,
    tmp: Path,
    *,
    progress: Callable[[float], None] = lambda pct: None,
    block_seconds: float = 5.0,
    on_stage: Callable[[str], None] = lambda stage: None,
) -> PipelineResult:
    """Run ``steps`` over the media file ``src`` (described by ``info``), writing into ``tmp``.

    ``on_stage`` is told what each pass over the audio runs as it starts (``"autoid analysis"``,
    ``"speech detection"``, ``"denoise, dehum"``, ``"loudness"``): the steps of one pass run on each
    block in turn, so a pass is named by all of them."""
    sr, ch = info.sr, info.channels
    out_container = media.output_container(info, output.container) if output.audio else ""
    video = output.audio and media.needs_remux(info, out_container)
    if output.audio and not video:  # fail before any DSP, naming only formats the client's API offers
        media.check_encodable(out_container, sr, ch, offered=output.offered)
    block = max(256, int(block_seconds * sr))
    speech: list[tuple[float, float]] | None = None
    music: Any = None
    requested = bool(steps)
    plan_report: dict[str, Any] | None = None
    plans = [s for s in steps if get_step(s.name).kind == "plan"]
    if plans:
        outer_plan = progress
        on_stage(f"{plans[0].name} analysis")
        analyzer = _analyze(src, info, plans[0], block, lambda pct: outer_plan(PLAN_SHARE * pct))
        progress = lambda pct: outer_plan(PLAN_SHARE * 100 + (1 - PLAN_SHARE) * pct)  # noqa: E731
        steps, plan_report = expand_plan(steps, analyzer.finish(), analyzer.target_lufs)
        speech = analyzer.speech_segments()  # what _find_speech would find: the same detector
        music = analyzer.finish().music  # and _find_speech_and_music's map (of the hum-notched input)
    defs = [(s, get_step(s.name)) for s in steps]
    # a keep_music step makes the music map reach every step that takes it (see app.jobs.steps)
    keep_music = any(s.name == "keep_music" for s, _ in defs)
    music_users = [
        s.name for s, d in defs if d.uses_music is not None and d.uses_music({**s.params, "keep_music": keep_music})
    ]
    need_music = bool(music_users) and music is None
    if need_music or (speech is None and any(d.uses_speech is not None and d.uses_speech(s.params) for s, d in defs)):
        outer = progress
        on_stage("speech and music detection" if need_music else "speech detection")
        if need_music:
            speech, music = _find_speech_and_music(src, info, block, lambda pct: outer(PREPASS_SHARE * pct))
        else:
            speech = _find_speech(src, info, block, lambda pct: outer(PREPASS_SHARE * pct))
        progress = lambda pct: outer(PREPASS_SHARE * 100 + (1 - PREPASS_SHARE) * pct)  # noqa: E731

    def params_for(s: Step, d: StepDef) -> dict[str, Any]:
        params = {**s.params, "speech": speech} if speech is not None and d.uses_speech else dict(s.params)
        if s.name in music_users:
            params.update(
                music=music, keep_music=keep_music, music_users=music_users, job_steps=[x.name for x, _ in defs]
            )
        return params

    def build(s: Step, d: StepDef) -> Any:
        return d.build(sr, ch, params_for(s, d))

    analyzers = [(s.name, build(s, d)) for s, d in defs if d.kind == "analysis"]
    finalize = [(s, build(s, d)) for s, d in defs if d.kind == "finalize"]
    # the chain is cut at each two-pass step: the transforms before it run in one pass while
    # the step's analyzer listens and the audio goes to a float WAV; the next pass reads that
    # file back through the processor the analysis chose, then the next transforms
    chains: list[list[Any]] = [[]]
    listeners: list[tuple[StepDef, Any, dict[str, Any]]] = []
    for s, d in defs:
        if d.kind == "transform":
            chains[-1].append(build(s, d))
        elif d.kind == "two_pass":
            listeners.append((d, build(s, d), params_for(s, d)))
            chains.append([])
    total = max(1.0, (info.duration_s or 0.0) * sr)
    passes = len(listeners) + (2 if finalize else 1)
    # each pass's steps, for on_stage: a two-pass step listens in one pass and processes in the
    # next, the analyses listen in the first, the finalize steps measure in the last
    named: list[list[str]] = [[]]
    for s, d in defs:
        if d.kind == "analysis":
            named[0].append(s.name)
        elif d.kind == "transform":
            named[-1].append(s.name)
        elif d.kind == "two_pass":
            named[-1].append(s.name)
            named.append([s.name])
    named[-1] += [s.name for s, _ in finalize]

    def announce(pass_no: int) -> None:
        if named[pass_no]:
            on_stage(", ".join(dict.fromkeys(named[pass_no])))

    def chain(blocks: Iterator[np.ndarray], transforms: list[Any], pass_no: int) -> Iterator[np.ndarray]:
        done = 0
        for b in blocks:
            done += b.shape[-1]
            if pass_no == 0:
                for _, a in analyzers:
                    a.process(b)
            for p in transforms:
                b = p.process(b)
            progress((pass_no + min(1.0, done / total)) * 100.0 / passes)
            if b.shape[-1]:
                yield b
        for i, p in enumerate(transforms):
            tail = p.flush()
            for q in transforms[i + 1 :]:
                tail = q.process(tail)
            if tail.shape[-1]:
                yield tail

    def keep_format(container: str) -> str | None:
        return info.sample_format if container in ("wav", "flac") else None

    result = PipelineResult(reports=[], container=out_container)
    warnings: list[str] = []  # the one pass that decodes the whole input reports what it found
    source: Iterator[np.ndarray] = media.decode_blocks(src, info, block, warnings=warnings)
    ran: list[Any] = []  # every transform, in chain order, for the reports
    transforms = chains[0]
    for k, (d, listener, built_with) in enumerate(listeners):
        stage = tmp / f"stage{k}.wav"
        announce(k)
        with media.AudioWriter(stage, "wav", sr, ch, sample_format="FLOAT", expected_frames=info.frames) as w:
            for b in chain(source, transforms, k):
                listener.process(b)
                w.write(b)
        ran += transforms
        if d.then is None:
            raise TypeError(f"two-pass step {d.name!r} has no processor to build")
        transforms = [d.then(listener, sr, ch, built_with), *chains[k + 1]]
        source = _file_blocks(stage, block)
    ran += transforms
    last = len(listeners)
    announce(last)
    n = 0
    if not output.audio:
        for b in chain(source, transforms, last):
            n += b.shape[-1]
    else:
        ext = media.EXTENSIONS[out_container]
        direct = not (video or finalize)
        path = tmp / (f"pass1{ext}" if direct else "pass1.wav")
        container = out_container if direct else "wav"
        fmt = keep_format(out_container) if direct else "FLOAT"
        with media.AudioWriter(
            path, container, sr, ch, sample_format=fmt, bit_rate=info.bit_rate, expected_frames=info.frames
        ) as w:
            for b in chain(source, transforms, last):
                for _, m in finalize:
                    m.process(b)
                w.write(b)
                n += b.shape[-1]
        if direct:
            result.data["clipped_samples"] = w.clipped
        out = tmp / f"out{ext}"

        def remux(audio: Path) -> Path:
            media.remux_video(src, audio, out, out_container)
            return out

        if finalize:
            share = 100.0 / passes

            def pass_progress(pct: float) -> None:
                progress(100.0 - share + pct * share / 100.0)

            on_stage(", ".join(s.name for s, _ in finalize))

            path = _second_pass(
                path,
                finalize,
                tmp,
                out_container,
                video,
                block,
                n,
                pass_progress,
                keep_format,
                result,
                info.bit_rate,
                deliver=remux if video else lambda p: p,
                on_stage=on_stage,
            )
        elif video:
            path = remux(path)
        result.path = path
    for k in range(len(listeners)):
        (tmp / f"stage{k}.wav").unlink(missing_ok=True)
    result.data.setdefault("duration_s", n / sr)  # a time edit (long_silences) set the new length
    result.reports = ([plan_report] if plan_report is not None else []) + [p.report() for p in ran]
    for name, a in analyzers:
        found = a.finish()
        result.reports.append(a.report())
        if name == "vad":
            result.data["segments"] = [[round(float(s), 3), round(float(e), 3)] for s, e in found]  # (ms)
    result.reports.extend(result.data.pop("finalize", []))
    if not requested:
        result.reports.append({"step": "none", "applied": False, "note": "no processing steps were requested"})
    _hum_removed_before(result.reports)
    for r in result.reports:  # every step says whether it did anything, in the same word
        r.setdefault("applied", not r.get("not_applied"))
    for note in (
        media.resample_note(out_container, sr, ch, offered=output.offered) if output.audio else None,
        media.codec_note(info, out_container, offered=output.offered) if output.audio else None,
    ):
        if note is not None:
            warnings.append(note)
    clipped = result.data.pop("clipped_samples", 0)
    if clipped:
        warnings.append(
            media.clipped_note(
                clipped, out_container, info.sample_format, offered=output.offered, level_hint=output.level_hint
            )
        )
    if (
        result.path is not None  # (no step requested, and a video's audio, count alike: nothing done)
        and not warnings
        and info.bit_rate is not None  # a lossy input (its bit rate is known only for those)
        and out_container == info.container
        and all(r.get("not_applied") or r.get("applied") is False for r in result.reports)
    ):
        # nothing was done to the audio: the input itself, not a new lossy encode of it (a
        # generation lost for nothing)
        same = tmp / f"unchanged{media.EXTENSIONS[out_container]}"
        shutil.copyfile(src, same)
        result.path = same
        result.data["unchanged"] = True
    if warnings:
        result.data["warnings"] = warnings
    return result


def _second_pass(
    first: Path,
    finalize: list[tuple[Step, Any]],
    tmp: Path,
    out_container: str,
    video: bool,
    block: int,
    n: int,
    progress: Callable[[float], None],
    keep_format: Callable[[str], str | None],
    result: PipelineResult,
    bit_rate: int | None = None,
    deliver: Callable[[Path], Path] = lambda p: p,
    on_stage: Callable[[str], None] = lambda stage: None,
) -> Path:
    """The finalize steps' pass; returns the delivered file (``deliver``: a video's remux).

    After a loudness step the delivered file is measured (decoded, when lossy), and written again
    with the gain moved by a loudness miss (:data:`LOUDNESS_SLACK_LU`) or the limiter lower when an
    encoder put its peaks back over the ceiling (see :data:`TRUE_PEAK_RETRIES`). ``progress``
    counts this pass from 0 to 100: the writing :data:`_WRITE_SHARE` of it, the measuring the rest
    (``on_stage("loudness check")``); a second writing, when needed, holds the bar where it is and
    says so (``on_stage(LOUDNESS_CORRECTION_STAGE)``)."""
    from dsp.loudness import GainStage, TruePeakLimiter
    from dsp.silence import CROSSFADE_S, SilenceCuts

    info_first = sf.info(str(first))
    sr_in, ch_in = int(info_first.samplerate), int(info_first.channels)
    ceilings: list[float] = []  # the limiter ceiling of each loudness step (the last one runs)
    targets: list[float] = []  # its max_peak_dbfs
    loudness_targets: list[float | None] = []  # its target_lufs (None: nothing to bring up, silence)

    gain_db = 0.0
    reports = []
    cuts: list[tuple[int, int]] = []
    lossy = video or out_container not in LOSSLESS_CONTAINERS
    edits = {s.name: stage_in for s, stage_in in finalize if s.name in TIME_EDITS}
    if len(edits) == 2 and not video:
        # a pause, a filler and a pause are one pause to shorten: long_silences plans with the
        # fillers taken out of the speech, and cuts those it takes in itself (each edit alone left
        # 0.2-0.4 s where both meant 0.5 s, and their reports counted the overlap twice)
        fillers, shortener = edits["fillers"], edits["long_silences"]
        shortener.exclude_speech([(f.start_s, f.end_s) for f in fillers.kept])
        fillers.absorb(shortener.finish())
    for s, stage_in in finalize:
        if s.name in TIME_EDITS:
            planned: SilenceCuts = stage_in.finish()
            report = stage_in.report()
            if video and planned.cuts:  # a time edit would desynchronise the untouched video
                report = {
                    "step": s.name,
                    "applied": False,
                    "not_applied": "the input has video: Hush never re-encodes video, and cutting the "
                    "audio alone would put it out of sync",
                    "pauses_found" if s.name == "long_silences" else "cuts_found": len(planned.cuts),
                }
            else:  # every time edit planned on the same audio: their cuts are merged
                cuts = _merge_cuts([*cuts, *planned.cuts])
            reports.append(report)
            continue
        # a true-peak limiter follows the gain: up to LIMITER_HEADROOM_DB of peaks over the ceiling
        # are limited rather than holding the whole programme back (EBU R 128 practice)
        stage = GainStage.for_target(stage_in.finish(), **s.params, limiter_headroom_db=LIMITER_HEADROOM_DB)
        gain_db += stage.gain_db
        ceilings.append(stage.max_peak_dbfs - (LOSSY_PEAK_MARGIN_DB if lossy else 0.0))
        targets.append(stage.max_peak_dbfs)
        loudness_targets.append(stage.target_lufs if stage.applied else None)
        report = stage.report()
        if lossy:
            report["lossy_peak_margin_db"] = LOSSY_PEAK_MARGIN_DB  # the limiter aims this much lower
        reports.append(report)
    result.data["finalize"] = reports
    g = np.float32(10 ** (gain_db / 20))
    container = "wav" if video else out_container
    second = tmp / f"pass2{media.EXTENSIONS[container]}"
    loudness = [r for r in reports if r.get("step") == "loudness"]

    def write(lower_db: float, progress: Callable[[float], None]) -> int:
        done = 0
        with (
            sf.SoundFile(str(first)) as r,
            media.AudioWriter(
                second,
                container,
                r.samplerate,
                r.channels,
                sample_format="FLOAT" if video else keep_format(container),
                bit_rate=bit_rate,
                expected_frames=r.frames,
            ) as w,
        ):
            fade = round(CROSSFADE_S * r.samplerate)
            limiter = (
                TruePeakLimiter(sr_in, ch_in, ceiling_dbtp=max(ceilings[-1] - lower_db, -20.0)) if ceilings else None
            )
            for x in _kept_blocks(r, cuts, block, fade):
                done += x.shape[-1]
                y = x * g
                w.write(limiter.process(y) if limiter is not None else y)
                progress(100.0 * done / max(n, 1))
            if limiter is not None:
                w.write(limiter.flush())
                for report in loudness:
                    report["limiter"] = limiter.report()
        result.data["clipped_samples"] = w.clipped
        return done

    lower_db = 0.0
    write_share = _WRITE_SHARE if ceilings else 100.0
    for attempt in range(TRUE_PEAK_RETRIES + 1):
        first_try = attempt == 0
        if not first_try:  # (the progress is spent: a stage says what the last stretch does)
            on_stage(LOUDNESS_CORRECTION_STAGE)
        done = write(lower_db, (lambda pct: progress(pct * write_share / 100.0)) if first_try else lambda pct: None)
        delivered = deliver(second)
        if not ceilings:
            break
        # what the listener gets, measured on the file delivered (decoded for a lossy one): the
        # limiter after the gain costs a lossless result 0.2-0.6 LU too (report audit)
        if first_try:
            on_stage("loudness check")
        peak, lufs = _encoded_levels(
            delivered,
            block,
            (lambda pct: progress(write_share + pct * (100.0 - write_share) / 100.0)) if first_try else None,
        )
        for report in loudness:
            report["output_true_peak_dbtp"] = round(peak, 2) if math.isfinite(peak) else None
            report["output_loudness_lufs"] = round(lufs, 2) if math.isfinite(lufs) else None
            if lossy:
                report["encoded_true_peak_dbtp"] = report["output_true_peak_dbtp"]
                report["encoded_loudness_lufs"] = report["output_loudness_lufs"]
                report["lossy_peak_margin_db"] = round(LOSSY_PEAK_MARGIN_DB + lower_db, 2)
        over = peak - targets[-1]
        target = loudness_targets[-1]
        short = target - lufs if target is not None and math.isfinite(lufs) else 0.0
        fix_level = attempt == 0 and abs(short) > LOUDNESS_SLACK_LU
        if (over <= TRUE_PEAK_SLACK_DB and not fix_level) or attempt == TRUE_PEAK_RETRIES:
            break
        if over > TRUE_PEAK_SLACK_DB:
            lower_db += over + TRUE_PEAK_RETRY_EXTRA_DB
        if fix_level:
            g = np.float32(g * 10 ** (short / 20))
            for report in loudness:
                report["encode_level_correction_db"] = round(short, 2)
    if cuts:
        result.data["duration_s"] = done / sr_in
        result.data["input_duration_s"] = n / sr_in
    return delivered


def _encoded_levels(path: Path, block: int, progress: Callable[[float], None] | None = None) -> tuple[float, float]:
    """The true peak (dBTP) and integrated loudness (LUFS) of the audio in ``path``, decoded;
    ``progress`` is told the share measured (0-100) after each block."""
    from dsp.loudness import LoudnessMeter, TruePeakMeter

    info = media.probe(path)
    meter = TruePeakMeter(info.sr, info.channels)
    level = LoudnessMeter(info.sr, info.channels)
    total = max(round((info.duration_s or 0.0) * info.sr), 1)
    done = 0
    for b in media.decode_blocks(path, info, block):
        meter.process(b)
        level.process(b)
        done += b.shape[-1]
        if progress is not None:
            progress(min(100.0, 100.0 * done / total))
    return meter.finish(), level.finish().integrated_lufs


def _merge_cuts(cuts: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sorted, overlapping or touching ``(start, end)`` sample ranges joined."""
    out: list[tuple[int, int]] = []
    for a, b in sorted(cuts):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def _file_blocks(path: Path, block: int) -> Iterator[np.ndarray]:
    """A sound file's audio as ``(channels, m)`` float32 blocks of at most ``block`` samples."""
    with sf.SoundFile(str(path)) as r:
        while True:
            x = r.read(block, dtype="float32", always_2d=True)
            if not len(x):
                return
            yield np.ascontiguousarray(x.T)


def _kept_blocks(r: sf.SoundFile, cuts: list[tuple[int, int]], block: int, fade: int) -> Iterator[np.ndarray]:
    """The file's audio as ``(channels, m)`` blocks without ``cuts``, each join crossfaded.

    Streams: at most ``block`` samples are read at a time; the crossfade straddles each cut edge
    as :func:`dsp.silence.apply_cuts` does, so the result is exactly the in-memory one.
    """
    n = r.frames

    def read(a: int, b: int) -> Iterator[np.ndarray]:
        r.seek(a)
        while a < b:
            x = r.read(min(block, b - a), dtype="float32", always_2d=True)
            if not len(x):
                return
            a += len(x)
            yield np.ascontiguousarray(x.T)

    pos = 0
    for a, b in cuts:
        h = max(0, min(fade // 2, a - pos, (b - a) // 2, n - b))
        yield from read(pos, a - h)
        if h > 0:
            left = np.concatenate(list(read(a - h, a + h)), axis=-1)
            right = np.concatenate(list(read(b - h, b + h)), axis=-1)
            ramp = np.linspace(0.0, 1.0, 2 * h + 2, dtype=np.float32)[1:-1]
            yield left * (1 - ramp) + right * ramp
        pos = b + h
    yield from read(pos, n)
