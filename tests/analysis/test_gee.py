"""Behaviour of fit_gee: degrees of freedom, covariance choice, refusals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.errors import DataError, ModelSpecificationError
from analysis.gee import fit_gee

DATA = Path(__file__).resolve().parents[2] / "tools" / "r_reference" / "data"
COUNTS = pd.read_csv(DATA / "sim_trial_counts.csv")


def _fit(**kw):
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
    np.testing.assert_allclose(fit.cov_params.to_numpy(), fit.extra["cov_mancl_derouen"])


def test_robust_covariance_can_be_chosen() -> None:
    fit = _fit(cov_type="robust")
    np.testing.assert_allclose(fit.cov_params.to_numpy(), fit.extra["cov_robust"])


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
