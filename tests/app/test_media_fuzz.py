"""Damaged files, made here by seeded mutation of good ones, through the probe, the decoder and the remuxer.

Whatever the bytes, a file is either read (finite float32 blocks of the channels the probe
reported; a video's picture kept) or refused with one of the input errors that the dialects turn
into their own 4xx answer or a failed job with a reason. Any other exception is an internal error
a user would see as a server fault: this found three (a tag that is not UTF-8, a stream that
changes format part-way, a video track with no codec).
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from app.errors import InputError
from app.media import decode_blocks, probe, remux_video
from tests.app._media_fixtures import make_audio_file, make_music, make_video_file

MUTATIONS = ("cut", "flip", "flip_head", "insert", "zeros")
EXTENSIONS = {"wav16": "wav", "wavf": "wav", "webm_audio": "webm", "mp4_video": "mp4", "webm_video": "webm"}


@pytest.fixture(scope="module")
def good_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """One short, valid file per container the server reads (16 kHz audio; the videos at 48 kHz)."""
    d = tmp_path_factory.mktemp("good")
    x = make_music(16_000, 1.0, 2)
    out = {
        name: make_audio_file(d / f"a.{ext}", ext, x, 16_000, subtype=sub).read_bytes()
        for name, ext, sub in (
            ("wav16", "wav", "PCM_16"),
            ("wavf", "wav", "FLOAT"),
            ("flac", "flac", None),
            ("mp3", "mp3", None),
            ("ogg", "ogg", None),
            ("m4a", "m4a", None),
            ("webm_audio", "webm", None),
        )
    }
    out.update({f"{c}_video": make_video_file(d / f"v.{c}", c).read_bytes() for c in ("mp4", "webm")})
    return out


def mutate(data: bytes, rng: random.Random) -> bytes:
    b = bytearray(data)
    op = rng.choice(MUTATIONS)
    if op == "cut":
        return bytes(b[: rng.randrange(1, len(b))])
    if op in ("flip", "flip_head"):
        span = len(b) if op == "flip" else min(len(b), 600)  # the header, where the format is stated
        for _ in range(rng.randint(1, 12)):
            b[rng.randrange(span)] = rng.randrange(256)
    elif op == "insert":
        k = rng.randrange(len(b))
        b[k:k] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 300)))
    else:
        k = rng.randrange(len(b))
        n = min(rng.randint(1, 2000), len(b) - k)
        b[k : k + n] = bytes(n)
    return bytes(b)


@pytest.mark.parametrize("seed", range(4))
def test_damaged_files_are_read_or_refused_with_an_input_error(
    seed: int, good_files: dict[str, bytes], tmp_path: Path
) -> None:
    rng = random.Random(seed)
    read = 0
    refusals: list[str] = []
    for i in range(60):
        name = rng.choice(sorted(good_files))
        ext = EXTENSIONS.get(name, name)
        path = tmp_path / f"{i}.{ext}"
        path.write_bytes(mutate(good_files[name], rng))
        try:
            info = probe(path, max_duration_s=3600)
            blocks = list(decode_blocks(path, info, 4096, warnings=[]))
            audio = np.concatenate(blocks, axis=1)
            assert audio.dtype == np.float32, name
            assert audio.shape[0] == info.channels, name
            assert np.all(np.isfinite(audio)), name
            if info.has_video:
                wav = tmp_path / f"{i}.wav"
                sf.write(wav, audio.T, info.sr, subtype="FLOAT")
                remux_video(path, wav, tmp_path / f"{i}.out.{ext}", ext)
            read += 1
        except InputError as exc:
            refusals.append(str(exc))  # the message the user is shown
    assert read > 0  # the mutations reach both outcomes
    assert refusals
    assert all(refusals)
