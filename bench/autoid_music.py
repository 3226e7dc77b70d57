"""What the AudioCleaner ``autoid`` and ``autoeq`` flags do to music, speech and speech over music.

    nice -n 10 .venv/bin/python bench/autoid_music.py [--realdev ../shared/bench/realdev] [--flags autoid,autoeq]
        [--json run.json]

Material, read in place from ``../shared/bench/realdev/`` (nothing is written but the pipeline's
WAVs under a temporary directory):

* ``music``: the instrumental clips (Brahms' Hungarian Dance No. 5, Vibe Ace, the solo trumpet),
  whole, at their own rate and channel count (44.1 kHz stereo); ``song``: Let's Go Fishin' (a
  band with a lead vocal), whole;
* ``speech``: every ``clean_speech`` recording, whole, at its own rate;
* ``speech+music``: each clean speech recording (mono, its rate) over an instrumental bed (Vibe
  Ace and Brahms in turn, from 10 s in) 14 dB under the speech's power (the bed of
  bench/keep_music.py), the bed starting 1 s before the speech and ending 1 s after it; and the
  pyAudioAnalysis speech-and-music clip as it is.

Each input runs through the job pipeline (``process_file``, 5 s blocks, WAV out) as the
AudioCleaner dialect plans the flag alone; the flag's report is rendered by the dialect
(``app.dialects.audiocleaner.report``). Printed per input: the flag's status and reason, the
steps that ran and the decisions (autoid: each engine on/off with its strength; autoeq: applied
or not), and the SI-SDR of the output against the input (dB, channels concatenated; "exact" when
the output is the input bit for bit). SI-SDR is scale-invariant, so a loudness gain alone does
not lower it (a peak limiter does).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")  # as in Hush's workers, before numpy loads

import numpy as np  # noqa: E402
import soundfile as sf  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app import media  # noqa: E402
from app.dialects import audiocleaner  # noqa: E402
from app.jobs.models import InputRef, Job, JobSpec, JobState, OutputSpec  # noqa: E402
from app.jobs.pipeline import process_file  # noqa: E402

REALDEV = ROOT.parent / "shared" / "bench" / "realdev"  # --realdev
MUSIC = [
    "librosa_brahms_hungarian_dance5.hq.ogg",
    "librosa_kevin_macleod_vibe_ace.hq.ogg",
    "librosa_solo_trumpet.hq.ogg",
]
SONG = ["librosa_karissa_hobbs_lets_go_fishin.hq.ogg"]
BEDS = ["librosa_kevin_macleod_vibe_ace.hq.ogg", "librosa_brahms_hungarian_dance5.hq.ogg"]
#: Level of the bed under the speech (dB re the speech's mean power), as in bench/keep_music.py.
BED_DB = -14.0


def load(path: Path) -> tuple[np.ndarray, int]:
    """``(channels, n)`` float32 samples and the rate."""
    x, sr = sf.read(str(path), dtype="float32", always_2d=True)
    return np.ascontiguousarray(x.T), int(sr)


def resample(x: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    from math import gcd

    from scipy.signal import resample_poly

    if sr_in == sr_out:
        return x
    g = gcd(sr_in, sr_out)
    return np.asarray(resample_poly(x, sr_out // g, sr_in // g, axis=-1), np.float32)


def speech_over_music(speech: Path, bed: str) -> tuple[np.ndarray, int]:
    s, sr = load(speech)
    s = s.mean(axis=0)
    m, msr = load(REALDEV / "music" / bed)
    m = resample(m.mean(axis=0), msr, sr)[10 * sr :]
    n = s.size + 2 * sr
    m = np.resize(m, n)
    m = m * np.sqrt(np.mean(s.astype(np.float64) ** 2) / np.mean(m.astype(np.float64) ** 2)) * 10 ** (BED_DB / 20)
    x = m.copy()
    x[sr : sr + s.size] += s
    return (x / max(1.0, float(np.abs(x).max()) / 0.9))[None, :].astype(np.float32), sr


def items() -> list[tuple[str, str, np.ndarray, int]]:
    out = []
    for name in MUSIC:
        out.append(("music", name.split(".")[0].removeprefix("librosa_"), *load(REALDEV / "music" / name)))
    for name in SONG:
        out.append(("song", name.split(".")[0].removeprefix("librosa_"), *load(REALDEV / "music" / name)))
    speech = sorted((REALDEV / "clean_speech").iterdir())
    for p in speech:
        out.append(("speech", p.name.split(".")[0], *load(p)))
    for i, p in enumerate(speech):
        bed = BEDS[i % len(BEDS)]
        out.append(
            ("speech+music", f"{p.name.split('.')[0]}+{bed.split('_')[-1].split('.')[0]}", *speech_over_music(p, bed))
        )
    x, sr = load(REALDEV / "music" / "pyaudioanalysis_speech_music_sample.wav")
    out.append(("speech+music", "pyaudioanalysis_sample", x, sr))
    return out


def si_sdr(ref: np.ndarray, est: np.ndarray) -> float:
    ref = ref.astype(np.float64).ravel()
    est = est.astype(np.float64).ravel()
    a = float(np.dot(est, ref) / (np.dot(ref, ref) + 1e-20))
    t = a * ref
    return float(10 * np.log10((np.dot(t, t) + 1e-20) / (np.dot(est - t, est - t) + 1e-20)))


def run_flag(flag: str, x: np.ndarray, sr: int, tmp: Path, save: Path | None = None) -> dict[str, Any]:
    src = tmp / "in.wav"
    sf.write(str(src), x.T, sr, subtype="FLOAT")
    spec, planned = audiocleaner.to_spec({"inputurl": "http://127.0.0.1/x.wav", "enhance_type": {flag: True}})
    res = process_file(src, media.probe(src), spec.steps, OutputSpec(container="wav"), tmp, block_seconds=5.0)
    assert res.path is not None
    y, _ = sf.read(str(res.path), dtype="float32", always_2d=True)
    y = y.T
    if save is not None:
        np.save(save, y)
    job = Job(
        id="bench",
        dialect="audiocleaner",
        spec=JobSpec(input=InputRef(url="http://127.0.0.1/x.wav"), steps=spec.steps, output=OutputSpec()),
        state=JobState.succeeded,
        result_meta={"steps": res.reports},
        meta={"plan": planned},
    )
    rep = audiocleaner.report(job)[flag]
    exact = y.shape == x.shape and np.array_equal(y, x)
    out: dict[str, Any] = {
        "status": rep["status"],
        "reason": rep.get("reason", ""),
        "ran": [r["step"] for r in res.reports],
        "si_sdr": None if exact else round(si_sdr(x, y[:, : x.shape[1]]), 1),
    }
    if flag == "autoid":
        out["decisions"] = {
            d["engine"]: (d["action"], d["strength"]) for d in rep.get("decisions", []) if d["action"] != "none"
        }
        measured = rep.get("measured", {})
        out["music_s"] = measured.get("music_s")
        out["music_only"] = measured.get("music_only")
        out["glide_share"] = measured.get("glide_share")
    return out


def main() -> None:
    global REALDEV
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--realdev", type=Path, default=REALDEV)
    ap.add_argument("--flags", default="autoid,autoeq")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--save", type=Path, help="save each output as DIR/<flag>-<name>.npy (outside the repository)")
    args = ap.parse_args()
    REALDEV = args.realdev
    results = []
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        for kind, name, x, sr in items():
            row: dict[str, Any] = {"kind": kind, "name": name, "sr": sr, "channels": x.shape[0], "s": x.shape[1] / sr}
            for flag in args.flags.split(","):
                save = args.save / f"{flag}-{name}.npy" if args.save else None
                row[flag] = run_flag(flag, x, sr, tmp, save)
            results.append(row)
            print(json.dumps(row), flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    print()
    for flag in args.flags.split(","):
        print(f"| {flag} | input | status | ran | decisions | music s / only / glide | SI-SDR out vs in (dB) |")
        print("|---|---|---|---|---|---|---|")
        for row in results:
            r = row[flag]
            decided = r.get("decisions", {})
            if decided and all(a == "not_applied" for a, _ in decided.values()):
                dec = f"all {len(decided)} not_applied"
            else:
                dec = ", ".join(f"{e} {a}{'' if s is None else f' {s:g}'}" for e, (a, s) in decided.items())
            music = f"{r.get('music_s')} / {r.get('music_only')} / {r.get('glide_share')}" if flag == "autoid" else ""
            sdr = "exact" if r["si_sdr"] is None else f"{r['si_sdr']:.1f}"
            print(f"| {row['kind']} | {row['name']} | {r['status']} | {' '.join(r['ran'])} | {dec} | {music} | {sdr} |")
        print()


if __name__ == "__main__":
    main()
