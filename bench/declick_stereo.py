"""The click repairer on stereo: clicks in phase, in antiphase, in one channel, unequal.

    python bench/declick_stereo.py [--half dev|check|all] [--seed 7] \\
        ../shared/bench/realdev/music ../shared/bench/realdev/clean_speech

On a stereo record, a groove defect that moves the stylus vertically reaches the two channels in
antiphase (the vertical axis of a 45/45 cut carries L - R), one on a groove wall reaches one
channel, dust on both walls reaches both. This bench puts the shared click corpus's impulsive
shapes (``click_shape`` of ``gen_click_corpus.py``: spikes, pops, mouth clicks; imported by path,
not copied) into real stereo material, each click with one of five channel relations: ``same``
(L = R), ``anti`` (L = -R), ``left`` or ``right`` only, ``unequal`` (R = 0.5 L). Levels follow the
corpus (-6..+12 dB against twice the RMS of the audio, at most 0.9).

Material, 20 s from each file that soundfile reads in the folders given: a stereo file as it is
(the realdev music clips are real stereo mixes), a mono file as a dry voice picked up by a spaced
pair (the right channel 3 dB lower and 0.5 ms later, a plain inter-channel level and time
difference). ``--half`` splits each folder's name-sorted listing as ``bench/declick_real.py`` does
(``dev`` the even positions, ``check`` the odd ones).

Printed per file and pooled: recall per relation (+-2 ms, the corpus's ``click_metrics.match``),
precision, chance recall (detections moved 50 ms), the SI-SDR gain against the clean stereo
(mean over channels), and on the clean stereo with no clicks: events per minute and the SI-SDR of
the output against it (the worse channel; an untouched file is 100).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")  # as in Hush's workers, before numpy loads

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import soundfile as sf  # noqa: E402
from scipy.signal import resample_poly  # noqa: E402

from dsp.declick import ClickRepairer  # noqa: E402
from dsp.stream import run_blocks  # noqa: E402

RELATIONS = ("same", "anti", "left", "right", "unequal")
GAINS = {"same": (1.0, 1.0), "anti": (1.0, -1.0), "left": (1.0, 0.0), "right": (0.0, 1.0), "unequal": (1.0, 0.5)}
KINDS = (("spike", 6.0), ("pop", 1.0), ("mouth", 1.0))  # per second, as the corpus's crackle + pops
DUR_S = 20.0


def _load(path: Path, name: str) -> ModuleType:
    sys.path.insert(0, str(path.parent.parent / "vad"))  # the generator imports its siblings
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def stereo_base(path: Path) -> tuple[np.ndarray, int] | None:
    """``(2, n)`` float64 clean stereo of at most ``DUR_S``, and its rate; None if unreadable."""
    try:
        x, sr = sf.read(path, dtype="float64", always_2d=True)
    except (RuntimeError, sf.LibsndfileError):
        return None
    x = x[: round(DUR_S * sr)].T
    if x.shape[0] >= 2:
        return np.ascontiguousarray(x[:2]), sr
    d = round(0.0005 * sr)  # a spaced pair: 0.5 ms and 3 dB between the channels
    right = np.concatenate([np.zeros(d), x[0, :-d]]) * 10 ** (-3 / 20)
    return np.stack([x[0], right]), sr


def add_clicks(x: np.ndarray, sr: int, gen: ModuleType, rng: np.random.Generator) -> tuple[np.ndarray, list[dict]]:
    y = x.copy()
    act = np.abs(x) > 1e-3
    ref = float(np.sqrt(np.mean(x[act] ** 2))) if act.any() else 0.05
    occupied = np.zeros(x.shape[1], bool)
    clicks: list[dict] = []
    for kind, rate in KINDS:
        t = rng.exponential(1 / rate)
        while t < x.shape[1] / sr - 0.05:
            w = gen.click_shape(kind, rng, sr)
            rel = RELATIONS[int(rng.integers(len(RELATIONS)))]
            s0 = int(t * sr)
            pad = int(0.004 * sr)
            if s0 + len(w) < x.shape[1] and not occupied[max(0, s0 - pad) : s0 + len(w) + pad].any():
                room = 0.97 - float(np.max(np.abs(y[:, s0 : s0 + len(w)])))
                peak = max(0.0, min(0.9, room, ref * 10 ** (rng.uniform(-6, 12) / 20) * 2.0))
                for ch, g in enumerate(GAINS[rel]):
                    y[ch, s0 : s0 + len(w)] += g * peak * w
                occupied[s0 : s0 + len(w)] = True
                clicks.append({"start": s0, "len": len(w), "kind": rel, "peak": peak})
            t += rng.exponential(1 / rate)
    clicks.sort(key=lambda c: c["start"])
    return y, clicks


def run(x: np.ndarray, sr: int, mult: float, click_len: float) -> tuple[np.ndarray, list[tuple[int, int]]]:
    proc = ClickRepairer(sr, 2, detection_mult=mult, click_len_ms=click_len, keep_events=True)
    x32 = x.astype(np.float32)
    blocks = (x32[:, i : i + 65536] for i in range(0, x32.shape[-1], 65536))
    y = np.concatenate(list(run_blocks(proc, blocks)), axis=-1)
    dets = [(round(e.onset_s * sr), round((e.onset_s + e.length_s) * sr)) for e in proc.events]
    return y.astype(np.float64), dets


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folders", nargs="+", type=Path)
    ap.add_argument("--half", choices=("dev", "check", "all"), default="all")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--detection-mult", type=float, default=8.0)
    ap.add_argument("--click-len", type=float, default=10.0)
    ap.add_argument("--clicks-dir", default=str(REPO.parent / "shared" / "bench" / "clicks"))
    args = ap.parse_args()
    cm = _load(Path(args.clicks_dir) / "click_metrics.py", "click_metrics")
    gen = _load(Path(args.clicks_dir) / "gen_click_corpus.py", "gen_click_corpus")
    keep = {"dev": (0,), "check": (1,), "all": (0, 1)}[args.half]
    print(f"half: {args.half}, seed {args.seed}")
    head = " | ".join(f"R {r}" for r in RELATIONS)
    print(f"| file | rate | {head} | P | chance R | dSI-SDR | clean: events/min | clean SI-SDR |")
    print("|---" * (7 + len(RELATIONS)) + "|")
    hits = {r: [0, 0] for r in RELATIONS}
    tp = nd = ch_hit = n_true = 0
    deltas, rates, cleans = [], [], []
    for fi, folder in enumerate(args.folders):
        for i, path in enumerate(sorted(folder.iterdir())):
            if i % 2 not in keep:
                continue
            got = stereo_base(path)
            if got is None:
                continue
            c, sr = got
            if sr > 48000:
                c, sr = resample_poly(c, 48000, sr, axis=-1), 48000
            rng = np.random.default_rng([args.seed, fi, i])
            x, clicks = add_clicks(c, sr, gen, rng)
            y, dets = run(x, sr, args.detection_mult, args.click_len)
            row = []
            for r in RELATIONS:
                sub = [k for k in clicks if k["kind"] == r]
                m = cm.match(dets, sub, sr)
                hits[r][0] += m["hit"]
                hits[r][1] += m["n_true"]
                row.append(f"{m['hit']}/{m['n_true']}")
            m = cm.match(dets, clicks, sr)
            mc = cm.match(cm.shifted(dets, sr), clicks, sr)
            tp, nd, ch_hit, n_true = tp + m["tp_det"], nd + m["n_det"], ch_hit + mc["hit"], n_true + m["n_true"]
            d = float(np.mean([cm.si_sdr(y[k], c[k]) - cm.si_sdr(x[k], c[k]) for k in range(2)]))
            yc, dc = run(c, sr, args.detection_mult, args.click_len)
            per_min = len(dc) / (c.shape[1] / sr / 60)
            sdr = min(cm.si_sdr(yc[k], c[k]) for k in range(2))
            deltas.append(d)
            rates.append(per_min)
            cleans.append(sdr)
            prec = m["tp_det"] / max(m["n_det"], 1)
            print(
                f"| {path.name} | {sr} | {' | '.join(row)} | {prec:.2f} | {mc['hit'] / max(m['n_true'], 1):.2f} "
                f"| {d:+.2f} | {per_min:.1f} | {sdr:.1f} |",
                flush=True,
            )
    pooled = " | ".join(f"{h / max(n, 1):.2f}" for h, n in hits.values())
    print(
        f"| **pooled** | | {pooled} | {tp / max(nd, 1):.2f} | {ch_hit / max(n_true, 1):.2f} "
        f"| {np.median(deltas):+.2f} (median) | {np.median(rates):.1f} (median) | {np.median(cleans):.1f} / "
        f"{np.min(cleans):.1f} (median / min) |"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
