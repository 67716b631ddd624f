"""Randomisation test: exact p-values over the scheme space, test-inversion CI."""

from __future__ import annotations

import itertools
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

from analysis.errors import RandomisationSpaceError
from analysis.randomisation import RandomisationResult, randomisation_test

DATA = Path(__file__).resolve().parents[2] / "tools" / "r_reference" / "data"
COUNTS = pd.read_csv(DATA / "sim_trial_counts.csv")
UNITS = sorted(COUNTS["borough"].unique())
ACTUAL = COUNTS.groupby("borough")["arm"].first().reindex(UNITS).to_numpy()
FULL = np.array([[int(i in c) for i in range(7)] for c in itertools.combinations(range(7), 3)])


def _test(
    schemes: NDArray[np.int_] = FULL,
    actual: NDArray[np.int_] = ACTUAL,
    units: list[str] = UNITS,
    **kw: Any,
) -> RandomisationResult:
    return randomisation_test(
        COUNTS,
        "count ~ C(quarter)",
        "borough",
        schemes,
        actual,
        units=units,
        exposure="population",
        post_indicator="post",
        **kw,
    )


@settings(max_examples=15, deadline=None)
@given(st.sets(st.integers(0, 34), min_size=1, max_size=34))
def test_pvalue_is_exactly_k_over_size_of_space(rows: set[int]) -> None:
    actual_row = int(np.flatnonzero((FULL == ACTUAL).all(axis=1))[0])
    space = FULL[sorted(rows | {actual_row})]
    res = _test(schemes=space, ci=False)
    assert Fraction(res.pvalue).limit_denominator(len(space)) == Fraction(res.count, len(space))
    assert res.pvalue == res.count / len(space)
    assert 1 <= res.count <= len(space)


def test_pvalue_counts_schemes_at_least_as_extreme_by_direct_enumeration() -> None:
    res = _test(ci=False)
    r = np.array([res.cluster_residuals[u] for u in UNITS])
    stats = [r[s == 1].mean() - r[s == 0].mean() for s in FULL]
    k = sum(abs(t) >= abs(res.statistic) - 1e-12 for t in stats)
    assert res.count == k


def test_unit_column_order_does_not_change_the_result() -> None:
    order = UNITS[::-1]
    res = _test(schemes=FULL[:, ::-1], actual=ACTUAL[::-1], units=order, ci=False)
    assert res.pvalue == _test(ci=False).pvalue


def test_confidence_interval_contains_the_estimate_and_excludes_rejected_effects() -> None:
    res = _test()
    lo, hi = res.ci
    assert lo < res.estimate < hi
    assert res.pvalue > 0.05 and lo < 0 < hi  # not rejected at 0 -> 0 is inside


def test_too_small_space_gives_unbounded_interval_with_warning() -> None:
    actual_row = int(np.flatnonzero((FULL == ACTUAL).all(axis=1))[0])
    res = _test(schemes=FULL[[actual_row, (actual_row + 1) % 35, (actual_row + 2) % 35]])
    assert np.isinf(res.ci[0]) and np.isinf(res.ci[1])
    assert [w.code for w in res.warnings] == ["unbounded-interval"]


def test_actual_allocation_outside_the_space_is_refused() -> None:
    others = FULL[~(FULL == ACTUAL).all(axis=1)]
    with pytest.raises(RandomisationSpaceError):
        _test(schemes=others)


def test_non_binary_schemes_are_refused() -> None:
    with pytest.raises(RandomisationSpaceError):
        _test(schemes=FULL * 2)
