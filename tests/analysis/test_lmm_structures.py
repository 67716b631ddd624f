"""The LMM with random-effect terms: how they are given, identifiability errors, invariances.

Agreement with lme4 / lmerTest / pbkrtest is in ``test_against_r_structures.py``; these
tests check the interface and the refusals of models the data cannot identify.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.errors import AnalysisError
from analysis.lmm import DesignError, LinearMixedModel, LMMError, fit_lmm


def _trial(seed: int = 5, per_cell: int = 1) -> pd.DataFrame:
    """Seven boroughs x 13 quarters (one row per borough-quarter unless ``per_cell`` > 1)."""
    rng = np.random.default_rng(seed)
    rows = []
    for b in range(7):
        u, v, w = rng.normal(0, 3), rng.normal(0, 1.5, size=2), rng.normal(0, 0.3)
        for q in range(1, 14):
            post = int(q > 6)
            for _ in range(per_cell):
                rate = 40 + u + v[post] + (0.3 + w) * (q - 7) - 3 * (b in (1, 4)) * post
                rows.append(
                    {
                        "borough": f"B{b}",
                        "arm": int(b in (1, 4)),
                        "quarter": q,
                        "post": post,
                        "t": q - 7.0,
                        "rate": rate + rng.normal(0, 2),
                    }
                )
    return pd.DataFrame(rows)


FIXED = "rate ~ arm * post + t"


def test_terms_in_the_formula_or_as_random_give_the_same_fit() -> None:
    d = _trial()
    a = fit_lmm(d, FIXED + " + (1 | borough) + (1 | borough:post)", df_method="kenward-roger")
    b = fit_lmm(d, FIXED, random="(1 | borough) + (1 | borough:post)", df_method="kenward-roger")
    c = fit_lmm(d, FIXED, "borough", random=["(1 | borough)", "(1 | borough:post)"])
    pd.testing.assert_series_equal(a.params, b.params)
    pd.testing.assert_series_equal(a.df, b.df)
    pd.testing.assert_series_equal(a.params, c.params)
    assert list(a.variance_components) == [
        "borough:post.(Intercept)",
        "borough.(Intercept)",
        "residual",
    ]


def test_random_intercept_term_is_todays_model() -> None:
    d = _trial()
    a = fit_lmm(d, FIXED, "borough", df_method="satterthwaite")
    b = fit_lmm(d, FIXED + " + (1 | borough)", df_method="satterthwaite")
    pd.testing.assert_series_equal(a.params, b.params, rtol=1e-10)
    pd.testing.assert_series_equal(a.df, b.df, rtol=1e-8)
    assert a.extra["icc"] == pytest.approx(b.extra["icc"], rel=1e-10)


def test_correlated_slope_term_matches_re_formula() -> None:
    d = _trial()
    a = fit_lmm(d, FIXED, "borough", random_slopes=["t"], df_method="kenward-roger")
    b = fit_lmm(d, FIXED + " + (1 + t | borough)", df_method="kenward-roger")
    pd.testing.assert_series_equal(a.params, b.params, rtol=1e-8)
    pd.testing.assert_series_equal(a.df, b.df, rtol=1e-6)
    assert a.variance_components == pytest.approx(b.variance_components, rel=1e-6)


def test_uncorrelated_slope_is_the_correlated_model_with_zero_covariance() -> None:
    d = _trial()
    unc = LinearMixedModel.from_formula(FIXED + " + (1 | borough) + (0 + t | borough)", d)
    cor = LinearMixedModel.from_formula(FIXED + " + (1 + t | borough)", d)
    res = unc.fit(df_method="residual")
    theta = list(res.extra["theta"].values())
    # Lambda = diag(theta_int, theta_t) is the correlated factor with its off-diagonal zero.
    assert cor.deviance([theta[0], 0.0, theta[1]]) == pytest.approx(
        res.extra["reml_criterion"], rel=1e-12
    )
    assert cor.fit(df_method="residual").extra["reml_criterion"] <= res.extra["reml_criterion"]
    assert [r["group"] for r in res.extra["varcorr"]] == ["borough", "borough.1", "Residual"]


def test_cluster_period_fit_does_not_depend_on_row_order_or_labels() -> None:
    d = _trial(per_cell=2)
    formula = FIXED + " + (1 | borough) + (1 | borough:quarter)"
    a = fit_lmm(d, formula, df_method="kenward-roger")
    shuffled = d.sample(frac=1.0, random_state=3).reset_index(drop=True)
    shuffled["borough"] = shuffled["borough"].map(lambda b: f"Z{b}")
    b = fit_lmm(shuffled, formula, df_method="kenward-roger")
    pd.testing.assert_series_equal(a.params, b.params, rtol=1e-8)
    pd.testing.assert_series_equal(a.df, b.df, rtol=1e-6)


def test_rows_missing_a_random_effect_variable_are_dropped() -> None:
    d = _trial()
    with_na = d.copy()
    with_na.loc[[3, 40], "post"] = np.nan
    a = fit_lmm(with_na, FIXED + " + (1 | borough) + (1 | borough:post)", df_method="residual")
    b = fit_lmm(
        d.drop(index=[3, 40]), FIXED + " + (1 | borough) + (1 | borough:post)", df_method="residual"
    )
    pd.testing.assert_series_equal(a.params, b.params)
    assert a.nobs == len(d) - 2


def test_borough_by_quarter_with_one_row_per_cell_is_refused_naming_the_term() -> None:
    d = _trial()
    with pytest.raises(DesignError) as info:
        fit_lmm(d, FIXED + " + (1 | borough) + (1 | borough:quarter)")
    message = str(info.value)
    assert "(1 | borough:quarter) cannot be identified" in message
    assert "confounded with the residual" in message
    assert isinstance(info.value, LMMError) and isinstance(info.value, AnalysisError)


def test_nested_factor_constant_within_boroughs_is_refused() -> None:
    d = _trial()
    with pytest.raises(DesignError, match=r"\(1 \| borough:arm\) cannot be identified"):
        fit_lmm(d, FIXED + " + (1 | borough) + (1 | borough:arm)")


def test_slope_on_a_borough_level_variable_is_refused() -> None:
    d = _trial()
    with pytest.raises(DesignError, match=r"\(1 \+ arm \| borough\) cannot be identified"):
        fit_lmm(d, FIXED + " + (1 + arm | borough)")


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"group": "quarter", "random": "(1 | borough)"}, "nested in 'borough' but groups="),
        ({"random": "(1 | borough)", "random_slopes": ["t"]}, "not both"),
        ({"random": "(1 + t || borough)"}, "(0 + t | g)"),
        ({"random": "(1 | borough/post)"}, "(1 | borough) + (1 | borough:post)"),
        ({"random": "(1 | borough) + (1 | quarter)"}, "not nested in 'borough'"),
        ({"random": "(1 | ward)"}, "column 'ward' is not in the data"),
        ({}, "name the grouping column"),
    ],
)
def test_bad_random_specifications_raise_design_errors(
    kwargs: dict[str, object], fragment: str
) -> None:
    with pytest.raises(DesignError) as info:
        fit_lmm(_trial(), FIXED, **kwargs)  # type: ignore[arg-type]
    assert fragment in str(info.value)


def test_random_terms_in_formula_and_argument_are_refused() -> None:
    with pytest.raises(DesignError, match="not both"):
        LinearMixedModel.from_formula(
            FIXED + " + (1 | borough)", _trial(), random="(1 | borough:post)"
        )


@pytest.mark.parametrize(
    "random",
    [
        "(1 | borough)",
        "(1 | borough) + (1 | borough:post)",
        "(1 + t | borough)",
        "(1 | borough) + (0 + t | borough)",
        "(1 + t | borough) + (1 | borough:quarter)",
    ],
)
@pytest.mark.parametrize("reml", [True, False])
def test_exact_gradient_matches_finite_differences(random: str, reml: bool) -> None:
    from analysis.lmm.likelihood import deviance_and_gradient, profiled_deviance
    from analysis.shared.numderiv import central_gradient

    design = LinearMixedModel.from_formula(f"{FIXED} + {random}", _trial(per_cell=2)).design
    theta = np.linspace(0.3, 0.9, design.covariance.n_theta)
    if design.covariance.n_theta >= 3:
        theta[-2] = -0.2  # an off-diagonal entry of a 2 x 2 factor
    value, grad = deviance_and_gradient(design, theta, reml=reml)
    assert value == pytest.approx(profiled_deviance(design, theta, reml=reml), rel=1e-12)
    fd = central_gradient(
        lambda t: profiled_deviance(design, t, reml=reml), theta, np.full(theta.size, 1e-5)
    )
    np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-5)
