"""Command-line tools over files of any length, streamed block by block.

    python -m dsp denoise IN OUT [--amount 80] [--no-gate]
    python -m dsp vad IN [--min-non-speech 0.3]
    python -m dsp declick IN OUT [--detection-mult 8] [--click-len 10]

Benchmarks call these so that the measured memory and speed are those of the streaming path.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import stat
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import soundfile as sf

from dsp.errors import DspError, InvalidAudioError, InvalidParameterError
from dsp.io import open_writer, output_format, read_blocks, read_info, truncation_warning
from dsp.stream import BlockProcessor, run_blocks

BLOCK_FRAMES = 65536
#: The option each processor parameter is set by, so that an error names what the user typed.
OPTIONS = {
    "amount": "--amount",
    "detection_mult": "--detection-mult",
    "click_len_ms": "--click-len",
    "min_non_speech_s": "--min-non-speech",
}


def _warn_truncated(args: argparse.Namespace, sr: int) -> Callable[[int, int], None]:
    """What :func:`dsp.io.read_blocks` calls for a cut-off input: one warning line on stderr."""

    def warn(declared: int, present: int) -> None:
        name = Path(args.input).name
        sys.stderr.write(f"python -m dsp {args.cmd}: warning: {truncation_warning(name, sr, declared, present)}\n")

    return warn


def _not_empty(blocks: Iterable[Any], path: str) -> Iterator[Any]:
    """``blocks`` as they come; InvalidAudioError at the end when not one sample came (``hush`` refuses it too)."""
    n = 0
    for block in blocks:
        n += block.shape[-1]
        yield block
    if n == 0:
        raise InvalidAudioError(f"{path} holds no audio (0 samples)")


def _file_to_file(args: argparse.Namespace, make: Callable[[int, int], BlockProcessor]) -> int:
    """Stream ``args.input`` through the processor ``make(sr, channels)`` into ``args.output``.

    The output is written to a temporary file beside it and renamed over it at the end: a run
    that fails part-way leaves no half-written output (and an existing file of that name as it
    was), and an output that names the input replaces it only once it has been read whole.
    """
    info = read_info(args.input)
    proc = make(info.sr, info.channels)
    blocks = _not_empty(read_blocks(args.input, BLOCK_FRAMES, on_truncated=_warn_truncated(args, info.sr)), args.input)
    target = Path(args.output)
    output_format(target)  # a name or folder that cannot be written is refused before any work
    # a character device or pipe (a name linked to /dev/stdout) is written into, never replaced; a
    # symlink to a file is replaced, never written through (resolved, a link planted in a shared
    # folder made root's output a write over the file it named: a security review)
    try:
        mode = os.stat(target).st_mode
    except FileNotFoundError:
        mode = stat.S_IFREG
    regular = not (stat.S_ISCHR(mode) or stat.S_ISFIFO(mode))
    if regular and not stat.S_ISREG(mode):
        raise InvalidParameterError(f"cannot write {target}: it is neither a file, a pipe nor a character device")
    scratch = target.parent if regular else Path(tempfile.gettempdir())
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=f".partial{target.suffix}", dir=scratch)
    except PermissionError:  # (the error named the hidden temporary file, not the output asked for)
        raise InvalidParameterError(f"cannot write {target}: permission denied in {scratch}") from None
    os.close(fd)
    tmp = Path(tmp_name)
    umask = os.umask(0)  # the output gets the mode a new file would (mkstemp makes it private)
    os.umask(umask)
    tmp.chmod(0o666 & ~umask)
    try:
        with open_writer(tmp, info.sr, info.channels, like=info, shown_as=target) as out:
            for block in run_blocks(proc, blocks):
                out.write(block.T)
        if regular:
            os.replace(tmp, target)
        else:
            with tmp.open("rb") as done, target.open("wb") as sink:
                shutil.copyfileobj(done, sink)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    tmp.unlink(missing_ok=True)
    if args.report:
        print(json.dumps(proc.report()))
    return 0


def _denoise(args: argparse.Namespace) -> int:
    from dsp._validate import check_range
    from dsp.denoise import NoiseReducer
    from dsp.vad import SpeechDetector

    speech = None
    # what the run would refuse at the end is refused before the first pass (28 s on 30 minutes)
    output_format(args.output)
    check_range("amount", args.amount, 1.0, 100.0)
    if not args.no_gate:  # a first pass of the speech detector tells the gate where to stay open
        info = read_info(args.input)
        det = SpeechDetector(info.sr, info.channels)
        for block in read_blocks(args.input, BLOCK_FRAMES):
            det.process(block)
        speech = det.keep_segments()
    return _file_to_file(args, lambda sr, ch: NoiseReducer(sr, ch, amount=args.amount, speech=speech))


def _declick(args: argparse.Namespace) -> int:
    from dsp.declick import ClickRepairer

    return _file_to_file(
        args,
        lambda sr, ch: ClickRepairer(sr, ch, detection_mult=args.detection_mult, click_len_ms=args.click_len),
    )


def _vad(args: argparse.Namespace) -> int:
    from dsp.vad import SpeechDetector

    info = read_info(args.input)
    det = SpeechDetector(info.sr, info.channels, min_non_speech_s=args.min_non_speech)
    for block in _not_empty(
        read_blocks(args.input, BLOCK_FRAMES, on_truncated=_warn_truncated(args, info.sr)), args.input
    ):
        det.process(block)
    segments = det.finish()
    print(json.dumps({"segments": [{"tag": "speech", "start": s, "end": e} for s, e in segments]}))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` and run one tool; returns the process exit code."""
    parser = argparse.ArgumentParser(prog="python -m dsp", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("denoise", help="reduce noise, file to file")
    p.add_argument("input")
    p.add_argument("output")
    p.add_argument("--amount", type=float, default=100.0, help="1..100, 100 = full reduction")
    p.add_argument("--no-gate", action="store_true", help="skip the speech pass and the gate away from speech")
    p.add_argument("--report", action="store_true", help="print the step report as JSON")
    p.set_defaults(func=_denoise)
    c = sub.add_parser("declick", help="repair clicks, file to file")
    c.add_argument("input")
    c.add_argument("output")
    c.add_argument("--detection-mult", type=float, default=8.0, help="6..10, 6 = most sensitive")
    c.add_argument("--click-len", type=float, default=10.0, help="longest interpolated click, 5..30 ms")
    c.add_argument("--report", action="store_true", help="print the step report as JSON")
    c.set_defaults(func=_declick)
    v = sub.add_parser("vad", help="speech segments as JSON")
    v.add_argument("input")
    v.add_argument("--min-non-speech", type=float, default=0.0, help="merge gaps shorter than this (s)")
    v.set_defaults(func=_vad)
    args = parser.parse_args(argv)

    def stop(signum: int, _frame: object) -> None:  # `timeout`, systemd, a closed terminal: as Ctrl-C
        raise KeyboardInterrupt(signal.Signals(signum).name)

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, stop)
    try:
        rc: int = args.func(args)
    except KeyboardInterrupt as exc:  # the partial output is removed on the way out (_file_to_file)
        name = exc.args[0] if exc.args else "SIGINT"
        sys.stderr.write(f"python -m dsp {args.cmd}: interrupted ({name}); no output was written\n")
        return 128 + signal.Signals[name].value
    except DspError as exc:  # bad input or parameters: say what to change, no traceback
        text = str(exc)
        if isinstance(exc, InvalidParameterError) and exc.param in OPTIONS:
            text = exc.named(OPTIONS[exc.param])
        sys.stderr.write(f"python -m dsp {args.cmd}: {text}\n")
        return 2
    except sf.LibsndfileError as exc:  # writing failed part-way (the disk is full ...)
        sys.stderr.write(f"python -m dsp {args.cmd}: cannot write {args.output}: {exc.error_string}\n")
        return 2
    except OSError as exc:  # the file system refused (a folder where the output goes, no permission)
        where = f": {exc.filename}" if exc.filename else ""
        sys.stderr.write(f"python -m dsp {args.cmd}: {exc.strerror or exc}{where}\n")
        return 2
    return rc


if __name__ == "__main__":
    sys.exit(main())
