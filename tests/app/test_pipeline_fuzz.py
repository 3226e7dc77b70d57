"""Random chains of steps with random parameters through the job pipeline, as a job runs them.

A chain is refused when it is submitted (an ``AppError`` from ``check_steps``: a parameter out of
range, a step out of place) or it runs to the end and writes its output; nothing may fail after
the audio has been processed that could have been said at submit (the loudness targets were,
until this test's first run), and nothing may raise anything but an ``AppError``.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from app import media
from app.errors import AppError
from app.jobs.models import OutputSpec, Step
from app.jobs.pipeline import process_file
from app.jobs.steps import STEPS, check_steps

VALUES: tuple[Any, ...] = (0.0, 0.001, 0.5, 1.0, 2.0, 6.0, 10.0, 30.0, 100.0, -1.0, -16.0, -70.0, 1e6)


def _value(name: str, rng: random.Random) -> Any:
    if name == "engine":
        return rng.choice(["dsp", "default"])
    if name == "harmonics":
        return rng.choice([[], [1, 2], [1, 3, 5, 40]])
    if name == "hum_hz":
        return rng.choice([None, 50.0, 60.0, 20.0, 400.0])
    return rng.choice(VALUES)


def _audio(kind: str, n: int, sr: int, channels: int, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(n) / sr
    if kind == "silence":
        x = np.zeros((channels, n))
    elif kind == "noise":
        x = 0.1 * rng.standard_normal((channels, n))
    elif kind == "square":
        x = np.tile(0.99 * np.sign(np.sin(2 * np.pi * 100 * t)), (channels, 1))
    else:  # a buzz in syllable-rate bursts over a floor, a crude voice
        env = (np.sin(2 * np.pi * 4 * t) > 0).astype(float)
        buzz = np.sign(np.sin(2 * np.pi * 120 * t)) * np.exp(-((t * 120) % 1) * 5)
        x = np.tile(0.3 * env * buzz, (channels, 1)) + 0.01 * rng.standard_normal((channels, n))
    return np.clip(x, -1, 1).astype(np.float32)


@pytest.mark.parametrize("seed", range(3))
def test_random_chains_are_refused_at_submit_or_run_to_the_end(seed: int, tmp_path: Path) -> None:
    rng = random.Random(seed)
    nrng = np.random.default_rng(seed)
    names = sorted(n for n, d in STEPS.items() if d.shipped)
    ran = 0
    refusals: list[str] = []
    for i in range(15):
        sr = rng.choice([8000, 16000, 44100, 48000])
        channels = rng.choice([1, 2])
        x = _audio(
            rng.choice(["silence", "noise", "square", "voice"]),
            int(rng.choice([0.3, 1.0, 2.5]) * sr),
            sr,
            channels,
            nrng,
        )
        src = tmp_path / f"{i}.wav"
        sf.write(src, x.T, sr, subtype="PCM_16")
        chain = [
            Step(name=n, params={p: _value(p, rng) for p in STEPS[n].params if rng.random() < 0.5})
            for n in rng.sample(names, rng.randint(1, 4))
        ]
        try:
            check_steps(chain)
        except AppError as exc:
            refusals.append(exc.message)  # what the client is told
            continue
        out = tmp_path / f"out{i}"
        out.mkdir()
        container = rng.choice(["wav", "flac", "mp3", "m4a", None])
        result = process_file(src, media.probe(src), chain, OutputSpec(container=container), out)
        assert result.path is not None, chain
        assert result.path.stat().st_size > 0, chain
        ran += 1
    assert ran > 0
    assert refusals
    assert all(refusals)
