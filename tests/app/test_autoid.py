"""The ``autoid`` plan step: analysis pre-pass, the decided chain merged with explicit steps, its report."""

from __future__ import annotations

import dataclasses
import itertools
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from scipy import signal as sps

from app import media
from app.errors import InvalidParameterError
from app.jobs.models import OutputSpec, Step
from app.jobs.pipeline import CHAIN, expand_plan, process_file
from app.jobs.steps import STEPS, check_steps
from dsp.analyze import analyze
from dsp.loudness import measure_loudness
from tests.signals import make_speech_like, make_tune, make_white, mix_at_snr

SR = 16000


def at_lufs(x: np.ndarray, lufs: float) -> np.ndarray:
    return (x * 10 ** ((lufs - measure_loudness(x, SR).integrated_lufs) / 20)).astype(np.float32)


@pytest.fixture(scope="module")
def clean() -> np.ndarray:
    x, _ = make_speech_like(np.random.default_rng(21), SR, 10.0)
    return at_lufs(x + make_white(np.random.default_rng(22), x.size, -75.0), -16.0)


@pytest.fixture(scope="module")
def noisy_echo_quiet(clean: np.ndarray) -> np.ndarray:
    d = round(0.12 * SR)
    y = clean.copy()
    y[d:] += 0.5 * clean[:-d]
    return at_lufs(mix_at_snr(y, make_white(np.random.default_rng(23), y.size), 15.0), -32.0)


def run(tmp: Path, audio: np.ndarray, steps: list[Step]) -> tuple[np.ndarray, list[dict]]:
    src = tmp / "in.wav"
    sf.write(src, audio, SR, subtype="FLOAT")
    work = tmp / "work"
    work.mkdir(exist_ok=True)
    res = process_file(src, media.probe(src), steps, OutputSpec(container="wav"), work, block_seconds=2.0)
    assert res.path is not None
    return sf.read(res.path, dtype="float32")[0], res.reports


def test_autoid_runs_the_decided_chain_and_reports_each_decision(tmp_path: Path, noisy_echo_quiet: np.ndarray) -> None:
    y, reports = run(tmp_path, noisy_echo_quiet, [Step(name="autoid")])
    plan = reports[0]
    assert plan["step"] == "autoid"
    assert plan["chain"] == ["remove_echo", "denoise", "loudness"]
    assert [r["step"] for r in reports[1:]] == ["remove_echo", "denoise", "loudness"]
    by = {d["engine"]: d for d in plan["decisions"]}
    assert set(by) == {"remove_echo", "remove_reverb", "declip", "denoise", "dehum", "autoeq", "loudness"}
    for engine in ("remove_echo", "denoise", "loudness"):
        assert by[engine]["on"]
        assert by[engine]["action"] == "added"
        assert by[engine]["measure"]
        assert by[engine]["value"] is not None
        assert by[engine]["reason"]
    assert by["denoise"]["measure"] == "snr_db"
    assert by["denoise"]["value"] < by["denoise"]["threshold"]
    assert reports[2]["amount"] == by["denoise"]["strength"]  # the decided strength ran
    assert by["dehum"]["action"] == "none"
    assert by["declip"]["action"] == "none"
    assert plan["measurements"]["echo_found"] is True
    assert reports[1]["delay_ms"] == pytest.approx(120.0, abs=0.1)
    assert measure_loudness(y, SR).integrated_lufs == pytest.approx(-16.0, abs=0.5)


def test_clean_level_matched_input_passes_untouched(tmp_path: Path, clean: np.ndarray) -> None:
    y, reports = run(tmp_path, clean, [Step(name="autoid")])
    assert reports[0]["chain"] == []
    assert all(d["action"] == "none" for d in reports[0]["decisions"])
    assert len(reports) == 1
    np.testing.assert_array_equal(y, clean)


def test_explicit_steps_always_run_and_autoid_adds_only_the_rest(tmp_path: Path, noisy_echo_quiet: np.ndarray) -> None:
    steps = [Step(name="denoise", params={"amount": 30}), Step(name="autoid")]
    _, reports = run(tmp_path, noisy_echo_quiet, steps)
    plan = reports[0]
    by = {d["engine"]: d for d in plan["decisions"]}
    assert by["denoise"]["action"] == "explicit"
    # it said "strength 100" beside the denoise row that ran at 30, with no word of which ran
    assert by["denoise"]["ran_with"] == {"amount": 30}
    assert "caller's parameters" in by["denoise"]["note"]
    assert plan["chain"] == ["remove_echo", "denoise", "loudness"]
    assert reports[2]["step"] == "denoise"
    assert reports[2]["amount"] == 30.0


def test_a_step_set_alongside_autoid_is_labelled_explicit_even_where_autoid_would_not_add_it(
    tmp_path: Path, clean: np.ndarray
) -> None:
    _, reports = run(tmp_path, clean, [Step(name="remove_echo"), Step(name="autoid")])
    by = {d["engine"]: d for d in reports[0]["decisions"]}
    assert by["remove_echo"]["action"] == "explicit"  # it runs: it was "none"
    assert "would not have added it" in by["remove_echo"]["note"]
    assert reports[0]["chain"] == ["remove_echo"]


def test_a_voice_step_the_music_map_would_bypass_whole_is_not_added_and_says_why(clean: np.ndarray) -> None:
    """The music detector can take a voice in a reverberant room for music (the room holds its
    pitch): a voice step autoid adds passes music through, so over a map of music only it would do
    nothing while the report said added. It is not added, and the decision says why."""
    from dsp.music import MusicMap
    from tests.dsp.test_dereverb import room

    y = sps.fftconvolve(clean, room(np.random.default_rng(24), SR, 0.8))[: clean.size]
    noisy = mix_at_snr(y, make_white(np.random.default_rng(25), y.size), 12.0)
    a = analyze(at_lufs(noisy.astype(np.float32), -16.0), SR)
    assert a.decision("remove_reverb").on
    assert a.decision("denoise").on
    whole = MusicMap(music=((0.0, a.duration_s),), bed=(), speech=(), duration_s=a.duration_s)
    steps, report = expand_plan([Step(name="autoid")], dataclasses.replace(a, music=whole), -16.0)
    assert {"remove_reverb", "denoise"}.isdisjoint(s.name for s in steps)
    by = {d["engine"]: d for d in report["decisions"]}
    assert by["remove_reverb"]["action"] == "not_applied"
    assert "reverberant room can read as music" in by["remove_reverb"]["note"]
    # over part of it, the step is added and spares that part, as before
    half = MusicMap(music=((0.0, a.duration_s / 2),), bed=(), speech=(), duration_s=a.duration_s)
    steps, _ = expand_plan([Step(name="autoid")], dataclasses.replace(a, music=half), -16.0)
    assert {s.name: s for s in steps}["remove_reverb"].params["spare_music"] is True


def test_expand_plan_places_decided_steps_in_chain_order(noisy_echo_quiet: np.ndarray) -> None:
    a = analyze(noisy_echo_quiet, SR)
    explicit = [Step(name="declick"), Step(name="autoeq"), Step(name="autoid"), Step(name="long_silences")]
    steps, report = expand_plan(explicit, a, -16.0)
    names = [s.name for s in steps]
    assert names == ["declick", "remove_echo", "denoise", "autoeq", "long_silences", "loudness"]
    assert report["chain"] == names
    # transforms never land after a finalize step, whatever the plan step's place
    steps, _ = expand_plan([Step(name="loudness"), Step(name="autoid")], a, -16.0)
    assert [s.name for s in steps] == ["remove_echo", "denoise", "loudness"]
    assert all(s.name in CHAIN for s in steps)


def test_dehum_step_notches_the_hum_the_analysis_found(tmp_path: Path, clean: np.ndarray) -> None:
    t = np.arange(clean.size) / SR
    hum = sum(np.sin(2 * np.pi * 60 * k * t) / k for k in (1, 2, 3)).astype(np.float32)
    x = at_lufs(clean + 0.01 * hum, -16.0)
    y, reports = run(tmp_path, x, [Step(name="autoid")])
    assert reports[0]["chain"] == ["dehum"]
    assert reports[1]["hum_hz"] == pytest.approx(60.0, abs=0.2)
    spec = lambda v: np.abs(np.fft.rfft(v[SR : 9 * SR]))  # noqa: E731
    f = np.fft.rfftfreq(8 * SR, 1 / SR)
    at60 = np.argmin(np.abs(f - 60.0))
    assert spec(y)[at60] < 0.1 * spec(x)[at60]


@pytest.mark.parametrize("mains_hz", [60.06, 49.96])
def test_autoid_follows_mains_hum_off_its_nominal_frequency(tmp_path: Path, clean: np.ndarray, mains_hz: float) -> None:
    """Mains drifts by hundredths of a hertz: the dehum autoid adds finds the hum and follows it,
    instead of notching at the analysis's estimate (which took such hum down only ~25 dB)."""
    t = np.arange(clean.size) / SR
    hum = sum(np.sin(2 * np.pi * mains_hz * k * t) / k for k in (1, 2, 3)).astype(np.float32)
    x = at_lufs(clean + 0.01 * hum, -16.0)
    y, reports = run(tmp_path, x, [Step(name="autoid")])
    assert reports[0]["chain"] == ["dehum"]
    window = np.hanning(8 * SR)
    f = np.fft.rfftfreq(8 * SR, 1 / SR)
    band = (f > mains_hz - 1) & (f < mains_hz + 1)
    level = lambda v: np.abs(np.fft.rfft(v[SR : 9 * SR] * window))[band].max()  # noqa: E731
    assert 20 * np.log10(level(y) / level(x)) < -30.0


def test_autoid_step_is_registered_and_checked() -> None:
    assert STEPS["autoid"].kind == "plan"
    assert STEPS["dehum"].kind == "transform"
    check_steps([Step(name="autoid"), Step(name="loudness")])
    check_steps([Step(name="autoid", params={"target_lufs": -23.0})])
    with pytest.raises(InvalidParameterError, match="once"):
        check_steps([Step(name="autoid"), Step(name="autoid")])
    with pytest.raises(InvalidParameterError):
        check_steps([Step(name="autoid", params={"target_lufs": 5.0})])
    with pytest.raises(InvalidParameterError):
        check_steps([Step(name="autoid", params={"amount": 5})])


def test_cli_enhance_flag_autoid(tmp_path: Path, noisy_echo_quiet: np.ndarray) -> None:
    src, out = tmp_path / "in.wav", tmp_path / "out.wav"
    sf.write(src, noisy_echo_quiet, SR, subtype="FLOAT")
    r = subprocess.run(
        [sys.executable, "-m", "app.cli", "enhance", str(src), str(out), "--flag", "autoid"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    steps = json.loads(r.stdout)["steps"]
    assert steps[0]["step"] == "autoid"
    assert steps[0]["chain"] == [s["step"] for s in steps[1:]]
    assert sf.read(out, dtype="float32")[0].shape == noisy_echo_quiet.shape


def test_music_only_input_is_left_untouched_and_the_flags_say_why(tmp_path: Path) -> None:
    from app.dialects import audiocleaner
    from app.jobs.models import InputRef, Job, JobSpec, JobState

    rng = np.random.default_rng(40)
    # a quiet plucked tune in noise: the speech detector takes it for speech, so autoid used to
    # denoise, dereverberate and level it, and autoeq to give it the speech EQ
    tune = at_lufs(mix_at_snr(make_tune(rng, SR, 12.0), make_white(rng, 12 * SR), 15.0), -30.0)
    for flag in ("autoid", "autoeq"):
        spec, planned = audiocleaner.to_spec({"inputurl": "http://127.0.0.1/x.wav", "enhance_type": {flag: True}})
        y, reports = run(tmp_path, tune, list(spec.steps))
        np.testing.assert_array_equal(y, tune)
        job = Job(
            id="j",
            dialect="audiocleaner",
            spec=JobSpec(input=InputRef(url="http://127.0.0.1/x.wav"), steps=spec.steps, output=OutputSpec()),
            state=JobState.succeeded,
            result_meta={"steps": reports},
            meta={"plan": planned},
        )
        item = audiocleaner.report(job)[flag]
        assert item["status"] == "not_applied"
        assert item["reason"].startswith("the recording is music only")
    plan = run(tmp_path, tune, [Step(name="autoid")])[1][0]
    assert plan["chain"] == []
    assert plan["measurements"]["music_only"] is True
    assert {d["action"] for d in plan["decisions"]} == {"not_applied"}
    assert all("music only" in d["not_applied"] for d in plan["decisions"])


def test_voice_steps_autoid_adds_pass_a_music_intro_untouched(tmp_path: Path) -> None:
    from tests.dsp.test_music import chords

    rng = np.random.default_rng(41)
    speech, words = make_speech_like(rng, SR, 12.0, lead_silence_s=0.5)
    x = at_lufs(
        np.concatenate([chords(SR, 8.0, level=0.05), mix_at_snr(speech, make_white(rng, speech.size), 12.0)]), -16.0
    )
    y, reports = run(tmp_path, x, [Step(name="autoid")])
    plan = reports[0]
    assert "not_applied" not in plan
    by = {d["engine"]: d for d in plan["decisions"]}
    assert by["denoise"]["action"] == "added"
    assert by["denoise"]["music_spared_s"] > 7.5
    denoise = next(r for r in reports if r["step"] == "denoise")
    assert denoise["music_spared"]["bypassed_s"] > 7.5
    np.testing.assert_array_equal(y[: 8 * SR], x[: 8 * SR])  # the intro, bit for bit
    # the speech after it is denoised: its pauses lose most of their noise
    pauses = np.concatenate(
        [
            np.arange(round((8 + a + 0.1) * SR), round((8 + b - 0.1) * SR))
            for (_, a), (b, _) in itertools.pairwise(words)
        ]
    )
    assert 10 * np.log10(np.mean(x[pauses] ** 2) / np.mean(y[pauses] ** 2)) > 6.0
