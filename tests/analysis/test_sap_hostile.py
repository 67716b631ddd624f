"""Hostile but possible trial data through the SAP runner (``run_sap``).

Each named case is data a trial could produce (or a caller could pass): zeros, missing
boroughs and quarters, identical or huge counts, duplicated, negative, fractional or
infinite values, broken denominators, unknown units and quarters, arms the protocol does
not allocate. For each the run either reports finite numbers, or reports the method, the
analysis or the ICC failed with a reason in words, or refuses the whole run with a
DataError; never another exception, a NaN or infinity stored as a number, a p-value
outside [0, 1], an interval missing its estimate, or "nan" in the summary (the judge is
tests/analysis/sap_hostile.py). A hypothesis property mixes the mutations over simulated
data; bench/fuzz_sap.py runs it for many more examples.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analysis.errors import DataError
from analysis.sap.runner import run_sap
from analysis.sap.simulate import simulate_values
from protocols import Protocol
from tests.analysis.sap_hostile import (
    Verdict,
    drop,
    duplicate,
    judge,
    scale,
    set_value,
    single_non_zero,
    where,
)
from tests.analysis.test_sap_runner import ARMS, SPACE, UNITS, every_method_protocol

PROTOCOL = every_method_protocol()
VALUES = simulate_values(PROTOCOL, ARMS, seed=3)
#: Without the negative-binomial analysis, whose fit takes seconds on huge counts.
NO_NB = replace(
    PROTOCOL,
    analyses=tuple(a for a in PROTOCOL.analyses if a.family != "negative_binomial"),
)
PRIMARY = "primary_re_referrals"
LMM = "sensitivity_re_referrals_rate_lmm"
NB = "sensitivity_re_referrals_overdispersion"
FOLLOW = "sensitivity_re_referrals_follow_up_only"
GEE = "sensitivity_gee_post"


def _w(**kw: Any) -> pd.Series:
    return where(VALUES, ARMS, **kw)


def _with_unit_covariate(protocol: Protocol, unit: str, name: str, value: Any) -> Protocol:
    units = []
    for u in protocol.units:
        if u.id == unit:
            cov = {k: v for k, v in u.covariates.items() if k != name}
            if value is not None:
                cov[name] = value
            u = replace(u, covariates=MappingProxyType(cov))
        units.append(u)
    return replace(protocol, units=tuple(units))


def _space(arms: dict[str, str]) -> np.ndarray:
    n1 = sum(a == "intervention" for a in arms.values())
    return np.array([[int(i in c) for i in range(7)] for c in itertools.combinations(range(7), n1)])


ONE_INTERVENTION = {u: ("intervention" if i == 1 else "control") for i, u in enumerate(UNITS)}


@dataclass(frozen=True)
class Case:
    """A hostile dataset and what is right for it.

    ``refused``: the whole run is refused with a DataError containing this text.
    ``failed``: ``analysis[/method]`` -> text its reason must contain.
    ``ok``: ``analysis/method`` that must report an effect.
    """

    values: Callable[[], pd.DataFrame] = lambda: VALUES
    protocol: Protocol = PROTOCOL
    arms: dict[str, str] | None = None
    refused: str = ""
    failed: dict[str, str] | None = None
    ok: tuple[str, ...] = ()
    icc: bool = False
    randomisation_ci: bool = False


CASES: dict[str, Case] = {
    "all zeros for the outcome": Case(
        lambda: set_value(VALUES, _w(), 0.0),
        failed={
            f"{PRIMARY}/between-within": "every poisson outcome is 0",
            f"{PRIMARY}/cluster-level": "every outcome is 0",
            f"{PRIMARY}/randomisation": "every outcome is 0",
            f"{GEE}/gee-mancl-derouen": "every outcome is 0",
            f"{NB}/between-within": "every negative_binomial outcome is 0",
            f"{LMM}/satterthwaite": "does not vary within clusters",
            f"{LMM}/kenward-roger": "does not vary within clusters",
            f"{LMM}/cluster-level": "do not vary within either arm",
            f"{LMM}/icc": "does not vary within clusters",
        },
        icc=True,
    ),
    "all zeros in follow-up only": Case(
        lambda: set_value(VALUES, _w(phase="follow_up"), 0.0),
        failed={
            f"{PRIMARY}/between-within": "ran off to an infinite estimate",
            f"{NB}/between-within": "has no finite standard error",
            f"{FOLLOW}/between-within": "every poisson outcome is 0",
            f"{LMM}/cluster-level": "do not vary within either arm",
        },
        ok=(f"{LMM}/satterthwaite", f"{LMM}/randomisation"),
    ),
    "all zeros in baseline only": Case(
        lambda: set_value(VALUES, _w(phase="baseline"), 0.0),
        failed={f"{NB}/between-within": "has no finite standard error"},
        ok=(f"{PRIMARY}/between-within", f"{PRIMARY}/cluster-level", f"{LMM}/satterthwaite"),
    ),
    "one borough all zeros": Case(
        lambda: set_value(VALUES, _w(unit="camden"), 0.0),
        failed={
            f"{PRIMARY}/cluster-level": "a cluster has no events",
            f"{PRIMARY}/randomisation": "a cluster has no events",
        },
        ok=(f"{PRIMARY}/between-within", f"{NB}/between-within", f"{LMM}/kenward-roger"),
    ),
    "intervention arm all zeros": Case(
        lambda: set_value(VALUES, _w(arm="intervention"), 0.0),
        failed={
            f"{PRIMARY}/between-within": "ran off to an infinite estimate",
            f"{PRIMARY}/wald-normal": "ran off to an infinite estimate",
            f"{NB}/between-within": "the between-within fit of treatment",
        },
        ok=(f"{LMM}/satterthwaite",),
    ),
    "control arm all zeros": Case(
        lambda: set_value(VALUES, _w(arm="control"), 0.0),
        failed={f"{PRIMARY}/between-within": "ran off to an infinite estimate"},
        ok=(f"{LMM}/satterthwaite",),
    ),
    "no events in the intervention arm's follow-up": Case(
        lambda: set_value(VALUES, _w(arm="intervention", phase="follow_up"), 0.0),
        failed={
            f"{PRIMARY}/between-within": "ran off to an infinite estimate",
            f"{FOLLOW}/between-within": "ran off to an infinite estimate",
        },
        ok=(f"{LMM}/satterthwaite",),
    ),
    "a borough with every value missing": Case(
        lambda: set_value(VALUES, _w(unit="camden"), np.nan),
        failed={
            f"{PRIMARY}/randomisation": "(no data for camden): the test needs every unit",
            FOLLOW: "unit camden has no baseline values",
        },
        ok=(f"{PRIMARY}/between-within", f"{PRIMARY}/cluster-level"),
    ),
    "a borough missing its follow-up": Case(
        lambda: set_value(VALUES, _w(unit="camden", phase="follow_up"), np.nan),
        failed={f"{PRIMARY}/cluster-level": "every cluster needs baseline rows"},
        ok=(f"{PRIMARY}/between-within",),
    ),
    "a whole quarter missing": Case(
        lambda: set_value(VALUES, _w(period="2026-Q3"), np.nan),
        ok=(f"{PRIMARY}/between-within", f"{PRIMARY}/cluster-level", f"{LMM}/kenward-roger"),
        icc=True,
    ),
    "only one follow-up quarter": Case(
        lambda: drop(VALUES, VALUES["period"].isin(["2026-Q3", "2026-Q4"])),
        ok=(f"{PRIMARY}/between-within", f"{PRIMARY}/randomisation", f"{FOLLOW}/cluster-level"),
        randomisation_ci=True,
    ),
    "counts of about 1e9": Case(
        lambda: scale(VALUES, _w(), 1e9 / 300),
        protocol=NO_NB,
        ok=(f"{PRIMARY}/between-within", f"{LMM}/satterthwaite", f"{LMM}/randomisation"),
        randomisation_ci=True,
    ),
    "counts of about 1e15": Case(
        lambda: scale(VALUES, _w(), 1e15 / 300),
        protocol=NO_NB,
        ok=(f"{PRIMARY}/cluster-level", f"{LMM}/satterthwaite"),
    ),
    "the same count everywhere": Case(
        lambda: set_value(VALUES, _w(), 5.0),
        failed={
            f"{LMM}/satterthwaite": "does not vary within clusters",
            # the residuals were rounding noise of 1e-14, tested as if they were data
            f"{PRIMARY}/cluster-level": "do not vary within either arm",
            f"{PRIMARY}/randomisation": "do not vary",
        },
        ok=(f"{PRIMARY}/between-within",),
    ),
    "a count of 1 everywhere": Case(
        lambda: set_value(VALUES, _w(), 1.0),
        failed={
            f"{PRIMARY}/cluster-level": "do not vary within either arm",
            f"{FOLLOW}/cluster-level": "do not vary within either arm",
            f"{LMM}/cluster-level": "do not vary within either arm",
            f"{PRIMARY}/randomisation": "do not vary",
            f"{LMM}/randomisation": "do not vary",
            f"{LMM}/wald-normal": "does not vary within clusters",
        },
    ),
    "a single non-zero count in follow-up": Case(
        lambda: single_non_zero(VALUES, _w(unit="camden", period="2026-Q3"), 3.0),
        failed={
            f"{PRIMARY}/between-within": "ran off to an infinite estimate",
            f"{GEE}/gee-mancl-derouen": "has no finite test statistic",
        },
        icc=True,
    ),
    "a single non-zero count in baseline": Case(
        lambda: single_non_zero(VALUES, _w(unit="camden", period="2025-Q1"), 3.0),
        failed={f"{PRIMARY}/cluster-level": "every outcome is 0"},
    ),
    "a negative count": Case(
        lambda: set_value(VALUES, _w(unit="camden", period="2026-Q3"), -4.0),
        failed={PRIMARY: "negative or fractional values at camden 2026-Q3", LMM: "is a count"},
    ),
    "fractional counts": Case(
        lambda: set_value(VALUES, _w(unit="enfield"), 2.5),
        failed={PRIMARY: "negative or fractional values at enfield"},
    ),
    "an infinite count": Case(
        lambda: set_value(VALUES, _w(unit="camden", period="2026-Q3"), np.inf),
        failed={PRIMARY: "infinite values at camden 2026-Q3", LMM: "infinite values"},
    ),
    "a value that is not a number": Case(
        lambda: set_value(VALUES, _w(unit="camden", period="2026-Q3"), "twelve"),
        failed={PRIMARY: "values that are not numbers"},
    ),
    "duplicate rows for a unit and quarter": Case(
        lambda: duplicate(VALUES, _w(unit="camden", period="2025-Q2")),
        failed={PRIMARY: "more than one row for camden 2025-Q2"},
    ),
    "values for a unit not in the protocol": Case(
        lambda: pd.concat([VALUES, VALUES[_w(unit="camden")].assign(unit="westminster")]),
        failed={PRIMARY: "units that are not in the protocol: westminster"},
    ),
    "a period that is not a quarter": Case(
        lambda: pd.concat(
            [VALUES, VALUES[_w(unit="camden", period="2025-Q1")].assign(period="Q9")]
        ),
        failed={PRIMARY: "'Q9' is not a quarter"},
    ),
    "a zero denominator": Case(
        protocol=_with_unit_covariate(PROTOCOL, "camden", "child_population", 0.0),
        failed={PRIMARY: "camden's child_population is 0.0", LMM: "positive number"},
    ),
    "a negative denominator": Case(
        protocol=_with_unit_covariate(PROTOCOL, "camden", "child_population", -5.0),
        failed={FOLLOW: "camden's child_population is -5.0"},
    ),
    "a missing denominator": Case(
        protocol=_with_unit_covariate(PROTOCOL, "camden", "child_population", None),
        failed={PRIMARY: "unit camden has no numeric child_population"},
    ),
    "a denominator that is text": Case(
        protocol=_with_unit_covariate(PROTOCOL, "camden", "child_population", "lots"),
        failed={PRIMARY: "no numeric child_population (found 'lots')"},
    ),
    "a denominator that is NaN": Case(
        protocol=_with_unit_covariate(PROTOCOL, "camden", "child_population", float("nan")),
        refused="cannot be fingerprinted",
    ),
    "one intervention borough against six": Case(
        arms=ONE_INTERVENTION,
        refused="1 intervention units, but the protocol allocates 4 control, 3 intervention",
    ),
    "an arm code the protocol does not have": Case(
        arms={**ARMS, UNITS[0]: "treatment"},
        failed={PRIMARY: "found camden: 'treatment'"},
    ),
    "every borough in control": Case(
        arms={u: "control" for u in UNITS},
        refused="the arms give 7 control, 0 intervention units",
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_hostile_data_give_numbers_a_reason_or_a_refusal(name: str) -> None:
    case = CASES[name]
    arms = case.arms or ARMS
    start = time.perf_counter()
    verdict = judge(
        case.protocol,
        case.values(),
        arms,
        SPACE if arms is ARMS else _space(arms),
        UNITS,
        icc=case.icc,
        randomisation_ci=case.randomisation_ci,
    )
    assert time.perf_counter() - start < 60, "a run of the small protocol takes seconds"
    if case.refused:
        assert case.refused in verdict.refused
        return
    assert not verdict.refused, verdict.refused
    assert verdict.problems == []
    for what, reason in (case.failed or {}).items():
        assert what in verdict.failed, (what, verdict.failed)
        assert reason in verdict.failed[what], (what, verdict.failed[what])
    for what in case.ok:
        assert verdict.ok(what), (what, verdict.failed.get(what))
    for reason in verdict.failed.values():
        # a reason in words: no bare Python exception names ("ZeroDivisionError: ...")
        assert not reason.split(":")[0].endswith(("Error", "Exception")), reason


def test_a_randomisation_test_without_inversion_is_summarised_as_not_estimated() -> None:
    """Its estimate and interval are not computed (stored as null); the summary said
    "rate ratio unbounded (CI unbounded to unbounded)"."""
    verdict = judge(NO_NB, VALUES, ARMS, SPACE, UNITS)
    assert verdict.results is not None
    md = verdict.results.summary_markdown()
    line = next(x for x in md.splitlines() if "- Supportive - randomisation" in x)
    assert "rate ratio not estimated (p-value only), p = " in line
    assert "unbounded" not in line


@pytest.mark.parametrize("factor", [1e9 / 300, 1e15 / 300])
def test_huge_counts_give_the_answers_of_ordinary_ones_in_other_units(factor: float) -> None:
    """Counts multiplied by ``factor`` (about 1e9 and 1e15 per quarter): the rate
    analyses' mean differences and intervals scale by the factor, their df and p-values do
    not, and the cluster-level and randomisation ratios do not change at all. Before:
    Satterthwaite's df and p changed with the units (0.0009 -> 0.0004), the cluster-level
    mean difference came out 3% off at 1e15, and the randomisation interval's bisection
    never ended there."""
    base = judge(NO_NB, VALUES, ARMS, SPACE, UNITS, randomisation_ci=True).results
    start = time.perf_counter()
    verdict = judge(NO_NB, scale(VALUES, _w(), factor), ARMS, SPACE, UNITS, randomisation_ci=True)
    assert time.perf_counter() - start < 60
    assert verdict.problems == [] and verdict.results is not None and base is not None
    big = {(a.name, m.method): m for a in verdict.results.analyses for m in a.methods}
    for a in base.analyses:
        for m in a.methods:
            if not m.ok or a.name not in (LMM, PRIMARY):
                continue
            other = big[(a.name, m.method)]
            k = factor if a.name == LMM else 1.0
            assert other.ok, (a.name, m.method, other.error)
            if a.name == PRIMARY and m.method not in ("cluster-level", "randomisation"):
                continue  # the mixed models weigh the counts: more counts, other weights
            # counts are rounded after scaling: agreement to about 1e-9 relative, at best
            assert other.coefficient == pytest.approx(k * m.coefficient, rel=1e-6)
            for got, want in zip(other.coefficient_ci, m.coefficient_ci, strict=True):
                assert got == pytest.approx(k * want, rel=1e-5)
            assert other.pvalue == pytest.approx(m.pvalue, rel=1e-5)
            if m.df is not None:
                assert other.df == pytest.approx(m.df, rel=1e-5)


@pytest.mark.parametrize("level", [0.0, 1.0, 1.5, float("nan")])
def test_a_confidence_level_outside_0_1_is_refused(level: float) -> None:
    with pytest.raises(DataError, match="confidence level must be between 0 and 1"):
        run_sap(NO_NB, VALUES, ARMS, SPACE, UNITS, level=level)


# ------------------------------------------------------------------ mixed mutations


def _mutation(
    draw: st.DrawFn, values: pd.DataFrame, factors: tuple[float, ...] = (1e3, 1e4)
) -> pd.DataFrame:
    """One hostile change to ``values`` (the outcome's rows only); ``huge`` multiplies
    counts by one of ``factors``."""
    unit = draw(st.sampled_from(UNITS))
    scope = draw(
        st.sampled_from(
            [
                {},
                {"phase": "follow_up"},
                {"phase": "baseline"},
                {"unit": unit},
                {"unit": unit, "phase": "follow_up"},
                {"arm": "intervention"},
                {"arm": "control"},
                {"arm": "intervention", "phase": "follow_up"},
                {"period": draw(st.sampled_from(sorted(set(values["period"]))))},
                {"unit": unit, "period": draw(st.sampled_from(sorted(set(values["period"]))))},
            ]
        )
    )
    rows = where(values, ARMS, **scope)
    kind = draw(
        st.sampled_from(
            ["zero", "missing", "constant", "huge", "single", "duplicate", "drop", "bad"]
        )
    )
    if kind == "zero":
        return set_value(values, rows, 0.0)
    if kind == "missing":
        return set_value(values, rows, np.nan)
    if kind == "constant":
        return set_value(values, rows, float(draw(st.sampled_from([1, 5, 1000]))))
    if kind == "huge":
        return scale(values, rows, draw(st.sampled_from(factors)))
    if kind == "single":
        return single_non_zero(values, rows, float(draw(st.integers(1, 50))))
    if kind == "duplicate":
        return duplicate(values, rows & (values["unit"] == unit))
    if kind == "drop":
        return drop(values, rows)
    bad = draw(st.sampled_from([-1.0, 0.5, np.inf]))
    return set_value(values, rows & (values["unit"] == unit), bad)


SIMULATED = {seed: simulate_values(PROTOCOL, ARMS, seed=seed) for seed in (1, 2)}


@st.composite
def hostile_values(draw: st.DrawFn, factors: tuple[float, ...] = (1e3, 1e4)) -> pd.DataFrame:
    """Simulated trial data with one to three hostile mutations (counts scaled by at most
    1e4 by default: the negative-binomial fit takes seconds on counts of 1e9)."""
    values = SIMULATED[draw(st.sampled_from(sorted(SIMULATED)))]
    for _ in range(draw(st.integers(1, 3))):
        values = _mutation(draw, values, factors)
    return values


def check_property(values: pd.DataFrame, icc: bool, randomisation_ci: bool) -> Verdict:
    """The invariants of one run on mutated data (shared with bench/fuzz_sap.py)."""
    start = time.perf_counter()
    verdict = judge(
        PROTOCOL, values, ARMS, SPACE, UNITS, icc=icc, randomisation_ci=randomisation_ci
    )
    assert time.perf_counter() - start < 120, "a run of the small protocol must not hang"
    assert verdict.problems == []
    for reason in verdict.failed.values():
        assert reason, "a failure has a reason"
    return verdict


@settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck))
@given(hostile_values(), st.booleans())
def test_mixed_hostile_mutations_never_crash_or_store_non_numbers(
    values: pd.DataFrame, randomisation_ci: bool
) -> None:
    check_property(values, icc=False, randomisation_ci=randomisation_ci)
