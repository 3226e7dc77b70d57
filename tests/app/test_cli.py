"""The ``hush`` command: local processing without a server, and honest refusals."""

from __future__ import annotations

import io
import json
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from app.jobs.engines import engine_available
from tests.signals import make_speech_like, make_white, mix_at_snr, with_wav_data_size


def hush(*args: str, timeout: float = 120, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env=env,
    )


def _closed_port() -> int:
    """A loopback port nothing listens on (bound and released)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def noisy_wav(tmp_path: Path, rng: np.random.Generator) -> tuple[Path, np.ndarray, list[tuple[float, float]]]:
    sr = 16000
    clean, truth = make_speech_like(rng, sr, 6.0)
    noisy = mix_at_snr(clean, make_white(rng, clean.size), 10.0)
    path = tmp_path / "noisy.wav"
    sf.write(path, noisy, sr, subtype="PCM_16")
    return path, noisy, truth


def pause_level_db(audio: np.ndarray, sr: int, truth: list[tuple[float, float]]) -> float:
    mask = np.ones(audio.size, bool)
    for s, e in truth:
        mask[int((s - 0.1) * sr) : int((e + 0.1) * sr)] = False
    mask[: sr // 2] = False  # let the noise tracker settle
    return float(10 * np.log10(np.mean(audio[mask].astype(np.float64) ** 2)))


def test_cli_denoise_writes_quieter_file_and_reports(noisy_wav: tuple[Path, np.ndarray, list], tmp_path: Path) -> None:
    src, noisy, truth = noisy_wav
    out = tmp_path / "clean.flac"
    r = hush("denoise", str(src), str(out), "--amount", "100")
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["steps"][0]["step"] == "denoise"
    y, sr = sf.read(out, dtype="float32")
    assert sf.info(out).format == "FLAC"  # the output name's extension picks the container
    assert y.shape == noisy.shape
    assert pause_level_db(y, sr, truth) < pause_level_db(noisy, sr, truth) - 10


def test_cli_denoise_channels_each(tmp_path: Path, rng: np.random.Generator) -> None:
    speech, _ = make_speech_like(rng, 16000, 3.0)
    x = np.stack([speech, make_white(rng, speech.size, -20.0)], axis=1)
    src = tmp_path / "two_mics.wav"
    sf.write(src, x, 16000, subtype="FLOAT")
    r = hush("denoise", str(src), str(tmp_path / "out.wav"), "--channels", "each")
    assert r.returncode == 0, r.stderr
    step = json.loads(r.stdout)["steps"][0]
    assert step["channels_processed"] == "each channel separately"
    assert sf.read(tmp_path / "out.wav")[0].shape == x.shape


def test_cli_vad_prints_segments(noisy_wav: tuple[Path, np.ndarray, list]) -> None:
    src, _, truth = noisy_wav
    r = hush("vad", str(src))
    assert r.returncode == 0, r.stderr
    segments = json.loads(r.stdout)["segments"]
    assert len(segments) == len(truth)
    for (s, e), (ts, te) in zip(segments, truth, strict=True):
        assert abs(s - ts) < 0.1
        assert abs(e - te) < 0.1


@pytest.mark.skipif(
    not all(engine_available(e) for e in ("rnnoise", "silero")), reason="the neural engines are not installed"
)
def test_cli_engine_flag_picks_the_engine(noisy_wav: tuple[Path, np.ndarray, list], tmp_path: Path) -> None:
    src, _, _ = noisy_wav
    r = hush("denoise", str(src), str(tmp_path / "out.wav"), "--engine", "rnnoise")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["steps"][0]["engine"] == "rnnoise"
    r = hush("vad", str(src), "--engine", "silero")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["steps"][0]["engine"] == "silero"
    r = hush("vad", str(src), "--engine", "webrtc")
    assert r.returncode == 2
    assert "invalid choice" in r.stderr


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["enhance", "IN", "OUT", "--flag", "stutters"], 3, "stutters is not applied"),
        (["enhance", "IN", "OUT", "--flag", "bogus"], 2, "unknown --flag bogus"),
        (["enhance", "IN", "OUT"], 2, "--flag"),
        (["denoise", "IN", "OUT", "--amount", "0"], 2, "between 1 and 100"),
        (["denoise", "/nonexistent.wav", "OUT"], 2, "no such file"),
        (["denoise", "/", "OUT"], 2, "is a folder"),
        (["denoise", "IN", "/"], 2, "is a folder"),
        (["denoise", "IN", "/proc/no-such/out.wav"], 2, "cannot write"),
        # an out-of-range value is named by the option the user typed, with the range to choose from
        (["vad", "IN", "--min-non-speech", "-5"], 2, "hush: --min-non-speech must be in [0.0, 60.0], got -5.0"),
        (["declick", "IN", "OUT", "--click-len", "40"], 2, "hush: --click-len must be in [5.0, 30.0], got 40.0"),
        (["declick", "IN", "OUT", "--detection-mult", "3"], 2, "hush: --detection-mult must be in [6.0, 10.0]"),
        (["worker"], 3, "runs jobs from the Celery queue"),
    ],
)
def test_cli_refuses_clearly(
    noisy_wav: tuple[Path, np.ndarray, list], tmp_path: Path, args: list[str], code: int, message: str
) -> None:
    src = str(noisy_wav[0])
    argv = [src if a == "IN" else str(tmp_path / "out.wav") if a == "OUT" else a for a in args]
    r = hush(*argv)
    assert r.returncode == code, (r.stdout, r.stderr)
    assert message in r.stderr
    assert not (tmp_path / "out.wav").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["serve", "--port", "99999"], "argument --port: must be between 1 and 65535, not 99999"),
        (["serve", "--workers", "0"], "argument --workers: must be between 1 and 256, not 0"),
        (["worker", "--concurrency", "0"], "argument --concurrency: must be between 1 and 256, not 0"),
        (["keys", "add", "--rpm", "0"], "argument --rpm: must be at least 1 (leave it out for HUSH_RATE_LIMIT"),
        (["keys", "add", "--concurrency", "-2"], "argument --concurrency: must be at least 1 (leave it out for no"),
        (["keys", "add", "--rpm", "many"], "argument --rpm: takes a whole number at least 1, not 'many'"),
    ],
)
def test_cli_refuses_out_of_range_numbers_by_their_option(tmp_path: Path, args: list[str], message: str) -> None:
    """Before anything starts (no server, no key made), naming the option as typed."""
    r = hush(*args, timeout=30, env={**os.environ, "HUSH_DATA_DIR": str(tmp_path)})
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert message in r.stderr
    assert not list(tmp_path.iterdir())


def test_cli_help_lists_every_command() -> None:
    r = hush("--help")
    assert r.returncode == 0, r.stderr
    listed = re.search(r"\{([a-z,]+)\}", r.stdout)
    assert listed is not None, r.stdout
    from app.jobs.steps import STEPS

    expected = ["serve", "worker", "keys", "denoise", "vad", "declick", "enhance"]
    if not STEPS["declick"].available:
        expected.remove("declick")
    assert listed.group(1).split(",") == expected
    # each listed command answers; the seven processes start at once (independent of each other,
    # and each one's start-up, not its work, is what takes the time)
    procs = {
        command: subprocess.Popen(
            [sys.executable, "-m", "app.cli", command, "--help"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        for command in expected
    }
    for command, proc in procs.items():
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, (command, err)
    flags = hush("enhance", "--help")
    assert flags.returncode == 0, flags.stderr
    assert "remove_noise" in flags.stdout  # the flags are listed where they are asked for


@pytest.mark.parametrize("args", [["--help"], ["keys", "--help"], ["worker", "--check"]])
def test_commands_that_process_no_audio_do_not_load_the_dsp_engine(args: list[str]) -> None:
    """`--help` and a container's health check (`hush worker --check`, every 30 s) load neither
    the DSP modules nor NumPy's and SciPy's numerics: a second and 100 MB each time otherwise."""
    code = (
        "import sys\n"
        "from app.cli import main\n"
        "try:\n"
        f"    main({args!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(sorted(m for m in sys.modules if m.startswith(('dsp.', 'scipy')) and m != 'dsp.errors'))\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert r.stdout.strip().splitlines()[-1] == "[]", (r.stdout, r.stderr)


@pytest.mark.parametrize("command", ["denoise", "vad"])
def test_cli_processes_a_cut_off_wav_and_warns(tmp_path: Path, rng: np.random.Generator, command: str) -> None:
    """A WAV cut off after 1 s of the 3 s it declares: the second there is processed, and the
    warning, with both durations, is on stderr and in the report, as the server's job result has it."""
    sr = 16000
    whole = tmp_path / "whole.wav"
    sf.write(whole, make_white(rng, 3 * sr, -30.0), sr, subtype="PCM_16")
    data = whole.read_bytes()
    src = tmp_path / "cut.wav"
    src.write_bytes(data[: len(data) - 2 * sr * 2])
    out = tmp_path / "out.wav"
    r = hush(command, str(src), *([str(out)] if command == "denoise" else []))
    assert r.returncode == 0, r.stderr
    warning = (
        "The WAV file may be truncated: its header declares 3.000 s of audio but only 1.000 s is present; "
        "the audio present was processed (send or export the complete file if the end is missing)"
    )
    assert r.stderr.splitlines() == [f"hush: warning: {warning}"]
    assert json.loads(r.stdout)["warnings"] == [warning]
    if command == "denoise":
        assert sf.info(out).frames == sr


def test_cli_reads_a_recorders_placeholder_size_to_the_end(tmp_path: Path, rng: np.random.Generator) -> None:
    """Data size 0 or 0xFFFFFFFF, left by a recorder that crashed: all the audio, no warning."""
    sr = 16000
    src = tmp_path / "recording.wav"
    sf.write(src, make_white(rng, 2 * sr, -30.0), sr, subtype="PCM_16")
    for size in (0, 0xFFFFFFFF):
        src.write_bytes(with_wav_data_size(src.read_bytes(), size))
        r = hush("denoise", str(src), str(tmp_path / "out.flac"))
        assert r.returncode == 0, r.stderr
        assert "warning" not in r.stderr
        assert "warnings" not in json.loads(r.stdout)
        assert sf.info(tmp_path / "out.flac").frames == 2 * sr, size


def test_cli_enhance_takes_every_flag_the_server_does(noisy_wav: tuple[Path, np.ndarray, list], tmp_path: Path) -> None:
    """mouth_sounds (the click repairer) runs; a flag with no engine is said not applied, as the
    server's report says, while the others run."""
    out = tmp_path / "out.wav"
    r = hush("enhance", str(noisy_wav[0]), str(out), "--flag", "mouth_sounds", "--flag", "hesitations")
    assert r.returncode == 0, r.stderr
    assert "hesitations is not applied" in r.stderr
    report = json.loads(r.stdout)
    assert [s["step"] for s in report["steps"]] == ["declick"]
    assert sf.info(str(out)).frames == sf.info(str(noisy_wav[0])).frames


def test_cli_enhance_removes_an_echo_and_equalises(tmp_path: Path, rng: np.random.Generator) -> None:
    sr = 16000
    clean, _ = make_speech_like(rng, sr, 8.0)
    d = round(0.1 * sr)
    echoed = clean.copy()
    echoed[d:] += 0.5 * clean[:-d]
    src, out = tmp_path / "echo.wav", tmp_path / "out.wav"
    sf.write(src, echoed, sr, subtype="FLOAT")
    # flags in any order run in chain order: the echo first, the EQ after it
    r = hush("enhance", str(src), str(out), "--flag", "autoeq", "--flag", "remove_echo")
    assert r.returncode == 0, r.stderr
    echo, eq = json.loads(r.stdout)["steps"]
    assert (echo["step"], eq["step"]) == ("remove_echo", "autoeq")
    assert echo["delay_ms"] == 100.0
    assert echo["gain"] == pytest.approx(0.5, abs=0.03)
    assert eq["applied"] is True
    assert sf.read(out, dtype="float32")[0].shape == echoed.shape


def test_cli_enhance_normalizes_loudness(noisy_wav: tuple[Path, np.ndarray, list], tmp_path: Path) -> None:
    out = tmp_path / "loud.wav"
    r = hush("enhance", str(noisy_wav[0]), str(out), "--flag", "normalize", "--flag", "remove_noise")
    assert r.returncode == 0, r.stderr
    steps = [s["step"] for s in json.loads(r.stdout)["steps"]]
    assert steps == ["denoise", "loudness"]
    from dsp.loudness import measure_loudness

    y, sr = sf.read(out, dtype="float32")
    assert measure_loudness(y, sr).integrated_lufs == pytest.approx(-16.0, abs=0.5)


def test_cli_enhance_cuts_a_filler_and_says_where(tmp_path: Path) -> None:
    from tests.dsp.test_fillers import talk

    sr = 16000
    x, _, (fa, fb) = talk(np.random.default_rng(7), sr, with_uh=True)
    src, out = tmp_path / "uh.wav", tmp_path / "out.wav"
    sf.write(src, x, sr, subtype="FLOAT")
    r = hush("enhance", str(src), str(out), "--flag", "fillers", "--flag", "normalize")
    assert r.returncode == 0, r.stderr
    steps = json.loads(r.stdout)["steps"]
    assert [s["step"] for s in steps] == ["fillers", "loudness"]
    (cut,) = steps[0]["cuts"]
    assert cut["start_s"] <= fa / sr + 0.05
    assert cut["end_s"] >= fb / sr - 0.05  # times of the input
    y = sf.read(out, dtype="float32")[0]
    assert abs(y.size - (x.size - steps[0]["removed_s"] * sr)) <= 2


def test_cli_enhance_studio_sound_runs_the_chain_once(noisy_wav: tuple[Path, np.ndarray, list], tmp_path: Path) -> None:
    out = tmp_path / "studio.wav"
    r = hush("enhance", str(noisy_wav[0]), str(out), "--flag", "remove_noise", "--flag", "studio_sound")
    assert r.returncode == 0, r.stderr
    steps = [s["step"] for s in json.loads(r.stdout)["steps"]]
    assert steps == ["declick", "autoeq", "denoise", "remove_reverb", "compress", "deess", "loudness"]
    y, _ = sf.read(out, dtype="float32")
    x, _ = sf.read(noisy_wav[0], dtype="float32")
    assert y.shape == x.shape


_PEAK_RSS_WRAPPER = """
import atexit, runpy, sys
def _peak():
    kb = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
    sys.stderr.write(f"\\nVmHWM {kb}\\n")
atexit.register(_peak)
sys.argv = ["hush", *sys.argv[1:]]
runpy.run_module("app.cli", run_name="__main__")
"""


def _cli_peak_mb(args: list[str]) -> float:
    """Run the CLI in a process that reports its own peak RSS (VmHWM) as it exits; the rusage of
    a child would include this test process's peak, which the kernel carries over at exec."""
    r = subprocess.run(
        [sys.executable, "-c", _PEAK_RSS_WRAPPER, *args], capture_output=True, text=True, timeout=600, check=False
    )
    assert r.returncode == 0, r.stderr
    return int(r.stderr.rsplit("VmHWM", 1)[1]) / 1024


def _write_minutes(path: Path, sr: int, minutes: int, rng: np.random.Generator) -> None:
    with sf.SoundFile(path, "w", samplerate=sr, channels=1, subtype="PCM_16") as f:
        for _ in range(minutes):
            f.write(make_white(rng, sr * 60, -30.0))


@pytest.mark.slow
def test_cli_denoise_sixty_minutes_in_flat_memory(tmp_path: Path, rng: np.random.Generator) -> None:
    sr = 8000
    short, hour = tmp_path / "short.wav", tmp_path / "hour.wav"
    _write_minutes(short, sr, 1, rng)
    _write_minutes(hour, sr, 60, rng)
    base_mb = _cli_peak_mb(["denoise", str(short), str(tmp_path / "short-out.wav")])
    peak_mb = _cli_peak_mb(["denoise", str(hour), str(tmp_path / "out.wav")])
    assert sf.info(tmp_path / "out.wav").frames == 60 * 60 * sr
    # 59 more minutes are 27 MB as PCM16 and 113 MB as float32: streaming means they cost nothing
    # but the speech detector's pass before the denoiser, which keeps seven float32 features per
    # 10 ms frame (10 MB for this hour) and decides over all of them (about 14 MB more at the
    # decision's peak, by tracemalloc); the growth measured 21-24 MB with six features, 19-20 MB
    # with seven on a quieter machine
    assert peak_mb - base_mb < 30, (base_mb, peak_mb)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_cli_autoid_48k_stereo_in_modest_flat_memory(tmp_path: Path, rng: np.random.Generator) -> None:
    sr = 48_000
    voice, _ = make_speech_like(rng, sr, 60.0)
    minute = np.stack([voice, 0.8 * voice])
    files = {}
    for minutes in (1, 4):
        files[minutes] = tmp_path / f"{minutes}.wav"
        with sf.SoundFile(files[minutes], "w", samplerate=sr, channels=2, subtype="PCM_16") as f:
            for _ in range(minutes):
                f.write((minute + make_white(rng, minute.size, -45.0).reshape(minute.shape)).T)
    out = str(tmp_path / "out.wav")
    base_mb = _cli_peak_mb(["enhance", str(files[1]), out, "--flag", "autoid"])
    peak_mb = _cli_peak_mb(["enhance", str(files[4]), out, "--flag", "autoid"])
    assert sf.info(out).frames == 4 * 60 * sr
    # the analysis pass held 1.2 GB for any duration of 48 kHz stereo (the reverb analyzer's WPE
    # statistics of the hum remover's first 8 s at once); 250 MB measured, most of it the
    # interpreter and its libraries, and three more minutes cost the per-frame tracks
    assert base_mb < 400, base_mb
    assert peak_mb - base_mb < 30, (base_mb, peak_mb)


def test_cli_declick_repairs_and_reports(tmp_path: Path, rng: np.random.Generator) -> None:
    x = make_speech_like(rng, 16000, 3.0, lead_silence_s=0.3)[0].astype(np.float32)
    pos = np.arange(8000, 40000, 8000)
    x[pos] += 0.5
    src, out = tmp_path / "clicks.wav", tmp_path / "fixed.wav"
    sf.write(src, x, 16000, subtype="FLOAT")
    r = hush("declick", str(src), str(out), "--detection-mult", "8", "--click-len", "10")
    assert r.returncode == 0, r.stderr
    (step,) = json.loads(r.stdout)["steps"]
    assert step["step"] == "declick"
    assert step["clicks_found"] >= 3
    y, _ = sf.read(out, dtype="float32")
    assert y.size == x.size
    assert int(np.sum(np.abs(y[pos]) < 0.4)) >= 3  # at least 3 of the 4 clicks are gone


def test_cli_enhance_keep_music_spares_the_music(tmp_path: Path) -> None:
    from tests.app.test_music_pipeline import podcast_file

    src, x = podcast_file(tmp_path)
    out = tmp_path / "out.wav"
    r = hush("enhance", str(src), str(out), "--flag", "remove_noise", "--flag", "keep_music")
    assert r.returncode == 0, r.stderr
    steps = {s["step"]: s for s in json.loads(r.stdout)["steps"]}
    assert steps["keep_music"]["protects"] == ["denoise"]
    assert steps["denoise"]["keep_music"]["bypassed_s"] > 14.0
    y = sf.read(out, dtype="float32")[0]
    np.testing.assert_array_equal(y[: 7 * 16000], x[: 7 * 16000])  # the intro is untouched
    r = hush("enhance", str(src), str(out), "--flag", "remove_background_audio")
    assert r.returncode == 0, r.stderr
    (background,) = json.loads(r.stdout)["steps"]
    assert background["step"] == "remove_background"
    assert background["gate"]["applied"] is True


@pytest.mark.parametrize("cmd", [["serve", "--port", "9"], ["vad", "IN"]])
def test_cli_a_bad_setting_is_one_line_naming_it(cmd: list[str], tmp_path: Path) -> None:
    # it was a pydantic traceback (serve) or a validation dump with a link (the local tools)
    env = {**os.environ, "HUSH_DENOISE_ENGINE": "bogus", "HUSH_DATA_DIR": str(tmp_path)}
    r = hush(*cmd, env=env)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    assert r.stderr.startswith("hush: invalid setting: HUSH_DENOISE_ENGINE='bogus': ")
    assert "dsp" in r.stderr


def test_cli_serve_with_a_data_dir_it_cannot_write_names_the_data_dir(tmp_path: Path) -> None:
    # (a root-owned /data under the image's user read "check HUSH_DATABASE_URL", a setting the
    # embedded server does not use)
    (tmp_path / "a-file").write_text("")
    env = {**os.environ, "HUSH_DATA_DIR": str(tmp_path / "a-file" / "data")}
    env.pop("HUSH_BACKEND", None)
    r = hush("serve", "--port", "9", env=env)
    assert r.returncode == 3
    assert "HUSH_DATA_DIR" in r.stderr
    assert "HUSH_DATABASE_URL" not in r.stderr
    assert f"uid {os.getuid()}" in r.stderr


def test_cli_serve_with_a_database_that_does_not_answer_says_so_in_one_line(tmp_path: Path) -> None:
    # it printed "serving on ..." and then a ~180-line traceback
    port = _closed_port()
    env = {
        **os.environ,
        "HUSH_BACKEND": "cluster",
        "HUSH_DATABASE_URL": f"postgresql://postgres@127.0.0.1:{port}/nowhere",
        "HUSH_DATA_DIR": str(tmp_path),
    }
    r = hush("serve", "--port", "9", env=env)
    assert r.returncode == 3
    assert "the job store does not answer" in r.stderr
    assert "HUSH_DATABASE_URL" in r.stderr
    assert "Traceback" not in r.stderr
    assert "serving on" not in r.stderr


@pytest.mark.needs_s3
def test_a_worker_refuses_to_start_without_its_bucket_and_a_server_creates_it(
    tmp_path: Path, s3_bucket: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # a bucket name mistyped on the workers: they started, heartbeated, and failed every job as
    # "internal error while processing the audio"
    from app import cli
    from app.cli import _stores_answer
    from app.settings import Settings

    settings = Settings(data_dir=tmp_path, blob_store="s3", **s3_bucket)
    monkeypatch.setattr(cli, "BUCKET_WAIT_S", 1.5)  # a worker waits this long for the servers to make it
    refusal = _stores_answer(settings)
    assert refusal is not None
    assert f"the bucket {s3_bucket['s3_bucket']!r} does not exist" in refusal
    assert "HUSH_S3_BUCKET" in refusal
    assert "waiting up to 1.5 s for it" in capsys.readouterr().err
    assert _stores_answer(settings, server=True) is None  # hush serve creates it, as at start
    assert _stores_answer(settings) is None


@pytest.mark.parametrize("tool", [["-m", "app.cli", "denoise"], ["-m", "dsp", "denoise"]])
def test_a_local_tool_stopped_by_sigterm_leaves_nothing_behind(tool: list[str], tmp_path: Path) -> None:
    # `timeout`, systemd and `docker stop` send SIGTERM: it left hush's scratch folder (tens of MB
    # and growing) or python -m dsp's hidden .partial file, where Ctrl-C cleaned up
    import signal
    import time

    src, out, scratch = tmp_path / "long.wav", tmp_path / "out" / "clean.wav", tmp_path / "scratch"
    out.parent.mkdir()
    scratch.mkdir()
    rng = np.random.default_rng(0)
    with sf.SoundFile(src, "w", 48_000, 1, subtype="PCM_16") as f:
        for _ in range(20):  # 10 minutes, a few seconds of work
            f.write((0.05 * rng.standard_normal(48_000 * 30)).astype(np.float32))
    env = {**os.environ, "TMPDIR": str(scratch)}
    proc = subprocess.Popen([sys.executable, *tool, str(src), str(out)], stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + 60
    while not any(scratch.iterdir()) and not any(out.parent.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)  # well into the work
    assert proc.poll() is None, "finished before it could be stopped"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM
    assert "interrupted (SIGTERM); no output was written" in err
    assert "Traceback" not in err
    assert list(scratch.iterdir()) == []
    assert list(out.parent.iterdir()) == []


def test_hush_places_its_output_whole_or_not_at_all(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # a move to another file system is a copy: stopped part-way, it left a cut-off file whose
    # header announced the whole length
    from app import cli

    done, dst = tmp_path / "scratch" / "pass1.wav", tmp_path / "out" / "clean.wav"
    done.parent.mkdir()
    dst.parent.mkdir()
    done.write_bytes(b"RIFF" + bytes(1000))
    dst.write_bytes(b"the user's earlier file")

    def cut_short(src: str, to: Path) -> None:
        Path(to).write_bytes(Path(src).read_bytes()[:100])
        raise KeyboardInterrupt

    monkeypatch.setattr(cli.shutil, "move", cut_short)
    with pytest.raises(KeyboardInterrupt):
        cli._place(done, dst)
    assert sorted(p.name for p in dst.parent.iterdir()) == ["clean.wav"]
    assert dst.read_bytes() == b"the user's earlier file"
    monkeypatch.undo()
    cli._place(done, dst)
    assert dst.read_bytes() == b"RIFF" + bytes(1000)
    assert sorted(p.name for p in dst.parent.iterdir()) == ["clean.wav"]


def test_hush_writes_into_a_pipe_or_device_and_replaces_a_symlink(tmp_path: Path) -> None:
    # as root, `hush denoise IN /dev/stdout` replaced the /dev/stdout symlink with the WAV (the
    # temporary file's rename went over it): a device or pipe is written into (a local tools
    # audit); a symlink to a file is replaced, never written through (a link planted in a shared
    # folder would make root's output a write over the file it names: a security review)
    import threading

    from app import cli

    done = tmp_path / "pass1.wav"
    done.write_bytes(b"RIFF" + bytes(5000))
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()), daemon=True)
    reader.start()
    cli._place(done, fifo)
    reader.join(10)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert got == [b"RIFF" + bytes(5000)]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pass1.wav", "pipe"]  # no hidden file left

    target, link = tmp_path / "real.wav", tmp_path / "link.wav"
    target.write_bytes(b"earlier")
    link.symlink_to(target)
    cli._place(done, link)
    assert not link.is_symlink()
    assert link.read_bytes() == b"RIFF" + bytes(5000)
    assert target.read_bytes() == b"earlier"


def test_hush_sends_audio_to_standard_output_and_the_report_to_standard_error(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    src = tmp_path / "in.wav"
    sf.write(src, make_white(rng, 8000, -30.0), 8000, subtype="PCM_16")
    r = subprocess.run(
        [sys.executable, "-m", "app.cli", "declick", str(src), "/proc/self/fd/1"],
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(b"RIFF")
    assert sf.info(io.BytesIO(r.stdout)).frames == 8000
    assert json.loads(r.stderr.decode().strip().splitlines()[-1])["steps"][0]["step"] == "declick"


def test_hush_refuses_a_dash_for_standard_input_or_output(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    src = tmp_path / "in.wav"
    sf.write(src, make_white(rng, 8000, -30.0), 8000, subtype="PCM_16")
    for args in (("declick", str(src), "-"), ("denoise", "-", str(tmp_path / "o.wav")), ("vad", "-")):
        r = subprocess.run(
            [sys.executable, "-m", "app.cli", *args], capture_output=True, text=True, timeout=120, cwd=tmp_path
        )
        assert r.returncode == 2, args
        assert "'-' (standard input or output) is not supported" in r.stderr
    assert not (tmp_path / "-").exists()


@pytest.mark.needs_redis
def test_a_worker_whose_broker_does_not_answer_says_so_and_exits(tmp_path: Path) -> None:
    # Celery retried a wrong HUSH_REDIS_URL for hours, logging errors that named no setting
    import time

    port = _closed_port()
    env = {
        **os.environ,
        "HUSH_BACKEND": "cluster",
        "HUSH_REDIS_URL": f"redis://:s3cret@127.0.0.1:{port}/3",
        "HUSH_DATA_DIR": str(tmp_path),
    }
    began = time.monotonic()
    r = hush("worker", env=env, timeout=60)
    assert r.returncode == 3
    assert "the broker (Redis) does not answer" in r.stderr
    assert "check HUSH_REDIS_URL" in r.stderr
    assert "s3cret" not in r.stderr
    assert "Traceback" not in r.stderr
    assert time.monotonic() - began < 30


def test_mock_mode_on_a_public_address_is_refused_for_what_it_is(tmp_path: Path) -> None:
    # with keys set, it was refused "without API keys", and told to set what was set
    env = {**os.environ, "HUSH_API_KEYS": "k1", "HUSH_DATA_DIR": str(tmp_path)}
    r = hush("serve", "--mock", "--host", "0.0.0.0", "--port", "9", env=env)
    assert r.returncode == 2
    assert "mock mode listens on loopback only" in r.stderr
    assert "without API keys" not in r.stderr


@pytest.mark.parametrize("check", [True, False])
def test_cli_worker_without_the_cluster_packages_says_what_to_install(tmp_path: Path, check: bool) -> None:
    # `hush worker --check` (and the worker) ended in "No module named 'redis'" with a traceback
    # in a build without the cluster extra (README audit); here redis is made to be missing
    fake = tmp_path / "mods" / "redis"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ModuleNotFoundError(\"No module named 'redis'\", name='redis')\n")
    env = {
        **os.environ,
        "PYTHONPATH": f"{tmp_path / 'mods'}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
        "HUSH_BACKEND": "cluster",
        "HUSH_DATA_DIR": str(tmp_path / "data"),
    }
    r = hush("worker", *(["--check"] if check else []), env=env)
    assert r.returncode == 3, r.stderr
    assert "cluster backends are not installed (redis)" in r.stderr
    assert ".[cluster]" in r.stderr
    assert "Traceback" not in r.stderr


def test_local_tool_options_say_their_ranges_and_refuse_nan_by_option(tmp_path: Path) -> None:
    # `hush declick --help` gave no range or unit, `--click-len 7.5` was "invalid int value" beside a
    # range error reading [5.0, 30.0], a nan named the step's parameter, and `enhance --help` offered
    # flags that always end "nothing to apply" (a local tools audit)
    helped = hush("declick", "--help").stdout
    assert "6..10" in helped
    assert "5..30 ms" in helped
    rng = np.random.default_rng(5)
    src = tmp_path / "in.wav"
    sf.write(src, make_white(rng, 8000, -30.0), 8000, subtype="PCM_16")
    assert hush("declick", str(src), str(tmp_path / "o.wav"), "--click-len", "7.5").returncode == 0
    for option in ("--detection-mult", "--click-len"):
        r = hush("declick", str(src), str(tmp_path / "o.wav"), option, "nan")
        assert r.returncode == 2
        assert f"argument {option}: invalid number value: 'nan'" in r.stderr
    flags = hush("enhance", "--help").stdout
    assert "remove_noise" in flags
    assert "stutters" not in flags


def test_hush_tells_how_to_give_headerless_pcm_a_header(tmp_path: Path) -> None:
    # the refusal of bytes of no known kind named the server APIs' pcm_sample_rate, which the
    # command has no option for (a local tools audit)
    raw = tmp_path / "take.mp3"
    raw.write_bytes(np.random.default_rng(6).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    r = hush("denoise", str(raw), str(tmp_path / "o.wav"))
    assert r.returncode == 2
    assert "ffmpeg -f s16le" in r.stderr
    assert "pcm_sample_rate" not in r.stderr
