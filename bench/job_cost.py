"""What a click repair's run time follows, and how soon a job's own pace tells its whole run.

    python bench/job_cost.py [--seconds 120]

Runs the ``declick`` step through the job pipeline (no server) and prints:

1. run time per audio second and per sample (rate x channels) for noise at 16 and 48 kHz, mono
   and stereo: which unit the wait estimates' rate should be kept in;
2. the same for a voiced tone with two clicks a second (``bench/wait_time.py``'s click-heavy
   audio): how far content moves the rate;
3. for a 1500 s noise task and the click-heavy audio: the whole run predicted from the pace over
   the first 1, 2, 5, 10 and 25 % (timed from the first progress report, as the estimates do),
   over the real one.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parent))
from wait_time import _heavy, _wav

from app import media
from app.jobs import pipeline
from app.jobs.models import OutputSpec, Step

STEPS = [Step(name="declick")]


def _run(path: Path, tmp: Path) -> tuple[float, list[tuple[float, float]]]:
    """Run time (s) and the progress marks (s since start, per cent)."""
    info = media.probe(path)
    marks: list[tuple[float, float]] = []
    t0 = time.monotonic()
    pipeline.process_file(
        path,
        info,
        STEPS,
        OutputSpec(container="wav"),
        tmp,
        progress=lambda pct: marks.append((time.monotonic() - t0, pct)),
    )
    return time.monotonic() - t0, marks


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=120.0, help="audio per format in part 1 (s)")
    args = ap.parse_args()
    if args.seconds > 600:
        ap.error("bounded on purpose: at most 600 s per format")
    rng = np.random.default_rng(1)
    print("| audio | ms per audio s | ns per sample |\n|---|---|---|")
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        for sr, ch in [(16000, 1), (16000, 2), (48000, 1), (48000, 2)]:
            p = tmp / "in.wav"
            sf.write(
                p, (0.1 * rng.standard_normal((int(sr * args.seconds), ch))).astype(np.float32), sr, subtype="PCM_16"
            )
            run = min(_run(p, tmp)[0] for _ in range(2))
            per_s, per_sample = run / args.seconds * 1e3, run / (args.seconds * sr * ch) * 1e9
            print(f"| noise {sr // 1000} kHz x{ch} | {per_s:.1f} | {per_sample:.0f} |")
        p = tmp / "heavy.wav"
        p.write_bytes(_heavy(args.seconds))
        run = min(_run(p, tmp)[0] for _ in range(2))
        print(f"| click-heavy 16 kHz x1 | {run / args.seconds * 1e3:.1f} | {run / (args.seconds * 16000) * 1e9:.0f} |")
        print("\n| task | run (s) | predicted / real, from the pace at 1 % | 2 % | 5 % | 10 % | 25 % |")
        print("|---|---|---|---|---|---|---|")
        for name, data in [
            ("noise 1500 s", _wav(1500, 1)),
            ("click-heavy 120 s", _heavy(120)),
            ("click-heavy 600 s", _heavy(600)),
        ]:
            p = tmp / "task.wav"
            p.write_bytes(data)
            total, marks = _run(p, tmp)
            t_first, p_first = marks[0]
            cells = []
            for share in (1, 2, 5, 10, 25):
                t, pct = next((t, pct) for t, pct in marks if pct - p_first >= share)
                cells.append(f"{(t - t_first) / (pct - p_first) * (100 - p_first) / (total - t_first):.2f}")
            print(f"| {name} | {total:.1f} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
