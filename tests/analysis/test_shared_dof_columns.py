"""``between_cluster_columns`` (numpy, no groupby) against a plain per-cluster reference."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.cluster_level import cluster_arms
from analysis.errors import DataError
from analysis.shared.dof import between_cluster_columns


def _reference(x: np.ndarray, groups: np.ndarray, tol: float = 1e-10) -> np.ndarray:
    scale = np.maximum(np.abs(x).max(axis=0), 1.0)
    out = np.ones(x.shape[1], dtype=bool)
    for g in set(groups.tolist()):
        rows = x[groups == g]
        out &= rows.max(axis=0) - rows.min(axis=0) <= tol * scale
    return out


@pytest.mark.parametrize("seed", range(40))
def test_between_cluster_columns_matches_a_per_cluster_loop(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n, n_groups = int(rng.integers(2, 60)), int(rng.integers(1, 8))
    codes = rng.integers(0, n_groups, n)
    groups = np.array([f"borough{c}" for c in codes]) if seed % 2 else codes
    per_cluster = rng.normal(size=n_groups)[codes]
    nearly = per_cluster + (rng.random(n) < 0.2) * 1e-13  # within tolerance: still between
    x = np.c_[np.ones(n), rng.normal(size=n), per_cluster, nearly, rng.integers(0, 2, n)]
    got = between_cluster_columns(x, groups)
    assert got.tolist() == _reference(x, groups).tolist()
    assert got[0] and got[2] and got[3]


def test_cluster_arms_one_arm_per_cluster_sorted_by_label() -> None:
    import pandas as pd

    data = pd.DataFrame({"unit": ["b", "a", "b", "c", "a"], "arm": [1, 0, 1, 0, 0]})
    arms = cluster_arms(data, "unit", "arm")
    assert arms.to_dict() == {"a": 0, "b": 1, "c": 0}
    with pytest.raises(DataError, match="varies within a cluster"):
        cluster_arms(data.assign(arm=[1, 0, 0, 0, 0]), "unit", "arm")
    with pytest.raises(DataError, match="both arms"):
        cluster_arms(data.assign(arm=0), "unit", "arm")
    with pytest.raises(DataError, match="coded 0"):
        cluster_arms(data.assign(arm=[2, 0, 2, 0, 0]), "unit", "arm")
