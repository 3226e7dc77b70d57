"""The parameter table ``GET /api/v1/steps`` publishes (type, default, range per parameter) is the
engines' own: every bound is taken and a step past it refused, every default is the builder's."""

from __future__ import annotations

import inspect

import pytest

from app.errors import InvalidParameterError
from app.jobs.models import Step
from app.jobs.steps import PARAM_SPECS, STEPS, check_steps

#: A bound that only holds with another parameter moved out of its way.
COMPANIONS = {
    ("remove_echo", "min_delay_ms"): {"max_delay_ms": 1000.0},
    ("remove_echo", "max_delay_ms"): {"min_delay_ms": 20.0},
    ("long_silences", "keep_pause_s"): {"max_pause_s": 60.0},
    ("long_silences", "max_pause_s"): {"keep_pause_s": 0.05},
}


def test_every_parameter_has_a_spec_and_no_other() -> None:
    for name, d in STEPS.items():
        assert set(PARAM_SPECS.get(name, {})) == set(d.params), name


def _numbers() -> list[tuple[str, str]]:
    return [(s, p) for s, specs in PARAM_SPECS.items() for p, spec in specs.items() if spec.type == "number"]


@pytest.mark.parametrize(("step", "name"), _numbers())
def test_each_number_takes_its_bounds_and_default_and_refuses_past_them(step: str, name: str) -> None:
    spec = PARAM_SPECS[step][name]
    with_ = COMPANIONS.get((step, name), {})
    assert spec.minimum is not None
    assert spec.maximum is not None
    for value in (spec.minimum, spec.maximum, spec.default):
        if value is not None:
            check_steps([Step(name=step, params={name: value, **with_})])
    span = spec.maximum - spec.minimum
    for outside in (spec.minimum - 0.01 * span, spec.maximum + 0.01 * span):
        with pytest.raises(InvalidParameterError, match=name):
            check_steps([Step(name=step, params={name: outside, **with_})])
    if spec.nullable:
        check_steps([Step(name=step, params={name: None})])


def test_words_take_each_choice_and_refuse_another() -> None:
    for step, specs in PARAM_SPECS.items():
        for name, spec in specs.items():
            if spec.type != "word":
                continue
            for choice in spec.choices:
                check_steps([Step(name=step, params={name: choice})])
            assert spec.default in spec.choices
            with pytest.raises(InvalidParameterError):
                check_steps([Step(name=step, params={name: "no-such-word"})])


def test_defaults_are_the_builders() -> None:
    from dsp.analyze import TARGET_LUFS
    from dsp.declick import ClickRepairer
    from dsp.dynamics import CompressorAnalyzer, DeEsser
    from dsp.echo import MAX_DELAY_MS, MIN_DELAY_MS
    from dsp.eq import MAX_GAIN_DB
    from dsp.fillers import MIN_CONFIDENCE
    from dsp.hum import DETECT_S
    from dsp.loudness import check_targets
    from dsp.music import BACKGROUND_DEPTH_DB

    def kwargs(fn: object) -> dict[str, object]:
        return {k: p.default for k, p in inspect.signature(fn).parameters.items()}  # type: ignore[arg-type]

    got = {(s, p): spec.default for s, specs in PARAM_SPECS.items() for p, spec in specs.items()}
    compress, deess, loud, click = (
        kwargs(CompressorAnalyzer),
        kwargs(DeEsser),
        kwargs(check_targets),
        kwargs(ClickRepairer),
    )
    expected = {
        ("remove_echo", "min_delay_ms"): MIN_DELAY_MS,
        ("remove_echo", "max_delay_ms"): MAX_DELAY_MS,
        ("autoeq", "max_gain_db"): MAX_GAIN_DB,
        ("fillers", "min_confidence"): MIN_CONFIDENCE,
        ("dehum", "detect_s"): DETECT_S,
        ("autoid", "target_lufs"): TARGET_LUFS,
        ("remove_background", "depth_db"): BACKGROUND_DEPTH_DB,
        ("loudness", "target_lufs"): loud["target_lufs"],
        ("loudness", "max_peak_dbfs"): loud["max_peak_dbfs"],
        ("declick", "detection_mult"): click["detection_mult"],
        ("declick", "click_len"): click["click_len_ms"],
        **{("compress", k): compress[k] for k in PARAM_SPECS["compress"]},
        **{("deess", k): deess[k] for k in PARAM_SPECS["deess"]},
    }
    for key, value in expected.items():
        assert got[key] == value, key


def test_lists_are_bounded_and_numbers_must_fit_a_float() -> None:
    # (a 360 KB request of 120,000 harmonics took a worker past 8 GB; 10**400 answered 500)
    check_steps([Step(name="dehum", params={"hum_hz": 50, "harmonics": [1] * 100})])
    with pytest.raises(InvalidParameterError, match="at most 100"):
        check_steps([Step(name="dehum", params={"hum_hz": 50, "harmonics": [1] * 101})])
    for big in (10**400, -(10**400)):
        with pytest.raises(InvalidParameterError, match="amount takes a number"):
            check_steps([Step(name="denoise", params={"amount": big})])
        with pytest.raises(InvalidParameterError, match="harmonics"):
            check_steps([Step(name="dehum", params={"hum_hz": 50, "harmonics": [big]})])


def test_harmonics_without_hum_hz_are_refused_not_ignored() -> None:
    """A ``harmonics`` list without ``hum_hz`` was accepted and ignored (the detection chose the
    harmonics and the report did not say), and out-of-range entries passed the submit check."""
    for harmonics in ([5], [0, 500]):
        with pytest.raises(InvalidParameterError, match="harmonics") as e:
            check_steps([Step(name="dehum", params={"harmonics": harmonics})])
        assert "hum_hz" in str(e.value) or "[1, 100]" in str(e.value)
    with pytest.raises(InvalidParameterError, match="only with hum_hz"):
        check_steps([Step(name="dehum", params={"harmonics": [1, 2]})])
    check_steps([Step(name="dehum", params={})])  # the detection alone
    # every advertised default sent as is (harmonics' is null): not refused
    check_steps([Step(name="dehum", params={"hum_hz": None, "harmonics": None, "detect_s": 4.0})])
    check_steps([Step(name="dehum", params={"hum_hz": 60})])  # 1, 2 and 3 of a given hum
    check_steps([Step(name="dehum", params={"hum_hz": 60, "harmonics": [5]})])


def test_a_harmonic_given_twice_is_notched_once() -> None:
    from dsp.hum import HumRemover

    h = HumRemover(16_000, 1, hum_hz=50.0, harmonics=(3, 1, 1, 2, 3))
    assert h._given is not None
    assert h._given.harmonics == (1, 2, 3)


def test_a_bound_of_zero_is_published() -> None:
    """``public()`` dropped a bound of 0 (``0.0 in (False,)``): loudness's target_lufs had no
    maximum and autoeq's max_gain_db no minimum, and the playground, which takes its ranges from
    here, let a user type what the server refuses."""
    for step, specs in PARAM_SPECS.items():
        for name, spec in specs.items():
            public = spec.public()
            if spec.type == "number":
                assert public["minimum"] == spec.minimum, (step, name)
                assert public["maximum"] == spec.maximum, (step, name)
            assert "nullable" not in public or public["nullable"] is True
    assert PARAM_SPECS["loudness"]["target_lufs"].public()["maximum"] == 0.0
    assert PARAM_SPECS["autoeq"]["max_gain_db"].public()["minimum"] == 0.0
