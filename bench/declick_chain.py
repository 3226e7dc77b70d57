"""Declicker in front of the denoiser, on the denoiser corpus's ``clicks`` noise type.

    python bench/declick_chain.py --corpus /tmp/hushbench/dev [--metrics ../shared/bench/clicks/click_metrics.py]

Reads the corpus written by the shared ``make_corpus.py`` (``manifest.json``) and, for every
item of noise type ``clicks``, scores SI-SDR against the clean reference (the shared
``click_metrics.si_sdr``) of the noisy input, the denoiser alone (``reduce_noise``, defaults) and
the click repairer followed by the denoiser; prints the mean of each and the per-item change, to
decide whether the chain should repair clicks before denoising by default.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from dsp.declick import repair_clicks  # noqa: E402
from dsp.denoise import reduce_noise  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--metrics", default=str(REPO.parent / "shared" / "bench" / "clicks" / "click_metrics.py"))
    args = ap.parse_args()
    spec = importlib.util.spec_from_file_location("click_metrics", args.metrics)
    if spec is None or spec.loader is None:
        ap.error(f"cannot load {args.metrics}")
    cm = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cm)
    root = Path(args.corpus)
    man = json.loads((root / "manifest.json").read_text())
    rows = []
    for item in man["items"]:
        if item["noise_type"] != "clicks":
            continue
        x, sr = sf.read(root / item["noisy"], dtype="float32")
        c, _ = sf.read(root / item["clean"], dtype="float32")
        den = reduce_noise(x, sr)
        chain = reduce_noise(repair_clicks(x, sr), sr)
        row = (cm.si_sdr(x, c), cm.si_sdr(den, c), cm.si_sdr(chain, c))
        rows.append(row)
        print(
            f"  {item['id']:34s} noisy {row[0]:6.2f}  denoise {row[1]:6.2f}  declick+denoise {row[2]:6.2f}", flush=True
        )
    a = np.array(rows)
    print("\n| clicks items | noisy | denoise | declick + denoise | chain - denoise (min / mean / max) |")
    print("|---|---|---|---|---|")
    d = a[:, 2] - a[:, 1]
    print(
        f"| {len(a)} | {a[:, 0].mean():.2f} | {a[:, 1].mean():.2f} | {a[:, 2].mean():.2f} "
        f"| {d.min():+.2f} / {d.mean():+.2f} / {d.max():+.2f} |"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
