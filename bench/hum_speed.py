"""Speed of the hum remover, alone and inside the noise reducer, at 16 kHz mono and 48 kHz stereo.

    OMP_NUM_THREADS=1 python bench/hum_speed.py [--seconds 30]

Runs ``dsp.hum.HumRemover`` and ``dsp.denoise.NoiseReducer`` (hum notches on, as by default)
over speech-like audio with and without 50 Hz mains hum (``tests/signals.py``, seeded) and prints
x real time: audio seconds per CPU second of this process, the best of three runs.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dsp.denoise import NoiseReducer
from dsp.hum import HumRemover
from dsp.stream import BlockProcessor, run_processor
from tests.signals import make_hum, make_speech_like, make_white


def rate(make: Callable[[], BlockProcessor], x: np.ndarray, seconds: float) -> float:
    """x real time of ``make()`` over ``x``: the best of three runs, in CPU time."""
    best = np.inf
    for _ in range(3):
        c0 = time.process_time()
        run_processor(make(), x)
        best = min(best, time.process_time() - c0)
    return seconds / best


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=30.0, help="length of the test audio (s)")
    args = ap.parse_args()
    rng = np.random.default_rng(7)
    d = args.seconds
    print(f"x real time over {d:g} s (CPU time, best of 3)")
    print(f"  {'':22s} {'HumRemover':>11s} {'NoiseReducer':>13s}")
    for sr, ch in ((16000, 1), (48000, 2)):
        speech = make_speech_like(rng, sr, d)[0] + make_white(rng, round(d * sr), -50.0)
        hum = make_hum(sr, speech.size, mains_hz=50.0, level_dbfs=-35.0)
        for kind, x in (("hum", speech + hum), ("no hum", speech)):
            xx = np.stack([x] * ch).astype(np.float32)
            hr = rate(lambda sr=sr, ch=ch: HumRemover(sr, ch), xx, d)
            nr = rate(lambda sr=sr, ch=ch: NoiseReducer(sr, ch), xx, d)
            print(f"  {sr // 1000} kHz x{ch} {kind:7s}       {hr:10.0f}x {nr:12.0f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
