"""keep_music on synthetic podcasts: music found, music left alone, music never cut as a pause.

    .venv/bin/python bench/keep_music.py [--split dev|check|all] [--limit N] [--json run.json]

Material (built in memory, nothing written to the corpora): each item is a podcast at the rate
of one clean TTS file of the shared VAD corpus (``/tmp/hushbench/vad``, 8, 16 and 48 kHz, exact
speech truth) with one real music clip of ``../shared/bench/realdev/music`` or a synthetic one
(the shared ``noises.py`` music generator):

    [music intro 8 s][0.6 s][speech A 12 s][2.5 s pause][speech B over a music bed 12 s]
    [2 s pause][music outro 9 s: 4 s, a 1.2 s rest at -60 dB, 3.8 s fading out][1.5 s room]

The speech track carries a real background noise (realdev ``background_noise``) at 15 dB SNR
(active speech over noise) from the start of speech A to the end of the last pause; the bed sits
14 dB under the voice; intro, bed and outro are clean, as music added in editing is. The level
is that of a mastered podcast (speech peaks near -6 dBFS) with a -70 dBFS room floor.

DEV/CHECK split: the 12 corpus files alternate DEV (even index) and CHECK (odd); the music
clips are split too: DEV uses Vibe Ace (jazz), Brahms (strings) and synthetic seed 1; CHECK uses
Let's Go Fishin' (a song with vocals), the MUSAN piece of ina_musanmix and synthetic seed 2. The
constants of ``dsp/music.py`` were set on DEV; CHECK is the report.

Printed, per split, in the same run:

* **Music F1**: 10 ms frames labelled music-only against the truth (intro and outro, the rest
  included), for Hush's :class:`dsp.music.MusicDetector` and two baselines: the single
  low-energy-ratio feature of Scheirer & Slaney (window under 0.35 low-energy frames and
  active), and the speech detector's complement (active and not speech, the choice a chain
  without a music detector implicitly makes).
* **The chain**: ``denoise`` + ``long_silences`` through the real pipeline
  (:func:`app.jobs.pipeline.process_file`) with and without ``keep_music``: SI-SDR of the
  music-only stretches of the output against the input, seconds of music (music-only or bed)
  removed as pauses, seconds of pause removed elsewhere, and the noise left in the speech
  pauses (dB under the input) to show the speech part is still processed.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app import media  # noqa: E402
from app.jobs.models import OutputSpec, Step  # noqa: E402
from app.jobs.pipeline import process_file  # noqa: E402
from dsp.music import HOP_S, MusicDetector  # noqa: E402
from dsp.vad import SpeechDetector  # noqa: E402

SHARED = ROOT.parent / "shared" / "bench"
REALDEV = SHARED / "realdev"
VAD_DATA = Path("/tmp/hushbench/vad")
MUSIC = {
    "dev": ["librosa_kevin_macleod_vibe_ace.hq.ogg", "librosa_brahms_hungarian_dance5.hq.ogg", "synth:1"],
    "check": ["librosa_karissa_hobbs_lets_go_fishin.hq.ogg", "ina_musanmix.wav", "synth:2"],
}
NOISES = ["noisereduce_cafe_short.wav", "speechcommands_doing_the_dishes.wav", "dfn_noise_freesound_573577.wav"]
BLOCK = 65536
Segs = list[tuple[float, float]]


def load(path: Path, sr: int) -> np.ndarray:
    x, s = sf.read(str(path), dtype="float64", always_2d=True)
    x = x.mean(axis=1)
    if s != sr:
        from math import gcd

        g = gcd(sr, s)
        x = resample_poly(x, sr // g, s // g)
    return x


def music_clip(name: str, sr: int, n: int, offset_s: float) -> np.ndarray:
    if name.startswith("synth:"):
        sys.path.insert(0, str(SHARED / "vad"))
        noises = importlib.import_module("noises")
        return np.asarray(noises.make_noise("music", n, sr, np.random.default_rng(int(name[6:]))))
    x = load(REALDEV / "music" / name, sr)
    if name.startswith("ina_"):
        x = x[: int(22.0 * sr)]  # its music part (the rest is noise, silence and speech)
    x = np.tile(x, 1 + (n + int(offset_s * sr)) // x.size)
    return x[int(offset_s * sr) : int(offset_s * sr) + n]


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(x**2) + 1e-20))


def speech_excerpts(
    item: dict[str, Any], x: np.ndarray, sr: int, want_s: float = 12.0
) -> list[tuple[np.ndarray, Segs]]:
    """Two excerpts of about ``want_s`` of speech (whole segments), with their truth."""
    out = []
    segs = [tuple(s) for s in item["truth"]]
    i = 0
    while len(out) < 2 and i < len(segs):
        start = segs[i][0]
        j = i
        while j < len(segs) and segs[j][1] - start < want_s:
            j += 1
        j = min(j, len(segs) - 1)
        end = segs[j][1]
        a, b = int(start * sr), int(end * sr)
        out.append((x[a:b], [(s - start, e - start) for s, e in segs[i : j + 1]]))
        i = j + 1
    return out


def podcast(item: dict[str, Any], music: str, noise: str, seed: int) -> dict[str, Any]:
    sr = int(item["sr"])
    clean, _ = sf.read(str(VAD_DATA / item["file"]), dtype="float64")
    (sa, ta), (sb, tb) = speech_excerpts(item, clean, sr)

    def active_rms(x: np.ndarray, segs: Segs) -> float:
        idx = np.concatenate([np.arange(int(a * sr), min(int(b * sr), x.size)) for a, b in segs])
        return rms(x[idx])

    la, lb = active_rms(sa, ta), active_rms(sb, tb)
    sb = sb * la / lb  # both excerpts at one active-speech level
    level = la
    mus_n = int(60 * sr)
    mus = music_clip(music, sr, mus_n, 3.0)
    mus *= level / rms(mus[: int(30 * sr)])  # music at the speech's level (a loudness-matched edit)
    intro, bed_src, outro = mus[: 8 * sr], mus[10 * sr : 10 * sr + sb.size], mus[30 * sr : 39 * sr].copy()
    rest = slice(int(4 * sr), int(5.2 * sr))
    outro[rest] *= 10 ** (-60 / 20)  # a rest: the band stops for 1.2 s
    outro[int(6 * sr) :] *= np.linspace(1.0, 0.0, outro.size - int(6 * sr))  # 3 s linear fade-out
    bed = bed_src * 10 ** (-14 / 20)
    parts: list[tuple[str, np.ndarray]] = [
        ("intro", intro),
        ("gap", np.zeros(int(0.6 * sr))),
        ("A", sa),
        ("pause", np.zeros(int(2.5 * sr))),
        ("B", sb + bed),
        ("pause", np.zeros(int(2.0 * sr))),
        ("outro", outro),
        ("room", np.zeros(int(1.5 * sr))),
    ]
    x = np.concatenate([p for _, p in parts])
    clean_full = x.copy()
    bounds, pos = [], 0
    for name, p in parts:
        bounds.append((name, pos / sr, (pos + p.size) / sr))
        pos += p.size
    rng = np.random.default_rng(seed)
    # the speech track's noise: from speech A to the end of the last pause
    a0, a1 = int(bounds[2][1] * sr), int(bounds[5][2] * sr)
    nz = load(REALDEV / "background_noise" / noise, sr)
    nz = np.tile(nz, 1 + (a1 - a0) // nz.size)[: a1 - a0]
    nz *= level / rms(nz) * 10 ** (-15 / 20)
    x[a0:a1] += nz
    x += 10 ** (-70 / 20) * rng.standard_normal(x.size)
    g = 0.5 / max(np.max(np.abs(x)), 1e-9)  # speech peaks near -6 dBFS
    x, clean_full = x * g, clean_full * g
    bed_truth = [(bounds[4][1], bounds[4][2])]
    speech_truth = [(bounds[2][1] + s, bounds[2][1] + e) for s, e in ta] + [
        (bounds[4][1] + s, bounds[4][1] + e) for s, e in tb
    ]
    # music-only: intro, outro, and the gaps of 2 s and more between the words over the bed
    # (0.3 s from the speech), where the bed plays alone
    music_truth = [(b[1], b[2]) for b in bounds if b[0] in ("intro", "outro")]
    b0, b1 = bed_truth[0]
    edges = [b0] + [t for s, e in speech_truth if b0 <= s < b1 for t in (s - 0.3, e + 0.3)] + [b1]
    music_truth += [(a, b) for a, b in zip(edges[::2], edges[1::2], strict=True) if b - a >= 2.0]
    music_truth.sort()
    pauses = [(b[1], b[2]) for b in bounds if b[0] == "pause"]
    return {
        "x": x.astype(np.float32),
        "sr": sr,
        "music": music_truth,
        "bed": bed_truth,
        "speech": speech_truth,
        "pauses": pauses,
        "dur": x.size / sr,
    }


# ---------------------------------------------------------------- discriminators
def frames(segs: Segs, dur: float) -> np.ndarray:
    n = round(dur / HOP_S)
    m = np.zeros(n, bool)
    for s, e in segs:
        m[round(s / HOP_S) : round(e / HOP_S)] = True
    return m


#: Frames this close (s) to a truth boundary are not scored (the usual collar of segmentation
#: scoring; a fade or a breath has no exact edge).
COLLAR_S = 0.5


def f1(pred: Segs, truth: Segs, dur: float, collar_s: float = COLLAR_S) -> float:
    p, t = frames(pred, dur), frames(truth, dur)
    if collar_s > 0:
        keep = np.ones(p.size, bool)
        c = round(collar_s / HOP_S)
        for s, e in truth:
            for edge in (round(s / HOP_S), round(e / HOP_S)):
                keep[max(0, edge - c) : edge + c] = False
        p, t = p[keep], t[keep]
    tp = float(np.sum(p & t))
    prec = tp / max(float(np.sum(p)), 1.0)
    rec = tp / max(float(np.sum(t)), 1.0)
    return 2 * prec * rec / max(prec + rec, 1e-9)


def runs(mask: np.ndarray) -> Segs:
    d = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return [(s * HOP_S, e * HOP_S) for s, e in zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1), strict=True)]


LAST_BED: list[Segs] = []


def run_hush(x: np.ndarray, sr: int) -> Segs:
    det = MusicDetector(sr, 1)
    for i in range(0, x.size, BLOCK):
        det.process(x[np.newaxis, i : i + BLOCK])
    found = det.finish()
    LAST_BED[:] = [list(found.bed)]
    return list(found.music)


def frame_levels(x: np.ndarray, sr: int) -> np.ndarray:
    hop = round(HOP_S * sr)
    n = x.size // hop
    return np.mean(x[: n * hop].reshape(n, hop).astype(np.float64) ** 2, axis=1) + 1e-20


def active(p: np.ndarray) -> np.ndarray:
    from scipy.ndimage import uniform_filter1d

    lev = 10 * np.log10(uniform_filter1d(p, 100))
    return lev > max(float(np.percentile(lev, 95)) - 40.0, -70.0)


def run_low_energy(x: np.ndarray, sr: int) -> Segs:
    """Scheirer & Slaney's low-energy-ratio feature alone: < 0.35 over 2 s, active."""
    from scipy.ndimage import uniform_filter1d

    p = frame_levels(x, sr)
    mean = uniform_filter1d(p, 100)
    low = uniform_filter1d((p < 0.5 * mean).astype(float), 200)
    return runs((low < 0.35) & active(p))


def run_vad_complement(x: np.ndarray, sr: int) -> Segs:
    det = SpeechDetector(sr, 1)
    for i in range(0, x.size, BLOCK):
        det.process(x[np.newaxis, i : i + BLOCK])
    p = frame_levels(x, sr)
    speech = frames(det.finish(), x.size / sr)[: p.size]
    speech = np.pad(speech, (0, p.size - speech.size))
    return runs(active(p) & ~speech)


# ---------------------------------------------------------------- the chain
def si_sdr(ref: np.ndarray, est: np.ndarray) -> float:
    ref = ref - ref.mean()
    est = est - est.mean()
    a = float(np.dot(est, ref) / (np.dot(ref, ref) + 1e-20))
    t = a * ref
    return float(10 * np.log10((np.dot(t, t) + 1e-20) / (np.dot(est - t, est - t) + 1e-20)))


def overlap(cuts: Segs, spans: Segs) -> float:
    return float(sum(max(0.0, min(b, e) - max(a, s)) for a, b in cuts for s, e in spans))


def run_chain(pod: dict[str, Any], keep: bool, tmp: Path) -> dict[str, float]:
    sr, x = pod["sr"], pod["x"]
    src = tmp / "in.wav"
    sf.write(str(src), x, sr, subtype="FLOAT")
    info = media.probe(src)
    pre = [Step(name="keep_music")] if keep else []
    den = process_file(src, info, [*pre, Step(name="denoise")], OutputSpec(container="wav"), tmp, block_seconds=5.0)
    assert den.path is not None
    y, _ = sf.read(str(den.path), dtype="float64")
    sil = process_file(
        src, info, [*pre, Step(name="long_silences")], OutputSpec(container="wav"), tmp, block_seconds=5.0
    )
    cuts = next(r for r in sil.reports if r["step"] == "long_silences")["cuts"]
    m = frames(pod["music"], pod["dur"])
    idx = np.repeat(m, round(HOP_S * sr))[: x.size]
    idx = np.pad(idx, (0, x.size - idx.size))
    music_sdr = si_sdr(x[idx].astype(np.float64), y[: x.size][idx])
    pause_idx = np.zeros(x.size, bool)
    for s, e in pod["pauses"]:
        pause_idx[int((s + 0.3) * sr) : int((e - 0.3) * sr)] = True
    pause_db = 10 * np.log10(np.sum(x[pause_idx].astype(np.float64) ** 2) / max(np.sum(y[pause_idx] ** 2), 1e-20))
    cut_spans = [(a, b) for a, b in cuts]
    return {
        "music_si_sdr": music_sdr,
        "music_cut_s": overlap(cut_spans, pod["music"] + pod["bed"]),
        "pause_cut_s": overlap(cut_spans, pod["pauses"]),
        "pause_noise_down_db": pause_db,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--split", choices=["dev", "check", "all"], default="all")
    ap.add_argument("--limit", type=int, default=0, help="items per split (0: all 6)")
    ap.add_argument("--no-chain", action="store_true", help="discriminators only")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    manifest = json.loads((VAD_DATA / "manifest.json").read_text())
    items = manifest["items"]
    splits = ["dev", "check"] if args.split == "all" else [args.split]
    results: dict[str, list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        for split in splits:
            chosen = [it for i, it in enumerate(items) if (i % 2 == 0) == (split == "dev")]
            if args.limit:
                chosen = chosen[: args.limit]
            rows = []
            for k, item in enumerate(chosen):
                music = MUSIC[split][k % 3]
                pod = podcast(item, music, NOISES[k % 3], seed=k)
                row: dict[str, Any] = {"item": item["id"], "music": music.split(".")[0][:24], "sr": pod["sr"]}
                for name, fn in (
                    ("hush", run_hush),
                    ("low_energy", run_low_energy),
                    ("vad_complement", run_vad_complement),
                ):
                    pred = fn(pod["x"], pod["sr"])
                    row[f"f1_{name}"] = f1(pred, pod["music"], pod["dur"])
                    row[f"f1nc_{name}"] = f1(pred, pod["music"], pod["dur"], collar_s=0.0)
                    if name == "hush":
                        row["hush_music"] = [(round(a, 2), round(b, 2)) for a, b in pred]
                        # speech over the bed (the bed stretch without its music-only gaps) found as bed
                        talk = [(s, e) for s, e in pod["speech"] if pod["bed"][0][0] <= s < pod["bed"][0][1]]
                        row["bed_found"] = overlap(LAST_BED[0], talk) / max(sum(e - s for s, e in talk), 1e-9)
                        row["truth"] = [(round(a, 2), round(b, 2)) for a, b in pod["music"] + pod["bed"]]
                if not args.no_chain:
                    for keep in (True, False):
                        for key, v in run_chain(pod, keep, tmp).items():
                            row[f"{'keep' if keep else 'plain'}_{key}"] = v
                rows.append(row)
                print(json.dumps({k: (round(v, 2) if isinstance(v, float) else v) for k, v in row.items()}), flush=True)
            results[split] = rows
    print()
    for split, rows in results.items():
        print(f"== {split.upper()} ({len(rows)} podcasts) ==")
        print(f"{'':28s} {'Hush':>8s} {'low-energy':>11s} {'VAD compl.':>11s}")
        for label, key, agg in (
            ("music F1 (mean)", "f1", np.mean),
            ("music F1 (worst)", "f1", np.min),
            ("music F1, no collar (mean)", "f1nc", np.mean),
        ):
            vals = [agg([r[f"{key}_{m}"] for r in rows]) for m in ("hush", "low_energy", "vad_complement")]
            print(f"{label:28s} {vals[0]:8.3f} {vals[1]:11.3f} {vals[2]:11.3f}")
        print(f"{'speech over bed found as bed':28s} {np.mean([r['bed_found'] for r in rows]):8.3f}")
        if not args.no_chain:
            print(f"{'chain denoise+long_silences':28s} {'keep_music':>11s} {'plain':>8s}")
            for key, label in (
                ("music_cut_s", "music cut as pause s (sum)"),
                ("pause_cut_s", "speech pauses cut s (sum)"),
                ("pause_noise_down_db", "noise down in pauses dB"),
            ):
                agg = np.sum if key.endswith("_s") else np.mean
                keep, plain = agg([r["keep_" + key] for r in rows]), agg([r["plain_" + key] for r in rows])
                print(f"{label:28s} {keep:11.2f} {plain:8.2f}")
            for which, fn in (("median", np.median), ("worst", np.min)):
                k, p = fn([r["keep_music_si_sdr"] for r in rows]), fn([r["plain_music_si_sdr"] for r in rows])
                print(f"{'music-only SI-SDR dB ' + which:28s} {min(k, 99.0):11.2f} {min(p, 99.0):8.2f}")
            n30 = sum(r["keep_music_si_sdr"] >= 30 for r in rows), sum(r["plain_music_si_sdr"] >= 30 for r in rows)
            print(f"{'podcasts with SI-SDR >= 30':28s} {n30[0]:8d}/{len(rows)} {n30[1]:5d}/{len(rows)}")
            print("(SI-SDR shown capped at 99: the input passed bit for bit)")
        print()
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=float))


if __name__ == "__main__":
    main()
