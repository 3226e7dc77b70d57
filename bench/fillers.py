"""Filled-pause removal on TTS sentences with inserted fillers at known times, with anchors.

    .venv/bin/python bench/fillers.py [--n 60] [--split check|dev|both] [--real DIR ...]

Material (seeded, generated under ``--cache``, default ``/tmp/hush-bench-fillers``): phrases
spoken by espeak-ng (voices en-us, en-gb, en-gb-scotland, en-us+f3, en-gb+f4; rates 130-190 words
per minute) and flite (voices slt, rms, awb, kal16), joined by pauses of 0.12-0.45 s; in two
thirds of the items, fillers "um", "uh", "er", "mm"/"hmm" synthesised by the same voice are
inserted between phrases, spoken slowly as hesitations are (espeak-ng at 110 words per minute, flite with
duration_stretch 1.6) and a third of them elongated further (85 words per minute, stretch 2.0;
flite says "ah" for "mm", which it spells out); the other third are filler-free controls. Each item is played clean and
with pink noise at 20 and 10 dB SNR (active speech power). Items with an even index are DEV (the
detector's constants were chosen there), odd ones CHECK.

Scores, per split and noise: event precision / recall / F1, a detection matching a reference
filler when their overlap covers at least 50 % of both; the share of non-filler speech (the
phrases' active spans) that the cuts remove; false cuts per minute on the controls. Anchor in
the same run: the naive rule "any voiced stretch with a flat F0 (frame-to-frame change under
0.5 semitone) of at least 200 ms is a filler", on the same frame features.

``--real DIR ...``: real recordings (clean speech; music as a do-no-harm check; no labels,
the speech may hold genuine fillers): cuts per minute
and each cut's time, so a listener can check them.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import zlib
from math import gcd
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import lfilter, resample_poly

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dsp.fillers import FillerDetector, find_fillers, stable_frames  # noqa: F401

SR = 16000
PHRASES = (
    "we looked at the numbers last week",
    "the results were better than expected",
    "so I think we should try again",
    "the meeting starts at nine tomorrow",
    "please send me the report",
    "it depends on the weather",
    "my brother lives near the river",
    "they painted the kitchen yellow",
    "the train was late again",
    "I would like a cup of coffee",
    "she found the keys under the table",
    "the project needs more time",
    "we can talk about it later",
    "the garden looks lovely in spring",
    "he forgot to close the window",
    "the price of bread went up",
    "our team won the final match",
    "you should read this book",
    "the children played in the park",
    "let me check my calendar",
)
ESPEAK_VOICES = ("en-us", "en-gb", "en-gb-scotland", "en-us+f3", "en-gb+f4")
FLITE_VOICES = ("slt", "rms", "awb", "kal16")
FILLERS = ("um", "uh", "er", "mm")


def _synth(engine: str, voice: str, text: str, rate: int, stretch: float, cache: Path) -> np.ndarray:
    key = f"{engine}_{voice}_{rate}_{stretch}_{zlib.crc32(text.encode())}".replace("+", "p")
    path = cache / f"{key}.wav"
    if not path.exists():
        if engine == "espeak":
            t = "[[h'@m]]" if text == "mm" else text  # espeak-ng reads "mm" as letters
            subprocess.run(["espeak-ng", "-v", voice, "-s", str(rate), "-w", str(path), t], check=True)
        else:
            t = "ah" if text == "mm" else text  # flite spells "mm" and "hmm" out
            cmd = ["flite", "-voice", voice, "--setf", f"duration_stretch={stretch}", "-t", t, "-o", str(path)]
            subprocess.run(cmd, check=True)
    x, sr = sf.read(str(path), dtype="float64")
    if x.ndim > 1:
        x = x.mean(axis=1)
    if sr != SR:
        g = gcd(SR, sr)
        x = resample_poly(x, SR // g, sr // g)
    # trim to the active part (-40 dB re the peak, 10 ms frames)
    a = np.abs(x) > 10 ** (-40 / 20) * np.abs(x).max()
    idx = np.flatnonzero(a)
    return x[idx[0] : idx[-1] + 1] / np.abs(x).max() * 0.5


def _pink(rng: np.random.Generator, n: int) -> np.ndarray:
    # Kellet's economy pink filter (-3 dB/octave within 0.5 dB over the band)
    b = [0.049922035, -0.095993537, 0.050612699, -0.004408786]
    a = [1, -2.494956002, 2.017265875, -0.522189400]
    return lfilter(b, a, rng.standard_normal(n + 2000))[2000:]


def make_item(i: int, cache: Path) -> tuple[np.ndarray, list[tuple[int, int]], list[tuple[int, int]]]:
    """Clean audio at 16 kHz, filler spans and phrase spans (samples)."""
    rng = np.random.default_rng(10_000 + i)
    espeak = i % 9 < 5
    voice = ESPEAK_VOICES[i % 5] if espeak else FLITE_VOICES[i % 4]
    rate = int(rng.integers(130, 191))
    control = i % 3 == 2
    k = int(rng.integers(3, 5))
    phrases = [PHRASES[j] for j in rng.choice(len(PHRASES), k, replace=False)]
    parts: list[np.ndarray] = [np.zeros(int(rng.uniform(0.3, 0.6) * SR))]
    fillers: list[tuple[int, int]] = []
    speech: list[tuple[int, int]] = []
    pos = parts[0].size

    def add(x: np.ndarray, spans: list[tuple[int, int]]) -> None:
        nonlocal pos
        spans.append((pos, pos + x.size))
        parts.append(x)
        pos += x.size

    def pause() -> None:
        nonlocal pos
        z = np.zeros(int(rng.uniform(0.12, 0.45) * SR))
        parts.append(z)
        pos += z.size

    for j, ph in enumerate(phrases):
        add(_synth("espeak" if espeak else "flite", voice, ph, rate, 1.0, cache), speech)
        if j < k - 1:
            pause()
            if not control and rng.random() < 0.8:
                word = FILLERS[int(rng.integers(0, 4))]
                long = rng.random() < 0.33
                f = _synth(
                    "espeak" if espeak else "flite",
                    voice,
                    word,
                    85 if long else 110,
                    2.0 if long else 1.6,
                    cache,
                )
                add(f * rng.uniform(0.6, 1.0), fillers)
                pause()
    parts.append(np.zeros(int(rng.uniform(0.3, 0.6) * SR)))
    return np.concatenate(parts), fillers, speech


def add_noise(x: np.ndarray, speech: list[tuple[int, int]], snr_db: float | None, seed: int) -> np.ndarray:
    if snr_db is None:
        return x.astype(np.float32)
    p = np.mean(np.concatenate([x[a:b] for a, b in speech]) ** 2)
    nz = _pink(np.random.default_rng(seed), x.size)
    nz *= np.sqrt(p / np.mean(nz**2) / 10 ** (snr_db / 10))
    return (x + nz).astype(np.float32)


def naive(x: np.ndarray) -> list[tuple[int, int]]:
    """Anchor: any voiced stretch with a flat F0 (< 0.5 semitone per 10 ms) of >= 200 ms."""
    d = FillerDetector(SR, 1)
    d.process(x[None, :])
    d.finish()
    f = d.features()
    st = 12 * np.log2(np.maximum(f.f0_hz.astype(np.float64), 1.0))
    flat = (f.voicing >= 0.5) & (np.abs(np.r_[0.0, np.diff(st)]) < 0.5)
    d2 = np.diff(np.r_[0, flat.astype(np.int8), 0])
    hop = d.hop
    return [
        (a * hop, b * hop + d.win)
        for a, b in zip(np.flatnonzero(d2 == 1), np.flatnonzero(d2 == -1), strict=True)
        if (b - a) * hop >= 0.2 * SR
    ]


def hush(x: np.ndarray) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """Detected filler spans and the cut spans, in samples."""
    d = FillerDetector(SR, 1)
    d.process(x[None, :])
    d.finish()
    found = [(round(f.start_s * SR), round(f.end_s * SR)) for f in d.fillers]
    return found, list(d.finish().cuts)


def _ov(a: tuple[int, int], b: tuple[int, int]) -> int:
    return max(0, min(a[1], b[1]) - max(a[0], b[0]))


def match(det: list[tuple[int, int]], ref: list[tuple[int, int]]) -> int:
    """Detections that cover >= 50 % of a reference filler and are >= 50 % covered by it (one-to-one)."""
    used: set[int] = set()
    tp = 0
    for d in det:
        for j, r in enumerate(ref):
            o = _ov(d, r)
            if j not in used and o >= 0.5 * (r[1] - r[0]) and o >= 0.5 * (d[1] - d[0]):
                used.add(j)
                tp += 1
                break
    return tp


def removed(cuts: list[tuple[int, int]], speech: list[tuple[int, int]]) -> int:
    return sum(_ov(c, s) for c in cuts for s in speech)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=60)
    ap.add_argument("--split", choices=("dev", "check", "both"), default="both")
    ap.add_argument("--cache", type=Path, default=Path("/tmp/hush-bench-fillers"))
    ap.add_argument("--real", type=Path, nargs="*", default=[])
    args = ap.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)
    splits = ("dev", "check") if args.split == "both" else (args.split,)
    items = [make_item(i, args.cache) for i in range(args.n)]
    print("| split | SNR | method | fillers | P | R | F1 | non-filler speech removed | false cuts/min (controls) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for split in splits:
        idx = [i for i in range(args.n) if (i % 2 == 0) == (split == "dev")]
        for snr in (None, 20.0, 10.0):
            acc = {m: [0, 0, 0, 0, 0, 0.0, 0.0] for m in ("hush", "naive")}  # tp, det, ref, rm, sp, fa, ctl_s
            for i in idx:
                clean, ref, speech = items[i]
                x = add_noise(clean, speech, snr, 777 + i)
                found, cuts = hush(x)
                nv = naive(x)
                for m, det, cut in (("hush", found, cuts), ("naive", nv, nv)):
                    a = acc[m]
                    a[0] += match(det, ref)
                    a[1] += len(det)
                    a[2] += len(ref)
                    a[3] += removed(cut, speech)
                    a[4] += sum(b - s for s, b in speech)
                    if not ref:
                        a[5] += len(det)
                        a[6] += x.size / SR
            for m, (tp, nd, nr, rm, sp, fa, ctl) in acc.items():
                p = tp / nd if nd else 1.0
                r = tp / nr if nr else 1.0
                f1 = 2 * p * r / (p + r) if p + r else 0.0
                snr_s = "clean" if snr is None else f"{snr:.0f} dB"
                print(
                    f"| {split.upper()} | {snr_s} | {m} | {nr} | {p:.2f} | {r:.2f} | {f1:.2f} | "
                    f"{100 * rm / max(sp, 1):.2f} % | {60 * fa / max(ctl, 1e-9):.2f} |"
                )
    if args.real:
        print("\n| real recording | duration | Hush cuts | cuts/min | cut times (s) | naive events/min |")
        print("|---|---|---|---|---|---|")
        for folder in args.real:
            tot_s = tot_c = 0.0
            for path in sorted(folder.iterdir()):
                try:
                    y, sr = sf.read(str(path), dtype="float32", always_2d=True)
                except RuntimeError:
                    continue
                d = FillerDetector(sr, y.shape[1])
                d.process(np.ascontiguousarray(y.T))
                rep = d.report()
                dur = y.shape[0] / sr
                mono = y.mean(axis=1)
                g = gcd(SR, sr)
                nv = naive(resample_poly(mono, SR // g, sr // g).astype(np.float32))
                times = ", ".join(f"{c['start_s']:.2f}-{c['end_s']:.2f} ({c['confidence']:.2f})" for c in rep["cuts"])
                print(
                    f"| {path.name} | {dur:.1f} s | {rep['fillers_cut']} | {60 * rep['fillers_cut'] / dur:.2f} | "
                    f"{times or '-'} | {60 * len(nv) / dur:.1f} |"
                )
                tot_s += dur
                tot_c += rep["fillers_cut"]
            print(f"| all of {folder.name} | {tot_s:.1f} s | {tot_c:.0f} | {60 * tot_c / max(tot_s, 1e-9):.2f} | | |")


if __name__ == "__main__":
    main()
