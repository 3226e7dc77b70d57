"""Discrete echo removal on real speech: single synthetic echoes, echo-free speech and music.

    .venv/bin/python bench/echo.py [--realdev ../shared/bench/realdev] [--max-s 15]

Material, read in place from the recorded files of ``realdev`` (mixed to mono, at most
``--max-s`` seconds each): every clean speech recording gets one echo ``y = x + g x[n - D]`` for
each delay D in 50, 100, 150, 200, 300 ms and gain g in 0.3, 0.5, 0.7 (issue 13's range), and the
same echoes again with real background noise added at 15 dB SNR after the echo (the engine
detects on the noisy mix; the echo figures apply its chosen comb to the noise-free signal, so
the noise does not count as echo). Echo-free: every clean speech and music recording as it is.

Methods, in the same run: ``input`` (no processing: the anchor every ratio is against),
``oracle`` (the inverse comb with the true delay and gain: the best an inverse comb can do) and
``hush`` (the ``remove_echo`` step, streamed: :class:`dsp.echo.EchoAnalyzer` over 5 s blocks,
then :class:`dsp.echo.EchoRemover` over 5 s blocks).

Printed: per delay and gain, the echo energy reduction (energy of ``out - x`` against that of
``y - x``, dB; the target is >= 15 dB), SI-SDR against the echo-free speech, the detected delay
and gain; then per echo-free recording, the SI-SDR of the output against its input (target >=
40 dB) and whether an echo was (falsely) reported, with the peak score the decision saw.
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

from dsp.echo import EchoAnalyzer, EchoEstimate, EchoRemover  # noqa: E402
from dsp.stream import run_processor  # noqa: E402

DELAYS_MS = (50, 100, 150, 200, 300)
GAINS = (0.3, 0.5, 0.7)
NOISY_SNR_DB = 15.0
BLOCK_S = 5.0


def si_sdr(est: np.ndarray, ref: np.ndarray) -> float:
    ref = ref.astype(np.float64) - ref.mean()
    est = est.astype(np.float64) - est.mean()
    a = float(est @ ref) / float(ref @ ref)
    err = est - a * ref
    return float(min(100.0, 10 * np.log10(float((a * ref) @ (a * ref)) / max(float(err @ err), 1e-30))))


def load(path: Path, max_s: float) -> tuple[np.ndarray, int]:
    x, sr = sf.read(path, dtype="float32", always_2d=True)
    return x.mean(axis=1)[: int(max_s * sr)].astype(np.float32), int(sr)


def add_echo(x: np.ndarray, d: int, g: float) -> np.ndarray:
    y = x.astype(np.float64).copy()
    y[d:] += g * x[:-d]
    return y.astype(np.float32)


def comb(y: np.ndarray, sr: int, est: EchoEstimate) -> np.ndarray:
    return run_processor(EchoRemover(sr, 1, est), y, block_size=int(BLOCK_S * sr))


def hush_estimate(y: np.ndarray, sr: int) -> EchoEstimate:
    a = EchoAnalyzer(sr, 1)
    step = int(BLOCK_S * sr)
    for i in range(0, y.size, step):
        a.process(y[None, i : i + step])
    return a.finish()


def echo_reduction_db(out: np.ndarray, x: np.ndarray, y: np.ndarray) -> float:
    before = float(np.sum((y.astype(np.float64) - x) ** 2))
    after = float(np.sum((out.astype(np.float64) - x) ** 2))
    return 10 * float(np.log10(before / max(after, 1e-30)))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--realdev", type=Path, default=Path(__file__).resolve().parents[2] / "shared/bench/realdev")
    ap.add_argument("--max-s", type=float, default=15.0)
    args = ap.parse_args()
    speech = [p for p in sorted((args.realdev / "clean_speech").iterdir()) if p.suffix in (".wav", ".flac", ".ogg")]
    music = [p for p in sorted((args.realdev / "music").iterdir()) if p.suffix in (".wav", ".flac", ".ogg")]
    noise_path = args.realdev / "background_noise" / "noisereduce_cafe_short.wav"
    rows: dict[tuple[str, int, float], list[dict[str, float]]] = {}
    for path in speech:
        x, sr = load(path, args.max_s)
        noise, nsr = load(noise_path, 600.0)
        idx = np.arange(x.size) % noise.size  # the cafe noise, looped to length (rate ignored: it is noise)
        noise = noise[idx].astype(np.float64)
        del nsr
        for d_ms in DELAYS_MS:
            for g in GAINS:
                d = round(d_ms * sr / 1000)
                y = add_echo(x, d, g)
                truth = EchoEstimate(True, d, g, sr, 0.0, d, 0)
                for cond in ("clean", "noisy"):
                    if cond == "noisy":
                        scale = np.sqrt(
                            np.mean(y.astype(np.float64) ** 2) / np.mean(noise**2) / 10 ** (NOISY_SNR_DB / 10)
                        )
                        est = hush_estimate((y + scale * noise).astype(np.float32), sr)
                    else:
                        est = hush_estimate(y, sr)
                    for method, e in (("input", None), ("oracle", truth), ("hush", est)):
                        out = y if e is None else comb(y, sr, e)
                        r = {
                            "reduction": echo_reduction_db(out, x, y) if e is not None else 0.0,
                            "sisdr": si_sdr(out, x),
                            "found": float(e.found) if e is not None else 0.0,
                            "delay_err_ms": abs(e.delay_ms - d_ms) if e is not None and e.found else np.nan,
                            "gain": e.gain if e is not None and e.found else np.nan,
                        }
                        rows.setdefault((f"{cond}:{method}", d_ms, g), []).append(r)
        print(f"# {path.name}: {sr} Hz, {x.size / sr:.1f} s", file=sys.stderr, flush=True)

    print("\n## Single echoes on real speech (median over recordings; min in brackets)\n")
    print(
        "| condition | delay ms | gain | method | detected | echo reduction dB | SI-SDR dB "
        "| delay error ms | gain found |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    worst: dict[str, float] = {}
    for (key, d_ms, g), rs in rows.items():
        cond, method = key.split(":")
        red = np.array([r["reduction"] for r in rs])
        sdr = np.array([r["sisdr"] for r in rs])
        found = np.array([r["found"] for r in rs])
        derr = np.array([r["delay_err_ms"] for r in rs])
        gains = np.array([r["gain"] for r in rs])
        if method == "hush":
            worst[cond] = min(worst.get(cond, np.inf), float(red.min()))
        print(
            f"| {cond} | {d_ms} | {g} | {method} | {int(found.sum())}/{len(rs)} | "
            f"{np.median(red):.1f} ({red.min():.1f}) | {np.median(sdr):.1f} ({sdr.min():.1f}) | "
            f"{np.nanmedian(derr) if np.any(found) else float('nan'):.2f} | "
            f"{np.nanmedian(gains) if np.any(found) else float('nan'):.3f} |"
        )
    for cond, w in worst.items():
        print(f"\nworst echo reduction, hush, {cond}: {w:.1f} dB (target >= 15 dB): {'ok' if w >= 15 else 'MISSED'}")

    print("\n## Echo-free recordings through remove_echo (target SI-SDR >= 40 dB)\n")
    print("| folder | file | rate | echo reported | peak score | peak ms | SI-SDR vs input dB |")
    print("|---|---|---|---|---|---|---|")
    free = []
    for path in [*speech, *music]:
        x, sr = load(path, 600.0)
        est = hush_estimate(x, sr)
        out = comb(x, sr, est)
        sdr = si_sdr(out, x)
        free.append(sdr)
        print(
            f"| {path.parent.name} | {path.name} | {sr} | {est.found} | {est.score:.1f} | "
            f"{1000 * est.peak_delay_samples / sr:.1f} | {sdr:.1f} |"
        )
    print(f"\nworst echo-free SI-SDR: {min(free):.1f} dB (target >= 40 dB): {'ok' if min(free) >= 40 else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
