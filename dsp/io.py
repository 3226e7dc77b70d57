"""Block-wise file I/O for the ``python -m dsp`` tools (WAV, FLAC, OGG via libsndfile).

The server decodes every container through ``app.media``; this module is the small,
dependency-light path the benchmarks and command-line tools use.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from dsp._typing import Audio
from dsp.errors import InvalidAudioError, InvalidParameterError

__all__ = ["FileInfo", "open_writer", "read_blocks", "read_info"]

#: Output formats by file extension (what libsndfile writes here); other names are refused.
_WRITE_FORMATS = {".wav": "WAV", ".flac": "FLAC", ".ogg": "OGG"}


@dataclass(frozen=True)
class FileInfo:
    """What a sound file holds: ``sr`` in Hz, ``channels``, ``frames`` (samples per channel)."""

    sr: int
    channels: int
    frames: int
    format: str
    subtype: str


def read_info(path: str | Path) -> FileInfo:
    """Read the header of a sound file.

    Raises
    ------
    InvalidAudioError
        If ``path`` does not exist, is a folder, or is not a WAV, FLAC or OGG file.
    """
    p = Path(path)
    if not p.exists():
        raise InvalidAudioError(f"no such file: {p}")
    if p.is_dir():
        raise InvalidAudioError(f"{p} is a folder, not a sound file")
    try:
        info = sf.info(str(p))
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise InvalidAudioError(
            f"{p} is not a WAV, FLAC or OGG file these tools read ({exc}); `hush` reads MP3, M4A, WebM and video too"
        ) from None
    return FileInfo(int(info.samplerate), int(info.channels), int(info.frames), info.format, info.subtype)


def read_blocks(path: str | Path, block_frames: int) -> Iterator[Audio]:
    """Yield float32 ``(channels, m)`` blocks of at most ``block_frames`` samples."""
    with sf.SoundFile(str(path)) as f:
        while True:
            data = f.read(block_frames, dtype="float32", always_2d=True)
            if not len(data):
                return
            yield np.ascontiguousarray(data.T)


def open_writer(path: str | Path, sr: int, channels: int, *, like: FileInfo | None = None) -> sf.SoundFile:
    """Open ``path`` for writing, in the format its extension names (``.wav``, ``.flac``, ``.ogg``).

    With ``like``, that file's sample format is kept where the output format has it.

    Raises
    ------
    InvalidParameterError
        If the extension names no format written here, or the folder does not exist.
    """
    p = Path(path)
    fmt = _WRITE_FORMATS.get(p.suffix.lower())
    if fmt is None:
        raise InvalidParameterError(
            f"{p.name}: these tools write {', '.join(_WRITE_FORMATS)} files (name the output so); "
            "`hush` writes MP3, M4A, OGG/Opus and WebM as well"
        )
    if not p.parent.is_dir():
        raise InvalidParameterError(f"cannot write {p}: the folder {p.parent} does not exist")
    kwargs: dict[str, str] = {"format": fmt}
    if like is not None and sf.check_format(fmt, like.subtype):
        kwargs["subtype"] = like.subtype
    try:
        return sf.SoundFile(str(p), "w", samplerate=sr, channels=channels, **kwargs)
    except (sf.LibsndfileError, RuntimeError) as exc:  # e.g. a rate or channel count the format lacks
        raise InvalidParameterError(
            f"cannot write {p.name} as {fmt} at {sr} Hz, {channels} channel(s): {exc}"
        ) from None
