"""The click repairer on real, click-free recordings: what it changes that it should not.

    python bench/declick_real.py [--half dev|check|all] \\
        ../shared/bench/realdev/clean_speech ../shared/bench/realdev/music

Every file in the given folders (any format soundfile reads, mixed to mono) goes through
:func:`dsp.declick.repair_clicks` at the defaults. There are no clicks in them, so every event is
a false detection: printed per file are the events per minute and the SI-SDR of the output
against the input (an untouched file is unbounded, printed as 100; the corpus target is >= 60 dB
median), and their medians per folder.

``--half`` splits each folder for tuning and checking: ``dev`` takes the files at even positions
of the name-sorted listing, ``check`` the odd ones, ``all`` (the default) every file. Tune a
constant on ``dev`` and report it on ``check``.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")  # as in Hush's workers, before numpy loads

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import soundfile as sf  # noqa: E402

from dsp.declick import ClickRepairer  # noqa: E402
from dsp.stream import run_processor  # noqa: E402


def si_sdr(est: np.ndarray, ref: np.ndarray) -> float:
    ref = ref.astype(np.float64) - ref.mean()
    est = est.astype(np.float64) - est.mean()
    a = float(est @ ref) / float(ref @ ref)
    err = est - a * ref
    return float(min(100.0, 10 * np.log10(float((a * ref) @ (a * ref)) / max(float(err @ err), 1e-30))))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folders", nargs="+", type=Path)
    ap.add_argument("--half", choices=("dev", "check", "all"), default="all")
    args = ap.parse_args()
    keep = {"dev": (0,), "check": (1,), "all": (0, 1)}[args.half]
    print(f"half: {args.half}")
    print("| folder | file | rate | events per minute | SI-SDR vs input (dB) |\n|---|---|---|---|---|")
    for folder in args.folders:
        rates, sdrs = [], []
        for i, path in enumerate(sorted(folder.iterdir())):
            if i % 2 not in keep:
                continue
            try:
                x, sr = sf.read(path, dtype="float32", always_2d=True)
            except (RuntimeError, sf.LibsndfileError):
                continue
            mono = x.mean(axis=1).astype(np.float32)
            rep = ClickRepairer(sr, 1)
            y = run_processor(rep, mono)
            rate = rep.report()["clicks_per_minute"]
            sdr = si_sdr(y, mono)
            rates.append(rate)
            sdrs.append(sdr)
            print(f"| {folder.name} | {path.name} | {sr} | {rate:.1f} | {sdr:.1f} |")
        print(
            f"| {folder.name} | **median of {len(rates)}** | | {float(np.median(rates)):.1f} | "
            f"{float(np.median(sdrs)):.1f} (min {min(sdrs):.1f}) |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
