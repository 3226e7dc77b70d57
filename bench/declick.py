"""Click repair against ffmpeg ``adeclick``, side by side on the labelled click corpus.

    cd ../shared/bench/clicks && python gen_click_corpus.py --out /tmp/hushbench/clicks && cd -
    .venv/bin/python bench/declick.py --corpus /tmp/hushbench/clicks [--mult 8] [--len 10] [--json F]

For every clicked file (speech and music bases, 16 and 48 kHz, crackle / pops / keyboard /
mixed) it runs Hush's :class:`dsp.declick.ClickRepairer`, ``adeclick`` at its defaults and at
``m=s:t=4`` (ffmpeg on PATH), and scores:

* detection precision and recall at ±2 ms against the true clicks (``click_metrics.match``),
  each method's detections being the stretches where its output differs from its input (the
  same rule for every method; Hush's own event list is scored too), with the chance recall of
  the same detections moved by 50 ms;
* ΔSI-SDR of the output against the clean base, per condition, and the worst file;
* do no harm: each clean base through the same methods, SI-SDR of output vs input and false
  detections per minute;
* speed: Hush's throughput in multiples of real time on the 48 kHz files, on one core.

The metric code is the corpus's own (``click_metrics.py``), imported from the corpus folder's
sibling in the shared bench.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# one BLAS thread, as in Hush's workers (set before numpy loads; threaded OpenBLAS makes the
# small banded solves of the interpolation pathologically slow on a busy machine)
for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402 - after the thread settings above
import soundfile as sf  # noqa: E402

from dsp.declick import ClickRepairer  # noqa: E402
from dsp.stream import run_processor  # noqa: E402

ANCHORS = {"adeclick": "adeclick", "adeclick m=s:t=4": "adeclick=m=s:t=4"}


def _metrics_module(corpus: Path) -> Any:
    for cand in (corpus.parent / "clicks", Path(__file__).resolve().parents[2] / "shared" / "bench" / "clicks"):
        if (cand / "click_metrics.py").exists():
            sys.path.insert(0, str(cand))
            import click_metrics

            return click_metrics
    raise SystemExit("click_metrics.py not found: pass --metrics DIR (the shared bench's clicks folder)")


def changed_regions(y: np.ndarray, x: np.ndarray, sr: int, tol: float = 1e-4) -> list[tuple[int, int]]:
    """Stretches where the output differs from the input (gaps under 1 ms merged)."""
    diff = np.abs(y.astype(np.float64) - x.astype(np.float64))
    idx = np.flatnonzero(diff > tol)
    if idx.size == 0:
        return []
    gap = max(1, int(0.001 * sr))
    breaks = np.flatnonzero(np.diff(idx) > gap)
    starts = np.concatenate([[idx[0]], idx[breaks + 1]])
    ends = np.concatenate([idx[breaks], [idx[-1]]]) + 1
    return [(int(a), int(b)) for a, b in zip(starts, ends, strict=True)]


def run_hush(x: np.ndarray, sr: int, mult: float, length: float) -> tuple[np.ndarray, list[tuple[int, int]], float]:
    proc = ClickRepairer(sr, 1, detection_mult=mult, click_len_ms=length)
    t0 = time.process_time()
    y = run_processor(proc, x.astype(np.float32))
    cpu = time.process_time() - t0
    det = proc.detections()
    events = [(round(o * sr), round((o + n) * sr)) for o, n in zip(det.onsets_s, det.lengths_s, strict=True)]
    return y, events, cpu


def run_ffmpeg(x: np.ndarray, sr: int, filt: str, tmp: Path) -> np.ndarray:
    src, dst = tmp / "in.wav", tmp / "out.wav"
    sf.write(src, x, sr, subtype="FLOAT")
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-i", str(src), "-af", filt, "-c:a", "pcm_f32le", str(dst)], check=True
    )
    y, _ = sf.read(dst, dtype="float32")
    return y[: x.size] if y.size >= x.size else np.pad(y, (0, x.size - y.size))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, required=True)
    ap.add_argument("--mult", type=float, default=8.0)
    ap.add_argument("--len", type=float, default=10.0)
    ap.add_argument("--no-anchors", action="store_true", help="Hush only (faster iterations)")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    cm = _metrics_module(args.corpus)
    manifest = json.loads((args.corpus / "manifest.json").read_text())
    anchors = {} if args.no_anchors or shutil.which("ffmpeg") is None else ANCHORS
    methods = ["hush", *anchors]
    rows: list[dict[str, Any]] = []
    speed = {"audio_s": 0.0, "cpu_s": 0.0}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        for item in manifest["items"]:
            x, sr = sf.read(args.corpus / item["file"], dtype="float32")
            clean, _ = sf.read(args.corpus / item["clean"], dtype="float32")
            base_sdr = cm.si_sdr(x, clean)
            for m in methods:
                if m == "hush":
                    y, events, cpu = run_hush(x, sr, args.mult, args.len)
                    if sr == 48000:
                        speed["audio_s"] += x.size / sr
                        speed["cpu_s"] += cpu
                else:
                    y = run_ffmpeg(x, sr, anchors[m], tmp)
                    events = []
                dets = changed_regions(y, x, sr)
                match = cm.match(dets, item["clicks"], sr)
                chance = cm.match(cm.shifted(dets, sr), item["clicks"], sr)
                row = {
                    "id": item["id"],
                    "method": m,
                    "cond": item["cond"],
                    "content": item["content"],
                    "sr": sr,
                    "match": match,
                    "chance_hit": chance["hit"],
                    "d_sisdr": cm.si_sdr(y, clean) - base_sdr,
                }
                if m == "hush":
                    row["own"] = cm.match(events, item["clicks"], sr)
                rows.append(row)
        harm: list[dict[str, Any]] = []
        for base in manifest["bases"]:
            c, sr = sf.read(args.corpus / base["file"], dtype="float32")
            for m in methods:
                y = run_hush(c, sr, args.mult, args.len)[0] if m == "hush" else run_ffmpeg(c, sr, anchors[m], tmp)
                minutes = c.size / sr / 60
                harm.append(
                    {
                        "id": base["id"],
                        "method": m,
                        "content": base["content"],
                        "sisdr": cm.si_sdr(y, c),
                        "false_per_min": len(changed_regions(y, c, sr)) / minutes,
                    }
                )
    report(rows, harm, speed, methods)
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "harm": harm, "speed": speed}, indent=1))


def _pr(rows: list[dict[str, Any]], kinds: set[str] | None = None, key: str = "match") -> tuple[float, float, float]:
    n_det = sum(r[key]["n_det"] for r in rows)
    tp = sum(r[key]["tp_det"] for r in rows)
    hit = n_true = 0
    for r in rows:
        for kind, (h, n) in r[key]["per_kind"].items():
            if kinds is None or kind in kinds:
                hit += h
                n_true += n
    chance = sum(r["chance_hit"] for r in rows) / max(sum(r[key]["n_true"] for r in rows), 1)
    return tp / max(n_det, 1), hit / max(n_true, 1), chance


def report(rows: list[dict[str, Any]], harm: list[dict[str, Any]], speed: dict[str, float], methods: list[str]) -> None:
    impulsive = {"spike", "pop", "mouth"}
    print("| method | precision (all) | recall impulsive (≤3 ms) | recall keyboard | chance recall |")
    print("|---|---|---|---|---|")
    for m in methods:
        rs = [r for r in rows if r["method"] == m]
        p, r_imp, chance = _pr(rs, impulsive)
        _, r_key, _ = _pr(rs, {"key"})
        print(f"| {m} | {p:.2f} | {r_imp:.2f} | {r_key:.2f} | {chance:.2f} |")
        if m == "hush":
            p2, r2, _ = _pr(rs, impulsive, key="own")
            _, k2, _ = _pr(rs, {"key"}, key="own")
            print(f"| hush (own event list) | {p2:.2f} | {r2:.2f} | {k2:.2f} | |")
    print("\n| method | ΔSI-SDR crackle | pops | keyboard | mixed | worst file |")
    print("|---|---|---|---|---|---|")
    for m in methods:
        rs = [r for r in rows if r["method"] == m]
        by = {
            c: float(np.median([r["d_sisdr"] for r in rs if r["cond"] == c]))
            for c in ("crackle", "pops", "keyboard", "mixed")
        }
        worst = min(rs, key=lambda r: r["d_sisdr"])
        print(
            f"| {m} | {by['crackle']:+.1f} | {by['pops']:+.1f} | {by['keyboard']:+.1f} | {by['mixed']:+.1f} | "
            f"{worst['d_sisdr']:+.1f} ({worst['id']}) |"
        )
    print(
        "\n| method | clean speech SI-SDR median / min | false detections per min (speech) "
        "| music SI-SDR median / min | per min (music) |"
    )
    print("|---|---|---|---|---|")
    for m in methods:
        hs = [h for h in harm if h["method"] == m and h["content"] == "speech"]
        hm = [h for h in harm if h["method"] == m and h["content"] == "music"]

        def med(v: list[dict[str, Any]], k: str) -> float:
            return float(np.median([h[k] for h in v]))

        print(
            f"| {m} | {med(hs, 'sisdr'):.1f} / {min(h['sisdr'] for h in hs):.1f} | {med(hs, 'false_per_min'):.1f} | "
            f"{med(hm, 'sisdr'):.1f} / {min(h['sisdr'] for h in hm):.1f} | {med(hm, 'false_per_min'):.1f} |"
        )
    if speed["cpu_s"]:
        print(f"\nHush speed at 48 kHz, one core: {speed['audio_s'] / speed['cpu_s']:.0f}× real time")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
