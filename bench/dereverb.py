"""Dereverberation on real speech in simulated rooms, against NARA-WPE in the same run.

    .venv/bin/pip install -e '.[bench]'          # nara-wpe, pyroomacoustics, pesq, pystoi
    nice -n 10 .venv/bin/python bench/dereverb.py [--realdev ../shared/bench/realdev] [--max-s 8]

Material: every clean speech recording of ``realdev`` (read in place, mono, resampled to 16 kHz
for PESQ-WB, at most ``--max-s`` seconds) convolved with a shoebox room impulse response from
``pyroomacoustics`` (image source method, absorption from Sabine's formula for the target RT60;
a 6 x 5 x 3 m room, source and microphone 2 m apart) for RT60 0.3, 0.5, 0.7 and 1.0 s. The
reference is the speech convolved with the same response cut 50 ms after its direct-path peak
(direct path and early reflections; issue 13), so early reflections are not counted as damage.
The same is done with the five measured (or simulated) room responses of ``realdev/reverb_rir``
(halls, a council chamber, a seminar room; resampled to 16 kHz). Dry speech alone checks that
nothing is done to it (SI-SDR against itself).

Methods, in the same run: ``input`` (the reverberant speech), ``nara_wpe`` (``nara_wpe.wpe.wpe``
at its defaults: taps 10, delay 3, 3 iterations, 512/128 STFT), ``hush_wpe`` (Hush's WPE alone,
``late_weight=0``) and ``hush`` (the ``remove_reverb`` step: WPE and late suppression), both
streamed through the two passes in 5 s blocks. Printed: PESQ-WB, STOI and SI-SDR (dB) per RT60
(median over recordings), the T60 Hush measured before and after, and for dry speech the SI-SDR
of the output against its input.
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
from scipy import signal as sps  # noqa: E402

from dsp.dereverb import ReverbAnalyzer, ReverbSuppressor  # noqa: E402
from dsp.stream import run_processor  # noqa: E402

SR = 16000
RT60S = (0.3, 0.5, 0.7, 1.0)
ROOM_M = (6.0, 5.0, 3.0)
SOURCE_M = (2.0, 2.5, 1.6)
MIC_M = (4.0, 2.5, 1.5)
EARLY_S = 0.05
BLOCK_S = 5.0


def si_sdr(est: np.ndarray, ref: np.ndarray) -> float:
    ref = ref.astype(np.float64) - ref.mean()
    est = est.astype(np.float64) - est.mean()
    a = float(est @ ref) / float(ref @ ref)
    err = est - a * ref
    return float(min(100.0, 10 * np.log10(float((a * ref) @ (a * ref)) / max(float(err @ err), 1e-30))))


def load16(path: Path, max_s: float) -> np.ndarray:
    x, sr = sf.read(path, dtype="float64", always_2d=True)
    m = x.mean(axis=1)
    if sr != SR:
        g = np.gcd(int(sr), SR)
        m = sps.resample_poly(m, SR // g, int(sr) // g)
    m = m[: int(max_s * SR)]
    return (0.1 * m / np.sqrt(np.mean(m**2))).astype(np.float32)


def rir(rt60: float) -> np.ndarray:
    import pyroomacoustics as pra

    absorption, max_order = pra.inverse_sabine(rt60, ROOM_M)
    room = pra.ShoeBox(ROOM_M, fs=SR, materials=pra.Material(absorption), max_order=max_order)
    room.add_source(SOURCE_M)
    room.add_microphone(MIC_M)
    room.compute_rir()
    return np.asarray(room.rir[0][0], np.float64)


def measured_rirs(realdev: Path) -> dict[str, np.ndarray]:
    out = {}
    for p in sorted((realdev / "reverb_rir").iterdir()):
        h, sr = sf.read(p, dtype="float64", always_2d=True)
        h = h[:, 0]
        if sr != SR:
            g = np.gcd(int(sr), SR)
            h = sps.resample_poly(h, SR // g, int(sr) // g)
        out[p.stem] = h[int(max(0, np.argmax(np.abs(h)) - 0.005 * SR)) :]  # from 5 ms before the direct path
    return out


def hush(y: np.ndarray, late_weight: float | None = None) -> tuple[np.ndarray, dict]:
    a = ReverbAnalyzer(SR, 1)
    step = int(BLOCK_S * SR)
    for i in range(0, y.size, step):
        a.process(y[None, i : i + step])
    kw = {} if late_weight is None else {"late_weight": late_weight}
    s = ReverbSuppressor(SR, 1, a.finish(), **kw)
    return run_processor(s, y, block_size=step), s.report()


def nara(y: np.ndarray) -> np.ndarray:
    from nara_wpe.utils import istft, stft
    from nara_wpe.wpe import wpe

    spec = stft(y[None, :].astype(np.float64), size=512, shift=128)  # (1, frames, bins)
    z = wpe(spec.transpose(2, 0, 1)).transpose(1, 2, 0)
    return istft(z, size=512, shift=128)[0, : y.size].astype(np.float32)


def scores(est: np.ndarray, ref: np.ndarray) -> dict[str, float]:
    from pesq import pesq
    from pystoi import stoi

    n = min(est.size, ref.size)
    est, ref = est[:n], ref[:n]
    return {
        "pesq": float(pesq(SR, ref.astype(np.float64), est.astype(np.float64), "wb")),
        "stoi": float(stoi(ref, est, SR, extended=False)),
        "sisdr": si_sdr(est, ref),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--realdev", type=Path, default=Path(__file__).resolve().parents[2] / "shared/bench/realdev")
    ap.add_argument("--max-s", type=float, default=8.0)
    args = ap.parse_args()
    speech = [p for p in sorted((args.realdev / "clean_speech").iterdir()) if p.suffix in (".wav", ".flac", ".ogg")]
    dry = {p.name: load16(p, args.max_s) for p in speech}
    table: dict[tuple[float | str, str], list[dict[str, float]]] = {}
    t60s: dict[float | str, list[tuple[float, float]]] = {}
    rooms: list[tuple[float | str, np.ndarray]] = [(rt60, rir(rt60)) for rt60 in RT60S]
    rooms += list(measured_rirs(args.realdev).items())
    for rt60, h in rooms:
        peak = int(np.argmax(np.abs(h)))
        early = h[: peak + int(EARLY_S * SR)]
        for name, x in dry.items():
            y = sps.fftconvolve(x, h)[: x.size].astype(np.float32)
            ref = sps.fftconvolve(x, early)[: x.size].astype(np.float32)
            outs = {"input": y, "nara_wpe": nara(y)}
            outs["hush_wpe"], _ = hush(y, 0.0)
            outs["hush"], rep = hush(y)
            t60s.setdefault(rt60, []).append((rep.get("t60_before_s") or np.nan, rep.get("t60_after_s") or np.nan))
            for method, out in outs.items():
                table.setdefault((rt60, method), []).append(scores(out, ref))
            print(f"# RT60 {rt60}: {name} T60 {rep.get('t60_before_s')} -> {rep.get('t60_after_s')}", file=sys.stderr)
    print("| room (RT60 s) | method | PESQ-WB | STOI | SI-SDR dB |\n|---|---|---|---|---|")
    for (rt60, method), rs in table.items():
        med = {k: float(np.median([r[k] for r in rs])) for k in rs[0]}
        print(f"| {rt60} | {method} | {med['pesq']:.2f} | {med['stoi']:.3f} | {med['sisdr']:.1f} |")
    print("\n| room (RT60 s) | Hush T60 before, median (range) | after, median |\n|---|---|---|")
    for rt60, pairs in t60s.items():
        b = np.array([p[0] for p in pairs])
        a = np.array([p[1] for p in pairs])
        print(f"| {rt60} | {np.nanmedian(b):.2f} ({np.nanmin(b):.2f}-{np.nanmax(b):.2f}) | {np.nanmedian(a):.2f} |")
    verdict = []
    for rt60, _ in rooms:
        h = {k: float(np.median([r[k] for r in table[(rt60, "hush")]])) for k in ("pesq", "stoi")}
        n = {k: float(np.median([r[k] for r in table[(rt60, "nara_wpe")]])) for k in ("pesq", "stoi")}
        if rt60 in RT60S:  # the target's rooms; the measured ones are printed alongside
            verdict.append(h["pesq"] > n["pesq"] and h["stoi"] > n["stoi"])
        print(f"RT60 {rt60}: hush vs nara_wpe PESQ {h['pesq'] - n['pesq']:+.2f}, STOI {h['stoi'] - n['stoi']:+.3f}")
    print(f"beats nara_wpe on PESQ and STOI at every simulated RT60: {'ok' if all(verdict) else 'MISSED'}")
    print("\n| dry file | reverberation found | T60 measured | SI-SDR vs input dB |\n|---|---|---|---|")
    worst = 100.0
    for name, x in dry.items():
        out, rep = hush(x)
        s = si_sdr(out, x)
        worst = min(worst, s)
        print(f"| {name} | {rep['applied']} | {rep.get('t60_before_s')} | {s:.1f} |")
    print(f"\nworst dry SI-SDR: {worst:.1f} dB (target >= 30 dB): {'ok' if worst >= 30 else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
