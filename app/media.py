"""Media I/O for jobs: sniff the container, probe, stream-decode, stream-encode, remux video.

The job runner's path through this module::

    info = probe(path)                                  # what is it? (never trusts names)
    out = output_container(info, requested)             # what do we write?
    check_encodable(out, info.sr, info.channels)        # fail before any DSP if we cannot
    with AudioWriter(dst, out, info.sr, info.channels, sample_format=...) as w:
        for block in decode_blocks(path, info, 65536):  # float32 (channels, m), native rate
            w.write(process(block))
    if needs_remux(info, out):
        remux_video(path, cleaned_wav, dst, out)        # video packets copied untouched

Memory is bounded by the block size: nothing holds a whole file. WAV, FLAC and headerless PCM
go through soundfile (exact sample formats; WAV and FLAC through :func:`dsp.io.read_blocks`);
everything else through PyAV's bundled FFmpeg.

A file that holds less audio than its header declares (a cut-off upload, a recorder that crashed)
is processed as far as it goes, and :func:`decode_blocks` adds a warning giving both durations.
This is found for WAV (the data chunk's size), FLAC (STREAMINFO), MP4/M4A (the track's duration)
and MP3 with a Xing/Info or VBRI frame count; other formats state no length to compare with. A
WAV data size of 0 or 0xFFFFFFFF (a recorder's placeholder) declares none: the audio runs to the
end of the file.

Container and codec choices (``EXTENSIONS``/``MIME_TYPES`` name them):

=========  =============================================================================
wav, flac  soundfile, keeping the input's sample format (WAV default PCM_16; FLAC can only
           hold integers up to 24 bit, so float and 32-bit input become PCM_24)
mp3        libmp3lame (rates 8–48 kHz, mono or stereo); other rates are resampled when encoded
           (:func:`encoded_rate`: 88.2 and 176.4 kHz to 44.1, 64, 96 and 192 kHz to 48, a rate
           between the standard ones to the next one up, so no band is lost)
ogg        Opus at the Opus rates (8, 12, 16, 24, 48 kHz; the OpusHead declares the input
           rate and :func:`decode_blocks` resamples back to it), Vorbis (libsndfile) otherwise
opus       Ogg Opus whatever the rate (a caller naming ``opus`` asked for the codec, RFC 7845):
           at other rates than the Opus ones resampled to 48 kHz, as webm
m4a, mp4   AAC in ISO-BMFF, ``faststart`` so players can start before the end arrives
webm       Opus; at rates Opus cannot carry the audio is resampled to 48 kHz, the only
           alternative (FFmpeg's Vorbis encoder) is experimental and stereo-only
=========  =============================================================================
"""

from __future__ import annotations

import contextlib
import dataclasses
import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import Any, Final

import av
import av.error
import av.logging
import numpy as np
import soundfile as sf

from app.errors import (
    CorruptMediaError,
    EmptyInputError,
    InputTooLargeError,
    InvalidParameterError,
    UnsupportedMediaError,
)
from dsp._validate import MAX_SR, MIN_SR  # the rates the engine is built and tested for
from dsp.errors import DspError
from dsp.io import RIFF_MAX_DATA, SAMPLE_BYTES, read_blocks, read_info, truncation_warning

__all__ = [
    "AUDIO_CONTAINERS",
    "CONTAINERS",
    "EXTENSIONS",
    "MIME_TYPES",
    "VIDEO_CONTAINERS",
    "VIDEO_MIME_TYPES",
    "AudioWriter",
    "MediaInfo",
    "check_encodable",
    "decode_blocks",
    "encoded_rate",
    "mime_type",
    "needs_remux",
    "output_container",
    "probe",
    "remux_video",
    "resample_note",
    "sniff_container",
    "sniff_file",
]

CONTAINERS: Final = ("wav", "flac", "mp3", "ogg", "opus", "m4a", "webm", "mp4", "pcm")
"""Canonical container names; ``pcm`` is headerless 16-bit little-endian PCM (input only)."""
AUDIO_CONTAINERS: Final = frozenset({"wav", "flac", "mp3", "ogg", "opus", "m4a", "webm", "mp4", "pcm"})
"""Containers :class:`AudioWriter` writes."""
VIDEO_CONTAINERS: Final = frozenset({"mp4", "webm"})
"""Containers :func:`remux_video` writes."""

EXTENSIONS: Final[dict[str, str]] = {
    "wav": ".wav",
    "flac": ".flac",
    "mp3": ".mp3",
    "ogg": ".ogg",
    "opus": ".opus",
    "m4a": ".m4a",
    "webm": ".webm",
    "mp4": ".mp4",
    "pcm": ".pcm",
}
MIME_TYPES: Final[dict[str, str]] = {
    "wav": "audio/wav",
    "flac": "audio/flac",
    "mp3": "audio/mpeg",
    "ogg": "audio/ogg",
    "opus": "audio/ogg",
    "m4a": "audio/mp4",
    "webm": "audio/webm",
    "mp4": "audio/mp4",
    "pcm": "audio/L16",
}
"""MIME type of an audio-only file in each container."""
VIDEO_MIME_TYPES: Final[dict[str, str]] = {"mp4": "video/mp4", "webm": "video/webm"}
"""MIME type of a file that carries video."""

# Video codecs each output container may carry (copied, never re-encoded).
_VIDEO_CODECS: Final[dict[str, frozenset[str]]] = {
    "webm": frozenset({"vp8", "vp9", "av1"}),
    "mp4": frozenset({"h264", "hevc", "av1", "vp9", "mpeg4", "mpeg2video", "mpeg1video", "mjpeg"}),
}
_OPUS_RATES: Final = frozenset({8000, 12000, 16000, 24000, 48000})
_MP3_RATES: Final = frozenset({8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000})
_AAC_RATES: Final = frozenset({7350, 8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000, 64000, 88200, 96000})
_MAX_CHANNELS: Final[dict[str, int]] = {"mp3": 2, "webm": 8, "m4a": 8, "mp4": 8, "ogg": 8, "opus": 8}
_ALIASES: Final[dict[str, str]] = {
    "wave": "wav",
    "x-wav": "wav",
    "mpeg": "mp3",
    "mpga": "mp3",
    "oga": "ogg",
    "vorbis": "ogg",
    "aac": "m4a",
    "mp4a": "m4a",
    "weba": "webm",
    "mov": "mp4",
    "m4v": "mp4",
}
_SF_FORMATS: Final[dict[str, str]] = {"wav": "WAV", "flac": "FLAC"}
_FLAC_SUBTYPES: Final = frozenset({"PCM_S8", "PCM_16", "PCM_24"})
_HEAD_BYTES: Final = 4096
_SEND_INSTEAD: Final = "Send WAV, FLAC, MP3, OGG (Opus/Vorbis), M4A/AAC, WebM or MP4."
#: Most channels a stream may have (FFmpeg's default layouts stop at 7.1).
MAX_CHANNELS: Final = 8
_MAX_BAD_PACKETS: Final = 16
#: How far (s) an FFmpeg-decoded stream may fall short of the length its container declares
#: before it is reported cut off: an AAC or MP3 frame (1024 or 1152 samples, under 0.03 s at
#: 44.1 kHz) and encoder padding stay well inside it.
_SHORT_TOLERANCE_S: Final = 0.1
_SEND_SOUND: Final = "Send a recording that has sound in it."


@dataclass(frozen=True)
class MediaInfo:
    """What :func:`probe` found in a file. Rates and durations are the decoder's, not the name's."""

    container: str
    """Canonical container name, one of :data:`CONTAINERS`."""
    codec: str
    """Audio codec (FFmpeg's name, e.g. ``pcm_s16le``, ``flac``, ``mp3``, ``opus``, ``aac``)."""
    sr: int
    """Sample rate :func:`decode_blocks` yields, in Hz."""
    channels: int
    duration_s: float | None
    """Audio duration in seconds, when the container states it."""
    has_video: bool
    """True when a real video track exists (cover art does not count)."""
    sample_format: str | None = None
    """soundfile subtype (``PCM_16``, ``PCM_24``, ``FLOAT`` …) for WAV/FLAC/PCM, else ``None``."""
    video_codec: str | None = None
    """Codec of the video track, when there is one."""
    bit_rate: int | None = None
    """Bits per second of a lossy audio stream (MP3, AAC, Opus, Vorbis), when the file states it."""
    declared_frames: int | None = None
    """Sample frames per channel the header declares, when it states a length decoding can be
    checked against (WAV, FLAC, MP4/M4A, MP3 with a frame count); a WAV that holds less has
    ``duration_s`` shorter than this, the others are found short while decoding."""
    trailing_bytes: int = 0
    """Bytes after a WAV's data chunk that are no chunk: most often audio a recorder wrote after
    the last time it updated the header (not read; :func:`decode_blocks` warns)."""

    @property
    def ext(self) -> str:
        """File extension with the dot (``.wav``)."""
        return EXTENSIONS[self.container]

    @property
    def mime(self) -> str:
        """MIME type of the input (``video/…`` when it carries video)."""
        return mime_type(self.container, video=self.has_video)

    @property
    def frames(self) -> int | None:
        """Expected sample frames per channel, when the duration is known."""
        return None if self.duration_s is None else round(self.duration_s * self.sr)


def mime_type(container: str, *, video: bool = False) -> str:
    """MIME type of a file written in ``container`` (``video/mp4`` if it carries video)."""
    if video and container in VIDEO_MIME_TYPES:
        return VIDEO_MIME_TYPES[container]
    return MIME_TYPES[container]


def _quiet() -> None:
    # FFmpeg's own logging goes to stderr unless PyAV's level is None; errors reach us as
    # exceptions anyway.
    av.logging.set_level(None)


# --------------------------------------------------------------------------- sniffing


def _mpeg_audio_frame_len(h: bytes) -> int | None:
    """Length in bytes of the MPEG audio frame whose 4-byte header is ``h``, or None if invalid."""
    if len(h) < 4 or h[0] != 0xFF or (h[1] & 0xE0) != 0xE0:
        return None
    version = (h[1] >> 3) & 3  # 0: 2.5, 1: reserved, 2: MPEG-2, 3: MPEG-1
    layer = (h[1] >> 1) & 3  # 0: reserved (ADTS AAC), 1: III, 2: II, 3: I
    bitrate_i = h[2] >> 4
    rate_i = (h[2] >> 2) & 3
    if version == 1 or layer == 0 or bitrate_i in (0, 15) or rate_i == 3:
        return None
    padding = (h[2] >> 1) & 1
    rate = (44100, 48000, 32000)[rate_i] >> {3: 0, 2: 1, 0: 2}[version]
    tables = {
        (3, 3): (32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448),
        (3, 2): (32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384),
        (3, 1): (32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
        (2, 3): (32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256),
        (2, 2): (8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
    }
    key = (3 if version == 3 else 2, layer if version == 3 or layer == 3 else 2)
    kbps = tables[key][bitrate_i - 1]
    if layer == 3:  # Layer I: 4-byte slots
        return (12 * kbps * 1000 // rate + padding) * 4
    coeff = 72 if (layer == 1 and version != 3) else 144
    return coeff * kbps * 1000 // rate + padding


def _looks_like_mp3(head: bytes) -> bool:
    """An MPEG audio frame at 0 whose successor (when in ``head``) also has a valid header."""
    n = _mpeg_audio_frame_len(head[:4])
    if n is None:
        return False
    if len(head) >= n + 4:
        return _mpeg_audio_frame_len(head[n : n + 4]) is not None
    return True


def _id3_size(head: bytes) -> int | None:
    """Total size of a leading ID3v2 tag, or None when ``head`` does not start with one."""
    if len(head) < 10 or head[:3] != b"ID3" or any(b & 0x80 for b in head[6:10]):
        return None
    size = (head[6] << 21) | (head[7] << 14) | (head[8] << 7) | head[9]
    footer = 10 if head[5] & 0x10 else 0
    return 10 + size + footer


def sniff_container(head: bytes) -> str | None:
    """Name the container from the first bytes of a file, or None when they are not recognized.

    Only magic numbers count: file names and declared content types are never consulted. An
    ISO-BMFF file (``ftyp``) is reported as ``m4a`` when its brand says audio (``M4A``/``M4B``)
    and ``mp4`` otherwise; :func:`probe` settles it by looking for a video track. A leading ID3
    tag means MP3 unless the bytes after it (when ``head`` reaches them) say otherwise.
    """
    if len(head) >= 12 and head[:4] in (b"RIFF", b"RIFX", b"RF64") and head[8:12] == b"WAVE":
        return "wav"
    if head[:4] == b"fLaC":
        return "flac"
    if head[:4] == b"OggS":
        return "ogg"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "webm"
    if len(head) >= 12 and head[4:8] == b"ftyp":
        brand = head[8:12]
        return "m4a" if brand in (b"M4A ", b"M4B ", b"M4P ") else "mp4"
    tag = _id3_size(head)
    if tag is not None:
        rest = head[tag:]
        if len(rest) < 4:
            return "mp3"
        inner = sniff_container(rest)
        return inner if inner is not None else "mp3"
    if _looks_like_mp3(head):
        return "mp3"
    return None


def sniff_file(path: Path) -> str | None:
    """The container of the file at ``path`` from its first bytes (past an ID3 tag), or None."""
    size = path.stat().st_size
    with path.open("rb") as f:
        head = f.read(_HEAD_BYTES)
        tag = _id3_size(head)
        if tag is not None and tag < size:
            f.seek(tag)
            return sniff_container(f.read(_HEAD_BYTES)) or "mp3"
    return sniff_container(head)


_UNKNOWN: Final = "not a recognized audio or video format"


def looks_like_text(data: bytes) -> bool:
    """True for bytes that read as UTF-8 text with no control characters but line breaks and tabs."""
    text = data[:512].decode("utf-8", errors="ignore")  # a character cut at the end is dropped
    return bool(text) and all(c.isprintable() or c in "\r\n\t" for c in text)


def _describe_unknown(head: bytes) -> str:
    text = head[:512].lstrip().lower()
    if text.startswith((b"<!doctype html", b"<html")):
        return "an HTML page (did the URL point to a web page instead of the file?)"
    if text.startswith((b"{", b"[")):
        return "JSON text"
    if text.startswith(b"<?xml") or text.startswith(b"<"):
        return "XML/markup text"
    if head.startswith(b"%PDF"):
        return "a PDF document"
    if head.startswith((b"PK\x03\x04", b"\x1f\x8b", b"7z\xbc\xaf")):
        return "an archive"
    if head.startswith(b"FORM"):
        return "an AIFF/IFF file, which is not supported"
    if len(head) >= 2 and (head[0] == 0xFF and (head[1] & 0xF6) == 0xF0):
        return "a raw AAC (ADTS) stream, which is not supported; wrap it in M4A"
    return _UNKNOWN


# --------------------------------------------------------------------------- probing


def _chunks_after(f: Any, pos: int, size: int) -> int:
    """Where the chain of well-formed chunks from ``pos`` ends (``size`` when it reaches the end)."""
    while pos + 8 <= size:
        f.seek(pos)
        head = f.read(8)
        cid, csize = head[:4], struct.unpack("<I", head[4:])[0]
        if not all(32 <= c < 127 for c in cid) or pos + 8 + csize > size + 1:
            return pos
        pos += 8 + csize + (csize & 1)
    return size if pos >= size - 1 else pos


def _check_wav_header(path: Path, size: int) -> int:
    """Raise CorruptMediaError when a RIFF/WAVE file has no data chunk (it ends before its audio).

    A data chunk that declares more than the file holds is read as far as it goes (see the module
    docstring). Returns the bytes after the data chunk that are no chunk (an id of four printable
    characters whose size fits in the file), 0 when there are none.
    """
    with path.open("rb") as f:
        riff = f.read(12)
        if riff[:4] != b"RIFF":  # RIFX/RF64 sizes live elsewhere; libsndfile checks those
            return 0

        def finds_data(pad: bool) -> int | None:
            pos = 12
            while pos + 8 <= size:
                f.seek(pos)
                chunk = f.read(8)
                if len(chunk) < 8:
                    break
                cid, csize = chunk[:4], struct.unpack("<I", chunk[4:])[0]
                if cid == b"data":  # where the data ends (a placeholder size of 0: at the file's end)
                    return pos + 8 + csize + (csize & 1) if csize else size
                pos += 8 + csize + (csize & 1 if pad else 0)
            return None

        end = finds_data(pad=True)
        if end is not None:
            if end >= size:  # (placeholder sizes, and a cut-off file, read to the end)
                return 0
            after = _chunks_after(f, end, size)
            return size - after if after < size else 0
        if finds_data(pad=False) is not None:  # (the file was called truncated: its audio is all there)
            raise CorruptMediaError(
                "The WAV file has a chunk of odd size without the pad byte the format requires after it "
                "(a bug of the program that wrote it), so its audio cannot be found. Save it again with "
                "another program, or send it as FLAC."
            )
    raise CorruptMediaError("The WAV file has no 'data' chunk (it is truncated or damaged). Send the complete file.")


def _probe_soundfile(path: Path, container: str) -> MediaInfo | None:
    try:
        info = read_info(path)
    except (DspError, TypeError):
        return None
    if info.frames <= 0:
        raise EmptyInputError(
            f"The {container.upper()} file contains no audio samples. Send a recording that has sound in it."
        )
    # a FLAC whose STREAMINFO has no length (a recorder stopped early): libsndfile counts 2**63 - 1
    known = info.declared_frames is not None or container == "wav"
    return MediaInfo(
        container=container,
        codec="flac" if container == "flac" else _pcm_codec_name(info.subtype),
        sr=info.sr,
        channels=info.channels,
        duration_s=info.frames / info.sr if known else None,
        has_video=False,
        sample_format=info.subtype,
        declared_frames=info.declared_frames,
    )


def _pcm_codec_name(subtype: str) -> str:
    return {
        "PCM_16": "pcm_s16le",
        "PCM_24": "pcm_s24le",
        "PCM_32": "pcm_s32le",
        "PCM_U8": "pcm_u8",
        "FLOAT": "pcm_f32le",
        "DOUBLE": "pcm_f64le",
        "ULAW": "pcm_mulaw",
        "ALAW": "pcm_alaw",
    }.get(subtype, subtype.lower())


def _opus_input_rate(stream: Any) -> int | None:
    """The input sample rate an OpusHead declares, when it is one Opus can run at natively."""
    extradata = stream.codec_context.extradata
    if not extradata or len(extradata) < 16 or extradata[:8] != b"OpusHead":
        return None
    rate = int(struct.unpack("<I", extradata[12:16])[0])
    return rate if rate in _OPUS_RATES else None


def _is_real_video(stream: Any) -> bool:
    # Cover art in MP3/M4A shows up as a one-picture video stream flagged attached_pic.
    disposition = stream.disposition
    return not bool(disposition & av.stream.Disposition.attached_pic)


def _open_input(path: Path, container: str) -> Any:
    try:
        # tags that are not valid UTF-8 (a damaged or mis-encoded tag) are no reason to refuse the audio
        return av.open(str(path), "r", metadata_errors="replace")
    except av.error.FFmpegError as exc:
        hint = ""
        if container in ("mp4", "m4a"):
            hint = " (an MP4/M4A whose index, the 'moov' atom, is missing is usually cut off)"
        raise CorruptMediaError(
            f"The {container.upper()} file could not be read{hint}: {_ffmpeg_reason(exc)}. "
            "Send the complete, undamaged file."
        ) from exc


def _ffmpeg_reason(exc: BaseException) -> str:
    strerror = getattr(exc, "strerror", None)
    return str(strerror or exc).strip().rstrip(".")


def _vorbis_via_soundfile(container: str, codec: str, has_video: bool) -> bool:
    return container == "ogg" and codec == "vorbis" and not has_video


def _probe_av(path: Path, container: str) -> MediaInfo:
    with _open_input(path, container) as ic:
        audio = list(ic.streams.audio)
        videos = [s for s in ic.streams.video if _is_real_video(s)]
        if not audio:
            raise UnsupportedMediaError(f"The {container.upper()} file has no audio track. Send a file with sound.")
        stream = audio[0]
        codec = stream.codec_context.name if stream.codec_context is not None else None
        if not codec:
            raise UnsupportedMediaError(
                f"The {container.upper()} file's audio is in an encoding Hush cannot decode "
                f"(the header's format fields are not a known codec). {_SEND_INSTEAD}"
            )
        if videos and videos[0].codec_context is None:
            # the video is passed through untouched, which needs its codec known
            raise CorruptMediaError(
                f"The {container.upper()} file's video stream is damaged: its codec cannot be identified. "
                "Send the complete, undamaged file, or the audio alone."
            )
        # Decode the first frame: it proves the stream decodes and gives the true layout.
        first = None
        bad = 0
        try:
            for packet in ic.demux(stream):
                try:
                    frames = packet.decode()
                except av.error.InvalidDataError:
                    bad += 1
                    if bad > _MAX_BAD_PACKETS:
                        raise
                    continue
                if frames:
                    first = frames[0]
                    break
        except av.error.FFmpegError as exc:
            raise CorruptMediaError(
                f"The {container.upper()} audio ({codec}) could not be decoded: "
                f"{_ffmpeg_reason(exc)}. Send an undamaged file. {_SEND_INSTEAD}"
            ) from exc
        if first is None:
            raise EmptyInputError(
                f"The {container.upper()} file contains no audio samples. Send a recording that has sound in it."
            )
        sr = int(first.sample_rate)
        if codec == "opus":
            sr = _opus_input_rate(stream) or sr
        channels = len(first.layout.channels)
        duration: float | None = None
        if stream.duration is not None and stream.time_base is not None:
            duration = float(stream.duration * stream.time_base)
        elif ic.duration is not None:
            duration = ic.duration / av.time_base
        if container in ("mp4", "m4a"):
            container = "mp4" if videos else "m4a"
        # ISO-BMFF states exact durations; an MP3 one only with a frame count (else FFmpeg
        # estimates it from the bit rate and the size, which a cut-off file shortens too)
        declares = container in ("mp4", "m4a") or (container == "mp3" and _mp3_counts_frames(path))
        if _vorbis_via_soundfile(container, codec, bool(videos)):
            # libvorbisfile trims the last page to its granule position; FFmpeg does not.
            with contextlib.suppress(sf.LibsndfileError, RuntimeError):
                duration = sf.info(str(path)).duration
        return MediaInfo(
            container=container,
            codec=codec,
            sr=sr,
            channels=channels,
            duration_s=duration,
            has_video=bool(videos),
            sample_format=None,
            video_codec=videos[0].codec_context.name if videos else None,
            bit_rate=_stream_bit_rate(stream, ic) if codec in _LOSSY_CODECS else None,
            declared_frames=round(duration * sr) if declares and duration else None,
        )


def _mp3_counts_frames(path: Path) -> bool:
    """True when the first MPEG audio frame of an MP3 is a Xing/Info frame with its frame count,
    or a VBRI frame (LAME and FFmpeg write the first, Fraunhofer encoders the second)."""
    with path.open("rb") as f:
        head = f.read(_HEAD_BYTES)
        tag = _id3_size(head)
        if tag is not None:
            f.seek(tag)
            head = f.read(_HEAD_BYTES)
    n = _mpeg_audio_frame_len(head[:4])
    if n is None:
        return False
    frame = head[:n]
    for magic in (b"Xing", b"Info"):
        at = frame.find(magic)
        if at >= 0 and len(frame) >= at + 8:
            return bool(struct.unpack(">I", frame[at + 4 : at + 8])[0] & 1)  # flag 1: frame count present
    return frame[36:40] == b"VBRI"  # always at 32 bytes after the 4-byte header


#: Lossy audio codecs (FFmpeg names): their bit rate is kept when the output is lossy too.
_LOSSY_CODECS: Final = frozenset({"mp3", "mp3float", "aac", "opus", "vorbis", "mp2"})


def _stream_bit_rate(stream: Any, ic: Any) -> int | None:
    """The audio stream's bit rate (its own, else the file's average when it has no video)."""
    for rate in (stream.bit_rate, getattr(stream.codec_context, "bit_rate", None)):
        if rate:
            return int(rate)
    return int(ic.bit_rate) if ic.bit_rate and len(ic.streams) == 1 else None


#: How the APIs take headerless PCM (the end of the refusal of bytes of no known kind).
PCM_HINT = (
    "Headerless 16-bit PCM is accepted where its sample rate comes with it: the native API's "
    "pcm_sample_rate (a form field of the upload or in the job's input), DeepAffects' encoding "
    '"LINEAR16" with its sampleRate.'
)


def probe(
    path: Path,
    *,
    pcm_sample_rate: int | None = None,
    pcm_channels: int = 1,
    max_duration_s: float | None = None,
    pcm_hint: str = PCM_HINT,
) -> MediaInfo:
    """Identify ``path`` from its bytes and check that its audio decodes.

    Headerless 16-bit little-endian PCM is assumed only when the bytes are not a known
    container and ``pcm_sample_rate`` is given. The sample rate must be one the engine
    processes, and a declared duration over ``max_duration_s`` is refused before any decoding.
    ``pcm_hint`` ends the refusal of bytes of no known kind: how the caller can give such PCM's rate.

    Raises
    ------
    EmptyInputError
        The file has no bytes or no audio samples.
    UnsupportedMediaError
        The bytes are not a container we decode, or it has no audio track.
    CorruptMediaError
        The container is recognized but truncated or damaged.
    InputTooLargeError
        The file declares more than ``max_duration_s`` seconds of audio.
    """
    _quiet()
    size = path.stat().st_size
    if size == 0:
        raise EmptyInputError("The input file is empty (0 bytes). Send an audio or video file.")
    with path.open("rb") as f:
        head = f.read(_HEAD_BYTES)
        tag = _id3_size(head)
        if tag is not None and tag < size:  # look past the ID3 tag (it may hold cover art)
            f.seek(tag)
            container: str | None = sniff_container(f.read(_HEAD_BYTES)) or "mp3"
        else:
            container = sniff_container(head)
    if container is None:
        if pcm_sample_rate is not None:
            return _check_limits(_probe_pcm(size, pcm_sample_rate, pcm_channels), max_duration_s)
        what = _describe_unknown(head)
        # (headerless PCM is a guess only for bytes of no known kind: an AIFF or a web page is not it)
        pcm = " " + pcm_hint if pcm_hint and what == _UNKNOWN and not looks_like_text(head) else ""
        raise UnsupportedMediaError(f"The input is {what}. {_SEND_INSTEAD}{pcm}")
    trailing = _check_wav_header(path, size) if container == "wav" else 0
    found = _probe_soundfile(path, container) if container in _SF_FORMATS else None
    info = _check_limits(found or _probe_av(path, container), max_duration_s)
    return dataclasses.replace(info, trailing_bytes=trailing) if trailing else info


def _span(seconds: float, number: str = ".1f") -> str:
    """A length in the unit that reads best: seconds under 2 minutes, minutes under 2 hours, else hours."""
    if seconds < 120:
        return f"{seconds:{number}} s"
    if seconds < 7200:
        return f"{seconds / 60:{number}} minutes"
    return f"{seconds / 3600:{number}} hours"


def _check_limits(info: MediaInfo, max_duration_s: float | None) -> MediaInfo:
    """Refuse what the engine cannot process, before a job is accepted or a worker is busy."""
    label = info.container.upper()
    if not MIN_SR <= info.sr <= MAX_SR:
        raise UnsupportedMediaError(
            f"The {label} audio's sample rate is {info.sr} Hz; Hush processes {MIN_SR}–{MAX_SR} Hz. "
            "Resample it (48000 Hz keeps everything audible) and send it again."
        )
    if not 1 <= info.channels <= MAX_CHANNELS:
        raise UnsupportedMediaError(
            f"The {label} audio has {info.channels} channels; Hush processes 1 to {MAX_CHANNELS}. "
            "Mix it down or split it into files of at most 8 channels."
        )
    if max_duration_s is not None and info.duration_s is not None and info.duration_s > max_duration_s:
        raise InputTooLargeError(
            f"The {label} file declares {_span(info.duration_s)} of audio; this server takes at most "
            f"{_span(max_duration_s, 'g')} per file. Split it, or raise HUSH_MAX_DURATION_HOURS."
        )
    return info


def _probe_pcm(size: int, sr: int, channels: int) -> MediaInfo:
    if not MIN_SR <= sr <= MAX_SR:
        raise InvalidParameterError(f"PCM sample rate {sr} Hz is out of range ({MIN_SR}–{MAX_SR}).")
    if not 1 <= channels <= MAX_CHANNELS:
        raise InvalidParameterError(f"PCM channel count {channels} is out of range (1–{MAX_CHANNELS}).")
    frames = size // (2 * channels)
    if frames == 0:
        raise EmptyInputError("The PCM input is shorter than one sample frame. Send a longer recording.")
    return MediaInfo(
        container="pcm",
        codec="pcm_s16le",
        sr=sr,
        channels=channels,
        duration_s=frames / sr,
        has_video=False,
        sample_format="PCM_16",
    )


# --------------------------------------------------------------------------- decoding


class _Rebuffer:
    """Collects (channels, k) pieces and hands out (channels, block_frames) blocks."""

    def __init__(self, channels: int, block_frames: int) -> None:
        self.channels = channels
        self.block = block_frames
        self.parts: list[np.ndarray] = []
        self.count = 0
        self.total = 0

    def push(self, piece: np.ndarray) -> Iterator[np.ndarray]:
        if piece.shape[1] == 0:
            return
        self.parts.append(piece)
        self.count += piece.shape[1]
        while self.count >= self.block:
            yield self._take(self.block)

    def flush(self) -> Iterator[np.ndarray]:
        if self.count:
            yield self._take(self.count)

    def _take(self, n: int) -> np.ndarray:
        data = self.parts[0] if len(self.parts) == 1 else np.concatenate(self.parts, axis=1)
        out = np.ascontiguousarray(data[:, :n], dtype=np.float32)
        rest = data[:, n:]
        self.parts = [rest] if rest.shape[1] else []
        self.count -= n
        self.total += n
        return out


_INT_SCALE: Final[dict[str, float]] = {"s16": 2.0**15, "s32": 2.0**31}
#: Largest sample magnitude accepted (120 dB over full scale): beyond it float32 power sums overflow.
_MAX_SAMPLE: Final = 1e6
#: Sample formats PyAV converts to numpy; others (s64) go through the resampler to float first.
_NUMPY_FORMATS: Final = frozenset({"u8", "s16", "s32", "flt", "dbl"})


#: Channel count from which PyAV (18.1) miscounts a planar frame's planes (8 channels: 9 planes):
#: ``to_ndarray`` then reads a data pointer that is not there, and the process died (SIGSEGV) on
#: every 8-channel AAC or Opus file (an outside audit); such frames are read plane by plane.
_PLANAR_BUG_CHANNELS: Final = 8
_PLANE_DTYPES: Final[dict[str, Any]] = {
    "u8": np.uint8,
    "s16": np.int16,
    "s32": np.int32,
    "flt": np.float32,
    "dbl": np.float64,
}


def _frame_to_float(frame: Any) -> np.ndarray:
    """A decoded frame as float32 (channels, n)."""
    fmt = frame.format
    name = fmt.name.rstrip("p")
    channels = len(frame.layout.channels)
    if fmt.is_planar and channels >= _PLANAR_BUG_CHANNELS:
        n = frame.samples
        arr = np.stack([np.frombuffer(frame.planes[i], dtype=_PLANE_DTYPES[name])[:n] for i in range(channels)])
    else:
        arr = frame.to_ndarray()
    if not fmt.is_planar:
        arr = arr.reshape(-1, channels).T
    out: np.ndarray
    if name in ("flt", "dbl"):
        out = np.asarray(arr, dtype=np.float32)
    elif name == "u8":
        out = ((arr.astype(np.float32) - 128.0) / 128.0).astype(np.float32)
    else:
        out = (arr.astype(np.float64) / _INT_SCALE[name]).astype(np.float32)
    return out


def decode_blocks(
    path: Path, info: MediaInfo, block_frames: int, *, warnings: list[str] | None = None
) -> Iterator[np.ndarray]:
    """Yield the audio of ``path`` as float32 ``(channels, m)`` blocks at ``info.sr``.

    Every block has ``block_frames`` frames except possibly the last. Memory use is bounded by
    the block size, whatever the duration. A file that ends before the length its header
    declares is decoded as far as it goes; once the last block is taken, a line saying so, with
    both durations, is appended to ``warnings``.

    Raises
    ------
    CorruptMediaError
        Decoding fails part-way (before the end of the file), or a sample is NaN, infinite or
        absurdly large (policy: refuse, never silently repair).
    """
    if block_frames <= 0:
        raise ValueError("block_frames must be positive")
    _quiet()
    notes = warnings if warnings is not None else []
    if (info.sample_format is not None and info.container in ("wav", "flac", "pcm")) or (
        _vorbis_via_soundfile(info.container, info.codec, info.has_video)
    ):
        blocks = _decode_soundfile(path, info, block_frames, notes)
    else:
        blocks = _decode_av(path, info, block_frames, notes)
    done = 0
    for block in blocks:
        # NaN fails this test too. One pass over the block; only floating-point files can hold these.
        if block.size and not float(np.max(np.abs(block))) <= _MAX_SAMPLE:
            bad = np.flatnonzero(~(np.abs(block) <= _MAX_SAMPLE).all(axis=0))[0]
            raise CorruptMediaError(
                f"The {info.container.upper()} audio holds an unusable sample value (NaN, infinity or over "
                f"{_MAX_SAMPLE:g} × full scale) at {(done + bad) / info.sr:.3f} s. Hush does not guess what such "
                "samples should be: fix or re-export the file (float WAV/FLAC samples belong in −1…1)."
            )
        done += block.shape[-1]
        yield block


def _decode_soundfile(path: Path, info: MediaInfo, block_frames: int, notes: list[str]) -> Iterator[np.ndarray]:
    total = 0
    label = info.container.upper()

    def cut_off(declared: int, present: int) -> None:
        notes.append(truncation_warning(f"The {label} file", info.sr, declared, present))

    if info.trailing_bytes:
        per_s = info.sr * info.channels * SAMPLE_BYTES.get(info.sample_format or "", 2)
        notes.append(
            f"The WAV file holds {info.trailing_bytes} bytes after the audio its header declares (about "
            f"{info.trailing_bytes / per_s:.1f} s more in its format), which were not read: a recorder that "
            "stopped before updating its header leaves such a file; repair the header (its data size) to "
            "process them"
        )
    try:
        if info.container in ("wav", "flac"):  # dsp.io reads placeholder sizes and cut-off ends
            for block in read_blocks(path, block_frames, on_truncated=cut_off, name=f"The {label} audio"):
                total += block.shape[1]
                yield block
        else:
            f = (
                sf.SoundFile(
                    str(path),
                    samplerate=info.sr,
                    channels=info.channels,
                    subtype="PCM_16",
                    format="RAW",
                    endian="LITTLE",
                )
                if info.container == "pcm"
                else sf.SoundFile(str(path))
            )
            with f:
                while True:
                    data = f.read(block_frames, dtype="float32", always_2d=True)
                    if data.shape[0] == 0:
                        break
                    total += data.shape[0]
                    yield np.ascontiguousarray(data.T)
    except DspError as exc:  # damaged before its end: what dsp.io says, naming the audio as the server does
        raise CorruptMediaError(str(exc)) from exc
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise CorruptMediaError(
            f"The {label} audio could not be decoded after {total} frames: {exc}. Send an undamaged file."
        ) from exc
    if total == 0:
        raise EmptyInputError(f"The {label} file contains no audio samples. {_SEND_SOUND}")


def _decode_av(path: Path, info: MediaInfo, block_frames: int, notes: list[str]) -> Iterator[np.ndarray]:
    buf = _Rebuffer(info.channels, block_frames)
    resampler: Any = None
    resampler_key = ("", "", 0)  # (sample format, layout, rate) the resampler was set up for
    changes: list[tuple[int, tuple[str, str, int], tuple[str, str, int]]] = []  # (frame, from, to)
    bad = 0
    label = info.container.upper()
    # ISO-BMFF edit lists state the exact duration; AAC's last frame pads past it.
    limit = info.frames if info.container in ("mp4", "m4a") else None
    with _open_input(path, info.container) as ic:
        if not ic.streams.audio:
            raise UnsupportedMediaError(f"The {label} file has no audio track.")
        stream = ic.streams.audio[0]
        if len(ic.streams.audio) > 1:
            notes.append(
                f"The {label} file has {len(ic.streams.audio)} audio tracks; only the first was processed, and "
                "the result holds only that one. Send each track as a file of its own to process the others."
            )
        try:
            for packet in ic.demux(stream):
                try:
                    frames = packet.decode()
                except av.error.InvalidDataError:
                    bad += 1  # an isolated damaged packet: skip it, as players do
                    if bad > _MAX_BAD_PACKETS:
                        raise
                    continue
                for frame in frames:
                    key = (frame.format.name, frame.layout.name, frame.sample_rate)
                    if resampler is not None and key != resampler_key:
                        # the stream changes format part-way (a damaged or spliced file): the
                        # resampler set up for the first frames refuses this one; finish it, set
                        # up another for what follows, and say so
                        for piece in resampler.resample(None):
                            yield from buf.push(_capped(_frame_to_float(piece), buf, limit))
                        changes.append((buf.total + buf.count, resampler_key, key))
                        resampler = None
                    if resampler is None and (
                        frame.sample_rate != info.sr
                        or len(frame.layout.channels) != info.channels
                        or frame.format.name.rstrip("p") not in _NUMPY_FORMATS
                    ):
                        same = len(frame.layout.channels) == info.channels
                        resampler = av.AudioResampler(
                            format="fltp",
                            layout=frame.layout if same else _layout(info.channels),
                            rate=info.sr,
                        )
                        resampler_key = key
                    pieces = resampler.resample(frame) if resampler is not None else [frame]
                    for piece in pieces:
                        yield from buf.push(_capped(_frame_to_float(piece), buf, limit))
            if resampler is not None:
                for piece in resampler.resample(None):
                    yield from buf.push(_capped(_frame_to_float(piece), buf, limit))
        except av.error.FFmpegError as exc:
            raise CorruptMediaError(
                f"The {label} audio ({info.codec}) could not be decoded after "
                f"{buf.total + buf.count} frames: {_ffmpeg_reason(exc)}. Send an undamaged file."
            ) from exc
    yield from buf.flush()
    if buf.total == 0:
        raise EmptyInputError(f"The {label} file contains no audio samples. {_SEND_SOUND}")
    declared = info.declared_frames
    # a header speaks for the stream it opens: once the format changes, it does not state the whole length
    if declared and not changes and buf.total < declared - _SHORT_TOLERANCE_S * info.sr:
        notes.append(truncation_warning(f"The {label} file", info.sr, declared, buf.total))
    if changes:
        at, was, now = changes[0]
        notes.append(
            f"The {label} audio changes its format part-way ({_fmt_key(was)} to {_fmt_key(now)} at "
            f"{at / info.sr:.2f} s{f', and {len(changes) - 1} more time(s)' if len(changes) > 1 else ''}), "
            f"as a damaged or spliced file does; it was converted to {info.sr} Hz, {info.channels} channel(s), "
            "throughout."
        )


def _fmt_key(key: tuple[str, str, int]) -> str:
    """``(sample format, layout, rate)`` of a decoded frame, as a reader would say it."""
    fmt, layout, rate = key
    return f"{rate} Hz {layout} {fmt}"


_LAYOUTS: Final[dict[int, str]] = {
    1: "mono",
    2: "stereo",
    3: "2.1",
    4: "quad",
    5: "5.0",
    6: "5.1",
    7: "6.1",
    8: "7.1",
}


def _capped(piece: np.ndarray, buf: _Rebuffer, limit: int | None) -> np.ndarray:
    if limit is None:
        return piece
    return piece[:, : max(0, limit - buf.total - buf.count)]


def _layout(channels: int) -> str:
    """FFmpeg's default layout name for ``channels``."""
    try:
        return _LAYOUTS[channels]
    except KeyError:
        raise UnsupportedMediaError(f"Audio with {channels} channels is not supported (at most 8).") from None


# --------------------------------------------------------------------------- encoding


def output_container(info: MediaInfo, requested: str | None) -> str:
    """The container to write: ``requested`` normalized (``".WAV"`` → ``wav``) or the input's.

    Headerless PCM in gives WAV out. A video input keeps its container when its video codec
    fits it (else MP4 when that fits); it may ask for an audio-only container instead.

    Raises
    ------
    InvalidParameterError
        ``requested`` names no container we write.
    UnsupportedMediaError
        The input's video cannot be carried by the requested video container.
    """
    if requested is None or not requested.strip():
        if info.container == "pcm":
            return "wav"
        if info.has_video and info.container in VIDEO_CONTAINERS:
            codec = info.video_codec or ""
            if codec not in _VIDEO_CODECS[info.container] and codec in _VIDEO_CODECS["mp4"]:
                return "mp4"
        return info.container
    name = container_name(requested)
    if info.has_video and name in VIDEO_CONTAINERS:
        _check_video_fits(info.video_codec, name)
    return name


def container_name(requested: str) -> str:
    """The container ``requested`` names (``".WAV"``, ``"audio/mpeg"`` and the aliases normalized).

    Raises
    ------
    InvalidParameterError
        ``requested`` names no container we write.
    """
    name = requested.strip().lower().lstrip(".")
    if "/" in name:  # a MIME type: audio/mpeg, video/mp4
        name = name.split("/", 1)[1].split(";", 1)[0].strip()
    name = _ALIASES.get(name, name)
    if name not in AUDIO_CONTAINERS:
        raise InvalidParameterError(
            f"Unknown output format {requested!r}; choose one of {', '.join(sorted(AUDIO_CONTAINERS))}."
        )
    return name


def needs_remux(info: MediaInfo, container: str) -> bool:
    """True when writing ``container`` from ``info`` means :func:`remux_video`."""
    return info.has_video and container in VIDEO_CONTAINERS


def _check_video_fits(video_codec: str | None, container: str) -> None:
    allowed = _VIDEO_CODECS[container]
    if video_codec not in allowed:
        others = [c for c, codecs in _VIDEO_CODECS.items() if video_codec in codecs]
        alt = f" ask for {others[0]} instead, or" if others else ""
        raise UnsupportedMediaError(
            f"{container.upper()} cannot carry {video_codec or 'this'} video (it allows "
            f"{', '.join(sorted(allowed))}) and video is never re-encoded;{alt} ask for an "
            "audio-only format such as wav or m4a."
        )


def _cannot_hold(container: str, sr: int, channels: int) -> str | None:
    """Why ``container`` cannot hold audio at ``sr``/``channels``, or None when it can."""
    limit = _MAX_CHANNELS.get(container)
    if limit is not None and channels > limit:
        return f"{container.upper()} output holds at most {limit} channels, the audio has {channels}"
    if container in ("m4a", "mp4") and sr not in _AAC_RATES:
        return f"AAC ({container}) cannot carry {sr} Hz audio"
    if container == "flac" and not 1 <= sr <= 655_350:
        return f"FLAC cannot carry {sr} Hz audio"
    return None


#: Formats an error suggests instead, in this order, when they can hold the audio.
_FALLBACKS: Final = ("wav", "flac", "m4a")


def _either(names: Sequence[str]) -> str:
    """``a``, ``a or b``, ``a, b or c``."""
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


def clipped_note(
    count: int,
    container: str,
    sample_format: str | None,
    *,
    offered: Sequence[str] | None = None,
    level_hint: str | None = None,
) -> str:
    """What to tell the user when ``count`` samples over full scale were clipped in the result.

    A WAV result keeps the input's sample format, so only a float input has a float WAV to ask for;
    ``level_hint`` is how the client's API lowers the level (its loudness option), if it has one.

    >>> clipped_note(2, "wav", "PCM_16", level_hint="add the loudness step to bring the level down")
    '2 samples over full scale were clipped: the WAV result cannot hold them (the input or the processing \
peaks over 0 dBFS); add the loudness step to bring the level down'
    >>> clipped_note(1, "mp3", "FLOAT", offered=["mp3", "wav"])
    '1 sample over full scale was clipped: the MP3 result cannot hold it (the input or the processing \
peaks over 0 dBFS); ask for wav, which keeps it as 32-bit float like the input'
    """
    hints = []
    choices = offered if offered is not None else _FALLBACKS
    if sample_format in ("FLOAT", "DOUBLE") and container != "wav" and "wav" in choices:
        hints.append(f"ask for wav, which keeps {'them' if count > 1 else 'it'} as 32-bit float like the input")
    if level_hint:
        hints.append(level_hint)
    many = count > 1
    text = (
        f"{count} sample{'s' if many else ''} over full scale {'were' if many else 'was'} clipped: the "
        f"{container.upper()} result cannot hold {'them' if many else 'it'} "
        "(the input or the processing peaks over 0 dBFS)"
    )
    return text + ("; " + ", or ".join(hints) if hints else "")


def check_encodable(container: str, sr: int, channels: int, *, offered: Sequence[str] | None = None) -> None:
    """Raise InvalidParameterError when ``container`` cannot hold audio at ``sr``/``channels``.

    Call it before processing so a job fails fast instead of after the DSP. ``offered`` is the
    output formats the client's API can ask for (None: every format Hush writes); the error
    suggests only those of them that can hold the audio.
    """
    if container not in AUDIO_CONTAINERS:
        raise InvalidParameterError(f"Hush cannot write {container!r} files.")
    if channels < 1:
        raise InvalidParameterError("Audio needs at least one channel.")
    why = _cannot_hold(container, sr, channels)
    if why is None:
        return
    choices = [c for c in (offered if offered is not None else _FALLBACKS) if c != container]
    fits = [c for c in choices if c in AUDIO_CONTAINERS and _cannot_hold(c, sr, channels) is None]
    hint = "ask for " + _either(fits) if fits else "no other output format this API offers can hold it either"
    raise InvalidParameterError(f"{why}; {hint}.")


def resample_note(container: str, sr: int, channels: int, *, offered: Sequence[str] | None = None) -> str | None:
    """What to tell the user when ``container`` is written at another rate than ``sr`` (else None).

    Names the formats the client's API offers (``offered``; None: wav, flac, m4a) that keep ``sr``.

    >>> resample_note("mp3", 96000, 2, offered=["mp3", "wav"])
    'MP3 cannot carry 96000 Hz audio: the output is encoded at 48000 Hz; ask for wav to keep 96000 Hz'
    >>> resample_note("mp3", 44100, 2) is None
    True
    """
    rate = encoded_rate(container, sr)
    if rate == sr:
        return None
    keep = [
        c
        for c in (offered if offered is not None else _FALLBACKS)
        if c != container
        and c in AUDIO_CONTAINERS
        and _cannot_hold(c, sr, channels) is None
        and encoded_rate(c, sr) == sr
    ]
    hint = f"; ask for {_either(keep)} to keep {sr} Hz" if keep else ""
    return f"{container.upper()} cannot carry {sr} Hz audio: the output is encoded at {rate} Hz{hint}"


#: Lossless codecs a lossy container can hold (an ALAC M4A): their result is encoded lossy.
_LOSSLESS_IN_LOSSY: Final = frozenset({"alac"})


def codec_note(info: MediaInfo, container: str, *, offered: Sequence[str] | None = None) -> str | None:
    """What to tell the user when the result's codec is not the input's in the same kind of file.

    An ALAC M4A came back as 128 kbit/s AAC with no word (an outside audit): the output is
    named after the container, whose audio Hush writes as AAC.

    >>> info = MediaInfo(container="m4a", codec="alac", sr=44100, channels=2, duration_s=10.0, has_video=False)
    >>> codec_note(info, "m4a", offered=["m4a", "mp3", "wav"])
    'the input is lossless (ALAC) and an M4A result is AAC, which is not: ask for wav to stay lossless'
    >>> codec_note(info, "flac") is None
    True

    An MP2 input comes back as MP3 (Layer III), which it says:

    >>> mp2 = MediaInfo(container="mp3", codec="mp2", sr=48000, channels=2, duration_s=1.0, has_video=False)
    >>> codec_note(mp2, "mp3")
    'the input is MPEG Layer II (MP2) and the result is MP3 (Layer III), in an .mp3 file'
    """
    if info.codec == "mp2" and container == "mp3":
        # (MPEG Layer II is read as an MP3 input; its result is Layer III, an .mp3 file)
        return "the input is MPEG Layer II (MP2) and the result is MP3 (Layer III), in an .mp3 file"
    if info.codec not in _LOSSLESS_IN_LOSSY or container in ("wav", "flac", "pcm"):
        return None
    keep = [c for c in (offered if offered is not None else _FALLBACKS) if c in ("wav", "flac")]
    hint = f": ask for {_either(keep)} to stay lossless" if keep else ""
    return (
        f"the input is lossless ({info.codec.upper()}) and an {container.upper()} result is "
        f"{_AV_CODECS.get(container, container).removeprefix('lib').upper()}, which is not{hint}"
    )


def _flac_subtype(sample_format: str | None) -> str:
    if sample_format in _FLAC_SUBTYPES:
        return sample_format
    if sample_format in ("PCM_32", "FLOAT", "DOUBLE"):
        return "PCM_24"
    if sample_format == "PCM_U8":
        return "PCM_S8"
    return "PCM_16"


#: Block codecs a WAV may hold that are written as 16-bit PCM: libsndfile pads their last block, and an
#: IMA-ADPCM result came out 28.7 ms longer than its input (an outside audit); their 4 bits a sample
#: would also cost a second generation for a transmission format.
_BLOCK_CODECS: Final = frozenset({"IMA_ADPCM", "MS_ADPCM", "G721_32", "G723_24", "G723_40", "GSM610", "VOX_ADPCM"})


def _wav_subtype(sample_format: str | None) -> str:
    if sample_format is not None and sample_format not in _BLOCK_CODECS and sf.check_format("WAV", sample_format):
        return sample_format
    return "PCM_16"


# Integer subtypes we quantize ourselves: (bits kept, numpy dtype written, left shift).
# Rounding here (instead of libsndfile's truncating float→int, scaled by 2^n−1) makes
# decode → encode bit-exact for integer input.
_INT_SUBTYPES: Final[dict[str, tuple[int, type[np.signedinteger[Any]], int]]] = {
    "PCM_S8": (8, np.int16, 8),
    "PCM_U8": (8, np.int16, 8),
    "PCM_16": (16, np.int16, 0),
    "PCM_24": (24, np.int32, 8),
    "PCM_32": (32, np.int32, 0),
}


class _SoundfileSink:
    def __init__(self, path: Path, fmt: str, subtype: str, sr: int, channels: int, *, endian: str = "FILE") -> None:
        self.subtype = subtype
        self.file = sf.SoundFile(
            str(path), "w", samplerate=sr, channels=channels, format=fmt, subtype=subtype, endian=endian
        )

    def write(self, block: np.ndarray) -> None:
        spec = _INT_SUBTYPES.get(self.subtype)
        if spec is not None:
            bits, dtype, shift = spec
            full = 2.0 ** (bits - 1)
            q = np.clip(np.rint(block.astype(np.float64) * full), -full, full - 1).astype(dtype)
            if shift:
                q <<= shift
            self.file.write(q.T)
        elif self.subtype in ("FLOAT", "DOUBLE"):
            self.file.write(block.T)
        else:  # µ-law, A-law, ADPCM, Vorbis …: libsndfile converts from float
            self.file.write(np.clip(block, -1.0, 1.0).T)

    def close(self) -> None:
        self.file.close()


_AV_FORMATS: Final[dict[str, str]] = {
    "mp3": "mp3",
    "ogg": "ogg",
    "opus": "ogg",
    "m4a": "ipod",
    "mp4": "mp4",
    "webm": "webm",
}
_AV_CODECS: Final[dict[str, str]] = {
    "mp3": "libmp3lame",
    "ogg": "libopus",
    "opus": "libopus",
    "m4a": "aac",
    "mp4": "aac",
    "webm": "libopus",
}


def _container_options(container: str) -> dict[str, str]:
    return {"movflags": "+faststart"} if container in ("m4a", "mp4") else {}


def _mp3_max_bit_rate(sr: int) -> int:
    """Highest MP3 bit rate at ``sr``: MPEG-1 (32-48 kHz) 320, MPEG-2 (16-24) 160, MPEG-2.5 64 kbit/s."""
    return 320_000 if sr >= 32_000 else 160_000 if sr >= 16_000 else 64_000


def encoded_rate(container: str, sr: int) -> int:
    """The sample rate ``container`` is written at for audio at ``sr`` Hz (``sr`` unless it cannot hold it).

    MP3 holds only the MPEG rates, 8-48 kHz: above 48 kHz the audio is encoded at 44.1 kHz when
    ``sr`` is a multiple of 11025 Hz and at 48 kHz otherwise (the usual studio families), below at
    the next MPEG rate up (nothing of its band is lost). Opus in WebM, and ``opus`` (Ogg Opus, RFC
    7845: the codec asked for by name), run at 48 kHz unless ``sr`` is an Opus rate (``ogg`` then
    holds Vorbis at ``sr``). The encoder resamples with FFmpeg's
    resampler, in the stream, as it writes.

    >>> encoded_rate("mp3", 96000), encoded_rate("mp3", 88200), encoded_rate("mp3", 37800)
    (48000, 44100, 44100)
    >>> encoded_rate("mp3", 44100), encoded_rate("wav", 96000), encoded_rate("webm", 44100)
    (44100, 96000, 48000)
    >>> encoded_rate("opus", 44100), encoded_rate("ogg", 44100), encoded_rate("opus", 16000)
    (48000, 44100, 16000)
    """
    if container == "mp3" and sr not in _MP3_RATES:
        if sr > 48_000:
            return 44_100 if sr % 11_025 == 0 else 48_000
        return min(r for r in _MP3_RATES if r > sr) if sr > 0 else 8_000
    if container in ("webm", "opus") and sr not in _OPUS_RATES:
        return 48_000
    return sr


def _add_audio_stream(oc: Any, container: str, sr: int, channels: int, bit_rate: int | None = None) -> tuple[Any, int]:
    """Add the encoder for ``container``; returns (stream, the rate it encodes at).

    ``bit_rate``, the input's when it was lossy too, raises the format's default bit rate to it
    (up to the format's limit): a re-encode does not drop the quality the input had.
    """
    codec = _AV_CODECS[container]
    rate = encoded_rate(container, sr)
    stream = oc.add_stream(codec, rate=rate)
    cc = stream.codec_context
    cc.layout = _layout(channels)
    cc.time_base = Fraction(1, rate)
    if codec == "libopus":
        default, ceiling = min(64_000 * channels, 256_000), 256_000 * channels
        if channels > 2:
            cc.options = {"mapping_family": "1"}
    elif codec == "aac":
        default, ceiling = min(64_000 * channels, 320_000), min(160_000 * channels, 512_000)
    else:  # libmp3lame: 64 kbit/s a channel at every rate, within the format's ceiling (a 16 kHz
        # voice at 32 kbit/s, the default before, read 22 dB SNR against its source, 26 dB at 64)
        default = 64_000 * channels
        ceiling = _mp3_max_bit_rate(rate)
    cc.bit_rate = min(max(default, int(bit_rate or 0)), ceiling)
    return stream, rate


class _AvEncoder:
    """Feeds float blocks to an already-added PyAV audio stream (rebuffering, resampling)."""

    def __init__(self, stream: Any, sr: int, rate: int, channels: int) -> None:
        self.stream = stream
        self.sr = sr
        self.layout = _layout(channels)
        self.pts = 0
        # PyAV gives an 8-channel planar frame a 9th plane, and building one from an array fails
        # (an 8-channel M4A or Opus result was an internal error): those frames are made packed
        # and converted by the resampler, whose own frames go to the encoder untouched
        self.packed = channels >= _PLANAR_BUG_CHANNELS
        self.resampler: Any = (
            av.AudioResampler(format="fltp", layout=self.layout, rate=rate) if rate != sr or self.packed else None
        )

    def encode(self, block: np.ndarray | None) -> list[Any]:
        if block is None:
            frames: list[Any] = list(self.resampler.resample(None)) if self.resampler else []
            packets: list[Any] = []
            for frame in frames:
                packets.extend(self.stream.encode(frame))
            packets.extend(self.stream.encode(None))
            return packets
        if self.packed:
            frame = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(block.T, dtype=np.float32).reshape(1, -1), format="flt", layout=self.layout
            )
        else:
            frame = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(block, dtype=np.float32), format="fltp", layout=self.layout
            )
        frame.sample_rate = self.sr
        frame.time_base = Fraction(1, self.sr)
        frame.pts = self.pts
        self.pts += block.shape[1]
        packets = []
        for piece in self.resampler.resample(frame) if self.resampler else [frame]:
            packets.extend(self.stream.encode(piece))
        return packets


class _AvSink:
    def __init__(self, path: Path, container: str, sr: int, channels: int, bit_rate: int | None = None) -> None:
        self.oc: Any = av.open(str(path), "w", format=_AV_FORMATS[container], options=_container_options(container))
        try:
            stream, rate = _add_audio_stream(self.oc, container, sr, channels, bit_rate)
            self.enc = _AvEncoder(stream, sr, rate, channels)
        except BaseException:
            self.oc.close()
            raise

    def write(self, block: np.ndarray) -> None:
        self.oc.mux(self.enc.encode(np.clip(block, -1.0, 1.0)))

    def close(self) -> None:
        try:
            self.oc.mux(self.enc.encode(None))
        finally:
            self.oc.close()


class AudioWriter:
    """Streams float32 ``(channels, m)`` blocks into a file of ``container``.

    Keeps the sample rate and channel count (WebM at a rate Opus cannot carry is the one
    exception: it is written at 48 kHz). ``sample_format`` is the soundfile subtype to keep for
    WAV/FLAC (default PCM_16); other containers ignore it. Integer formats are rounded and
    clipped to full scale; FLOAT/DOUBLE keep values as they are. ``bit_rate`` (bits per second)
    raises an MP3, AAC or Opus encoder's default bit rate, up to the format's limit.
    ``expected_frames`` (frames per channel, when known) makes a WAV that will not fit the 4 GiB
    of RIFF's 32-bit sizes an RF64 file (EBU Tech 3306), as the Broadcast WAV world writes long
    multichannel takes; readers that know only RIFF could not read past 4 GiB of a plain WAV.
    """

    def __init__(
        self,
        path: Path,
        container: str,
        sr: int,
        channels: int,
        *,
        sample_format: str | None = None,
        bit_rate: int | None = None,
        expected_frames: int | None = None,
    ) -> None:
        _quiet()
        check_encodable(container, sr, channels)
        self.path = path
        self.container = container
        self.sr = sr
        self.channels = channels
        self.frames_written = 0
        #: Samples over full scale the format could not hold, clipped at +-1 (a float WAV keeps them).
        self.clipped = 0
        self._closed = False
        self._sink: _SoundfileSink | _AvSink
        if container == "wav":
            subtype = _wav_subtype(sample_format)
            size = (expected_frames or 0) * channels * SAMPLE_BYTES.get(subtype, 8)
            self._sink = _SoundfileSink(path, "RF64" if size > RIFF_MAX_DATA else "WAV", subtype, sr, channels)
        elif container == "flac":
            self._sink = _SoundfileSink(path, "FLAC", _flac_subtype(sample_format), sr, channels)
        elif container == "pcm":  # headerless 16-bit little-endian, interleaved (LINEAR16)
            self._sink = _SoundfileSink(path, "RAW", "PCM_16", sr, channels, endian="LITTLE")
        elif container == "ogg" and sr not in _OPUS_RATES:
            self._sink = _SoundfileSink(path, "OGG", "VORBIS", sr, channels)
        else:
            self._sink = _AvSink(path, container, sr, channels, bit_rate)

    def write(self, block: np.ndarray) -> None:
        """Append ``block``, shaped ``(channels, m)``."""
        if self._closed:
            raise ValueError("AudioWriter is closed")
        if block.ndim != 2 or block.shape[0] != self.channels:
            raise ValueError(f"expected a ({self.channels}, m) block, got shape {block.shape}")
        if block.shape[1] == 0:
            return
        data = np.nan_to_num(np.asarray(block, dtype=np.float32), nan=0.0, posinf=1.0, neginf=-1.0)
        if not (isinstance(self._sink, _SoundfileSink) and self._sink.subtype in ("FLOAT", "DOUBLE")):
            self.clipped += int(np.count_nonzero(np.abs(data) > 1.0))
        self._sink.write(data)
        self.frames_written += block.shape[1]

    def close(self) -> None:
        """Flush the encoder and finish the file (idempotent)."""
        if not self._closed:
            self._closed = True
            self._sink.close()

    def __enter__(self) -> AudioWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


# --------------------------------------------------------------------------- video remux


def _wav_blocks(path: Path, block_frames: int) -> Iterator[np.ndarray]:
    with sf.SoundFile(str(path)) as f:
        while True:
            data = f.read(block_frames, dtype="float32", always_2d=True)
            if data.shape[0] == 0:
                return
            yield np.ascontiguousarray(data.T)


def remux_video(video_src: Path, audio_wav: Path, out: Path, container: str) -> None:
    """Write ``out``: the video packets of ``video_src`` untouched plus ``audio_wav`` encoded.

    The audio is AAC in MP4 and Opus in WebM; other streams (the old audio, subtitles) are
    dropped. Packets are interleaved by time so memory stays bounded.

    Raises
    ------
    UnsupportedMediaError
        ``container`` is not a video container, ``video_src`` has no video, or its video codec
        is not allowed in ``container``.
    """
    _quiet()
    if container not in VIDEO_CONTAINERS:
        raise UnsupportedMediaError(
            f"{container!r} cannot carry video; ask for {' or '.join(sorted(VIDEO_CONTAINERS))}."
        )
    with sf.SoundFile(str(audio_wav)) as wav:
        sr, channels = int(wav.samplerate), int(wav.channels)
    check_encodable(container, sr, channels)
    with _open_input(video_src, container) as ic:
        videos = [s for s in ic.streams.video if _is_real_video(s)]
        if not videos:
            raise UnsupportedMediaError("The input has no video track to keep.")
        vin = videos[0]
        _check_video_fits(vin.codec_context.name, container)
        oc: Any = av.open(str(out), "w", format=_AV_FORMATS[container], options=_container_options(container))
        with oc:
            vout = oc.add_stream_from_template(vin)
            astream, rate = _add_audio_stream(oc, container, sr, channels)
            enc = _AvEncoder(astream, sr, rate, channels)
            blocks = _wav_blocks(audio_wav, max(1024, sr // 10))
            audio_s = 0.0
            audio_done = False
            try:
                for packet in ic.demux(vin):
                    if packet.dts is None or packet.size == 0:
                        continue
                    t = float(packet.dts * packet.time_base) if packet.time_base else 0.0
                    while not audio_done and audio_s <= t + 0.5:
                        block = next(blocks, None)
                        if block is None:
                            audio_done = True
                            break
                        oc.mux(enc.encode(np.clip(block, -1.0, 1.0)))
                        audio_s += block.shape[1] / sr
                    packet.stream = vout
                    oc.mux(packet)
            except av.error.FFmpegError as exc:
                raise CorruptMediaError(
                    f"The video in the {container.upper()} input could not be read: "
                    f"{_ffmpeg_reason(exc)}. Send an undamaged file."
                ) from exc
            for block in blocks:
                oc.mux(enc.encode(np.clip(block, -1.0, 1.0)))
            oc.mux(enc.encode(None))
