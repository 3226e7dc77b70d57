"""Voice activity detection benchmark: Hush vs webrtcvad (modes 0-3) vs Silero VAD.

Reads the corpus written by ``shared/bench/vad/gen_vad_corpus.py`` (clean files + exact truth);
the noisy mixtures are rebuilt on the fly by the shared corpus module, and scored with the
shared metric definitions (10 ms frame F1 and false-alarm rate, boundary errors). Both modules
are imported from the shared folder by path, not copied.

    python bench/vad.py --corpus /tmp/hushbench/vad                      # everything
    python bench/vad.py --corpus DIR --systems hush --items 3 --snrs 0 10   # a quick subset

Bench-only dependencies: bench/requirements-vad.txt.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from scipy.signal import resample_poly
from threadpoolctl import threadpool_limits

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dsp.vad import SpeechDetector  # noqa: E402

DEFAULT_SHARED = ROOT.parent / "shared" / "bench" / "vad"
BLOCK = 65536  # the CLI's block size: Hush is measured on its streaming path
Segs = list[tuple[float, float]]


def load_shared(shared: Path) -> tuple[Any, Any]:
    """Import the shared corpus and metrics modules by path."""
    sys.path.insert(0, str(shared))
    return importlib.import_module("corpus"), importlib.import_module("metrics")


# ---------------------------------------------------------------- systems
def run_hush(x: np.ndarray, sr: int, **kw: Any) -> Segs:
    det = SpeechDetector(sr, 1, **kw)
    for i in range(0, x.size, BLOCK):
        det.process(x[np.newaxis, i : i + BLOCK])
    return det.finish()


def run_hush_silero(x: np.ndarray, sr: int) -> Segs:
    """Hush's own Silero engine (``app.jobs.engines``, onnxruntime, no torch), in blocks."""
    from app.jobs.engines import SileroSpeechDetector

    det = SileroSpeechDetector(sr, 1)
    for i in range(0, x.size, BLOCK):
        det.process(x[np.newaxis, i : i + BLOCK])
    return det.finish()


def mask_to_segs(mask: np.ndarray, hop_s: float) -> Segs:
    d = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return [(s * hop_s, e * hop_s) for s, e in zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1), strict=True)]


def run_webrtc(x: np.ndarray, sr: int, mode: int) -> Segs:
    import webrtcvad

    vad = webrtcvad.Vad(mode)
    pcm = (np.clip(x, -1, 1) * 32767).astype("<i2")
    n = sr // 100  # 10 ms frames
    m = pcm.size // n
    raw = pcm[: m * n].tobytes()
    step = 2 * n
    dec = np.fromiter((vad.is_speech(raw[i * step : (i + 1) * step], sr) for i in range(m)), bool, m)
    return mask_to_segs(dec, 0.01)


_SILERO: dict[str, Any] = {}


def run_silero(x: np.ndarray, sr: int) -> Segs:
    import torch
    from silero_vad import get_speech_timestamps, load_silero_vad

    if "model" not in _SILERO:
        torch.set_num_threads(1)
        _SILERO["model"] = load_silero_vad()
    model = _SILERO["model"]
    if sr not in (8000, 16000):
        g = np.gcd(sr, 16000)
        x = resample_poly(x, 16000 // g, sr // g).astype(np.float32)
        sr = 16000
    ts = get_speech_timestamps(
        torch.from_numpy(np.ascontiguousarray(x)), model, sampling_rate=sr, return_seconds=True, time_resolution=3
    )
    return [(float(t["start"]), float(t["end"])) for t in ts]


def systems(names: list[str], hush_kw: dict[str, Any] | None = None) -> dict[str, Callable[[np.ndarray, int], Segs]]:
    table: dict[str, Callable[[np.ndarray, int], Segs]] = {
        "hush": lambda x, sr: run_hush(x, sr, **(hush_kw or {})),
        "silero": run_silero,
        "hush_silero": run_hush_silero,
    }
    for mode in range(4):
        table[f"webrtc{mode}"] = lambda x, sr, mode=mode: run_webrtc(x, sr, mode)
    return {n: table[n] for n in names}


# ---------------------------------------------------------------- evaluation
def _one_thread() -> None:
    """Worker initializer: BLAS on one thread, so the pool's two workers use two cores."""
    threadpool_limits(1)


def eval_item(
    args: tuple[str, str, dict[str, Any], list[tuple[str, Any]], list[str], dict[str, Any]],
) -> list[dict[str, Any]]:
    corpus_dir, shared, item, conds, names, hush_kw = args
    corpus_mod, metrics = load_shared(Path(shared))
    c = corpus_mod.Corpus(corpus_dir)
    clean = c.clean(item)
    out = []
    for kind, snr in conds:
        x = c.mixture(item, kind, snr, clean)
        for name, fn in systems(names, hush_kw).items():
            pred = fn(x, item["sr"])
            r = metrics.evaluate(pred, item["truth"], item["duration"])
            r.update({"system": name, "kind": kind, "snr": snr, "sr": item["sr"], "id": item["id"]})
            out.append(r)
    return out


def speed(corpus_dir: str, shared: str, names: list[str], seconds: float) -> dict[str, float]:
    """Audio seconds per CPU second at 16 kHz on one core (process time, best of 3)."""
    corpus_mod, _ = load_shared(Path(shared))
    c = corpus_mod.Corpus(corpus_dir)
    item = max((it for it in c.items if it["sr"] == 16000), key=lambda it: it["duration"])
    x = c.mixture(item, "pink", 10)
    x = np.tile(x, int(np.ceil(seconds * 16000 / x.size)))[: int(seconds * 16000)]
    res = {}
    for name, fn in systems(names).items():
        fn(x[:16000], 16000)  # warm-up (imports, model load)
        best = np.inf
        for _ in range(3):
            t0 = time.process_time()
            fn(x, 16000)
            best = min(best, time.process_time() - t0)
        res[name] = x.size / 16000 / best
    return res


def table(
    rows: list[dict[str, Any]], names: list[str], metrics: Any, key: Callable[[dict[str, Any]], Any], title: str
) -> str:
    groups: dict[Any, dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for r in rows:
        k = key(r)
        if k is not None:
            groups[k][r["system"]].append(r)
    lines = [
        f"\n### {title} (F1 / FAR)\n",
        "| " + title + " | " + " | ".join(names) + " |",
        "|---" * (len(names) + 1) + "|",
    ]
    for k in sorted(groups, key=lambda z: (str(type(z)), z)):
        cells = []
        for n in names:
            if groups[k][n]:
                s = metrics.summarize(groups[k][n])
                cells.append(f"{s['F1']:.3f} / {s['FAR']:.3f}")
            else:
                cells.append("-")
        lines.append(f"| {k} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", required=True, help="directory written by gen_vad_corpus.py")
    ap.add_argument("--shared", default=str(DEFAULT_SHARED), help="shared/bench/vad (corpus + metrics modules)")
    ap.add_argument("--systems", nargs="+", default=["hush", "webrtc0", "webrtc1", "webrtc2", "webrtc3", "silero"])
    ap.add_argument("--items", type=int, default=0, help="use only the first N files per rate (0 = all)")
    ap.add_argument("--kinds", nargs="+", default=None, help="noise types (plus 'clean') to run")
    ap.add_argument("--snrs", nargs="+", type=int, default=None, help="SNRs to run")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--hush-kw", default="{}", help="JSON keyword arguments for SpeechDetector (tuning)")
    ap.add_argument("--speed-s", type=float, default=300.0, help="length of the speed test; 0 skips it")
    ap.add_argument("--json", default=None, help="write the per-file records here")
    a = ap.parse_args()

    corpus_mod, metrics = load_shared(Path(a.shared))
    c = corpus_mod.Corpus(a.corpus)
    conds = [
        (k, s)
        for k, s in corpus_mod.conditions()
        if (a.kinds is None or k in a.kinds) and (s is None or a.snrs is None or s in a.snrs)
    ]
    items = c.items
    if a.items:
        per: dict[int, int] = defaultdict(int)
        items = [it for it in items if (per.__setitem__(it["sr"], per[it["sr"]] + 1) or per[it["sr"]] <= a.items)]
    t0 = time.time()
    jobs = [(a.corpus, a.shared, it, conds, a.systems, json.loads(a.hush_kw)) for it in items]
    rows: list[dict[str, Any]] = []
    with ProcessPoolExecutor(a.jobs, initializer=_one_thread) as ex:
        for part in ex.map(eval_item, jobs):
            rows.extend(part)
    hours = sum(it["duration"] for it in items) * len(conds) / 3600
    print(
        f"# VAD benchmark: {len(items)} files x {len(conds)} conditions = {hours:.2f} h per system "
        f"({time.time() - t0:.0f} s wall)"
    )
    names = a.systems
    print(table(rows, names, metrics, lambda r: "all", "overall"))
    print(table(rows, names, metrics, lambda r: "all but babble" if r["kind"] != "babble" else None, "no babble"))
    print(
        table(
            rows,
            names,
            metrics,
            lambda r: "clean" if r["kind"] == "clean" else f"{r['kind']}@{r['snr']}dB",
            "condition",
        )
    )
    print(table(rows, names, metrics, lambda r: r["kind"], "noise type"))
    print(table(rows, names, metrics, lambda r: None if r["snr"] is None else f"{r['snr']} dB", "SNR"))
    print(table(rows, names, metrics, lambda r: f"{r['sr']} Hz", "rate"))
    print("\n### boundary error (median |error| over onsets and offsets, ms; segments per truth; missed)\n")
    print("| system | median ms | onset ms | offset ms | seg ratio | missed |\n|---|---|---|---|---|---|")
    for n in names:
        s = metrics.summarize([r for r in rows if r["system"] == n])
        print(
            f"| {n} | {s['bnd_med_ms']:.0f} | {s['on_med_ms']:.0f} | {s['off_med_ms']:.0f} "
            f"| {s['seg_ratio']:.2f} | {s['seg_miss']:.3f} |"
        )
    if a.speed_s > 0:
        with threadpool_limits(1):  # one core: BLAS (and torch, set in run_silero) on one thread
            sp = speed(a.corpus, a.shared, names, a.speed_s)
        print("\n### speed at 16 kHz, one core (audio seconds per CPU second)\n")
        print("| system | x real time |\n|---|---|")
        for n, v in sp.items():
            print(f"| {n} | {v:.0f} |")
    if a.json:
        Path(a.json).write_text(json.dumps(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
