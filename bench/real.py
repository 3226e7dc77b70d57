"""Real speech x real noise: denoisers scored on recorded voices, noises and rooms.

    python bench/real.py [--half dev|check|both] [--methods noisy,hush,rnnoise,...] [--no-dnsmos]
    python bench/real.py --speed --methods hush,rnnoise,hush_rnnoise,hush_dfn3

Methods ``hush_rnnoise`` and ``hush_dfn3`` run Hush's own neural engine classes
(``app.jobs.engines.NeuralDenoiser``, engines ``rnnoise`` and ``deepfilternet3``, needs
``hush[neural]``) in 5 s blocks, the way the job runner drives them. ``--speed`` runs each method
in a fresh forked process over the same files and prints x real time (one core) and the peak
resident memory it added.

Builds its material from the recordings in ``../shared/bench/realdev/`` (read in place, never
copied): each clean speech recording (a 6 s excerpt at 16 kHz) is mixed with a real background
noise recording at -5, 5 and 20 dB SNR, and convolved with a measured room impulse response
(plus noise at 10 dB). The recordings are split into two halves with different speakers, noises
and rooms: DEV (what the denoiser may be tuned on) and CHECK (evaluated only). Also scored:
do-no-harm rows (clean speech and music passed through alone, scored against themselves) and
noise-only rows (how many dB of a real noise recording are removed).

Metrics: PESQ-WB, STOI, SI-SDR against the clean (for rooms: the dry) reference, and DNSMOS
P.835 SIG/BAK/OVRL from ``speechmos``' packaged ONNX models (``../shared/bench/metrics.py``).
Anchor outputs and scores are cached in ``bench/out/real_cache/`` (git-ignored), keyed by method,
item and a hash of the denoiser source for ``hush``, so a re-run only recomputes what changed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
from scipy import signal

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.denoise import DEFAULT_METRICS, align, load_metrics, run_method  # noqa: E402
from dsp import reduce_noise  # noqa: E402

# Hush with one stage off at a time: what each stage does to real material.
ABLATIONS: dict[str, dict[str, Any]] = {
    "hush_noexp": {"expand_db": 0.0},
    "hush_exp6": {"expand_db": 6.0},
    "hush_nohum": {"hum": False},
    "hush_noclick": {"declick": False},
    "hush_core": {"expand_db": 0.0, "hum": False, "declick": False},
    "hush_nogate": {"speech": None},
    "hush_mr25": {"max_reduction_db": 25.0},
    "hush_mr30": {"max_reduction_db": 30.0},
    "hush_mr30_noexp": {"max_reduction_db": 30.0, "expand_db": 0.0},
}

REAL = REPO.parent / "shared" / "bench" / "realdev"
CACHE = REPO / "bench" / "out" / "real_cache"
SR = 16000
CLIP_S = 6.0
SNRS_DB = (-5, 5, 20)
ROOM_SNR_DB = 10

# Two halves with no speaker, noise or room in common.
HALVES: dict[str, dict[str, list[str]]] = {
    "dev": {
        "speech": [
            "librispeech_198-209-0000.hq.ogg",
            "ljspeech_LJ050-0131.wav",
            "vctk_p360_001_mic1.flac",
            "spatialaudio_xmas_male.wav",
        ],
        "noise": ["speechcommands_doing_the_dishes.wav", "noisereduce_cafe_short.wav"],
        "rir": ["openair_rir_york_council_chamber_s1r1.wav", "dfn_rir_sim_rt60_0.79.wav"],
        "music": ["librosa_brahms_hungarian_dance5.hq.ogg", "librosa_karissa_hobbs_lets_go_fishin.hq.ogg"],
    },
    "check": {
        "speech": [
            "librispeech_5703-47212-0000.hq.ogg",
            "whisper_jfk.flac",
            "dfn_clean_freesound_33711.wav",
            "silero_test.wav",
        ],
        "noise": ["speechcommands_exercise_bike.wav", "dfn_noise_freesound_573577.wav"],
        "rir": ["openair_rir_arthur_sykes_auditorium_s1r4.wav", "spatialaudio_rir_clap_seminar_room.wav"],
        "music": ["librosa_kevin_macleod_vibe_ace.hq.ogg", "librosa_solo_trumpet.hq.ogg"],
    },
}


def load(path: Path, n: int | None = None, offset_s: float = 0.0) -> np.ndarray:
    """Mono float64 at 16 kHz; ``n`` samples from ``offset_s`` (tiled when shorter)."""
    x, sr = sf.read(path, dtype="float64", always_2d=True)
    x = x.mean(axis=1)
    if sr != SR:
        x = signal.resample_poly(x, SR, sr)
    x = x[int(offset_s * SR) % max(x.size, 1) :]  # an offset past the end wraps round
    if n is not None:
        while x.size < n:
            x = np.concatenate([x, x])
        x = x[:n]
    return x


def active_rms(x: np.ndarray) -> float:
    """RMS over the 50 ms frames within 30 dB of the loudest (a crude active level)."""
    f = 800
    frames = x[: x.size // f * f].reshape(-1, f)
    e = (frames**2).mean(axis=1) + 1e-20
    keep = e > e.max() * 1e-3
    return float(np.sqrt(e[keep].mean()))


def build(half: str) -> list[dict[str, Any]]:
    """The items of one half: ``id``, ``kind``, ``group``, ``noisy`` and ``clean`` (or None)."""
    sel = HALVES[half]
    n = int(CLIP_S * SR)
    items: list[dict[str, Any]] = []
    speech = {s: load(REAL / "clean_speech" / s, n, 0.5) for s in sel["speech"]}
    for s, x in speech.items():
        x = x / (np.abs(x).max() + 1e-12) * 0.5
        speech[s] = x
        items.append({"id": f"clean:{s}", "kind": "clean", "group": "clean speech", "noisy": x, "clean": x})
    for nf in sel["noise"]:
        for i, (s, x) in enumerate(speech.items()):
            nz = load(REAL / "background_noise" / nf, n, 0.3 * i)
            nz = nz / (active_rms(nz) + 1e-12)
            for snr in SNRS_DB:
                y = x + nz * active_rms(x) * 10 ** (-snr / 20)
                g = 0.9 / max(1.0, np.abs(y).max() / 0.9) if np.abs(y).max() > 0.9 else 1.0
                items.append(
                    {
                        "id": f"mix:{s}:{nf}:{snr}",
                        "kind": "mix",
                        "group": f"{nf.split('.')[0]}",
                        "snr": snr,
                        "noisy": y * g,
                        "clean": x * g,
                    }
                )
        nz = load(REAL / "background_noise" / nf, n)
        nz = 0.05 * nz / (active_rms(nz) + 1e-12)
        items.append({"id": f"noise:{nf}", "kind": "noise", "group": "noise only", "noisy": nz, "clean": None})
    for r in sel["rir"][:1]:
        h = load(REAL / "reverb_rir" / r)
        h = h[int(np.argmax(np.abs(h))) :][: int(1.5 * SR)]
        h = h / (np.abs(h).max() + 1e-12)
        nz = load(REAL / "background_noise" / sel["noise"][0], n, 1.0)
        for s, x in speech.items():
            wet = signal.fftconvolve(x, h)[:n]
            wet = wet * active_rms(x) / (active_rms(wet) + 1e-12)
            y = wet + nz / (active_rms(nz) + 1e-12) * active_rms(x) * 10 ** (-ROOM_SNR_DB / 20)
            g = min(1.0, 0.9 / (np.abs(y).max() + 1e-12))
            items.append(
                {"id": f"room:{s}:{r}", "kind": "room", "group": "room+noise 10 dB", "noisy": y * g, "clean": x * g}
            )
    for m in sel["music"][:1]:
        x = load(REAL / "music" / m, n, 5.0)
        x = x / (np.abs(x).max() + 1e-12) * 0.5
        items.append({"id": f"music:{m}", "kind": "music", "group": "music", "noisy": x, "clean": x})
    return items


# Hush's optional neural engines (app/jobs/engines.py), run through its own streaming classes.
ENGINES = {"hush_rnnoise": "rnnoise", "hush_dfn3": "deepfilternet3"}


def run_engine(engine: str, x: np.ndarray, sr: int) -> np.ndarray:
    from app.jobs.engines import NeuralDenoiser
    from dsp.stream import run_processor

    y = run_processor(NeuralDenoiser(sr, 1, engine=engine), x[None, :].astype(np.float32), block_size=5 * sr)
    return np.asarray(y, np.float64).reshape(-1)


def apply(method: str, x: np.ndarray) -> np.ndarray:
    if method in ABLATIONS:
        return np.asarray(reduce_noise(x, SR, **ABLATIONS[method]), np.float64)
    if method in ENGINES:
        return run_engine(ENGINES[method], x, SR)
    return np.asarray(run_method(method, x, SR), np.float64)


def _speed_child(method: str, xs: list[np.ndarray], q: Any) -> None:
    import resource
    import time

    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    apply(method, xs[0][: SR // 2].astype(np.float32))  # load the model once, outside the timing
    t0 = time.process_time()
    for x in xs:
        apply(method, x.astype(np.float32))
    cpu = time.process_time() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    q.put((cpu, (peak - base) / 1024.0, base / 1024.0))


def speed(methods: list[str], items: list[dict[str, Any]]) -> None:
    """x real time (CPU seconds, so other load on the machine counts less) and peak RSS per method."""
    import multiprocessing as mp

    xs = [it["noisy"] for it in items]
    audio_s = sum(x.size for x in xs) / SR
    print(f"\nspeed on {len(xs)} files, {audio_s:.0f} s of {SR} Hz mono audio (one process, one thread each)")
    print("  (x real time = audio seconds per CPU second; peak RSS added includes loading the model)")
    print(f"  {'method':14s} {'x real time':>12s} {'peak RSS added MB':>18s} {'RSS at start MB':>16s}")
    ctx = mp.get_context("fork")
    for m in methods:
        if m == "noisy":
            continue
        q = ctx.Queue()
        p = ctx.Process(target=_speed_child, args=(m, xs, q))
        p.start()
        cpu, added, base = q.get()
        p.join()
        print(f"  {m:14s} {audio_s / cpu:12.1f} {added:18.1f} {base:16.1f}")


def hush_key() -> str:
    """Hash of the DSP sources, so cached Hush scores are redone whenever the engine changes."""
    h = hashlib.sha1()
    srcs = sorted((REPO / "dsp").glob("*.py")) + sorted((REPO / "dsp").glob("*.c"))
    for p in [*srcs, REPO / "app" / "jobs" / "engines.py"]:
        h.update(p.read_bytes())
    return h.hexdigest()[:12]


def _si_sdr(ref: np.ndarray, est: np.ndarray) -> float:
    """Scale-invariant SDR in dB of ``est`` against ``ref`` (Le Roux et al. 2019)."""
    a = float(np.dot(est, ref) / (np.dot(ref, ref) + 1e-20))
    e = est - a * ref
    return float(10 * np.log10((a * a * np.dot(ref, ref) + 1e-20) / (np.dot(e, e) + 1e-20)))


def own_snr_db(x: np.ndarray) -> float:
    """A recording's own SNR: mean power of its louder half of 50 ms frames over its quietest tenth."""
    f = 800
    e = np.sort((x[: x.size // f * f].reshape(-1, f) ** 2).mean(axis=1)) + 1e-20
    return float(10 * np.log10(e[e.size // 2 :].mean() / e[: max(e.size // 10, 1)].mean()))


def clean_detail(x: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """Clean speech passed alone: SI-SDR, SI-SDR above 100 Hz (rumble and hum removal aside),
    level change (dB) and the input's own SNR."""
    sos = signal.butter(4, 100, btype="highpass", fs=SR, output="sos")
    return {
        "si_sdr_hp": _si_sdr(signal.sosfiltfilt(sos, x), signal.sosfiltfilt(sos, y)),
        "level_db": float(10 * np.log10((y**2).mean() / ((x**2).mean() + 1e-20) + 1e-20)),
        "own_snr_db": own_snr_db(x),
    }


def score(met: Any, item: dict[str, Any], method: str, dnsmos: bool, key: str) -> dict[str, Any]:
    tag = hashlib.sha1(
        f"{item['id']}|{method}|{key if method.startswith('hush') else ''}|{dnsmos}".encode()
    ).hexdigest()[:16]
    f = CACHE / f"{tag}.json"
    if f.exists():
        cached = dict(json.loads(f.read_text()))
        if item["kind"] != "clean" or "level_db" in cached:  # older entries lack the clean details
            return cached
    x = item["noisy"].astype(np.float32)
    y = apply(method, x)
    if method != "noisy" and not method.startswith("hush"):
        y, _ = align(item["noisy"], y, SR)
        y = np.asarray(y, np.float64)
    out: dict[str, Any] = {}
    if item["kind"] == "noise":
        out["removed_db"] = 10 * np.log10((x.astype(np.float64) ** 2).mean() / ((y**2).mean() + 1e-20))
        out.update(met.evaluate(x, y, SR, with_dnsmos=False, intrusive=False))
    elif item["kind"] == "clean":
        out.update(met.evaluate(item["clean"], y, SR, with_dnsmos=dnsmos))
        out.update(clean_detail(np.asarray(item["clean"], np.float64), y))
    else:
        out.update(met.evaluate(item["clean"], y, SR, with_dnsmos=dnsmos))
    out = {k: float(v) for k, v in out.items()}
    CACHE.mkdir(parents=True, exist_ok=True)
    f.write_text(json.dumps(out))
    return out


COLS = ("pesq_wb", "stoi", "si_sdr", "dnsmos_sig", "dnsmos_bak", "dnsmos_ovrl")


def table(half: str, rows: list[tuple[dict[str, Any], str, dict[str, Any]]], methods: list[str]) -> None:
    groups: dict[str, dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for item, m, s in rows:
        groups[item["group"]][m].append(s)
        if item["kind"] == "mix":
            groups[f"all real noise, SNR {item['snr']:+d}"][m].append(s)
            groups["all real noise mixes"][m].append(s)
    print(f"\n=== {half.upper()} half ===")
    for g in sorted(groups):
        print(f"\n{g}  (n={len(next(iter(groups[g].values())))})")
        if g == "noise only":
            print(f"  {'method':14s} removed_dB")
            for m in methods:
                v = [s["removed_db"] for s in groups[g][m]]
                print(f"  {m:14s} {np.mean(v):9.1f}")
            continue
        print(f"  {'method':14s} " + " ".join(f"{c:>11s}" for c in COLS))
        for m in methods:
            ss = groups[g][m]
            vals = []
            for c in COLS:
                v = [s[c] for s in ss if c in s and np.isfinite(s[c])]
                vals.append(f"{np.mean(v):11.2f}" if v else f"{'-':>11s}")
            print(f"  {m:14s} " + " ".join(vals))
    clean = [(item, m, s) for item, m, s in rows if item["kind"] == "clean"]
    if clean:
        print("\nclean speech per file: SI-SDR / SI-SDR above 100 Hz / level change (dB); own SNR of the input")
        for m in methods:
            ss = [(item, s) for item, mm, s in clean if mm == m]
            cells = [f"{s['si_sdr']:.1f}/{s['si_sdr_hp']:.1f}/{s['level_db']:+.2f}" for _, s in ss]
            med = np.median([s["si_sdr"] for _, s in ss])
            worst = min(s["si_sdr"] for _, s in ss)
            print(f"  {m:14s} " + "  ".join(cells) + f"   median {med:.1f} worst {worst:.1f}")
        print(
            "  own SNR (dB):  "
            + "  ".join(
                f"{item['id'].split(':')[1][:24]} {s['own_snr_db']:.1f}" for item, m, s in clean if m == methods[0]
            )
        )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--half", choices=("dev", "check", "both"), default="both")
    ap.add_argument("--methods", default="noisy,hush,rnnoise,nr_stat,afftdn")
    ap.add_argument("--no-dnsmos", action="store_true", help="skip DNSMOS (much faster)")
    ap.add_argument("--metrics", type=Path, default=DEFAULT_METRICS)
    ap.add_argument("--speed", action="store_true", help="print x real time and peak memory per method, no scores")
    args = ap.parse_args()
    if args.speed:
        halves_ = ("dev", "check") if args.half == "both" else (args.half,)
        speed(args.methods.split(","), [it for h in halves_ for it in build(h) if it["kind"] == "mix"])
        return 0
    met = load_metrics(args.metrics)
    methods = args.methods.split(",")
    key = hush_key()
    halves = ("dev", "check") if args.half == "both" else (args.half,)
    for half in halves:
        rows = []
        for item in build(half):
            for m in methods:
                rows.append((item, m, score(met, item, m, not args.no_dnsmos, key)))
        table(half, rows, methods)
    return 0


if __name__ == "__main__":
    sys.exit(main())
