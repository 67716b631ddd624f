"""Scheme spaces: completeness, balance, canonical order, constraints and reproducible draws."""

from __future__ import annotations

import hashlib
import itertools
import math
from typing import Literal

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import allocation.enumeration as enumeration
from allocation import AllocationDesign, build_scheme_space
from allocation.errors import DesignError, SpaceError, UnitsError


def make_units(n: int, seed: int = 0, strata: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)  # test data only; allocation never uses numpy's RNG
    df = pd.DataFrame(
        {
            "x1": rng.normal(size=n),
            "x2": rng.integers(0, 100, size=n),
            "cat": rng.choice(["a", "b", "c"], size=n),
        },
        index=[f"u{i:02d}" for i in range(n)],
    )
    if strata:
        df["stratum"] = [f"s{i % strata}" for i in range(n)]
    return df


def naive_scores(units: pd.DataFrame, design: AllocationDesign) -> dict[tuple[int, ...], float]:
    """cvrall's formula by brute force over itertools.combinations (reference)."""
    table = units.sort_index()
    cols = []
    for cov in design.covariates:
        if cov in design.categorical:
            levels = sorted(set(table[cov]))
            cols += [
                ((table[cov] == lv).astype(float).to_numpy(), design.weight(cov))
                for lv in levels[1:]
            ]
        else:
            cols.append((table[cov].astype(float).to_numpy(), design.weight(cov)))
    n = len(table)
    out = {}
    for treated in itertools.combinations(range(n), design.n_treated):
        s = np.zeros(n)
        s[list(treated)] = 1
        score = 0.0
        for x, w in cols:
            z = (x - x.mean()) / x.std(ddof=1)
            t = w * float(s @ z)
            score += t * t if design.metric == "l2" else abs(t)
        out[tuple(int(v) for v in s)] = score
    return out


@pytest.mark.parametrize("metric", ["l1", "l2"])
def test_scores_match_brute_force_formula(metric: Literal["l1", "l2"]) -> None:
    units = make_units(9, seed=1)
    design = AllocationDesign(
        n_treated=4,
        covariates=("x1", "x2", "cat"),
        categorical=("cat",),
        metric=metric,
        weights={"x2": 2.0},
    )
    space = build_scheme_space(units, design)
    ref = naive_scores(units, design)
    assert space.total == math.comb(9, 4) == space.admissible
    for row, score in zip(space.schemes.tolist(), space.scores.tolist()):
        assert score == pytest.approx(ref[tuple(row)], rel=1e-8, abs=1e-9)


def test_schemes_are_in_combn_order() -> None:
    space = build_scheme_space(make_units(6), AllocationDesign(n_treated=2))
    expected = []
    for treated in itertools.combinations(range(6), 2):
        expected.append([1 if i in treated else 0 for i in range(6)])
    assert space.schemes.tolist() == expected


def test_generic_enumeration_agrees_with_meet_in_the_middle(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    units = make_units(10, seed=2, strata=3)
    design = AllocationDesign(
        n_treated=5,
        strata="stratum",
        covariates=("x1", "cat"),
        categorical=("cat",),
        cutoff_quantile=0.3,
    )
    fast = build_scheme_space(units, design)
    monkeypatch.setattr(enumeration, "MITM_MAX_UNITS", 0)
    slow = build_scheme_space(units, design)
    assert np.array_equal(fast.schemes, slow.schemes)
    assert np.array_equal(fast.all_scores, slow.all_scores)


def test_complements_tie_exactly_in_symmetric_designs() -> None:
    space = build_scheme_space(
        make_units(10, seed=3), AllocationDesign(n_treated=5, covariates=("x1", "x2"))
    )
    by_row = {r.tobytes(): s for r, s in zip(space.schemes, space.scores.tolist())}
    for r, s in zip(space.schemes, space.scores.tolist()):
        assert by_row[(1 - r).astype(np.uint8).tobytes()] == s


def test_cutoff_ties_are_broken_by_canonical_order() -> None:
    units = make_units(8, seed=4)
    space = build_scheme_space(
        units, AllocationDesign(n_treated=4, covariates=("x1",), cutoff_schemes=3)
    )
    # schemes come in complement pairs with equal scores; the third keeps the combn-earlier one
    assert space.admissible == 3
    pair_member = space.schemes[np.argmax(space.scores)]
    full = build_scheme_space(units, AllocationDesign(n_treated=4, covariates=("x1",)))
    i = full.index_of(pair_member)
    j = full.index_of(1 - pair_member)
    assert i is not None and j is not None and i < j


@settings(max_examples=25, deadline=None)
@given(n=st.integers(3, 12), data=st.data())
def test_every_scheme_allocates_each_unit_once_with_the_right_arm_size(
    n: int, data: st.DataObject
) -> None:
    k = data.draw(st.integers(1, n - 1))
    strata = data.draw(st.integers(0, 3))
    units = make_units(n, seed=n, strata=strata)
    design = AllocationDesign(n_treated=k, strata="stratum" if strata else None)
    try:
        space = build_scheme_space(units, design)
    except DesignError:
        return  # no split of the strata gives k (checked separately)
    assert space.schemes.shape == (space.admissible, n)
    assert set(np.unique(space.schemes).tolist()) <= {0, 1}
    assert (space.schemes.sum(axis=1) == k).all()
    assert len({r.tobytes() for r in space.schemes}) == space.admissible
    if strata:
        codes = np.array(space.strata)
        for s in set(space.strata or ()):
            share = (codes == s).sum() * k / n
            counts = space.schemes[:, codes == s].sum(axis=1)
            assert (counts >= math.floor(share)).all() and (counts <= math.ceil(share)).all()


@settings(max_examples=20, deadline=None)
@given(seed=st.binary(min_size=32, max_size=32), shuffle_seed=st.integers(0, 1000))
def test_draw_is_admissible_reproducible_and_ignores_row_order(
    seed: bytes, shuffle_seed: int
) -> None:
    units = make_units(9, seed=5, strata=2)
    design = AllocationDesign(
        n_treated=4, strata="stratum", covariates=("x1", "x2"), cutoff_quantile=0.25
    )
    space = build_scheme_space(units, design)
    shuffled = units.sample(frac=1.0, random_state=shuffle_seed)
    again = build_scheme_space(shuffled, design)
    a, b = space.draw(seed), again.draw(seed)
    assert a == b
    assert space.contains(a.scheme)
    assert sorted(a.arms) == sorted(units.index)


def test_stratified_total_counts_every_split() -> None:
    units = make_units(
        7, strata=2
    )  # strata of 4 and 3, 3 treated: (2,1) or (1,2)? shares 12/7, 9/7
    space = build_scheme_space(units, AllocationDesign(n_treated=3, strata="stratum"))
    assert space.total == math.comb(4, 2) * math.comb(3, 1) + math.comb(4, 1) * math.comb(3, 2)
    assert space.admissible == space.total


def test_large_space_is_sampled_without_duplicates_and_counted_exactly() -> None:
    units = make_units(16)
    design = AllocationDesign(
        n_treated=8, covariates=("x1",), max_enumerate=1000, sample_size=500, cutoff_quantile=0.1
    )
    space = build_scheme_space(units, design)
    assert space.sampled and space.total == math.comb(16, 8) and space.evaluated == 500
    assert len({r.tobytes() for r in space.schemes}) == space.admissible == 50
    assert np.array_equal(build_scheme_space(units.iloc[::-1], design).schemes, space.schemes)


def test_constraints_bound_every_admissible_standardised_difference() -> None:
    units = make_units(10, seed=6)
    design = AllocationDesign(n_treated=5, covariates=("x1", "x2"), max_abs_std_diff={"x1": 0.2})
    space = build_scheme_space(units, design)
    x = units.sort_index()["x1"].to_numpy()
    sd = x.std(ddof=1)
    for row in space.schemes.astype(bool):
        assert abs(x[row].mean() - x[~row].mean()) / sd <= 0.2 + 1e-9
    assert 0 < space.feasible == space.admissible < space.total


def test_quantile_cutoff_keeps_rounded_share() -> None:
    space = build_scheme_space(
        make_units(10), AllocationDesign(n_treated=5, covariates=("x1",), cutoff_quantile=0.1)
    )
    assert space.admissible == round(252 * 0.1) == 25
    assert space.cutoff_score == pytest.approx(space.scores.max())


def test_draw_uses_the_documented_stream() -> None:
    from allocation.stream import RandomStream

    space = build_scheme_space(make_units(7), AllocationDesign(n_treated=3))
    seed = hashlib.sha256(b"x").digest()
    assert space.draw(seed).index == RandomStream(seed, "scheme-draw").randbelow(35)


def test_duplicate_unit_ids_are_refused() -> None:
    units = make_units(4)
    units.index = ["a", "a", "b", "c"]
    with pytest.raises(UnitsError):
        build_scheme_space(units, AllocationDesign(n_treated=2))


def test_constant_covariate_is_refused() -> None:
    units = make_units(5).assign(flat=1.0)
    with pytest.raises(UnitsError, match="no variation"):
        build_scheme_space(units, AllocationDesign(n_treated=2, covariates=("flat",)))


def test_unsatisfiable_constraint_is_reported() -> None:
    with pytest.raises(SpaceError):
        build_scheme_space(
            make_units(6),
            AllocationDesign(n_treated=3, covariates=("x1",), max_abs_std_diff={"x1": 0.0}),
        )


def test_both_cutoffs_are_refused() -> None:
    with pytest.raises(DesignError):
        AllocationDesign(n_treated=2, covariates=("x",), cutoff_quantile=0.1, cutoff_schemes=3)
