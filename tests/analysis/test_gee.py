"""Behaviour of the GEE model: degrees of freedom, covariance choice, typed results, refusals."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from analysis.errors import DataError, ModelSpecificationError
from analysis.gee import GeeResults, GeneralizedEstimatingEquations, fit_gee

DATA = Path(__file__).resolve().parents[2] / "tools" / "r_reference" / "data"
COUNTS = pd.read_csv(DATA / "sim_trial_counts.csv")


def _fit(**kw: Any) -> GeeResults:
    return fit_gee(
        COUNTS,
        "count ~ arm + post + treat",
        "borough",
        family="poisson",
        exposure="population",
        **kw,
    )


def test_t_reference_has_clusters_minus_parameters_df() -> None:
    assert (_fit().df == 7 - 4).all()


def test_mancl_derouen_is_the_default_covariance() -> None:
    fit = _fit()
    assert fit.cov_type == "mancl-derouen"
    np.testing.assert_allclose(fit.cov_params.to_numpy(), fit.cov_mancl_derouen.to_numpy())


def test_robust_covariance_can_be_chosen() -> None:
    fit = _fit(cov_type="robust")
    np.testing.assert_allclose(fit.cov_params.to_numpy(), fit.cov_robust.to_numpy())
    np.testing.assert_allclose(fit.std_errors, _fit().std_errors_under("robust"))


def test_gaussian_gee_on_log_rates_runs_with_identity_link() -> None:
    data = COUNTS.assign(lrate=np.log(COUNTS["count"] / COUNTS["population"]))
    fit = fit_gee(data, "lrate ~ arm + post + treat", "borough", family="gaussian")
    assert fit.model == "gee-gaussian-exchangeable"
    assert fit.params["treat"] < 0


def test_too_few_clusters_for_the_parameters_is_refused() -> None:
    with pytest.raises(DataError):
        fit_gee(
            COUNTS, "count ~ C(quarter) + treat", "borough", family="poisson", exposure="population"
        )


def test_unknown_covariance_is_refused() -> None:
    with pytest.raises(ModelSpecificationError):
        _fit(cov_type="hc3")


def test_results_are_typed_fields_not_an_extra_mapping() -> None:
    fit = _fit()
    assert isinstance(fit, GeeResults)
    assert not fit.extra
    assert 0 < fit.alpha < 1 and fit.scale > 0
    assert fit.family == "poisson" and fit.working_correlation == "exchangeable"
    assert list(fit.cov_robust.index) == list(fit.params.index)


def test_model_from_arrays_equals_the_formula_fit() -> None:
    x = np.column_stack(
        [np.ones(len(COUNTS)), COUNTS["arm"], COUNTS["post"], COUNTS["treat"]]
    ).astype(float)
    model = GeneralizedEstimatingEquations(
        COUNTS["count"],
        x,
        COUNTS["borough"],
        family="poisson",
        offset=np.log(COUNTS["population"]),
        fixed_names=["Intercept", "arm", "post", "treat"],
    )
    fit = model.fit()
    np.testing.assert_allclose(fit.params.to_numpy(), _fit().params.to_numpy(), rtol=1e-10)
    np.testing.assert_allclose(fit.std_errors.to_numpy(), _fit().std_errors.to_numpy(), rtol=1e-10)


def test_normal_reference_has_infinite_df() -> None:
    fit = _fit(df_method="normal")
    assert np.isinf(fit.df).all()
    assert fit.inference == "wald-normal-mancl-derouen"


def test_a_family_without_gee_is_refused_naming_the_choices() -> None:
    with pytest.raises(ModelSpecificationError, match="negative_binomial.*poisson"):
        _fit_family("negative_binomial")


def test_binomial_gee_refuses_an_outcome_that_is_not_zero_or_one() -> None:
    with pytest.raises(DataError, match="0/1"):
        _fit_family("binomial")


def _fit_family(family: str) -> GeeResults:
    return fit_gee(COUNTS, "count ~ arm + post + treat", "borough", family=family)


@pytest.mark.parametrize(
    ("family", "values", "message"),
    [
        ("poisson", [0, 0, 0, 0], "every outcome is 0"),
        ("poisson", [1, -2, 0, 3], "non-negative counts"),
        ("binomial", [0, 0, 0, 0], "every outcome is 0"),
        ("binomial", [1, 1, 1, 1], "every outcome is 1"),
    ],
)
def test_an_outcome_the_equations_cannot_fit_is_refused_naming_it(
    family: str, values: list[int], message: str
) -> None:
    y = np.tile(np.asarray(values, dtype=float), 3)
    X = np.ones((12, 1))
    with pytest.raises(DataError, match=message):
        GeneralizedEstimatingEquations(y, X, np.repeat(np.arange(6), 2), family=family)


def test_a_working_correlation_of_one_is_a_clear_convergence_error() -> None:
    # a constant count with borough-level exposures: the Pearson residuals are the same
    # within every borough, so alpha goes to 1 and V_i to a singular matrix
    from analysis.errors import ConvergenceError

    data = pd.read_csv(DATA / "sim_trial_counts.csv").assign(count=5)
    with pytest.raises(ConvergenceError, match="working correlation reached 1"):
        fit_gee(data, "count ~ arm + post + treat", "borough", exposure="population")
