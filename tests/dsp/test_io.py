"""``dsp.io``: files cut off before the length their header declares are read as far as they go."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from dsp.errors import InvalidAudioError
from dsp.io import open_writer, read_blocks, read_info
from tests.signals import make_white, with_wav_data_size

SR = 16000


def wav_bytes(x: np.ndarray, subtype: str) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, x.T, SR, format="WAV", subtype=subtype)
    return buf.getvalue()


def read_all(path: Path, block: int = 5000) -> tuple[np.ndarray, list[tuple[int, int]]]:
    told: list[tuple[int, int]] = []
    blocks = list(read_blocks(path, block, on_truncated=lambda d, p: told.append((d, p))))
    return np.concatenate(blocks, axis=1), told


@pytest.mark.parametrize(("subtype", "width"), [("PCM_16", 2), ("PCM_24", 3), ("FLOAT", 4)])
@pytest.mark.parametrize("channels", [1, 2])
def test_read_blocks_reads_a_cut_off_wav_and_says_so(
    tmp_path: Path, rng: np.random.Generator, subtype: str, width: int, channels: int
) -> None:
    x = np.stack([make_white(rng, 3 * SR, -20.0) for _ in range(channels)])
    whole = wav_bytes(x, subtype)
    frame = width * channels
    present = SR  # one of the three seconds, and half a sample frame more
    path = tmp_path / "cut.wav"
    path.write_bytes(whole[: len(whole) - x.shape[1] * frame + present * frame + frame // 2])
    info = read_info(path)
    assert (info.frames, info.declared_frames) == (present, 3 * SR)
    got, told = read_all(path)
    full, _ = sf.read(io.BytesIO(whole), dtype="float32", always_2d=True)
    np.testing.assert_array_equal(got, full[:present].T)
    assert told == [(3 * SR, present)]


@pytest.mark.parametrize("size", [0, 0xFFFFFFFF])
def test_read_blocks_reads_a_placeholder_size_to_the_end(tmp_path: Path, rng: np.random.Generator, size: int) -> None:
    """A recorder writes 0 or 0xFFFFFFFF until it stops: the audio runs to the end, nothing is cut off."""
    x = np.stack([make_white(rng, 2 * SR, -20.0) for _ in range(2)])
    path = tmp_path / "recording.wav"
    path.write_bytes(with_wav_data_size(wav_bytes(x, "PCM_16"), size))
    info = read_info(path)
    assert (info.frames, info.declared_frames) == (2 * SR, None)
    got, told = read_all(path)
    full, _ = sf.read(io.BytesIO(bytes(wav_bytes(x, "PCM_16"))), dtype="float32", always_2d=True)
    np.testing.assert_array_equal(got, full.T)
    assert told == []


def test_read_blocks_reads_a_cut_off_flac_as_far_as_it_decodes(tmp_path: Path, rng: np.random.Generator) -> None:
    x = make_white(rng, 10 * SR, -20.0)
    whole = tmp_path / "whole.flac"
    sf.write(whole, x, SR, subtype="PCM_16")
    cut = tmp_path / "cut.flac"
    data = whole.read_bytes()
    cut.write_bytes(data[: len(data) * 3 // 10])
    got, told = read_all(cut, block=65536)
    full, _ = sf.read(whole, dtype="float32", always_2d=True)
    present = got.shape[1]
    assert 2.5 * SR < present < 3.1 * SR  # every whole FLAC frame in the first 30 % of the bytes
    np.testing.assert_array_equal(got, full[:present].T)
    assert told == [(10 * SR, present)]


def test_read_blocks_refuses_a_flac_damaged_before_its_end(tmp_path: Path, rng: np.random.Generator) -> None:
    path = tmp_path / "damaged.flac"
    sf.write(path, make_white(rng, 10 * SR, -20.0), SR, subtype="PCM_16")
    data = bytearray(path.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 2000] = bytes(2000)
    path.write_bytes(data)
    with pytest.raises(InvalidAudioError, match=r"damaged\.flac is damaged at [0-9.]+ s, before the end"):
        read_all(path)


def test_open_writer_makes_a_wav_too_long_for_riff_sizes_rf64(tmp_path: Path) -> None:
    # python -m dsp wrote an hour of 8-channel float as a plain WAV past RIFF's 4 GiB
    import dataclasses

    src = tmp_path / "in.wav"
    sf.write(src, np.zeros((100, 8), np.float32), 48_000, subtype="FLOAT")
    info = read_info(src)
    for frames, head in ((3600 * 48_000, b"RF64"), (600 * 48_000, b"RIFF")):
        out = tmp_path / f"out{frames}.wav"
        with open_writer(out, 48_000, 8, like=dataclasses.replace(info, frames=frames)) as w:
            w.write(np.full((10, 8), 0.25, np.float32))
        assert out.read_bytes()[:4] == head
        y, sr = sf.read(out, dtype="float32")
        assert (y.shape, sr, sf.info(out).subtype) == ((10, 8), 48_000, "FLOAT")


def test_open_writer_keeps_an_opus_file_opus(tmp_path: Path) -> None:
    # python -m dsp wrote OGG Opus input back as Vorbis
    src = tmp_path / "in.ogg"
    sf.write(src, np.zeros((16_000, 1), np.float32), 16_000, format="OGG", subtype="OPUS")
    info = read_info(src)
    assert info.subtype == "OPUS"
    out = tmp_path / "out.ogg"
    with open_writer(out, 16_000, 1, like=info) as w:
        w.write(np.full((1600, 1), 0.1, np.float32))
    assert sf.info(out).subtype == "OPUS"
    vorbis = tmp_path / "v.ogg"
    with open_writer(vorbis, 44_100, 1, like=info) as w:  # no Opus at 44.1 kHz: the OGG default
        w.write(np.full((1600, 1), 0.1, np.float32))
    assert sf.info(vorbis).subtype == "VORBIS"
