"""Hostile protocols (issue #11): everything that completeness, planning and the scheduler
later compute is checked by the loader, so a protocol that validates never crashes them."""

from __future__ import annotations

from pathlib import Path

import pytest

from protocols import ProtocolValidationError, loads_protocol, shipped_protocol_path

SHIPPED = shipped_protocol_path().read_text(encoding="utf-8")


def problems_of(text: str) -> list[str]:
    with pytest.raises(ProtocolValidationError) as info:
        loads_protocol(text)
    return [str(p) for p in info.value.problems]


def swap(old: str, new: str) -> str:
    assert SHIPPED.count(old) >= 1, old
    return SHIPPED.replace(old, new, 1)


@pytest.mark.parametrize("bad", ["nan", "inf", "-inf"])
def test_non_finite_max_covariate_difference_is_refused(bad: str) -> None:
    text = swap(
        "cutoff_quantile = 0.75",
        f"cutoff_quantile = 0.75\nmax_covariate_difference = {{ child_population = {bad} }}",
    )
    assert any("max_covariate_difference.child_population" in p for p in problems_of(text))


@pytest.mark.parametrize("bad", ["nan", "inf"])
def test_non_finite_indicator_bound_is_refused(bad: str) -> None:
    assert any(
        "maximum: must be a finite number" in p
        for p in problems_of(swap("maximum = 5000", f"maximum = {bad}"))
    )


def test_huge_covariate_is_refused() -> None:
    text = swap("child_population = 43000", "child_population = 1e308")
    assert any("covariates.child_population: must be at most" in p for p in problems_of(text))


def test_huge_weight_is_refused() -> None:
    text = swap("weights = { child_population = 1.0", "weights = { child_population = 1e308")
    assert any("weights.child_population" in p for p in problems_of(text))


@pytest.mark.parametrize("value", ["0", "-5"])
def test_non_positive_denominator_is_refused(value: str) -> None:
    text = swap("child_population = 43000", f"child_population = {value}")
    assert any("must be a positive number for every unit" in p for p in problems_of(text))


def test_schedule_far_in_the_future_is_refused() -> None:
    text = swap('follow_up_end = "2028-Q1"', 'follow_up_end = "9999-Q4"')
    assert any("follow_up_end: 9999-Q4 is outside the years" in p for p in problems_of(text))


@pytest.mark.parametrize(
    ("value", "why"), [("3000000", "must be from 0 to 366"), ("3e6", "must be an integer")]
)
def test_huge_submission_deadline_is_refused(value: str, why: str) -> None:
    text = swap("submission_deadline_days = 45", f"submission_deadline_days = {value}")
    assert any(f"submission_deadline_days: {why}" in p for p in problems_of(text))


def test_deeply_nested_arrays_are_one_problem_not_a_recursion_error() -> None:
    text = swap("[schedule]", "deep = " + "[" * 5000 + "]" * 5000 + "\n[schedule]")
    assert problems_of(text)


def test_moderately_nested_arrays_are_refused_by_depth() -> None:
    text = "deep = " + "[" * 40 + "]" * 40 + "\n" + SHIPPED
    assert any("nested more than" in p for p in problems_of(text))


#: the malformed protocols of issue #11, each of which once gave a traceback (in validate,
#: or later in completeness or ``allocate plan`` after validate and init had said "fine")
WHY_LIST = {
    "nan covariate difference": (
        "cutoff_quantile = 0.75",
        "cutoff_quantile = 0.75\nmax_covariate_difference = { child_population = nan }",
    ),
    "inf indicator bound": ("maximum = 5000", "maximum = inf"),
    "deep nesting": ("[schedule]", "deep = " + "[" * 5000 + "]" * 5000 + "\n[schedule]"),
    "1e308 covariate": ("child_population = 43000", "child_population = 1e308"),
    "1e308 weight": ("weights = { child_population = 1.0", "weights = { child_population = 1e308"),
    "deadline 3e6": ("submission_deadline_days = 45", "submission_deadline_days = 3e6"),
    "follow-up 9999-Q4": ('follow_up_end = "2028-Q1"', 'follow_up_end = "9999-Q4"'),
    "zero population": ("child_population = 43000", "child_population = 0"),
    "negative population": ("child_population = 43000", "child_population = -5"),
}


@pytest.mark.parametrize("case", sorted(WHY_LIST))
def test_each_malformed_protocol_of_the_issue_is_an_error_exit_2_never_a_traceback(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.rct.helpers import run_cli

    path = tmp_path / "protocol.toml"
    path.write_text(swap(*WHY_LIST[case]), encoding="utf-8")
    r = run_cli(capsys, "protocol", "validate", str(path))
    assert r.code == 2
    assert r.err.startswith("Error: ") and "Traceback" not in r.err
