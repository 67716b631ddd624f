"""Behaviour of LinearMixedModel and fit_lmm: construction, options, warnings, invariances."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.lmm import (
    DesignError,
    FitOptionError,
    LinearMixedModel,
    LMMError,
    fit_lmm,
)


def _clustered(seed: int, n_groups: int = 8, per: int = 6, tau: float = 1.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(n_groups), per)
    x = rng.normal(size=g.size)
    t = np.tile(np.arange(per), n_groups).astype(float)
    u0 = rng.normal(scale=tau, size=n_groups)[g]
    u1 = rng.normal(scale=0.3, size=n_groups)[g]
    y = 1.0 + 0.5 * x + 0.2 * t + u0 + u1 * t + rng.normal(size=g.size)
    return pd.DataFrame({"y": y, "x": x, "t": t, "g": [f"c{k}" for k in g]})


def test_arrays_and_formula_give_the_same_fit() -> None:
    d = _clustered(1)
    by_formula = LinearMixedModel.from_formula("y ~ x + t", d, groups="g").fit()
    X = np.column_stack([np.ones(len(d)), d["x"], d["t"]])
    by_arrays = LinearMixedModel(
        d["y"], X, d["g"], fixed_names=["(Intercept)", "x", "t"], group_name="g"
    ).fit()
    pd.testing.assert_series_equal(by_formula.params, by_arrays.params, rtol=1e-10)
    assert by_formula.variance_components == pytest.approx(by_arrays.variance_components, rel=1e-8)


def test_fit_lmm_with_random_slopes_matches_re_formula() -> None:
    d = _clustered(2)
    a = fit_lmm(d, "y ~ x + t", "g", random_slopes=["t"], df_method="residual")
    b = LinearMixedModel.from_formula("y ~ x + t", d, groups="g", re_formula="~ t").fit(
        df_method="residual"
    )
    pd.testing.assert_series_equal(a.params, b.params)
    assert set(a.variance_components) == {"g.(Intercept)", "g.t.(Intercept)", "g.t", "residual"}


def test_random_intercept_reml_agrees_with_statsmodels_mixedlm() -> None:
    import statsmodels.formula.api as smf

    d = _clustered(3)
    ours = fit_lmm(d, "y ~ x + t", "g", df_method="normal")
    with warnings.catch_warnings():  # statsmodels warns about its own optimiser's path
        warnings.simplefilter("ignore")
        theirs = smf.mixedlm("y ~ x + t", d, groups=d["g"]).fit(reml=True, method="lbfgs")
    np.testing.assert_allclose(ours.params.to_numpy(), theirs.fe_params.to_numpy(), rtol=1e-5)
    assert ours.variance_components["residual"] == pytest.approx(theirs.scale, rel=1e-4)
    assert ours.variance_components["g.(Intercept)"] == pytest.approx(
        float(theirs.cov_re.iloc[0, 0]), rel=1e-3
    )


def test_icc_is_the_cluster_share_of_variance() -> None:
    res = fit_lmm(_clustered(4), "y ~ x", "g", df_method="residual")
    tau2 = res.variance_components["g.(Intercept)"]
    assert res.extra["icc"] == pytest.approx(tau2 / (tau2 + res.variance_components["residual"]))


def test_singular_fit_is_reported_when_cluster_means_are_equal() -> None:
    rng = np.random.default_rng(5)
    g = np.repeat(np.arange(6), 5)
    e = rng.normal(size=g.size)
    y = e - pd.Series(e).groupby(g).transform("mean").to_numpy()  # no between-cluster spread
    res = LinearMixedModel(y, np.ones((g.size, 1)), g).fit(df_method="residual")
    assert res.variance_components["group.(Intercept)"] == pytest.approx(0.0, abs=1e-8)
    assert "singular-fit" in {w.code for w in res.warnings}


def test_non_singular_fit_has_no_warnings() -> None:
    res = fit_lmm(_clustered(6, tau=2.0), "y ~ x", "g", df_method="residual")
    assert res.warnings == ()
    assert res.converged


def test_kenward_roger_requires_reml() -> None:
    with pytest.raises(FitOptionError, match="REML"):
        fit_lmm(_clustered(7), "y ~ x", "g", method="ml", df_method="kenward-roger")


def test_kenward_roger_inflates_standard_errors() -> None:
    d = _clustered(8)
    plain = fit_lmm(d, "y ~ x + t", "g", df_method="satterthwaite")
    kr = fit_lmm(d, "y ~ x + t", "g", df_method="kenward-roger")
    assert np.all(kr.std_errors.to_numpy() >= plain.std_errors.to_numpy() - 1e-12)
    assert "vcov_unadjusted" in kr.extra


@pytest.mark.parametrize(("option", "value"), [("method", "bayes"), ("df_method", "containment")])
def test_unknown_options_raise_fit_option_error(option: str, value: str) -> None:
    model = LinearMixedModel.from_formula("y ~ x", _clustered(9), groups="g")
    with pytest.raises(FitOptionError):
        model.fit(**{option: value})


def test_rank_deficient_fixed_design_raises_design_error() -> None:
    d = _clustered(10).assign(x2=lambda f: 2 * f["x"])
    with pytest.raises(DesignError, match="rank"):
        LinearMixedModel.from_formula("y ~ x + x2", d, groups="g")


def test_a_single_cluster_raises_design_error() -> None:
    d = _clustered(11).assign(g="only")
    with pytest.raises(DesignError, match="two clusters"):
        LinearMixedModel.from_formula("y ~ x", d, groups="g")


def test_missing_grouping_column_raises_design_error() -> None:
    with pytest.raises(DesignError, match="grouping column"):
        LinearMixedModel.from_formula("y ~ x", _clustered(12), groups="borough")


def test_errors_share_one_base_class() -> None:
    assert issubclass(DesignError, LMMError) and issubclass(FitOptionError, LMMError)


def test_rows_with_missing_values_are_dropped() -> None:
    d = _clustered(13)
    with_na = d.copy()
    with_na.loc[[0, 7], "x"] = np.nan
    res = fit_lmm(with_na, "y ~ x", "g", df_method="residual")
    expected = fit_lmm(d.drop(index=[0, 7]), "y ~ x", "g", df_method="residual")
    assert res.nobs == len(d) - 2
    pd.testing.assert_series_equal(res.params, expected.params)


def test_normal_and_residual_df() -> None:
    d = _clustered(14)
    assert np.all(np.isinf(fit_lmm(d, "y ~ x", "g", df_method="normal").df))
    assert np.all(fit_lmm(d, "y ~ x", "g", df_method="residual").df == len(d) - 2)


def test_between_within_gives_cluster_df_to_cluster_level_terms() -> None:
    d = _clustered(15)
    d["z"] = d["g"].map({f"c{k}": float(k % 2) for k in range(8)})
    res = fit_lmm(d, "y ~ z + x", "g", df_method="between-within")
    assert res.df["(Intercept)"] == res.df["z"] == 8 - 2
    assert res.df["x"] == len(d) - 8 - 1


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_estimates_do_not_depend_on_row_order(seed: int) -> None:
    d = _clustered(seed % 1000, n_groups=6, per=5)
    shuffled = d.sample(frac=1.0, random_state=np.random.RandomState(seed % 2**31))
    a = fit_lmm(d, "y ~ x + t", "g", random_slopes=["t"], df_method="residual")
    b = fit_lmm(shuffled, "y ~ x + t", "g", random_slopes=["t"], df_method="residual")
    np.testing.assert_allclose(a.params, b.params, rtol=1e-6, atol=1e-8)
    # Row order changes floating-point sums, so the optimiser stops a hair apart: agreement
    # is to its convergence tolerance, relative to the overall variance scale (a covariance
    # near zero cannot agree to 1e-5 of itself).
    scale = sum(abs(v) for v in a.variance_components.values())
    for k, v in a.variance_components.items():
        assert b.variance_components[k] == pytest.approx(v, rel=1e-5, abs=1e-6 * scale)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 1000), labels=st.permutations([f"L{k}" for k in range(6)]))
def test_estimates_do_not_depend_on_cluster_labels(seed: int, labels: list[str]) -> None:
    d = _clustered(seed, n_groups=6, per=5)
    relabelled = d.assign(g=d["g"].map({f"c{k}": labels[k] for k in range(6)}))
    a = fit_lmm(d, "y ~ x + t", "g", df_method="satterthwaite")
    b = fit_lmm(relabelled, "y ~ x + t", "g", df_method="satterthwaite")
    # Cluster order changes only the order of floating-point sums, hence the optimiser's path.
    np.testing.assert_allclose(a.params, b.params, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(a.df, b.df, rtol=1e-5)
    assert a.variance_components["residual"] == pytest.approx(b.variance_components["residual"])
