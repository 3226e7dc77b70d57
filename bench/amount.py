"""Residual noise in speech pauses versus the denoiser's ``amount`` (1–100).

    python bench/amount.py [--sr 16000] [--snr 5]

Speech-like test signal (tests/signals.py) plus white noise at the given SNR; prints the noise level
left in the pauses (dBFS) for the input and each amount, which must fall as the amount rises.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dsp import reduce_noise
from tests.signals import make_speech_like, make_white, mix_at_snr


def pause_level_db(x: np.ndarray, sr: int, speech: list[tuple[float, float]]) -> float:
    mask = np.ones(x.size, bool)
    mask[:sr] = False  # let the noise tracker settle
    for s, e in speech:
        mask[int((s - 0.1) * sr) : int((e + 0.1) * sr)] = False
    return float(10 * np.log10(np.mean(x[mask].astype(np.float64) ** 2)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sr", type=int, default=16000)
    ap.add_argument("--snr", type=float, default=5.0)
    ap.add_argument("--seconds", type=float, default=8.0)
    args = ap.parse_args()
    rng = np.random.default_rng(22)
    clean, speech = make_speech_like(rng, args.sr, args.seconds)
    noisy = mix_at_snr(clean, make_white(rng, clean.size), args.snr)
    print(f"| amount | noise in pauses (dBFS) |\n|---|---|\n| input | {pause_level_db(noisy, args.sr, speech):.1f} |")
    for amount in (1, 20, 50, 80, 100):
        y = reduce_noise(noisy, args.sr, amount=amount)
        print(f"| {amount} | {pause_level_db(y, args.sr, speech):.1f} |")


if __name__ == "__main__":
    main()
