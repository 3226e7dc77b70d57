"""Voice activity detection on recorded voices, noises and music: Hush vs webrtcvad vs Silero.

    python bench/vad_real.py [--half dev|check|both] [--systems hush,webrtc3,silero] [--hush-kw JSON] [--breakdown]

Scenes are built from the recordings in ``../shared/bench/realdev/`` (read in place, never
copied): each clean speech recording (its first 8 s) is placed between stretches that hold no
speech — a real background noise alone, an instrumental music clip alone — and the whole scene
gets a real background noise underneath at 0, 5, 10 and 20 dB SNR (speech active level over
noise level), plus a "clean" variant with no added noise. The reference speech labels come from
the clean recording itself: 10 ms frames within 35 dB of the recording's loudest 10 ms, gaps
under 200 ms closed (a word boundary is not a pause), runs under 60 ms dropped, 30 ms padding —
the way a careful hand labeller marks talk spurts. The recordings are split into the same DEV
(tuning) and CHECK (evaluation only) halves as ``bench/real.py``: no speaker, noise or music in
common.

A second table checks that speech over a music bed stays speech: each speech recording of the
half (its first 8 s) over the half's instrumental music and over the synthetic corpus's music
generator (chords and a bass with vibrato, ``noises._music`` of the shared VAD corpus), at 6 and
0 dB (speech active level over music level), labelled by the clean recording as above.

A third table plays each of the half's instrumental music recordings whole (5-62 s), alone and
over the half's first real background noise at 10 dB (music active level over noise level): no
frame is speech, so the share of frames called speech is the false-alarm rate on music as a
listener meets it (an intro, a jingle, hold music), not only on the scenes' 3 s excerpts.

Metrics (the shared VAD metric definitions): 10 ms frame F1 and false-alarm rate (share of the
non-speech frames called speech), pooled per condition, per noise and overall. ``--breakdown``
adds, per half, where the false alarms are: the share of the non-speech frames called speech
in each part of the scenes (the noise event, the pauses inside the speech recordings, the music,
the 1 s silence), pooled over the conditions.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.real import REAL, active_rms, load  # noqa: E402
from bench.vad import DEFAULT_SHARED, load_shared, systems  # noqa: E402

SR = 16000
SPEECH_S = 8.0
SNRS_DB: tuple[int | None, ...] = (None, 20, 10, 5, 0)

#: The same split as bench/real.py, plus a non-speech noise event and instrumental music for the
#: stretches with no speech (no vocals: a song with vocals would be speech).
HALVES: dict[str, dict[str, list[str]]] = {
    "dev": {
        "speech": [
            "librispeech_198-209-0000.hq.ogg",
            "ljspeech_LJ050-0131.wav",
            "vctk_p360_001_mic1.flac",
            "spatialaudio_xmas_male.wav",
        ],
        "noise": ["speechcommands_doing_the_dishes.wav", "noisereduce_cafe_short.wav"],
        "music": ["librosa_brahms_hungarian_dance5.hq.ogg"],
    },
    "check": {
        "speech": [
            "librispeech_5703-47212-0000.hq.ogg",
            "whisper_jfk.flac",
            "dfn_clean_freesound_33711.wav",
            "silero_test.wav",
        ],
        "noise": ["speechcommands_exercise_bike.wav", "dfn_noise_freesound_573577.wav"],
        "music": ["librosa_kevin_macleod_vibe_ace.hq.ogg", "librosa_solo_trumpet.hq.ogg"],
    },
}


def reference_labels(x: np.ndarray) -> list[tuple[float, float]]:
    """Talk spurts of a clean recording, in seconds (the labelling rule in the module notes)."""
    f = SR // 100
    n = x.size // f
    e = 10 * np.log10((x[: n * f].reshape(n, f) ** 2).mean(axis=1) + 1e-12)
    on = e > max(e.max() - 35.0, -70.0)
    d = np.diff(np.concatenate([[0], on.astype(np.int8), [0]]))
    starts, ends = list(np.flatnonzero(d == 1)), list(np.flatnonzero(d == -1))
    runs: list[list[int]] = []
    for s, t in zip(starts, ends, strict=True):
        if runs and s - runs[-1][1] < 20:
            runs[-1][1] = t
        else:
            runs.append([s, t])
    return [(max(0, s - 3) / 100, min(n, t + 3) / 100) for s, t in runs if t - s >= 6]


#: The parts of a scene, in order, as named by the ``--breakdown`` table.
PARTS = ("noise event", "speech", "music", "silence", "speech")


def scene(
    half: str, s_idx: int, speech_file: str
) -> tuple[np.ndarray, list[tuple[float, float]], np.ndarray, list[tuple[str, float, float]]]:
    """One scene: [noise event 2 s | speech | music 3 s | pause 1 s | speech again].

    Returns the audio, its labels, its bed and the parts as ``(name, start_s, end_s)``.
    """
    sel = HALVES[half]
    sp = load(REAL / "clean_speech" / speech_file)[: int(SPEECH_S * SR)]
    sp = 0.3 * sp / (np.abs(sp).max() + 1e-12)
    labels = reference_labels(sp)
    ev = load(REAL / "background_noise" / sel["noise"][s_idx % 2], int(2 * SR), 2.0 + s_idx)
    ev = ev / (active_rms(ev) + 1e-12) * active_rms(sp) * 0.5  # an event 6 dB under the talker
    mu = load(REAL / "music" / sel["music"][s_idx % len(sel["music"])], int(3 * SR), 10.0 + 3 * s_idx)
    mu = mu / (active_rms(mu) + 1e-12) * active_rms(sp) * 0.5
    pause = np.zeros(SR)
    parts = [ev, sp, mu, pause, sp]
    truth: list[tuple[float, float]] = []
    spans: list[tuple[str, float, float]] = []
    t = 0
    for name, p in zip(PARTS, parts, strict=True):
        if p is sp:
            truth += [(a + t / SR, b + t / SR) for a, b in labels]
        spans.append((name, t / SR, (t + p.size) / SR))
        t += p.size
    x = np.concatenate(parts)
    bed = load(REAL / "background_noise" / sel["noise"][(s_idx + 1) % 2], x.size, 0.7 * s_idx)
    bed = bed / (active_rms(bed) + 1e-12) * active_rms(sp)
    return x, truth, bed, spans


def false_alarms_by_part(
    metrics: Any,
    pred: list[tuple[float, float]],
    truth: list[tuple[float, float]],
    dur: float,
    spans: list[tuple[str, float, float]],
) -> dict[str, tuple[int, int]]:
    """Per part of a scene: (non-speech frames called speech, non-speech frames).

    Inside a speech part, the frames outside the reference labels between its first and last
    talk spurt are the recording's own pauses (``pause in speech``); those before its first and
    after its last are ``before / after speech``.
    """
    p = metrics.frame_labels(pred, dur)
    t = metrics.frame_labels(truth, dur)
    out: dict[str, tuple[int, int]] = {}

    def add(key: str, sl: slice) -> None:
        ns = ~t[sl]
        fa, tot = out.get(key, (0, 0))
        out[key] = (fa + int(np.sum(p[sl] & ns)), tot + int(np.sum(ns)))

    for name, a, b in spans:
        lo, hi = round(a * 100), min(round(b * 100), t.size)
        if name != "speech":
            add(name, slice(lo, hi))
            continue
        on = np.flatnonzero(t[lo:hi])
        first, last = (lo + on[0], lo + on[-1] + 1) if on.size else (hi, hi)
        add("pause in speech", slice(first, last))
        add("before / after speech", slice(lo, first))
        add("before / after speech", slice(last, hi))
    return out


def below_full_scale(y: np.ndarray) -> np.ndarray:
    """``y`` as float32, scaled down where needed so that its peak is at most 0.95."""
    return (y * min(1.0, 0.95 / (np.abs(y).max() + 1e-12))).astype(np.float32)


def music_alone(half: str) -> list[tuple[str, np.ndarray]]:
    """The half's instrumental music recordings whole: ``(condition, audio)``, alone and over noise at 10 dB."""
    out = []
    noise = HALVES[half]["noise"][0]
    for f in HALVES[half]["music"]:
        mu = load(REAL / "music" / f)
        mu = 0.3 * mu / (np.abs(mu).max() + 1e-12)
        bed = load(REAL / "background_noise" / noise, mu.size, 0.0)
        bed = bed / (active_rms(bed) + 1e-12) * active_rms(mu) * 10 ** (-10 / 20)
        for cond, y in (("alone", mu), ("over noise at +10 dB", mu + bed)):
            y = below_full_scale(y)
            out.append((f"{f.split('.')[0]} ({mu.size / SR:.0f} s), {cond}", y))
    return out


def over_music(half: str) -> list[tuple[str, np.ndarray, list[tuple[float, float]]]]:
    """Speech over a music bed: ``(condition, audio, labels)`` for every speech file, bed and SNR."""
    import noises  # the shared VAD corpus's noise module (on sys.path after load_shared)

    out = []
    mus = HALVES[half]["music"]
    for i, f in enumerate(HALVES[half]["speech"]):
        sp = load(REAL / "clean_speech" / f)[: int(SPEECH_S * SR)]
        sp = 0.3 * sp / (np.abs(sp).max() + 1e-12)
        labels = reference_labels(sp)
        real = load(REAL / "music" / mus[i % len(mus)], sp.size, 30.0 + i)
        synth = noises._music(sp.size, SR, np.random.default_rng(i))
        for name, bed in (("real music", real), ("synthetic music", synth)):
            bed = bed / (active_rms(bed) + 1e-12) * active_rms(sp)
            for snr in (6, 0):
                y = sp + bed * 10 ** (-snr / 20)
                y = below_full_scale(y)
                out.append((f"speech over {name} at {snr:+d} dB", y, labels))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--half", choices=("dev", "check", "both"), default="both")
    ap.add_argument("--systems", default="hush,webrtc3,silero")
    ap.add_argument("--hush-kw", default="{}", help="JSON keyword arguments for SpeechDetector")
    ap.add_argument("--shared", default=str(DEFAULT_SHARED))
    ap.add_argument("--breakdown", action="store_true", help="false alarms per part of the scenes")
    args = ap.parse_args()
    _, metrics = load_shared(Path(args.shared))
    names = args.systems.split(",")
    run = systems(names, json.loads(args.hush_kw))
    halves = ("dev", "check") if args.half == "both" else (args.half,)
    for half in halves:
        rows: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
        parts: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
        for i, f in enumerate(HALVES[half]["speech"]):
            x, truth, bed, spans = scene(half, i, f)
            dur = x.size / SR
            for snr in SNRS_DB:
                y = x if snr is None else x + bed * 10 ** (-snr / 20)
                y = below_full_scale(y)
                cond = "clean" if snr is None else f"{snr:+d} dB"
                for name, fn in run.items():
                    pred = fn(y, SR)
                    r = metrics.evaluate(pred, truth, dur)
                    for key in (cond, "all"):
                        rows[(key, name)].append(r)
                    if args.breakdown:
                        for part, (fa, tot) in false_alarms_by_part(metrics, pred, truth, dur, spans).items():
                            parts[(part, name)][0] += fa
                            parts[(part, name)][1] += tot
        print(f"\n=== {half.upper()} half: real speech, noise events, music, real noise beds ===")
        print("| condition | " + " | ".join(f"{n} F1 / FAR" for n in names) + " |")
        print("|---" * (len(names) + 1) + "|")
        for cond in ["clean"] + [f"{s:+d} dB" for s in SNRS_DB if s is not None] + ["all"]:
            cells = []
            for n in names:
                s = metrics.summarize(rows[(cond, n)])
                cells.append(f"{s['F1']:.3f} / {s['FAR']:.3f}")
            print(f"| {cond} | " + " | ".join(cells) + " |")
        if args.breakdown:
            print(f"\n=== {half.upper()} half: share of the non-speech frames called speech, per part ===")
            print("| part (non-speech frames) | " + " | ".join(names) + " |")
            print("|---" * (len(names) + 1) + "|")
            for part in ("noise event", "pause in speech", "before / after speech", "music", "silence"):
                tot = parts[(part, names[0])][1]
                cells = [f"{parts[(part, n)][0] / max(parts[(part, n)][1], 1):.2f}" for n in names]
                print(f"| {part} ({tot}) | " + " | ".join(cells) + " |")
        bed_rows: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
        for cond, y, truth in over_music(half):
            for name, fn in run.items():
                bed_rows[(cond, name)].append(metrics.evaluate(fn(y, SR), truth, y.size / SR))
        print(f"\n=== {half.upper()} half: speech over a music bed (must stay speech) ===")
        print("| condition | " + " | ".join(f"{n} F1 / recall" for n in names) + " |")
        print("|---" * (len(names) + 1) + "|")
        for cond in dict.fromkeys(c for c, _ in bed_rows):
            cells = []
            for n in names:
                s = metrics.summarize(bed_rows[(cond, n)])
                cells.append(f"{s['F1']:.3f} / {s['R']:.3f}")
            print(f"| {cond} | " + " | ".join(cells) + " |")
        print(f"\n=== {half.upper()} half: instrumental music alone, whole recordings (no frame is speech) ===")
        print("| recording, condition | " + " | ".join(f"{n} share called speech" for n in names) + " |")
        print("|---" * (len(names) + 1) + "|")
        pooled = {n: [0.0, 0.0] for n in names}
        for cond, y in music_alone(half):
            cells = []
            for n in names:
                called = sum(min(b, y.size / SR) - max(a, 0.0) for a, b in run[n](y, SR) if b > a)
                pooled[n][0] += called
                pooled[n][1] += y.size / SR
                cells.append(f"{called / (y.size / SR):.2f}")
            print(f"| {cond} | " + " | ".join(cells) + " |")
        print("| all | " + " | ".join(f"{c / max(t, 1e-9):.2f}" for c, t in pooled.values()) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
