"""Denoiser benchmark: Hush side by side with noisereduce, RNNoise and ffmpeg afftdn.

    python bench/denoise.py --corpus /tmp/hushbench/dev [--limit 40] [--jobs 2] [--speed-s 60] [--json run.json]
    python bench/denoise.py --load run.json        # the tables again, from a saved run

Reads the corpus written by the shared ``make_corpus.py`` (``manifest.json``), runs every
method on every item, aligns each output to the noisy input (integer lag from
cross-correlation, searched over 0..60 ms, so RNNoise's and afftdn's delays are removed),
scores PESQ-WB, STOI and SI-SDR with the shared ``metrics.py`` (imported by path, not copied)
and prints means per noise type, per SNR, and overall, then each quality target of the issue as
``ok`` or ``MISSED`` with its numbers. A speed section measures audio seconds
per CPU second on one core at 16 and 48 kHz for noisereduce (stationary), a bare STFT + inverse
STFT with Hush's frame settings, and Hush itself, and the ratios between them; then Hush's stages
alone (the OM-LSA core, the click suppressor, the hum remover) as multiples of the bare round trip.
"""

from __future__ import annotations

import argparse
import ctypes
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import soundfile as sf
from scipy import signal

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from dsp.clicks import ClickSuppressor  # noqa: E402
from dsp.denoise import NoiseReducer, reduce_noise  # noqa: E402
from dsp.hum import HumRemover  # noqa: E402
from dsp.spectral import StftStream, frame_settings  # noqa: E402
from dsp.stream import run_processor  # noqa: E402

DEFAULT_METRICS = REPO.parent / "shared" / "bench" / "metrics.py"
METHODS = ["noisy", "nr_stat", "nr_nonstat", "rnnoise", "afftdn", "afftdn_tuned", "hush"]
MAX_LAG_S = 0.06


def load_metrics(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("hush_bench_metrics", path)
    assert spec is not None
    assert spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


# ---------------------------------------------------------------- methods
def run_noisereduce(x: np.ndarray, sr: int, stationary: bool) -> np.ndarray:
    import noisereduce

    return np.asarray(noisereduce.reduce_noise(y=x, sr=sr, stationary=stationary, n_jobs=1), np.float32)


def run_rnnoise(x: np.ndarray, sr: int) -> np.ndarray:
    from pyrnnoise import rnnoise

    y48 = signal.resample_poly(x.astype(np.float64), 48000, sr) if sr != 48000 else x.astype(np.float64)
    frame = rnnoise.FRAME_SIZE
    n = y48.size
    pad = np.zeros(-(-n // frame) * frame, np.float32)
    pad[:n] = y48 * 32768.0
    out = np.empty_like(pad)
    state = rnnoise.create()
    try:
        for i in range(0, pad.size, frame):
            buf = np.ascontiguousarray(pad[i : i + frame])
            ptr = buf.ctypes.data_as(ctypes.POINTER(ctypes.c_float))
            rnnoise.lib.rnnoise_process_frame(state, ptr, ptr)
            out[i : i + frame] = buf
    finally:
        rnnoise.destroy(state)
    y = out[:n].astype(np.float64) / 32768.0
    if sr != 48000:
        y = signal.resample_poly(y, sr, 48000)
    return np.asarray(y[: x.size], np.float32)


def run_afftdn(x: np.ndarray, sr: int, opts: str) -> np.ndarray:
    with tempfile.TemporaryDirectory() as td:
        src, dst = Path(td) / "in.wav", Path(td) / "out.wav"
        sf.write(src, x, sr, subtype="FLOAT")
        filt = "afftdn" + (f"={opts}" if opts else "")
        subprocess.run(
            [
                "ffmpeg",
                "-nostdin",
                "-y",
                "-loglevel",
                "error",
                "-threads",
                "1",
                "-i",
                str(src),
                "-af",
                filt,
                "-c:a",
                "pcm_f32le",
                str(dst),
            ],
            check=True,
        )
        y, _ = sf.read(dst, dtype="float32")
    return np.asarray(y, np.float32)


def run_method(name: str, x: np.ndarray, sr: int) -> np.ndarray:
    runners: dict[str, Callable[[], np.ndarray]] = {
        "noisy": lambda: x,
        "nr_stat": lambda: run_noisereduce(x, sr, True),
        "nr_nonstat": lambda: run_noisereduce(x, sr, False),
        "rnnoise": lambda: run_rnnoise(x, sr),
        "afftdn": lambda: run_afftdn(x, sr, ""),
        "afftdn_tuned": lambda: run_afftdn(x, sr, "nr=12:nf=-25:tn=0"),
        "hush": lambda: reduce_noise(x, sr),
    }
    return runners[name]()


def align(reference: np.ndarray, est: np.ndarray, sr: int) -> tuple[np.ndarray, int]:
    """Shift ``est`` earlier by the lag (0..MAX_LAG_S) that best matches ``reference``."""
    max_lag = int(MAX_LAG_S * sr)
    n = min(reference.size, est.size)
    a = reference[:n].astype(np.float64)
    b = est[:n].astype(np.float64)
    nfft = 1 << int(np.ceil(np.log2(2 * n)))
    xc = np.fft.irfft(np.fft.rfft(b, nfft) * np.conj(np.fft.rfft(a, nfft)), nfft)[: max_lag + 1]
    lag = int(np.argmax(xc))
    out = np.zeros(reference.size, np.float32)
    m = min(reference.size, est.size - lag)
    out[:m] = est[lag : lag + m]
    return out, lag


# ---------------------------------------------------------------- scoring
def score_item(args: tuple[dict[str, Any], str, str, list[str]]) -> dict[str, Any]:
    item, corpus, metrics_path, methods = args
    met = load_metrics(Path(metrics_path))
    noisy, sr = sf.read(Path(corpus) / item["noisy"], dtype="float32")
    clean, sr_c = sf.read(Path(corpus) / item["clean"], dtype="float32")
    assert sr == sr_c
    n = min(noisy.size, clean.size)
    noisy, clean = noisy[:n], clean[:n]
    ref16 = met.resample(clean, sr, met.EVAL_SR)
    res: dict[str, Any] = {"id": item["id"], "noise_type": item["noise_type"], "snr": item["snr"], "sr": sr}
    for name in methods:
        est = run_method(name, noisy, sr)
        est, lag = align(noisy, est, sr) if name != "noisy" else (est, 0)
        est16 = met.resample(est, sr, met.EVAL_SR)
        stoi, _ = met.stoi_pair(ref16, est16)
        res[name] = {
            "pesq": met.pesq_wb(ref16, est16),
            "stoi": stoi,
            "si_sdr": met.si_sdr(clean, est),
            "lag": lag,
        }
    return res


def pick_items(items: list[dict[str, Any]], limit: int | None) -> list[dict[str, Any]]:
    """A spread subset: round-robin over (noise type, SNR, rate) cells."""
    if not limit or limit >= len(items):
        return items
    cells: dict[tuple[Any, ...], list[dict[str, Any]]] = defaultdict(list)
    for it in items:
        cells[(it["noise_type"], it["snr"])].append(it)
    keys = sorted(cells, key=lambda k: (k[0], k[1]))
    out: list[dict[str, Any]] = []
    i = 0
    while len(out) < limit:
        progressed = False
        for k in keys:
            if i < len(cells[k]) and len(out) < limit:
                out.append(cells[k][i])
                progressed = True
        if not progressed:
            break
        i += 1
    return out


def print_tables(results: list[dict[str, Any]], methods: list[str]) -> None:
    types = sorted({r["noise_type"] for r in results})
    snrs = sorted({r["snr"] for r in results})
    for metric, fmt in (("pesq", "{:6.2f}"), ("stoi", "{:6.3f}"), ("si_sdr", "{:6.2f}")):
        print(f"\n{metric.upper()} (mean; n={len(results)})")
        head = f"{'method':14s}" + "".join(f"{t[:7]:>8s}" for t in types) + f"{'mean':>8s}"
        print(head)
        for m in methods:
            row = f"{m:14s}"
            for t in types:
                v = [r[m][metric] for r in results if r["noise_type"] == t]
                row += "  " + fmt.format(np.nanmean(v))
            row += "  " + fmt.format(np.nanmean([r[m][metric] for r in results]))
            print(row)
    print("\nHush minus noisy, by SNR (dB in): dPESQ / dSTOI / dSI-SDR")
    for s in snrs:
        sub = [r for r in results if r["snr"] == s]
        d = [np.nanmean([r["hush"][k] - r["noisy"][k] for r in sub]) for k in ("pesq", "stoi", "si_sdr")]
        print(f"  snr {s:>4}: {d[0]:+.2f} / {d[1]:+.3f} / {d[2]:+.2f}   (n={len(sub)})")
    print("\nHush minus noisy, by noise type x SNR: dSI-SDR (min over cell items)")
    for t in types:
        cells = []
        for s in snrs:
            sub = [
                r["hush"]["si_sdr"] - r["noisy"]["si_sdr"] for r in results if r["noise_type"] == t and r["snr"] == s
            ]
            cells.append(f"{np.mean(sub):+6.2f}({np.min(sub):+.1f})" if sub else "   -   ")
        print(f"  {t:14s}" + " ".join(cells))
    lags = {m: sorted({r[m]["lag"] for r in results}) for m in methods}
    print("\nalignment lags found (samples):", json.dumps(lags))
    print_targets(results, methods, types)


FLOOR_ANCHORS = ["nr_stat", "nr_nonstat", "afftdn", "afftdn_tuned"]


def print_targets(results: list[dict[str, Any]], methods: list[str], types: list[str]) -> None:
    """The issue's quality floor and goals, each line ``ok`` or ``MISSED`` with the numbers."""
    if "hush" not in methods or "noisy" not in methods:
        return

    def mean(m: str, k: str, t: str | None = None) -> float:
        return float(np.nanmean([r[m][k] for r in results if t is None or r["noise_type"] == t]))

    def line(ok: bool, text: str) -> None:
        print(f"  {'ok    ' if ok else 'MISSED'} {text}")

    print("\nTARGETS")
    if "rnnoise" in methods:
        for k in ("pesq", "si_sdr"):
            h, r = mean("hush", k), mean("rnnoise", k)
            line(h >= r, f"floor: mean {k} {h:.3f} >= RNNoise {r:.3f}")
    anchors = [a for a in FLOOR_ANCHORS if a in methods]
    for t in types:
        for k in ("pesq", "si_sdr"):
            h = mean("hush", k, t)
            best = max(anchors, key=lambda a: mean(a, k, t)) if anchors else None
            if best is not None:
                b = mean(best, k, t)
                line(h > b, f"floor: {t} {k} {h:.3f} > best of noisereduce/afftdn ({best} {b:.3f})")
    d_pesq = mean("hush", "pesq") - mean("noisy", "pesq")
    d_sdr = mean("hush", "si_sdr") - mean("noisy", "si_sdr")
    line(d_pesq >= 0.40, f"goal: dPESQ {d_pesq:+.2f} >= +0.40")
    line(d_sdr >= 5.5, f"goal: dSI-SDR {d_sdr:+.2f} dB >= +5.5")
    for t in types:
        d = mean("hush", "stoi", t) - mean("noisy", "stoi", t)
        line(d >= 0, f"goal: no STOI loss on {t} ({d:+.3f})")
    cells = sorted({(r["noise_type"], r["snr"]) for r in results})
    for t, s in cells:
        sub = [r for r in results if r["noise_type"] == t and r["snr"] == s]
        d = float(np.mean([r["hush"]["si_sdr"] - r["noisy"]["si_sdr"] for r in sub]))
        if d < 0:
            line(False, f"goal: no SI-SDR loss on {t} at {s} dB ({d:+.2f} dB)")
    if "hum" in types:
        p, d = mean("hush", "pesq", "hum"), mean("hush", "si_sdr", "hum") - mean("noisy", "si_sdr", "hum")
        line(p >= 2.45 and d >= 10.0, f"goal: hum PESQ {p:.2f} >= 2.45 and {d:+.1f} dB >= +10")
    if "clicks" in types:
        d = mean("hush", "si_sdr", "clicks") - mean("noisy", "si_sdr", "clicks")
        line(d >= 8.0, f"goal: clicks {d:+.1f} dB >= +8")


# ---------------------------------------------------------------- speed
def speed(seconds: float) -> None:
    print(f"\nSPEED (audio seconds per CPU second, one core, {seconds:.0f} s of noisy speech-like audio)")
    # one core: pin the process (extra threads would only spread the CPU time, not lower it)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    rng = np.random.default_rng(0)
    for sr in (16000, 48000):
        n = int(seconds * sr)
        t = np.arange(n) / sr
        x = 0.05 * np.sin(2 * np.pi * 150 * t) * (np.sin(2 * np.pi * 0.7 * t) > 0) + 0.01 * rng.standard_normal(n)
        x = x.astype(np.float32)
        n_fft, hop = frame_settings(sr)

        def bare(x: np.ndarray = x, n_fft: int = n_fft, hop: int = hop) -> None:
            s = StftStream(1, n_fft, hop, lambda spec: spec)
            for i in range(0, x.size, 65536):
                s.process(x[None, i : i + 65536])
            s.flush()

        def hush(x: np.ndarray = x, sr: int = sr) -> None:
            run_processor(NoiseReducer(sr, 1), x)

        def nr(x: np.ndarray = x, sr: int = sr) -> None:
            run_noisereduce(x, sr, True)

        def core(x: np.ndarray = x, sr: int = sr) -> None:
            run_processor(NoiseReducer(sr, 1, hum=False, declick=False), x)

        def clicks(x: np.ndarray = x, sr: int = sr) -> None:
            run_processor(ClickSuppressor(sr, 1), x)

        def hum(x: np.ndarray = x, sr: int = sr) -> None:
            run_processor(HumRemover(sr, 1), x)

        rates = {}
        stages = {"noisereduce_stationary": nr, "bare_stft_istft": bare, "hush": hush}
        stages |= {"core": core, "clicks": clicks, "hum": hum}  # Hush's stages alone
        for name, fn in stages.items():
            best = np.inf
            for _ in range(2):
                c0 = time.process_time()
                fn()
                best = min(best, time.process_time() - c0)
            rates[name] = seconds / best
        print(
            f"  {sr // 1000:2d} kHz (n_fft {n_fft}, hop {hop}):"
            f" noisereduce stat {rates['noisereduce_stationary']:7.0f}x"
            f"  bare STFT+iSTFT {rates['bare_stft_istft']:7.0f}x  hush {rates['hush']:7.0f}x"
            f"  | hush/noisereduce {rates['hush'] / rates['noisereduce_stationary']:.2f}"
            f"  hush/bare {rates['hush'] / rates['bare_stft_istft']:.2f}"
        )
        print(
            f"      stages alone: OM-LSA core (no hum, no declick) {rates['core']:6.0f}x"
            f"  click suppressor {rates['clicks']:6.0f}x  hum remover {rates['hum']:6.0f}x"
            "  | cost vs bare: "
            + "  ".join(f"{k} {rates['bare_stft_istft'] / rates[k]:.1f}" for k in ("core", "clicks", "hum"))
        )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=None)
    ap.add_argument("--limit", type=int, default=None, help="score a spread subset of N items")
    ap.add_argument("--jobs", type=int, default=1, help="worker processes for scoring")
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--metrics", type=Path, default=DEFAULT_METRICS, help="path of the shared metrics.py")
    ap.add_argument("--speed-s", type=float, default=60.0, help="seconds of audio for the speed test (0: skip)")
    ap.add_argument("--json", type=Path, default=None, help="write per-item results here")
    ap.add_argument("--load", type=Path, default=None, help="print the tables of a run saved with --json")
    args = ap.parse_args()
    methods = [m for m in args.methods.split(",") if m]
    if args.load:
        results = json.loads(args.load.read_text())
        methods = [m for m in methods if all(m in r for r in results)]
        print_tables(results, methods)
        return 0
    if args.corpus is None:
        ap.error("--corpus is required (or --load a saved run)")
    items = pick_items(json.loads((args.corpus / "manifest.json").read_text())["items"], args.limit)
    jobs = [(it, str(args.corpus), str(args.metrics), methods) for it in items]
    t0 = time.time()
    if args.jobs > 1:
        import multiprocessing as mp

        with mp.get_context("fork").Pool(args.jobs) as pool:
            results = pool.map(score_item, jobs, chunksize=1)
    else:
        results = [score_item(j) for j in jobs]
    print(f"scored {len(results)} items with {len(methods)} methods in {time.time() - t0:.0f} s")
    if args.json:
        args.json.write_text(json.dumps(results))
    print_tables(results, methods)
    if args.speed_s > 0:
        speed(args.speed_s)
    return 0


if __name__ == "__main__":
    sys.exit(main())
