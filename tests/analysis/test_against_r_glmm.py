"""GLMM, GEE, cluster-level and ICC results against R (lme4, glmmTMB, geepack).

Reference values: ``tools/r_reference/glmm_values.json``, written by
``tools/r_reference/glmm_reference.R`` from the committed simulated datasets in
``tools/r_reference/data``. Tolerances are relative and stated per quantity:

* ``REL = 1e-4`` for estimates, theta, log-likelihoods, standard errors (Laplace and AGQ
  against glmer's ``vcov``, and the RX-based ``vcov(fit, use.hessian = FALSE)``), glmmTMB
  NB2 standard errors, GEE (geepack + the Mancl-DeRouen sandwich computed directly in R)
  and the cluster-level analysis (the last two agree to ~1e-14). Measured for the Laplace
  standard errors: 1.2e-6 Poisson, 1.6e-5 binomial, 3.7e-7 Poisson-lognormal (the
  binomial's is finite-difference noise: glmer's deviance sums 1625 terms in a different
  order). glmer differentiates its own Laplace devfun, which restarts PIRLS from the stage-1
  predictor and takes log|L| with the weights of the previous PIRLS iterate; its curvature
  differs from the exact Laplace approximation's by up to 5e-4 relative in the standard
  errors, so the Laplace covariance reproduces that function
  (:mod:`analysis.glmm.glmer_hessian`).
* ``REL_PROFILE = 1e-3`` for profile-likelihood limits (lme4 interpolates its profile
  with splines; measured agreement 4e-5 for the Poisson model).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from analysis.cluster_level import cluster_level_analysis
from analysis.gee import fit_gee
from analysis.glmm import GlmmResults, fit_glmm
from analysis.icc import icc_anova, profile_cluster_sd

REF_DIR = Path(__file__).resolve().parents[2] / "tools" / "r_reference"
R = json.loads((REF_DIR / "glmm_values.json").read_text())
COUNTS = pd.read_csv(REF_DIR / "data" / "sim_trial_counts.csv")
BINARY = pd.read_csv(REF_DIR / "data" / "sim_trial_binary.csv")
REL = 1e-4
REL_PROFILE = 1e-3
TERMS_COUNTS = ["Intercept", "arm", "post", "treat"]
TERMS_BINARY = ["Intercept", "arm", "post", "treat", "age"]


def _r_vector(values: dict[str, float] | list[float]) -> np.ndarray:
    return np.asarray(list(values.values()) if isinstance(values, dict) else values, dtype=float)


def _poisson(nagq: int, family: str = "poisson") -> GlmmResults:
    return fit_glmm(
        COUNTS,
        "count ~ arm + post + treat",
        "borough",
        family=family,
        exposure="population",
        nagq=nagq,
    )


def _binomial(nagq: int) -> GlmmResults:
    return fit_glmm(BINARY, "y ~ arm + post + treat + age", "borough", family="binomial", nagq=nagq)


POISSON_SATURATED_LOGLIK = float(np.sum(stats.poisson.logpmf(COUNTS["count"], COUNTS["count"])))


@pytest.mark.parametrize("nagq", [1, 7, 15])
def test_poisson_glmm_estimates_match_glmer(nagq: int) -> None:
    fit, ref = _poisson(nagq), R[f"poisson_agq{nagq}"]
    np.testing.assert_allclose(fit.params[TERMS_COUNTS], _r_vector(ref["fixef"]), rtol=REL)
    np.testing.assert_allclose(fit.extra["theta"], ref["theta"], rtol=REL)


@pytest.mark.parametrize("nagq", [7, 15])
def test_poisson_agq_standard_errors_match_glmer(nagq: int) -> None:
    fit, ref = _poisson(nagq), R[f"poisson_agq{nagq}"]
    np.testing.assert_allclose(fit.std_errors[TERMS_COUNTS], _r_vector(ref["se"]), rtol=REL)


def test_poisson_agq_loglik_matches_glmer_plus_saturated_constant() -> None:
    # glmer's nAGQ > 1 log-likelihood omits the saturated model's log-likelihood.
    fit, ref = _poisson(7), R["poisson_agq7"]
    assert fit.extra["loglik"] == pytest.approx(ref["loglik"] + POISSON_SATURATED_LOGLIK, rel=REL)
    assert fit.extra["deviance"] == pytest.approx(ref["laplace_devfun"], rel=REL)


def test_poisson_laplace_standard_errors_match_glmer() -> None:
    fit, ref = _poisson(1), R["poisson_agq1"]
    np.testing.assert_allclose(fit.std_errors[TERMS_COUNTS], _r_vector(ref["se"]), rtol=REL)
    assert fit.extra["loglik"] == pytest.approx(ref["loglik"], rel=REL)


@pytest.mark.parametrize("nagq", [1, 10])
def test_binomial_glmm_estimates_match_glmer(nagq: int) -> None:
    fit, ref = _binomial(nagq), R[f"binomial_agq{nagq}"]
    np.testing.assert_allclose(fit.params[TERMS_BINARY], _r_vector(ref["fixef"]), rtol=REL)
    np.testing.assert_allclose(fit.extra["theta"], ref["theta"], rtol=REL)
    assert fit.extra["loglik"] == pytest.approx(ref["loglik"], rel=REL)


@pytest.mark.parametrize("nagq", [1, 7])
def test_poisson_rx_standard_errors_match_glmer_without_hessian(nagq: int) -> None:
    fit, ref = _poisson(nagq), R[f"poisson_agq{nagq}"]
    se_rx = np.sqrt(np.diag(fit.extra["cov_rx"].loc[TERMS_COUNTS, TERMS_COUNTS]))
    np.testing.assert_allclose(se_rx, _r_vector(ref["se_rx"]), rtol=REL)


def test_binomial_rx_standard_errors_match_glmer_without_hessian() -> None:
    fit, ref = _binomial(1), R["binomial_agq1"]
    se_rx = np.sqrt(np.diag(fit.extra["cov_rx"].loc[TERMS_BINARY, TERMS_BINARY]))
    np.testing.assert_allclose(se_rx, _r_vector(ref["se_rx"]), rtol=REL)


def test_binomial_agq_standard_errors_match_glmer() -> None:
    fit, ref = _binomial(10), R["binomial_agq10"]
    np.testing.assert_allclose(fit.std_errors[TERMS_BINARY], _r_vector(ref["se"]), rtol=REL)


def test_binomial_laplace_standard_errors_match_glmer() -> None:
    fit, ref = _binomial(1), R["binomial_agq1"]
    np.testing.assert_allclose(fit.std_errors[TERMS_BINARY], _r_vector(ref["se"]), rtol=REL)


def test_poisson_lognormal_matches_glmer_with_observation_level_effect() -> None:
    fit, ref = _poisson(1, "poisson_olre"), R["poisson_olre"]
    np.testing.assert_allclose(fit.params[TERMS_COUNTS], _r_vector(ref["fixef"]), rtol=REL)
    # lme4 orders theta as (obs, borough)
    np.testing.assert_allclose(fit.extra["theta"], [ref["theta"][1], ref["theta"][0]], rtol=REL)
    np.testing.assert_allclose(fit.std_errors[TERMS_COUNTS], _r_vector(ref["se"]), rtol=REL)
    assert fit.extra["loglik"] == pytest.approx(ref["loglik"], rel=REL)


def test_negative_binomial_matches_glmmtmb_nbinom2() -> None:
    fit, ref = _poisson(1, "negative_binomial"), R["negbin_tmb"]
    np.testing.assert_allclose(fit.params[TERMS_COUNTS], _r_vector(ref["fixef"]), rtol=REL)
    np.testing.assert_allclose(fit.std_errors[TERMS_COUNTS], _r_vector(ref["se"]), rtol=REL)
    assert fit.extra["theta"][0] == pytest.approx(ref["sd_borough"], rel=REL)
    assert fit.extra["size"] == pytest.approx(ref["size"], rel=REL)
    assert fit.extra["loglik"] == pytest.approx(ref["loglik"], rel=REL)


@pytest.mark.parametrize(
    ("key", "data", "formula", "family", "exposure", "terms"),
    [
        (
            "gee_poisson",
            COUNTS,
            "count ~ arm + post + treat",
            "poisson",
            "population",
            TERMS_COUNTS,
        ),
        ("gee_binomial", BINARY, "y ~ arm + post + treat + age", "binomial", None, TERMS_BINARY),
    ],
)
def test_gee_matches_geeglm_and_direct_mancl_derouen(
    key: str,
    data: pd.DataFrame,
    formula: str,
    family: str,
    exposure: str | None,
    terms: list[str],
) -> None:
    ref = R[key]
    fit = fit_gee(data, formula, "borough", family=family, exposure=exposure)
    np.testing.assert_allclose(fit.params[terms], _r_vector(ref["coef"]), rtol=REL)
    np.testing.assert_allclose(fit.alpha, ref["alpha"], rtol=REL)
    np.testing.assert_allclose(fit.scale, ref["phi"], rtol=REL)
    np.testing.assert_allclose(fit.std_errors[terms], ref["se_md"], rtol=REL)
    np.testing.assert_allclose(fit.std_errors_under("robust"), ref["se_geepack"], rtol=REL)


def test_cluster_level_analysis_matches_direct_r_computation() -> None:
    ref = R["cluster_level_poisson"]
    res = cluster_level_analysis(
        COUNTS,
        "count",
        "borough",
        "arm",
        "C(quarter)",
        exposure="population",
        post_indicator="post",
    )
    resid = res.extra["cluster_residuals"]
    np.testing.assert_allclose([resid[b] for b in ref["borough"]], ref["log_ratio"], rtol=REL)
    assert res.params["intervention"] == pytest.approx(ref["log_rate_ratio"], rel=REL)
    assert res.std_errors["intervention"] == pytest.approx(ref["se"], rel=REL)
    assert res.df["intervention"] == ref["df"]
    assert res.pvalues["intervention"] == pytest.approx(ref["p"], rel=REL)
    np.testing.assert_allclose(res.extra["ratio_ci"], ref["ci"], rtol=REL)


def test_cluster_level_difference_residuals_match_direct_r_computation() -> None:
    ref = R["cluster_level_poisson"]
    res = cluster_level_analysis(
        COUNTS,
        "count",
        "borough",
        "arm",
        "C(quarter)",
        exposure="population",
        post_indicator="post",
        residual="difference",
    )
    resid = res.extra["cluster_residuals"]
    np.testing.assert_allclose([resid[b] for b in ref["borough"]], ref["rate_diff"], rtol=REL)


def test_anova_icc_matches_direct_r_computation() -> None:
    ref = R["icc_anova_lrate"]
    data = COUNTS.assign(lrate=np.log(COUNTS["count"] / COUNTS["population"]))
    res = icc_anova(data, "lrate", "borough")
    assert res.icc == pytest.approx(ref["icc"], rel=REL)
    np.testing.assert_allclose(res.ci, [ref["lower"], ref["upper"]], rtol=REL)


def test_profile_interval_of_cluster_sd_matches_lme4_confint() -> None:
    _, lo, hi = profile_cluster_sd(
        COUNTS, "count ~ arm + post + treat", "borough", family="poisson", exposure="population"
    )
    np.testing.assert_allclose([lo, hi], R["profile_sd"]["poisson_laplace"], rtol=REL_PROFILE)


@pytest.mark.slow
def test_profile_interval_of_binomial_cluster_sd_matches_lme4_confint() -> None:
    _, lo, hi = profile_cluster_sd(
        BINARY, "y ~ arm + post + treat + age", "borough", family="binomial"
    )
    np.testing.assert_allclose([lo, hi], R["profile_sd"]["binomial_laplace"], rtol=REL_PROFILE)
