"""Short clips (a voice command, a word cut from a stream): what the denoiser does to 0.2-4 s of audio.

    python bench/short_clips.py [--half dev|check|both] [--methods hush,rnnoise] [--snr 5]

Each clean speech recording of the half (``../shared/bench/realdev/clean_speech``, read in place,
the same DEV / CHECK split as ``bench/real.py``) gives one clip per length, cut from 1 s into the
recording (or less where it is shorter), so it starts and ends inside the talk, with no pause
before the speech. Per length and method, medians over the clips:

- clean: the level change of the output (dB) and its SI-SDR against the clip;
- noisy: the clip plus the half's real background noises (taken in turn) at ``--snr`` dB; the
  SI-SDR change against the clean clip and the speech kept (the gain of the clean clip's
  projection in the output, dB);
- noise only: the level taken off the noise part of the same clip alone (dB).

RNNoise (``pyrnnoise``, the ``bench`` extra) runs in the same process as the anchor.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.denoise import align, run_method  # noqa: E402
from bench.real import HALVES, REAL, SR, load  # noqa: E402

LENGTHS_S = (0.2, 0.5, 1.0, 1.5, 2.0)
OFFSET_S = 1.0  # or less, where a recording is shorter than this and the clip


def _si_sdr(ref: np.ndarray, est: np.ndarray) -> float:
    a = float(np.dot(est, ref) / np.dot(ref, ref))
    err = est - a * ref
    return float(10 * np.log10(np.dot(a * ref, a * ref) / (np.dot(err, err) + 1e-20)))


def _level_db(x: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(x**2) + 1e-20))


def _apply(method: str, x: np.ndarray) -> np.ndarray:
    """The method's output, moved earlier by its delay against its input (RNNoise has 10 ms)."""
    y = np.asarray(run_method(method, x.astype(np.float32), SR), np.float64).reshape(-1)
    return np.asarray(align(x, y, SR)[0], np.float64)


def run(half: str, methods: list[str], snr_db: float) -> None:
    speech = [load(REAL / "clean_speech" / f) for f in HALVES[half]["speech"]]
    noises = HALVES[half]["noise"]
    print(f"\n=== {half.upper()} half: {len(speech)} clips per length, noise at {snr_db:g} dB SNR ===")
    print(
        "| length | method | clean: level change / SI-SDR | noisy: SI-SDR change / speech kept | noise only: removed |"
    )
    print("|---|---|---|---|---|")
    for d in LENGTHS_S:
        n = round(d * SR)
        for method in methods:
            level, clean_sdr, gain_sdr, kept, removed = [], [], [], [], []
            for i, x in enumerate(speech):
                start = min(round(OFFSET_S * SR), x.size - n)
                c = x[start : start + n]
                noise = load(REAL / "background_noise" / noises[i % len(noises)], n, 3.0 + i)
                noise *= np.sqrt(np.mean(c**2) / np.mean(noise**2)) / 10 ** (snr_db / 20)
                y = _apply(method, c)
                level.append(_level_db(y) - _level_db(c))
                clean_sdr.append(_si_sdr(c, y))
                m = c + noise
                ym = _apply(method, m)
                gain_sdr.append(_si_sdr(c, ym) - _si_sdr(c, m))
                kept.append(20 * np.log10(abs(float(np.dot(ym, c) / np.dot(c, c))) + 1e-12))
                removed.append(_level_db(noise) - _level_db(_apply(method, noise)))
            print(
                f"| {d:g} s | {method} | {np.median(level):+.2f} dB / {np.median(clean_sdr):.1f} dB "
                f"| {np.median(gain_sdr):+.1f} dB / {np.median(kept):+.1f} dB | {np.median(removed):.1f} dB |"
            )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--half", choices=("dev", "check", "both"), default="both")
    ap.add_argument("--methods", default="hush,rnnoise")
    ap.add_argument("--snr", type=float, default=5.0)
    args = ap.parse_args()
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    for half in ("dev", "check") if args.half == "both" else (args.half,):
        run(half, methods, args.snr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
