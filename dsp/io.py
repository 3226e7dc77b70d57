"""Block-wise file I/O for the ``python -m dsp`` tools (WAV, FLAC, OGG, MP3 via libsndfile).

The server decodes every container through ``app.media``, which reads WAV and FLAC through
:func:`read_blocks` too; this module is the small, dependency-light path the benchmarks and
command-line tools use.

A file that holds less audio than its header declares (an upload cut off, a recorder that
crashed before it rewrote the header) is read as far as it goes, and the reader says so: see
:func:`read_blocks` and :func:`truncation_warning`. A WAV whose data size is 0 or 0xFFFFFFFF
(the placeholders a recorder writes before it knows the length) is read to the end of the file.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from io import BufferedReader
from pathlib import Path
from typing import Any, Final

import numpy as np
import soundfile as sf

from dsp._typing import Audio
from dsp.errors import InvalidAudioError, InvalidParameterError

__all__ = ["FileInfo", "open_writer", "output_format", "read_blocks", "read_info", "truncation_warning"]

#: Output formats by file extension (what libsndfile writes here); other names are refused.
_WRITE_FORMATS = {".wav": "WAV", ".flac": "FLAC", ".ogg": "OGG"}
#: Sample formats an output keeps from its input (coded ones such as MPEG_LAYER_III or VORBIS are
#: not written into a WAV or FLAC here, though libsndfile names some as valid pairs).
_PCM_SUBTYPES: Final = frozenset({"PCM_S8", "PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE"})
#: Sample rates Opus codes at (RFC 6716, section 2).
_OPUS_RATES: Final = frozenset({8000, 12000, 16000, 24000, 48000})
#: WAV data sizes that declare no length: 0 (what a recorder writes first and rewrites when it
#: stops) and 0xFFFFFFFF (FFmpeg's placeholder when it cannot seek back to fill it in).
_UNKNOWN_WAV_SIZES: Final = (0, 0xFFFFFFFF)
#: Largest data chunk a RIFF WAV's 32-bit size holds, less room for its other chunks: a longer
#: output is written as RF64 (EBU Tech 3306).
RIFF_MAX_DATA: Final = 2**32 - 1 - 2**20
#: Bytes per sample of the WAV sample formats whose frame count follows from a byte count
#: (libsndfile's subtype names); block formats (ADPCM, GSM) are left to libsndfile.
SAMPLE_BYTES: Final = {
    "PCM_U8": 1,
    "PCM_S8": 1,
    "PCM_16": 2,
    "PCM_24": 3,
    "PCM_32": 4,
    "FLOAT": 4,
    "DOUBLE": 8,
    "ULAW": 1,
    "ALAW": 1,
}


@dataclass(frozen=True)
class FileInfo:
    """What a sound file holds: ``sr`` in Hz, ``channels``, ``frames`` (samples per channel).

    ``declared_frames`` is the length the header declares (a WAV data chunk's size, FLAC's
    STREAMINFO), or None when it declares none (OGG; a WAV size of 0 or 0xFFFFFFFF). A cut-off
    WAV has ``frames < declared_frames``; for FLAC ``frames`` is the declared length too, and a
    cut-off file is found while :func:`read_blocks` decodes it.
    """

    sr: int
    channels: int
    frames: int
    format: str
    subtype: str
    declared_frames: int | None = None


@dataclass(frozen=True)
class _WavData:
    offset: int
    """Byte offset of the first sample."""
    declared: int | None
    """Bytes the data chunk declares, None when its size is a placeholder."""
    present: int
    """Bytes from ``offset`` to the end of the file."""


def _wav_data(path: Path) -> _WavData | None:
    """The data chunk of a RIFF/WAVE file, or None (not RIFF, or no data chunk in the file)."""
    size = path.stat().st_size
    with path.open("rb") as f:
        head = f.read(12)
        if head[:4] != b"RIFF" or head[8:12] != b"WAVE":  # RIFX and RF64: libsndfile reads their sizes
            return None
        pos = 12
        while pos + 8 <= size:
            f.seek(pos)
            cid, csize = struct.unpack("<4sI", f.read(8))
            if cid == b"data":
                return _WavData(pos + 8, None if csize in _UNKNOWN_WAV_SIZES else csize, size - pos - 8)
            pos += 8 + csize + (csize & 1)
    return None


def read_info(path: str | Path) -> FileInfo:
    """Read the header of a sound file.

    Parameters
    ----------
    path : str or Path
        A WAV, FLAC, OGG or MP3 file.

    Returns
    -------
    FileInfo
        Its rate, channels, frames present and frames declared.

    Raises
    ------
    InvalidAudioError
        If ``path`` does not exist, is a folder, or is not a WAV, FLAC, OGG or MP3 file.
    """
    p = Path(path)
    if not p.exists():
        raise InvalidAudioError(f"no such file: {p}")
    if p.is_dir():
        raise InvalidAudioError(f"{p} is a folder, not a sound file")
    try:  # (libsndfile calls an empty or unreadable file "not a WAV ...": say what it is)
        with p.open("rb") as f:
            empty = not f.read(1)
    except PermissionError:
        raise InvalidAudioError(f"cannot read {p}: permission denied") from None
    if empty:
        raise InvalidAudioError(f"{p} is empty (0 bytes)")
    try:
        info = sf.info(str(p))
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise InvalidAudioError(
            f"{p} is not a WAV, FLAC, OGG or MP3 file these tools read ({exc}); `hush` reads M4A, WebM and video too"
        ) from None
    frames, declared = int(info.frames), None
    if info.format == "FLAC" and 0 < frames < 2**63 - 1:  # libsndfile's count when STREAMINFO has none
        declared = frames
    elif info.format == "WAV" and info.subtype in SAMPLE_BYTES:
        data = _wav_data(p)
        if data is not None:
            frame_bytes = SAMPLE_BYTES[info.subtype] * int(info.channels)
            present = data.present // frame_bytes
            if data.declared is None:  # libsndfile reads a 0 size as no audio: the audio runs to the end
                frames = max(frames, present)
            else:
                declared = data.declared // frame_bytes
                frames = min(frames, present)
    return FileInfo(int(info.samplerate), int(info.channels), frames, info.format, info.subtype, declared)


def truncation_warning(name: str, sr: int, declared_frames: int, present_frames: int) -> str:
    """The one-line warning for a file that holds less audio than its header declares.

    Parameters
    ----------
    name : str
        How to call the file (its name, or "the WAV file").
    sr : int
        Sample rate in Hz.
    declared_frames, present_frames : int
        Samples per channel the header declares, and those the file holds.

    Returns
    -------
    str
        The warning, giving both durations in seconds.

    Examples
    --------
    >>> warning = truncation_warning("talk.wav", 16000, 48000, 16000)
    >>> warning.split(";")[0]
    'talk.wav may be truncated: its header declares 3.000 s of audio but only 1.000 s is present'
    """
    return (
        f"{name} may be truncated: its header declares {declared_frames / sr:.3f} s of audio but only "
        f"{present_frames / sr:.3f} s is present; the audio present was processed "
        "(send or export the complete file if the end is missing)"
    )


class _From:
    """The part of a binary file from ``offset`` on, as a file of its own (for libsndfile)."""

    def __init__(self, f: BufferedReader, offset: int) -> None:
        self.f = f
        self.offset = offset
        f.seek(offset)

    def seek(self, pos: int, whence: int = 0) -> int:
        return self.f.seek(pos + self.offset if whence == 0 else pos, whence) - self.offset

    def tell(self) -> int:
        return self.f.tell() - self.offset

    def readinto(self, buf: Any) -> int:
        return self.f.readinto(buf)


def _recovered(buf: Audio) -> int:
    """Rows of a NaN-filled read buffer the decoder wrote before it failed (FLAC holds no NaN)."""
    bad = np.isnan(buf).any(axis=1)
    return int(np.argmax(bad)) if bad.any() else len(buf)


def read_blocks(
    path: str | Path,
    block_frames: int,
    *,
    on_truncated: Callable[[int, int], Any] | None = None,
    name: str | None = None,
) -> Iterator[Audio]:
    """Yield the audio of a sound file as float32 ``(channels, m)`` blocks.

    A file that ends before the length its header declares is read as far as it goes; at the end
    ``on_truncated(declared_frames, present_frames)`` is called.

    Parameters
    ----------
    path : str or Path
        A WAV, FLAC, OGG or MP3 file.
    block_frames : int
        Most samples per channel in a block (every block but the last has this many).
    on_truncated : callable, optional
        Told the declared and the present length (samples per channel) of a cut-off file.
    name : str, optional
        How an error calls the file (default: its file name).

    Yields
    ------
    ndarray, shape (channels, m), float32
        The audio in [-1, 1] (integer formats) or as stored (float formats).

    Raises
    ------
    InvalidAudioError
        If the file is not one these tools read, or is damaged before its end.
    """
    p = Path(path)
    info = read_info(p)
    wav = _wav_data(p) if info.format == "WAV" and info.subtype in SAMPLE_BYTES else None
    flac = info.format == "FLAC"
    done = 0
    with p.open("rb") as fh:
        f: sf.SoundFile
        if wav is not None and wav.declared is None:  # a placeholder size: the samples run to the end
            f = sf.SoundFile(
                _From(fh, wav.offset),
                samplerate=info.sr,
                channels=info.channels,
                subtype=info.subtype,
                format="RAW",
                endian="LITTLE",
            )
        elif flac:  # read through fh, which tells whether a failing read reached the end of the file
            f = sf.SoundFile(fh)
        else:
            f = sf.SoundFile(str(p))
        with f:
            while True:
                # FLAC: a NaN-filled buffer shows how far a failing read got (new for each block,
                # as the blocks yielded are views of it)
                buf = np.full((block_frames, info.channels), np.nan, np.float32) if flac else None
                try:
                    data = f.read(block_frames, dtype="float32", always_2d=True, out=buf)
                except (sf.LibsndfileError, RuntimeError) as exc:
                    # libsndfile fails at the end of a cut-off FLAC (and of one whose STREAMINFO
                    # has no length) after decoding what is there; damage before the end is refused
                    if not flac or fh.tell() < p.stat().st_size:
                        at = done + (_recovered(buf) if buf is not None else 0)
                        raise InvalidAudioError(
                            f"{name or p.name} is damaged at {at / info.sr:.3f} s, before the end of the file "
                            f"({exc}); send or export it again"
                        ) from None
                    assert buf is not None
                    data = buf[: _recovered(buf)]
                if not len(data):
                    break
                yield np.ascontiguousarray(data.T)
                done += len(data)
    if on_truncated is not None and info.declared_frames is not None and done < info.declared_frames:
        on_truncated(info.declared_frames, done)


def output_format(path: str | Path) -> str:
    """The libsndfile format ``path``'s extension names.

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
    return fmt


def open_writer(
    path: str | Path, sr: int, channels: int, *, like: FileInfo | None = None, shown_as: str | Path | None = None
) -> sf.SoundFile:
    """Open ``path`` for writing, in the format its extension names (``.wav``, ``.flac``, ``.ogg``).

    With ``like``, that file's sample format is kept where it is PCM or floating point and the
    output format has it (an MP3's or an OGG's coded samples become the output format's default,
    16-bit PCM for WAV and FLAC). ``shown_as`` is the name errors give (the file the user named,
    when ``path`` is a temporary file beside it, to be renamed to it).

    Raises
    ------
    InvalidParameterError
        If the extension names no format written here, or the folder does not exist.
    """
    p = Path(path)
    shown = Path(shown_as) if shown_as is not None else p
    fmt = output_format(shown)
    kwargs: dict[str, str] = {"format": fmt}
    if like is not None and like.subtype in _PCM_SUBTYPES and sf.check_format(fmt, like.subtype):
        kwargs["subtype"] = like.subtype
    elif like is not None and like.subtype == "OPUS" and fmt == "OGG" and sr in _OPUS_RATES:
        # an Opus file stays Opus (libsndfile's OGG default is Vorbis, whose encoder low-passes a
        # 5.1 file's LFE position and changes the codec the user chose)
        kwargs["subtype"] = "OPUS"
    if fmt == "WAV" and like is not None:
        # a WAV that will not fit RIFF's 32-bit sizes is written as RF64 (EBU Tech 3306)
        subtype = kwargs.get("subtype") or sf.default_subtype("WAV")
        if like.frames * channels * SAMPLE_BYTES.get(subtype, 8) > RIFF_MAX_DATA:
            kwargs["format"] = "RF64"
    try:
        return sf.SoundFile(str(p), "w", samplerate=sr, channels=channels, **kwargs)
    except (sf.LibsndfileError, RuntimeError) as exc:  # e.g. a rate or channel count the format lacks
        raise InvalidParameterError(
            f"cannot write {shown.name} as {fmt} at {sr} Hz, {channels} channel(s): {exc}"
        ) from None
