"""GLMMs with several random effects per borough against R (lme4 and glmmTMB).

Reference values: ``tools/r_reference/glmm_terms_values.json``, written by
``tools/r_reference/glmm_terms_reference.R`` from the committed simulated datasets
(``make_glmm_terms_datasets.py``). Estimates, theta and log-likelihoods are glmer's
(Laplace, BOBYQA to rhoend 1e-12); standard errors are glmmTMB's (exact Laplace Hessian);
the negative binomial is glmmTMB's throughout. Tolerances: 1e-4 relative for estimates and
standard errors (1e-4 absolute for a theta on the boundary), 1e-3 for df and p-values.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TypedDict

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from analysis.errors import ModelSpecificationError
from analysis.glmm import GlmmResults, fit_glmm

REF = Path(__file__).resolve().parents[2] / "tools" / "r_reference"
R = json.loads((REF / "glmm_terms_values.json").read_text())
REL = 1e-4
CP = "(1|borough) + (1|borough:post)"


class _GlmmOptions(TypedDict, total=False):
    family: str
    exposure: str
    random: str


CASES = {
    "poisson_cp": ("sim_cp_counts.csv", CP, "poisson"),
    "poisson_cp_boundary": ("sim_cp_counts_boundary.csv", CP, "poisson"),
    "poisson_slope": ("sim_cp_counts.csv", "(1 + t|borough)", "poisson"),
    "poisson_slope_uncorrelated": ("sim_cp_counts.csv", "(1|borough) + (0 + t|borough)", "poisson"),
    "binomial_cp": ("sim_cp_binary.csv", CP, "binomial"),
    "nb_cp": ("sim_cp_counts_nb.csv", CP, "negative_binomial"),
}
_FITS: dict[str, GlmmResults] = {}


def _data(name: str) -> pd.DataFrame:
    return pd.read_csv(REF / "data" / CASES[name][0])


def _fit(name: str) -> GlmmResults:
    if name not in _FITS:
        _, random, family = CASES[name]
        outcome = "y" if family == "binomial" else "count"
        _FITS[name] = fit_glmm(
            _data(name),
            f"{outcome} ~ arm + post + treat",
            "borough",
            family=family,
            exposure=None if family == "binomial" else "population",
            random=random,
        )
    return _FITS[name]


def _values(d: dict[str, float]) -> np.ndarray:
    return np.asarray(list(d.values()), dtype=float)


@pytest.mark.parametrize("name", list(CASES))
def test_estimates_and_standard_errors_match_r(name: str) -> None:
    fit, ref = _fit(name), R[name]
    est = ref.get("glmer", ref["tmb"])
    np.testing.assert_allclose(fit.params.to_numpy(), _values(est["fixef"]), rtol=REL)
    np.testing.assert_allclose(fit.std_errors.to_numpy(), _values(ref["tmb"]["se"]), rtol=REL)
    assert fit.loglik == pytest.approx(est["loglik"], rel=1e-7)
    assert fit.aic == pytest.approx(ref["tmb"]["aic"], rel=1e-7)
    if "glmer" in ref:
        assert list(fit.theta_names) == ref["glmer"]["theta_names"]
        theta, r_theta = np.asarray(fit.theta), np.asarray(ref["glmer"]["theta"])
        on_boundary = r_theta < 1e-4
        np.testing.assert_allclose(theta[on_boundary], r_theta[on_boundary], atol=1e-4)
        np.testing.assert_allclose(theta[~on_boundary], r_theta[~on_boundary], rtol=REL)
    else:
        assert fit.size == pytest.approx(ref["tmb"]["size"], rel=1e-3)


def test_boundary_fit_is_flagged_like_lme4_is_singular() -> None:
    assert R["poisson_cp_boundary"]["glmer"]["singular"]
    fit = _fit("poisson_cp_boundary")
    assert fit.extra["theta"][0] == 0.0
    assert "singular-fit" in {w.code for w in fit.warnings}


def test_containment_df_and_p_values_match_r_ranks() -> None:
    fit, ref = _fit("poisson_cp"), R["containment"]
    np.testing.assert_allclose(fit.df.to_numpy(), _values(ref["df"]), rtol=1e-3)
    z = fit.params / fit.std_errors
    p = 2 * stats.t.sf(np.abs(z), fit.df)
    np.testing.assert_allclose(np.asarray(p, dtype=float), _values(ref["p_tmb"]), rtol=1e-3)
    assert fit.inference == "wald-t-containment"


def test_containment_reduces_to_between_within_for_a_random_intercept() -> None:
    data = _data("poisson_cp")
    kw: _GlmmOptions = {"family": "poisson", "exposure": "population"}
    a = fit_glmm(data, "count ~ arm + post + treat", "borough", **kw)
    b = fit_glmm(data, "count ~ arm + post + treat", "borough", df_method="containment", **kw)
    np.testing.assert_array_equal(a.df.to_numpy(), b.df.to_numpy())


def test_quadrature_and_between_within_are_refused_for_several_terms() -> None:
    data = _data("poisson_cp")
    kw: _GlmmOptions = {"family": "poisson", "exposure": "population", "random": CP}
    with pytest.raises(ModelSpecificationError, match="single scalar random effect"):
        fit_glmm(data, "count ~ arm + post + treat", "borough", nagq=7, **kw)
    with pytest.raises(ModelSpecificationError, match="containment"):
        fit_glmm(data, "count ~ arm + post + treat", "borough", df_method="between-within", **kw)
