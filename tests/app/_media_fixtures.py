"""Factories for real media files used by the media and dialect tests (written with PyAV/soundfile)."""

from __future__ import annotations

import io
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import soundfile as sf

from app.media import AudioWriter
from tests.signals import make_tone


def make_music(sr: int, duration_s: float, channels: int) -> np.ndarray:
    """A few tones per channel (different per channel), float32 (channels, n), peak < 0.8."""
    rows = []
    for c in range(channels):
        x = make_tone(sr, duration_s, 330.0 + 110 * c, -18) + make_tone(sr, duration_s, 1234.0 + 77 * c, -24)
        rows.append(x)
    return np.stack(rows).astype(np.float32)


def raw_wav_bytes(*, tag: int, channels: int, sr: int, bits: int, data: bytes) -> bytes:
    """A WAV built byte by byte, so its header can say what no encoder would write."""
    import struct

    align = channels * max(bits, 8) // 8
    fmt = struct.pack("<HHIIHH", tag, channels, sr, sr * align, align, bits)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", len(body)) + body


def make_audio_file(path: Path, container: str, x: np.ndarray, sr: int, *, subtype: str | None = None) -> Path:
    """Write ``x`` (channels, n) as ``container``: soundfile for WAV/FLAC, else our AudioWriter."""
    if container in ("wav", "flac"):
        sf.write(path, x.T, sr, subtype=subtype or "PCM_16", format=container.upper())
    else:
        with AudioWriter(path, container, sr, x.shape[0]) as w:
            for i in range(0, x.shape[1], 3000):
                w.write(x[:, i : i + 3000])
    return path


def mux_video(path: Path, fmt: str, vcodec: str, acodec: str, x: np.ndarray, sr: int, *, fps: int = 10) -> Path:
    """Mux moving pixels (64x48, ``fps`` frames/s) with ``x`` (channels, n) float32 as the audio stream."""
    with av.open(str(path), "w", format=fmt) as oc:
        vs = oc.add_stream(vcodec, rate=fps)
        vs.width, vs.height, vs.pix_fmt = 64, 48, "yuv420p"
        aus = oc.add_stream(acodec, rate=sr)
        layout = "mono" if x.shape[0] == 1 else "stereo"
        aus.codec_context.layout = layout
        step = sr // fps
        for i in range(x.shape[1] // step):
            img = np.full((48, 64, 3), 40, np.uint8)
            img[:, (i * 5) % 64 :, 0] = 200
            img[(i * 3) % 48 :, :, 2] = 150
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts = i
            frame.time_base = Fraction(1, fps)
            oc.mux(vs.encode(frame))
            block = np.ascontiguousarray(x[:, i * step : (i + 1) * step])
            aframe = av.AudioFrame.from_ndarray(block, format="fltp", layout=layout)
            aframe.sample_rate = sr
            aframe.pts = i * step
            aframe.time_base = Fraction(1, sr)
            oc.mux(aus.encode(aframe))
        oc.mux(vs.encode(None))
        oc.mux(aus.encode(None))
    return path


def make_video_file(path: Path, container: str, *, duration_s: float = 1.0, sr: int = 48_000) -> Path:
    """A tiny video with moving pixels plus a tone: VP8 + Opus in WebM, H.264 + AAC in MP4."""
    vcodec, acodec = ("libvpx", "libopus") if container == "webm" else ("libx264", "aac")
    return mux_video(path, container, vcodec, acodec, make_music(sr, duration_s, 2), sr)


def make_silent_video(path: Path) -> Path:
    """A WebM with a VP8 video stream and no audio stream at all."""
    with av.open(str(path), "w", format="webm") as oc:
        vs = oc.add_stream("libvpx", rate=10)
        vs.width, vs.height, vs.pix_fmt = 32, 32, "yuv420p"
        for i in range(3):
            f = av.VideoFrame.from_ndarray(np.zeros((32, 32, 3), np.uint8), format="rgb24")
            f.pts = i
            oc.mux(vs.encode(f))
        oc.mux(vs.encode(None))
    return path


def video_packets(src: Path | bytes) -> list[bytes]:
    """The bytes of every packet of the first video stream of a file or of in-memory bytes."""
    with av.open(io.BytesIO(src) if isinstance(src, bytes) else str(src)) as ic:
        return [bytes(p) for p in ic.demux(ic.streams.video[0]) if p.size]


def decode_all(path: Path) -> tuple[np.ndarray, int]:
    """Decode the whole file through app.media (test sizes only)."""
    from app.media import decode_blocks, probe

    info = probe(path)
    blocks = list(decode_blocks(path, info, 4096))
    return np.concatenate(blocks, axis=1), info.sr
