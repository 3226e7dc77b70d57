"""autoid decisions on a synthetic set with known degradations, against naive rule sets in the same run.

    nice -n 10 .venv/bin/python bench/autoid.py [--realdev ../shared/bench/realdev] [--split check]
        [--max-s 8] [--seed 7] [--dump]

Material (seeded, built in memory; only the pipeline runs write WAVs, under ``--tmp``):

* clean speech: every clean recording of ``realdev/clean_speech`` (real voices; read in place,
  mono, 16 kHz), cut into two excerpts of at most ``--max-s`` seconds (the second from the
  middle of the recording; the same excerpt twice for a recording shorter than twice that), each
  padded with 0.4 s of its own quietest stretch before and after (a recording starts and ends in
  a pause). TTS voices are not used: a formant synthesiser's spectrum lies 2-3 dB/octave off the
  long-term speech spectrum, so a clean TTS input already "needs" EQ and the EQ truth would be
  wrong;
* per excerpt, one item per degradation with its known truth (the engine it needs):

  ======== ================================================================ =============
  name     degradation                                                       truth
  ======== ================================================================ =============
  clean    none, level-matched to -16 LUFS (control)                        nothing
  white    white noise at 0/5/10/15/20 dB SNR (speech-active power)          denoise
  real     a realdev background noise at 0-20 dB SNR                         denoise
  hum      50 or 60 Hz hum with 3-6 harmonics, 20-35 dB under the speech     dehum
  room     a realdev room response or a simulated one (T60 0.5-1.2 s)        remove_reverb
  echo     one discrete echo, 60-250 ms, gain 0.4-0.7                        remove_echo
  clip     hard clipping at 25-50 % of the peak                              declip
  low      level 10-20 LU under -16 LUFS                                     loudness
  high     level 6-10 LU over -16 LUFS                                       loudness
  tilt     +-4 or +-5 dB/octave spectral tilt (100 Hz-8 kHz, around 1 kHz)   autoeq
  combo    two of the above at once (two items per excerpt)                  both
  ======== ================================================================ =============

  Every item but ``low``/``high`` is level-matched to -16 LUFS after its degradation.

* split by recording: DEV = the even-indexed recordings (both excerpts) (thresholds in :mod:`dsp.analyze` that say
  "measured on the DEV half" were set on it), CHECK = odd-indexed (reported).

Rule sets, in the same run, scored by per-decision precision and recall against the truth:

* ``autoid`` — :func:`dsp.analyze.analyze`;
* ``always_on`` — every engine on (what running the whole chain blindly does);
* ``engine_gates`` — each engine's own "nothing to do" gate alone (echo analyzer's score, reverb
  analyzer's predicted share, a hum found at any level, EQ analyzer's speech check; denoise and loudness
  have no gate and are always on; no clipping detector).

Then the clean controls run through the real pipeline (``process_file`` with the ``autoid``
step, 5 s blocks, WAV in and out) and the always-on chain, and the SI-SDR of each output against
its input is printed (target >= 40 dB for autoid).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")  # as in Hush's workers, before numpy loads

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import soundfile as sf  # noqa: E402
from scipy import signal as sps  # noqa: E402

from dsp.analyze import Analysis, analyze  # noqa: E402
from dsp.loudness import measure_loudness  # noqa: E402

SR = 16000
TARGET_LUFS = -16.0
ENGINES = ("denoise", "dehum", "remove_reverb", "remove_echo", "declip", "loudness", "autoeq")
TRUTH = {
    "clean": (),
    "white": ("denoise",),
    "real": ("denoise",),
    "hum": ("dehum",),
    "room": ("remove_reverb",),
    "echo": ("remove_echo",),
    "clip": ("declip",),
    "low": ("loudness",),
    "high": ("loudness",),
    "tilt": ("autoeq",),
}
SINGLE = [k for k in TRUTH if k != "clean"]
#: Degradations that may be combined (one level change and one noise kind at most per combo).
#: Recordings of realdev that carry mains hum of their own: the 1961 JFK broadcast (a Welch
#: spectrum of its pauses shows lines at 60, 120 and 180 Hz standing 15-22 dB over their
#: neighbourhood). Its items' dehum truth is unknown, so a second dehum row leaves them out.
OWN_HUM = ("whisper_jfk",)
COMBINABLE = ("white", "real", "hum", "room", "echo", "clip", "low", "tilt")
BLOCK_S = 5.0


def si_sdr(est: np.ndarray, ref: np.ndarray) -> float:
    ref = ref.astype(np.float64) - ref.mean()
    est = est.astype(np.float64) - est.mean()
    a = float(est @ ref) / float(ref @ ref)
    err = est - a * ref
    return float(min(100.0, 10 * np.log10(float((a * ref) @ (a * ref)) / max(float(err @ err), 1e-30))))


def resample(x: np.ndarray, sr: int) -> np.ndarray:
    if sr == SR:
        return x
    g = np.gcd(int(sr), SR)
    return np.asarray(sps.resample_poly(x, SR // g, int(sr) // g), np.float64)


def load(path: Path, max_s: float) -> np.ndarray:
    x, sr = sf.read(path, dtype="float64", always_2d=True)
    return resample(x.mean(axis=1), sr)[: int(max_s * SR)]


def pad_with_pause(x: np.ndarray) -> np.ndarray:
    """0.4 s of the recording's own quietest 0.1 s stretch, repeated, at each end."""
    n = int(0.1 * SR)
    frames = x[: x.size // n * n].reshape(-1, n)
    quiet = frames[int(np.argmin(np.mean(frames**2, axis=1)))]
    pause = np.tile(quiet, 4)
    return np.concatenate([pause, x, pause])


def level(x: np.ndarray, lufs: float) -> np.ndarray:
    now = measure_loudness(x.astype(np.float32), SR).integrated_lufs
    return x * 10 ** ((lufs - now) / 20)


def active_power(x: np.ndarray) -> float:
    """Mean power of the 10 ms frames within 30 dB of the loudest (a P.56-like active level)."""
    n = int(0.01 * SR)
    p = np.mean(x[: x.size // n * n].reshape(-1, n) ** 2, axis=1)
    return float(np.mean(p[p > p.max() * 1e-3]))


def sim_rir(t60: float, rng: np.random.Generator) -> np.ndarray:
    n = int(1.5 * t60 * SR)
    t = np.arange(n) / SR
    h = rng.standard_normal(n) * np.exp(-6.908 * t / t60)
    h[: int(0.003 * SR)] = 0.0
    h[0] = 1.0 / 0.3  # direct path over the diffuse tail
    return h / np.max(np.abs(h))


def measured_rirs(realdev: Path) -> list[np.ndarray]:
    out = []
    for p in sorted((realdev / "reverb_rir").iterdir()):
        h, sr = sf.read(p, dtype="float64", always_2d=True)
        h = resample(h[:, 0], sr)
        out.append(h[int(max(0, np.argmax(np.abs(h)) - 0.005 * SR)) :])
    return out


def noises(realdev: Path) -> list[np.ndarray]:
    out = []
    for p in sorted((realdev / "background_noise").iterdir()):
        out.append(load(p, 60.0))
    return out


def degrade(kind: str, x: np.ndarray, rng: np.random.Generator, env: dict) -> np.ndarray:
    """``x`` (16 kHz, float64) with one degradation applied (no level match)."""
    if kind in ("white", "real"):
        snr = float(rng.choice([0.0, 5.0, 10.0, 15.0, 20.0]))
        if kind == "white":
            nz = rng.standard_normal(x.size)
        else:
            src = env["noises"][int(rng.integers(len(env["noises"])))]
            reps = int(np.ceil(x.size / src.size)) + 1
            src = np.tile(src, reps)
            start = int(rng.integers(0, src.size - x.size))
            nz = src[start : start + x.size]
        nz = nz * np.sqrt(active_power(x) / np.mean(nz**2) / 10 ** (snr / 10))
        return x + nz
    if kind == "hum":
        f0 = float(rng.choice([50.0, 60.0]))
        t = np.arange(x.size) / SR
        k = int(rng.integers(3, 7))
        phases = rng.uniform(0, 2 * np.pi, k)
        hum = sum(np.sin(2 * np.pi * f0 * (i + 1) * t + phases[i]) / (i + 1) for i in range(k))
        under = float(rng.uniform(20.0, 35.0))
        hum = hum * np.sqrt(active_power(x) / np.mean(hum**2) / 10 ** (under / 10))
        return x + hum
    if kind == "room":
        if rng.random() < 0.5:
            h = env["rirs"][int(rng.integers(len(env["rirs"])))]
        else:
            h = sim_rir(float(rng.uniform(0.5, 1.2)), rng)
        return np.asarray(sps.fftconvolve(x, h)[: x.size], np.float64)
    if kind == "echo":
        d = int(rng.uniform(0.06, 0.25) * SR)
        g = float(rng.uniform(0.4, 0.7))
        y = x.copy()
        y[d:] += g * x[:-d]
        return y
    if kind == "clip":
        c = float(rng.uniform(0.25, 0.5)) * float(np.max(np.abs(x)))
        return np.clip(x, -c, c)
    if kind == "low":
        return level(x, TARGET_LUFS - float(rng.uniform(10.0, 20.0)))
    if kind == "high":
        return level(x, TARGET_LUFS + float(rng.uniform(6.0, 10.0)))
    if kind == "tilt":
        slope = float(rng.choice([-5.0, -4.0, 4.0, 5.0]))
        f = np.linspace(0, SR / 2, 257)
        octs = np.log2(np.clip(f, 100.0, 8000.0) / 1000.0)
        gain = 10 ** (slope * octs / 20)
        h = sps.firwin2(511, f, gain, fs=SR)
        return np.asarray(sps.fftconvolve(x, h, mode="same"), np.float64)
    raise ValueError(kind)


def items(sources: list[tuple[str, np.ndarray]], seed: int, env: dict) -> list[dict]:
    """Every item: source index, name, kinds, truth, audio (float32, 16 kHz)."""
    rng = np.random.default_rng(seed)
    out = []
    for si, (name, x) in enumerate(sources):
        kinds_list: list[tuple[str, ...]] = [("clean",)] + [(k,) for k in SINGLE]
        for _ in range(2):
            a, b = rng.choice(len(COMBINABLE), 2, replace=False)
            pair = tuple(sorted((COMBINABLE[a], COMBINABLE[b])))
            if set(pair) == {"white", "real"}:
                pair = ("hum", "white")
            kinds_list.append(pair)
        for kinds in kinds_list:
            y = x.copy()
            # the room before the echo and the noise (sound in a room, then the microphone)
            order = sorted(
                kinds,
                key=lambda k: ("room", "tilt", "echo", "hum", "white", "real", "clip", "low", "high", "clean").index(k),
            )
            leveled = False
            for k in order:
                if k == "clean":
                    continue
                if k in ("clip",):
                    y = level(y, TARGET_LUFS)
                y = degrade(k, y, rng, env)
                leveled = k in ("low", "high")
            if not leveled:
                y = level(y, TARGET_LUFS)
            truth = {e for k in kinds for e in TRUTH[k]}
            out.append(
                {"source": si, "name": name, "kinds": "+".join(kinds), "truth": truth, "audio": y.astype(np.float32)}
            )
    return out


def decide_always(a: Analysis) -> set[str]:
    return set(ENGINES)


def decide_gates(a: Analysis) -> set[str]:
    on = {"denoise", "loudness"}
    if a.echo.found:
        on.add("remove_echo")
    if a.reverb.applied:
        on.add("remove_reverb")
    if a.hum is not None:
        on.add("dehum")
    if a.eq.applied:
        on.add("autoeq")
    return on


def decide_autoid(a: Analysis) -> set[str]:
    return {d.engine for d in a.decisions if d.on}


def pr_table(rows: list[dict], rules: dict) -> None:
    print(f"{'engine':14s} " + " ".join(f"{r:>22s}" for r in rules))
    print(f"{'':14s} " + " ".join(f"{'P':>7s}{'R':>7s}{'n+':>8s}" for _ in rules))
    for e in ENGINES:
        cells = []
        for r in rules:
            tp = sum(1 for x in rows if e in x[r] and e in x["truth"])
            fp = sum(1 for x in rows if e in x[r] and e not in x["truth"])
            fn = sum(1 for x in rows if e not in x[r] and e in x["truth"])
            p = tp / (tp + fp) if tp + fp else float("nan")
            rc = tp / (tp + fn) if tp + fn else float("nan")
            cells.append(f"{p:7.2f}{rc:7.2f}{tp + fn:8d}")
        print(f"{e:14s} " + " ".join(cells))
    e = "dehum"
    kept = [x for x in rows if x["name"].split("#")[0] not in OWN_HUM]
    cells = []
    for r in rules:
        tp = sum(1 for x in kept if e in x[r] and e in x["truth"])
        fp = sum(1 for x in kept if e in x[r] and e not in x["truth"])
        fn = sum(1 for x in kept if e not in x[r] and e in x["truth"])
        p = tp / (tp + fp) if tp + fp else float("nan")
        rc = tp / (tp + fn) if tp + fn else float("nan")
        cells.append(f"{p:7.2f}{rc:7.2f}{tp + fn:8d}")
    print(f"{'dehum*':14s} " + " ".join(cells) + "   (* without the sources that hum themselves)")
    clean = [x for x in rows if x["kinds"] == "clean"]
    print(
        f"{'clean: none':14s} " + " ".join(f"{sum(1 for x in clean if not x[r]):>14d}/{len(clean):<7d}" for r in rules)
    )


def run_pipeline(audio: np.ndarray, steps: list[dict], tmp: Path) -> tuple[np.ndarray, list[dict]]:
    from app import media
    from app.jobs.models import OutputSpec, Step
    from app.jobs.pipeline import process_file

    src = tmp / "in.wav"
    sf.write(src, audio, SR, subtype="FLOAT")
    info = media.probe(src)
    work = tmp / "work"
    work.mkdir(exist_ok=True)
    res = process_file(
        src, info, [Step.model_validate(s) for s in steps], OutputSpec(container="wav"), work, block_seconds=BLOCK_S
    )
    assert res.path is not None
    y, _ = sf.read(res.path, dtype="float32")
    return y, res.reports


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--realdev", type=Path, default=Path(__file__).resolve().parents[2] / "shared/bench/realdev")
    ap.add_argument("--split", choices=("dev", "check", "both"), default="check")
    ap.add_argument("--max-s", type=float, default=8.0)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--tmp", type=Path, default=Path(tempfile.gettempdir()) / "hush-bench-autoid")
    ap.add_argument("--dump", action="store_true", help="print every item's measurements and decisions")
    ap.add_argument("--no-pipeline", action="store_true", help="skip the SI-SDR pipeline runs")
    args = ap.parse_args()
    args.tmp.mkdir(parents=True, exist_ok=True)
    speech = [p for p in sorted((args.realdev / "clean_speech").iterdir()) if p.suffix in (".wav", ".flac", ".ogg")]
    sources = []
    for p in speech:
        whole = load(p, 1e9)
        n = int(args.max_s * SR)
        second = whole[n : 2 * n] if whole.size >= 2 * n else whole[max(0, whole.size // 2 - n // 2) :][:n]
        sources.append((p.stem, pad_with_pause(whole[:n])))
        sources.append((p.stem + "#2", pad_with_pause(second if second.size >= SR else whole[:n])))
    env = {"rirs": measured_rirs(args.realdev), "noises": noises(args.realdev)}
    all_items = items(sources, args.seed, env)
    keep = {"dev": (0,), "check": (1,), "both": (0, 1)}[args.split]
    sel = [x for x in all_items if (x["source"] // 2) % 2 in keep]
    print(f"autoid bench: {len(sources)} clean excerpts, {len(sel)} items ({args.split}), seed {args.seed}, 16 kHz")
    rules = {"autoid": decide_autoid, "always_on": decide_always, "engine_gates": decide_gates}
    for x in sel:
        a = analyze(x["audio"], SR)
        x["analysis"] = a
        for r, f in rules.items():
            x[r] = f(a)
        if args.dump:
            m = a.measurements()
            print(
                f"{x['name'][:22]:22s} {x['kinds']:12s} truth={sorted(x['truth'])} got={sorted(x['autoid'])} "
                f"snr={m['snr_db']} t60={m['t60_s']} share={m['reverb_share']} echo={m['echo_score']} "
                f"clip={m['clipped_permille']} lufs={m['integrated_lufs']} tilt={m['tilt_db_per_octave']} "
                f"hum={m['hum_hz']}/{m['hum_re_speech_db']} speech={m['speech_share']}"
            )
    print()
    print("Per-decision precision (P) and recall (R) against the known degradations; n+ = items that need it")
    pr_table(sel, rules)
    if args.no_pipeline:
        return 0
    print()
    print("Clean level-matched inputs through the pipeline: SI-SDR (dB) of the output against the input")
    always = [
        {"name": "remove_echo"},
        {"name": "remove_reverb"},
        {"name": "denoise", "params": {"amount": 100}},
        {"name": "autoeq"},
        {"name": "loudness", "params": {"target_lufs": TARGET_LUFS}},
    ]
    print(f"{'source':30s} {'autoid':>8s} {'always_on':>10s}  autoid chain")
    worst = 100.0
    with tempfile.TemporaryDirectory(dir=args.tmp) as td:
        for x in sel:
            if x["kinds"] != "clean":
                continue
            y, reports = run_pipeline(x["audio"], [{"name": "autoid"}], Path(td))
            z, _ = run_pipeline(x["audio"], always, Path(td))
            s1, s2 = si_sdr(y[: x["audio"].size], x["audio"]), si_sdr(z[: x["audio"].size], x["audio"])
            worst = min(worst, s1)
            chain = reports[0].get("chain", [])
            print(f"{x['name'][:30]:30s} {s1:8.1f} {s2:10.1f}  {chain}")
    print(f"worst autoid SI-SDR on clean: {worst:.1f} dB (target >= 40)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
