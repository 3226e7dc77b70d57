"""Seeded random inputs through every public engine: the contract holds whatever the audio is.

Each case draws an engine, a rate (8-96 kHz), mono or stereo (1-D or 2-D), a length from one
sample to three seconds, a kind of signal (silence, DC, noise, a tone, a full-scale square wave,
isolated spikes, near-silence at -180 dBFS, clipped noise, bursts in a floor, a chirp to near
Nyquist) and the engine's parameters within their documented ranges. Output audio keeps the
input's shape, is float32, finite and bounded; the only error allowed is the engines' own
``DspError`` (too short to analyse), never another exception.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import dsp
from dsp.declick import ClickRepairer
from dsp.denoise import NoiseReducer
from dsp.errors import DspError, InvalidAudioError, InvalidParameterError
from dsp.stream import run_blocks

RATES = (8000, 11025, 16000, 22050, 32000, 44100, 48000, 96000)
KINDS = ("silence", "dc", "noise", "tone", "square", "spikes", "tiny", "clipped", "bursts", "chirp")


def signal(rng: np.random.Generator, kind: str, n: int, sr: int, channels: int) -> np.ndarray:
    """``(channels, n)`` float32 audio of ``kind``, within [-1, 1]."""
    t = np.arange(n) / sr
    if kind == "silence":
        x = np.zeros((channels, n))
    elif kind == "dc":
        x = np.full((channels, n), rng.uniform(-0.5, 0.5))
    elif kind == "noise":
        x = rng.uniform(1e-4, 0.5) * rng.standard_normal((channels, n))
    elif kind == "tone":
        x = np.tile(0.5 * np.sin(2 * np.pi * rng.uniform(20, sr / 2.2) * t), (channels, 1))
    elif kind == "square":
        x = np.tile(0.99 * np.sign(np.sin(2 * np.pi * rng.uniform(20, 2000) * t)), (channels, 1))
    elif kind == "spikes":
        x = np.zeros((channels, n))
        idx = rng.integers(0, n, size=max(1, n // 500))
        x[:, idx] = rng.uniform(-1, 1, size=idx.size)
    elif kind == "tiny":
        x = 1e-9 * rng.standard_normal((channels, n))
    elif kind == "clipped":
        x = rng.standard_normal((channels, n))
    elif kind == "bursts":
        x = 1e-3 * rng.standard_normal((channels, n))
        for _ in range(max(1, 3 * n // sr)):
            i = int(rng.integers(0, max(1, n - 10)))
            m = min(int(rng.integers(1, max(2, sr // 20))), n - i)
            x[:, i : i + m] += rng.uniform(0.1, 0.9) * rng.standard_normal((channels, m))
    else:  # chirp from 20 Hz to near Nyquist
        f = np.linspace(20, sr / 2.1, n)
        x = np.tile(0.5 * np.sin(2 * np.pi * np.cumsum(f) / sr), (channels, 1))
    return np.clip(x, -1, 1).astype(np.float32)


def engines(rng: np.random.Generator) -> dict[str, Callable[[np.ndarray, int], Any]]:
    return {
        "repair_clicks": lambda x, sr: dsp.repair_clicks(
            x, sr, detection_mult=float(rng.uniform(6, 10)), click_len_ms=float(rng.uniform(5, 30))
        ),
        "reduce_noise": lambda x, sr: dsp.reduce_noise(x, sr, amount=float(rng.uniform(1, 100))),
        "detect_speech": lambda x, sr: dsp.detect_speech(x, sr),
        "remove_hum": lambda x, sr: dsp.remove_hum(x, sr),
        "remove_echo": lambda x, sr: dsp.remove_echo(x, sr),
        "remove_reverb": lambda x, sr: dsp.remove_reverb(x, sr),
        "normalize_loudness": lambda x, sr: dsp.normalize_loudness(x, sr),
        "auto_eq": lambda x, sr: dsp.auto_eq(x, sr),
        "suppress_clicks": lambda x, sr: dsp.suppress_clicks(x, sr),
    }


@pytest.mark.parametrize("seed", range(4))
def test_every_engine_keeps_its_contract_on_random_audio(seed: int) -> None:
    rng = np.random.default_rng(1000 + seed)
    ran: dict[str, int] = {}
    errors: list[str] = []
    for _ in range(60):
        table = engines(rng)
        name = str(rng.choice(list(table)))
        sr = int(rng.choice(RATES))
        channels = int(rng.choice([1, 1, 2]))
        n = int(rng.choice([1, 7, 511, int(0.02 * sr), int(0.3 * sr), int(rng.uniform(0.5, 3.0) * sr)]))
        kind = str(rng.choice(KINDS))
        x = signal(rng, kind, n, sr, channels)
        if channels == 1 and rng.random() < 0.5:
            x = x[0]
        case = f"{name} {kind} sr={sr} shape={x.shape}"
        try:
            y = table[name](x, sr)
        except DspError as e:
            errors.append(f"{case}: {e}")  # the engines' own errors say what is wrong
            continue
        ran[name] = ran.get(name, 0) + 1
        if isinstance(y, np.ndarray):
            assert y.shape == x.shape, case
            assert y.dtype == np.float32, case
            assert np.all(np.isfinite(y)), case
            assert float(np.max(np.abs(y), initial=0.0)) <= 4.0, case
        else:
            assert all(0.0 <= a <= b <= n / sr + 1e-6 for a, b in y.segments), case
    assert len(ran) >= 6  # the draw reached most engines
    assert all(msg.split(": ", 1)[1] for msg in errors)  # every refusal says why
    assert len(errors) < 20  # most inputs were processed


@pytest.mark.parametrize("seed", range(3))
def test_click_repair_does_not_depend_on_random_block_sizes(seed: int) -> None:
    rng = np.random.default_rng(2000 + seed)
    sr = int(rng.choice(RATES[:7]))
    x = signal(rng, str(rng.choice(["bursts", "noise", "spikes", "chirp"])), int(1.5 * sr), sr, 2)
    whole = dsp.repair_clicks(x, sr)
    cuts = np.sort(rng.choice(np.arange(1, x.shape[-1]), size=12, replace=False))
    blocks = np.split(x, cuts, axis=-1)
    streamed = np.concatenate(list(run_blocks(ClickRepairer(sr, 2), iter(blocks))), axis=-1)
    np.testing.assert_array_equal(streamed, whole)


def _processors() -> list[Any]:
    from dsp.analyze import RecordingAnalyzer
    from dsp.clicks import ClickSuppressor
    from dsp.denoise import NoiseReducer
    from dsp.dereverb import ReverbAnalyzer
    from dsp.dynamics import Compressor, CompressorAnalyzer, DeEsser
    from dsp.echo import EchoAnalyzer
    from dsp.eq import EqAnalyzer
    from dsp.fillers import FillerDetector
    from dsp.hum import HumRemover
    from dsp.loudness import LoudnessMeter, TruePeakLimiter
    from dsp.music import MusicDetector
    from dsp.silence import SilenceShortener
    from dsp.vad import SpeechDetector

    classes = (
        RecordingAnalyzer, ClickSuppressor, ClickRepairer, NoiseReducer, ReverbAnalyzer, Compressor,
        CompressorAnalyzer, DeEsser, EchoAnalyzer, EqAnalyzer, FillerDetector, HumRemover, LoudnessMeter,
        TruePeakLimiter, MusicDetector, SilenceShortener, SpeechDetector,
    )  # fmt: skip
    return [pytest.param(cls, id=cls.__name__) for cls in classes]


@pytest.mark.parametrize("make", _processors())
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_every_streaming_processor_refuses_a_block_that_is_not_finite(
    make: Callable[[int, int], Any], bad: float
) -> None:
    # (before, the click repairer and the click suppressor, the denoiser, the hum remover and the
    # reverb, echo and filler analysers took such a block and passed NaN on to their output or their
    # estimates; the music detector refused it as a bad parameter)
    proc = make(16_000, 2)
    block = np.zeros((2, 4000), np.float32)
    block[1, 1234] = bad
    with pytest.raises(InvalidAudioError, match="NaN or infinite"):
        proc.process(block)


@pytest.mark.parametrize("make", _processors())
@pytest.mark.parametrize(
    "block",
    [
        np.full((2, 400), 3277, np.int16),  # 16-bit samples, which would pass unscaled (0.1 read as 3277)
        np.full((2, 400), 0.1 + 0.1j, np.complex64),  # would lose its imaginary part
        "0.1",
    ],
    ids=["int16", "complex", "str"],
)
def test_every_streaming_processor_refuses_samples_that_are_not_floating_point(
    make: Callable[[int, int], Any], block: Any
) -> None:
    proc = make(16_000, 2)
    with pytest.raises(InvalidAudioError, match=r"floating point|must be a numpy array"):
        proc.process(block)


@pytest.mark.parametrize("shape", [(4800, 2), (65, 10_000)])
def test_samples_in_rows_are_refused_not_taken_for_thousands_of_channels(shape: tuple[int, int]) -> None:
    # (before, (4800, 2) was 4800 channels of 2 samples: nothing repaired and 0.7 GB of memory)
    with pytest.raises(InvalidAudioError, match=r"pass audio\.T"):
        dsp.repair_clicks(np.zeros(shape, np.float32), 48_000)


@pytest.mark.parametrize("make", [lambda: ClickRepairer(16000, 1), lambda: NoiseReducer(16000, 1)])
def test_process_after_flush_is_refused(make) -> None:
    # audio handed in after the end was dropped without a word
    proc = make()
    proc.process(np.zeros((1, 16000), np.float32))
    proc.flush()
    with pytest.raises(InvalidParameterError, match="after flush"):
        proc.process(np.zeros((1, 16000), np.float32))
