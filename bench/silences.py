"""Long-pause shortening against an Audacity-style truncate-silence rule, on labelled material.

    .venv/bin/python bench/silences.py [--seeds 5] [--real ../shared/bench/realdev/clean_speech]

Material: speech words separated by pauses of known lengths (0.4-3 s), over a noise floor of
-60, -45 and -35 dBFS (the speech is at -20 dBFS). Optionally, real recordings (``--real``, a
folder of clean speech files) with their own pauses: these have no labels, so only what is
removed and the longest pause left are printed.

Each method shortens pauses over 1 s to 0.5 s. The anchor is the rule of Audacity's "Truncate
Silence" effect (a level threshold, -35 dB by default there, on 10 ms frames; silence lasting at
least 1 s is truncated to 0.5 s), run here in the same process. Printed per noise floor: the
share of speech samples kept, how many of the long pauses were shortened, how many cuts fell
inside speech (words cut), and the mean pause length left where a long pause was.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dsp.silence import SilenceCuts, SilenceShortener, plan_cuts
from tests.signals import make_speech_like, make_white

SR = 16000
GAPS_S = (0.4, 1.5, 0.7, 3.0, 0.8, 2.0, 1.2, 0.5)


def material(seed: int, floor_dbfs: float) -> tuple[np.ndarray, list[tuple[int, int]], list[tuple[int, int]]]:
    """Audio, speech spans and pause spans (samples)."""
    rng = np.random.default_rng(seed)
    parts, speech, pauses, pos = [], [], [], 0
    for gap in (*GAPS_S, None):
        words, spans = make_speech_like(rng, SR, 1.4, lead_silence_s=0.0, pause_every_s=1.1)
        words = words[: int(spans[-1][1] * SR)]
        parts.append(words)
        speech += [(pos + int(a * SR), pos + int(b * SR)) for a, b in spans]
        pos += words.size
        if gap is not None:
            pauses.append((pos, pos + int(gap * SR)))
            parts.append(np.zeros(int(gap * SR)))
            pos += int(gap * SR)
    x = np.concatenate(parts)
    return (x + make_white(rng, x.size, floor_dbfs)).astype(np.float32), speech, pauses


def audacity_truncate(x: np.ndarray, threshold_db: float = -35.0) -> SilenceCuts:
    """Audacity-style truncate silence: 10 ms frames under the threshold, runs of >= 1 s -> 0.5 s."""
    hop = SR // 100
    n = x.size // hop
    level = 10 * np.log10(np.mean(x[: n * hop].reshape(n, hop).astype(np.float64) ** 2, axis=1) + 1e-20)
    quiet = level < threshold_db
    # speech segments = the complement of quiet runs, in seconds, for the shared planner
    segments, start = [], None
    for i, q in enumerate(quiet):
        if not q and start is None:
            start = i
        if q and start is not None:
            segments.append((start * hop / SR, i * hop / SR))
            start = None
    if start is not None:
        segments.append((start * hop / SR, n * hop / SR))
    return plan_cuts(segments, x.size / SR, SR)


def hush_cuts(x: np.ndarray) -> SilenceCuts:
    s = SilenceShortener(SR, 1)
    s.process(x[None, :])
    return s.finish()


def score(cuts: SilenceCuts, n: int, speech: list[tuple[int, int]], pauses: list[tuple[int, int]]) -> dict[str, float]:
    cut = np.zeros(n, bool)
    for a, b in cuts.cuts:
        cut[a:b] = True
    is_speech = np.zeros(n, bool)
    for a, b in speech:
        is_speech[a:b] = True
    long_ = [(a, b) for a, b in pauses if (b - a) / SR > 1.0]
    left = [((b - a) - np.count_nonzero(cut[a:b])) / SR for a, b in long_]
    words_cut = sum(1 for a, b in speech if np.any(cut[a:b]))
    return {
        "speech_kept": 1 - np.count_nonzero(cut & is_speech) / np.count_nonzero(is_speech),
        "shortened": sum(1 for a, b in long_ if np.count_nonzero(cut[a:b]) > 0) / len(long_),
        "words_cut": words_cut,
        "left_s": float(np.mean(left)),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--real", type=Path, default=None, help="folder of real speech recordings (no labels)")
    args = ap.parse_args()
    print("| noise floor | method | speech kept | long pauses shortened | words cut | pause left (mean, s) |")
    print("|---|---|---|---|---|---|")
    for floor in (-60.0, -45.0, -35.0):
        for name, method in (("Hush", hush_cuts), ("Audacity-style truncate (-35 dB)", audacity_truncate)):
            rows = []
            for seed in range(args.seeds):
                x, speech, pauses = material(seed, floor)
                rows.append(score(method(x), x.size, speech, pauses))
            kept = min(r["speech_kept"] for r in rows)
            short = float(np.mean([r["shortened"] for r in rows]))
            words = sum(int(r["words_cut"]) for r in rows)
            left = float(np.mean([r["left_s"] for r in rows]))
            print(
                f"| {floor:g} dBFS | {name} | {100 * kept:.2f} % (worst) | {100 * short:.0f} % | {words} | {left:.2f} |"
            )
    if args.real:
        import soundfile as sf
        from scipy.signal import resample_poly

        print("\n| real recording | method | removed | cuts |")
        print("|---|---|---|---|")
        for path in sorted(args.real.iterdir()):
            try:
                y, sr = sf.read(path, dtype="float32", always_2d=True)
            except RuntimeError:
                continue
            x = resample_poly(y.mean(axis=1), SR, sr).astype(np.float32)
            for name, method in (("Hush", hush_cuts), ("Audacity-style", audacity_truncate)):
                c = method(x)
                print(f"| {path.name} | {name} | {c.removed / SR:.1f} s of {x.size / SR:.1f} s | {len(c.cuts)} |")


if __name__ == "__main__":
    main()
