"""Behaviour of fit_glmm beyond the R comparisons: warnings, errors, df, invariances."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analysis.errors import DataError, ModelSpecificationError
from analysis.glmm import GlmmResults, fit_glmm
from analysis.shared.dof import between_within_df

DATA = Path(__file__).resolve().parents[2] / "tools" / "r_reference" / "data"
COUNTS = pd.read_csv(DATA / "sim_trial_counts.csv")
FORMULA = "count ~ arm + post + treat"


def _fit(data: pd.DataFrame, **kw: Any) -> GlmmResults:
    return fit_glmm(data, FORMULA, "borough", family="poisson", exposure="population", **kw)


def test_between_within_df_gives_cluster_terms_clusters_minus_between_parameters() -> None:
    fit = _fit(COUNTS)
    # intercept and arm are constant within borough: 7 - 2 = 5
    assert fit.df["Intercept"] == 5 and fit.df["arm"] == 5
    # post and treat vary within borough: 84 - 7 - 2 = 75
    assert fit.df["post"] == 75 and fit.df["treat"] == 75


def test_between_within_df_counts_cluster_level_covariates() -> None:
    cluster_level = [1.0, 1.0, 2.0, 2.0, 5.0, 5.0, 3.0, 3.0]
    within = [0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 1.0, 0.0]
    X = np.column_stack([np.ones(8), cluster_level, within])
    group = np.array([0, 0, 1, 1, 2, 2, 3, 3], dtype=np.intp)
    # between: 4 clusters - 2 between parameters; within: 8 - 4 - 1
    np.testing.assert_array_equal(between_within_df(X, group), [2.0, 2.0, 3.0])


def test_normal_df_method_gives_infinite_df() -> None:
    assert np.isinf(_fit(COUNTS, df_method="normal").df).all()


def test_zero_between_cluster_variance_is_reported_as_boundary_fit() -> None:
    rng = np.random.default_rng(1)
    data = COUNTS.assign(count=rng.poisson(COUNTS["population"] * 30e-4))
    fit = _fit(data)
    assert "singular-fit" in {w.code for w in fit.warnings}
    assert fit.variance_components["cluster"] < 1e-6


def test_complete_separation_in_logistic_model_is_warned() -> None:
    rng = np.random.default_rng(2)
    n = 140
    data = pd.DataFrame({"borough": np.repeat(list("ABCDEFG"), 20), "x": rng.normal(size=n)})
    data["y"] = (data["x"] > 0).astype(int)
    fit = fit_glmm(data, "y ~ x", "borough", family="binomial")
    assert {w.code for w in fit.warnings} & {"separation", "separation-suspected"}


def test_adaptive_quadrature_with_observation_level_effect_is_refused() -> None:
    with pytest.raises(ModelSpecificationError):
        fit_glmm(COUNTS, FORMULA, "borough", family="poisson_olre", exposure="population", nagq=7)


def test_unknown_family_is_refused() -> None:
    with pytest.raises(ModelSpecificationError):
        fit_glmm(COUNTS, FORMULA, "borough", family="gamma")


def test_negative_counts_are_refused() -> None:
    with pytest.raises(DataError):
        _fit(COUNTS.assign(count=-COUNTS["count"]))


def test_missing_values_are_refused() -> None:
    data = COUNTS.astype({"count": float})
    data.loc[3, "count"] = np.nan
    with pytest.raises(DataError):
        _fit(data)


def test_random_effects_are_reported_per_cluster() -> None:
    fit = _fit(COUNTS)
    assert sorted(fit.extra["random_effects"]) == sorted(COUNTS["borough"].unique())


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**31 - 1))
def test_estimates_do_not_depend_on_row_order_or_cluster_labels(seed: int) -> None:
    rng = np.random.default_rng(seed)
    base = _fit(COUNTS, nagq=7)
    labels = {
        b: f"Z{rng.integers(1_000_000):06d}{i}" for i, b in enumerate(COUNTS["borough"].unique())
    }
    shuffled = COUNTS.sample(frac=1.0, random_state=seed).assign(
        borough=lambda d: d["borough"].map(labels)
    )
    other = _fit(shuffled, nagq=7)
    np.testing.assert_allclose(other.params, base.params, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(other.std_errors, base.std_errors, rtol=1e-5)


def test_a_count_outcome_with_no_events_at_all_is_refused() -> None:
    # glmer "fits" it with an arbitrary intercept and standard errors in the millions
    data = pd.read_csv(DATA / "sim_trial_counts.csv").assign(count=0)
    with pytest.raises(DataError, match="no events"):
        fit_glmm(data, "count ~ arm + post + treat", "borough", exposure="population")
