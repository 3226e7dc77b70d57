"""Clean speech through Hush: how much the denoiser and the click suppressor change it.

    python bench/clean_speech.py --corpus /tmp/hushbench/dev --real /tmp/hushbench/real_speech [--n 12]

Takes the clean TTS references of the denoise corpus (one per utterance at 16 kHz, the first ``--n``)
and the recorded CMU ARCTIC files in ``--real``, passes each through ``reduce_noise`` (defaults,
and with the expander off, ``expand_db=0``) and through ``suppress_clicks`` alone, and prints PESQ-WB
and SI-SDR of each output against its own input, and the loudness change. An untouched signal
scores PESQ about 4.6 and unbounded SI-SDR.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import soundfile as sf

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.denoise import DEFAULT_METRICS, load_metrics  # noqa: E402
from dsp import reduce_noise, suppress_clicks  # noqa: E402

VARIANTS: dict[str, Callable[[np.ndarray, int], np.ndarray]] = {
    "denoise (defaults)": lambda x, sr: reduce_noise(x, sr),
    "denoise expand_db=0": lambda x, sr: reduce_noise(x, sr, expand_db=0),
    "click suppressor only": lambda x, sr: suppress_clicks(x, sr),
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, required=True, help="denoise corpus (manifest.json)")
    ap.add_argument("--real", type=Path, default=None, help="folder of recorded speech WAVs")
    ap.add_argument("--n", type=int, default=12, help="clean TTS files to use")
    ap.add_argument("--metrics", type=Path, default=DEFAULT_METRICS, help="path of the shared metrics.py")
    args = ap.parse_args()
    met = load_metrics(args.metrics)
    items = json.loads((args.corpus / "manifest.json").read_text())["items"]
    by_utterance: dict[str, str] = {}  # every noise type has its own copy of an utterance's clean file
    for it in items:
        utterance = it["id"].split("_")[1]
        if it["sr"] == 16000 and utterance.startswith("u"):
            by_utterance.setdefault(utterance, it["clean"])
    tts = [by_utterance[u] for u in sorted(by_utterance)[: args.n]]
    groups = {"clean TTS": [args.corpus / c for c in tts]}
    if args.real is not None:
        groups["recorded (CMU ARCTIC)"] = sorted(args.real.glob("*.wav"))
    for group, files in groups.items():
        print(f"\n{group}, {len(files)} files: PESQ-WB / SI-SDR dB / loudness change dB (mean, min)")
        for name, fn in VARIANTS.items():
            rows = []
            for f in files:
                x, sr = sf.read(f, dtype="float32")
                y = fn(x, sr)
                ref16, est16 = met.resample(x, sr, met.EVAL_SR), met.resample(y, sr, met.EVAL_SR)
                loud = 10 * np.log10(np.mean(y.astype(np.float64) ** 2) / np.mean(x.astype(np.float64) ** 2))
                rows.append((met.pesq_wb(ref16, est16), met.si_sdr(x, y), loud))
            v = np.array(rows)
            print(
                f"  {name:22s} PESQ {v[:, 0].mean():.2f} (min {v[:, 0].min():.2f})"
                f"  SI-SDR {v[:, 1].mean():5.1f} (min {v[:, 1].min():5.1f})"
                f"  loudness {v[:, 2].mean():+.2f} (min {v[:, 2].min():+.2f})"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
