"""Properties of the STFT helpers and the streaming STFT driver (dsp.spectral)."""

from __future__ import annotations

import numpy as np
import pytest

from dsp.errors import InvalidAudioError, InvalidParameterError
from dsp.spectral import ComplexArray, StftStream, frame_settings, istft, sqrt_hann, stft
from tests.signals import make_white


@pytest.mark.parametrize("sr", [8000, 16000, 22050, 24000, 32000, 44100, 48000, 96000])
def test_frame_settings_about_32_ms_and_consistent(sr: int) -> None:
    n_fft, hop = frame_settings(sr)
    assert n_fft == 2 * hop
    assert n_fft % 2 == 0
    assert 0.028 <= n_fft / sr <= 0.040


@pytest.mark.parametrize(("n_fft", "hop"), [(512, 256), (512, 128), (1536, 768)])
def test_sqrt_hann_overlap_adds_to_one(n_fft: int, hop: int) -> None:
    w = sqrt_hann(n_fft, hop).astype(np.float64)
    np.testing.assert_allclose((w**2).reshape(-1, hop).sum(axis=0), 1.0, atol=1e-6)


@pytest.mark.parametrize(("n_fft", "hop", "n"), [(512, 256, 1), (512, 256, 10000), (512, 128, 3001)])
def test_stft_istft_round_trip(rng: np.random.Generator, n_fft: int, hop: int, n: int) -> None:
    x = np.stack([make_white(rng, n, -10), make_white(rng, n, -20)])
    y = istft(stft(x, n_fft, hop), n_fft, hop, n)
    np.testing.assert_allclose(y, x, atol=1e-5)


@pytest.mark.parametrize("block_sizes", [(1,), (255, 257), (512,), (100000,), (3, 7000, 64)])
def test_stft_stream_identity_and_chunk_invariance(rng: np.random.Generator, block_sizes: tuple[int, ...]) -> None:
    x = make_white(rng, 20000, -10)[None, :]
    batches: list[int] = []

    def identity(spec: ComplexArray) -> ComplexArray:
        batches.append(spec.shape[1])
        return spec

    s = StftStream(1, 512, 256, identity)
    outs, i, k = [], 0, 0
    while i < x.shape[1]:
        size = block_sizes[k % len(block_sizes)]
        outs.append(s.process(x[:, i : i + size]))
        i, k = i + size, k + 1
    outs.append(s.flush())
    y = np.concatenate(outs, axis=-1)
    assert y.shape == x.shape
    np.testing.assert_allclose(y, x, atol=1e-5)
    assert sum(batches) == stft(x, 512, 256).shape[1]


def test_stft_stream_matches_offline_stft(rng: np.random.Generator) -> None:
    x = make_white(rng, 5000, -10)[None, :]
    seen: list[ComplexArray] = []

    def keep(spec: ComplexArray) -> ComplexArray:
        seen.append(spec)
        return spec

    s = StftStream(1, 512, 256, keep)
    s.process(x[:, :1234])
    s.process(x[:, 1234:])
    s.flush()
    np.testing.assert_allclose(np.concatenate(seen, axis=1), stft(x, 512, 256), atol=1e-4)


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda: frame_settings(16000, overlap=3), InvalidParameterError),
        (lambda: frame_settings(1000), InvalidParameterError),
        (lambda: frame_settings(16000, frame_s=0.0), InvalidParameterError),
        (lambda: sqrt_hann(500, 256), InvalidParameterError),
        (lambda: stft(np.zeros(0, np.float32), 512, 256), InvalidAudioError),
        (lambda: stft(np.array([np.nan], np.float32), 512, 256), InvalidAudioError),
        (lambda: istft(np.zeros((1, 3, 100), np.complex64), 512, 256, 10), InvalidParameterError),
        (lambda: StftStream(0, 512, 256, lambda s: s), InvalidParameterError),
        (lambda: StftStream(1, 512, 256, lambda s: s).process(np.zeros((2, 10), np.float32)), InvalidParameterError),
        (lambda: frame_settings(16000), None),
    ],
)
def test_spectral_validates_parameters(call: object, error: type[Exception] | None) -> None:
    assert callable(call)
    if error is None:
        call()
    else:
        with pytest.raises(error):
            call()
