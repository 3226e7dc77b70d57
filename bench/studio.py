"""``studio_sound``: the full DSP chain against denoise + loudness, scored by DNSMOS P.835.

    python bench/studio.py [--half dev|check|both] [--limit N] [--methods input,anchor,studio,...]
    python bench/studio.py --shares [--half dev]
    python bench/studio.py --clean [--methods input,studio,...]     # do no harm on clean speech

Material, built from the recordings in ``../shared/bench/realdev/`` (read in place, never copied):
each clean speech recording (6 s at 16 kHz, the DNSMOS rate) is degraded the way a home
recording is — convolved with a measured room impulse response (OpenAIR, direct sound first,
1 s), tilted (RBJ shelves: +4 dB below 200 Hz, -8 dB above 2.5 kHz: a muffled, boomy microphone),
mixed with a real background noise recording at 10 dB SNR, and peppered with 12 clicks (1–3
samples, 0.2–0.5 full scale). The speakers, noises and rooms are split in two halves with none in
common (``bench/real.py``'s ``HALVES``): DEV (the step defaults may be tuned on it) and CHECK
(reported only).

Every method runs Hush's own job pipeline (``app.jobs.pipeline.process_file``, the code a job or
``hush enhance`` runs) on a WAV of the item:

* ``input`` — the degraded item as is;
* ``anchor`` — ``remove_noise`` + ``normalize`` (denoise, loudness);
* ``studio`` — the ``studio_sound`` chain (declick, autoeq within 2 dB, denoise, remove_reverb,
  compress, deess, loudness), planned by the AudioCleaner dialect;
* ``studio_nocompress``, ``studio_nodeess`` — the chain minus one new stage;
  ``studio_nodynamics`` — minus both (the chain of existing engines alone); ``studio_noautoeq``,
  ``studio_nodeclick``, ``studio_nodereverb`` — minus that stage (what each one costs);
* ``studio_previous`` — the chain's earlier form (declick, remove_reverb, denoise, autoeq within
  6 dB, compress, deess, loudness), for comparison.

Scores: DNSMOS P.835 SIG/BAK/OVRL (``speechmos``' packaged ONNX models, non-personalised), means
per half, and how many items ``studio`` scores above ``anchor`` on OVRL. ``--clean`` scores the
clean recordings themselves (do no harm). ``--shares`` prints the
distribution of the sibilance band's share of the power in active speech frames of the clean DEV
recordings, the measurement the de-esser threshold (``dsp.dynamics.DEESS_THRESHOLD_DB``) is set
from.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
from scipy import signal

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from app import media  # noqa: E402
from app.dialects.audiocleaner import plan  # noqa: E402
from app.jobs.models import OutputSpec, Step  # noqa: E402
from app.jobs.pipeline import process_file  # noqa: E402
from bench.real import HALVES, REAL, active_rms, load  # noqa: E402

SR = 16000
CLIP_S = 6.0
SNR_DB = 10.0
N_CLICKS = 12
RIR_S = 1.0


def _shelf(f0: float, gain_db: float, high: bool) -> tuple[np.ndarray, np.ndarray]:
    """RBJ Audio EQ Cookbook shelving biquad (slope 1) at ``SR``."""
    a = 10 ** (gain_db / 40)
    w = 2 * np.pi * f0 / SR
    cw, alpha = np.cos(w), np.sin(w) / 2 * np.sqrt(2)
    s = 1 if high else -1
    b = np.array(
        [
            a * ((a + 1) + s * (a - 1) * cw + 2 * np.sqrt(a) * alpha),
            -2 * s * a * ((a - 1) + s * (a + 1) * cw),
            a * ((a + 1) + s * (a - 1) * cw - 2 * np.sqrt(a) * alpha),
        ]
    )
    den = np.array(
        [
            (a + 1) - s * (a - 1) * cw + 2 * np.sqrt(a) * alpha,
            2 * s * ((a - 1) - s * (a + 1) * cw),
            (a + 1) - s * (a - 1) * cw - 2 * np.sqrt(a) * alpha,
        ]
    )
    return b / den[0], den / den[0]


def degrade(x: np.ndarray, rir: np.ndarray, noise: np.ndarray, seed: int) -> np.ndarray:
    """Room, tilt, noise at ``SNR_DB``, clicks; peak at most 0.9."""
    n = x.size
    wet = signal.fftconvolve(x, rir)[:n]
    wet *= active_rms(x) / (active_rms(wet) + 1e-12)
    for f0, g, high in ((200.0, 4.0, False), (2500.0, -8.0, True)):
        b, a = _shelf(f0, g, high)
        wet = signal.lfilter(b, a, wet)
    y = wet + noise / (active_rms(noise) + 1e-12) * active_rms(wet) * 10 ** (-SNR_DB / 20)
    rng = np.random.default_rng(seed)
    for pos in rng.integers(SR // 10, n - SR // 10, N_CLICKS):
        width = int(rng.integers(1, 4))
        y[pos : pos + width] += rng.choice([-1.0, 1.0]) * rng.uniform(0.2, 0.5)
    return y * min(1.0, 0.9 / (np.abs(y).max() + 1e-12))


def build(half: str, clean: bool = False) -> list[dict[str, Any]]:
    sel = HALVES[half]
    n = int(CLIP_S * SR)
    if clean:  # do no harm: the clean recordings as they are
        xs = [(s, load(REAL / "clean_speech" / s, n, 0.5)) for s in sel["speech"]]
        return [{"id": f"{s.split('.')[0]} (clean)", "x": x / (np.abs(x).max() + 1e-12) * 0.5} for s, x in xs]
    h = load(REAL / "reverb_rir" / sel["rir"][0])
    h = h[int(np.argmax(np.abs(h))) :][: int(RIR_S * SR)]
    h /= np.abs(h).max() + 1e-12
    items = []
    for i, s in enumerate(sel["speech"]):
        x = load(REAL / "clean_speech" / s, n, 0.5)
        x = x / (np.abs(x).max() + 1e-12) * 0.5
        for j, nf in enumerate(sel["noise"]):
            nz = load(REAL / "background_noise" / nf, n, 0.3 * i)
            items.append({"id": f"{s.split('.')[0]}+{nf.split('.')[0]}", "x": degrade(x, h, nz, 100 * i + j)})
    return items


def _chain(drop: tuple[str, ...] = ()) -> list[Step]:
    steps, _ = plan({"studio_sound": True})
    return [s for s in steps if s.name not in drop]


METHODS: dict[str, list[Step] | None] = {
    "input": None,
    "anchor": list(plan({"remove_noise": True, "normalize": True})[0]),
    "studio": _chain(),
    "studio_nocompress": _chain(("compress",)),
    "studio_nodeess": _chain(("deess",)),
    "studio_nodynamics": _chain(("compress", "deess")),
    "studio_noautoeq": _chain(("autoeq",)),
    "studio_nodeclick": _chain(("declick",)),
    "studio_nodereverb": _chain(("remove_reverb",)),
    "studio_previous": [
        Step(name="declick", params={"detection_mult": 8.0, "click_len": 5}),
        Step(name="remove_reverb"),
        Step(name="denoise", params={"amount": 100}),
        Step(name="autoeq"),
        Step(name="compress"),
        Step(name="deess"),
        Step(name="loudness", params={"target_lufs": -16.0, "max_peak_dbfs": -1.0}),
    ],
}


def run(steps: list[Step] | None, x: np.ndarray, tmp: Path) -> tuple[np.ndarray, list[dict[str, Any]]]:
    if steps is None:
        return x, []
    src = tmp / "in.wav"
    sf.write(src, x.astype(np.float32), SR, subtype="FLOAT")
    res = process_file(src, media.probe(src), steps, OutputSpec(container="wav"), tmp)
    assert res.path is not None
    y, _ = sf.read(res.path, dtype="float64")
    return y, res.reports


def dnsmos(y: np.ndarray) -> tuple[float, float, float]:
    from speechmos import dnsmos as dm

    r = dm.run(np.clip(y, -1.0, 1.0).astype(np.float32), sr=SR)
    return float(r["sig_mos"]), float(r["bak_mos"]), float(r["ovrl_mos"])


def _fmt(sc: tuple[float, ...]) -> str:
    return "/".join(f"{v:5.2f}" for v in sc)


def shares(half: str) -> None:
    """Percentiles of the 4-10 kHz band's share of the power in active 10 ms speech frames."""
    from dsp.dynamics import DEESS_THRESHOLD_DB, SIBILANCE_HIGH_HZ, SIBILANCE_LOW_HZ

    print(f"band share (dB) of {SIBILANCE_LOW_HZ:.0f}-{SIBILANCE_HIGH_HZ:.0f} Hz in active speech frames, {half}")
    print(f"{'recording':40s} {'sr':>6s} {'p50':>6s} {'p80':>6s} {'p90':>6s} {'p95':>6s} {'p99':>6s} {'>thr':>6s}")
    for s in HALVES[half]["speech"]:
        x, sr = sf.read(REAL / "clean_speech" / s, dtype="float64", always_2d=True)
        x = x.mean(axis=1)
        hi = min(SIBILANCE_HIGH_HZ, 0.45 * sr)
        band = signal.sosfilt(signal.butter(2, [SIBILANCE_LOW_HZ, hi], "bandpass", fs=sr, output="sos"), x)
        f = int(0.01 * sr)
        m = x.size // f * f
        pf = (x[:m] ** 2).reshape(-1, f).mean(axis=1)
        pb = (band[:m] ** 2).reshape(-1, f).mean(axis=1)
        act = pf > pf.max() * 10 ** (-40 / 10)
        sh = 10 * np.log10(pb[act] / pf[act] + 1e-20)
        p = np.percentile(sh, [50, 80, 90, 95, 99])
        over = float(np.mean(sh > DEESS_THRESHOLD_DB))
        print(f"{s:40s} {sr:6d} " + " ".join(f"{v:6.1f}" for v in p) + f" {100 * over:5.1f}%")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--half", choices=("dev", "check", "both"), default="both")
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--limit", type=int, default=0, help="first N items of each half")
    ap.add_argument("--shares", action="store_true", help="print the sibilance-band share distribution")
    ap.add_argument("--clean", action="store_true", help="score the clean recordings instead (do no harm)")
    args = ap.parse_args()
    halves = ["dev", "check"] if args.half == "both" else [args.half]
    if args.shares:
        for h in halves:
            shares(h)
        return 0
    methods = args.methods.split(",")
    cols = "  ".join(f"{m:>17s}" for m in methods)
    for half in halves:
        items = build(half, args.clean)[: args.limit or None]
        scores: dict[str, list[tuple[float, float, float]]] = {m: [] for m in methods}
        t0 = time.time()
        print(f"\n== {half.upper()}: {len(items)} items (SIG/BAK/OVRL)")
        print(f"{'item':58s}  {cols}")
        for it in items:
            row = []
            with tempfile.TemporaryDirectory(prefix="hb-studio-") as d:
                for m in methods:
                    y, reports = run(METHODS[m], it["x"], Path(d))
                    sc = dnsmos(y)
                    scores[m].append(sc)
                    row.append(_fmt(sc))
                    if m == "studio":
                        it["reports"] = {r.get("step"): r for r in reports}
            print(f"{it['id'][:58]:58s}  " + "  ".join(f"{c:>17s}" for c in row), flush=True)
            rep = it.get("reports", {})
            if rep:
                c, e = rep.get("compress", {}), rep.get("deess", {})
                gr = f"{c.get('max_gain_reduction_db')}/{c.get('mean_gain_reduction_db')}"
                cut = f"{e.get('max_reduction_applied_db')} dB on {e.get('share_cut_over_1db')}"
                print(f"    compress max/mean reduction {gr} dB, deess max cut {cut} of frames")
        mean = {m: np.mean(np.asarray(v), axis=0) for m, v in scores.items()}
        print(f"{'MEAN':58s}  " + "  ".join(f"{_fmt(tuple(mean[m])):>17s}" for m in methods))
        if "studio" in scores and "anchor" in scores:
            st, an = np.asarray(scores["studio"]), np.asarray(scores["anchor"])
            wins = int(np.sum(st[:, 2] > an[:, 2]))
            d = float(np.mean(st[:, 2] - an[:, 2]))
            verdict = "ok" if d > 0 else "MISSED"
            print(f"target studio OVRL > anchor OVRL: {d:+.3f} mean, higher on {wins}/{len(st)} items: {verdict}")
        print(f"({time.time() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
