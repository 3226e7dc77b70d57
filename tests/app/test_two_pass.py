"""Two-pass steps (remove_echo, autoeq) in the shared pipeline: anywhere in the chain, streamed."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from app import media
from app.errors import InvalidParameterError
from app.jobs.models import OutputSpec, Step
from app.jobs.pipeline import process_file
from app.jobs.steps import STEPS, check_steps
from dsp.echo import remove_echo
from dsp.eq import auto_eq
from tests.signals import make_speech_like, make_white

SR = 16000


def echoed(rng: np.random.Generator, seconds: float = 12.0) -> tuple[np.ndarray, np.ndarray]:
    x, _ = make_speech_like(rng, SR, seconds)
    x = (x + make_white(rng, x.size, -65.0)).astype(np.float32)
    d = round(0.15 * SR)
    y = x.copy()
    y[d:] += 0.5 * x[:-d]
    return x, y


def test_two_pass_steps_match_the_in_memory_engines(tmp_path: Path, rng: np.random.Generator) -> None:
    _, y = echoed(rng)
    src = tmp_path / "in.wav"
    sf.write(src, y, SR, subtype="FLOAT")
    seen: list[float] = []
    result = process_file(
        src,
        media.probe(src),
        [Step(name="remove_echo"), Step(name="autoeq")],
        OutputSpec(container="wav"),
        tmp_path,
        progress=seen.append,
        block_seconds=1.0,  # many blocks per pass
    )
    assert result.path is not None
    out, sr = sf.read(result.path, dtype="float32")
    assert sr == SR
    assert out.shape == y.shape
    # the same audio the two passes give in memory (the WAV is float, so only rounding differs)
    np.testing.assert_allclose(out, auto_eq(remove_echo(y, SR), SR), atol=1e-5)
    assert [r["step"] for r in result.reports] == ["remove_echo", "autoeq"]
    echo, eq = result.reports
    assert echo["applied"] is True
    assert echo["delay_ms"] == pytest.approx(150.0, abs=0.1)
    assert eq["applied"] is True
    assert eq["curve"]
    # three passes (echo analysis, EQ analysis, EQ applied): progress climbs to 100
    assert seen == sorted(seen)
    assert seen[-1] == pytest.approx(100.0)
    assert max(p for p in seen if p < 34) > 30
    assert not list(tmp_path.glob("stage*.wav"))  # the intermediate files are gone


def test_two_pass_step_between_transforms_and_before_loudness(tmp_path: Path, rng: np.random.Generator) -> None:
    _, y = echoed(rng, 8.0)
    src = tmp_path / "in.wav"
    sf.write(src, np.stack([y, y], axis=1), SR, subtype="PCM_24")
    steps = [Step(name="declick"), Step(name="remove_echo"), Step(name="denoise"), Step(name="loudness")]
    check_steps(steps)
    result = process_file(src, media.probe(src), steps, OutputSpec(), tmp_path)
    assert result.path is not None
    out, _ = sf.read(result.path, dtype="float32")
    assert out.shape == (y.size, 2)
    assert [r["step"] for r in result.reports] == ["declick", "remove_echo", "denoise", "loudness"]
    assert result.reports[1]["applied"] is True
    assert result.reports[1]["gain"] == pytest.approx(0.5, abs=0.05)


def test_echo_free_input_reports_not_applied_and_passes_through(tmp_path: Path, rng: np.random.Generator) -> None:
    x, _ = echoed(rng, 6.0)
    src = tmp_path / "in.wav"
    sf.write(src, x, SR, subtype="FLOAT")
    result = process_file(src, media.probe(src), [Step(name="remove_echo")], OutputSpec(container="wav"), tmp_path)
    assert result.path is not None
    out, _ = sf.read(result.path, dtype="float32")
    np.testing.assert_array_equal(out, x)
    (report,) = result.reports
    assert report["applied"] is False
    assert "no discrete echo" in report["not_applied"]


def test_two_pass_steps_are_registered_with_their_parameters() -> None:
    assert STEPS["remove_echo"].kind == STEPS["autoeq"].kind == STEPS["remove_reverb"].kind == "two_pass"
    assert STEPS["remove_reverb"].available
    assert STEPS["remove_echo"].available
    assert STEPS["autoeq"].available
    check_steps([Step(name="remove_echo", params={"min_delay_ms": 40, "max_delay_ms": 250})])
    check_steps([Step(name="autoeq", params={"max_gain_db": 3})])


@pytest.mark.parametrize(
    ("steps", "words"),
    [
        ([Step(name="remove_echo", params={"max_delay_ms": 5000})], "max_delay_ms"),
        ([Step(name="remove_echo", params={"delay": 100})], "no parameter"),
        ([Step(name="autoeq", params={"max_gain_db": 20})], "max_gain_db"),
        ([Step(name="remove_reverb", params={"taps": 20})], "no parameter"),
        ([Step(name="loudness"), Step(name="autoeq")], "must come after"),
        # the order to send, not only the rule (a client had to guess which step to move)
        (
            [Step(name="denoise"), Step(name="loudness"), Step(name="vad"), Step(name="autoeq")],
            re.escape("'autoeq' comes after it: send the steps in the order ['denoise', 'autoeq', 'loudness', 'vad']"),
        ),
    ],
)
def test_bad_two_pass_steps_are_refused(steps: list[Step], words: str) -> None:
    with pytest.raises(InvalidParameterError, match=words):
        check_steps(steps)
