"""Click-repair benchmark: Hush side by side with ffmpeg ``adeclick`` (defaults and ``m=s:t=4``).

    python bench/declick.py --corpus /tmp/hushbench/clicks [--methods hush,adeclick,adeclick_s4] [--json run.json]

Reads the corpus written by the shared ``gen_click_corpus.py`` (``manifest.json``: clean bases,
clicked files, every click's onset and length) and scores with the shared ``click_metrics.py``
(imported by path from ``--metrics``, not copied). Per method:

* detection precision / recall at +-2 ms, per click kind, and the chance recall (detections
  moved by 50 ms). Hush's detections are its reported events; adeclick reports none, so its
  detections are the regions where its output differs from its input (gaps under 1 ms merged);
* delta SI-SDR against the clean base per condition, and the worst file;
* on the click-free bases: SI-SDR of the output against the input and false detections per minute;
* speed: audio seconds per CPU second on one core at 48 kHz (Hush, streamed as ``python -m dsp``
  streams it; BLAS on one thread, best of three runs) on click-free white noise, and the median
  and slowest over the corpus's clicked 48 kHz files and over its click-free 48 kHz bases (one
  run each; on the first every event found costs a model fit, a re-check and a repair);
* Hush's missed clicks per kind, by the guard that spared the candidate on them (or ``below``
  when the residual never crossed the threshold there).

Then each target is printed as ``ok`` or ``MISSED`` with its figures.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import soundfile as sf
from threadpoolctl import threadpool_limits

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from dsp.declick import ClickRepairer  # noqa: E402
from dsp.stream import run_blocks  # noqa: E402

IMPULSIVE = ("spike", "pop", "mouth")
METHODS = ("hush", "adeclick", "adeclick_s4")
ADECLICK = {"adeclick": "adeclick", "adeclick_s4": "adeclick=m=s:t=4"}


def _load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("click_metrics", path)
    assert spec is not None
    assert spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


TRACES: list[list[tuple[int, int, str]]] = []  # the last Hush run's spared candidates (for --misses)


def run_hush(x: np.ndarray, sr: int, mult: float, click_len: float) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Hush streamed in 65536-sample blocks; output and detected ``(start, end)`` sample pairs."""
    x2 = x[None, :] if x.ndim == 1 else x.T
    proc = ClickRepairer(sr, x2.shape[0], detection_mult=mult, click_len_ms=click_len, keep_events=True)
    proc._trace = []
    blocks = (x2[:, i : i + 65536] for i in range(0, x2.shape[-1], 65536))
    y = np.concatenate(list(run_blocks(proc, blocks)), axis=-1)
    dets = [(round(e.onset_s * sr), round((e.onset_s + e.length_s) * sr)) for e in proc.events]
    TRACES[:] = [proc._trace]
    return (y[0] if x.ndim == 1 else y.T), dets


def miss_verdicts(dets: list[tuple[int, int]], clicks: list[dict[str, Any]], sr: int) -> list[tuple[str, str]]:
    """``(kind, verdict)`` per click Hush missed: the guard that last spared a candidate on it, or ``below``.

    Verdicts: ``one-sided``, ``not-isolated``, ``pitch``, ``onset``, ``level-rise``, ``weak``
    (re-check failed), ``long``, ``mid-length``, ``crowded`` (a coarse-scale candidate that is not
    isolated would be clamped, not interpolated), ``burst-guard``, ``burst-kept``, ``to-silence``,
    ``tonal-long`` (a tonal-pass event longer than it repairs), ``in-mid`` (a side-pass event no
    stronger in the side than in the mid; stereo only);
    ``below`` when no candidate came within 2 ms.
    """
    tol = round(0.002 * sr)
    out = []
    for c in clicks:
        s0, s1 = c["start"], c["start"] + c["len"]
        if any(a - tol <= s1 and s0 <= b + tol for a, b in dets):
            continue
        vs = [t[2] for t in TRACES[0] if t[0] - tol <= s1 and s0 <= t[1] + tol]
        out.append((c["kind"], vs[-1] if vs else "below"))
    return out


def run_ffmpeg(x: np.ndarray, sr: int, filt: str) -> np.ndarray:
    """ffmpeg with one audio filter, float32 WAV in and out."""
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = os.path.join(tmp, "in.wav"), os.path.join(tmp, "out.wav")
        sf.write(src, x, sr, subtype="FLOAT")
        subprocess.run(
            ["ffmpeg", "-v", "error", "-y", "-i", src, "-af", filt, "-c:a", "pcm_f32le", dst],
            check=True,
        )
        y, _ = sf.read(dst, dtype="float32")
    n = x.shape[0]
    if y.shape[0] < n:
        y = np.concatenate([y, np.zeros((n - y.shape[0], *y.shape[1:]), np.float32)])
    return y[:n]


def changed_regions(y: np.ndarray, x: np.ndarray, sr: int, thr: float = 1e-4) -> list[tuple[int, int]]:
    """Regions where ``y`` departs from ``x`` by more than ``thr``, gaps under 1 ms merged."""
    d = np.flatnonzero(np.abs(y.astype(np.float64) - x) > thr)
    if d.size == 0:
        return []
    gap = max(1, sr // 1000)
    br = np.flatnonzero(np.diff(d) > gap)
    starts = np.concatenate([[d[0]], d[br + 1]])
    ends = np.concatenate([d[br], [d[-1]]]) + 1
    return list(zip(starts.tolist(), ends.tolist(), strict=True))


def process(method: str, x: np.ndarray, sr: int, args: argparse.Namespace) -> tuple[np.ndarray, list[tuple[int, int]]]:
    if method == "hush":
        return run_hush(x, sr, args.detection_mult, args.click_len)
    y = run_ffmpeg(x, sr, ADECLICK[method])
    return y, changed_regions(y, x, sr)


def evaluate(args: argparse.Namespace) -> dict[str, Any]:
    cm = _load(Path(args.metrics))
    root = Path(args.corpus)
    man = json.loads((root / "manifest.json").read_text())
    methods = args.methods.split(",")
    rows: list[dict[str, Any]] = []
    misses: dict[str, dict[str, int]] = {}
    clean_rates = []  # Hush's speed on the click-free 48 kHz bases (real-like content, no clicks)
    for base in man["bases"]:
        c, sr = sf.read(root / base["file"], dtype="float32")
        for m in methods:
            if m == "hush" and sr == 48000 and args.speed_s > 0:
                with threadpool_limits(1):
                    t0 = time.process_time()
                    y, dets = process(m, c, sr, args)
                    clean_rates.append(c.shape[0] / sr / max(time.process_time() - t0, 1e-9))
            else:
                y, dets = process(m, c, sr, args)
            rows.append(
                {
                    "method": m,
                    "id": base["id"],
                    "content": base["content"],
                    "clean": True,
                    "sr": sr,
                    "si_sdr": cm.si_sdr(y, c),
                    "n_det": len(dets),
                    "minutes": len(c) / sr / 60,
                }
            )
            print(f"  {m:12s} {base['id']:22s} clean SI-SDR {rows[-1]['si_sdr']:6.1f}  dets {len(dets)}", flush=True)
    rates = []  # Hush's speed on the clicked 48 kHz files, from the runs scored here
    for item in man["items"]:
        x, sr = sf.read(root / item["file"], dtype="float32")
        c, _ = sf.read(root / item["clean"], dtype="float32")
        for m in methods:
            if m == "hush" and sr == 48000 and args.speed_s > 0:
                with threadpool_limits(1):  # one core, as the speed line below
                    t0 = time.process_time()
                    y, dets = process(m, x, sr, args)
                    rates.append(x.shape[0] / sr / max(time.process_time() - t0, 1e-9))
            else:
                y, dets = process(m, x, sr, args)
            mt = cm.match(dets, item["clicks"], sr)
            ch = cm.match(cm.shifted(dets, sr), item["clicks"], sr)
            d = cm.si_sdr(y, c) - cm.si_sdr(x, c)
            if m == "hush":
                for kind, verdict in miss_verdicts(dets, item["clicks"], sr):
                    misses.setdefault(kind, {}).setdefault(verdict, 0)
                    misses[kind][verdict] += 1
            rows.append(
                {
                    "method": m,
                    "id": item["id"],
                    "content": item["content"],
                    "cond": item["cond"],
                    "clean": False,
                    "sr": sr,
                    "delta": d,
                    "match": mt,
                    "chance": ch,
                }
            )
            print(
                f"  {m:12s} {item['id']:26s} dSI-SDR {d:+6.2f}  P {mt['tp_det']}/{mt['n_det']}  "
                f"R {mt['hit']}/{mt['n_true']}",
                flush=True,
            )
    speed = {}
    if "hush" in methods and args.speed_s > 0:
        rng = np.random.default_rng(0)
        x = (0.05 * rng.standard_normal(48000 * args.speed_s)).astype(np.float32)
        best = float("inf")
        with threadpool_limits(1):  # one core: CPU time of BLAS threads would add up otherwise
            for _ in range(3):
                t0 = time.process_time()
                run_hush(x, 48000, args.detection_mult, args.click_len)
                best = min(best, time.process_time() - t0)
        speed["hush_48k_x_realtime"] = args.speed_s / max(best, 1e-9)
        # the clicked 48 kHz files, timed as they were scored: every event found costs an AR fit,
        # a re-check and an interpolation, so clicky audio runs slower than click-free noise
        if rates:
            speed["hush_48k_clicked_median_x_realtime"] = float(np.median(rates))
            speed["hush_48k_clicked_min_x_realtime"] = float(np.min(rates))
        if clean_rates:  # music and speech, whose sub-bar bumps cost the refined search its re-checks
            speed["hush_48k_clean_median_x_realtime"] = float(np.median(clean_rates))
            speed["hush_48k_clean_min_x_realtime"] = float(np.min(clean_rates))
    return {"rows": rows, "speed": speed, "methods": methods, "misses": misses}


def _pr(rows: list[dict[str, Any]], kinds: tuple[str, ...]) -> tuple[float, float, float]:
    """Precision over every detection, recall and chance recall over clicks of ``kinds``."""
    tp = sum(r["match"]["tp_det"] for r in rows)
    nd = sum(r["match"]["n_det"] for r in rows)
    hit = sum(r["match"]["per_kind"].get(k, [0, 0])[0] for r in rows for k in kinds)
    tot = sum(r["match"]["per_kind"].get(k, [0, 0])[1] for r in rows for k in kinds)
    ch = sum(r["chance"]["per_kind"].get(k, [0, 0])[0] for r in rows for k in kinds)
    return tp / max(nd, 1), hit / max(tot, 1), ch / max(tot, 1)


def report(res: dict[str, Any]) -> None:
    rows = res["rows"]
    print(
        "\n| method | P imp. | R imp. | chance R | R key | dSI-SDR crackle | pops | keyboard | mixed "
        "| worst file | clean SI-SDR med/min | false det/min speech | music |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    summary = {}
    for m in res["methods"]:
        r_m = [r for r in rows if r["method"] == m and not r["clean"]]
        imp = [r for r in r_m if r["cond"] in ("crackle", "pops", "mixed")]
        p, rec, ch = _pr(imp, IMPULSIVE)
        _, rkey, _ = _pr([r for r in r_m if r["cond"] in ("keyboard", "mixed")], ("key",))
        dl = {
            c: float(np.median([r["delta"] for r in r_m if r["cond"] == c]))
            for c in ("crackle", "pops", "keyboard", "mixed")
        }
        worst = min(r["delta"] for r in r_m)
        cl = [r for r in rows if r["method"] == m and r["clean"]]
        sis = [r["si_sdr"] for r in cl]
        fdm = {
            k: sum(r["n_det"] for r in cl if r["content"] == k) / sum(r["minutes"] for r in cl if r["content"] == k)
            for k in ("speech", "music")
        }
        summary[m] = {
            "p": p,
            "r": rec,
            "chance": ch,
            "rkey": rkey,
            **dl,
            "worst": worst,
            "clean_med": float(np.median(sis)),
            "clean_min": float(np.min(sis)),
            **{f"fd_{k}": v for k, v in fdm.items()},
        }
        s = summary[m]
        print(
            f"| {m} | {p:.2f} | {rec:.2f} | {ch:.2f} | {rkey:.2f} | {dl['crackle']:+.1f} | {dl['pops']:+.1f} "
            f"| {dl['keyboard']:+.1f} | {dl['mixed']:+.1f} | {worst:+.1f} "
            f"| {s['clean_med']:.1f} / {s['clean_min']:.1f} | {fdm['speech']:.1f} | {fdm['music']:.1f} |"
        )
    print("\n(dSI-SDR: median over the 10 files of each condition; P over all detections on crackle, pops, mixed)")
    if res.get("misses"):
        print("\nHush's missed clicks by kind, and what spared them:")
        for kind, vs in sorted(res["misses"].items()):
            print(f"  {kind:6s} " + "  ".join(f"{v} {n}" for v, n in sorted(vs.items(), key=lambda kv: -kv[1])))
    if "hush" in summary:
        s = summary["hush"]
        speed = res["speed"].get("hush_48k_x_realtime", float("nan"))
        targets = [
            ("impulsive precision >= 0.8", s["p"] >= 0.8, f"{s['p']:.2f}"),
            ("impulsive recall >= 0.85", s["r"] >= 0.85, f"{s['r']:.2f}"),
            ("chance recall <= 0.1", s["chance"] <= 0.1, f"{s['chance']:.2f}"),
            ("keyboard recall >= 0.9", s["rkey"] >= 0.9, f"{s['rkey']:.2f}"),
            ("dSI-SDR crackle >= +8 dB", s["crackle"] >= 8, f"{s['crackle']:+.1f}"),
            ("dSI-SDR pops >= +4 dB", s["pops"] >= 4, f"{s['pops']:+.1f}"),
            ("dSI-SDR keyboard >= +2 dB", s["keyboard"] >= 2, f"{s['keyboard']:+.1f}"),
            ("no file worse than -0.5 dB", s["worst"] >= -0.5, f"{s['worst']:+.2f}"),
            ("clean SI-SDR median >= 60 dB", s["clean_med"] >= 60, f"{s['clean_med']:.1f}"),
            ("clean SI-SDR min >= 45 dB", s["clean_min"] >= 45, f"{s['clean_min']:.1f}"),
            ("false detections speech <= 30/min", s["fd_speech"] <= 30, f"{s['fd_speech']:.1f}"),
            ("false detections music <= 10/min", s["fd_music"] <= 10, f"{s['fd_music']:.1f}"),
            (">= 100x real time at 48 kHz", speed >= 100, f"{speed:.0f}x" if speed == speed else "not measured"),
        ]
        clicked = res["speed"].get("hush_48k_clicked_median_x_realtime")
        if clicked is not None:
            print(
                f"\nHush's speed on the corpus's clicked 48 kHz files (one run each, one core): median "
                f"{clicked:.0f}x, slowest {res['speed']['hush_48k_clicked_min_x_realtime']:.0f}x real time "
                f"(the target line below is click-free noise)"
            )
        clean = res["speed"].get("hush_48k_clean_median_x_realtime")
        if clean is not None:
            print(
                f"Hush's speed on the corpus's click-free 48 kHz bases (one run each, one core): median "
                f"{clean:.0f}x, slowest {res['speed']['hush_48k_clean_min_x_realtime']:.0f}x real time"
            )
        print("\nHush targets:")
        for name, ok, fig in targets:
            verdict = "ok    " if ok else ("-     " if fig == "not measured" else "MISSED")
            print(f"  {verdict} {name}: {fig}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", help="directory with manifest.json from gen_click_corpus.py")
    ap.add_argument("--metrics", default=str(REPO.parent / "shared" / "bench" / "clicks" / "click_metrics.py"))
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--detection-mult", type=float, default=8.0)
    ap.add_argument("--click-len", type=float, default=10.0)
    ap.add_argument("--speed-s", type=int, default=30)
    ap.add_argument("--json", help="save the per-file scores here")
    ap.add_argument("--load", help="print the tables again from a saved run")
    args = ap.parse_args()
    if args.load:
        res = json.loads(Path(args.load).read_text())
    else:
        if not args.corpus:
            ap.error("--corpus is required (or --load)")
        res = evaluate(args)
        if args.json:
            Path(args.json).write_text(
                json.dumps(res, default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o))
            )
    report(res)
    return 0


if __name__ == "__main__":
    sys.exit(main())
