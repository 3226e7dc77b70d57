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

__all__ = ["FileInfo", "open_writer", "read_blocks", "read_info"]


@dataclass(frozen=True)
class FileInfo:
    """What a sound file holds: ``sr`` in Hz, ``channels``, ``frames`` (samples per channel)."""

    sr: int
    channels: int
    frames: int
    format: str
    subtype: str


def read_info(path: str | Path) -> FileInfo:
    """Read the header of a sound file."""
    info = sf.info(str(path))
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
    """Open ``path`` for writing; with ``like``, keep that file's format and sample format."""
    kwargs: dict[str, str] = {}
    if like is not None:
        kwargs = {"format": like.format, "subtype": like.subtype}
    return sf.SoundFile(str(path), "w", samplerate=sr, channels=channels, **kwargs)
