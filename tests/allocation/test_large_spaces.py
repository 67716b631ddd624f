"""The memory-aware cutoff and the vectorised diagnostics give exactly the simple answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from allocation import AllocationDesign, build_scheme_space
from allocation.diagnostics import coassignment, complement_admissible
from allocation.errors import SpaceError
from allocation.spaces import _select


@settings(max_examples=80, deadline=None)
@given(
    scores=st.lists(st.sampled_from([0.5, 1.0, 1.5, 2.0, 3.0]), min_size=1, max_size=60),
    mask=st.lists(st.booleans(), min_size=60, max_size=60),
    share=st.floats(0.01, 1.0),
)
def test_partition_cutoff_equals_a_stable_sort(
    scores: list[float], mask: list[bool], share: float
) -> None:
    values = np.array(scores)
    ok = np.array(mask[: len(scores)])
    if not ok.any():
        ok[0] = True
    feasible = np.flatnonzero(ok)
    keep = max(1, int(len(feasible) * share))
    ranks, cutoff = _select(values, ok, len(feasible), keep)
    order = np.argsort(values[feasible], kind="stable")
    expected = np.sort(feasible[order[:keep]])
    assert ranks.tolist() == expected.tolist()
    assert cutoff == values[feasible[order[keep - 1]]]


def _units(n: int) -> pd.DataFrame:
    rng = np.random.default_rng(n)  # test data
    return pd.DataFrame(
        rng.normal(size=(n, 2)), columns=["a", "b"], index=[f"u{i:02d}" for i in range(n)]
    )


@pytest.mark.parametrize("n_treated", [5, 6])
def test_vectorised_diagnostics_equal_the_direct_definitions(n_treated: int) -> None:
    design = AllocationDesign(n_treated=n_treated, covariates=("a", "b"), cutoff_quantile=0.3)
    space = build_scheme_space(_units(12), design)
    x = space.schemes.astype(np.int64)
    same = x.T @ x + (1 - x).T @ (1 - x)
    assert np.array_equal(coassignment(space), same / space.admissible)
    keys = {tuple(r) for r in space.schemes.tolist()}
    direct = [tuple(1 - v for v in r) in keys for r in space.schemes.tolist()]
    assert complement_admissible(space).tolist() == direct


def test_an_admissible_list_too_large_for_memory_is_refused_with_advice(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import allocation.spaces as spaces

    monkeypatch.setattr(spaces, "MAX_ADMISSIBLE_BYTES", 100)
    with pytest.raises(SpaceError, match="set a cutoff"):
        build_scheme_space(_units(8), AllocationDesign(n_treated=4))
