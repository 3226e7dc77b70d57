"""Automatic speech EQ on real speech: random EQ colourings, and speech that already matches.

    .venv/bin/python bench/autoeq.py [--realdev ../shared/bench/realdev] [--seeds 4] [--max-s 20]

Material, read in place from the clean speech recordings of ``realdev`` (mono, at most
``--max-s`` seconds each):

* **coloured**: each recording first matched to the Byrne et al. (1994) target it is closer to
  (see below), then coloured by ``--seeds`` random EQs: a tilt of -2..+2 dB per octave about
  1 kHz plus one or two peaking filters (RBJ cookbook) of -9..+9 dB (|g| >= 3), Q 0.7-2,
  centre 150 Hz-5 kHz. The error of the coloured input is then the colouring alone.
* **matching**: each recording matched to its target, and nothing else.

Matching (the bench's own, independent of Hush): the third-octave levels of the loud frames are
measured (128 ms Hann frames within 35 dB of the loudest: no speech detector), the difference
to the nearer of Byrne's male and female spectra (after removing the mean dB difference) is
interpolated on log frequency and applied by a 200 ms linear-phase FIR, twice.

Error to the target: the RMS over the third-octave bands from 100 Hz to 8 kHz (those under 90 %
of Nyquist) of the measured level minus the target, the mean difference removed (level does not
count), against the nearer of the two spectra; measured the same way for every method.

Methods, in the same run: ``input`` (no processing), ``highpass`` (the anchor: a fixed 4th-order
Butterworth high-pass at 70 Hz, what a plain low-cut does) and ``hush`` (the ``autoeq`` step,
streamed in 5 s blocks: :class:`dsp.eq.EqAnalyzer`, then :class:`dsp.eq.Equalizer`).

Printed: per recording and seed, the error of each method and Hush's cut of the input's error
(target: >= 50 %); per matching recording, the largest change of any band (target: < 1 dB) and
the RMS change (a uniform gain removed: level is the loudness step's), for the high-pass and Hush.
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

from dsp.eq import BYRNE_CENTRES_HZ, BYRNE_FEMALE_DB, BYRNE_MALE_DB, EqAnalyzer, Equalizer  # noqa: E402
from dsp.stream import run_processor  # noqa: E402

BLOCK_S = 5.0
FRAME_S = 0.128
GATE_DB = 35.0


def load(path: Path, max_s: float) -> tuple[np.ndarray, int]:
    x, sr = sf.read(path, dtype="float32", always_2d=True)
    return x.mean(axis=1)[: int(max_s * sr)].astype(np.float32), int(sr)


def bands(sr: int) -> np.ndarray:
    hi = BYRNE_CENTRES_HZ * 10**0.05
    keep = (BYRNE_CENTRES_HZ >= 100) & (BYRNE_CENTRES_HZ <= 8000) & (hi <= 0.45 * sr)
    return np.flatnonzero(keep)


def levels(x: np.ndarray, sr: int) -> np.ndarray:
    """Third-octave levels (dB) of the frames within GATE_DB of the loudest."""
    n = round(FRAME_S * sr)
    hop = n // 2
    frames = np.lib.stride_tricks.sliding_window_view(x.astype(np.float64), n)[::hop]
    energy = np.mean(frames**2, axis=1)
    loud = frames[energy > energy.max() * 10 ** (-GATE_DB / 10)]
    spec = np.mean(np.abs(np.fft.rfft(loud * np.hanning(n), axis=1)) ** 2, axis=0)
    f = np.fft.rfftfreq(n, 1 / sr)
    idx = bands(sr)
    c = BYRNE_CENTRES_HZ[idx]
    exact = 1000.0 * 10 ** (np.round(10 * np.log10(c / 1000.0)) / 10)
    out = [np.sum(spec[(f >= e * 10**-0.05) & (f < e * 10**0.05)]) for e in exact]
    return 10 * np.log10(np.maximum(np.array(out), 1e-30))


def error(x: np.ndarray, sr: int) -> tuple[float, str, np.ndarray]:
    """RMS error to the nearer Byrne target, which, and the per-band difference (target - level)."""
    lv = levels(x, sr)
    idx = bands(sr)
    best = None
    for name, table in (("male", BYRNE_MALE_DB), ("female", BYRNE_FEMALE_DB)):
        d = lv - table[idx]
        d = d - d.mean()
        rms = float(np.sqrt(np.mean(d**2)))
        if best is None or rms < best[0]:
            best = (rms, name, -d)
    assert best is not None
    return best


def fir_from_bands(diff_db: np.ndarray, sr: int, seconds: float = 0.2) -> np.ndarray:
    c = BYRNE_CENTRES_HZ[bands(sr)]
    n = 2 * (round(seconds * sr) // 2) + 1
    size = 8 * n
    f = np.fft.rfftfreq(size, 1 / sr)
    g = np.interp(np.log(np.maximum(f, 1.0)), np.log(c), diff_db)
    h = np.roll(np.fft.irfft(10 ** (g / 20), size), n // 2)[:n] * np.hanning(n + 2)[1:-1]
    return h


def apply_fir(x: np.ndarray, h: np.ndarray) -> np.ndarray:
    y = sps.oaconvolve(x.astype(np.float64), h)[h.size // 2 : h.size // 2 + x.size]
    return y.astype(np.float32)


def match(x: np.ndarray, sr: int) -> np.ndarray:
    y = x
    for _ in range(2):
        _, _, diff = error(y, sr)
        y = apply_fir(y, fir_from_bands(diff, sr))
    return (y * (np.sqrt(np.mean(x.astype(np.float64) ** 2) / np.mean(y.astype(np.float64) ** 2)))).astype(np.float32)


def colour(x: np.ndarray, sr: int, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    tilt = rng.uniform(-2.0, 2.0)
    n = 2 * (round(0.2 * sr) // 2) + 1
    size = 8 * n
    f = np.fft.rfftfreq(size, 1 / sr)
    g = tilt * np.log2(np.maximum(f, 20.0) / 1000.0)
    h = np.roll(np.fft.irfft(10 ** (g / 20), size), n // 2)[:n] * np.hanning(n + 2)[1:-1]
    y = apply_fir(x, h).astype(np.float64)
    desc = [f"tilt {tilt:+.1f} dB/oct"]
    for _ in range(int(rng.integers(1, 3))):
        fc = float(np.exp(rng.uniform(np.log(150.0), np.log(min(5000.0, 0.4 * sr)))))
        gain = float(rng.choice([-1, 1]) * rng.uniform(3.0, 9.0))
        q = float(rng.uniform(0.7, 2.0))
        a = 10 ** (gain / 40)
        w = 2 * np.pi * fc / sr
        alpha = np.sin(w) / (2 * q)
        b = [1 + alpha * a, -2 * np.cos(w), 1 - alpha * a]
        den = [1 + alpha / a, -2 * np.cos(w), 1 - alpha / a]
        y = sps.lfilter(b, den, y)
        desc.append(f"{gain:+.0f} dB @ {fc:.0f} Hz Q {q:.1f}")
    return y.astype(np.float32), ", ".join(desc)


def highpass(x: np.ndarray, sr: int) -> np.ndarray:
    sos = sps.butter(4, 70.0, "highpass", fs=sr, output="sos")
    return sps.sosfilt(sos, x.astype(np.float64)).astype(np.float32)


def hush(x: np.ndarray, sr: int) -> tuple[np.ndarray, dict]:
    a = EqAnalyzer(sr, 1)
    step = int(BLOCK_S * sr)
    for i in range(0, x.size, step):
        a.process(x[None, i : i + step])
    eq = Equalizer(sr, 1, a.finish())
    return run_processor(eq, x, block_size=step), eq.report()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--realdev", type=Path, default=Path(__file__).resolve().parents[2] / "shared/bench/realdev")
    ap.add_argument("--seeds", type=int, default=4)
    ap.add_argument("--max-s", type=float, default=20.0)
    args = ap.parse_args()
    speech = [p for p in sorted((args.realdev / "clean_speech").iterdir()) if p.suffix in (".wav", ".flac", ".ogg")]
    print("## Random EQ colourings: third-octave RMS error to the target (dB), 100 Hz - 8 kHz\n")
    print("| file | rate | target | colouring | input | highpass | hush | hush cut | highpass cut |")
    print("|---|---|---|---|---|---|---|---|---|")
    cuts, hp_cuts, matched = [], [], []
    for k, path in enumerate(speech):
        x, sr = load(path, args.max_s)
        m = match(x, sr)
        matched.append((path, sr, x, m))
        for seed in range(args.seeds):
            y, desc = colour(m, sr, np.random.default_rng(1000 * seed + k))
            e_in, target, _ = error(y, sr)
            e_hp = error(highpass(y, sr), sr)[0]
            out, _ = hush(y, sr)
            e_hush = error(out, sr)[0]
            cut, hp_cut = 1 - e_hush / e_in, 1 - e_hp / e_in
            cuts.append(cut)
            hp_cuts.append(hp_cut)
            print(
                f"| {path.name} | {sr} | {target} | {desc} | {e_in:.2f} | {e_hp:.2f} | {e_hush:.2f} | "
                f"{100 * cut:.0f} % | {100 * hp_cut:.0f} % |"
            )
    print(
        f"\nhush cuts the error by {100 * np.median(cuts):.0f} % (median), {100 * min(cuts):.0f} % at worst, "
        f"over {len(cuts)} colourings; the high-pass alone by {100 * np.median(hp_cuts):.0f} % (median). "
        f"Target >= 50 %: {'ok' if np.median(cuts) >= 0.5 else 'MISSED'} (median), "
        f"{'ok' if min(cuts) >= 0.5 else 'MISSED'} (every colouring)"
    )

    print("\n## Speech that already matches: change of the third-octave levels (dB)\n")
    print(
        "| file | rate | error of the matched input | highpass max / RMS change | hush max / RMS change "
        "| hush curve max |"
    )
    print("|---|---|---|---|---|---|")
    worst = 0.0
    for path, sr, _x, m in matched:
        base = levels(m, sr)
        e_m = error(m, sr)[0]
        hp = levels(highpass(m, sr), sr) - base
        hp -= hp.mean()
        out, rep = hush(m, sr)
        d = levels(out, sr) - base
        d_centred = d - d.mean()  # a uniform gain is the loudness step's, not a colouring
        curve_max = max((abs(g) for _, g in rep.get("curve", [])), default=0.0)
        worst = max(worst, float(np.abs(d_centred).max()))
        print(
            f"| {path.name} | {sr} | {e_m:.2f} | {np.abs(hp).max():.2f} / {np.sqrt(np.mean(hp**2)):.2f} | "
            f"{np.abs(d_centred).max():.2f} / {np.sqrt(np.mean(d_centred**2)):.2f} | {curve_max:.2f} |"
        )
    verdict = "ok" if worst < 1 else "MISSED"
    print(f"\nlargest band change on matching speech, hush: {worst:.2f} dB (target < 1 dB): {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
