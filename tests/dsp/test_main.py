"""``python -m dsp``: the streaming file tools the benchmarks call."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tests.signals import make_speech_like, make_white, mix_at_snr, with_wav_data_size


def run_dsp(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dsp", *args], capture_output=True, text=True, timeout=120, check=False
    )


def test_dsp_main_denoise_streams_file_to_file(tmp_path: Path, rng: np.random.Generator) -> None:
    sr = 16000
    clean, _ = make_speech_like(rng, sr, 4.0)
    stereo = np.stack([mix_at_snr(clean, make_white(rng, clean.size), 5.0)] * 2)
    src, dst = tmp_path / "in.flac", tmp_path / "out.flac"
    sf.write(src, stereo.T, sr, subtype="PCM_24")
    r = run_dsp("denoise", str(src), str(dst), "--amount", "60", "--report")
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    assert rep["amount"] == 60.0
    assert rep["speech_gate"]["applied"] is True
    assert rep["speech_gate"]["depth_db"] == 18.0
    r = run_dsp("denoise", str(src), str(tmp_path / "plain.flac"), "--no-gate", "--report")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["speech_gate"]["applied"] is False
    info = sf.info(dst)
    assert (info.samplerate, info.channels, info.frames, info.subtype) == (sr, 2, stereo.shape[1], "PCM_24")
    out, _ = sf.read(dst, dtype="float32")
    assert np.std(out[: sr // 2]) < np.std(stereo[0, : sr // 2])  # the noise-only lead-in got quieter


def test_dsp_main_vad_prints_segments(tmp_path: Path, rng: np.random.Generator) -> None:
    sr = 8000
    clean, truth = make_speech_like(rng, sr, 5.0)
    src = tmp_path / "in.wav"
    sf.write(src, clean, sr)
    r = run_dsp("vad", str(src))
    assert r.returncode == 0, r.stderr
    segments = json.loads(r.stdout)["segments"]
    assert [s["tag"] for s in segments] == ["speech"] * len(truth)
    assert abs(segments[0]["start"] - truth[0][0]) < 0.05


def test_dsp_main_refuses_clearly_without_a_traceback(tmp_path: Path, rng: np.random.Generator) -> None:
    """Each bad input or argument: exit 2 and one line that says what to change, no output file."""
    src = tmp_path / "in.wav"
    sf.write(src, make_white(rng, 8000, -30.0), 8000)
    text = tmp_path / "notes.wav"
    text.write_text("not audio")
    zero = tmp_path / "zero.wav"
    zero.write_bytes(b"")
    cases = [
        (("denoise", str(tmp_path / "missing.wav"), "OUT.wav"), "no such file"),
        (("denoise", str(text), "OUT.wav"), "is not a WAV, FLAC, OGG or MP3 file"),
        (("denoise", str(src), "OUT.mp3"), "these tools write .wav, .flac, .ogg"),
        # each out-of-range value is named by the option the user typed, with the range to choose from
        (("denoise", str(src), "OUT.wav", "--amount", "0"), ": --amount must be in [1.0, 100.0]"),
        (("declick", str(src), "OUT.wav", "--detection-mult", "20"), ": --detection-mult must be in [6.0, 10.0]"),
        (("declick", str(src), "OUT.wav", "--click-len", "40"), ": --click-len must be in [5.0, 30.0]"),
        (("vad", str(src), "--min-non-speech", "-1"), ": --min-non-speech must be in [0.0, 60.0]"),
        (("declick", str(src), str(tmp_path / "no" / "dir" / "out.wav")), "does not exist"),
        # refused before denoise's speech pass reads the input (28 s on a 30-minute file)
        (("denoise", str(text), "OUT.mp3"), "these tools write .wav, .flac, .ogg"),
        (("denoise", str(text), "OUT.wav", "--amount", "0"), ": --amount must be in [1.0, 100.0]"),
        (("declick", str(zero), "OUT.wav"), "is empty (0 bytes)"),  # it said "not a WAV, FLAC, OGG or MP3"
    ]
    # the cases are independent of each other: their processes start at once (start-up is most of each)
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "dsp", *(str(tmp_path / a) if a.startswith("OUT") else a for a in args)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for args, _ in cases
    ]
    for (args, words), proc in zip(cases, procs, strict=True):
        _, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 2, (args, stderr)
        assert words in stderr, (args, stderr)
        assert "Traceback" not in stderr
    assert not list(tmp_path.glob("OUT*"))


def test_dsp_main_processes_a_cut_off_wav_and_warns(tmp_path: Path, rng: np.random.Generator) -> None:
    """A WAV cut off after 1 s of the 3 s its header declares: the second that is there is
    processed, and one stderr line gives both durations."""
    sr = 8000
    whole = tmp_path / "whole.wav"
    sf.write(whole, make_white(rng, 3 * sr, -30.0), sr, subtype="PCM_16")
    data = whole.read_bytes()
    src = tmp_path / "cut.wav"
    src.write_bytes(data[: len(data) - 2 * sr * 2])
    for args in (("declick", str(src), str(tmp_path / "out.wav")), ("vad", str(src))):
        r = run_dsp(*args)
        assert r.returncode == 0, r.stderr
        assert r.stderr.splitlines() == [
            f"python -m dsp {args[0]}: warning: cut.wav may be truncated: its header declares 3.000 s of audio "
            "but only 1.000 s is present; the audio present was processed (send or export the complete file "
            "if the end is missing)"
        ]
    assert sf.info(tmp_path / "out.wav").frames == sr


def test_dsp_main_reads_a_recorders_placeholder_size_to_the_end(tmp_path: Path, rng: np.random.Generator) -> None:
    """A recorder that crashed leaves data size 0 (or 0xFFFFFFFF): all the audio is there, no warning."""
    sr = 8000
    src = tmp_path / "recording.wav"
    sf.write(src, make_white(rng, 2 * sr, -30.0), sr, subtype="PCM_16")
    for size in (0, 0xFFFFFFFF):
        src.write_bytes(with_wav_data_size(src.read_bytes(), size))
        r = run_dsp("declick", str(src), str(tmp_path / "out.wav"))
        assert r.returncode == 0, r.stderr
        assert r.stderr == ""
        assert sf.info(tmp_path / "out.wav").frames == 2 * sr, size


def test_dsp_main_a_file_with_nan_is_refused_and_leaves_no_output(tmp_path: Path, rng: np.random.Generator) -> None:
    # (before, the click repairer streamed the NaN through and wrote a file of NaN with exit code 0)
    sr = 16000
    x = (0.1 * rng.standard_normal(2 * sr)).astype(np.float32)
    x[sr] = np.nan
    src = tmp_path / "in.wav"
    sf.write(src, x, sr, subtype="FLOAT")
    for cmd in ("declick", "denoise"):
        dst = tmp_path / f"{cmd}.wav"
        r = run_dsp(cmd, str(src), str(dst))
        assert r.returncode == 2, r.stderr
        assert "NaN or infinite" in r.stderr
        assert "Traceback" not in r.stderr
        assert not dst.exists()


def test_dsp_main_output_that_names_the_input_replaces_it_once_read(tmp_path: Path, rng: np.random.Generator) -> None:
    """``declick a.wav a.wav`` (before, the writer emptied the file the reader was about to read: a
    44-byte WAV and exit 0); a failed run keeps an existing output as it was and leaves no temporary file."""
    sr = 16000
    x = (0.02 * rng.standard_normal(2 * sr)).astype(np.float32)
    x[sr] += 0.8
    src = tmp_path / "take.wav"
    sf.write(src, x, sr, subtype="FLOAT")
    r = run_dsp("declick", str(src), str(src), "--report")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["clicks_found"] == 1
    out, _ = sf.read(src, dtype="float32")
    assert out.size == x.size
    assert abs(out[sr]) < 0.5  # the click is repaired, in place
    assert sorted(p.name for p in tmp_path.iterdir()) == ["take.wav"]
    bad = tmp_path / "nan.wav"
    y = x.copy()
    y[100] = np.nan
    sf.write(bad, y, sr, subtype="FLOAT")
    before = src.read_bytes()
    r = run_dsp("declick", str(bad), str(src))
    assert r.returncode == 2
    assert src.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["nan.wav", "take.wav"]


def test_dsp_main_mp3_input_is_written_as_pcm(tmp_path: Path, rng: np.random.Generator) -> None:
    """An MP3 read by libsndfile is written as 16-bit PCM into a WAV or FLAC (before: "unsupported
    encoding" and a 0-byte file, its MP3 sample format copied into the WAV header)."""
    sr = 44100
    src = tmp_path / "in.mp3"
    sf.write(src, (0.1 * rng.standard_normal((sr, 2))).astype(np.float32), sr, format="MP3")
    for name in ("out.wav", "out.flac"):
        r = run_dsp("declick", str(src), str(tmp_path / name))
        assert r.returncode == 0, r.stderr
        info = sf.info(tmp_path / name)
        assert (info.samplerate, info.channels, info.subtype) == (sr, 2, "PCM_16")
        assert info.frames == sf.info(src).frames


@pytest.mark.parametrize("cmd", ["denoise", "declick", "vad"])
def test_dsp_main_an_empty_file_is_refused(tmp_path: Path, cmd: str) -> None:
    # it exited 0 with a 44-byte WAV (denoise) or {"segments": []} (vad); hush refuses it too
    src = tmp_path / "empty.wav"
    sf.write(src, np.zeros((0, 1), np.float32), 16000)
    out = tmp_path / "out.wav"
    r = run_dsp(cmd, str(src), *([] if cmd == "vad" else [str(out)]))
    assert r.returncode == 2
    assert "holds no audio (0 samples)" in r.stderr
    assert not out.exists()
    assert not list(tmp_path.glob(".out.*"))  # no temporary file left


def test_dsp_main_writes_through_a_link_to_standard_output_and_replaces_a_symlink(
    tmp_path: Path, rng: np.random.Generator
) -> None:
    """A name linked to a device or pipe is written into, never replaced (as root the rename put a
    WAV where the link to /dev/stdout was); a symlink to a file is replaced, never written through."""
    src = tmp_path / "in.wav"
    sf.write(src, make_white(rng, 8000, -30.0), 8000, subtype="PCM_16")
    to_stdout = tmp_path / "out.wav"
    to_stdout.symlink_to("/proc/self/fd/1")
    r = subprocess.run(
        [sys.executable, "-m", "dsp", "declick", str(src), str(to_stdout)],
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    assert to_stdout.is_symlink()
    assert sf.info(io.BytesIO(r.stdout)).frames == 8000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.wav", "out.wav"]
    target, link = tmp_path / "kept.wav", tmp_path / "link.wav"
    target.write_bytes(b"earlier")
    link.symlink_to(target)
    assert run_dsp("declick", str(src), str(link)).returncode == 0
    assert not link.is_symlink()
    assert sf.info(link).frames == 8000
    assert target.read_bytes() == b"earlier"


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads and writes whatever the modes say")
def test_dsp_main_says_when_a_permission_is_missing(tmp_path: Path, rng: np.random.Generator) -> None:
    # an unreadable input was "not a WAV, FLAC, OGG or MP3 file", and a read-only folder's refusal
    # named the hidden temporary file instead of the output asked for (a local tools audit)
    src = tmp_path / "in.wav"
    sf.write(src, make_white(rng, 8000, -30.0), 8000)
    locked = tmp_path / "locked.wav"
    sf.write(locked, make_white(rng, 8000, -30.0), 8000)
    locked.chmod(0)
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        r = run_dsp("declick", str(locked), str(tmp_path / "o.wav"))
        assert (r.returncode, f"cannot read {locked}: permission denied" in r.stderr) == (2, True), r.stderr
        r = run_dsp("declick", str(src), str(ro / "o.wav"))
        assert r.returncode == 2
        assert f"cannot write {ro / 'o.wav'}: permission denied" in r.stderr
        assert ".partial" not in r.stderr
    finally:
        ro.chmod(0o700)
        locked.chmod(0o600)
